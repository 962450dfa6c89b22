//! The conversation so far as the bot reads it: its own earlier messages (an answer citing an
//! article, a clarifying question with numbered topics, an offer to rephrase) are recognised from
//! their text, so the hub only passes the recent messages and keeps no bot state.

use knowledge_base::Language;

use crate::fold;

/// One earlier message of the conversation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PastMessage {
    /// From the customer (`true`) or from the bot or an agent (`false`).
    pub from_customer: bool,
    pub text: String,
}

impl PastMessage {
    #[must_use]
    pub fn customer(text: impl Into<String>) -> Self {
        Self { from_customer: true, text: text.into() }
    }

    #[must_use]
    pub fn bot(text: impl Into<String>) -> Self {
        Self { from_customer: false, text: text.into() }
    }
}

const CLARIFY_OPENING: [&str; 3] = [
    "I want to be sure I answer the right question.",
    "Quiero asegurarme de responder a lo que preguntas.",
    "Quero ter a certeza de que respondo ao que pergunta.",
];
const REPHRASE_OPENING: [&str; 3] =
    ["Sorry that didn't help.", "Siento que no te haya servido.", "Lamento que não tenha ajudado."];

fn li(l: Language) -> usize {
    match l {
        Language::En => 0,
        Language::Es => 1,
        Language::Pt => 2,
    }
}

/// The clarifying question with the two best topics.
#[must_use]
pub fn clarify_text(language: Language, titles: &[String]) -> String {
    let opening = CLARIFY_OPENING[li(language)];
    let (question, reply) = match language {
        Language::En => ("Is it about:", "Reply 1 or 2, or tell me a little more in your own words."),
        Language::Es => ("¿Es sobre:", "Responde 1 o 2, o cuéntame un poco más con tus palabras."),
        Language::Pt => ("É sobre:", "Responda 1 ou 2, ou explique um pouco mais por palavras suas."),
    };
    let mut text = format!("{opening} {question}");
    for (i, t) in titles.iter().enumerate() {
        text.push_str(&format!("\n{}. {t}", i + 1));
    }
    text.push('\n');
    text.push_str(reply);
    text
}

/// The offer to rephrase once after "that didn't help".
#[must_use]
pub fn rephrase_text(language: Language) -> String {
    let rest = match language {
        Language::En => {
            "Could you tell me in other words what you need, or what you see on the screen? If I still can't help, I'll pass you to an agent."
        }
        Language::Es => {
            "¿Me lo puedes contar con otras palabras, o decirme qué ves en la pantalla? Si sigo sin poder ayudarte, te paso con un agente."
        }
        Language::Pt => {
            "Pode dizer-me por outras palavras o que precisa, ou o que vê no ecrã? Se continuar sem conseguir ajudar, passo-o a um assistente."
        }
    };
    format!("{} {rest}", REPHRASE_OPENING[li(language)])
}

/// What a bot message was.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BotMessage {
    /// An answer from the article with this title.
    Answer(String),
    /// A clarifying question offering these titles.
    Clarify(Vec<String>),
    /// The offer to rephrase.
    Rephrase,
    /// Anything else (a hand-over notice, an agent's message).
    Other,
}

/// Reads a bot message.
#[must_use]
pub fn read_bot_message(text: &str) -> BotMessage {
    let trimmed = text.trim();
    if CLARIFY_OPENING.iter().any(|o| trimmed.starts_with(o)) {
        let titles = trimmed
            .lines()
            .filter_map(|l| {
                let l = l.trim();
                let (n, rest) = l.split_once(". ")?;
                (n.len() == 1 && n.chars().all(|c| c.is_ascii_digit())).then(|| rest.trim().to_owned())
            })
            .collect();
        return BotMessage::Clarify(titles);
    }
    if REPHRASE_OPENING.iter().any(|o| trimmed.starts_with(o)) {
        return BotMessage::Rephrase;
    }
    let last = trimmed.lines().last().unwrap_or_default().trim();
    for (open, close) in
        [("(From our help article “", "”.)"), ("(Del artículo de ayuda «", "».)"), ("(Do artigo de ajuda «", "».)")]
    {
        if let Some(title) = last.strip_prefix(open).and_then(|r| r.strip_suffix(close)) {
            return BotMessage::Answer(title.to_owned());
        }
    }
    BotMessage::Other
}

