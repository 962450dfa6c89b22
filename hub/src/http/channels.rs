//! Channel administration (admin) and channel-specific sends (agent): the social platform
//! accounts, what the config file sets up for e-mail and SIP (read-only, secrets as set or not),
//! and WhatsApp templates.

use actix_web::{HttpResponse, get, post, web};
use schema::{
    AgentId, AuditAction, Channel, ChannelMessageId, ConversationId, Message, Role, SocialAccount, TargetKind, Template,
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::AppState;
use crate::config::{Config, ImapAfter, TlsMode};
use crate::error::Error;
use crate::http::auth::Staff;
use crate::http::views::ErrorBody;
use crate::services::audit::Event;
use crate::services::social::{NewAccount, Secrets};

/// Channel routes.
pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(list_accounts).service(create_account).service(configured).service(send_template);
}

/// What the API shows of an account: never its secrets, only which are set.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountView {
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
        secrets_set: secrets.names_set(),
        created_by: account.created_by,
        created_at: account.created_at,
        webhook_path,
    }
}

/// A platform account to register, with its secrets (which are never shown again).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAccountBody {
    /// `messenger`, `whatsapp` or `telegram`.
    channel: String,
    /// The page id, the phone-number id, or a name of your choice for a Telegram bot.
    account_id: String,
    name: String,
    /// Meta: the app secret that signs webhooks.
    app_secret: Option<String>,
    /// Meta: the token of the send API.
    access_token: Option<String>,
    /// Meta: the token of the webhook subscription handshake.
    verify_token: Option<String>,
    /// Telegram: the bot's token.
    bot_token: Option<String>,
    /// Telegram: the secret the Bot API sends in `X-Telegram-Bot-Api-Secret-Token`.
    webhook_secret: Option<String>,
}

impl std::fmt::Debug for NewAccountBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewAccountBody")
            .field("channel", &self.channel)
            .field("account_id", &self.account_id)
            .finish_non_exhaustive()
    }
}

impl From<NewAccountBody> for NewAccount {
    fn from(b: NewAccountBody) -> Self {
        Self {
            channel: b.channel,
            account_id: b.account_id,
            name: b.name,
            secrets: Secrets {
                app_secret: b.app_secret,
                access_token: b.access_token,
                verify_token: b.verify_token,
                bot_token: b.bot_token,
                webhook_secret: b.webhook_secret,
            },
        }
    }
}

/// Registers a Messenger page, a WhatsApp phone number or a Telegram bot, with its secrets
/// (admin).
#[utoipa::path(
    tag = "channels",
    security(("bearer" = ["admin"])),
    request_body = NewAccountBody,
    responses(
        (status = 201, body = AccountView),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 409, description = "the account exists", body = ErrorBody),
        (status = 422, description = "a field does not validate, or a required secret is missing", body = ErrorBody)
    )
)]
#[post("/channels/social")]
pub async fn create_account(
    state: web::Data<AppState>,
    staff: Staff,
    body: web::Json<NewAccountBody>,
) -> Result<HttpResponse, Error> {
    let admin = staff.require(Role::Admin)?;
    staff.require_fresh_auth(&state)?;
    let (account, secrets) = state.social.add_account(admin.id, body.into_inner().into()).await?;
    let added = view(&account, &secrets);
    // The view names the secrets that are set, never their values.
    let event = Event::new(AuditAction::SocialAccountAdded).target(TargetKind::SocialAccount, account.id).after(&added);
    state.audit.record(&staff.actor(), event).await?;
    Ok(HttpResponse::Created().json(added))
}

/// The platform accounts, without their secrets (admin).
#[utoipa::path(
    tag = "channels",
    security(("bearer" = ["admin"])),
    responses((status = 200, body = Vec<AccountView>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody))
)]
#[get("/channels/social")]
pub async fn list_accounts(state: web::Data<AppState>, staff: Staff) -> Result<HttpResponse, Error> {
    staff.require(Role::Admin)?;
    let views: Vec<AccountView> = state.social.accounts().await?.iter().map(|(a, s)| view(a, s)).collect();
    Ok(HttpResponse::Ok().json(views))
}

/// The e-mail and voice channels as the config file sets them up (they are changed there, and
/// take effect at the next start). Secrets are never shown: only whether they are set.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConfiguredChannels {
    email: EmailChannelView,
    sip: SipChannelView,
}

/// The `[email]` section.
#[derive(Debug, Serialize, ToSchema)]
pub struct EmailChannelView {
    /// Where this is configured: `[email]` in the config file (or `SWITCHBOARD_EMAIL__*`).
    configured_in: &'static str,
    enabled: bool,
    /// The SMTP listener's address, when it runs.
    smtp_listener: Option<String>,
    /// Single addresses mail is accepted for.
    addresses: Vec<String>,
    /// Domains every address of which is accepted.
    local_domains: Vec<String>,
    /// Replies come from this address.
    from_address: String,
    relay: Option<RelayView>,
    imap: Vec<ImapView>,
}

