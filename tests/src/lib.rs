//! Test support: start the real hub on an ephemeral port against SQLite or a fresh PostgreSQL
//! schema, and talk to it over HTTP and websockets as a client would.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

pub mod bss;
pub mod mail;
pub mod nodes;
pub mod platform;
pub mod postgres;
pub mod redis;
pub mod tmf;

use std::path::PathBuf;
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use hub::{Config, RunningHub};
use serde_json::{Value, json};
use sqlx::Connection as _;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// The PostgreSQL server the tests use (database `test` exists on every machine).
pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
/// The visitor-token secret of test hubs, so tests can forge tokens (e.g. expired ones).
pub const TEST_TOKEN_SECRET: &str = "test-secret-0123456789abcdef0123456789";
/// The key that encrypts stored secrets in test hubs (32 bytes, base64).
pub const TEST_SECRETS_KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
/// The password of the demo staff.
pub const PASSWORD: &str = hub::DEMO_PASSWORD;
pub const ADMIN: &str = "admin@demo.switchboard.local";
pub const ANA: &str = "ana@demo.switchboard.local";
pub const BRUNO: &str = "bruno@demo.switchboard.local";
pub const TINA: &str = "tina@demo.switchboard.local";
pub const OTTO: &str = "otto@demo.switchboard.local";

/// Which store a test runs against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Declares each listed async test twice: `sqlite::name` and `postgres::name`. Each test is an
/// `async fn name(backend: Backend)`.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::Backend::Sqlite).await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::Backend::Postgres).await;
                }
            )+
        }
    };
}

/// A database of its own for one test: a temporary SQLite file, or a fresh PostgreSQL schema
/// (dropped when the test ends).
#[derive(Debug)]
pub struct TestDb {
    pub url: String,
    dir: Option<PathBuf>,
    pg_schema: Option<(String, String)>,
}

impl TestDb {
    /// A new, empty database.
    pub async fn new(backend: Backend) -> Self {
        let id = uuid::Uuid::new_v4().simple().to_string();
        match backend {
            Backend::Sqlite => {
                let dir = std::env::temp_dir().join(format!("switchboard-test-{id}"));
                std::fs::create_dir_all(&dir).expect("temp dir");
                let url = format!("sqlite://{}", dir.join("switchboard.db").display());
                Self { url, dir: Some(dir), pg_schema: None }
            }
            Backend::Postgres => {
                let base =
                    std::env::var("SWITCHBOARD_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_POSTGRES_URL.into());
                let schema = format!("sbtest_{id}");
                let mut conn = sqlx::PgConnection::connect(&base).await.unwrap_or_else(|e| {
                    panic!(
                        "PostgreSQL at {base} is unreachable ({e}). The PostgreSQL tests need it: start it \
                         (pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start) or set \
                         SWITCHBOARD_TEST_POSTGRES_URL."
                    )
                });
                sqlx::query(&format!("CREATE SCHEMA {schema}")).execute(&mut conn).await.expect("create schema");
                conn.close().await.ok();
                let sep = if base.contains('?') { '&' } else { '?' };
                let url = format!("{base}{sep}options=-c%20search_path%3D{schema}");
                Self { url, dir: None, pg_schema: Some((base, schema)) }
            }
        }
    }
}

impl TestDb {
    /// The database at `url`, which someone else made and removes.
    #[must_use]
    pub fn at(url: String) -> Self {
        Self { url, dir: None, pg_schema: None }
    }

    /// The same database for another hub node: this one owns it (and drops it), the copy does not.
    #[must_use]
    pub fn shared(&self) -> Self {
        Self { url: self.url.clone(), dir: None, pg_schema: None }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(dir) = self.dir.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
        if let Some((base, schema)) = self.pg_schema.take() {
            // Drop runs inside the test's runtime; clean up on a thread with a runtime of its own.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
                rt.block_on(async {
                    let mut conn = sqlx::PgConnection::connect(&base).await.ok()?;
                    sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE")).execute(&mut conn).await.ok()?;
                    conn.close().await.ok()
                })
            })
            .join();
        }
    }
}

/// A web chat ticket queued in `queue` at `at`, as the router opens one (no skills, tags or
/// agent), for tests that write tickets straight into the store.
#[must_use]
pub fn queued_ticket(conversation: schema::ConversationId, queue: &str, at: time::OffsetDateTime) -> schema::Ticket {
    schema::Ticket {
        id: schema::TicketId::new(),
        conversation_id: conversation,
        channel: schema::Channel::WebChat,
        status: schema::TicketStatus::Queued,
        priority: schema::Priority::default(),
        queue: queue.parse().expect("a valid queue name"),
        skills: Vec::new(),
        escalation: Vec::new(),
        tags: std::collections::BTreeSet::new(),
        rule: None,
        summary: None,
        assignee_id: None,
        offered_to: None,
        offer_expires_at: None,
        queued_at: at,
        first_response_due: None,
        created_at: at,
        updated_at: at,
    }
}

