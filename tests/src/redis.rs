//! Redis for the scale-out tests: the machine's (each test on a stream of its own), or a private
//! `redis-server` on an ephemeral port that a test kills and starts again.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// The machine's Redis (`SWITCHBOARD_TEST_REDIS_URL` overrides).
#[must_use]
pub fn shared_url() -> String {
    std::env::var("SWITCHBOARD_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A stream name no other test uses.
#[must_use]
pub fn unique_stream() -> String {
    format!("sbtest:events:{}", uuid::Uuid::new_v4().simple())
}

/// A `redis-server` of one test's own, without persistence (a restart loses the stream, as a
/// crash of an unpersisted Redis would), killed when dropped.
#[derive(Debug)]
pub struct RedisServer {
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts it on a free port and waits until it answers.
    pub async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("free port").local_addr().expect("port").port();
        let dir = std::env::temp_dir().join(format!("switchboard-redis-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("redis dir");
        let mut server = Self { port, dir, child: None };
        server.start_again().await;
        server
    }

    #[must_use]
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills it (`SIGKILL`: no goodbye to its clients beyond the closed sockets).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it (again) on its port, empty, and waits until it answers `PING`.
    pub async fn start_again(&mut self) {
        assert!(self.child.is_none(), "already running");
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server runs (Debian package redis-server)");
        self.child = Some(child);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while self.command("PING").await.as_deref() != Some("+PONG") {
            assert!(tokio::time::Instant::now() < deadline, "redis-server on port {} did not start", self.port);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Sends one inline command and returns the first line of the answer (`None`: unreachable).
    pub async fn command(&self, command: &str) -> Option<String> {
        let mut conn = TcpStream::connect(("127.0.0.1", self.port)).await.ok()?;
        conn.write_all(format!("{command}\r\n").as_bytes()).await.ok()?;
        let mut buf = vec![0; 512];
        let n = tokio::time::timeout(Duration::from_secs(5), conn.read(&mut buf)).await.ok()?.ok()?;
        let text = String::from_utf8_lossy(&buf[..n]);
        text.lines().next().map(str::to_owned)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
