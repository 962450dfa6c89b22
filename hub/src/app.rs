//! Start-up: opens the store, builds every service from what it needs (bottom up, so no service
//! knows one above it), starts the background workers, and serves HTTP. [`AppState`] is what the
//! HTTP layer sees of the services.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use base64::Engine as _;
use channels::webchat::VisitorTokenKey;
use rand::RngCore;
use schema::{Role, Store, StoreOptions};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use utoipa_actix_web::AppExt as _;

use crate::bus::{EventBus, LocalBus, RedisBus, RedisBusError, RedisBusOptions};
use crate::config::BusKind;
use crate::config::Config;
use crate::error::Error;
use crate::metrics::Metrics;
use crate::secrets::{SecretBox, SecretsError};
use crate::services::account360::Account360;
use crate::services::audit::Audit;
use crate::services::bot::{self, Assistant, AssistantError};
use crate::services::canned::Canned;
use crate::services::care::Care;
use crate::services::churn::Churn;
use crate::services::csat::{self, Csat};
use crate::services::customers::Customers;
use crate::services::email::{self, Email};
use crate::services::escalate::Escalate;
use crate::services::ingest::Ingest;
use crate::services::knowledge::Knowledge;
use crate::services::leader::{Leadership, LeaseName};
use crate::services::mfa::Mfa;
use crate::services::outages::Outages;
use crate::services::privacy::Privacy;
use crate::services::reports::Reports;
use crate::services::routing::Routing;
use crate::services::routing_link::{LinkOptions, RouterLink};
use crate::services::selfservice::{self, CodeInbox, SelfService};
use crate::services::settings::Settings;
use crate::services::sla::Sla;
use crate::services::social::Social;
use crate::services::sso::{self, PasswordPolicy, Sso, SsoConfigError};
use crate::services::staff::{Accounts, Sessions, ensure_staff};
use crate::services::tickets::Tickets;
use crate::services::voice::Voice;
use crate::services::voice_share::VoiceShare;
use crate::services::wall::Wall;
use crate::services::webchat::Webchat;
use crate::services::{Core, outbox};
use crate::{demo, http};

/// The services, as the HTTP handlers reach them.
#[derive(Debug)]
pub struct AppState {
    pub config: Config,
    pub core: Core,
    pub sessions: Sessions,
    pub routing: Arc<Routing>,
    pub tickets: Tickets,
    pub ingest: Arc<Ingest>,
    pub webchat: Arc<Webchat>,
    pub social: Arc<Social>,
    pub knowledge: Knowledge,
    pub canned: Canned,
    /// The bot, unless `bot.enabled` is off.
    pub assistant: Option<Arc<Assistant>>,
    /// The SIP voice channel, when `sip.enabled`.
    pub voice: Option<Arc<Voice>>,
    /// Admins' work on staff accounts.
    pub accounts: Accounts,
    /// Settings admins change at run time (widget, retention).
    pub settings: Arc<Settings>,
    /// Data-subject rights (export, erasure, legal hold) and the retention job.
    pub privacy: Arc<Privacy>,
    /// Customers as staff work on them: profile, search, handles, merge.
    pub customers: Customers,
    /// The supervisors' live wall.
    pub wall: Wall,
    /// Websockets open per client address.
    pub sockets: Arc<http::SocketsPerAddress>,
    /// The audit trail.
    pub audit: Arc<Audit>,
    /// Single sign-on, when `[sso]` is enabled.
    pub sso: Option<Sso>,
    /// The customer-care workflows (orders and bill adjustments through the billing system).
    pub care: Care,
    /// Whether staff may sign in with a password (`sso.local_passwords`).
    pub password_policy: PasswordPolicy,
    /// The operator's billing system (`[bss]`), behind timeouts, retries, a circuit breaker and
    /// a read cache ([`bss::Resilient`]). Services get a clone at construction.
    pub bss: Arc<dyn bss::Bss>,
    /// The customer 360 read from the billing system.
    pub account360: Account360,
    /// The incident feed, its Alertmanager webhook, and line tests.
    pub outages: Arc<Outages>,
    /// Satisfaction surveys and their report.
    pub csat: Arc<Csat>,
    /// SLA policies and each ticket's clocks (its timer runs beside the server).
    pub sla: Arc<Sla>,
    /// Reports from the store's rollups.
    pub reports: Reports,
    /// Customers' churn-risk scores.
    pub churn: Arc<Churn>,
    /// The leases this node holds (the scheduled jobs run on the holder of `jobs`).
    pub leadership: Arc<Leadership>,
}

