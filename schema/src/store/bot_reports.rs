//! The bot report's rollups: what a bot answer, a trainer's verdict, an unanswered question, a
//! ticket and a customer's message add to them, inside the writer's own transaction; the reads the
//! report makes; and the backfill of what was stored before the counting began.
//!
//! Containment is kept per conversation on the `conversations` row (`bot_first_answer_at`,
//! `bot_last_answer_at`, `bot_outcome`): the first of a hand-over or a return settles it, and
//! its count goes to the bucket of the conversation's start. docs/reports.md defines it all.

use std::collections::BTreeMap;

use sqlx::{AnyConnection, Row};

use super::{Backend, Result, Store, StoreError};
use crate::reports::{
    BotCounters, BotFilter, BotRollupRow, HandOverReason, RETURN_WINDOW_MS, SAME_CONVERSATION_GAP_MS,
    TOP_UNANSWERED_SCAN, bucket_of, normalise_question, returns,
};

/// What one transaction adds to the bot rollups, per (bucket, channel, language), written at
/// the end in key order.
#[derive(Default)]
pub(super) struct BotDelta {
    counters: BTreeMap<(i64, String, String), BotCounters>,
}

impl BotDelta {
    pub fn count(&mut self, at: i64, channel: &str, language: &str, f: impl FnOnce(&mut BotCounters)) {
        f(self.counters.entry((bucket_of(at), channel.to_owned(), language.to_owned())).or_default());
    }

