//! Appending messages: the hot path of the store.
//!
//! Every message is one step inside a transaction: skip it if its author already stored a message
//! with the same channel message id (the key is scoped to the author: kind and staff id, so one
//! author's ids never collide with another's), bump the conversation's `last_seq`, insert the message under that number.
//! On PostgreSQL the step is one statement (one round trip to the server, see `POSTGRES_APPEND`);
//! on SQLite, in the same process, it is two (the bump, which also returns the follow-up checks,
//! and the insert).
//! A writer task takes every append waiting in its queue and writes them in one transaction (group
//! commit): the commit, which costs more than the inserts, is paid once per batch. SQLite, which
//! has one writer, has one such task; PostgreSQL has a few (a quarter of the pool, at most
//! [`MAX_POSTGRES_WRITERS`]), each conversation's appends always going to the same one, so its
//! numbers follow arrival order. A batch locks its conversations' rows in ascending id order, so
//! batches of writers on several nodes cannot deadlock each other. A batch that fails (another
//! node stored the same message first, a deadlock, a bad append) is rolled back and each of its
//! appends written alone (or, once the store is found unreachable, all failed at once). A caller
//! is answered only after the commit, so an acknowledged message is durable.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row as _};
use tokio::sync::{mpsc, oneshot};

use super::{
    CONVERSATION_COLUMNS, MESSAGE_COLUMNS, Result, Store, StoreError, conversation_from_row, from_ms, message_from_row,
    now_ms, to_json,
};
use crate::domain::{Appended, Message, NewMessage};
use crate::ids::{ConversationId, MessageId};
use crate::values::{AuthorKind, Channel, DeliveryStatus};

/// Appends queued at most per transaction.
const MAX_BATCH: usize = 512;
/// Group-commit writers at most on PostgreSQL.
pub(super) const MAX_POSTGRES_WRITERS: u32 = 8;
/// Appends waiting for the writer before callers wait to enqueue (back-pressure).
const QUEUE: usize = 8192;
/// The condition "a stored message of the same author with the same key", over the parameters
/// numbered `conversation`, `author` (kind), `author_id` (staff id; none for customers, the bot
/// and the system) and `key` (channel message id). It matches the `messages_idempotency` index
/// (migration 0017).
fn same_key(conversation: u8, author: u8, author_id: u8, key: u8) -> String {
    format!(
        "conversation_id = ${conversation} AND author = ${author} \
         AND COALESCE(author_id, '') = COALESCE(${author_id}, '') AND channel_message_id = ${key}"
    )
}
/// Tries of a PostgreSQL append that lost a race for the same channel message id.
const RACE_RETRIES: usize = 3;

/// What one append step did inside its transaction.
pub(super) enum Step {
    Inserted(Appended),
    /// The channel message id is already stored: nothing was written.
    Duplicate(Message),
    /// No open conversation with that id: nothing was written.
    Missing,
    /// Another transaction inserted the same channel message id first; this one must roll back.
    Raced,
}

