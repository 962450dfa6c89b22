//! `tmf-standin`: the stand-in TM Forum Open API server (`tests::tmf`) on a port of your
//! choice, for trying a hub with `[bss] kind = "tmf"` by hand or benchmarking the client.
//!
//! ```sh
//! cargo run -p tests --bin tmf-standin -- --bind 127.0.0.1:8640 --token dev-token
//! curl -H 'Authorization: Bearer dev-token' \
//!   'http://127.0.0.1:8640/tmf-api/customerManagement/v4/customer?fields=name&limit=2'
//! ```
#![allow(clippy::print_stdout)]

use clap::Parser;
use tests::tmf::{Faults, TmfStandIn};

#[derive(Parser, Debug)]
#[command(about = "A stand-in TM Forum Open API server with Madrid telecom fixture data")]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8640")]
    bind: String,
    /// Require `Authorization: Bearer <token>`.
    #[arg(long)]
    token: Option<String>,
    /// Delay every answer by this many milliseconds.
    #[arg(long, default_value_t = 0)]
    delay_ms: u64,
    /// Answer every request with 500.
    #[arg(long)]
    fail: bool,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let standin = TmfStandIn::start_on(&args.bind, args.token).await;
    standin.set_faults(Faults { delay_ms: args.delay_ms, fail: args.fail, ..Faults::default() });
    println!("TMF stand-in at {}/tmf-api/ (Ctrl-C to stop)", standin.url);
    tokio::signal::ctrl_c().await?;
    standin.stop().await;
    Ok(())
}
