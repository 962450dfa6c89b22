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
    "that's wrong",
    "thats wrong",
    "not what i need",
    "not what i needed",
    "doesn't answer",
    "doesnt answer",
    "didn't answer",
    "didnt answer",
    "not my question",
    "not the question",
    "same problem",
    "still the same",
    "still broken",
    "still not",
    "no good",
    "not really",
    "no luck",
    "that's not it",
    "thats not it",
    "irrelevant",
    "not relevant",
    "already tried",
    "already did that",
    "i tried that",
    "tried that",
    "nope",
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
    "no me ha servido",
    "no me sirvio",
    "no sirvio",
    "no me vale",
    "no era eso",
    "eso no es",
    "no es eso",
    "no tiene nada que ver",
    "no me has ayudado",
    "no resuelve",
    "no lo resuelve",
    "no se soluciona",
    "sigue sin",
    "sigue fallando",
    "ya lo he hecho",
    "ya lo hice",
    "ya lo probe",
    "ya he probado",
    "tampoco",
    "nada de nada",
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
    "nao serviu",
    "nao me serviu",
    "nao era isso",
    "nao e nada disso",
    "nao tem nada a ver",
    "nao adiantou",
    "nao resolve",
    "continua sem",
    "continua a nao",
    "continua a falhar",
    "ja fiz isso",
    "ja tentei",
    "ja experimentei",
    "tambem nao",
    "nada feito",
];

/// Whether `text` says the previous answer did not help.
#[must_use]
pub fn says_unhelpful(text: &str) -> bool {
    let folded = crate::fold(text);
    let words: Vec<&str> =
        folded.split(|c: char| !c.is_alphanumeric() && c != '\'').filter(|w| !w.is_empty()).collect();
    let joined = format!(" {} ", words.join(" "));
    UNHELPFUL.iter().any(|p| joined.contains(&format!(" {p} ")))
        || matches!(
            words.as_slice(),
            ["no"]
                | ["nope"]
                | ["nao"]
                | ["nah"]
                | ["no", "gracias"]
                | ["no", "thanks"]
                | ["nao", "obrigado"]
                | ["nao", "obrigada"]
                | ["not", "helpful"]
                | ["nada"]
        )
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
