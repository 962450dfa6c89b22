//! The bot in the hub: the knowledge base loaded from the store, and the workers that answer
//! customers' turns in conversations the bot holds.
//!
//! A customer message in a `bot` conversation is stored and acknowledged first; then a job goes
//! to one of a few bot workers, chosen by conversation so a conversation's turns stay in order.
//! The worker asks the `bot` crate for a decision (embedding and search run on a blocking
//! thread) and carries it out: an answer is appended as a bot message and recorded for
//! trainers; a hand-over escalates with the skills and summary the bot gives, and the customer is
//! told the estimated wait.
//!
//! Start-up never waits for the embedding model: the documents are indexed for keyword search at
//! once, and, when the model is there, their vectors are computed in the background (or read from
//! the store's cache) and the hybrid index replaces the keyword one when it is complete.
//! [`Assistant::search_mode`] tells which is in force.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::{Arc, PoisonError, RwLock};

use bot::{AskKind, Bot, Decision, HandOverReason, PastMessage, TurnInput};
use knowledge_base::{DocId, DocKind, Embedder, KnowledgeBase};
use schema::knowledge::{BotAnswer, Document, DocumentContent, IntentContent, StoredIntent};
use schema::{
    Actor, AgentId, AuthorKind, ConversationId, ConversationStatus, DocumentId, DocumentKind, DocumentStatus,
    IntentName, Language, MediaRef, Message, MessageText, NewMessage, SkillLevel, SkillName, SkillRequirement, Store,
};
use tokio::sync::mpsc;

use crate::config::BotConfig;
use crate::error::Error;
use crate::services::Core;
use crate::services::escalate::{Escalate, Escalation};
use crate::services::ingest::Ingest;
use crate::services::routing::Routing;
use crate::services::selfservice::{Outcome, SecretCode, SelfService};

/// Bot workers: turns run in parallel across conversations, in order within one.
const WORKERS: usize = 2;
/// Turns waiting per worker before storing a customer message waits for the bot (backpressure).
const QUEUE: usize = 4096;
/// Longest bot message, in characters.
const MAX_BOT_CHARS: usize = 20_000;

/// Why the bot could not start.
#[derive(Debug, thiserror::Error)]
pub enum AssistantError {
    #[error(transparent)]
    Store(#[from] schema::StoreError),
    #[error("knowledge base: {0}")]
    Kb(#[from] knowledge_base::KbError),
    #[error("bot: {0}")]
    Bot(#[from] bot::BotError),
    #[error("a demo document or built-in intent is invalid: {0}")]
    Demo(schema::ValidationError),
    #[error("the loader thread failed: {0}")]
    Join(#[from] tokio::task::JoinError),
}

/// How the bot searches now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SearchMode {
    /// Keywords alone, for good: no embedding model.
    KeywordOnly,
    /// Keywords alone while the documents' vectors are computed in the background.
    BuildingVectors,
    /// Keywords and vectors.
    Hybrid,
}

impl SearchMode {
    /// As `/readyz` shows it.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::KeywordOnly | Self::BuildingVectors => "keyword_only",
            Self::Hybrid => "hybrid",
        }
    }
}

/// A customer turn for the bot.
#[derive(Debug)]
struct Job {
    conversation_id: ConversationId,
    message: Message,
    /// A self-service one-time code taken out of the message before it was stored.
    code: Option<SecretCode>,
}

/// Where customer turns wait for the bot workers. Cloning it is cheap.
#[derive(Clone, Debug)]
pub struct BotQueue {
    queues: Vec<mpsc::Sender<Job>>,
}

impl BotQueue {
    /// Queues a customer's turn for the bot. Waits only when the bot is far behind.
    pub async fn enqueue(&self, conversation_id: ConversationId, message: Message, code: Option<SecretCode>) {
        let worker = usize::from(conversation_id.as_uuid().as_bytes()[15]) % self.queues.len().max(1);
        if let Some(queue) = self.queues.get(worker)
            && queue.send(Job { conversation_id, message, code }).await.is_err()
        {
            tracing::warn!(%conversation_id, "the bot workers have stopped; the turn is not answered");
        }
    }
}

/// Most intents the bot has (every save re-embeds them all).
pub const MAX_INTENTS: usize = 200;
/// Most examples over all intents.
pub const MAX_INTENT_EXAMPLES: usize = 5000;

/// The receiving ends of the [`BotQueue`], for [`spawn_workers`].
#[derive(Debug)]
pub struct BotJobs(Vec<mpsc::Receiver<Job>>);

/// The bot and its knowledge base, shared by the hub.
pub struct Assistant {
    store: Store,
    bot: RwLock<Arc<Bot>>,
    mode: RwLock<SearchMode>,
    /// The intents in force (trainers edit them; the store keeps them).
    intents: RwLock<Vec<bot::Intent>>,
    config: bot::BotConfig,
    /// Held while the index changes, so a trainer's edit and the swap to the hybrid index never
    /// interleave.
    reindexing: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Assistant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Assistant").field("mode", &self.search_mode()).finish_non_exhaustive()
    }
}