/// A hub configuration for tests: ephemeral port, one worker, demo staff, a known token secret.
#[must_use]
pub fn test_config(db: &TestDb) -> Config {
    let mut config = Config::default();
    config.server.bind = "127.0.0.1:0".parse().expect("addr");
    config.server.workers = 1;
    config.server.shutdown_timeout_secs = 5;
    config.database.url = db.url.clone();
    config.database.max_connections = 4;
    config.demo.enabled = true;
    config.webchat.token_secret = Some(TEST_TOKEN_SECRET.into());
    config.secrets.key = Some(TEST_SECRETS_KEY.into());
    // The bot has tests of its own (`tests/e2e/bot.rs`); elsewhere conversations go straight to people.
    config.bot.enabled = false;
    // Self-service (account answers after a one-time code) has tests of its own
    // (`tests/e2e/selfservice.rs`); elsewhere the bot's account intents go to the knowledge base.
    config.selfservice.enabled = false;
    config
}

/// The embedding model's folder (`scripts/fetch-model` fills it; `SWITCHBOARD_MODEL_DIR`
/// overrides). Tests that need it fail, rather than skip, when it is missing.
#[must_use]
pub fn model_dir() -> String {
    let dir = std::env::var("SWITCHBOARD_MODEL_DIR")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../models/all-MiniLM-L6-v2").to_owned());
    assert!(
        std::path::Path::new(&dir).join("config.json").exists(),
        "the embedding model is missing from {dir}: run scripts/fetch-model"
    );
    dir
}

/// The `switchboard` binary: `SWITCHBOARD_BIN`, else the one cargo built beside this test
/// binary (`cargo test --workspace` and `cargo build --bin switchboard` build it).
#[must_use]
pub fn switchboard_bin() -> PathBuf {
    let bin = std::env::var_os("SWITCHBOARD_BIN").map_or_else(
        || {
            // Beside a binary of this crate (target/debug), or above a test's (target/debug/deps).
            let exe = std::env::current_exe().unwrap();
            let dir = exe.parent().unwrap();
            let beside = dir.join("switchboard");
            if beside.exists() { beside } else { dir.parent().unwrap().join("switchboard") }
        },
        PathBuf::from,
    );
    assert!(bin.exists(), "{} is missing: run `cargo build --bin switchboard` first", bin.display());
    bin
}

/// A hub running for one test.
#[derive(Debug)]
pub struct TestApp {
    pub addr: std::net::SocketAddr,
    pub http: reqwest::Client,
    pub hub: Option<RunningHub>,
    pub db: TestDb,
}

/// Starts the hub on an ephemeral port with a fresh database of `backend`.
pub async fn spawn_app(backend: Backend) -> TestApp {
    let db = TestDb::new(backend).await;
    spawn_app_with(test_config(&db), db).await
}

/// Starts the hub with `config` (whose database is `db`). The hub answers at once; when the bot
/// is on with its model, this waits (as a client would, on `/readyz`) until the knowledge base's
/// vectors are built, so the tests see the bot as it runs for good.
pub async fn spawn_app_with(config: Config, db: TestDb) -> TestApp {
    let hub = hub::start(config).await.expect("hub starts");
    let app = TestApp { addr: hub.addr, http: reqwest::Client::new(), hub: Some(hub), db };
    app.wait_for_bot_vectors().await;
    app
}

