//! Configuration: built-in defaults, then a TOML file, then `SWITCHBOARD_*` environment
//! variables (`__` separates sections: `SWITCHBOARD_DATABASE__URL`). See `docs/configuration.md`.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;

mod care;
pub use care::{AdjustmentLimits, CareConfig, MAX_REASON_CODE, ReasonCode};
mod reports;
pub use reports::ReportsConfig;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// The whole configuration of a hub node.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub webchat: WebchatConfig,
    /// The customer chat widget (`[widget]`): look and allowed origins.
    pub widget: WidgetSettings,
    pub staff: StaffConfig,
    /// Single sign-on with an OpenID Connect provider (`[sso]`).
    pub sso: SsoConfig,
    pub routing: RoutingConfig,
    pub social: SocialConfig,
    pub secrets: SecretsConfig,
    pub bot: BotConfig,
    /// The SIP voice channel (`[sip]`).
    pub sip: SipSettings,
    pub email: EmailConfig,
    /// The retention job (`[retention]`); how long each kind is kept is a console setting.
    pub retention: RetentionConfig,
    pub log: LogConfig,
    /// The audit trail (`[audit]`).
    pub audit: AuditConfig,
    pub demo: DemoConfig,
    /// Who may read `/metrics` (`[metrics]`).
    pub metrics: MetricsConfig,
    /// The customer-care workflows (`[care]`): reason codes and adjustment limits.
    pub care: CareConfig,
    /// Self-service through the bot (`[selfservice]`): one-time codes, live account answers.
    pub selfservice: SelfServiceConfig,
    /// The incident feed and its Alertmanager webhook (`[outages]`).
    pub outages: OutagesConfig,
    /// Customer satisfaction surveys after a resolution (`[csat]`).
    pub csat: CsatConfig,
    /// The operator's billing system (`[bss]`): embedded or a TM Forum Open API endpoint, and
    /// the timeouts, retries, circuit breaker and cache around it.
    pub bss: BssConfig,
    /// Reports (`[reports]`): the default time zone.
    pub reports: ReportsConfig,
    pub bootstrap_admin: Option<BootstrapAdmin>,
    /// The event bus between the stored changes and the sockets (`[bus]`): in-process, or
    /// through Redis for several nodes.
    pub bus: BusConfig,
}

/// Which event bus a node uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BusKind {
    /// In-process: one node (the default, and the single-binary mode).
    #[default]
    Local,
    /// A Redis stream shared by every node.
    Redis,
}

/// `[bus]`: how events reach the sockets.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BusConfig {
    pub kind: BusKind,
    /// Redis to use when `kind = "redis"`: `redis://[:password@]host:port/db` (or `rediss://`,
    /// `redis+unix:///path`). A secret: it may hold a password.
    pub url: Option<Secret>,
    /// A file holding that URL instead (e.g. `/run/secrets/redis-url`).
    pub url_file: Option<String>,
    /// The stream every node writes to and reads; nodes of one deployment share it.
    pub stream: String,
    /// About how many events the stream keeps (`XADD MAXLEN ~`): a node whose reader falls this
    /// far behind resyncs its sockets. 1,000 to 10,000,000.
    pub max_len: u64,
}

impl Default for BusConfig {
    fn default() -> Self {
        Self { kind: BusKind::Local, url: None, url_file: None, stream: "switchboard:events".into(), max_len: 100_000 }
    }
}

impl BusConfig {
    fn check(&self) -> Result<(), String> {
        if !(1_000..=10_000_000).contains(&self.max_len) {
            return Err(format!("bus.max_len is {}: it must be from 1000 to 10000000", self.max_len));
        }
        if self.stream.is_empty() || self.stream.len() > 200 || self.stream.chars().any(char::is_control) {
            return Err("bus.stream must be 1 to 200 characters, without control characters".into());
        }
        if self.kind == BusKind::Redis && self.url.is_none() && self.url_file.is_none() {
            return Err("bus.kind is \"redis\": set bus.url (or bus.url_file)".into());
        }
        Ok(())
    }
}

/// A secret from the configuration (a password, a token, a key). Its `Debug` and `Display` say
/// `[redacted]`, and it serializes as `"[redacted]"` too, so printing or dumping a `Config`
/// never shows it; the value is read with [`Secret::expose`] where it is used.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

const REDACTED: &str = "[redacted]";

impl Secret {
    /// The secret itself.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// `value`, or else the contents of `file` (without its final line break): how a secret can
    /// be kept out of the config file (`*_file` keys pointing at e.g. `/run/secrets/...`; every
    /// key can also come from a `SWITCHBOARD_*` variable). Both set is an error, so it is clear
    /// which one is used.
    ///
    /// # Errors
    /// Both are set, or the file cannot be read.
    pub fn from_value_or_file(value: Option<&Self>, file: Option<&str>, key: &str) -> Result<Option<Self>, String> {
        match (value, file) {
            (Some(_), Some(_)) => Err(format!("set one of {key} and {key}_file, not both")),
            (Some(v), None) => Ok(Some(v.clone())),
            (None, Some(file)) => std::fs::read_to_string(file)
                .map(|v| Some(Self(v.trim_end_matches(['\r', '\n']).to_owned())))
                .map_err(|e| format!("{key}_file {file:?}: {e}")),
            (None, None) => Ok(None),
        }
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Self(s.to_owned())
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Self(s)
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(REDACTED)
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(REDACTED)
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(REDACTED)
    }
}

/// `[csat]`: the satisfaction survey sent when a ticket is resolved.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CsatConfig {
    /// Whether resolutions are surveyed at all.
    pub enabled: bool,
    /// The channels whose conversations are surveyed (`voice`: a follow-up to the caller's
    /// verified e-mail address, or SMS with `sms_after_calls`).
    pub channels: Vec<schema::Channel>,
    /// The conversation languages surveyed (the question is in that language).
    pub languages: Vec<schema::Language>,
    /// How long a survey can be answered (and its e-mail link used), in hours (1 to 2160).
    pub expiry_hours: u32,
    /// The hub's public address (`https://care.example.com`), for the one-click links in
    /// e-mails. Empty: e-mail customers answer by replying with a number, and calls get no
    /// e-mail follow-up.
    pub public_url: String,
    /// After a call, with no verified e-mail address, send the survey by SMS to a verified
    /// phone number (needs `[selfservice.sms]`).
    pub sms_after_calls: bool,
}

