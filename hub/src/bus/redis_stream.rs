//! The event bus between nodes, on one Redis stream.
//!
//! Every node appends what it publishes to the stream (`XADD … MAXLEN ~`, in publish order, one
//! writer task per node) and reads the whole stream back (`XREAD` from its last id), handing each
//! event to its own sockets through a [`LocalBus`]. So every node sees every event, its own
//! included, in the one order Redis gave them: per conversation too.
//!
//! Events are not the record (the store is), so the bus never retries into duplicates or waits
//! for Redis; instead a node that MAY have missed an event says so to all its subscribers
//! (`Received::Lagged`, which sockets answer by re-reading the store), in each of these cases:
//! - its reader lost Redis (restart, network, `CLIENT KILL`): once connected again;
//! - the stream was trimmed past its position (a reader more than `max_len` events behind): each
//!   read starts AT the last id seen (`XRANGE last +`), and that entry missing proves the trim;
//! - a publisher lost events (its `XADD` failed twice, its queue was full, an event did not
//!   serialise): every entry carries its publisher's node id and a sequence number that counts
//!   the lost ones too, so the next entry of that node shows the hole; after a failure the
//!   publisher writes a marker entry as soon as Redis answers again, so the hole shows at once
//!   (a number seen before is a write retried after a dropped connection, and skipped);
//! - an entry that cannot be read (malformed, oversized).

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytestring::ByteString;
use prometheus::IntCounterVec;
use redis::aio::{ConnectionManager, ConnectionManagerConfig, MultiplexedConnection};
use redis::streams::{StreamId, StreamRangeReply, StreamReadReply};
use redis::{AsyncConnectionConfig, Client, RedisResult, Value};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{Envelope, Event, EventBus, LocalBus, Subscription, Topic};

/// Events waiting for the writer task; more are dropped (and counted as lost, so readers resync).
const QUEUE: usize = 16_384;
/// `XADD`s sent in one pipeline.
const BATCH: usize = 256;
/// Entries read at once.
const READ_COUNT: usize = 256;
/// How long one `XREAD` waits for a new entry.
const BLOCK: Duration = Duration::from_secs(2);
/// How long any Redis command may take (beyond `BLOCK` for the blocking read).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(3);
/// An event's JSON larger than this is neither written nor read.
const MAX_EVENT_BYTES: usize = 1 << 20;
/// A publisher (node) not heard from for this long is forgotten; seen again, it starts afresh.
const FORGET_PUBLISHER_AFTER: Duration = Duration::from_secs(3600);
/// Publishers remembered at most (nodes restart with new ids).
const MAX_PUBLISHERS: usize = 4096;
/// A node id in an entry is at most this long.
const MAX_NODE_ID: usize = 64;
/// Backoff between reconnection attempts, and between marker attempts after a failed write.
const RETRY_MIN: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(2);

/// Where the stream is.
#[derive(Clone)]
pub struct RedisBusOptions {
    /// `redis://…`: may hold a password, so it is never printed.
    pub url: String,
    /// The stream's key, shared by the nodes of one deployment.
    pub stream: String,
    /// About how many entries the stream keeps.
    pub max_len: u64,
}

impl fmt::Debug for RedisBusOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisBusOptions")
            .field("url", &"[redacted]")
            .field("stream", &self.stream)
            .field("max_len", &self.max_len)
            .finish()
    }
}

/// Why the Redis bus cannot start. The URL is never part of the text.
#[derive(Debug, thiserror::Error)]
pub enum RedisBusError {
    #[error("bus.url is not a valid Redis URL ({0})")]
    Url(String),
    #[error("cannot reach Redis for the event bus: {0}")]
    Connect(String),
}

/// The text of a Redis error without anything of the URL: its kind, and its detail for I/O.
pub(crate) fn describe(e: &redis::RedisError) -> String {
    if e.is_io_error() || e.is_timeout() || e.is_connection_refusal() || e.is_connection_dropped() {
        e.to_string()
    } else {
        format!("{:?}", e.kind())
    }
}

