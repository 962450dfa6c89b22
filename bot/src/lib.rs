//! # bot
//!
//! Pure decision logic for one customer turn: which language, which intent, whether the customer
//! asks for a person, and then either an answer from the knowledge base with a confidence or a
//! hand-over with the skills an agent needs and a summary. It sends nothing: the hub carries the
//! [`Decision`] out.

pub mod answerability;
mod cluster;
mod conversation;
pub mod eval;
mod feedback;
mod human;
mod intent;
mod language;
mod synonyms;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use knowledge_base::{DocId, Hit, KbError, KnowledgeBase, Language};

pub use answerability::Answerability;
pub use cluster::{SAME_QUESTION, group_questions};
pub use conversation::{BotMessage, PastMessage, clarify_text, read_bot_message, rephrase_text};
pub use feedback::says_unhelpful;
pub use human::{HumanCategory, HumanCue, always_human_cue};
pub use intent::{Intent, IntentMatch, TALK_TO_HUMAN, starter_intents};
pub use language::detect_language;

/// What can go wrong in the bot.
#[derive(Debug, thiserror::Error)]
pub enum BotError {
    #[error(transparent)]
    Kb(#[from] KbError),
    #[error("intents: {0}")]
    Intents(String),
}

/// The bot's thresholds.
#[derive(Clone, Debug, PartialEq)]
pub struct BotConfig {
    /// With a model: answer when the answerability probability is at least this (chosen on the
    /// tuning set, see BENCHMARKS.md "Bot evaluation").
    pub answer_threshold: f32,
    /// With a model: between this and `answer_threshold`, ask a clarifying question with the two
    /// best topics (once); below it, hand over.
    pub clarify_threshold: f32,
    /// The answerability model (weights fitted on the tuning set).
    pub answerability: Answerability,
    /// The same without a model (BM25 scores are spread differently).
    pub keyword_answer_threshold: f32,
    /// With a model, an English message's intent is recognised when the nearest English
    /// example's cosine is at least this.
    pub intent_threshold: f32,
    /// The same for Spanish and Portuguese, higher: all-MiniLM-L6-v2 is an English model and
    /// gives unrelated Spanish or Portuguese sentences cosines of 0.6 to 0.7.
    pub intent_threshold_non_english: f32,
    /// Without a model: the term overlap (set cosine of analyzed terms) needed.
    pub keyword_intent_threshold: f32,
    /// Hand over after this many failed answers in a row.
    pub max_failed_answers: u32,
    /// Search with the articles' words added for customers' words ("gigas" → datos).
    pub synonyms: bool,
}

impl Default for BotConfig {
    fn default() -> Self {
        Self {
            answer_threshold: 0.78,
            clarify_threshold: 0.17,
            answerability: Answerability::default(),
            keyword_answer_threshold: 0.50,
            intent_threshold: 0.62,
            intent_threshold_non_english: 0.75,
            keyword_intent_threshold: 0.6,
            max_failed_answers: 2,
            synonyms: true,
        }
    }
}

/// One customer message, with what the hub knows of the conversation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TurnInput {
    pub text: String,
    /// The conversation's language, used when the message itself is not clear.
    pub conversation_language: Language,
    /// How many bot answers in a row the customer said did not help.
    pub failed_answers_so_far: u32,
    /// The conversation's earlier messages, oldest first (the hub passes the last 20 or so):
    /// follow-ups ("and in Portugal?"), replies to a clarifying question and "that didn't help"
    /// are read against them.
    pub history: Vec<PastMessage>,
}

impl TurnInput {
    /// A first message: no history, no failures.
    #[must_use]
    pub fn new(text: impl Into<String>, conversation_language: Language) -> Self {
        Self { text: text.into(), conversation_language, failed_answers_so_far: 0, history: Vec::new() }
    }
}

/// What the bot asks back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AskKind {
    /// Unsure between topics: the two best are offered (as buttons where the channel has them).
    Clarify,
    /// The customer said the answer did not help: asked once to say it in other words.
    Rephrase,
}

/// A topic offered in a clarifying question.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Choice {
    pub article: DocId,
    pub title: String,
}