impl Default for CsatConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            channels: schema::Channel::ALL.to_vec(),
            languages: schema::Language::ALL.to_vec(),
            expiry_hours: 168,
            public_url: String::new(),
            sms_after_calls: false,
        }
    }
}

impl CsatConfig {
    /// Checks the values.
    ///
    /// # Errors
    /// An expiry out of range, or a public address that is not `http(s)://`.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=2160).contains(&self.expiry_hours) {
            return Err("csat.expiry_hours must be 1 to 2160".into());
        }
        let url = self.public_url.trim();
        if !(url.is_empty() || url.starts_with("https://") || url.starts_with("http://")) {
            return Err("csat.public_url must start with https:// (or http://)".into());
        }
        Ok(())
    }
}

/// `[outages]`: the incident feed, its Alertmanager webhook, and the customers it reaches.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OutagesConfig {
    /// The bearer token Alertmanager sends (`http_config.authorization.credentials`). Unset: the
    /// webhook answers 503 (`unavailable`) and nothing is read.
    pub alertmanager_token: Option<Secret>,
    /// Largest webhook body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Most alerts in one webhook call (Alertmanager's `max_alerts`).
    pub max_alerts: usize,
    /// Webhook calls accepted per minute per client address (burst: a third of it, at least 5).
    pub webhook_rate_per_min: u32,
    /// Open conversations looked at, at most, when an incident opens or resolves (newest
    /// activity first), to tell those in the area.
    pub notify_scan_limit: u32,
    /// How alert labels and annotations map to an incident (`[outages.alertmanager]`).
    pub alertmanager: AlertmanagerMapping,
}

impl Default for OutagesConfig {
    fn default() -> Self {
        Self {
            alertmanager_token: None,
            max_body_bytes: 256 * 1024,
            max_alerts: 200,
            webhook_rate_per_min: 120,
            notify_scan_limit: 5_000,
            alertmanager: AlertmanagerMapping::default(),
        }
    }
}

/// `[outages.alertmanager]`: which labels and annotations of an alert say what.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertmanagerMapping {
    /// The label with the affected postcodes (several: separated by commas or spaces).
    pub area_label: String,
    /// The label with the affected radio cell ids (several: separated by commas or spaces).
    pub cells_label: String,
    /// The label with the affected services (`mobile`, `fibre`, `tv`, `landline`; several:
    /// separated by commas or spaces).
    pub service_label: String,
    /// The label with the alert's severity.
    pub severity_label: String,
    /// Severities from least to most severe; an alert's severity must be one of them.
    pub severities: Vec<String>,
    /// Alerts less severe than this (or without the severity label) are acknowledged and
    /// ignored; empty: every alert counts.
    pub severity_min: String,
    /// The annotation with the public title (else the `alertname` label); `<name>_es`,
    /// `<name>_pt`, `<name>_en` give it per language.
    pub title_annotation: String,
    /// The annotation with the public description (per language as above).
    pub description_annotation: String,
    /// The annotation with the expected end (RFC 3339), if any.
    pub eta_annotation: String,
}

impl Default for AlertmanagerMapping {
    fn default() -> Self {
        Self {
            area_label: "postcode".into(),
            cells_label: "cell".into(),
            service_label: "service".into(),
            severity_label: "severity".into(),
            severities: vec!["info".into(), "warning".into(), "critical".into()],
            severity_min: "warning".into(),
            title_annotation: "summary".into(),
            description_annotation: "description".into(),
            eta_annotation: "eta".into(),
        }
    }
}

/// `[metrics]`: who may read `/metrics`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// The bearer token Prometheus sends (`Authorization: Bearer ...`, its `bearer_token_file`).
    /// Unset: only a signed-in supervisor's or admin's session reads the metrics.
    pub token: Option<Secret>,
    /// A file holding that token instead (e.g. `/run/secrets/metrics-token`).
    pub token_file: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address and port to listen on.
    pub bind: SocketAddr,
    /// HTTP worker threads; 0 means one per CPU core.
    pub workers: usize,
    /// Connections (HTTP and websocket) one worker keeps open at most.
    pub max_connections_per_worker: usize,
    /// Pending connections the kernel queues before accepting.
    pub backlog: u32,
    /// Seconds to let in-flight requests and sockets finish on SIGTERM.
    pub shutdown_timeout_secs: u64,
    /// Seconds between websocket heartbeats: a ping, and for staff sockets a re-check of the
    /// session (a signed-out or disabled member's socket closes with 4401 at the next one). A
    /// socket not heard from for three heartbeats is closed. At least 1.
    pub heartbeat_secs: u64,
    /// Websockets (staff and customer) one client address may hold open at once; more: `429`
    /// with `Retry-After` instead of the upgrade. 0: no cap. The address is the peer's, or
    /// `webchat.client_address_header`'s behind a proxy.
    pub websockets_per_address: u32,
    /// Frames a second one websocket may send (bursts of twice as many); faster: the socket is
    /// closed with 1008 (policy violation). 0: no limit.
    pub websocket_frames_per_sec: u32,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            workers: 0,
            max_connections_per_worker: 50_000,
            backlog: 4096,
            shutdown_timeout_secs: 30,
            heartbeat_secs: 30,
            websockets_per_address: 200,
            websocket_frames_per_sec: 20,
        }
    }
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `sqlite://PATH` (created if missing) or `postgres://USER@HOST:PORT/DB`. Its password is
    /// never printed nor serialized.
    #[serde(serialize_with = "redacted_url")]
    pub url: String,
    /// Pooled connections (readers, for SQLite).
    pub max_connections: u32,
    /// SQLite only: `full` (the default) flushes every commit to the disk before a message is
    /// acknowledged, so it survives a power cut; `normal` survives a crash of the hub but a power
    /// cut or an OS crash can lose the last acknowledged messages (faster; see BENCHMARKS.md).
    pub sqlite_synchronous: schema::SqliteSynchronous,
}

fn redacted_url<S: serde::Serializer>(url: &str, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&schema::redact(url))
}

