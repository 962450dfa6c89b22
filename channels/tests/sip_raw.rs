//! Transaction timers, the registrar's corner cases and redirects, driven over raw UDP where a
//! scripted peer is easier to read than a sipp scenario.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use channels::sip::digest::{Algorithm, client_response};
use channels::sip::{
    DigestSecret, EndedBy, SipAccount, SipConfig, SipCredentials, SipEvent, SipServer, SipTimers, SipUri,
};
use schema::AgentId;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

struct Accounts(HashMap<String, SipAccount>);
impl SipCredentials for Accounts {
    fn account(&self, username: &str, _: &str) -> Option<SipAccount> {
        self.0.get(username).cloned()
    }
}

fn config() -> SipConfig {
    SipConfig {
        udp: Some("127.0.0.1:0".parse().unwrap()),
        tcp: None,
        realm: "sb".into(),
        support_numbers: vec!["support".into()],
        timers: SipTimers {
            t1: Duration::from_millis(100),
            t2: Duration::from_millis(400),
            t4: Duration::from_millis(500),
        },
        rate_limit: None,
        ..SipConfig::default()
    }
}

async fn start(cfg: SipConfig) -> (SipServer, mpsc::UnboundedReceiver<SipEvent>, AgentId) {
    let agent = AgentId::new();
    let mut map = HashMap::new();
    map.insert("alice".to_owned(), SipAccount { agent, secret: DigestSecret::Password("pw".into()) });
    map.insert("bob".to_owned(), SipAccount { agent: AgentId::new(), secret: DigestSecret::Password("pw2".into()) });
    let (s, e) = SipServer::start(cfg, Arc::new(Accounts(map))).await.unwrap();
    (s, e, agent)
}

struct Peer {
    sock: UdpSocket,
    server: SocketAddr,
}

impl Peer {
    async fn new(server: SocketAddr) -> Self {
        Self { sock: UdpSocket::bind("127.0.0.1:0").await.unwrap(), server }
    }

    async fn send(&self, msg: &str) {
        self.sock.send_to(msg.as_bytes(), self.server).await.unwrap();
    }

    /// The next message, or `None` after `wait`.
    async fn recv(&self, wait: Duration) -> Option<String> {
        let mut buf = vec![0u8; 65536];
        let (n, _) = tokio::time::timeout(wait, self.sock.recv_from(&mut buf)).await.ok()?.unwrap();
        Some(String::from_utf8_lossy(&buf[..n]).into_owned())
    }

    async fn expect(&self, start: &str) -> String {
        loop {
            let m = self.recv(Duration::from_secs(5)).await.unwrap_or_else(|| panic!("no {start}"));
            if m.starts_with(start) {
                return m;
            }
            assert!(m.starts_with("SIP/2.0 1"), "expected {start}, got {m}");
        }
    }
}

fn header<'a>(msg: &'a str, name: &str) -> Option<&'a str> {
    msg.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn param(value: &str, name: &str) -> String {
    let start = value.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
    value[start..].split('"').next().unwrap().to_owned()
}

