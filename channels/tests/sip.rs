//! The SIP channel against a real SIP peer: `sipp` (Debian package `sip-tester`) plays the
//! customers' phones and the agents' softphones; a small hub loop in the test answers the
//! library's events with commands.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket as StdUdp};
use std::path::PathBuf;
use std::process::Output;
use std::sync::Arc;
use std::time::Duration;

use channels::sip::{
    Binding, CallId, DigestSecret, EndedBy, NoAnswerReason, RateLimit, SipAccount, SipConfig, SipCredentials, SipEvent,
    SipHandle, SipServer, SipTimers,
};
use schema::AgentId;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

struct Accounts(HashMap<String, SipAccount>);

impl SipCredentials for Accounts {
    fn account(&self, username: &str, _realm: &str) -> Option<SipAccount> {
        self.0.get(username).cloned()
    }
}

const PASSWORD: &str = "correct horse";

fn config() -> SipConfig {
    SipConfig {
        udp: Some("127.0.0.1:0".parse().unwrap()),
        tcp: Some("127.0.0.1:0".parse().unwrap()),
        realm: "switchboard.test".into(),
        support_numbers: vec!["support".into(), "+34900100200".into()],
        timers: SipTimers {
            t1: Duration::from_millis(100),
            t2: Duration::from_millis(400),
            t4: Duration::from_millis(500),
        },
        max_auth_failures: 3,
        rate_limit: None,
        ..SipConfig::default()
    }
}

async fn start(config: SipConfig) -> (SipServer, mpsc::UnboundedReceiver<SipEvent>, AgentId) {
    let agent = AgentId::new();
    let mut map = HashMap::new();
    map.insert("agent1".to_owned(), SipAccount { agent, secret: DigestSecret::Password(PASSWORD.into()) });
    let (server, events) = SipServer::start(config, Arc::new(Accounts(map))).await.unwrap();
    (server, events, agent)
}

fn scenario(name: &str) -> String {
    format!("{}/tests/sipp/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn work_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("switchboard-sipp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn free_udp_port() -> u16 {
    StdUdp::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn sipp(server: SocketAddr, scenario_file: &str, port: u16, extra: &[&str]) -> Child {
    let mut cmd = Command::new("sipp");
    if server.port() != 0 {
        cmd.arg(server.to_string());
    }
    cmd.args(["-sf", &scenario(scenario_file), "-i", "127.0.0.1", "-p", &port.to_string()])
        .args(["-m", "1", "-timeout", "20s", "-timeout_error", "-nostdin", "-max_retrans", "3"])
        .args(extra)
        .current_dir(work_dir())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    match cmd.spawn() {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            panic!("`sipp` is not installed: install the Debian package `sip-tester` (apt-get install sip-tester)")
        }
        Err(e) => panic!("cannot start sipp: {e}"),
    }
}

async fn finish(child: Child, what: &str) -> Output {
    let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("{what}: sipp did not finish in 30 s"))
        .unwrap();
    assert!(
        out.status.success(),
        "{what}: sipp failed ({})\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        tail(&out.stdout),
        tail(&out.stderr)
    );
    out
}

fn tail(bytes: &[u8]) -> String {
    let s = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(60)..].join("\n")
}

async fn register(server: &SipServer, user: &str, password: &str, contact_port: u16) {
    let child = sipp(
        server.udp_addr().unwrap(),
        "register.xml",
        free_udp_port(),
        &["-key", "user", user, "-key", "contact_port", &contact_port.to_string(), "-au", user, "-ap", password],
    );
    finish(child, "register").await;
}

/// The test hub: queue every call; optionally ring the agent's first binding; on no answer, reject
/// with 480 and Retry-After 30. Every event is forwarded to the test.
fn spawn_hub(
    mut events: mpsc::UnboundedReceiver<SipEvent>,
    handle: SipHandle,
    ring: Option<(AgentId, Duration)>,
) -> mpsc::UnboundedReceiver<SipEvent> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            match &event {
                SipEvent::IncomingCall { call, .. } => {
                    handle.queue(*call).unwrap();
                    if let Some((agent, timeout)) = ring {
                        let bindings: Vec<Binding> = handle.bindings(agent).await.unwrap();
                        handle.ring_agent(*call, &bindings[0], timeout).unwrap();
                    }
                }
                SipEvent::AgentNoAnswer { call, .. } => {
                    handle.reject(*call, 480, Some(Duration::from_secs(30))).unwrap();
                }
                _ => {}
            }
            if tx.send(event).is_err() {
                return;
            }
        }
    });
    rx
}

async fn next(rx: &mut mpsc::UnboundedReceiver<SipEvent>) -> SipEvent {
    tokio::time::timeout(Duration::from_secs(20), rx.recv()).await.expect("no event within 20 s").unwrap()
}

