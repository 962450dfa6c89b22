//! The one way a message enters the system, whatever the channel: store it, count it, announce it.

use std::time::Instant;

use schema::{Appended, AuthorKind, ConversationStatus, NewMessage, TicketStatus};

use crate::AppState;
use crate::bus::Event;
use crate::error::ApiError;

/// Stores `new` (idempotently, by its channel message id) and, if it is new, publishes it.
/// Returns only once the message is durable, so the caller may acknowledge it.
///
/// # Errors
/// Unknown or closed conversation, or the store is down.
pub async fn append(state: &AppState, new: NewMessage) -> Result<Appended, ApiError> {
    let started = Instant::now();
    let author = new.author;
    // A reply on an e-mail conversation is queued with its built mail, in the same transaction.
    let appended = match crate::email::prepare_reply(state, &new).await? {
        Some(mail) => state.store.append_email_reply(new, &mail).await?,
        None => state.store.append_message(new).await?,
    };
    state.metrics.store_write.with_label_values(&["append_message"]).observe(started.elapsed().as_secs_f64());
    if appended.created {
        if appended.message.delivery_status.is_some() {
            state.social.wake.notify_one();
            state.email.wake.notify_one();
        }
        state.metrics.messages.with_label_values(&[appended.conversation.channel.as_str(), author.as_str()]).inc();
        state.bus.publish(Event::MessageCreated {
            message: appended.message.clone(),
            conversation: appended.conversation.clone(),
        });
        // A customer writing into a resolved conversation reopens its ticket; into one that
        // waits for them, puts it back to the assignee.
        if author == AuthorKind::Customer {
            let conversation = appended.conversation.id;
            if appended.conversation.status == ConversationStatus::Bot
                && let Some(assistant) = &state.assistant
            {
                assistant.enqueue(conversation, appended.message.clone()).await;
            } else if appended.conversation.status == ConversationStatus::Resolved {
                reopen(state, &appended).await;
            } else if state.routing.is_pending(conversation)
                && let Err(e) = state.routing.customer_replied(state, conversation).await
            {
                tracing::error!(error = %e, conversation_id = %conversation, "cannot resume the ticket");
            }
        }
    }
    Ok(appended)
}

async fn reopen(state: &AppState, appended: &Appended) {
    let ticket = match state.store.latest_ticket(appended.conversation.id).await {
        Ok(Some(t)) if t.status == TicketStatus::Resolved => t,
        Ok(_) => return,
        Err(e) => {
            tracing::error!(error = %e, conversation_id = %appended.conversation.id, "cannot reopen the ticket");
            return;
        }
    };
    // The message is stored whatever happens here; a failed reopen is logged for the staff.
    if let Err(e) = state.routing.reopen(state, ticket.id).await {
        tracing::error!(error = %e, conversation_id = %appended.conversation.id, "cannot reopen the ticket");
    }
}
