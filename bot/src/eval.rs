//! Evaluation of the bot on a question set (`bot/eval/tuning.json`, `bot/eval/test.json`):
//! every question is one first turn; a clarifying question is followed by a second turn in which
//! the customer picks the right topic if it was offered. The metrics, per language:
//!
//! - *answer accuracy*: `answer` questions answered with `expected` or an `also_ok` document,
//!   directly or after the clarifying question, over all `answer` questions;
//! - *direct accuracy*: the same without the clarifying turn;
//! - *always-human recall*: `human` questions handed over (any reason), over all `human`
//!   questions;
//! - *unanswerable declined*: `unanswerable` questions not answered (handed over or asked back),
//!   over all `unanswerable` questions;
//! - *wrong answers*: answers with a document that is not right (for `answer` questions one not in
//!   `expected`/`also_ok`; for `human` and `unanswerable` questions any answer, counting the
//!   answer after a clarifying question too), over all questions;
//! - *clarifying questions* and *hand-overs*: first turns that asked back / handed over, over all
//!   questions;
//! - *needless hand-overs*: `answer` questions handed over, over all `answer` questions;
//! - *containment*: questions that ended with a bot answer (no person), over all questions.
//!
//! Intervals are Wilson score intervals at 95%.

use std::collections::BTreeMap;

use knowledge_base::{DocId, Language};
use serde::Deserialize;

use crate::{AskKind, Bot, BotError, Decision, PastMessage, TurnInput};

/// What the question expects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Answer,
    Human,
    Unanswerable,
}

/// One question of an evaluation set.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Question {
    pub text: String,
    pub language: Language,
    pub kind: Kind,
    #[serde(default)]
    pub expected: Option<String>,
    #[serde(default)]
    pub also_ok: Vec<String>,
    #[serde(default)]
    pub category: Option<String>,
}

impl Question {
    fn is_right(&self, doc: &DocId) -> bool {
        self.kind == Kind::Answer
            && (self.expected.as_deref() == Some(doc.as_str()) || self.also_ok.iter().any(|d| d == doc.as_str()))
    }
}

/// Parses a set: a JSON array of questions, or one JSON object per line.
pub fn parse_questions(text: &str) -> Result<Vec<Question>, BotError> {
    let bad = |e: serde_json::Error| BotError::Intents(format!("evaluation set: {e}"));
    if text.trim_start().starts_with('[') {
        return serde_json::from_str(text).map_err(bad);
    }
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l.trim().trim_end_matches(',')).map_err(bad))
        .collect()
}

/// What happened to one question.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// Answered in the first turn with this document.
    Answered(DocId),
    /// Asked back; after the customer picked the right topic (if offered) the bot answered with
    /// this document (`None`: not offered or not answered).
    Clarified(Option<DocId>),
    /// Asked to rephrase (only after an answer; not expected in first turns).
    Rephrase,
    /// Handed over, with the reason.
    HandedOver(String),
}

/// Counts for one language (or all).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub questions: usize,
    pub answer_questions: usize,
    pub human_questions: usize,
    pub unanswerable_questions: usize,
    pub correct: usize,
    pub correct_direct: usize,
    pub human_handed_over: usize,
    pub unanswerable_declined: usize,
    pub wrong: usize,
    pub clarified: usize,
    pub handed_over: usize,
    pub needless_hand_overs: usize,
    pub contained: usize,
}

/// A proportion with its Wilson 95% interval.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rate {
    pub k: usize,
    pub n: usize,
    pub value: f64,
    pub low: f64,
    pub high: f64,
}

impl std::fmt::Display for Rate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.n == 0 {
            return write!(f, "n/a");
        }
        write!(
            f,
            "{:.1}% [{:.1}–{:.1}] ({}/{})",
            100.0 * self.value,
            100.0 * self.low,
            100.0 * self.high,
            self.k,
            self.n
        )
    }
}

/// The Wilson score interval at 95% for `k` successes out of `n`.
#[must_use]
pub fn wilson(k: usize, n: usize) -> Rate {
    if n == 0 {
        return Rate { k, n, value: 0.0, low: 0.0, high: 1.0 };
    }
    let z = 1.959_964_f64;
    let nf = n as f64;
    let p = k as f64 / nf;
    let denom = 1.0 + z * z / nf;
    let centre = (p + z * z / (2.0 * nf)) / denom;
    let half = z * (p * (1.0 - p) / nf + z * z / (4.0 * nf * nf)).sqrt() / denom;
    Rate { k, n, value: p, low: (centre - half).max(0.0), high: (centre + half).min(1.0) }
}

