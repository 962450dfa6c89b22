//! The one way a message enters the system, whatever the channel: store it, count it, announce
//! it, then hand the turn on (to the bot, or back to routing when a ticket waits for the customer).

use std::sync::Arc;
use std::time::Instant;

use schema::{
    Agent, Appended, AuthorKind, ChannelMessageId, ConversationId, ConversationStatus, MessageText, NewMessage,
    TicketStatus,
};
use tokio::sync::Notify;

use crate::bus::Event;
use crate::error::Error;
use crate::services::Core;
use crate::services::bot::BotQueue;
use crate::services::csat::Csat;
use crate::services::email::Replies;
use crate::services::routing::Routing;
use crate::services::selfservice::CodeInbox;
use crate::services::staff::{Unheld, may_act_on};

/// Stores messages from every channel and author.
#[derive(Debug)]
pub struct Ingest {
    core: Core,
    routing: Arc<Routing>,
    /// Builds the mail that goes with a reply on an e-mail conversation.
    replies: Arc<Replies>,
    /// The bot's turn queue, when the bot is on.
    bot: Option<BotQueue>,
    /// The outbox workers, woken when a reply is queued for them.
    outboxes: Vec<Arc<Notify>>,
    /// Masks a self-service one-time code before its message is stored (when self-service is on).
    codes: Option<CodeInbox>,
    /// Takes a score typed into a resolved conversation as the answer to its survey (set once
    /// at start, when surveys are on).
    surveys: std::sync::OnceLock<std::sync::Weak<Csat>>,
}

impl Ingest {
    /// The ingest service over its collaborators.
    #[must_use]
    pub fn new(
        core: Core,
        routing: Arc<Routing>,
        replies: Arc<Replies>,
        bot: Option<BotQueue>,
        outboxes: Vec<Arc<Notify>>,
    ) -> Self {
        Self { core, routing, replies, bot, outboxes, codes: None, surveys: std::sync::OnceLock::new() }
    }

    /// With self-service's code inbox: a one-time code a customer types is masked before it is
    /// stored, and passed to the bot worker in memory.
    #[must_use]
    pub fn with_codes(mut self, codes: Option<CodeInbox>) -> Self {
        self.codes = codes;
        self
    }

    /// With the satisfaction surveys: a score typed into a resolved conversation whose survey
    /// waits answers it instead of reopening the ticket.
    /// Held weakly: the surveys hold ingest (the hub's state holds both).
    pub fn set_surveys(&self, csat: &Arc<Csat>) {
        if self.surveys.set(Arc::downgrade(csat)).is_err() {
            tracing::warn!("the survey inbox was set twice; the first one stays");
        }
    }

    /// The status a new conversation starts in: with the bot when there is one, else queued for
    /// a person.
    #[must_use]
    pub fn first_status(&self) -> ConversationStatus {
        if self.bot.is_some() { ConversationStatus::Bot } else { ConversationStatus::Queued }
    }

    /// A staff member's message (`new` is authored by `agent`): stored as [`Ingest::append`]
    /// does, if the assignee-or-supervisor rule lets them write on the conversation (a reply
    /// claims an unassigned one).
    ///
    /// # Errors
    /// Another agent holds the conversation (403), or as [`Ingest::append`].
    pub async fn append_as(&self, agent: &Agent, new: NewMessage) -> Result<Appended, Error> {
        let conversation = self.core.store.conversation(new.conversation_id).await?;
        may_act_on(agent, conversation.assignee_id, Unheld::Claim)?;
        self.append(new).await
    }

    /// Stores `new` (idempotently, by its author and channel message id) and, if it is new,
    /// publishes it.
    /// Returns only once the message is durable, so the caller may acknowledge it.
    ///
    /// # Errors
    /// Unknown or closed conversation, or the store is down.
    pub async fn append(&self, mut new: NewMessage) -> Result<Appended, Error> {
        let store = &self.core.store;
        let code = match &self.codes {
            Some(codes) => codes.take(&mut new).await?,
            None => None,
        };
        let started = Instant::now();
        let author = new.author;
        // A reply on an e-mail conversation is queued with its built mail, in the same transaction.
        let appended = match self.replies.prepare(store, &new).await? {
            Some(mail) => store.append_email_reply(new, &mail).await?,
            None => store.append_message(new).await?,
        };
        self.core.metrics.store_write.with_label_values(&["append_message"]).observe(started.elapsed().as_secs_f64());
        if appended.created {
            if appended.message.delivery_status.is_some() {
                for outbox in &self.outboxes {
                    outbox.notify_one();
                }
            }
            self.core
                .metrics
                .messages
                .with_label_values(&[appended.conversation.channel.as_str(), author.as_str()])
                .inc();
            self.core.bus.publish(Event::MessageCreated {
                message: appended.message.clone(),
                conversation: appended.conversation.clone(),
            });
            // A customer writing into a resolved conversation reopens its ticket; into one that
            // waits for them, puts it back to the assignee.
            if author == AuthorKind::Customer {
                let conversation = appended.conversation.id;
                if appended.conversation.status == ConversationStatus::Bot
                    && let Some(bot) = &self.bot
                {
                    bot.enqueue(conversation, appended.message.clone(), code).await;
                } else if appended.conversation.status == ConversationStatus::Resolved {
                    let rated = match self.surveys.get().and_then(std::sync::Weak::upgrade) {
                        Some(csat) => csat.take_reply(&appended.conversation, appended.message.text.as_str()).await,
                        None => false,
                    };
                    if !rated {
                        self.reopen(&appended).await;
                    }
                } else if self.routing.is_pending(conversation)
                    && let Err(e) = self.routing.customer_replied(conversation).await
                {
                    tracing::error!(error = %e, conversation_id = %conversation, "cannot resume the ticket");
                }
            }
        }
        Ok(appended)
    }

    /// A line from the hub on a conversation's timeline (a system message), idempotent by `key`
    /// (its channel message id). A key or text that does not validate, or a failed append, is
    /// logged: a timeline line never stops what it records.
    pub async fn timeline(&self, conversation_id: ConversationId, key: &str, text: &str) {
        let (id, text) = match (key.parse::<ChannelMessageId>(), MessageText::parse(text, 1000)) {
            (Ok(id), Ok(text)) => (id, text),
            (Err(e), _) | (_, Err(e)) => {
                tracing::warn!(error = %e, %conversation_id, key, "unusable timeline line");
                return;
            }
        };
        let new = NewMessage {
            conversation_id,
            author: AuthorKind::System,
            author_id: None,
            text,
            channel_message_id: Some(id),
            media: Vec::new(),
            template: None,
        };
        if let Err(e) = self.append(new).await {
            tracing::warn!(error = %e, %conversation_id, key, "cannot write a timeline line");
        }
    }

    async fn reopen(&self, appended: &Appended) {
        let ticket = match self.core.store.latest_ticket(appended.conversation.id).await {
            Ok(Some(t)) if t.status == TicketStatus::Resolved => t,
            Ok(_) => return,
            Err(e) => {
                tracing::error!(error = %e, conversation_id = %appended.conversation.id, "cannot reopen the ticket");
                return;
            }
        };
        // The message is stored whatever happens here; a failed reopen is logged for the staff.
        if let Err(e) = self.routing.reopen(ticket.id).await {
            tracing::error!(error = %e, conversation_id = %appended.conversation.id, "cannot reopen the ticket");
        }
    }
}
