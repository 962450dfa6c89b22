//! SLA policies (one versioned document) and each ticket's clocks: what the timer needs to wake
//! at the next deadline, and the one write that records a breach exactly once.

use sqlx::Row;
use sqlx::any::AnyRow;
use time::OffsetDateTime;

use super::tickets::insert_event;
use super::{Result, Store, StoreError, from_ms, ms, now_ms, parse};
use crate::ids::{AgentId, ConversationId, TicketId};
use crate::routing::TicketEvent;
use crate::values::QueueName;

/// A saved version of the SLA policies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlaVersion {
    pub version: i64,
    /// The policies as JSON (their shape belongs to the hub's SLA service).
    pub config: serde_json::Value,
    pub created_by: AgentId,
    pub created_at: OffsetDateTime,
}

/// One clock of a ticket as the timer keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TicketSla {
    pub ticket_id: TicketId,
    /// `first_response` or `resolution`.
    pub target: String,
    /// The queue the ticket was in when the clock was last computed.
    pub queue: QueueName,
    /// When this cycle of the clock started.
    pub started_at: OffsetDateTime,
    /// When it breaches, if it is running (or stopped late and the breach is not recorded yet).
    pub due_at: Option<OffsetDateTime>,
    /// When to warn, if a warning is still to give.
    pub warn_at: Option<OffsetDateTime>,
    pub warned_at: Option<OffsetDateTime>,
    pub breached_at: Option<OffsetDateTime>,
}

fn opt_time(row: &AnyRow, col: &str) -> Result<Option<OffsetDateTime>> {
    let v: Option<i64> = row.try_get(col)?;
    v.map(from_ms).transpose()
}

fn ticket_sla_from_row(row: &AnyRow) -> Result<TicketSla> {
    Ok(TicketSla {
        ticket_id: parse(row, "ticket_id")?,
        target: row.try_get("target")?,
        queue: parse(row, "queue")?,
        started_at: from_ms(row.try_get("started_at")?)?,
        due_at: opt_time(row, "due_at")?,
        warn_at: opt_time(row, "warn_at")?,
        warned_at: opt_time(row, "warned_at")?,
        breached_at: opt_time(row, "breached_at")?,
    })
}

const SLA_COLUMNS: &str = "ticket_id, target, queue, started_at, due_at, warn_at, warned_at, breached_at";

fn version_from_row(row: &AnyRow) -> Result<SlaVersion> {
    let config: String = row.try_get("config")?;
    Ok(SlaVersion {
        version: row.try_get("version")?,
        config: serde_json::from_str(&config).map_err(|e| StoreError::Corrupt(format!("sla config: {e}")))?,
        created_by: parse(row, "created_by")?,
        created_at: from_ms(row.try_get("created_at")?)?,
    })
}

impl Store {
    /// The newest SLA policies, if any were saved.
    ///
    /// # Errors
    /// A database failure or corrupt stored data.
    pub async fn current_sla(&self) -> Result<Option<SlaVersion>> {
        Ok(self.sla_versions(1).await?.into_iter().next())
    }

    /// Up to `limit` versions of the SLA policies, newest first.
    ///
    /// # Errors
    /// A database failure or corrupt stored data.
    pub async fn sla_versions(&self, limit: u32) -> Result<Vec<SlaVersion>> {
        sqlx::query("SELECT version, config, created_by, created_at FROM sla_versions ORDER BY version DESC LIMIT $1")
            .bind(i64::from(limit))
            .fetch_all(&self.read)
            .await?
            .iter()
            .map(version_from_row)
            .collect()
    }

    /// Saves `config` as the next version. With `expected` (the version the editor started
    /// from), refuses if someone saved another version since.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when `expected` is stale or two saves race, or a database failure.
    pub async fn save_sla(&self, config: &serde_json::Value, by: AgentId, expected: Option<i64>) -> Result<SlaVersion> {
        let mut tx = self.write.begin().await?;
        let current: Option<i64> =
            sqlx::query("SELECT MAX(version) AS v FROM sla_versions").fetch_one(&mut *tx).await?.try_get("v")?;
        let current = current.unwrap_or(0);
        if let Some(expected) = expected
            && expected != current
        {
            return Err(StoreError::Conflict(format!(
                "the SLA policies changed since version {expected}: the newest is version {current}"
            )));
        }
        let now = now_ms();
        let version = current + 1;
        sqlx::query("INSERT INTO sla_versions (version, config, created_by, created_at) VALUES ($1, $2, $3, $4)")
            .bind(version)
            .bind(serde_json::to_string(config).map_err(|e| StoreError::Corrupt(e.to_string()))?)
            .bind(by.to_string())
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(SlaVersion { version, config: config.clone(), created_by: by, created_at: from_ms(now)? })
    }

