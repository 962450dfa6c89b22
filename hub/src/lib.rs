//! The Switchboard hub: wires the store, the event bus and the channels into an HTTP server.
//! The binary `switchboard` (src/main.rs) is a thin CLI over [`start`].

pub mod api;
pub mod assistant;
pub mod auth;
pub mod bus;
pub mod config;
pub mod email;
pub mod error;
mod inbox;
mod ingest;
pub mod metrics;
pub mod origin;
pub mod pages;
pub mod routing;
pub mod secrets;
pub mod social;
mod socket;
mod supervisor;
mod tickets;
mod trainer;
pub mod voice;
mod webchat;

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use actix_web::middleware::from_fn;
use actix_web::{App, HttpResponse, HttpServer, web};
use base64::Engine as _;
use channels::webchat::VisitorTokenKey;
use rand::RngCore;
use schema::{Role, Store, StoreOptions};
use serde_json::json;
use tokio_util::sync::CancellationToken;

pub use crate::bus::{EventBus, LocalBus};
pub use crate::config::Config;
use crate::error::ApiError;
use crate::metrics::Metrics;

/// The OpenAPI description of the HTTP and websocket API.
pub const OPENAPI: &str = include_str!("../openapi.yaml");

/// What every handler shares.
#[derive(Debug)]
pub struct AppState {
    pub config: Config,
    pub store: Store,
    pub bus: Arc<dyn EventBus>,
    pub metrics: Metrics,
    pub visitor_key: VisitorTokenKey,
    /// Cancelled when the hub begins to shut down: sockets close with 1001.
    pub shutdown: CancellationToken,
    pub routing: routing::Routing,
    pub social: social::Social,
    /// The bot, unless `bot.enabled` is off.
    pub assistant: Option<Arc<assistant::Assistant>>,
    /// The SIP voice channel, when `sip.enabled`.
    pub voice: Option<Arc<voice::Voice>>,
    pub email: email::Email,
}

