//! Every parser that takes unauthenticated input, on adversarial input of n and 16n bytes: the
//! work must grow about 16 times (linear), not 256 (quadratic). Times are the fastest of several
//! runs (`schema::linear::work_ratio`), and the bound, 64, is generous against timer noise and
//! a loaded machine while still far below what quadratic work gives.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use channels::email::{
    InboundLimits, find_token, mask_card_numbers_in_mail, parse_authentication_results, parse_inbound, thread_keys,
};
use channels::sip::SipMessage;
use channels::sip::message::frame_length;
use channels::social::{meta, telegram};
use channels::webchat::ClientFrame;
use schema::linear::work_ratio;

/// 16 times the input.
const FACTOR: usize = 16;
const BOUND: f64 = 64.0;

/// Checks `f` on `make(n)` and `make(16 n)`.
fn linear<T>(what: &str, n: usize, make: impl Fn(usize) -> Vec<u8>, f: impl Fn(&[u8]) -> T) {
    let (small, large) = (make(n), make(n * FACTOR));
    let ratio = work_ratio(|| f(&small), || f(&large));
    assert!(ratio < BOUND, "{what}: {} bytes took {ratio:.1} times as long as {}", large.len(), small.len());
}

fn repeat(unit: &str, times: usize) -> String {
    unit.repeat(times)
}

#[test]
fn web_chat_client_frames() {
    for unit in ["[", "{\"a\":", "\\u00e9", "\"x\",", "{\"type\":\"message\",\"text\":\"", " "] {
        linear(
            unit,
            2_000,
            |n| repeat(unit, n).into_bytes(),
            |b| ClientFrame::parse(std::str::from_utf8(b).unwrap(), 4000),
        );
    }
    linear(
        "long message",
        2_000,
        |n| {
            format!("{{\"type\":\"message\",\"client_id\":\"c\",\"text\":\"{}\"}}", repeat("4111 1111 ", n))
                .into_bytes()
        },
        |b| ClientFrame::parse(std::str::from_utf8(b).unwrap(), usize::MAX),
    );
}

#[test]
fn webhook_bodies() {
    for unit in ["[", "{\"entry\":[", "{\"object\":\"page\",\"entry\":[{\"id\":\"1\",\"messaging\":[]},", "\\\\"] {
        linear(
            unit,
            2_000,
            |n| repeat(unit, n).into_bytes(),
            |b| (meta::parse(b).is_ok(), telegram::parse(b, "bot").is_ok()),
        );
    }
}

#[test]
fn mail_parsing_threading_and_masking() {
    let limits = InboundLimits::default();
    let headers = |n: usize| {
        format!(
            "From: a@example.com\r\nSubject: {}\r\nReferences: {}\r\nMessage-ID: <x@y>\r\n\r\nbody\r\n",
            repeat("#SB-", n / 4),
            repeat("<r@e> ", n / 6)
        )
        .into_bytes()
    };
    let nested = |n: usize| {
        let mut m = String::from("From: a@example.com\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n");
        m.push_str(&repeat("--b\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n4111=\r\n 1111 1111 1111=3D\r\n", n / 80));
        m.into_bytes()
    };
    let quotes =
        |n: usize| format!("From: a@example.com\r\n\r\n{}", repeat("> > > On x wrote:\r\n", n / 18)).into_bytes();
    for (what, make) in
        [("headers", &headers as &dyn Fn(usize) -> Vec<u8>), ("mime parts", &nested), ("quotes", &quotes)]
    {
        linear(what, 8_000, make, |b| {
            let mail = parse_inbound(b, &limits).unwrap();
            (thread_keys(&mail), find_token(&mail.subject, mail.recipients()))
        });
        linear(what, 8_000, make, mask_card_numbers_in_mail);
    }
}

#[test]
fn authentication_results() {
    for unit in ["((((\\", "\"\\\"", "a=b ", ";=;/", "x.y=(z) ", "; dkim=pass header.d=example.com"] {
        linear(
            unit,
            1_000,
            |n| format!("mx.example; {}", repeat(unit, n)).into_bytes(),
            |b| parse_authentication_results(std::str::from_utf8(b).unwrap()),
        );
    }
}

#[test]
fn sip_messages_and_tcp_framing() {
    let invite = |extra: &str, n: usize| {
        format!(
            "INVITE sip:support@h SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@h>;tag=1\r\n\
             To: <sip:support@h>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n{}Content-Length: 0\r\n\r\n",
            repeat(extra, n)
        )
        .into_bytes()
    };
    for unit in [
        "Via: SIP/2.0/UDP h;branch=z9hG4bK1;rport\r\n",
        "X: ;;;;;;;;\r\n",
        "P-Asserted-Identity: \"\\\"\" <sip:a@h>,\r\n",
        " folded\r\n",
    ] {
        linear(unit, 40, |n| invite(unit, n), |b| SipMessage::parse(b).is_ok());
        linear(unit, 40, |n| invite(unit, n), |b| frame_length(b).ok());
    }
    linear("crlf", 400, |n| "\r\n".repeat(n).into_bytes(), |b| frame_length(b).ok());
}