/// Events until (and including) the CallEnded of `call`.
async fn until_ended(rx: &mut mpsc::UnboundedReceiver<SipEvent>) -> Vec<SipEvent> {
    let mut seen = Vec::new();
    loop {
        let e = next(rx).await;
        let done = matches!(e, SipEvent::CallEnded { .. });
        seen.push(e);
        if done {
            return seen;
        }
    }
}

fn call_of(events: &[SipEvent]) -> CallId {
    match &events[0] {
        SipEvent::IncomingCall { call, .. } => *call,
        other => panic!("expected IncomingCall first, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_registers_and_a_queued_customer_is_connected_to_them() {
    let (server, events, agent) = start(config()).await;
    let mut events = spawn_hub(events, server.handle(), Some((agent, Duration::from_secs(10))));

    // (a) digest registration: 401 then 200.
    let agent_port = free_udp_port();
    register(&server, "agent1", PASSWORD, agent_port).await;
    match next(&mut events).await {
        SipEvent::AgentRegistered { agent: a, contact, expires } => {
            assert_eq!(a, agent);
            assert_eq!(contact, format!("sip:agent1@127.0.0.1:{agent_port}"));
            assert_eq!(expires, Duration::from_secs(300));
        }
        other => panic!("expected AgentRegistered, got {other:?}"),
    }
    let bindings = server.handle().bindings(agent).await.unwrap();
    assert_eq!(bindings.len(), 1);
    assert_eq!(bindings[0].target, SocketAddr::from(([127, 0, 0, 1], agent_port)));

    // (b) a customer calls, is queued, the agent's softphone rings and answers, the customer hangs up.
    let softphone = sipp(SocketAddr::from(([127, 0, 0, 1], 0)), "agent_answers.xml", agent_port, &[]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let caller =
        sipp(server.udp_addr().unwrap(), "caller_answered.xml", free_udp_port(), &["-s", "support", "-d", "400"]);
    finish(caller, "caller").await;
    finish(softphone, "agent softphone").await;

    let seen = until_ended(&mut events).await;
    let call = call_of(&seen);
    match &seen[0] {
        SipEvent::IncomingCall { caller, dialled, source, .. } => {
            assert_eq!(dialled, "support");
            assert_eq!(caller.user.as_deref(), Some("+34600111222"));
            assert_eq!(caller.display_name.as_deref(), Some("Ana Cliente"));
            assert_eq!(source.ip(), std::net::Ipv4Addr::LOCALHOST);
        }
        _ => unreachable!(),
    }
    assert!(seen.contains(&SipEvent::AgentRinging { call, agent }), "{seen:?}");
    assert!(seen.contains(&SipEvent::AgentAnswered { call, agent }), "{seen:?}");
    assert!(seen.contains(&SipEvent::CallerHungUp { call }), "{seen:?}");
    match seen.last() {
        Some(SipEvent::CallEnded { call: c, by: EndedBy::Caller, duration: Some(d) }) => {
            assert_eq!(*c, call);
            assert!(*d >= Duration::from_millis(350) && *d < Duration::from_secs(10), "duration {d:?}");
        }
        other => panic!("expected CallEnded by the caller with a duration, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_is_challenged_again_then_forbidden() {
    let (server, events, _agent) = start(config()).await;
    let mut events = spawn_hub(events, server.handle(), None);
    let child = sipp(
        server.udp_addr().unwrap(),
        "register_wrong.xml",
        free_udp_port(),
        &["-key", "user", "agent1", "-au", "agent1", "-ap", "not the password"],
    );
    finish(child, "wrong password").await;
    // Even the right password is refused now from that address, until the failures age out.
    let child = sipp(
        server.udp_addr().unwrap(),
        "register_wrong.xml",
        free_udp_port(),
        &["-key", "user", "agent1", "-au", "agent1", "-ap", PASSWORD],
    );
    let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output()).await.unwrap().unwrap();
    assert!(!out.status.success(), "a blocked user must not get past the first challenge");
    assert!(tokio::time::timeout(Duration::from_millis(300), events.recv()).await.is_err(), "no registration event");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caller_hanging_up_while_queued_gets_487() {
    let (server, events, _agent) = start(config()).await;
    let mut events = spawn_hub(events, server.handle(), None);
    let caller = sipp(server.udp_addr().unwrap(), "caller_cancel.xml", free_udp_port(), &["-s", "+34900100200"]);
    finish(caller, "caller").await;
    let seen = until_ended(&mut events).await;
    let call = call_of(&seen);
    assert!(matches!(&seen[0], SipEvent::IncomingCall { dialled, .. } if dialled == "+34900100200"));
    assert!(seen.contains(&SipEvent::CallerHungUp { call }), "{seen:?}");
    assert_eq!(seen.last(), Some(&SipEvent::CallEnded { call, by: EndedBy::Caller, duration: None }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unanswered_agent_is_cancelled_and_the_hub_rejects_with_retry_after() {
    let (server, events, agent) = start(config()).await;
    let mut events = spawn_hub(events, server.handle(), Some((agent, Duration::from_millis(1500))));
    let agent_port = free_udp_port();
    register(&server, "agent1", PASSWORD, agent_port).await;
    assert!(matches!(next(&mut events).await, SipEvent::AgentRegistered { .. }));

    let softphone = sipp(SocketAddr::from(([127, 0, 0, 1], 0)), "agent_no_answer.xml", agent_port, &[]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let caller = sipp(server.udp_addr().unwrap(), "caller_rejected.xml", free_udp_port(), &["-s", "support"]);
    finish(caller, "caller").await;
    finish(softphone, "agent softphone (saw the CANCEL)").await;

    let seen = until_ended(&mut events).await;
    let call = call_of(&seen);
    assert!(seen.contains(&SipEvent::AgentNoAnswer { call, agent, reason: NoAnswerReason::Timeout }), "{seen:?}");
    assert_eq!(seen.last(), Some(&SipEvent::CallEnded { call, by: EndedBy::Hub, duration: None }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_hanging_up_is_relayed_to_the_caller_over_tcp() {
    let (server, events, agent) = start(config()).await;
    let mut events = spawn_hub(events, server.handle(), Some((agent, Duration::from_secs(10))));
    let agent_port = free_udp_port();
    register(&server, "agent1", PASSWORD, agent_port).await;
    assert!(matches!(next(&mut events).await, SipEvent::AgentRegistered { .. }));
    let softphone = sipp(SocketAddr::from(([127, 0, 0, 1], 0)), "agent_hangs_up.xml", agent_port, &[]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The customer's phone talks TCP to Switchboard; the agent's softphone UDP.
    let caller =
        sipp(server.tcp_addr().unwrap(), "caller_agent_hangs_up.xml", free_udp_port(), &["-s", "support", "-t", "t1"]);
    finish(caller, "caller over TCP").await;
    finish(softphone, "agent softphone hanging up").await;
    let seen = until_ended(&mut events).await;
    let call = call_of(&seen);
    assert!(seen.contains(&SipEvent::AgentAnswered { call, agent }), "{seen:?}");
    assert!(seen.contains(&SipEvent::AgentHungUp { call, agent }), "{seen:?}");
    assert!(matches!(seen.last(), Some(SipEvent::CallEnded { by: EndedBy::Agent, duration: Some(_), .. })), "{seen:?}");
}

const OPTIONS: &str = "OPTIONS sip:support@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK-opt-BRANCH;rport\r\nFrom: <sip:probe@127.0.0.1>;tag=p1\r\nTo: <sip:support@127.0.0.1>\r\nCall-ID: probe-BRANCH\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n";

fn request(template: &str, branch: &str) -> Vec<u8> {
    template.replace("BRANCH", branch).into_bytes()
}

async fn udp_exchange(sock: &UdpSocket, server: SocketAddr, msg: &[u8]) -> String {
    sock.send_to(msg, server).await.unwrap();
    let mut buf = vec![0u8; 65536];
    let (n, _) =
        tokio::time::timeout(Duration::from_secs(5), sock.recv_from(&mut buf)).await.expect("no answer").unwrap();
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_oversize_and_unknown_methods_over_udp_and_tcp() {
    let (server, _events, _agent) = start(config()).await;
    let udp_addr = server.udp_addr().unwrap();
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();

    let garbage: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"\x00\xff\xfe garbage".to_vec(),
        b"INVITE sip:support@x SIP/2.0\r\nVia: nonsense\r\n\r\n".to_vec(),
        b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 1.2.3.4;branch=z9hG4bKnope\r\nFrom: <sip:a@b>\r\nTo: <sip:a@b>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\n\r\n".to_vec(),
        // The largest UDP payload there is (65,507 bytes): junk, and a request with an unending header.
        vec![b'A'; 65_507],
        {
            let mut big = request(OPTIONS, "big").into_iter().take_while(|b| *b != b'\r').collect::<Vec<u8>>();
            big.extend(b"\r\nX-Filler: ");
            big.resize(65_507, b'x');
            big
        },
    ];
    for g in &garbage {
        sock.send_to(g, udp_addr).await.unwrap();
    }
    let answer = udp_exchange(&sock, udp_addr, &request(OPTIONS, "1")).await;
    assert!(answer.starts_with("SIP/2.0 200 OK\r\n"), "{answer}");
    assert!(answer.contains("Allow: INVITE, ACK, BYE, CANCEL, REGISTER, OPTIONS"), "{answer}");
    // Response routing (§18.2.2 with rport): back to the real source, source noted in the Via.
    let port = sock.local_addr().unwrap().port();
    assert!(
        answer.contains(&format!("received=127.0.0.1;rport={port}")) || answer.contains(&format!("rport={port}")),
        "{answer}"
    );

    let unknown = request(OPTIONS, "2").iter().map(|b| *b as char).collect::<String>().replace("OPTIONS", "PUBLISH");
    let answer = udp_exchange(&sock, udp_addr, unknown.as_bytes()).await;
    assert!(answer.starts_with("SIP/2.0 501 Not Implemented\r\n"), "{answer}");
    // A retransmission gets the same answer from the transaction.
    let again = udp_exchange(&sock, udp_addr, unknown.as_bytes()).await;
    assert_eq!(again, answer);

    let to_nobody = request(OPTIONS, "3")
        .iter()
        .map(|b| *b as char)
        .collect::<String>()
        .replace("OPTIONS sip:support", "INVITE sip:nobody")
        .replace("1 OPTIONS", "1 INVITE");
    let answer = udp_exchange(&sock, udp_addr, to_nobody.as_bytes()).await;
    assert!(answer.starts_with("SIP/2.0 404 Not Found\r\n"), "{answer}");

    // TCP: framing by Content-Length, two messages in one write, then garbage closes the connection.
    let tcp_addr = server.tcp_addr().unwrap();
    let mut conn = TcpStream::connect(tcp_addr).await.unwrap();
    let mut both = request(&OPTIONS.replace("UDP", "TCP"), "t1");
    both.extend(unknown.replace("UDP", "TCP").replace("z9hG4bK-opt-2", "z9hG4bK-opt-t2").into_bytes());
    conn.write_all(&both).await.unwrap();
    let mut got = String::new();
    let mut buf = vec![0u8; 8192];
    while !(got.contains("200 OK") && got.contains("501 Not Implemented")) {
        let n = tokio::time::timeout(Duration::from_secs(5), conn.read(&mut buf)).await.expect("tcp answer").unwrap();
        assert!(n > 0, "connection closed early: {got}");
        got.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    conn.write_all(b"OPTIONS sip:x SIP/2.0\r\nContent-Length: banana\r\n\r\n").await.unwrap();
    let n = tokio::time::timeout(Duration::from_secs(5), conn.read(&mut buf)).await.expect("closed").unwrap_or(0);
    assert_eq!(n, 0, "a framing error closes the connection");
    let mut oversize = TcpStream::connect(tcp_addr).await.unwrap();
    oversize.write_all(&vec![b'B'; 70_000]).await.unwrap_or(());
    let n = tokio::time::timeout(Duration::from_secs(5), oversize.read(&mut buf)).await.expect("closed").unwrap_or(0);
    assert_eq!(n, 0, "an endless header block closes the connection");

    // Still serving.
    let answer = udp_exchange(&sock, udp_addr, &request(OPTIONS, "4")).await;
    assert!(answer.starts_with("SIP/2.0 200 OK\r\n"), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooding_source_is_limited_without_stalling_others() {
    let mut cfg = config();
    cfg.rate_limit = Some(RateLimit { per_second: 20, burst: 20 });
    let (server, _events, _agent) = start(cfg).await;
    let udp_addr = server.udp_addr().unwrap();
    // 127.0.0.2 is loopback too on Linux: a second source address.
    let flooder = UdpSocket::bind("127.0.0.2:0").await.unwrap();
    for i in 0..500 {
        flooder.send_to(&request(OPTIONS, &format!("f{i}")), udp_addr).await.unwrap();
    }
    let mut buf = vec![0u8; 65536];
    let (mut ok, mut unavailable) = (0, 0);
    while let Ok(Ok((n, _))) = tokio::time::timeout(Duration::from_millis(500), flooder.recv_from(&mut buf)).await {
        let s = String::from_utf8_lossy(&buf[..n]);
        if s.starts_with("SIP/2.0 200") {
            ok += 1;
        } else if s.starts_with("SIP/2.0 503") {
            assert!(s.contains("Retry-After: "), "{s}");
            unavailable += 1;
        }
    }
    assert!((20..=25).contains(&ok), "burst of 20 admitted, got {ok}");
    assert!((1..=2).contains(&unavailable), "at most one 503 a second, got {unavailable}");
    let other = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let answer = udp_exchange(&other, udp_addr, &request(OPTIONS, "other")).await;
    assert!(answer.starts_with("SIP/2.0 200 OK\r\n"), "{answer}");
}
