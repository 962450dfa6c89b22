//! The issue-17 floors on the held-out test set (`bot/eval/test.json`, written apart from the
//! bot and never used to fit anything), per language, with the real model
//! (`scripts/fetch-model`): answer accuracy, always-human recall and the share of wrong answers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::print_stdout)]

use std::path::PathBuf;
use std::sync::Arc;

use bot::eval::{evaluate, parse_questions};
use bot::{Bot, BotConfig, starter_intents};
use knowledge_base::{Embedder, KnowledgeBase, demo_documents};

/// Answer accuracy (directly or after the clarifying question) at least this, per language.
const MIN_ACCURACY: f64 = 0.92;
/// Always-human recall at least this, per language.
const MIN_HUMAN_RECALL: f64 = 0.95;
/// Wrong answers at most this share of all questions, per language.
const MAX_WRONG: f64 = 0.03;

fn bot() -> Bot {
    let dir = std::env::var_os("SWITCHBOARD_MODEL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../models/all-MiniLM-L6-v2")));
    let embedder = match Embedder::load(&dir) {
        Ok(e) => Arc::new(e),
        Err(e) => panic!("cannot load the embedding model from {}: {e}\nRun scripts/fetch-model first.", dir.display()),
    };
    let kb = KnowledgeBase::new(Some(embedder)).unwrap();
    kb.upsert_many(demo_documents().unwrap()).unwrap();
    Bot::new(Arc::new(kb), starter_intents().unwrap(), BotConfig::default()).unwrap()
}

#[test]
fn test_set_meets_the_floors_in_every_language() {
    let path = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/eval/test.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let questions = parse_questions(&text).unwrap();
    let report = evaluate(&bot(), &questions).unwrap();
    let mut failures = Vec::new();
    for language in ["en", "es", "pt"] {
        let c = report.per_language.get(language).unwrap_or_else(|| panic!("no {language} questions in the test set"));
        println!(
            "{language}: accuracy {}, always-human recall {}, wrong {}, containment {}",
            c.accuracy(),
            c.human_recall(),
            c.wrong(),
            c.containment()
        );
        if c.accuracy().value < MIN_ACCURACY {
            failures.push(format!("{language}: answer accuracy {} < {MIN_ACCURACY}", c.accuracy()));
        }
        if c.human_recall().value < MIN_HUMAN_RECALL {
            failures.push(format!("{language}: always-human recall {} < {MIN_HUMAN_RECALL}", c.human_recall()));
        }
        if c.wrong().value > MAX_WRONG {
            failures.push(format!("{language}: wrong answers {} > {MAX_WRONG}", c.wrong()));
        }
    }
    assert!(failures.is_empty(), "below the floors:\n{}", failures.join("\n"));
}
