//! `imapload`: how fast the hub takes mail from an IMAP mailbox into the store.
//!
//! Starts a Dovecot of its own (Debian package `dovecot-imapd`), delivers `--mails` mails into
//! one mailbox (from `--senders` addresses), then starts the hub in this process on a fresh
//! database (SQLite by default, `--postgres` for the test PostgreSQL) polling that mailbox
//! (`after = "seen"`, `--batch` mails per poll), and waits until every mail is marked read,
//! which the hub does only after storing it. Prints mails/s over the whole intake.
//!
//! ```sh
//! cargo run --release -p tests --bin imapload -- --mails 2000 --batch 200
//! ```
#![allow(clippy::print_stdout, clippy::expect_used, clippy::unwrap_used)]

use std::time::{Duration, Instant};

use clap::Parser;
use hub::config::{ImapConfig, TlsMode};
use tests::mail::Dovecot;
use tests::{Backend, TestDb, test_config};

#[derive(Parser, Debug)]
#[command(about = "IMAP intake of a Switchboard hub")]
struct Args {
    /// Mails delivered into the mailbox before the hub starts.
    #[arg(long, default_value_t = 2000)]
    mails: usize,
    /// Distinct sender addresses (customers).
    #[arg(long, default_value_t = 200)]
    senders: usize,
    /// Mails the hub takes per poll.
    #[arg(long, default_value_t = 200)]
    batch: usize,
    /// Use the test PostgreSQL (SWITCHBOARD_TEST_POSTGRES_URL) instead of SQLite.
    #[arg(long)]
    postgres: bool,
}

const USER: &str = "support@telco.example";
const PASSWORD: &str = "imapload";

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let dovecot = Dovecot::start(&[(USER, PASSWORD)]).await;
    let mut mailbox = dovecot.session(USER, PASSWORD, "INBOX").await;
    let started = Instant::now();
    for i in 0..args.mails {
        let sender = i % args.senders.max(1);
        let mail = format!(
            "Return-Path: <c{sender}@example.com>\r\nFrom: Customer {sender} <c{sender}@example.com>\r\n\
             To: {USER}\r\nSubject: Load {i}\r\nMessage-ID: <load{i}@example.com>\r\n\
             Date: Tue, 24 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n\
             Content-Type: text/plain; charset=utf-8\r\n\r\n{}\r\n",
            "Hola, no tengo conexión desde esta mañana y necesito ayuda con el router. ".repeat(12)
        );
        mailbox.append("INBOX", mail.as_bytes()).await;
    }
    println!("delivered {} mails into Dovecot in {:.1} s", args.mails, started.elapsed().as_secs_f64());

    let db = TestDb::new(if args.postgres { Backend::Postgres } else { Backend::Sqlite }).await;
    let mut config = test_config(&db);
    config.log.filter = "error".into();
    config.email.enabled = true;
    config.email.smtp_enabled = false;
    config.email.from_address = USER.into();
    config.email.sender_rate_per_min = 100_000_000;
    config.email.imap = vec![ImapConfig {
        name: "load".into(),
        host: "127.0.0.1".into(),
        port: dovecot.port,
        tls: TlsMode::None,
        username: USER.into(),
        password: Some(PASSWORD.into()),
        address: USER.into(),
        poll_secs: 1,
        batch: args.batch,
        ..ImapConfig::default()
    }];
    // The pollers start inside `hub::start`: the clock starts before it.
    let started = Instant::now();
    let hub = hub::start(config).await?;
    println!("hub started in {:.2} s (included below)", started.elapsed().as_secs_f64());
    let mut last_report = Instant::now();
    loop {
        let seen = args.mails - mailbox.unseen("INBOX").await;
        if seen == args.mails {
            break;
        }
        if last_report.elapsed() > Duration::from_secs(5) {
            println!("  {seen} / {} taken after {:.1} s", args.mails, started.elapsed().as_secs_f64());
            last_report = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "{} mails taken (stored, then marked read) in {elapsed:.2} s: {:.0} mails/s ({}, batch {})",
        args.mails,
        args.mails as f64 / elapsed,
        if args.postgres { "PostgreSQL" } else { "SQLite" },
        args.batch
    );
    hub.shutdown().await;
    Ok(())
}
