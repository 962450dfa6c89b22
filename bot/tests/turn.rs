//! Bot turns over the demo knowledge base with the real model (scripts/fetch-model).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use bot::{AskKind, Bot, BotConfig, Decision, HandOverReason, PastMessage, TurnInput, starter_intents};
use knowledge_base::{Embedder, KnowledgeBase, Language, demo_documents};

fn bot() -> &'static Bot {
    static BOT: OnceLock<Bot> = OnceLock::new();
    BOT.get_or_init(|| {
        let dir = std::env::var_os("SWITCHBOARD_MODEL_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../models/all-MiniLM-L6-v2")));
        let embedder = match Embedder::load(&dir) {
            Ok(e) => Arc::new(e),
            Err(e) => {
                panic!("cannot load the embedding model from {}: {e}\nRun scripts/fetch-model first.", dir.display())
            }
        };
        let kb = KnowledgeBase::new(Some(embedder)).unwrap();
        kb.upsert_many(demo_documents().unwrap()).unwrap();
        Bot::new(Arc::new(kb), starter_intents().unwrap(), BotConfig::default()).unwrap()
    })
}

fn turn(text: &str, lang: Language, failed: u32) -> Decision {
    bot()
        .turn(&TurnInput {
            text: text.into(),
            conversation_language: lang,
            failed_answers_so_far: failed,
            history: Vec::new(),
        })
        .unwrap()
}

#[test]
fn roaming_question_is_answered_with_the_roaming_article() {
    match turn("how do I turn on roaming?", Language::En, 0) {
        Decision::Answer { article, title, text, language, confidence, intent } => {
            assert_eq!(article.as_str(), "en-roaming-turn-on");
            assert_eq!(language, Language::En);
            assert!(text.contains(&title), "the answer cites the article: {text}");
            assert!(confidence >= bot().config().answer_threshold);
            assert_eq!(intent.as_deref(), Some("roaming"));
        }
        other => panic!("expected an answer, got {other:?}"),
    }
}

#[test]
fn refund_request_hands_over_to_billing() {
    match turn("I want a refund for last month", Language::En, 0) {
        Decision::HandOver { reason, skills, language, summary, message, .. } => {
            assert_eq!(reason, HandOverReason::AlwaysHuman("bill_dispute".into()));
            assert!(skills.iter().any(|(s, _)| s == "billing"), "{skills:?}");
            assert!(skills.iter().any(|(s, _)| s == "english"), "{skills:?}");
            assert_eq!(language, Language::En);
            assert!(summary.contains("bill_dispute") && summary.contains("I want a refund"), "{summary}");
            assert!(message.contains("{wait}"));
        }
        other => panic!("expected a hand-over, got {other:?}"),
    }
}

#[test]
fn spanish_request_for_a_person_hands_over_in_spanish() {
    // The conversation was in English; the message itself is Spanish.
    match turn("quiero hablar con una persona", Language::En, 0) {
        Decision::HandOver { reason, language, skills, message, .. } => {
            assert_eq!(reason, HandOverReason::AskedForHuman);
            assert_eq!(language, Language::Es);
            assert!(skills.iter().any(|(s, _)| s == "spanish"), "{skills:?}");
            assert!(message.starts_with("Te paso"), "{message}");
        }
        other => panic!("expected a hand-over, got {other:?}"),
    }
}

#[test]
fn nonsense_hands_over_for_low_confidence() {
    for text in ["asdkjh qwpeoi zmxn", "what's the best recipe for lasagne?"] {
        match turn(text, Language::En, 0) {
            Decision::HandOver { reason, .. } => assert_eq!(reason, HandOverReason::LowConfidence, "{text}"),
            other => panic!("expected a hand-over for {text:?}, got {other:?}"),
        }
    }
}

#[test]
fn two_failed_answers_hand_over() {
    assert!(matches!(turn("how do I set up voicemail?", Language::En, 1), Decision::Answer { .. }));
    match turn("how do I set up voicemail?", Language::En, 2) {
        Decision::HandOver { reason, .. } => assert_eq!(reason, HandOverReason::RepeatedFailure),
        other => panic!("expected a hand-over, got {other:?}"),
    }
}

#[test]
fn spanish_and_portuguese_questions_get_answers_in_their_language() {
    match turn("no tengo cobertura en el móvil", Language::En, 0) {
        Decision::Answer { article, language, .. } => {
            assert_eq!(language, Language::Es);
            assert_eq!(article.as_str(), "es-sin-cobertura");
        }
        other => panic!("expected an answer, got {other:?}"),
    }
    match turn("como reinicio o router?", Language::Pt, 0) {
        Decision::Answer { article, language, .. } => {
            assert_eq!(language, Language::Pt);
            assert_eq!(article.as_str(), "pt-qa-internet-lenta");
        }
        other => panic!("expected an answer, got {other:?}"),
    }
}

