//! HTML to readable text and text to safe HTML.
//!
//! A deliberately small converter, not a browser: it drops `<head>`, `<script>`, `<style>` and
//! comments, turns block elements into line breaks, lists into `- ` items, `<blockquote>` into
//! `> ` quoted lines (so quoted history in HTML-only mail is trimmed like plain-text quoting),
//! keeps link targets that differ from their text, and decodes the common character entities.
//! It works on any input without panicking: malformed markup degrades to text.

/// Elements whose content is never shown.
const HIDDEN: &[&str] = &["head", "script", "style", "title", "template", "noscript", "object", "svg"];

/// Elements that start and end a paragraph.
const PARAGRAPH: &[&str] =
    &["p", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol", "dl", "pre", "hr", "address", "figure"];

/// Elements that start and end a line.
const LINE: &[&str] = &[
    "div", "tr", "li", "dt", "dd", "section", "article", "header", "footer", "main", "nav", "aside", "form", "center",
    "caption", "tbody", "thead", "tfoot", "fieldset", "details", "summary",
];

/// Converts an HTML document or fragment to plain text.
#[must_use]
pub fn html_to_text(html: &str) -> String {
    let mut out = Writer::default();
    let mut rest = html;
    // The href of the `<a>` being rendered, and where its text started in `out`.
    let mut link: Option<(String, usize)> = None;
    while !rest.is_empty() {
        let Some(lt) = rest.find('<') else {
            out.text(rest);
            break;
        };
        out.text(&rest[..lt]);
        rest = &rest[lt..];
        if let Some(after) = rest.strip_prefix("<!--") {
            rest = after.find("-->").map_or("", |end| &after[end + 3..]);
            continue;
        }
        let Some(tag) = Tag::parse(rest) else {
            // A `<` that does not open a tag ("a < b") is text.
            out.text("<");
            rest = &rest[1..];
            continue;
        };
        rest = &rest[tag.len..];
        let name = tag.name.as_str();
        if !tag.closing && HIDDEN.contains(&name) {
            rest = skip_past_closing(rest, name);
            continue;
        }
        match name {
            "br" => out.newline(),
            "li" if !tag.closing => {
                out.line_break();
                out.text_raw("- ");
            }
            "td" | "th" if !tag.closing => out.text_raw(" "),
            "blockquote" => {
                out.line_break();
                if tag.closing {
                    out.quote_depth = out.quote_depth.saturating_sub(1);
                } else {
                    out.quote_depth = out.quote_depth.saturating_add(1).min(16);
                }
            }
            "pre" => {
                out.paragraph_break();
                out.pre = !tag.closing;
            }
            "a" if !tag.closing => {
                link = tag.href.map(|href| (href, out.text.len()));
            }
            "a" => {
                if let Some((href, start)) = link.take() {
                    let shown = out.text.get(start..).unwrap_or("").trim();
                    let target = href.strip_prefix("mailto:").unwrap_or(&href);
                    let useful =
                        href.starts_with("http://") || href.starts_with("https://") || href.starts_with("mailto:");
                    if useful && !shown.is_empty() && shown != target && shown != href {
                        out.text_raw(&format!(" <{target}>"));
                    }
                }
            }
            n if PARAGRAPH.contains(&n) => out.paragraph_break(),
            n if LINE.contains(&n) => out.line_break(),
            _ => {}
        }
    }
    out.finish()
}

/// Escapes plain text into an HTML document: blank lines separate paragraphs, single line
/// breaks become `<br>`.
#[must_use]
pub fn text_to_html(text: &str) -> String {
    let text = text.replace("\r\n", "\n");
    let mut html = String::with_capacity(text.len() + text.len() / 8 + 64);
    html.push_str("<!DOCTYPE html>\n<html><body>\n");
    for para in text.split("\n\n").map(|p| p.trim_matches('\n')).filter(|p| !p.trim().is_empty()) {
        html.push_str("<p>");
        for (i, line) in para.split('\n').enumerate() {
            if i > 0 {
                html.push_str("<br>\n");
            }
            escape_into(line, &mut html);
        }
        html.push_str("</p>\n");
    }
    html.push_str("</body></html>\n");
    html
}

/// Appends `s` to `out` with `& < > " '` escaped.
pub(crate) fn escape_into(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

/// Skips past `</name ...>`, or to the end when it never closes.
fn skip_past_closing<'a>(rest: &'a str, name: &str) -> &'a str {
    let mut from = 0;
    while let Some(pos) = rest.get(from..).and_then(|r| r.find("</")) {
        let at = from + pos;
        let after = &rest[at + 2..];
        let matches = after.get(..name.len()).is_some_and(|n| n.eq_ignore_ascii_case(name))
            && after[name.len()..].starts_with(|c: char| c == '>' || c.is_ascii_whitespace());
        if matches {
            return after.find('>').map_or("", |gt| &after[gt + 1..]);
        }
        from = at + 2;
    }
    ""
}

/// One parsed tag.
struct Tag {
    /// Lower-cased element name.
    name: String,
    closing: bool,
    /// Bytes from `<` to `>` inclusive.
    len: usize,
    href: Option<String>,
}

