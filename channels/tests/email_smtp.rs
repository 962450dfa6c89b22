//! The SMTP server over real TCP on 127.0.0.1, with lettre's client as the sender and raw
//! sockets for what lettre does not do (pipelining, garbage, overlong lines, bare-LF dots).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use channels::email::smtp::{Envelope, MailSink, SinkError, SmtpConfig, serve};
use channels::email::{
    InboundLimits, Mailbox, ReplyParams, SendError, build_reply, conversation_token, parse_inbound, send_raw,
    thread_keys,
};
use lettre::address::Envelope as LettreEnvelope;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use schema::{ConversationId, EmailAddress};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

#[derive(Default)]
struct MemSink {
    mails: Mutex<Vec<(Envelope, Bytes)>>,
    fail: AtomicBool,
}

impl MailSink for MemSink {
    async fn deliver(&self, envelope: Envelope, raw: Bytes) -> Result<(), SinkError> {
        if self.fail.load(Ordering::SeqCst) {
            return Err(SinkError::Temporary("database unavailable".into()));
        }
        self.mails.lock().unwrap().push((envelope, raw));
        Ok(())
    }
}

impl MemSink {
    fn count(&self) -> usize {
        self.mails.lock().unwrap().len()
    }
}

fn config() -> SmtpConfig {
    let mut c = SmtpConfig::new(
        "mx.telco.example",
        vec!["Help.Telco.Example".into()],
        vec!["support@telco.example".parse().unwrap()],
    );
    c.max_message_bytes = 64 * 1024;
    c.command_timeout = Duration::from_secs(10);
    c.data_timeout = Duration::from_secs(10);
    c
}

struct Server {
    addr: SocketAddr,
    sink: Arc<MemSink>,
    shutdown: CancellationToken,
    task: JoinHandle<()>,
}

async fn start(config: SmtpConfig) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let sink = Arc::new(MemSink::default());
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(serve(listener, config, Arc::clone(&sink), shutdown.clone()));
    Server { addr, sink, shutdown, task }
}

fn client(addr: SocketAddr) -> AsyncSmtpTransport<Tokio1Executor> {
    AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(addr.port())
        .hello_name(ClientId::Domain("client.example".into()))
        .timeout(Some(Duration::from_secs(10)))
        .build()
}

fn envelope(from: Option<&str>, to: &[&str]) -> LettreEnvelope {
    LettreEnvelope::new(from.map(|f| f.parse().unwrap()), to.iter().map(|t| t.parse().unwrap()).collect()).unwrap()
}

/// A raw SMTP client.
struct Raw {
    r: BufReader<OwnedReadHalf>,
    w: OwnedWriteHalf,
}

impl Raw {
    async fn connect(addr: SocketAddr) -> (Self, String) {
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (r, w) = stream.into_split();
        let mut raw = Self { r: BufReader::new(r), w };
        let greeting = raw.reply().await;
        (raw, greeting)
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.w.write_all(bytes).await.unwrap();
    }

    /// One whole reply (all lines of a multi-line one), or "" when the server closed.
    async fn reply(&mut self) -> String {
        let mut all = String::new();
        loop {
            let mut line = String::new();
            let n = tokio::time::timeout(Duration::from_secs(10), self.r.read_line(&mut line)).await.unwrap().unwrap();
            if n == 0 {
                return all;
            }
            all.push_str(&line);
            if line.as_bytes().get(3) != Some(&b'-') {
                return all;
            }
        }
    }

    async fn cmd(&mut self, line: &str) -> String {
        self.send(format!("{line}\r\n").as_bytes()).await;
        self.reply().await
    }
}

