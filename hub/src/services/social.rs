//! Social channels: Messenger and WhatsApp (Meta) and Telegram.
//!
//! - Admins register platform accounts; their secrets are encrypted at rest and never returned.
//! - Webhooks are verified (Meta: `X-Hub-Signature-256` over the raw body with the app secret;
//!   Telegram: the secret-token header), rate-limited per account and per sender, stored, and
//!   only then answered `200`, so a platform redelivers anything not acknowledged.
//! - Replies on these channels are queued in the store with the message itself; a sender task
//!   sends them through the platform's API, retries with backoff, and records delivery.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use channels::social::{self, Platform, SendOutcome, SendRequest, SocialError, WebhookEvent};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use schema::{
    Agent, AgentId, Appended, AuthorKind, Channel, ChannelMessageId, ConversationId, DisplayName, MediaRef,
    MessageText, NewMessage, Outbound, SocialAccount, StoreError, Template, ValidationError,
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::bus::Event;
use crate::config::SocialConfig;
use crate::error::{Error, ErrorCode};
use crate::secrets::SecretBox;
use crate::services::ingest::Ingest;
use crate::services::staff::{Unheld, may_act_on};
use crate::services::{Core, outbox};

/// An account's secrets, as sealed in the store.
#[derive(Clone, Default, Deserialize, Serialize)]
pub struct Secrets {
    /// Meta: the app secret that signs webhooks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_secret: Option<String>,
    /// Meta: the token for the send API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token: Option<String>,
    /// Meta: the token of the webhook subscription handshake.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify_token: Option<String>,
    /// Telegram: the bot's token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bot_token: Option<String>,
    /// Telegram: the secret the Bot API sends in `X-Telegram-Bot-Api-Secret-Token`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_secret: Option<String>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secrets(..)")
    }
}

/// A platform account with its secrets opened, in memory only.
#[derive(Clone, Debug)]
struct Account {
    channel: Channel,
    account_id: String,
    secrets: Secrets,
}

/// The social channels' state on a hub node.
pub struct Social {
    core: Core,
    ingest: Arc<Ingest>,
    config: SocialConfig,
    /// The longest message text accepted.
    max_chars: usize,
    secrets: SecretBox,
    /// (channel, account id) → account.
    accounts: RwLock<HashMap<(Channel, String), Arc<Account>>>,
    per_account: DefaultKeyedRateLimiter<String>,
    per_sender: DefaultKeyedRateLimiter<String>,
    http: reqwest::Client,
}

impl std::fmt::Debug for Social {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Social").finish_non_exhaustive()
    }
}

fn nonzero(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN)
}

impl Social {
    /// Loads the accounts and opens their secrets.
    ///
    /// # Errors
    /// The store fails, or a stored secret cannot be opened with this key.
    pub async fn load(
        core: Core,
        ingest: Arc<Ingest>,
        config: &SocialConfig,
        max_chars: usize,
        secrets: SecretBox,
    ) -> Result<Self, Error> {
        let per_account = RateLimiter::keyed(
            Quota::per_second(nonzero(config.account_rate_per_sec))
                .allow_burst(nonzero(config.account_rate_per_sec.saturating_mul(4))),
        );
        let per_sender = RateLimiter::keyed(
            Quota::per_minute(nonzero(config.sender_rate_per_min))
                .allow_burst(nonzero((config.sender_rate_per_min / 3).max(5))),
        );
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .build()
            .map_err(|e| Error::Internal(format!("HTTP client: {e}")))?;
        let social = Self {
            core,
            ingest,
            config: config.clone(),
            max_chars,
            secrets,
            accounts: RwLock::new(HashMap::new()),
            per_account,
            per_sender,
            http,
        };
        for mut stored in social.core.store.social_accounts().await? {
            social.bind_to_owner(&mut stored).await?;
            social.remember(&stored)?;
        }
        Ok(social)
    }

