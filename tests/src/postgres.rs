//! A PostgreSQL server of one test's own (`initdb` in a temporary directory, on a free port),
//! which the test may crash and start again: the machine's PostgreSQL serves every other test
//! running at the same time and must never be restarted by one.
//!
//! The server's binaries are Debian's (`/usr/lib/postgresql/<version>/bin`, the package
//! `postgresql` the test script installs). PostgreSQL refuses to run as root: as root, its
//! commands run as the `postgres` user (`runuser`), which owns the data directory.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::TestDb;

#[derive(Debug)]
pub struct PgServer {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    /// As root: the `postgres` user's uid and gid.
    run_as: Option<(u32, u32)>,
}

/// The newest installed server's binaries.
fn bin_dir() -> PathBuf {
    let root = Path::new("/usr/lib/postgresql");
    let newest = std::fs::read_dir(root)
        .expect("PostgreSQL's server is installed in /usr/lib/postgresql (Debian package postgresql)")
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .max()
        .expect("a PostgreSQL version in /usr/lib/postgresql");
    root.join(newest.to_string()).join("bin")
}

/// The `postgres` user's uid and gid, from `/etc/passwd`.
fn postgres_user() -> (u32, u32) {
    let passwd = std::fs::read_to_string("/etc/passwd").expect("/etc/passwd");
    passwd
        .lines()
        .find_map(|l| {
            let fields: Vec<&str> = l.split(':').collect();
            (fields.first() == Some(&"postgres")).then(|| (fields[2].parse().ok(), fields[3].parse().ok()))
        })
        .and_then(|(u, g)| Some((u?, g?)))
        .expect("a postgres user (Debian's postgresql package makes it)")
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

impl PgServer {
    /// Makes a new cluster on a free port (trust authentication, user `postgres`), starts it and
    /// waits until it takes connections.
    pub async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("free port").local_addr().expect("port").port();
        let dir = std::env::temp_dir().join(format!("switchboard-pg-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("a directory for PostgreSQL");
        let run_as = is_root().then(postgres_user);
        if let Some((uid, gid)) = run_as {
            std::os::unix::fs::chown(&dir, Some(uid), Some(gid)).expect("the directory given to postgres");
        }
        let server = Self { bin: bin_dir(), dir, port, run_as };
        let data = server.data().display().to_string();
        server.run("initdb", &["-D", &data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"]);
        server.start_again().await;
        server
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// One of the server's commands, as `postgres` when we are root.
    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if self.run_as.is_some() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&path);
            c
        } else {
            Command::new(&path)
        }
    }

    /// Runs one of the server's commands; panics on failure.
    fn run(&self, program: &str, args: &[&str]) {
        let out = self
            .command(program)
            .args(args)
            .current_dir(&self.dir)
            .output()
            .unwrap_or_else(|e| panic!("{program}: {e}"));
        assert!(
            out.status.success(),
            "{program} failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A database on it for the hub (the `postgres` database; the hub makes its tables).
    #[must_use]
    pub fn db(&self) -> TestDb {
        TestDb::at(format!("postgres://postgres@127.0.0.1:{}/postgres", self.port))
    }

    /// Stops it as a crash would (`immediate`: no checkpoint, every client cut off; the next
    /// start recovers from the WAL).
    pub fn crash(&self) {
        let data = self.data().display().to_string();
        self.run("pg_ctl", &["-D", &data, "-m", "immediate", "-w", "stop"]);
    }

    /// Starts it (again) and waits until it takes connections.
    pub async fn start_again(&self) {
        let data = self.data().display().to_string();
        let log = self.dir.join("server.log").display().to_string();
        let options = format!("-p {} -c listen_addresses=127.0.0.1 -k {}", self.port, self.dir.display());
        self.run("pg_ctl", &["-D", &data, "-l", &log, "-o", &options, "-w", "-t", "60", "start"]);
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await.is_err() {
            assert!(std::time::Instant::now() < deadline, "PostgreSQL did not listen on {}", self.port);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let data = self.data().display().to_string();
        let _ = self.command("pg_ctl").args(["-D", &data, "-m", "immediate", "stop"]).output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
