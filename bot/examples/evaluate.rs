//! Evaluates the bot on an evaluation set and prints the figures per language with Wilson 95%
//! intervals (definitions in `bot::eval`). With `fit`, fits the answerability model and chooses
//! the answer and clarify thresholds on the set (only ever run it on the tuning set).
//!
//! ```text
//! scripts/fetch-model
//! cargo run -p bot --release --example evaluate                  # tuning set
//! cargo run -p bot --release --example evaluate -- test          # the held-out test set
//! cargo run -p bot --release --example evaluate -- tuning fit    # refit weights + thresholds
//! cargo run -p bot --release --example evaluate -- tuning misses # list what goes wrong
//! ```
//! `SWITCHBOARD_MODEL_DIR` overrides `models/all-MiniLM-L6-v2`.
#![allow(clippy::print_stdout)]

use std::error::Error;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use bot::answerability::{self, FEATURE_NAMES};
use bot::eval::{Counts, Kind, Outcome, Question, evaluate, parse_questions};
use bot::{Bot, BotConfig, Decision, HandOverReason, TurnInput, detect_language, starter_intents};
use knowledge_base::{DocId, Embedder, KnowledgeBase, demo_documents};

fn print_counts(name: &str, c: &Counts) {
    println!(
        "| {name} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
        c.questions,
        c.accuracy(),
        c.direct_accuracy(),
        c.human_recall(),
        c.unanswerable_declined(),
        c.wrong(),
        c.clarify_rate(),
        c.hand_over_rate(),
        c.needless_hand_overs(),
        c.containment()
    );
}

fn right(q: &Question, d: &DocId) -> bool {
    q.kind == Kind::Answer && (q.expected.as_deref() == Some(d.as_str()) || q.also_ok.iter().any(|x| x == d.as_str()))
}

fn fit(bot: &Bot, questions: &[Question]) -> Result<(), Box<dyn Error>> {
    // Questions the rules do not hand over reach the answerability check.
    let mut rows = Vec::new();
    for q in questions {
        let d = bot.turn(&TurnInput::new(q.text.clone(), q.language))?;
        if let Decision::HandOver { reason: HandOverReason::AskedForHuman | HandOverReason::AlwaysHuman(_), .. } = d {
            continue;
        }
        let a = bot.assess(
            q.text.trim(),
            detect_language(&q.text).unwrap_or(q.language),
            detect_language(&q.text).is_some(),
        )?;
        let top: Vec<DocId> = a.hits.iter().take(2).map(|h| h.id.clone()).collect();
        let label = top.first().is_some_and(|d| right(q, d));
        rows.push((q, a.features, label, top));
    }
    let samples: Vec<_> = rows.iter().map(|(_, f, l, _)| (*f, *l)).collect();
    let model = answerability::fit(&samples, 20_000, 0.5, 1e-3);
    println!("fitted on {} questions that reach the answerability check:", samples.len());
    for (n, w) in FEATURE_NAMES.iter().zip(model.weights) {
        println!("  {n}: {w:.3}");
    }
    println!("  bias: {:.3}", model.bias);
    println!(
        "weights: [{}], bias: {:.3}",
        model.weights.iter().map(|w| format!("{w:.3}")).collect::<Vec<_>>().join(", "),
        model.bias
    );
    // Thresholds: cost = 3 × wrong answers + needless hand-overs + 0.3 × clarifying questions.
    println!("\n| answer t | clarify t | wrong | needless hand-overs | clarifying | cost |\n|---|---|---|---|---|---|");
    let mut best: Option<(f32, f32, f32)> = None;
    for ai in 0..=16 {
        let at = 0.3 + 0.04 * ai as f32;
        for ci in 0..=12 {
            let ct = 0.05 + 0.04 * ci as f32;
            if ct > at {
                continue;
            }
            let (mut wrong, mut needless, mut clar) = (0, 0, 0);
            for (q, f, label, top) in &rows {
                let p = model.probability(f);
                if p >= at {
                    wrong += usize::from(!label);
                } else if p >= ct && top.len() >= 2 {
                    clar += 1;
                    if q.kind == Kind::Answer && !top.iter().any(|d| right(q, d)) {
                        needless += 1;
                    }
                } else if q.kind == Kind::Answer {
                    needless += 1;
                }
            }
            let cost = 3.0 * wrong as f32 + needless as f32 + 0.3 * clar as f32;
            if ci % 3 == 0 && ai % 2 == 0 {
                println!("| {at:.2} | {ct:.2} | {wrong} | {needless} | {clar} | {cost:.1} |");
            }
            if best.is_none_or(|b| cost < b.2) {
                best = Some((at, ct, cost));
            }
        }
    }
    if let Some((at, ct, cost)) = best {
        println!("\nlowest cost {cost:.1} at answer threshold {at:.2}, clarify threshold {ct:.2}");
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let set = args.first().map_or("tuning", String::as_str);
    let path = match set {
        "tuning" | "test" => PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/eval")).join(format!("{set}.json")),
        other => PathBuf::from(other),
    };
    let dir = std::env::var_os("SWITCHBOARD_MODEL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../models/all-MiniLM-L6-v2")));
    let questions = parse_questions(&std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?)?;
    let docs = demo_documents()?;
    for q in &questions {
        for id in q.expected.iter().chain(&q.also_ok) {
            if !docs.iter().any(|d| d.id.as_str() == id) {
                // The id only: the test set's questions are not printed.
                return Err(format!("a question expects {id}, which is not a demo document").into());
            }
        }
    }
    let embedder = Arc::new(Embedder::load(&dir).map_err(|e| format!("{e} (run scripts/fetch-model)"))?);
    let kb = KnowledgeBase::new(Some(embedder))?;
    kb.upsert_many(docs)?;
    let bot = Bot::new(Arc::new(kb), starter_intents()?, BotConfig::default())?;
    println!("# Bot evaluation: {} ({} questions)\n", path.display(), questions.len());
    if args.iter().any(|a| a == "fit") {
        return fit(&bot, &questions);
    }
    let started = Instant::now();
    let report = evaluate(&bot, &questions)?;
    let elapsed = started.elapsed();
    println!(
        "| language | questions | answer accuracy | direct accuracy | always-human recall | unanswerable declined | wrong answers | clarifying questions | hand-overs | needless hand-overs | containment |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for (l, c) in &report.per_language {
        print_counts(l, c);
    }
    print_counts("all", &report.all);
    println!(
        "\n{:.1} ms per question (first turn and, after a clarifying question, the pick)",
        elapsed.as_secs_f64() * 1000.0 / questions.len().max(1) as f64
    );
    if args.iter().any(|a| a == "misses") {
        if set == "test" {
            return Err("per-question output on the test set is not printed".into());
        }
        println!("\nmisses:");
        for (q, o) in questions.iter().zip(&report.outcomes) {
            let ok = match (q.kind, o) {
                (Kind::Answer, Outcome::Answered(d) | Outcome::Clarified(Some(d))) => right(q, d),
                (Kind::Human, Outcome::HandedOver(_)) => true,
                (Kind::Unanswerable, o) => !matches!(o, Outcome::Answered(_) | Outcome::Clarified(Some(_))),
                _ => false,
            };
            if !ok {
                let want = q.expected.clone().or_else(|| q.category.clone()).unwrap_or_else(|| "unanswerable".into());
                println!("- [{}] {:?}: want {want}, got {o:?}", q.language, q.text);
            }
        }
    }
    Ok(())
}