    /// Secrets sealed by an earlier version, without the account as associated data, are
    /// sealed again bound to it (once; the old value is replaced only if unchanged, so nodes
    /// starting together agree).
    async fn bind_to_owner(&self, stored: &mut SocialAccount) -> Result<(), Error> {
        let Some(plain) = self.secrets.open_unbound(&stored.secrets) else { return Ok(()) };
        let context = |e| Error::Internal(format!("account {} {}: {e}", stored.channel, stored.account_id));
        let plain = plain.map_err(context)?;
        let sealed =
            self.secrets.seal(&plain, &owner(stored.id, stored.channel, &stored.account_id)).map_err(context)?;
        if self.core.store.reseal_social_account(stored.id, &stored.secrets, &sealed).await? {
            tracing::info!(channel = %stored.channel, account_id = %stored.account_id, "account secrets bound to their account");
            stored.secrets = sealed;
        } else if let Some(now) = self.core.store.social_accounts().await?.into_iter().find(|a| a.id == stored.id) {
            stored.secrets = now.secrets;
        }
        Ok(())
    }

    fn remember(&self, stored: &SocialAccount) -> Result<(), Error> {
        let plain = self
            .secrets
            .open(&stored.secrets, &owner(stored.id, stored.channel, &stored.account_id))
            .map_err(|e| Error::Internal(format!("account {} {}: {e}", stored.channel, stored.account_id)))?;
        let secrets: Secrets = serde_json::from_slice(&plain).map_err(|e| Error::Internal(e.to_string()))?;
        let account = Account { channel: stored.channel, account_id: stored.account_id.clone(), secrets };
        self.accounts
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert((stored.channel, stored.account_id.clone()), Arc::new(account));
        Ok(())
    }

    fn account(&self, channel: Channel, account_id: &str) -> Option<Arc<Account>> {
        self.accounts
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&(channel, account_id.to_owned()))
            .cloned()
    }

    fn meta_accounts(&self) -> Vec<Arc<Account>> {
        self.accounts
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .values()
            .filter(|a| matches!(a.channel, Channel::Messenger | Channel::WhatsApp))
            .cloned()
            .collect()
    }

    /// Spends one request of `account`'s budget and one per sender; refuses when either is
    /// exhausted.
    fn admit(&self, account: &str, senders: &[String]) -> Result<(), Error> {
        if self.per_account.check_key(&account.to_owned()).is_err() {
            return Err(Error::TooManyRequests(format!("too many webhook calls for account {account}")));
        }
        for sender in senders {
            if self.per_sender.check_key(&format!("{account}:{sender}")).is_err() {
                return Err(Error::TooManyRequests("too many messages from one sender".into()));
            }
        }
        Ok(())
    }
}

// ---- accounts ---------------------------------------------------------------------------------

/// A platform account to register.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewAccount {
    pub channel: String,
    pub account_id: String,
    pub name: String,
    #[serde(flatten)]
    pub secrets: Secrets,
}

impl Secrets {
    /// The names of the secrets that are set (what the API shows instead of their values).
    #[must_use]
    pub fn names_set(&self) -> Vec<&'static str> {
        [
            ("app_secret", self.app_secret.is_some()),
            ("access_token", self.access_token.is_some()),
            ("verify_token", self.verify_token.is_some()),
            ("bot_token", self.bot_token.is_some()),
            ("webhook_secret", self.webhook_secret.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, set)| set.then_some(name))
        .collect()
    }
}

/// What an account's sealed secrets are bound to (AEAD associated data): its row and the
/// platform account it is, so secrets copied to another row, or a row edited to name another
/// platform account, no longer open.
fn owner(id: schema::SocialAccountId, channel: Channel, account_id: &str) -> String {
    format!("social_account:{id}:{channel}:{account_id}")
}

fn invalid(field: &'static str, reason: &str) -> Error {
    Error::Validation(ValidationError::Invalid { field, reason: reason.to_owned() })
}

fn social_error(e: SocialError) -> Error {
    match e {
        SocialError::BadSignature => Error::Unauthorized("the webhook signature does not verify".into()),
        SocialError::UnsupportedObject(_) => {
            Error::BadRequest { code: ErrorCode::UnsupportedObject, message: e.to_string() }
        }
        other => Error::BadRequest { code: ErrorCode::MalformedWebhook, message: other.to_string() },
    }
}

