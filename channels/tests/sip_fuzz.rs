//! Bounded, deterministic fuzzing of the SIP parser and of a running server: random bytes and
//! mutations of valid messages must never panic, and the server must keep answering afterwards.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use channels::sip::digest::DigestResponse;
use channels::sip::message::{self, Response, SipMessage, SipUri};
use channels::sip::{SipAccount, SipConfig, SipCredentials, SipServer};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::net::UdpSocket;

const SEEDS: &[&str] = &[
    "INVITE sip:support@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKa1;rport\r\nFrom: \"A\" <sip:+1555@127.0.0.1>;tag=1\r\nTo: <sip:support@127.0.0.1>\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\nContact: <sip:+1555@127.0.0.1:5999>\r\nMax-Forwards: 70\r\nContent-Type: application/sdp\r\nContent-Length: 4\r\n\r\nv=0\n",
    "REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKr1\r\nFrom: <sip:agent1@127.0.0.1>;tag=2\r\nTo: <sip:agent1@127.0.0.1>\r\nCall-ID: r1\r\nCSeq: 1 REGISTER\r\nContact: <sip:agent1@127.0.0.1:5998>;expires=60, *\r\nExpires: 0\r\nAuthorization: Digest username=\"agent1\", realm=\"switchboard.test\", nonce=\"1.2\", uri=\"sip:127.0.0.1\", response=\"00\", qop=auth, nc=00000001, cnonce=\"x\"\r\nContent-Length: 0\r\n\r\n",
    "CANCEL sip:support@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKa1;rport\r\nFrom: <sip:+1555@127.0.0.1>;tag=1\r\nTo: <sip:support@127.0.0.1>\r\nCall-ID: c1\r\nCSeq: 1 CANCEL\r\nContent-Length: 0\r\n\r\n",
    "BYE sip:switchboard@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKb1\r\nFrom: <sip:+1555@127.0.0.1>;tag=1\r\nTo: <sip:support@127.0.0.1>;tag=x\r\nCall-ID: c1\r\nCSeq: 2 BYE\r\nl: 0\r\n\r\n",
    "ACK sip:switchboard@127.0.0.1 SIP/2.0\r\nv: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKa1\r\nf: <sip:+1555@127.0.0.1>;tag=1\r\nt: <sip:support@127.0.0.1>;tag=x\r\ni: c1\r\nCSeq: 1 ACK\r\n\r\n",
    "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKx\r\nFrom: <sip:+1555@127.0.0.1>;tag=1\r\nTo: <sip:agent1@127.0.0.1>;tag=9\r\nCall-ID: leg\r\nCSeq: 1 INVITE\r\nContact: <sip:agent1@127.0.0.1:5998>\r\nContent-Length: 0\r\n\r\n",
    "SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKx\r\nFrom: <sip:+1555@127.0.0.1>;tag=1\r\nTo: <sip:agent1@127.0.0.1>;tag=9\r\nCall-ID: leg\r\nCSeq: 1 INVITE\r\n\r\n",
];

const TOKENS: &[&[u8]] = &[
    b"\r\n",
    b"\r\n\r\n",
    b":",
    b";",
    b",",
    b"<",
    b">",
    b"\"",
    b"\\",
    b"@",
    b"=",
    b" ",
    b"\t",
    b"[",
    b"]",
    b"SIP/2.0",
    b"z9hG4bK",
    b"tag=",
    b"rport",
    b"Content-Length: 99999\r\n",
    b"l: -1\r\n",
    b"\xff\xfe",
    b"\0",
    b"Via: SIP/2.0/UDP [::1]:0;branch=z9hG4bK;received=\r\n",
    b"Contact: *\r\n",
    b"CSeq: 4294967296 INVITE\r\n",
    b"Max-Forwards: 0\r\n",
    b"Expires: 4294967295\r\n",
    b"sip:",
    b"tel:",
    b"sips:",
];

fn mutate(rng: &mut StdRng, input: &[u8]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..rng.gen_range(1..8) {
        let at = if out.is_empty() { 0 } else { rng.gen_range(0..=out.len()) };
        match rng.gen_range(0..7) {
            0 if !out.is_empty() => {
                let i = rng.gen_range(0..out.len());
                out[i] ^= 1 << rng.gen_range(0..8);
            }
            1 if at < out.len() => {
                let end = (at + rng.gen_range(1..20)).min(out.len());
                out.drain(at..end);
            }
            2 => {
                let tok = TOKENS[rng.gen_range(0..TOKENS.len())];
                out.splice(at..at, tok.iter().copied());
            }
            3 => out.truncate(at),
            4 if at < out.len() => {
                // Duplicate a slice (repeated headers, doubled bodies).
                let end = (at + rng.gen_range(1..200)).min(out.len());
                let piece = out[at..end].to_vec();
                out.splice(at..at, piece);
            }
            5 => {
                let b: u8 = rng.r#gen();
                out.insert(at, b);
            }
            _ => {}
        }
    }
    out
}