/// The URL's password (`postgres://user:PASSWORD@...`) is never printed.
impl std::fmt::Debug for DatabaseConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseConfig")
            .field("url", &schema::redact(&self.url))
            .field("max_connections", &self.max_connections)
            .field("sqlite_synchronous", &self.sqlite_synchronous)
            .finish()
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: "sqlite://data/switchboard.db".into(),
            max_connections: 16,
            sqlite_synchronous: schema::SqliteSynchronous::Full,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebchatConfig {
    /// How long a visitor token stays valid, in seconds.
    pub token_ttl_secs: u64,
    /// Longest message text, in characters (longer: 413, or an error frame on a socket).
    pub max_message_chars: usize,
    /// Largest websocket frame, in bytes (larger: the socket is closed with 1009).
    pub max_frame_bytes: usize,
    /// Largest file a customer sends, in bytes (larger: 413).
    pub max_attachment_bytes: usize,
    /// Most files one chat holds (more: 429).
    pub max_attachments_per_conversation: u32,
    /// New chats and file uploads one client address may make per minute (more: 429).
    pub opens_per_minute_per_address: u32,
    /// Megabytes of files one client address may upload per hour (more: 429).
    pub upload_megabytes_per_hour_per_address: u32,
    /// Reading pictures for card numbers (OCR with Tesseract): `required` (the default) refuses
    /// a picture it cannot read, so no card number is kept unread; `auto` keeps such a picture
    /// unread (with a warning in the log); `off` never reads pictures.
    pub picture_ocr: PictureOcr,
    /// The Tesseract command (Debian: `apt-get install tesseract-ocr`).
    pub ocr_command: String,
    /// A header holding the client's address, set by a proxy in front of the hub (e.g.
    /// `X-Forwarded-For`: its last entry is taken). Unset: the connection's peer address. Set it
    /// only behind a proxy that writes it, or clients can pick their own address.
    pub client_address_header: Option<String>,
    /// Secret that signs visitor tokens. Unset: one is generated and kept in the database
    /// (sealed with the secrets key), so every node sharing the database shares it.
    pub token_secret: Option<Secret>,
    /// Seconds after the last customer socket of a chat closed (without `leave`) when a ticket
    /// no agent has answered yet is closed as abandoned (1 to 86 400). The clock is each node's:
    /// a customer who reconnects to another node within it is still abandoned by the first
    /// (docs/configuration.md).
    pub abandon_after_secs: u64,
}

/// Longest `webchat.abandon_after_secs`: a day.
pub const MAX_ABANDON_AFTER_SECS: u64 = 86_400;

/// Whether pictures customers send are read for card numbers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PictureOcr {
    Auto,
    #[default]
    Required,
    Off,
}

impl Default for WebchatConfig {
    fn default() -> Self {
        Self {
            token_ttl_secs: 24 * 3600,
            max_message_chars: 4000,
            max_frame_bytes: 64 * 1024,
            max_attachment_bytes: 5 * 1024 * 1024,
            max_attachments_per_conversation: 20,
            opens_per_minute_per_address: 60,
            upload_megabytes_per_hour_per_address: 200,
            picture_ocr: PictureOcr::Required,
            ocr_command: "tesseract".to_owned(),
            client_address_header: None,
            token_secret: None,
            abandon_after_secs: 120,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StaffConfig {
    /// A staff session ends after this many seconds without activity.
    pub session_idle_secs: u64,
    /// A staff session ends this many seconds after sign-in, whatever the activity.
    pub session_max_secs: u64,
    /// Sensitive actions (role changes, credentials, rule publication, …) need a sign-in or a
    /// step-up (`POST /api/v1/auth/step-up`) at most this many seconds old; older: 401
    /// `step_up_required`.
    pub step_up_secs: u64,
    /// The roles whose members must use two-step sign-in (TOTP) until an administrator saves
    /// another policy in the console (the saved one wins). The demo data saves "none".
    pub mfa_required_roles: Vec<schema::Role>,
    /// Wrong passwords (or codes) in a row for one account, or twice as many from one address,
    /// before sign-in is refused (429) for a while; the wait doubles with each further failure.
    pub login_failures_before_lock: u32,
    /// Longest wait, in seconds, after repeated sign-in failures.
    pub login_lock_max_secs: u64,
    /// Sign-in attempts one client address may make per minute (more: 429).
    pub login_attempts_per_minute_per_address: u32,
    /// Password checks (argon2, 19 MiB each) running at once at most; more wait a moment, then
    /// get 503. 0: twice the number of CPU cores.
    pub password_checks_at_once: usize,
}

impl Default for StaffConfig {
    fn default() -> Self {
        Self {
            session_idle_secs: 15 * 60,
            session_max_secs: 12 * 3600,
            step_up_secs: 300,
            mfa_required_roles: vec![schema::Role::Supervisor, schema::Role::Admin],
            login_failures_before_lock: 5,
            login_lock_max_secs: 15 * 60,
            login_attempts_per_minute_per_address: 30,
            password_checks_at_once: 0,
        }
    }
}

/// The `[sso]` section: staff sign in through an OpenID Connect provider (authorization code
/// with PKCE), their roles taken from one of the provider's claims.
#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SsoConfig {
    /// Offer single sign-on.
    pub enabled: bool,
    /// The provider's issuer URL, exactly as its discovery document names it
    /// (`https://login.example/realms/staff`); `/.well-known/openid-configuration` is read from it.
    pub issuer: String,
    /// The name the sign-in page shows ("Sign in with …").
    pub provider_name: String,
    /// This hub's client id at the provider.
    pub client_id: String,
    /// The client secret, or `client_secret_file` to read it from (kept out of the config file;
    /// or set `SWITCHBOARD_SSO__CLIENT_SECRET`). Neither: a public client (PKCE only).
    pub client_secret: Option<String>,
    pub client_secret_file: Option<String>,
    /// The hub's address as browsers reach it (`https://switchboard.example`): the provider sends
    /// people back to `{public_url}/api/v1/auth/sso/callback`, which must be registered there.
    pub public_url: String,
    /// Scopes asked for besides `openid`.
    pub scopes: Vec<String>,
    /// The claim that lists a person's groups or roles (`groups`, `roles`, or a dotted path into
    /// nested objects such as `realm_access.roles`): a string or a list of strings. Read from the
    /// ID token, else from the user-info endpoint.
    pub role_claim: String,
    /// Claim values → Switchboard roles (`agent`, `supervisor`, `bot_trainer`, `admin`,
    /// `auditor`), e.g. `"support-agents" = ["agent"]`. Someone with no mapped value is refused.
    pub roles: BTreeMap<String, Vec<String>>,
    /// Create a staff member at the first sign-in of someone unknown (with a mapped role).
    /// Off: only people already linked, or whose verified e-mail address is a staff member's,
    /// get in.
    pub provision: bool,
    /// Whether staff may still sign in with a password. Off: `POST /api/v1/auth/login` answers
    /// 403 `local_passwords_disabled`, except for the `break_glass` accounts.
    pub local_passwords: bool,
    /// E-mail addresses of admins who may still sign in with their password when
    /// `local_passwords` is off (for when the provider is down). Only members holding the admin
    /// role are let in this way.
    pub break_glass: Vec<String>,
    /// Seconds a sign-in may take at the provider (the state's lifetime).
    pub login_timeout_secs: u64,
    /// Sign-ins under way at most (more: 429).
    pub max_pending_logins: u32,
}

impl Default for SsoConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            issuer: String::new(),
            provider_name: "SSO".into(),
            client_id: String::new(),
            client_secret: None,
            client_secret_file: None,
            public_url: String::new(),
            scopes: vec!["email".into(), "profile".into()],
            role_claim: "groups".into(),
            roles: BTreeMap::new(),
            provision: true,
            local_passwords: true,
            break_glass: Vec::new(),
            login_timeout_secs: 600,
            max_pending_logins: 10_000,
        }
    }
}

