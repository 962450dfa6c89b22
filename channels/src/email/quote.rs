//! Finding the new part of a reply: quoted history and signatures trimmed.
//!
//! Line-based heuristics for what real clients write, in English, Spanish and Portuguese:
//!
//! * an attribution line ("On Mon, 3 Jun 2024, Ana <ana@x> wrote:", possibly wrapped over two
//!   lines; "El lun, 3 jun 2024, Ana escribió:"; "Em seg., 3 de jun. de 2024, Ana escreveu:")
//!   cuts everything from there on;
//! * Outlook's "-----Original Message-----" (and "Mensaje original", "Mensagem original"), an
//!   underscore rule followed by a header block, or a header block itself ("From: … Sent: …",
//!   "De: … Enviado: …") cuts everything from there on;
//! * the signature delimiter "-- " cuts everything after it;
//! * lines starting with `>` are dropped wherever they are (inline answers between quoted
//!   lines are kept);
//! * a trailing "Sent from my iPhone" / "Enviado desde mi …" / "Enviado do meu …" line is dropped.

/// The new part of `body`: quoted history and signature removed, surrounding blank lines
/// trimmed. Empty when the message was nothing but quotes (callers then fall back to the whole
/// text).
#[must_use]
pub fn strip_quoted(body: &str) -> String {
    let lines: Vec<&str> = body.lines().collect();
    let cut = (0..lines.len()).find(|&i| is_cut(&lines, i)).unwrap_or(lines.len());
    let mut kept: Vec<&str> = lines[..cut].iter().copied().filter(|l| !l.trim_start().starts_with('>')).collect();
    // A quote marker dropped in the middle leaves runs of blank lines; squeeze them.
    kept.dedup_by(|a, b| a.trim().is_empty() && b.trim().is_empty());
    while kept.last().is_some_and(|l| l.trim().is_empty()) {
        kept.pop();
    }
    if kept.last().is_some_and(|l| is_mobile_signature(l)) {
        kept.pop();
    }
    kept.join("\n").trim_matches(['\n', '\r']).trim_end().to_owned()
}

/// Whether line `i` starts quoted history or a signature.
fn is_cut(lines: &[&str], i: usize) -> bool {
    let Some(line) = lines.get(i) else { return false };
    let t = line.trim();
    if *line == "-- " || t == "--" {
        return true;
    }
    if is_original_message_rule(t) || is_attribution(t, lines.get(i + 1).map(|l| l.trim())) {
        return true;
    }
    if t.len() >= 10 && t.chars().all(|c| c == '_') {
        return lines
            .get(i + 1..i + 3)
            .is_some_and(|next| next.iter().any(|l| header_field(l.trim()) == Some(Field::From)));
    }
    header_field(t) == Some(Field::From) && is_header_block(lines, i)
}

/// "-----Original Message-----" and its translations, dashes optional-ish.
fn is_original_message_rule(t: &str) -> bool {
    if !t.starts_with("---") && !t.starts_with("- -") {
        return false;
    }
    let words = t.trim_matches(|c: char| c == '-' || c.is_whitespace()).to_lowercase();
    // Forwarded messages ("Forwarded message", "Mensaje reenviado") are content, not history.
    matches!(words.as_str(), "original message" | "mensaje original" | "mensagem original")
}

