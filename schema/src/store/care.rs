//! The care workflows' submissions (`care_requests`): stored idempotently by (agent, key), moved
//! between states under a guard on the state they leave, each change recorded on the
//! conversation's timeline (an event of its newest ticket) in the same transaction.

use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use super::tickets::insert_event;
use super::{Result, Store, StoreError, from_ms, ms, now_ms, parse, parse_opt, to_json};
use crate::care::{CareFilter, CareRequest, CareState, CareTransition, NewCareRequest};
use crate::ids::{CareRequestId, ConversationId};
use crate::routing::{Actor, TicketEvent};

const COLUMNS: &str = "id, kind, state, agent_id, idempotency_key, conversation_id, customer_id, bss_customer_id, \
     account_id, product_id, offering_id, bill_id, item_id, amount_minor, currency, reason, note, detail, \
     marketing_consent, result_ref, failure, decided_by, decision_note, decided_at, created_at, updated_at";

/// The most rows one listing returns.
pub const MAX_CARE_LIST: u32 = 1_000;

fn from_row(row: &AnyRow) -> Result<CareRequest> {
    let detail: String = row.try_get("detail")?;
    let consent: Option<i64> = row.try_get("marketing_consent")?;
    let decided_at: Option<i64> = row.try_get("decided_at")?;
    Ok(CareRequest {
        id: parse(row, "id")?,
        kind: parse(row, "kind")?,
        state: parse(row, "state")?,
        agent_id: parse(row, "agent_id")?,
        idempotency_key: row.try_get("idempotency_key")?,
        conversation_id: parse(row, "conversation_id")?,
        customer_id: parse(row, "customer_id")?,
        bss_customer_id: row.try_get("bss_customer_id")?,
        account_id: row.try_get("account_id")?,
        product_id: row.try_get("product_id")?,
        offering_id: row.try_get("offering_id")?,
        bill_id: row.try_get("bill_id")?,
        item_id: row.try_get("item_id")?,
        amount_minor: row.try_get("amount_minor")?,
        currency: row.try_get("currency")?,
        reason: row.try_get("reason")?,
        note: row.try_get("note")?,
        detail: serde_json::from_str(&detail).map_err(|e| StoreError::Corrupt(format!("care detail: {e}")))?,
        marketing_consent: consent.map(|c| c != 0),
        result_ref: row.try_get("result_ref")?,
        failure: row.try_get("failure")?,
        decided_by: parse_opt(row, "decided_by")?,
        decision_note: row.try_get("decision_note")?,
        decided_at: decided_at.map(from_ms).transpose()?,
        created_at: from_ms(row.try_get("created_at")?)?,
        updated_at: from_ms(row.try_get("updated_at")?)?,
    })
}

/// Records `request` on its conversation's timeline: an event `care.<kind>` of the newest
/// ticket, if the conversation has one (staff only: ticket events never reach the customer).
async fn timeline(
    tx: &mut Transaction<'static, Any>,
    conversation: ConversationId,
    actor: Actor,
    request: &CareRequest,
    summary: &str,
) -> Result<()> {
    let ticket: Option<String> = sqlx::query_scalar(
        "SELECT id FROM tickets WHERE conversation_id = $1 ORDER BY created_at DESC, id DESC LIMIT 1",
    )
    .bind(conversation.to_string())
    .fetch_optional(&mut **tx)
    .await?;
    let Some(ticket) = ticket else { return Ok(()) };
    let event = TicketEvent {
        ticket_id: ticket.parse()?,
        actor,
        kind: format!("care.{}", request.kind),
        detail: crate::care::timeline_detail(request, summary),
        at: request.updated_at,
    };
    insert_event(tx, &event).await
}