#[tokio::test]
async fn lettre_delivers_exact_bytes_and_the_envelope() {
    let s = start(config()).await;
    let t = client(s.addr);

    // A dot-stuffing workout through lettre's client.
    let raw = b"From: Ana <ana@example.com>\r\nTo: support@telco.example\r\nSubject: dots\r\nMessage-ID: <dots-1@example.com>\r\n\r\n.leading dot\r\n..two dots\r\n.\r\n \r\nend\r\n";
    let token = conversation_token(&ConversationId::new());
    let plus = token.plus_address(&"support@telco.example".parse().unwrap());
    t.send_raw(&envelope(Some("ana@example.com"), &[plus.as_str(), "Anyone@help.telco.example"]), raw).await.unwrap();

    // A threaded reply built by build_reply travels through and parses back.
    let (message, message_id) = build_reply(&ReplyParams {
        from: Mailbox::new("support@telco.example".parse().unwrap()),
        to: vec![Mailbox::new("support@telco.example".parse().unwrap())],
        subject_of_thread: "my bill".into(),
        text: "Hello.\n.\nA line that is only a dot, above.".into(),
        html: None,
        in_reply_to: Some("dots-1@example.com".into()),
        references: vec![],
        token: token.clone(),
        domain: "telco.example".into(),
        automatic: true,
    })
    .unwrap();
    let formatted = message.formatted();
    t.send(message).await.unwrap();

    let mails = s.sink.mails.lock().unwrap().clone();
    assert_eq!(mails.len(), 2);
    let (env, bytes) = &mails[0];
    // lettre always ends DATA with "\r\n.\r\n", so a message already ending in CRLF arrives
    // with one more empty line: that is what was on the wire, and what the sink must get.
    assert_eq!(bytes.as_ref(), [&raw[..], b"\r\n"].concat(), "the sink gets the exact bytes, dot-unstuffed");
    assert_eq!(env.mail_from.as_deref(), Some("ana@example.com"));
    let rcpts: Vec<&str> = env.rcpt_to.iter().map(EmailAddress::as_str).collect();
    assert_eq!(rcpts, [plus.as_str(), "anyone@help.telco.example"]);
    assert_eq!(env.helo, "client.example");
    assert_eq!(env.peer.ip(), s.addr.ip());
    assert!(!env.tls);

    let (_, bytes) = &mails[1];
    assert_eq!(bytes.as_ref(), [&formatted[..], b"\r\n"].concat());
    let back = parse_inbound(bytes, &InboundLimits::default()).unwrap();
    assert_eq!(back.message_id.as_str(), message_id);
    assert_eq!(thread_keys(&back), ["dots-1@example.com"]);
    assert!(back.text.contains("\n.\nA line that is only a dot"));
    assert!(back.is_automatic(), "our own bot replies are marked Auto-Submitted");
    s.shutdown.cancel();
    s.task.await.unwrap();
}

#[tokio::test]
async fn unknown_recipient_is_550_and_permanent() {
    let s = start(config()).await;
    let err = client(s.addr)
        .send_raw(&envelope(Some("a@example.com"), &["sales@telco.example"]), b"Subject: x\r\n\r\nhi\r\n")
        .await
        .unwrap_err();
    let classified = SendError::classify(&err);
    assert!(classified.is_permanent(), "{classified:?}");
    assert!(matches!(classified, SendError::Permanent { code: Some(550), .. }), "{classified:?}");
    assert_eq!(s.sink.count(), 0);
}

#[tokio::test]
async fn oversize_is_552_and_nothing_is_delivered() {
    let mut c = config();
    c.max_message_bytes = 1000;
    let s = start(c).await;
    let big = format!("Subject: big\r\n\r\n{}\r\n", "x".repeat(70).repeat(20).replace("xx", "x\r\n"));
    let err = client(s.addr)
        .send_raw(&envelope(Some("a@example.com"), &["support@telco.example"]), big.as_bytes())
        .await
        .unwrap_err();
    assert!(matches!(SendError::classify(&err), SendError::Permanent { code: Some(552), .. }), "{err}");
    assert_eq!(s.sink.count(), 0);
}