/// The knowledge base's view of a stored document.
///
/// # Errors
/// A document the index refuses (it was validated when stored, so only a corrupt row).
pub fn kb_document(doc: &Document) -> Result<knowledge_base::Document, knowledge_base::KbError> {
    Ok(knowledge_base::Document {
        id: DocId::new(doc.id.to_string())?,
        kind: match doc.content.kind {
            DocumentKind::Article => DocKind::Article,
            DocumentKind::Qa => DocKind::QaPair,
        },
        language: doc.content.language,
        title: doc.content.title.clone(),
        body: doc.content.body.clone(),
        questions: doc.content.questions.clone(),
        tags: doc.content.tags.clone(),
    })
}

/// A document to store from one the knowledge base's importer read.
///
/// # Errors
/// The document does not validate.
pub fn stored_content(doc: knowledge_base::Document) -> Result<DocumentContent, schema::ValidationError> {
    DocumentContent {
        kind: match doc.kind {
            DocKind::Article => DocumentKind::Article,
            DocKind::QaPair => DocumentKind::Qa,
        },
        language: doc.language,
        title: doc.title,
        body: doc.body,
        questions: doc.questions,
        tags: doc.tags,
        status: DocumentStatus::Published,
    }
    .validate()
}

impl Assistant {
    /// Loads the model (if its folder holds one), imports the bundled demo knowledge base when
    /// `demo`, and indexes every published document for keyword search. When the model is
    /// there, the hybrid index is built in the background (from the store's vector cache where
    /// it can) and replaces the keyword one when complete.
    ///
    /// # Errors
    /// The store fails, a stored document cannot be indexed, or the intents do not compile.
    pub async fn load(
        store: &Store,
        config: &BotConfig,
        demo: bool,
    ) -> Result<(Arc<Self>, BotQueue, BotJobs), AssistantError> {
        let dir = config.model_dir.clone();
        let embedder = tokio::task::spawn_blocking(move || load_model(Path::new(&dir))).await?.map(Arc::new);
        if demo {
            let mut created = 0;
            for doc in knowledge_base::demo_documents()? {
                let source = format!("demo:{}", doc.id);
                let content = stored_content(doc).map_err(AssistantError::Demo)?;
                created += usize::from(store.create_document(&content, Some(&source), None).await?.1);
            }
            if created > 0 {
                tracing::info!(created, "demo knowledge base imported");
            }
        }
        let published = store.documents(Some(DocumentStatus::Published), None).await?;
        let started = std::time::Instant::now();
        let keyword = index_all(store, Arc::new(KnowledgeBase::new(None)?), &published).await?;
        tracing::info!(
            documents = published.len(),
            ms = started.elapsed().as_millis(),
            "knowledge base indexed for keyword search"
        );
        let config = bot::BotConfig {
            answer_threshold: config.answer_threshold,
            max_failed_answers: config.max_failed_answers,
            ..bot::BotConfig::default()
        };
        let intents = load_intents(store).await?;
        let bot = Bot::new(keyword, intents.clone(), config.clone())?;
        let mode = if embedder.is_some() { SearchMode::BuildingVectors } else { SearchMode::KeywordOnly };
        let assistant = Arc::new(Self {
            store: store.clone(),
            bot: RwLock::new(Arc::new(bot)),
            mode: RwLock::new(mode),
            intents: RwLock::new(intents),
            config,
            reindexing: tokio::sync::Mutex::new(()),
        });
        if let Some(embedder) = embedder {
            tokio::spawn(Arc::clone(&assistant).build_vectors(embedder, published));
        }
        let (queues, receivers) = (0..WORKERS).map(|_| mpsc::channel(QUEUE)).unzip();
        Ok((assistant, BotQueue { queues }, BotJobs(receivers)))
    }