async fn fetch_in(tx: &mut Transaction<'static, Any>, id: CareRequestId) -> Result<Option<CareRequest>> {
    sqlx::query(&format!("SELECT {COLUMNS} FROM care_requests WHERE id = $1"))
        .bind(id.to_string())
        .fetch_optional(&mut **tx)
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

impl Store {
    /// Stores a submission, or finds the one the same agent stored with the same idempotency
    /// key (then `false`: nothing is written). A new pending one goes on the timeline at once.
    ///
    /// # Errors
    /// A database failure.
    pub async fn insert_care_request(&self, new: &NewCareRequest, summary: &str) -> Result<(CareRequest, bool)> {
        let mut tx = self.write.begin().await?;
        let now = now_ms();
        let inserted = sqlx::query(
            "INSERT INTO care_requests (id, kind, state, agent_id, idempotency_key, conversation_id, customer_id, \
             bss_customer_id, account_id, product_id, offering_id, bill_id, item_id, amount_minor, currency, reason, \
             note, detail, marketing_consent, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $20) \
             ON CONFLICT (agent_id, idempotency_key) DO NOTHING",
        )
        .bind(new.id.to_string())
        .bind(new.kind.as_str())
        .bind(new.state.as_str())
        .bind(new.agent_id.to_string())
        .bind(&new.idempotency_key)
        .bind(new.conversation_id.to_string())
        .bind(new.customer_id.to_string())
        .bind(&new.bss_customer_id)
        .bind(new.account_id.as_deref())
        .bind(new.product_id.as_deref())
        .bind(new.offering_id.as_deref())
        .bind(new.bill_id.as_deref())
        .bind(new.item_id.as_deref())
        .bind(new.amount_minor)
        .bind(new.currency.as_deref())
        .bind(new.reason.as_deref())
        .bind(&new.note)
        .bind(to_json(&new.detail)?)
        .bind(new.marketing_consent.map(i64::from))
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        let row =
            sqlx::query(&format!("SELECT {COLUMNS} FROM care_requests WHERE agent_id = $1 AND idempotency_key = $2"))
                .bind(new.agent_id.to_string())
                .bind(&new.idempotency_key)
                .fetch_one(&mut *tx)
                .await?;
        let request = from_row(&row)?;
        if inserted && request.state == CareState::Pending {
            timeline(&mut tx, request.conversation_id, Actor::Agent(request.agent_id), &request, summary).await?;
        }
        tx.commit().await?;
        Ok((request, inserted))
    }

    /// Moves a submission to `change.to` if it is in one of `change.from`, and records the change
    /// on the conversation's timeline, in one transaction.
    ///
    /// # Errors
    /// Unknown id (not found), another state (conflict: nothing changes), a database failure.
    pub async fn transition_care_request(
        &self,
        id: CareRequestId,
        change: &CareTransition,
        actor: Actor,
        summary: &str,
    ) -> Result<CareRequest> {
        let mut tx = self.write.begin().await?;
        let current = fetch_in(&mut tx, id).await?.ok_or(StoreError::NotFound { what: "care request" })?;
        if !change.from.contains(&current.state) {
            return Err(StoreError::Conflict(format!("the request is {}", current.state)));
        }
        let now = now_ms();
        let decided_at = change.decided_by.map(|_| now);
        let updated = sqlx::query(
            "UPDATE care_requests SET state = $2, result_ref = COALESCE($3, result_ref), failure = $4, \
             decided_by = COALESCE($5, decided_by), decision_note = COALESCE($6, decision_note), \
             decided_at = COALESCE($7, decided_at), updated_at = $8 WHERE id = $1 AND state = $9",
        )
        .bind(id.to_string())
        .bind(change.to.as_str())
        .bind(change.result_ref.as_deref())
        .bind(change.failure.as_deref())
        .bind(change.decided_by.map(|a| a.to_string()))
        .bind(change.decision_note.as_deref())
        .bind(decided_at)
        .bind(now)
        .bind(current.state.as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if updated != 1 {
            return Err(StoreError::Conflict("the request changed meanwhile".into()));
        }
        let request = fetch_in(&mut tx, id).await?.ok_or(StoreError::NotFound { what: "care request" })?;
        timeline(&mut tx, request.conversation_id, actor, &request, summary).await?;
        tx.commit().await?;
        Ok(request)
    }

    /// One submission.
    ///
    /// # Errors
    /// Unknown id (not found), a database failure.
    pub async fn care_request(&self, id: CareRequestId) -> Result<CareRequest> {
        sqlx::query(&format!("SELECT {COLUMNS} FROM care_requests WHERE id = $1"))
            .bind(id.to_string())
            .fetch_optional(&self.read)
            .await?
            .as_ref()
            .map(from_row)
            .transpose()?
            .ok_or(StoreError::NotFound { what: "care request" })
    }

    /// The submission `agent` stored with idempotency key `key`, if any.
    ///
    /// # Errors
    /// A database failure.
    pub async fn care_request_by_key(&self, agent: crate::ids::AgentId, key: &str) -> Result<Option<CareRequest>> {
        sqlx::query(&format!("SELECT {COLUMNS} FROM care_requests WHERE agent_id = $1 AND idempotency_key = $2"))
            .bind(agent.to_string())
            .bind(key)
            .fetch_optional(&self.write)
            .await?
            .as_ref()
            .map(from_row)
            .transpose()
    }

    /// Submissions matching `filter`, newest first, at most `filter.limit` (capped at
    /// [`MAX_CARE_LIST`]).
    ///
    /// # Errors
    /// A database failure.
    pub async fn care_requests(&self, filter: &CareFilter) -> Result<Vec<CareRequest>> {
        let mut sql = format!("SELECT {COLUMNS} FROM care_requests WHERE 1 = 1");
        let mut binds: Vec<Bind> = Vec::new();
        let mut push = |clause: &str, value: Bind| {
            binds.push(value);
            sql.push_str(&format!(" AND {clause} ${}", binds.len()));
        };
        if let Some(kind) = filter.kind {
            push("kind =", Bind::Text(kind.as_str().to_owned()));
        }
        if let Some(state) = filter.state {
            push("state =", Bind::Text(state.as_str().to_owned()));
        }
        if let Some(agent) = filter.agent {
            push("agent_id =", Bind::Text(agent.to_string()));
        }
        if let Some(reason) = &filter.reason {
            push("reason =", Bind::Text(reason.clone()));
        }
        if let Some(conversation) = filter.conversation {
            push("conversation_id =", Bind::Text(conversation.to_string()));
        }
        if let Some(from) = filter.from {
            push("created_at >=", Bind::Int(ms(from)));
        }
        if let Some(to) = filter.to {
            push("created_at <", Bind::Int(ms(to)));
        }
        sql.push_str(&format!(" ORDER BY created_at DESC, id DESC LIMIT {}", filter.limit.min(MAX_CARE_LIST)));
        let mut query = sqlx::query(&sql);
        for b in binds {
            query = match b {
                Bind::Text(t) => query.bind(t),
                Bind::Int(i) => query.bind(i),
            };
        }
        query.fetch_all(&self.read).await?.iter().map(from_row).collect()
    }
}

enum Bind {
    Text(String),
    Int(i64),
}