/// Why the bot hands over.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HandOverReason {
    /// No knowledge-base answer is confident enough.
    LowConfidence,
    /// The customer said the previous answers did not help, too many times in a row.
    RepeatedFailure,
    /// The customer asked for a person.
    AskedForHuman,
    /// The intent is one a person always handles (refunds, cancellations).
    AlwaysHuman(String),
}

impl HandOverReason {
    #[must_use]
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::LowConfidence => "low_confidence",
            Self::RepeatedFailure => "repeated_failure",
            Self::AskedForHuman => "asked_for_human",
            Self::AlwaysHuman(_) => "always_human",
        }
    }
}

/// What the bot decided for a turn.
#[derive(Clone, Debug, PartialEq)]
pub enum Decision {
    /// Reply with `text` (the passage and the article it comes from).
    Answer { text: String, language: Language, article: DocId, title: String, confidence: f32, intent: Option<String> },
    /// Ask the customer back (a clarifying question, or to rephrase); the conversation stays
    /// with the bot. `text` lists the choices numbered, for channels without buttons.
    Ask { kind: AskKind, text: String, language: Language, choices: Vec<Choice>, intent: Option<String> },
    /// Give the conversation to an agent.
    HandOver {
        reason: HandOverReason,
        intent: Option<String>,
        language: Language,
        /// Skills the agent needs: the intent's and the language's (e.g. billing and spanish).
        skills: Vec<(String, u8)>,
        /// For the agent: intent, language, reason, what was asked, what the bot answered, why it
        /// gave up, the closest article.
        summary: String,
        /// For the customer, with `{wait}` where the hub puts the estimated wait.
        message: String,
    },
}

/// The customer-facing hand-over message; the hub replaces `{wait}` with the estimated wait
/// (e.g. "about 3 minutes").
#[must_use]
pub fn handover_message(language: Language) -> &'static str {
    match language {
        Language::En => {
            "I'm connecting you with an agent who can help. The estimated wait is {wait}; you can stay in this conversation."
        }
        Language::Es => {
            "Te paso con un agente que podrá ayudarte. El tiempo de espera estimado es {wait}; puedes seguir en esta conversación."
        }
        Language::Pt => {
            "Vou ligá-lo a um assistente que o pode ajudar. O tempo de espera estimado é {wait}; pode continuar nesta conversa."
        }
    }
}

