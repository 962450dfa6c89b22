//! Tickets, their history and notes, agents' routing profiles, and routing-rule versions.

use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};
use time::OffsetDateTime;

use super::{Backend, Result, Store, StoreError, from_ms, ms, now_ms, parse, parse_opt, reports, to_json};
use crate::ids::{AgentId, ConversationId, TicketId};
use crate::routing::{
    Actor, AgentRouting, RulesVersion, RulesVersionSummary, Ticket, TicketEvent, TicketHistorySample, TicketNote,
};
use crate::values::{ConversationStatus, TicketStatus};

pub(super) const TICKET_COLUMNS: &str = "id, conversation_id, channel, status, priority, queue, skills, escalation, tags, rule, \
     assignee_id, offered_to, offer_expires_at, queued_at, first_response_due, created_at, updated_at, summary";

/// Statuses of a ticket that still needs work.
pub(super) const OPEN: &str = "status NOT IN ('resolved', 'closed')";

fn json_col<T: serde::de::DeserializeOwned>(row: &AnyRow, col: &str) -> Result<T> {
    let s: String = row.try_get(col)?;
    serde_json::from_str(&s).map_err(|e| StoreError::Corrupt(format!("{col}: {e}")))
}

fn opt_from_ms(v: Option<i64>) -> Result<Option<OffsetDateTime>> {
    v.map(from_ms).transpose()
}

pub(super) fn ticket_from_row(row: &AnyRow) -> Result<Ticket> {
    let priority: i64 = row.try_get("priority")?;
    Ok(Ticket {
        id: parse(row, "id")?,
        conversation_id: parse(row, "conversation_id")?,
        channel: parse(row, "channel")?,
        status: parse(row, "status")?,
        priority: priority.try_into()?,
        queue: parse(row, "queue")?,
        skills: json_col(row, "skills")?,
        escalation: json_col(row, "escalation")?,
        tags: json_col(row, "tags")?,
        rule: row.try_get("rule")?,
        summary: row.try_get("summary")?,
        assignee_id: parse_opt(row, "assignee_id")?,
        offered_to: parse_opt(row, "offered_to")?,
        offer_expires_at: opt_from_ms(row.try_get("offer_expires_at")?)?,
        queued_at: from_ms(row.try_get("queued_at")?)?,
        first_response_due: opt_from_ms(row.try_get("first_response_due")?)?,
        created_at: from_ms(row.try_get("created_at")?)?,
        updated_at: from_ms(row.try_get("updated_at")?)?,
    })
}

fn actor_columns(actor: Actor) -> (&'static str, Option<String>) {
    match actor {
        Actor::Agent(id) => ("agent", Some(id.to_string())),
        Actor::System => ("system", None),
        Actor::Customer => ("customer", None),
    }
}