/// The outcome of [`Store::begin_append`].
pub(super) enum Began {
    /// Inserted at this time (ms), in this still open transaction.
    Open(sqlx::Transaction<'static, sqlx::Any>, Appended, i64),
    /// Already stored: nothing written.
    Done(Appended),
    /// Lost a race with another writer of the same message: try again.
    Raced,
}

pub(super) async fn append_in(
    conn: &mut AnyConnection,
    backend: super::Backend,
    new: &NewMessage,
    now: i64,
) -> Result<Step> {
    match backend {
        super::Backend::Postgres => append_postgres(conn, new, now).await,
        super::Backend::Sqlite => append_sqlite(conn, new, now).await,
    }
}

/// SQLite (no data-modifying `WITH`): the sequence bump, which also returns the follow-up checks
/// ([`follow_up_checks`]), then the insert, then what else the message changes where the checks
/// say so.
async fn append_sqlite(conn: &mut AnyConnection, new: &NewMessage, now: i64) -> Result<Step> {
    let conv_id = new.conversation_id.to_string();
    let channel_id = new.channel_message_id.as_ref().map(|c| c.as_str().to_owned());
    let author_id = new.author_id.map(|a| a.to_string());
    // One statement for the common case: bump the sequence unless the message is already there.
    let row = sqlx::query(&format!(
        "UPDATE conversations SET last_seq = last_seq + 1, updated_at = $2, \
           status = CASE WHEN $3 = 'agent' AND status IN ('bot', 'queued') THEN 'assigned' ELSE status END, \
           assignee_id = CASE WHEN $3 = 'agent' AND assignee_id IS NULL THEN $4 ELSE assignee_id END \
         WHERE id = $1 AND status <> 'closed' AND ($5 IS NULL OR NOT EXISTS \
           (SELECT 1 FROM messages WHERE {})) \
         RETURNING {CONVERSATION_COLUMNS}, {}",
        same_key(1, 3, 4, 5),
        follow_up_checks("conversations", 3, 6, 7)
    ))
    .bind(&conv_id)
    .bind(now)
    .bind(new.author.as_str())
    .bind(author_id.clone())
    .bind(channel_id.clone())
    .bind(now - crate::reports::RETURN_WINDOW_MS)
    .bind(now - crate::reports::SAME_CONVERSATION_GAP_MS)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else { return not_appended(conn, new).await };
    let conversation = conversation_from_row(&row)?;
    let id = MessageId::new();
    // A reply (agent or bot) on a platform channel is queued for sending in this same
    // transaction.
    let outbound = sent_through_outbox(conversation.channel, new.author);
    let delivery_status = outbound.then_some(DeliveryStatus::Queued);
    let media = if new.media.is_empty() { None } else { Some(to_json(&new.media)?) };
    let template = new.template.as_ref().map(to_json).transpose()?;
    let inserted = sqlx::query(
        "INSERT INTO messages (id, conversation_id, seq, author, author_id, body, channel_message_id, media, \
         template, delivery_status, next_attempt_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
         ON CONFLICT DO NOTHING RETURNING id",
    )
    .bind(id.to_string())
    .bind(&conv_id)
    .bind(conversation.last_seq)
    .bind(new.author.as_str())
    .bind(new.author_id.map(|a| a.to_string()))
    .bind(new.text.as_str())
    .bind(channel_id)
    .bind(media)
    .bind(template)
    .bind(delivery_status.map(DeliveryStatus::as_str))
    .bind(outbound.then_some(now))
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?;
    if inserted.is_none() {
        return Ok(Step::Raced);
    }
    follow_ups(conn, super::Backend::Sqlite, &row, new, &conversation, now).await?;
    inserted_step(new, id, conversation, delivery_status, now)
}

/// The checks of what else an appended message changes, as two columns over the conversation
/// row `row` (its `id` and `customer_id`), the author parameter and the two time limits
/// ([`crate::reports::RETURN_WINDOW_MS`], [`crate::reports::SAME_CONVERSATION_GAP_MS`] before
/// now): `first_response`, an agent's message to a conversation whose open ticket has none yet;
/// `bot_return`, a customer's message within a day of a bot answer not yet given an outcome.
fn follow_up_checks(row: &str, author: u8, window: u8, gap: u8) -> String {
    format!(
        "(${author} = 'agent' AND EXISTS (SELECT 1 FROM tickets t WHERE t.conversation_id = {row}.id \
           AND t.status NOT IN ('resolved', 'closed') AND t.first_response_at IS NULL)) AS first_response, \
         (${author} = 'customer' AND EXISTS (SELECT 1 FROM conversations o WHERE o.customer_id = {row}.customer_id \
           AND o.bot_last_answer_at >= ${window} AND o.bot_outcome IS NULL AND o.bot_first_answer_at IS NOT NULL \
           AND (o.id <> {row}.id OR o.bot_last_answer_at <= ${gap}))) AS bot_return"
    )
}

/// A check's column ([`follow_up_checks`]): a boolean on PostgreSQL, 0 or 1 on SQLite.
fn check(row: &AnyRow, column: &str) -> Result<bool> {
    Ok(row.try_get::<bool, _>(column).or_else(|_| row.try_get::<i64, _>(column).map(|v| v != 0))?)
}

/// What else the message changes, written only where its checks say so: the ticket's first
/// response, the bot answer's outcome (the customer came back).
async fn follow_ups(
    conn: &mut AnyConnection,
    backend: super::Backend,
    row: &AnyRow,
    new: &NewMessage,
    conversation: &crate::domain::Conversation,
    now: i64,
) -> Result<()> {
    let conv_id = conversation.id.to_string();
    if check(row, "first_response")? {
        let author_id = new.author_id.map(|a| a.to_string());
        super::reports::agent_replied(conn, &conv_id, author_id.as_deref(), now).await?;
    }
    if check(row, "bot_return")? {
        super::bot_reports::customer_wrote(conn, backend, &conversation.customer_id.to_string(), &conv_id, now).await?;
    }
    Ok(())
}

/// Whether a reply on `channel` by `author` is queued for sending (in the same transaction as
/// the message). System messages (notes, delivery reports) are never sent.
fn sent_through_outbox(channel: Channel, author: AuthorKind) -> bool {
    channel.sends_through_outbox() && matches!(author, AuthorKind::Agent | AuthorKind::Bot)
}

/// The step of a message inserted under `id` in `conversation` (as updated by the append).
fn inserted_step(
    new: &NewMessage,
    id: MessageId,
    conversation: crate::domain::Conversation,
    delivery_status: Option<DeliveryStatus>,
    now: i64,
) -> Result<Step> {
    let message = Message {
        id,
        conversation_id: new.conversation_id,
        seq: conversation.last_seq,
        author: new.author,
        author_id: new.author_id,
        text: new.text.clone(),
        channel_message_id: new.channel_message_id.clone(),
        media: new.media.clone(),
        delivery_status,
        delivery_error: None,
        created_at: from_ms(now)?,
    };
    Ok(Step::Inserted(Appended { message, conversation, created: true }))
}

/// Why an append changed nothing (rare): a redelivery of a stored message, or no open
/// conversation. Tells which.
async fn not_appended(conn: &mut AnyConnection, new: &NewMessage) -> Result<Step> {
    if let Some(channel_id) = &new.channel_message_id {
        let existing = sqlx::query(&format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE {}", same_key(1, 2, 3, 4)))
            .bind(new.conversation_id.to_string())
            .bind(new.author.as_str())
            .bind(new.author_id.map(|a| a.to_string()))
            .bind(channel_id.as_str())
            .fetch_optional(&mut *conn)
            .await?;
        if let Some(row) = existing {
            return Ok(Step::Duplicate(message_from_row(&row)?));
        }
    }
    Ok(Step::Missing)
}

/// PostgreSQL's append in one statement (one round trip, where three statements cost three on
/// a server across the network): the sequence bump, the insert under the new number (the outbox
/// fields set from the conversation's channel), and whether the message changes anything else:
/// an agent's first response to an open ticket, a customer's return after a bot answer. Those,
/// rarer, follow in their own statements.
static POSTGRES_APPEND: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let outbox: Vec<String> =
        Channel::ALL.iter().filter(|c| c.sends_through_outbox()).map(|c| format!("'{}'", c.as_str())).collect();
    let outbox = outbox.join(", ");
    format!(
        "WITH c AS (\
           UPDATE conversations SET last_seq = last_seq + 1, updated_at = $2, \
             status = CASE WHEN $3 = 'agent' AND status IN ('bot', 'queued') THEN 'assigned' ELSE status END, \
             assignee_id = CASE WHEN $3 = 'agent' AND assignee_id IS NULL THEN $4 ELSE assignee_id END \
           WHERE id = $1 AND status <> 'closed' AND ($5 IS NULL OR NOT EXISTS \
             (SELECT 1 FROM messages WHERE {same}))\
           RETURNING {CONVERSATION_COLUMNS}), \
         m AS (\
           INSERT INTO messages (id, conversation_id, seq, author, author_id, body, channel_message_id, media, \
             template, delivery_status, next_attempt_at, created_at) \
           SELECT $6, c.id, c.last_seq, $3, $4, $7, $5, $8, $9, \
             CASE WHEN c.channel IN ({outbox}) AND $3 IN ('agent', 'bot') THEN 'queued' END, \
             CASE WHEN c.channel IN ({outbox}) AND $3 IN ('agent', 'bot') THEN $2 END, $2 FROM c \
           ON CONFLICT DO NOTHING RETURNING id) \
         SELECT c.*, EXISTS (SELECT 1 FROM m) AS inserted, {checks} FROM c",
        same = same_key(1, 3, 4, 5),
        checks = follow_up_checks("c", 3, 10, 11)
    )
});

