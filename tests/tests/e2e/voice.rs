//! Voice (SIP) end to end: `sipp` (Debian package `sip-tester`) plays the customers' phones and
//! the agents' softphones against the running hub; the agents' inbox sockets and the REST API
//! show what routing made of the calls.

use std::net::{SocketAddr, UdpSocket as StdUdp};
use std::path::PathBuf;
use std::process::Output;
use std::time::Duration;

use serde_json::{Value, json};
use tests::{ADMIN, ANA, BRUNO, Backend, TestApp, WAIT, Ws, both_backends, spawn_app_with, test_config};
use tokio::net::UdpSocket;
use tokio::process::{Child, Command};

use crate::poll_until;

both_backends!(
    a_call_rings_the_registered_agent_who_answers_and_the_timeline_shows_it,
    a_caller_hanging_up_while_queued_closes_the_ticket,
    an_unanswered_call_tries_the_next_agent_then_gets_480_and_a_callback,
    a_call_waiting_when_the_hub_stops_becomes_a_callback,
    a_call_connected_when_the_hub_stops_is_closed_and_stays_with_the_agent,
    bad_sip_and_bad_api_input_are_refused_without_harm,
    a_softphone_follows_its_agent_being_disabled_or_losing_the_agent_role,
    caller_identity_is_trusted_only_from_identity_sources,
    calls_and_tcp_connections_beyond_the_limits_get_503
);

const REALM: &str = "switchboard.test";

async fn app(backend: Backend, ring_secs: u64, queue_limit_secs: u64) -> TestApp {
    let db = tests::TestDb::new(backend).await;
    let config = voice_config(&db, ring_secs, queue_limit_secs);
    spawn_app_with(config, db).await
}

fn voice_config(db: &tests::TestDb, ring_secs: u64, queue_limit_secs: u64) -> hub::Config {
    let mut config = test_config(db);
    config.routing.offer_timeout_secs = 5;
    config.routing.tick_ms = 100;
    config.sip.enabled = true;
    config.sip.udp = "127.0.0.1:0".into();
    config.sip.tcp = "127.0.0.1:0".into();
    config.sip.realm = REALM.into();
    config.sip.support_numbers =
        [("support".to_owned(), vec![]), ("+34900100200".to_owned(), vec!["spanish".to_owned()])].into_iter().collect();
    config.sip.rate_limit_per_sec = 0;
    config.sip.ring_timeout_secs = Some(ring_secs);
    config.sip.queue_limit_secs = queue_limit_secs;
    config.sip.retry_after_secs = 30;
    // sipp plays the operator's SBC: its numbers are trusted (see the identity tests below).
    config.sip.identity_sources = vec!["127.0.0.1".into()];
    config
}

fn sip_addr(app: &TestApp) -> SocketAddr {
    app.hub.as_ref().unwrap().state.voice.as_ref().expect("SIP is on").udp_addr().unwrap()
}

// ---- sipp -------------------------------------------------------------------------------------