    /// Writes the additions to every slice they belong to (totals, channel, language, both).
    pub async fn apply(self, conn: &mut AnyConnection) -> Result<()> {
        let mut slices: BTreeMap<(&'static str, String, i64), BotCounters> = BTreeMap::new();
        for ((bucket_at, channel, language), c) in &self.counters {
            for (dim, value) in [
                ("", String::new()),
                ("channel", channel.clone()),
                ("channel_language", format!("{channel}:{language}")),
                ("language", language.clone()),
            ] {
                slices.entry((dim, value, *bucket_at)).or_default().add(c);
            }
        }
        let columns = BotCounters::COLUMNS.join(", ");
        let params: Vec<String> = (4..4 + BotCounters::COLUMNS.len()).map(|i| format!("${i}")).collect();
        let updates: Vec<String> =
            BotCounters::COLUMNS.iter().map(|c| format!("{c} = bot_rollups.{c} + excluded.{c}")).collect();
        let sql = format!(
            "INSERT INTO bot_rollups (dim, value, bucket_at, {columns}) VALUES ($1, $2, $3, {}) \
             ON CONFLICT (dim, value, bucket_at) DO UPDATE SET {}",
            params.join(", "),
            updates.join(", ")
        );
        for ((dim, value, bucket_at), c) in slices {
            if c.is_zero() {
                continue;
            }
            let mut q = sqlx::query(&sql).bind(dim).bind(value).bind(bucket_at);
            for v in c.values() {
                q = q.bind(v);
            }
            q.execute(&mut *conn).await?;
        }
        Ok(())
    }
}

/// A conversation's bot-report columns.
struct BotConversation {
    channel: String,
    language: String,
    created_at: i64,
    first_answer_at: Option<i64>,
    outcome: Option<String>,
}

/// Reads (and on PostgreSQL locks, as an update would) the conversation's bot-report columns.
async fn bot_conversation(conn: &mut AnyConnection, backend: Backend, id: &str) -> Result<BotConversation> {
    let lock = if backend == Backend::Postgres { " FOR NO KEY UPDATE" } else { "" };
    let row = sqlx::query(&format!(
        "SELECT channel, language, created_at, bot_first_answer_at, bot_outcome FROM conversations WHERE id = $1{lock}"
    ))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(StoreError::NotFound { what: "conversation" })?;
    Ok(BotConversation {
        channel: row.try_get("channel")?,
        language: row.try_get("language")?,
        created_at: row.try_get("created_at")?,
        first_answer_at: row.try_get("bot_first_answer_at")?,
        outcome: row.try_get("bot_outcome")?,
    })
}

/// Locks the conversation before a bot-report write on it (PostgreSQL), so every transaction
/// takes the conversation first.
pub(super) async fn lock_conversation(conn: &mut AnyConnection, backend: Backend, id: &str) -> Result<()> {
    if backend == Backend::Postgres {
        sqlx::query("SELECT id FROM conversations WHERE id = $1 FOR NO KEY UPDATE")
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
    }
    Ok(())
}

/// A bot answer at `at` in `conversation` was stored (once): one answer, and the conversation
/// becomes a bot conversation at its first.
pub(super) async fn answer_recorded(
    conn: &mut AnyConnection,
    backend: Backend,
    conversation: &str,
    at: i64,
) -> Result<()> {
    let c = bot_conversation(conn, backend, conversation).await?;
    let mut delta = BotDelta::default();
    delta.count(at, &c.channel, &c.language, |n| n.answers += 1);
    if c.first_answer_at.is_none() {
        delta.count(c.created_at, &c.channel, &c.language, |n| n.conversations += 1);
    }
    sqlx::query(
        "UPDATE conversations SET bot_first_answer_at = COALESCE(bot_first_answer_at, $2), \
         bot_last_answer_at = CASE WHEN bot_last_answer_at IS NULL OR bot_last_answer_at < $2 THEN $2 \
         ELSE bot_last_answer_at END WHERE id = $1",
    )
    .bind(conversation)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    delta.apply(conn).await
}

/// A counted answer's verdict went from `old` to `new`: the count moves in the answer's bucket.
pub(super) async fn verdict_changed(
    conn: &mut AnyConnection,
    conversation: &str,
    answer_at: i64,
    old: Option<&str>,
    new: &str,
) -> Result<()> {
    if old == Some(new) {
        return Ok(());
    }
    let row = sqlx::query("SELECT channel, language FROM conversations WHERE id = $1")
        .bind(conversation)
        .fetch_one(&mut *conn)
        .await?;
    let (channel, language): (String, String) = (row.try_get("channel")?, row.try_get("language")?);
    let mut delta = BotDelta::default();
    let mut add = |verdict: &str, by: i64| {
        delta.count(answer_at, &channel, &language, |n| match verdict {
            "right" => n.verdict_right += by,
            "wrong" => n.verdict_wrong += by,
            _ => {}
        });
    };
    if let Some(old) = old {
        add(old, -1);
    }
    add(new, 1);
    delta.apply(conn).await
}

/// A question entered the trainers' unanswered queue at `at` (once).
pub(super) async fn unanswered_recorded(conn: &mut AnyConnection, conversation: &str, at: i64) -> Result<()> {
    let row = sqlx::query("SELECT channel, language FROM conversations WHERE id = $1")
        .bind(conversation)
        .fetch_one(&mut *conn)
        .await?;
    let mut delta = BotDelta::default();
    delta.count(at, &row.try_get::<String, _>("channel")?, &row.try_get::<String, _>("language")?, |n| {
        n.unanswered += 1;
    });
    delta.apply(conn).await
}

/// A ticket with `tags` was opened at `at` on `conversation` (whose row this transaction has
/// already updated, so holds): a bot hand-over by its reason, or `other` on a conversation the
/// bot answered in; and the first settles the conversation's containment as handed over.
pub(super) async fn ticket_opened(
    conn: &mut AnyConnection,
    backend: Backend,
    conversation: &str,
    tags: &[&str],
    at: i64,
) -> Result<()> {
    let c = bot_conversation(conn, backend, conversation).await?;
    let reason = HandOverReason::from_tags(tags.iter().copied())
        .or_else(|| c.first_answer_at.filter(|first| *first <= at).map(|_| HandOverReason::Other));
    let mut delta = BotDelta::default();
    if let Some(reason) = reason {
        delta.count(at, &c.channel, &c.language, |n| n.handovers[reason as usize] += 1);
    }
    if c.first_answer_at.is_some() && c.outcome.is_none() {
        sqlx::query("UPDATE conversations SET bot_outcome = 'handed_over', bot_outcome_at = $2 WHERE id = $1")
            .bind(conversation)
            .bind(at)
            .execute(&mut *conn)
            .await?;
        delta.count(c.created_at, &c.channel, &c.language, |n| n.handed_over += 1);
    }
    delta.apply(conn).await
}

/// A customer's message was stored at `at` in `conversation`: the customer's bot conversations
/// still contained are settled as returned when a bot answer in them is at most 24 h old, and,
/// for this same conversation, at least 30 minutes old (a quicker message is the same exchange
/// going on). On PostgreSQL another conversation being written at this instant is skipped, not
/// waited for (two conversations of one customer written at once never lock each other in
/// opposite orders).
pub(super) async fn customer_wrote(
    conn: &mut AnyConnection,
    backend: Backend,
    customer: &str,
    conversation: &str,
    at: i64,
) -> Result<()> {
    let lock = if backend == Backend::Postgres { " FOR NO KEY UPDATE SKIP LOCKED" } else { "" };
    let candidates = sqlx::query(&format!(
        "SELECT id, channel, language, created_at FROM conversations WHERE customer_id = $1 \
         AND bot_last_answer_at >= $2 AND bot_outcome IS NULL AND bot_first_answer_at IS NOT NULL \
         AND (id <> $3 OR bot_last_answer_at <= $4){lock}"
    ))
    .bind(customer)
    .bind(at - RETURN_WINDOW_MS)
    .bind(conversation)
    .bind(at - SAME_CONVERSATION_GAP_MS)
    .fetch_all(&mut *conn)
    .await?;
    if candidates.is_empty() {
        return Ok(());
    }
    let mut delta = BotDelta::default();
    for row in &candidates {
        sqlx::query("UPDATE conversations SET bot_outcome = 'returned', bot_outcome_at = $2 WHERE id = $1")
            .bind(row.try_get::<String, _>("id")?)
            .bind(at)
            .execute(&mut *conn)
            .await?;
        delta.count(
            row.try_get("created_at")?,
            &row.try_get::<String, _>("channel")?,
            &row.try_get::<String, _>("language")?,
            |n| n.returned += 1,
        );
    }
    delta.apply(conn).await
}

/// The slice a filter reads.
fn slice(filter: &BotFilter) -> (&'static str, String) {
    match (filter.channel.as_deref().filter(|c| !c.is_empty()), filter.language.as_deref().filter(|l| !l.is_empty())) {
        (None, None) => ("", String::new()),
        (Some(c), None) => ("channel", c.to_owned()),
        (None, Some(l)) => ("language", l.to_owned()),
        (Some(c), Some(l)) => ("channel_language", format!("{c}:{l}")),
    }
}

/// One entry of the top unanswered topics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnansweredTopic {
    /// The normalised question.
    pub topic: String,
    /// How many questions had it in the range (among those read).
    pub count: i64,
    /// Its first wording seen (the newest), as the customer wrote it.
    pub example: String,
}

