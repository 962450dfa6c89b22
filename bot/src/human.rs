//! Always-human cues: what a person must handle, recognised by phrase rules in English, Spanish
//! and Portuguese (accent-folded, so "devolución" and "devolucion" are the same), in any of the
//! three languages whatever the message's language (customers code-switch).
//!
//! Embedding similarity to a few intent examples misses these too often (a bill dispute written
//! without "refund", a Spanish cancellation, a fraud report that looks like the spam-calls
//! article), and a miss costs more than a needless hand-over, so the rules are broad on purpose.
//! Each rule is a phrase (matched on word boundaries of the folded text) or a pair of word sets
//! that must both occur. Words ending in `*` match any word starting with the stem.

use crate::fold;

/// The kinds of request a person always handles.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HumanCategory {
    /// Bill disputes and refunds.
    Dispute,
    /// Cancellation and porting the number out.
    Cancellation,
    /// Fraud and changes the customer did not authorise.
    Fraud,
    /// Complaints about staff, and long angry complaints.
    Complaint,
    /// Legal threats: lawyers, courts, regulators, consumer bodies.
    Legal,
    /// Vulnerable customers: bereavement, medical dependence on the line.
    Vulnerable,
}

impl HumanCategory {
    /// The intent name used for routing and in the hand-over (`bill_dispute`, ...).
    #[must_use]
    pub const fn intent(self) -> &'static str {
        match self {
            Self::Dispute => "bill_dispute",
            Self::Cancellation => "cancel_service",
            Self::Fraud => "fraud_report",
            Self::Complaint => "complaint",
            Self::Legal => "legal_threat",
            Self::Vulnerable => "vulnerable_customer",
        }
    }

    /// The category name used in the evaluation sets.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Dispute => "dispute",
            Self::Cancellation => "cancellation",
            Self::Fraud => "fraud",
            Self::Complaint => "complaint",
            Self::Legal => "legal",
            Self::Vulnerable => "vulnerable",
        }
    }
}

/// A recognised always-human request and the cue that matched (for the agent's summary).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HumanCue {
    pub category: HumanCategory,
    pub cue: String,
}

const FRAUD_PHRASES: &[&str] = &[
    "without my permission",
    "without my consent",
    "without my authorisation",
    "without my authorization",
    "without asking me",
    "didn't authorise",
    "didnt authorise",
    "didn't authorize",
    "didnt authorize",
    "did not authorise",
    "did not authorize",
    "not authorised by me",
    "wasn't me",
    "wasnt me",
    "was not me",
    "it wasn't me",
    "in my name",
    "identity theft",
    "stole my identity",
    "stolen identity",
    "hacked",
    "fraud*",
    "scammed",
    "didn't ask for it",
    "didnt ask for it",
    "did not ask for it",
    "never made",
    "sin mi permiso",
    "sin mi consentimiento",
    "sin mi autorizacion",
    "sin autorizacion",
    "sin autorizar",
    "sin pedirlo",
    "no fui yo",
    "no lo he pedido",
    "no lo pedi",
    "a mi nombre",
    "suplant*",
    "hacke*",
    "jaqueado",
    "fraude",
    "fraudulent*",
    "estafa*",
    "sem autorizacao",
    "sem a minha autorizacao",
    "sem permissao",
    "sem a minha permissao",
    "sem o meu consentimento",
    "sem eu saber",
    "sem eu pedir",
    "nao fui eu",
    "em meu nome",
    "no meu nome",
    "pirate*",
    "burla*",
    "roubo de identidade",
    "usurpa*",
];

const LEGAL_PHRASES: &[&str] = &[
    "lawyer*",
    "solicitor*",
    "attorney",
    "sue you",
    "suing",
    "court",
    "legal action",
    "take legal",
    "ombudsman",
    "regulator",
    "ofcom",
    "trading standards",
    "small claims",
    "report you to",
    "abogad*",
    "denunci*",
    "juicio",
    "juzgado",
    "tribunal*",
    "demanda*",
    "ocu",
    "facua",
    "oficina de consumo",
    "en consumo",
    "a consumo",
    "hoja de reclamaciones",
    "cnmc",
    "advogad*",
    "processar",
    "processo em tribunal",
    "anacom",
    "a deco",
    "na deco",
    "deco proteste",
    "livro de reclamacoes",
    "queixa",
    "julgado de paz",
];

