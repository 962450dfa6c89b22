//! Customer satisfaction surveys (`csat_surveys`): one per resolved ticket (the unique ticket
//! index makes sending idempotent), the first answer kept, and the grouped counts CSAT reports
//! are built from (by 15-minute slot and score, by agent and score; comments paged).

use sqlx::Row;
use sqlx::any::AnyRow;
use time::OffsetDateTime;

use super::{Result, Store, StoreError, from_ms, ms, parse, parse_opt};
use crate::csat::{Answered, Comment, CsatAgentCount, CsatFilter, CsatSlot, NewSurvey, SLOT_MS, Score, Survey};
use crate::ids::{ConversationId, CustomerId, SurveyId, TicketId};

const COLUMNS: &str = "id, ticket_id, conversation_id, customer_id, channel, via, agent_id, queue, language, tier, \
     sent_at, expires_at, answered_at, score, comment";

/// The most comments one page of a report holds.
pub const MAX_CSAT_COMMENTS: u32 = 200;

fn score(row: &AnyRow, col: &str) -> Result<Option<Score>> {
    let v: Option<i64> = row.try_get(col)?;
    Ok(v.map(Score::try_from).transpose()?)
}

fn from_row(row: &AnyRow) -> Result<Survey> {
    let answered_at: Option<i64> = row.try_get("answered_at")?;
    Ok(Survey {
        id: parse(row, "id")?,
        ticket_id: parse(row, "ticket_id")?,
        conversation_id: parse(row, "conversation_id")?,
        customer_id: parse(row, "customer_id")?,
        channel: parse(row, "channel")?,
        via: parse(row, "via")?,
        agent_id: parse_opt(row, "agent_id")?,
        queue: parse(row, "queue")?,
        language: parse(row, "language")?,
        tier: parse(row, "tier")?,
        sent_at: from_ms(row.try_get("sent_at")?)?,
        expires_at: from_ms(row.try_get("expires_at")?)?,
        answered_at: answered_at.map(from_ms).transpose()?,
        score: score(row, "score")?,
        comment: row.try_get("comment")?,
    })
}

/// The `WHERE` clause of `filter` from `$1` on, and the values to bind in order.
fn conditions(filter: &CsatFilter) -> (String, Vec<String>) {
    let mut sql = String::from("sent_at >= $1 AND sent_at < $2");
    let mut binds = Vec::new();
    let mut add = |column: &str, value: Option<String>| {
        if let Some(value) = value {
            binds.push(value);
            sql.push_str(&format!(" AND {column} = ${}", binds.len() + 2));
        }
    };
    add("channel", filter.channel.map(|c| c.as_str().to_owned()));
    add("queue", filter.queue.as_ref().map(|q| q.as_str().to_owned()));
    add("agent_id", filter.agent.map(|a| a.to_string()));
    add("language", filter.language.map(|l| l.as_str().to_owned()));
    add("tier", filter.tier.map(|t| t.as_str().to_owned()));
    if let Some(stretches) = &filter.team {
        // Each stretch: its agent (bound) and its times (integers, written in).
        let mut any = Vec::with_capacity(stretches.len());
        for s in stretches {
            binds.push(s.agent_id.clone());
            let until = s.to_ms.map(|to| format!(" AND sent_at < {to}")).unwrap_or_default();
            any.push(format!("(agent_id = ${} AND sent_at >= {}{until})", binds.len() + 2, s.from_ms));
        }
        if any.is_empty() {
            sql.push_str(" AND 1 = 0");
        } else {
            sql.push_str(&format!(" AND ({})", any.join(" OR ")));
        }
    }
    (sql, binds)
}

/// `sql` with the filter's range as `$1`, `$2` and `binds` after them.
fn bound<'q>(
    sql: &'q str,
    filter: &CsatFilter,
    binds: &'q [String],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    let mut q = sqlx::query(sql).bind(ms(filter.from)).bind(ms(filter.to));
    for b in binds {
        q = q.bind(b.as_str());
    }
    q
}