/// The hub could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Store(#[from] schema::StoreError),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("invalid bootstrap admin or demo data: {0}")]
    Seed(Error),
    #[error(transparent)]
    Secrets(#[from] SecretsError),
    /// With the detail of an internal error (which account's secrets do not open): this goes to
    /// the operator starting the hub, never to a client.
    #[error("cannot load the social accounts: {0}")]
    Social(String),
    #[error("cannot start the bot: {0}")]
    Assistant(#[from] AssistantError),
    #[error("cannot restore the routing state: {0}")]
    Routing(Error),
    #[error("cannot start the SIP voice channel: {0}")]
    Voice(Error),
    #[error("e-mail channel: {0}")]
    Email(#[from] email::StartError),
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("cannot load the console settings: {0}")]
    Settings(Error),
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error(transparent)]
    Sso(#[from] SsoConfigError),
    #[error("billing system: {0}")]
    Bss(String),
    #[error("cannot load the SLA policies: {0}")]
    Sla(Error),
    #[error(transparent)]
    Bus(#[from] RedisBusError),
}

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
        self.state.core.shutdown.cancel();
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
        self.state.core.store.close().await;
        tracing::info!("stopped");
    }
}

/// The setting that keeps the generated web chat token secret, sealed and bound to its name.
const VISITOR_SECRET: &str = "webchat.token_secret";

/// The web chat token key: configured, or made once and kept in the store, sealed with the
/// secrets key. A secret kept in clear by an earlier version is sealed now (the same secret, so
/// visitors' tokens stay valid).
async fn visitor_key(store: &Store, config: &Config, secrets: &SecretBox) -> Result<VisitorTokenKey, StartError> {
    if let Some(secret) = &config.webchat.token_secret {
        return Ok(VisitorTokenKey::new(secret.expose().as_bytes()));
    }
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let fresh = secrets.seal(base64::engine::general_purpose::STANDARD.encode(bytes).as_bytes(), VISITOR_SECRET)?;
    let mut stored = store.setting_or_init(VISITOR_SECRET, move || fresh).await?;
    if !SecretBox::is_sealed(&stored) {
        let sealed = secrets.seal(stored.as_bytes(), VISITOR_SECRET)?;
        if store.replace_setting(VISITOR_SECRET, &stored, &sealed).await? {
            tracing::info!("the web chat token secret kept in the database is now sealed");
        }
        // Sealed by this node or by another starting at the same time.
        stored = store.setting_or_init(VISITOR_SECRET, String::new).await?;
    }
    Ok(VisitorTokenKey::new(secrets.open(&stored, VISITOR_SECRET)?))
}

/// The setting that keeps the key of self-service's code digests, sealed and bound to its name.
const CODE_KEY: &str = "selfservice.code_key";

/// The setting that keeps the key the satisfaction surveys' e-mail links are signed with.
const CSAT_KEY: &str = "csat.link_key";

/// A key of the hub kept in the store under `name` (self-service's code digests, the survey
/// links' signatures): made once, sealed with the secrets key and bound to its name, so every
/// node (and a restarted one) uses the same.
async fn stored_key(store: &Store, secrets: &SecretBox, name: &'static str) -> Result<[u8; 32], StartError> {
    use sha2::Digest as _;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let fresh = secrets.seal(base64::engine::general_purpose::STANDARD.encode(bytes).as_bytes(), name)?;
    let stored = store.setting_or_init(name, move || fresh).await?;
    Ok(sha2::Sha256::digest(secrets.open(&stored, name)?).into())
}

