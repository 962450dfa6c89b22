//! Mail servers for the e-mail tests: the relay stand-in the hub sends replies through (an SMTP
//! server of our own that records what it gets), and a real Dovecot IMAP server for the poll
//! mode.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use channels::email::smtp::{Envelope, MailSink, SinkError, SmtpConfig, serve};
use channels::email::{InboundLimits, InboundMail, parse_inbound};
use futures_util::TryStreamExt as _;
use tokio_util::sync::CancellationToken;

/// The relay stand-in: an SMTP server that records what the hub sends, and can refuse.
#[derive(Debug, Default)]
pub struct RelaySink {
    pub mails: Mutex<Vec<(Envelope, Bytes)>>,
    /// Refuse this many deliveries with a 4xx first.
    pub refuse_temporarily: AtomicUsize,
    /// Refuse every delivery with a 5xx.
    pub refuse_permanently: AtomicBool,
    pub attempts: AtomicUsize,
}

impl MailSink for RelaySink {
    async fn deliver(&self, envelope: Envelope, raw: Bytes) -> Result<(), SinkError> {
        self.attempts.fetch_add(1, Ordering::SeqCst);
        if self.refuse_permanently.load(Ordering::SeqCst) {
            return Err(SinkError::Rejected("mailbox disabled".into()));
        }
        if self.refuse_temporarily.load(Ordering::SeqCst) > 0 {
            self.refuse_temporarily.fetch_sub(1, Ordering::SeqCst);
            return Err(SinkError::Temporary("greylisted, try again".into()));
        }
        self.mails.lock().unwrap().push((envelope, raw));
        Ok(())
    }
}

#[derive(Debug)]
pub struct Relay {
    pub addr: SocketAddr,
    pub sink: Arc<RelaySink>,
    pub shutdown: CancellationToken,
}

impl Relay {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let sink = Arc::new(RelaySink::default());
        let shutdown = CancellationToken::new();
        let config = SmtpConfig::new("relay.test", vec!["example.com".into()], Vec::new());
        tokio::spawn(serve(listener, config, Arc::clone(&sink), shutdown.clone()));
        Self { addr, sink, shutdown }
    }

    /// Waits for the relay to hold `n` mails (30 s at most) and returns the `n`th. The bound is
    /// generous because a bot's answer needs the embedding model, and in the one test process
    /// another test's hub may be embedding the whole demo knowledge base on the same cores.
    pub async fn mail(&self, n: usize) -> (Envelope, Bytes, InboundMail) {
        for _ in 0..600 {
            if let Some((envelope, raw)) = self.sink.mails.lock().unwrap().get(n - 1).cloned() {
                let parsed = parse_inbound(&raw, &InboundLimits::default()).unwrap();
                return (envelope, raw, parsed);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the relay did not receive mail #{n}");
    }
}

/// The test CA (`ca.pem`) and a certificate for `localhost` signed by it (`cert.pem`, `key.pem`).
#[must_use]
pub fn tls_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../channels/tests/mail/tls")
}

