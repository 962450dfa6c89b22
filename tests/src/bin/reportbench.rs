//! `reportbench`: loads generated contact-centre traffic (default 10 million messages over 90
//! days) into a fresh store with the store's bulk loader (the rows and the rollups the write
//! paths would add), then times the 90-day reports through the hub's reports service, the way
//! `GET /api/v1/reports/...` runs them: each report kind with no filter, one filter and two
//! filters. Every report's totals are checked against a tally of the generated traffic (the
//! loader's rows are counted too), so a figure is never for data other than the generated.
//! The traffic is deterministic given `--end-ms`: `--reuse URL --end-ms MS` times the reports of
//! a store loaded by an earlier run again (after an index or a query change) without reloading.
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
use schema::{AgentId, Channel, CustomerTier, DisplayName, Language, NewAgent, Role, Store, StoreOptions};
use serde_json::Value;

#[derive(Parser, Debug)]
#[command(about = "90-day reports over generated traffic, on SQLite or PostgreSQL")]
struct Args {
    /// Messages generated (10 per conversation).
    #[arg(long, default_value_t = 10_000_000)]
    messages: u64,
    /// Days the reports span, ending at `--end-ms`; the traffic fills them but the last two
    /// hours (so every conversation is resolved inside the range).
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
    /// Timed runs of each report (after one untimed run).
    #[arg(long, default_value_t = 50)]
    runs: u64,
    /// The end of the range, Unix milliseconds (default: now).
    #[arg(long)]
    end_ms: Option<i64>,
    /// A store an earlier run loaded (its printed URL, with the same `--messages`, `--days` and
    /// `--end-ms`): time its reports again without loading.
    #[arg(long)]
    reuse: Option<String>,
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
    let url = match (&args.reuse, args.store.as_str()) {
        (Some(url), _) => url.clone(),
        (None, "sqlite") => {
            let dir = std::env::temp_dir().join(format!("switchboard-reportbench-{}", uuid::Uuid::new_v4().simple()));
            format!("sqlite://{}", dir.join("bench.db").display())
        }
        (None, "postgres") => {
            use sqlx::Connection;
            let schema = format!("reportbench_{}", uuid::Uuid::new_v4().simple());
            let mut conn = sqlx::PgConnection::connect(&args.postgres_url).await?;
            sqlx::query(&format!("CREATE SCHEMA {schema}")).execute(&mut conn).await?;
            let sep = if args.postgres_url.contains('?') { '&' } else { '?' };
            format!("{}{sep}options=-c%20search_path%3D{schema}", args.postgres_url)
        }
        (None, other) => anyhow::bail!("--store {other}: sqlite or postgres"),
    };
    println!("store: {}", schema::redact(&url));
    Ok(Store::connect(&url, &options).await?)
}

/// The reports' filter shapes: none (the totals slice), one (a one-dimension slice), two (the
/// rows of every dimension).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shape {
    NoFilter,
    Queue,
    ChannelAndQueue,
}

impl Shape {
    const ALL: [Self; 3] = [Self::NoFilter, Self::Queue, Self::ChannelAndQueue];

    fn name(self) -> &'static str {
        match self {
            Self::NoFilter => "no filter",
            Self::Queue => "queue=billing",
            Self::ChannelAndQueue => "channel=webchat&queue=billing",
        }
    }

    fn params(self) -> ReportParams {
        match self {
            Self::NoFilter => ReportParams::default(),
            Self::Queue => ReportParams { queue: Some("billing".into()), ..ReportParams::default() },
            Self::ChannelAndQueue => ReportParams {
                queue: Some("billing".into()),
                channel: Some(Channel::WebChat.as_str().into()),
                ..ReportParams::default()
            },
        }
    }

    /// Whether the generated conversation's ticket counts under this filter.
    fn matches(self, c: &BenchConversation) -> bool {
        match self {
            Self::NoFilter => true,
            Self::Queue => c.queue == "billing",
            Self::ChannelAndQueue => c.queue == "billing" && c.channel == Channel::WebChat,
        }
    }
}

