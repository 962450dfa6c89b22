//! Always-human classifier: the message's nearest written examples, per category and among
//! "not a person's job" questions, by a blend of embedding cosine and character n-gram cosine.
//!
//! The phrase rules in `human` recognise the phrasings they were written from; this generalises
//! to other people's wording. The examples (`bot/data/always_human.json`, en/es/pt, typos, no
//! accents, slang, code-switching) are written apart from the evaluation sets. Character 3- and
//! 4-grams of the accent-folded text make "devolucion"/"devolución", "cancelar"/"cancelem" and
//! "reembolso"/"reembolsar" close without a stemmer, and carry Spanish and Portuguese where the
//! English embedding model is weak. A message is handed over when its best category beats the
//! `none` examples by `margin` (blended similarity, mean of the `NEAREST` best per class).
//! The weight and the margin were chosen by cross-validation on the tuning set
//! (`cargo run -p bot --release --example evaluate -- tuning human-cv`). No I/O.

use std::collections::HashMap;

use knowledge_base::cosine;
use serde::Deserialize;

use crate::BotError;
use crate::fold;
use crate::human::{HumanCategory, HumanCue};
use crate::intent::{Intent, TALK_TO_HUMAN};

/// Nearest examples averaged per class.
const NEAREST: usize = 2;
/// Longest text whose n-grams are taken (longer messages are cut; the rest adds little).
const MAX_CHARS: usize = 2000;

/// The classifier's settings (chosen by cross-validation on the tuning set).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HumanParams {
    /// Weight of the embedding cosine in the blend (the n-gram cosine has `1 - weight`);
    /// ignored without a model.
    pub embedding_weight: f32,
    /// Hand over when the best category's score exceeds the `none` score by at least this.
    pub margin: f32,
    /// The same without a model (n-grams only).
    pub margin_without_model: f32,
}

impl Default for HumanParams {
    fn default() -> Self {
        Self { embedding_weight: 0.4, margin: 0.005, margin_without_model: 0.005 }
    }
}

/// A sparse, L2-normalised vector of hashed character n-grams.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Grams(Vec<(u32, f32)>);

fn fnv(bytes: impl Iterator<Item = char>) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for c in bytes {
        h ^= c as u32;
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

impl Grams {
    /// Character 3- and 4-grams of each word (padded with spaces) of the folded text.
    #[must_use]
    pub fn of(text: &str) -> Self {
        let cut: String = text.chars().take(MAX_CHARS).collect();
        let folded = fold(&cut);
        let mut counts: HashMap<u32, f32> = HashMap::new();
        for word in folded.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
            let chars: Vec<char> = std::iter::once(' ').chain(word.chars()).chain(std::iter::once(' ')).collect();
            for n in [3usize, 4] {
                for w in chars.windows(n) {
                    *counts.entry(fnv(w.iter().copied()).wrapping_add(n as u32)).or_default() += 1.0;
                }
            }
        }
        let mut v: Vec<(u32, f32)> = counts.into_iter().collect();
        v.sort_unstable_by_key(|(k, _)| *k);
        let norm = v.iter().map(|(_, x)| x * x).sum::<f32>().sqrt();
        if norm > 0.0 {
            for (_, x) in &mut v {
                *x /= norm;
            }
        }
        Self(v)
    }

    /// Cosine of two normalised vectors (a merge of the sorted keys).
    #[must_use]
    pub fn cosine(&self, other: &Self) -> f32 {
        let (a, b) = (&self.0, &other.0);
        let (mut i, mut j, mut dot) = (0, 0, 0.0);
        while i < a.len() && j < b.len() {
            match a[i].0.cmp(&b[j].0) {
                std::cmp::Ordering::Less => i += 1,
                std::cmp::Ordering::Greater => j += 1,
                std::cmp::Ordering::Equal => {
                    dot += a[i].1 * b[j].1;
                    i += 1;
                    j += 1;
                }
            }
        }
        dot
    }
}

