//! The event bus: how a stored change reaches every socket that watches it.
//!
//! Events are notifications of what is already durable in the store, so a subscriber that falls
//! behind (lagged) recovers by reading the store. The one exception is `typing`, a passing hint
//! that nobody needs to recover. [`LocalBus`] fans out inside one process; [`RedisBus`] carries
//! events between several nodes through a Redis stream and fans them out on each node with a
//! `LocalBus`, telling every subscriber to resync when it may have missed one.

mod redis_stream;

pub use redis_stream::{RedisBus, RedisBusError, RedisBusOptions};
pub(crate) use redis_stream::{describe as describe_redis_error, manager as redis_manager};

use std::collections::HashMap;
use std::fmt::Debug;
use std::ops::Deref;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use bytestring::ByteString;
use schema::{
    AgentId, AuthorKind, Conversation, ConversationId, DisplayName, Message, Presence, QueueName, Ticket, TicketId,
};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

/// Something that happened, as the inbox sockets receive it (and as the Redis bus carries it
/// between nodes: the same JSON).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Event {
    #[serde(rename = "conversation.created")]
    ConversationCreated { conversation: Conversation },
    #[serde(rename = "conversation.updated")]
    ConversationUpdated { conversation: Conversation },
    /// A message, with its conversation as the message left it (status, assignee, last seq).
    #[serde(rename = "message.created")]
    MessageCreated { message: Message, conversation: Conversation },
    /// A message changed after it was stored: its delivery status, for a reply sent through a
    /// platform.
    #[serde(rename = "message.updated")]
    MessageUpdated { message: Message, conversation: Conversation },
    /// A ticket changed: created, offered, assigned, escalated, transferred, resolved…
    #[serde(rename = "ticket.updated")]
    TicketUpdated { ticket: Ticket },
    /// A staff member added an internal note to a ticket (a supervisor's whisper, or the
    /// assignee's own note). Staff only: it goes to the inbox sockets, never to the customer's.
    #[serde(rename = "ticket.note")]
    NoteAdded {
        ticket_id: TicketId,
        /// The ticket's conversation (the event is not published on its topic).
        conversation_id: ConversationId,
        author_id: AgentId,
        author_name: DisplayName,
        text: String,
        #[serde(with = "time::serde::rfc3339")]
        created_at: time::OffsetDateTime,
    },
    /// A ticket's SLA clock passed its warning share (staff only: the supervisors' socket and
    /// the inboxes).
    #[serde(rename = "sla.warning")]
    SlaWarning(SlaNotice),
    /// A ticket missed an SLA target; the `sla.breached` ticket event is already stored.
    #[serde(rename = "sla.breached")]
    SlaBreached(SlaNotice),
    /// An agent's presence changed.
    #[serde(rename = "agent.presence")]
    PresenceChanged { agent_id: AgentId, presence: Presence },
    /// Someone is writing in a conversation: the customer, or an agent (with their name). Not
    /// stored.
    #[serde(rename = "conversation.typing")]
    Typing {
        conversation_id: ConversationId,
        author: AuthorKind,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        agent_id: Option<AgentId>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<DisplayName>,
    },
}

impl Event {
    /// The conversation the event is about.
    #[must_use]
    pub fn conversation_id(&self) -> Option<ConversationId> {
        match self {
            Self::ConversationCreated { conversation } | Self::ConversationUpdated { conversation } => {
                Some(conversation.id)
            }
            Self::MessageCreated { message, .. } | Self::MessageUpdated { message, .. } => {
                Some(message.conversation_id)
            }
            Self::TicketUpdated { ticket } => Some(ticket.conversation_id),
            Self::Typing { conversation_id, .. } => Some(*conversation_id),
            // Staff only: a customer's socket must never see an internal note.
            Self::PresenceChanged { .. } | Self::NoteAdded { .. } | Self::SlaWarning(_) | Self::SlaBreached(_) => None,
        }
    }
}

/// What an SLA warning or breach says.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SlaNotice {
    pub ticket_id: TicketId,
    pub conversation_id: ConversationId,
    pub queue: QueueName,
    /// `first_response` or `resolution`.
    pub target: router::sla::SlaTarget,
    /// When the target runs (or ran) out.
    #[serde(with = "time::serde::rfc3339")]
    pub due_at: time::OffsetDateTime,
}

/// An event as subscribers receive it: shared, with its JSON rendered once for all of them.
#[derive(Debug)]
pub struct Envelope {
    event: Event,
    json: OnceLock<Option<ByteString>>,
}

