//! `failoverbench`: how long routing stops when the node running the router is killed. Two
//! `switchboard` processes (the built binary) share a new PostgreSQL database and a Redis stream;
//! an agent connected to the follower holds a live offer; the router's process is killed
//! (SIGKILL); the time runs from the signal to the new router's first routing decision, the offer
//! made again, as the agent's socket sees it (the lease's takeover, the engine's restore from the
//! store, and the agent known through her node's report, together), at a random moment of the
//! follower's lease checks. Each run then starts the
//! killed node again as the follower, so the roles alternate. Prints every run, then the minimum,
//! median and maximum.
//!
//! ```sh
//! cargo build -p hub --bin switchboard && cargo run -p tests --bin failoverbench -- --runs 20
//! ```
#![allow(clippy::print_stdout)]

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Parser;
use serde_json::{Value, json};
use tests::nodes::NodeProcess;
use tests::redis::unique_stream;
use tests::{ANA, BRUNO, Backend, TestApp, TestDb, Ws};

#[derive(Parser, Debug)]
#[command(about = "Router failover: kill -9 of the routing node to the first routing decision by the next")]
struct Args {
    /// Kills to time.
    #[arg(long, default_value_t = 20)]
    runs: usize,
}

/// Waits (at most `within`) until `node` says it holds the `router` lease.
async fn routes_within(node: &NodeProcess, within: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + within;
    while !node.leads("router").await {
        if Instant::now() > deadline {
            bail!("{} did not take the router lease within {within:?}", node.addr);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(())
}

/// The next `ticket.updated` of `ticket` offered to `agent` on `inbox` (at most 10 s).
async fn offered(inbox: &mut Ws, ticket: &str, agent: &str) -> anyhow::Result<()> {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if inbox.ticket_update(ticket, "offered").await["offered_to"] == agent {
                return;
            }
        }
    })
    .await
    .context("no offer within 10 s")
}

/// Ana, working on `node`: her inbox, once the router counts her available; her token and id.
async fn ana_on(node: &TestApp) -> anyhow::Result<(Ws, String, String)> {
    let ana = node.login(ANA).await;
    let id = node.me(&ana).await;
    let inbox = node.inbox_socket(&ana).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, profile) = node.get(&format!("/api/v1/agents/{id}/routing"), &ana).await;
        if profile["presence"] == "available" {
            return Ok((inbox, ana, id));
        }
        if Instant::now() > deadline {
            bail!("Ana is not available: {profile}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A chat on `node` handed over by a supervisor: its ticket's id.
async fn hand_over(node: &TestApp) -> anyhow::Result<String> {
    let bruno = node.login(BRUNO).await;
    let (visitor, conversation) = node.new_chat().await;
    let mut customer = node.customer_socket(&visitor, None).await;
    customer.send_json(&json!({"type": "message", "client_id": "c1", "text": "Sin señal"})).await;
    customer.next_of("ack").await;
    let (status, ticket) =
        node.post(&format!("/api/v1/conversations/{conversation}/handover"), &bruno, &json!({})).await;
    if status != 201 {
        bail!("the hand-over answered {status}: {ticket}");
    }
    ticket["id"].as_str().map(str::to_owned).context("the ticket's id")
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.runs == 0 {
        bail!("--runs must be at least 1");
    }
    let db = TestDb::new(Backend::Postgres).await;
    let stream = unique_stream();
    let mut router = NodeProcess::start(&db, &stream).await;
    routes_within(&router, Duration::from_secs(10)).await?;
    let mut times = Vec::with_capacity(args.runs);
    for run in 1..=args.runs {
        let follower = NodeProcess::start(&db, &stream).await;
        let client = follower.client(&db);
        let (mut inbox, ana, ana_id) = ana_on(&client).await?;
        let ticket = hand_over(&client).await?;
        offered(&mut inbox, &ticket, &ana_id).await.context("the first offer")?;
        if follower.leads("router").await {
            bail!("the follower holds the router lease before the kill");
        }

        // At a random moment of the other node's lease checks, so the runs do not fall in step.
        let phase = u64::try_from(uuid::Uuid::new_v4().as_u128() % 1000).unwrap_or(0);
        tokio::time::sleep(Duration::from_millis(phase)).await;
        let killed = Instant::now();
        router.child.start_kill().context("SIGKILL")?;
        offered(&mut inbox, &ticket, &ana_id).await.context("the offer made again")?;
        let took = killed.elapsed();
        router.child.wait().await?;
        println!("run {run}: first routing decision {} ms after the kill", took.as_millis());
        times.push(took);

        // Taken and resolved, so Ana has room for the next run's offer.
        let path = |what: &str| format!("/api/v1/tickets/{ticket}/{what}");
        for what in ["accept", "resolve"] {
            let (status, body): (u16, Value) = client.post(&path(what), &ana, &json!({})).await;
            if status != 200 {
                bail!("{what} answered {status}: {body}");
            }
        }
        drop(inbox);
        router = follower;
    }
    times.sort();
    let ms = |d: Duration| d.as_millis();
    println!(
        "kill -9 to the first routing decision, {} runs: min {} ms, median {} ms, max {} ms",
        times.len(),
        ms(times[0]),
        ms(times[times.len() / 2]),
        ms(times[times.len() - 1])
    );
    Ok(())
}