impl std::fmt::Debug for SsoConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SsoConfig")
            .field("enabled", &self.enabled)
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret.as_ref().map(|_| "***"))
            .field("client_secret_file", &self.client_secret_file)
            .field("public_url", &self.public_url)
            .field("role_claim", &self.role_claim)
            .field("roles", &self.roles)
            .field("provision", &self.provision)
            .field("local_passwords", &self.local_passwords)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionConfig {
    /// Whether this node runs the retention job (every node may: batches do not overlap badly,
    /// each purge is idempotent).
    pub enabled: bool,
    /// Minutes between runs; the first run is one interval after start-up. At least 1.
    pub interval_minutes: u64,
    /// Records of each data kind changed at most per run, so a run never holds the store long.
    pub batch: u32,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self { enabled: true, interval_minutes: 60, batch: 500 }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RoutingConfig {
    /// Seconds an agent has to accept an offered ticket before it goes to the next agent.
    pub offer_timeout_secs: u64,
    /// Seconds a node without the `router` lease waits for the router's answer to what it
    /// forwards (several nodes): long enough to cover a takeover.
    pub forward_timeout_secs: u64,
    /// Offers rejected or missed in a row before an agent is set away.
    pub max_missed_offers: u8,
    /// Waiting time, in seconds, worth one priority level (aging).
    pub aging_secs_per_level: u64,
    /// How often the routing clock runs (offer timeouts, escalations), in milliseconds.
    pub tick_ms: u64,
}

impl Default for RoutingConfig {
    fn default() -> Self {
        Self {
            offer_timeout_secs: 20,
            forward_timeout_secs: 10,
            max_missed_offers: 3,
            aging_secs_per_level: 120,
            tick_ms: 500,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SocialConfig {
    /// Meta's Graph API (Messenger and WhatsApp): base URL and version.
    pub graph_api_url: String,
    pub graph_api_version: String,
    /// Telegram's Bot API base URL.
    pub telegram_api_url: String,
    /// Largest webhook body accepted, in bytes.
    pub max_webhook_bytes: usize,
    /// Webhook requests per second accepted per platform account (burst: 4x).
    pub account_rate_per_sec: u32,
    /// Messages per minute accepted per sender (burst: a third of it, at least 5).
    pub sender_rate_per_min: u32,
    /// Tries to send a reply before it is marked failed.
    pub send_attempts: u32,
}

impl Default for SocialConfig {
    fn default() -> Self {
        Self {
            graph_api_url: "https://graph.facebook.com".into(),
            graph_api_version: "v21.0".into(),
            telegram_api_url: "https://api.telegram.org".into(),
            max_webhook_bytes: 1024 * 1024,
            account_rate_per_sec: 100,
            sender_rate_per_min: 60,
            send_attempts: 8,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BotConfig {
    /// Whether new conversations are answered by the bot first.
    pub enabled: bool,
    /// The sentence-embedding model's folder (`scripts/fetch-model` fills it). Missing: the bot
    /// searches by keywords alone, and `/readyz` says so.
    pub model_dir: String,
    /// With the embedding model: the answerability probability (0..1) from which the bot answers;
    /// below it, it asks a clarifying question or hands over (see docs/design-notes.md).
    pub answer_threshold: f32,
    /// Failed answers in a row (the customer says an answer did not help) before a hand-over.
    pub max_failed_answers: u32,
}

impl Default for BotConfig {
    fn default() -> Self {
        let defaults = bot::BotConfig::default();
        Self {
            enabled: true,
            model_dir: "models/all-MiniLM-L6-v2".into(),
            answer_threshold: defaults.answer_threshold,
            max_failed_answers: defaults.max_failed_answers,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmailConfig {
    /// Run the e-mail channel: the SMTP listener, the IMAP mailboxes, and replies through the
    /// relay. `serve --demo` turns it on.
    pub enabled: bool,
    /// Run the SMTP listener (off: mail comes only from the IMAP mailboxes).
    pub smtp_enabled: bool,
    /// Where the SMTP listener accepts mail.
    pub smtp_bind: SocketAddr,
    /// A PEM certificate chain and its private key: the listener offers STARTTLS with them.
    /// Unset: no STARTTLS (put the hub behind an MTA that does TLS).
    pub tls_cert_file: Option<String>,
    pub tls_key_file: Option<String>,
    /// Our host name, in the SMTP greeting.
    pub hostname: String,
    /// Domains for which every local part is accepted.
    pub local_domains: Vec<String>,
    /// Single addresses accepted (`support@telco.example`), with any `+tag`.
    pub addresses: Vec<String>,
    /// The largest mail accepted, in bytes (larger: `552`, nothing stored).
    pub max_message_bytes: usize,
    /// An attachment larger than this is listed on the message but its bytes are not kept.
    pub max_attachment_bytes: usize,
    /// Once a mail's kept attachments add up to this, further ones are listed only.
    pub max_total_attachment_bytes: usize,
    /// Concurrent SMTP sessions.
    pub max_connections: usize,
    /// Concurrent SMTP sessions from one client IP address (more: `421 4.7.0`).
    pub max_sessions_per_ip: usize,
    /// The whole DATA phase of one mail (from `354` to the final dot), in seconds: a client
    /// that trickles its mail slower gets `451 4.4.2` and is disconnected.
    pub data_deadline_secs: u64,
    /// Mails per minute accepted per sender address *from one client IP* (burst: a third of it,
    /// at least 5); more: `451 4.7.1`. Keyed on the peer too, so a forger writing someone's
    /// `From:` cannot use up that person's budget from elsewhere.
    pub sender_rate_per_min: u32,
    /// Mails per minute accepted from one client IP address, whatever the sender (burst: a
    /// third of it, at least 5); more: `451 4.7.1`.
    pub peer_rate_per_min: u32,
    /// The authserv-id of the receiving MTA whose `Authentication-Results` headers (SPF, DKIM,
    /// DMARC) are trusted; empty: none. A mail those results fail is not threaded into an
    /// existing conversation (see docs/email.md).
    pub trusted_authserv_id: String,
    /// Mail without trusted `Authentication-Results` is treated like mail that fails them.
    pub require_authentication: bool,
    /// The address replies come from (required when enabled).
    pub from_address: String,
    /// The display name of replies.
    pub from_name: String,
    /// The domain of our Message-IDs; empty: the domain of `from_address`.
    pub message_id_domain: String,
    /// The relay (smart host) replies are sent through.
    pub relay: RelayConfig,
    /// Tries to send a reply before it is marked failed.
    pub send_attempts: u32,
    /// The wait before the second try, in milliseconds; doubled at each try, at most 10 minutes.
    pub retry_backoff_ms: u64,
    /// Mailboxes on existing IMAP servers, polled for new mail (`[[email.imap]]`).
    pub imap: Vec<ImapConfig>,
}

impl Default for EmailConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            smtp_enabled: true,
            smtp_bind: SocketAddr::from(([127, 0, 0, 1], 2525)),
            tls_cert_file: None,
            tls_key_file: None,
            hostname: "localhost".into(),
            local_domains: Vec::new(),
            addresses: Vec::new(),
            max_message_bytes: 25 << 20,
            max_attachment_bytes: 10 << 20,
            max_total_attachment_bytes: 25 << 20,
            max_connections: 1000,
            max_sessions_per_ip: 20,
            data_deadline_secs: 600,
            sender_rate_per_min: 30,
            peer_rate_per_min: 300,
            trusted_authserv_id: String::new(),
            require_authentication: false,
            from_address: String::new(),
            from_name: "Support".into(),
            message_id_domain: String::new(),
            relay: RelayConfig::default(),
            send_attempts: 8,
            retry_backoff_ms: 2000,
            imap: Vec::new(),
        }
    }
}

impl EmailConfig {
    /// The demo's mailbox (`support@demo.switchboard.local`), where nothing else is set.
    pub fn demo_defaults(&mut self) {
        self.enabled = true;
        if self.addresses.is_empty() && self.local_domains.is_empty() {
            self.addresses = vec!["support@demo.switchboard.local".into()];
        }
        if self.from_address.is_empty() {
            self.from_address = "support@demo.switchboard.local".into();
            self.from_name = "Switchboard Demo Support".into();
        }
        if self.hostname == "localhost" {
            self.hostname = "mx.demo.switchboard.local".into();
        }
    }
}

/// TLS towards a mail server (the relay, an IMAP server).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// Plain text: only for a server on localhost or a trusted network.
    None,
    /// STARTTLS, required (SMTP submission 587, IMAP 143).
    Starttls,
    /// TLS from the first byte (SMTP 465, IMAP 993).
    Implicit,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RelayConfig {
    /// The relay's host name; empty: no relay, replies fail with a reason saying so.
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    /// User name and password, if the relay wants them.
    pub username: Option<String>,
    pub password: Option<Secret>,
    /// A file holding the password instead (kept out of the config file).
    pub password_file: Option<String>,
    /// Seconds per SMTP command.
    pub timeout_secs: u64,
    /// Pooled connections to the relay.
    pub max_connections: u32,
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            host: String::new(),
            port: 587,
            tls: TlsMode::Starttls,
            username: None,
            password: None,
            password_file: None,
            timeout_secs: 30,
            max_connections: 4,
        }
    }
}

/// What is done on the IMAP server with a mail once it is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImapAfter {
    /// Mark it read (`\Seen`); it stays in the folder.
    Seen,
    /// Delete (and expunge) it.
    Delete,
    /// Move it to `move_to`.
    Move,
}

/// One mailbox on an existing IMAP server (`[[email.imap]]`).
#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ImapConfig {
    /// A name for logs and metrics; empty: the user name.
    pub name: String,
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    /// A PEM file of certificate authorities to trust besides the public ones (a private CA).
    pub ca_file: Option<String>,
    pub username: String,
    /// The password, or `password_file` to read it from (kept out of the config file).
    pub password: Option<Secret>,
    pub password_file: Option<String>,
    /// The folder mail is taken from.
    pub folder: String,
    /// The address that delivers to this mailbox (`support@telco.example`).
    pub address: String,
    /// What happens to a stored mail on the server.
    pub after: ImapAfter,
    /// The folder for `after = "move"`.
    pub move_to: String,
    /// Seconds between polls.
    pub poll_secs: u64,
    /// Mails taken per poll at most.
    pub batch: usize,
    /// Seconds to wait for the server at any step.
    pub timeout_secs: u64,
}

impl std::fmt::Debug for ImapConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImapConfig")
            .field("name", &self.name)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("username", &self.username)
            .field("folder", &self.folder)
            .finish_non_exhaustive()
    }
}

impl Default for ImapConfig {
    fn default() -> Self {
        Self {
            name: String::new(),
            host: String::new(),
            port: 993,
            tls: TlsMode::Implicit,
            ca_file: None,
            username: String::new(),
            password: None,
            password_file: None,
            folder: "INBOX".into(),
            address: String::new(),
            after: ImapAfter::Seen,
            move_to: String::new(),
            poll_secs: 30,
            batch: 50,
            timeout_secs: 30,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SecretsConfig {
    /// The key that encrypts stored secrets: 32 bytes, base64. Unset: read from `key_file`.
    pub key: Option<Secret>,
    /// Where the key is kept when `key` is unset; created with a new key if missing.
    pub key_file: String,
}

impl Default for SecretsConfig {
    fn default() -> Self {
        Self { key: None, key_file: "data/secrets.key".into() }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuditConfig {
    /// Entries older than this many days are pruned (daily, behind an anchor), unless an admin
    /// saved another `audit_days` in the retention settings. 1 to 3650.
    pub retention_days: u32,
}

impl Default for AuditConfig {
    fn default() -> Self {
        // Five years, leap day included.
        Self { retention_days: 1826 }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// `text` or `json`.
    pub format: LogFormat,
    /// A `tracing` filter, e.g. `info` or `hub=debug,sqlx=warn`. `RUST_LOG` overrides it.
    pub filter: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self { format: LogFormat::Text, filter: "info,sqlx=warn,tantivy=warn".into() }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// Which billing system the hub talks to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BssKind {
    /// Records kept in the hub's own store (demo data with `serve --demo`).
    #[default]
    Embedded,
    /// The operator's TM Forum Open APIs (TMF629, TMF637, TMF678, TMF622, TMF653) at `base_url`.
    Tmf,
}

/// `[bss]`: the operator's billing system and the resilience around it. Every call, retries
/// included, ends within `budget_ms`, so the panel says "billing system unavailable" in time.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BssConfig {
    pub kind: BssKind,
    /// `kind = "tmf"`: the API root, e.g. `https://bss.example.com/tmf-api`.
    pub base_url: String,
    /// `kind = "tmf"`: the bearer token sent to it.
    pub token: Option<Secret>,
    /// A file holding that token instead.
    pub token_file: Option<String>,
    /// The longest one attempt may take, in milliseconds (10 to 10,000).
    pub timeout_ms: u64,
    /// Attempts after the first for transient failures (0 to 5).
    pub retries: u32,
    /// The first backoff between attempts, in milliseconds (doubled each time, jittered).
    pub backoff_ms: u64,
    /// The longest backoff, in milliseconds.
    pub backoff_max_ms: u64,
    /// The longest a whole call may take, retries included, in milliseconds (100 to 2,000).
    pub budget_ms: u64,
    /// Transient failures in a row that open the circuit breaker (1 to 1,000).
    pub breaker_failures: u32,
    /// How long the breaker stays open before a probe, in seconds (1 to 3,600).
    pub breaker_open_secs: u64,
    /// How long reads are cached, in seconds (0: no cache; at most 300).
    pub cache_ttl_secs: u64,
    /// The most reads cached (at most 1,000,000).
    pub cache_entries: usize,
}

impl Default for BssConfig {
    fn default() -> Self {
        let r = bss::ResilienceConfig::default();
        Self {
            kind: BssKind::Embedded,
            base_url: String::new(),
            token: None,
            token_file: None,
            timeout_ms: u64::try_from(r.call_timeout.as_millis()).unwrap_or(600),
            retries: r.retries,
            backoff_ms: u64::try_from(r.backoff_base.as_millis()).unwrap_or(50),
            backoff_max_ms: u64::try_from(r.backoff_max.as_millis()).unwrap_or(200),
            budget_ms: u64::try_from(r.budget.as_millis()).unwrap_or(1500),
            breaker_failures: r.breaker_failures,
            breaker_open_secs: r.breaker_open_for.as_secs(),
            cache_ttl_secs: r.cache_ttl.as_secs(),
            cache_entries: r.cache_entries,
        }
    }
}

impl BssConfig {
    /// The resilience settings, checked.
    ///
    /// # Errors
    /// A value out of its range (named in the message).
    pub fn resilience(&self) -> Result<bss::ResilienceConfig, String> {
        let check = |ok: bool, what: &str| if ok { Ok(()) } else { Err(format!("bss.{what} is out of range")) };
        check((10..=10_000).contains(&self.timeout_ms), "timeout_ms (10 to 10000)")?;
        check(self.retries <= 5, "retries (0 to 5)")?;
        check(
            self.backoff_ms <= 2_000 && self.backoff_max_ms <= 2_000,
            "backoff_ms and backoff_max_ms (at most 2000)",
        )?;
        check((100..=2_000).contains(&self.budget_ms), "budget_ms (100 to 2000)")?;
        check((1..=1_000).contains(&self.breaker_failures), "breaker_failures (1 to 1000)")?;
        check((1..=3_600).contains(&self.breaker_open_secs), "breaker_open_secs (1 to 3600)")?;
        check(self.cache_ttl_secs <= 300, "cache_ttl_secs (0 to 300)")?;
        check(self.cache_entries <= 1_000_000, "cache_entries (at most 1000000)")?;
        Ok(bss::ResilienceConfig {
            call_timeout: std::time::Duration::from_millis(self.timeout_ms),
            retries: self.retries,
            backoff_base: std::time::Duration::from_millis(self.backoff_ms),
            backoff_max: std::time::Duration::from_millis(self.backoff_max_ms.max(self.backoff_ms)),
            budget: std::time::Duration::from_millis(self.budget_ms),
            breaker_failures: self.breaker_failures,
            breaker_open_for: std::time::Duration::from_secs(self.breaker_open_secs),
            cache_ttl: std::time::Duration::from_secs(self.cache_ttl_secs),
            cache_entries: self.cache_entries,
        })
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DemoConfig {
    /// Seed a demo admin and two demo agents (known passwords: never in production).
    pub enabled: bool,
}

/// A first admin created at start if no staff member has this address yet.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BootstrapAdmin {
    pub email: String,
    pub name: String,
    pub password: Secret,
}

/// The `[sip]` section: the voice channel.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SipSettings {
    /// Whether the hub answers SIP at all (`serve --demo` turns it on).
    pub enabled: bool,
    /// UDP listening address, `host:port`; empty or `off`: no UDP.
    pub udp: String,
    /// TCP listening address, `host:port`; empty or `off`: no TCP.
    pub tcp: String,
    /// The host written in Via and Contact headers (required when listening on 0.0.0.0).
    pub public_host: Option<String>,
    /// The digest realm; agents' stored HA1s are only valid for this realm.
    pub realm: String,
    /// Support numbers (Request-URI user parts) → extra skills a call to it needs, e.g.
    /// `"+34900100200" = ["spanish"]`.
    pub support_numbers: BTreeMap<String, Vec<String>>,
    /// Seconds an agent's softphone rings before the router tries the next agent. Unset: the
    /// routing offer timeout.
    pub ring_timeout_secs: Option<u64>,
    /// Seconds a caller waits for an agent at most; then `480` with `Retry-After`, and a
    /// callback ticket.
    pub queue_limit_secs: u64,
    /// The `Retry-After` of that `480`, in seconds.
    pub retry_after_secs: u64,
    /// SIP messages per second accepted from one IP address (0: unlimited).
    pub rate_limit_per_sec: u32,
    /// Burst allowance of that limit.
    pub rate_limit_burst: u32,
    /// Source addresses exempt from the rate limit (a session border controller).
    pub trusted_sources: Vec<IpAddr>,
    /// Addresses or networks (`192.0.2.10`, `10.1.0.0/16`) whose caller identity is trusted
    /// (the operator's SBC or carrier trunk): from them `P-Asserted-Identity`, else `From`,
    /// names the caller, and the call joins that number's customer. Calls from anywhere else
    /// are unverified: a customer of their own, named "unverified caller <number>".
    pub identity_sources: Vec<String>,
    /// Calls at once (in setup or connected); more: `503` with `Retry-After`.
    pub max_calls: usize,
    /// SIP-over-TCP connections at once; more: `503` with `Retry-After` to the first request,
    /// then closed.
    pub max_tcp_connections: usize,
}

impl Default for SipSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            udp: "127.0.0.1:5060".into(),
            tcp: "127.0.0.1:5060".into(),
            public_host: None,
            realm: "switchboard".into(),
            support_numbers: [("support".to_owned(), Vec::new())].into_iter().collect(),
            ring_timeout_secs: None,
            queue_limit_secs: 120,
            retry_after_secs: 300,
            rate_limit_per_sec: 200,
            rate_limit_burst: 400,
            trusted_sources: Vec::new(),
            identity_sources: Vec::new(),
            max_calls: 500,
            max_tcp_connections: 1000,
        }
    }
}

/// The chat widget as the operator configures it (`[widget]`; what an admin saves in the
/// console replaces it, see `services::settings`): its look, its greeting, and the
/// web pages allowed to embed it.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WidgetSettings {
    /// Origins (`https://shop.example`) whose pages may open chats: CORS and the websocket
    /// `Origin` check. The hub's own `/chat` page is always allowed; `"*"` allows every page.
    pub allowed_origins: Vec<String>,
    /// The panel's title; empty: the translated default ("Customer care").
    pub title: String,
    /// The first line the customer sees; empty: the translated default.
    pub greeting: String,
    /// Colour of the launcher, header and the customer's bubbles (`#rrggbb`).
    pub primary_color: String,
    /// Text on that colour (`#rrggbb`); pick a contrast of at least 4.5:1.
    pub on_primary_color: String,
}

impl Default for WidgetSettings {
    fn default() -> Self {
        Self {
            allowed_origins: Vec::new(),
            title: String::new(),
            greeting: String::new(),
            primary_color: "#0b57d0".into(),
            on_primary_color: "#ffffff".into(),
        }
    }
}

/// `[selfservice]`: what the bot may do for a customer who proved who they are with a one-time
/// code (see docs/api.md "Self-service").
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SelfServiceConfig {
    /// Whether the bot answers account questions (balance, usage, bills, plan changes, payment
    /// arrangements) after a one-time code. Off: those questions go to the knowledge base like
    /// any other.
    pub enabled: bool,
    /// Minutes a code is valid (1 to 60).
    pub code_ttl_minutes: u32,
    /// Wrong codes before verification is locked for the conversation (1 to 10).
    pub max_attempts: u32,
    /// Minutes verification stays locked after too many wrong codes (1 to 1440).
    pub lockout_minutes: u32,
    /// Minutes a conversation stays verified after the right code (1 to 240).
    pub verified_minutes: u32,
    /// Codes sent at most per conversation, and per destination (an address or number), in
    /// `send_window_minutes`.
    pub max_sends_per_conversation: u32,
    pub max_sends_per_destination: u32,
    pub send_window_minutes: u32,
    /// Payment arrangements the bot may agree on its own: paying the balance at most this many
    /// days from today…
    pub arrangement_max_days: u32,
    /// …and only when nothing on the account is overdue by more than this many days; anything
    /// else goes to a person.
    pub arrangement_max_overdue_days: u32,
    /// The SMS sender for codes to phone numbers. Unset: codes go by e-mail only, and phone
    /// numbers are not offered.
    pub sms: Option<SmsConfig>,
}

impl Default for SelfServiceConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            code_ttl_minutes: 10,
            max_attempts: 5,
            lockout_minutes: 30,
            verified_minutes: 30,
            max_sends_per_conversation: 3,
            max_sends_per_destination: 5,
            send_window_minutes: 60,
            arrangement_max_days: 14,
            arrangement_max_overdue_days: 30,
            sms: None,
        }
    }
}