impl Envelope {
    fn new(event: Event) -> Self {
        Self { event, json: OnceLock::new() }
    }

    /// An event received as `json` (from another node): not serialised again.
    fn with_json(event: Event, json: ByteString) -> Self {
        Self { event, json: OnceLock::from(Some(json)) }
    }

    /// The event as JSON, serialised by the first subscriber that asks; cloning it is cheap.
    pub fn json(&self) -> Option<ByteString> {
        self.json
            .get_or_init(|| match serde_json::to_string(&self.event) {
                Ok(json) => Some(json.into()),
                Err(e) => {
                    tracing::error!(error = %e, "event serialisation failed");
                    None
                }
            })
            .clone()
    }
}

impl Deref for Envelope {
    type Target = Event;

    fn deref(&self) -> &Event {
        &self.event
    }
}

/// What a subscriber listens to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Topic {
    /// Everything: the staff's live inbox.
    Inbox,
    /// One conversation: a customer's socket.
    Conversation(ConversationId),
}

/// Publishes events and hands out subscriptions.
pub trait EventBus: Send + Sync + Debug + 'static {
    /// Delivers `event` to the subscribers of its conversation and of the inbox, on every node.
    /// Never blocks.
    fn publish(&self, event: Event);

    /// A new subscription to `topic` on this node.
    fn subscribe(&self, topic: Topic) -> Subscription;
}

/// Buffered events per conversation subscriber, and for each inbox subscriber. A subscriber that
/// falls further behind gets `Lagged` and catches up from the store.
const CONVERSATION_BUFFER: usize = 16;
const INBOX_BUFFER: usize = 4096;

/// What goes down a topic's channel: an event, or word that events were missed (the Redis bus,
/// after a gap) so every subscriber re-reads the store.
#[derive(Clone, Debug)]
enum Delivery {
    Event(Arc<Envelope>),
    Resync,
}

type Senders = Mutex<HashMap<Topic, broadcast::Sender<Delivery>>>;

/// The in-process bus: one broadcast channel per watched topic, removed when its last
/// subscriber leaves, so 50,000 idle customer sockets cost 50,000 small channels and a message
/// wakes only the sockets of its own conversation.
#[derive(Debug, Default, Clone)]
pub struct LocalBus {
    topics: Arc<Senders>,
}

impl LocalBus {
    /// A bus with no subscribers.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    fn send(&self, topic: Topic, event: &Arc<Envelope>) {
        let topics = self.topics.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(tx) = topics.get(&topic) {
            // No receiver left is not an error: nobody is watching.
            let _ = tx.send(Delivery::Event(Arc::clone(event)));
        }
    }

    /// Hands `event` to the subscribers on this node of its conversation and of the inbox.
    fn deliver(&self, event: Arc<Envelope>) {
        if let Some(id) = event.conversation_id() {
            self.send(Topic::Conversation(id), &event);
        }
        self.send(Topic::Inbox, &event);
    }

    /// Tells every subscriber on this node that events were missed: each receives `Lagged` (after
    /// the events already queued for it) and re-reads the store.
    fn resync_all(&self) {
        let topics = self.topics.lock().unwrap_or_else(PoisonError::into_inner);
        for tx in topics.values() {
            let _ = tx.send(Delivery::Resync);
        }
    }
}

impl EventBus for LocalBus {
    fn publish(&self, event: Event) {
        self.deliver(Arc::new(Envelope::new(event)));
    }

    fn subscribe(&self, topic: Topic) -> Subscription {
        let mut topics = self.topics.lock().unwrap_or_else(PoisonError::into_inner);
        let capacity = match topic {
            Topic::Inbox => INBOX_BUFFER,
            Topic::Conversation(_) => CONVERSATION_BUFFER,
        };
        let rx = topics.entry(topic).or_insert_with(|| broadcast::channel(capacity).0).subscribe();
        Subscription { rx, topic, topics: Arc::clone(&self.topics) }
    }
}

/// A live subscription; dropping it unsubscribes.
#[derive(Debug)]
pub struct Subscription {
    rx: broadcast::Receiver<Delivery>,
    topic: Topic,
    topics: Arc<Senders>,
}

/// What a subscription yields.
#[derive(Debug)]
pub enum Received {
    Event(Arc<Envelope>),
    /// Events were dropped because this subscriber was too slow: re-read the store.
    Lagged,
    /// The bus is gone.
    Closed,
}

