//! Churn risk in the store: gathering one customer's [`ChurnSignals`] (one query per signal, each
//! over the customer's own rows through the customer, conversation and ticket indexes, bounded by
//! its time window) and keeping the last computed score (`churn_scores`).

use sqlx::Row;
use sqlx::any::AnyRow;
use time::{Duration, OffsetDateTime};

use super::{Result, Store, StoreError, from_ms, ms, parse, to_json};
use crate::churn::{
    CANCELLATION_TAGS, CANCELLATION_WINDOW_DAYS, COMPLAINT_TAGS, CONTACTS_WINDOW_DAYS, ChurnAssessment, ChurnRisk,
    ChurnSignals, RECENT_WINDOW_DAYS, RETENTION_QUEUE,
};
use crate::ids::CustomerId;

/// Tickets whose conversation is customer `$1`'s.
const TICKETS_OF: &str = "tickets t JOIN conversations c ON c.id = t.conversation_id WHERE c.customer_id = $1";
/// A ticket still being worked on.
const OPEN: &str = "t.status NOT IN ('resolved', 'closed')";

/// `t.tags` (a JSON array of strings) holds one of `tags`.
fn tags_any(tags: &[&str]) -> String {
    let alternatives: Vec<String> = tags.iter().map(|t| format!("t.tags LIKE '%\"{t}\"%'")).collect();
    format!("({})", alternatives.join(" OR "))
}

fn count(v: i64) -> u32 {
    u32::try_from(v.max(0)).unwrap_or(u32::MAX)
}

impl Store {
    async fn churn_count(&self, sql: &str, customer: CustomerId, since: Option<OffsetDateTime>) -> Result<u32> {
        let mut q = sqlx::query_scalar::<_, i64>(sql).bind(customer.to_string());
        if let Some(since) = since {
            q = q.bind(ms(since));
        }
        Ok(count(q.fetch_one(&self.read).await?))
    }

    /// Conversations the customer started since `since`.
    async fn churn_contacts(&self, customer: CustomerId, since: OffsetDateTime) -> Result<u32> {
        self.churn_count(
            "SELECT COUNT(*) FROM conversations WHERE customer_id = $1 AND created_at >= $2",
            customer,
            Some(since),
        )
        .await
    }

    /// Tickets opened since `since` tagged with a cancellation tag or transferred to the
    /// retention queue, and care requests to discontinue a service.
    async fn churn_cancellations(&self, customer: CustomerId, since: OffsetDateTime) -> Result<u32> {
        // Moved to retention by a person, not routed there by a rule (a rule on the score itself
        // would otherwise feed the score).
        let tickets = format!(
            "SELECT COUNT(*) FROM {TICKETS_OF} AND t.created_at >= $2 AND ({} OR EXISTS (SELECT 1 FROM ticket_events e \
             WHERE e.ticket_id = t.id AND e.kind = 'transferred' AND e.detail LIKE '%\"to_queue\":\"{RETENTION_QUEUE}\"%'))",
            tags_any(CANCELLATION_TAGS)
        );
        let tickets = self.churn_count(&tickets, customer, Some(since)).await?;
        let care = self
            .churn_count(
                "SELECT COUNT(*) FROM care_requests WHERE customer_id = $1 AND kind = 'discontinue_service' \
                 AND created_at >= $2",
                customer,
                Some(since),
            )
            .await?;
        Ok(tickets.saturating_add(care))
    }

    /// Open tickets tagged as a complaint or dispute.
    async fn churn_open_complaints(&self, customer: CustomerId) -> Result<u32> {
        let sql = format!("SELECT COUNT(*) FROM {TICKETS_OF} AND {OPEN} AND {}", tags_any(COMPLAINT_TAGS));
        self.churn_count(&sql, customer, None).await
    }

    /// Hours since the customer's oldest open ticket was opened (0 with none).
    async fn churn_oldest_open_hours(&self, customer: CustomerId, now: OffsetDateTime) -> Result<u32> {
        let oldest: Option<i64> = sqlx::query_scalar(&format!("SELECT MIN(t.created_at) FROM {TICKETS_OF} AND {OPEN}"))
            .bind(customer.to_string())
            .fetch_one(&self.read)
            .await?;
        Ok(oldest.map_or(0, |at| count((ms(now) - at) / 3_600_000)))
    }

