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

use actix_web::{HttpRequest, HttpResponse, web};
use channels::social::{self, Platform, SendOutcome, SendRequest, SocialError, WebhookEvent};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use schema::{
    AgentId, AuthorKind, Channel, ChannelMessageId, ConversationStatus, DeliveryStatus, DisplayName, MediaRef,
    MessageText, NewMessage, Outbound, Role, SocialAccount, Template, ValidationError,
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::auth::Staff;
use crate::bus::Event;
use crate::config::SocialConfig;
use crate::error::ApiError;
use crate::secrets::SecretBox;
use crate::{AppState, ingest};

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
    secrets: SecretBox,
    /// (channel, account id) → account.
    accounts: RwLock<HashMap<(Channel, String), Arc<Account>>>,
    per_account: DefaultKeyedRateLimiter<String>,
    per_sender: DefaultKeyedRateLimiter<String>,
    http: reqwest::Client,
    /// Woken when a reply is queued.
    pub wake: tokio::sync::Notify,
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
    pub async fn load(store: &schema::Store, config: &SocialConfig, secrets: SecretBox) -> Result<Self, ApiError> {
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
            .map_err(|e| ApiError::Internal(format!("HTTP client: {e}")))?;
        let social = Self {
            secrets,
            accounts: RwLock::new(HashMap::new()),
            per_account,
            per_sender,
            http,
            wake: tokio::sync::Notify::new(),
        };
        for stored in store.social_accounts().await? {
            social.remember(&stored)?;
        }
        Ok(social)
    }

    fn remember(&self, stored: &SocialAccount) -> Result<(), ApiError> {
        let plain = self
            .secrets
            .open(&stored.secrets)
            .map_err(|e| ApiError::Internal(format!("account {} {}: {e}", stored.channel, stored.account_id)))?;
        let secrets: Secrets = serde_json::from_slice(&plain).map_err(|e| ApiError::Internal(e.to_string()))?;
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
    fn admit(&self, account: &str, senders: &[String]) -> Result<(), ApiError> {
        if self.per_account.check_key(&account.to_owned()).is_err() {
            return Err(ApiError::TooManyRequests(format!("too many webhook calls for account {account}")));
        }
        for sender in senders {
            if self.per_sender.check_key(&format!("{account}:{sender}")).is_err() {
                return Err(ApiError::TooManyRequests("too many messages from one sender".into()));
            }
        }
        Ok(())
    }
}

// ---- admin API --------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewAccount {
    channel: String,
    account_id: String,
    name: String,
    #[serde(flatten)]
    secrets: Secrets,
}

/// What the API shows of an account: never its secrets, only which are set.
#[derive(Serialize)]
struct AccountView {
    id: schema::SocialAccountId,
    channel: Channel,
    account_id: String,
    name: String,
    secrets_set: Vec<&'static str>,
    created_by: AgentId,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    /// Where the platform must send its webhooks.
    webhook_path: String,
}

fn secrets_set(s: &Secrets) -> Vec<&'static str> {
    [
        ("app_secret", s.app_secret.is_some()),
        ("access_token", s.access_token.is_some()),
        ("verify_token", s.verify_token.is_some()),
        ("bot_token", s.bot_token.is_some()),
        ("webhook_secret", s.webhook_secret.is_some()),
    ]
    .into_iter()
    .filter_map(|(name, set)| set.then_some(name))
    .collect()
}

fn invalid(field: &'static str, reason: &str) -> ApiError {
    ApiError::Validation(ValidationError::Invalid { field, reason: reason.to_owned() })
}

fn view(account: &SocialAccount, secrets: &Secrets) -> AccountView {
    let webhook_path = match account.channel {
        Channel::Telegram => format!("/webhooks/telegram/{}", account.account_id),
        _ => "/webhooks/meta".to_owned(),
    };
    AccountView {
        id: account.id,
        channel: account.channel,
        account_id: account.account_id.clone(),
        name: account.name.clone(),
        secrets_set: secrets_set(secrets),
        created_by: account.created_by,
        created_at: account.created_at,
        webhook_path,
    }
}

