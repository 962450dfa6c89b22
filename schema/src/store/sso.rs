//! Single sign-on's records: which staff member an identity provider's subject is, the
//! sign-ins under way (state, PKCE verifier, nonce), and the one-time codes that hand a finished
//! sign-in to the page.

use sqlx::Row;
use sqlx::any::AnyRow;
use time::OffsetDateTime;

use super::{AGENT_COLUMNS, Result, Store, StoreError, agent_from_row, from_ms, ms, now_ms};
use crate::domain::{Agent, NewAgent};
use crate::ids::AgentId;
use crate::values::{DisplayName, EmailAddress, Role};

/// What a sign-in through the provider is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SsoPurpose {
    /// A new session.
    Login,
    /// Refreshing the sign-in time of an existing session (step-up).
    StepUp,
}

impl SsoPurpose {
    /// The stored name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Login => "login",
            Self::StepUp => "step_up",
        }
    }
}

/// A sign-in under way, keyed by the `state` sent to the provider.
#[derive(Clone)]
pub struct SsoLogin {
    pub state: String,
    /// SHA-256 (hex) of the cookie of the browser that started it.
    pub browser_digest: String,
    pub pkce_verifier: String,
    pub nonce: String,
    pub purpose: SsoPurpose,
    /// For a step-up: the digest of the session it refreshes.
    pub session_digest: Option<String>,
    /// The staff page to go back to (a path of the hub).
    pub return_to: String,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

impl std::fmt::Debug for SsoLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SsoLogin")
            .field("purpose", &self.purpose)
            .field("return_to", &self.return_to)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// A finished sign-in waiting for the page to take it (by a one-time code).
#[derive(Clone, Debug)]
pub struct SsoHandoff {
    pub agent_id: AgentId,
    /// SHA-256 (hex) of the cookie of the browser the code was given to.
    pub browser_digest: String,
    /// When the provider says the person signed in.
    pub authenticated_at: OffsetDateTime,
}

/// Who the provider says signed in, already mapped to this hub's values.
#[derive(Clone, Debug)]
pub struct SsoProfile {
    pub issuer: String,
    pub subject: String,
    pub email: EmailAddress,
    pub name: DisplayName,
    pub roles: Vec<Role>,
}

/// A password hash no password matches: staff created by single sign-on have none until an
/// admin sets one.
const NO_PASSWORD: &str = "!sso";

const LOGIN_COLUMNS: &str = "state, browser_digest, pkce_verifier, nonce, purpose, session_digest, return_to, \
                             created_at, expires_at";

fn login_from_row(row: &AnyRow) -> Result<SsoLogin> {
    let purpose: String = row.try_get("purpose")?;
    Ok(SsoLogin {
        state: row.try_get("state")?,
        browser_digest: row.try_get("browser_digest")?,
        pkce_verifier: row.try_get("pkce_verifier")?,
        nonce: row.try_get("nonce")?,
        purpose: match purpose.as_str() {
            "login" => SsoPurpose::Login,
            "step_up" => SsoPurpose::StepUp,
            other => return Err(StoreError::Corrupt(format!("sign-in purpose {other:?}"))),
        },
        session_digest: row.try_get("session_digest")?,
        return_to: row.try_get("return_to")?,
        created_at: from_ms(row.try_get("created_at")?)?,
        expires_at: from_ms(row.try_get("expires_at")?)?,
    })
}

impl Store {
    /// Keeps a new sign-in under way, after dropping expired ones. Returns `false` (nothing kept)
    /// when `max_pending` are already under way.
    ///
    /// # Errors
    /// A database failure.
    pub async fn begin_sso_login(&self, login: &SsoLogin, max_pending: u32) -> Result<bool> {
        let mut tx = self.write.begin().await?;
        let now = now_ms();
        sqlx::query("DELETE FROM sso_logins WHERE expires_at <= $1").bind(now).execute(&mut *tx).await?;
        let pending: i64 =
            sqlx::query("SELECT COUNT(*) AS n FROM sso_logins").fetch_one(&mut *tx).await?.try_get("n")?;
        if pending >= i64::from(max_pending) {
            return Ok(false);
        }
        sqlx::query(&format!("INSERT INTO sso_logins ({LOGIN_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"))
            .bind(&login.state)
            .bind(&login.browser_digest)
            .bind(&login.pkce_verifier)
            .bind(&login.nonce)
            .bind(login.purpose.as_str())
            .bind(login.session_digest.as_deref())
            .bind(&login.return_to)
            .bind(ms(login.created_at))
            .bind(ms(login.expires_at))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Takes (and forgets) the live sign-in with this state, if any: a state works once.
    ///
    /// # Errors
    /// A database failure.
    pub async fn take_sso_login(&self, state: &str) -> Result<Option<SsoLogin>> {
        let row = sqlx::query(&format!("DELETE FROM sso_logins WHERE state = $1 RETURNING {LOGIN_COLUMNS}"))
            .bind(state)
            .fetch_optional(&self.write)
            .await?;
        let login = row.as_ref().map(login_from_row).transpose()?;
        Ok(login.filter(|l| ms(l.expires_at) > now_ms()))
    }

    /// Keeps a one-time code (by digest) for a finished sign-in, after dropping expired ones.
    ///
    /// # Errors
    /// A database failure.
    pub async fn create_sso_handoff(
        &self,
        code_digest: &str,
        handoff: &SsoHandoff,
        expires_at: OffsetDateTime,
    ) -> Result<()> {
        let mut tx = self.write.begin().await?;
        sqlx::query("DELETE FROM sso_handoffs WHERE expires_at <= $1").bind(now_ms()).execute(&mut *tx).await?;
        sqlx::query(
            "INSERT INTO sso_handoffs (code_digest, agent_id, browser_digest, authenticated_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(code_digest)
        .bind(handoff.agent_id.to_string())
        .bind(&handoff.browser_digest)
        .bind(ms(handoff.authenticated_at))
        .bind(ms(expires_at))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Takes (and forgets) the live handoff with this code digest, if any: a code works once.
    ///
    /// # Errors
    /// A database failure.
    pub async fn take_sso_handoff(&self, code_digest: &str) -> Result<Option<SsoHandoff>> {
        let row = sqlx::query(
            "DELETE FROM sso_handoffs WHERE code_digest = $1 \
             RETURNING agent_id, browser_digest, authenticated_at, expires_at",
        )
        .bind(code_digest)
        .fetch_optional(&self.write)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let expires_at: i64 = row.try_get("expires_at")?;
        if expires_at <= now_ms() {
            return Ok(None);
        }
        Ok(Some(SsoHandoff {
            agent_id: super::parse(&row, "agent_id")?,
            browser_digest: row.try_get("browser_digest")?,
            authenticated_at: from_ms(row.try_get("authenticated_at")?)?,
        }))
    }

    /// The staff member an identity provider's subject is linked to, if any.
    ///
    /// # Errors
    /// A database failure.
    pub async fn sso_identity(&self, issuer: &str, subject: &str) -> Result<Option<Agent>> {
        let columns = AGENT_COLUMNS.split(", ").map(|c| format!("a.{c}")).collect::<Vec<_>>().join(", ");
        let row = sqlx::query(&format!(
            "SELECT {columns} FROM sso_identities i JOIN agents a ON a.id = i.agent_id \
             WHERE i.issuer = $1 AND i.subject = $2"
        ))
        .bind(issuer)
        .bind(subject)
        .fetch_optional(&self.read)
        .await?;
        row.as_ref().map(agent_from_row).transpose()
    }

    /// Links an identity provider's subject to an existing staff member.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] if the subject is linked already, or a database failure.
    pub async fn link_sso_identity(&self, issuer: &str, subject: &str, agent: AgentId) -> Result<()> {
        let now = now_ms();
        sqlx::query(
            "INSERT INTO sso_identities (issuer, subject, agent_id, created_at, last_login_at) \
             VALUES ($1, $2, $3, $4, $4)",
        )
        .bind(issuer)
        .bind(subject)
        .bind(agent.to_string())
        .bind(now)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    /// Creates a staff member (without a password) for a provider's subject, linked to it.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] if the e-mail address or the subject is taken, or a database
    /// failure.
    pub async fn create_sso_agent(&self, profile: &SsoProfile) -> Result<Agent> {
        let mut tx = self.write.begin().await?;
        let new = NewAgent {
            email: profile.email.clone(),
            name: profile.name.clone(),
            roles: profile.roles.clone(),
            password_hash: NO_PASSWORD.to_owned(),
        };
        let agent = super::insert_agent(&mut *tx, new).await?;
        let now = ms(agent.created_at);
        sqlx::query(
            "INSERT INTO sso_identities (issuer, subject, agent_id, created_at, last_login_at) \
             VALUES ($1, $2, $3, $4, $4)",
        )
        .bind(&profile.issuer)
        .bind(&profile.subject)
        .bind(agent.id.to_string())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(agent)
    }

    /// Keeps a linked staff member's e-mail address and name as the provider says, and records
    /// the sign-in on the identity.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] if another member has that e-mail address, or a database failure.
    pub async fn sync_sso_agent(&self, id: AgentId, profile: &SsoProfile) -> Result<()> {
        let mut tx = self.write.begin().await?;
        sqlx::query("UPDATE agents SET email = $2, name = $3 WHERE id = $1")
            .bind(id.to_string())
            .bind(profile.email.as_str())
            .bind(profile.name.as_str())
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE sso_identities SET last_login_at = $3 WHERE issuer = $1 AND subject = $2")
            .bind(&profile.issuer)
            .bind(&profile.subject)
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}
