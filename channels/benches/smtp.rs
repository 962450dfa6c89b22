//! SMTP ingest and parse throughput.
//!
//! `cargo bench -p channels --bench smtp -- [CLIENTS] [MAILS_PER_CLIENT]` (default 8 × 500).
//!
//! * SMTP: CLIENTS lettre clients (each its own transport, one pooled connection, so
//!   connections are reused as a real sending MTA does) send MAILS_PER_CLIENT mails of ~2 KB
//!   each through [`serve`] on 127.0.0.1 into a sink that appends to memory. Each `send_raw` is
//!   timed (MAIL, RCPT, DATA, the sink, the 250), then also with a new connection per mail.
//!   lettre writes the data and the final `.` separately without TCP_NODELAY, so each mail
//!   waits out a delayed ACK (~40 ms on Linux): those figures are lettre's, not the server's.
//! * SMTP, raw: the same through clients that pipeline and set TCP_NODELAY (10× the mails):
//!   the server's own cost.
//! * Parse: [`parse_inbound`] over the test corpus in a loop.
//! * Build: [`build_reply`] plus `formatted()`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use channels::email::smtp::{Envelope, MailSink, SinkError, SmtpConfig, serve};
use channels::email::{InboundLimits, Mailbox, ReplyParams, build_reply, conversation_token, parse_inbound};
use lettre::transport::smtp::PoolConfig;
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use schema::ConversationId;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

#[derive(Default)]
struct AppendSink(Mutex<Vec<Bytes>>);

impl MailSink for AppendSink {
    async fn deliver(&self, _envelope: Envelope, raw: Bytes) -> Result<(), SinkError> {
        self.0.lock().map_err(|_| SinkError::Temporary("poisoned".into()))?.push(raw);
        Ok(())
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn mail(client: usize, n: usize) -> Vec<u8> {
    let body = "Hola, mi línea no tiene señal desde ayer por la tarde. ¿Pueden revisarlo?\r\n".repeat(24);
    format!(
        "From: Cliente {client} <c{client}@example.com>\r\nTo: support@telco.example\r\n\
         Subject: =?UTF-8?Q?Sin_se=C3=B1al?= #{n}\r\nMessage-ID: <bench-{client}-{n}@example.com>\r\n\
         Date: Mon, 3 Jun 2024 10:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\r\n{body}"
    )
    .into_bytes()
}

async fn smtp_run(clients: usize, per_client: usize, reuse: bool) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let sink = Arc::new(AppendSink::default());
    let shutdown = CancellationToken::new();
    let config = SmtpConfig::new("mx.telco.example", vec![], vec!["support@telco.example".parse().unwrap()]);
    let server = tokio::spawn(serve(listener, config, Arc::clone(&sink), shutdown.clone()));

    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        tasks.push(tokio::spawn(async move {
            let transport = || {
                AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
                    .port(port)
                    .hello_name(ClientId::Domain(format!("client{c}.example")))
                    .pool_config(PoolConfig::new().max_size(1))
                    .build()
            };
            let envelope = lettre::address::Envelope::new(
                Some(format!("c{c}@example.com").parse().unwrap()),
                vec!["support@telco.example".parse().unwrap()],
            )
            .unwrap();
            let mut shared = transport();
            let mut latencies = Vec::with_capacity(per_client);
            for n in 0..per_client {
                let raw = mail(c, n);
                if !reuse {
                    // A new transport, so a new connection (greeting, EHLO) for every mail.
                    shared = transport();
                }
                let t0 = Instant::now();
                shared.send_raw(&envelope, &raw).await.unwrap();
                latencies.push(t0.elapsed());
            }
            latencies
        }));
    }
    let mut latencies = Vec::with_capacity(clients * per_client);
    for t in tasks {
        latencies.extend(t.await.unwrap());
    }
    let elapsed = started.elapsed();
    shutdown.cancel();
    server.await.unwrap();
    let delivered = sink.0.lock().unwrap().len();
    assert_eq!(delivered, clients * per_client);
    latencies.sort();
    println!(
        "smtp ({}): {clients} clients x {per_client} mails = {delivered} mails in {:.2} s: {:.0} mails/s, p50 {}, p99 {}, max {}",
        if reuse { "connection reused" } else { "connection per mail" },
        elapsed.as_secs_f64(),
        delivered as f64 / elapsed.as_secs_f64(),
        ms(percentile(&latencies, 0.50)),
        ms(percentile(&latencies, 0.99)),
        ms(percentile(&latencies, 1.0)),
    );
}

/// Reads one SMTP reply (all lines) and returns its code.
async fn reply(r: &mut BufReader<tokio::net::tcp::OwnedReadHalf>, line: &mut String) -> u16 {
    loop {
        line.clear();
        r.read_line(line).await.unwrap();
        if line.as_bytes().get(3) != Some(&b'-') {
            return line.get(..3).and_then(|c| c.parse().ok()).unwrap_or(0);
        }
    }
}

