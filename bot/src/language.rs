//! Language detection for short customer messages in English, Spanish and Portuguese: a small
//! scorer over function words and telecom words typical of each language, plus letters and
//! endings only one of them uses. Short texts are where statistical detectors (trigram models)
//! are least reliable, and the three languages here are fixed, so a targeted list does better.

use schema::Language;

const EN: &[&str] = &[
    "the", "is", "my", "i", "how", "do", "does", "what", "can", "you", "to", "and", "it", "not", "have", "this", "why",
    "want", "with", "for", "on", "of", "in", "me", "please", "need", "help", "bill", "phone", "refund", "signal",
    "charged", "cancel", "agent", "working", "account", "payment", "am", "was", "will", "where", "when", "get",
    "there", "an", "are", "your", "talk", "speak", "someone", "human", "person", "slow", "abroad", "turn", "money",
    "data", "change", "plan", "which", "would", "should", "doesn't", "don't", "can't", "isn't", "i'm", "no", "a", "at",
    "from", "up", "out", "be", "been", "has", "had", "if", "or", "by", "card", "number", "contract", "home", "month",
    "last",
];
const ES: &[&str] = &[
    "el",
    "la",
    "los",
    "las",
    "y",
    "en",
    "mi",
    "mis",
    "es",
    "está",
    "esta",
    "hay",
    "muy",
    "tengo",
    "quiero",
    "puedo",
    "una",
    "del",
    "al",
    "lo",
    "hola",
    "gracias",
    "cuenta",
    "necesito",
    "pero",
    "ya",
    "también",
    "cuando",
    "dónde",
    "donde",
    "porque",
    "qué",
    "cómo",
    "este",
    "eso",
    "hacer",
    "factura",
    "móvil",
    "movil",
    "me",
    "se",
    "de",
    "que",
    "por",
    "para",
    "con",
    "como",
    "no",
    "un",
    "persona",
    "hablar",
    "funciona",
    "cobrado",
    "dinero",
    "tarifa",
    "llamar",
    "llamadas",
    "cobertura",
    "señal",
    "pagar",
    "cambiar",
    "contrato",
    "baja",
    "mes",
    "pasado",
    "datos",
    "va",
    "le",
    "su",
    "sin",
    "algo",
    "nada",
    "ahora",
    "tarjeta",
    "número",
    "numero",
    "casa",
    "viaje",
    "extranjero",
    "os",
    "habéis",
    "habeis",
    "xq",
    "q",
    "kiero",
    "quiero",
    "van",
    "pone",
    "sale",
    "ayer",
    "hoy",
    "todo",
    "estoy",
    "vosotros",
    "avería",
    "averia",
    "cuánto",
    "cuanto",
    "línea",
    "linea",
    "llamo",
    "gigas",
    "señal",
    "senal",
    "tiene",
    "funcionan",
    "desde",
    "hace",
    "mucho",
    "cobrais",
    "cobrasteis",
    "bajar",
    "subir",
    "han",
    "ha",
    "hemos",
    "sigue",
    "fibra",
    "también",
    "tambien",
    "buenas",
];
const PT: &[&str] = &[
    "o",
    "os",
    "e",
    "em",
    "meu",
    "minha",
    "meus",
    "não",
    "nao",
    "é",
    "um",
    "uma",
    "do",
    "da",
    "dos",
    "das",
    "na",
    "no",
    "tenho",
    "quero",
    "posso",
    "muito",
    "olá",
    "ola",
    "obrigado",
    "obrigada",
    "você",
    "voce",
    "preciso",
    "já",
    "também",
    "quando",
    "onde",
    "porque",
    "isso",
    "fazer",
    "ao",
    "pelo",
    "pela",
    "estou",
    "me",
    "se",
    "de",
    "que",
    "por",
    "para",
    "com",
    "como",
    "fatura",
    "telemóvel",
    "telemovel",
    "celular",
    "pessoa",
    "falar",
    "funciona",
    "cobraram",
    "dinheiro",
    "tarifário",
    "ligar",
    "chamadas",
    "rede",
    "sinal",
    "pagar",
    "mudar",
    "contrato",
    "mês",
    "passado",
    "dados",
    "está",
    "sem",
    "algo",
    "nada",
    "agora",
    "cartão",
    "número",
    "casa",
    "viagem",
    "estrangeiro",
    "atendente",
    "consigo",
    "ligação",
    "tá",
    "vocês",
    "voces",
    "ta",
    "mt",
    "pq",
    "tb",
    "tbm",
    "oi",
    "telemovel",
    "tarifario",
    "ligacao",
    "avaria",
    "quanto",
    "estou",
    "aqui",
    "ficou",
    "liguei",
    "até",
    "ate",
    "há",
    "ha",
    "fiz",
    "ja",
    "vou",
    "tem",
    "têm",
    "esta",
    "isto",
    "minha",
    "fidelização",
    "fidelizacao",
    "cobrança",
    "cobranca",
    "ecrã",
    "ecra",
    "mudei",
    "pedi",
    "boa",
    "tarde",
    "ontem",
    "hoje",
];

