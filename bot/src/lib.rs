//! # bot
//!
//! Pure decision logic for one customer turn: which language, which intent, whether the customer
//! asks for a person, and then either an answer from the knowledge base with a confidence or a
//! hand-over with the skills an agent needs and a summary. It sends nothing: the hub carries the
//! [`Decision`] out.

mod cluster;
mod feedback;
mod intent;
mod language;

use std::sync::Arc;

use knowledge_base::{DocId, Hit, KbError, KnowledgeBase, Language};

pub use cluster::{SAME_QUESTION, group_questions};
pub use feedback::says_unhelpful;
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
    /// Answer when the best hit's fused score is at least this (see `BENCHMARKS-kb.md` for how
    /// it was chosen from the evaluation set).
    pub answer_threshold: f32,
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
}

impl Default for BotConfig {
    fn default() -> Self {
        Self {
            answer_threshold: 0.30,
            keyword_answer_threshold: 0.50,
            intent_threshold: 0.62,
            intent_threshold_non_english: 0.75,
            keyword_intent_threshold: 0.6,
            max_failed_answers: 2,
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
    /// Give the conversation to an agent.
    HandOver {
        reason: HandOverReason,
        intent: Option<String>,
        language: Language,
        /// Skills the agent needs: the intent's and the language's (e.g. billing and spanish).
        skills: Vec<(String, u8)>,
        /// For the agent: intent, language, reason, the customer's words, the best article.
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

/// The bot. `Send + Sync`; one per knowledge base, shared by all conversations.
#[derive(Debug)]
pub struct Bot {
    kb: Arc<KnowledgeBase>,
    intents: intent::CompiledIntents,
    config: BotConfig,
}

impl Bot {
    /// A bot over a knowledge base with these intents (embedded now when the KB has a model).
    pub fn new(kb: Arc<KnowledgeBase>, intents: Vec<Intent>, config: BotConfig) -> Result<Self, BotError> {
        let intents = intent::CompiledIntents::new(intents, kb.embedder().map(AsRef::as_ref))?;
        Ok(Self { kb, intents, config })
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

    /// The recognised intent of a text (thresholds applied), embedding it if there is a model.
    pub fn detect_intent(&self, text: &str, language: Language) -> Result<Option<IntentMatch>, BotError> {
        let vector = self.kb.embed_query(text)?;
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

    /// Decides one turn.
    pub fn turn(&self, input: &TurnInput) -> Result<Decision, BotError> {
        let text = input.text.trim();
        let language = detect_language(text).unwrap_or(input.conversation_language);
        let vector = self.kb.embed_query(text)?;
        let intent = self.intent_for(text, language, vector.as_deref());
        let intent_name = intent.as_ref().map(|m| m.name.clone());
        let hits = if text.is_empty() {
            Vec::new()
        } else {
            self.kb.search_with_vector(text, vector.as_deref(), Some(language), 3)?
        };
        let best = hits.into_iter().next();
        let hand_over = |reason: HandOverReason| self.hand_over(reason, intent.as_ref(), language, text, best.as_ref());

        if asks_for_human(text) || intent_name.as_deref() == Some(TALK_TO_HUMAN) {
            return Ok(hand_over(HandOverReason::AskedForHuman));
        }
        if let Some(i) = intent_name.as_deref().and_then(|n| self.intents.get(n)).filter(|i| i.always_human) {
            return Ok(hand_over(HandOverReason::AlwaysHuman(i.name.clone())));
        }
        if input.failed_answers_so_far >= self.config.max_failed_answers {
            return Ok(hand_over(HandOverReason::RepeatedFailure));
        }
        let threshold =
            if self.kb.has_model() { self.config.answer_threshold } else { self.config.keyword_answer_threshold };
        match &best {
            Some(hit) if hit.score >= threshold => Ok(Decision::Answer {
                text: format!("{}\n\n{}", plain_text(&hit.passage), source_line(hit.language, &hit.title)),
                language: hit.language,
                article: hit.id.clone(),
                title: hit.title.clone(),
                confidence: hit.score,
                intent: intent_name,
            }),
            _ => Ok(hand_over(HandOverReason::LowConfidence)),
        }
    }

    fn hand_over(
        &self,
        reason: HandOverReason,
        intent: Option<&IntentMatch>,
        language: Language,
        text: &str,
        best: Option<&Hit>,
    ) -> Decision {
        let mut skills: Vec<(String, u8)> =
            intent.and_then(|m| self.intents.get(&m.name)).map(|i| i.skills.clone()).unwrap_or_default();
        skills.push((language_skill(language).to_owned(), LANGUAGE_SKILL_LEVEL));
        let mut summary = format!(
            "Intent: {}. Language: {}. Reason: {}.",
            intent.map_or_else(|| "unknown".to_owned(), |m| format!("{} ({:.2})", m.name, m.score)),
            language.as_str(),
            reason.as_str().replace('_', " "),
        );
        let quoted: String = text.chars().take(300).collect();
        let ellipsis = if text.chars().count() > 300 { "…" } else { "" };
        summary.push_str(&format!(" Customer: \"{quoted}{ellipsis}\""));
        if let Some(hit) = best {
            summary.push_str(&format!(" Closest article: {} ({}, score {:.2}).", hit.title, hit.id, hit.score));
        }
        Decision::HandOver {
            reason,
            intent: intent.map(|m| m.name.clone()),
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
        assert_eq!(intents.len(), 10);
        for name in ["bill_dispute", "cancel_service"] {
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