impl TestApp {
    #[must_use]
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Waits until `/readyz` no longer says the bot's vectors are being built.
    pub async fn wait_for_bot_vectors(&self) {
        let deadline = std::time::Instant::now() + Duration::from_secs(300);
        loop {
            let ready: Value =
                self.http.get(self.url("/readyz")).send().await.expect("readyz").json().await.expect("json");
            if ready["bot"]["vectors"] != "building" {
                return;
            }
            assert!(std::time::Instant::now() < deadline, "the bot's vectors were not built in 5 minutes: {ready}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops the hub gracefully (the database stays, for a restart).
    pub async fn stop(&mut self) {
        if let Some(hub) = self.hub.take() {
            hub.shutdown().await;
        }
    }

    /// Signs a staff member in and returns the session token.
    pub async fn login(&self, email: &str) -> String {
        let res = self
            .http
            .post(self.url("/api/v1/auth/login"))
            .json(&json!({ "email": email, "password": PASSWORD }))
            .send()
            .await
            .expect("login request");
        assert_eq!(res.status(), 200, "login as {email}");
        let body: Value = res.json().await.expect("login body");
        body["token"].as_str().expect("token").to_owned()
    }

    /// Opens a web chat session: (visitor token, conversation id).
    pub async fn new_chat(&self) -> (String, String) {
        let res = self
            .http
            .post(self.url("/api/v1/webchat/sessions"))
            .json(&json!({ "name": "Carla Customer", "language": "es" }))
            .send()
            .await
            .expect("session request");
        assert_eq!(res.status(), 201);
        let body: Value = res.json().await.expect("session body");
        (body["token"].as_str().expect("token").to_owned(), body["conversation_id"].as_str().expect("id").to_owned())
    }

    /// A GET with a staff token, returning status and JSON body (Null if not JSON).
    pub async fn get(&self, path: &str, token: &str) -> (u16, Value) {
        let res = self.http.get(self.url(path)).bearer_auth(token).send().await.expect("GET");
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    /// A POST of JSON with a staff token, returning status and JSON body (Null if not JSON).
    pub async fn post(&self, path: &str, token: &str, body: &Value) -> (u16, Value) {
        let res = self.http.post(self.url(path)).bearer_auth(token).json(body).send().await.expect("POST");
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    /// A PUT of JSON with a staff token, returning status and JSON body (Null if not JSON).
    pub async fn put(&self, path: &str, token: &str, body: &Value) -> (u16, Value) {
        let res = self.http.put(self.url(path)).bearer_auth(token).json(body).send().await.expect("PUT");
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    /// The id of the signed-in staff member.
    pub async fn me(&self, token: &str) -> String {
        let (status, me) = self.get("/api/v1/me", token).await;
        assert_eq!(status, 200);
        me["id"].as_str().expect("id").to_owned()
    }

    /// Connects a customer socket.
    pub async fn customer_socket(&self, token: &str, last_seq: Option<i64>) -> Ws {
        let mut url = format!("ws://{}/ws/webchat?token={token}", self.addr);
        if let Some(seq) = last_seq {
            url.push_str(&format!("&last_seq={seq}"));
        }
        Ws::connect(&url).await
    }

    /// Connects an agent's inbox socket.
    pub async fn inbox_socket(&self, token: &str) -> Ws {
        Ws::connect(&format!("ws://{}/ws/inbox?token={token}", self.addr)).await
    }
}

/// A websocket client.
#[derive(Debug)]
pub struct Ws {
    inner: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

/// How long a test waits for an expected frame.
pub const WAIT: Duration = Duration::from_secs(10);

impl Ws {
    pub async fn connect(url: &str) -> Self {
        let (inner, _) = tokio_tungstenite::connect_async(url).await.expect("websocket connects");
        Self { inner }
    }

    /// Connects, or `None` when the hub refuses the upgrade (e.g. `429`).
    pub async fn try_connect(url: &str) -> Option<Self> {
        tokio_tungstenite::connect_async(url).await.ok().map(|(inner, _)| Self { inner })
    }

    pub async fn send_json(&mut self, v: &Value) {
        self.inner.send(WsMessage::text(v.to_string())).await.expect("send");
    }

    pub async fn send_raw(&mut self, m: WsMessage) {
        self.inner.send(m).await.expect("send");
    }

    /// The next JSON text frame (pings and pongs skipped); panics on close or timeout.
    pub async fn next_json(&mut self) -> Value {
        loop {
            let frame = tokio::time::timeout(WAIT, self.inner.next()).await.expect("a frame in time");
            match frame {
                Some(Ok(WsMessage::Text(t))) => return serde_json::from_str(&t).expect("JSON frame"),
                Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_))) => {}
                other => panic!("expected a JSON frame, got {other:?}"),
            }
        }
    }

    /// Sends `v`; `false` when the socket is gone.
    pub async fn try_send_json(&mut self, v: &Value) -> bool {
        self.inner.send(WsMessage::text(v.to_string())).await.is_ok()
    }

    /// The next JSON text frame within `wait`: `Ok(None)` if none came in time, `Err(())` once
    /// the socket is closed or broken.
    #[allow(clippy::result_unit_err)]
    pub async fn try_next_json(&mut self, wait: Duration) -> Result<Option<Value>, ()> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.inner.next()).await {
                Err(_) => return Ok(None),
                Ok(Some(Ok(WsMessage::Text(t)))) => return serde_json::from_str(&t).map(Some).map_err(|_| ()),
                Ok(Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_) | WsMessage::Frame(_) | WsMessage::Binary(_)))) => {}
                Ok(Some(Ok(WsMessage::Close(_)) | Err(_)) | None) => return Err(()),
            }
        }
    }

    /// The next `ticket.updated` frame for `ticket` in `status` (every inbox sees every ticket
    /// update): the ticket.
    pub async fn ticket_update(&mut self, ticket: &str, status: &str) -> Value {
        loop {
            let v = self.next_of("ticket.updated").await;
            if v["ticket"]["id"] == ticket && v["ticket"]["status"] == status {
                return v["ticket"].clone();
            }
        }
    }

    /// The next JSON frame whose `type` is `kind`, skipping others.
    pub async fn next_of(&mut self, kind: &str) -> Value {
        loop {
            let v = self.next_json().await;
            if v["type"] == kind {
                return v;
            }
        }
    }

    /// Waits for the close frame and returns its code and reason.
    pub async fn closed(&mut self) -> (u16, String) {
        loop {
            let frame = tokio::time::timeout(WAIT, self.inner.next()).await.expect("a close in time");
            match frame {
                Some(Ok(WsMessage::Close(Some(c)))) => return (u16::from(c.code), c.reason.to_string()),
                Some(Ok(WsMessage::Close(None))) => return (u16::from(CloseCode::Status), String::new()),
                Some(Ok(_)) => {}
                other => panic!("expected a close frame, got {other:?}"),
            }
        }
    }
}