impl Social {
    /// Registers a Messenger page, a WhatsApp phone number or a Telegram bot, with its secrets
    /// (sealed in the store).
    ///
    /// # Errors
    /// A field that does not validate or a missing secret (422), a duplicate account (409).
    pub async fn add_account(&self, admin: AgentId, new: NewAccount) -> Result<(SocialAccount, Secrets), Error> {
        let NewAccount { channel, account_id, name, secrets } = new;
        let channel: Channel = channel.parse()?;
        if !channel.is_social() {
            return Err(invalid("channel", "one of messenger, whatsapp, telegram"));
        }
        if account_id.is_empty()
            || account_id.len() > 64
            || !account_id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        {
            return Err(invalid("account_id", "1 to 64 letters, digits, '_', '-' or '.'"));
        }
        let name: DisplayName = name.parse()?;
        let required: &[(&'static str, bool)] = match channel {
            Channel::Telegram => {
                &[("bot_token", secrets.bot_token.is_some()), ("webhook_secret", secrets.webhook_secret.is_some())]
            }
            _ => &[
                ("app_secret", secrets.app_secret.is_some()),
                ("access_token", secrets.access_token.is_some()),
                ("verify_token", secrets.verify_token.is_some()),
            ],
        };
        if let Some((field, _)) = required.iter().find(|(_, set)| !set) {
            return Err(Error::Validation(ValidationError::Empty { field }));
        }
        let plain = serde_json::to_vec(&secrets).map_err(Error::internal)?;
        let id = schema::SocialAccountId::new();
        let sealed = self.secrets.seal(&plain, &owner(id, channel, &account_id)).map_err(Error::internal)?;
        let account = SocialAccount {
            id,
            channel,
            account_id,
            name: name.as_str().to_owned(),
            secrets: sealed,
            created_by: admin,
            created_at: OffsetDateTime::now_utc(),
        };
        self.core.store.create_social_account(&account).await?;
        self.remember(&account)?;
        tracing::info!(channel = %account.channel, account_id = %account.account_id, by = %admin, "social account added");
        Ok((account, secrets))
    }

    /// The accounts, each with its secrets (for the names of those set; never shown).
    ///
    /// # Errors
    /// The store fails.
    pub async fn accounts(&self) -> Result<Vec<(SocialAccount, Secrets)>, Error> {
        let accounts = self.core.store.social_accounts().await?;
        Ok(accounts
            .into_iter()
            .map(|a| {
                let secrets = self.account(a.channel, &a.account_id).map(|x| x.secrets.clone()).unwrap_or_default();
                (a, secrets)
            })
            .collect())
    }

    // ---- webhooks -----------------------------------------------------------------------------

    /// Meta's subscription handshake: the challenge to echo when the verify token is one of a
    /// configured account's.
    ///
    /// # Errors
    /// 403 when it matches no account.
    pub fn meta_handshake(
        &self,
        mode: Option<&str>,
        verify_token: Option<&str>,
        challenge: Option<&str>,
    ) -> Result<String, Error> {
        for account in self.meta_accounts() {
            let Some(expected) = account.secrets.verify_token.as_deref() else { continue };
            if let Some(challenge) = social::meta::verify_subscription(mode, verify_token, challenge, expected) {
                return Ok(challenge.to_owned());
            }
        }
        Err(Error::Forbidden("the verify token matches no account".into()))
    }

    /// `social.max_webhook_bytes`: the largest webhook body taken.
    #[must_use]
    pub fn max_webhook_bytes(&self) -> usize {
        self.config.max_webhook_bytes
    }

    fn check_size(&self, body: &[u8]) -> Result<(), Error> {
        let max = self.config.max_webhook_bytes;
        if body.len() > max {
            return Err(Error::PayloadTooLarge(format!("webhook bodies are limited to {max} bytes")));
        }
        Ok(())
    }

    /// Messenger and WhatsApp events: parsed, verified with the app secret of every account the
    /// payload names (a call naming none must verify with one of the platform's accounts), and
    /// stored; `Ok` only once durable.
    ///
    /// # Errors
    /// Too large (413), malformed (400), a bad signature or unknown account (401), rate-limited
    /// (429), or the store fails.
    pub async fn meta_webhook(&self, body: &[u8], signature: Option<&str>) -> Result<(), Error> {
        self.check_size(body)?;
        let webhook = social::meta::parse(body).map_err(social_error)?;
        let channel = webhook.platform.channel();
        let verify = |account: &Account| {
            let secret = account.secrets.app_secret.as_deref().unwrap_or_default();
            social::meta::verify_signature(secret.as_bytes(), body, signature)
        };
        if webhook.accounts.is_empty()
            && !self.meta_accounts().iter().any(|a| a.channel == channel && verify(a).is_ok())
        {
            return Err(social_error(SocialError::BadSignature));
        }
        for id in &webhook.accounts {
            let account = self
                .account(channel, id)
                .ok_or_else(|| Error::Unauthorized(format!("no {channel} account {id} is configured")))?;
            verify(&account).map_err(social_error)?;
        }
        self.store_events(&webhook.events).await
    }

    /// One Telegram update for the bot `account_id`, checked against its secret token.
    ///
    /// # Errors
    /// As [`Social::meta_webhook`].
    pub async fn telegram_webhook(&self, account_id: &str, body: &[u8], secret: Option<&str>) -> Result<(), Error> {
        self.check_size(body)?;
        let account = self
            .account(Channel::Telegram, account_id)
            .ok_or_else(|| Error::Unauthorized("no such Telegram bot is configured".into()))?;
        social::telegram::verify_secret(account.secrets.webhook_secret.as_deref().unwrap_or_default(), secret)
            .map_err(social_error)?;
        let events = social::telegram::parse(body, &account.account_id).map_err(social_error)?;
        self.store_events(&events).await
    }

    /// Admits, then stores every event of one webhook call; any failure answers an error, so
    /// the platform delivers the call again (what was stored is then skipped as a duplicate).
    async fn store_events(&self, events: &[WebhookEvent]) -> Result<(), Error> {
        let mut by_account: HashMap<&str, Vec<String>> = HashMap::new();
        for event in events {
            if let WebhookEvent::Message(m) = event {
                by_account.entry(&m.account_id).or_default().push(m.sender_id.clone());
            }
        }
        for (account, senders) in &by_account {
            self.admit(account, senders)?;
        }
        let store = &self.core.store;
        for event in events {
            match event {
                WebhookEvent::Message(m) => self.store_message(m).await?,
                WebhookEvent::Status(s) => {
                    if let Some(message) = store.delivery_report(&s.message_id, s.status, s.error.as_deref()).await? {
                        outbox::publish_update(&self.core, message).await;
                    }
                }
                WebhookEvent::Read(r) => {
                    let handle = format!("{}:{}", r.account_id, r.sender_id);
                    let watermark = OffsetDateTime::from_unix_timestamp_nanos(i128::from(r.watermark_ms) * 1_000_000)
                        .map_err(|_| Error::BadRequest {
                        code: ErrorCode::MalformedWebhook,
                        message: "bad watermark".into(),
                    })?;
                    for message in store.read_up_to(r.platform.channel(), &handle, watermark).await? {
                        outbox::publish_update(&self.core, message).await;
                    }
                }
            }
        }
        Ok(())
    }

    async fn store_message(&self, m: &social::InboundMessage) -> Result<(), Error> {
        let channel = m.platform.channel();
        let handle = format!("{}:{}", m.account_id, m.sender_id);
        let name =
            m.sender_name.as_deref().and_then(|n| n.chars().take(100).collect::<String>().parse::<DisplayName>().ok());
        let status = self.ingest.first_status();
        let conversation = self.core.store.conversation_for_handle(channel, &handle, name, status).await?;
        let media: Vec<MediaRef> = m
            .media
            .iter()
            .map(|r| MediaRef {
                kind: r.kind.as_str().to_owned(),
                reference: r.reference.clone(),
                mime_type: r.mime_type.clone(),
                file_name: r.file_name.clone(),
            })
            .collect();
        // Text is required of a message; a media-only one is described by its media.
        let text = if m.text.trim().is_empty() {
            let kinds: Vec<&str> = media.iter().map(|r| r.kind.as_str()).collect();
            format!("[{}]", if kinds.is_empty() { "unsupported message".to_owned() } else { kinds.join(", ") })
        } else {
            m.text.clone()
        };
        let new = NewMessage {
            conversation_id: conversation.id,
            author: AuthorKind::Customer,
            author_id: None,
            text: MessageText::parse(&text, self.max_chars)?,
            channel_message_id: Some(m.message_id.parse::<ChannelMessageId>()?),
            media,
            template: None,
        };
        let appended = self.ingest.append(new).await?;
        if appended.created && appended.message.seq == 1 {
            self.core.bus.publish(Event::ConversationCreated { conversation: appended.conversation });
        }
        Ok(())
    }

    // ---- templates ----------------------------------------------------------------------------

    /// Queues an approved WhatsApp template on a WhatsApp conversation, the only thing WhatsApp
    /// delivers once 24 hours have passed since the customer last wrote.
    ///
    /// # Errors
    /// Not a WhatsApp conversation, or a malformed name or language (422); the store fails.
    pub async fn send_template(
        &self,
        agent: &Agent,
        conversation: ConversationId,
        template: Template,
        client_id: Option<ChannelMessageId>,
    ) -> Result<Appended, Error> {
        let conversation = self.core.store.conversation(conversation).await?;
        may_act_on(agent, conversation.assignee_id, Unheld::Claim)?;
        if conversation.channel != Channel::WhatsApp {
            return Err(invalid("conversation_id", "templates are for WhatsApp conversations"));
        }
        let name_ok = |s: &str, max: usize| {
            !s.is_empty() && s.len() <= max && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        };
        if !name_ok(&template.name, 512) {
            return Err(invalid("name", "a template name: letters, digits and '_'"));
        }
        if !name_ok(&template.language, 15) {
            return Err(invalid("language", "a language code such as en_US or es"));
        }
        let new = NewMessage {
            conversation_id: conversation.id,
            author: AuthorKind::Agent,
            author_id: Some(agent.id),
            text: MessageText::parse(&format!("[template {} ({})]", template.name, template.language), 600)?,
            channel_message_id: client_id,
            media: Vec::new(),
            template: Some(template),
        };
        self.ingest.append(new).await
    }
}

// ---- the sender -------------------------------------------------------------------------------

enum Plan {
    Send(SendRequest),
    Fail(String),
}

fn plan(config: &SocialConfig, account: Option<&Account>, item: &Outbound, now: OffsetDateTime) -> Plan {
    let Some((account_id, recipient)) = item.handle.split_once(':') else {
        return Plan::Fail(format!("unusable handle {}", item.handle));
    };
    let Some(account) = account else {
        return Plan::Fail(format!("no {} account {account_id} is configured", item.channel));
    };
    let text = item.message.text.as_str();
    match item.channel {
        Channel::WhatsApp | Channel::Messenger => {
            let Some(token) = account.secrets.access_token.as_deref() else {
                return Plan::Fail("the account has no access token".into());
            };
            let api = social::outbound::MetaApi {
                base_url: &config.graph_api_url,
                version: &config.graph_api_version,
                access_token: token,
            };
            let open = item
                .last_customer_message_at
                .is_some_and(|at| social::outbound::within_window(at.unix_timestamp(), now.unix_timestamp()));
            if item.channel == Channel::Messenger {
                return Plan::Send(social::outbound::messenger_text(&api, account_id, recipient, text, open));
            }
            match &item.template {
                Some(t) => {
                    Plan::Send(social::outbound::whatsapp_template(&api, account_id, recipient, &t.name, &t.language))
                }
                None => {
                    if open {
                        Plan::Send(social::outbound::whatsapp_text(&api, account_id, recipient, text))
                    } else {
                        Plan::Fail(
                            "window_closed: more than 24 hours since the customer last wrote; WhatsApp only \
                             delivers an approved template now"
                                .into(),
                        )
                    }
                }
            }
        }
        Channel::Telegram => match account.secrets.bot_token.as_deref() {
            Some(token) => {
                Plan::Send(social::outbound::telegram_text(&config.telegram_api_url, token, recipient, text))
            }
            None => Plan::Fail("the account has no bot token".into()),
        },
        other => Plan::Fail(format!("{other} is not sent through the outbox")),
    }
}

/// The outcome with the account's secrets cut out of its reason, whatever put them there: the
/// reason is stored as the message's delivery error and pushed to agents' inboxes.
fn scrub_secrets(outcome: SendOutcome, account: Option<&Account>) -> SendOutcome {
    let Some(account) = account else { return outcome };
    let secrets: Vec<&str> = [&account.secrets.bot_token, &account.secrets.access_token, &account.secrets.app_secret]
        .into_iter()
        .filter_map(|s| s.as_deref())
        .filter(|s| s.len() >= 8)
        .collect();
    let scrub = |mut reason: String| {
        for secret in &secrets {
            reason = reason.replace(secret, "[redacted]");
        }
        reason
    };
    match outcome {
        SendOutcome::Retry { after_secs, reason } => SendOutcome::Retry { after_secs, reason: scrub(reason) },
        SendOutcome::WindowClosed { reason } => SendOutcome::WindowClosed { reason: scrub(reason) },
        SendOutcome::Failed { reason } => SendOutcome::Failed { reason: scrub(reason) },
        sent @ SendOutcome::Sent { .. } => sent,
    }
}

impl outbox::Outbox for Social {
    type Item = Outbound;

