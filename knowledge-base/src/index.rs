//! The knowledge base: a tantivy index (BM25 over per-language fields) next to the embedding
//! matrix, both updated incrementally, searched together and fused.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use schema::Language;
use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, BoostQuery, Occur, Query, TermQuery};
use tantivy::schema::{Field, IndexRecordOption, NumericOptions, STRING, Schema, TextFieldIndexing, TextOptions};
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};

use crate::KbError;
use crate::analysis::{analyze, analyzer, analyzer_name, term_hash};
use crate::document::{DocId, DocKind, Document};
use crate::embed::{DIM, Embedder};
use crate::vectors::{VectorStore, dot};

/// The `k` of reciprocal rank fusion: a document's fused score is the sum over the rankings it
/// appears in of `1 / (K + rank)`.
pub const RRF_K: f32 = 60.0;
/// How many hits each retriever contributes to the fusion.
const DEPTH: usize = 50;
/// Cosine similarities of all-MiniLM-L6-v2 are mapped linearly from this range onto 0..1.
const COSINE_FLOOR: f32 = 0.25;
const COSINE_CEIL: f32 = 0.70;
/// Field boosts: a match in the title or a Q&A phrasing says more than one in the body.
const BOOSTS: [f32; 4] = [2.0, 1.5, 1.0, 1.0];
/// Vector rows of passages are numbered from here; rows below are the title and the questions.
const PASSAGE_PART: u32 = 1 << 16;
const WRITER_HEAP: usize = 64 * 1024 * 1024;

/// One search result.
#[derive(Clone, Debug, PartialEq)]
pub struct Hit {
    pub id: DocId,
    pub kind: DocKind,
    pub language: Language,
    pub title: String,
    /// The best passage to show: the answer of a Q&A pair, or the article section that matches
    /// the query best.
    pub passage: String,
    /// The fused confidence, 0..1 (see the crate docs for how it is made).
    pub score: f32,
    /// 1-based rank in the BM25 ranking, if the document was in its top 50.
    pub bm25_rank: Option<u32>,
    /// 1-based rank in the embedding ranking, if the document was in its top 50.
    pub vector_rank: Option<u32>,
    /// The cosine similarity of the query and the document's closest row (with a model).
    pub similarity: Option<f32>,
    /// The IDF-weighted share of the query's terms that the document contains, 0..1.
    pub coverage: f32,
}

/// How the knowledge base searches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SearchMode {
    /// BM25 and embeddings, fused.
    Hybrid,
    /// No model was loaded: BM25 alone.
    KeywordOnly,
}

/// What the hub's health report shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Health {
    pub mode: SearchMode,
    pub model_dir: Option<PathBuf>,
    pub documents: usize,
    pub vector_rows: usize,
}

/// A document with its embeddings, ready to be indexed.
#[derive(Debug)]
struct Prepared {
    doc: Arc<Document>,
    /// (part, vector) for each text of [`embedding_texts`].
    vectors: Vec<(u32, Vec<f32>)>,
}

#[derive(Debug)]
struct Entry {
    doc: Arc<Document>,
    passages: Vec<String>,
    /// Sorted, deduplicated term hashes of each passage.
    passage_terms: Vec<Vec<u64>>,
    /// Sorted, deduplicated term hashes of the whole document.
    terms: Vec<u64>,
    rows: Vec<usize>,
    parts: Vec<u32>,
}

#[derive(Debug, Default)]
struct State {
    by_id: HashMap<DocId, u64>,
    entries: HashMap<u64, Entry>,
    vectors: VectorStore,
    /// How many documents contain each term (hash).
    df: HashMap<u64, u32>,
    per_language: [u32; 3],
}

#[derive(Clone, Copy, Debug)]
struct Fields {
    id: Field,
    slot: Field,
    /// Per language: title, questions, body, tags.
    text: [[Field; 4]; 3],
}

/// The knowledge base. `Send + Sync`: share it in an `Arc`. Searches read a tantivy snapshot and
/// take a read lock on the vectors; writers hold the write lock only to swap entries in.
pub struct KnowledgeBase {
    embedder: Option<Arc<Embedder>>,
    index: Index,
    reader: IndexReader,
    writer: Mutex<IndexWriter>,
    fields: Fields,
    state: RwLock<State>,
    next_slot: AtomicU64,
}