/// One example: its class (`None`: not a person's job), n-grams and embedding.
#[derive(Clone, Debug)]
pub struct HumanExample {
    pub text: String,
    pub category: Option<HumanCategory>,
    grams: Grams,
    vector: Option<Vec<f32>>,
}

impl HumanExample {
    #[must_use]
    pub fn new(text: impl Into<String>, category: Option<HumanCategory>, vector: Option<Vec<f32>>) -> Self {
        let text = text.into();
        let grams = Grams::of(&text);
        Self { text, category, grams, vector }
    }

    /// The example's embedding (with a model).
    #[must_use]
    pub fn vector(&self) -> Option<&[f32]> {
        self.vector.as_deref()
    }
}

/// How a message scored: the best always-human category and its score, the `none` score, and
/// the nearest example of that category.
#[derive(Clone, Debug, PartialEq)]
pub struct HumanScores {
    pub category: Option<HumanCategory>,
    pub human: f32,
    pub none: f32,
    pub example: String,
}

impl HumanScores {
    /// How far the best category is ahead of the `none` examples.
    #[must_use]
    pub fn margin(&self) -> f32 {
        self.human - self.none
    }
}

const CLASSES: [Option<HumanCategory>; 7] = [
    None,
    Some(HumanCategory::Dispute),
    Some(HumanCategory::Cancellation),
    Some(HumanCategory::Fraud),
    Some(HumanCategory::Complaint),
    Some(HumanCategory::Legal),
    Some(HumanCategory::Vulnerable),
];

fn class_index(c: Option<HumanCategory>) -> usize {
    CLASSES.iter().position(|x| *x == c).unwrap_or(0)
}

/// The classifier: written examples and the settings.
#[derive(Clone, Debug)]
pub struct HumanModel {
    examples: Vec<HumanExample>,
    params: HumanParams,
}

#[derive(Deserialize)]
struct ExampleFile {
    dispute: Vec<String>,
    cancellation: Vec<String>,
    fraud: Vec<String>,
    complaint: Vec<String>,
    legal: Vec<String>,
    vulnerable: Vec<String>,
    none: Vec<String>,
}

/// The bundled examples (`bot/data/always_human.json`): (text, category; `None` for the
/// questions that are not a person's job).
pub fn bundled_examples() -> Result<Vec<(String, Option<HumanCategory>)>, BotError> {
    let f: ExampleFile = serde_json::from_str(include_str!("../data/always_human.json"))
        .map_err(|e| BotError::Intents(format!("always_human.json: {e}")))?;
    let mut out = Vec::new();
    for (texts, c) in [
        (f.dispute, Some(HumanCategory::Dispute)),
        (f.cancellation, Some(HumanCategory::Cancellation)),
        (f.fraud, Some(HumanCategory::Fraud)),
        (f.complaint, Some(HumanCategory::Complaint)),
        (f.legal, Some(HumanCategory::Legal)),
        (f.vulnerable, Some(HumanCategory::Vulnerable)),
        (f.none, None),
    ] {
        out.extend(texts.into_iter().map(|t| (t, c)));
    }
    Ok(out)
}

/// The trainers' intents as examples too: an always-human intent's examples for its category,
/// the other intents' (but requests for a person, handled before) for `none`.
#[must_use]
pub fn intent_examples(intents: &[Intent]) -> Vec<(String, Option<HumanCategory>)> {
    let mut out = Vec::new();
    for i in intents.iter().filter(|i| i.name != TALK_TO_HUMAN) {
        let category = HumanCategory::ALL.into_iter().find(|c| c.intent() == i.name);
        if i.always_human && category.is_none() {
            continue;
        }
        out.extend(i.examples.iter().map(|e| (e.clone(), category)));
    }
    out
}

impl HumanModel {
    #[must_use]
    pub fn new(examples: Vec<HumanExample>, params: HumanParams) -> Self {
        Self { examples, params }
    }

    #[must_use]
    pub fn params(&self) -> HumanParams {
        self.params
    }

