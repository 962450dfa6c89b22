//! Intents: trainer-curated example phrasings, matched by embedding similarity (nearest
//! example) or, without a model, by overlap of analyzed terms.

use knowledge_base::{Embedder, Language, analyze, cosine};
use serde::{Deserialize, Serialize};

use crate::BotError;

/// One intent. Intents are data: the hub can load them from its store and let trainers edit them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Intent {
    /// A lower-case name such as `billing_question`.
    pub name: String,
    /// Example customer phrasings, in any of the languages.
    pub examples: Vec<String>,
    /// Hand over to an agent whenever this intent is detected (refunds, cancellations).
    #[serde(default)]
    pub always_human: bool,
    /// The skills (name, level 1..=10) an agent needs for it.
    #[serde(default)]
    pub skills: Vec<(String, u8)>,
}

/// The name of the intent that means "let me talk to a person".
pub const TALK_TO_HUMAN: &str = "talk_to_human";

/// The telecom starter set: billing_question, bill_dispute, plan_change, new_service,
/// payment_arrangement, account_balance, account_usage, bill_explain (the last four and
/// plan_change are answered by self-service in the hub once the customer is verified),
/// cancel_service, outage, slow_internet, roaming, payment, talk_to_human, with phrasings in
/// English, Spanish and Portuguese.
pub fn starter_intents() -> Result<Vec<Intent>, BotError> {
    serde_json::from_str(include_str!("../data/intents.json")).map_err(|e| BotError::Intents(e.to_string()))
}

/// A detected intent.
#[derive(Clone, Debug, PartialEq)]
pub struct IntentMatch {
    pub name: String,
    /// Cosine similarity to the nearest example (with a model), or term overlap (without).
    pub score: f32,
    /// The example that matched best.
    pub example: String,
}

#[derive(Debug)]
pub(crate) struct CompiledIntents {
    pub intents: Vec<Intent>,
    /// (intent index, example index, the example's language if clear, vector)
    vectors: Vec<(usize, usize, Option<Language>, Vec<f32>)>,
    /// (intent index, example index, analyzed terms per language)
    terms: Vec<(usize, usize, [Vec<String>; 3])>,
}

fn li(l: Language) -> usize {
    match l {
        Language::En => 0,
        Language::Es => 1,
        Language::Pt => 2,
    }
}

fn term_set(language: Language, text: &str) -> Vec<String> {
    let mut t = analyze(language, text);
    t.sort_unstable();
    t.dedup();
    t
}

/// Set cosine: |a ∩ b| / sqrt(|a| |b|).
fn overlap(a: &[String], b: &[String]) -> f32 {
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let common = a.iter().filter(|t| b.binary_search(t).is_ok()).count();
    common as f32 / ((a.len() * b.len()) as f32).sqrt()
}

impl CompiledIntents {
    pub fn new(intents: Vec<Intent>, embedder: Option<&Embedder>) -> Result<Self, BotError> {
        for i in &intents {
            if i.name.trim().is_empty() || i.examples.is_empty() {
                return Err(BotError::Intents(format!("intent {:?} needs a name and examples", i.name)));
            }
            if let Some((s, l)) = i.skills.iter().find(|(_, l)| !(1..=10).contains(l)) {
                return Err(BotError::Intents(format!("intent {}: skill {s} level {l} is not 1..=10", i.name)));
            }
        }
        let mut vectors = Vec::new();
        let mut terms = Vec::new();
        let mut texts = Vec::new();
        let mut keys = Vec::new();
        for (ii, intent) in intents.iter().enumerate() {
            for (ei, ex) in intent.examples.iter().enumerate() {
                texts.push(ex.as_str());
                keys.push((ii, ei));
                let per_lang = [Language::En, Language::Es, Language::Pt].map(|l| term_set(l, ex));
                terms.push((ii, ei, per_lang));
            }
        }
        if let Some(e) = embedder {
            for (((ii, ei), v), text) in keys.into_iter().zip(e.embed(&texts)?).zip(&texts) {
                vectors.push((ii, ei, crate::language::detect_language(text), v));
            }
        }
        Ok(Self { intents, vectors, terms })
    }

    /// The best intent with its score (no threshold applied): by embedding when a vector is given
    /// (nearest example in the message's language: the English model finds false neighbours
    /// across languages), by term overlap otherwise.
    pub fn best(&self, text: &str, language: Language, vector: Option<&[f32]>) -> Option<IntentMatch> {
        let mut best: Option<(usize, usize, f32)> = None;
        let mut consider = |ii: usize, ei: usize, s: f32| {
            if best.is_none_or(|(_, _, b)| s > b) {
                best = Some((ii, ei, s));
            }
        };
        match vector {
            Some(q) if !self.vectors.is_empty() => {
                for (ii, ei, example_language, v) in &self.vectors {
                    if example_language.is_none_or(|l| l == language) {
                        consider(*ii, *ei, cosine(q, v));
                    }
                }
            }
            _ => {
                let q = term_set(language, text);
                for (ii, ei, t) in &self.terms {
                    consider(*ii, *ei, overlap(&q, &t[li(language)]));
                }
            }
        }
        let (ii, ei, score) = best?;
        let intent = &self.intents[ii];
        Some(IntentMatch { name: intent.name.clone(), score, example: intent.examples[ei].clone() })
    }

    pub fn get(&self, name: &str) -> Option<&Intent> {
        self.intents.iter().find(|i| i.name == name)
    }
}
