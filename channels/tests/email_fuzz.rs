//! Fuzz-style: random and mutated bytes into the parsers, asserting only that nothing panics.
//! Deterministic (fixed seed) and bounded, so it is fast and reproducible; the open-ended
//! version is the cargo-fuzz target in `channels/fuzz/`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use channels::email::{InboundLimits, find_token, html_to_text, parse_inbound, strip_quoted, thread_keys};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn corpus() -> Vec<Vec<u8>> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/mail");
    let mut files: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.retain(|p| p.extension().is_some_and(|e| e == "eml"));
    files.sort();
    assert!(files.len() >= 8, "the corpus is missing");
    files.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

/// Interesting fragments to splice in.
const TOKENS: &[&[u8]] = &[
    b"\r\n",
    b"\n",
    b"--",
    b"boundary=\"b\"",
    b"Content-Type: multipart/mixed; boundary=b\r\n",
    b"=?UTF-8?B?",
    b"?=",
    b"=?ISO-8859-1?Q?=E9",
    b"Content-Transfer-Encoding: base64\r\n",
    b"quoted-printable",
    b"=\r\n",
    b"=ZZ",
    b"<",
    b">",
    b"<script>",
    b"&#x",
    b";",
    b"message/rfc822",
    b"multipart/report; report-type=delivery-status",
    b"Message-ID: <",
    b"From: MAILER-DAEMON@x\r\n",
    b"\xff\xfe\x00",
    b"\xc3",
    b"> ",
    b"On x wrote:",
    b"-- \r\n",
];

fn mutate(rng: &mut StdRng, data: &mut Vec<u8>) {
    for _ in 0..rng.gen_range(1..8) {
        let at = rng.gen_range(0..=data.len());
        match rng.gen_range(0..6) {
            0 if !data.is_empty() => {
                let i = rng.gen_range(0..data.len());
                data[i] ^= 1 << rng.gen_range(0..8);
            }
            1 => data.insert(at, rng.r#gen()),
            2 if at < data.len() => {
                let end = (at + rng.gen_range(1..64)).min(data.len());
                data.drain(at..end);
            }
            3 => {
                let t = TOKENS[rng.gen_range(0..TOKENS.len())];
                data.splice(at..at, t.iter().copied());
            }
            4 => data.truncate(at),
            _ if !data.is_empty() => {
                // Duplicate a slice elsewhere (repeated headers, nested parts).
                let from = rng.gen_range(0..data.len());
                let end = (from + rng.gen_range(1..200)).min(data.len());
                let chunk = data[from..end].to_vec();
                data.splice(at..at, chunk);
            }
            _ => {}
        }
    }
}

#[test]
fn parse_inbound_survives_mutated_mail() {
    let corpus = corpus();
    let limits = InboundLimits { max_attachment_bytes: 512, max_total_attachment_bytes: 1024, max_text_chars: 2000 };
    let mut rng = StdRng::seed_from_u64(0x5b_e4a1);
    let mut parsed = 0;
    for i in 0..3000 {
        let mut data = corpus[i % corpus.len()].clone();
        mutate(&mut rng, &mut data);
        if let Ok(m) = parse_inbound(&data, &limits) {
            parsed += 1;
            let _ = thread_keys(&m);
            let _ = find_token(&m.subject, m.recipients());
            let _ = m.message_text(1000);
            assert!(m.text.chars().count() <= 2000);
            assert!(m.attachments.iter().all(|a| a.content.len() <= 512));
        }
    }
    // Most mutations leave a mail that still parses: the parser is lenient, not brittle.
    assert!(parsed > 2000, "only {parsed} of 3000 parsed");
}

#[test]
fn random_bytes_and_text_never_panic() {
    let mut rng = StdRng::seed_from_u64(7);
    let alphabet = "<>/&;#x!-pbr bscriptstyleblockquote\"'=\n\r\t>aé€\u{0}".chars().collect::<Vec<_>>();
    for _ in 0..2000 {
        let len = rng.gen_range(0..400);
        let bytes: Vec<u8> = (0..len).map(|_| rng.r#gen()).collect();
        let _ = parse_inbound(&bytes, &InboundLimits::default());
        let text: String = (0..len).map(|_| alphabet[rng.gen_range(0..alphabet.len())]).collect();
        let _ = html_to_text(&text);
        let _ = strip_quoted(&text);
        let _ = find_token(&text, []);
    }
}