async fn append_postgres(conn: &mut AnyConnection, new: &NewMessage, now: i64) -> Result<Step> {
    let id = MessageId::new();
    let media = if new.media.is_empty() { None } else { Some(to_json(&new.media)?) };
    let template = new.template.as_ref().map(to_json).transpose()?;
    let row = sqlx::query(&POSTGRES_APPEND)
        .bind(new.conversation_id.to_string())
        .bind(now)
        .bind(new.author.as_str())
        .bind(new.author_id.map(|a| a.to_string()))
        .bind(new.channel_message_id.as_ref().map(|c| c.as_str().to_owned()))
        .bind(id.to_string())
        .bind(new.text.as_str())
        .bind(media)
        .bind(template)
        .bind(now - crate::reports::RETURN_WINDOW_MS)
        .bind(now - crate::reports::SAME_CONVERSATION_GAP_MS)
        .fetch_optional(&mut *conn)
        .await?;
    let Some(row) = row else { return not_appended(conn, new).await };
    if !row.try_get::<bool, _>("inserted")? {
        return Ok(Step::Raced);
    }
    let conversation = conversation_from_row(&row)?;
    follow_ups(conn, super::Backend::Postgres, &row, new, &conversation, now).await?;
    let delivery_status = sent_through_outbox(conversation.channel, new.author).then_some(DeliveryStatus::Queued);
    inserted_step(new, id, conversation, delivery_status, now)
}