pub(super) async fn insert_event(tx: &mut Transaction<'static, Any>, event: &TicketEvent) -> Result<()> {
    let (actor, actor_id) = actor_columns(event.actor);
    sqlx::query(
        "INSERT INTO ticket_events (id, ticket_id, actor, actor_id, kind, detail, at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(event.ticket_id.to_string())
    .bind(actor)
    .bind(actor_id)
    .bind(&event.kind)
    .bind(to_json(&event.detail)?)
    .bind(ms(event.at))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// How a ticket change touches its conversation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConversationChange {
    pub status: ConversationStatus,
    pub assignee_id: Option<AgentId>,
}

impl Store {
    // ---- agents' routing profiles -----------------------------------------------------------

    /// Every stored routing profile.
    ///
    /// # Errors
    /// A database failure or corrupt stored data.
    pub async fn agent_routings(&self) -> Result<Vec<AgentRouting>> {
        sqlx::query("SELECT agent_id, skills, capacity, presence FROM agent_routing ORDER BY agent_id")
            .fetch_all(&self.read)
            .await?
            .iter()
            .map(routing_from_row)
            .collect()
    }

    /// The routing profile of `agent`, if one was stored.
    ///
    /// # Errors
    /// A database failure or corrupt stored data.
    pub async fn agent_routing(&self, agent: AgentId) -> Result<Option<AgentRouting>> {
        sqlx::query("SELECT agent_id, skills, capacity, presence FROM agent_routing WHERE agent_id = $1")
            .bind(agent.to_string())
            .fetch_optional(&self.read)
            .await?
            .as_ref()
            .map(routing_from_row)
            .transpose()
    }

    /// Stores `routing` (insert or replace). The presence is written for a new profile only: a
    /// stored one keeps its presence, which changes through [`Store::set_presence`] (so every
    /// change is recorded and counted).
    ///
    /// # Errors
    /// [`StoreError::NotFound`] for an unknown agent, or a database failure.
    pub async fn set_agent_routing(&self, routing: &AgentRouting) -> Result<()> {
        sqlx::query(
            "INSERT INTO agent_routing (agent_id, skills, capacity, presence, updated_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (agent_id) DO UPDATE SET skills = excluded.skills, \
             capacity = excluded.capacity, updated_at = excluded.updated_at",
        )
        .bind(routing.agent_id.to_string())
        .bind(to_json(&routing.skills)?)
        .bind(to_json(&routing.capacity)?)
        .bind(routing.presence.as_str())
        .bind(now_ms())
        .execute(&self.write)
        .await
        .map_err(|e| match StoreError::from(e) {
            StoreError::Database(sqlx::Error::Database(db)) if db.is_foreign_key_violation() => {
                StoreError::NotFound { what: "agent" }
            }
            other => other,
        })?;
        Ok(())
    }

    // ---- tickets ----------------------------------------------------------------------------

    /// Stores a new ticket with its first history line, and sets its conversation's status.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] if the conversation already has an open ticket,
    /// [`StoreError::Fenced`] through a fenced store whose lease moved on, or a database failure.
    pub async fn create_ticket(
        &self,
        ticket: &Ticket,
        event: &TicketEvent,
        conversation: ConversationChange,
    ) -> Result<()> {
        let mut tx = self.begin_fenced().await?;
        sqlx::query(&format!(
            "INSERT INTO tickets ({TICKET_COLUMNS}) VALUES \
             ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)"
        ))
        .bind(ticket.id.to_string())
        .bind(ticket.conversation_id.to_string())
        .bind(ticket.channel.as_str())
        .bind(ticket.status.as_str())
        .bind(i64::from(ticket.priority))
        .bind(ticket.queue.as_str())
        .bind(to_json(&ticket.skills)?)
        .bind(to_json(&ticket.escalation)?)
        .bind(to_json(&ticket.tags)?)
        .bind(ticket.rule.clone())
        .bind(ticket.assignee_id.map(|a| a.to_string()))
        .bind(ticket.offered_to.map(|a| a.to_string()))
        .bind(ticket.offer_expires_at.map(ms))
        .bind(ms(ticket.queued_at))
        .bind(ticket.first_response_due.map(ms))
        .bind(ms(ticket.created_at))
        .bind(ms(ticket.updated_at))
        .bind(ticket.summary.as_deref())
        .execute(&mut *tx)
        .await
        .map_err(|e| match StoreError::from(e) {
            StoreError::Conflict(_) => StoreError::Conflict("the conversation already has an open ticket".into()),
            other => other,
        })?;
        insert_event(&mut tx, event).await?;
        update_conversation(&mut tx, ticket.conversation_id, conversation, ms(ticket.updated_at)).await?;
        reports::ticket_created(&mut tx, &ticket.id.to_string(), &report_state(ticket, None), ms(ticket.created_at))
            .await?;
        let tags: Vec<&str> = ticket.tags.iter().map(String::as_str).collect();
        super::bot_reports::ticket_opened(
            &mut tx,
            self.backend,
            &ticket.conversation_id.to_string(),
            &tags,
            ms(ticket.created_at),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Stores the new state of `ticket` with the history lines that explain it, and optionally
    /// its conversation's new status, in one transaction.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] for an unknown ticket, [`StoreError::Fenced`] through a fenced
    /// store whose lease moved on, or a database failure.
    pub async fn update_ticket(
        &self,
        ticket: &Ticket,
        events: &[TicketEvent],
        conversation: Option<ConversationChange>,
    ) -> Result<()> {
        let mut tx = self.begin_fenced().await?;
        if self.backend == Backend::Postgres {
            // Conversation, then ticket: the order an agent's message (which records the ticket's
            // first response) takes them in, so the two never wait on each other.
            sqlx::query("SELECT id FROM conversations WHERE id = $1 FOR UPDATE")
                .bind(ticket.conversation_id.to_string())
                .fetch_optional(&mut *tx)
                .await?;
        }
        let before = reports::ticket_state(&mut tx, self.backend, &ticket.id.to_string())
            .await?
            .ok_or(StoreError::NotFound { what: "ticket" })?;
        let done = sqlx::query(
            "UPDATE tickets SET status = $2, priority = $3, queue = $4, skills = $5, escalation = $6, tags = $7, \
             rule = $8, assignee_id = $9, offered_to = $10, offer_expires_at = $11, queued_at = $12, \
             first_response_due = $13, updated_at = $14 WHERE id = $1",
        )
        .bind(ticket.id.to_string())
        .bind(ticket.status.as_str())
        .bind(i64::from(ticket.priority))
        .bind(ticket.queue.as_str())
        .bind(to_json(&ticket.skills)?)
        .bind(to_json(&ticket.escalation)?)
        .bind(to_json(&ticket.tags)?)
        .bind(ticket.rule.clone())
        .bind(ticket.assignee_id.map(|a| a.to_string()))
        .bind(ticket.offered_to.map(|a| a.to_string()))
        .bind(ticket.offer_expires_at.map(ms))
        .bind(ms(ticket.queued_at))
        .bind(ticket.first_response_due.map(ms))
        .bind(ms(ticket.updated_at))
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound { what: "ticket" });
        }
        for event in events {
            insert_event(&mut tx, event).await?;
        }
        if let Some(change) = conversation {
            update_conversation(&mut tx, ticket.conversation_id, change, ms(ticket.updated_at)).await?;
        }
        let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
        let after = report_state(ticket, Some(&before));
        let voice = ticket.channel == crate::values::Channel::Voice;
        reports::ticket_changed(&mut tx, &ticket.id.to_string(), voice, &before, &after, &kinds, ms(ticket.updated_at))
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Replaces a ticket's tags only (routing may be changing the rest meanwhile), with a
    /// history line; returns the ticket as stored.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] for an unknown ticket, or a database failure.
    pub async fn set_ticket_tags(
        &self,
        id: TicketId,
        tags: &std::collections::BTreeSet<String>,
        event: &TicketEvent,
    ) -> Result<Ticket> {
        let mut tx = self.write.begin().await?;
        let done = sqlx::query("UPDATE tickets SET tags = $2, updated_at = $3 WHERE id = $1")
            .bind(id.to_string())
            .bind(to_json(tags)?)
            .bind(ms(event.at))
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound { what: "ticket" });
        }
        insert_event(&mut tx, event).await?;
        let row = sqlx::query(&format!("SELECT {TICKET_COLUMNS} FROM tickets WHERE id = $1"))
            .bind(id.to_string())
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        ticket_from_row(&row)
    }

    /// The ticket `id`.
    ///
    /// # Errors
    /// [`StoreError::NotFound`], or a database failure.
    pub async fn ticket(&self, id: TicketId) -> Result<Ticket> {
        let row = sqlx::query(&format!("SELECT {TICKET_COLUMNS} FROM tickets WHERE id = $1"))
            .bind(id.to_string())
            .fetch_optional(&self.read)
            .await?
            .ok_or(StoreError::NotFound { what: "ticket" })?;
        ticket_from_row(&row)
    }

    /// The newest ticket of a conversation, open or not.
    ///
    /// # Errors
    /// A database failure.
    pub async fn latest_ticket(&self, conversation: ConversationId) -> Result<Option<Ticket>> {
        sqlx::query(&format!(
            "SELECT {TICKET_COLUMNS} FROM tickets WHERE conversation_id = $1 ORDER BY created_at DESC, id DESC LIMIT 1"
        ))
        .bind(conversation.to_string())
        .fetch_optional(&self.read)
        .await?
        .as_ref()
        .map(ticket_from_row)
        .transpose()
    }

    /// When a person first answered `ticket` (an agent's first message, a call taken), if
    /// anyone has: what tells an abandoned ticket from an answered one.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] for an unknown ticket, or a database failure.
    pub async fn ticket_first_response_at(&self, id: TicketId) -> Result<Option<OffsetDateTime>> {
        let at: Option<i64> = sqlx::query_scalar("SELECT first_response_at FROM tickets WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&self.read)
            .await?
            .ok_or(StoreError::NotFound { what: "ticket" })?;
        opt_from_ms(at)
    }

    /// Closes a conversation that holds no open ticket (the customer ended a chat nobody had
    /// escalated); the conversation as stored, or `None` when it was not open or a ticket of
    /// it is (tickets close through [`Store::update_ticket`]).
    ///
    /// # Errors
    /// A database failure.
    pub async fn close_conversation(&self, id: ConversationId) -> Result<Option<crate::Conversation>> {
        let done = sqlx::query(&format!(
            "UPDATE conversations SET status = 'closed', updated_at = $2 WHERE id = $1 \
             AND status NOT IN ('resolved', 'closed') \
             AND NOT EXISTS (SELECT 1 FROM tickets WHERE conversation_id = $1 AND {OPEN})"
        ))
        .bind(id.to_string())
        .bind(now_ms())
        .execute(&self.write)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        self.conversation(id).await.map(Some)
    }

    /// Notes that a customer's socket on `id` opened at `at_ms` (on any node).
    ///
    /// # Errors
    /// A database failure.
    pub async fn note_customer_socket(&self, id: ConversationId, at_ms: i64) -> Result<()> {
        sqlx::query(
            "UPDATE conversations SET customer_socket_at = $2 WHERE id = $1 \
             AND (customer_socket_at IS NULL OR customer_socket_at < $2)",
        )
        .bind(id.to_string())
        .bind(at_ms)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    /// When a customer's socket on `id` last opened, on any node (see
    /// [`Store::note_customer_socket`]).
    ///
    /// # Errors
    /// A database failure.
    pub async fn customer_socket_at(&self, id: ConversationId) -> Result<Option<i64>> {
        // From the primary: a socket noted a moment ago must be seen.
        let row = sqlx::query("SELECT customer_socket_at FROM conversations WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&self.write)
            .await?;
        Ok(row.map(|r| r.try_get::<Option<i64>, _>("customer_socket_at")).transpose()?.flatten())
    }

    /// When a conversation's first ticket was created (its first hand-over to people), if it has one.
    ///
    /// # Errors
    /// A database failure.
    pub async fn first_ticket_at(&self, conversation: ConversationId) -> Result<Option<OffsetDateTime>> {
        let row = sqlx::query("SELECT created_at FROM tickets WHERE conversation_id = $1 ORDER BY created_at LIMIT 1")
            .bind(conversation.to_string())
            .fetch_optional(&self.read)
            .await?;
        row.map(|r| from_ms(r.try_get("created_at")?)).transpose()
    }

    /// Every ticket that still needs work (not resolved or closed), oldest first.
    ///
    /// # Errors
    /// A database failure.
    pub async fn open_tickets(&self) -> Result<Vec<Ticket>> {
        sqlx::query(&format!("SELECT {TICKET_COLUMNS} FROM tickets WHERE {OPEN} ORDER BY queued_at, id"))
            .fetch_all(&self.read)
            .await?
            .iter()
            .map(ticket_from_row)
            .collect()
    }

    /// Up to `limit` tickets, newest first, optionally only those in `status`.
    ///
    /// # Errors
    /// A database failure.
    pub async fn list_tickets(&self, status: Option<TicketStatus>, limit: u32) -> Result<Vec<Ticket>> {
        let (filter, value) = match status {
            Some(s) => ("status = $1", s.as_str()),
            None => ("$1 = $1", ""),
        };
        let sql =
            format!("SELECT {TICKET_COLUMNS} FROM tickets WHERE {filter} ORDER BY created_at DESC, id DESC LIMIT $2");
        let q = sqlx::query(&sql).bind(value);
        q.bind(i64::from(limit)).fetch_all(&self.read).await?.iter().map(ticket_from_row).collect()
    }

    /// A ticket's history, oldest first.
    ///
    /// # Errors
    /// A database failure.
    pub async fn ticket_events(&self, ticket: TicketId) -> Result<Vec<TicketEvent>> {
        sqlx::query("SELECT ticket_id, actor, actor_id, kind, detail, at FROM ticket_events WHERE ticket_id = $1 ORDER BY at, id")
            .bind(ticket.to_string())
            .fetch_all(&self.read)
            .await?
            .iter()
            .map(|row| {
                let actor: String = row.try_get("actor")?;
                let actor = match actor.as_str() {
                    "agent" => Actor::Agent(parse(row, "actor_id")?),
                    "customer" => Actor::Customer,
                    _ => Actor::System,
                };
                Ok(TicketEvent {
                    ticket_id: parse(row, "ticket_id")?,
                    actor,
                    kind: row.try_get("kind")?,
                    detail: json_col(row, "detail")?,
                    at: from_ms(row.try_get("at")?)?,
                })
            })
            .collect()
    }

    /// Adds an internal note, with a history line.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] for an unknown ticket, or a database failure.
    pub async fn add_ticket_note(&self, note: &TicketNote) -> Result<()> {
        let mut tx = self.write.begin().await?;
        let exists = sqlx::query("SELECT 1 FROM tickets WHERE id = $1")
            .bind(note.ticket_id.to_string())
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_none() {
            return Err(StoreError::NotFound { what: "ticket" });
        }
        sqlx::query(
            "INSERT INTO ticket_notes (id, ticket_id, author_id, body, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(uuid::Uuid::now_v7().to_string())
        .bind(note.ticket_id.to_string())
        .bind(note.author_id.to_string())
        .bind(&note.text)
        .bind(ms(note.created_at))
        .execute(&mut *tx)
        .await?;
        let event = TicketEvent {
            ticket_id: note.ticket_id,
            actor: Actor::Agent(note.author_id),
            kind: "note_added".into(),
            detail: serde_json::Value::Null,
            at: note.created_at,
        };
        insert_event(&mut tx, &event).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A ticket's internal notes, oldest first.
    ///
    /// # Errors
    /// A database failure.
    pub async fn ticket_notes(&self, ticket: TicketId) -> Result<Vec<TicketNote>> {
        sqlx::query(
            "SELECT ticket_id, author_id, body, created_at FROM ticket_notes WHERE ticket_id = $1 \
             ORDER BY created_at, id",
        )
        .bind(ticket.to_string())
        .fetch_all(&self.read)
        .await?
        .iter()
        .map(|row| {
            Ok(TicketNote {
                ticket_id: parse(row, "ticket_id")?,
                author_id: parse(row, "author_id")?,
                text: row.try_get("body")?,
                created_at: from_ms(row.try_get("created_at")?)?,
            })
        })
        .collect()
    }

    // ---- routing rules ----------------------------------------------------------------------

    /// The newest routing rules, if any were saved.
    ///
    /// # Errors
    /// A database failure.
    pub async fn current_rules(&self) -> Result<Option<RulesVersion>> {
        Ok(self.rules_versions(1).await?.into_iter().next())
    }

    /// Up to `limit` versions of the routing rules, newest first.
    ///
    /// # Errors
    /// A database failure.
    pub async fn rules_versions(&self, limit: u32) -> Result<Vec<RulesVersion>> {
        sqlx::query(&format!("{RULES_VERSION_SELECT} ORDER BY r.version DESC LIMIT $1"))
            .bind(i64::from(limit))
            .fetch_all(&self.read)
            .await?
            .iter()
            .map(rules_version_from_row)
            .collect()
    }

    /// Up to `limit` versions of the routing rules, newest first, without the rules (their
    /// count only, counted by the database).
    ///
    /// # Errors
    /// A database failure.
    pub async fn rules_version_summaries(&self, limit: u32) -> Result<Vec<RulesVersionSummary>> {
        let count = match self.backend {
            Backend::Sqlite => "json_array_length(r.rules, '$.rules')",
            Backend::Postgres => "json_array_length(CAST(r.rules AS json) -> 'rules')",
        };
        let sql = format!(
            "SELECT r.version, r.created_by, r.created_at, r.restored_from, a.name AS created_by_name, \
             CAST(COALESCE({count}, 0) AS BIGINT) AS rule_count \
             FROM routing_rules r LEFT JOIN agents a ON a.id = r.created_by ORDER BY r.version DESC LIMIT $1"
        );
        sqlx::query(&sql)
            .bind(i64::from(limit))
            .fetch_all(&self.read)
            .await?
            .iter()
            .map(|row| {
                Ok(RulesVersionSummary {
                    version: row.try_get("version")?,
                    created_by: parse(row, "created_by")?,
                    created_by_name: row.try_get("created_by_name")?,
                    created_at: from_ms(row.try_get("created_at")?)?,
                    restored_from: row.try_get("restored_from")?,
                    rule_count: row.try_get("rule_count")?,
                })
            })
            .collect()
    }

    /// One version of the routing rules.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] for a version never saved, or a database failure.
    pub async fn rules_version(&self, version: i64) -> Result<RulesVersion> {
        let row = sqlx::query(&format!("{RULES_VERSION_SELECT} WHERE r.version = $1"))
            .bind(version)
            .fetch_optional(&self.read)
            .await?
            .ok_or(StoreError::NotFound { what: "rules version" })?;
        rules_version_from_row(&row)
    }

    /// Saves `rules` as the next version. With `expected` (the version the editor started from),
    /// refuses if someone saved another version since. `restored_from` records that these are
    /// an earlier version's rules put back in force.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when `expected` is stale or two saves race, or a database
    /// failure.
    pub async fn save_rules(
        &self,
        rules: &serde_json::Value,
        by: AgentId,
        expected: Option<i64>,
        restored_from: Option<i64>,
    ) -> Result<RulesVersion> {
        let mut tx = self.write.begin().await?;
        let current: Option<i64> =
            sqlx::query("SELECT MAX(version) AS v FROM routing_rules").fetch_one(&mut *tx).await?.try_get("v")?;
        let current = current.unwrap_or(0);
        if let Some(expected) = expected
            && expected != current
        {
            return Err(StoreError::Conflict(format!(
                "the rules changed since version {expected}: the newest is version {current}"
            )));
        }
        let now = now_ms();
        let version = current + 1;
        sqlx::query(
            "INSERT INTO routing_rules (version, rules, created_by, created_at, restored_from) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(version)
        .bind(to_json(rules)?)
        .bind(by.to_string())
        .bind(now)
        .bind(restored_from)
        .execute(&mut *tx)
        .await?;
        let name: Option<String> = sqlx::query("SELECT name FROM agents WHERE id = $1")
            .bind(by.to_string())
            .fetch_optional(&mut *tx)
            .await?
            .map(|row| row.try_get("name"))
            .transpose()?;
        tx.commit().await?;
        Ok(RulesVersion {
            version,
            rules: rules.clone(),
            created_by: by,
            created_by_name: name,
            created_at: from_ms(now)?,
            restored_from,
        })
    }

    /// What the rules looked at for the tickets opened at or after `since`, newest first, at
    /// most `limit`: each ticket's queue, channel, the conversation's language, the customer's
    /// tier, the ticket's tags, the customer's last message before the ticket was opened, and
    /// when an agent first took it. One query; each ticket's extras are index look-ups.
    ///
    /// # Errors
    /// A database failure, or a stored value that no longer parses.
    pub async fn ticket_history(&self, since: OffsetDateTime, limit: u32) -> Result<Vec<TicketHistorySample>> {
        sqlx::query(
            "SELECT t.id, t.queue, t.channel, t.tags, t.created_at, c.language, cu.tier, \
               (SELECT m.body FROM messages m WHERE m.conversation_id = t.conversation_id \
                  AND m.author = 'customer' AND m.created_at <= t.created_at \
                  ORDER BY m.seq DESC LIMIT 1) AS text, \
               (SELECT MIN(e.at) FROM ticket_events e WHERE e.ticket_id = t.id AND e.kind = 'assigned') \
                  AS first_assigned_at \
             FROM tickets t \
             JOIN conversations c ON c.id = t.conversation_id \
             JOIN customers cu ON cu.id = c.customer_id \
             WHERE t.created_at >= $1 \
             ORDER BY t.created_at DESC, t.id DESC LIMIT $2",
        )
        .bind(ms(since))
        .bind(i64::from(limit))
        .fetch_all(&self.read)
        .await?
        .iter()
        .map(|row| {
            Ok(TicketHistorySample {
                ticket_id: parse(row, "id")?,
                queue: parse(row, "queue")?,
                channel: parse(row, "channel")?,
                language: parse(row, "language")?,
                tier: parse(row, "tier")?,
                tags: json_col(row, "tags")?,
                text: row.try_get::<Option<String>, _>("text")?.unwrap_or_default(),
                created_at: from_ms(row.try_get("created_at")?)?,
                first_assigned_at: opt_from_ms(row.try_get("first_assigned_at")?)?,
            })
        })
        .collect()
    }
}

const RULES_VERSION_SELECT: &str = "SELECT r.version, r.rules, r.created_by, r.created_at, r.restored_from, \
     a.name AS created_by_name FROM routing_rules r LEFT JOIN agents a ON a.id = r.created_by";

fn rules_version_from_row(row: &AnyRow) -> Result<RulesVersion> {
    Ok(RulesVersion {
        version: row.try_get("version")?,
        rules: json_col(row, "rules")?,
        created_by: parse(row, "created_by")?,
        created_by_name: row.try_get("created_by_name")?,
        created_at: from_ms(row.try_get("created_at")?)?,
        restored_from: row.try_get("restored_from")?,
    })
}

async fn update_conversation(
    tx: &mut Transaction<'static, Any>,
    id: ConversationId,
    change: ConversationChange,
    at: i64,
) -> Result<()> {
    sqlx::query("UPDATE conversations SET status = $2, assignee_id = $3, updated_at = $4 WHERE id = $1")
        .bind(id.to_string())
        .bind(change.status.as_str())
        .bind(change.assignee_id.map(|a| a.to_string()))
        .bind(at)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// The reporting state of `ticket` as the caller is storing it; what only the store keeps
/// (opening time, first response, active stretch) comes from `before`.
fn report_state(ticket: &Ticket, before: Option<&reports::TicketState>) -> reports::TicketState {
    reports::TicketState {
        conversation_id: ticket.conversation_id.to_string(),
        status: ticket.status.as_str().to_owned(),
        queue: ticket.queue.as_str().to_owned(),
        assignee_id: ticket.assignee_id.map(|a| a.to_string()),
        created_at: ms(ticket.created_at),
        opened_at: before.map_or(ms(ticket.created_at), |b| b.opened_at),
        first_response_at: before.and_then(|b| b.first_response_at),
        first_response_due: ticket.first_response_due.map(ms),
        policy_clock: before.and_then(|b| b.policy_clock),
        active_since: before.and_then(|b| b.active_since),
    }
}

fn routing_from_row(row: &AnyRow) -> Result<AgentRouting> {
    Ok(AgentRouting {
        agent_id: parse(row, "agent_id")?,
        skills: json_col(row, "skills")?,
        capacity: json_col(row, "capacity")?,
        presence: parse(row, "presence")?,
    })
}

impl Store {
    /// The customer's tickets that are still open, oldest first (at most 50).
    ///
    /// # Errors
    /// A database failure.
    pub async fn customer_open_tickets(&self, customer: crate::ids::CustomerId) -> Result<Vec<Ticket>> {
        sqlx::query(&format!(
            "SELECT {TICKET_COLUMNS} FROM tickets WHERE {OPEN} AND conversation_id IN \
             (SELECT id FROM conversations WHERE customer_id = $1) ORDER BY created_at, id LIMIT 50"
        ))
        .bind(customer.to_string())
        .fetch_all(&self.read)
        .await?
        .iter()
        .map(ticket_from_row)
        .collect()
    }
}
