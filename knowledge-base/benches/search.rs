//! `cargo bench -p knowledge-base --bench search`: search latency over a generated index of
//! 100,000 documents. The document vectors are random unit vectors, not model output (embedding
//! 100,000 documents with the model would take about as long as the rest of the run many times
//! over); the vector scan costs the same whatever the values. Query embedding is measured
//! separately by `--bench embed`.
#![allow(clippy::print_stdout)]

use std::error::Error;
use std::time::{Duration, Instant};

use knowledge_base::{DIM, DocId, DocKind, Document, KnowledgeBase, Language, embedding_texts};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const DOCS: usize = 100_000;
const QUERIES: usize = 2_000;

const EN: &[&str] = &[
    "bill",
    "roaming",
    "data",
    "signal",
    "router",
    "fibre",
    "payment",
    "refund",
    "plan",
    "upgrade",
    "sim",
    "esim",
    "puk",
    "voicemail",
    "contract",
    "porting",
    "number",
    "coverage",
    "outage",
    "speed",
    "wifi",
    "password",
    "tv",
    "insurance",
    "screen",
    "prepaid",
    "credit",
    "balance",
    "voucher",
    "abroad",
    "europe",
    "charge",
    "invoice",
    "debit",
    "card",
    "account",
    "address",
    "engineer",
    "installation",
    "cancel",
    "fee",
    "upgrade",
    "phone",
    "unlock",
    "spam",
    "calls",
    "texts",
    "international",
    "allowance",
    "5g",
    "apn",
    "mms",
    "network",
    "mast",
    "postcode",
    "tariff",
];
const ES: &[&str] = &[
    "factura",
    "roaming",
    "datos",
    "cobertura",
    "router",
    "fibra",
    "pago",
    "reembolso",
    "tarifa",
    "sim",
    "puk",
    "contrato",
    "portabilidad",
    "número",
    "avería",
    "velocidad",
    "wifi",
    "tarjeta",
    "cuenta",
    "baja",
    "permanencia",
];
const PT: &[&str] = &[
    "fatura",
    "roaming",
    "dados",
    "rede",
    "router",
    "fibra",
    "pagamento",
    "reembolso",
    "tarifário",
    "sim",
    "puk",
    "contrato",
    "portabilidade",
    "número",
    "avaria",
    "velocidade",
    "wifi",
    "cartão",
    "conta",
    "fidelização",
];
const FILLER: &[&str] = &[
    "customers",
    "should",
    "check",
    "settings",
    "month",
    "working",
    "days",
    "store",
    "online",
    "app",
    "option",
    "details",
    "service",
    "change",
    "request",
    "within",
    "after",
    "before",
    "available",
    "order",
    "line",
    "home",
];

fn words(rng: &mut StdRng, vocab: &[&str], n: usize) -> String {
    (0..n)
        .map(|_| {
            if rng.gen_bool(0.6) {
                vocab[rng.gen_range(0..vocab.len())]
            } else {
                FILLER[rng.gen_range(0..FILLER.len())]
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn unit(rng: &mut StdRng) -> Vec<f32> {
    let mut v: Vec<f32> = (0..DIM).map(|_| rng.gen_range(-1.0f32..1.0)).collect();
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter_mut().for_each(|x| *x /= n);
    v
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn vocab(l: Language) -> &'static [&'static str] {
    match l {
        Language::En => EN,
        Language::Es => ES,
        Language::Pt => PT,
    }
}

fn main() -> Result<(), Box<dyn Error>> {
    let mut rng = StdRng::seed_from_u64(7);
    let kb = KnowledgeBase::new(None)?;
    let start = Instant::now();
    let mut batch = Vec::new();
    for i in 0..DOCS {
        let language = match i % 10 {
            0..=6 => Language::En,
            7 | 8 => Language::Es,
            _ => Language::Pt,
        };
        let v = vocab(language);
        let doc = Document {
            id: DocId::new(format!("doc-{i}"))?,
            kind: DocKind::Article,
            language,
            title: words(&mut rng, v, 5),
            body: words(&mut rng, v, 40),
            questions: vec![],
            tags: vec![v[rng.gen_range(0..v.len())].to_owned()],
        };
        let n = embedding_texts(&doc).len();
        let vectors = (0..n).map(|_| unit(&mut rng)).collect();
        batch.push((doc, vectors));
        if batch.len() == 10_000 {
            kb.upsert_with_vectors(std::mem::take(&mut batch))?;
        }
    }
    kb.upsert_with_vectors(batch)?;
    let h = kb.health()?;
    println!("indexed {} documents ({} vector rows) in {:.2?}", h.documents, h.vector_rows, start.elapsed());

    let queries: Vec<(String, Vec<f32>, Language)> = (0..QUERIES)
        .map(|i| {
            let l = if i % 3 == 0 { Language::Es } else { Language::En };
            let n = rng.gen_range(2..6);
            (words(&mut rng, vocab(l), n), unit(&mut rng), l)
        })
        .collect();

    type Case<'a> = (&'a str, bool, bool);
    let cases: [Case; 5] = [
        ("vector side alone (query without words)", true, false),
        ("BM25 only, all languages", false, false),
        ("BM25 only, one language", false, true),
        ("hybrid (BM25 + vector scan), all languages", true, false),
        ("hybrid (BM25 + vector scan), one language", true, true),
    ];
    println!("search latency over {} queries (limit 5; query embedding not included):", QUERIES);
    for (name, hybrid, filter) in cases {
        let mut times = Vec::with_capacity(QUERIES);
        for (text, vector, l) in &queries {
            let t = Instant::now();
            let hits = kb.search_with_vector(text, hybrid.then_some(vector.as_slice()), filter.then_some(*l), 5)?;
            times.push(t.elapsed());
            std::hint::black_box(hits);
        }
        times.sort();
        println!(
            "  {name:<45} p50 {:>9.3?}  p95 {:>9.3?}  p99 {:>9.3?}",
            pct(&times, 0.50),
            pct(&times, 0.95),
            pct(&times, 0.99)
        );
    }

    let mut times = Vec::new();
    for i in 0..20 {
        let doc = Document {
            id: DocId::new(format!("doc-{}", i * 997))?,
            kind: DocKind::Article,
            language: Language::En,
            title: words(&mut rng, EN, 5),
            body: words(&mut rng, EN, 40),
            questions: vec![],
            tags: vec![],
        };
        let vectors = vec![unit(&mut rng)];
        let t = Instant::now();
        kb.upsert_with_vectors(vec![(doc, vectors)])?;
        times.push(t.elapsed());
    }
    times.sort();
    println!(
        "single-document upsert at 100k (index + commit + reader reload, vectors given): p50 {:.2?}  max {:.2?}",
        pct(&times, 0.5),
        pct(&times, 1.0)
    );
    Ok(())
}