const VULNERABLE_PHRASES: &[&str] = &[
    "passed away",
    "has died",
    "just died",
    "who died",
    "death",
    "deceased",
    "bereave*",
    "funeral",
    "medical alarm",
    "telecare",
    "personal alarm",
    "oxygen",
    "dialysis",
    "pacemaker",
    "i am disabled",
    "i'm disabled",
    "im disabled",
    "disabled person",
    "disabled son",
    "disabled daughter",
    "disability",
    "carer",
    "terminally",
    "cancer",
    "chemo*",
    "serious illness",
    "seriously ill",
    "medical emergenc*",
    "vulnerable",
    "fallec*",
    "difunt*",
    "defuncion",
    "viud*",
    "teleasistencia",
    "oxigeno",
    "dialisis",
    "marcapasos",
    "discapacidad",
    "soy dependiente",
    "persona dependiente",
    "gran dependiente",
    "dependencia",
    "enfermedad grave",
    "emergencias medicas",
    "quimio*",
    "falec*",
    "obito",
    "teleassistencia",
    "hemodialise",
    "deficiencia",
    "sou dependente",
    "pessoa dependente",
    "doenca grave",
    "emergencias medicas",
    "acamad*",
];

/// A relative and a word of death, together, make a bereavement ("my phone died" does not).
const FAMILY_WORDS: &[&str] = &[
    "husband",
    "wife",
    "mother",
    "father",
    "mum",
    "mom",
    "dad",
    "son",
    "daughter",
    "brother",
    "sister",
    "partner",
    "grandmother",
    "grandfather",
    "gran",
    "grandad",
    "marido",
    "esposa",
    "esposo",
    "mujer",
    "madre",
    "padre",
    "hijo",
    "hija",
    "hermano",
    "hermana",
    "abuela",
    "abuelo",
    "pareja",
    "mulher",
    "mae",
    "pai",
    "filho",
    "filha",
    "irmao",
    "irma",
    "avo",
    "companheiro",
    "companheira",
];
const DEATH_WORDS: &[&str] =
    &["died", "dead", "murio", "muerto", "muerta", "fallecio", "morreu", "morto", "morta", "faleceu"];

const COMPLAINT_PHRASES: &[&str] = &[
    "formal complaint",
    "make a complaint",
    "file a complaint",
    "complaint about",
    "complain about",
    "queja formal",
    "poner una queja",
    "presentar una queja",
    "quiero quejarme",
    "una queja",
    "reclamacion formal",
    "fazer uma reclamacao",
    "apresentar uma reclamacao",
    "quero reclamar do",
    "quero reclamar da",
];

/// Staff and the bad behaviour that, together, make a complaint about staff.
const STAFF_WORDS: &[&str] = &[
    "technician",
    "engineer",
    "staff",
    "employee",
    "shop",
    "store",
    "salesman",
    "saleswoman",
    "seller",
    "agent",
    "advisor",
    "operator",
    "guy",
    "girl",
    "lady",
    "woman",
    "man",
    "person",
    "tecnico",
    "empleado",
    "empleada",
    "tienda",
    "comercial",
    "vendedor",
    "vendedora",
    "chica",
    "chico",
    "senor",
    "senora",
    "agente",
    "operador",
    "operadora",
    "teleoperador",
    "teleoperadora",
    "funcionario",
    "funcionaria",
    "loja",
    "atendente",
    "assistente",
    "rapaz",
    "rapariga",
    "senhor",
    "senhora",
];
const BAD_BEHAVIOUR: &[&str] = &[
    "rude",
    "rudely",
    "lied",
    "lying",
    "liar",
    "shouted",
    "yelled",
    "insulted",
    "unprofessional",
    "disrespectful",
    "aggressive",
    "threatened",
    "hung",
    "maleducado",
    "maleducada",
    "grosero",
    "grosera",
    "mintio",
    "mintieron",
    "engano",
    "enganaron",
    "grito",
    "insulto",
    "borde",
    "colgo",
    "enganou",
    "enganaram",
    "mentiu",
    "mentiram",
    "gritou",
    "insultou",
    "malcriado",
    "desligou",
    "mal educado",
    "mal educada",
];