#[tokio::test]
async fn sink_failure_is_a_transient_451_for_the_client() {
    let s = start(config()).await;
    s.sink.fail.store(true, Ordering::SeqCst);
    let t = client(s.addr);
    let env = envelope(Some("a@example.com"), &["support@telco.example"]);
    let err = t.send_raw(&env, b"Subject: x\r\n\r\nhi\r\n").await.unwrap_err();
    let classified = SendError::classify(&err);
    assert!(matches!(classified, SendError::Transient { code: Some(451), .. }), "{classified:?}");
    assert_eq!(s.sink.count(), 0);
    // Once storage is back, the retry goes through.
    s.sink.fail.store(false, Ordering::SeqCst);
    send_raw(&t, &env, b"Subject: x\r\n\r\nhi\r\n").await.unwrap();
    assert_eq!(s.sink.count(), 1);
}

#[tokio::test]
async fn pipelined_commands_get_all_their_replies_in_order() {
    let s = start(config()).await;
    let (mut c, greeting) = Raw::connect(s.addr).await;
    assert!(greeting.starts_with("220 mx.telco.example"));
    c.send(b"EHLO pipe.example\r\nMAIL FROM:<a@example.com> SIZE=100\r\nRCPT TO:<nobody@else.example>\r\nRCPT TO:<support+x@telco.example>\r\nDATA\r\n").await;
    let ehlo = c.reply().await;
    for ext in ["250-SIZE 65536", "250-8BITMIME", "250-PIPELINING", "250 ENHANCEDSTATUSCODES"] {
        assert!(ehlo.contains(ext), "{ehlo}");
    }
    assert!(!ehlo.contains("STARTTLS"), "no TLS configured: {ehlo}");
    assert!(c.reply().await.starts_with("250 2.1.0"));
    assert!(c.reply().await.starts_with("550 5.1.1"));
    assert!(c.reply().await.starts_with("250 2.1.5"));
    assert!(c.reply().await.starts_with("354"));
    c.send(b"Subject: piped\r\n\r\nbody\r\n.\r\nNOOP\r\nQUIT\r\n").await;
    assert!(c.reply().await.starts_with("250 2.0.0"));
    assert!(c.reply().await.starts_with("250 2.0.0"));
    assert!(c.reply().await.starts_with("221"));
    let mails = s.sink.mails.lock().unwrap().clone();
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].1.as_ref(), b"Subject: piped\r\n\r\nbody\r\n");
    assert_eq!(mails[0].0.rcpt_to[0].as_str(), "support+x@telco.example");
}

#[tokio::test]
async fn dot_stuffing_bare_lf_dots_overlong_lines_and_oversize_keep_the_session_usable() {
    let mut c = config();
    c.max_message_bytes = 200;
    let s = start(c).await;
    let (mut c, _) = Raw::connect(s.addr).await;
    assert!(c.cmd("HELO raw.example").await.starts_with("250 mx.telco.example"));

    // An overlong command line: 500, and the session goes on.
    assert!(c.cmd(&format!("NOOP {}", "a".repeat(2000))).await.starts_with("500 5.5.2"));
    assert!(c.cmd("NOOP").await.starts_with("250"));

    // Dot-stuffing, and a bare-LF ".\n" that must not end the data (no SMTP smuggling).
    assert!(c.cmd("MAIL FROM:<>").await.starts_with("250"));
    assert!(c.cmd("RCPT TO:<Support@Telco.Example>").await.starts_with("250"));
    assert!(c.cmd("DATA").await.starts_with("354"));
    c.send(b"Subject: s\r\n\r\n..dot\r\nx\n.\nMAIL FROM:<evil@x>\r\n.\r\n").await;
    assert!(c.reply().await.starts_with("250 2.0.0"));
    {
        let mails = s.sink.mails.lock().unwrap();
        assert_eq!(mails[0].1.as_ref(), b"Subject: s\r\n\r\n.dot\r\nx\n\nMAIL FROM:<evil@x>\r\n");
        assert_eq!(mails[0].0.mail_from, None, "null reverse path");
    }

    // Oversize DATA (with a very long line): 552, nothing delivered, the session still usable.
    assert!(c.cmd("MAIL FROM:<a@example.com>").await.starts_with("250"));
    assert!(c.cmd("RCPT TO:<support@telco.example>").await.starts_with("250"));
    assert!(c.cmd("DATA").await.starts_with("354"));
    c.send(format!("Subject: big\r\n\r\n{}\r\nmore\r\n.\r\n", "y".repeat(5000)).as_bytes()).await;
    assert!(c.reply().await.starts_with("552 5.3.4"));
    assert!(c.cmd("MAIL FROM:<a@example.com> SIZE=100000").await.starts_with("552"));
    assert!(c.cmd("MAIL FROM:<a@example.com>").await.starts_with("250"), "the failed transaction was reset");
    assert!(c.cmd("RSET").await.starts_with("250"));
    assert!(c.cmd("VRFY support").await.starts_with("252"));
    assert!(c.cmd("QUIT").await.starts_with("221"));
    assert_eq!(s.sink.count(), 1);
}

