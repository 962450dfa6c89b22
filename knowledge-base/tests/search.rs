//! Search over the bundled demo knowledge base with the real model (scripts/fetch-model).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use knowledge_base::{
    DocId, DocKind, Document, Embedder, KbError, KnowledgeBase, Language, SearchMode, cosine, demo_documents,
};

fn model_dir() -> PathBuf {
    std::env::var_os("SWITCHBOARD_MODEL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../models/all-MiniLM-L6-v2")))
}

fn embedder() -> Arc<Embedder> {
    static E: OnceLock<Arc<Embedder>> = OnceLock::new();
    E.get_or_init(|| {
        let dir = model_dir();
        match Embedder::load(&dir) {
            Ok(e) => Arc::new(e),
            Err(e) => {
                panic!("cannot load the embedding model from {}: {e}\nRun scripts/fetch-model first.", dir.display())
            }
        }
    })
    .clone()
}

fn demo_kb() -> Arc<KnowledgeBase> {
    static KB: OnceLock<Arc<KnowledgeBase>> = OnceLock::new();
    KB.get_or_init(|| {
        let kb = KnowledgeBase::new(Some(embedder())).unwrap();
        let t = Instant::now();
        kb.upsert_many(demo_documents().unwrap()).unwrap();
        eprintln!("demo KB indexed with embeddings in {:?}", t.elapsed());
        Arc::new(kb)
    })
    .clone()
}

fn top(kb: &KnowledgeBase, q: &str, lang: Option<Language>) -> knowledge_base::Hit {
    let hits = kb.search(q, lang, 5).unwrap();
    assert!(!hits.is_empty(), "no hits for {q:?}");
    hits.into_iter().next().unwrap()
}

#[test]
fn roaming_question_finds_the_roaming_article() {
    let kb = demo_kb();
    assert_eq!(kb.health().unwrap().mode, SearchMode::Hybrid);
    let hit = top(&kb, "how do I turn on roaming?", Some(Language::En));
    assert_eq!(hit.id.as_str(), "en-roaming-turn-on", "{hit:?}");
    assert!(hit.bm25_rank.is_some() && hit.vector_rank.is_some());
    assert!(hit.score > 0.5 && hit.score <= 1.0, "{hit:?}");
    assert!(hit.passage.to_lowercase().contains("roaming"), "{}", hit.passage);
}

#[test]
fn spanish_query_finds_the_spanish_document() {
    let kb = demo_kb();
    let hit = top(&kb, "no tengo cobertura en el móvil", None);
    assert_eq!(hit.language, Language::Es, "{hit:?}");
    assert_eq!(hit.id.as_str(), "es-sin-cobertura", "{hit:?}");
    let hit = top(&kb, "como ativo o débito direto?", Some(Language::Pt));
    assert_eq!(hit.id.as_str(), "pt-qa-pagamento", "{hit:?}");
}

#[test]
fn accents_are_folded() {
    let kb = KnowledgeBase::new(None).unwrap();
    kb.upsert_many(demo_documents().unwrap()).unwrap();
    let with = kb.search("señal", Some(Language::Es), 3).unwrap();
    let without = kb.search("senal", Some(Language::Es), 3).unwrap();
    assert!(!with.is_empty());
    assert_eq!(with[0].id, without[0].id);
    assert_eq!(with[0].id.as_str(), "es-sin-cobertura");
    let hit = top(&kb, "nao tenho rede no telemovel", Some(Language::Pt));
    assert_eq!(hit.id.as_str(), "pt-sem-rede", "{hit:?}");
}

fn doc(id: &str, title: &str, body: &str) -> Document {
    Document {
        id: DocId::new(id).unwrap(),
        kind: DocKind::Article,
        language: Language::En,
        title: title.into(),
        body: body.into(),
        questions: vec![],
        tags: vec![],
    }
}