/// The server alone: clients that set TCP_NODELAY, pipeline MAIL/RCPT/DATA and write the
/// message and its terminator in one go (lettre does neither; see BENCHMARKS.md, "The SMTP
/// server alone").
async fn smtp_raw_run(clients: usize, per_client: usize) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let sink = Arc::new(AppendSink::default());
    let shutdown = CancellationToken::new();
    let config = SmtpConfig::new("mx.telco.example", vec![], vec!["support@telco.example".parse().unwrap()]);
    let server = tokio::spawn(serve(listener, config, Arc::clone(&sink), shutdown.clone()));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        tasks.push(tokio::spawn(async move {
            let stream = TcpStream::connect(addr).await.unwrap();
            stream.set_nodelay(true).unwrap();
            let (r, mut w) = stream.into_split();
            let mut r = BufReader::new(r);
            let mut line = String::new();
            assert_eq!(reply(&mut r, &mut line).await, 220);
            w.write_all(format!("EHLO client{c}.example\r\n").as_bytes()).await.unwrap();
            assert_eq!(reply(&mut r, &mut line).await, 250);
            let head = format!("MAIL FROM:<c{c}@example.com>\r\nRCPT TO:<support@telco.example>\r\nDATA\r\n");
            let mut latencies = Vec::with_capacity(per_client);
            for n in 0..per_client {
                let mut data = mail(c, n);
                data.extend_from_slice(b".\r\n");
                let t0 = Instant::now();
                w.write_all(head.as_bytes()).await.unwrap();
                for want in [250, 250, 354] {
                    assert_eq!(reply(&mut r, &mut line).await, want);
                }
                w.write_all(&data).await.unwrap();
                assert_eq!(reply(&mut r, &mut line).await, 250);
                latencies.push(t0.elapsed());
            }
            w.write_all(b"QUIT\r\n").await.unwrap();
            latencies
        }));
    }
    let mut latencies = Vec::with_capacity(clients * per_client);
    for t in tasks {
        latencies.extend(t.await.unwrap());
    }
    let elapsed = started.elapsed();
    shutdown.cancel();
    server.await.unwrap();
    let delivered = sink.0.lock().unwrap().len();
    assert_eq!(delivered, clients * per_client);
    latencies.sort();
    println!(
        "smtp (raw pipelining client, nodelay): {clients} clients x {per_client} mails = {delivered} mails in {:.2} s: {:.0} mails/s, p50 {}, p99 {}, max {}",
        elapsed.as_secs_f64(),
        delivered as f64 / elapsed.as_secs_f64(),
        ms(percentile(&latencies, 0.50)),
        ms(percentile(&latencies, 0.99)),
        ms(percentile(&latencies, 1.0)),
    );
}

fn parse_run() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/mail");
    let mut corpus: Vec<Vec<u8>> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    corpus.push(mail(0, 0));
    let limits = InboundLimits::default();
    let (mut mails, mut bytes) = (0usize, 0usize);
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(2) {
        for raw in &corpus {
            let parsed = parse_inbound(raw, &limits).unwrap();
            std::hint::black_box(parsed);
            mails += 1;
            bytes += raw.len();
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "parse_inbound: {} corpus mails (avg {} bytes): {:.0} mails/s, {:.1} MB/s",
        corpus.len(),
        bytes / mails,
        mails as f64 / secs,
        bytes as f64 / secs / 1e6
    );

    let token = conversation_token(&ConversationId::new());
    let params = ReplyParams {
        from: Mailbox::new("support@telco.example".parse().unwrap()),
        to: vec![Mailbox::new("ana@example.com".parse().unwrap())],
        subject_of_thread: "Re: Sin señal".into(),
        text: "Hola Ana,\n\nhemos reiniciado su línea. ¿Funciona ahora?\n\nSaludos".into(),
        html: None,
        in_reply_to: Some("bench-0-0@example.com".into()),
        references: (0..5).map(|i| format!("ref-{i}@telco.example")).collect(),
        token,
        domain: "telco.example".into(),
        automatic: true,
    };
    let started = Instant::now();
    let mut built = 0usize;
    while started.elapsed() < Duration::from_secs(1) {
        let (m, _) = build_reply(&params).unwrap();
        std::hint::black_box(m.formatted());
        built += 1;
    }
    println!("build_reply + formatted: {:.0} replies/s", built as f64 / started.elapsed().as_secs_f64());
}

fn main() {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let clients = args.first().copied().unwrap_or(8);
    let per_client = args.get(1).copied().unwrap_or(500);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(smtp_run(clients, per_client, true));
    rt.block_on(smtp_run(clients, (per_client / 5).max(1), false));
    rt.block_on(smtp_raw_run(clients, per_client * 10));
    parse_run();
}
