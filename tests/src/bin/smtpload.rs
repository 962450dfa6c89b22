//! `smtpload`: inbound e-mail into a running hub over SMTP, as fast as it takes it.
//!
//! `--clients` concurrent SMTP sessions each send `--mails` mails the way sending MTAs do:
//! `MAIL`, `RCPT` and `DATA` pipelined in one write (RFC 2920), the message and its terminator
//! in one write, `TCP_NODELAY`. Each mail has its own Message-ID and comes from one of
//! `--senders` addresses (each a customer with an e-mail conversation). A mail counts once the
//! hub answered `250`, which it does only after storing it. Prints mails/s and the latency from
//! the message's first byte to the `250`.
//!
//! ```sh
//! SWITCHBOARD_EMAIL__SENDER_RATE_PER_MIN=100000000 \
//!   cargo run --release --bin switchboard -- serve --demo --database-url sqlite:///tmp/sb-bench/sb.db &
//! cargo run --release -p tests --bin smtpload -- --clients 8 --mails 2000
//! ```
#![allow(clippy::print_stdout)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Parser;
use hdrhistogram::Histogram;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedReadHalf;

#[derive(Parser, Debug)]
#[command(about = "SMTP load into a running Switchboard hub")]
struct Args {
    /// The hub's SMTP listener.
    #[arg(long, default_value = "127.0.0.1:2525")]
    smtp: SocketAddr,
    /// The hub's mailbox to write to.
    #[arg(long, default_value = "support@demo.switchboard.local")]
    to: String,
    /// Concurrent SMTP sessions.
    #[arg(long, default_value_t = 8)]
    clients: usize,
    /// Mails per session.
    #[arg(long, default_value_t = 1000)]
    mails: usize,
    /// Distinct sender addresses (customers).
    #[arg(long, default_value_t = 1000)]
    senders: usize,
}

async fn reply(r: &mut BufReader<OwnedReadHalf>) -> anyhow::Result<String> {
    let mut all = String::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).await? == 0 {
            bail!("the server closed the connection after {all:?}");
        }
        all.push_str(&line);
        if line.as_bytes().get(3) != Some(&b'-') {
            return Ok(all);
        }
    }
}

fn expect(reply: &str, code: &str) -> anyhow::Result<()> {
    if !reply.starts_with(code) {
        bail!("expected {code}, got {reply:?}");
    }
    Ok(())
}

fn mail(run: &str, client: usize, n: usize, from: &str, to: &str) -> String {
    // About 1.5 KB: headers and a few paragraphs, as a customer writes.
    let body = "Buenos días, desde ayer no tengo conexión a internet en casa. El router muestra la luz \
                roja parpadeando y ya lo reinicié dos veces. ¿Pueden revisar si hay una avería en la zona?\r\n"
        .repeat(6);
    format!(
        "From: Customer {client}-{n} <{from}>\r\nTo: {to}\r\nSubject: Sin internet ({n})\r\n\
         Message-ID: <{run}.{client}.{n}@bench.example>\r\nDate: Wed, 25 Nov 2026 10:00:00 +0000\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\
         {body}\r\nCarla\r\n.\r\n"
    )
}

async fn session(args: &Args, run: &str, client: usize) -> anyhow::Result<Histogram<u64>> {
    let mut latencies = Histogram::new_with_bounds(1, 60_000_000, 3)?;
    let stream = TcpStream::connect(args.smtp).await.context("connecting to the SMTP listener")?;
    stream.set_nodelay(true)?;
    let (r, mut w) = stream.into_split();
    let mut r = BufReader::new(r);
    expect(&reply(&mut r).await?, "220")?;
    w.write_all(b"EHLO load.bench.example\r\n").await?;
    expect(&reply(&mut r).await?, "250")?;
    for n in 0..args.mails {
        let from = format!("c{}@bench.example", (client * args.mails + n) % args.senders.max(1));
        let started = Instant::now();
        w.write_all(format!("MAIL FROM:<{from}>\r\nRCPT TO:<{}>\r\nDATA\r\n", args.to).as_bytes()).await?;
        expect(&reply(&mut r).await?, "250")?;
        expect(&reply(&mut r).await?, "250")?;
        expect(&reply(&mut r).await?, "354")?;
        w.write_all(mail(run, client, n, &from, &args.to).as_bytes()).await?;
        expect(&reply(&mut r).await?, "250")?;
        latencies.record(u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX))?;
    }
    w.write_all(b"QUIT\r\n").await?;
    Ok(latencies)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = std::sync::Arc::new(Args::parse());
    let run = format!("{:x}", std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_millis());
    let started = Instant::now();
    let mut tasks = Vec::new();
    for client in 0..args.clients {
        let (args, run) = (args.clone(), run.clone());
        tasks.push(tokio::spawn(async move { session(&args, &run, client).await }));
    }
    let mut all = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    for task in tasks {
        all.add(task.await??)?;
    }
    let elapsed = started.elapsed();
    let total = all.len();
    let ms = |v: u64| Duration::from_micros(v).as_secs_f64() * 1000.0;
    println!(
        "{total} mails over {} sessions in {:.2} s: {:.0} mails/s; per mail p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        args.clients,
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64(),
        ms(all.value_at_quantile(0.5)),
        ms(all.value_at_quantile(0.99)),
        ms(all.max()),
    );
    Ok(())
}