/// Words of anger; several of them, or one in a long message, make a complaint.
const ANGER_WORDS: &[&str] = &[
    "worst",
    "disgrace*",
    "disgusting",
    "ridiculous",
    "unacceptable",
    "useless",
    "pathetic",
    "joke",
    "nobody",
    "fed up",
    "sick of",
    "furious",
    "harto",
    "harta",
    "verguenza",
    "inutil*",
    "nadie",
    "ridicul*",
    "inaceptable",
    "cansad*",
    "indignant*",
    "vergonha",
    "farto",
    "farta",
    "ninguem",
    "inadmissivel",
    "inaceitavel",
    "pessim*",
    "absurd*",
    "lament*",
];

const DISPUTE_PHRASES: &[&str] = &[
    "refund*",
    "money back",
    "overcharg*",
    "over charged",
    "charged twice",
    "charged me twice",
    "double charged",
    "charged double",
    "billed twice",
    "billed me twice",
    "charged two times",
    "dispute*",
    "wrong charge",
    "charge is wrong",
    "charges are wrong",
    "bill is wrong",
    "is wrong on my bill",
    "incorrect charge",
    "charge is incorrect",
    "never ordered",
    "never signed up",
    "never asked for",
    "never used",
    "never requested",
    "didn't order",
    "didnt order",
    "did not order",
    "don't recognise",
    "dont recognise",
    "don't recognize",
    "dont recognize",
    "do not recognise",
    "do not recognize",
    "credit my account",
    "credit back",
    "compensat*",
    "take it off",
    "remove the charge",
    "i was promised",
    "was promised",
    "you promised",
    "reembols*",
    "devolucion",
    "devolver el dinero",
    "devolvais",
    "devuelvan",
    "devolveis",
    "devuelvas",
    "me devolvais",
    "mi dinero",
    "el dinero",
    "cobrado de mas",
    "cobrais de mas",
    "cobrasteis de mas",
    "cobrado dos veces",
    "cobrasteis dos veces",
    "cobraron dos veces",
    "cobrado doble",
    "cobro indebido",
    "cargo indebido",
    "no reconozco",
    "nunca he contratado",
    "nunca contrate",
    "nunca pedi",
    "no he contratado",
    "no contrate",
    "me prometieron",
    "prometisteis",
    "compensacion",
    "reclamar un cargo",
    "reclamar la factura",
    "reclamar el cargo",
    "reclamar una factura",
    "reclamacion de la factura",
    "reembolso",
    "devolucao",
    "dinheiro de volta",
    "devolvam",
    "devolver o dinheiro",
    "devolverem",
    "o meu dinheiro",
    "cobraram a mais",
    "cobrado a mais",
    "cobram a mais",
    "cobraram me a mais",
    "cobraram duas vezes",
    "cobrado duas vezes",
    "cobrou duas vezes",
    "paguei duas vezes",
    "paid twice",
    "pagado dos veces",
    "pague dos veces",
    "cobranca indevida",
    "cobrado indevidamente",
    "cobrada indevidamente",
    "indevid*",
    "nao reconheco",
    "nunca pedi",
    "nunca contratei",
    "nao contratei",
    "nao pedi",
    "prometeram",
    "creditar",
    "compensacao",
    "reclamar a fatura",
    "reclamar uma cobranca",
    "reclamar esta cobranca",
    "reclamar uma fatura",
    "reclamar da fatura",
];