/// A reconnecting connection for commands that answer at once (each within 3 s).
pub(crate) async fn manager(client: &Client) -> RedisResult<ConnectionManager> {
    ConnectionManager::new_with_config(
        client.clone(),
        ConnectionManagerConfig::new()
            .set_connection_timeout(COMMAND_TIMEOUT)
            .set_response_timeout(COMMAND_TIMEOUT)
            .set_number_of_retries(2)
            .set_max_delay(500),
    )
    .await
}

/// The event bus of a node among several: see the module's documentation.
#[derive(Debug)]
pub struct RedisBus {
    local: LocalBus,
    queue: mpsc::Sender<Event>,
    /// Events dropped before reaching the writer; it adds them to its sequence number.
    lost: Arc<AtomicU64>,
    counters: IntCounterVec,
}

impl RedisBus {
    /// Connects (the writer and the reader), takes the stream's end as the reader's position,
    /// and starts both tasks; they stop with `shutdown`. `counters` (label `outcome`) counts
    /// `published`, `lost`, `received`, `gap` and `reconnect`.
    ///
    /// # Errors
    /// An invalid URL, or Redis unreachable now.
    pub async fn start(
        options: RedisBusOptions,
        counters: IntCounterVec,
        shutdown: CancellationToken,
    ) -> Result<Self, RedisBusError> {
        let client = Client::open(options.url.as_str()).map_err(|e| RedisBusError::Url(format!("{:?}", e.kind())))?;
        let manager = manager(&client).await.map_err(|e| RedisBusError::Connect(describe(&e)))?;
        let local = LocalBus::new();
        let node: Arc<str> = format!("{:016x}", rand::random::<u64>()).into();
        let mut reader = Reader {
            client,
            stream: options.stream.clone(),
            local: local.clone(),
            counters: counters.clone(),
            last_id: String::new(),
            publishers: HashMap::new(),
        };
        let conn = reader.connect().await.map_err(|e| RedisBusError::Connect(describe(&e)))?;
        let (queue, rx) = mpsc::channel(QUEUE);
        let lost = Arc::new(AtomicU64::new(0));
        let writer = Writer {
            conn: manager,
            stream: options.stream,
            max_len: options.max_len,
            node: Arc::clone(&node),
            seq: 0,
            lost: Arc::clone(&lost),
            counters: counters.clone(),
        };
        tracing::info!(node = %node, stream = %writer.stream, "event bus on Redis ready");
        tokio::spawn(writer.run(rx, shutdown.clone()));
        tokio::spawn(reader.run(conn, shutdown));
        Ok(Self { local, queue, lost, counters })
    }
}

impl EventBus for RedisBus {
    fn publish(&self, event: Event) {
        if self.queue.try_send(event).is_err() {
            // Full (Redis too slow or away) or closed (shutting down): the writer's next entry
            // shows the hole to every reader.
            self.lost.fetch_add(1, Ordering::Relaxed);
            self.counters.with_label_values(&["lost"]).inc();
        }
    }

    fn subscribe(&self, topic: Topic) -> Subscription {
        self.local.subscribe(topic)
    }
}

/// The task that writes this node's events to the stream, in order.
struct Writer {
    conn: ConnectionManager,
    stream: String,
    max_len: u64,
    node: Arc<str>,
    /// The last sequence number given out (written or lost).
    seq: u64,
    lost: Arc<AtomicU64>,
    counters: IntCounterVec,
}