impl Store {
    /// The bot rollups for `filter` (one slice), summed per report bucket of `spans`: each row's
    /// `bucket_at` is its report bucket's start (see [`crate::reports::Span`]).
    ///
    /// # Errors
    /// A database failure.
    pub async fn bot_rollups(&self, spans: &[crate::reports::Span], filter: &BotFilter) -> Result<Vec<BotRollupRow>> {
        let (dim, value) = slice(filter);
        let key = super::reports::SPAN_KEY;
        let sums: Vec<String> =
            BotCounters::COLUMNS.iter().map(|c| format!("CAST(SUM({c}) AS BIGINT) AS {c}")).collect();
        let sql = format!(
            "SELECT {key} AS bucket_at, {} FROM bot_rollups WHERE dim = $5 AND value = $6 AND bucket_at >= $3 \
             AND bucket_at < $4 GROUP BY {key}",
            sums.join(", ")
        );
        let rows = self.fetch_over_spans(&sql, spans, &[dim.to_owned(), value]).await?;
        rows.iter()
            .map(|row| {
                let mut v = [0_i64; 12];
                for (v, c) in v.iter_mut().zip(BotCounters::COLUMNS) {
                    *v = row.try_get(c)?;
                }
                Ok(BotRollupRow { bucket_at: row.try_get("bucket_at")?, counters: BotCounters::from_values(v) })
            })
            .collect()
    }

