//! The bot in the hub: the knowledge base loaded from the store, and the workers that answer
//! customers' turns in conversations the bot holds.
//!
//! A customer message in a `bot` conversation is stored and acknowledged first; then a job goes
//! to one of a few bot workers, chosen by conversation so a conversation's turns stay in order.
//! The worker asks the `bot` crate for a decision (embedding and search run on a blocking
//! thread) and carries it out: an answer is appended as a bot message and recorded for
//! trainers; a hand-over opens a ticket with the skills and summary the bot gives, and the
//! customer is told the estimated wait.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use actix_web::web;
use bot::{Bot, Decision, HandOverReason, PastMessage, TurnInput};
use knowledge_base::{DocId, DocKind, Embedder, KnowledgeBase};
use schema::knowledge::{BotAnswer, Document, DocumentContent};
use schema::{
    Actor, AuthorKind, ConversationId, ConversationStatus, DocumentKind, DocumentStatus, Message, MessageText,
    NewMessage, SkillLevel, SkillName, SkillRequirement, Store,
};
use time::OffsetDateTime;
use tokio::sync::mpsc;

use crate::AppState;
use crate::config::BotConfig;
use crate::error::ApiError;
use crate::ingest;

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
    #[error("a demo document is invalid: {0}")]
    Demo(schema::ValidationError),
    #[error("the loader thread failed: {0}")]
    Join(#[from] tokio::task::JoinError),
}

/// A customer turn for the bot.
#[derive(Debug)]
struct Job {
    conversation_id: ConversationId,
    message: Message,
}

/// The bot and its knowledge base, shared by the hub.
pub struct Assistant {
    bot: Arc<Bot>,
    queues: Vec<mpsc::Sender<Job>>,
    receivers: std::sync::Mutex<Vec<mpsc::Receiver<Job>>>,
}

impl std::fmt::Debug for Assistant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Assistant").field("model", &self.bot.knowledge_base().has_model()).finish_non_exhaustive()
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
    /// `demo`, and indexes every published document.
    ///
    /// # Errors
    /// The store fails, a stored document cannot be indexed, or the intents do not compile.
    pub async fn load(store: &Store, config: &BotConfig, demo: bool) -> Result<Self, AssistantError> {
        let dir = config.model_dir.clone();
        let embedder = tokio::task::spawn_blocking(move || load_model(Path::new(&dir))).await?;
        let kb = Arc::new(KnowledgeBase::new(embedder.map(Arc::new))?);
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
        let (kb, embedded) = index_all(store, kb, &published).await?;
        tracing::info!(
            documents = published.len(),
            embedded,
            ms = started.elapsed().as_millis(),
            model = kb.has_model(),
            "knowledge base indexed"
        );
        let bot_config = bot::BotConfig {
            answer_threshold: config.answer_threshold,
            max_failed_answers: config.max_failed_answers,
            ..bot::BotConfig::default()
        };
        let bot = Bot::new(kb, bot::starter_intents()?, bot_config)?;
        let (queues, receivers) = (0..WORKERS).map(|_| mpsc::channel(QUEUE)).unzip();
        Ok(Self { bot: Arc::new(bot), queues, receivers: std::sync::Mutex::new(receivers) })
    }

    /// The knowledge base.
    #[must_use]
    pub fn knowledge_base(&self) -> &Arc<KnowledgeBase> {
        self.bot.knowledge_base()
    }

    /// Whether the embedding model is loaded (else keyword search alone).
    #[must_use]
    pub fn has_model(&self) -> bool {
        self.knowledge_base().has_model()
    }

    /// Puts a document's current version in the index (published) or takes it out (otherwise).
    /// Searchable as soon as this returns.
    ///
    /// # Errors
    /// The index refuses it.
    pub async fn reindex(&self, store: &Store, doc: &Document) -> Result<(), ApiError> {
        let internal = |e: &dyn std::fmt::Display| ApiError::Internal(e.to_string());
        let kb = Arc::clone(self.knowledge_base());
        if doc.content.status != DocumentStatus::Published {
            let id = kb_document(doc).map_err(|e| internal(&e))?.id;
            return tokio::task::spawn_blocking(move || kb.remove(&id).map(|_| ()))
                .await
                .map_err(|e| internal(&e))?
                .map_err(|e| internal(&e));
        }
        index_all(store, kb, std::slice::from_ref(doc)).await.map(|_| ()).map_err(|e| internal(&e))
    }

    /// Queues a customer's turn for the bot. Waits only when the bot is far behind.
    pub async fn enqueue(&self, conversation_id: ConversationId, message: Message) {
        let worker = usize::from(conversation_id.as_uuid().as_bytes()[15]) % self.queues.len().max(1);
        if let Some(queue) = self.queues.get(worker)
            && queue.send(Job { conversation_id, message }).await.is_err()
        {
            tracing::warn!(%conversation_id, "the bot workers have stopped; the turn is not answered");
        }
    }
}