impl Tag {
    /// Parses a tag at the start of `s` (which starts with `<`). `None` when it is not a tag.
    fn parse(s: &str) -> Option<Self> {
        let body = s.strip_prefix('<')?;
        let (closing, body) = match body.strip_prefix('/') {
            Some(b) => (true, b),
            None => (false, body),
        };
        let first = body.chars().next()?;
        if !(first.is_ascii_alphabetic() || first == '!' || first == '?') {
            return None;
        }
        // Find the closing `>` outside quoted attribute values.
        let mut quote: Option<char> = None;
        let mut end = None;
        for (i, c) in body.char_indices() {
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), _) => {}
                (None, '"' | '\'') => quote = Some(c),
                (None, '>') => {
                    end = Some(i);
                    break;
                }
                _ => {}
            }
        }
        // An unterminated tag swallows the rest of the document, as browsers do.
        let end = end.unwrap_or(body.len());
        let inner = &body[..end];
        let name_len =
            inner.find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == ':')).unwrap_or(inner.len());
        let name = inner[..name_len].to_ascii_lowercase();
        let href = if name == "a" && !closing { attribute(&inner[name_len..], "href") } else { None };
        let len = s.len() - body.len() + (end + 1).min(body.len());
        Some(Self { name, closing, len, href })
    }
}

/// The value of attribute `name` in an attribute list, entities decoded.
fn attribute(attrs: &str, name: &str) -> Option<String> {
    let lower = attrs.to_ascii_lowercase();
    let mut from = 0;
    while let Some(pos) = lower.get(from..).and_then(|l| l.find(name)) {
        let at = from + pos;
        from = at + name.len();
        let before_ok = at == 0 || lower[..at].ends_with(|c: char| c.is_ascii_whitespace());
        let rest = attrs[at + name.len()..].trim_start();
        let Some(value) = rest.strip_prefix('=').map(str::trim_start) else { continue };
        if !before_ok {
            continue;
        }
        let raw = match value.chars().next() {
            Some(q @ ('"' | '\'')) => value[1..].split(q).next().unwrap_or(""),
            _ => value.split(|c: char| c.is_ascii_whitespace() || c == '>').next().unwrap_or(""),
        };
        let mut decoded = Writer { pre: true, ..Writer::default() };
        decoded.text(raw);
        return Some(decoded.text.trim().to_owned());
    }
    None
}

/// Accumulates text with whitespace collapsing, line and paragraph breaks and quote prefixes.
#[derive(Default)]
struct Writer {
    text: String,
    /// Inside `<pre>`: keep whitespace.
    pre: bool,
    quote_depth: usize,
    /// The last character written was whitespace (so collapse the next).
    after_space: bool,
    at_line_start: bool,
    started: bool,
}

impl Writer {
    /// Writes text from the document: entities decoded, whitespace collapsed outside `<pre>`.
    fn text(&mut self, s: &str) {
        let mut rest = s;
        while let Some(amp) = rest.find('&') {
            self.plain(&rest[..amp]);
            rest = &rest[amp..];
            match decode_entity(rest) {
                Some((c, len)) => {
                    if c == '\u{a0}' {
                        self.plain(" ");
                    } else {
                        let mut buf = [0; 4];
                        self.plain(c.encode_utf8(&mut buf));
                    }
                    rest = &rest[len..];
                }
                None => {
                    self.plain("&");
                    rest = &rest[1..];
                }
            }
        }
        self.plain(rest);
    }

    /// Writes text generated by the converter itself.
    fn text_raw(&mut self, s: &str) {
        for c in s.chars() {
            self.push_char(c);
        }
        self.after_space = s.ends_with(' ');
    }

    fn plain(&mut self, s: &str) {
        for c in s.chars() {
            if self.pre {
                if c == '\n' {
                    self.newline();
                } else if c != '\r' {
                    self.push_char(c);
                }
            } else if c.is_whitespace() {
                if !self.after_space && !self.at_line_start && self.started {
                    self.push_char(' ');
                    self.after_space = true;
                }
            } else {
                self.push_char(c);
                self.after_space = false;
            }
        }
    }

    fn push_char(&mut self, c: char) {
        if !self.started || self.at_line_start {
            for _ in 0..self.quote_depth {
                self.text.push_str("> ");
            }
            self.at_line_start = false;
            self.started = true;
        }
        self.text.push(c);
    }

    /// A hard line break (`<br>`).
    fn newline(&mut self) {
        while self.text.ends_with(' ') {
            self.text.pop();
        }
        if self.at_line_start && self.quote_depth > 0 {
            // An empty quoted line keeps its marker so the quote block stays contiguous.
            for _ in 0..self.quote_depth {
                self.text.push('>');
            }
        }
        self.text.push('\n');
        self.at_line_start = true;
        self.after_space = true;
        self.started = true;
    }

    /// Ends the current line unless already at the start of one.
    fn line_break(&mut self) {
        if self.started && !self.at_line_start {
            self.newline();
        }
    }