/// The history since the customer last reached a person (an agent's or hand-over message ends
/// the bot's part), as read by the bot.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Context {
    /// The customer's messages, oldest first.
    pub questions: Vec<String>,
    /// Titles of the articles the bot answered with, oldest first.
    pub answers: Vec<String>,
    /// The last bot message, read.
    pub last_bot: Option<BotMessage>,
    /// Whether the last message before this turn was the bot's.
    pub bot_spoke_last: bool,
    /// Whether the bot already offered to rephrase.
    pub rephrase_offered: bool,
}

impl Context {
    /// Reads `history` (oldest first).
    #[must_use]
    pub fn read(history: &[PastMessage]) -> Self {
        let mut c = Self::default();
        for m in history {
            if m.from_customer {
                c.questions.push(m.text.clone());
                c.bot_spoke_last = false;
                continue;
            }
            let read = read_bot_message(&m.text);
            match &read {
                BotMessage::Answer(t) => c.answers.push(t.clone()),
                BotMessage::Rephrase => c.rephrase_offered = true,
                BotMessage::Clarify(_) => {}
                BotMessage::Other => {
                    // A hand-over notice or an agent: what came before was handled by a person.
                    c = Self::default();
                    c.last_bot = Some(BotMessage::Other);
                    c.bot_spoke_last = true;
                    continue;
                }
            }
            c.last_bot = Some(read);
            c.bot_spoke_last = true;
        }
        c
    }

    /// The customer's previous message, if the bot replied to it.
    #[must_use]
    pub fn previous_question(&self) -> Option<&str> {
        self.questions.last().map(String::as_str)
    }
}

/// Which offered topic a reply picks: "1", "2", "the first", "segundo", or the title's words.
#[must_use]
pub fn picked_option(reply: &str, titles: &[String]) -> Option<usize> {
    let folded = fold(reply);
    let words: Vec<&str> = folded.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).collect();
    let first = ["1", "first", "primero", "primera", "primeiro", "primeira"];
    let second = ["2", "second", "two", "segundo", "segunda", "dos", "dois", "duas"];
    if words.len() <= 4 {
        let has = |set: &[&str]| words.iter().any(|w| set.contains(w));
        match (has(&first), has(&second)) {
            (true, false) if !titles.is_empty() => return Some(0),
            (false, true) if titles.len() > 1 => return Some(1),
            _ => {}
        }
    }
    let reply = fold(reply.trim().trim_end_matches(['.', '!', '?']));
    titles.iter().position(|t| {
        let t = fold(t);
        !reply.is_empty() && (t == reply || (reply.len() >= 12 && t.contains(&reply)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bot_reads_its_own_messages() {
        let titles = vec!["Roaming in the EU".to_owned(), "Roaming prices outside the EU".to_owned()];
        for l in Language::ALL {
            let c = clarify_text(*l, &titles);
            assert_eq!(read_bot_message(&c), BotMessage::Clarify(titles.clone()), "{c}");
            assert_eq!(read_bot_message(&rephrase_text(*l)), BotMessage::Rephrase);
        }
        assert_eq!(
            read_bot_message("Turn it on.\n\n(From our help article “Turning on data roaming”.)"),
            BotMessage::Answer("Turning on data roaming".into())
        );
        assert_eq!(read_bot_message("Te paso con un agente."), BotMessage::Other);
    }

    #[test]
    fn replies_to_a_clarifying_question() {
        let titles = vec!["Roaming in the EU".to_owned(), "Roaming prices outside the EU".to_owned()];
        assert_eq!(picked_option("1", &titles), Some(0));
        assert_eq!(picked_option("the second one", &titles), Some(1));
        assert_eq!(picked_option("la segunda", &titles), Some(1));
        assert_eq!(picked_option("roaming prices outside the eu", &titles), Some(1));
        assert_eq!(picked_option("my bill is wrong", &titles), None);
    }

    #[test]
    fn context_restarts_after_a_person() {
        let h = vec![
            PastMessage::customer("roaming?"),
            PastMessage::bot("x\n\n(From our help article “Turning on data roaming”.)"),
            PastMessage::customer("didn't help"),
            PastMessage::bot(rephrase_text(Language::En)),
        ];
        let c = Context::read(&h);
        assert!(c.rephrase_offered && c.bot_spoke_last);
        assert_eq!(c.answers, vec!["Turning on data roaming".to_owned()]);
        let mut h2 = h;
        h2.push(PastMessage::bot("I'm connecting you with an agent"));
        let c = Context::read(&h2);
        assert!(!c.rephrase_offered && c.answers.is_empty());
    }
}
