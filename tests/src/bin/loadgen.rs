//! `loadgen`: drives a running hub the way real traffic would, and prints figures.
//!
//! It opens `--customers` web chat sessions and sockets and `--agents` live-inbox sockets, then
//! sends `--rate` customer messages per second (spread over the customers) for `--duration`
//! seconds, and measures:
//! - ack latency: a customer's frame sent until its `ack` (the message is stored);
//! - delivery latency: a customer's frame sent until an agent's inbox receives it;
//! - messages lost: acknowledged but never seen by an agent;
//! - with `--hub-pid`, the hub's resident memory before and after the sockets open, and per
//!   idle socket.
//!
//! All its chats come from one address, so the hub must allow that many new chats a minute and
//! open websockets from one address (`webchat.opens_per_minute_per_address`,
//! `server.websockets_per_address`):
//!
//! ```sh
//! SWITCHBOARD_WEBCHAT__OPENS_PER_MINUTE_PER_ADDRESS=1000000 SWITCHBOARD_SERVER__WEBSOCKETS_PER_ADDRESS=0 \
//!   cargo run --release --bin switchboard -- serve --demo &
//! cargo run --release -p tests --bin loadgen -- --customers 1000 --rate 500 --hub-pid $(pgrep -n switchboard)
//! ```
#![allow(clippy::print_stdout)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Parser;
use futures_util::{SinkExt as _, StreamExt as _};
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use tokio::sync::{Mutex, mpsc};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::http::HeaderValue;

#[derive(Parser, Debug)]
#[command(about = "Load generator for a running Switchboard hub")]
struct Args {
    /// The hub's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Customer web chat sockets to open.
    #[arg(long, default_value_t = 1000)]
    customers: usize,
    /// Agent inbox sockets to open (each receives every event).
    #[arg(long, default_value_t = 5)]
    agents: usize,
    /// Customer messages per second, in total.
    #[arg(long, default_value_t = 500)]
    rate: u32,
    /// Seconds of sending.
    #[arg(long, default_value_t = 30)]
    duration: u64,
    /// Sessions opened concurrently while connecting.
    #[arg(long, default_value_t = 64)]
    connect_concurrency: usize,
    /// The staff account the agent sockets sign in as.
    #[arg(long, default_value = "ana@demo.switchboard.local")]
    agent_email: String,
    #[arg(long, default_value = "switchboard-demo", env = "LOADGEN_AGENT_PASSWORD")]
    agent_password: String,
    /// The hub's process id, to read its memory from /proc.
    #[arg(long)]
    hub_pid: Option<u32>,
}

/// Latencies in microseconds, shared by the socket tasks.
#[derive(Debug)]
struct Figures {
    ack: Mutex<Histogram<u64>>,
    delivery: Mutex<Histogram<u64>>,
    sent: AtomicU64,
    acked: AtomicU64,
    delivered: AtomicU64,
    errors: AtomicU64,
}

impl Figures {
    fn new() -> anyhow::Result<Self> {
        Ok(Self {
            ack: Mutex::new(Histogram::new_with_bounds(1, 120_000_000, 3)?),
            delivery: Mutex::new(Histogram::new_with_bounds(1, 120_000_000, 3)?),
            sent: AtomicU64::new(0),
            acked: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
            errors: AtomicU64::new(0),
        })
    }
}

/// The client id carries the send time (µs since the run started), so latency needs no map.
fn client_id(run: &str, customer: usize, n: u64, start: Instant) -> String {
    format!("{run}-{customer}-{n}-{}", start.elapsed().as_micros())
}

