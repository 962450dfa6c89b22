//! `buslatency`: how long an event takes from `publish` on one node to a subscriber on another,
//! through the Redis bus, beside the same through the in-process bus (the floor). It runs two
//! `RedisBus` nodes in this process against a real Redis, publishes `--rate` events a second for
//! `--duration` seconds on node A, and measures each event's arrival on node B (p50, p99, max),
//! checking that every event arrives, in order.
//!
//! ```sh
//! cargo run --release -p tests --bin buslatency -- --redis redis://127.0.0.1:6379 --rate 2000 --duration 10
//! ```
#![allow(clippy::print_stdout)]

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Parser;
use hdrhistogram::Histogram;
use hub::bus::{Event, EventBus, LocalBus, Received, RedisBus, RedisBusOptions, Subscription, Topic};
use schema::{AgentId, Presence};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

#[derive(Parser, Debug)]
#[command(about = "Event delivery latency between two nodes: Redis bus against the in-process bus")]
struct Args {
    /// The Redis to use (a stream of this run's own is created and deleted).
    #[arg(long, default_value = "redis://127.0.0.1:6379")]
    redis: String,
    /// Events a second.
    #[arg(long, default_value_t = 2000)]
    rate: u32,
    /// Seconds to publish for.
    #[arg(long, default_value_t = 10)]
    duration: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let local = LocalBus::new();
    let local_sub = local.subscribe(Topic::Inbox);
    let (local_hist, local_n) = run(&local, local_sub, &args).await?;
    report("in-process bus (one node)", &local_hist, local_n);

    let stream = format!("buslatency:{}", uuid::Uuid::new_v4().simple());
    let shutdown = CancellationToken::new();
    let metrics = hub::metrics::Metrics::new()?;
    let options = RedisBusOptions { url: args.redis.clone(), stream: stream.clone(), max_len: 100_000 };
    let a = RedisBus::start(options.clone(), metrics.bus_events.clone(), shutdown.clone()).await?;
    let b = RedisBus::start(options, metrics.bus_events.clone(), shutdown.clone()).await?;
    let sub = b.subscribe(Topic::Inbox);
    let (redis_hist, redis_n) = run(&a, sub, &args).await?;
    report("Redis bus, node A to node B", &redis_hist, redis_n);
    shutdown.cancel();
    let mut conn = redis::Client::open(args.redis.as_str())?.get_multiplexed_async_connection().await?;
    redis::cmd("DEL").arg(&stream).query_async::<()>(&mut conn).await?;
    Ok(())
}

/// Publishes on `publisher` at the rate, receives on `sub`: the latency histogram (µs) and the
/// number of events.
async fn run(publisher: &dyn EventBus, mut sub: Subscription, args: &Args) -> anyhow::Result<(Histogram<u64>, u64)> {
    let total = u64::from(args.rate) * args.duration;
    let (sent_tx, mut sent_rx) = mpsc::unbounded_channel::<(AgentId, Instant)>();
    let receiver = tokio::spawn(async move {
        let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
        for _ in 0..total {
            let received =
                tokio::time::timeout(Duration::from_secs(10), sub.recv()).await.context("an event in time")?;
            let at = Instant::now();
            let Some((expected, sent)) = sent_rx.recv().await else { bail!("sender gone") };
            match received {
                Received::Event(e) => match &**e {
                    Event::PresenceChanged { agent_id, .. } if *agent_id == expected => {
                        hist.record(u64::try_from(at.duration_since(sent).as_micros()).unwrap_or(u64::MAX))?;
                    }
                    other => bail!("out of order or foreign event: {other:?}"),
                },
                Received::Lagged => bail!("the subscriber was told to resync: events were missed"),
                Received::Closed => bail!("bus closed"),
            }
        }
        anyhow::Ok(hist)
    });
    let interval = Duration::from_secs(1) / args.rate.max(1);
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    for _ in 0..total {
        tick.tick().await;
        let agent = AgentId::new();
        sent_tx.send((agent, Instant::now()))?;
        publisher.publish(Event::PresenceChanged { agent_id: agent, presence: Presence::Available });
    }
    let hist = receiver.await??;
    Ok((hist, total))
}

fn report(label: &str, hist: &Histogram<u64>, n: u64) {
    println!(
        "{label}: {n} events, all delivered in order; latency p50 {} µs, p99 {} µs, max {} µs",
        hist.value_at_quantile(0.5),
        hist.value_at_quantile(0.99),
        hist.max()
    );
}