/// `POST /api/v1/channels/social` (admin): registers a Messenger page, a WhatsApp phone number
/// or a Telegram bot, with its secrets.
pub async fn create_account(
    state: web::Data<AppState>,
    staff: Staff,
    body: web::Json<NewAccount>,
) -> Result<HttpResponse, ApiError> {
    let admin = staff.require(Role::Admin)?;
    let NewAccount { channel, account_id, name, secrets } = body.into_inner();
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
        return Err(ApiError::Validation(ValidationError::Empty { field }));
    }
    let plain = serde_json::to_vec(&secrets).map_err(|e| ApiError::Internal(e.to_string()))?;
    let sealed = state.social.secrets.seal(&plain).map_err(|e| ApiError::Internal(e.to_string()))?;
    let account = SocialAccount {
        id: schema::SocialAccountId::new(),
        channel,
        account_id,
        name: name.as_str().to_owned(),
        secrets: sealed,
        created_by: admin.id,
        created_at: OffsetDateTime::now_utc(),
    };
    state.store.create_social_account(&account).await?;
    state.social.remember(&account)?;
    tracing::info!(channel = %account.channel, account_id = %account.account_id, by = %admin.id, "social account added");
    Ok(HttpResponse::Created().json(view(&account, &secrets)))
}

/// `GET /api/v1/channels/social` (admin): the accounts, without their secrets.
pub async fn list_accounts(state: web::Data<AppState>, staff: Staff) -> Result<HttpResponse, ApiError> {
    staff.require(Role::Admin)?;
    let accounts = state.store.social_accounts().await?;
    let views: Vec<AccountView> = accounts
        .iter()
        .map(|a| {
            let secrets = state.social.account(a.channel, &a.account_id).map(|x| x.secrets.clone()).unwrap_or_default();
            view(a, &secrets)
        })
        .collect();
    Ok(HttpResponse::Ok().json(views))
}

// ---- webhooks ---------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
pub struct Handshake {
    #[serde(rename = "hub.mode")]
    mode: Option<String>,
    #[serde(rename = "hub.verify_token")]
    verify_token: Option<String>,
    #[serde(rename = "hub.challenge")]
    challenge: Option<String>,
}

/// `GET /webhooks/meta`: Meta's subscription handshake; echoes `hub.challenge` when the verify
/// token is one of a configured account's.
pub async fn meta_handshake(state: web::Data<AppState>, q: web::Query<Handshake>) -> Result<HttpResponse, ApiError> {
    let q = q.into_inner();
    for account in state.social.meta_accounts() {
        let Some(expected) = account.secrets.verify_token.as_deref() else { continue };
        if let Some(challenge) = social::meta::verify_subscription(
            q.mode.as_deref(),
            q.verify_token.as_deref(),
            q.challenge.as_deref(),
            expected,
        ) {
            return Ok(HttpResponse::Ok().content_type("text/plain").body(challenge.to_owned()));
        }
    }
    Err(ApiError::Forbidden("the verify token matches no account".into()))
}

fn social_error(e: SocialError) -> ApiError {
    match e {
        SocialError::BadSignature => ApiError::Unauthorized("the webhook signature does not verify".into()),
        other => ApiError::BadRequest { code: other.code(), message: other.to_string() },
    }
}

fn check_size(state: &AppState, body: &[u8]) -> Result<(), ApiError> {
    let max = state.config.social.max_webhook_bytes;
    if body.len() > max {
        return Err(ApiError::PayloadTooLarge(format!("webhook bodies are limited to {max} bytes")));
    }
    Ok(())
}

/// `POST /webhooks/meta`: Messenger and WhatsApp events. Parsed, verified with the app secret
/// of every account the payload names (a call naming none must verify with one of the
/// platform's accounts), stored, then answered.
pub async fn meta_webhook(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    check_size(&state, &body)?;
    let webhook = social::meta::parse(&body).map_err(social_error)?;
    let channel = webhook.platform.channel();
    let signature = req.headers().get("x-hub-signature-256").and_then(|v| v.to_str().ok());
    let verify = |account: &Account| {
        let secret = account.secrets.app_secret.as_deref().unwrap_or_default();
        social::meta::verify_signature(secret.as_bytes(), &body, signature)
    };
    if webhook.accounts.is_empty()
        && !state.social.meta_accounts().iter().any(|a| a.channel == channel && verify(a).is_ok())
    {
        return Err(social_error(SocialError::BadSignature));
    }
    for id in &webhook.accounts {
        let account = state
            .social
            .account(channel, id)
            .ok_or_else(|| ApiError::Unauthorized(format!("no {channel} account {id} is configured")))?;
        verify(&account).map_err(social_error)?;
    }
    store_events(&state, &webhook.events).await?;
    Ok(HttpResponse::Ok().finish())
}