/// An article's passage as a customer reads it on any channel (chat, e-mail, SMS-like apps):
/// Markdown heading marks and bold asterisks dropped; list dashes and numbers kept.
fn plain_text(passage: &str) -> String {
    passage
        .lines()
        .map(|line| {
            let trimmed = line.trim_start();
            let hashes = trimmed.chars().take_while(|&c| c == '#').count();
            let line = if (1..=6).contains(&hashes) && trimmed[hashes..].starts_with(' ') {
                trimmed[hashes..].trim_start()
            } else {
                line
            };
            line.replace("**", "")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn source_line(language: Language, title: &str) -> String {
    match language {
        Language::En => format!("(From our help article “{title}”.)"),
        Language::Es => format!("(Del artículo de ayuda «{title}».)"),
        Language::Pt => format!("(Do artigo de ajuda «{title}».)"),
    }
}

/// The routing skill for a language.
#[must_use]
pub fn language_skill(language: Language) -> &'static str {
    match language {
        Language::En => "english",
        Language::Es => "spanish",
        Language::Pt => "portuguese",
    }
}

const LANGUAGE_SKILL_LEVEL: u8 = 5;

const PERSON_WORDS: &[&str] = &[
    "agent",
    "agents",
    "human",
    "person",
    "people",
    "representative",
    "operator",
    "someone",
    "somebody",
    "advisor",
    "agente",
    "persona",
    "humano",
    "operador",
    "operadora",
    "asesor",
    "alguien",
    "atendente",
    "pessoa",
    "assistente",
    "alguem",
    "humans",
    "anyone",
    "anybody",
    "supervisor",
    "manager",
    "gerente",
    "encargado",
    "encargada",
    "responsable",
    "teleoperador",
    "teleoperadora",
    "humana",
    "humanos",
];
const ASKING_WORDS: &[&str] = &[
    "talk",
    "speak",
    "connect",
    "transfer",
    "want",
    "need",
    "get",
    "please",
    "real",
    "live",
    "call",
    "chat",
    "hablar",
    "pasame",
    "pasar",
    "quiero",
    "necesito",
    "con",
    "comunicar",
    "real",
    "falar",
    "quero",
    "preciso",
    "passe",
    "passar",
    "com",
    "ligar",
    "pf",
    "favor",
    "put",
    "callback",
    "contact",
    "ponme",
    "ponganme",
    "pasadme",
    "paseme",
    "pasen",
    "llamadme",
    "llamame",
    "contactar",
    "conversar",
    "passem",
    "passa",
    "transfiram",
    "transferir",
    "liguem",
    "ligue",
    "ligar",
    "atender",
    "atenda",
];

/// Lower case without accents (and typographic apostrophes made plain), for matching phrases.
pub(crate) fn fold(s: &str) -> String {
    s.to_lowercase()
        .chars()
        .map(|c| match c {
            'á' | 'à' | 'â' | 'ã' | 'ä' => 'a',
            'é' | 'è' | 'ê' | 'ë' => 'e',
            'í' | 'ì' | 'î' | 'ï' => 'i',
            'ó' | 'ò' | 'ô' | 'õ' | 'ö' => 'o',
            'ú' | 'ù' | 'û' | 'ü' => 'u',
            'ç' => 'c',
            'ñ' => 'n',
            '’' | '`' => '\'',
            other => other,
        })
        .collect()
}

/// Whether the message asks for a person ("agent please", "quiero hablar con una persona",
/// "falar com um atendente"): a person word together with an asking word, or a person word alone
/// in a very short message.
#[must_use]
pub fn asks_for_human(text: &str) -> bool {
    let folded = fold(text);
    let tokens: Vec<&str> = folded.split(|c: char| !c.is_alphanumeric()).filter(|t| !t.is_empty()).collect();
    let person = tokens.iter().any(|t| PERSON_WORDS.contains(t));
    let asking = tokens.iter().any(|t| ASKING_WORDS.contains(t));
    person && (asking || tokens.len() <= 2)
}

/// Repeated questions: embeddings kept (a bounded map, cleared when full).
const CACHE_CAPACITY: usize = 4096;

#[derive(Debug, Default)]
struct EmbedCache {
    map: HashMap<String, Arc<[f32]>>,
    hits: u64,
    misses: u64,
}

/// What the bot found for a message before deciding: for the evaluation and the hand-over
/// summary.
#[derive(Clone, Debug, PartialEq)]
pub struct Assessment {
    /// The language the bot answers in.
    pub language: Language,
    /// Whether the message itself showed its language (otherwise the conversation's was kept).
    pub language_sure: bool,
    /// The text searched (the message, or the previous question with it for a follow-up).
    pub query: String,
    /// The recognised intent (thresholds applied).
    pub intent: Option<IntentMatch>,
    /// Hits, best first, one per document.
    pub hits: Vec<Hit>,
    /// The answerability features of the best hit.
    pub features: [f32; answerability::FEATURES],
    /// The probability that the best hit answers the question (with a model), or the best
    /// hit's fused score (without).
    pub confidence: f32,
}

/// The bot. `Send + Sync`; one per knowledge base, shared by all conversations.
#[derive(Debug)]
pub struct Bot {
    kb: Arc<KnowledgeBase>,
    intents: intent::CompiledIntents,
    config: BotConfig,
    cache: Mutex<EmbedCache>,
}

fn word_count(text: &str) -> usize {
    text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).count()
}

/// Words that open a follow-up ("and in Portugal?", "y en Francia?", "e no Brasil?").
const FOLLOW_UP_OPENERS: &[&str] =
    &["and", "what", "how", "also", "y", "e", "tambien", "tambem", "pero", "but", "mas", "ok", "vale", "then"];

impl Bot {
    /// A bot over a knowledge base with these intents (embedded now when the KB has a model).
    pub fn new(kb: Arc<KnowledgeBase>, intents: Vec<Intent>, config: BotConfig) -> Result<Self, BotError> {
        let intents = intent::CompiledIntents::new(intents, kb.embedder().map(AsRef::as_ref))?;
        Ok(Self { kb, intents, config, cache: Mutex::new(EmbedCache::default()) })
    }

    /// Replaces the intents (after a trainer edits them).
    pub fn set_intents(&mut self, intents: Vec<Intent>) -> Result<(), BotError> {
        self.intents = intent::CompiledIntents::new(intents, self.kb.embedder().map(AsRef::as_ref))?;
        Ok(())
    }

    #[must_use]
    pub fn intents(&self) -> &[Intent] {
        &self.intents.intents
    }

    #[must_use]
    pub fn config(&self) -> &BotConfig {
        &self.config
    }

    #[must_use]
    pub fn knowledge_base(&self) -> &Arc<KnowledgeBase> {
        &self.kb
    }

    /// (hits, misses) of the embedding cache so far.
    #[must_use]
    pub fn cache_stats(&self) -> (u64, u64) {
        self.cache.lock().map_or((0, 0), |c| (c.hits, c.misses))
    }

    fn cache_key(text: &str) -> String {
        fold(text.trim())
    }

    /// The embedding of a text, from the cache when it was seen before (`None` without a model).
    fn embed(&self, text: &str) -> Result<Option<Arc<[f32]>>, BotError> {
        let Some(embedder) = self.kb.embedder() else { return Ok(None) };
        let key = Self::cache_key(text);
        if let Ok(mut c) = self.cache.lock() {
            if let Some(v) = c.map.get(&key).cloned() {
                c.hits += 1;
                return Ok(Some(v));
            }
            c.misses += 1;
        }
        let v: Arc<[f32]> = embedder.embed_one(text)?.into();
        self.remember(key, Arc::clone(&v));
        Ok(Some(v))
    }

    fn remember(&self, key: String, v: Arc<[f32]>) {
        if let Ok(mut c) = self.cache.lock() {
            if c.map.len() >= CACHE_CAPACITY {
                c.map.clear();
            }
            c.map.insert(key, v);
        }
    }

    /// Embeds the texts of many turns in one forward pass (those not cached yet), so a batch of
    /// concurrent turns costs one model call.
    fn prefetch(&self, texts: &[&str]) -> Result<(), BotError> {
        let Some(embedder) = self.kb.embedder() else { return Ok(()) };
        let missing: Vec<&str> = match self.cache.lock() {
            Ok(c) => {
                let mut m: Vec<&str> = texts
                    .iter()
                    .copied()
                    .filter(|t| !t.trim().is_empty() && !c.map.contains_key(&Self::cache_key(t)))
                    .collect();
                m.sort_unstable();
                m.dedup();
                m
            }
            Err(_) => return Ok(()),
        };
        if missing.is_empty() {
            return Ok(());
        }
        for (t, v) in missing.iter().zip(embedder.embed(&missing)?) {
            self.remember(Self::cache_key(t), v.into());
        }
        Ok(())
    }

    /// The recognised intent of a text (thresholds applied), embedding it if there is a model.
    pub fn detect_intent(&self, text: &str, language: Language) -> Result<Option<IntentMatch>, BotError> {
        let vector = self.embed(text)?;
        Ok(self.intent_for(text, language, vector.as_deref()))
    }

    /// By embedding when there is a vector (a model), by term overlap otherwise.
    fn intent_for(&self, text: &str, language: Language, vector: Option<&[f32]>) -> Option<IntentMatch> {
        let threshold = match (vector, language) {
            (None, _) => self.config.keyword_intent_threshold,
            (Some(_), Language::En) => self.config.intent_threshold,
            (Some(_), _) => self.config.intent_threshold_non_english,
        };
        self.intents.best(text, language, vector).filter(|m| m.score >= threshold)
    }

    /// Retrieval and answerability for a query, without deciding.
    pub fn assess(&self, query: &str, language: Language, language_sure: bool) -> Result<Assessment, BotError> {
        let vector = self.embed(query)?;
        let raw_intent = self.intents.best(query, language, vector.as_deref());
        let intent = self.intent_for(query, language, vector.as_deref());
        let hits = if query.trim().is_empty() {
            Vec::new()
        } else {
            self.kb.search_with_vector(query, vector.as_deref(), Some(language), 3)?
        };
        let terms = knowledge_base::analyze(language, query).len();
        let intent_score = if vector.is_some() { raw_intent.as_ref().map_or(0.0, |m| m.score) } else { 0.0 };
        let features = answerability::features(&hits, language, language_sure, terms, intent_score);
        let confidence = if vector.is_some() {
            if hits.is_empty() { 0.0 } else { self.config.answerability.probability(&features) }
        } else {
            hits.first().map_or(0.0, |h| h.score)
        };
        Ok(Assessment { language, language_sure, query: query.to_owned(), intent, hits, features, confidence })
    }

    /// The text searched for a message: with the articles' words added when configured.
    fn query_for(&self, text: &str, language: Language) -> String {
        if self.config.synonyms { synonyms::expand(language, text) } else { text.to_owned() }
    }

    fn thresholds(&self) -> (f32, f32) {
        if self.kb.has_model() {
            (self.config.answer_threshold, self.config.clarify_threshold)
        } else {
            (self.config.keyword_answer_threshold, self.config.keyword_answer_threshold)
        }
    }

    /// Decides many turns, embedding their messages in one batch first (the hub's workers can
    /// hand over the turns that arrived together).
    pub fn turn_batch(&self, inputs: &[TurnInput]) -> Vec<Result<Decision, BotError>> {
        let queries: Vec<String> = inputs
            .iter()
            .map(|i| {
                let text = i.text.trim();
                self.query_for(text, detect_language(text).unwrap_or(i.conversation_language))
            })
            .collect();
        let texts: Vec<&str> = queries.iter().map(String::as_str).collect();
        // When the batch fails, each turn below embeds its message itself and reports the error.
        let _batched = self.prefetch(&texts).is_ok();
        inputs.iter().map(|i| self.turn(i)).collect()
    }

    /// Decides one turn and says why: the decision, with the retrieval and intent of the message
    /// itself (what the decision read for a first message). Nothing is recorded anywhere: this is
    /// what trainers' "try it" runs.
    pub fn explain(&self, input: &TurnInput) -> Result<(Decision, Assessment), BotError> {
        let decision = self.turn(input)?;
        let text = input.text.trim();
        let detected = detect_language(text);
        let language = detected.unwrap_or(input.conversation_language);
        let assessment = self.assess(&self.query_for(text, language), language, detected.is_some())?;
        Ok((decision, assessment))
    }

    /// Decides one turn.
    pub fn turn(&self, input: &TurnInput) -> Result<Decision, BotError> {
        let text = input.text.trim();
        let detected = detect_language(text);
        let language = detected.unwrap_or(input.conversation_language);
        let context = conversation::Context::read(&input.history);
        let hand = |reason: HandOverReason, intent: Option<(&str, f32)>, a: Option<&Assessment>, why: String| {
            self.hand_over(reason, intent, language, text, a, &context, &why)
        };

        // 1. A request for a person, or what a person always handles.
        if asks_for_human(text) {
            return Ok(hand(HandOverReason::AskedForHuman, None, None, "the customer asked for a person".into()));
        }
        if let Some(cue) = always_human_cue(text) {
            let name = cue.category.intent();
            return Ok(hand(
                HandOverReason::AlwaysHuman(name.to_owned()),
                Some((name, 1.0)),
                None,
                format!("{} is always handled by a person (the message says \"{}\")", cue.category.as_str(), cue.cue),
            ));
        }
        let own = self.assess(&self.query_for(text, language), language, detected.is_some())?;
        if let Some(m) = &own.intent {
            if m.name == TALK_TO_HUMAN {
                return Ok(hand(
                    HandOverReason::AskedForHuman,
                    None,
                    Some(&own),
                    "the customer asked for a person".into(),
                ));
            }
            if let Some(i) = self.intents.get(&m.name).filter(|i| i.always_human) {
                return Ok(hand(
                    HandOverReason::AlwaysHuman(i.name.clone()),
                    Some((&m.name, m.score)),
                    Some(&own),
                    format!("{} is always handled by a person (close to \"{}\")", i.name, m.example),
                ));
            }
        }
        let intent_of = |a: &Assessment| a.intent.as_ref().map(|m| (m.name.clone(), m.score));

        // 2. "That didn't help": offer to rephrase once, then a person.
        let after_answer = context.bot_spoke_last && matches!(context.last_bot, Some(BotMessage::Answer(_)));
        if input.failed_answers_so_far >= self.config.max_failed_answers
            || (says_unhelpful(text) && after_answer && context.rephrase_offered)
        {
            return Ok(hand(
                HandOverReason::RepeatedFailure,
                None,
                Some(&own),
                "the customer said the answers did not help, also after rephrasing".into(),
            ));
        }
        if says_unhelpful(text) && after_answer {
            return Ok(Decision::Ask {
                kind: AskKind::Rephrase,
                text: rephrase_text(language),
                language,
                choices: Vec::new(),
                intent: None,
            });
        }

        // 3. A reply to a clarifying question.
        if let (true, Some(BotMessage::Clarify(titles))) = (context.bot_spoke_last, &context.last_bot)
            && let Some(i) = conversation::picked_option(text, titles)
        {
            let question = context.previous_question().unwrap_or(text);
            if let Some(hit) = self.find_by_title(question, &titles[i], language)? {
                return Ok(self.answer(&hit, 1.0, intent_of(&own).map(|(n, _)| n)));
            }
        }

        // 4. The question, or a follow-up read with the previous question.
        let (answer_t, clarify_t) = self.thresholds();
        let mut best = own;
        if context.bot_spoke_last
            && best.confidence < answer_t
            && word_count(text) <= 6
            && let Some(previous) = context.previous_question()
        {
            let first = fold(text).split(|c: char| !c.is_alphanumeric()).find(|w| !w.is_empty()).map(str::to_owned);
            let opener = first.as_deref().is_some_and(|w| FOLLOW_UP_OPENERS.contains(&w));
            if opener || word_count(text) <= 3 {
                let combined = self.assess(
                    &self.query_for(&format!("{previous} {text}"), language),
                    language,
                    best.language_sure,
                )?;
                if combined.confidence > best.confidence {
                    best = combined;
                }
            }
        }
        let after_clarify = context.bot_spoke_last && matches!(context.last_bot, Some(BotMessage::Clarify(_)));
        match best.hits.first() {
            Some(hit) if best.confidence >= answer_t => {
                Ok(self.answer(hit, best.confidence, intent_of(&best).map(|(n, _)| n)))
            }
            Some(_)
                if best.confidence >= clarify_t && !after_clarify && best.hits.len() >= 2 && self.kb.has_model() =>
            {
                let choices: Vec<Choice> = best
                    .hits
                    .iter()
                    .take(2)
                    .map(|h| Choice { article: h.id.clone(), title: h.title.clone() })
                    .collect();
                let titles: Vec<String> = choices.iter().map(|c| c.title.clone()).collect();
                Ok(Decision::Ask {
                    kind: AskKind::Clarify,
                    text: clarify_text(language, &titles),
                    language,
                    choices,
                    intent: intent_of(&best).map(|(n, _)| n),
                })
            }
            _ => {
                let why = match best.hits.first() {
                    None => "no article matches the question".to_owned(),
                    Some(h) if after_clarify => format!(
                        "still unsure after a clarifying question (best article {}, confidence {:.2})",
                        h.id, best.confidence
                    ),
                    Some(h) => format!(
                        "no article answers it confidently (best {}, confidence {:.2} < {:.2})",
                        h.id, best.confidence, answer_t
                    ),
                };
                let intent = intent_of(&best);
                Ok(hand(
                    HandOverReason::LowConfidence,
                    intent.as_ref().map(|(n, s)| (n.as_str(), *s)),
                    Some(&best),
                    why,
                ))
            }
        }
    }

    fn find_by_title(&self, question: &str, title: &str, language: Language) -> Result<Option<Hit>, BotError> {
        let query = format!("{title} {question}");
        let vector = self.embed(&query)?;
        let hits = self.kb.search_with_vector(&query, vector.as_deref(), Some(language), 10)?;
        Ok(hits.into_iter().find(|h| h.title == title))
    }

    fn answer(&self, hit: &Hit, confidence: f32, intent: Option<String>) -> Decision {
        Decision::Answer {
            text: format!("{}\n\n{}", plain_text(&hit.passage), source_line(hit.language, &hit.title)),
            language: hit.language,
            article: hit.id.clone(),
            title: hit.title.clone(),
            confidence,
            intent,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn hand_over(
        &self,
        reason: HandOverReason,
        intent: Option<(&str, f32)>,
        language: Language,
        text: &str,
        assessment: Option<&Assessment>,
        context: &conversation::Context,
        why: &str,
    ) -> Decision {
        let mut skills: Vec<(String, u8)> =
            intent.and_then(|(n, _)| self.intents.get(n)).map(|i| i.skills.clone()).unwrap_or_default();
        skills.push((language_skill(language).to_owned(), LANGUAGE_SKILL_LEVEL));
        let quote = |t: &str| {
            let q: String = t.chars().take(300).collect();
            if t.chars().count() > 300 { format!("\"{q}…\"") } else { format!("\"{q}\"") }
        };
        let mut summary = format!(
            "Intent: {}. Language: {}. Reason: {}.",
            intent.map_or_else(|| "unknown".to_owned(), |(n, s)| format!("{n} ({s:.2})")),
            language.as_str(),
            reason.as_str().replace('_', " "),
        );
        let asked: Vec<String> = context.questions.iter().map(|q| quote(q)).collect();
        if asked.is_empty() {
            summary.push_str(&format!(" Asked: {}.", quote(text)));
        } else {
            summary.push_str(&format!(" Asked: {}; now: {}.", asked.join(", then "), quote(text)));
        }
        if context.answers.is_empty() {
            summary.push_str(" Bot answered: nothing yet.");
        } else {
            summary.push_str(&format!(" Bot answered with: {}.", context.answers.join("; ")));
        }
        summary.push_str(&format!(" Gave up because {why}."));
        if let Some(hit) = assessment.and_then(|a| a.hits.first()) {
            summary.push_str(&format!(" Closest article: {} ({}, score {:.2}).", hit.title, hit.id, hit.score));
        }
        Decision::HandOver {
            reason,
            intent: intent.map(|(n, _)| n.to_owned()),
            language,
            skills,
            summary,
            message: handover_message(language).to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_drop_markdown_marks_but_keep_lists() {
        let passage = "## 2. Turn on data roaming\n- Android: Settings > **Roaming**\n#hashtag stays\n  ### Note\nC# and snake__case 5 # 3";
        assert_eq!(
            plain_text(passage),
            "2. Turn on data roaming\n- Android: Settings > Roaming\n#hashtag stays\nNote\nC# and snake__case 5 # 3"
        );
        assert_eq!(plain_text(""), "");
        assert_eq!(plain_text("#"), "#");
    }

    #[test]
    fn requests_for_a_person_are_recognised() {
        for t in [
            "agent please",
            "Agent",
            "can I speak to someone?",
            "I want to talk to a human",
            "quiero hablar con una persona",
            "pásame con un agente",
            "falar com um atendente",
            "quero falar com uma pessoa",
        ] {
            assert!(asks_for_human(t), "{t:?}");
        }
        for t in ["my personal data", "the agent told me the refund was done yesterday", "how do I turn on roaming?"] {
            assert!(!asks_for_human(t), "{t:?}");
        }
    }

    #[test]
    fn starter_intents_are_valid() {
        let intents = starter_intents().unwrap();
        assert_eq!(intents.len(), 18);
        for name in
            ["bill_dispute", "cancel_service", "fraud_report", "complaint", "legal_threat", "vulnerable_customer"]
        {
            assert!(intents.iter().any(|i| i.name == name && i.always_human), "{name}");
        }
        intent::CompiledIntents::new(intents, None).unwrap();
    }

    #[test]
    fn hand_over_messages_have_the_wait_placeholder() {
        for l in Language::ALL {
            assert!(handover_message(*l).contains("{wait}"));
        }
    }
}