impl Subscription {
    /// The next event.
    pub async fn recv(&mut self) -> Received {
        match self.rx.recv().await {
            Ok(Delivery::Event(e)) => Received::Event(e),
            Ok(Delivery::Resync) => Received::Lagged,
            Err(broadcast::error::RecvError::Lagged(_)) => Received::Lagged,
            Err(broadcast::error::RecvError::Closed) => Received::Closed,
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut topics = self.topics.lock().unwrap_or_else(PoisonError::into_inner);
        // Our own receiver is still alive here, so "1" means we are the last one.
        if topics.get(&self.topic).is_some_and(|tx| tx.receiver_count() <= 1) {
            topics.remove(&self.topic);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use schema::{AuthorKind, MessageText};

    fn message(conversation_id: ConversationId) -> Event {
        let now = time::OffsetDateTime::now_utc();
        let conversation = Conversation {
            id: conversation_id,
            customer_id: schema::CustomerId::new(),
            channel: schema::Channel::WebChat,
            status: schema::ConversationStatus::Queued,
            assignee_id: None,
            language: schema::Language::En,
            last_seq: 1,
            created_at: now,
            updated_at: now,
        };
        Event::MessageCreated {
            conversation,
            message: Message {
                id: schema::MessageId::new(),
                conversation_id,
                seq: 1,
                author: AuthorKind::Customer,
                author_id: None,
                text: MessageText::parse("hi", 10).unwrap(),
                channel_message_id: None,
                media: Vec::new(),
                delivery_status: None,
                delivery_error: None,
                created_at: now,
            },
        }
    }

    #[tokio::test]
    async fn routes_by_conversation_and_forgets_empty_topics() {
        let bus = LocalBus::new();
        let (a, b) = (ConversationId::new(), ConversationId::new());
        let mut inbox = bus.subscribe(Topic::Inbox);
        let mut sub_a = bus.subscribe(Topic::Conversation(a));
        let sub_b = bus.subscribe(Topic::Conversation(b));
        bus.publish(message(a));
        assert!(matches!(sub_a.recv().await, Received::Event(e) if e.conversation_id() == Some(a)));
        assert!(matches!(inbox.recv().await, Received::Event(e) if e.conversation_id() == Some(a)));
        assert_eq!(sub_b.rx.len(), 0, "b must not be woken by a's message");
        drop(sub_b);
        assert!(!bus.topics.lock().unwrap().contains_key(&Topic::Conversation(b)));
    }

    #[tokio::test]
    async fn resync_reaches_every_subscriber_after_its_queued_events() {
        let bus = LocalBus::new();
        let a = ConversationId::new();
        let mut sub = bus.subscribe(Topic::Conversation(a));
        let mut inbox = bus.subscribe(Topic::Inbox);
        bus.publish(message(a));
        bus.resync_all();
        assert!(matches!(sub.recv().await, Received::Event(_)));
        assert!(matches!(sub.recv().await, Received::Lagged));
        assert!(matches!(inbox.recv().await, Received::Event(_)));
        assert!(matches!(inbox.recv().await, Received::Lagged));
    }

    #[test]
    fn events_read_back_from_their_json_are_the_same_events() {
        let a = ConversationId::new();
        let typing = Event::Typing { conversation_id: a, author: AuthorKind::Customer, agent_id: None, name: None };
        for event in [message(a), typing] {
            let json = serde_json::to_string(&event).unwrap();
            let back: Event = serde_json::from_str(&json).unwrap();
            assert_eq!(serde_json::to_string(&back).unwrap(), json);
        }
        // Read back, a card number is masked even if the JSON held one in clear.
        let json = serde_json::to_string(&message(a)).unwrap().replace("\"hi\"", "\"4111 1111 1111 1111\"");
        let Event::MessageCreated { message, .. } = serde_json::from_str(&json).unwrap() else { panic!("a message") };
        assert_eq!(message.text.as_str(), "**** **** **** 1111");
    }

    #[tokio::test]
    async fn a_slow_subscriber_is_told_it_lagged() {
        let bus = LocalBus::new();
        let a = ConversationId::new();
        let mut sub = bus.subscribe(Topic::Conversation(a));
        for _ in 0..CONVERSATION_BUFFER + 1 {
            bus.publish(message(a));
        }
        assert!(matches!(sub.recv().await, Received::Lagged));
    }
}
