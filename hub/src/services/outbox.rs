//! The outbox worker: sends replies that were queued in the store with their message (e-mail
//! through the relay, social messages through the platforms' APIs), one worker per channel
//! family, the same loop for all.
//!
//! Each round claims due items with a lease, so two hub nodes never send the same reply; a
//! node that dies mid-send leaves its claim to expire, and another sends it. Every attempt is
//! recorded on the message (sent, queued again with a reason and a retry time, or failed),
//! counted, and announced on the bus so agents see the delivery status live.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use schema::{DeliveryStatus, Message, MessageId, StoreError};
use time::OffsetDateTime;
use tokio::sync::Notify;

use crate::bus::Event;
use crate::error::Error;
use crate::services::Core;

/// How long a claimed reply is left to one node before another may send it.
pub const SEND_LEASE: Duration = Duration::from_secs(60);

/// What one attempt to send came to.
#[derive(Debug)]
pub enum Attempt {
    /// Delivered to the relay or platform, with its id for the message if it gave one.
    Sent { external_id: Option<String> },
    /// Not now: try again after `after` (unless the attempts are used up).
    Retry { after: Duration, reason: String },
    /// Never: the reason is recorded on the message.
    Failed { reason: String },
}

/// One queued item, as the worker needs to see it.
#[derive(Debug, Clone, Copy)]
pub struct ItemInfo<'a> {
    pub message_id: MessageId,
    /// Attempts made before this one.
    pub attempts: i64,
    /// The channel label of the metrics.
    pub channel: &'a str,
}

/// A channel family whose replies go through the outbox.
pub trait Outbox: Send + Sync + 'static {
    /// A claimed item.
    type Item: Send + Sync;

    /// For logs.
    fn name(&self) -> &'static str;
    /// How often the queue is read when nothing wakes the worker.
    fn poll_every(&self) -> Duration;
    /// Items claimed per round.
    fn batch(&self) -> u32;
    /// Attempts before a reply is marked failed.
    fn max_attempts(&self) -> i64;
    /// Claims the items due at `now` for `lease`.
    fn claim(
        &self,
        now: OffsetDateTime,
        lease: Duration,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Self::Item>, StoreError>> + Send;
    /// What the worker records about `item`.
    fn info<'a>(&self, item: &'a Self::Item) -> ItemInfo<'a>;
    /// One attempt to send `item`.
    fn send(&self, item: &Self::Item) -> impl Future<Output = Attempt> + Send;
}

/// Sends `outbox`'s queued replies until the hub shuts down; `wake` is notified when one is
/// queued.
pub async fn run<O: Outbox>(core: Core, outbox: Arc<O>, wake: Arc<Notify>) {
    loop {
        tokio::select! {
            () = core.shutdown.cancelled() => return,
            () = wake.notified() => {}
            () = tokio::time::sleep(outbox.poll_every()) => {}
        }
        let due = match outbox.claim(OffsetDateTime::now_utc(), SEND_LEASE, outbox.batch()).await {
            Ok(due) => due,
            Err(e) => {
                tracing::warn!(error = %e, outbox = outbox.name(), "cannot read the outbound queue");
                continue;
            }
        };
        for item in due {
            if core.shutdown.is_cancelled() {
                return;
            }
            let attempt = outbox.send(&item).await;
            let info = outbox.info(&item);
            if let Err(e) = record(&core, &*outbox, info, attempt).await {
                tracing::error!(error = %e, message_id = %info.message_id, outbox = outbox.name(), "cannot record a delivery");
            }
        }
    }
}

/// Records an attempt on its message, counts it and announces it.
async fn record<O: Outbox>(core: &Core, outbox: &O, item: ItemInfo<'_>, attempt: Attempt) -> Result<(), Error> {
    let store = &core.store;
    let id = item.message_id;
    let message = match attempt {
        Attempt::Sent { external_id } => {
            store.record_delivery(id, DeliveryStatus::Sent, None, external_id.as_deref(), None).await?
        }
        Attempt::Retry { after, reason } => {
            let tries = item.attempts + 1;
            if tries >= outbox.max_attempts() {
                let error = format!("gave up after {tries} tries: {reason}");
                store.record_delivery(id, DeliveryStatus::Failed, Some(&error), None, None).await?
            } else {
                let at = OffsetDateTime::now_utc() + after;
                tracing::info!(message_id = %id, tries, reason = %reason, outbox = outbox.name(), "not sent; will retry");
                store.record_delivery(id, DeliveryStatus::Queued, Some(&reason), None, Some(at)).await?
            }
        }
        Attempt::Failed { reason } => {
            store.record_delivery(id, DeliveryStatus::Failed, Some(&reason), None, None).await?
        }
    };
    core.metrics
        .outbound
        .with_label_values(&[item.channel, message.delivery_status.map_or("none", |s| s.as_str())])
        .inc();
    publish_update(core, message).await;
    Ok(())
}

/// Announces a message whose delivery status changed, with its conversation.
pub async fn publish_update(core: &Core, message: Message) {
    match core.store.conversation(message.conversation_id).await {
        Ok(conversation) => core.bus.publish(Event::MessageUpdated { message, conversation }),
        Err(e) => tracing::warn!(error = %e, "cannot read the conversation to announce a delivery"),
    }
}

/// The wait before try `attempt + 2`: `base`, doubled at each try, at most `max`.
#[must_use]
pub fn backoff(base: Duration, attempt: i64, max: Duration) -> Duration {
    let exp = u32::try_from(attempt.clamp(0, 20)).unwrap_or(20);
    base.max(Duration::from_millis(1)).saturating_mul(1u32 << exp).min(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let ten_min = Duration::from_secs(600);
        assert_eq!(backoff(Duration::from_secs(2), 0, ten_min), Duration::from_secs(2));
        assert_eq!(backoff(Duration::from_secs(2), 3, ten_min), Duration::from_secs(16));
        assert_eq!(backoff(Duration::from_secs(2), 40, ten_min), ten_min);
        assert_eq!(backoff(Duration::from_millis(100), 2, ten_min), Duration::from_millis(400));
    }
}