/// Everything a caller of the parser might touch on a parsed message.
fn exercise(bytes: &[u8]) {
    let _ = message::frame_length(bytes);
    let Ok(msg) = SipMessage::parse(bytes) else { return };
    let again = SipMessage::parse(&msg.to_bytes()).expect("what we write, we read back");
    assert_eq!(again.headers().get("Call-ID"), msg.headers().get("Call-ID"));
    match &msg {
        SipMessage::Request(r) => {
            let _ = (r.top_via(), r.from(), r.to(), r.cseq(), r.contacts(), r.expires(), r.max_forwards());
            if let Ok(Some(c)) = r.contact() {
                let _ = c.sip_uri().map(|u| (u.socket_addr(), u.to_string()));
            }
            let _ = SipUri::parse(&r.uri);
            if let Ok(via) = r.top_via() {
                let _ = via.response_target("192.0.2.1:5060".parse().unwrap());
            }
            let _ = r.headers.get("Authorization").map(DigestResponse::parse);
            let resp = Response::to_request(r, 486, Some("t"));
            SipMessage::parse(&resp.to_bytes()).expect("responses we build parse");
        }
        SipMessage::Response(r) => {
            let _ = (r.top_via(), r.to(), r.cseq(), r.contact());
        }
    }
}

#[test]
fn parser_survives_random_and_mutated_input() {
    let mut rng = StdRng::seed_from_u64(0x5b5b_5b5b);
    for seed in SEEDS {
        assert!(SipMessage::parse(seed.as_bytes()).is_ok(), "seed must be valid: {seed}");
    }
    for _ in 0..3_000 {
        let len = rng.gen_range(0..600);
        let bytes: Vec<u8> = (0..len).map(|_| rng.r#gen()).collect();
        exercise(&bytes);
    }
    for _ in 0..30_000 {
        let seed = SEEDS[rng.gen_range(0..SEEDS.len())].as_bytes();
        exercise(&mutate(&mut rng, seed));
    }
}

struct NoAccounts;
impl SipCredentials for NoAccounts {
    fn account(&self, _: &str, _: &str) -> Option<SipAccount> {
        None
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_survives_mutated_traffic() {
    let cfg = SipConfig {
        udp: Some("127.0.0.1:0".parse().unwrap()),
        tcp: None,
        support_numbers: vec!["support".into()],
        rate_limit: None,
        ..SipConfig::default()
    };
    let (server, mut events) = SipServer::start(cfg, Arc::new(NoAccounts)).await.unwrap();
    let handle = server.handle();
    // A hub that reacts to whatever comes, including calls created by mutated INVITEs.
    tokio::spawn(async move {
        let mut n = 0u32;
        while let Some(e) = events.recv().await {
            if let channels::sip::SipEvent::IncomingCall { call, .. } = e {
                n += 1;
                match n % 3 {
                    0 => handle.queue(call).unwrap(),
                    1 => handle.reject(call, 486, Some(Duration::from_secs(1))).unwrap(),
                    _ => handle.hang_up(call).unwrap(),
                }
            }
        }
    });
    let addr = server.udp_addr().unwrap();
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut rng = StdRng::seed_from_u64(42);
    for i in 0..4_000 {
        let seed = SEEDS[rng.gen_range(0..SEEDS.len())].as_bytes();
        let bytes = if i % 4 == 0 { seed.to_vec() } else { mutate(&mut rng, seed) };
        sock.send_to(&bytes, addr).await.unwrap();
        if i % 200 == 0 {
            tokio::task::yield_now().await;
        }
    }
    // Drain, then probe.
    let mut buf = vec![0u8; 65536];
    while tokio::time::timeout(Duration::from_millis(200), sock.recv_from(&mut buf)).await.is_ok() {}
    let probe = "OPTIONS sip:support@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKprobe;rport\r\nFrom: <sip:p@x>;tag=p\r\nTo: <sip:support@x>\r\nCall-ID: probe\r\nCSeq: 1 OPTIONS\r\n\r\n";
    sock.send_to(probe.as_bytes(), addr).await.unwrap();
    loop {
        let (n, _) = tokio::time::timeout(Duration::from_secs(5), sock.recv_from(&mut buf))
            .await
            .expect("the server must still answer")
            .unwrap();
        let s = String::from_utf8_lossy(&buf[..n]);
        if s.contains("Call-ID: probe") {
            assert!(s.starts_with("SIP/2.0 200 OK"), "{s}");
            break;
        }
    }
}
