//! The self-service intents (account balance, usage, bill explanation, plan change, payment
//! arrangement) on held-out phrasings (`bot/eval/selfservice.json`, none of them an example in
//! `bot/data/intents.json`), with the real model: each is recognised as its intent, and other
//! questions are not taken for account questions.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::sync::Arc;

use bot::{Bot, BotConfig, starter_intents};
use knowledge_base::{Embedder, KnowledgeBase, Language};

const SELF_SERVICE: [&str; 5] =
    ["account_balance", "account_usage", "bill_explain", "plan_change", "payment_arrangement"];

fn bot() -> Bot {
    let dir = std::env::var_os("SWITCHBOARD_MODEL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../models/all-MiniLM-L6-v2")));
    let embedder = Arc::new(Embedder::load(&dir).unwrap_or_else(|e| panic!("model in {}: {e}", dir.display())));
    Bot::new(Arc::new(KnowledgeBase::new(Some(embedder)).unwrap()), starter_intents().unwrap(), BotConfig::default())
        .unwrap()
}

fn language(code: &str) -> Language {
    match code {
        "en" => Language::En,
        "es" => Language::Es,
        "pt" => Language::Pt,
        other => panic!("unknown language {other}"),
    }
}

#[test]
fn held_out_phrasings_are_recognised() {
    let path = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/eval/selfservice.json"));
    let set: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let examples: Vec<String> =
        starter_intents().unwrap().into_iter().flat_map(|i| i.examples).map(|e| e.to_lowercase()).collect();
    let bot = bot();
    let mut wrong = Vec::new();
    for row in set["phrasings"].as_array().unwrap() {
        let (code, expected, text) = (row[0].as_str().unwrap(), row[1].as_str().unwrap(), row[2].as_str().unwrap());
        assert!(!examples.contains(&text.to_lowercase()), "{text:?} is an example, not held out");
        let found = bot.detect_intent(text, language(code)).unwrap().map(|m| m.name);
        if found.as_deref() != Some(expected) {
            wrong.push(format!("{code} {text:?}: {found:?}, expected {expected}"));
        }
    }
    for row in set["others"].as_array().unwrap() {
        let (code, text) = (row[0].as_str().unwrap(), row[1].as_str().unwrap());
        let found = bot.detect_intent(text, language(code)).unwrap().map(|m| m.name);
        if found.as_deref().is_some_and(|n| SELF_SERVICE.contains(&n)) {
            wrong.push(format!("{code} {text:?}: taken for {found:?}"));
        }
    }
    assert!(wrong.is_empty(), "misread:\n{}", wrong.join("\n"));
}