/// Self-service's code senders: e-mail through the e-mail channel's relay, SMS through
/// `[selfservice.sms]`.
fn code_senders(config: &Config, email: &Email) -> Result<Vec<Arc<dyn selfservice::CodeSender>>, StartError> {
    let mut senders: Vec<Arc<dyn selfservice::CodeSender>> = Vec::new();
    if let Some(sender) = email.code_sender() {
        senders.push(sender);
    }
    if let Some(sms) = &config.selfservice.sms {
        senders.push(Arc::new(selfservice::HttpSms::new(sms).map_err(StartError::Config)?));
    }
    Ok(senders)
}

/// The configured event bus (`[bus]`): in-process, or the Redis stream shared by the nodes.
async fn build_bus(
    config: &mut Config,
    metrics: &Metrics,
    shutdown: &CancellationToken,
) -> Result<Arc<dyn EventBus>, StartError> {
    // A URL file is read once, here.
    config.bus.url =
        crate::config::Secret::from_value_or_file(config.bus.url.as_ref(), config.bus.url_file.as_deref(), "bus.url")
            .map_err(StartError::Config)?;
    config.bus.url_file = None;
    match (config.bus.kind, &config.bus.url) {
        (BusKind::Local, _) => Ok(Arc::new(LocalBus::new())),
        (BusKind::Redis, None) => Err(StartError::Config("bus.kind = \"redis\" needs bus.url".to_owned())),
        (BusKind::Redis, Some(url)) => {
            let options = RedisBusOptions {
                url: url.expose().to_owned(),
                stream: config.bus.stream.clone(),
                max_len: config.bus.max_len,
            };
            Ok(Arc::new(RedisBus::start(options, metrics.bus_events.clone(), shutdown.clone()).await?))
        }
    }
}

/// With the Redis bus: the link to whichever node runs the router (`services::routing_link`).
async fn build_router_link(
    config: &Config,
    node: &Arc<str>,
    shutdown: &CancellationToken,
) -> Result<Option<Arc<RouterLink>>, StartError> {
    let (BusKind::Redis, Some(url)) = (config.bus.kind, &config.bus.url) else { return Ok(None) };
    let options = LinkOptions {
        url: url.expose().to_owned(),
        prefix: config.bus.stream.clone(),
        node: Arc::clone(node),
        timeout: std::time::Duration::from_secs(config.routing.forward_timeout_secs.max(1)),
    };
    RouterLink::start(options, shutdown.clone()).await.map(Some).map_err(|e| StartError::Config(e.to_string()))
}

/// The configured billing system (`[bss]`) in its resilience wrapper; with `serve --demo` and
/// the embedded BSS, the demo accounts are seeded and linked to the demo customers.
async fn build_bss(config: &mut Config, core: &Core) -> Result<Arc<dyn bss::Bss>, StartError> {
    let mut resilience = config.bss.resilience().map_err(StartError::Config)?;
    // A token file is read once, here.
    config.bss.token = crate::config::Secret::from_value_or_file(
        config.bss.token.as_ref(),
        config.bss.token_file.as_deref(),
        "bss.token",
    )
    .map_err(StartError::Config)?;
    config.bss.token_file = None;
    let inner: Arc<dyn bss::Bss> = match config.bss.kind {
        crate::config::BssKind::Embedded => {
            // The embedded BSS is queries on the hub's own store: an attempt cut short by
            // `timeout_ms` under load would only be retried into the same queue and open the
            // breaker on a store every other request still uses. One attempt may take the budget.
            resilience.call_timeout = resilience.budget;
            let embedded = bss::embedded::Embedded::new(core.store.clone());
            if config.demo.enabled {
                demo::seed_bss(&embedded).await.map_err(StartError::Seed)?;
            }
            Arc::new(embedded)
        }
        crate::config::BssKind::Tmf => {
            if config.bss.base_url.trim().is_empty() {
                return Err(StartError::Config("bss.kind = \"tmf\" needs bss.base_url".to_owned()));
            }
            let mut tmf = bss::tmf::TmfConfig::new(config.bss.base_url.clone());
            tmf.token = config.bss.token.as_ref().map(|t| bss::tmf::Token::new(t.expose().to_owned()));
            // One HTTP exchange never outlives the attempt the resilience layer allows.
            tmf.timeout = resilience.call_timeout;
            tmf.connect_timeout = resilience.call_timeout.min(std::time::Duration::from_millis(500));
            Arc::new(bss::tmf::TmfClient::new(tmf).map_err(|e| StartError::Bss(e.to_string()))?)
        }
    };
    tracing::info!(bss = inner.name(), "billing system ready");
    Ok(Arc::new(
        bss::Resilient::new(inner, resilience).with_observer(Arc::clone(&core.metrics) as Arc<dyn bss::Observer>),
    ))
}