    pub fn set_params(&mut self, params: HumanParams) {
        self.params = params;
    }

    /// The scores of a message (its embedding when there is a model) with an embedding weight.
    #[must_use]
    pub fn scores_with(&self, text: &str, vector: Option<&[f32]>, embedding_weight: f32) -> HumanScores {
        let grams = Grams::of(text);
        // The NEAREST best (similarity, example index) per class.
        let mut best: [[(f32, usize); NEAREST]; 7] = [[(f32::MIN, usize::MAX); NEAREST]; 7];
        for (i, e) in self.examples.iter().enumerate() {
            let g = grams.cosine(&e.grams);
            let s = match (vector, &e.vector) {
                (Some(v), Some(ev)) => embedding_weight * cosine(v, ev) + (1.0 - embedding_weight) * g,
                _ => g,
            };
            let slot = &mut best[class_index(e.category)];
            if s > slot[NEAREST - 1].0 {
                slot[NEAREST - 1] = (s, i);
                slot.sort_unstable_by(|a, b| b.0.total_cmp(&a.0));
            }
        }
        let mean = |c: &[(f32, usize); NEAREST]| {
            let found: Vec<f32> = c.iter().filter(|(_, i)| *i != usize::MAX).map(|(s, _)| *s).collect();
            if found.is_empty() { 0.0 } else { found.iter().sum::<f32>() / found.len() as f32 }
        };
        let none = mean(&best[0]);
        let (mut category, mut human, mut example) = (None, 0.0, String::new());
        for (k, c) in CLASSES.iter().enumerate().skip(1) {
            let s = mean(&best[k]);
            if category.is_none() || s > human {
                category = *c;
                human = s;
                example = self.examples.get(best[k][0].1).map(|e| e.text.clone()).unwrap_or_default();
            }
        }
        HumanScores { category, human, none, example }
    }

    /// The always-human request in a message by its nearest examples, if any.
    #[must_use]
    pub fn classify(&self, text: &str, vector: Option<&[f32]>) -> Option<HumanCue> {
        let has_vectors = vector.is_some() && self.examples.iter().any(|e| e.vector.is_some());
        let s = self.scores_with(text, vector, self.params.embedding_weight);
        let margin = if has_vectors { self.params.margin } else { self.params.margin_without_model };
        let category = s.category?;
        (s.margin() >= margin && !s.example.is_empty())
            .then(|| HumanCue { category, cue: format!("close to the example \"{}\"", s.example) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> HumanModel {
        let examples = bundled_examples().unwrap().into_iter().map(|(t, c)| HumanExample::new(t, c, None)).collect();
        HumanModel::new(examples, HumanParams::default())
    }

    #[test]
    fn grams_fold_accents_and_are_normalised() {
        let a = Grams::of("devolución");
        let b = Grams::of("DEVOLUCION");
        assert!((a.cosine(&b) - 1.0).abs() < 1e-5);
        assert!(Grams::of("cancelar").cosine(&Grams::of("roaming")) < 0.1);
        assert_eq!(Grams::of("  !! ").cosine(&a), 0.0);
    }

    #[test]
    fn every_category_has_examples_in_the_bundle() {
        let examples = bundled_examples().unwrap();
        for c in CLASSES {
            assert!(examples.iter().filter(|(_, x)| *x == c).count() >= 20, "{c:?}");
        }
    }

    #[test]
    fn without_a_model_ngrams_recognise_new_wording() {
        let m = model();
        assert_eq!(
            m.classify("quiero que me devuelvan el dinero cobrado de mas", None).map(|c| c.category),
            Some(HumanCategory::Dispute)
        );
        assert_eq!(m.classify("como reinicio el router", None), None);
        assert_eq!(m.classify("", None), None);
    }

    #[test]
    fn long_input_is_cut() {
        let long = "refund ".repeat(10_000);
        assert!(Grams::of(&long).0.len() < 50);
    }
}