/// `[selfservice.sms]`: an HTTP SMS gateway taking a JSON `POST` (see docs/configuration.md for
/// the request and answers).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmsConfig {
    /// The gateway's endpoint, e.g. `https://sms.example.net/v1/messages`.
    pub url: String,
    /// Sent as `Authorization: Bearer …`. Or from `token_file`.
    pub token: Option<Secret>,
    pub token_file: Option<String>,
    /// The sender id the gateway shows (`Telco`, or a number).
    pub sender: String,
    /// Seconds before a request is given up (1 to 30).
    pub timeout_secs: u64,
}

impl Default for SmsConfig {
    fn default() -> Self {
        Self { url: String::new(), token: None, token_file: None, sender: "Switchboard".into(), timeout_secs: 5 }
    }
}

/// `SWITCHBOARD_*` variables that are not configuration keys: the config file's path, the
/// password for `admin create`, and the test suite's PostgreSQL URL. Any other unknown
/// `SWITCHBOARD_*` variable is an error, so a typo does not go unnoticed.
const NOT_CONFIG: &[&str] = &["config", "admin_password", "test_postgres_url"];

/// The configuration could not be read.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(#[from] Box<figment::Error>);

impl Config {
    /// Defaults, overridden by `file` (if given; a missing file is an error), then by the
    /// environment.
    ///
    /// # Errors
    /// An unreadable file, a TOML syntax error, an unknown key or a value of the wrong type.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Self::default()));
        if let Some(path) = file {
            if !path.exists() {
                return Err(ConfigError(Box::new(figment::Error::from(format!(
                    "config file {} does not exist",
                    path.display()
                )))));
            }
            figment = figment.merge(Toml::file(path));
        }
        figment = figment.merge(Env::prefixed("SWITCHBOARD_").split("__").ignore(NOT_CONFIG));
        let config: Self = figment.extract().map_err(|e| ConfigError(Box::new(e)))?;
        config.check()?;
        Ok(config)
    }

    /// Values that are well typed but out of range.
    fn check(&self) -> Result<(), ConfigError> {
        let heartbeat = self.server.heartbeat_secs;
        if !(1..=MAX_HEARTBEAT_SECS).contains(&heartbeat) {
            return Err(ConfigError(Box::new(figment::Error::from(format!(
                "server.heartbeat_secs is {heartbeat}: it must be from 1 to {MAX_HEARTBEAT_SECS} seconds"
            )))));
        }
        let abandon = self.webchat.abandon_after_secs;
        if !(1..=MAX_ABANDON_AFTER_SECS).contains(&abandon) {
            return Err(ConfigError(Box::new(figment::Error::from(format!(
                "webchat.abandon_after_secs is {abandon}: it must be from 1 to {MAX_ABANDON_AFTER_SECS} seconds"
            )))));
        }
        self.care.check().map_err(|e| ConfigError(Box::new(figment::Error::from(e))))?;
        self.bus.check().map_err(|e| ConfigError(Box::new(figment::Error::from(e))))?;
        let days = self.audit.retention_days;
        if !(1..=3650).contains(&days) {
            return Err(ConfigError(Box::new(figment::Error::from(format!(
                "audit.retention_days is {days}: it must be from 1 to 3650 days"
            )))));
        }
        let s = &self.selfservice;
        for (key, value, range) in [
            ("code_ttl_minutes", s.code_ttl_minutes, 1..=60),
            ("max_attempts", s.max_attempts, 1..=10),
            ("lockout_minutes", s.lockout_minutes, 1..=1440),
            ("verified_minutes", s.verified_minutes, 1..=240),
            ("max_sends_per_conversation", s.max_sends_per_conversation, 1..=20),
            ("max_sends_per_destination", s.max_sends_per_destination, 1..=50),
            ("send_window_minutes", s.send_window_minutes, 1..=1440),
            ("arrangement_max_days", s.arrangement_max_days, 0..=90),
            ("arrangement_max_overdue_days", s.arrangement_max_overdue_days, 0..=365),
        ] {
            if !range.contains(&value) {
                return Err(ConfigError(Box::new(figment::Error::from(format!(
                    "selfservice.{key} is {value}: it must be from {} to {}",
                    range.start(),
                    range.end()
                )))));
            }
        }
        Ok(())
    }
}