/// The hub could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Store(#[from] schema::StoreError),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("invalid bootstrap admin: {0}")]
    BootstrapAdmin(ApiError),
    #[error(transparent)]
    Secrets(#[from] secrets::SecretsError),
    #[error("cannot load the social accounts: {0}")]
    Social(ApiError),
    #[error("cannot start the bot: {0}")]
    Assistant(#[from] assistant::AssistantError),
    #[error("cannot restore the routing state: {0}")]
    Routing(ApiError),
    #[error("cannot start the SIP voice channel: {0}")]
    Voice(ApiError),
    #[error("e-mail channel: {0}")]
    Email(String),
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
}

/// Demo staff seeded with `--demo`: (e-mail, name, roles). All share [`DEMO_PASSWORD`].
pub const DEMO_STAFF: &[(&str, &str, &[Role])] = &[
    ("admin@demo.switchboard.local", "Demo Admin", &[Role::Admin, Role::Agent]),
    ("ana@demo.switchboard.local", "Ana Agent", &[Role::Agent]),
    ("bruno@demo.switchboard.local", "Bruno Agent", &[Role::Agent, Role::Supervisor]),
    ("tina@demo.switchboard.local", "Tina Trainer", &[Role::BotTrainer]),
];
/// The demo staff's password. Demo mode is for trying Switchboard out, never for production.
pub const DEMO_PASSWORD: &str = "switchboard-demo";

/// A running hub.
#[derive(Debug)]
pub struct RunningHub {
    /// The address it listens on (useful with port 0).
    pub addr: SocketAddr,
    pub state: web::Data<AppState>,
    server: actix_web::dev::ServerHandle,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    /// The SMTP listener's address, when the e-mail channel is enabled.
    pub smtp_addr: Option<SocketAddr>,
    smtp: Option<tokio::task::JoinHandle<()>>,
}

impl RunningHub {
    /// Graceful shutdown: stop accepting, close sockets with 1001 after their in-flight write,
    /// let in-flight requests finish, then close the store (checkpointing SQLite).
    pub async fn shutdown(self) {
        tracing::info!("shutting down");
        self.state.shutdown.cancel();
        self.server.stop(true).await;
        if let Err(e) = self.task.await {
            tracing::error!(error = %e, "server task failed");
        }
        // The SMTP listener finishes the mails it is receiving (they need the store) first.
        if let Some(smtp) = self.smtp
            && let Err(e) = smtp.await
        {
            tracing::error!(error = %e, "SMTP task failed");
        }
        self.state.store.close().await;
        tracing::info!("stopped");
    }
}

/// Opens the store, prepares secrets and seed data, and starts serving.
///
/// # Errors
/// The store cannot be opened or migrated, the address cannot be bound, or the bootstrap
/// admin is invalid.
pub async fn start(config: Config) -> Result<RunningHub, StartError> {
    let store = Store::connect(
        &config.database.url,
        &StoreOptions { max_connections: config.database.max_connections, ..StoreOptions::default() },
    )
    .await?;
    tracing::info!(backend = ?store.backend(), url = %schema::redact(&config.database.url), "store ready");
    let visitor_key = match &config.webchat.token_secret {
        Some(secret) => VisitorTokenKey::new(secret.as_bytes()),
        None => {
            let secret = store
                .setting_or_init("webchat.token_secret", || {
                    let mut bytes = [0u8; 32];
                    rand::rngs::OsRng.fill_bytes(&mut bytes);
                    base64::engine::general_purpose::STANDARD.encode(bytes)
                })
                .await?;
            VisitorTokenKey::new(secret.into_bytes())
        }
    };
    if let Some(admin) = &config.bootstrap_admin {
        ensure_staff(&store, &admin.email, &admin.name, &[Role::Admin, Role::Agent], &admin.password)
            .await
            .map_err(StartError::BootstrapAdmin)?;
    }
    if config.demo.enabled {
        for (email, name, roles) in DEMO_STAFF {
            ensure_staff(&store, email, name, roles, DEMO_PASSWORD).await.map_err(StartError::BootstrapAdmin)?;
        }
    }
    if config.demo.enabled {
        seed_demo_routing(&store).await.map_err(StartError::BootstrapAdmin)?;
        voice::seed_demo(&store, &config.sip.realm).await.map_err(StartError::Voice)?;
    }
    let routing = routing::Routing::restore(&store, &config).await.map_err(StartError::Routing)?;
    let secrets =
        secrets::SecretBox::load(config.secrets.key.as_deref(), std::path::Path::new(&config.secrets.key_file))?;
    let social = social::Social::load(&store, &config.social, secrets).await.map_err(StartError::Social)?;
    let email = email::Email::new(&config.email).map_err(StartError::Email)?;
    let assistant = if config.bot.enabled {
        Some(Arc::new(assistant::Assistant::load(&store, &config.bot, config.demo.enabled).await?))
    } else {
        None
    };
    let voice = if config.sip.enabled {
        Some(Arc::new(
            voice::Voice::start(&store, &config.sip, config.routing.offer_timeout_secs)
                .await
                .map_err(StartError::Voice)?,
        ))
    } else {
        None
    };
    let state = web::Data::new(AppState {
        voice,
        assistant,
        email,
        routing,
        social,
        metrics: Metrics::new()?,
        bus: Arc::new(LocalBus::new()),
        shutdown: CancellationToken::new(),
        config: config.clone(),
        store,
        visitor_key,
    });

    let addr = config.server.bind;
    let listener = TcpListener::bind(addr).map_err(|source| StartError::Bind { addr, source })?;
    let addr = listener.local_addr().map_err(|source| StartError::Bind { addr, source })?;
    let app_state = state.clone();
    let mut server = HttpServer::new(move || {
        App::new()
            .app_data(app_state.clone())
            .app_data(web::JsonConfig::default().limit(256 * 1024).error_handler(error::json_error))
            .app_data(web::QueryConfig::default().error_handler(error::query_error))
            .app_data(web::PathConfig::default().error_handler(error::path_error))
            .wrap(from_fn(origin::guard))
            .wrap(from_fn(metrics::track))
            .configure(routes)
    })
    .backlog(config.server.backlog)
    .max_connections(config.server.max_connections_per_worker)
    .shutdown_timeout(config.server.shutdown_timeout_secs)
    // Chat frames are small and latency-bound: never hold them back for Nagle's algorithm.
    .tcp_nodelay(true)
    .disable_signals();
    if config.server.workers > 0 {
        server = server.workers(config.server.workers);
    }
    let server = server.listen(listener).map_err(|source| StartError::Bind { addr, source })?.run();
    let handle = server.handle();
    let task = tokio::spawn(server);
    tokio::spawn(routing::Routing::run_clock(state.clone()));
    tokio::spawn(social::run_sender(state.clone()));
    assistant::spawn_workers(&state);
    voice::spawn(&state);
    let (smtp_addr, smtp) = if config.email.enabled {
        tokio::spawn(email::run_sender(state.clone()));
        email::spawn_imap_pollers(&state);
        if config.email.smtp_enabled {
            let (smtp_addr, smtp) = email::listen(&state).await?;
            (Some(smtp_addr), Some(smtp))
        } else {
            (None, None)
        }
    } else {
        (None, None)
    };
    tracing::info!(%addr, "listening");
    Ok(RunningHub { addr, state, server: handle, task, smtp_addr, smtp })
}

/// Demo skills: Ana handles billing in Spanish, Bruno technical issues in English. Only set for
/// an agent who has no routing profile yet.
async fn seed_demo_routing(store: &Store) -> Result<(), ApiError> {
    let demo: [(&str, &[(&str, i64)]); 2] = [
        ("ana@demo.switchboard.local", &[("billing", 8), ("spanish", 9), ("english", 6)]),
        ("bruno@demo.switchboard.local", &[("tech", 7), ("english", 8), ("portuguese", 5)]),
    ];
    for (email, skills) in demo {
        let Some((agent, _)) = store.agent_credentials(&email.parse()?).await? else { continue };
        if store.agent_routing(agent.id).await?.is_some() {
            continue;
        }
        let skills = skills
            .iter()
            .map(|(s, l)| Ok((s.parse()?, schema::SkillLevel::try_from(*l)?)))
            .collect::<Result<_, schema::ValidationError>>()?;
        let routing = schema::AgentRouting {
            agent_id: agent.id,
            skills,
            capacity: schema::Capacity::default(),
            presence: schema::Presence::Offline,
        };
        store.set_agent_routing(&routing).await?;
    }
    Ok(())
}

/// Creates a staff member unless one with that e-mail exists.
async fn ensure_staff(store: &Store, email: &str, name: &str, roles: &[Role], password: &str) -> Result<(), ApiError> {
    let parsed: schema::EmailAddress = email.parse()?;
    if store.agent_credentials(&parsed).await?.is_some() {
        return Ok(());
    }
    let roles: Vec<String> = roles.iter().map(|r| r.as_str().to_owned()).collect();
    let new = api::new_agent(email, name, &roles, password.to_owned()).await?;
    store.create_agent(new).await?;
    tracing::info!(%email, "staff member created at start");
    Ok(())
}

/// Every route of the hub.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.configure(pages::routes)
        .route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/metrics", web::get().to(metrics_text))
        .route("/api/v1/openapi.yaml", web::get().to(openapi))
        .route("/ws/webchat", web::get().to(webchat::socket))
        .route("/ws/inbox", web::get().to(inbox::socket))
        .route("/ws/supervisor", web::get().to(supervisor::socket))
        .route("/webhooks/meta", web::get().to(social::meta_handshake))
        .route("/webhooks/meta", web::post().to(social::meta_webhook))
        .route("/webhooks/telegram/{account_id}", web::post().to(social::telegram_webhook))
        .service(
            web::scope("/api/v1")
                .route("/auth/login", web::post().to(auth::login))
                .route("/auth/logout", web::post().to(auth::logout))
                .route("/me", web::get().to(auth::me))
                .route("/webchat/sessions", web::post().to(webchat::create_session))
                .route("/conversations", web::get().to(api::list_conversations))
                .route("/conversations/{id}", web::get().to(api::get_conversation))
                .route("/conversations/{id}/messages", web::get().to(api::list_messages))
                .route("/conversations/{id}/messages", web::post().to(api::post_message))
                .route("/agents", web::get().to(api::list_agents))
                .route("/agents", web::post().to(api::create_agent))
                .route("/agents/{id}/routing", web::get().to(tickets::get_profile))
                .route("/agents/{id}/routing", web::put().to(tickets::set_profile))
                .route("/agents/{id}/sip", web::get().to(voice::get_identity))
                .route("/agents/{id}/sip", web::put().to(voice::set_identity))
                .route("/conversations/{id}/calls", web::get().to(voice::conversation_calls))
                .route("/calls/{id}/disposition", web::put().to(voice::set_disposition))
                .route("/me/presence", web::put().to(tickets::set_presence))
                .route("/conversations/{id}/handover", web::post().to(tickets::hand_over))
                .route("/tickets", web::get().to(tickets::list))
                .route("/tickets/{id}", web::get().to(tickets::get))
                .route("/tickets/{id}/accept", web::post().to(tickets::accept))
                .route("/tickets/{id}/reject", web::post().to(tickets::reject))
                .route("/tickets/{id}/resolve", web::post().to(tickets::resolve))
                .route("/tickets/{id}/transfer", web::post().to(tickets::transfer))
                .route("/tickets/{id}/pending", web::post().to(tickets::pending))
                .route("/tickets/{id}/notes", web::post().to(tickets::add_note))
                .route("/tickets/{id}/tags", web::put().to(tickets::set_tags))
                .route("/routing/rules", web::get().to(tickets::get_rules))
                .route("/routing/rules", web::put().to(tickets::save_rules))
                .route("/routing/rules/versions", web::get().to(tickets::rules_versions))
                .route("/routing/dry-run", web::post().to(tickets::dry_run))
                .route("/queues", web::get().to(tickets::queues))
                .route("/channels/social", web::get().to(social::list_accounts))
                .route("/channels/social", web::post().to(social::create_account))
                .route("/conversations/{id}/template", web::post().to(social::send_template))
                .route("/kb/documents", web::get().to(trainer::list))
                .route("/kb/documents", web::post().to(trainer::create))
                .route("/kb/documents/{id}", web::get().to(trainer::get))
                .route("/kb/documents/{id}", web::put().to(trainer::update))
                .route("/kb/documents/{id}/versions", web::get().to(trainer::versions))
                .route("/kb/search", web::get().to(trainer::search))
                .route("/bot/unanswered", web::get().to(trainer::unanswered))
                .route("/bot/unanswered/answer", web::post().to(trainer::answer_unanswered))
                .route("/bot/answers", web::get().to(trainer::answers))
                .route("/bot/answers/{id}/verdict", web::put().to(trainer::judge))
                .route("/attachments/{id}", web::get().to(email::download_attachment))
                .route("/email/unprocessed", web::get().to(email::unprocessed))
                .route("/email/inbound/{message_id}/raw", web::get().to(email::download_raw)),
        )
        .default_service(web::to(not_found));
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let backend = format!("{:?}", state.store.backend()).to_lowercase();
    // The bot's search mode: hybrid with the embedding model, keyword-only without it.
    let bot = match &state.assistant {
        None => json!({ "enabled": false }),
        Some(a) => json!({
            "enabled": true,
            "model": a.has_model(),
            "search": if a.has_model() { "hybrid" } else { "keyword_only" },
            "documents": a.knowledge_base().len().unwrap_or(0),
        }),
    };
    match state.store.ping().await {
        Ok(()) if !state.shutdown.is_cancelled() => {
            HttpResponse::Ok().json(json!({ "status": "ready", "store": backend, "bot": bot }))
        }
        Ok(()) => HttpResponse::ServiceUnavailable().json(json!({ "status": "shutting_down", "store": backend })),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            HttpResponse::ServiceUnavailable().json(json!({ "status": "unavailable", "store": backend }))
        }
    }
}

async fn metrics_text(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(state.metrics.render())
}

async fn openapi() -> HttpResponse {
    HttpResponse::Ok().content_type("application/yaml").body(OPENAPI)
}

async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound("route"))
}
