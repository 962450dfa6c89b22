//! Whether a customer's message says the bot's previous answer did not help ("that didn't
//! help", "no me sirve", "não resolveu"): the hub counts such turns in a row, and the bot hands
//! over after `max_failed_answers` of them.

/// Phrases (accent-folded, lower case) that say an answer did not help.
const UNHELPFUL: &[&str] = &[
    // English
    "didn't help",
    "didnt help",
    "did not help",
    "doesn't help",
    "does not help",
    "not helpful",
    "useless",
    "didn't work",
    "didnt work",
    "did not work",
    "doesn't work",
    "does not work",
    "still not working",
    "still doesn't",
    "still does not",
    "still can't",
    "still cannot",
    "that's not what i asked",
    "not what i asked",
    "not what i meant",
    "wrong answer",
    "you don't understand",
    "you do not understand",
    // Spanish
    "no me sirve",
    "no sirve",
    "no me ayuda",
    "no me ayudo",
    "no ayuda",
    "no funciona",
    "no funciono",
    "sigue sin funcionar",
    "sigue igual",
    "no es lo que pregunte",
    "no me entiendes",
    "no entiendes",
    "respuesta incorrecta",
    // Portuguese
    "nao ajudou",
    "nao ajuda",
    "nao me ajudou",
    "nao resolveu",
    "nao funciona",
    "nao funcionou",
    "continua sem funcionar",
    "continua igual",
    "nao e isso",
    "nao foi isso que perguntei",
    "nao me entende",
    "nao entendeu",
    "resposta errada",
];

/// Whether `text` says the previous answer did not help.
#[must_use]
pub fn says_unhelpful(text: &str) -> bool {
    let folded = crate::fold(text);
    let words: Vec<&str> =
        folded.split(|c: char| !c.is_alphanumeric() && c != '\'').filter(|w| !w.is_empty()).collect();
    let joined = format!(" {} ", words.join(" "));
    UNHELPFUL.iter().any(|p| joined.contains(&format!(" {p} ")))
        || matches!(words.as_slice(), ["no"] | ["nope"] | ["nao"] | ["no", "gracias"] | ["no", "thanks"])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_unhelpful_answers_in_three_languages() {
        for t in [
            "That didn't help",
            "that didn’t help at all",
            "It still doesn't work!",
            "No.",
            "no me sirve",
            "Sigue sin funcionar, ¿qué hago?",
            "não resolveu",
            "Não ajudou nada",
            "not what I asked",
        ] {
            assert!(says_unhelpful(t), "{t:?}");
        }
        for t in [
            "how do I turn on roaming?",
            "no signal since this morning",
            "nao tenho sinal",
            "thanks, that helped",
            "the router works now, thanks",
            "¿funciona el roaming en Francia?",
            "I have no help desk number",
        ] {
            assert!(!says_unhelpful(t), "{t:?}");
        }
    }
}