#[tokio::test]
async fn garbage_never_kills_the_server_and_too_many_errors_disconnect() {
    let mut cfg = config();
    cfg.max_errors = 1000;
    let s = start(cfg).await;
    let (mut c, _) = Raw::connect(s.addr).await;
    let garbage: [&[u8]; 10] = [
        b"GET / HTTP/1.1\r\n",
        b"\x00\x01\x02\xff\xfe\r\n",
        b"\r\n",
        b"MAIL\r\n",
        b"RCPT TO:<support@telco.example>\r\n",
        b"DATA\r\n",
        b"EHLO\r\n",
        b"STARTTLS\r\n",
        b"AUTH LOGIN\r\n",
        "MAIL FROM:<é@ü.example> BODY=9BIT\r\n".as_bytes(),
    ];
    let expected = ["500", "500", "500", "501", "503", "503", "501", "502", "502", "501"];
    for (g, want) in garbage.iter().zip(expected) {
        c.send(g).await;
        let reply = c.reply().await;
        assert!(reply.starts_with(want), "{:?} -> {reply:?}", String::from_utf8_lossy(g));
    }
    assert!(c.cmd("NOOP").await.starts_with("250"));

    let mut cfg = config();
    cfg.max_errors = 3;
    let strict = start(cfg).await;
    let (mut c, _) = Raw::connect(strict.addr).await;
    for _ in 0..3 {
        assert!(c.cmd("XYZZY").await.starts_with("500"));
    }
    assert!(c.cmd("XYZZY").await.starts_with("500"));
    let last = c.reply().await;
    assert!(last.starts_with("421 4.7.0"), "{last:?}");
    assert_eq!(c.reply().await, "", "the server closed the connection");
    // The server itself is fine.
    let (mut c, greeting) = Raw::connect(strict.addr).await;
    assert!(greeting.starts_with("220"));
    assert!(c.cmd("QUIT").await.starts_with("221"));
}

#[tokio::test]
async fn connection_limit_timeout_and_shutdown() {
    let mut cfg = config();
    cfg.max_connections = 1;
    cfg.command_timeout = Duration::from_millis(300);
    let s = start(cfg).await;
    let (mut first, greeting) = Raw::connect(s.addr).await;
    assert!(greeting.starts_with("220"));
    let (_, refused) = Raw::connect(s.addr).await;
    assert!(refused.starts_with("421 4.3.2"), "{refused:?}");
    // The idle session times out.
    let timed_out = first.reply().await;
    assert!(timed_out.starts_with("421 4.4.2"), "{timed_out:?}");
    // Its slot is free again; shutting down tells the waiting client and ends serve().
    tokio::time::sleep(Duration::from_millis(50)).await;
    let (mut c, greeting) = Raw::connect(s.addr).await;
    assert!(greeting.starts_with("220"), "{greeting:?}");
    s.shutdown.cancel();
    assert!(c.reply().await.starts_with("421 4.3.2"));
    tokio::time::timeout(Duration::from_secs(5), s.task).await.unwrap().unwrap();
}

