//! Voice (SIP): agents' softphone identities (digest HA1 only, never a password) and call records.

use sqlx::Row;
use sqlx::any::AnyRow;
use time::OffsetDateTime;

use super::{Result, Store, StoreError, from_ms, ms, parse, parse_opt};
use crate::ids::{AgentId, ConversationId, TicketId};

/// An agent's SIP digest identity: `ha1` is `MD5(username:realm:password)` in lower-case hex,
/// valid only for `realm`.
#[derive(Clone, PartialEq, Eq)]
pub struct SipIdentity {
    pub agent_id: AgentId,
    pub username: String,
    pub realm: String,
    pub ha1: String,
    pub updated_at: OffsetDateTime,
}

impl std::fmt::Debug for SipIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SipIdentity")
            .field("agent_id", &self.agent_id)
            .field("username", &self.username)
            .field("realm", &self.realm)
            .finish_non_exhaustive()
    }
}

/// One customer call through the hub.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VoiceCall {
    /// The SIP library's call id.
    pub id: String,
    pub conversation_id: ConversationId,
    pub ticket_id: Option<TicketId>,
    /// The caller's number (the From user part), or the From URI.
    pub caller: String,
    /// The support number dialled.
    pub dialled: String,
    /// `queued`, `connected`, `ended`, `abandoned` (the caller hung up while waiting) or
    /// `callback` (nobody answered in time; the caller was told to retry and a callback is queued).
    pub status: String,
    pub answered_by: Option<AgentId>,
    pub started_at: OffsetDateTime,
    pub answered_at: Option<OffsetDateTime>,
    pub ended_at: Option<OffsetDateTime>,
    /// `caller`, `agent`, `hub` or `timeout`.
    pub ended_by: Option<String>,
    /// Talk time in milliseconds; `None` if the call was never connected.
    pub duration_ms: Option<i64>,
    /// The agent's wrap-up code.
    pub disposition: Option<String>,
}

const IDENTITY_COLUMNS: &str = "agent_id, username, realm, ha1, updated_at";
const CALL_COLUMNS: &str = "id, conversation_id, ticket_id, caller, dialled, status, answered_by, started_at, \
                            answered_at, ended_at, ended_by, duration_ms, disposition";

fn identity_from_row(row: &AnyRow) -> Result<SipIdentity> {
    Ok(SipIdentity {
        agent_id: parse(row, "agent_id")?,
        username: row.try_get("username")?,
        realm: row.try_get("realm")?,
        ha1: row.try_get("ha1")?,
        updated_at: from_ms(row.try_get("updated_at")?)?,
    })
}

fn opt_time(row: &AnyRow, col: &str) -> Result<Option<OffsetDateTime>> {
    let v: Option<i64> = row.try_get(col)?;
    v.map(from_ms).transpose()
}

fn call_from_row(row: &AnyRow) -> Result<VoiceCall> {
    Ok(VoiceCall {
        id: row.try_get("id")?,
        conversation_id: parse(row, "conversation_id")?,
        ticket_id: parse_opt(row, "ticket_id")?,
        caller: row.try_get("caller")?,
        dialled: row.try_get("dialled")?,
        status: row.try_get("status")?,
        answered_by: parse_opt(row, "answered_by")?,
        started_at: from_ms(row.try_get("started_at")?)?,
        answered_at: opt_time(row, "answered_at")?,
        ended_at: opt_time(row, "ended_at")?,
        ended_by: row.try_get("ended_by")?,
        duration_ms: row.try_get("duration_ms")?,
        disposition: row.try_get("disposition")?,
    })
}

impl Store {
    /// Sets (or replaces) an agent's SIP identity.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] if another agent has that username, [`StoreError::NotFound`] for an
    /// unknown agent, or a database failure.
    pub async fn set_sip_identity(&self, identity: &SipIdentity) -> Result<()> {
        self.agent(identity.agent_id).await?;
        sqlx::query(&format!(
            "INSERT INTO sip_identities ({IDENTITY_COLUMNS}) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (agent_id) DO UPDATE SET username = $2, realm = $3, ha1 = $4, updated_at = $5"
        ))
        .bind(identity.agent_id.to_string())
        .bind(&identity.username)
        .bind(&identity.realm)
        .bind(&identity.ha1)
        .bind(ms(identity.updated_at))
        .execute(&self.write)
        .await
        .map_err(|e| match StoreError::from(e) {
            StoreError::Conflict(_) => {
                StoreError::Conflict(format!("the SIP username {} belongs to another agent", identity.username))
            }
            other => other,
        })?;
        Ok(())
    }