/// The relay replies go through.
#[derive(Debug, Serialize, ToSchema)]
pub struct RelayView {
    host: String,
    port: u16,
    tls: &'static str,
    username: Option<String>,
    password_set: bool,
}

/// One `[[email.imap]]` mailbox.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImapView {
    name: String,
    address: String,
    host: String,
    port: u16,
    tls: &'static str,
    username: String,
    folder: String,
    /// `seen`, `delete` or `move`.
    after: &'static str,
    /// Whether a password (or a password file) is set.
    password_set: bool,
}

/// The `[sip]` section.
#[derive(Debug, Serialize, ToSchema)]
pub struct SipChannelView {
    configured_in: &'static str,
    enabled: bool,
    realm: String,
    udp: String,
    tcp: String,
    /// The support numbers callers dial, with the extra skills a call to each needs.
    support_numbers: Vec<SupportNumberView>,
}

/// A support number.
#[derive(Debug, Serialize, ToSchema)]
pub struct SupportNumberView {
    number: String,
    skills: Vec<String>,
}

const fn tls_name(tls: TlsMode) -> &'static str {
    match tls {
        TlsMode::None => "none",
        TlsMode::Starttls => "starttls",
        TlsMode::Implicit => "implicit",
    }
}

fn configured_channels(config: &Config) -> ConfiguredChannels {
    let email = &config.email;
    let relay = &email.relay;
    ConfiguredChannels {
        email: EmailChannelView {
            configured_in: "[email]",
            enabled: email.enabled,
            smtp_listener: (email.enabled && email.smtp_enabled).then(|| email.smtp_bind.to_string()),
            addresses: email.addresses.clone(),
            local_domains: email.local_domains.clone(),
            from_address: email.from_address.clone(),
            relay: (!relay.host.is_empty()).then(|| RelayView {
                host: relay.host.clone(),
                port: relay.port,
                tls: tls_name(relay.tls),
                username: relay.username.clone(),
                password_set: relay.password.is_some() || relay.password_file.is_some(),
            }),
            imap: email
                .imap
                .iter()
                .map(|m| ImapView {
                    name: if m.name.is_empty() { m.username.clone() } else { m.name.clone() },
                    address: m.address.clone(),
                    host: m.host.clone(),
                    port: m.port,
                    tls: tls_name(m.tls),
                    username: m.username.clone(),
                    folder: m.folder.clone(),
                    after: match m.after {
                        ImapAfter::Seen => "seen",
                        ImapAfter::Delete => "delete",
                        ImapAfter::Move => "move",
                    },
                    password_set: m.password.is_some() || m.password_file.is_some(),
                })
                .collect(),
        },
        sip: SipChannelView {
            configured_in: "[sip]",
            enabled: config.sip.enabled,
            realm: config.sip.realm.clone(),
            udp: config.sip.udp.clone(),
            tcp: config.sip.tcp.clone(),
            support_numbers: config
                .sip
                .support_numbers
                .iter()
                .map(|(number, skills)| SupportNumberView { number: number.clone(), skills: skills.clone() })
                .collect(),
        },
    }
}

/// The e-mail addresses, IMAP mailboxes and SIP support numbers the config file sets up, without
/// secrets (admin).
#[utoipa::path(
    tag = "channels",
    security(("bearer" = ["admin"])),
    responses((status = 200, body = ConfiguredChannels), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody))
)]
#[get("/channels/configured")]
pub async fn configured(state: web::Data<AppState>, staff: Staff) -> Result<HttpResponse, Error> {
    staff.require(Role::Admin)?;
    Ok(HttpResponse::Ok().json(configured_channels(&state.config)))
}

/// An approved WhatsApp template to send.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateBody {
    /// The template's name: letters, digits and `_`.
    name: String,
    /// Its language code, e.g. `en_US` or `es`.
    language: String,
    /// Optional idempotency key.
    client_id: Option<String>,
}

/// Sends an approved WhatsApp template, the only thing WhatsApp delivers once 24 hours have
/// passed since the customer last wrote (agent).
#[utoipa::path(
    tag = "channels",
    security(("bearer" = ["agent"])),
    params(("id" = ConversationId, Path, description = "a WhatsApp conversation")),
    request_body = TemplateBody,
    responses(
        (status = 201, description = "queued for WhatsApp", body = Message),
        (status = 200, description = "this `client_id` was stored before", body = Message),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, description = "not a WhatsApp conversation, or a malformed name or language", body = ErrorBody)
    )
)]
#[post("/conversations/{id}/template")]
pub async fn send_template(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<ConversationId>,
    body: web::Json<TemplateBody>,
) -> Result<HttpResponse, Error> {
    let agent = staff.require(Role::Agent)?;
    let TemplateBody { name, language, client_id } = body.into_inner();
    let client_id = client_id.as_deref().map(str::parse::<ChannelMessageId>).transpose()?;
    let appended = state.social.send_template(agent, *id, Template { name, language }, client_id).await?;
    let mut res = if appended.created { HttpResponse::Created() } else { HttpResponse::Ok() };
    Ok(res.json(appended.message))
}