/// The name embeddings are cached under: the model's folder name.
fn model_key(embedder: &Embedder) -> String {
    embedder.dir().file_name().map_or_else(|| "model".to_owned(), |n| n.to_string_lossy().into_owned())
}

/// Indexes `docs`, with their embedding vectors from the store's cache where they are of the
/// document's current version, computing (and caching) the others. Returns the knowledge base
/// and how many documents were embedded anew.
async fn index_all(
    store: &Store,
    kb: Arc<KnowledgeBase>,
    docs: &[Document],
) -> Result<(Arc<KnowledgeBase>, usize), AssistantError> {
    let kb_docs = docs.iter().map(kb_document).collect::<Result<Vec<_>, _>>()?;
    let Some(embedder) = kb.embedder().cloned() else {
        let kb = tokio::task::spawn_blocking(move || kb.upsert_many(kb_docs).map(|()| kb)).await??;
        return Ok((kb, 0));
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
    let embedded = missing.len();
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
    let kb = tokio::task::spawn_blocking(move || kb.upsert_with_vectors(ready).map(|()| kb)).await??;
    Ok((kb, embedded))
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

/// Runs the bot workers until the hub shuts down.
pub fn spawn_workers(state: &web::Data<AppState>) {
    let Some(assistant) = &state.assistant else { return };
    let receivers = std::mem::take(&mut *assistant.receivers.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
    for mut rx in receivers {
        let state = state.clone();
        tokio::spawn(async move {
            loop {
                let job = tokio::select! {
                    () = state.shutdown.cancelled() => return,
                    job = rx.recv() => match job { Some(job) => job, None => return },
                };
                let conversation_id = job.conversation_id;
                if let Err(e) = turn(&state, job).await {
                    tracing::error!(error = %e, %conversation_id, "the bot could not answer a turn");
                }
            }
        });
    }
}

/// How many bot answers in a row, up to and including this turn, the customer said did not help.
async fn failures_in_a_row(state: &AppState, conversation: ConversationId, seq: i64) -> Result<u32, ApiError> {
    let recent = state.store.messages_after(conversation, (seq - 20).max(0), 20).await?;
    let recent: Vec<&Message> = recent.iter().filter(|m| m.seq <= seq).collect();
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
    Ok(count)
}

/// The conversation's last 20 messages before this one, oldest first, for the bot to read
/// follow-ups, replies to its clarifying questions and "that didn't help".
async fn history(state: &AppState, conversation: ConversationId, seq: i64) -> Result<Vec<PastMessage>, ApiError> {
    let recent = state.store.messages_after(conversation, (seq - 21).max(0), 21).await?;
    Ok(recent
        .into_iter()
        .filter(|m| m.seq < seq)
        .map(|m| PastMessage { from_customer: m.author == AuthorKind::Customer, text: m.text.as_str().to_owned() })
        .collect())
}

async fn turn(state: &web::Data<AppState>, job: Job) -> Result<(), ApiError> {
    let Some(assistant) = &state.assistant else { return Ok(()) };
    let conversation = state.store.conversation(job.conversation_id).await?;
    // An agent (or an earlier turn) may have taken the conversation meanwhile.
    if conversation.status != ConversationStatus::Bot {
        return Ok(());
    }
    let text = job.message.text.as_str().to_owned();
    let input = TurnInput {
        text: text.clone(),
        conversation_language: conversation.language,
        failed_answers_so_far: failures_in_a_row(state, conversation.id, job.message.seq).await?,
        history: history(state, conversation.id, job.message.seq).await?,
    };
    let bot = Arc::clone(&assistant.bot);
    let started = std::time::Instant::now();
    let decision = tokio::task::spawn_blocking(move || bot.turn(&input))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let outcome = match &decision {
        Decision::Answer { .. } => "answer",
        Decision::HandOver { .. } => "hand_over",
        Decision::Ask { .. } => "ask",
    };
    state.metrics.bot_turns.with_label_values(&[outcome]).observe(started.elapsed().as_secs_f64());
    match decision {
        Decision::Answer { text: reply, language, article, confidence, intent, .. } => {
            let message = say(state, conversation.id, &reply).await?;
            let document_id =
                article.as_str().parse().map_err(|e: schema::ValidationError| ApiError::Internal(e.to_string()))?;
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
            };
            state.store.record_bot_answer(&answer).await?;
        }
        Decision::Ask { text: question, .. } => {
            say(state, conversation.id, &question).await?;
        }
        Decision::HandOver { reason, intent, language, skills, summary, message } => {
            if matches!(reason, HandOverReason::LowConfidence | HandOverReason::RepeatedFailure) {
                state
                    .store
                    .record_unanswered(conversation.id, job.message.id, &text, language, reason.as_str())
                    .await?;
            }
            let customer = state.store.customer(conversation.customer_id).await?;
            let sample = router::rules::Sample {
                channel: conversation.channel,
                language,
                tier: customer.tier,
                tags: intent.iter().cloned().collect(),
                text: text.clone(),
                at: OffsetDateTime::now_utc().unix_timestamp() * 1000,
            };
            let mut classification = state.routing.classify(&sample);
            let wanted = satisfiable(state, &skills).await?;
            merge_skills(&mut classification.target.skills, wanted);
            let mut tags: BTreeSet<String> = intent.into_iter().collect();
            tags.insert(format!("bot:{}", reason.as_str()));
            let ticket = state
                .routing
                .hand_over(state, &conversation, classification, tags, Some(summary), Actor::System)
                .await?;
            let wait = estimated_wait(state, &ticket).await;
            say(state, conversation.id, &message.replace("{wait}", &wait_text(language, wait))).await?;
        }
    }
    Ok(())
}

/// Appends a bot message to the conversation.
async fn say(state: &AppState, conversation_id: ConversationId, text: &str) -> Result<Message, ApiError> {
    let new = NewMessage {
        conversation_id,
        author: AuthorKind::Bot,
        author_id: None,
        text: MessageText::parse(text, MAX_BOT_CHARS)?,
        channel_message_id: None,
        media: Vec::new(),
        template: None,
    };
    Ok(ingest::append(state, new).await?.message)
}

/// The bot's skills, kept to what some agent holds and capped at the best level held, so a
/// hand-over never waits for a person who does not exist.
async fn satisfiable(state: &AppState, skills: &[(String, u8)]) -> Result<Vec<SkillRequirement>, ApiError> {
    let mut best: BTreeMap<SkillName, SkillLevel> = BTreeMap::new();
    for profile in state.store.agent_routings().await? {
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

/// Adds `wanted` to `skills`, keeping the higher level where both name a skill.
fn merge_skills(skills: &mut Vec<SkillRequirement>, wanted: Vec<SkillRequirement>) {
    for req in wanted {
        match skills.iter_mut().find(|s| s.skill == req.skill) {
            Some(existing) => existing.level = existing.level.max(req.level),
            None => skills.push(req),
        }
    }
}

/// Minutes the customer may wait, from the queue as it stands: `None` when nobody who could take
/// it is available.
async fn estimated_wait(state: &AppState, ticket: &schema::Ticket) -> Option<u64> {
    if ticket.assignee_id.is_some() || ticket.offered_to.is_some() {
        return Some(1);
    }
    let stats = state.routing.queue_stats().await;
    let queue = stats.iter().find(|q| q.queue == ticket.queue)?;
    if queue.available_agents == 0 {
        return None;
    }
    // The oldest waiting ticket's wait so far, and a couple of minutes per ticket ahead for each
    // agent who can take them.
    let ahead = u64::try_from(queue.waiting.saturating_sub(1)).unwrap_or(u64::MAX);
    let per_agent = ahead.saturating_mul(2) / u64::try_from(queue.available_agents).unwrap_or(1).max(1);
    let oldest = u64::try_from(queue.longest_wait_ms / 60_000).unwrap_or(0);
    Some(per_agent.max(oldest).max(1))
}

fn wait_text(language: schema::Language, minutes: Option<u64>) -> String {
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

    fn req(skill: &str, level: i64) -> SkillRequirement {
        SkillRequirement { skill: skill.parse().unwrap(), level: SkillLevel::try_from(level).unwrap() }
    }

    #[test]
    fn skills_merge_keeping_the_higher_level() {
        let mut skills = vec![req("billing", 3), req("spanish", 7)];
        merge_skills(&mut skills, vec![req("billing", 6), req("english", 5), req("spanish", 2)]);
        assert_eq!(skills, [req("billing", 6), req("spanish", 7), req("english", 5)]);
    }

    #[test]
    fn the_wait_reads_well_in_every_language() {
        for language in schema::Language::ALL {
            for minutes in [Some(1), Some(4), None] {
                let text = wait_text(*language, minutes);
                assert!(!text.is_empty() && !text.contains('{'), "{text}");
            }
        }
        assert_eq!(wait_text(schema::Language::En, Some(4)), "about 4 minutes");
    }
}
