//! Customers' words for what the articles call otherwise ("gigas" for datos, "net" for internet,
//! "barras" for señal): the query is searched with the articles' words added. This carries
//! Spanish and Portuguese where the English embedding model is weak, and slang in all three.

use knowledge_base::Language;

use crate::fold;

/// (word as written, accent-folded and lower case; words the articles use).
const EN: &[(&str, &str)] = &[
    ("net", "internet"),
    ("broadband", "internet"),
    ("bars", "signal"),
    ("sos", "no signal service"),
    ("reception", "signal"),
    ("pw", "password"),
    ("gigs", "data"),
    ("gb", "data"),
    ("holiday", "roaming abroad"),
    ("travelling", "roaming abroad"),
    ("traveling", "roaming abroad"),
    ("invoice", "bill"),
    ("topup", "top up"),
    ("chip", "sim"),
];

const ES: &[(&str, &str)] = &[
    ("gigas", "datos"),
    ("megas", "datos"),
    ("net", "internet"),
    ("wifi", "internet router"),
    ("barras", "señal cobertura"),
    ("rayas", "señal cobertura"),
    ("rayitas", "señal cobertura"),
    ("sos", "sin servicio cobertura"),
    ("senal", "cobertura"),
    ("cobertura", "señal"),
    ("viaje", "roaming extranjero"),
    ("vacaciones", "roaming extranjero"),
    ("extranjero", "roaming"),
    ("fuera", "roaming extranjero"),
    ("recibo", "factura"),
    ("cuota", "factura tarifa"),
    ("chip", "sim"),
    ("lento", "internet lento"),
    ("lenta", "internet lento"),
    ("lentisimo", "internet lento"),
    ("lentisima", "internet lento"),
    ("fatal", "internet lento"),
    ("corta", "wifi lento"),
    ("cae", "wifi lento"),
    ("bloqueada", "puk sim"),
    ("bloqueado", "puk sim"),
    ("iban", "domiciliación"),
    ("banco", "domiciliación"),
    ("robado", "sim robada duplicado"),
    ("robaron", "sim robada duplicado"),
    ("perdido", "sim perdida duplicado"),
    ("perdi", "sim perdida duplicado"),
    ("permanencia", "baja"),
    ("penalizacion", "baja permanencia"),
    ("compania", "portabilidad número"),
    ("operador", "portabilidad número"),
];

const PT: &[(&str, &str)] = &[
    ("net", "internet"),
    ("giga", "dados"),
    ("gigas", "dados"),
    ("tlm", "telemóvel"),
    ("barras", "sinal rede"),
    ("risquinhos", "sinal rede"),
    ("sos", "sem serviço rede"),
    ("sinal", "rede"),
    ("rede", "sinal"),
    ("ferias", "roaming estrangeiro"),
    ("viagem", "roaming estrangeiro"),
    ("estrangeiro", "roaming"),
    ("fora", "roaming estrangeiro"),
    ("mbway", "pagamento mb way"),
    ("multibanco", "pagamento"),
    ("iban", "débito direto"),
    ("banco", "débito direto"),
    ("lenta", "internet lenta"),
    ("lento", "internet lenta"),
    ("lentissima", "internet lenta"),
    ("cai", "wifi lenta"),
    ("chip", "sim"),
    ("pin", "puk"),
    ("bloqueado", "puk sim"),
    ("bloqueei", "puk sim"),
    ("roubaram", "sim roubado"),
    ("roubado", "sim roubado"),
    ("perdi", "sim perdido"),
    ("fidelizacao", "cancelar"),
    ("operadora", "portabilidade número"),
];

/// `text` with the articles' words for the customer's words appended (unchanged when none).
#[must_use]
pub fn expand(language: Language, text: &str) -> String {
    let table = match language {
        Language::En => EN,
        Language::Es => ES,
        Language::Pt => PT,
    };
    let folded = fold(text);
    let mut added: Vec<&str> = Vec::new();
    for word in folded.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
        if let Some((_, extra)) = table.iter().find(|(w, _)| *w == word)
            && !added.contains(extra)
        {
            added.push(extra);
        }
    }
    if added.is_empty() {
        return text.to_owned();
    }
    format!("{text} ({})", added.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_the_articles_words() {
        assert_eq!(expand(Language::Es, "quiero más gigas"), "quiero más gigas (datos)");
        assert_eq!(expand(Language::Pt, "a net tá lenta"), "a net tá lenta (internet internet lenta)");
        assert_eq!(expand(Language::En, "how do I turn on roaming?"), "how do I turn on roaming?");
    }
}
