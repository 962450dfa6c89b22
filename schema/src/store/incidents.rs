//! The incident feed and line tests: incidents with their area (one `incident_areas` row per
//! postcode or cell, written with the incident in one transaction), the live ones at an area,
//! the alert's incident by fingerprint; the open conversations whose customer is linked to the
//! BSS (whom an incident may concern); open tickets by tag (bulk resolution); and the line tests
//! run from a conversation.

use std::collections::{BTreeMap, BTreeSet};

use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use super::tickets::{OPEN, TICKET_COLUMNS, ticket_from_row};
use super::{Result, Store, StoreError, from_ms, ms, now_ms, parse, parse_opt, to_json};
use crate::ids::{AgentId, ConversationId, IncidentId};
use crate::incidents::{
    CellId, Diagnostic, DiagnosticMeasure, Incident, IncidentContent, IncidentFilter, IncidentSource, IncidentText,
    Postcode, ServiceKind,
};
use crate::routing::Ticket;
use crate::values::{Language, ValidationError};

const COLUMNS: &str = "id, title, description, texts, services, status, source, fingerprint, started_at, eta, \
                       resolved_at, created_by, created_at, updated_at";

/// An open conversation whose customer is linked to a BSS customer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkedConversation {
    pub conversation_id: ConversationId,
    pub language: Language,
    /// The BSS's customer id.
    pub bss_customer_id: String,
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("incident {what}: {e}"))
}

fn names<T: std::str::FromStr<Err = ValidationError> + Ord>(text: &str) -> Result<BTreeSet<T>> {
    text.split_whitespace().map(|s| s.parse().map_err(StoreError::from)).collect()
}

fn incident_from_row(row: &AnyRow, areas: &[(String, String)]) -> Result<Incident> {
    let texts: String = row.try_get("texts")?;
    let texts: BTreeMap<Language, IncidentText> = serde_json::from_str(&texts).map_err(|e| corrupt("texts", e))?;
    let services: String = row.try_get("services")?;
    let mut postcodes = BTreeSet::new();
    let mut cells = BTreeSet::new();
    for (kind, value) in areas {
        match kind.as_str() {
            "postcode" => {
                postcodes.insert(value.parse::<Postcode>()?);
            }
            "cell" => {
                cells.insert(value.parse::<CellId>()?);
            }
            other => return Err(corrupt("area", other)),
        }
    }
    let eta: Option<i64> = row.try_get("eta")?;
    let resolved_at: Option<i64> = row.try_get("resolved_at")?;
    Ok(Incident {
        id: parse(row, "id")?,
        content: IncidentContent {
            text: IncidentText { title: row.try_get("title")?, description: row.try_get("description")? },
            texts,
            services: names::<ServiceKind>(&services)?,
            postcodes,
            cells,
            status: parse(row, "status")?,
            started_at: from_ms(row.try_get("started_at")?)?,
            eta: eta.map(from_ms).transpose()?,
        },
        source: parse(row, "source")?,
        fingerprint: row.try_get("fingerprint")?,
        resolved_at: resolved_at.map(from_ms).transpose()?,
        created_by: parse_opt(row, "created_by")?,
        created_at: from_ms(row.try_get("created_at")?)?,
        updated_at: from_ms(row.try_get("updated_at")?)?,
    })
}

fn services_text(services: &BTreeSet<ServiceKind>) -> String {
    services.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" ")
}