    /// The agent's SIP identity, if they have one.
    ///
    /// # Errors
    /// A database failure.
    pub async fn sip_identity(&self, agent: AgentId) -> Result<Option<SipIdentity>> {
        sqlx::query(&format!("SELECT {IDENTITY_COLUMNS} FROM sip_identities WHERE agent_id = $1"))
            .bind(agent.to_string())
            .fetch_optional(&self.read)
            .await?
            .as_ref()
            .map(identity_from_row)
            .transpose()
    }

    /// Every SIP identity.
    ///
    /// # Errors
    /// A database failure.
    pub async fn sip_identities(&self) -> Result<Vec<SipIdentity>> {
        sqlx::query(&format!("SELECT {IDENTITY_COLUMNS} FROM sip_identities ORDER BY username"))
            .fetch_all(&self.read)
            .await?
            .iter()
            .map(identity_from_row)
            .collect()
    }

    /// Stores a call record, or replaces the record with the same id.
    ///
    /// # Errors
    /// [`StoreError::NotFound`]-like failures for an unknown conversation, or a database failure.
    pub async fn save_call(&self, call: &VoiceCall) -> Result<()> {
        sqlx::query(&format!(
            "INSERT INTO voice_calls ({CALL_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
             ON CONFLICT (id) DO UPDATE SET ticket_id = $3, status = $6, answered_by = $7, answered_at = $9, \
             ended_at = $10, ended_by = $11, duration_ms = $12, disposition = $13"
        ))
        .bind(&call.id)
        .bind(call.conversation_id.to_string())
        .bind(call.ticket_id.map(|t| t.to_string()))
        .bind(&call.caller)
        .bind(&call.dialled)
        .bind(&call.status)
        .bind(call.answered_by.map(|a| a.to_string()))
        .bind(ms(call.started_at))
        .bind(call.answered_at.map(ms))
        .bind(call.ended_at.map(ms))
        .bind(call.ended_by.clone())
        .bind(call.duration_ms)
        .bind(call.disposition.clone())
        .execute(&self.write)
        .await?;
        Ok(())
    }

    /// The call `id`.
    ///
    /// # Errors
    /// [`StoreError::NotFound`], or a database failure.
    pub async fn call(&self, id: &str) -> Result<VoiceCall> {
        sqlx::query(&format!("SELECT {CALL_COLUMNS} FROM voice_calls WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.read)
            .await?
            .as_ref()
            .map(call_from_row)
            .transpose()?
            .ok_or(StoreError::NotFound { what: "call" })
    }

    /// The calls still `queued` or `connected`, oldest first.
    ///
    /// # Errors
    /// A database failure.
    pub async fn open_calls(&self) -> Result<Vec<VoiceCall>> {
        sqlx::query(&format!(
            "SELECT {CALL_COLUMNS} FROM voice_calls WHERE status IN ('queued', 'connected') ORDER BY started_at"
        ))
        .fetch_all(&self.read)
        .await?
        .iter()
        .map(call_from_row)
        .collect()
    }

    /// A conversation's calls, oldest first.
    ///
    /// # Errors
    /// A database failure.
    pub async fn conversation_calls(&self, conversation: ConversationId) -> Result<Vec<VoiceCall>> {
        sqlx::query(&format!(
            "SELECT {CALL_COLUMNS} FROM voice_calls WHERE conversation_id = $1 ORDER BY started_at, id"
        ))
        .bind(conversation.to_string())
        .fetch_all(&self.read)
        .await?
        .iter()
        .map(call_from_row)
        .collect()
    }

    /// A ticket's calls, oldest first.
    ///
    /// # Errors
    /// A database failure.
    pub async fn ticket_calls(&self, ticket: TicketId) -> Result<Vec<VoiceCall>> {
        sqlx::query(&format!("SELECT {CALL_COLUMNS} FROM voice_calls WHERE ticket_id = $1 ORDER BY started_at, id"))
            .bind(ticket.to_string())
            .fetch_all(&self.read)
            .await?
            .iter()
            .map(call_from_row)
            .collect()
    }
}
