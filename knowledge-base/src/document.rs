//! Documents: what the knowledge base holds.

use std::fmt;

use schema::Language;
use serde::{Deserialize, Serialize};

use crate::KbError;

/// A document's id. The hub uses its store's article id; the demo uses readable slugs.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DocId(String);

impl DocId {
    /// A document id; it must not be empty or longer than 200 bytes.
    pub fn new(id: impl Into<String>) -> Result<Self, KbError> {
        let id = id.into();
        let trimmed = id.trim();
        if trimmed.is_empty() {
            return Err(KbError::InvalidDocument { id: String::new(), reason: "the id is empty".into() });
        }
        if trimmed.len() > 200 {
            return Err(KbError::InvalidDocument {
                id: trimmed.chars().take(40).collect(),
                reason: "the id is longer than 200 bytes".into(),
            });
        }
        Ok(Self(trimmed.to_owned()))
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DocId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What sort of document it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DocKind {
    /// A help article in Markdown.
    Article,
    /// A question (in several phrasings) with one answer.
    #[serde(alias = "qa", alias = "q&a")]
    QaPair,
}

impl DocKind {
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Article => "article",
            Self::QaPair => "qa_pair",
        }
    }
}

/// One published document. For articles `body` is Markdown and `questions` is empty; for Q&A
/// pairs `body` is the answer and `questions` holds the phrasings customers use.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Document {
    pub id: DocId,
    pub kind: DocKind,
    pub language: Language,
    pub title: String,
    pub body: String,
    #[serde(default)]
    pub questions: Vec<String>,
    #[serde(default)]
    pub tags: Vec<String>,
}

impl Document {
    /// Checks what the index relies on: a title, a body, and at least one question for a Q&A pair.
    pub fn validate(&self) -> Result<(), KbError> {
        let bad = |reason: &str| Err(KbError::InvalidDocument { id: self.id.to_string(), reason: reason.into() });
        if self.title.trim().is_empty() {
            return bad("the title is empty");
        }
        if self.body.trim().is_empty() {
            return bad("the body is empty");
        }
        if self.kind == DocKind::QaPair && self.questions.iter().all(|q| q.trim().is_empty()) {
            return bad("a Q&A pair needs at least one question");
        }
        Ok(())
    }

    /// The passages a hit can show: the answer of a Q&A pair, or the sections of an article (a
    /// Markdown heading stays with the paragraphs under it; very short paragraphs are merged with
    /// the next one).
    #[must_use]
    pub fn passages(&self) -> Vec<String> {
        if self.kind == DocKind::QaPair {
            return vec![self.body.trim().to_owned()];
        }
        let mut out: Vec<String> = Vec::new();
        let mut current = String::new();
        for para in self.body.split("\n\n").map(str::trim).filter(|p| !p.is_empty()) {
            if !current.is_empty() {
                current.push_str("\n\n");
            }
            current.push_str(para);
            let heading_only = para.starts_with('#') && !para.contains('\n');
            if !heading_only && current.chars().count() >= 160 {
                out.push(std::mem::take(&mut current));
            }
        }
        if !current.is_empty() {
            match out.last_mut() {
                Some(last) if current.chars().count() < 80 => {
                    last.push_str("\n\n");
                    last.push_str(&current);
                }
                _ => out.push(current),
            }
        }
        if out.is_empty() {
            out.push(self.body.trim().to_owned());
        }
        out
    }
}