async fn write_areas(tx: &mut Transaction<'static, Any>, id: IncidentId, content: &IncidentContent) -> Result<()> {
    sqlx::query("DELETE FROM incident_areas WHERE incident_id = $1").bind(id.to_string()).execute(&mut **tx).await?;
    let areas = content
        .postcodes
        .iter()
        .map(|p| ("postcode", p.as_str()))
        .chain(content.cells.iter().map(|c| ("cell", c.as_str())));
    for (kind, value) in areas {
        sqlx::query("INSERT INTO incident_areas (incident_id, kind, value) VALUES ($1, $2, $3)")
            .bind(id.to_string())
            .bind(kind)
            .bind(value)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

impl Store {
    async fn incidents_with_areas(&self, rows: Vec<AnyRow>) -> Result<Vec<Incident>> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<String> = rows.iter().map(|r| r.try_get::<String, _>("id")).collect::<Result<_, _>>()?;
        let list = (1..=ids.len()).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ");
        let sql = format!(
            "SELECT incident_id, kind, value FROM incident_areas WHERE incident_id IN ({list}) ORDER BY kind, value"
        );
        let mut q = sqlx::query(&sql);
        for id in &ids {
            q = q.bind(id.clone());
        }
        let mut areas: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
        for row in q.fetch_all(&self.read).await? {
            areas.entry(row.try_get("incident_id")?).or_default().push((row.try_get("kind")?, row.try_get("value")?));
        }
        rows.iter()
            .zip(&ids)
            .map(|(row, id)| incident_from_row(row, areas.get(id).map_or(&[][..], Vec::as_slice)))
            .collect()
    }

    /// Stores a new incident and its area in one transaction.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] if `fingerprint` already keys an incident, or a database failure.
    pub async fn create_incident(
        &self,
        content: &IncidentContent,
        source: IncidentSource,
        fingerprint: Option<&str>,
        created_by: Option<AgentId>,
    ) -> Result<Incident> {
        let id = IncidentId::new();
        let now = now_ms();
        let resolved_at = (!content.status.is_live()).then_some(now);
        let mut tx = self.write.begin().await?;
        sqlx::query(&format!(
            "INSERT INTO incidents ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13)"
        ))
        .bind(id.to_string())
        .bind(&content.text.title)
        .bind(&content.text.description)
        .bind(to_json(&content.texts)?)
        .bind(services_text(&content.services))
        .bind(content.status.as_str())
        .bind(source.as_str())
        .bind(fingerprint.map(str::to_owned))
        .bind(ms(content.started_at))
        .bind(content.eta.map(ms))
        .bind(resolved_at)
        .bind(created_by.map(|a| a.to_string()))
        .bind(now)
        .execute(&mut *tx)
        .await?;
        write_areas(&mut tx, id, content).await?;
        tx.commit().await?;
        self.incident(id).await
    }

    /// Replaces an incident's content (and area) in one transaction. Resolving stamps
    /// `resolved_at` (once); reopening clears it.
    ///
    /// # Errors
    /// [`StoreError::NotFound`], or a database failure.
    pub async fn update_incident(&self, id: IncidentId, content: &IncidentContent) -> Result<Incident> {
        let now = now_ms();
        let mut tx = self.write.begin().await?;
        let done = sqlx::query(
            "UPDATE incidents SET title = $2, description = $3, texts = $4, services = $5, status = $6, \
             started_at = $7, eta = $8, updated_at = $9, \
             resolved_at = CASE WHEN $10 = 1 THEN COALESCE(resolved_at, $9) ELSE NULL END WHERE id = $1",
        )
        .bind(id.to_string())
        .bind(&content.text.title)
        .bind(&content.text.description)
        .bind(to_json(&content.texts)?)
        .bind(services_text(&content.services))
        .bind(content.status.as_str())
        .bind(ms(content.started_at))
        .bind(content.eta.map(ms))
        .bind(now)
        .bind(i64::from(!content.status.is_live()))
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound { what: "incident" });
        }
        write_areas(&mut tx, id, content).await?;
        tx.commit().await?;
        self.incident(id).await
    }

    /// The incident `id`.
    ///
    /// # Errors
    /// [`StoreError::NotFound`], or a database failure.
    pub async fn incident(&self, id: IncidentId) -> Result<Incident> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM incidents WHERE id = $1"))
            .bind(id.to_string())
            .fetch_optional(&self.read)
            .await?
            .ok_or(StoreError::NotFound { what: "incident" })?;
        Ok(self.incidents_with_areas(vec![row]).await?.remove(0))
    }

    /// The incident an Alertmanager alert opened, by the alert's fingerprint.
    ///
    /// # Errors
    /// A database failure.
    pub async fn incident_by_fingerprint(&self, fingerprint: &str) -> Result<Option<Incident>> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM incidents WHERE fingerprint = $1"))
            .bind(fingerprint)
            .fetch_optional(&self.write)
            .await?;
        match row {
            Some(row) => Ok(self.incidents_with_areas(vec![row]).await?.pop()),
            None => Ok(None),
        }
    }

    /// Incidents, newest start first: the live ones, or all; at most `limit`.
    ///
    /// # Errors
    /// A database failure.
    pub async fn incidents(&self, filter: IncidentFilter, limit: u32) -> Result<Vec<Incident>> {
        let filter = match filter {
            IncidentFilter::Live => "WHERE status <> 'resolved'",
            IncidentFilter::All => "",
        };
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM incidents {filter} ORDER BY started_at DESC, id DESC LIMIT {}",
            i64::from(limit)
        ))
        .fetch_all(&self.read)
        .await?;
        self.incidents_with_areas(rows).await
    }

    /// The live incidents that cover any of `postcodes` or `cells`, newest start first (at most
    /// 20).
    ///
    /// # Errors
    /// A database failure.
    pub async fn live_incidents_at(&self, postcodes: &[Postcode], cells: &[CellId]) -> Result<Vec<Incident>> {
        if postcodes.is_empty() && cells.is_empty() {
            return Ok(Vec::new());
        }
        let mut binds: Vec<String> = Vec::new();
        let mut terms = Vec::new();
        for (kind, values) in [
            ("postcode", postcodes.iter().map(Postcode::as_str).collect::<Vec<_>>()),
            ("cell", cells.iter().map(CellId::as_str).collect()),
        ] {
            if values.is_empty() {
                continue;
            }
            binds.push(kind.to_owned());
            let k = binds.len();
            let list: Vec<String> = values
                .iter()
                .take(100)
                .map(|v| {
                    binds.push((*v).to_owned());
                    format!("${}", binds.len())
                })
                .collect();
            terms.push(format!("(a.kind = ${k} AND a.value IN ({}))", list.join(", ")));
        }
        let sql = format!(
            "SELECT {COLUMNS} FROM incidents WHERE status <> 'resolved' AND id IN \
             (SELECT a.incident_id FROM incident_areas a WHERE {}) ORDER BY started_at DESC, id DESC LIMIT 20",
            terms.join(" OR ")
        );
        let mut q = sqlx::query(&sql);
        for b in binds {
            q = q.bind(b);
        }
        let rows = q.fetch_all(&self.read).await?;
        self.incidents_with_areas(rows).await
    }

    /// Open conversations (with the bot, queued or assigned) whose customer is linked to a BSS
    /// customer, newest activity first, at most `limit`: those an incident may concern.
    ///
    /// # Errors
    /// A database failure.
    pub async fn open_linked_conversations(&self, limit: u32) -> Result<Vec<LinkedConversation>> {
        let rows = sqlx::query(
            "SELECT c.id, c.language, u.bss_customer_id FROM conversations c JOIN customers u ON u.id = c.customer_id \
             WHERE c.status IN ('bot', 'queued', 'assigned') AND u.bss_customer_id IS NOT NULL \
             ORDER BY c.updated_at DESC, c.id DESC LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(LinkedConversation {
                    conversation_id: parse(row, "id")?,
                    language: parse(row, "language")?,
                    bss_customer_id: row.try_get("bss_customer_id")?,
                })
            })
            .collect()
    }

    /// Open tickets carrying `tag`, oldest first, at most `limit`.
    ///
    /// # Errors
    /// A database failure.
    pub async fn open_tickets_tagged(&self, tag: &str, limit: u32) -> Result<Vec<Ticket>> {
        // Tags are stored as a JSON array of strings; a tag is letters, digits and `-_:.`.
        let pattern = format!("%{}%", serde_json::Value::String(tag.to_owned()));
        sqlx::query(&format!(
            "SELECT {TICKET_COLUMNS} FROM tickets WHERE {OPEN} AND tags LIKE $1 ORDER BY queued_at, id LIMIT $2"
        ))
        .bind(pattern)
        .bind(i64::from(limit))
        .fetch_all(&self.read)
        .await?
        .iter()
        .map(ticket_from_row)
        .collect()
    }

    /// Keeps a line test's result on its conversation's timeline.
    ///
    /// # Errors
    /// A database failure (an unknown conversation or agent is one).
    pub async fn record_diagnostic(&self, d: &Diagnostic) -> Result<()> {
        sqlx::query(
            "INSERT INTO diagnostics (id, conversation_id, product_id, test_id, verdict, summary, measures, run_by, \
             finished_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(d.id.to_string())
        .bind(d.conversation_id.to_string())
        .bind(&d.product)
        .bind(&d.test)
        .bind(d.verdict.as_str())
        .bind(&d.summary)
        .bind(to_json(&d.measures)?)
        .bind(d.run_by.to_string())
        .bind(ms(d.finished_at))
        .bind(ms(d.created_at))
        .execute(&self.write)
        .await?;
        Ok(())
    }

    /// A conversation's line tests, newest first (at most 50).
    ///
    /// # Errors
    /// A database failure.
    pub async fn diagnostics(&self, conversation: ConversationId) -> Result<Vec<Diagnostic>> {
        sqlx::query(
            "SELECT id, conversation_id, product_id, test_id, verdict, summary, measures, run_by, finished_at, \
             created_at FROM diagnostics WHERE conversation_id = $1 ORDER BY created_at DESC, id DESC LIMIT 50",
        )
        .bind(conversation.to_string())
        .fetch_all(&self.read)
        .await?
        .iter()
        .map(|row| {
            let measures: String = row.try_get("measures")?;
            let measures: Vec<DiagnosticMeasure> =
                serde_json::from_str(&measures).map_err(|e| corrupt("measures", e))?;
            Ok(Diagnostic {
                id: parse(row, "id")?,
                conversation_id: parse(row, "conversation_id")?,
                product: row.try_get("product_id")?,
                test: row.try_get("test_id")?,
                verdict: parse(row, "verdict")?,
                summary: row.try_get("summary")?,
                measures,
                run_by: parse(row, "run_by")?,
                finished_at: from_ms(row.try_get("finished_at")?)?,
                created_at: from_ms(row.try_get("created_at")?)?,
            })
        })
        .collect()
    }
}