impl Store {
    /// Records a survey as sent, unless its ticket has one already: `(the ticket's survey, new)`.
    /// The caller sends the question only when `new` is true, so a resolution is never asked
    /// about twice (a retried or concurrent resolve finds the first survey).
    ///
    /// # Errors
    /// A database failure.
    pub async fn insert_survey(&self, new: &NewSurvey) -> Result<(Survey, bool)> {
        let inserted = sqlx::query(
            "INSERT INTO csat_surveys (id, ticket_id, conversation_id, customer_id, channel, via, agent_id, queue, \
             language, tier, sent_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
             ON CONFLICT (ticket_id) DO NOTHING",
        )
        .bind(new.id.to_string())
        .bind(new.ticket_id.to_string())
        .bind(new.conversation_id.to_string())
        .bind(new.customer_id.to_string())
        .bind(new.channel.as_str())
        .bind(new.via.as_str())
        .bind(new.agent_id.map(|a| a.to_string()))
        .bind(new.queue.as_str())
        .bind(new.language.as_str())
        .bind(new.tier.as_str())
        .bind(ms(new.sent_at))
        .bind(ms(new.expires_at))
        .execute(&self.write)
        .await?
        .rows_affected()
            == 1;
        let survey = self.survey_for_ticket(new.ticket_id).await?.ok_or(StoreError::NotFound { what: "survey" })?;
        Ok((survey, inserted))
    }

    /// The survey of a ticket, if it was sent one.
    ///
    /// # Errors
    /// A database failure.
    pub async fn survey_for_ticket(&self, ticket: TicketId) -> Result<Option<Survey>> {
        sqlx::query(&format!("SELECT {COLUMNS} FROM csat_surveys WHERE ticket_id = $1"))
            .bind(ticket.to_string())
            .fetch_optional(&self.write)
            .await?
            .as_ref()
            .map(from_row)
            .transpose()
    }

    /// One survey.
    ///
    /// # Errors
    /// Unknown id (not found), a database failure.
    pub async fn survey(&self, id: SurveyId) -> Result<Survey> {
        sqlx::query(&format!("SELECT {COLUMNS} FROM csat_surveys WHERE id = $1"))
            .bind(id.to_string())
            .fetch_optional(&self.write)
            .await?
            .as_ref()
            .map(from_row)
            .transpose()?
            .ok_or(StoreError::NotFound { what: "survey" })
    }

