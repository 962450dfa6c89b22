//! # knowledge-base
//!
//! Articles and Q&A pairs, searched with BM25 (tantivy, per-language analyzers for English,
//! Spanish and Portuguese) and with sentence embeddings (all-MiniLM-L6-v2 run on the CPU with
//! candle), fused into one ranking with a 0..1 confidence. It knows nothing of conversations and
//! does no SQL: the hub's store is the source of truth and feeds published documents in at
//! start ([`KnowledgeBase::upsert_many`]) and on every edit ([`KnowledgeBase::upsert`],
//! [`KnowledgeBase::remove`]). The index lives in RAM and is rebuilt from the store at start.
//!
//! ## Analysis
//! Each language has its own title, questions, body and tags fields. Text is split on
//! non-alphanumerics, lower-cased, stop words are dropped (Snowball lists plus question filler
//! such as "how do I"), accents are folded to ASCII (so "señal" and "senal" match) and words are
//! stemmed with the language's Snowball stemmer. Q&A phrasings are indexed in their own field.
//!
//! ## Hybrid search and the confidence
//! BM25 and the embedding cosine each rank the top 50 documents. The two rankings are fused by
//! reciprocal rank fusion with k = 60: `rrf = Σ 1 / (60 + rank)`, normalised by its maximum
//! (`rank 1 everywhere`) to 0..1. RRF needs no calibration between BM25 scores (unbounded, depend
//! on the corpus) and cosines, and rewards documents both retrievers agree on. But RRF alone is
//! relative: the best document for a nonsense query is still rank 1 in both lists. So the fused
//! score is RRF gated by absolute evidence:
//!
//! `score = rrf_norm × evidence`, with `evidence = ½·ramp(cosine) + ½·coverage` (hybrid) or
//! `coverage` (keyword only), where `ramp` maps cosine 0.25..0.70 linearly onto 0..1 and
//! `coverage` is the IDF-weighted share of the query's terms found in the document. A score near
//! 1 means both retrievers put the document at the top, its meaning is close, and it contains
//! the query's distinctive words; the bot thresholds this score.
//!
//! The model: all-MiniLM-L6-v2 is an English model; Spanish and Portuguese text still embeds
//! sensibly through shared word pieces but less well, and BM25 with the Spanish and Portuguese
//! stemmers carries more of the weight there.
//!
//! ## Inference crate
//! See `docs/design-notes.md` for why candle (pure Rust, no libtorch) and what was measured.

mod analysis;
mod document;
mod embed;
mod import;
mod index;
mod vectors;

use std::path::PathBuf;

pub use analysis::analyze;
pub use document::{DocId, DocKind, Document};
pub use embed::{DIM, Embedder, cosine};
pub use import::{demo_documents, load_dir, parse_json, parse_markdown};
pub use index::{Health, Hit, KnowledgeBase, RRF_K, SearchMode, embedding_texts};
pub use schema::Language;

/// What can go wrong in the knowledge base.
#[derive(Debug, thiserror::Error)]
pub enum KbError {
    #[error("model file {file} is missing in {dir}: run scripts/fetch-model")]
    ModelMissing { dir: PathBuf, file: String },
    #[error("the model in {dir} cannot be used: {reason}")]
    ModelInvalid { dir: PathBuf, reason: String },
    #[error("embedding failed: {0}")]
    Embedding(String),
    #[error("document {id:?} is invalid: {reason}")]
    InvalidDocument { id: String, reason: String },
    #[error("{path}: {reason}")]
    Parse { path: PathBuf, reason: String },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("search index: {0}")]
    Index(#[from] tantivy::TantivyError),
    #[error("a thread panicked while holding the knowledge base lock")]
    Poisoned,
}

impl From<candle_core::Error> for KbError {
    fn from(e: candle_core::Error) -> Self {
        Self::Embedding(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knowledge_base_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<KnowledgeBase>();
        check::<Embedder>();
    }

    #[test]
    fn questions_merged_into_an_article_are_embedded() {
        let article = Document {
            id: DocId::new("roaming").unwrap(),
            kind: DocKind::Article,
            language: Language::En,
            title: "Roaming".into(),
            body: "Turn roaming on in the app.".into(),
            questions: vec!["can I use my phone in France?".into(), "  ".into()],
            tags: vec![],
        };
        let texts = embedding_texts(&article);
        assert!(texts.contains(&"can I use my phone in France?".to_owned()), "{texts:?}");
        assert_eq!(texts.len(), 2, "the question and the one passage: {texts:?}");
        assert!(texts[1].starts_with("Roaming. "), "{texts:?}");
    }
}