/// Opens the store, prepares secrets and seed data, builds the services, and starts serving.
/// The port is open before the bot's vectors are ready: it answers by keywords until then.
///
/// # Errors
/// The store cannot be opened or migrated, the address cannot be bound, a channel's settings
/// are invalid, or the bootstrap admin is invalid.
pub async fn start(mut config: Config) -> Result<RunningHub, StartError> {
    // The metrics token may live in a file: read it once, here.
    config.metrics.token = crate::config::Secret::from_value_or_file(
        config.metrics.token.as_ref(),
        config.metrics.token_file.as_deref(),
        "metrics.token",
    )
    .map_err(StartError::Config)?;
    config.metrics.token_file = None;
    let store = Store::connect(
        &config.database.url,
        &StoreOptions {
            max_connections: config.database.max_connections,
            sqlite_synchronous: config.database.sqlite_synchronous,
            ..StoreOptions::default()
        },
    )
    .await?;
    tracing::info!(backend = ?store.backend(), url = %schema::redact(&config.database.url), "store ready");
    let secrets = SecretBox::load(
        config.secrets.key.as_ref().map(crate::config::Secret::expose),
        std::path::Path::new(&config.secrets.key_file),
    )?;
    let visitor_key = visitor_key(&store, &config, &secrets).await?;
    if let Some(admin) = &config.bootstrap_admin {
        ensure_staff(&store, &admin.email, &admin.name, &[Role::Admin, Role::Agent], admin.password.expose())
            .await
            .map_err(StartError::Seed)?;
    }
    if config.demo.enabled {
        demo::seed(&store, &config.sip.realm).await.map_err(StartError::Seed)?;
    }
    let metrics = Arc::new(Metrics::new()?);
    let shutdown = CancellationToken::new();
    let core =
        Core { store: store.clone(), bus: build_bus(&mut config, &metrics, &shutdown).await?, metrics, shutdown };
    let bss = build_bss(&mut config, &core).await?;

    // Bottom up: routing and escalation first, then what stores messages, then the channels.
    // This process among the nodes (the routing link's reply list, its share of voice).
    let node: Arc<str> = format!("{:016x}", rand::random::<u64>()).into();
    let link = build_router_link(&config, &node, &core.shutdown).await?;
    let routing = Arc::new(
        Routing::new(core.clone(), &config.routing, config.sip.enabled, link).await.map_err(StartError::Routing)?,
    );
    let churn = Arc::new(Churn::new(core.clone()));
    let escalate = Arc::new(Escalate::new(core.clone(), Arc::clone(&routing), Arc::clone(&churn)));
    let email = Email::new(&config.email)?;
    let (assistant, bot_jobs) = if config.bot.enabled {
        let (assistant, queue, jobs) = Assistant::load(&store, &config.bot, config.demo.enabled).await?;
        (Some((assistant, queue)), Some(jobs))
    } else {
        (None, None)
    };
    let (social_wake, email_wake) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    // Self-service answers in the bot's conversations.
    let selfservice_on = config.selfservice.enabled && assistant.is_some();
    let ingest = Arc::new(
        Ingest::new(
            core.clone(),
            Arc::clone(&routing),
            email.replies(),
            assistant.as_ref().map(|(_, queue)| queue.clone()),
            vec![Arc::clone(&social_wake), Arc::clone(&email_wake)],
        )
        .with_codes(selfservice_on.then(|| CodeInbox::new(store.clone()))),
    );
    let assistant = assistant.map(|(a, _)| a);
    config.csat.validate().map_err(StartError::Config)?;
    let csat = Arc::new(
        Csat::new(
            core.clone(),
            Arc::clone(&ingest),
            config.csat.clone(),
            code_senders(&config, &email)?,
            stored_key(&store, &secrets, CSAT_KEY).await?,
        )
        .with_churn(Arc::clone(&churn)),
    );
    if config.csat.enabled {
        routing.set_resolved_hook(Arc::new(csat::OnResolved(Arc::downgrade(&csat))));
        ingest.set_surveys(&csat);
    }
    let outages = Arc::new(Outages::new(
        core.clone(),
        Arc::clone(&ingest),
        Arc::clone(&routing),
        Arc::clone(&bss),
        config.outages.clone(),
    ));
    if let (Some(assistant), Some(jobs)) = (&assistant, bot_jobs) {
        let selfservice = if selfservice_on {
            Some(Arc::new(SelfService::new(
                store.clone(),
                Arc::clone(&bss),
                Arc::clone(assistant),
                Arc::clone(&ingest),
                code_senders(&config, &email)?,
                config.selfservice.clone(),
                stored_key(&store, &secrets, CODE_KEY).await?,
            )))
        } else {
            None
        };
        bot::spawn_workers(
            jobs,
            bot::Worker {
                core: core.clone(),
                assistant: Arc::clone(assistant),
                ingest: Arc::clone(&ingest),
                escalate: Arc::clone(&escalate),
                routing: Arc::clone(&routing),
                selfservice,
                outages: Some(Arc::clone(&outages)),
            },
        );
    }
    let social = Arc::new(
        Social::load(
            core.clone(),
            Arc::clone(&ingest),
            &config.social,
            config.webchat.max_message_chars,
            secrets.clone(),
        )
        .await
        .map_err(|e| {
            StartError::Social(match e {
                Error::Internal(detail) => detail,
                other => other.to_string(),
            })
        })?,
    );
    let voice = if config.sip.enabled {
        let share = match (config.bus.kind, &config.bus.url) {
            (BusKind::Redis, Some(url)) => Some(Arc::new(
                VoiceShare::connect(url.expose(), &config.bus.stream, Arc::clone(&node))
                    .await
                    .map_err(StartError::Voice)?,
            )),
            _ => None,
        };
        let voice = Voice::start(
            core.clone(),
            Arc::clone(&routing),
            Arc::clone(&ingest),
            Arc::clone(&escalate),
            &config.sip,
            config.routing.offer_timeout_secs,
            share,
        )
        .await
        .map_err(StartError::Voice)?;
        Some(voice)
    } else {
        None
    };
    let settings = Arc::new(
        Settings::load(store.clone(), config.widget.clone(), config.staff.mfa_required_roles.clone())
            .await
            .map_err(StartError::Settings)?,
    );
    let mfa = Arc::new(Mfa::new(store.clone(), secrets, Arc::clone(&settings)));
    let audit = Arc::new(Audit::new(store.clone(), config.audit.clone(), Arc::clone(&settings)));
    let password_policy = sso::password_policy(&config.sso)?;
    let sso = if config.sso.enabled {
        let accounts = Accounts::new(store.clone(), Arc::clone(&routing), voice.clone());
        Some(Sso::new(store.clone(), accounts, &config.sso)?)
    } else {
        None
    };
    let privacy =
        Arc::new(Privacy::new(core.clone(), Arc::clone(&settings), assistant.clone(), config.retention.clone()));
    let care = Care::new(core.clone(), Arc::clone(&bss), config.care.clone()).map_err(StartError::Config)?;
    let sla = Sla::load(core.clone()).await.map_err(StartError::Sla)?;
    let reports = Reports::new(store.clone(), &config.reports).map_err(|e| StartError::Config(e.to_string()))?;
    let leadership = Arc::new(Leadership::new(Arc::clone(&core.metrics), core.shutdown.clone()));
    let jobs = leadership.lease(LeaseName::Jobs);
    let webchat = Arc::new(Webchat::new(
        core.clone(),
        Arc::clone(&ingest),
        Arc::clone(&routing),
        visitor_key,
        &config.webchat,
        config.bus.kind == BusKind::Redis,
    ));
    let state = web::Data::new(AppState {
        leadership: Arc::clone(&leadership),
        sla: Arc::clone(&sla),
        reports,
        churn: Arc::clone(&churn),
        care,
        privacy: Arc::clone(&privacy),
        outages,
        sso,
        password_policy,
        accounts: Accounts::new(store.clone(), Arc::clone(&routing), voice.clone()),
        settings: Arc::clone(&settings),
        sessions: Sessions::new(store.clone(), config.staff.clone(), mfa, Arc::clone(&audit)),
        audit: Arc::clone(&audit),
        tickets: Tickets::new(core.clone(), Arc::clone(&routing), Arc::clone(&escalate)),
        webchat: Arc::clone(&webchat),
        knowledge: Knowledge::new(store.clone(), assistant.clone()),
        canned: Canned::new(core.clone(), Arc::clone(&routing)),
        wall: Wall::new(core.clone(), Arc::clone(&routing)),
        customers: Customers::new(core.clone(), Some(Arc::clone(&bss))),
        sockets: Arc::default(),
        routing: Arc::clone(&routing),
        ingest: Arc::clone(&ingest),
        social: Arc::clone(&social),
        assistant,
        voice: voice.clone(),
        core: core.clone(),
        config: config.clone(),
        account360: Account360::new(store.clone(), Arc::clone(&bss)),
        bss,
        csat,
    });

    let addr = config.server.bind;
    let listener = TcpListener::bind(addr).map_err(|source| StartError::Bind { addr, source })?;
    let addr = listener.local_addr().map_err(|source| StartError::Bind { addr, source })?;
    let app_state = state.clone();
    let mut server = HttpServer::new(move || {
        App::new()
            .app_data(app_state.clone())
            .app_data(web::JsonConfig::default().limit(256 * 1024).error_handler(http::error::json_error))
            .app_data(web::QueryConfig::default().error_handler(http::error::query_error))
            .app_data(web::PathConfig::default().error_handler(http::error::path_error))
            .wrap(from_fn(http::authz::authorize))
            .wrap(from_fn(http::origin::guard))
            .wrap(from_fn(http::track))
            .into_utoipa_app()
            .configure(http::routes)
            .into_app()
            .default_service(web::to(http::ops::not_found))
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

    // Per node: the reports of its agents to the router, the rules' and settings' refresh, the
    // outbox senders (they lease their rows). On the holder of the `router` lease only: the
    // routing engine and its clock. On the holder of the `jobs` lease only: the scheduled jobs
    // and the IMAP pollers.
    tokio::spawn(Arc::clone(&leadership).run(store.clone()));
    {
        let routing = Arc::clone(&routing);
        tokio::spawn(leadership.lease(LeaseName::Router).run_while_held(move |term| Arc::clone(&routing).lead(term)));
    }
    tokio::spawn(Arc::clone(&routing).run_node());
    tokio::spawn(Arc::clone(&routing).follow_pending());
    tokio::spawn(sla.run(jobs.clone()));
    tokio::spawn(settings.refresh(core.shutdown.clone()));
    tokio::spawn(audit.run_pruning(jobs.clone()));
    if config.retention.enabled {
        tokio::spawn(privacy.run(jobs.clone()));
    }
    tokio::spawn(crate::services::webchat::sweep_unclaimed_uploads(core.clone(), jobs.clone()));
    tokio::spawn(webchat.watch_departures());
    tokio::spawn(outbox::run(core.clone(), social, social_wake));
    tokio::spawn(churn.run(jobs.clone()));
    if let Some(voice) = &voice {
        voice.spawn();
        tokio::spawn(Arc::clone(voice).close_orphans(jobs.clone()));
    }
    let (smtp_addr, smtp) = if config.email.enabled {
        match email
            .start(core.clone(), Arc::clone(&ingest), &config.email, config.webchat.max_message_chars, email_wake, jobs)
            .await?
        {
            Some((addr, task)) => (Some(addr), Some(task)),
            None => (None, None),
        }
    } else {
        (None, None)
    };
    tracing::info!(%addr, "listening");
    Ok(RunningHub { addr, state, server: handle, task, smtp_addr, smtp })
}