impl Writer {
    async fn run(mut self, mut rx: mpsc::Receiver<Event>, shutdown: CancellationToken) {
        let mut batch = Vec::with_capacity(BATCH);
        // After a failed write: a marker is owed, so readers see the hole without waiting for
        // this node's next event.
        let mut owe_marker = false;
        let mut retry = RETRY_MIN;
        loop {
            if owe_marker {
                tokio::select! {
                    () = tokio::time::sleep(retry) => {}
                    () = shutdown.cancelled() => return,
                    n = rx.recv_many(&mut batch, BATCH) => if n == 0 { return },
                }
            } else {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    n = rx.recv_many(&mut batch, BATCH) => if n == 0 { return },
                }
            }
            let mut pipe = redis::pipe();
            let mut written = 0_u64;
            for event in batch.drain(..) {
                let seq = self.next_seq();
                match serde_json::to_string(&event) {
                    Ok(json) if json.len() <= MAX_EVENT_BYTES => {
                        self.xadd(&mut pipe, seq).arg("e").arg(json).ignore();
                        written += 1;
                    }
                    // Its number is spent: readers see the hole.
                    Ok(json) => {
                        tracing::error!(bytes = json.len(), "event too large for the bus; readers resync");
                        self.counters.with_label_values(&["lost"]).inc();
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "event serialisation failed; readers resync");
                        self.counters.with_label_values(&["lost"]).inc();
                    }
                }
            }
            if written == 0 || self.lost.load(Ordering::Relaxed) > 0 || owe_marker {
                // Nothing to write, or events were dropped since: a marker (an entry without an
                // event) carries the number on.
                let seq = self.next_seq();
                self.xadd(&mut pipe, seq).ignore();
            }
            // Once more on failure (the manager reconnects): a pipeline that reached Redis before
            // its connection dropped is written twice, and readers skip the numbers they have seen.
            let mut result = pipe.query_async::<()>(&mut self.conn).await;
            if result.is_err() {
                result = pipe.query_async::<()>(&mut self.conn).await;
            }
            match result {
                Ok(()) => {
                    self.counters.with_label_values(&["published"]).inc_by(written);
                    owe_marker = false;
                    retry = RETRY_MIN;
                }
                Err(e) => {
                    tracing::warn!(error = %describe(&e), events = written, "event bus: cannot write to Redis; readers resync");
                    self.counters.with_label_values(&["lost"]).inc_by(written);
                    owe_marker = true;
                    retry = (retry * 2).min(RETRY_MAX);
                }
            }
        }
    }

    /// The next sequence number, past the events dropped before reaching this task.
    fn next_seq(&mut self) -> u64 {
        self.seq += 1 + self.lost.swap(0, Ordering::Relaxed);
        self.seq
    }

    /// Adds an `XADD` of this node's entry number `seq` to `pipe` (the event field follows).
    fn xadd<'a>(&self, pipe: &'a mut redis::Pipeline, seq: u64) -> &'a mut redis::Pipeline {
        pipe.cmd("XADD")
            .arg(&self.stream)
            .arg("MAXLEN")
            .arg("~")
            .arg(self.max_len)
            .arg("*")
            .arg("n")
            .arg(&*self.node)
            .arg("s")
            .arg(seq)
    }
}

/// The task that reads the stream and hands events to this node's subscribers.
struct Reader {
    client: Client,
    stream: String,
    local: LocalBus,
    counters: IntCounterVec,
    /// The id of the last entry read; `0-0` for an empty stream.
    last_id: String,
    /// Per publisher: the last sequence number seen, and when.
    publishers: HashMap<String, (u64, Instant)>,
}

/// The id below every entry.
const START: &str = "0-0";

impl Reader {
    /// A new connection, with the reader's position at the stream's end.
    async fn connect(&mut self) -> RedisResult<MultiplexedConnection> {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(COMMAND_TIMEOUT)
            .set_response_timeout(BLOCK + COMMAND_TIMEOUT);
        let mut conn = self.client.get_multiplexed_async_connection_with_config(&config).await?;
        let last: StreamRangeReply = redis::cmd("XREVRANGE")
            .arg(&self.stream)
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(1)
            .query_async(&mut conn)
            .await?;
        self.last_id = last.ids.first().map_or_else(|| START.to_owned(), |e| e.id.clone());
        self.publishers.clear();
        Ok(conn)
    }

    async fn run(mut self, mut conn: MultiplexedConnection, shutdown: CancellationToken) {
        loop {
            let error = tokio::select! {
                e = self.follow(&mut conn) => e,
                () = shutdown.cancelled() => return,
            };
            tracing::warn!(error = %describe(&error), "event bus: lost Redis; sockets resync once it is back");
            let mut retry = RETRY_MIN;
            conn = loop {
                tokio::select! {
                    () = tokio::time::sleep(retry) => {}
                    () = shutdown.cancelled() => return,
                }
                match self.connect().await {
                    Ok(conn) => break conn,
                    Err(e) => {
                        tracing::debug!(error = %describe(&e), "event bus: Redis still unreachable");
                        retry = (retry * 2).min(RETRY_MAX);
                    }
                }
            };
            self.counters.with_label_values(&["reconnect"]).inc();
            // Whatever was published while we were away is in the store: every socket re-reads it,
            // then gets the events after our new position.
            self.resync("reconnected");
        }
    }

