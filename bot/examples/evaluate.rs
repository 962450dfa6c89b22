//! Evaluates the bot on an evaluation set and prints the figures per language with Wilson 95%
//! intervals (definitions in `bot::eval`). With `fit`, fits the answerability model and chooses
//! the answer and clarify thresholds on the set (only ever run it on the tuning set).
//!
//! ```text
//! scripts/fetch-model
//! cargo run -p bot --release --example evaluate                  # tuning set
//! cargo run -p bot --release --example evaluate -- test          # the held-out test set
//! cargo run -p bot --release --example evaluate -- tuning fit    # refit weights + thresholds
//! cargo run -p bot --release --example evaluate -- tuning human-cv # classifier, 5-fold CV
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
use bot::human_model::{bundled_examples, intent_examples};
use bot::{
    Bot, BotConfig, Decision, HandOverReason, HumanCategory, HumanModel, TurnInput, always_human_cue, asks_for_human,
    detect_language, starter_intents,
};
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

/// One tuning question's classifier margins (one per embedding weight) under cross-validation.
struct CvRow<'a> {
    q: &'a Question,
    /// Handed over before the classifier (a request for a person or a phrase rule).
    by_rules: bool,
    margins: Vec<f32>,
}

const WEIGHTS: [f32; 6] = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0];
const FOLDS: usize = 5;

