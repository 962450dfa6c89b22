//! Reading documents from files: JSON (one document or an array of them) and Markdown with
//! front matter. This is what `switchboard kb import DIR` and the bundled demo use.
//!
//! Markdown front matter is a small YAML subset between `---` lines:
//!
//! ```text
//! ---
//! id: en-roaming-on            (optional; the file name without extension otherwise)
//! title: Turning data roaming on
//! language: en                 (en, es or pt)
//! kind: article                (article or qa; optional, article by default)
//! tags: [roaming, travel]      (or one `- tag` per line)
//! questions:                   (Q&A pairs: the phrasings; the body is the answer)
//!   - How do I turn on roaming?
//! ---
//! The body in Markdown.
//! ```

use std::path::{Path, PathBuf};

use schema::Language;

use crate::KbError;
use crate::document::{DocId, DocKind, Document};

/// The bundled demo documents (compiled into the binary).
pub fn demo_documents() -> Result<Vec<Document>, KbError> {
    const FILES: [(&str, &str); 6] = [
        ("demo/en-billing.json", include_str!("../demo/en-billing.json")),
        ("demo/en-mobile.json", include_str!("../demo/en-mobile.json")),
        ("demo/en-home.json", include_str!("../demo/en-home.json")),
        ("demo/en-account.json", include_str!("../demo/en-account.json")),
        ("demo/es.json", include_str!("../demo/es.json")),
        ("demo/pt.json", include_str!("../demo/pt.json")),
    ];
    let mut out = Vec::new();
    for (name, text) in FILES {
        out.extend(parse_json(text, Path::new(name))?);
    }
    Ok(out)
}

/// Reads every `.json`, `.md` and `.markdown` file of a folder (not recursively), in file-name
/// order. Two documents with one id are refused.
pub fn load_dir(dir: impl AsRef<Path>) -> Result<Vec<Document>, KbError> {
    let dir = dir.as_ref();
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| KbError::Io { path, source }
    };
    let mut paths: Vec<PathBuf> = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let path = entry.map_err(io(dir))?.path();
        let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
        if path.is_file() && matches!(ext.as_deref(), Some("json" | "md" | "markdown")) {
            paths.push(path);
        }
    }
    paths.sort();
    let mut out: Vec<Document> = Vec::new();
    for path in paths {
        let text = std::fs::read_to_string(&path).map_err(io(&path))?;
        let docs = if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("json")) {
            parse_json(&text, &path)?
        } else {
            vec![parse_markdown(&text, &path)?]
        };
        for d in docs {
            if out.iter().any(|o| o.id == d.id) {
                return Err(KbError::Parse { path: path.clone(), reason: format!("duplicate document id {}", d.id) });
            }
            out.push(d);
        }
    }
    Ok(out)
}

/// Parses JSON: one document object or an array of them; each is validated.
pub fn parse_json(text: &str, origin: &Path) -> Result<Vec<Document>, KbError> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| KbError::Parse { path: origin.to_path_buf(), reason: e.to_string() })?;
    let docs: Vec<Document> = match value {
        serde_json::Value::Array(_) => serde_json::from_value(value),
        other => serde_json::from_value(other).map(|d| vec![d]),
    }
    .map_err(|e| KbError::Parse { path: origin.to_path_buf(), reason: e.to_string() })?;
    for d in &docs {
        d.validate().map_err(|e| KbError::Parse { path: origin.to_path_buf(), reason: e.to_string() })?;
    }
    Ok(docs)
}