    fn name(&self) -> &'static str {
        "social"
    }

    fn poll_every(&self) -> Duration {
        Duration::from_secs(1)
    }

    fn batch(&self) -> u32 {
        100
    }

    fn max_attempts(&self) -> i64 {
        i64::from(self.config.send_attempts)
    }

    async fn claim(&self, now: OffsetDateTime, lease: Duration, limit: u32) -> Result<Vec<Outbound>, StoreError> {
        self.core.store.claim_outbound(now, lease, limit).await
    }

    fn info<'a>(&self, item: &'a Outbound) -> outbox::ItemInfo<'a> {
        outbox::ItemInfo { message_id: item.message.id, attempts: item.attempts, channel: item.channel.as_str() }
    }

    async fn send(&self, item: &Outbound) -> outbox::Attempt {
        let now = OffsetDateTime::now_utc();
        let account_id = item.handle.split_once(':').map_or("", |(a, _)| a);
        let account = self.account(item.channel, account_id);
        let outcome = match (Platform::of(item.channel), plan(&self.config, account.as_deref(), item, now)) {
            (_, Plan::Fail(reason)) => SendOutcome::Failed { reason },
            (None, Plan::Send(_)) => {
                SendOutcome::Failed { reason: format!("{} is not a social channel", item.channel) }
            }
            (Some(platform), Plan::Send(request)) => {
                let mut call = self.http.post(&request.url).json(&request.body);
                if let Some(token) = &request.bearer {
                    call = call.bearer_auth(token);
                }
                match call.send().await {
                    Ok(res) => {
                        let status = res.status().as_u16();
                        let body = res.bytes().await.unwrap_or_default();
                        social::outbound::classify(platform, status, &body)
                    }
                    // reqwest's errors name the URL, and Telegram's holds the bot token.
                    Err(e) => SendOutcome::Retry { after_secs: None, reason: format!("network: {}", e.without_url()) },
                }
            }
        };
        let outcome = scrub_secrets(outcome, account.as_deref());
        match outcome {
            SendOutcome::Sent { external_id } => outbox::Attempt::Sent { external_id },
            SendOutcome::Retry { after_secs, reason } => outbox::Attempt::Retry {
                after: after_secs.map_or_else(
                    || outbox::backoff(Duration::from_secs(2), item.attempts, Duration::from_secs(600)),
                    Duration::from_secs,
                ),
                reason,
            },
            SendOutcome::WindowClosed { reason } => {
                outbox::Attempt::Failed { reason: format!("window_closed: {reason}") }
            }
            SendOutcome::Failed { reason } => outbox::Attempt::Failed { reason },
        }
    }
}