impl std::fmt::Debug for KnowledgeBase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KnowledgeBase").field("embedder", &self.embedder).finish_non_exhaustive()
    }
}

fn lang_index(l: Language) -> usize {
    match l {
        Language::En => 0,
        Language::Es => 1,
        Language::Pt => 2,
    }
}

fn poisoned<T>(_: T) -> KbError {
    KbError::Poisoned
}

/// The texts embedded for a document, each with its part number: for a Q&A pair, the title,
/// each question, and the answer; for an article, the questions trainers merged into it (if
/// any) and each passage prefixed with the title.
fn embedding_parts(doc: &Document) -> Vec<(u32, String)> {
    let passages = doc.passages();
    let mut out = Vec::new();
    if doc.kind == DocKind::QaPair {
        out.push((0, doc.title.clone()));
    }
    for (i, q) in doc.questions.iter().enumerate().filter(|(_, q)| !q.trim().is_empty()) {
        out.push((u32::try_from(i + 1).unwrap_or(u32::MAX - 1), q.clone()));
    }
    for (i, p) in passages.iter().enumerate() {
        let part = PASSAGE_PART + u32::try_from(i).unwrap_or(0);
        out.push((part, format!("{}. {}", doc.title, strip_markdown(p))));
    }
    out
}

/// The texts [`KnowledgeBase::upsert_with_vectors`] expects vectors for, in order.
#[must_use]
pub fn embedding_texts(doc: &Document) -> Vec<String> {
    embedding_parts(doc).into_iter().map(|(_, t)| t).collect()
}

fn strip_markdown(s: &str) -> String {
    s.lines()
        .map(|l| l.trim_start_matches(['#', '-', '*', '>', ' ']).trim())
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
        .replace("**", "")
        .replace('`', "")
}

fn term_set(language: Language, text: &str) -> Vec<u64> {
    let mut v: Vec<u64> = analyze(language, text).iter().map(|t| term_hash(language, t)).collect();
    v.sort_unstable();
    v.dedup();
    v
}

impl KnowledgeBase {
    /// An empty knowledge base. With an embedder it searches hybrid; without, BM25 alone.
    pub fn new(embedder: Option<Arc<Embedder>>) -> Result<Self, KbError> {
        let mut sb = Schema::builder();
        let id = sb.add_text_field("id", STRING);
        let slot = sb.add_u64_field("slot", NumericOptions::default().set_fast());
        let mut text = [[id; 4]; 3];
        for l in Language::ALL {
            let indexing = TextFieldIndexing::default()
                .set_tokenizer(analyzer_name(*l))
                .set_index_option(IndexRecordOption::WithFreqs);
            let opts = TextOptions::default().set_indexing_options(indexing);
            for (j, name) in ["title", "questions", "body", "tags"].iter().enumerate() {
                text[lang_index(*l)][j] = sb.add_text_field(&format!("{name}_{}", l.as_str()), opts.clone());
            }
        }
        let index = Index::create_in_ram(sb.build());
        for l in Language::ALL {
            index.tokenizers().register(analyzer_name(*l), analyzer(*l));
        }
        let writer = index.writer_with_num_threads(1, WRITER_HEAP)?;
        let reader = index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into()?;
        Ok(Self {
            embedder,
            index,
            reader,
            writer: Mutex::new(writer),
            fields: Fields { id, slot, text },
            state: RwLock::new(State::default()),
            next_slot: AtomicU64::new(1),
        })
    }

    /// Whether a model is loaded (hybrid search) or not (BM25 alone).
    #[must_use]
    pub fn has_model(&self) -> bool {
        self.embedder.is_some()
    }

    /// The embedding model, for callers that embed texts of their own (the bot's intents).
    #[must_use]
    pub fn embedder(&self) -> Option<&Arc<Embedder>> {
        self.embedder.as_ref()
    }

    /// The search mode, the model folder and the sizes.
    pub fn health(&self) -> Result<Health, KbError> {
        let st = self.state.read().map_err(poisoned)?;
        Ok(Health {
            mode: if self.has_model() { SearchMode::Hybrid } else { SearchMode::KeywordOnly },
            model_dir: self.embedder.as_ref().map(|e| e.dir().to_path_buf()),
            documents: st.entries.len(),
            vector_rows: st.vectors.len(),
        })
    }