    /// Ends the current paragraph with one blank line.
    fn paragraph_break(&mut self) {
        self.line_break();
        if self.started && !self.text.ends_with("\n\n") {
            self.newline();
        }
    }

    fn finish(self) -> String {
        let mut out = String::with_capacity(self.text.len());
        let mut blank_run = 0;
        for line in self.text.lines() {
            let line = line.trim_end();
            if line.is_empty() {
                blank_run += 1;
                if blank_run > 1 {
                    continue;
                }
            } else {
                blank_run = 0;
            }
            out.push_str(line);
            out.push('\n');
        }
        out.trim().to_owned()
    }
}

/// Decodes the entity at the start of `s` (which starts with `&`): the character and the
/// entity's length in bytes.
fn decode_entity(s: &str) -> Option<(char, usize)> {
    let semi = s.get(..s.len().min(12))?.find(';')?;
    let name = &s[1..semi];
    let c = if let Some(num) = name.strip_prefix('#') {
        let code = match num.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => num.parse::<u32>().ok()?,
        };
        char::from_u32(code).filter(|c| !c.is_control() || *c == '\n' || *c == '\t').unwrap_or('\u{fffd}')
    } else {
        named_entity(name)?
    };
    Some((c, semi + 1))
}

fn named_entity(name: &str) -> Option<char> {
    Some(match name {
        "amp" | "AMP" => '&',
        "lt" | "LT" => '<',
        "gt" | "GT" => '>',
        "quot" | "QUOT" => '"',
        "apos" => '\'',
        "nbsp" => '\u{a0}',
        "copy" => '©',
        "reg" => '®',
        "trade" => '™',
        "hellip" => '…',
        "mdash" => '—',
        "ndash" => '–',
        "lsquo" => '‘',
        "rsquo" => '’',
        "ldquo" => '“',
        "rdquo" => '”',
        "laquo" => '«',
        "raquo" => '»',
        "bull" => '•',
        "middot" => '·',
        "euro" => '€',
        "pound" => '£',
        "cent" => '¢',
        "deg" => '°',
        "iexcl" => '¡',
        "iquest" => '¿',
        "ordf" => 'ª',
        "ordm" => 'º',
        "aacute" => 'á',
        "eacute" => 'é',
        "iacute" => 'í',
        "oacute" => 'ó',
        "uacute" => 'ú',
        "Aacute" => 'Á',
        "Eacute" => 'É',
        "Iacute" => 'Í',
        "Oacute" => 'Ó',
        "Uacute" => 'Ú',
        "agrave" => 'à',
        "egrave" => 'è',
        "Agrave" => 'À',
        "acirc" => 'â',
        "ecirc" => 'ê',
        "ocirc" => 'ô',
        "Acirc" => 'Â',
        "Ecirc" => 'Ê',
        "Ocirc" => 'Ô',
        "atilde" => 'ã',
        "otilde" => 'õ',
        "Atilde" => 'Ã',
        "Otilde" => 'Õ',
        "ntilde" => 'ñ',
        "Ntilde" => 'Ñ',
        "ccedil" => 'ç',
        "Ccedil" => 'Ç',
        "uuml" => 'ü',
        "Uuml" => 'Ü',
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_hidden_parts_and_keeps_structure() {
        let html = "<html><head><title>T</title><style>p{color:red}</style></head><body>\
            <script type=\"text/javascript\">alert('x < y')</script>\
            <p>Hola&nbsp;Ana,</p><p>Your  bill is <b>&euro;42</b>.<br>Thanks &amp; bye</p>\
            <!-- a comment <p>hidden</p> --><ul><li>one</li><li>two</li></ul>\
            <a href=\"https://example.com/pay\">Pay here</a> 3 &lt; 4 <notatag & stray;</body></html>";
        let text = html_to_text(html);
        assert_eq!(
            text,
            "Hola Ana,\n\nYour bill is €42.\nThanks & bye\n\n- one\n- two\n\nPay here <https://example.com/pay> 3 < 4"
        );
    }

    #[test]
    fn blockquotes_become_quoted_lines() {
        let html =
            "<div>Yes please</div><div class=gmail_quote>On Mon, Ana wrote:<blockquote>Old <br>text</blockquote></div>";
        assert_eq!(html_to_text(html), "Yes please\nOn Mon, Ana wrote:\n> Old\n> text");
    }

    #[test]
    fn malformed_markup_degrades_to_text() {
        for html in ["<", "<p", "a <b", "<script>never closed", "&#xFFFFFFFF; &#0; &;", "<a href='x>y", "</", "<!--"] {
            let _ = html_to_text(html);
        }
        assert_eq!(html_to_text("1 < 2 &#x41;&#66;"), "1 < 2 AB");
    }

    #[test]
    fn text_to_html_escapes() {
        let html = text_to_html("a <b> & \"c\"\nline two\n\npara 'two'");
        assert!(
            html.contains("<p>a &lt;b&gt; &amp; &quot;c&quot;<br>\nline two</p>\n<p>para &#39;two&#39;</p>"),
            "{html}"
        );
    }
}
