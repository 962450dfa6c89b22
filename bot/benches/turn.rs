//! `cargo bench -p bot --bench turn`: the cost of bot turns on the demo knowledge base, one core:
//! - first-time messages (every turn embeds: the tuning set's questions, each once);
//! - the same messages again (repeated questions: the embedding comes from the cache);
//! - first-time messages decided in batches of 8 (`Bot::turn_batch`: one forward pass for all).
//!
//! Prints p50/p95/p99 per turn and turns per second per core.
#![allow(clippy::print_stdout)]

use std::error::Error;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bot::eval::parse_questions;
use bot::{Bot, BotConfig, TurnInput, starter_intents};
use knowledge_base::{Embedder, KnowledgeBase, demo_documents};

fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn report(name: &str, mut times: Vec<Duration>, wall: Duration) {
    times.sort();
    println!(
        "{name}: {} turns, p50 {:.1?} p95 {:.1?} p99 {:.1?}, {:.0} turns/s on one core",
        times.len(),
        pct(&times, 0.50),
        pct(&times, 0.95),
        pct(&times, 0.99),
        times.len() as f64 / wall.as_secs_f64()
    );
}

fn bot(dir: &PathBuf) -> Result<Bot, Box<dyn Error>> {
    let embedder = Arc::new(Embedder::load(dir).map_err(|e| format!("{e} (run scripts/fetch-model)"))?);
    let kb = KnowledgeBase::new(Some(embedder))?;
    kb.upsert_many(demo_documents()?)?;
    Ok(Bot::new(Arc::new(kb), starter_intents()?, BotConfig::default())?)
}

fn main() -> Result<(), Box<dyn Error>> {
    let dir = std::env::var_os("SWITCHBOARD_MODEL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../models/all-MiniLM-L6-v2")));
    let questions = parse_questions(include_str!("../eval/tuning.json"))?;
    let inputs: Vec<TurnInput> = questions.iter().map(|q| TurnInput::new(q.text.clone(), q.language)).collect();

    // First-time messages, one at a time.
    let single = bot(&dir)?;
    let started = Instant::now();
    let mut times = Vec::with_capacity(inputs.len());
    for i in &inputs {
        let t = Instant::now();
        std::hint::black_box(single.turn(i)?);
        times.push(t.elapsed());
    }
    report("first-time messages", times, started.elapsed());

    // The same messages again: the cache answers the embedding.
    let started = Instant::now();
    let mut times = Vec::with_capacity(inputs.len());
    for i in &inputs {
        let t = Instant::now();
        std::hint::black_box(single.turn(i)?);
        times.push(t.elapsed());
    }
    report("repeated messages (cached)", times, started.elapsed());
    let (hits, misses) = single.cache_stats();
    println!("cache: {hits} hits, {misses} misses");

    // First-time messages in batches of 8 (a fresh bot: nothing cached).
    let batched = bot(&dir)?;
    let started = Instant::now();
    let mut times = Vec::with_capacity(inputs.len());
    for chunk in inputs.chunks(8) {
        let t = Instant::now();
        for d in batched.turn_batch(chunk) {
            std::hint::black_box(d?);
        }
        // Every turn of a batch waits for the whole batch.
        times.extend(std::iter::repeat_n(t.elapsed(), chunk.len()));
    }
    report("first-time messages, batches of 8 (latency = the batch's)", times, started.elapsed());
    Ok(())
}
