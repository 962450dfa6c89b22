//! Evaluates the bot on `bot/eval/questions.json`: answer accuracy, hand-over precision and
//! recall, containment, for hybrid search and for a BM25-only baseline, with a sweep of the
//! answer threshold.
//!
//! `scripts/fetch-model && cargo run -p bot --release --example evaluate [-- MODEL_DIR]`
#![allow(clippy::print_stdout)]

use std::error::Error;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use bot::{Bot, BotConfig, Decision, HandOverReason, TurnInput};
use knowledge_base::{Embedder, KnowledgeBase, Language, demo_documents};
use serde::Deserialize;

#[derive(Deserialize)]
struct Question {
    text: String,
    language: Language,
    expected: String,
    #[serde(default)]
    also_ok: Vec<String>,
}

/// What the bot did with a question when no answer threshold applies.
enum Outcome {
    /// Handed over for a reason other than confidence (asked for a human, always-human intent).
    HandOver(HandOverReason),
    /// The best answer and its confidence (`None`: no hit at all).
    Best(Option<(String, f32)>),
}

struct Row {
    t: f32,
    accuracy: f32,
    answered_precision: f32,
    wrong_answers: usize,
    ho_precision: f32,
    ho_recall: f32,
    containment: f32,
    cost: usize,
}

fn score(questions: &[Question], outcomes: &[Outcome], t: f32) -> Row {
    let (mut correct, mut answerable, mut answered, mut wrong) = (0, 0, 0, 0);
    let (mut ho, mut ho_right, mut expected_ho) = (0, 0, 0);
    for (q, o) in questions.iter().zip(outcomes) {
        let want_ho = q.expected == "handover";
        expected_ho += usize::from(want_ho);
        answerable += usize::from(!want_ho);
        let answer = match o {
            Outcome::Best(Some((id, c))) if *c >= t => Some(id),
            _ => None,
        };
        match answer {
            Some(id) => {
                answered += 1;
                if *id == q.expected || q.also_ok.contains(id) {
                    correct += 1;
                } else {
                    wrong += 1;
                }
            }
            None => {
                ho += 1;
                ho_right += usize::from(want_ho);
            }
        }
    }
    let pct = |a: usize, b: usize| if b == 0 { 0.0 } else { 100.0 * a as f32 / b as f32 };
    // A wrong answer costs twice an unneeded hand-over.
    let needless_ho = ho - ho_right;
    Row {
        t,
        accuracy: pct(correct, answerable),
        answered_precision: pct(correct, answered),
        wrong_answers: wrong,
        ho_precision: pct(ho_right, ho),
        ho_recall: pct(ho_right, expected_ho),
        containment: pct(answered, questions.len()),
        cost: 2 * wrong + needless_ho,
    }
}

fn run(name: &str, kb: Arc<KnowledgeBase>, questions: &[Question], default_t: f32) -> Result<f32, Box<dyn Error>> {
    let config = BotConfig { answer_threshold: 0.0, keyword_answer_threshold: 0.0, ..BotConfig::default() };
    let bot = Bot::new(kb, bot::starter_intents()?, config)?;
    let start = Instant::now();
    let mut outcomes = Vec::with_capacity(questions.len());
    let mut misses = Vec::new();
    for q in questions {
        let d =
            bot.turn(&TurnInput { text: q.text.clone(), conversation_language: q.language, failed_answers_so_far: 0 })?;
        outcomes.push(match d {
            Decision::Answer { article, confidence, .. } => {
                Outcome::Best(Some((article.as_str().to_owned(), confidence)))
            }
            Decision::HandOver { reason: HandOverReason::LowConfidence, .. } => Outcome::Best(None),
            Decision::HandOver { reason, .. } => Outcome::HandOver(reason),
        });
    }
    let elapsed = start.elapsed();
    println!("\n## {name}\n");
    println!(
        "{} questions in {:.2?} ({:.1} ms per turn)\n",
        questions.len(),
        elapsed,
        elapsed.as_secs_f64() * 1000.0 / questions.len() as f64
    );
    println!(
        "| threshold | answer accuracy | precision of answers | wrong answers | hand-over precision | hand-over recall | containment | cost |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let mut best: Option<Row> = None;
    let mut t = 0.20f32;
    while t <= 0.801 {
        let r = score(questions, &outcomes, t);
        println!(
            "| {:.2}{} | {:.1}% | {:.1}% | {} | {:.1}% | {:.1}% | {:.1}% | {} |",
            r.t,
            if (r.t - default_t).abs() < 1e-3 { " (default)" } else { "" },
            r.accuracy,
            r.answered_precision,
            r.wrong_answers,
            r.ho_precision,
            r.ho_recall,
            r.containment,
            r.cost
        );
        if best.as_ref().is_none_or(|b| r.cost < b.cost) {
            best = Some(r);
        }
        t += 0.05;
    }
    let best_t = best.map_or(default_t, |b| b.t);
    println!("\nlowest cost (2 × wrong answers + needless hand-overs) at threshold {best_t:.2}");
    // What goes wrong at the default threshold.
    for (q, o) in questions.iter().zip(&outcomes) {
        let got = match o {
            Outcome::HandOver(r) => format!("handover ({})", r.as_str()),
            Outcome::Best(Some((id, c))) if *c >= default_t => format!("{id} ({c:.2})"),
            Outcome::Best(Some((id, c))) => format!("handover (low confidence; best {id} {c:.2})"),
            Outcome::Best(None) => "handover (no hit)".to_owned(),
        };
        let ok = if q.expected == "handover" {
            got.starts_with("handover")
        } else {
            matches!(o, Outcome::Best(Some((id, c))) if *c >= default_t && (*id == q.expected || q.also_ok.contains(id)))
        };
        if !ok {
            misses.push(format!("- [{}] {:?}: expected {}, got {got}", q.language, q.text, q.expected));
        }
    }
    println!("\nmisses at the default threshold {default_t:.2} ({}):", misses.len());
    for m in misses {
        println!("{m}");
    }
    Ok(best_t)
}

fn main() -> Result<(), Box<dyn Error>> {
    let dir = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../models/all-MiniLM-L6-v2")));
    let questions: Vec<Question> = serde_json::from_str(include_str!("../eval/questions.json"))?;
    let handovers = questions.iter().filter(|q| q.expected == "handover").count();
    println!(
        "# Bot evaluation\n\n{} questions ({} expect a hand-over), {} demo documents",
        questions.len(),
        handovers,
        demo_documents()?.len()
    );
    let defaults = BotConfig::default();

    let embedder = Arc::new(Embedder::load(&dir).map_err(|e| format!("{e} (run scripts/fetch-model)"))?);
    let hybrid = KnowledgeBase::new(Some(embedder))?;
    let t = Instant::now();
    hybrid.upsert_many(demo_documents()?)?;
    println!("demo KB indexed with embeddings in {:.2?}", t.elapsed());
    run("Hybrid (BM25 + all-MiniLM-L6-v2, RRF k=60)", Arc::new(hybrid), &questions, defaults.answer_threshold)?;

    let keyword = KnowledgeBase::new(None)?;
    keyword.upsert_many(demo_documents()?)?;
    run("BM25 only (no model; keyword intents)", Arc::new(keyword), &questions, defaults.keyword_answer_threshold)?;
    Ok(())
}