impl Store {
    /// Appends a message, numbering it after the conversation's last one (1, 2, 3, ... with no
    /// gaps). Returns once the message is durable.
    ///
    /// Idempotent: if the conversation already holds a message of the same author (kind and
    /// staff id) with the same `channel_message_id`, nothing is written and that message is returned with
    /// `created == false`. An agent's message claims an unassigned conversation.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] for an unknown conversation, [`StoreError::Conflict`] for a closed
    /// one, or a database failure.
    pub async fn append_message(&self, new: NewMessage) -> Result<Appended> {
        match self.appenders.len() {
            0 => self.append_alone(new).await,
            n => {
                use std::hash::{Hash as _, Hasher as _};
                let mut hasher = std::collections::hash_map::DefaultHasher::new();
                new.conversation_id.hash(&mut hasher);
                let shard = usize::try_from(hasher.finish() % n as u64).unwrap_or(0);
                self.appenders[shard].append(new).await
            }
        }
    }

    /// One append in a transaction of its own.
    async fn append_alone(&self, new: NewMessage) -> Result<Appended> {
        for _ in 0..RACE_RETRIES {
            match self.begin_append(&new).await? {
                Began::Open(tx, appended, _) => {
                    tx.commit().await?;
                    return Ok(appended);
                }
                Began::Done(appended) => return Ok(appended),
                Began::Raced => {}
            }
        }
        Err(StoreError::Conflict("the message is being stored concurrently; retry".into()))
    }

    /// One try at appending `new` in a transaction of its own. Inserted: the transaction is left
    /// open for the caller's writes that go with the message (then commit). A duplicate is
    /// returned as stored; a missing or closed conversation is an error; a race lost to another
    /// writer of the same message: try again (the winner has committed by then).
    pub(super) async fn begin_append(&self, new: &NewMessage) -> Result<Began> {
        let mut tx = self.write.begin().await?;
        let now = now_ms();
        match append_in(&mut tx, self.backend, new, now).await? {
            Step::Inserted(appended) => Ok(Began::Open(tx, appended, now)),
            Step::Duplicate(message) => {
                tx.rollback().await?;
                Ok(Began::Done(self.duplicate(message).await?))
            }
            Step::Missing => {
                tx.rollback().await?;
                Err(self.missing(new.conversation_id).await)
            }
            Step::Raced => {
                tx.rollback().await?;
                Ok(Began::Raced)
            }
        }
    }