fn sent_at(client_id: &str, run: &str) -> Option<u64> {
    let rest = client_id.strip_prefix(run)?.strip_prefix('-')?;
    rest.rsplit('-').next()?.parse().ok()
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn ws_url(base: &str, path_and_query: &str) -> String {
    let ws = base.replacen("https://", "wss://", 1).replacen("http://", "ws://", 1);
    format!("{}{path_and_query}", ws.trim_end_matches('/'))
}

async fn open_session(http: &reqwest::Client, base: &str) -> anyhow::Result<String> {
    let res = http.post(format!("{base}/api/v1/webchat/sessions")).json(&json!({"name": "Load"})).send().await?;
    if !res.status().is_success() {
        bail!("opening a session: {}", res.status());
    }
    let body: Value = res.json().await?;
    Ok(body["token"].as_str().context("no token in the session answer")?.to_owned())
}

async fn open_socket(base: &str, token: &str) -> anyhow::Result<WsStream> {
    // Like a browser, without Nagle's algorithm.
    let url = ws_url(base, &format!("/ws/webchat?token={token}"));
    let (ws, _) = tokio_tungstenite::connect_async_with_config(url, None, true).await?;
    Ok(ws)
}

type WsStream = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// An `ack` records its latency; an `error` counts.
async fn on_customer_frame(text: &str, figures: &Figures, run: &str, start: Instant) {
    let Ok(v) = serde_json::from_str::<Value>(text) else { return };
    match v["type"].as_str() {
        Some("ack") => {
            if let Some(t) = v["client_id"].as_str().and_then(|c| sent_at(c, run)) {
                let now = start.elapsed().as_micros() as u64;
                let _ = figures.ack.lock().await.record(now.saturating_sub(t).max(1));
                figures.acked.fetch_add(1, Ordering::Relaxed);
            }
        }
        Some("error") => {
            figures.errors.fetch_add(1, Ordering::Relaxed);
        }
        _ => {}
    }
}

/// One customer: sends when told to, records each ack's latency.
async fn customer(
    index: usize,
    ws: WsStream,
    mut go: mpsc::Receiver<()>,
    figures: Arc<Figures>,
    run: Arc<str>,
    start: Instant,
) {
    let (mut sink, mut stream) = ws.split();
    let mut n = 0u64;
    loop {
        tokio::select! {
            cmd = go.recv() => {
                if cmd.is_none() {
                    break;
                }
                n += 1;
                let id = client_id(&run, index, n, start);
                let frame = json!({"type": "message", "client_id": id, "text": "load test message"});
                if sink.send(WsMessage::text(frame.to_string())).await.is_err() {
                    figures.errors.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                figures.sent.fetch_add(1, Ordering::Relaxed);
            }
            frame = stream.next() => match frame {
                Some(Ok(WsMessage::Text(text))) => on_customer_frame(&text, &figures, &run, start).await,
                Some(Ok(_)) => {}
                Some(Err(_)) | None => {
                    figures.errors.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            }
        }
    }
    // Drain acks still in flight.
    let deadline = tokio::time::sleep(Duration::from_secs(10));
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            () = &mut deadline => break,
            frame = stream.next() => match frame {
                Some(Ok(WsMessage::Text(text))) => on_customer_frame(&text, &figures, &run, start).await,
                Some(Ok(_)) => {}
                _ => break,
            }
        }
    }
    let _ = sink.close().await;
}

/// One agent inbox: records delivery latency of customer messages of this run. Only agent 0
/// records (every agent receives every event); the others read to keep up, as real ones would.
async fn agent(ws: WsStream, record: bool, figures: Arc<Figures>, run: Arc<str>, start: Instant, stop: Arc<AtomicU64>) {
    let (_sink, mut stream) = ws.split();
    loop {
        let frame = tokio::select! {
            f = stream.next() => f,
            () = tokio::time::sleep(Duration::from_millis(200)) => {
                if stop.load(Ordering::Relaxed) == 1 { return; }
                continue;
            }
        };
        match frame {
            Some(Ok(WsMessage::Text(text))) if record => {
                let Ok(v) = serde_json::from_str::<Value>(&text) else { continue };
                if v["type"] == "message.created" && v["message"]["author"] == "customer" {
                    if let Some(t) = v["message"]["channel_message_id"].as_str().and_then(|c| sent_at(c, &run)) {
                        let now = start.elapsed().as_micros() as u64;
                        let _ = figures.delivery.lock().await.record(now.saturating_sub(t).max(1));
                        figures.delivered.fetch_add(1, Ordering::Relaxed);
                    }
                } else if v["type"] == "resync" {
                    println!("warning: an agent socket fell behind (resync)");
                }
            }
            Some(Ok(_)) => {}
            _ => return,
        }
    }
}

fn ms(us: u64) -> String {
    format!("{:.2} ms", us as f64 / 1000.0)
}

fn print_histogram(name: &str, h: &Histogram<u64>) {
    if h.is_empty() {
        println!("{name:<22} no samples");
        return;
    }
    println!(
        "{name:<22} p50 {}  p95 {}  p99 {}  max {}  ({} samples)",
        ms(h.value_at_quantile(0.50)),
        ms(h.value_at_quantile(0.95)),
        ms(h.value_at_quantile(0.99)),
        ms(h.max()),
        h.len()
    );
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Ok((soft, hard)) = rlimit::getrlimit(rlimit::Resource::NOFILE) {
        let _ = rlimit::increase_nofile_limit(hard);
        let needed = (args.customers + args.agents + 64) as u64;
        let now = rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(soft, |(s, _)| s);
        if now < needed {
            bail!(
                "{needed} sockets need that many open files; the limit is {now} (hard {hard}): raise it with ulimit -n"
            );
        }
    }
    let base = args.url.trim_end_matches('/').to_owned();
    let http = reqwest::Client::builder().pool_max_idle_per_host(args.connect_concurrency).build()?;
    let figures = Arc::new(Figures::new()?);
    let run: Arc<str> = format!("lg{}", std::process::id()).into();
    let start = Instant::now();
    let rss_before = args.hub_pid.and_then(rss_kib);

    // Agents first, so they see every message.
    let login: Value = http
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"email": args.agent_email, "password": args.agent_password}))
        .send()
        .await?
        .error_for_status()
        .context("agent sign-in")?
        .json()
        .await?;
    let token = login["token"].as_str().context("no token in the sign-in answer")?.to_owned();
    let stop = Arc::new(AtomicU64::new(0));
    let mut agent_tasks = Vec::new();
    for i in 0..args.agents {
        let mut request = ws_url(&base, "/ws/inbox").into_client_request()?;
        request.headers_mut().insert("authorization", HeaderValue::from_str(&format!("Bearer {token}"))?);
        let (ws, _) = tokio_tungstenite::connect_async_with_config(request, None, true)
            .await
            .context("opening an inbox socket")?;
        agent_tasks.push(tokio::spawn(agent(ws, i == 0, figures.clone(), run.clone(), start, stop.clone())));
    }

    // Customers: first their sessions over HTTP, then their sockets, a batch at a time, so the
    // hub's memory can be read with the sessions stored and again with every socket open.
    let connect_started = Instant::now();
    let mut tokens = Vec::with_capacity(args.customers);
    let mut connect_errors = 0usize;
    while tokens.len() + connect_errors < args.customers {
        let batch = args.connect_concurrency.min(args.customers - tokens.len() - connect_errors);
        for token in futures_util::future::join_all((0..batch).map(|_| open_session(&http, &base))).await {
            match token {
                Ok(token) => tokens.push(token),
                Err(e) => {
                    connect_errors += 1;
                    if connect_errors <= 3 {
                        println!("session error: {e:#}");
                    }
                }
            }
        }
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_sessions = args.hub_pid.and_then(rss_kib);
    let mut senders = Vec::with_capacity(tokens.len());
    let mut customer_tasks = Vec::with_capacity(tokens.len());
    let mut index = 0usize;
    for chunk in tokens.chunks(args.connect_concurrency) {
        for ws in futures_util::future::join_all(chunk.iter().map(|t| open_socket(&base, t))).await {
            match ws {
                Ok(ws) => {
                    let (tx, rx) = mpsc::channel(4);
                    senders.push(tx);
                    customer_tasks.push(tokio::spawn(customer(index, ws, rx, figures.clone(), run.clone(), start)));
                    index += 1;
                }
                Err(e) => {
                    connect_errors += 1;
                    if connect_errors <= 3 {
                        println!("connect error: {e:#}");
                    }
                }
            }
        }
    }
    let connect_secs = connect_started.elapsed().as_secs_f64();
    // Let the hub settle, then read its memory with every socket open and idle.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_idle = args.hub_pid.and_then(rss_kib);

    // Send: every 10 ms, the share of the rate due by then, round robin over the customers.
    let send_started = Instant::now();
    let total = u64::from(args.rate) * args.duration;
    let mut due_sent = 0u64;
    let mut next = 0usize;
    let mut skipped = 0u64;
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    while due_sent < total && !senders.is_empty() {
        tick.tick().await;
        let due = ((send_started.elapsed().as_secs_f64() * f64::from(args.rate)) as u64).min(total);
        while due_sent < due {
            // A customer whose previous sends are still queued is skipped (and counted).
            if senders[next % senders.len()].try_send(()).is_err() {
                skipped += 1;
            }
            next += 1;
            due_sent += 1;
        }
    }
    let send_secs = send_started.elapsed().as_secs_f64();
    drop(senders);
    for task in customer_tasks {
        let _ = task.await;
    }
    // Give the agents a moment for the last deliveries.
    let wait = Instant::now();
    while figures.delivered.load(Ordering::Relaxed) < figures.acked.load(Ordering::Relaxed)
        && wait.elapsed() < Duration::from_secs(10)
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.store(1, Ordering::Relaxed);
    for task in agent_tasks {
        let _ = task.await;
    }

    let sent = figures.sent.load(Ordering::Relaxed);
    let acked = figures.acked.load(Ordering::Relaxed);
    let delivered = figures.delivered.load(Ordering::Relaxed);
    println!("customers              {index} open ({connect_errors} failed) in {connect_secs:.1} s");
    println!("agents                 {}", args.agents);
    println!(
        "sent                   {sent} in {send_secs:.1} s = {:.0} msg/s (asked {} msg/s; {skipped} skipped, sender busy)",
        sent as f64 / send_secs,
        args.rate
    );
    println!("acked                  {acked}  (not acked: {})", sent.saturating_sub(acked));
    println!("delivered to agent 0   {delivered}  (acked but not delivered: {})", acked.saturating_sub(delivered));
    println!("errors                 {}", figures.errors.load(Ordering::Relaxed));
    print_histogram("ack latency", &*figures.ack.lock().await);
    print_histogram("delivery latency", &*figures.delivery.lock().await);
    if let (Some(before), Some(sessions), Some(idle)) = (rss_before, rss_sessions, rss_idle) {
        let sockets = (index + args.agents).max(1) as f64;
        println!(
            "hub RSS                {:.1} MiB at start, {:.1} MiB with the sessions stored, {:.1} MiB with the sockets open",
            before as f64 / 1024.0,
            sessions as f64 / 1024.0,
            idle as f64 / 1024.0,
        );
        println!("hub RSS per socket     {:.1} KiB", idle.saturating_sub(sessions) as f64 / sockets);
        if let Some(after) = args.hub_pid.and_then(rss_kib) {
            println!("hub RSS after the run  {:.1} MiB", after as f64 / 1024.0);
        }
    }
    Ok(())
}