    /// The number of documents.
    pub fn len(&self) -> Result<usize, KbError> {
        Ok(self.state.read().map_err(poisoned)?.entries.len())
    }

    /// Whether there are no documents.
    pub fn is_empty(&self) -> Result<bool, KbError> {
        Ok(self.len()? == 0)
    }

    /// A document by id.
    pub fn get(&self, id: &DocId) -> Result<Option<Arc<Document>>, KbError> {
        let st = self.state.read().map_err(poisoned)?;
        Ok(st.by_id.get(id).and_then(|s| st.entries.get(s)).map(|e| Arc::clone(&e.doc)))
    }

    /// Adds or replaces one document; it is searchable when this returns.
    pub fn upsert(&self, doc: Document) -> Result<(), KbError> {
        self.upsert_many(vec![doc])
    }

    /// Adds or replaces documents with one index commit (use this to load the store at start).
    pub fn upsert_many(&self, docs: Vec<Document>) -> Result<(), KbError> {
        let mut prepared = Vec::with_capacity(docs.len());
        for doc in docs {
            doc.validate()?;
            let parts = embedding_parts(&doc);
            let vectors = match &self.embedder {
                Some(e) => {
                    let texts: Vec<&str> = parts.iter().map(|(_, t)| t.as_str()).collect();
                    parts.iter().map(|(p, _)| *p).zip(e.embed(&texts)?).collect()
                }
                None => Vec::new(),
            };
            prepared.push(Prepared { doc: Arc::new(doc), vectors });
        }
        self.apply(prepared)
    }

    /// Adds or replaces documents whose vectors the caller computed (one per text of
    /// [`embedding_texts`], unit length, [`DIM`] floats), e.g. cached in the store.
    pub fn upsert_with_vectors(&self, docs: Vec<(Document, Vec<Vec<f32>>)>) -> Result<(), KbError> {
        let mut prepared = Vec::with_capacity(docs.len());
        for (doc, vectors) in docs {
            doc.validate()?;
            let parts = embedding_parts(&doc);
            if parts.len() != vectors.len() || vectors.iter().any(|v| v.len() != DIM) {
                return Err(KbError::InvalidDocument {
                    id: doc.id.to_string(),
                    reason: format!("expected {} vectors of {DIM} floats, got {}", parts.len(), vectors.len()),
                });
            }
            let vectors = parts.into_iter().map(|(p, _)| p).zip(vectors).collect();
            prepared.push(Prepared { doc: Arc::new(doc), vectors });
        }
        self.apply(prepared)
    }

    /// Removes a document; returns whether it was there.
    pub fn remove(&self, id: &DocId) -> Result<bool, KbError> {
        let mut writer = self.writer.lock().map_err(poisoned)?;
        let present = self.state.read().map_err(poisoned)?.by_id.contains_key(id);
        if !present {
            return Ok(false);
        }
        writer.delete_term(Term::from_field_text(self.fields.id, id.as_str()));
        writer.commit()?;
        {
            let mut st = self.state.write().map_err(poisoned)?;
            if let Some(slot) = st.by_id.remove(id) {
                st.forget(slot);
            }
            st.vectors.maybe_train();
        }
        self.reader.reload()?;
        Ok(true)
    }

    fn apply(&self, prepared: Vec<Prepared>) -> Result<(), KbError> {
        if prepared.is_empty() {
            return Ok(());
        }
        let mut writer = self.writer.lock().map_err(poisoned)?;
        let mut slots = Vec::with_capacity(prepared.len());
        for p in &prepared {
            let slot = self.next_slot.fetch_add(1, Ordering::Relaxed);
            slots.push(slot);
            let f = &self.fields;
            let doc = &p.doc;
            writer.delete_term(Term::from_field_text(f.id, doc.id.as_str()));
            let [title, questions, body, tags] = f.text[lang_index(doc.language)];
            let mut td = TantivyDocument::default();
            td.add_text(f.id, doc.id.as_str());
            td.add_u64(f.slot, slot);
            td.add_text(title, &doc.title);
            for q in &doc.questions {
                td.add_text(questions, q);
            }
            td.add_text(body, &doc.body);
            for t in &doc.tags {
                td.add_text(tags, t);
            }
            writer.add_document(td)?;
        }
        writer.commit()?;
        {
            let mut st = self.state.write().map_err(poisoned)?;
            for (p, slot) in prepared.into_iter().zip(slots) {
                if let Some(old) = st.by_id.insert(p.doc.id.clone(), slot) {
                    st.forget(old);
                }
                st.insert(slot, p);
            }
            if st.vectors.maybe_train() {
                tracing::info!(rows = st.vectors.len(), "vector clusters (IVF) trained");
            }
        }
        self.reader.reload()?;
        Ok(())
    }

