//! Language-aware text analysis: the same analyzers serve the tantivy index and the term
//! coverage used for confidence.

use schema::Language;
use tantivy::tokenizer::{
    AsciiFoldingFilter, Language as TLang, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer, StopWordFilter,
    TextAnalyzer, TokenStream,
};

/// Words that carry no topic in customers' English questions, on top of tantivy's English list.
const EXTRA_EN_STOP_WORDS: &[&str] = &[
    "how", "do", "does", "did", "i", "im", "i'm", "me", "my", "mine", "we", "our", "you", "your", "can", "could",
    "would", "should", "what", "whats", "why", "when", "where", "which", "who", "am", "have", "has", "had", "get",
    "got", "please", "hi", "hello", "thanks", "thank", "want", "need", "help", "just", "so", "some", "any", "from",
    "about", "up", "out", "there", "here", "its", "it's", "don't", "dont", "been", "being", "were", "also", "very",
    "know", "tell", "much", "many", "still", "all", "one",
];

/// Greetings and filler in Spanish questions, on top of the Snowball list.
const EXTRA_ES_STOP_WORDS: &[&str] = &[
    "hola", "gracias", "quiero", "quisiera", "puedo", "necesito", "favor", "buenas", "buenos", "dias", "días", "tengo",
    "mas", "tu", "esta", "estan", "si",
];

/// Greetings and filler in Portuguese questions, on top of the Snowball list.
const EXTRA_PT_STOP_WORDS: &[&str] = &[
    "olá", "ola", "oi", "obrigado", "obrigada", "quero", "queria", "preciso", "posso", "favor", "bom", "dia", "tenho",
    "nao", "voce", "tambem", "ja", "sao", "esta", "mas",
];

/// The tokenizer name registered in tantivy for a language.
#[must_use]
pub fn analyzer_name(language: Language) -> &'static str {
    match language {
        Language::En => "kb_en",
        Language::Es => "kb_es",
        Language::Pt => "kb_pt",
    }
}

/// Lower-cases, drops stop words, folds accents to ASCII ("señal" and "senal" are the same word)
/// and stems with the language's Snowball stemmer.
#[must_use]
pub fn analyzer(language: Language) -> TextAnalyzer {
    let (tantivy_language, extra) = match language {
        Language::En => (TLang::English, EXTRA_EN_STOP_WORDS),
        Language::Es => (TLang::Spanish, EXTRA_ES_STOP_WORDS),
        Language::Pt => (TLang::Portuguese, EXTRA_PT_STOP_WORDS),
    };
    let standard = StopWordFilter::new(tantivy_language).unwrap_or_else(|| StopWordFilter::remove(Vec::new()));
    let extra = StopWordFilter::remove(extra.iter().map(|w| (*w).to_owned()));
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .filter(standard)
        .filter(extra)
        .filter(AsciiFoldingFilter)
        .filter(Stemmer::new(tantivy_language))
        .build()
}

/// The analyzed terms of a text, in order (duplicates kept).
#[must_use]
pub fn analyze(language: Language, text: &str) -> Vec<String> {
    let mut a = analyzer(language);
    let mut stream = a.token_stream(text);
    let mut out = Vec::new();
    while stream.advance() {
        out.push(stream.token().text.clone());
    }
    out
}

/// A stable 64-bit hash of a term (FNV-1a), tagged with the language.
#[must_use]
pub(crate) fn term_hash(language: Language, term: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in language.as_str().bytes().chain([0u8]).chain(term.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_accents_and_stems() {
        assert_eq!(analyze(Language::Es, "señal"), analyze(Language::Es, "senal"));
        assert_eq!(analyze(Language::Pt, "não tenho sinal"), analyze(Language::Pt, "nao tenho sinal"));
        assert_eq!(analyze(Language::En, "roaming"), analyze(Language::En, "roam"));
        assert_eq!(analyze(Language::En, "How do I turn on roaming?"), vec!["turn".to_owned(), "roam".to_owned()]);
    }
}