#[test]
fn keyword_only_bot_still_decides() {
    let kb = KnowledgeBase::new(None).unwrap();
    kb.upsert_many(demo_documents().unwrap()).unwrap();
    let bot = Bot::new(Arc::new(kb), starter_intents().unwrap(), BotConfig::default()).unwrap();
    let t = |text: &str| {
        bot.turn(&TurnInput {
            text: text.into(),
            conversation_language: Language::En,
            failed_answers_so_far: 0,
            history: Vec::new(),
        })
        .unwrap()
    };
    assert!(
        matches!(t("how do I turn on data roaming?"), Decision::Answer { article, .. } if article.as_str() == "en-roaming-turn-on")
    );
    assert!(matches!(t("I want a refund"), Decision::HandOver { reason: HandOverReason::AlwaysHuman(_), .. }));
    assert!(matches!(t("zzqx"), Decision::HandOver { reason: HandOverReason::LowConfidence, .. }));
}

fn with_history(text: &str, lang: Language, history: Vec<PastMessage>) -> Decision {
    bot()
        .turn(&TurnInput { text: text.into(), conversation_language: lang, failed_answers_so_far: 0, history })
        .unwrap()
}

fn answer_text(d: &Decision) -> String {
    match d {
        Decision::Answer { text, .. } => text.clone(),
        other => panic!("expected an answer, got {other:?}"),
    }
}

#[test]
fn that_did_not_help_gets_one_rephrase_offer_then_a_person() {
    let first = turn("how do I set up voicemail?", Language::En, 0);
    let mut history = vec![PastMessage::customer("how do I set up voicemail?"), PastMessage::bot(answer_text(&first))];
    let second = with_history("that didn't help at all", Language::En, history.clone());
    let Decision::Ask { kind: AskKind::Rephrase, text, .. } = &second else {
        panic!("expected a rephrase offer, got {second:?}")
    };
    history.push(PastMessage::customer("that didn't help at all"));
    history.push(PastMessage::bot(text.clone()));
    history.push(PastMessage::customer("voicemail does not pick up my calls"));
    history.push(PastMessage::bot(answer_text(&first)));
    match with_history("still useless", Language::En, history) {
        Decision::HandOver { reason, summary, .. } => {
            assert_eq!(reason, HandOverReason::RepeatedFailure);
            assert!(summary.contains("Asked: \"how do I set up voicemail?\""), "{summary}");
            assert!(summary.contains("Bot answered with: Voicemail"), "{summary}");
            assert!(summary.contains("Gave up because"), "{summary}");
        }
        other => panic!("expected a hand-over, got {other:?}"),
    }
}

#[test]
fn a_follow_up_is_read_with_the_previous_question() {
    let first = turn("how much does roaming cost outside the EU?", Language::En, 0);
    let history = vec![
        PastMessage::customer("how much does roaming cost outside the EU?"),
        PastMessage::bot(answer_text(&first)),
    ];
    match with_history("and in Switzerland?", Language::En, history) {
        Decision::Answer { article, .. } => {
            assert!(article.as_str().starts_with("en-roaming"), "{article}");
        }
        other => panic!("expected an answer, got {other:?}"),
    }
}

#[test]
fn a_clarifying_question_is_answered_by_the_pick() {
    let titles = vec!["Roaming in the EU: roam like at home".to_owned(), "Roaming prices outside the EU".to_owned()];
    let history = vec![PastMessage::customer("roaming"), PastMessage::bot(bot::clarify_text(Language::En, &titles))];
    match with_history("2", Language::En, history) {
        Decision::Answer { article, .. } => assert_eq!(article.as_str(), "en-roaming-prices"),
        other => panic!("expected an answer, got {other:?}"),
    }
}

#[test]
fn always_human_requests_in_three_languages() {
    for (text, lang, intent) in [
        ("there is a charge on my invoice for something I never ordered", Language::En, "bill_dispute"),
        ("quiero dar de baja la fibra", Language::Es, "cancel_service"),
        ("portaram o meu número para outra operadora sem autorização", Language::Pt, "fraud_report"),
        ("the technician was incredibly rude", Language::En, "complaint"),
        ("os voy a denunciar", Language::Es, "legal_threat"),
        ("o meu marido faleceu, o que faço ao contrato?", Language::Pt, "vulnerable_customer"),
    ] {
        match turn(text, lang, 0) {
            Decision::HandOver { reason, intent: i, .. } => {
                assert_eq!(reason, HandOverReason::AlwaysHuman(intent.into()), "{text}");
                assert_eq!(i.as_deref(), Some(intent), "{text}");
            }
            other => panic!("expected a hand-over for {text:?}, got {other:?}"),
        }
    }
}

#[test]
fn batched_turns_decide_like_single_turns() {
    let inputs: Vec<TurnInput> = ["how do I turn on roaming?", "no tengo cobertura en el móvil", "quero um reembolso"]
        .iter()
        .map(|t| TurnInput::new(*t, Language::En))
        .collect();
    let batched: Vec<Decision> = bot().turn_batch(&inputs).into_iter().map(Result::unwrap).collect();
    let single: Vec<Decision> = inputs.iter().map(|i| bot().turn(i).unwrap()).collect();
    assert_eq!(batched, single);
}
