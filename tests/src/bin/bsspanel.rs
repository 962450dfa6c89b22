//! `bsspanel`: how fast the customer panel's billing data comes from the embedded BSS through
//! the resilience layer, as the hub serves it (`Account360::overview`: the hub profile, the BSS
//! customer, products, accounts and each account's last bill, plus the tier sync).
//!
//! Seeds `--customers` linked customers (profiles in turn) in a temporary SQLite store (or
//! `--database-url`), reads each panel once (warming the cache), then reads `--reads` panels of
//! random customers from `--concurrency` tasks, and prints p50/p99/max. `--cold` turns the cache
//! off (every read goes to the store).
//!
//! ```sh
//! cargo run --release -p tests --bin bsspanel -- --customers 500 --reads 20000
//! cargo run --release -p tests --bin bsspanel -- --customers 500 --reads 20000 --cold
//! ```
#![allow(clippy::print_stdout)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bss::embedded::{CustomerSeed, Embedded, Profile};
use bss::{CustomerRef, ResilienceConfig, Resilient};
use clap::Parser;
use hdrhistogram::Histogram;
use hub::services::account360::Account360;
use schema::{Channel, ContactHandle, CustomerId, CustomerTier, Language, NewCustomer, Store, StoreOptions};

#[derive(Parser, Debug)]
#[command(about = "Customer panel billing data from the embedded BSS, p50/p99")]
struct Args {
    /// Linked customers to seed.
    #[arg(long, default_value_t = 500)]
    customers: usize,
    /// Panel reads to measure.
    #[arg(long, default_value_t = 20_000)]
    reads: usize,
    /// Concurrent readers.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// No read cache.
    #[arg(long)]
    cold: bool,
    /// The store (default: a temporary SQLite file).
    #[arg(long)]
    database_url: Option<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let dir = std::env::temp_dir().join(format!("sb-bsspanel-{}", uuid::Uuid::new_v4().simple()));
    let url = args.database_url.clone().unwrap_or_else(|| format!("sqlite://{}", dir.join("sb.db").display()));
    let store = Store::connect(&url, &StoreOptions::default()).await.context("store")?;
    let embedded = Embedded::new(store.clone());
    let today = time::OffsetDateTime::now_utc().date();
    let profiles = [Profile::Family, Profile::Arrears, Profile::Prepaid, Profile::FaultyFibre, Profile::Mobile];
    let mut ids: Vec<CustomerId> = Vec::with_capacity(args.customers);
    let started = Instant::now();
    for i in 0..args.customers {
        let reference = format!("B-{:06}", i);
        let seed = CustomerSeed::new(
            CustomerRef::parse(&reference)?,
            &format!("Bench Customer {i}"),
            profiles[i % profiles.len()],
        );
        embedded.seed_customer(&seed, today).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        let email = format!("{}@bench.example.com", reference.to_lowercase());
        let customer = match store.customer_by_bss_id(&reference).await? {
            Some(id) => id,
            None => {
                let new = NewCustomer {
                    name: Some(format!("Bench Customer {i}").parse()?),
                    email: Some(email.parse()?),
                    language: Language::Es,
                    tier: CustomerTier::Standard,
                    handles: vec![ContactHandle { channel: Channel::Email, handle: email }],
                };
                store.create_linked_customer(new, &reference).await?.id
            }
        };
        ids.push(customer);
    }
    println!("seeded {} customers in {:.1?}", ids.len(), started.elapsed());

    let config = if args.cold {
        ResilienceConfig { cache_ttl: Duration::ZERO, ..ResilienceConfig::default() }
    } else {
        // Long enough to cover the run: the warm case.
        ResilienceConfig { cache_ttl: Duration::from_secs(300), ..ResilienceConfig::default() }
    };
    let bss: Arc<dyn bss::Bss> = Arc::new(Resilient::new(Arc::new(embedded), config));
    let service = Arc::new(Account360::new(store.clone(), bss));
    for id in &ids {
        let o = service.overview(*id).await?;
        anyhow::ensure!(o.unavailable.is_empty(), "a section failed: {:?}", o.unavailable);
    }

    let ids = Arc::new(ids);
    let per_task = args.reads / args.concurrency.max(1);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for t in 0..args.concurrency.max(1) {
        let (service, ids) = (Arc::clone(&service), Arc::clone(&ids));
        tasks.push(tokio::spawn(async move {
            let mut h = Histogram::<u64>::new(3)?;
            let mut x = (t as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            for _ in 0..per_task {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let id = ids[usize::try_from(x % ids.len() as u64).unwrap_or(0)];
                let t0 = Instant::now();
                let o = service.overview(id).await?;
                anyhow::ensure!(o.unavailable.is_empty(), "a section failed: {:?}", o.unavailable);
                h.record(u64::try_from(t0.elapsed().as_micros()).unwrap_or(u64::MAX))?;
            }
            Ok::<_, anyhow::Error>(h)
        }));
    }
    let mut all = Histogram::<u64>::new(3)?;
    for t in tasks {
        all.add(t.await??)?;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{} panel reads ({}), {} readers: {:.0}/s, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        all.len(),
        if args.cold { "cold: no cache" } else { "warm cache" },
        args.concurrency,
        all.len() as f64 / secs,
        all.value_at_quantile(0.5) as f64 / 1000.0,
        all.value_at_quantile(0.99) as f64 / 1000.0,
        all.max() as f64 / 1000.0,
    );
    store.close().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