/// `POST /webhooks/telegram/{account_id}`: one Telegram update for that bot.
pub async fn telegram_webhook(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    check_size(&state, &body)?;
    let account = state
        .social
        .account(Channel::Telegram, &path)
        .ok_or_else(|| ApiError::Unauthorized("no such Telegram bot is configured".into()))?;
    let header = req.headers().get("x-telegram-bot-api-secret-token").and_then(|v| v.to_str().ok());
    social::telegram::verify_secret(account.secrets.webhook_secret.as_deref().unwrap_or_default(), header)
        .map_err(social_error)?;
    let events = social::telegram::parse(&body, &account.account_id).map_err(social_error)?;
    store_events(&state, &events).await?;
    Ok(HttpResponse::Ok().finish())
}

/// Admits, then stores every event of one webhook call; any failure answers an error, so the
/// platform delivers the call again (what was stored is then skipped as a duplicate).
async fn store_events(state: &AppState, events: &[WebhookEvent]) -> Result<(), ApiError> {
    let mut by_account: HashMap<&str, Vec<String>> = HashMap::new();
    for event in events {
        if let WebhookEvent::Message(m) = event {
            by_account.entry(&m.account_id).or_default().push(m.sender_id.clone());
        }
    }
    for (account, senders) in &by_account {
        state.social.admit(account, senders)?;
    }
    for event in events {
        match event {
            WebhookEvent::Message(m) => store_message(state, m).await?,
            WebhookEvent::Status(s) => {
                if let Some(message) = state.store.delivery_report(&s.message_id, s.status, s.error.as_deref()).await? {
                    publish_update(state, message).await;
                }
            }
            WebhookEvent::Read(r) => {
                let handle = format!("{}:{}", r.account_id, r.sender_id);
                let watermark = OffsetDateTime::from_unix_timestamp_nanos(i128::from(r.watermark_ms) * 1_000_000)
                    .map_err(|_| ApiError::BadRequest { code: "malformed_webhook", message: "bad watermark".into() })?;
                for message in state.store.read_up_to(r.platform.channel(), &handle, watermark).await? {
                    publish_update(state, message).await;
                }
            }
        }
    }
    Ok(())
}

async fn store_message(state: &AppState, m: &social::InboundMessage) -> Result<(), ApiError> {
    let channel = m.platform.channel();
    let handle = format!("{}:{}", m.account_id, m.sender_id);
    let name =
        m.sender_name.as_deref().and_then(|n| n.chars().take(100).collect::<String>().parse::<DisplayName>().ok());
    let status = if state.assistant.is_some() { ConversationStatus::Bot } else { ConversationStatus::Queued };
    let conversation = state.store.conversation_for_handle(channel, &handle, name, status).await?;
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
        text: MessageText::parse(&text, state.config.webchat.max_message_chars)?,
        channel_message_id: Some(m.message_id.parse::<ChannelMessageId>()?),
        media,
        template: None,
    };
    let appended = ingest::append(state, new).await?;
    if appended.created && appended.message.seq == 1 {
        state.bus.publish(Event::ConversationCreated { conversation: appended.conversation });
    }
    Ok(())
}

async fn publish_update(state: &AppState, message: schema::Message) {
    match state.store.conversation(message.conversation_id).await {
        Ok(conversation) => state.bus.publish(Event::MessageUpdated { message, conversation }),
        Err(e) => tracing::warn!(error = %e, "cannot read the conversation to announce a delivery"),
    }
}

// ---- templates --------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateBody {
    name: String,
    language: String,
    client_id: Option<String>,
}

