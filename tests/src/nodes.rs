//! Hub nodes as processes of their own: the built `switchboard` binary, for the tests and
//! benchmarks that kill a node (SIGKILL) rather than stop it.

use std::time::Duration;

use serde_json::Value;

use crate::redis::shared_url;
use crate::{TEST_SECRETS_KEY, TEST_TOKEN_SECRET, TestApp, TestDb, switchboard_bin};

/// The `switchboard` binary serving a database on a free port, on the shared Redis, killed
/// (SIGKILL) when dropped.
#[derive(Debug)]
pub struct NodeProcess {
    pub child: tokio::process::Child,
    pub addr: std::net::SocketAddr,
}

impl NodeProcess {
    /// Started on `db` and the Redis stream `stream` of the shared Redis; returns once it
    /// listens.
    ///
    /// # Panics
    /// The binary is missing, or does not listen within a minute.
    pub async fn start(db: &TestDb, stream: &str) -> Self {
        Self::start_with(db, stream, &[]).await
    }

    /// [`NodeProcess::start`], with more configuration from `env` (`SWITCHBOARD_…` variables).
    ///
    /// # Panics
    /// The binary is missing, or does not listen within a minute.
    pub async fn start_with(db: &TestDb, stream: &str, env: &[(&str, &str)]) -> Self {
        use tokio::io::AsyncBufReadExt as _;
        let mut child = tokio::process::Command::new(switchboard_bin())
            .args(["serve", "--bind", "127.0.0.1:0", "--database-url", &db.url])
            .env("SWITCHBOARD_BUS__KIND", "redis")
            .env("SWITCHBOARD_BUS__URL", shared_url())
            .env("SWITCHBOARD_BUS__STREAM", stream)
            .current_dir(std::env::temp_dir())
            .env_remove("SWITCHBOARD_BIN")
            .env_remove("SWITCHBOARD_CONFIG")
            .env("SWITCHBOARD_SECRETS__KEY", TEST_SECRETS_KEY)
            .env("SWITCHBOARD_WEBCHAT__TOKEN_SECRET", TEST_TOKEN_SECRET)
            .env("SWITCHBOARD_BOT__ENABLED", "false")
            .env("SWITCHBOARD_SELFSERVICE__ENABLED", "false")
            // The demo staff and customers, as the tests' own nodes have (seeding is idempotent).
            .env("SWITCHBOARD_DEMO__ENABLED", "true")
            .env("RUST_LOG", "warn")
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("the switchboard binary starts");
        let mut lines = tokio::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
        let addr = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = lines.next_line().await.expect("the node's output") {
                if let Some(addr) = line.strip_prefix("Switchboard is listening on http://") {
                    return addr.parse().expect("an address");
                }
            }
            panic!("the node ended before it listened");
        })
        .await
        .expect("the node listens");
        // Keep reading its output, so it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Self { child, addr }
    }

    /// Whether the node holds the lease `name` (`jobs`, `router`), as its `/readyz` says.
    ///
    /// # Panics
    /// `/readyz` does not answer, or names no such lease.
    pub async fn leads(&self, name: &str) -> bool {
        let ready: Value =
            reqwest::get(format!("http://{}/readyz", self.addr)).await.expect("readyz").json().await.expect("json");
        ready["leases"][name].as_bool().expect("readyz names the lease")
    }

    /// A client of this node on `db` (the process's database), as the tests' helpers take it.
    #[must_use]
    pub fn client(&self, db: &TestDb) -> TestApp {
        TestApp { addr: self.addr, http: reqwest::Client::new(), hub: None, db: db.shared() }
    }
}

/// HAProxy in front of hub nodes (Debian's `haproxy`), as `deploy/haproxy.cfg` sets it up: health
/// checks on `/readyz`, websockets, a failed connection retried on another node. Killed when
/// dropped.
#[derive(Debug)]
pub struct Proxy {
    child: std::process::Child,
    pub addr: std::net::SocketAddr,
    dir: std::path::PathBuf,
}

impl Proxy {
    /// Started on a free port in front of `nodes`; returns once it answers `/readyz` through a
    /// healthy node.
    ///
    /// # Panics
    /// `haproxy` is missing, or does not come up within 10 s.
    pub async fn start(nodes: &[std::net::SocketAddr]) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        let mut config = vec![
            "global".to_owned(),
            "    maxconn 4000".into(),
            "defaults".into(),
            "    mode http".into(),
            "    timeout connect 2s".into(),
            "    timeout client 60s".into(),
            "    timeout server 60s".into(),
            "    timeout tunnel 1h".into(),
            "    timeout client-fin 5s".into(),
            "    retries 3".into(),
            "    option redispatch".into(),
            "frontend switchboard".into(),
            format!("    bind {addr}"),
            "    default_backend hubs".into(),
            "backend hubs".into(),
            "    balance leastconn".into(),
            "    option httpchk".into(),
            "    http-check send meth GET uri /readyz".into(),
            "    http-check expect status 200".into(),
            "    default-server inter 500ms fall 1 rise 1 on-marked-down shutdown-sessions".into(),
        ];
        config.extend(nodes.iter().enumerate().map(|(i, a)| format!("    server hub{i} {a} check")));
        let config = config.join("\n") + "\n";
        let dir = std::env::temp_dir().join(format!("sb-haproxy-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("a directory for haproxy");
        let file = dir.join("haproxy.cfg");
        std::fs::write(&file, config).expect("haproxy.cfg written");
        let child = std::process::Command::new("haproxy")
            .arg("-db")
            .arg("-f")
            .arg(&file)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("haproxy starts (scripts/test installs it)");
        let proxy = Self { child, addr, dir };
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(r) = reqwest::get(format!("http://{addr}/readyz")).await
                && r.status() == 200
            {
                return proxy;
            }
            assert!(std::time::Instant::now() < deadline, "haproxy did not come up");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