    /// Replaces a ticket's clocks with `clocks` (its targets under the policy in force): a
    /// clock of the same cycle (`started_at`) keeps its warning and breach; a new cycle starts
    /// clean; targets no longer in `clocks` go unless their breach is recorded.
    ///
    /// # Errors
    /// A database failure.
    pub async fn set_ticket_sla(&self, ticket: TicketId, clocks: &[TicketSla]) -> Result<()> {
        let mut tx = self.write.begin().await?;
        let keep: Vec<&str> = clocks.iter().map(|c| c.target.as_str()).collect();
        let rows = sqlx::query("SELECT target FROM ticket_sla WHERE ticket_id = $1 AND breached_at IS NULL")
            .bind(ticket.to_string())
            .fetch_all(&mut *tx)
            .await?;
        for row in rows {
            let target: String = row.try_get("target")?;
            if !keep.contains(&target.as_str()) {
                sqlx::query("DELETE FROM ticket_sla WHERE ticket_id = $1 AND target = $2 AND breached_at IS NULL")
                    .bind(ticket.to_string())
                    .bind(target)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        for c in clocks {
            sqlx::query(
                "INSERT INTO ticket_sla (ticket_id, target, queue, started_at, due_at, warn_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (ticket_id, target) DO UPDATE SET queue = excluded.queue, \
                 due_at = excluded.due_at, warn_at = excluded.warn_at, \
                 warned_at = CASE WHEN ticket_sla.started_at = excluded.started_at THEN ticket_sla.warned_at END, \
                 breached_at = CASE WHEN ticket_sla.started_at = excluded.started_at THEN ticket_sla.breached_at END, \
                 started_at = excluded.started_at",
            )
            .bind(ticket.to_string())
            .bind(&c.target)
            .bind(c.queue.as_str())
            .bind(ms(c.started_at))
            .bind(c.due_at.map(ms))
            .bind(c.warn_at.map(ms))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// A ticket's clocks as the timer keeps them.
    ///
    /// # Errors
    /// A database failure or corrupt stored data.
    pub async fn ticket_sla(&self, ticket: TicketId) -> Result<Vec<TicketSla>> {
        sqlx::query(&format!("SELECT {SLA_COLUMNS} FROM ticket_sla WHERE ticket_id = $1 ORDER BY target"))
            .bind(ticket.to_string())
            .fetch_all(&self.read)
            .await?
            .iter()
            .map(ticket_sla_from_row)
            .collect()
    }

    /// Up to `limit` clocks with something due at or before `now`: a breach not recorded yet,
    /// or a warning not given yet; earliest first.
    ///
    /// # Errors
    /// A database failure or corrupt stored data.
    pub async fn sla_due(&self, now: OffsetDateTime, limit: u32) -> Result<Vec<TicketSla>> {
        sqlx::query(&format!(
            "SELECT {SLA_COLUMNS} FROM ticket_sla WHERE breached_at IS NULL AND \
             ((due_at IS NOT NULL AND due_at <= $1) OR (warned_at IS NULL AND warn_at IS NOT NULL AND warn_at <= $1)) \
             ORDER BY COALESCE(due_at, warn_at) LIMIT $2"
        ))
        .bind(ms(now))
        .bind(i64::from(limit))
        .fetch_all(&self.write)
        .await?
        .iter()
        .map(ticket_sla_from_row)
        .collect()
    }

    /// When the next warning or breach is due, if any clock runs.
    ///
    /// # Errors
    /// A database failure or corrupt stored data.
    pub async fn next_sla_due(&self) -> Result<Option<OffsetDateTime>> {
        let row = sqlx::query(
            "SELECT (SELECT MIN(due_at) FROM ticket_sla WHERE breached_at IS NULL) AS due, \
             (SELECT MIN(warn_at) FROM ticket_sla WHERE breached_at IS NULL AND warned_at IS NULL) AS warn",
        )
        .fetch_one(&self.write)
        .await?;
        let due: Option<i64> = row.try_get("due")?;
        let warn: Option<i64> = row.try_get("warn")?;
        let next = match (due, warn) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        next.map(from_ms).transpose()
    }

    /// Records the breach of one clock cycle with its history line, once: `false` (and no line)
    /// if it was already recorded, or the clock moved on (another cycle, or no longer due then).
    ///
    /// # Errors
    /// A database failure.
    pub async fn record_sla_breach(
        &self,
        clock: &TicketSla,
        due_at: OffsetDateTime,
        event: &TicketEvent,
    ) -> Result<bool> {
        let mut tx = self.write.begin().await?;
        let done = sqlx::query(
            "UPDATE ticket_sla SET breached_at = $4 WHERE ticket_id = $1 AND target = $2 AND started_at = $3 \
             AND breached_at IS NULL AND due_at = $4",
        )
        .bind(clock.ticket_id.to_string())
        .bind(&clock.target)
        .bind(ms(clock.started_at))
        .bind(ms(due_at))
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        insert_event(&mut tx, event).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Marks the warning of one clock cycle given: `false` if it was already, or the clock moved on.
    ///
    /// # Errors
    /// A database failure.
    pub async fn mark_sla_warned(
        &self,
        clock: &TicketSla,
        warn_at: OffsetDateTime,
        at: OffsetDateTime,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE ticket_sla SET warned_at = $5 WHERE ticket_id = $1 AND target = $2 AND started_at = $3 \
             AND warned_at IS NULL AND breached_at IS NULL AND warn_at = $4",
        )
        .bind(clock.ticket_id.to_string())
        .bind(&clock.target)
        .bind(ms(clock.started_at))
        .bind(ms(warn_at))
        .bind(ms(at))
        .execute(&self.write)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// When an agent first wrote to the customer in `conversation` at or after `since`.
    ///
    /// # Errors
    /// A database failure or corrupt stored data.
    pub async fn first_agent_reply(
        &self,
        conversation: ConversationId,
        since: OffsetDateTime,
    ) -> Result<Option<OffsetDateTime>> {
        let row = sqlx::query(
            "SELECT MIN(created_at) AS at FROM messages WHERE conversation_id = $1 AND author = 'agent' \
             AND created_at >= $2",
        )
        .bind(conversation.to_string())
        .bind(ms(since))
        .fetch_one(&self.write)
        .await?;
        let at: Option<i64> = row.try_get("at")?;
        at.map(from_ms).transpose()
    }
}