    /// Distinct incidents the customer was told had opened (the proactive notices, keyed
    /// `incident:<id>:opened` in each conversation) since `since`.
    async fn churn_outage_notices(&self, customer: CustomerId, since: OffsetDateTime) -> Result<u32> {
        self.churn_count(
            "SELECT COUNT(DISTINCT m.channel_message_id) FROM messages m JOIN conversations c ON c.id = m.conversation_id \
             WHERE c.customer_id = $1 AND m.channel_message_id LIKE 'incident:%:opened' AND m.created_at >= $2",
            customer,
            Some(since),
        )
        .await
    }

    /// Transfers of the customer's tickets since `since`.
    async fn churn_transfers(&self, customer: CustomerId, since: OffsetDateTime) -> Result<u32> {
        self.churn_count(
            "SELECT COUNT(*) FROM ticket_events e JOIN tickets t ON t.id = e.ticket_id \
             JOIN conversations c ON c.id = t.conversation_id \
             WHERE c.customer_id = $1 AND e.kind = 'transferred' AND e.at >= $2",
            customer,
            Some(since),
        )
        .await
    }

    /// What the churn model reads about `customer` as of `now`.
    ///
    /// # Errors
    /// Unknown customer, or a database failure.
    pub async fn churn_signals(&self, customer: CustomerId, now: OffsetDateTime) -> Result<ChurnSignals> {
        // 404 for an unknown customer rather than a score of zero.
        self.customer(customer).await?;
        Ok(ChurnSignals {
            contacts_7d: self.churn_contacts(customer, now - Duration::days(CONTACTS_WINDOW_DAYS)).await?,
            cancellation_intents_90d: self
                .churn_cancellations(customer, now - Duration::days(CANCELLATION_WINDOW_DAYS))
                .await?,
            open_complaints: self.churn_open_complaints(customer).await?,
            oldest_open_ticket_hours: self.churn_oldest_open_hours(customer, now).await?,
            outage_notices_30d: self.churn_outage_notices(customer, now - Duration::days(RECENT_WINDOW_DAYS)).await?,
            transfers_30d: self.churn_transfers(customer, now - Duration::days(RECENT_WINDOW_DAYS)).await?,
            // Counted by the hub from the customer's answered surveys (`csat_ratings_for_customer`).
            low_csat_90d: 0,
        })
    }

    /// Stores `risk` as the customer's last computed score (replacing the one before).
    ///
    /// # Errors
    /// A database failure (an unknown customer breaks the reference).
    pub async fn put_churn_risk(&self, risk: &ChurnRisk) -> Result<()> {
        sqlx::query(
            "INSERT INTO churn_scores (customer_id, score, band, factors, signals, computed_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (customer_id) DO UPDATE SET score = excluded.score, \
             band = excluded.band, factors = excluded.factors, signals = excluded.signals, \
             computed_at = excluded.computed_at",
        )
        .bind(risk.customer_id.to_string())
        .bind(i64::from(risk.assessment.score))
        .bind(risk.assessment.band.as_str())
        .bind(to_json(&risk.assessment.factors)?)
        .bind(to_json(&risk.signals)?)
        .bind(ms(risk.computed_at))
        .execute(&self.write)
        .await?;
        Ok(())
    }

    /// The customer's last computed score, if any.
    ///
    /// # Errors
    /// A database failure, or a stored row that does not read back.
    pub async fn churn_risk(&self, customer: CustomerId) -> Result<Option<ChurnRisk>> {
        sqlx::query(
            "SELECT customer_id, score, band, factors, signals, computed_at FROM churn_scores WHERE customer_id = $1",
        )
        .bind(customer.to_string())
        .fetch_optional(&self.read)
        .await?
        .as_ref()
        .map(churn_from_row)
        .transpose()
    }
}

fn churn_from_row(row: &AnyRow) -> Result<ChurnRisk> {
    let corrupt = |what: &str, e: &dyn std::fmt::Display| StoreError::Corrupt(format!("churn {what}: {e}"));
    let score: i64 = row.try_get("score")?;
    let factors: String = row.try_get("factors")?;
    let signals: String = row.try_get("signals")?;
    Ok(ChurnRisk {
        customer_id: parse(row, "customer_id")?,
        assessment: ChurnAssessment {
            score: u8::try_from(score).map_err(|e| corrupt("score", &e))?,
            band: parse(row, "band")?,
            factors: serde_json::from_str(&factors).map_err(|e| corrupt("factors", &e))?,
        },
        signals: serde_json::from_str(&signals).map_err(|e| corrupt("signals", &e))?,
        computed_at: from_ms(row.try_get("computed_at")?)?,
    })
}
