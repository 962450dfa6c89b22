//! Staff multi-factor sign-in: sealed TOTP secrets (pending until confirmed), the last accepted
//! time step (replay guard), single-use recovery codes (digests), the short-lived challenges of
//! two-step sign-ins, and step-up (refreshing a session's `authenticated_at`).

use sqlx::Row;
use time::OffsetDateTime;

use super::{Result, Store, StoreError, ms, now_ms};
use crate::ids::AgentId;

/// A member's TOTP enrolment as stored.
#[derive(Clone)]
pub struct MfaEnrolment {
    /// The secret, sealed by the hub (opaque here).
    pub secret_sealed: String,
    /// Whether a first code confirmed it (before that it is pending and does not count).
    pub confirmed: bool,
    /// The last 30-second step a code was accepted for.
    pub last_step: i64,
}

impl std::fmt::Debug for MfaEnrolment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MfaEnrolment").field("confirmed", &self.confirmed).finish_non_exhaustive()
    }
}

/// Most wrong codes one sign-in challenge takes before it is void.
pub const MAX_CHALLENGE_FAILURES: i64 = 5;

impl Store {
    /// Starts (or restarts) a TOTP enrolment with a new sealed secret. Refused with
    /// [`StoreError::Conflict`] when the member already has a confirmed one.
    ///
    /// # Errors
    /// [`StoreError::Conflict`], or a database failure.
    pub async fn begin_mfa_enrolment(&self, agent: AgentId, secret_sealed: &str) -> Result<()> {
        let mut tx = self.write.begin().await?;
        let confirmed = sqlx::query("SELECT confirmed_at FROM staff_mfa WHERE agent_id = $1")
            .bind(agent.to_string())
            .fetch_optional(&mut *tx)
            .await?
            .map(|r| r.try_get::<Option<i64>, _>("confirmed_at"))
            .transpose()?
            .flatten();
        if confirmed.is_some() {
            return Err(StoreError::Conflict(
                "two-step sign-in is already set up: turn it off or reset it first".into(),
            ));
        }
        sqlx::query("DELETE FROM staff_mfa WHERE agent_id = $1").bind(agent.to_string()).execute(&mut *tx).await?;
        sqlx::query(
            "INSERT INTO staff_mfa (agent_id, secret_sealed, confirmed_at, last_step, created_at) \
             VALUES ($1, $2, NULL, 0, $3)",
        )
        .bind(agent.to_string())
        .bind(secret_sealed)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// A member's TOTP enrolment (pending or confirmed), if any.
    ///
    /// # Errors
    /// A database failure.
    pub async fn mfa_enrolment(&self, agent: AgentId) -> Result<Option<MfaEnrolment>> {
        let row = sqlx::query("SELECT secret_sealed, confirmed_at, last_step FROM staff_mfa WHERE agent_id = $1")
            .bind(agent.to_string())
            .fetch_optional(&self.write)
            .await?;
        row.map(|r| {
            Ok(MfaEnrolment {
                secret_sealed: r.try_get("secret_sealed")?,
                confirmed: r.try_get::<Option<i64>, _>("confirmed_at")?.is_some(),
                last_step: r.try_get("last_step")?,
            })
        })
        .transpose()
    }

    /// Confirms a pending enrolment with the step of its first code and replaces the member's
    /// recovery codes by `code_digests`.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when no enrolment is pending; a database failure.
    pub async fn confirm_mfa(&self, agent: AgentId, step: i64, code_digests: &[String]) -> Result<()> {
        let mut tx = self.write.begin().await?;
        let done = sqlx::query(
            "UPDATE staff_mfa SET confirmed_at = $2, last_step = $3 WHERE agent_id = $1 AND confirmed_at IS NULL",
        )
        .bind(agent.to_string())
        .bind(now_ms())
        .bind(step)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict("no two-step sign-in set-up is pending: start again".into()));
        }
        replace_codes(&mut tx, agent, code_digests).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records that a code of `step` was accepted, unless one of that step or a later one already
    /// was (a replay): `true` when accepted.
    ///
    /// # Errors
    /// A database failure.
    pub async fn accept_totp_step(&self, agent: AgentId, step: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE staff_mfa SET last_step = $2 WHERE agent_id = $1 AND confirmed_at IS NOT NULL AND last_step < $2",
        )
        .bind(agent.to_string())
        .bind(step)
        .execute(&self.write)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Uses up a recovery code by its digest: `true` when it was there and unused.
    ///
    /// # Errors
    /// A database failure.
    pub async fn use_recovery_code(&self, agent: AgentId, code_digest: &str) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE staff_recovery_codes SET used_at = $3 WHERE agent_id = $1 AND code_digest = $2 AND used_at IS NULL",
        )
        .bind(agent.to_string())
        .bind(code_digest)
        .bind(now_ms())
        .execute(&self.write)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Replaces a confirmed member's recovery codes.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when the member has no confirmed enrolment; a database failure.
    pub async fn replace_recovery_codes(&self, agent: AgentId, code_digests: &[String]) -> Result<()> {
        let mut tx = self.write.begin().await?;
        let confirmed = sqlx::query("SELECT agent_id FROM staff_mfa WHERE agent_id = $1 AND confirmed_at IS NOT NULL")
            .bind(agent.to_string())
            .fetch_optional(&mut *tx)
            .await?;
        if confirmed.is_none() {
            return Err(StoreError::Conflict("two-step sign-in is not set up".into()));
        }
        replace_codes(&mut tx, agent, code_digests).await?;
        tx.commit().await?;
        Ok(())
    }

    /// How many unused recovery codes a member has.
    ///
    /// # Errors
    /// A database failure.
    pub async fn recovery_codes_left(&self, agent: AgentId) -> Result<u32> {
        let n: i64 =
            sqlx::query("SELECT COUNT(*) AS n FROM staff_recovery_codes WHERE agent_id = $1 AND used_at IS NULL")
                .bind(agent.to_string())
                .fetch_one(&self.read)
                .await?
                .try_get("n")?;
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    /// Removes a member's TOTP enrolment and recovery codes; with `end_sessions`, every session
    /// of theirs ends too. Returns whether there was an enrolment.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] for an unknown member; a database failure.
    pub async fn remove_mfa(&self, agent: AgentId, end_sessions: bool) -> Result<bool> {
        let mut tx = self.write.begin().await?;
        let known =
            sqlx::query("SELECT id FROM agents WHERE id = $1").bind(agent.to_string()).fetch_optional(&mut *tx).await?;
        if known.is_none() {
            return Err(StoreError::NotFound { what: "agent" });
        }
        let removed =
            sqlx::query("DELETE FROM staff_mfa WHERE agent_id = $1").bind(agent.to_string()).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM staff_recovery_codes WHERE agent_id = $1")
            .bind(agent.to_string())
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE staff_mfa_challenges SET used_at = $2 WHERE agent_id = $1 AND used_at IS NULL")
            .bind(agent.to_string())
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
        if end_sessions {
            sqlx::query("UPDATE staff_sessions SET revoked_at = $2 WHERE agent_id = $1 AND revoked_at IS NULL")
                .bind(agent.to_string())
                .bind(now_ms())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(removed.rows_affected() > 0)
    }

    /// The members with a confirmed TOTP enrolment.
    ///
    /// # Errors
    /// A database failure.
    pub async fn mfa_enrolled_agents(&self) -> Result<Vec<AgentId>> {
        let rows =
            sqlx::query("SELECT agent_id FROM staff_mfa WHERE confirmed_at IS NOT NULL").fetch_all(&self.read).await?;
        rows.iter().map(|r| super::parse(r, "agent_id")).collect()
    }

    /// Stores a sign-in challenge (by its digest) and drops long-expired ones.
    ///
    /// # Errors
    /// A database failure.
    pub async fn create_mfa_challenge(&self, digest: &str, agent: AgentId, expires_at: OffsetDateTime) -> Result<()> {
        let now = now_ms();
        sqlx::query("DELETE FROM staff_mfa_challenges WHERE expires_at < $1")
            .bind(now - 86_400_000)
            .execute(&self.write)
            .await?;
        sqlx::query(
            "INSERT INTO staff_mfa_challenges (challenge_digest, agent_id, expires_at, failures, used_at) \
             VALUES ($1, $2, $3, 0, NULL)",
        )
        .bind(digest)
        .bind(agent.to_string())
        .bind(ms(expires_at))
        .execute(&self.write)
        .await?;
        Ok(())
    }

    /// The member of a live sign-in challenge (not used, not expired, not failed too often).
    ///
    /// # Errors
    /// A database failure.
    pub async fn live_mfa_challenge(&self, digest: &str) -> Result<Option<AgentId>> {
        let row = sqlx::query(
            "SELECT agent_id FROM staff_mfa_challenges WHERE challenge_digest = $1 AND used_at IS NULL \
             AND expires_at > $2 AND failures < $3",
        )
        .bind(digest)
        .bind(now_ms())
        .bind(MAX_CHALLENGE_FAILURES)
        .fetch_optional(&self.write)
        .await?;
        row.map(|r| super::parse(&r, "agent_id")).transpose()
    }

    /// Counts a wrong code against a challenge.
    ///
    /// # Errors
    /// A database failure.
    pub async fn fail_mfa_challenge(&self, digest: &str) -> Result<()> {
        sqlx::query("UPDATE staff_mfa_challenges SET failures = failures + 1 WHERE challenge_digest = $1")
            .bind(digest)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    /// Uses up a challenge: `true` when it was still unused (so two racing answers cannot both
    /// sign in).
    ///
    /// # Errors
    /// A database failure.
    pub async fn consume_mfa_challenge(&self, digest: &str) -> Result<bool> {
        let done =
            sqlx::query("UPDATE staff_mfa_challenges SET used_at = $2 WHERE challenge_digest = $1 AND used_at IS NULL")
                .bind(digest)
                .bind(now_ms())
                .execute(&self.write)
                .await?;
        Ok(done.rows_affected() == 1)
    }
}

async fn replace_codes(tx: &mut sqlx::Transaction<'_, sqlx::Any>, agent: AgentId, digests: &[String]) -> Result<()> {
    sqlx::query("DELETE FROM staff_recovery_codes WHERE agent_id = $1")
        .bind(agent.to_string())
        .execute(&mut **tx)
        .await?;
    for digest in digests {
        sqlx::query("INSERT INTO staff_recovery_codes (agent_id, code_digest, used_at) VALUES ($1, $2, NULL)")
            .bind(agent.to_string())
            .bind(digest)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}
