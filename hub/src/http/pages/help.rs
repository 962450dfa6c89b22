//! The help article page: a published knowledge-base document rendered from Markdown to HTML.
//!
//! Articles are written by trainers, but a page customers open must not run anything a trainer
//! (or whoever took over a trainer's account) typed: raw HTML in the Markdown is shown as text,
//! and links and images keep only web, mail and telephone addresses or paths on the hub. The CSP
//! of the page (no script at all) is the second line of defence.

use actix_web::http::StatusCode;
use pulldown_cmark::{CowStr, Event, Options, Parser, Tag, html};
use schema::Language;
use schema::knowledge::Document;

/// The whole page of one article.
pub fn page(doc: &Document) -> String {
    let c = &doc.content;
    let mut out = String::with_capacity(c.body.len() * 2 + 512);
    head(&mut out, c.language, &c.title);
    out.push_str("<main><article><h1>");
    escape(&mut out, &c.title);
    out.push_str("</h1>\n");
    html::push_html(
        &mut out,
        Parser::new_ext(&c.body, Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH).map(safe),
    );
    out.push_str("</article></main></body></html>\n");
    out
}

/// The page for an article that cannot be shown.
pub fn failure(status: StatusCode) -> String {
    let title = if status == StatusCode::NOT_FOUND {
        "This help article does not exist or is no longer published."
    } else {
        "The help article cannot be shown right now. Please try again shortly."
    };
    let mut out = String::with_capacity(512);
    head(&mut out, Language::En, title);
    out.push_str("<main><h1>");
    escape(&mut out, title);
    out.push_str("</h1></main></body></html>\n");
    out
}

pub(super) fn head(out: &mut String, lang: Language, title: &str) {
    out.push_str("<!doctype html>\n<html lang=\"");
    out.push_str(lang.as_str());
    out.push_str(
        "\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"robots\" content=\"noindex\"><link rel=\"stylesheet\" href=\"/help.css\"><title>",
    );
    escape(out, title);
    out.push_str("</title></head><body>");
}

/// One Markdown event as it may appear on the page.
fn safe(event: Event<'_>) -> Event<'_> {
    match event {
        Event::Html(raw) | Event::InlineHtml(raw) => Event::Text(raw),
        Event::Start(Tag::Link { link_type, dest_url, title, id }) => {
            Event::Start(Tag::Link { link_type, dest_url: safe_url(dest_url), title, id })
        }
        Event::Start(Tag::Image { link_type, dest_url, title, id }) => {
            Event::Start(Tag::Image { link_type, dest_url: safe_url(dest_url), title, id })
        }
        other => other,
    }
}

/// `url` when it is http(s), mailto, tel or a path without a scheme; `#` otherwise (so
/// `javascript:` and `data:` never reach an `href`).
fn safe_url(url: CowStr<'_>) -> CowStr<'_> {
    let trimmed = url.trim_start();
    // A scheme is what comes before the first ':' when no '/', '?' or '#' comes earlier.
    let scheme = trimmed.find([':', '/', '?', '#']).filter(|&i| trimmed[i..].starts_with(':')).map(|i| &trimmed[..i]);
    let allowed = match scheme {
        None => !trimmed.starts_with("//") && !trimmed.starts_with("\\\\"),
        Some(s) => ["http", "https", "mailto", "tel"].iter().any(|a| s.eq_ignore_ascii_case(a)),
    };
    if allowed { url } else { CowStr::Borrowed("#") }
}

/// Appends `text` HTML-escaped (by the Markdown renderer's own escaping).
pub(super) fn escape(out: &mut String, text: &str) {
    html::push_html(out, std::iter::once(Event::Text(CowStr::Borrowed(text))));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(md: &str) -> String {
        let mut out = String::new();
        html::push_html(&mut out, Parser::new(md).map(safe));
        out
    }

    #[test]
    fn raw_html_is_text() {
        let out = render("Hi <img src=x onerror=alert(1)> there\n\n<script>alert(2)</script>\n");
        assert!(!out.contains("<img"), "{out}");
        assert!(!out.contains("<script"), "{out}");
        assert!(out.contains("&lt;script&gt;"), "{out}");
    }

    #[test]
    fn only_safe_links_survive() {
        for bad in ["javascript:alert(1)", "JaVaScRiPt:alert(1)", " data:text/html,x", "vbscript:x", "//evil.example/x"]
        {
            let out = render(&format!("[x]({bad}) ![y]({bad})"));
            assert!(
                !out.to_ascii_lowercase().contains("script:") && !out.contains("data:") && !out.contains("//evil"),
                "{bad}: {out}"
            );
        }
        for good in
            ["https://example.com/a", "mailto:help@example.com", "tel:+15550100", "/help/x", "other#frag", "?q=1"]
        {
            let out = render(&format!("[x]({good})"));
            assert!(out.contains(&format!("href=\"{}\"", good.replace('&', "&amp;"))), "{good}: {out}");
        }
    }

    #[test]
    fn titles_are_escaped() {
        let mut out = String::new();
        head(&mut out, Language::Es, "<b>\"Roaming\" & más</b>");
        // Quotes may stay: the title only ever goes into text, never into an attribute.
        assert!(out.contains("<title>&lt;b&gt;\"Roaming\" &amp; más&lt;/b&gt;</title>"), "{out}");
        assert!(out.contains("lang=\"es\""));
    }
}
