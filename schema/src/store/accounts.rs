//! Administrators' work on staff accounts (roles, disabling, passwords, sessions), guarded so
//! that at least one active admin always remains, and the settings they change at run time.

use std::collections::HashMap;

use sqlx::Row;
use time::OffsetDateTime;

use super::{AGENT_COLUMNS, Backend, Result, Store, StoreError, agent_from_row, from_ms, now_ms, parse, roles_to_text};
use crate::domain::Agent;
use crate::ids::AgentId;
use crate::values::Role;

/// A change to a staff account that may take away an admin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AccountChange {
    /// Replace the roles (already validated: not empty, no duplicates).
    Roles(Vec<Role>),
    /// The member can no longer sign in; every session of theirs ends.
    Disable,
    /// The member can sign in again.
    Enable,
}

/// A setting an administrator saved: its JSON, when and by whom.
#[derive(Clone, Debug)]
pub struct ConsoleSetting {
    pub value: String,
    pub updated_at: OffsetDateTime,
    pub updated_by: AgentId,
}

/// Active admins, in SQL: roles are stored as space-separated words.
const ACTIVE_ADMIN: &str = "disabled_at IS NULL AND (' ' || roles || ' ') LIKE '% admin %'";

impl Store {
    /// Changes a staff account's roles or whether it is active. Disabling ends every session of
    /// the member. Refused with [`StoreError::Conflict`] when it would leave no active admin (the
    /// admins' rows are locked meanwhile on PostgreSQL; SQLite has one writer anyway).
    ///
    /// # Errors
    /// [`StoreError::NotFound`], [`StoreError::Conflict`], or a database failure.
    pub async fn change_account(&self, id: AgentId, change: &AccountChange) -> Result<Agent> {
        let mut tx = self.write.begin().await?;
        if self.backend == Backend::Postgres {
            sqlx::query(&format!("SELECT id FROM agents WHERE {ACTIVE_ADMIN} OR id = $1 FOR UPDATE"))
                .bind(id.to_string())
                .execute(&mut *tx)
                .await?;
        }
        let row = sqlx::query(&format!("SELECT {AGENT_COLUMNS} FROM agents WHERE id = $1"))
            .bind(id.to_string())
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound { what: "agent" })?;
        let mut agent = agent_from_row(&row)?;
        let disabled_at: Option<i64> = row.try_get("disabled_at")?;
        let (roles, active) = match change {
            AccountChange::Roles(roles) => (roles.clone(), agent.active),
            AccountChange::Disable => (agent.roles.clone(), false),
            AccountChange::Enable => (agent.roles.clone(), true),
        };
        let was_admin = agent.active && agent.roles.contains(&Role::Admin);
        let stays_admin = active && roles.contains(&Role::Admin);
        if was_admin && !stays_admin {
            let others: i64 =
                sqlx::query(&format!("SELECT COUNT(*) AS n FROM agents WHERE id <> $1 AND {ACTIVE_ADMIN}"))
                    .bind(id.to_string())
                    .fetch_one(&mut *tx)
                    .await?
                    .try_get("n")?;
            if others == 0 {
                return Err(StoreError::Conflict(
                    "this would leave no active admin: make another member an admin first".into(),
                ));
            }
        }
        let now = now_ms();
        let disabled_at = if active { None } else { Some(disabled_at.unwrap_or(now)) };
        sqlx::query("UPDATE agents SET roles = $2, disabled_at = $3 WHERE id = $1")
            .bind(id.to_string())
            .bind(roles_to_text(&roles))
            .bind(disabled_at)
            .execute(&mut *tx)
            .await?;
        if !active {
            revoke_all(&mut tx, id, now).await?;
        }
        tx.commit().await?;
        agent.roles = roles;
        agent.active = active;
        Ok(agent)
    }

    /// Replaces a staff member's password hash and ends every session of theirs. Returns how
    /// many sessions ended.
    ///
    /// # Errors
    /// [`StoreError::NotFound`], or a database failure.
    pub async fn set_agent_password(&self, id: AgentId, password_hash: &str) -> Result<u64> {
        let mut tx = self.write.begin().await?;
        let updated = sqlx::query("UPDATE agents SET password_hash = $2 WHERE id = $1")
            .bind(id.to_string())
            .bind(password_hash)
            .execute(&mut *tx)
            .await?;
        if updated.rows_affected() == 0 {
            return Err(StoreError::NotFound { what: "agent" });
        }
        let ended = revoke_all(&mut tx, id, now_ms()).await?;
        tx.commit().await?;
        Ok(ended)
    }

    /// Ends every session of a staff member ("sign out everywhere"). Returns how many ended.
    ///
    /// # Errors
    /// [`StoreError::NotFound`], or a database failure.
    pub async fn revoke_agent_sessions(&self, id: AgentId) -> Result<u64> {
        let mut tx = self.write.begin().await?;
        let known =
            sqlx::query("SELECT id FROM agents WHERE id = $1").bind(id.to_string()).fetch_optional(&mut *tx).await?;
        if known.is_none() {
            return Err(StoreError::NotFound { what: "agent" });
        }
        let ended = revoke_all(&mut tx, id, now_ms()).await?;
        tx.commit().await?;
        Ok(ended)
    }

    /// How many live (not revoked, not expired) sessions each staff member has.
    ///
    /// # Errors
    /// A database failure.
    pub async fn live_session_counts(&self) -> Result<HashMap<AgentId, u32>> {
        let rows = sqlx::query(
            "SELECT agent_id, COUNT(*) AS n FROM staff_sessions WHERE revoked_at IS NULL AND expires_at > $1 \
             GROUP BY agent_id",
        )
        .bind(now_ms())
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|r| {
                let n: i64 = r.try_get("n")?;
                Ok((parse(r, "agent_id")?, u32::try_from(n).unwrap_or(u32::MAX)))
            })
            .collect()
    }

    /// The setting `name` an administrator saved, if any.
    ///
    /// # Errors
    /// A database failure.
    pub async fn console_setting(&self, name: &str) -> Result<Option<ConsoleSetting>> {
        let row = sqlx::query("SELECT value, updated_at, updated_by FROM console_settings WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.read)
            .await?;
        row.map(|r| {
            Ok(ConsoleSetting {
                value: r.try_get("value")?,
                updated_at: from_ms(r.try_get("updated_at")?)?,
                updated_by: parse(&r, "updated_by")?,
            })
        })
        .transpose()
    }

    /// Saves the setting `name` (JSON), replacing what was there.
    ///
    /// # Errors
    /// A database failure.
    pub async fn save_console_setting(&self, name: &str, value: &str, by: AgentId) -> Result<ConsoleSetting> {
        let now = now_ms();
        sqlx::query(
            "INSERT INTO console_settings (name, value, updated_at, updated_by) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at, \
             updated_by = excluded.updated_by",
        )
        .bind(name)
        .bind(value)
        .bind(now)
        .bind(by.to_string())
        .execute(&self.write)
        .await?;
        Ok(ConsoleSetting { value: value.to_owned(), updated_at: from_ms(now)?, updated_by: by })
    }
}

async fn revoke_all(tx: &mut sqlx::Transaction<'_, sqlx::Any>, id: AgentId, now: i64) -> Result<u64> {
    let done = sqlx::query("UPDATE staff_sessions SET revoked_at = $2 WHERE agent_id = $1 AND revoked_at IS NULL")
        .bind(id.to_string())
        .bind(now)
        .execute(&mut **tx)
        .await?;
    Ok(done.rows_affected())
}