fn invite(branch: &str, call_id: &str) -> String {
    format!(
        "INVITE sip:support@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:1;branch={branch};rport\r\nFrom: <sip:+1555@127.0.0.1>;tag=c1\r\nTo: <sip:support@127.0.0.1>\r\nCall-ID: {call_id}\r\nCSeq: 1 INVITE\r\nContact: <sip:+1555@127.0.0.1:1>\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    )
}

fn ack(branch: &str, call_id: &str, to: &str) -> String {
    format!(
        "ACK sip:support@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:1;branch={branch};rport\r\nFrom: <sip:+1555@127.0.0.1>;tag=c1\r\nTo: {to}\r\nCall-ID: {call_id}\r\nCSeq: 1 ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    )
}

async fn next_event(rx: &mut mpsc::UnboundedReceiver<SipEvent>) -> SipEvent {
    tokio::time::timeout(Duration::from_secs(10), rx.recv()).await.expect("event").unwrap()
}

#[tokio::test]
async fn a_vanished_caller_times_out_and_the_final_response_is_retransmitted_until_acked() {
    let mut cfg = config();
    cfg.max_setup_time = Duration::from_millis(800);
    let (server, mut events, _) = start(cfg).await;
    let peer = Peer::new(server.udp_addr().unwrap()).await;
    peer.send(&invite("z9hG4bKv1", "vanish")).await;
    let SipEvent::IncomingCall { call, .. } = next_event(&mut events).await else { panic!() };
    server.handle().queue(call).unwrap();
    let queued = peer.expect("SIP/2.0 182 Queued").await;
    let to_tag = header(&queued, "To").unwrap().to_owned();
    // The INVITE retransmitted: the transaction repeats its last provisional.
    peer.send(&invite("z9hG4bKv1", "vanish")).await;
    assert!(peer.expect("SIP/2.0 18").await.starts_with("SIP/2.0 182"));

    // No agent, no hub decision: max_setup_time ends it with 480, retransmitted by Timer G.
    let first = Instant::now();
    let final1 = peer.expect("SIP/2.0 480").await;
    assert_eq!(header(&final1, "To"), Some(to_tag.as_str()));
    assert!(
        matches!(next_event(&mut events).await, SipEvent::CallEnded { call: c, by: EndedBy::Timeout, duration: None } if c == call)
    );
    peer.expect("SIP/2.0 480").await;
    peer.expect("SIP/2.0 480").await;
    assert!(first.elapsed() >= Duration::from_millis(250), "G doubles from T1: 100 + 200 ms");
    // ACK absorbs it: no more retransmissions.
    peer.send(&ack("z9hG4bKv1", "vanish", &to_tag)).await;
    let mut late = 0;
    let until = Instant::now() + Duration::from_millis(900);
    while let Some(m) = peer.recv(until.saturating_duration_since(Instant::now())).await {
        if m.starts_with("SIP/2.0 480") {
            late += 1;
        }
    }
    assert!(late <= 1, "at most one retransmission crossing the ACK, got {late}");
    server.handle().queue(call).unwrap();
    assert!(matches!(next_event(&mut events).await, SipEvent::CommandRejected { command: "queue", .. }));
}

#[tokio::test]
async fn redirect_sends_302_with_the_contact() {
    let (server, mut events, _) = start(config()).await;
    let peer = Peer::new(server.udp_addr().unwrap()).await;
    peer.send(&invite("z9hG4bKr1", "redir")).await;
    let SipEvent::IncomingCall { call, dialled, .. } = next_event(&mut events).await else { panic!() };
    assert_eq!(dialled, "support");
    server.handle().redirect(call, &SipUri::parse("sip:overflow@192.0.2.10").unwrap()).unwrap();
    let resp = peer.expect("SIP/2.0 302 Moved Temporarily").await;
    assert_eq!(header(&resp, "Contact"), Some("<sip:overflow@192.0.2.10>"));
    assert_eq!(next_event(&mut events).await, SipEvent::CallEnded { call, by: EndedBy::Hub, duration: None });
    server.handle().reject(call, 200, None).unwrap();
    assert!(matches!(next_event(&mut events).await, SipEvent::CommandRejected { command: "reject", .. }));

    // An INVITE requiring an extension we lack is refused before it becomes a call.
    let with_require =
        invite("z9hG4bKr2", "req").replace("Max-Forwards: 70\r\n", "Max-Forwards: 70\r\nRequire: 100rel\r\n");
    peer.send(&with_require).await;
    let resp = peer.expect("SIP/2.0 420 Bad Extension").await;
    assert_eq!(header(&resp, "Unsupported"), Some("100rel"));
    assert!(tokio::time::timeout(Duration::from_millis(200), events.recv()).await.is_err());
}

fn register(cseq: u32, user: &str, expires: &str, auth: Option<&str>) -> String {
    let auth = auth.map(|a| format!("Authorization: {a}\r\n")).unwrap_or_default();
    format!(
        "REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:1;branch=z9hG4bKreg{cseq};rport\r\nFrom: <sip:{user}@127.0.0.1>;tag=r\r\nTo: <sip:{user}@127.0.0.1>\r\nCall-ID: reg-{user}\r\nCSeq: {cseq} REGISTER\r\nContact: <sip:{user}@127.0.0.1:5070>\r\nExpires: {expires}\r\n{auth}Content-Length: 0\r\n\r\n"
    )
}

fn authorization(user: &str, password: &str, nonce: &str, nc: &str) -> String {
    let r = client_response(Algorithm::Md5, user, "sb", password, "REGISTER", "sip:127.0.0.1", nonce, Some((nc, "cn")));
    format!(
        "Digest username=\"{user}\", realm=\"sb\", nonce=\"{nonce}\", uri=\"sip:127.0.0.1\", response=\"{r}\", algorithm=MD5, qop=auth, nc={nc}, cnonce=\"cn\""
    )
}

#[tokio::test]
async fn registrar_expiry_unregister_min_expires_stale_nonce_and_foreign_aor() {
    let mut cfg = config();
    cfg.nonce_ttl = Duration::from_secs(1);
    let (server, mut events, agent) = start(cfg).await;
    let peer = Peer::new(server.udp_addr().unwrap()).await;

    peer.send(&register(1, "alice", "120", None)).await;
    let challenge = peer.expect("SIP/2.0 401").await;
    let www = header(&challenge, "WWW-Authenticate").unwrap().to_owned();
    assert!(www.contains("qop=\"auth\"") && www.contains("algorithm=MD5") && !www.contains("stale"), "{www}");
    let nonce = param(&www, "nonce");

    peer.send(&register(2, "alice", "120", Some(&authorization("alice", "pw", &nonce, "00000001")))).await;
    let ok = peer.expect("SIP/2.0 200").await;
    assert_eq!(header(&ok, "Contact"), Some("<sip:alice@127.0.0.1:5070>;expires=120"));
    assert_eq!(
        next_event(&mut events).await,
        SipEvent::AgentRegistered {
            agent,
            contact: "sip:alice@127.0.0.1:5070".into(),
            expires: Duration::from_secs(120)
        }
    );
    let b = server.handle().bindings(agent).await.unwrap();
    assert_eq!(b[0].target, "127.0.0.1:5070".parse().unwrap());

    // Too short: 423 with Min-Expires.
    peer.send(&register(3, "alice", "5", Some(&authorization("alice", "pw", &nonce, "00000002")))).await;
    let brief = peer.expect("SIP/2.0 423").await;
    assert_eq!(header(&brief, "Min-Expires"), Some("60"));

    // bob's credentials cannot register alice's address.
    let bob_auth = authorization("bob", "pw2", &nonce, "00000001");
    peer.send(&register(4, "alice", "120", Some(&bob_auth))).await;
    peer.expect("SIP/2.0 403").await;

    // Expires: 0 removes the binding.
    peer.send(&register(5, "alice", "0", Some(&authorization("alice", "pw", &nonce, "00000003")))).await;
    let ok = peer.expect("SIP/2.0 200").await;
    assert_eq!(header(&ok, "Contact"), None);
    assert_eq!(
        next_event(&mut events).await,
        SipEvent::AgentUnregistered { agent, contact: "sip:alice@127.0.0.1:5070".into() }
    );
    assert!(server.handle().bindings(agent).await.unwrap().is_empty());

    // After nonce_ttl, the right answer to the old nonce is "stale", not a failure.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    peer.send(&register(6, "alice", "120", Some(&authorization("alice", "pw", &nonce, "00000004")))).await;
    let stale = peer.expect("SIP/2.0 401").await;
    assert!(header(&stale, "WWW-Authenticate").unwrap().contains("stale=true"), "{stale}");
}