/// Parses one Markdown document with front matter (see the module docs).
pub fn parse_markdown(text: &str, origin: &Path) -> Result<Document, KbError> {
    let err = |reason: String| KbError::Parse { path: origin.to_path_buf(), reason };
    let text = text.trim_start_matches('\u{feff}');
    let mut lines = text.lines();
    if lines.next().map(str::trim_end) != Some("---") {
        return Err(err("front matter is missing: the file must start with a line `---`".into()));
    }
    let mut id = None;
    let mut title = None;
    let mut language = None;
    let mut kind = DocKind::Article;
    let mut tags = Vec::new();
    let mut questions = Vec::new();
    let mut list_key: Option<String> = None;
    let mut closed = false;
    for (n, line) in lines.by_ref().enumerate() {
        let lineno = n + 2;
        if line.trim_end() == "---" {
            closed = true;
            break;
        }
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        if let Some(item) = line.trim_start().strip_prefix("- ") {
            let item = unquote(item.trim()).to_owned();
            match list_key.as_deref() {
                Some("tags") => tags.push(item),
                Some("questions") => questions.push(item),
                _ => return Err(err(format!("line {lineno}: a list item outside `tags:` or `questions:`"))),
            }
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            return Err(err(format!("line {lineno}: expected `key: value`")));
        };
        let key = key.trim().to_ascii_lowercase();
        let value = value.trim();
        list_key = None;
        match key.as_str() {
            "id" => id = Some(unquote(value).to_owned()),
            "title" => title = Some(unquote(value).to_owned()),
            "language" | "lang" => {
                language =
                    Some(unquote(value).parse::<Language>().map_err(|e| err(format!("line {lineno}: language: {e}")))?);
            }
            "kind" => {
                kind = match unquote(value) {
                    "article" => DocKind::Article,
                    "qa" | "qa_pair" | "q&a" => DocKind::QaPair,
                    other => return Err(err(format!("line {lineno}: kind {other:?} is not article or qa"))),
                };
            }
            "tags" | "questions" => {
                let items = if value.is_empty() {
                    list_key = Some(key.clone());
                    Vec::new()
                } else {
                    inline_list(value).ok_or_else(|| err(format!("line {lineno}: {key}: expected [a, b] or a list")))?
                };
                if key == "tags" { tags.extend(items) } else { questions.extend(items) }
            }
            other => return Err(err(format!("line {lineno}: unknown front matter key {other:?}"))),
        }
    }
    if !closed {
        return Err(err("front matter is not closed with a line `---`".into()));
    }
    let body = lines.collect::<Vec<_>>().join("\n").trim().to_owned();
    let stem = origin.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_owned();
    let doc = Document {
        id: DocId::new(id.unwrap_or(stem)).map_err(|e| err(e.to_string()))?,
        kind,
        language: language.ok_or_else(|| err("front matter needs `language:` (en, es or pt)".into()))?,
        title: title.ok_or_else(|| err("front matter needs `title:`".into()))?,
        body,
        questions,
        tags,
    };
    doc.validate().map_err(|e| err(e.to_string()))?;
    Ok(doc)
}

fn unquote(s: &str) -> &str {
    let s = s.trim();
    for q in ['"', '\''] {
        if let Some(inner) = s.strip_prefix(q).and_then(|r| r.strip_suffix(q)) {
            return inner;
        }
    }
    s
}

fn inline_list(value: &str) -> Option<Vec<String>> {
    let inner = value.strip_prefix('[')?.strip_suffix(']')?;
    Some(inner.split(',').map(|s| unquote(s).to_owned()).filter(|s| !s.is_empty()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_front_matter_is_parsed_and_errors_are_typed() {
        let md = "---\ntitle: \"PUK codes\"\nlanguage: en\nkind: qa\ntags: [sim, puk]\nquestions:\n  - My phone asks for a PUK\n  - SIM blocked\n---\nFind the PUK in the app.\n";
        let d = parse_markdown(md, Path::new("x/puk.md")).unwrap();
        assert_eq!(d.id.as_str(), "puk");
        assert_eq!(d.kind, DocKind::QaPair);
        assert_eq!(d.tags, vec!["sim", "puk"]);
        assert_eq!(d.questions.len(), 2);
        assert_eq!(d.body, "Find the PUK in the app.");
        for bad in [
            "title: x\n",
            "---\ntitle: x\nlanguage: fr\n---\nbody",
            "---\ntitle: x\nlanguage: en\n",
            "---\nlanguage: en\n---\nbody",
            "---\ntitle: x\nlanguage: en\nkind: qa\n---\nan answer without questions",
            "---\ntitle: x\nlanguage: en\ncolour: red\n---\nbody",
        ] {
            assert!(matches!(parse_markdown(bad, Path::new("b.md")), Err(KbError::Parse { .. })), "{bad:?}");
        }
    }

    #[test]
    fn demo_documents_are_valid_and_cover_three_languages() {
        let docs = demo_documents().unwrap();
        assert!(docs.len() >= 50, "{} demo documents", docs.len());
        let count = |l| docs.iter().filter(|d| d.language == l).count();
        assert!(count(Language::Es) >= 10 && count(Language::Pt) >= 8);
        let mut ids: Vec<&str> = docs.iter().map(|d| d.id.as_str()).collect();
        ids.sort_unstable();
        let n = ids.len();
        ids.dedup();
        assert_eq!(ids.len(), n, "duplicate demo ids");
    }
}