/// Cancelling, leaving, taking the number elsewhere.
const CANCEL_PHRASES: &[&str] = &[
    "cancel*",
    "terminate*",
    "termination of",
    "close my account",
    "close my line",
    "close the line",
    "end my contract",
    "end the contract",
    "get out of my contract",
    "get out of the contract",
    "out of my contract",
    "leave you",
    "leaving you",
    "i'm leaving",
    "im leaving",
    "i am leaving",
    "want to leave",
    "wanna leave",
    "going to leave",
    "switching to",
    "switch to another",
    "moving to another provider",
    "moving to another network",
    "moving to another company",
    "going to another",
    "pac code",
    "port my number",
    "port out",
    "porting out",
    "take my number to",
    "take my number with",
    "move my number to",
    "stac",
    "disconnect my",
    "darme de baja",
    "darse de baja",
    "dar de baja",
    "doy de baja",
    "de baja",
    "la baja",
    "cancelar",
    "cancelad",
    "cancelen",
    "cancelais",
    "anular",
    "rescindir",
    "rescision",
    "me voy a otra",
    "irme a otra",
    "me cambio a",
    "me paso a",
    "llevarme mi numero",
    "llevarme el numero",
    "portar mi numero",
    "con mi numero a",
    "me quiero ir",
    "quiero irme",
    "cancelem",
    "cancelar",
    "cancelamento",
    "rescisao",
    "rescindir",
    "desistir",
    "terminar o contrato",
    "acabar com o contrato",
    "sair da vossa",
    "sair da operadora",
    "quero sair",
    "vou sair",
    "mudar para a meo",
    "mudar para a vodafone",
    "mudar para a nos",
    "ir para a meo",
    "ir para a vodafone",
    "ir para a nos",
    "mudar de operadora",
    "levar o meu numero",
    "levar o numero",
    "portar o meu numero",
];

/// Things customers cancel that are not the service (a direct debit, roaming, an order).
const NOT_THE_SERVICE: &[&str] = &[
    "direct debit",
    "debit",
    "mandate",
    "roaming",
    "voicemail",
    "bundle",
    "add on",
    "addon",
    "order",
    "top up",
    "domiciliacion",
    "bono",
    "pedido",
    "debito",
    "pacote",
    "encomenda",
];

/// Charging words and "twice / too much" words that, together, make a dispute.
const CHARGE_WORDS: &[&str] =
    &["charged", "charging", "billed", "charge", "cobr*", "cobrado", "cobraron", "cobraram", "facturado", "faturado"];
const EXCESS_WORDS: &[&str] = &[
    "twice",
    "double",
    "two times",
    "2 times",
    "dos veces",
    "2 veces",
    "doble",
    "de mas",
    "duas vezes",
    "2 vezes",
    "a dobrar",
    "a mais",
    "em duplicado",
    "duplicad*",
];

/// Questions about the terms of leaving (fees, notice, equipment) that the articles answer.
const CANCEL_INFO_WORDS: &[&str] = &[
    "how much",
    "fee",
    "fees",
    "cost",
    "penalty",
    "charge",
    "if i",
    "return the router",
    "cuanto",
    "penalizacion",
    "permanencia",
    "si me",
    "devolver el router",
    "tengo que devolver",
    "quanto",
    "fidelizacao",
    "se eu",
    "se sair",
    "devolver o router",
    "tenho de devolver",
    "come over",
    "coming over",
    "switch to you",
    "a vosotros",
    "para voces",
    "keep my number",
    "conservar mi numero",
    "mantener mi numero",
    "manter o meu numero",
];

/// Words that make a cancellation an explicit request even when it mentions fees.
const REQUEST_WORDS: &[&str] = &[
    "i want",
    "i wanna",
    "i need",
    "please",
    "pls",
    "now",
    "today",
    "quiero",
    "ya",
    "hoy",
    "por favor",
    "quero",
    "ja",
    "hoje",
    "agora",
];

fn words(folded: &str) -> Vec<&str> {
    folded.split(|c: char| !c.is_alphanumeric() && c != '\'').filter(|w| !w.is_empty()).collect()
}

/// Whether the phrase (words, a trailing `*` = prefix) occurs in `words` on word boundaries.
fn has_phrase(words: &[&str], phrase: &str) -> bool {
    let parts: Vec<&str> = phrase.split(' ').collect();
    if parts.is_empty() || parts.len() > words.len() {
        return false;
    }
    words.windows(parts.len()).any(|w| {
        w.iter().zip(&parts).all(|(word, p)| match p.strip_suffix('*') {
            Some(stem) => word.starts_with(stem),
            None => word == p,
        })
    })
}

fn first_match<'a>(words: &[&str], phrases: &[&'a str]) -> Option<&'a str> {
    phrases.iter().copied().find(|p| has_phrase(words, p))
}

fn count_matches(words: &[&str], phrases: &[&str]) -> usize {
    phrases.iter().filter(|p| has_phrase(words, p)).count()
}

