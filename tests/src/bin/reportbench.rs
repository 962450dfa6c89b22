//! `reportbench`: loads generated contact-centre traffic (default 10 million messages over 90
//! days) into a fresh store with the store's bulk loader (the rows and the rollups the write
//! paths would add), then times the 90-day reports through the hub's reports service, the way
//! `GET /api/v1/reports/...` runs them.
//!
//! ```sh
//! cargo run --release -p tests --bin reportbench -- --messages 10000000 --store sqlite
//! cargo run --release -p tests --bin reportbench -- --messages 10000000 --store postgres \
//!     --postgres-url postgres://postgres@127.0.0.1:5432/test
//! ```
#![allow(clippy::print_stdout)]

use std::time::Instant;

use clap::Parser;
use hdrhistogram::Histogram;
use hub::config::ReportsConfig;
use hub::services::reports::{ReportKind, ReportParams, Reports};
use schema::reports::BenchConversation;
use schema::{Channel, CustomerTier, DisplayName, Language, NewAgent, Role, Store, StoreOptions};

#[derive(Parser, Debug)]
#[command(about = "90-day reports over generated traffic, on SQLite or PostgreSQL")]
struct Args {
    /// Messages generated (10 per conversation).
    #[arg(long, default_value_t = 10_000_000)]
    messages: u64,
    /// Days the traffic spans, ending now.
    #[arg(long, default_value_t = 90)]
    days: i64,
    /// Agents the conversations are spread over.
    #[arg(long, default_value_t = 50)]
    agents: usize,
    /// `sqlite` (a fresh file in the temporary folder) or `postgres` (a fresh schema).
    #[arg(long, default_value = "sqlite")]
    store: String,
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/test")]
    postgres_url: String,
    /// Timed runs of each report.
    #[arg(long, default_value_t = 20)]
    runs: u64,
}

const MESSAGES_PER_CONVERSATION: u32 = 10;
const BATCH: usize = 5_000;

/// A small deterministic generator (xorshift), so runs are comparable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a, T>(&mut self, weighted: &'a [(T, u64)]) -> &'a T {
        let total: u64 = weighted.iter().map(|w| w.1).sum();
        let mut x = self.below(total);
        for (v, w) in weighted {
            if x < *w {
                return v;
            }
            x -= w;
        }
        &weighted[0].0
    }
}