    /// Builds the hybrid index in the background, then puts it in force, with whatever trainers
    /// changed meanwhile.
    async fn build_vectors(self: Arc<Self>, embedder: Arc<Embedder>, snapshot: Vec<Document>) {
        let started = std::time::Instant::now();
        let result = async {
            let kb = Arc::new(KnowledgeBase::new(Some(embedder))?);
            let kb = index_all(&self.store, kb, &snapshot).await?;
            // Catch up with edits made while the vectors were computed, then swap.
            let _guard = self.reindexing.lock().await;
            let seen: HashMap<DocumentId, i64> = snapshot.iter().map(|d| (d.id, d.version)).collect();
            let now = self.store.documents(Some(DocumentStatus::Published), None).await?;
            let changed: Vec<Document> = now.iter().filter(|d| seen.get(&d.id) != Some(&d.version)).cloned().collect();
            let kb = index_all(&self.store, kb, &changed).await?;
            let published: BTreeSet<DocumentId> = now.iter().map(|d| d.id).collect();
            for gone in snapshot.iter().filter(|d| !published.contains(&d.id)) {
                let id = kb_document(gone)?.id;
                let kb = Arc::clone(&kb);
                tokio::task::spawn_blocking(move || kb.remove(&id)).await??;
            }
            let bot = Bot::new(kb, self.intents(), self.config.clone())?;
            *self.bot.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(bot);
            *self.mode.write().unwrap_or_else(PoisonError::into_inner) = SearchMode::Hybrid;
            Ok::<usize, AssistantError>(now.len())
        }
        .await;
        match result {
            Ok(documents) => {
                tracing::info!(
                    documents,
                    ms = started.elapsed().as_millis(),
                    "knowledge base vectors ready: hybrid search"
                );
            }
            Err(e) => {
                tracing::error!(error = %e, "the knowledge base's vectors could not be built: keyword search alone");
                *self.mode.write().unwrap_or_else(PoisonError::into_inner) = SearchMode::KeywordOnly;
            }
        }
    }