/// The always-human request in a message, if any: fraud and legal threats first (they matter
/// most), then vulnerable customers, complaints, disputes and cancellations.
#[must_use]
pub fn always_human_cue(text: &str) -> Option<HumanCue> {
    let folded = fold(text).replace(['’', '`'], "'");
    let words = words(&folded);
    if words.is_empty() {
        return None;
    }
    let cue = |category: HumanCategory, cue: &str| Some(HumanCue { category, cue: cue.to_owned() });
    if let Some(p) = first_match(&words, FRAUD_PHRASES) {
        return cue(HumanCategory::Fraud, p);
    }
    if let Some(p) = first_match(&words, LEGAL_PHRASES) {
        return cue(HumanCategory::Legal, p);
    }
    if let Some(p) = first_match(&words, VULNERABLE_PHRASES) {
        return cue(HumanCategory::Vulnerable, p);
    }
    if let (Some(f), Some(d)) = (first_match(&words, FAMILY_WORDS), first_match(&words, DEATH_WORDS)) {
        return cue(HumanCategory::Vulnerable, &format!("{f} … {d}"));
    }
    if let Some(p) = first_match(&words, COMPLAINT_PHRASES) {
        return cue(HumanCategory::Complaint, p);
    }
    if let (Some(s), Some(b)) = (first_match(&words, STAFF_WORDS), first_match(&words, BAD_BEHAVIOUR)) {
        return cue(HumanCategory::Complaint, &format!("{s} … {b}"));
    }
    let anger = count_matches(&words, ANGER_WORDS);
    let exclaims = text.matches('!').count();
    if anger >= 2 || (anger >= 1 && (words.len() >= 25 || exclaims >= 3)) {
        return cue(HumanCategory::Complaint, "angry complaint");
    }
    if let Some(p) = first_match(&words, DISPUTE_PHRASES) {
        return cue(HumanCategory::Dispute, p);
    }
    if let (Some(c), Some(e)) = (first_match(&words, CHARGE_WORDS), first_match(&words, EXCESS_WORDS)) {
        return cue(HumanCategory::Dispute, &format!("{c} … {e}"));
    }
    if let Some(p) = first_match(&words, CANCEL_PHRASES).filter(|_| first_match(&words, NOT_THE_SERVICE).is_none()) {
        let asks_terms = first_match(&words, CANCEL_INFO_WORDS).is_some();
        let requests = first_match(&words, REQUEST_WORDS).is_some();
        if !asks_terms
            || requests && !has_phrase(&words, "si") && !has_phrase(&words, "se") && !has_phrase(&words, "if")
        {
            return cue(HumanCategory::Cancellation, p);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn category(text: &str) -> Option<HumanCategory> {
        always_human_cue(text).map(|c| c.category)
    }

    #[test]
    fn the_issue_examples_hand_over() {
        assert_eq!(category("there's a 45 euro charge for something I never ordered"), Some(HumanCategory::Dispute));
        assert_eq!(category("quiero cancelar el contrato de fibra"), Some(HumanCategory::Cancellation));
        assert_eq!(
            category("my number was ported to another company without my permission"),
            Some(HumanCategory::Fraud)
        );
        assert_eq!(category("portaram o meu número sem autorização"), Some(HumanCategory::Fraud));
        assert_eq!(category("el técnico fue muy maleducado"), Some(HumanCategory::Complaint));
        assert_eq!(category("vou fazer queixa à DECO"), Some(HumanCategory::Legal));
        assert_eq!(category("mi padre falleció, ¿qué hago con su línea?"), Some(HumanCategory::Vulnerable));
    }

    #[test]
    fn questions_the_articles_answer_do_not() {
        for t in [
            "how do I turn on roaming?",
            "why is my bill higher than usual?",
            "why was I charged so much on a cruise ship",
            "¿cuánto es la penalización por permanencia?",
            "¿tengo que devolver el router si me doy de baja?",
            "quanto pago se sair antes do fim da fidelização?",
            "getting loads of scam calls, how do I block them",
            "me han robado el móvil",
            "can I keep my number if I come over to you from another network",
            "no tengo cobertura",
        ] {
            assert_eq!(category(t), None, "{t:?}");
        }
    }
}