/// An attribution line ("On … wrote:"), possibly wrapped so that "wrote:" is on the next line.
fn is_attribution(t: &str, next: Option<&str>) -> bool {
    const FORMS: &[(&str, &str)] =
        &[("on ", "wrote:"), ("el ", "escribió:"), ("em ", "escreveu:"), ("le ", "a écrit :"), ("am ", "schrieb")];
    let lower = t.to_lowercase();
    FORMS.iter().any(|(start, end)| {
        if !lower.starts_with(start) || lower.len() > 400 {
            return false;
        }
        let end_trimmed = end.trim_end_matches(':');
        if lower.ends_with(end) || lower.ends_with(end_trimmed) {
            return true;
        }
        next.is_some_and(|n| {
            let n = n.to_lowercase();
            lower.len() + n.len() < 400 && (n.ends_with(end) || n == end_trimmed || n.ends_with(&format!(" {end}")))
        })
    })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Field {
    From,
    Sent,
    To,
    Subject,
}

/// Which header-like field an Outlook quote line names, if any (`From:`, `De:`, `*From:*`, …).
fn header_field(t: &str) -> Option<Field> {
    let t = t.trim_start_matches('*');
    let (name, _) = t.split_once(':')?;
    let name = name.trim_end_matches('*').trim().to_lowercase();
    Some(match name.as_str() {
        "from" | "de" => Field::From,
        "sent" | "date" | "enviado" | "enviada" | "fecha" | "data" | "enviado el" | "enviado em" => Field::Sent,
        "to" | "para" | "cc" => Field::To,
        "subject" | "asunto" | "assunto" => Field::Subject,
        _ => return None,
    })
}

/// Whether a `From:` line at `i` is followed by at least two more header fields (Sent, To,
/// Subject) within the next few lines: an Outlook-style quoted header block.
fn is_header_block(lines: &[&str], i: usize) -> bool {
    let following = lines.get(i + 1..lines.len().min(i + 6)).unwrap_or(&[]);
    let fields: Vec<Field> = following.iter().filter_map(|l| header_field(l.trim())).collect();
    let has = |f: Field| fields.contains(&f);
    [has(Field::Sent), has(Field::To), has(Field::Subject)].iter().filter(|b| **b).count() >= 2
}

fn is_mobile_signature(line: &str) -> bool {
    let t = line.trim().to_lowercase();
    [
        "sent from my ",
        "enviado desde mi ",
        "enviado do meu ",
        "enviado de meu ",
        "get outlook for ",
        "obtener outlook para ",
    ]
    .iter()
    .any(|p| t.starts_with(p))
        && t.len() < 80
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gmail_wrapped_attribution_and_quotes() {
        let body = "Thanks, that fixed it.\r\n\r\nOn Mon, Jun 3, 2024 at 10:00 AM Support <support@telco.example>\r\nwrote:\r\n> Please restart the router.\r\n";
        assert_eq!(strip_quoted(body), "Thanks, that fixed it.");
    }

    #[test]
    fn outlook_header_block_and_rules() {
        let a = "Still broken.\n\n________________________________\nFrom: Support <s@t.example>\nSent: Monday, June 3, 2024 10:00\nTo: Ana\nSubject: RE: outage\n\nold";
        assert_eq!(strip_quoted(a), "Still broken.");
        let b = "Ok\n-----Original Message-----\nFrom: x\nold";
        assert_eq!(strip_quoted(b), "Ok");
        let c = "Vale\n\nDe: Soporte <s@t.example>\nEnviado el: lunes, 3 de junio de 2024 10:00\nPara: Ana\nAsunto: RE: corte\n\nviejo";
        assert_eq!(strip_quoted(c), "Vale");
    }

    #[test]
    fn spanish_portuguese_signature_and_inline_answers() {
        assert_eq!(
            strip_quoted("Sí, gracias\n\nEl lun, 3 jun 2024 a las 10:00, Soporte escribió:\n> hola"),
            "Sí, gracias"
        );
        assert_eq!(
            strip_quoted("Obrigado\nEm seg., 3 de jun. de 2024 às 10:00, Suporte <s@t.example> escreveu:\n> oi"),
            "Obrigado"
        );
        assert_eq!(strip_quoted("Hi\n-- \nAna Pérez\nCEO"), "Hi");
        assert_eq!(strip_quoted("> question one?\nanswer one\n> question two?\nanswer two"), "answer one\nanswer two");
        assert_eq!(strip_quoted("Done\n\nSent from my iPhone"), "Done");
        assert_eq!(strip_quoted("> all quoted"), "");
        // A "From:" line in normal prose is not a header block.
        assert_eq!(
            strip_quoted("From: the shop I bought it at\nit never worked"),
            "From: the shop I bought it at\nit never worked"
        );
    }
}