/// What the reports must count for the generated traffic under one filter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Tally {
    conversations: i64,
    new: i64,
    resolved: i64,
    first_responses: i64,
    sla_targeted: i64,
    sla_met: i64,
    handled: i64,
}

impl Tally {
    fn add(&mut self, shape: Shape, c: &BenchConversation) {
        // A conversation has no queue: only the unfiltered report counts it.
        if shape == Shape::NoFilter {
            self.conversations += 1;
        }
        if !shape.matches(c) {
            return;
        }
        self.new += 1;
        self.resolved += 1;
        self.handled += 1;
        self.first_responses += 1;
        if let Some(target) = c.first_response_target_ms {
            self.sla_targeted += 1;
            if c.first_response_offset_ms() <= target {
                self.sla_met += 1;
            }
        }
    }

    /// The report's figures against the tally; an error names the first that differs.
    fn check(&self, kind: ReportKind, report: &hub::services::reports::Report) -> anyhow::Result<()> {
        let total = |key: &str| -> i64 {
            match kind {
                ReportKind::Agents => {
                    report.agents.iter().flatten().map(|row| row.get(key).and_then(Value::as_i64).unwrap_or(0)).sum()
                }
                _ => report.totals.get(key).and_then(Value::as_i64).unwrap_or(-1),
            }
        };
        let expected: &[(&str, i64)] = match kind {
            ReportKind::Volume => {
                &[("conversations", self.conversations), ("new", self.new), ("resolved", self.resolved)]
            }
            ReportKind::Times => &[
                ("first_responses", self.first_responses),
                ("sla_targeted", self.sla_targeted),
                ("sla_met", self.sla_met),
                ("resolved", self.resolved),
                ("handled", self.handled),
            ],
            ReportKind::Agents => {
                &[("handled", self.handled), ("resolved", self.resolved), ("first_responses", self.first_responses)]
            }
            // The generated traffic has no bot answers: the bot report is not timed here.
            ReportKind::Bot => &[],
        };
        for (key, want) in expected {
            let got = total(key);
            anyhow::ensure!(got == *want, "{key}: the report says {got}, the generated traffic has {want}");
        }
        Ok(())
    }
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let store = store(&args).await?;
    let mut agents: Vec<AgentId> = Vec::new();
    if args.reuse.is_some() {
        agents = store.agents().await?.into_iter().map(|a| a.id).collect();
        anyhow::ensure!(!agents.is_empty(), "--reuse: the store has no agents");
    } else {
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
    }
    let channels = [(Channel::WebChat, 50), (Channel::Email, 25), (Channel::Voice, 15), (Channel::WhatsApp, 10)];
    let languages = [(Language::Es, 60), (Language::En, 25), (Language::Pt, 15)];
    let tiers = [(CustomerTier::Standard, 80), (CustomerTier::Premium, 15), (CustomerTier::Vip, 5)];
    let queues = [("general", 50), ("billing", 25), ("tech", 20), ("retention", 5)];
    let conversations = args.messages / u64::from(MESSAGES_PER_CONVERSATION);
    let now = args.end_ms.unwrap_or_else(|| jiff::Timestamp::now().as_millisecond());
    let start = now - args.days * 86_400_000;
    // Every conversation ends (at most 70 minutes after it starts) inside the range.
    let span = u64::try_from(args.days * 86_400_000 - 2 * 3_600_000)?;
    println!("range: {start} to {now} (--end-ms {now}); load average {}", loadavg());
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut tallies = [Tally::default(); 3];
    let loading = Instant::now();
    let mut done = 0_u64;
    while done < conversations {
        let n = usize::try_from((conversations - done).min(BATCH as u64))?;
        let mut batch = Vec::with_capacity(n);
        for k in 0..n {
            // Spread evenly over the span, in time order.
            let at_ms = start + i64::try_from((done + k as u64) * span / conversations)?;
            let assigned_ms = i64::try_from(rng.below(120_000))?;
            let first_response_ms = assigned_ms + i64::try_from(5_000 + rng.below(480_000))?;
            let resolution_ms = first_response_ms + i64::try_from(60_000 + rng.below(3_600_000))?;
            let c = BenchConversation {
                at_ms,
                channel: *rng.pick(&channels),
                language: *rng.pick(&languages),
                tier: *rng.pick(&tiers),
                queue: (*rng.pick(&queues)).to_owned(),
                agent: agents[usize::try_from(rng.below(agents.len() as u64))?],
                messages: MESSAGES_PER_CONVERSATION,
                assigned_ms,
                first_response_ms,
                resolution_ms,
                first_response_target_ms: Some(120_000),
            };
            for (tally, shape) in tallies.iter_mut().zip(Shape::ALL) {
                tally.add(shape, &c);
            }
            batch.push(c);
        }
        if args.reuse.is_none() {
            store.bench_load(&batch).await?;
        }
        done += n as u64;
        if args.reuse.is_none() && done % 100_000 < BATCH as u64 {
            println!(
                "loaded {done} conversations ({} messages) in {:.0?}; load average {}",
                done * 10,
                loading.elapsed(),
                loadavg()
            );
        }
    }
    let messages = conversations * u64::from(MESSAGES_PER_CONVERSATION);
    if args.reuse.is_none() {
        println!("loaded {messages} messages, {conversations} conversations in {:.1?}", loading.elapsed());
    }
    // The loader stored what was generated, no more, no less.
    let rows = store.bench_rows().await?;
    let want = [conversations, conversations, messages, 3 * conversations].map(|n| i64::try_from(n).unwrap_or(-1));
    anyhow::ensure!(
        rows == want,
        "stored rows (conversations, tickets, messages, history lines) {rows:?}, generated {want:?}"
    );
    let analyzing = Instant::now();
    store.bench_analyze().await?;
    println!(
        "stored rows (conversations, tickets, messages, history lines): {rows:?}; rollup rows (every dimension, \
         slices): {:?}; analyse {:.1?}",
        store.report_rollup_rows().await?,
        analyzing.elapsed()
    );

