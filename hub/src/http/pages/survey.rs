//! The satisfaction survey page an e-mail's link opens: a radio group of the five scores (the
//! clicked one selected), a comment box, a send button; the thanks page; the page of a link that
//! cannot be used. In the survey's language (en, es, pt); no script at all, plain HTML forms that
//! work with a keyboard and a screen reader.

use schema::Language;
use schema::csat::{MAX_COMMENT_CHARS, Score};

use super::help::{escape, head};
use crate::services::csat::LinkRefusal;

/// The page runs no script; its form posts to the hub itself.
pub const CSP: &str = "default-src 'none'; script-src 'none'; style-src 'self'; img-src 'self'; \
                       base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// What was wrong with a posted form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Problem {
    NoScore,
    LongComment,
}

struct Words {
    title: &'static str,
    legend: &'static str,
    scores: [&'static str; 5],
    comment: &'static str,
    send: &'static str,
    no_score: &'static str,
    long_comment: &'static str,
    thanks: &'static str,
    thanks_more: &'static str,
    invalid: &'static str,
    expired: &'static str,
    used: &'static str,
}

const EN: Words = Words {
    title: "How did we do?",
    legend: "How satisfied are you with the help you received?",
    scores: ["1 - Very unsatisfied", "2 - Unsatisfied", "3 - Neutral", "4 - Satisfied", "5 - Very satisfied"],
    comment: "Comment (optional)",
    send: "Send my rating",
    no_score: "Please choose a score from 1 to 5.",
    long_comment: "The comment is too long: 1,000 characters at most.",
    thanks: "Thank you for your rating.",
    thanks_more: "Your answer helps us improve. You can close this page.",
    invalid: "This survey link is not valid.",
    expired: "This survey has expired.",
    used: "This survey has already been answered. Only the first answer is kept.",
};

const ES: Words = Words {
    title: "¿Qué tal lo hemos hecho?",
    legend: "¿Cómo de satisfecho está con la ayuda que ha recibido?",
    scores: ["1 - Muy insatisfecho", "2 - Insatisfecho", "3 - Neutral", "4 - Satisfecho", "5 - Muy satisfecho"],
    comment: "Comentario (opcional)",
    send: "Enviar mi valoración",
    no_score: "Elija una puntuación del 1 al 5.",
    long_comment: "El comentario es demasiado largo: 1.000 caracteres como máximo.",
    thanks: "Gracias por su valoración.",
    thanks_more: "Su respuesta nos ayuda a mejorar. Puede cerrar esta página.",
    invalid: "Este enlace de encuesta no es válido.",
    expired: "Esta encuesta ha caducado.",
    used: "Esta encuesta ya se ha respondido. Solo se guarda la primera respuesta.",
};

const PT: Words = Words {
    title: "Como correu?",
    legend: "Qual é o seu grau de satisfação com a ajuda que recebeu?",
    scores: ["1 - Muito insatisfeito", "2 - Insatisfeito", "3 - Neutro", "4 - Satisfeito", "5 - Muito satisfeito"],
    comment: "Comentário (opcional)",
    send: "Enviar a minha avaliação",
    no_score: "Escolha uma pontuação de 1 a 5.",
    long_comment: "O comentário é demasiado longo: 1000 caracteres no máximo.",
    thanks: "Obrigado pela sua avaliação.",
    thanks_more: "A sua resposta ajuda-nos a melhorar. Pode fechar esta página.",
    invalid: "Esta ligação de inquérito não é válida.",
    expired: "Este inquérito expirou.",
    used: "Este inquérito já foi respondido. Só a primeira resposta é guardada.",
};

const fn words(language: Language) -> &'static Words {
    match language {
        Language::En => &EN,
        Language::Es => &ES,
        Language::Pt => &PT,
    }
}

/// The survey form; `token` is the link's (checked by the caller, URL-safe base64).
#[must_use]
pub fn form(language: Language, token: &str, chosen: Option<Score>, problem: Option<Problem>) -> String {
    let w = words(language);
    let mut out = String::with_capacity(2048);
    head(&mut out, language, w.title);
    out.push_str("<main><h1>");
    escape(&mut out, w.title);
    out.push_str("</h1>");
    if let Some(problem) = problem {
        out.push_str("<p role=\"alert\" id=\"problem\">");
        escape(&mut out, if problem == Problem::NoScore { w.no_score } else { w.long_comment });
        out.push_str("</p>");
    }
    out.push_str("<form method=\"post\" action=\"/csat/");
    escape(&mut out, token);
    out.push_str("\"><fieldset");
    if problem == Some(Problem::NoScore) {
        out.push_str(" aria-describedby=\"problem\"");
    }
    out.push_str("><legend>");
    escape(&mut out, w.legend);
    out.push_str("</legend>");
    for (i, label) in w.scores.iter().enumerate() {
        let n = i + 1;
        out.push_str(&format!("<div><input type=\"radio\" name=\"score\" id=\"score-{n}\" value=\"{n}\" required"));
        if chosen.is_some_and(|c| usize::from(c.get()) == n) {
            out.push_str(" checked");
        }
        out.push_str(&format!("><label for=\"score-{n}\">"));
        escape(&mut out, label);
        out.push_str("</label></div>");
    }
    out.push_str("</fieldset><p><label for=\"comment\">");
    escape(&mut out, w.comment);
    out.push_str(&format!(
        "</label><br><textarea id=\"comment\" name=\"comment\" rows=\"4\" cols=\"50\" maxlength=\"{MAX_COMMENT_CHARS}\"></textarea></p><p><button type=\"submit\">"
    ));
    escape(&mut out, w.send);
    out.push_str("</button></p></form></main></body></html>\n");
    out
}

/// The page after an answer.
#[must_use]
pub fn thanks(language: Language) -> String {
    let w = words(language);
    let mut out = String::with_capacity(512);
    head(&mut out, language, w.thanks);
    out.push_str("<main><h1>");
    escape(&mut out, w.thanks);
    out.push_str("</h1><p>");
    escape(&mut out, w.thanks_more);
    out.push_str("</p></main></body></html>\n");
    out
}

/// The page of a link that cannot be used.
#[must_use]
pub fn refused(language: Language, why: LinkRefusal) -> String {
    let w = words(language);
    let text = match why {
        LinkRefusal::Invalid => w.invalid,
        LinkRefusal::Expired => w.expired,
        LinkRefusal::Used => w.used,
    };
    let mut out = String::with_capacity(512);
    head(&mut out, language, text);
    out.push_str("<main><h1>");
    escape(&mut out, text);
    out.push_str("</h1></main></body></html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_escapes_and_selects() {
        let page = form(Language::Es, "abc<def", Score::try_from(4u8).ok(), Some(Problem::NoScore));
        assert!(page.contains("action=\"/csat/abc&lt;def\""));
        assert!(page.contains("id=\"score-4\" value=\"4\" required checked"));
        assert!(!page.contains("id=\"score-3\" value=\"3\" required checked"));
        assert!(page.contains("<html lang=\"es\""));
        assert!(page.contains("role=\"alert\""));
    }
}
