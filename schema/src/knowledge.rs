//! The knowledge base as the store keeps it (every version of every document), the bot's
//! answers with trainers' verdicts, and the questions it could not answer.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use std::collections::BTreeMap;

use crate::ids::{AgentId, ConversationId, DocumentId, MessageId, UnansweredId};
use crate::values::{
    DocumentKind, DocumentStatus, IntentName, Language, SkillLevel, SkillName, ValidationError, Verdict,
};

/// Longest title, in characters.
pub const MAX_TITLE_CHARS: usize = 200;
/// Longest body, in characters.
pub const MAX_BODY_CHARS: usize = 20_000;
/// Most question phrasings of a Q&A pair, and most tags.
pub const MAX_PHRASINGS: usize = 50;
/// Longest phrasing or tag, in characters.
pub const MAX_PHRASING_CHARS: usize = 500;

/// The content of a document: what a trainer writes, validated by [`DocumentContent::validate`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentContent {
    pub kind: DocumentKind,
    pub language: Language,
    pub title: String,
    /// Markdown for an article; the answer of a Q&A pair.
    pub body: String,
    /// The phrasings of a Q&A pair's question (at least one); for an article, the questions
    /// trainers merged into it (often none).
    #[serde(default)]
    pub questions: Vec<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    pub status: DocumentStatus,
}

fn check_len(field: &'static str, s: &str, max: usize) -> Result<(), ValidationError> {
    if s.trim().is_empty() {
        return Err(ValidationError::Empty { field });
    }
    let actual = s.chars().count();
    if actual > max {
        return Err(ValidationError::TooLong { field, max, actual });
    }
    Ok(())
}

impl DocumentContent {
    /// Trims and checks every field.
    ///
    /// # Errors
    /// An empty or overlong field, a Q&A pair without a question, or an article with questions.
    pub fn validate(mut self) -> Result<Self, ValidationError> {
        self.title = self.title.trim().to_owned();
        self.body = self.body.trim().to_owned();
        check_len("title", &self.title, MAX_TITLE_CHARS)?;
        check_len("body", &self.body, MAX_BODY_CHARS)?;
        for (field, list) in [("questions", &mut self.questions), ("tags", &mut self.tags)] {
            for item in list.iter_mut() {
                *item = item.trim().to_owned();
                check_len(field, item, MAX_PHRASING_CHARS)?;
            }
            let mut seen = std::collections::HashSet::new();
            list.retain(|x| seen.insert(x.to_lowercase()));
            if list.len() > MAX_PHRASINGS {
                return Err(ValidationError::Invalid {
                    field,
                    reason: format!("at most {MAX_PHRASINGS} entries, got {}", list.len()),
                });
            }
        }
        // An article may have phrasings too (questions merged into it): they lead searches to it.
        if self.kind == DocumentKind::Qa && self.questions.is_empty() {
            return Err(ValidationError::Empty { field: "questions" });
        }
        Ok(self)
    }
}

/// A knowledge-base document, at its current version.
#[derive(Clone, Debug, PartialEq)]
pub struct Document {
    pub id: DocumentId,
    pub content: DocumentContent,
    /// 1 when created; +1 on every change.
    pub version: i64,
    /// Where an imported document came from (e.g. `demo/roaming-on.md`).
    pub source: Option<String>,
    pub updated_by: Option<AgentId>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// One past (or the current) version of a document.
#[derive(Clone, Debug, PartialEq)]
pub struct DocumentVersion {
    pub document_id: DocumentId,
    pub version: i64,
    pub content: DocumentContent,
    pub edited_by: Option<AgentId>,
    pub edited_at: OffsetDateTime,
}

/// A bot answer, as trainers review it.
#[derive(Clone, Debug, PartialEq)]
pub struct BotAnswer {
    pub message_id: MessageId,
    pub conversation_id: ConversationId,
    pub question: String,
    pub language: Language,
    pub intent: Option<String>,
    pub document_id: DocumentId,
    pub confidence: f64,
    pub verdict: Option<Verdict>,
    pub judged_by: Option<AgentId>,
    pub judged_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
    /// The customer's next message said it did not help.
    pub unhelpful: bool,
}

/// Most example phrasings of an intent, in each language.
pub const MAX_INTENT_EXAMPLES: usize = 100;
/// Longest example phrasing, in characters.
pub const MAX_EXAMPLE_CHARS: usize = 300;
/// Most skills an intent asks for.
pub const MAX_INTENT_SKILLS: usize = 10;

/// An intent as trainers edit it, validated by [`IntentContent::validate`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IntentContent {
    /// Example customer phrasings, by language.
    pub examples: BTreeMap<Language, Vec<String>>,
    /// A person always handles it (refunds, cancellations).
    pub always_human: bool,
    /// The skills an agent needs for it.
    pub skills: Vec<(SkillName, SkillLevel)>,
}