    /// Reads the stream until Redis fails.
    async fn follow(&mut self, conn: &mut MultiplexedConnection) -> redis::RedisError {
        loop {
            // Wait for an entry after ours...
            let woke: RedisResult<Option<StreamReadReply>> = redis::cmd("XREAD")
                .arg("COUNT")
                .arg(1)
                .arg("BLOCK")
                .arg(u64::try_from(BLOCK.as_millis()).unwrap_or(2000))
                .arg("STREAMS")
                .arg(&self.stream)
                .arg(&self.last_id)
                .query_async(conn)
                .await;
            match woke {
                Err(e) => return e,
                Ok(None) => {
                    self.forget_quiet_publishers();
                    continue;
                }
                Ok(Some(_)) => {}
            }
            // ...then read from ours on, inclusive: finding it first proves nothing between was
            // trimmed (a stream is only ever trimmed from its start).
            loop {
                let from = if self.last_id == START { "-" } else { self.last_id.as_str() };
                let range: RedisResult<StreamRangeReply> = redis::cmd("XRANGE")
                    .arg(&self.stream)
                    .arg(from)
                    .arg("+")
                    .arg("COUNT")
                    .arg(READ_COUNT + 1)
                    .query_async(conn)
                    .await;
                let entries = match range {
                    Ok(range) => range.ids,
                    Err(e) => return e,
                };
                let mut gap = false;
                let mut entries = entries.into_iter().peekable();
                if self.last_id != START {
                    if entries.peek().is_some_and(|first| first.id == self.last_id) {
                        entries.next();
                    } else {
                        tracing::warn!(after = %self.last_id, "event bus: the stream was trimmed past this node");
                        gap = true;
                    }
                }
                let mut read = 0;
                for entry in entries {
                    self.last_id.clone_from(&entry.id);
                    gap |= !self.take(entry);
                    read += 1;
                }
                self.counters.with_label_values(&["received"]).inc_by(read);
                if gap {
                    self.resync("gap");
                }
                if read < READ_COUNT as u64 {
                    break;
                }
            }
        }
    }

    /// Hands one entry's event to the subscribers; false when an event may be missing before
    /// it (its publisher skipped a number) or in it (unreadable).
    fn take(&mut self, mut entry: StreamId) -> bool {
        let node = entry.get::<String>("n").filter(|n| !n.is_empty() && n.len() <= MAX_NODE_ID);
        let (Some(node), Some(seq)) = (node, entry.get::<u64>("s")) else {
            tracing::warn!(id = %entry.id, "event bus: an entry without its publisher");
            return false;
        };
        let mut whole = true;
        if let Some((last, seen)) = self.publishers.get_mut(&node) {
            if seq <= *last {
                // Written again after a dropped connection: handled already.
                return true;
            }
            if seq != *last + 1 {
                tracing::warn!(node = %node, expected = *last + 1, got = seq, "event bus: a publisher lost events");
                whole = false;
            }
            *last = seq;
            *seen = Instant::now();
        } else {
            if self.publishers.len() >= MAX_PUBLISHERS {
                self.forget_quiet_publishers();
                if self.publishers.len() >= MAX_PUBLISHERS {
                    self.publishers.clear();
                }
            }
            // A node first seen now: what it published before is in the store.
            self.publishers.insert(node, (seq, Instant::now()));
        }
        match entry.map.remove("e") {
            // A marker: it only carries the publisher's number.
            None => whole,
            Some(Value::BulkString(bytes)) if bytes.len() <= MAX_EVENT_BYTES => match String::from_utf8(bytes)
                .map_err(|e| e.to_string())
                .and_then(|json| serde_json::from_str::<Event>(&json).map(|e| (e, json)).map_err(|e| e.to_string()))
            {
                Ok((event, json)) => {
                    self.local.deliver(Arc::new(Envelope::with_json(event, ByteString::from(json))));
                    whole
                }
                Err(e) => {
                    tracing::error!(id = %entry.id, error = %e, "event bus: an unreadable event");
                    false
                }
            },
            Some(_) => {
                tracing::error!(id = %entry.id, "event bus: an oversized or malformed event");
                false
            }
        }
    }

