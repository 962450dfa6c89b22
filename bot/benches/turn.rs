//! `cargo bench -p bot --bench turn`: latency of a full bot turn (query embedding, intent, hybrid
//! search, decision) on the demo knowledge base.
#![allow(clippy::print_stdout)]

use std::error::Error;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bot::{Bot, BotConfig, TurnInput, starter_intents};
use knowledge_base::{Embedder, KnowledgeBase, Language, demo_documents};

fn pct(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() -> Result<(), Box<dyn Error>> {
    let dir = std::env::var_os("SWITCHBOARD_MODEL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../models/all-MiniLM-L6-v2")));
    let embedder = Arc::new(Embedder::load(&dir).map_err(|e| format!("{e} (run scripts/fetch-model)"))?);
    let kb = KnowledgeBase::new(Some(embedder))?;
    kb.upsert_many(demo_documents()?)?;
    let bot = Bot::new(Arc::new(kb), starter_intents()?, BotConfig::default())?;
    let questions = [
        ("how do I turn on roaming?", Language::En),
        ("why is my bill so high this month", Language::En),
        ("I want a refund for last month", Language::En),
        ("my broadband keeps dropping in the evening, is there a fault in my area?", Language::En),
        ("agent please", Language::En),
        ("no tengo cobertura en el móvil desde esta mañana", Language::Es),
        ("como reinicio o router?", Language::Pt),
        ("can I keep my number if I switch to you from another provider?", Language::En),
    ];
    for (q, l) in questions {
        bot.turn(&TurnInput {
            text: q.into(),
            conversation_language: l,
            failed_answers_so_far: 0,
            history: Vec::new(),
        })?;
    }
    let rounds = 100;
    let mut times = Vec::with_capacity(rounds * questions.len());
    for _ in 0..rounds {
        for (q, l) in questions {
            let t = Instant::now();
            let d = bot.turn(&TurnInput {
                text: q.into(),
                conversation_language: l,
                failed_answers_so_far: 0,
                history: Vec::new(),
            })?;
            times.push(t.elapsed());
            std::hint::black_box(d);
        }
    }
    times.sort();
    println!("bot turn on the demo KB ({} turns, {} distinct messages):", times.len(), questions.len());
    println!(
        "  p50 {:?}  p95 {:?}  p99 {:?}  max {:?}",
        pct(&times, 0.50),
        pct(&times, 0.95),
        pct(&times, 0.99),
        pct(&times, 1.0)
    );
    Ok(())
}