    /// Embeds a query (`None` without a model).
    pub fn embed_query(&self, query: &str) -> Result<Option<Vec<f32>>, KbError> {
        self.embedder.as_ref().map(|e| e.embed_one(query)).transpose()
    }

    /// Searches, optionally in one language only; best first, at most `limit` hits.
    pub fn search(&self, query: &str, language: Option<Language>, limit: usize) -> Result<Vec<Hit>, KbError> {
        let vector = self.embed_query(query)?;
        self.search_with_vector(query, vector.as_deref(), language, limit)
    }

    /// Like [`search`](Self::search) with the query's embedding already computed (the bot embeds
    /// once for intent detection and search). Without a vector the search is BM25 alone.
    pub fn search_with_vector(
        &self,
        query: &str,
        query_vector: Option<&[f32]>,
        language: Option<Language>,
        limit: usize,
    ) -> Result<Vec<Hit>, KbError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let languages: Vec<Language> = language.map_or_else(|| Language::ALL.to_vec(), |l| vec![l]);
        let mut query_terms: [Vec<(u64, String)>; 3] = Default::default();
        for &l in &languages {
            let mut terms: Vec<(u64, String)> = analyze(l, query).into_iter().map(|t| (term_hash(l, &t), t)).collect();
            terms.sort_unstable();
            terms.dedup();
            query_terms[lang_index(l)] = terms;
        }
        let bm25 = self.bm25(&languages, &query_terms)?;
        let query_vector = query_vector.filter(|v| v.len() == DIM);

        let st = self.state.read().map_err(poisoned)?;
        let vector_hits = query_vector.map(|q| st.vectors.search(q, language, DEPTH)).unwrap_or_default();
        let lists = if query_vector.is_some() { 2.0 } else { 1.0 };

        let mut candidates: Vec<(u64, Option<u32>, Option<u32>)> = Vec::new();
        for (rank, slot) in bm25.iter().enumerate() {
            candidates.push((*slot, Some(u32::try_from(rank + 1).unwrap_or(u32::MAX)), None));
        }
        for (rank, h) in vector_hits.iter().enumerate() {
            let r = Some(u32::try_from(rank + 1).unwrap_or(u32::MAX));
            match candidates.iter_mut().find(|c| c.0 == h.slot) {
                Some(c) => c.2 = r,
                None => candidates.push((h.slot, None, r)),
            }
        }