    /// Bot conversations started in `[from_ms, to_ms)` still pending containment at `now_ms`
    /// (neither handed over nor returned, a bot answer in the last 24 h), counted per 15-minute
    /// bucket of their start. A range of the `bot_last_answer_at` index: the last day's
    /// conversations at most, whatever the report's range.
    ///
    /// # Errors
    /// A database failure.
    pub async fn bot_pending(
        &self,
        from_ms: i64,
        to_ms: i64,
        filter: &BotFilter,
        now_ms: i64,
    ) -> Result<BTreeMap<i64, i64>> {
        let rows = sqlx::query(
            "SELECT created_at FROM conversations WHERE bot_last_answer_at > $1 AND bot_outcome IS NULL \
             AND bot_first_answer_at IS NOT NULL AND created_at >= $2 AND created_at < $3 \
             AND ($4 = '' OR channel = $4) AND ($5 = '' OR language = $5)",
        )
        .bind(now_ms - RETURN_WINDOW_MS)
        .bind(from_ms)
        .bind(to_ms)
        .bind(filter.channel.clone().unwrap_or_default())
        .bind(filter.language.clone().unwrap_or_default())
        .fetch_all(&self.read)
        .await?;
        let mut out = BTreeMap::new();
        for row in rows {
            *out.entry(bucket_of(row.try_get("created_at")?)).or_default() += 1;
        }
        Ok(out)
    }