    pub(super) async fn duplicate(&self, message: Message) -> Result<Appended> {
        let conversation = self.conversation(message.conversation_id).await?;
        Ok(Appended { message, conversation, created: false })
    }

    /// Why an append found no open conversation: it does not exist, or it is closed.
    pub(super) async fn missing(&self, id: ConversationId) -> StoreError {
        match self.conversation(id).await {
            Ok(c) => StoreError::Conflict(format!("conversation {} is {}", c.id, c.status)),
            Err(e) => e,
        }
    }
}

struct Job {
    new: NewMessage,
    reply: oneshot::Sender<Result<Appended>>,
}

/// The handle to a group-commit writer task.
#[derive(Clone, Debug)]
pub(super) struct Appender {
    queue: mpsc::Sender<Job>,
}

impl Appender {
    /// Starts the writer task; it ends when the last handle is dropped.
    pub(super) fn spawn(store: Store) -> Self {
        let (queue, jobs) = mpsc::channel(QUEUE);
        tokio::spawn(run(store, jobs));
        Self { queue }
    }

    async fn append(&self, new: NewMessage) -> Result<Appended> {
        let gone = || StoreError::Unavailable(sqlx::Error::PoolClosed);
        let (reply, answer) = oneshot::channel();
        self.queue.send(Job { new, reply }).await.map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}

async fn run(store: Store, mut jobs: mpsc::Receiver<Job>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while jobs.recv_many(&mut batch, MAX_BATCH).await > 0 {
        // Rows locked in one order by every batch (stable: one conversation's appends keep theirs).
        batch.sort_by_key(|job| job.new.conversation_id);
        match write_batch(&store, &batch).await {
            Ok(steps) => {
                for (job, step) in batch.drain(..).zip(steps) {
                    let answer = match step {
                        Step::Inserted(appended) => Ok(appended),
                        Step::Duplicate(message) => store.duplicate(message).await,
                        Step::Missing => Err(store.missing(job.new.conversation_id).await),
                        Step::Raced => Err(StoreError::Corrupt("a raced append in a committed batch".into())),
                    };
                    // The caller may have gone away; the message is stored all the same.
                    let _ = job.reply.send(answer);
                }
            }
            Err(e) => {
                // Nothing of the batch was committed. Write each append alone, so that one bad
                // append fails alone; but once the store is found unreachable, the rest fail at
                // once: waiting for a connection again for each would hold every message queued
                // behind them for the batch's size times the wait.
                tracing::warn!(error = %e, size = batch.len(), "batched append failed; appending one by one");
                let mut unreachable = matches!(e, StoreError::Unavailable(_)).then(|| e.to_string());
                for job in batch.drain(..) {
                    let answer = match &unreachable {
                        Some(why) => Err(StoreError::Unavailable(sqlx::Error::Io(std::io::Error::other(why.clone())))),
                        None => store.append_alone(job.new).await,
                    };
                    if let Err(StoreError::Unavailable(e)) = &answer
                        && unreachable.is_none()
                    {
                        unreachable = Some(e.to_string());
                    }
                    let _ = job.reply.send(answer);
                }
            }
        }
    }
}

async fn write_batch(store: &Store, batch: &[Job]) -> Result<Vec<Step>> {
    let mut tx = store.write.begin().await?;
    let now = now_ms();
    let mut steps = Vec::with_capacity(batch.len());
    for job in batch {
        let step = append_in(&mut tx, store.backend, &job.new, now).await?;
        if matches!(step, Step::Raced) {
            // Another node stored the same message first: roll back, and append one by one.
            return Err(StoreError::Conflict("a concurrent writer stored one of the batch's messages".into()));
        }
        steps.push(step);
    }
    tx.commit().await?;
    Ok(steps)
}