#[tokio::test]
async fn starttls_with_lettre() {
    use tokio_rustls::rustls::ServerConfig;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/mail/tls");
    let certs =
        CertificateDer::pem_file_iter(format!("{dir}/cert.pem")).unwrap().collect::<Result<Vec<_>, _>>().unwrap();
    let key = PrivateKeyDer::from_pem_file(format!("{dir}/key.pem")).unwrap();
    let tls = ServerConfig::builder().with_no_client_auth().with_single_cert(certs, key).unwrap();
    let mut cfg = config();
    cfg.tls = Some(Arc::new(tls));
    let s = start(cfg).await;

    let (mut c, _) = Raw::connect(s.addr).await;
    assert!(c.cmd("EHLO x").await.contains("250 STARTTLS"));

    let ca = Certificate::from_pem(&std::fs::read(format!("{dir}/ca.pem")).unwrap()).unwrap();
    let params = TlsParameters::builder("localhost".into()).add_root_certificate(ca).build().unwrap();
    let t = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(s.addr.port())
        .tls(Tls::Required(params))
        .timeout(Some(Duration::from_secs(10)))
        .build();
    t.send_raw(&envelope(Some("a@example.com"), &["support@telco.example"]), b"Subject: tls\r\n\r\nsecret\r\n")
        .await
        .unwrap();
    let mails = s.sink.mails.lock().unwrap().clone();
    assert_eq!(mails.len(), 1);
    assert!(mails[0].0.tls);
    assert_eq!(mails[0].1.as_ref(), b"Subject: tls\r\n\r\nsecret\r\n\r\n");
}

#[tokio::test]
async fn a_trickled_data_phase_hits_the_whole_data_deadline() {
    // Each line arrives well within the per-line timeout, but the mail as a whole takes longer
    // than the DATA deadline: 421 and the connection closed, nothing delivered.
    let mut cfg = config();
    cfg.data_deadline = Duration::from_millis(600);
    let server = start(cfg).await;
    let (mut c, _) = Raw::connect(server.addr).await;
    c.send(b"EHLO client.example\r\nMAIL FROM:<carla@example.com>\r\nRCPT TO:<support@telco.example>\r\nDATA\r\n")
        .await;
    for _ in 0..4 {
        c.reply().await;
    }
    let started = std::time::Instant::now();
    let mut reply = String::new();
    for i in 0..40 {
        if c.w.write_all(format!("line {i}\r\n").as_bytes()).await.is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut peek = String::new();
        if let Ok(Ok(n)) = tokio::time::timeout(Duration::from_millis(1), c.r.read_line(&mut peek)).await
            && n > 0
        {
            reply = peek;
            break;
        }
    }
    assert!(reply.starts_with("421 4.4.2"), "{reply:?}");
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    assert_eq!(server.sink.count(), 0);
}

#[tokio::test]
async fn sessions_per_client_address_are_capped() {
    let mut cfg = config();
    cfg.max_sessions_per_ip = 2;
    let server = start(cfg).await;
    let (_a, greeting) = Raw::connect(server.addr).await;
    assert!(greeting.starts_with("220"), "{greeting}");
    let (_b, greeting) = Raw::connect(server.addr).await;
    assert!(greeting.starts_with("220"), "{greeting}");
    // A third from the same address: 421, closed.
    let (mut c, greeting) = Raw::connect(server.addr).await;
    assert!(greeting.starts_with("421 4.7.0"), "{greeting}");
    assert_eq!(c.reply().await, "");
    // Once one ends, there is room again.
    drop(_a);
    let mut greeting = String::new();
    for _ in 0..50 {
        let (_d, g) = Raw::connect(server.addr).await;
        greeting = g;
        if greeting.starts_with("220") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(greeting.starts_with("220"), "{greeting}");
}
