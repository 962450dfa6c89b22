//! `cargo bench -p knowledge-base --bench embed`: embedding latency of all-MiniLM-L6-v2 on the CPU.
#![allow(clippy::print_stdout)]

use std::error::Error;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use knowledge_base::Embedder;

fn pct(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() -> Result<(), Box<dyn Error>> {
    let dir = std::env::var_os("SWITCHBOARD_MODEL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../models/all-MiniLM-L6-v2")));
    let t = Instant::now();
    let e = Embedder::load(&dir).map_err(|e| format!("{e} (run scripts/fetch-model)"))?;
    println!("model loaded in {:.2?}", t.elapsed());
    let sentences = [
        "how do I turn on roaming?",
        "agent please",
        "I want a refund for last month",
        "my broadband keeps dropping every evening and the router light is red, is there a fault in my area?",
        "no tengo cobertura en el móvil desde esta mañana",
        "como reinicio o router?",
        "can I keep my number if I switch to you from another provider?",
        "why is my bill so high this month",
    ];
    for s in sentences {
        e.embed_one(s)?;
    }
    let mut times = Vec::new();
    for _ in 0..50 {
        for s in sentences {
            let t = Instant::now();
            std::hint::black_box(e.embed_one(s)?);
            times.push(t.elapsed());
        }
    }
    times.sort();
    println!(
        "single-sentence embedding ({} runs, 3 to 25 words): p50 {:.2?}  p95 {:.2?}  p99 {:.2?}",
        times.len(),
        pct(&times, 0.50),
        pct(&times, 0.95),
        pct(&times, 0.99)
    );
    let passage = "Roaming lets you use your phone abroad on a partner network. Calls and texts work abroad \
        automatically; mobile data abroad needs data roaming switched on both in your account and on your phone. \
        Roaming is on by default for contract customers. Check it in My Account > Services > Roaming.";
    let batch: Vec<&str> = std::iter::repeat_n(passage, 16).collect();
    let t = Instant::now();
    let rounds = 5;
    for _ in 0..rounds {
        std::hint::black_box(e.embed(&batch)?);
    }
    let per = t.elapsed() / (rounds * 16);
    println!("passage embedding in batches of 16 (~60 word pieces each): {per:.2?} per passage");
    Ok(())
}