fn scenario(name: &str) -> String {
    format!("{}/../channels/tests/sipp/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn work_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("switchboard-voice-sipp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn free_udp_port() -> u16 {
    StdUdp::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Starts sipp: towards `server` as a client, or (`None`) as a server on `port`.
fn sipp(server: Option<SocketAddr>, scenario_file: &str, port: u16, extra: &[&str]) -> Child {
    let mut cmd = Command::new("sipp");
    if let Some(server) = server {
        cmd.arg(server.to_string());
    }
    cmd.args(["-sf", &scenario(scenario_file), "-i", "127.0.0.1", "-p", &port.to_string()])
        .args(["-m", "1", "-timeout", "30s", "-timeout_error", "-nostdin", "-max_retrans", "3"])
        .args(extra)
        .current_dir(work_dir())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    match cmd.spawn() {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            panic!("`sipp` is not installed: install the Debian package `sip-tester` (scripts/test does)")
        }
        Err(e) => panic!("cannot start sipp: {e}"),
    }
}

fn tail(bytes: &[u8]) -> String {
    let s = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

async fn finish(child: Child, what: &str) -> Output {
    let out = tokio::time::timeout(Duration::from_secs(40), child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("{what}: sipp did not finish in 40 s"))
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

/// Registers `user`'s softphone (digest auth: 401, then 200) with its UAS on `contact_port`.
async fn register(app: &TestApp, user: &str, password: &str, contact_port: u16) {
    finish(registering(sip_addr(app), user, password, contact_port), &format!("register {user}")).await;
}

/// sipp registering `user`'s softphone, with its UAS on `contact_port`, with the node at `server`.
fn registering(server: SocketAddr, user: &str, password: &str, contact_port: u16) -> Child {
    sipp(
        Some(server),
        "register.xml",
        free_udp_port(),
        &["-key", "user", user, "-key", "contact_port", &contact_port.to_string(), "-au", user, "-ap", password],
    )
}

/// A softphone registration that the hub refuses (sipp exits with a failure).
async fn register_refused(app: &TestApp, user: &str, password: &str) {
    let child = sipp(
        Some(sip_addr(app)),
        "register.xml",
        free_udp_port(),
        &["-key", "user", user, "-key", "contact_port", &free_udp_port().to_string(), "-au", user, "-ap", password],
    );
    let out = tokio::time::timeout(Duration::from_secs(40), child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("register {user}: sipp did not finish in 40 s"))
        .unwrap();
    assert!(!out.status.success(), "register {user} should be refused\n{}", tail(&out.stdout));
}

/// Waits until sipp, started as a softphone (`sipp(None, ..)`) on `port`, has bound it: a call
/// set up before that would ring nobody.
async fn softphone_listening(port: u16) {
    poll_until(WAIT, async || udp_port_bound(port).then_some(()))
        .await
        .unwrap_or_else(|| panic!("no softphone listens on UDP port {port} (did sipp start?)"));
}

/// Whether a socket is bound to UDP `port`, read from the kernel's socket tables so that the
/// port itself is not touched (binding it to find out could take it from sipp).
#[cfg(target_os = "linux")]
fn udp_port_bound(port: u16) -> bool {
    let local_port = format!(":{port:04X}");
    ["/proc/net/udp", "/proc/net/udp6"].into_iter().any(|table| {
        std::fs::read_to_string(table).is_ok_and(|rows| {
            rows.lines().skip(1).any(|row| row.split_whitespace().nth(1).is_some_and(|a| a.ends_with(&local_port)))
        })
    })
}

/// Whether a socket is bound to UDP `port` (elsewhere than Linux: a bind that fails says so).
#[cfg(not(target_os = "linux"))]
fn udp_port_bound(port: u16) -> bool {
    StdUdp::bind(("127.0.0.1", port)).is_err()
}

/// Waits until the agent's SIP identity shows `n` live registrations.
async fn registrations(app: &TestApp, token: &str, agent: &str, n: usize) -> Value {
    let path = format!("/api/v1/agents/{agent}/sip");
    poll_until(WAIT, async || {
        let (status, body) = app.get(&path, token).await;
        assert_eq!(status, 200, "{body}");
        (body["registrations"].as_array().map(Vec::len) == Some(n)).then_some(body)
    })
    .await
    .unwrap_or_else(|| panic!("agent {agent} never had {n} registrations"))
}

// ---- hub helpers ------------------------------------------------------------------------------

async fn set_skills(app: &TestApp, supervisor: &str, agent: &str, skills: Value) {
    let (status, body) =
        app.put(&format!("/api/v1/agents/{agent}/routing"), supervisor, &json!({"skills": skills})).await;
    assert_eq!(status, 200, "{body}");
}

/// The next `ticket.updated` frame of a voice ticket (any, or `ticket`) in `status`.
async fn voice_ticket(ws: &mut Ws, ticket: Option<&str>, status: &str) -> Value {
    loop {
        let v = ws.next_of("ticket.updated").await;
        let t = &v["ticket"];
        if t["channel"] == "voice" && ticket.is_none_or(|id| t["id"] == id) && t["status"] == status {
            return t.clone();
        }
    }
}

/// Polls the ticket until `check` holds (15 s at most).
async fn ticket_until(app: &TestApp, token: &str, ticket: &str, check: impl Fn(&Value) -> bool) -> Value {
    let path = format!("/api/v1/tickets/{ticket}");
    let mut last = Value::Null;
    let reached = poll_until(Duration::from_secs(15), async || {
        let (status, body) = app.get(&path, token).await;
        assert_eq!(status, 200, "{body}");
        if check(&body) {
            return Some(body);
        }
        last = body;
        None
    })
    .await;
    reached.unwrap_or_else(|| panic!("the ticket never reached the expected state: {last:#}"))
}

/// Polls the conversation's first call record until `check` holds (10 s at most).
async fn call_until(app: &TestApp, token: &str, conversation: &str, check: impl Fn(&Value) -> bool) -> Value {
    let path = format!("/api/v1/conversations/{conversation}/calls");
    let mut last = Value::Null;
    let reached = poll_until(WAIT, async || {
        let (_, calls) = app.get(&path, token).await;
        last = calls[0].clone();
        check(&last).then(|| last.clone())
    })
    .await;
    reached.unwrap_or_else(|| panic!("the call record never reached the expected state: {last:#}"))
}

fn kinds(detail: &Value) -> Vec<String> {
    detail["events"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap().to_owned()).collect()
}

async fn texts(app: &TestApp, token: &str, conversation: &str) -> Vec<String> {
    let (status, body) = app.get(&format!("/api/v1/conversations/{conversation}/messages"), token).await;
    assert_eq!(status, 200, "{body}");
    let items = body.get("items").and_then(Value::as_array).or_else(|| body.as_array()).expect("messages");
    items.iter().map(|m| format!("{}: {}", m["author"].as_str().unwrap(), m["text"].as_str().unwrap())).collect()
}

// ---- tests ------------------------------------------------------------------------------------

async fn a_call_rings_the_registered_agent_who_answers_and_the_timeline_shows_it(backend: Backend) {
    let app = app(backend, 10, 30).await;
    let admin = app.login(ADMIN).await;
    let bruno = app.login(BRUNO).await;
    let ana = app.login(ANA).await;
    let ana_id = app.me(&ana).await;
    set_skills(&app, &bruno, &ana_id, json!({"voice": 5, "spanish": 8})).await;

    // The admin gives Ana a softphone identity; only its HA1 is kept, nothing secret comes back.
    let (status, identity) = app
        .put(
            &format!("/api/v1/agents/{ana_id}/sip"),
            &admin,
            &json!({"username": "ana-phone", "password": "correct horse"}),
        )
        .await;
    assert_eq!(status, 200, "{identity}");
    assert_eq!(identity["username"], "ana-phone");
    assert_eq!(identity["realm"], REALM);
    assert!(identity.get("ha1").is_none() && identity.get("password").is_none(), "{identity}");

    let mut ana_ws = app.inbox_socket(&ana).await;
    ana_ws.next_of("agent.presence").await;
    // A wrong password does not register (sipp sees a second 401 and fails); the right one does.
    let agent_port = free_udp_port();
    register(&app, "ana-phone", "correct horse", agent_port).await;
    let shown = registrations(&app, &ana, &ana_id, 1).await;
    assert_eq!(shown["registrations"][0]["contact"], format!("sip:ana-phone@127.0.0.1:{agent_port}"));

    // A customer calls the Spanish line; Ana's softphone rings and answers; the caller talks 1 s.
    let softphone = sipp(None, "agent_answers.xml", agent_port, &[]);
    softphone_listening(agent_port).await;
    let caller =
        sipp(Some(sip_addr(&app)), "caller_answered.xml", free_udp_port(), &["-s", "+34900100200", "-d", "1000"]);

    // The call is a voice ticket, offered to Ana in her inbox, needing voice and spanish.
    let offered = voice_ticket(&mut ana_ws, None, "offered").await;
    assert_eq!(offered["offered_to"], ana_id.as_str());
    let skills: Vec<&str> =
        offered["skills"].as_array().unwrap().iter().map(|s| s["skill"].as_str().unwrap()).collect();
    assert!(skills.contains(&"voice") && skills.contains(&"spanish"), "{offered}");
    assert!(offered["tags"].as_array().unwrap().contains(&json!("call")), "{offered}");
    let ticket = offered["id"].as_str().unwrap().to_owned();
    let conversation = offered["conversation_id"].as_str().unwrap().to_owned();
    // Answering on the softphone accepted the offer: the ticket is Ana's.
    let assigned = voice_ticket(&mut ana_ws, Some(&ticket), "assigned").await;
    assert_eq!(assigned["assignee_id"], ana_id.as_str());

    finish(caller, "caller (connected, then BYE)").await;
    finish(softphone, "Ana's softphone").await;

    // The call ended: the ticket is resolved, which frees Ana's exclusive voice capacity.
    let detail = ticket_until(&app, &ana, &ticket, |d| d["ticket"]["status"] == "resolved").await;
    let k = kinds(&detail);
    for kind in ["created", "offered", "assigned", "call_ended"] {
        assert!(k.contains(&kind.to_owned()), "{kind} missing from {k:?}");
    }

    // The customer is known by their number on the voice channel.
    let (_, conv) = app.get(&format!("/api/v1/conversations/{conversation}"), &ana).await;
    assert_eq!(conv["channel"], "voice");

    // The timeline: who called, ringing, answered by whom, ended by whom after how long.
    let lines = texts(&app, &ana, &conversation).await;
    let joined = lines.join("\n");
    assert!(joined.contains("system: Call from +34600111222 (Ana Cliente) to +34900100200"), "{joined}");
    assert!(joined.contains("system: Ringing Ana Agent"), "{joined}");
    assert!(joined.contains("system: Answered by Ana Agent"), "{joined}");
    assert!(joined.contains("system: Call ended by the caller after"), "{joined}");

    // The call record: answered by Ana, talk time about the caller's 1 s pause.
    let (status, calls) = app.get(&format!("/api/v1/conversations/{conversation}/calls"), &ana).await;
    assert_eq!(status, 200, "{calls}");
    let call = &calls[0];
    assert_eq!(call["answered_by"], ana_id.as_str());
    assert_eq!(call["status"], "ended");
    assert_eq!(call["ended_by"], "caller");
    assert_eq!(call["dialled"], "+34900100200");
    let ms = call["duration_ms"].as_i64().unwrap();
    assert!((900..10_000).contains(&ms), "duration {ms} ms");

    // Wrap-up: a disposition (Ana's call) and a note; Bruno took no part but supervises.
    let call_id = call["id"].as_str().unwrap();
    let (status, body) = app
        .put(&format!("/api/v1/calls/{call_id}/disposition"), &ana, &json!({"disposition": "billing_explained"}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["disposition"], "billing_explained");
    let (status, _) =
        app.put(&format!("/api/v1/calls/{call_id}/disposition"), &ana, &json!({"disposition": "x y"})).await;
    assert_eq!(status, 422);
    // Only the agent who took the call, or a supervisor, sets it.
    let admin_only = app.login(ADMIN).await;
    let (status, _) =
        app.put(&format!("/api/v1/calls/{call_id}/disposition"), &admin_only, &json!({"disposition": "done"})).await;
    assert_eq!(status, 200, "the admin is a supervisor too");
    let (status, _) =
        app.post(&format!("/api/v1/tickets/{ticket}/notes"), &ana, &json!({"text": "Explained the bill"})).await;
    assert_eq!(status, 201);
    let detail = ticket_until(&app, &ana, &ticket, |d| kinds(d).contains(&"disposition".to_owned())).await;
    assert_eq!(detail["notes"][0]["text"], "Explained the bill");
}

/// A call waiting in the queue: Ana is available in her inbox with the voice skill, but has no
/// softphone registered, so she gets no voice offer.
struct Queued {
    bruno: String,
    ana: String,
    ana_ws: Ws,
    caller: Child,
    ticket: String,
    conversation: String,
}

async fn call_waiting(app: &TestApp, caller_scenario: &str) -> Queued {
    call_waiting_with(app, caller_scenario, &[]).await
}

/// As [`call_waiting`], with more sipp arguments.
async fn call_waiting_with(app: &TestApp, caller_scenario: &str, extra: &[&str]) -> Queued {
    let bruno = app.login(BRUNO).await;
    let ana = app.login(ANA).await;
    let ana_id = app.me(&ana).await;
    set_skills(app, &bruno, &ana_id, json!({"voice": 5})).await;
    let mut ana_ws = app.inbox_socket(&ana).await;
    ana_ws.next_of("agent.presence").await;
    let args: Vec<&str> = ["-s", "support"].into_iter().chain(extra.iter().copied()).collect();
    let caller = sipp(Some(sip_addr(app)), caller_scenario, free_udp_port(), &args);
    let queued = voice_ticket(&mut ana_ws, None, "queued").await;
    let ticket = queued["id"].as_str().unwrap().to_owned();
    let conversation = queued["conversation_id"].as_str().unwrap().to_owned();
    Queued { bruno, ana, ana_ws, caller, ticket, conversation }
}

async fn a_caller_hanging_up_while_queued_closes_the_ticket(backend: Backend) {
    let app = app(backend, 10, 30).await;
    let Queued { bruno, ana, mut ana_ws, caller, ticket, conversation } = call_waiting(&app, "caller_cancel.xml").await;
    // The next change of the ticket is its closing (an offer to Ana would come first).
    loop {
        let v = ana_ws.next_of("ticket.updated").await;
        if v["ticket"]["id"] != ticket.as_str() {
            continue;
        }
        assert_eq!(v["ticket"]["status"], "closed", "no offer without a softphone: {v}");
        break;
    }
    finish(caller, "caller cancelling (487)").await;

    let detail = ticket_until(&app, &ana, &ticket, |d| d["ticket"]["status"] == "closed").await;
    assert!(kinds(&detail).contains(&"abandoned".to_owned()), "{detail}");
    assert!(!kinds(&detail).contains(&"offered".to_owned()), "{detail}");
    let joined = texts(&app, &ana, &conversation).await.join("\n");
    assert!(joined.contains("system: The caller hung up after waiting"), "{joined}");
    // The call record is saved once the call has ended, which may be after the ticket closed.
    let call = call_until(&app, &ana, &conversation, |c| !c["ended_at"].is_null()).await;
    assert_eq!(call["status"], "abandoned");
    assert_eq!(call["ended_by"], "caller");
    assert!(call["duration_ms"].is_null(), "{call}");
    // Nothing waits in the queues any more.
    let (status, queues) = app.get("/api/v1/queues", &bruno).await;
    assert_eq!(status, 200, "{queues}");
    let waiting: u64 = queues.as_array().unwrap().iter().map(|q| q["waiting"].as_u64().unwrap_or(0)).sum();
    assert_eq!(waiting, 0, "{queues}");
}

async fn an_unanswered_call_tries_the_next_agent_then_gets_480_and_a_callback(backend: Backend) {
    // Rings last 2 s; the caller waits at most 7 s.
    let app = app(backend, 2, 7).await;
    let bruno = app.login(BRUNO).await;
    let ana = app.login(ANA).await;
    let ana_id = app.me(&ana).await;
    let bruno_id = app.me(&bruno).await;
    set_skills(&app, &bruno, &ana_id, json!({"voice": 8})).await;
    set_skills(&app, &bruno, &bruno_id, json!({"voice": 4})).await;
    let mut ana_ws = app.inbox_socket(&ana).await;
    ana_ws.next_of("agent.presence").await;
    let mut bruno_ws = app.inbox_socket(&bruno).await;
    bruno_ws.next_of("agent.presence").await;

    // Both register with their demo identities; neither answers.
    let ana_port = free_udp_port();
    let bruno_port = free_udp_port();
    register(&app, "ana", tests::PASSWORD, ana_port).await;
    register(&app, "bruno", tests::PASSWORD, bruno_port).await;
    registrations(&app, &ana, &ana_id, 1).await;
    registrations(&app, &bruno, &bruno_id, 1).await;
    let ana_phone = sipp(None, "agent_no_answer.xml", ana_port, &[]);
    let bruno_phone = sipp(None, "agent_no_answer.xml", bruno_port, &[]);
    softphone_listening(ana_port).await;
    softphone_listening(bruno_port).await;

    let caller = sipp(Some(sip_addr(&app)), "caller_rejected.xml", free_udp_port(), &["-s", "support"]);
    // Ana (the better voice agent) first; her phone rings out; then Bruno.
    let first = voice_ticket(&mut ana_ws, None, "offered").await;
    assert_eq!(first["offered_to"], ana_id.as_str());
    let ticket = first["id"].as_str().unwrap().to_owned();
    let conversation = first["conversation_id"].as_str().unwrap().to_owned();
    // Supervisors see the call waiting in the queue figures.
    let (_, queues) = app.get("/api/v1/queues", &bruno).await;
    let waiting: u64 = queues.as_array().unwrap().iter().map(|q| q["waiting"].as_u64().unwrap_or(0)).sum();
    assert_eq!(waiting, 1, "{queues}");
    loop {
        let t = voice_ticket(&mut bruno_ws, Some(&ticket), "offered").await;
        if t["offered_to"] == bruno_id.as_str() {
            break;
        }
    }
    finish(ana_phone, "Ana's softphone (rang, was cancelled)").await;
    finish(bruno_phone, "Bruno's softphone (rang, was cancelled)").await;
    // Nobody within 7 s: 480 with Retry-After: 30 (the scenario checks it).
    finish(caller, "caller rejected with 480").await;

    let detail = ticket_until(&app, &bruno, &ticket, |d| {
        d["ticket"]["tags"].as_array().is_some_and(|t| t.contains(&json!("callback")))
    })
    .await;
    let k = kinds(&detail);
    assert!(k.contains(&"callback_queued".to_owned()), "{k:?}");
    assert!(k.iter().filter(|x| *x == "offer_rejected").count() >= 2, "{k:?}");
    // The callback ticket stays with the router for an agent to call back.
    let status = detail["ticket"]["status"].as_str().unwrap();
    assert!(status == "queued" || status == "offered", "{detail}");
    let joined = texts(&app, &bruno, &conversation).await.join("\n");
    assert!(joined.contains("system: Not answered by Ana Agent (no answer)"), "{joined}");
    assert!(joined.contains("system: Not answered by Bruno Agent (no answer)"), "{joined}");
    assert!(joined.contains("a callback is queued"), "{joined}");
    let call = call_until(&app, &bruno, &conversation, |c| !c["ended_at"].is_null()).await;
    assert_eq!(call["status"], "callback");
    assert_eq!(call["ended_by"], "hub");
    assert!(call["answered_by"].is_null());
}

async fn a_call_waiting_when_the_hub_stops_becomes_a_callback(backend: Backend) {
    let app = app(backend, 10, 60).await;
    let Queued { caller, ticket, conversation, .. } = call_waiting(&app, "caller_rejected.xml").await;

    // The hub stops with the caller waiting; the call's SIP dialog goes with it.
    let mut app = app;
    app.stop().await;
    drop(caller);
    let TestApp { db, .. } = app;
    // As if it had stopped between the call's first save and the one that names its ticket:
    // the restart must find the ticket all the same.
    sqlx::any::install_default_drivers();
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&db.url).await.unwrap();
    sqlx::query("UPDATE voice_calls SET ticket_id = NULL").execute(&mut conn).await.unwrap();
    sqlx::Connection::close(conn).await.unwrap();
    let config = voice_config(&db, 10, 60);
    let app = spawn_app_with(config, db).await;
    let bruno = app.login(BRUNO).await;

    // At start the call is closed as a callback on the same ticket, and the timeline says why.
    let detail = ticket_until(&app, &bruno, &ticket, |d| {
        d["ticket"]["tags"].as_array().is_some_and(|t| t.contains(&json!("callback")))
    })
    .await;
    assert!(kinds(&detail).contains(&"callback_queued".to_owned()), "{detail}");
    let status = detail["ticket"]["status"].as_str().unwrap();
    assert!(status == "queued" || status == "offered", "still with the router: {detail}");
    let (_, calls) = app.get(&format!("/api/v1/conversations/{conversation}/calls"), &bruno).await;
    assert_eq!(calls.as_array().unwrap().len(), 1, "{calls}");
    assert_eq!(calls[0]["status"], "callback", "{calls}");
    assert_eq!(calls[0]["ended_by"], "hub");
    assert!(!calls[0]["ended_at"].is_null());
    assert_eq!(calls[0]["ticket_id"], ticket.as_str(), "the record names its ticket again");
    let joined = texts(&app, &bruno, &conversation).await.join("\n");
    assert!(joined.contains("The hub restarted while the caller waited"), "{joined}");
}

async fn a_call_connected_when_the_hub_stops_is_closed_and_stays_with_the_agent(backend: Backend) {
    let app = app(backend, 10, 30).await;
    let bruno = app.login(BRUNO).await;
    let ana = app.login(ANA).await;
    let ana_id = app.me(&ana).await;
    set_skills(&app, &bruno, &ana_id, json!({"voice": 5})).await;
    let mut ana_ws = app.inbox_socket(&ana).await;
    ana_ws.next_of("agent.presence").await;
    let agent_port = free_udp_port();
    register(&app, "ana", tests::PASSWORD, agent_port).await;
    registrations(&app, &ana, &ana_id, 1).await;
    let softphone = sipp(None, "agent_answers.xml", agent_port, &[]);
    softphone_listening(agent_port).await;
    // The caller would talk for a minute; the hub stops long before.
    let caller = sipp(Some(sip_addr(&app)), "caller_answered.xml", free_udp_port(), &["-s", "support", "-d", "60000"]);
    let offered = voice_ticket(&mut ana_ws, None, "offered").await;
    let ticket = offered["id"].as_str().unwrap().to_owned();
    let conversation = offered["conversation_id"].as_str().unwrap().to_owned();
    voice_ticket(&mut ana_ws, Some(&ticket), "assigned").await;
    call_until(&app, &ana, &conversation, |c| c["status"] == "connected").await;

    let mut app = app;
    app.stop().await;
    drop((caller, softphone));
    let TestApp { db, .. } = app;
    let app = spawn_app_with(voice_config(&db, 10, 30), db).await;
    let ana = app.login(ANA).await;

    // The call is recorded as ended by the hub, talk time unknown; the ticket stays Ana's for
    // her wrap-up, and the timeline says what happened.
    let call = call_until(&app, &ana, &conversation, |c| c["status"] != "connected").await;
    assert_eq!(call["status"], "ended", "{call}");
    assert_eq!(call["ended_by"], "hub");
    assert_eq!(call["answered_by"], ana_id.as_str());
    assert!(call["duration_ms"].is_null(), "{call}");
    let (_, detail) = app.get(&format!("/api/v1/tickets/{ticket}"), &ana).await;
    assert_eq!(detail["ticket"]["status"], "assigned", "{detail}");
    assert_eq!(detail["ticket"]["assignee_id"], ana_id.as_str());
    // (The timeline line is written just after the call record.)
    let line = poll_until(WAIT, async || {
        texts(&app, &ana, &conversation).await.into_iter().find(|t| t.contains("The hub restarted during the call"))
    })
    .await;
    if line.is_none() {
        panic!("no timeline line: {:?}", texts(&app, &ana, &conversation).await);
    }
}

async fn udp_exchange(sock: &UdpSocket, server: SocketAddr, msg: &str) -> String {
    sock.send_to(msg.as_bytes(), server).await.unwrap();
    let mut buf = vec![0u8; 65536];
    let (n, _) =
        tokio::time::timeout(Duration::from_secs(5), sock.recv_from(&mut buf)).await.expect("an answer").unwrap();
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

fn options(method: &str, branch: &str) -> String {
    format!(
        "{method} sip:support@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK-{branch};rport\r\n\
         From: <sip:probe@127.0.0.1>;tag=p1\r\nTo: <sip:support@127.0.0.1>\r\nCall-ID: probe-{branch}\r\n\
         CSeq: 1 {method}\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    )
}

async fn bad_sip_and_bad_api_input_are_refused_without_harm(backend: Backend) {
    let app = app(backend, 10, 30).await;
    let sip = sip_addr(&app);
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    for garbage in
        [&b""[..], b"\x00\xff\xfe garbage", b"INVITE sip:support@x SIP/2.0\r\nVia: nonsense\r\n\r\n", &[b'A'; 65_000]]
    {
        sock.send_to(garbage, sip).await.unwrap();
    }
    let answer = udp_exchange(&sock, sip, &options("PUBLISH", "pub1")).await;
    assert!(answer.starts_with("SIP/2.0 501 Not Implemented\r\n"), "{answer}");
    let answer = udp_exchange(&sock, sip, &options("OPTIONS", "opt1")).await;
    assert!(answer.starts_with("SIP/2.0 200 OK\r\n"), "{answer}");
    // The hub is unharmed.
    let (status, _) = app.get("/healthz", "").await;
    assert_eq!(status, 200);

    let admin = app.login(ADMIN).await;
    let ana = app.login(ANA).await;
    let ana_id = app.me(&ana).await;
    let path = format!("/api/v1/agents/{ana_id}/sip");
    // Only an admin sets identities.
    let (status, _) = app.put(&path, &ana, &json!({"username": "ana2", "password": "long enough"})).await;
    assert_eq!(status, 403);
    for (body, field) in [
        (json!({"username": "", "password": "long enough"}), "username"),
        (json!({"username": "a b", "password": "long enough"}), "username"),
        (json!({"username": "ana2", "password": "short"}), "password"),
    ] {
        let (status, err) = app.put(&path, &admin, &body).await;
        assert_eq!(status, 422, "{body}: {err}");
        assert!(err.to_string().contains(field), "{err}");
    }
    let (status, _) = app.put(&path, &admin, &json!({"username": "ana2", "password": "long enough", "extra": 1})).await;
    assert_eq!(status, 400);
    // A username that belongs to another agent (the demo identity of Bruno).
    let (status, err) = app.put(&path, &admin, &json!({"username": "bruno", "password": "long enough"})).await;
    assert_eq!(status, 409, "{err}");
    // The demo identity is shown to Ana without any secret; Bruno may not look at hers.
    let (status, mine) = app.get(&path, &ana).await;
    assert_eq!(status, 200, "{mine}");
    assert_eq!(mine["username"], "ana");
    assert!(!mine.to_string().contains("ha1"), "{mine}");
    let bruno = app.login(BRUNO).await;
    let (status, _) = app.get(&path, &bruno).await;
    assert_eq!(status, 403);
    let (status, _) = app.put("/api/v1/calls/nope/disposition", &ana, &json!({"disposition": "done"})).await;
    assert_eq!(status, 404);
}

async fn a_softphone_follows_its_agent_being_disabled_or_losing_the_agent_role(backend: Backend) {
    let app = app(backend, 10, 30).await;
    let admin = app.login(ADMIN).await;
    let ana_id = app.me(&app.login(ANA).await).await;
    let staff = |what: &str| format!("/api/v1/agents/{ana_id}/{what}");
    let (status, body) =
        app.put(&staff("sip"), &admin, &json!({"username": "ana-phone", "password": "correct horse"})).await;
    assert_eq!(status, 200, "{body}");
    register(&app, "ana-phone", "correct horse", free_udp_port()).await;

    // Disabled: her softphone's credentials stop working at once, not at the next restart.
    assert_eq!(app.post(&staff("disable"), &admin, &json!({})).await.0, 200);
    register_refused(&app, "ana-phone", "correct horse").await;
    assert_eq!(app.post(&staff("enable"), &admin, &json!({})).await.0, 200);
    register(&app, "ana-phone", "correct horse", free_udp_port()).await;

    // Without the agent role she takes no calls: the same.
    assert_eq!(app.put(&staff("roles"), &admin, &json!({"roles": ["supervisor"]})).await.0, 200);
    register_refused(&app, "ana-phone", "correct horse").await;
    assert_eq!(app.put(&staff("roles"), &admin, &json!({"roles": ["agent"]})).await.0, 200);
    register(&app, "ana-phone", "correct horse", free_udp_port()).await;
}

/// The customer behind a voice conversation: its name and handles.
async fn customer_of(app: &TestApp, token: &str, conversation: &str) -> (String, Value, Value) {
    let (_, conv) = app.get(&format!("/api/v1/conversations/{conversation}"), token).await;
    let customer = conv["customer_id"].as_str().unwrap().to_owned();
    let (status, profile) = app.get(&format!("/api/v1/customers/{customer}"), token).await;
    assert_eq!(status, 200, "{profile}");
    (customer, profile["name"].clone(), profile["handles"].clone())
}

async fn caller_identity_is_trusted_only_from_identity_sources(backend: Backend) {
    // From a trusted source, P-Asserted-Identity names the caller (From says another number).
    let app = app(backend, 10, 30).await;
    let Queued { ana, caller, conversation, .. } =
        call_waiting_with(&app, "caller_asserted.xml", &["-key", "pai", "+34600111222", "-d", "200"]).await;
    finish(caller, "asserted caller").await;
    let call = call_until(&app, &ana, &conversation, |c| !c["ended_at"].is_null()).await;
    assert_eq!(call["caller"], "+34600111222", "{call}");
    let (_, _, handles) = customer_of(&app, &ana, &conversation).await;
    // One handle: the asserted number, verified, a phone identity (a WhatsApp sender with it is
    // the same customer).
    let handle = &handles[0];
    assert_eq!(handles.as_array().unwrap().len(), 1, "{handles}");
    assert_eq!((&handle["channel"], &handle["handle"]), (&json!("voice"), &json!("+34600111222")));
    assert_eq!(
        (&handle["kind"], &handle["value"], &handle["verified"]),
        (&json!("phone"), &json!("+34600111222"), &json!(true))
    );
    drop(app);

    // From anywhere else, neither From nor P-Asserted-Identity is trusted: two calls claiming
    // the same number get a customer each, no handle, named as unverified.
    let db = tests::TestDb::new(backend).await;
    let mut config = voice_config(&db, 10, 30);
    config.sip.identity_sources = vec!["192.0.2.0/24".into()];
    let app = spawn_app_with(config, db).await;
    let mut seen = Vec::new();
    for _ in 0..2 {
        let Queued { ana, caller, conversation, .. } =
            call_waiting_with(&app, "caller_asserted.xml", &["-key", "pai", "+34600111222", "-d", "200"]).await;
        finish(caller, "unverified caller").await;
        let (customer, name, handles) = customer_of(&app, &ana, &conversation).await;
        assert_eq!(handles, json!([]), "an unverified caller is attached to nobody's number");
        assert_eq!(name, "unverified caller +34600999888");
        let joined = texts(&app, &ana, &conversation).await.join("\n");
        assert!(joined.contains("Call from +34600999888 (unverified caller)"), "{joined}");
        seen.push(customer);
    }
    assert_ne!(seen[0], seen[1]);
}

async fn calls_and_tcp_connections_beyond_the_limits_get_503(backend: Backend) {
    let db = tests::TestDb::new(backend).await;
    let mut config = voice_config(&db, 10, 30);
    config.sip.max_calls = 1;
    config.sip.max_tcp_connections = 1;
    let app = spawn_app_with(config, db).await;
    // One call waits in the queue (3 s); a second one meanwhile is refused with 503.
    let Queued { caller, .. } =
        call_waiting_with(&app, "caller_asserted.xml", &["-key", "pai", "+34600111222", "-d", "3000"]).await;
    let busy = sipp(Some(sip_addr(&app)), "caller_busy.xml", free_udp_port(), &["-s", "support"]);
    finish(busy, "second call (503)").await;
    finish(caller, "first call").await;

    // One TCP connection is held open; a second one's INVITE gets 503 too.
    let tcp = app.hub.as_ref().unwrap().state.voice.as_ref().unwrap().tcp_addr().unwrap();
    let _held = tokio::net::TcpStream::connect(tcp).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let busy = sipp(Some(tcp), "caller_busy.xml", free_udp_port(), &["-s", "support", "-t", "t1"]);
    finish(busy, "a call over a TCP connection beyond the limit (503)").await;
}

// ---- several nodes ------------------------------------------------------------------------------

/// Registers `user`'s softphone with the node at `server`, once; whether the node took it.
async fn try_register(server: SocketAddr, user: &str, password: &str, contact_port: u16) -> bool {
    let child = registering(server, user, password, contact_port);
    let out = tokio::time::timeout(Duration::from_secs(40), child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("register {user}: sipp did not finish in 40 s"))
        .unwrap();
    out.status.success()
}

mod several_nodes {
    use super::*;
    use hub::config::BusKind;
    use tests::redis::{shared_url, unique_stream};

    /// Nodes A and B on one PostgreSQL database and the machine's Redis, both with SIP.
    async fn two_voice_nodes(ring_secs: u64, queue_limit_secs: u64) -> (TestApp, TestApp) {
        let db = tests::TestDb::new(Backend::Postgres).await;
        let shared = db.shared();
        let stream = unique_stream();
        let config = |db: &tests::TestDb| {
            let mut config = voice_config(db, ring_secs, queue_limit_secs);
            config.bus.kind = BusKind::Redis;
            config.bus.url = Some(shared_url().into());
            config.bus.stream.clone_from(&stream);
            // A line whose calls nobody can take: they wait.
            config.sip.support_numbers.insert("+34900100300".into(), vec!["french".into()]);
            config
        };
        let (config_a, config_b) = (config(&db), config(&shared));
        let a = spawn_app_with(config_a, db).await;
        let b = spawn_app_with(config_b, shared).await;
        (a, b)
    }

    /// A call that reaches node A rings Ana's softphone, registered with node B (her inbox is on
    /// B too), whichever node runs the router; she answers and they talk. A caller waiting on
    /// node A is left alone while A lives, and becomes a callback once A stops.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_call_on_one_node_rings_a_phone_registered_with_another_and_a_stopped_nodes_caller_is_called_back() {
        let (a, b) = two_voice_nodes(10, 120).await;
        let started = std::time::Instant::now();
        let admin = a.login(ADMIN).await;
        let bruno = b.login(BRUNO).await;
        let ana = b.login(ANA).await;
        let ana_id = b.me(&ana).await;
        set_skills(&b, &bruno, &ana_id, json!({"voice": 5, "spanish": 8})).await;
        let mut ana_ws = b.inbox_socket(&ana).await;
        ana_ws.next_of("agent.presence").await;

        // A caller on the French line waits on node A: nobody has the skill.
        let waiting = sipp(Some(sip_addr(&a)), "caller_rejected.xml", free_udp_port(), &["-s", "+34900100300"]);
        let queued = voice_ticket(&mut ana_ws, None, "queued").await;
        let waiting_ticket = queued["id"].as_str().unwrap().to_owned();
        let waiting_conversation = queued["conversation_id"].as_str().unwrap().to_owned();

        // The admin gives Ana a new softphone identity through node A; node B, asked for a
        // username it does not know, re-reads its accounts, and her phone registers there (a few
        // tries, spaced so as to stay under the 5 wrong answers that lock a user out).
        let (status, body) = a
            .put(
                &format!("/api/v1/agents/{ana_id}/sip"),
                &admin,
                &json!({"username": "ana-desk", "password": "desk phone 7"}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let agent_port = free_udp_port();
        let mut registered = false;
        for _ in 0..4 {
            if try_register(sip_addr(&b), "ana-desk", "desk phone 7", agent_port).await {
                registered = true;
                break;
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        assert!(registered, "node B never took the identity set through node A");
        // Node A shows the registration node B took.
        let shown = registrations(&a, &ana, &ana_id, 1).await;
        assert_eq!(shown["registrations"][0]["contact"], format!("sip:ana-desk@127.0.0.1:{agent_port}"));

        // A call to the Spanish line reaches node A; Ana's phone rings and she answers.
        let softphone = sipp(None, "agent_answers.xml", agent_port, &[]);
        softphone_listening(agent_port).await;
        let caller =
            sipp(Some(sip_addr(&a)), "caller_answered.xml", free_udp_port(), &["-s", "+34900100200", "-d", "1000"]);
        let offered = voice_ticket(&mut ana_ws, None, "offered").await;
        assert_eq!(offered["offered_to"], ana_id.as_str());
        let ticket = offered["id"].as_str().unwrap().to_owned();
        let conversation = offered["conversation_id"].as_str().unwrap().to_owned();
        voice_ticket(&mut ana_ws, Some(&ticket), "assigned").await;
        finish(caller, "caller (connected through node A, then BYE)").await;
        finish(softphone, "Ana's softphone (registered with node B)").await;
        let detail = ticket_until(&b, &ana, &ticket, |d| d["ticket"]["status"] == "resolved").await;
        assert!(kinds(&detail).contains(&"call_ended".to_owned()), "{detail}");
        let call = call_until(&b, &ana, &conversation, |c| c["status"] == "ended").await;
        assert_eq!(call["answered_by"], ana_id.as_str());
        assert_eq!(call["ended_by"], "caller");

        // The waiting call outlives the time after which an unvouched call is closed: node A
        // vouches for it, so it is still waiting.
        let grace = hub::services::voice_share::CALLS_TTL + hub::services::voice_share::CALLS_RENEW;
        tokio::time::sleep((grace + Duration::from_secs(6)).saturating_sub(started.elapsed())).await;
        let (_, calls) = b.get(&format!("/api/v1/conversations/{waiting_conversation}/calls"), &bruno).await;
        assert_eq!(calls[0]["status"], "queued", "a live node's call was closed: {calls}");

        // Node A stops with the caller waiting: node B makes the call a callback on its ticket.
        let mut a = a;
        a.stop().await;
        drop(waiting);
        let closed = poll_until(grace + Duration::from_secs(20), async || {
            let (_, calls) = b.get(&format!("/api/v1/conversations/{waiting_conversation}/calls"), &bruno).await;
            (calls[0]["status"] == "callback").then(|| calls[0].clone())
        })
        .await
        .expect("the stopped node's waiting call became a callback");
        assert_eq!(closed["ended_by"], "hub");
        let detail = ticket_until(&b, &bruno, &waiting_ticket, |d| {
            d["ticket"]["tags"].as_array().is_some_and(|t| t.contains(&json!("callback")))
        })
        .await;
        assert!(kinds(&detail).contains(&"callback_queued".to_owned()), "{detail}");
        let joined = texts(&b, &bruno, &waiting_conversation).await.join("\n");
        assert!(joined.contains("The hub node carrying the call stopped while the caller waited"), "{joined}");
    }
}