async fn store(args: &Args) -> anyhow::Result<Store> {
    let options = StoreOptions { max_connections: 4, ..StoreOptions::default() };
    let url = match args.store.as_str() {
        "sqlite" => {
            let dir = std::env::temp_dir().join(format!("switchboard-reportbench-{}", uuid::Uuid::new_v4().simple()));
            format!("sqlite://{}", dir.join("bench.db").display())
        }
        "postgres" => {
            use sqlx::Connection;
            let schema = format!("reportbench_{}", uuid::Uuid::new_v4().simple());
            let mut conn = sqlx::PgConnection::connect(&args.postgres_url).await?;
            sqlx::query(&format!("CREATE SCHEMA {schema}")).execute(&mut conn).await?;
            let sep = if args.postgres_url.contains('?') { '&' } else { '?' };
            format!("{}{sep}options=-c%20search_path%3D{schema}", args.postgres_url)
        }
        other => anyhow::bail!("--store {other}: sqlite or postgres"),
    };
    println!("store: {}", schema::redact(&url));
    Ok(Store::connect(&url, &options).await?)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let store = store(&args).await?;
    let mut agents = Vec::new();
    for i in 0..args.agents {
        let agent = store
            .create_agent(NewAgent {
                email: format!("agent{i}@bench.example").parse()?,
                name: format!("Agent {i}").parse::<DisplayName>()?,
                roles: vec![Role::Agent],
                password_hash: "x".into(),
            })
            .await?;
        agents.push(agent.id);
    }
    let channels = [(Channel::WebChat, 50), (Channel::Email, 25), (Channel::Voice, 15), (Channel::WhatsApp, 10)];
    let languages = [(Language::Es, 60), (Language::En, 25), (Language::Pt, 15)];
    let tiers = [(CustomerTier::Standard, 80), (CustomerTier::Premium, 15), (CustomerTier::Vip, 5)];
    let queues = [("general", 50), ("billing", 25), ("tech", 20), ("retention", 5)];
    let conversations = args.messages / u64::from(MESSAGES_PER_CONVERSATION);
    let now = jiff::Timestamp::now().as_millisecond();
    let span = args.days * 86_400_000;
    let start = now - span;
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let loading = Instant::now();
    let mut done = 0_u64;
    while done < conversations {
        let n = usize::try_from((conversations - done).min(BATCH as u64))?;
        let mut batch = Vec::with_capacity(n);
        for k in 0..n {
            // Spread evenly over the span, in time order.
            let at_ms = start + i64::try_from((done + k as u64) * u64::try_from(span)? / conversations)?;
            let first_response_ms = i64::try_from(5_000 + rng.below(600_000))?;
            let resolution_ms = first_response_ms + i64::try_from(60_000 + rng.below(3_600_000))?;
            batch.push(BenchConversation {
                at_ms,
                channel: *rng.pick(&channels),
                language: *rng.pick(&languages),
                tier: *rng.pick(&tiers),
                queue: (*rng.pick(&queues)).to_owned(),
                agent: agents[usize::try_from(rng.below(agents.len() as u64))?],
                messages: MESSAGES_PER_CONVERSATION,
                first_response_ms,
                handle_ms: i64::try_from(30_000 + rng.below(900_000))?,
                resolution_ms,
                first_response_target_ms: Some(120_000),
            });
        }
        store.bench_load(&batch).await?;
        done += n as u64;
        if done % 100_000 < BATCH as u64 {
            println!("loaded {done} conversations ({} messages) in {:.0?}", done * 10, loading.elapsed());
        }
    }
    println!(
        "loaded {} messages, {conversations} conversations in {:.1?}; rollup rows (every dimension, slices): {:?}",
        conversations * u64::from(MESSAGES_PER_CONVERSATION),
        loading.elapsed(),
        store.report_rollup_rows().await?
    );

    let reports = Reports::new(store.clone(), &ReportsConfig { time_zone: "Europe/Madrid".into() })?;
    let to = jiff::Timestamp::from_millisecond(now)?;
    let from = jiff::Timestamp::from_millisecond(start)?;
    let cases: [(&str, ReportKind, &str, Option<&str>); 5] = [
        ("volume, 90 days by day", ReportKind::Volume, "day", None),
        ("times, 90 days by day", ReportKind::Times, "day", None),
        ("agents, 90 days by week", ReportKind::Agents, "week", None),
        ("times, 90 days by hour", ReportKind::Times, "hour", None),
        ("volume, 90 days by day, queue=billing", ReportKind::Volume, "day", Some("billing")),
    ];
    for (name, kind, bucket, queue) in cases {
        let mut h = Histogram::<u64>::new(3)?;
        for run in 0..=args.runs {
            let params = ReportParams {
                from: Some(from.to_string()),
                to: Some(to.to_string()),
                bucket: Some(bucket.into()),
                queue: queue.map(str::to_owned),
                ..ReportParams::default()
            };
            let t = Instant::now();
            let report = reports.report(kind, params, to).await?;
            let took = u64::try_from(t.elapsed().as_micros())?.max(1);
            if run == 0 {
                println!(
                    "{name}: {} buckets, totals {}",
                    report.series.len(),
                    serde_json::Value::Object(report.totals)
                );
            } else {
                h.record(took)?;
            }
        }
        #[allow(clippy::cast_precision_loss)]
        let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
        println!(
            "{name:<40} runs={:>3}  p50 {:>8.1} ms  p90 {:>8.1} ms  max {:>8.1} ms",
            h.len(),
            ms(0.5),
            ms(0.9),
            ms(1.0)
        );
    }
    store.close().await;
    Ok(())
}