impl Counts {
    #[must_use]
    pub fn accuracy(&self) -> Rate {
        wilson(self.correct, self.answer_questions)
    }
    #[must_use]
    pub fn direct_accuracy(&self) -> Rate {
        wilson(self.correct_direct, self.answer_questions)
    }
    #[must_use]
    pub fn human_recall(&self) -> Rate {
        wilson(self.human_handed_over, self.human_questions)
    }
    #[must_use]
    pub fn unanswerable_declined(&self) -> Rate {
        wilson(self.unanswerable_declined, self.unanswerable_questions)
    }
    #[must_use]
    pub fn wrong(&self) -> Rate {
        wilson(self.wrong, self.questions)
    }
    #[must_use]
    pub fn clarify_rate(&self) -> Rate {
        wilson(self.clarified, self.questions)
    }
    #[must_use]
    pub fn hand_over_rate(&self) -> Rate {
        wilson(self.handed_over, self.questions)
    }
    #[must_use]
    pub fn needless_hand_overs(&self) -> Rate {
        wilson(self.needless_hand_overs, self.answer_questions)
    }
    #[must_use]
    pub fn containment(&self) -> Rate {
        wilson(self.contained, self.questions)
    }

    fn add(&mut self, q: &Question, o: &Outcome) {
        self.questions += 1;
        match q.kind {
            Kind::Answer => self.answer_questions += 1,
            Kind::Human => self.human_questions += 1,
            Kind::Unanswerable => self.unanswerable_questions += 1,
        }
        let final_doc = match o {
            Outcome::Answered(d) => Some(d),
            Outcome::Clarified(d) => d.as_ref(),
            _ => None,
        };
        if let Some(d) = final_doc {
            self.contained += 1;
            if q.is_right(d) {
                self.correct += 1;
                if matches!(o, Outcome::Answered(_)) {
                    self.correct_direct += 1;
                }
            } else {
                self.wrong += 1;
            }
        }
        match o {
            Outcome::HandedOver(_) => {
                self.handed_over += 1;
                match q.kind {
                    Kind::Human => self.human_handed_over += 1,
                    Kind::Answer => self.needless_hand_overs += 1,
                    Kind::Unanswerable => {}
                }
            }
            Outcome::Clarified(_) | Outcome::Rephrase => self.clarified += 1,
            Outcome::Answered(_) => {}
        }
        if q.kind == Kind::Unanswerable && !matches!(o, Outcome::Answered(_)) {
            self.unanswerable_declined += 1;
        }
    }
}

/// Per-language and overall counts, with every question's outcome.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Report {
    pub per_language: BTreeMap<&'static str, Counts>,
    pub all: Counts,
    pub outcomes: Vec<Outcome>,
}

/// Runs every question through the bot (a first turn, and the pick after a clarifying question).
pub fn evaluate(bot: &Bot, questions: &[Question]) -> Result<Report, BotError> {
    let inputs: Vec<TurnInput> = questions.iter().map(|q| TurnInput::new(q.text.clone(), q.language)).collect();
    let mut report = Report::default();
    for (chunk_q, chunk_i) in questions.chunks(16).zip(inputs.chunks(16)) {
        let decisions = bot.turn_batch(chunk_i);
        for (q, d) in chunk_q.iter().zip(decisions) {
            let outcome = match d? {
                Decision::Answer { article, .. } => Outcome::Answered(article),
                Decision::Ask { kind: AskKind::Rephrase, .. } => Outcome::Rephrase,
                Decision::Ask { kind: AskKind::Clarify, text, choices, .. } => {
                    let pick = choices.iter().position(|c| q.is_right(&c.article));
                    match pick {
                        Some(i) => {
                            let mut next = TurnInput::new((i + 1).to_string(), q.language);
                            next.history = vec![PastMessage::customer(q.text.clone()), PastMessage::bot(text)];
                            match bot.turn(&next)? {
                                Decision::Answer { article, .. } => Outcome::Clarified(Some(article)),
                                _ => Outcome::Clarified(None),
                            }
                        }
                        None => Outcome::Clarified(None),
                    }
                }
                Decision::HandOver { reason, .. } => Outcome::HandedOver(reason.as_str().to_owned()),
            };
            report.per_language.entry(q.language.as_str()).or_default().add(q, &outcome);
            report.all.add(q, &outcome);
            report.outcomes.push(outcome);
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_matches_known_values() {
        let r = wilson(90, 100);
        assert!((r.low - 0.8256).abs() < 1e-3 && (r.high - 0.9448).abs() < 1e-3, "{r:?}");
        assert_eq!(wilson(0, 0).n, 0);
        assert!(wilson(10, 10).high <= 1.0);
    }

    #[test]
    fn both_formats_parse() {
        let lines = "{\"text\": \"a\", \"language\": \"en\", \"kind\": \"unanswerable\"}\n{\"text\": \"b\", \"language\": \"es\", \"kind\": \"human\", \"category\": \"fraud\"}\n";
        let array = format!("[{}]", lines.trim().replace('\n', ","));
        assert_eq!(parse_questions(lines).unwrap(), parse_questions(&array).unwrap());
        assert_eq!(parse_questions(lines).unwrap().len(), 2);
    }
}