    /// The conversation's newest survey that waits for an answer at `now` (sent, unanswered, not
    /// expired).
    ///
    /// # Errors
    /// A database failure.
    pub async fn open_survey(&self, conversation: ConversationId, now: OffsetDateTime) -> Result<Option<Survey>> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM csat_surveys WHERE conversation_id = $1 AND answered_at IS NULL \
             AND expires_at > $2 ORDER BY sent_at DESC, id DESC LIMIT 1"
        ))
        .bind(conversation.to_string())
        .bind(ms(now))
        .fetch_optional(&self.write)
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
    }

    /// Records the answer to survey `id` if it has none and has not expired at `now`; the first
    /// answer is the one kept (a second is reported, not written).
    ///
    /// # Errors
    /// Unknown id (not found), a database failure.
    pub async fn answer_survey(
        &self,
        id: SurveyId,
        score: Score,
        comment: Option<&Comment>,
        now: OffsetDateTime,
    ) -> Result<Answered> {
        let row = sqlx::query(&format!(
            "UPDATE csat_surveys SET score = $2, comment = $3, answered_at = $4 \
             WHERE id = $1 AND answered_at IS NULL AND expires_at > $4 RETURNING {COLUMNS}"
        ))
        .bind(id.to_string())
        .bind(i64::from(score.get()))
        .bind(comment.map(Comment::as_str))
        .bind(ms(now))
        .fetch_optional(&self.write)
        .await?;
        if let Some(row) = row {
            return Ok(Answered::Recorded(from_row(&row)?));
        }
        let survey = self.survey(id).await?;
        Ok(if survey.answered_at.is_some() { Answered::AlreadyAnswered(survey) } else { Answered::Expired(survey) })
    }

    /// The customer's answered surveys since `since`, newest first (at most 1 000): what churn
    /// risk reads as the customer's satisfaction.
    ///
    /// # Errors
    /// A database failure.
    pub async fn csat_ratings_for_customer(&self, customer: CustomerId, since: OffsetDateTime) -> Result<Vec<Survey>> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM csat_surveys WHERE customer_id = $1 AND answered_at >= $2 \
             ORDER BY answered_at DESC, id DESC LIMIT 1000"
        ))
        .bind(customer.to_string())
        .bind(ms(since))
        .fetch_all(&self.read)
        .await?
        .iter()
        .map(from_row)
        .collect()
    }

    /// Surveys matching `filter`, counted by 15-minute slot of sending and score.
    ///
    /// # Errors
    /// A database failure.
    pub async fn csat_slots(&self, filter: &CsatFilter) -> Result<Vec<CsatSlot>> {
        let (conditions, binds) = conditions(filter);
        let sql = format!(
            "SELECT (sent_at / {SLOT_MS}) * {SLOT_MS} AS slot, score, COUNT(*) AS n FROM csat_surveys \
             WHERE {conditions} GROUP BY (sent_at / {SLOT_MS}) * {SLOT_MS}, score ORDER BY slot"
        );
        let q = bound(&sql, filter, &binds);
        q.fetch_all(&self.read)
            .await?
            .iter()
            .map(|row| {
                Ok(CsatSlot {
                    slot_start_ms: row.try_get("slot")?,
                    score: score(row, "score")?,
                    count: row.try_get("n")?,
                })
            })
            .collect()
    }

    /// Surveys matching `filter`, counted by agent and score.
    ///
    /// # Errors
    /// A database failure.
    pub async fn csat_by_agent(&self, filter: &CsatFilter) -> Result<Vec<CsatAgentCount>> {
        let (conditions, binds) = conditions(filter);
        let sql = format!(
            "SELECT agent_id, score, COUNT(*) AS n FROM csat_surveys WHERE {conditions} \
             GROUP BY agent_id, score ORDER BY agent_id, score"
        );
        let q = bound(&sql, filter, &binds);
        q.fetch_all(&self.read)
            .await?
            .iter()
            .map(|row| {
                Ok(CsatAgentCount {
                    agent_id: parse_opt(row, "agent_id")?,
                    score: score(row, "score")?,
                    count: row.try_get("n")?,
                })
            })
            .collect()
    }

    /// Answered surveys with a comment matching `filter`, newest answer first, after the survey
    /// `after` (the last of the previous page), at most `limit` (capped at
    /// [`MAX_CSAT_COMMENTS`]).
    ///
    /// # Errors
    /// A database failure.
    pub async fn csat_comments(&self, filter: &CsatFilter, after: Option<SurveyId>, limit: u32) -> Result<Vec<Survey>> {
        let (conditions, mut binds) = conditions(filter);
        let mut sql = format!("SELECT {COLUMNS} FROM csat_surveys WHERE {conditions} AND comment IS NOT NULL");
        if let Some(after) = after {
            // Newest answer first; ties broken by id (unique), so a page boundary is exact.
            binds.push(after.to_string());
            let n = binds.len() + 2;
            sql.push_str(&format!(
                " AND (answered_at < (SELECT answered_at FROM csat_surveys WHERE id = ${n}) \
                 OR (answered_at = (SELECT answered_at FROM csat_surveys WHERE id = ${n}) AND id < ${n}))"
            ));
        }
        sql.push_str(&format!(" ORDER BY answered_at DESC, id DESC LIMIT {}", limit.clamp(1, MAX_CSAT_COMMENTS)));
        let q = bound(&sql, filter, &binds);
        q.fetch_all(&self.read).await?.iter().map(from_row).collect()
    }
}