/// `POST /api/v1/conversations/{id}/template` (agent): sends an approved WhatsApp template,
/// the only thing WhatsApp delivers once 24 hours have passed since the customer last wrote.
pub async fn send_template(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<schema::ConversationId>,
    body: web::Json<TemplateBody>,
) -> Result<HttpResponse, ApiError> {
    let agent = staff.require(Role::Agent)?;
    let conversation = state.store.conversation(*id).await?;
    if conversation.channel != Channel::WhatsApp {
        return Err(invalid("conversation_id", "templates are for WhatsApp conversations"));
    }
    let body = body.into_inner();
    let name_ok = |s: &str, max: usize| {
        !s.is_empty() && s.len() <= max && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    if !name_ok(&body.name, 512) {
        return Err(invalid("name", "a template name: letters, digits and '_'"));
    }
    if !name_ok(&body.language, 15) {
        return Err(invalid("language", "a language code such as en_US or es"));
    }
    let new = NewMessage {
        conversation_id: conversation.id,
        author: AuthorKind::Agent,
        author_id: Some(agent.id),
        text: MessageText::parse(&format!("[template {} ({})]", body.name, body.language), 600)?,
        channel_message_id: body.client_id.as_deref().map(str::parse::<ChannelMessageId>).transpose()?,
        media: Vec::new(),
        template: Some(Template { name: body.name, language: body.language }),
    };
    let appended = ingest::append(&state, new).await?;
    let mut res = if appended.created { HttpResponse::Created() } else { HttpResponse::Ok() };
    Ok(res.json(appended.message))
}

// ---- the sender -------------------------------------------------------------------------------

/// Backoff before try `attempt + 1`: 2, 4, 8… seconds, at most 10 minutes.
fn backoff(attempt: i64) -> Duration {
    let exp = u32::try_from(attempt.clamp(0, 10)).unwrap_or(10);
    Duration::from_secs((2u64 << exp).min(600))
}

/// How long a claimed reply is left to one node before another may send it.
const SEND_LEASE: Duration = Duration::from_secs(60);

/// Sends queued replies until the hub shuts down.
pub async fn run_sender(state: web::Data<AppState>) {
    loop {
        tokio::select! {
            () = state.shutdown.cancelled() => return,
            () = state.social.wake.notified() => {}
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
        let due = match state.store.claim_outbound(OffsetDateTime::now_utc(), SEND_LEASE, 100).await {
            Ok(due) => due,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the outbound queue");
                continue;
            }
        };
        for item in due {
            if state.shutdown.is_cancelled() {
                return;
            }
            let id = item.message.id;
            if let Err(e) = send_one(&state, item).await {
                tracing::error!(error = %e, message_id = %id, "cannot record a delivery");
            }
        }
    }
}

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

async fn send_one(state: &AppState, item: Outbound) -> Result<(), ApiError> {
    let now = OffsetDateTime::now_utc();
    let account_id = item.handle.split_once(':').map_or("", |(a, _)| a);
    let account = state.social.account(item.channel, account_id);
    let outcome = match (Platform::of(item.channel), plan(&state.config.social, account.as_deref(), &item, now)) {
        (_, Plan::Fail(reason)) => SendOutcome::Failed { reason },
        (None, Plan::Send(_)) => SendOutcome::Failed { reason: format!("{} is not a social channel", item.channel) },
        (Some(platform), Plan::Send(request)) => {
            let mut call = state.social.http.post(&request.url).json(&request.body);
            if let Some(token) = &request.bearer {
                call = call.bearer_auth(token);
            }
            match call.send().await {
                Ok(res) => {
                    let status = res.status().as_u16();
                    let body = res.bytes().await.unwrap_or_default();
                    social::outbound::classify(platform, status, &body)
                }
                Err(e) => SendOutcome::Retry { after_secs: None, reason: format!("network: {e}") },
            }
        }
    };
    let id = item.message.id;
    let message = match outcome {
        SendOutcome::Sent { external_id } => {
            state.store.record_delivery(id, DeliveryStatus::Sent, None, external_id.as_deref(), None).await?
        }
        SendOutcome::Retry { after_secs, reason } => {
            let tries = item.attempts + 1;
            if tries >= i64::from(state.config.social.send_attempts) {
                let error = format!("gave up after {tries} tries: {reason}");
                state.store.record_delivery(id, DeliveryStatus::Failed, Some(&error), None, None).await?
            } else {
                let wait = after_secs.map_or_else(|| backoff(item.attempts), Duration::from_secs);
                let at = now + wait;
                tracing::info!(message_id = %id, tries, reason = %reason, "send failed; will retry");
                state.store.record_delivery(id, DeliveryStatus::Queued, Some(&reason), None, Some(at)).await?
            }
        }
        SendOutcome::WindowClosed { reason } => {
            let error = format!("window_closed: {reason}");
            state.store.record_delivery(id, DeliveryStatus::Failed, Some(&error), None, None).await?
        }
        SendOutcome::Failed { reason } => {
            state.store.record_delivery(id, DeliveryStatus::Failed, Some(&reason), None, None).await?
        }
    };
    state
        .metrics
        .outbound
        .with_label_values(&[item.channel.as_str(), message.delivery_status.map_or("none", |s| s.as_str())])
        .inc();
    publish_update(state, message).await;
    Ok(())
}