    /// The `limit` most asked unanswered questions in `[from_ms, to_ms)` for `filter`, grouped by
    /// their normalised text, most asked first (ties: alphabetical); erased questions left out. A bounded indexed query:
    /// the newest [`TOP_UNANSWERED_SCAN`] questions of the range, read by the `created_at`
    /// index; returns the topics and whether the range held more than that.
    ///
    /// # Errors
    /// A database failure.
    pub async fn top_unanswered(
        &self,
        from_ms: i64,
        to_ms: i64,
        filter: &BotFilter,
        limit: usize,
    ) -> Result<(Vec<UnansweredTopic>, bool)> {
        let rows = sqlx::query(
            "SELECT u.question FROM bot_unanswered u JOIN conversations c ON c.id = u.conversation_id \
             WHERE u.created_at >= $1 AND u.created_at < $2 AND ($3 = '' OR c.channel = $3) \
             AND ($4 = '' OR c.language = $4) AND u.question <> $6 ORDER BY u.created_at DESC LIMIT $5",
        )
        .bind(from_ms)
        .bind(to_ms)
        .bind(filter.channel.clone().unwrap_or_default())
        .bind(filter.language.clone().unwrap_or_default())
        .bind(i64::from(TOP_UNANSWERED_SCAN) + 1)
        .bind(super::TOMBSTONE)
        .fetch_all(&self.read)
        .await?;
        let truncated = rows.len() > TOP_UNANSWERED_SCAN as usize;
        let mut topics: BTreeMap<String, (i64, String)> = BTreeMap::new();
        for row in rows.iter().take(TOP_UNANSWERED_SCAN as usize) {
            let question: String = row.try_get("question")?;
            let topic = normalise_question(&question);
            if topic.is_empty() {
                continue;
            }
            topics.entry(topic).or_insert_with(|| (0, question.chars().take(200).collect())).0 += 1;
        }
        let mut out: Vec<UnansweredTopic> =
            topics.into_iter().map(|(topic, (count, example))| UnansweredTopic { topic, count, example }).collect();
        out.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.topic.cmp(&b.topic)));
        out.truncate(limit);
        Ok((out, truncated))
    }

    /// Counts into the bot rollups, once, what the store held before they existed (migration
    /// 0028 recorded when): bot answers not yet counted (with their verdicts), conversations
    /// the bot answered in that no live write counted (their containment settled from their
    /// whole history, by the same definitions), unanswered questions and hand-overs before that
    /// moment. Returns the answers and conversations counted, or `None` if it ran before.
    ///
    /// # Errors
    /// A database failure.
    pub async fn backfill_bot_reports(&self) -> Result<Option<(u64, u64)>> {
        let setting = |key: &'static str| {
            sqlx::query("SELECT value FROM settings WHERE key = $1").bind(key).fetch_optional(&self.read)
        };
        if setting("reports.bot_backfilled").await?.is_some() {
            return Ok(None);
        }
        let cutoff: String = setting("reports.bot_counted_since")
            .await?
            .ok_or_else(|| StoreError::Corrupt("no reports.bot_counted_since setting".into()))?
            .try_get("value")?;
        let cutoff: i64 =
            cutoff.parse().map_err(|_| StoreError::Corrupt(format!("reports.bot_counted_since {cutoff:?}")))?;
        let mut tx = self.write.begin().await?;
        // The guard: a concurrent second run fails here on the key and rolls back.
        sqlx::query("INSERT INTO settings (key, value) VALUES ('reports.bot_backfilled', $1)")
            .bind(super::now_ms().to_string())
            .execute(&mut *tx)
            .await?;
        let mut delta = BotDelta::default();
        let answers = sqlx::query(
            "SELECT a.created_at, a.verdict, c.channel, c.language FROM bot_answers a \
             JOIN conversations c ON c.id = a.conversation_id WHERE a.counted = 0",
        )
        .fetch_all(&mut *tx)
        .await?;
        for a in &answers {
            let verdict: Option<String> = a.try_get("verdict")?;
            let (channel, language): (String, String) = (a.try_get("channel")?, a.try_get("language")?);
            delta.count(a.try_get("created_at")?, &channel, &language, |n| {
                n.answers += 1;
                match verdict.as_deref() {
                    Some("right") => n.verdict_right += 1,
                    Some("wrong") => n.verdict_wrong += 1,
                    _ => {}
                }
            });
        }
        sqlx::query("UPDATE bot_answers SET counted = 1 WHERE counted = 0").execute(&mut *tx).await?;
        for u in sqlx::query(
            "SELECT u.created_at, c.channel, c.language FROM bot_unanswered u \
             JOIN conversations c ON c.id = u.conversation_id WHERE u.created_at < $1",
        )
        .bind(cutoff)
        .fetch_all(&mut *tx)
        .await?
        {
            delta.count(
                u.try_get("created_at")?,
                &u.try_get::<String, _>("channel")?,
                &u.try_get::<String, _>("language")?,
                |n| {
                    n.unanswered += 1;
                },
            );
        }
        // Conversations no live write counted: their answers' span and their containment.
        let conversations = sqlx::query(
            "SELECT c.id, c.customer_id, c.channel, c.language, c.created_at, MIN(a.created_at) AS first_at, \
             MAX(a.created_at) AS last_at FROM conversations c JOIN bot_answers a ON a.conversation_id = c.id \
             WHERE c.bot_first_answer_at IS NULL GROUP BY c.id, c.customer_id, c.channel, c.language, c.created_at",
        )
        .fetch_all(&mut *tx)
        .await?;
        let first_answer: BTreeMap<String, i64> =
            conversations.iter().map(|c| Ok((c.try_get("id")?, c.try_get("first_at")?))).collect::<Result<_>>()?;
        for c in &conversations {
            let id: String = c.try_get("id")?;
            let (first, last): (i64, i64) = (c.try_get("first_at")?, c.try_get("last_at")?);
            let outcome = history_outcome(&mut tx, &id, &c.try_get::<String, _>("customer_id")?, first).await?;
            let (channel, language, created_at): (String, String, i64) =
                (c.try_get("channel")?, c.try_get("language")?, c.try_get("created_at")?);
            delta.count(created_at, &channel, &language, |n| {
                n.conversations += 1;
                match outcome {
                    Some(("handed_over", _)) => n.handed_over += 1,
                    Some(("returned", _)) => n.returned += 1,
                    _ => {}
                }
            });
            sqlx::query(
                "UPDATE conversations SET bot_first_answer_at = $2, bot_last_answer_at = $3, bot_outcome = $4, \
                 bot_outcome_at = $5 WHERE id = $1 AND bot_first_answer_at IS NULL",
            )
            .bind(&id)
            .bind(first)
            .bind(last)
            .bind(outcome.map(|o| o.0))
            .bind(outcome.map(|o| o.1))
            .execute(&mut *tx)
            .await?;
        }
        // Hand-overs before the counting began, by reason.
        for t in sqlx::query(
            "SELECT t.conversation_id, t.tags, t.created_at, c.channel, c.language, c.bot_first_answer_at \
             FROM tickets t JOIN conversations c ON c.id = t.conversation_id WHERE t.created_at < $1",
        )
        .bind(cutoff)
        .fetch_all(&mut *tx)
        .await?
        {
            let tags: Vec<String> = serde_json::from_str(&t.try_get::<String, _>("tags")?)
                .map_err(|e| StoreError::Corrupt(format!("ticket tags: {e}")))?;
            let at: i64 = t.try_get("created_at")?;
            let conversation: String = t.try_get("conversation_id")?;
            let first = match first_answer.get(&conversation) {
                Some(first) => Some(*first),
                None => t.try_get("bot_first_answer_at")?,
            };
            let reason = HandOverReason::from_tags(tags.iter().map(String::as_str))
                .or_else(|| first.filter(|f| *f <= at).map(|_| HandOverReason::Other));
            if let Some(reason) = reason {
                delta.count(at, &t.try_get::<String, _>("channel")?, &t.try_get::<String, _>("language")?, |n| {
                    n.handovers[reason as usize] += 1;
                });
            }
        }
        delta.apply(&mut tx).await?;
        tx.commit().await?;
        Ok(Some((answers.len() as u64, conversations.len() as u64)))
    }
}