    let reports = Reports::new(store.clone(), &ReportsConfig { time_zone: "Europe/Madrid".into() })?;
    let to = jiff::Timestamp::from_millisecond(now)?;
    let from = jiff::Timestamp::from_millisecond(start)?;
    let kinds = [
        ("volume", ReportKind::Volume, "day"),
        ("times", ReportKind::Times, "day"),
        ("agents", ReportKind::Agents, "week"),
        ("times", ReportKind::Times, "hour"),
    ];
    println!("{:<52} {:>5} {:>10} {:>10} {:>10}  load", "report, 90 days", "runs", "p50 ms", "p99 ms", "max ms");
    for (name, kind, bucket) in kinds {
        for (shape, tally) in Shape::ALL.into_iter().zip(&tallies) {
            if bucket == "hour" && shape != Shape::NoFilter {
                continue;
            }
            let mut h = Histogram::<u64>::new(3)?;
            let load = loadavg();
            for run in 0..=args.runs {
                let params = ReportParams {
                    from: Some(from.to_string()),
                    to: Some(to.to_string()),
                    bucket: Some(bucket.into()),
                    ..shape.params()
                };
                let t = Instant::now();
                let report = reports.report(kind, params, to).await?;
                let took = u64::try_from(t.elapsed().as_micros())?.max(1);
                if run == 0 {
                    tally
                        .check(kind, &report)
                        .map_err(|e| anyhow::anyhow!("{name} by {bucket}, {}: {e}", shape.name()))?;
                } else {
                    h.record(took)?;
                }
            }
            #[allow(clippy::cast_precision_loss)]
            let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
            println!(
                "{:<52} {:>5} {:>10.1} {:>10.1} {:>10.1}  {load}",
                format!("{name} by {bucket}, {}", shape.name()),
                h.len(),
                ms(0.5),
                ms(0.99),
                ms(1.0)
            );
        }
    }
    println!("every report's totals matched the generated traffic; load average {}", loadavg());
    store.close().await;
    Ok(())
}