/// Longest `server.heartbeat_secs`: a silent socket is closed after 3 heartbeats.
pub const MAX_HEARTBEAT_SECS: u64 = 300;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn no_secret_is_printed_or_serialized() {
        const MARKER: &str = "MARKER-5ecret";
        let mut config = Config::default();
        config.database.url = format!("postgres://switchboard:{MARKER}@db:5432/switchboard");
        config.webchat.token_secret = Some(MARKER.into());
        config.email.relay.password = Some(MARKER.into());
        config.email.imap = vec![ImapConfig { password: Some(MARKER.into()), ..ImapConfig::default() }];
        config.secrets.key = Some(MARKER.into());
        config.metrics.token = Some(MARKER.into());
        config.selfservice.sms = Some(SmsConfig { token: Some(MARKER.into()), ..SmsConfig::default() });
        config.bootstrap_admin =
            Some(BootstrapAdmin { email: "a@b.c".into(), name: "A".into(), password: MARKER.into() });
        for printed in [
            format!("{config:?}"),
            format!("{config:#?}"),
            serde_json::to_string(&config).unwrap(),
            format!("{}", config.metrics.token.as_ref().unwrap()),
        ] {
            assert!(!printed.contains(MARKER), "a secret is printed: {printed}");
        }
        // The values themselves are intact for the code that uses them.
        assert_eq!(config.email.relay.password.as_ref().map(Secret::expose), Some(MARKER));
    }

    #[test]
    fn a_secret_comes_from_its_value_or_its_file_not_both() {
        let path = std::env::temp_dir().join(format!("sb-secret-file-{}", std::process::id()));
        std::fs::write(&path, "from-file\n").unwrap();
        let file = path.to_str();
        let value = Secret::from("from-value");
        assert_eq!(Secret::from_value_or_file(None, file, "k").unwrap().unwrap().expose(), "from-file");
        assert_eq!(Secret::from_value_or_file(Some(&value), None, "k").unwrap().unwrap().expose(), "from-value");
        assert!(Secret::from_value_or_file(Some(&value), file, "k").is_err());
        assert!(Secret::from_value_or_file(None, None, "k").unwrap().is_none());
        std::fs::remove_file(&path).unwrap();
        assert!(Secret::from_value_or_file(None, file, "k").is_err());
    }

    #[test]
    fn heartbeat_secs_must_be_from_1_to_300() {
        for (secs, ok) in [(0, false), (1, true), (300, true), (301, false), (u64::MAX / 2, false)] {
            let path = std::env::temp_dir().join(format!("sb-config-hb-{secs}-{}.toml", std::process::id()));
            std::fs::write(&path, format!("[server]\nheartbeat_secs = {secs}\n")).unwrap();
            let config = Config::load(Some(&path));
            std::fs::remove_file(&path).unwrap();
            match config {
                Ok(_) => assert!(ok, "{secs} accepted"),
                Err(e) => {
                    assert!(!ok, "{secs} refused: {e}");
                    assert!(e.to_string().contains("server.heartbeat_secs is"), "{e}");
                }
            }
        }
    }

    #[test]
    fn the_sso_client_secret_is_not_in_debug() {
        let config = SsoConfig { client_secret: Some("hunter2-client-secret".into()), ..SsoConfig::default() };
        let shown = format!("{config:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("***"), "{shown}");
    }

    #[test]
    fn imap_mailboxes_are_a_list_of_tables() {
        let path = std::env::temp_dir().join(format!("sb-config-{}.toml", std::process::id()));
        std::fs::write(
            &path,
            r#"
[email]
enabled = true
smtp_enabled = false

[[email.imap]]
host = "imap.telco.example"
username = "support@telco.example"
password_file = "/run/secrets/imap-support"
address = "support@telco.example"
after = "move"
move_to = "Done"

[[email.imap]]
host = "10.0.0.5"
port = 143
tls = "starttls"
username = "billing"
password = "secret"
address = "billing@telco.example"
"#,
        )
        .unwrap();
        let config = Config::load(Some(&path));
        std::fs::remove_file(&path).unwrap();
        let email = config.unwrap().email;
        assert!(!email.smtp_enabled);
        assert_eq!(email.imap.len(), 2);
        assert_eq!(
            (email.imap[0].port, email.imap[0].tls, email.imap[0].after),
            (993, TlsMode::Implicit, ImapAfter::Move)
        );
        assert_eq!(email.imap[0].folder, "INBOX");
        assert_eq!((email.imap[1].port, email.imap[1].tls, email.imap[1].poll_secs), (143, TlsMode::Starttls, 30));
    }
}