/// A Dovecot IMAP server of its own for one test (Debian package `dovecot-imapd`): a config,
/// mail and state in a temporary directory, users from a password file, plain IMAP with
/// STARTTLS on [`Self::port`] and IMAP over TLS on [`Self::tls_port`] (certificate for
/// `localhost` from [`tls_dir`]). Stopped when dropped.
#[derive(Debug)]
pub struct Dovecot {
    pub port: u16,
    pub tls_port: u16,
    dir: PathBuf,
    child: Child,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn id(flag: &str) -> String {
    let out = Command::new("id").arg(flag).output().expect("id runs");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

impl Dovecot {
    /// Starts Dovecot with these (user, password) pairs and waits until it answers.
    pub async fn start(users: &[(&str, &str)]) -> Self {
        let binary = ["/usr/sbin/dovecot", "/usr/local/sbin/dovecot"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .expect("dovecot is not installed: apt-get install dovecot-imapd (scripts/test does)");
        let dir = std::env::temp_dir().join(format!("sb-dovecot-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(dir.join("mail")).unwrap();
        let passwd: String = users.iter().map(|(u, p)| format!("{u}:{{PLAIN}}{p}\n")).collect();
        std::fs::write(dir.join("passwd"), passwd).unwrap();
        // As root, Dovecot runs its parts as its own users and the mail as nobody; otherwise
        // everything runs as the current user.
        let (internal, login, uid, gid) = if id("-u") == "0" {
            let mail = dir.join("mail");
            let status = Command::new("chown").arg("65534:65534").arg(&mail).status().unwrap();
            assert!(status.success(), "chown the mail directory");
            ("dovecot".to_owned(), "dovenull".to_owned(), "65534".to_owned(), "65534".to_owned())
        } else {
            (id("-un"), id("-un"), id("-u"), id("-g"))
        };
        let (port, tls_port) = (free_port(), free_port());
        let tls = tls_dir();
        let d = dir.display();
        let config = format!(
            "base_dir = {d}/run\nstate_dir = {d}/state\nlog_path = {d}/log\nprotocols = imap\nlisten = 127.0.0.1\n\
             ssl = yes\nssl_cert = <{cert}\nssl_key = <{key}\ndisable_plaintext_auth = no\n\
             auth_mechanisms = plain login\nmail_location = maildir:{d}/mail/%u\n\
             default_internal_user = {internal}\ndefault_login_user = {login}\n\
             passdb {{\n  driver = passwd-file\n  args = scheme=PLAIN {d}/passwd\n}}\n\
             userdb {{\n  driver = static\n  args = uid={uid} gid={gid} home={d}/mail/%u\n}}\n\
             service imap-login {{\n  inet_listener imap {{\n    port = {port}\n  }}\n  \
             inet_listener imaps {{\n    port = {tls_port}\n    ssl = yes\n  }}\n}}\n",
            cert = tls.join("cert.pem").display(),
            key = tls.join("key.pem").display(),
        );
        std::fs::write(dir.join("dovecot.conf"), config).unwrap();
        let child = Command::new(binary)
            .arg("-F")
            .arg("-c")
            .arg(dir.join("dovecot.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("dovecot starts");
        let server = Self { port, tls_port, dir, child };
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok()
                && tokio::net::TcpStream::connect(("127.0.0.1", tls_port)).await.is_ok()
            {
                return server;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("dovecot did not start: {}", std::fs::read_to_string(server.dir.join("log")).unwrap_or_default());
    }

    /// A plain IMAP session as `user`, with `folder` selected (created if missing).
    pub async fn session(&self, user: &str, password: &str, folder: &str) -> ImapSession {
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await.unwrap();
        let mut client = async_imap::Client::new(tcp);
        client.read_response().await.unwrap().expect("greeting");
        let mut session = client.login(user, password).await.map_err(|(e, _)| e).unwrap();
        if session.select(folder).await.is_err() {
            session.create(folder).await.unwrap();
            session.select(folder).await.unwrap();
        }
        ImapSession { session }
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        // SIGTERM lets the master stop its children; then the files go.
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A client session on the test's Dovecot: puts mail in, and looks at what the hub did to it.
#[derive(Debug)]
pub struct ImapSession {
    session: async_imap::Session<tokio::net::TcpStream>,
}

impl ImapSession {
    /// Delivers `raw` into `folder`, as the server's own delivery agent would.
    pub async fn append(&mut self, folder: &str, raw: &[u8]) {
        self.session.append(folder, None, None, raw).await.unwrap();
    }

    /// How many mails in `folder` are not marked read.
    pub async fn unseen(&mut self, folder: &str) -> usize {
        self.session.select(folder).await.unwrap();
        self.session.uid_search("UNSEEN").await.unwrap().len()
    }

    /// The flags of every mail in `folder`, by UID: `["\\Seen", ...]`.
    pub async fn flags(&mut self, folder: &str) -> Vec<(u32, Vec<String>)> {
        self.session.select(folder).await.unwrap();
        let fetches: Vec<_> =
            self.session.uid_fetch("1:*", "(UID FLAGS)").await.unwrap().try_collect().await.unwrap_or_default();
        let mut out: Vec<(u32, Vec<String>)> = fetches
            .iter()
            .map(|f| (f.uid.unwrap_or_default(), f.flags().map(|flag| format!("{flag:?}")).collect()))
            .collect();
        out.sort();
        out
    }

    /// Waits until the mail with `uid` in `folder` has every flag in `want` (as `Debug` names:
    /// `Seen`, `Flagged`, `Deleted`), or until `folder` holds `count` mails when `uid` is `None`.
    pub async fn wait_flags(&mut self, folder: &str, uid: u32, want: &[&str]) -> Vec<String> {
        for _ in 0..200 {
            let all = self.flags(folder).await;
            if let Some((_, flags)) = all.iter().find(|(u, _)| *u == uid)
                && want.iter().all(|w| flags.iter().any(|f| f == w))
            {
                return flags.clone();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("mail {uid} in {folder} never got {want:?}: {:?}", self.flags(folder).await);
    }

    /// Waits until `folder` holds exactly `count` mails.
    pub async fn wait_count(&mut self, folder: &str, count: usize) {
        for _ in 0..200 {
            if self.flags(folder).await.len() == count {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{folder} never held {count} mails: {:?}", self.flags(folder).await);
    }
}