/// (missed always-human questions, `answer` questions handed over) at a margin threshold, by the
/// classifier alone or with the rules and requests for a person.
fn cv_errors(rows: &[&CvRow<'_>], wi: usize, margin: f32, with_rules: bool) -> (usize, usize) {
    let (mut missed, mut needless) = (0, 0);
    for r in rows {
        if !with_rules && r.q.category.as_deref() == Some("asks_for_human") {
            continue;
        }
        let handed = (with_rules && r.by_rules) || r.margins[wi] >= margin;
        match r.q.kind {
            Kind::Human if !handed => missed += 1,
            Kind::Answer if handed => needless += 1,
            _ => {}
        }
    }
    (missed, needless)
}

/// The (weight index, margin) with the lowest cost, 2 × missed + needless, of the classifier
/// alone: the rules were written from the tuning set (they catch all of it), so only the
/// classifier's own errors show how it generalises.
fn choose(rows: &[&CvRow<'_>]) -> (usize, f32, f32) {
    let mut best = (0, 0.0, f32::MAX);
    for wi in 0..WEIGHTS.len() {
        for mi in 0..=60 {
            let margin = -0.15 + 0.005 * mi as f32;
            let (missed, needless) = cv_errors(rows, wi, margin, false);
            let cost = 2.0 * missed as f32 + needless as f32;
            if cost < best.2 {
                best = (wi, margin, cost);
            }
        }
    }
    best
}

/// K-fold cross-validation of the always-human classifier on a set (only ever the tuning set):
/// the bundled examples alone, and with the other folds' questions added to them; the weight and
/// margin are chosen on the other folds and scored on the held-out one.
fn human_cv(bot: &mut Bot, questions: &[Question], show_misses: bool) -> Result<(), Box<dyn Error>> {
    let mut bundled = bundled_examples()?;
    bundled.extend(intent_examples(bot.intents()));
    let bundled = bot.human_examples(&bundled)?;
    let labelled: Vec<(String, Option<HumanCategory>)> =
        questions.iter().map(|q| (q.text.clone(), q.category.as_deref().and_then(HumanCategory::parse))).collect();
    let own = bot.human_examples(&labelled)?;
    for with_tuning in [false, true] {
        let mut rows: Vec<CvRow<'_>> = Vec::new();
        for fold in 0..FOLDS {
            let mut bank = bundled.clone();
            if with_tuning {
                for (i, (q, e)) in questions.iter().zip(&own).enumerate() {
                    // Requests for a person are not classifier examples; unanswerable questions
                    // are not "none" either (a hand-over is right for them).
                    if i % FOLDS != fold && (q.kind == Kind::Answer || e.category.is_some()) {
                        bank.push(e.clone());
                    }
                }
            }
            let model = HumanModel::new(bank, bot.config().human);
            for (i, (q, e)) in questions.iter().zip(&own).enumerate() {
                if i % FOLDS != fold {
                    continue;
                }
                let text = q.text.trim();
                let margins = WEIGHTS.iter().map(|w| model.scores_with(text, e.vector(), *w).margin()).collect();
                let by_rules = asks_for_human(text) || always_human_cue(text).is_some();
                rows.push(CvRow { q, by_rules, margins });
            }
        }
        println!(
            "\n## {FOLDS}-fold cross-validation, examples: bundled{}\n",
            if with_tuning { " + the other folds' tuning questions" } else { " only" }
        );
        println!(
            "| fold | weight | margin | classifier alone: always-human recall | answer questions handed over | with the rules: always-human recall | answer questions handed over |"
        );
        println!("|---|---|---|---|---|---|---|");
        let mut held_out: Vec<(usize, f32, &CvRow<'_>)> = Vec::new();
        for fold in 0..FOLDS {
            let train: Vec<&CvRow<'_>> =
                rows.iter().enumerate().filter(|(i, _)| i % FOLDS != fold).map(|(_, r)| r).collect();
            let (wi, margin, _) = choose(&train);
            let test: Vec<&CvRow<'_>> =
                rows.iter().enumerate().filter(|(i, _)| i % FOLDS == fold).map(|(_, r)| r).collect();
            let humans = test.iter().filter(|r| r.q.kind == Kind::Human).count();
            let categorised = test
                .iter()
                .filter(|r| r.q.kind == Kind::Human && r.q.category.as_deref() != Some("asks_for_human"))
                .count();
            let answers = test.iter().filter(|r| r.q.kind == Kind::Answer).count();
            let (missed_alone, needless_alone) = cv_errors(&test, wi, margin, false);
            let (missed, needless) = cv_errors(&test, wi, margin, true);
            println!(
                "| {fold} | {} | {margin:.3} | {}/{categorised} | {needless_alone}/{answers} | {}/{humans} | {needless}/{answers} |",
                WEIGHTS[wi],
                categorised - missed_alone,
                humans - missed
            );
            held_out.extend(test.into_iter().map(|r| (wi, margin, r)));
        }
        println!("\nheld-out figures per language (each fold scored with the settings chosen on the others):\n");
        println!(
            "| language | classifier alone: always-human recall (no requests for a person) | answer questions handed over | with the rules: answer questions handed over |\n|---|---|---|---|"
        );
        for lang in ["en", "es", "pt"] {
            let of: Vec<&(usize, f32, &CvRow<'_>)> =
                held_out.iter().filter(|(_, _, r)| r.q.language.as_str() == lang).collect();
            let human = |r: &CvRow<'_>| r.q.kind == Kind::Human && r.q.category.as_deref() != Some("asks_for_human");
            let humans = of.iter().filter(|(_, _, r)| human(r)).count();
            let caught = of.iter().filter(|(wi, m, r)| human(r) && r.margins[*wi] >= *m).count();
            let answers = of.iter().filter(|(_, _, r)| r.q.kind == Kind::Answer).count();
            let alone = of.iter().filter(|(wi, m, r)| r.q.kind == Kind::Answer && r.margins[*wi] >= *m).count();
            let needless =
                of.iter().filter(|(wi, m, r)| r.q.kind == Kind::Answer && (r.by_rules || r.margins[*wi] >= *m)).count();
            println!("| {lang} | {caught}/{humans} | {alone}/{answers} | {needless}/{answers} |");
        }
        if show_misses {
            for (wi, m, r) in &held_out {
                let handed = r.margins[*wi] >= *m;
                let wrong = match r.q.kind {
                    Kind::Human => !handed && r.q.category.as_deref() != Some("asks_for_human"),
                    Kind::Answer => handed,
                    Kind::Unanswerable => false,
                };
                if wrong {
                    println!("- [{}] {:?} ({:?}): margin {:.3}", r.q.language, r.q.text, r.q.kind, r.margins[*wi]);
                }
            }
        }
        let all: Vec<&CvRow<'_>> = rows.iter().collect();
        let (wi, margin, cost) = choose(&all);
        println!("\non all folds: weight {}, margin {margin:.3} (cost {cost})", WEIGHTS[wi]);
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
    let mut bot = Bot::new(Arc::new(kb), starter_intents()?, BotConfig::default())?;
    println!("# Bot evaluation: {} ({} questions)\n", path.display(), questions.len());
    if args.iter().any(|a| a == "human-cv") {
        if set == "test" {
            return Err("nothing is fitted on the test set".into());
        }
        return human_cv(&mut bot, &questions, args.iter().any(|a| a == "misses"));
    }
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