        let mut hits = Vec::with_capacity(candidates.len());
        for (slot, bm25_rank, vector_rank) in candidates {
            let Some(entry) = st.entries.get(&slot) else { continue };
            let li = lang_index(entry.doc.language);
            let terms = &query_terms[li];
            let n = st.per_language[li];
            let idf = |h: u64| {
                let df = st.df.get(&h).copied().unwrap_or(0) as f32;
                (1.0 + (n as f32 - df + 0.5) / (df + 0.5)).ln().max(0.01)
            };
            let total: f32 = terms.iter().map(|(h, _)| idf(*h)).sum();
            let weighted = |set: &[u64]| -> f32 {
                if total <= 0.0 {
                    return 0.0;
                }
                terms.iter().filter(|(h, _)| set.binary_search(h).is_ok()).map(|(h, _)| idf(*h)).sum::<f32>() / total
            };
            let coverage = weighted(&entry.terms);
            let similarity = query_vector
                .map(|q| entry.rows.iter().map(|&r| dot(q, st.vectors.row(r))).fold(f32::MIN, f32::max).max(-1.0));
            let rrf: f32 = [bm25_rank, vector_rank].iter().flatten().map(|r| 1.0 / (RRF_K + *r as f32)).sum();
            let rrf_norm = rrf * (RRF_K + 1.0) / lists;
            let evidence = match similarity {
                Some(s) => {
                    let ramp = ((s - COSINE_FLOOR) / (COSINE_CEIL - COSINE_FLOOR)).clamp(0.0, 1.0);
                    0.5 * ramp + 0.5 * coverage
                }
                None => coverage,
            };
            let score = (rrf_norm * evidence).clamp(0.0, 1.0);

            // The passage: the section with the most query terms (IDF-weighted), plus its cosine.
            let best_passage = (0..entry.passages.len())
                .map(|i| {
                    let mut s = weighted(&entry.passage_terms[i]);
                    if let Some(q) = query_vector {
                        let part = PASSAGE_PART + u32::try_from(i).unwrap_or(0);
                        if let Some(pos) = entry.parts.iter().position(|p| *p == part) {
                            s += dot(q, st.vectors.row(entry.rows[pos]));
                        }
                    }
                    (i, s)
                })
                .fold((0, f32::MIN), |a, b| if b.1 > a.1 { b } else { a })
                .0;
            hits.push(Hit {
                id: entry.doc.id.clone(),
                kind: entry.doc.kind,
                language: entry.doc.language,
                title: entry.doc.title.clone(),
                passage: entry.passages.get(best_passage).cloned().unwrap_or_default(),
                score,
                bm25_rank,
                vector_rank,
                similarity,
                coverage,
            });
        }
        hits.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.bm25_rank.cmp(&b.bm25_rank)));
        hits.truncate(limit);
        Ok(hits)
    }

    /// The slots of the BM25 top [`DEPTH`].
    fn bm25(&self, languages: &[Language], query_terms: &[Vec<(u64, String)>; 3]) -> Result<Vec<u64>, KbError> {
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for &l in languages {
            for (field, boost) in self.fields.text[lang_index(l)].iter().zip(BOOSTS) {
                for (_, t) in &query_terms[lang_index(l)] {
                    let q = TermQuery::new(Term::from_field_text(*field, t), IndexRecordOption::WithFreqs);
                    clauses.push((Occur::Should, Box::new(BoostQuery::new(Box::new(q), boost))));
                }
            }
        }
        if clauses.is_empty() {
            return Ok(Vec::new());
        }
        let searcher = self.reader.searcher();
        let top = searcher.search(&BooleanQuery::new(clauses), &TopDocs::with_limit(DEPTH))?;
        let mut columns = HashMap::new();
        let mut out = Vec::with_capacity(top.len());
        for (_, addr) in top {
            let col = match columns.entry(addr.segment_ord) {
                std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(searcher.segment_reader(addr.segment_ord).fast_fields().u64("slot")?)
                }
            };
            if let Some(slot) = col.first(addr.doc_id) {
                out.push(slot);
            }
        }
        Ok(out)
    }

    /// The tantivy index (read-only uses, e.g. statistics).
    #[must_use]
    pub fn index(&self) -> &Index {
        &self.index
    }
}

impl State {
    fn insert(&mut self, slot: u64, p: Prepared) {
        let language = p.doc.language;
        let passages = p.doc.passages();
        let passage_terms: Vec<Vec<u64>> = passages.iter().map(|t| term_set(language, t)).collect();
        let mut all = format!("{}\n{}\n{}", p.doc.title, p.doc.questions.join("\n"), p.doc.tags.join(" "));
        all.push('\n');
        all.push_str(&p.doc.body);
        let terms = term_set(language, &all);
        for t in &terms {
            *self.df.entry(*t).or_insert(0) += 1;
        }
        self.per_language[lang_index(language)] += 1;
        let parts: Vec<u32> = p.vectors.iter().map(|(part, _)| *part).collect();
        let rows = self.vectors.push(slot, language, &p.vectors);
        self.entries.insert(slot, Entry { doc: p.doc, passages, passage_terms, terms, rows, parts });
    }

    fn forget(&mut self, slot: u64) {
        let Some(entry) = self.entries.remove(&slot) else { return };
        for t in &entry.terms {
            if let Some(c) = self.df.get_mut(t) {
                *c = c.saturating_sub(1);
                if *c == 0 {
                    self.df.remove(t);
                }
            }
        }
        let li = lang_index(entry.doc.language);
        self.per_language[li] = self.per_language[li].saturating_sub(1);
        if self.vectors.kill(&entry.rows) {
            let map = self.vectors.compact();
            for e in self.entries.values_mut() {
                e.rows = e.rows.iter().filter_map(|r| map.get(*r).copied().flatten()).collect();
            }
        }
    }
}
