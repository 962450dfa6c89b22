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