fn tokens(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '\'')).filter(|t| !t.is_empty()).map(str::to_lowercase).collect()
}

/// The language of a message, or `None` when the text gives no clear sign (the caller then keeps
/// the conversation's language).
#[must_use]
pub fn detect_language(text: &str) -> Option<Language> {
    let mut score = [0f32; 3];
    for t in tokens(text) {
        let t = t.as_str();
        let hits = [EN.contains(&t), ES.contains(&t), PT.contains(&t)];
        let n = hits.iter().filter(|h| **h).count();
        if n == 0 {
            continue;
        }
        // A word shared by two languages counts half for each.
        let w = 1.0 / n as f32;
        for (s, h) in score.iter_mut().zip(hits) {
            if h {
                *s += w;
            }
        }
        if t.ends_with("ción") || t.ends_with("cion") {
            score[1] += 1.0;
        }
        if t.ends_with("ção") || t.ends_with("ções") || t.ends_with("ão") {
            score[2] += 1.0;
        }
    }
    let lower = text.to_lowercase();
    if lower.contains(['ñ', '¿', '¡']) {
        score[1] += 2.0;
    }
    if lower.contains(['ã', 'õ', 'ç', 'ê', 'ô']) {
        score[2] += 2.0;
    }
    let mut order = [0usize, 1, 2];
    order.sort_by(|a, b| score[*b].total_cmp(&score[*a]));
    let (best, second) = (score[order[0]], score[order[1]]);
    if best < 1.0 || best - second < 0.5 {
        return None;
    }
    Some([Language::En, Language::Es, Language::Pt][order[0]])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_telecom_sentences() {
        for (text, lang) in [
            ("my phone has no signal", Language::En),
            ("how do I turn on roaming?", Language::En),
            ("agent please", Language::En),
            ("I want a refund for last month", Language::En),
            ("no tengo cobertura", Language::Es),
            ("quiero hablar con una persona", Language::Es),
            ("¿cuánto cuesta el roaming?", Language::Es),
            ("me han cobrado dos veces la factura", Language::Es),
            ("internet va muy lento", Language::Es),
            ("falar com um atendente", Language::Pt),
            ("não tenho rede no telemóvel", Language::Pt),
            ("quero mudar de tarifário", Language::Pt),
            ("a minha internet está lenta", Language::Pt),
            ("cobraram-me a fatura duas vezes", Language::Pt),
        ] {
            assert_eq!(detect_language(text), Some(lang), "{text:?}");
        }
    }

    #[test]
    fn unsure_gives_none() {
        for text in ["", "ok", "5G", "roaming", "???", "iPhone 15"] {
            assert_eq!(detect_language(text), None, "{text:?}");
        }
    }
}