    /// The bot as it stands (its knowledge base included).
    #[must_use]
    pub fn bot(&self) -> Arc<Bot> {
        Arc::clone(&self.bot.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// The intents in force.
    #[must_use]
    pub fn intents(&self) -> Vec<bot::Intent> {
        self.intents.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Creates or replaces one intent, in the store and in the running bot together: under the
    /// reindexing guard (so two saves never undo each other), the bot's intent classifier is
    /// built from the stored intents with this edit first (its examples embedded, with a model),
    /// then the edit is stored, then the new bot replaces the running one; turns already being
    /// decided finish with the old one. When the classifier cannot be built, nothing is stored.
    ///
    /// # Errors
    /// Too many intents or examples (422), the embedding fails, the store fails.
    pub async fn put_intent(
        &self,
        name: &IntentName,
        content: &IntentContent,
        trainer: AgentId,
    ) -> Result<StoredIntent, Error> {
        let _guard = self.reindexing.lock().await;
        let mut intents: Vec<bot::Intent> = self.store.intents().await?.iter().map(bot_intent).collect();
        let edited = intent_of(name, content);
        match intents.iter_mut().find(|i| i.name == edited.name) {
            Some(slot) => *slot = edited,
            None => intents.push(edited),
        }
        check_intent_caps(&intents)?;
        let kb = self.knowledge_base();
        let config = self.config.clone();
        let compiled = intents.clone();
        let bot = tokio::task::spawn_blocking(move || Bot::new(kb, compiled, config))
            .await
            .map_err(Error::internal)?
            .map_err(Error::internal)?;
        let stored = self.store.put_intent(name, content, trainer).await?;
        *self.intents.write().unwrap_or_else(PoisonError::into_inner) = intents;
        *self.bot.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(bot);
        Ok(stored)
    }

    /// Whether a document is in the index in force (by its id).
    ///
    /// # Errors
    /// The index is poisoned.
    pub fn indexed(&self, doc: &Document) -> Result<bool, Error> {
        let id = kb_document(doc).map_err(Error::internal)?.id;
        Ok(self.knowledge_base().get(&id).map_err(Error::internal)?.is_some())
    }

    /// The knowledge base in force.
    #[must_use]
    pub fn knowledge_base(&self) -> Arc<KnowledgeBase> {
        Arc::clone(self.bot().knowledge_base())
    }

    /// How the bot searches now.
    #[must_use]
    pub fn search_mode(&self) -> SearchMode {
        *self.mode.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether the embedding model is loaded (its vectors may still be being built).
    #[must_use]
    pub fn has_model(&self) -> bool {
        self.search_mode() != SearchMode::KeywordOnly
    }

    /// Puts a document's current version in the index (published) or takes it out (otherwise).
    /// Searchable as soon as this returns.
    ///
    /// # Errors
    /// The index refuses it.
    pub async fn reindex(&self, doc: &Document) -> Result<(), Error> {
        let _guard = self.reindexing.lock().await;
        let kb = self.knowledge_base();
        if doc.content.status != DocumentStatus::Published {
            let id = kb_document(doc).map_err(Error::internal)?.id;
            return tokio::task::spawn_blocking(move || kb.remove(&id).map(|_| ()))
                .await
                .map_err(Error::internal)?
                .map_err(Error::internal);
        }
        index_all(&self.store, kb, std::slice::from_ref(doc)).await.map(|_| ()).map_err(Error::internal)
    }
}

/// The bot's view of a stored intent: its examples in every language, one list.
#[must_use]
pub fn bot_intent(stored: &StoredIntent) -> bot::Intent {
    intent_of(&stored.name, &stored.content)
}

/// Refuses a set of intents over [`MAX_INTENTS`] or [`MAX_INTENT_EXAMPLES`] (422).
fn check_intent_caps(intents: &[bot::Intent]) -> Result<(), Error> {
    if intents.len() > MAX_INTENTS {
        return Err(Error::invalid("intent", format!("at most {MAX_INTENTS} intents")));
    }
    let examples: usize = intents.iter().map(|i| i.examples.len()).sum();
    if examples > MAX_INTENT_EXAMPLES {
        return Err(Error::invalid(
            "examples",
            format!("at most {MAX_INTENT_EXAMPLES} examples over all intents, this edit makes {examples}"),
        ));
    }
    Ok(())
}

/// The bot's view of an intent's content: its examples in every language, one list.
fn intent_of(name: &IntentName, content: &IntentContent) -> bot::Intent {
    bot::Intent {
        name: name.as_str().to_owned(),
        examples: content.examples.values().flatten().cloned().collect(),
        always_human: content.always_human,
        skills: content.skills.iter().map(|(s, l)| (s.as_str().to_owned(), l.get())).collect(),
    }
}

/// The built-in intents as the store keeps them: each example under the language it reads as
/// (English when that is not clear).
///
/// # Errors
/// A built-in intent does not validate (a bug caught by the tests).
pub fn builtin_intents() -> Result<Vec<(IntentName, IntentContent)>, AssistantError> {
    bot::starter_intents()?
        .into_iter()
        .map(|i| {
            let mut examples: BTreeMap<Language, Vec<String>> = BTreeMap::new();
            for ex in i.examples {
                examples.entry(bot::detect_language(&ex).unwrap_or(Language::En)).or_default().push(ex);
            }
            let skills = i
                .skills
                .into_iter()
                .map(|(s, l)| Ok((s.parse()?, SkillLevel::try_from(i64::from(l))?)))
                .collect::<Result<Vec<_>, schema::ValidationError>>()
                .map_err(AssistantError::Demo)?;
            let content = IntentContent { examples, always_human: i.always_human, skills }
                .validate()
                .map_err(AssistantError::Demo)?;
            Ok((i.name.parse().map_err(AssistantError::Demo)?, content))
        })
        .collect()
}

/// The intents from the store, which gets the built-in ones the first time.
async fn load_intents(store: &Store) -> Result<Vec<bot::Intent>, AssistantError> {
    let builtin = builtin_intents()?;
    if store.seed_intents(&builtin).await? {
        tracing::info!("the built-in bot intents are stored for trainers to edit");
    } else {
        // Self-service's intents came after the first stores were seeded.
        let selfservice: Vec<_> = builtin
            .into_iter()
            .filter(|(name, _)| crate::services::selfservice::INTENTS.contains(&name.as_str()))
            .collect();
        let added = store.add_missing_intents(&selfservice).await?;
        if added > 0 {
            tracing::info!(added, "the self-service bot intents are stored for trainers to edit");
        }
    }
    Ok(store.intents().await?.iter().map(bot_intent).collect())
}

/// The name embeddings are cached under: the model's folder name.
fn model_key(embedder: &Embedder) -> String {
    embedder.dir().file_name().map_or_else(|| "model".to_owned(), |n| n.to_string_lossy().into_owned())
}

/// Indexes `docs` into `kb`, with their embedding vectors from the store's cache where they are
/// of the document's current version, computing (and caching) the others.
async fn index_all(
    store: &Store,
    kb: Arc<KnowledgeBase>,
    docs: &[Document],
) -> Result<Arc<KnowledgeBase>, AssistantError> {
    let kb_docs = docs.iter().map(kb_document).collect::<Result<Vec<_>, _>>()?;
    let Some(embedder) = kb.embedder().cloned() else {
        return Ok(tokio::task::spawn_blocking(move || kb.upsert_many(kb_docs).map(|()| kb)).await??);
    };
    let model = model_key(&embedder);
    let mut cached = store.document_embeddings(&model, knowledge_base::DIM).await?;
    let mut ready = Vec::with_capacity(docs.len());
    let mut missing = Vec::new();
    for (doc, kb_doc) in docs.iter().zip(kb_docs) {
        let texts = knowledge_base::embedding_texts(&kb_doc).len();
        match cached.remove(&doc.id) {
            Some(c) if c.version == doc.version && c.rows.len() == texts => ready.push((kb_doc, c.rows)),
            _ => missing.push((doc.id, doc.version, kb_doc)),
        }
    }
    let computed = tokio::task::spawn_blocking(move || {
        missing
            .into_iter()
            .map(|(id, version, kb_doc)| {
                let texts = knowledge_base::embedding_texts(&kb_doc);
                let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
                embedder.embed(&refs).map(|rows| (id, version, kb_doc, rows))
            })
            .collect::<Result<Vec<_>, _>>()
    })
    .await??;
    for (id, version, kb_doc, rows) in computed {
        store.save_document_embedding(id, version, &model, &rows).await?;
        ready.push((kb_doc, rows));
    }
    Ok(tokio::task::spawn_blocking(move || kb.upsert_with_vectors(ready).map(|()| kb)).await??)
}

fn load_model(dir: &Path) -> Option<Embedder> {
    if !dir.join("config.json").exists() {
        tracing::warn!(dir = %dir.display(), "no embedding model (run scripts/fetch-model): the bot searches by keywords alone");
        return None;
    }
    match Embedder::load(dir) {
        Ok(e) => {
            tracing::info!(dir = %dir.display(), "embedding model loaded");
            Some(e)
        }
        Err(e) => {
            tracing::error!(dir = %dir.display(), error = %e, "the embedding model cannot be loaded: keyword search alone");
            None
        }
    }
}

// ---- the workers ------------------------------------------------------------------------------

/// What a bot worker needs to carry out the bot's decisions.
#[derive(Debug)]
pub struct Worker {
    pub core: Core,
    pub assistant: Arc<Assistant>,
    pub ingest: Arc<Ingest>,
    pub escalate: Arc<Escalate>,
    pub routing: Arc<Routing>,
    /// Self-service (account questions after a one-time code), when on.
    pub selfservice: Option<Arc<SelfService>>,
    /// The outage pre-check (`services::outages`): live incidents answer outage questions
    /// before the knowledge base does.
    pub outages: Option<Arc<crate::services::outages::Outages>>,
}

/// Runs the bot workers until the hub shuts down.
pub fn spawn_workers(jobs: BotJobs, worker: Worker) {
    let worker = Arc::new(worker);
    for mut rx in jobs.0 {
        let worker = Arc::clone(&worker);
        tokio::spawn(async move {
            loop {
                let job = tokio::select! {
                    () = worker.core.shutdown.cancelled() => return,
                    job = rx.recv() => match job { Some(job) => job, None => return },
                };
                let conversation_id = job.conversation_id;
                if let Err(e) = worker.turn(job).await {
                    tracing::error!(error = %e, %conversation_id, "the bot could not answer a turn");
                }
            }
        });
    }
}

impl Worker {
    /// How many bot answers in a row, up to and including the turn `seq`, the customer said did
    /// not help; `recent` is the conversation's tail read by [`Worker::turn`].
    fn failures_in_a_row(recent: &[Message], seq: i64) -> u32 {
        let recent: Vec<&Message> = recent.iter().filter(|m| m.seq > seq - 20 && m.seq <= seq).collect();
        let mut count = 0;
        let mut i = recent.len();
        // Walk back over (bot answer, customer "that didn't help") pairs.
        while i >= 2 {
            let (answer, reply) = (recent[i - 2], recent[i - 1]);
            if reply.author != AuthorKind::Customer
                || answer.author != AuthorKind::Bot
                || !bot::says_unhelpful(reply.text.as_str())
            {
                break;
            }
            count += 1;
            i -= 2;
            // Skip back to the customer message the answer replied to.
            while i > 0 && recent[i - 1].author != AuthorKind::Customer {
                i -= 1;
            }
            // That question itself must have been a complaint for the run to go on.
        }
        count
    }

    /// The conversation's last 20 messages before the turn `seq`, oldest first, for the bot to
    /// read follow-ups, replies to its clarifying questions and "that didn't help".
    fn history(recent: &[Message], seq: i64) -> Vec<PastMessage> {
        recent
            .iter()
            .filter(|m| m.seq < seq)
            .map(|m| PastMessage { from_customer: m.author == AuthorKind::Customer, text: m.text.as_str().to_owned() })
            .collect()
    }

    async fn turn(&self, job: Job) -> Result<(), Error> {
        let store = &self.core.store;
        let conversation = store.conversation(job.conversation_id).await?;
        // An agent (or an earlier turn) may have taken the conversation meanwhile.
        if conversation.status != ConversationStatus::Bot {
            return Ok(());
        }
        let text = job.message.text.as_str().to_owned();
        // Pre-check: an outage question is answered from the live incidents first.
        if let Some(outages) = &self.outages
            && let Some(reply) = outages.bot_answer(&conversation, &text).await?
        {
            self.say(conversation.id, &reply, Vec::new()).await?;
            return Ok(());
        }
        // The turn and the 20 messages before it, read once for both uses below.
        let seq = job.message.seq;
        let recent = store.messages_after(conversation.id, (seq - 21).max(0), 21).await?;
        // "That didn't help" right after a bot answer: trainers filter such answers.
        if let Some(previous) = recent.iter().filter(|m| m.seq < seq).max_by_key(|m| m.seq)
            && previous.author == AuthorKind::Bot
            && bot::says_unhelpful(&text)
        {
            store.mark_answer_unhelpful(previous.id).await?;
        }
        let input = TurnInput {
            text: text.clone(),
            conversation_language: conversation.language,
            failed_answers_so_far: Self::failures_in_a_row(&recent, seq),
            history: Self::history(&recent, seq),
        };
        let bot = self.assistant.bot();
        let started = std::time::Instant::now();
        // Account questions and replies to self-service's own questions first.
        let handed = match &self.selfservice {
            Some(s) => match s.turn(&conversation, &job.message, job.code.as_ref()).await? {
                Outcome::Handled => return Ok(()),
                Outcome::HandOver(decision) => Some(decision),
                Outcome::NotMine => None,
            },
            None => None,
        };
        let decision = match handed {
            Some(decision) => decision,
            None => tokio::task::spawn_blocking(move || bot.turn(&input))
                .await
                .map_err(Error::internal)?
                .map_err(Error::internal)?,
        };
        let outcome = match &decision {
            Decision::Answer { .. } => "answer",
            Decision::HandOver { .. } => "hand_over",
            Decision::Ask { .. } => "ask",
        };
        self.core.metrics.bot_turns.with_label_values(&[outcome]).observe(started.elapsed().as_secs_f64());
        match decision {
            Decision::Answer { text: reply, language, article, title, confidence, intent, .. } => {
                let document_id: DocumentId = article.as_str().parse().map_err(Error::internal)?;
                // The article the answer came from, as a link the web chat shows.
                let source = MediaRef {
                    kind: "article".to_owned(),
                    reference: format!("/help/{document_id}"),
                    mime_type: Some("text/html".to_owned()),
                    file_name: Some(title),
                };
                let message = self.say(conversation.id, &reply, vec![source]).await?;
                let answer = BotAnswer {
                    message_id: message.id,
                    conversation_id: conversation.id,
                    question: text,
                    language,
                    intent,
                    document_id,
                    confidence: f64::from(confidence),
                    verdict: None,
                    judged_by: None,
                    judged_at: None,
                    created_at: message.created_at,
                    unhelpful: false,
                };
                store.record_bot_answer(&answer).await?;
            }
            Decision::Ask { kind, text: question, language, .. } => {
                // A question the bot could not answer outright is a trainer's lead, whatever
                // the customer picks next.
                if kind == AskKind::Clarify {
                    store.record_unanswered(conversation.id, job.message.id, &text, language, "clarify").await?;
                }
                self.say(conversation.id, &question, Vec::new()).await?;
            }
            Decision::HandOver { reason, intent, language, skills, summary, message } => {
                if matches!(reason, HandOverReason::LowConfidence | HandOverReason::RepeatedFailure) {
                    store.record_unanswered(conversation.id, job.message.id, &text, language, reason.as_str()).await?;
                }
                let mut escalation = Escalation::new(&conversation, Actor::System);
                escalation.tags = intent.into_iter().collect();
                escalation.ticket_tags = [format!("bot:{}", reason.as_str())].into_iter().collect();
                escalation.text = Some(text);
                escalation.language = Some(language);
                escalation.skills = self.satisfiable(&skills).await?;
                escalation.summary = Some(summary);
                let ticket = self.escalate.escalate(escalation).await?;
                let wait = self.estimated_wait(&ticket).await;
                self.say(conversation.id, &message.replace("{wait}", &wait_text(language, wait)), Vec::new()).await?;
            }
        }
        Ok(())
    }

    /// Appends a bot message to the conversation.
    async fn say(&self, conversation_id: ConversationId, text: &str, media: Vec<MediaRef>) -> Result<Message, Error> {
        let new = NewMessage {
            conversation_id,
            author: AuthorKind::Bot,
            author_id: None,
            text: MessageText::parse(text, MAX_BOT_CHARS)?,
            channel_message_id: None,
            media,
            template: None,
        };
        Ok(self.ingest.append(new).await?.message)
    }

    /// The bot's skills, kept to what some agent holds and capped at the best level held, so a
    /// hand-over never waits for a person who does not exist.
    async fn satisfiable(&self, skills: &[(String, u8)]) -> Result<Vec<SkillRequirement>, Error> {
        let mut best: BTreeMap<SkillName, SkillLevel> = BTreeMap::new();
        for profile in self.core.store.agent_routings().await? {
            for (skill, level) in profile.skills {
                let entry = best.entry(skill).or_insert(level);
                *entry = (*entry).max(level);
            }
        }
        Ok(skills
            .iter()
            .filter_map(|(name, level)| {
                let skill: SkillName = name.parse().ok()?;
                let held = *best.get(&skill)?;
                let level = SkillLevel::try_from(i64::from(*level)).ok()?.min(held);
                Some(SkillRequirement { skill, level })
            })
            .collect())
    }

    /// Minutes the customer may wait, from the queue as it stands: `None` when nobody who could
    /// take it is available.
    async fn estimated_wait(&self, ticket: &schema::Ticket) -> Option<u64> {
        if ticket.assignee_id.is_some() || ticket.offered_to.is_some() {
            return Some(1);
        }
        let stats = self.routing.queue_stats().await.ok()?;
        let queue = stats.iter().find(|q| q.queue == ticket.queue)?;
        if queue.available_agents == 0 {
            return None;
        }
        // The oldest waiting ticket's wait so far, and a couple of minutes per ticket ahead for
        // each agent who can take them.
        let ahead = u64::try_from(queue.waiting.saturating_sub(1)).unwrap_or(u64::MAX);
        let per_agent = ahead.saturating_mul(2) / u64::try_from(queue.available_agents).unwrap_or(1).max(1);
        let oldest = u64::try_from(queue.longest_wait_ms / 60_000).unwrap_or(0);
        Some(per_agent.max(oldest).max(1))
    }
}

fn wait_text(language: Language, minutes: Option<u64>) -> String {
    use schema::Language::{En, Es, Pt};
    match (language, minutes) {
        (En, Some(1)) => "under a minute".into(),
        (En, Some(m)) => format!("about {m} minutes"),
        (En, None) => "longer than usual: everyone is busy, and we will answer here as soon as someone is free".into(),
        (Es, Some(1)) => "de menos de un minuto".into(),
        (Es, Some(m)) => format!("de unos {m} minutos"),
        (Es, None) => {
            "mayor de lo habitual: todos están ocupados y te responderemos aquí en cuanto alguien quede libre".into()
        }
        (Pt, Some(1)) => "inferior a um minuto".into(),
        (Pt, Some(m)) => format!("de cerca de {m} minutos"),
        (Pt, None) => {
            "maior do que o habitual: estão todos ocupados e responderemos aqui assim que alguém estiver livre".into()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intents_are_capped_in_number_and_examples() {
        let intent = |i: usize, examples: usize| bot::Intent {
            name: format!("intent_{i}"),
            examples: (0..examples).map(|e| format!("example {e}")).collect(),
            always_human: false,
            skills: Vec::new(),
        };
        let field = |r: Result<(), Error>| match r {
            Err(Error::Validation(schema::ValidationError::Invalid { field, .. })) => Some(field),
            _ => None,
        };
        let at_cap: Vec<_> = (0..MAX_INTENTS).map(|i| intent(i, 1)).collect();
        assert!(check_intent_caps(&at_cap).is_ok());
        let over: Vec<_> = (0..=MAX_INTENTS).map(|i| intent(i, 1)).collect();
        assert_eq!(field(check_intent_caps(&over)), Some("intent"));
        let many: Vec<_> = (0..20).map(|i| intent(i, 300)).collect();
        assert_eq!(field(check_intent_caps(&many)), Some("examples"));
    }

    #[test]
    fn the_built_in_intents_are_stored_by_language() {
        let intents = builtin_intents().unwrap();
        assert_eq!(intents.len(), bot::starter_intents().unwrap().len());
        let (_, plan) = intents.iter().find(|(n, _)| n.as_str() == "plan_change").unwrap();
        assert!(plan.examples[&Language::Es].iter().any(|e| e == "quiero cambiar de tarifa"));
        assert!(plan.examples[&Language::Pt].iter().any(|e| e == "quero mudar de tarifário"));
        assert!(plan.examples[&Language::En].iter().any(|e| e == "I want to change my plan"));
        // Back to the bot's form, nothing is lost.
        for ((name, content), original) in intents.iter().zip(bot::starter_intents().unwrap()) {
            let stored = StoredIntent {
                name: name.clone(),
                content: content.clone(),
                updated_by: None,
                updated_at: time::OffsetDateTime::UNIX_EPOCH,
            };
            let back = bot_intent(&stored);
            assert_eq!((back.always_human, &back.skills), (original.always_human, &original.skills), "{name}");
            let mut a = back.examples.clone();
            let mut b = original.examples.clone();
            a.sort();
            b.sort();
            assert_eq!(a, b, "{name}");
        }
    }

    #[test]
    fn the_wait_reads_well_in_every_language() {
        for language in Language::ALL {
            for minutes in [Some(1), Some(4), None] {
                let text = wait_text(*language, minutes);
                assert!(!text.is_empty() && !text.contains('{'), "{text}");
            }
        }
        assert_eq!(wait_text(Language::En, Some(4)), "about 4 minutes");
    }
}