#[test]
fn upsert_is_searchable_immediately_and_remove_forgets() {
    let kb = KnowledgeBase::new(Some(embedder())).unwrap();
    kb.upsert_many(demo_documents().unwrap().into_iter().take(10).collect()).unwrap();
    let q = "satellite phone rental for polar expeditions";
    assert!(kb.search(q, None, 5).unwrap().iter().all(|h| h.id.as_str() != "sat"));
    let t = Instant::now();
    kb.upsert(doc("sat", "Satellite phone rental", "Rent a satellite phone for polar expeditions: €20 per day."))
        .unwrap();
    eprintln!("upsert of one article (embed + commit + reload): {:?}", t.elapsed());
    let hit = top(&kb, q, None);
    assert_eq!(hit.id.as_str(), "sat");
    // Replacing keeps one copy with the new text.
    kb.upsert(doc("sat", "Satellite phone rental", "Rent a satellite handset for Arctic trips: €25 per day.")).unwrap();
    let hits = kb.search(q, None, 10).unwrap();
    assert_eq!(hits.iter().filter(|h| h.id.as_str() == "sat").count(), 1);
    assert!(hits[0].passage.contains("€25"), "{:?}", hits[0]);
    assert_eq!(kb.len().unwrap(), 11);
    assert!(kb.remove(&DocId::new("sat").unwrap()).unwrap());
    assert!(!kb.remove(&DocId::new("sat").unwrap()).unwrap());
    assert!(kb.search(q, None, 10).unwrap().iter().all(|h| h.id.as_str() != "sat"));
    assert_eq!(kb.len().unwrap(), 10);
}

#[test]
fn keyword_only_mode_works_without_a_model() {
    let kb = KnowledgeBase::new(None).unwrap();
    assert!(!kb.has_model());
    assert_eq!(kb.health().unwrap().mode, SearchMode::KeywordOnly);
    kb.upsert_many(demo_documents().unwrap()).unwrap();
    let hit = top(&kb, "how do I turn on data roaming?", Some(Language::En));
    assert_eq!(hit.id.as_str(), "en-roaming-turn-on");
    assert!(hit.vector_rank.is_none() && hit.similarity.is_none());
    assert!(kb.search("zxqv blorft", None, 5).unwrap().is_empty());
}

#[test]
fn paraphrases_are_closer_than_unrelated_sentences() {
    let e = embedder();
    let v = e
        .embed(&[
            "How do I turn on data roaming abroad?",
            "I'm travelling and want to use mobile data in another country",
            "My bill is higher than usual this month",
        ])
        .unwrap();
    for x in &v {
        assert_eq!(x.len(), knowledge_base::DIM);
        assert!((cosine(x, x) - 1.0).abs() < 1e-4, "not normalised");
    }
    let close = cosine(&v[0], &v[1]);
    let far = cosine(&v[0], &v[2]);
    assert!(close > far + 0.2, "paraphrase {close} vs unrelated {far}");
    // A batch gives the same vectors as one at a time (padding is masked out).
    let single = e.embed_one("My bill is higher than usual this month").unwrap();
    assert!(cosine(&single, &v[2]) > 0.999);
}

#[test]
fn bad_model_dir_gives_a_typed_error() {
    let dir = std::env::temp_dir().join(format!("kb-no-model-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    match Embedder::load(&dir) {
        Err(KbError::ModelMissing { file, .. }) => assert_eq!(file, "config.json"),
        other => panic!("expected ModelMissing, got {other:?}"),
    }
    std::fs::write(dir.join("config.json"), "{not json").unwrap();
    std::fs::write(dir.join("tokenizer.json"), "{}").unwrap();
    assert!(matches!(Embedder::load(&dir), Err(KbError::ModelInvalid { .. })));
    let err = Embedder::load(dir.join("nope")).unwrap_err().to_string();
    assert!(err.contains("scripts/fetch-model"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn load_dir_reads_markdown_and_json() {
    let dir = std::env::temp_dir().join(format!("kb-import-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("esim.md"),
        "---\ntitle: eSIM on a smartwatch\nlanguage: en\ntags:\n  - esim\n  - watch\n---\nPair the watch first.\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("more.json"),
        r#"[{"id":"q1","kind":"qa","language":"pt","title":"Fatura","body":"Na app.","questions":["Onde vejo a fatura?"]}]"#,
    )
    .unwrap();
    std::fs::write(dir.join("notes.txt"), "ignored").unwrap();
    let docs = knowledge_base::load_dir(&dir).unwrap();
    assert_eq!(docs.len(), 2);
    assert_eq!(docs[0].id.as_str(), "esim");
    assert_eq!(docs[1].kind, DocKind::QaPair);
    std::fs::write(dir.join("z.json"), r#"{"id":"x","kind":"article","language":"fr","title":"t","body":"b"}"#)
        .unwrap();
    assert!(matches!(knowledge_base::load_dir(&dir), Err(KbError::Parse { .. })));
    std::fs::remove_dir_all(&dir).unwrap();
}