    fn resync(&self, reason: &'static str) {
        tracing::info!(reason, "event bus: every socket of this node resyncs");
        self.counters.with_label_values(&["gap"]).inc();
        self.local.resync_all();
    }

    fn forget_quiet_publishers(&mut self) {
        self.publishers.retain(|_, (_, seen)| seen.elapsed() < FORGET_PUBLISHER_AFTER);
    }
}

#[cfg(test)]
mod tests {
    //! Against the Redis at 127.0.0.1:6379 (`SWITCHBOARD_TEST_REDIS_URL` overrides), each test on a
    //! stream of its own.
    use super::*;
    use crate::bus::Received;
    use prometheus::Opts;
    use schema::{AgentId, ConversationId, Presence};

    fn url() -> String {
        std::env::var("SWITCHBOARD_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
    }

    struct Fixture {
        stream: String,
        raw: MultiplexedConnection,
        shutdown: CancellationToken,
        counters: IntCounterVec,
    }

    impl Fixture {
        async fn new() -> Self {
            let stream = format!("sbtest:bus:{:016x}", rand::random::<u64>());
            let mut raw = Client::open(url()).unwrap().get_multiplexed_async_connection().await.expect("Redis at 6379");
            // The stream starts with one entry of a publisher of its own, and goes away by itself.
            redis::cmd("XADD")
                .arg(&stream)
                .arg("*")
                .arg("n")
                .arg("fixture")
                .arg("s")
                .arg(1)
                .query_async::<String>(&mut raw)
                .await
                .unwrap();
            redis::cmd("EXPIRE").arg(&stream).arg(3600).query_async::<()>(&mut raw).await.unwrap();
            let counters = IntCounterVec::new(Opts::new("bus_events_total", "test"), &["outcome"]).unwrap();
            Self { stream, raw, shutdown: CancellationToken::new(), counters }
        }

        async fn node(&self, max_len: u64) -> RedisBus {
            let options = RedisBusOptions { url: url(), stream: self.stream.clone(), max_len };
            RedisBus::start(options, self.counters.clone(), self.shutdown.clone()).await.unwrap()
        }

        /// Writes an entry as a publisher would, bypassing `RedisBus`.
        async fn raw_entry(&mut self, node: &str, seq: u64, event: Option<&str>) {
            let mut cmd = redis::cmd("XADD");
            cmd.arg(&self.stream).arg("*").arg("n").arg(node).arg("s").arg(seq);
            if let Some(event) = event {
                cmd.arg("e").arg(event);
            }
            cmd.query_async::<String>(&mut self.raw).await.unwrap();
        }
    }

    impl Drop for Fixture {
        fn drop(&mut self) {
            self.shutdown.cancel();
        }
    }

    fn presence(agent: AgentId) -> Event {
        Event::PresenceChanged { agent_id: agent, presence: Presence::Available }
    }

    async fn next(sub: &mut Subscription) -> Received {
        tokio::time::timeout(Duration::from_secs(5), sub.recv()).await.expect("something from the bus in time")
    }

    async fn next_agent(sub: &mut Subscription) -> AgentId {
        match next(sub).await {
            Received::Event(e) => match &**e {
                Event::PresenceChanged { agent_id, .. } => *agent_id,
                other => panic!("unexpected {other:?}"),
            },
            other => panic!("expected an event, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn every_node_sees_every_event_in_order() {
        let fixture = Fixture::new().await;
        let (a, b) = (fixture.node(100_000).await, fixture.node(100_000).await);
        let mut on_a = a.subscribe(Topic::Inbox);
        let mut on_b = b.subscribe(Topic::Inbox);
        let conversation = ConversationId::new();
        let mut on_b_conversation = b.subscribe(Topic::Conversation(conversation));
        let agents: Vec<AgentId> = (0..500).map(|_| AgentId::new()).collect();
        for agent in &agents {
            a.publish(presence(*agent));
        }
        for agent in &agents {
            assert_eq!(next_agent(&mut on_a).await, *agent, "the publisher's own node, in order");
            assert_eq!(next_agent(&mut on_b).await, *agent, "the other node, in order");
        }
        // A conversation's events reach its topic on the other node, with the JSON as sent.
        b.publish(Event::Typing {
            conversation_id: conversation,
            author: schema::AuthorKind::Customer,
            agent_id: None,
            name: None,
        });
        match next(&mut on_b_conversation).await {
            Received::Event(e) => {
                assert_eq!(e.conversation_id(), Some(conversation));
                assert!(e.json().unwrap().contains("\"conversation.typing\""));
            }
            other => panic!("expected the typing event, got {other:?}"),
        }
        assert_eq!(fixture.counters.with_label_values(&["gap"]).get(), 0);
    }

    #[tokio::test]
    async fn a_publisher_skipping_a_number_makes_subscribers_resync() {
        let mut fixture = Fixture::new().await;
        let node = fixture.node(100_000).await;
        let mut sub = node.subscribe(Topic::Inbox);
        let (first, second) = (AgentId::new(), AgentId::new());
        let event = |agent| serde_json::to_string(&presence(agent)).unwrap();
        fixture.raw_entry("other", 7, Some(&event(first))).await;
        fixture.raw_entry("other", 8, Some(&event(second))).await;
        // Written twice (a retry after a dropped connection): delivered once.
        fixture.raw_entry("other", 8, Some(&event(second))).await;
        assert_eq!(next_agent(&mut sub).await, first);
        assert_eq!(next_agent(&mut sub).await, second);
        // Number 9 never arrived.
        fixture.raw_entry("other", 10, None).await;
        assert!(matches!(next(&mut sub).await, Received::Lagged));
        // A marker carries the number on without an event; the next event flows.
        fixture.raw_entry("other", 11, None).await;
        fixture.raw_entry("other", 12, Some(&event(first))).await;
        assert_eq!(next_agent(&mut sub).await, first);
    }

    #[tokio::test]
    async fn unreadable_entries_make_subscribers_resync() {
        let mut fixture = Fixture::new().await;
        let node = fixture.node(100_000).await;
        let mut sub = node.subscribe(Topic::Inbox);
        fixture.raw_entry("other", 1, Some("{\"type\":\"no.such.event\"}")).await;
        assert!(matches!(next(&mut sub).await, Received::Lagged));
        redis::cmd("XADD")
            .arg(&fixture.stream)
            .arg("*")
            .arg("e")
            .arg("{}")
            .query_async::<String>(&mut fixture.raw)
            .await
            .unwrap();
        assert!(matches!(next(&mut sub).await, Received::Lagged));
    }

    #[tokio::test]
    async fn a_stream_trimmed_past_a_node_makes_its_subscribers_resync() {
        let mut fixture = Fixture::new().await;
        let agent = AgentId::new();
        let event = serde_json::to_string(&presence(agent)).unwrap();
        fixture.raw_entry("other", 1, Some(&event)).await;
        let node = fixture.node(100_000).await;
        let mut sub = node.subscribe(Topic::Inbox);
        // In one transaction, so the node cannot read in between: entries after its position,
        // then a trim that drops its position and the first of them.
        let mut pipe = redis::pipe();
        pipe.atomic();
        for seq in 2..=5 {
            pipe.cmd("XADD")
                .arg(&fixture.stream)
                .arg("*")
                .arg("n")
                .arg("other")
                .arg("s")
                .arg(seq)
                .arg("e")
                .arg(&event)
                .ignore();
        }
        pipe.cmd("XTRIM").arg(&fixture.stream).arg("MAXLEN").arg(3).ignore();
        pipe.query_async::<()>(&mut fixture.raw).await.unwrap();
        let mut lagged = false;
        let mut events = 0;
        while events < 3 {
            match next(&mut sub).await {
                Received::Lagged => lagged = true,
                Received::Event(_) => events += 1,
                Received::Closed => panic!("closed"),
            }
        }
        if !lagged {
            assert!(matches!(next(&mut sub).await, Received::Lagged), "the trim must be noticed");
        }
    }
}
