//! `tmf-bench`: the customer panel's billing data (customer + products + accounts + last bill)
//! through `bss::tmf::TmfClient`, wrapped as the hub wraps it (`bss::Resilient`, with its read
//! cache), against the stand-in TMF server in this process; and, as the yardstick, one raw GET of
//! the stand-in. Prints p50/p90/p99 of each and their ratio.
//!
//! ```sh
//! cargo run --release -p tests --bin tmf-bench -- --panels 2000 --cache-ttl-secs 15
//! ```
#![allow(clippy::print_stdout)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use bss::tmf::{TmfClient, TmfConfig};
use bss::{Bss, CustomerRef, ResilienceConfig, Resilient};
use clap::Parser;
use hdrhistogram::Histogram;
use tests::tmf::TmfStandIn;

#[derive(Parser, Debug)]
#[command(about = "Customer panel latency through the TMF client against the local stand-in")]
struct Args {
    /// Panels loaded (spread over the stand-in's five customers), after 50 warm-up ones.
    #[arg(long, default_value_t = 2000)]
    panels: u64,
    /// Raw GETs of the stand-in, for the yardstick.
    #[arg(long, default_value_t = 2000)]
    raw: u64,
    /// The read cache's time to live (0: every panel goes to the stand-in).
    #[arg(long, default_value_t = 15)]
    cache_ttl_secs: u64,
}

const CUSTOMERS: [&str; 5] = ["CUST-1001", "CUST-1002", "CUST-1003", "CUST-1004", "CUST-1005"];

/// One panel's billing data, as the customer 360 endpoint gathers it.
async fn panel(bss: &dyn Bss, id: &CustomerRef) -> anyhow::Result<usize> {
    let (customer, products, accounts) = tokio::join!(bss.customer(id), bss.products(id), bss.accounts(id));
    let (_customer, products, accounts) = (customer?, products?, accounts?);
    let mut n = products.len();
    for account in &accounts {
        n += bss.bills(&account.id, 1).await?.len();
    }
    Ok(n)
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1)
}

fn report(name: &str, h: &Histogram<u64>) {
    let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    println!(
        "{name:<42} n={:>6}  p50 {:>7.3} ms  p90 {:>7.3} ms  p99 {:>7.3} ms  max {:>7.3} ms",
        h.len(),
        ms(0.5),
        ms(0.9),
        ms(0.99),
        h.max() as f64 / 1000.0
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let standin = TmfStandIn::start().await;
    let client = TmfClient::new(TmfConfig::new(standin.url.clone()))?;
    let wrapped = wrap(Arc::new(client), args.cache_ttl_secs);
    let ids: Vec<CustomerRef> = CUSTOMERS.iter().map(|c| CustomerRef::parse(c)).collect::<Result<_, _>>()?;

    let http = reqwest::Client::new();
    let raw_url = format!("{}/tmf-api/customerManagement/v4/customer/CUST-1001", standin.url);
    let mut raw = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    for i in 0..args.raw + 50 {
        let t = Instant::now();
        let body = http.get(&raw_url).send().await?.bytes().await?;
        anyhow::ensure!(!body.is_empty(), "empty answer");
        if i >= 50 {
            raw.record(micros(t.elapsed()))?;
        }
    }

    let mut panels = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    for i in 0..args.panels + 50 {
        let id = &ids[usize::try_from(i).unwrap_or(0) % ids.len()];
        let t = Instant::now();
        panel(wrapped.as_ref(), id).await?;
        if i >= 50 {
            panels.record(micros(t.elapsed()))?;
        }
    }
    report("stand-in alone: GET /customer/{id}", &raw);
    report(&format!("panel via TmfClient (cache ttl {} s)", args.cache_ttl_secs), &panels);
    println!(
        "ratio panel/raw: p50 {:.1}x, p99 {:.1}x",
        panels.value_at_quantile(0.5) as f64 / raw.value_at_quantile(0.5) as f64,
        panels.value_at_quantile(0.99) as f64 / raw.value_at_quantile(0.99) as f64
    );
    standin.stop().await;
    Ok(())
}

/// The client as the hub holds it: in `bss::Resilient` with the default settings but the TTL.
fn wrap(client: Arc<dyn Bss>, cache_ttl_secs: u64) -> Arc<dyn Bss> {
    let config = ResilienceConfig { cache_ttl: Duration::from_secs(cache_ttl_secs), ..ResilienceConfig::default() };
    Arc::new(Resilient::new(client, config))
}