/// How a bot conversation's containment was settled by its stored history, by the live
/// definitions: the first of its first ticket opened at or after its first bot answer `first`,
/// and the first customer message of its customer that came back after one of its bot answers
/// (within 24 h; in this conversation, after at least 30 minutes). `None`: neither (contained,
/// or pending).
async fn history_outcome(
    conn: &mut AnyConnection,
    id: &str,
    customer: &str,
    first: i64,
) -> Result<Option<(&'static str, i64)>> {
    let handed: Option<i64> =
        sqlx::query("SELECT MIN(created_at) AS at FROM tickets WHERE conversation_id = $1 AND created_at >= $2")
            .bind(id)
            .bind(first)
            .fetch_one(&mut *conn)
            .await?
            .try_get("at")?;
    let answers: Vec<i64> =
        sqlx::query("SELECT created_at FROM bot_answers WHERE conversation_id = $1 ORDER BY created_at")
            .bind(id)
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(|r| r.try_get("created_at"))
            .collect::<std::result::Result<_, _>>()?;
    let messages = sqlx::query(
        "SELECT m.conversation_id, m.created_at FROM messages m JOIN conversations c ON c.id = m.conversation_id \
         WHERE c.customer_id = $1 AND m.author = 'customer' AND m.created_at >= $2 ORDER BY m.created_at",
    )
    .bind(customer)
    .bind(first)
    .fetch_all(&mut *conn)
    .await?;
    let mut returned = None;
    for m in &messages {
        let at: i64 = m.try_get("created_at")?;
        let same = m.try_get::<String, _>("conversation_id")? == id;
        if returns(&answers, at, same) {
            returned = Some(at);
            break;
        }
    }
    Ok(match (handed, returned) {
        (Some(h), Some(r)) if r < h => Some(("returned", r)),
        (Some(h), _) => Some(("handed_over", h)),
        (None, Some(r)) => Some(("returned", r)),
        (None, None) => None,
    })
}