impl IntentContent {
    /// Trims the examples, drops repeated ones, and checks the bounds.
    ///
    /// # Errors
    /// No example at all, an empty or overlong example, too many examples or skills, or a skill
    /// named twice.
    pub fn validate(mut self) -> Result<Self, ValidationError> {
        for list in self.examples.values_mut() {
            for item in list.iter_mut() {
                *item = item.trim().to_owned();
                check_len("examples", item, MAX_EXAMPLE_CHARS)?;
            }
            let mut seen = std::collections::HashSet::new();
            list.retain(|x| seen.insert(x.to_lowercase()));
            if list.len() > MAX_INTENT_EXAMPLES {
                return Err(ValidationError::Invalid {
                    field: "examples",
                    reason: format!("at most {MAX_INTENT_EXAMPLES} per language, got {}", list.len()),
                });
            }
        }
        self.examples.retain(|_, list| !list.is_empty());
        if self.examples.is_empty() {
            return Err(ValidationError::Empty { field: "examples" });
        }
        if self.skills.len() > MAX_INTENT_SKILLS {
            return Err(ValidationError::Invalid {
                field: "skills",
                reason: format!("at most {MAX_INTENT_SKILLS}, got {}", self.skills.len()),
            });
        }
        let mut names = std::collections::HashSet::new();
        if let Some((dup, _)) = self.skills.iter().find(|(s, _)| !names.insert(s.clone())) {
            return Err(ValidationError::Invalid { field: "skills", reason: format!("{dup} is listed twice") });
        }
        Ok(self)
    }
}

/// A bot intent as the store keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredIntent {
    pub name: IntentName,
    pub content: IntentContent,
    /// `None`: as built in.
    pub updated_by: Option<AgentId>,
    pub updated_at: OffsetDateTime,
}

/// A customer question the bot could not answer (or answered wrongly).
#[derive(Clone, Debug, PartialEq)]
pub struct Unanswered {
    pub id: UnansweredId,
    pub conversation_id: ConversationId,
    pub message_id: MessageId,
    pub question: String,
    pub language: Language,
    /// `low_confidence`, `repeated_failure` or `marked_wrong`.
    pub reason: String,
    pub resolved_document_id: Option<DocumentId>,
    pub resolved_by: Option<AgentId>,
    pub created_at: OffsetDateTime,
    pub resolved_at: Option<OffsetDateTime>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn qa(questions: &[&str]) -> DocumentContent {
        DocumentContent {
            kind: DocumentKind::Qa,
            language: Language::Es,
            title: " Activar roaming ".into(),
            body: "Ajustes > Datos móviles > Itinerancia.".into(),
            questions: questions.iter().map(|q| (*q).to_owned()).collect(),
            tags: vec!["roaming".into(), "Roaming ".into()],
            status: DocumentStatus::Published,
        }
    }

    #[test]
    fn intents_are_trimmed_deduplicated_and_bounded() {
        let skill = |s: &str, l: i64| (s.parse::<SkillName>().unwrap(), SkillLevel::try_from(l).unwrap());
        let content = |en: &[&str], skills: Vec<(SkillName, SkillLevel)>| IntentContent {
            examples: [(Language::En, en.iter().map(|e| (*e).to_owned()).collect()), (Language::Pt, vec![])]
                .into_iter()
                .collect(),
            always_human: false,
            skills,
        };
        let ok = content(&[" no signal ", "No signal", "outage"], vec![skill("tech", 4)]).validate().unwrap();
        assert_eq!(ok.examples.len(), 1, "an empty language is dropped");
        assert_eq!(ok.examples[&Language::En], ["no signal", "outage"]);
        assert!(matches!(content(&[], vec![]).validate(), Err(ValidationError::Empty { field: "examples" })));
        assert!(matches!(content(&["  "], vec![]).validate(), Err(ValidationError::Empty { field: "examples" })));
        let long = "x".repeat(MAX_EXAMPLE_CHARS + 1);
        assert!(matches!(content(&[&long], vec![]).validate(), Err(ValidationError::TooLong { .. })));
        let twice = content(&["a"], vec![skill("tech", 2), skill("tech", 3)]);
        assert!(matches!(twice.validate(), Err(ValidationError::Invalid { field: "skills", .. })));
        let many: Vec<String> = (0..=MAX_INTENT_EXAMPLES).map(|i| format!("e{i}")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        assert!(matches!(content(&many, vec![]).validate(), Err(ValidationError::Invalid { field: "examples", .. })));
    }

    #[test]
    fn content_is_trimmed_deduplicated_and_checked() {
        let ok =
            qa(&["¿Cómo activo el roaming?", " ¿cómo activo el roaming? ", "roaming en Francia"]).validate().unwrap();
        assert_eq!(ok.title, "Activar roaming");
        assert_eq!(ok.questions.len(), 2);
        assert_eq!(ok.tags, ["roaming"]);
        assert!(matches!(qa(&[]).validate(), Err(ValidationError::Empty { field: "questions" })));
        assert!(matches!(qa(&["  "]).validate(), Err(ValidationError::Empty { field: "questions" })));
        let mut article = qa(&["x"]);
        article.kind = DocumentKind::Article;
        assert_eq!(article.validate().unwrap().questions, ["x"], "an article may have phrasings");
        let mut long = qa(&["x"]);
        long.title = "t".repeat(MAX_TITLE_CHARS + 1);
        assert!(matches!(long.validate(), Err(ValidationError::TooLong { field: "title", .. })));
        let many: Vec<String> = (0..=MAX_PHRASINGS).map(|i| format!("q{i}")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        assert!(matches!(qa(&many).validate(), Err(ValidationError::Invalid { field: "questions", .. })));
    }
}
