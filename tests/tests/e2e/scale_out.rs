//! Two hub nodes on one PostgreSQL database and one Redis, in one process (the scale-out
//! topology): what one node announces reaches the sockets of the other, in order; the router runs
//! on the node holding the `router` lease, and the other forwards what it must know or do to it
//! (a hand-over, an agent's socket, an accept), also after a takeover; when Redis restarts or drops the connections, the sockets are told to
//! `resync`, and then events flow again. One node at a time holds the `jobs` lease and runs the
//! scheduled jobs (an SLA breach is recorded by it, once); when it stops, or its process is
//! killed (the built binary, as a second process), the other takes over (the time it takes is
//! printed: BENCHMARKS.md). A web chat customer whose socket dropped on one node and came back on
//! the other is not abandoned by the first. When PostgreSQL crashes mid-run, customers get errors,
//! not acknowledgements, and nothing acknowledged is lost. PostgreSQL only: several nodes on one SQLite file is not a supported
//! deployment.

use std::time::{Duration, Instant};

use hub::config::BusKind;
use hub::services::leader::LeaseName;
use serde_json::{Value, json};
use tests::nodes::{NodeProcess, Proxy};
use tests::postgres::PgServer;
use tests::redis::{RedisServer, shared_url, unique_stream};
use tests::{ANA, BRUNO, Backend, TestApp, TestDb, Ws, spawn_app_with, test_config};

use crate::poll_until;

/// Nodes A and B on one new database, sharing the event stream on the Redis at `url`.
async fn two_nodes(url: &str) -> (TestApp, TestApp) {
    two_nodes_with(url, |_| {}).await
}

/// [`two_nodes`], both configured by `tweak` too.
async fn two_nodes_with(url: &str, tweak: impl Fn(&mut hub::config::Config)) -> (TestApp, TestApp) {
    let db = TestDb::new(Backend::Postgres).await;
    let shared = db.shared();
    let stream = unique_stream();
    let config = |db: &TestDb| {
        let mut config = test_config(db);
        config.bus.kind = BusKind::Redis;
        config.bus.url = Some(url.into());
        config.bus.stream.clone_from(&stream);
        tweak(&mut config);
        config
    };
    let (config_a, config_b) = (config(&db), config(&shared));
    let a = spawn_app_with(config_a, db).await;
    let b = spawn_app_with(config_b, shared).await;
    (a, b)
}

/// The customer sends `text` as `client_id` and gets its acknowledgement: the message's number.
async fn say(customer: &mut Ws, client_id: &str, text: &str) -> i64 {
    customer.send_json(&json!({"type": "message", "client_id": client_id, "text": text})).await;
    let ack = customer.next_of("ack").await;
    assert_eq!(ack["client_id"], client_id);
    ack["seq"].as_i64().expect("seq")
}

/// The next `message.created` of `conversation` on an inbox socket.
async fn next_message(inbox: &mut Ws, conversation: &str) -> Value {
    loop {
        let event = inbox.next_of("message.created").await;
        if event["message"]["conversation_id"] == conversation {
            return event;
        }
    }
}

/// Opens a chat on node A, with the agent's inbox on node B watching: (inbox, customer socket,
/// conversation id).
async fn chat_across(a: &TestApp, b: &TestApp) -> (Ws, Ws, String) {
    let ana = b.login(ANA).await;
    let mut inbox = b.inbox_socket(&ana).await;
    let (visitor, conversation) = a.new_chat().await;
    let created = inbox.next_of("conversation.created").await;
    assert_eq!(created["conversation"]["id"], conversation.as_str(), "created on A, seen on B");
    let customer = a.customer_socket(&visitor, None).await;
    (inbox, customer, conversation)
}

/// Whether `node` holds the `jobs` lease now.
fn leads(node: &TestApp) -> bool {
    node.hub.as_ref().is_some_and(|hub| hub.state.leadership.is_leader(LeaseName::Jobs))
}

/// Watches `nodes` for `watch`: never two holders of the `jobs` lease at once, and exactly one at
/// the end; returns which.
async fn the_one_leader(nodes: [&TestApp; 2], watch: Duration) -> usize {
    let deadline = Instant::now() + watch;
    loop {
        let holders: Vec<usize> = (0..2).filter(|i| leads(nodes[*i])).collect();
        assert!(holders.len() < 2, "two nodes hold the jobs lease at once");
        if Instant::now() >= deadline {
            assert_eq!(holders.len(), 1, "one node holds the jobs lease");
            return holders[0];
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Waits (at most `within`) until `node` holds the `jobs` lease; how long it took.
async fn takes_over(node: &TestApp, since: Instant, within: Duration) -> Duration {
    while !leads(node) {
        assert!(since.elapsed() < within, "no takeover within {within:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    since.elapsed()
}

/// Whether `node` runs the router now.
fn routes(node: &TestApp) -> bool {
    node.hub.as_ref().is_some_and(|hub| hub.state.leadership.is_leader(LeaseName::Router))
}

/// Waits until one of `nodes` runs the router: (router, the other).
async fn router_and_follower<'a>(a: &'a TestApp, b: &'a TestApp) -> (&'a TestApp, &'a TestApp) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match (routes(a), routes(b)) {
            (true, true) => panic!("two nodes run the router"),
            (true, false) => return (a, b),
            (false, true) => return (b, a),
            (false, false) => {
                assert!(Instant::now() < deadline, "no node runs the router");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

/// Ana's inbox on `node`, once the router counts her available; her id.
async fn ana_working_on(node: &TestApp) -> (Ws, String, String) {
    let ana = node.login(ANA).await;
    let ana_id = node.me(&ana).await;
    let mut inbox = node.inbox_socket(&ana).await;
    loop {
        let p = inbox.next_of("agent.presence").await;
        if p["agent_id"] == ana_id.as_str() && p["presence"] == "available" {
            break;
        }
    }
    (inbox, ana, ana_id)
}

/// How many [`steady_customer`]s have had a message acknowledged.
type Started = std::sync::Arc<std::sync::atomic::AtomicUsize>;

/// Waits until all `customers` have had a message acknowledged: a fault injected then hits
/// every chat mid-run, however slowly the machine let them start.
async fn all_started(started: &Started, customers: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while started.load(std::sync::atomic::Ordering::SeqCst) < customers {
        assert!(Instant::now() < deadline, "the customers did not all start chatting within 60 s");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// What a [`steady_customer`] saw.
struct Chat {
    conversation: String,
    /// Each acknowledged text with its number.
    acked: std::collections::BTreeMap<String, i64>,
    reconnects: usize,
    /// Messages the hub answered with an error (then sent again).
    errors: usize,
    /// For each acknowledgement: when the message was last sent before it, and when it came.
    acks: Vec<(Instant, Instant)>,
}

/// A web chat customer through `front` who sends `messages` messages, one every 100 ms, and
/// whenever the socket breaks connects again (retrying until a node answers) with the last
/// number it saw and sends again, under the same client ids, what was not acknowledged; a
/// message answered with an error is sent again 200 ms later. Counts itself in `started` at its
/// first acknowledgement.
async fn steady_customer(front: std::net::SocketAddr, k: usize, messages: usize, started: Started) -> Chat {
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let (token, conversation) = loop {
        let opened = http
            .post(format!("http://{front}/api/v1/webchat/sessions"))
            .json(&json!({"name": format!("Cliente {k}"), "language": "es"}))
            .send()
            .await;
        if let Ok(r) = opened
            && r.status() == 201
            && let Ok(body) = r.json::<Value>().await
        {
            break (body["token"].as_str().unwrap().to_owned(), body["conversation_id"].as_str().unwrap().to_owned());
        }
        assert!(Instant::now() < deadline, "no chat opened through the proxy");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let mut acked = std::collections::BTreeMap::new();
    let mut unacked: Vec<(String, String)> = Vec::new();
    // Refused messages (client id), to send again at the instant given.
    let mut retry: Vec<(tokio::time::Instant, String)> = Vec::new();
    let (mut next, mut last_seq, mut reconnects, mut errors) = (0usize, None::<i64>, 0usize, 0usize);
    let mut acks = Vec::new();
    // When each message (client id) was last sent.
    let mut sent_at = std::collections::HashMap::<String, Instant>::new();
    'connect: loop {
        assert!(Instant::now() < deadline + Duration::from_secs(30), "customer {k} never finished");
        let mut url = format!("ws://{front}/ws/webchat?token={token}");
        if let Some(seq) = last_seq {
            url.push_str(&format!("&last_seq={seq}"));
        }
        let Some(mut ws) = Ws::try_connect(&url).await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        for (client_id, text) in &unacked {
            sent_at.insert(client_id.clone(), Instant::now());
            if !ws.try_send_json(&json!({"type": "message", "client_id": client_id, "text": text})).await {
                reconnects += 1;
                continue 'connect;
            }
        }
        retry.clear();
        let mut due = tokio::time::Instant::now();
        loop {
            if next == messages && unacked.is_empty() {
                return Chat { conversation, acked, reconnects, errors, acks };
            }
            let now = tokio::time::Instant::now();
            if let Some(i) = retry.iter().position(|(at, _)| *at <= now) {
                let (_, client_id) = retry.remove(i);
                if let Some((_, text)) = unacked.iter().find(|(c, _)| *c == client_id) {
                    sent_at.insert(client_id.clone(), Instant::now());
                    if !ws.try_send_json(&json!({"type": "message", "client_id": client_id, "text": text})).await {
                        reconnects += 1;
                        continue 'connect;
                    }
                }
            }
            if next < messages && tokio::time::Instant::now() >= due {
                let (client_id, text) = (format!("c-{k}-{next}"), format!("mensaje {k}-{next}"));
                next += 1;
                due += Duration::from_millis(100);
                sent_at.insert(client_id.clone(), Instant::now());
                let sent = ws.try_send_json(&json!({"type": "message", "client_id": client_id, "text": text})).await;
                unacked.push((client_id, text));
                if !sent {
                    reconnects += 1;
                    continue 'connect;
                }
            }
            match ws.try_next_json(Duration::from_millis(20)).await {
                Ok(Some(frame)) if frame["type"] == "ack" => {
                    let seq = frame["seq"].as_i64().unwrap();
                    if let Some(i) = unacked.iter().position(|(c, _)| frame["client_id"] == c.as_str()) {
                        if acked.is_empty() {
                            started.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        }
                        let (client_id, text) = unacked.remove(i);
                        acks.push((sent_at[&client_id], Instant::now()));
                        acked.insert(text, seq);
                    }
                    last_seq = Some(last_seq.map_or(seq, |s: i64| s.max(seq)));
                }
                Ok(Some(frame)) if frame["type"] == "error" => {
                    if let Some(client_id) = frame["client_id"].as_str()
                        && unacked.iter().any(|(c, _)| c == client_id)
                    {
                        errors += 1;
                        retry.push((tokio::time::Instant::now() + Duration::from_millis(200), client_id.to_owned()));
                    }
                }
                Ok(Some(frame)) if frame["type"] == "message" => {
                    if let Some(seq) = frame["message"]["seq"].as_i64() {
                        last_seq = Some(last_seq.map_or(seq, |s: i64| s.max(seq)));
                    }
                }
                Ok(_) => {}
                Err(()) => {
                    reconnects += 1;
                    continue 'connect;
                }
            }
        }
    }
}

/// Checks in the store, through `node`, that every message the customers saw acknowledged is
/// there once, at the number its acknowledgement gave, and that each customer's `messages` were
/// all acknowledged in the end: their number.
async fn all_acknowledged_stored_once(node: &TestApp, chats: &[Chat], messages: usize) -> usize {
    let bruno = node.login(BRUNO).await;
    let mut acknowledged = 0;
    for Chat { conversation, acked, .. } in chats {
        let (status, history) = node.get(&format!("/api/v1/conversations/{conversation}/messages"), &bruno).await;
        assert_eq!(status, 200, "{history}");
        let stored: Vec<(i64, String)> = history["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["author"] == "customer")
            .map(|m| (m["seq"].as_i64().unwrap(), m["text"].as_str().unwrap().to_owned()))
            .collect();
        let texts: std::collections::BTreeSet<&str> = stored.iter().map(|(_, t)| t.as_str()).collect();
        assert_eq!(texts.len(), stored.len(), "a message stored twice in {conversation}: {stored:?}");
        for (text, seq) in acked {
            assert!(stored.contains(&(*seq, text.clone())), "acknowledged {text} (#{seq}) lost in {conversation}");
        }
        assert_eq!(acked.len(), messages, "every message acknowledged in the end");
        acknowledged += acked.len();
    }
    acknowledged
}

/// `/readyz`'s and `/metrics`' view of the lease on `node`.
async fn lease_as_reported(node: &TestApp, supervisor: &str) -> (bool, bool) {
    let ready: Value = node.http.get(node.url("/readyz")).send().await.unwrap().json().await.unwrap();
    let metrics =
        node.http.get(node.url("/metrics")).bearer_auth(supervisor).send().await.unwrap().text().await.unwrap();
    let gauge = if metrics.contains(r#"switchboard_leader{lease="jobs"} 1"#) {
        true
    } else {
        assert!(metrics.contains(r#"switchboard_leader{lease="jobs"} 0"#), "{metrics}");
        false
    };
    (ready["leases"]["jobs"].as_bool().expect("readyz names the jobs lease"), gauge)
}

/// A first-response target of 2 s in `general`, in force on both nodes at once (each node keeps
/// the policies in memory and re-reads another's within 10 s: saving on each is quicker).
async fn short_first_response(nodes: [&TestApp; 2]) {
    for node in nodes {
        let bruno = node.login(BRUNO).await;
        let config = json!({"policies": [{"queue": "general", "first_response_secs": 2}]});
        let (status, saved) = node.put("/api/v1/sla/policies", &bruno, &json!({"config": config})).await;
        assert_eq!(status, 200, "{saved}");
    }
}

/// A customer writes on `node` and a supervisor hands the chat over: a ticket in `general`.
async fn open_ticket(node: &TestApp) -> String {
    let bruno = node.login(BRUNO).await;
    let (visitor, conversation) = node.new_chat().await;
    let mut customer = node.customer_socket(&visitor, None).await;
    say(&mut customer, "c1", "Sin línea desde ayer").await;
    let (status, ticket) =
        node.post(&format!("/api/v1/conversations/{conversation}/handover"), &bruno, &json!({})).await;
    assert_eq!(status, 201, "{ticket}");
    ticket["id"].as_str().unwrap().to_owned()
}

/// The `sla.breached` events of `ticket`, read on `node`.
async fn breaches(node: &TestApp, ticket: &str) -> Vec<Value> {
    let bruno = node.login(BRUNO).await;
    let (status, detail) = node.get(&format!("/api/v1/tickets/{ticket}"), &bruno).await;
    assert_eq!(status, 200, "{detail}");
    detail["events"].as_array().unwrap().iter().filter(|e| e["kind"] == "sla.breached").cloned().collect()
}

/// Waits (at most 20 s) for `ticket`'s breach to be recorded; the events then.
async fn breach_recorded(node: &TestApp, ticket: &str) -> Vec<Value> {
    poll_until(Duration::from_secs(20), async || {
        let found = breaches(node, ticket).await;
        (!found.is_empty()).then_some(found)
    })
    .await
    .expect("the breach is recorded")
}

/// The count of first-response breaches in `general` on `node`'s `/metrics` (none: 0).
async fn breaches_counted(node: &TestApp) -> u64 {
    let bruno = node.login(BRUNO).await;
    let metrics = node.http.get(node.url("/metrics")).bearer_auth(&bruno).send().await.unwrap().text().await.unwrap();
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(r#"switchboard_sla_breaches_total{queue="general",target="first_response"} "#))
        .map_or(0, |n| n.parse().unwrap())
}

mod postgres {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_node_holds_the_jobs_lease_and_records_a_breach_once() {
        let (a, b) = two_nodes(&shared_url()).await;
        let leader = the_one_leader([&a, &b], Duration::from_secs(3)).await;
        let (leader, follower) = if leader == 0 { (&a, &b) } else { (&b, &a) };
        let bruno = leader.login(BRUNO).await;
        assert_eq!(lease_as_reported(leader, &bruno).await, (true, true), "/readyz and /metrics say so");
        assert_eq!(lease_as_reported(follower, &bruno).await, (false, false));

        // A ticket opened on the follower: the leader's timer records its breach, once.
        short_first_response([follower, leader]).await;
        let ticket = open_ticket(follower).await;
        let recorded = breach_recorded(follower, &ticket).await;
        assert_eq!(recorded.len(), 1, "{recorded:?}");
        assert_eq!(recorded[0]["detail"]["target"], "first_response");
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(breaches(leader, &ticket).await.len(), 1, "not recorded again");
        assert_eq!((breaches_counted(leader).await, breaches_counted(follower).await), (1, 0), "by the leader");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn when_the_leader_stops_the_other_node_takes_over_the_jobs() {
        let (a, b) = two_nodes(&shared_url()).await;
        let (mut leader, follower) =
            if the_one_leader([&a, &b], Duration::from_secs(2)).await == 0 { (a, b) } else { (b, a) };
        let stopped = Instant::now();
        leader.stop().await;
        let took = takes_over(&follower, stopped, Duration::from_secs(5)).await;
        println!("takeover after the leader stopped: {} ms", took.as_millis());

        // The jobs run there now.
        let config = json!({"policies": [{"queue": "general", "first_response_secs": 2}]});
        let bruno = follower.login(BRUNO).await;
        let (status, saved) = follower.put("/api/v1/sla/policies", &bruno, &json!({"config": config})).await;
        assert_eq!(status, 200, "{saved}");
        let ticket = open_ticket(&follower).await;
        assert_eq!(breach_recorded(&follower, &ticket).await.len(), 1);
        assert_eq!(breaches_counted(&follower).await, 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn when_the_leader_process_is_killed_the_other_node_takes_over() {
        let db = TestDb::new(Backend::Postgres).await;
        let shared = db.shared();
        let stream = unique_stream();
        // The first node on the database is a process of its own, and takes the leases.
        let mut process = NodeProcess::start(&db, &stream).await;
        let deadline = Instant::now() + Duration::from_secs(5);
        while !process.leads("jobs").await {
            assert!(Instant::now() < deadline, "the only node takes the jobs lease");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let mut config = test_config(&shared);
        config.bus.kind = BusKind::Redis;
        config.bus.url = Some(shared_url().into());
        config.bus.stream.clone_from(&stream);
        let node = spawn_app_with(config, shared).await;
        // Several checks of the follower's: the leases stay with the process.
        tokio::time::sleep(Duration::from_millis(2500)).await;
        assert!(!leads(&node) && !routes(&node), "two holders");
        assert!(process.leads("jobs").await);

        // An offer made by the process's router is live when it is killed.
        let (mut inbox, _ana, ana_id) = ana_working_on(&node).await;
        let ticket = open_ticket(&node).await;
        let offered = inbox.ticket_update(&ticket, "offered").await;
        assert_eq!(offered["offered_to"], ana_id.as_str());

        let killed = Instant::now();
        process.child.start_kill().expect("SIGKILL");
        let took = takes_over(&node, killed, Duration::from_secs(5)).await;
        // The new router requeues the ticket and offers it again: its first routing decision.
        let again = inbox.ticket_update(&ticket, "offered").await;
        let decided = killed.elapsed();
        assert_eq!(again["offered_to"], ana_id.as_str());
        assert!(routes(&node));
        println!(
            "takeover after the leader's process was killed: jobs lease {} ms, first routing decision {} ms",
            took.as_millis(),
            decided.as_millis()
        );
        assert!(decided < Duration::from_secs(5), "the new router decided after {decided:?}");
        process.child.wait().await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_customer_who_comes_back_on_the_other_node_is_not_abandoned() {
        let (a, b) = two_nodes_with(&shared_url(), |c| c.webchat.abandon_after_secs = 2).await;
        let bruno = a.login(BRUNO).await;
        let (visitor, conversation) = a.new_chat().await;
        let mut customer = a.customer_socket(&visitor, None).await;
        say(&mut customer, "c1", "Sin internet desde ayer").await;
        let ticket = crate::churn::hand_over(&a, &bruno, &conversation, &[]).await["id"].as_str().unwrap().to_owned();
        let status = async |node: &TestApp| {
            let (code, detail) = node.get(&format!("/api/v1/tickets/{ticket}"), &bruno).await;
            assert_eq!(code, 200, "{detail}");
            detail["ticket"]["status"].as_str().unwrap().to_owned()
        };

        // The socket on A drops; the customer's reload lands on B at once. A's window (2 s,
        // checked every 0.5 s) passes: A sees they came back elsewhere and leaves the ticket.
        drop(customer);
        tokio::time::sleep(Duration::from_millis(200)).await;
        let mut back = b.customer_socket(&visitor, None).await;
        back.next_of("state").await;
        tokio::time::sleep(Duration::from_secs(4)).await;
        assert_eq!(status(&a).await, "queued", "came back on the other node");

        // Gone from B for good: B abandons it once its own window has passed.
        drop(back);
        poll_until(Duration::from_secs(20), async || (status(&b).await == "closed").then_some(()))
            .await
            .expect("the customer gone from B is abandoned by B");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_customer_on_one_node_and_an_agent_on_the_other_chat_in_order() {
        let (a, b) = two_nodes(&shared_url()).await;
        let (mut inbox, mut customer, conversation) = chat_across(&a, &b).await;

        const MESSAGES: i64 = 30;
        for i in 1..=MESSAGES {
            customer
                .send_json(&json!({"type": "message", "client_id": format!("c-{i}"), "text": format!("mensaje {i}")}))
                .await;
        }
        for i in 1..=MESSAGES {
            assert_eq!(customer.next_of("ack").await["seq"], i);
        }
        for i in 1..=MESSAGES {
            let seen = next_message(&mut inbox, &conversation).await;
            assert_eq!(seen["message"]["seq"], i, "node B sees node A's messages in order");
            assert_eq!(seen["message"]["text"], format!("mensaje {i}"));
        }

        // The agent answers on B; the customer on A sees it.
        inbox
            .send_json(&json!({"type": "message", "conversation_id": conversation, "client_id": "a-1", "text": "¿En qué puedo ayudarle?"}))
            .await;
        assert_eq!(inbox.next_of("ack").await["seq"], MESSAGES + 1);
        let reply = loop {
            let m = customer.next_of("message").await;
            if m["message"]["author"] == "agent" {
                break m;
            }
        };
        assert_eq!(reply["message"]["text"], "¿En qué puedo ayudarle?");
        assert_eq!(reply["message"]["seq"], MESSAGES + 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_router_runs_on_one_node_and_the_other_forwards_to_it() {
        let (a, b) = two_nodes(&shared_url()).await;
        let (router, follower) = router_and_follower(&a, &b).await;
        let readyz: Value = follower.http.get(follower.url("/readyz")).send().await.unwrap().json().await.unwrap();
        assert_eq!(readyz["leases"]["router"], false, "{readyz}");

        // Everything happens on the follower: Ana's socket, the chat, the hand-over, the accept.
        let (mut inbox, ana, ana_id) = ana_working_on(follower).await;
        let ticket = open_ticket(follower).await;
        let offered = inbox.ticket_update(&ticket, "offered").await;
        assert_eq!(offered["offered_to"], ana_id.as_str(), "the router offers it to the agent on the other node");
        inbox.send_json(&json!({"type": "accept", "ticket_id": ticket})).await;
        let assigned = inbox.ticket_update(&ticket, "assigned").await;
        assert_eq!(assigned["assignee_id"], ana_id.as_str());

        // Both nodes read the same state: the store's, and the router's (forwarded from the follower).
        let bruno = router.login(BRUNO).await;
        let (status, stored) = router.get(&format!("/api/v1/tickets/{ticket}"), &bruno).await;
        assert_eq!(status, 200, "{stored}");
        assert_eq!(stored["ticket"]["assignee_id"], ana_id.as_str());
        for node in [router, follower] {
            let (status, profile) = node.get(&format!("/api/v1/agents/{ana_id}/routing"), &bruno).await;
            assert_eq!(status, 200, "{profile}");
            assert_eq!(profile["presence"], "available", "on both nodes: {profile}");
        }
        // A second accept of the same ticket is refused by the router, through the follower.
        let (status, body) = follower.post(&format!("/api/v1/tickets/{ticket}/accept"), &ana, &json!({})).await;
        assert_eq!(status, 409, "{body}");

        // Her last socket closes on the follower: the router sets her offline.
        drop(inbox);
        poll_until(Duration::from_secs(10), async || {
            let (_, profile) = router.get(&format!("/api/v1/agents/{ana_id}/routing"), &bruno).await;
            (profile["presence"] == "offline").then_some(())
        })
        .await
        .expect("offline once her last socket is gone");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn when_the_router_node_stops_the_other_takes_over_and_offers_again() {
        let (a, b) = two_nodes_with(&shared_url(), |c| c.routing.offer_timeout_secs = 60).await;
        let router_is_a = std::ptr::eq(router_and_follower(&a, &b).await.0, &a);
        let (mut router, follower) = if router_is_a { (a, b) } else { (b, a) };
        let (mut inbox, _ana, ana_id) = ana_working_on(&follower).await;
        let ticket = open_ticket(&follower).await;
        let offered = inbox.ticket_update(&ticket, "offered").await;
        assert_eq!(offered["offered_to"], ana_id.as_str());

        // The router's node stops with the offer live: the follower takes over, requeues the
        // ticket (the offer died with the engine) and offers it again; nothing is lost.
        let stopped = Instant::now();
        router.stop().await;
        while !routes(&follower) {
            assert!(stopped.elapsed() < Duration::from_secs(5), "no takeover within 5 s");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let took = stopped.elapsed();
        inbox.ticket_update(&ticket, "queued").await;
        let again = inbox.ticket_update(&ticket, "offered").await;
        assert_eq!(again["offered_to"], ana_id.as_str(), "offered again to the agent still connected");
        println!(
            "router takeover after its node stopped: lease {} ms, offered again {} ms",
            took.as_millis(),
            stopped.elapsed().as_millis()
        );
        inbox.send_json(&json!({"type": "accept", "ticket_id": ticket})).await;
        let assigned = inbox.ticket_update(&ticket, "assigned").await;
        assert_eq!(assigned["assignee_id"], ana_id.as_str(), "assigned once, by the new router");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_router_node_killed_under_load_behind_haproxy_loses_no_acknowledged_message() {
        killed_under_load(true).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn another_node_killed_under_load_behind_haproxy_loses_no_acknowledged_message() {
        killed_under_load(false).await;
    }

    /// Two node processes behind HAProxy, customers chatting through it; halfway through, one
    /// node is killed (`kill -9`): the router's (`router`) or the other. Prints what it counted.
    #[allow(clippy::print_stdout)]
    async fn killed_under_load(router: bool) {
        const CUSTOMERS: usize = 40;
        const MESSAGES: usize = 20;
        let db = TestDb::new(Backend::Postgres).await;
        let stream = unique_stream();
        let env = [
            ("SWITCHBOARD_WEBCHAT__OPENS_PER_MINUTE_PER_ADDRESS", "100000"),
            ("SWITCHBOARD_SERVER__WEBSOCKETS_PER_ADDRESS", "0"),
        ];
        let mut first = NodeProcess::start_with(&db, &stream, &env).await;
        let deadline = Instant::now() + Duration::from_secs(5);
        while !first.leads("router").await {
            assert!(Instant::now() < deadline, "the first node takes the router lease");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let mut second = NodeProcess::start_with(&db, &stream, &env).await;
        let proxy = Proxy::start(&[first.addr, second.addr]).await;

        // Customers through HAProxy (spread over both nodes), each sending a message every 100 ms.
        let started = Started::default();
        let customers: Vec<_> =
            (0..CUSTOMERS).map(|k| tokio::spawn(steady_customer(proxy.addr, k, MESSAGES, started.clone()))).collect();
        // Once every customer is chatting, a node is killed: its customers reconnect through
        // HAProxy (to the other node, with `last_seq`) and send again what was not acknowledged.
        all_started(&started, CUSTOMERS).await;
        let killed = Instant::now();
        let (victim, survivor) = if router { (&mut first, &second) } else { (&mut second, &first) };
        victim.child.start_kill().expect("SIGKILL");
        let mut took = None;
        while took.is_none() {
            if survivor.leads("router").await {
                took = Some(killed.elapsed());
            }
            assert!(killed.elapsed() < Duration::from_secs(5), "no router within 5 s of the kill");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let mut chats = Vec::new();
        for customer in customers {
            chats.push(tokio::time::timeout(Duration::from_secs(60), customer).await.expect("in time").unwrap());
        }

        // Counted on the surviving node, from the store: every acknowledged message is there,
        // once, at the number its acknowledgement gave.
        let acknowledged = all_acknowledged_stored_once(&survivor.client(&db), &chats, MESSAGES).await;
        let reconnects: usize = chats.iter().map(|c| c.reconnects).sum();
        let which = if router { "the router's node" } else { "the other node" };
        println!(
            "kill -9 of {which} under load: {acknowledged} messages acknowledged, 0 lost, 0 stored twice; \
             {reconnects} reconnections; router on the survivor {} ms after the kill",
            took.unwrap().as_millis()
        );
        assert!(reconnects > 0, "some customers were on the killed node");
        drop(proxy);
    }

    /// PostgreSQL crashes (an immediate stop: every connection cut, no checkpoint) and comes
    /// back while customers chat: what they send meanwhile is answered with errors, never
    /// acknowledged; they send it again; in the end every acknowledged message is stored once at
    /// its number. (A server of the test's own: the machine's serves the other tests.)
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_postgresql_crash_mid_run_gets_errors_not_acks_and_loses_nothing_acknowledged() {
        const CUSTOMERS: usize = 10;
        const MESSAGES: usize = 30;
        let pg = PgServer::start().await;
        let db = pg.db();
        let mut config = test_config(&db);
        config.webchat.opens_per_minute_per_address = 100_000;
        config.server.websockets_per_address = 0;
        let app = spawn_app_with(config, db).await;

        let started = Started::default();
        let customers: Vec<_> =
            (0..CUSTOMERS).map(|k| tokio::spawn(steady_customer(app.addr, k, MESSAGES, started.clone()))).collect();
        // Once every customer is chatting (a customer sends for 3 s): the crash comes mid-run.
        all_started(&started, CUSTOMERS).await;
        pg.crash();
        let crashed = Instant::now();
        // Longer than the store waits for a connection (5 s): the first messages sent meanwhile
        // are refused; the last ones wait and are stored once PostgreSQL is back.
        tokio::time::sleep(Duration::from_secs(7)).await;
        let restarting = Instant::now();
        pg.start_again().await;
        let down = crashed.elapsed();
        let mut chats = Vec::new();
        for customer in customers {
            chats.push(tokio::time::timeout(Duration::from_secs(90), customer).await.expect("in time").unwrap());
        }

        let acknowledged = all_acknowledged_stored_once(&app, &chats, MESSAGES).await;
        let errors: usize = chats.iter().map(|c| c.errors).sum();
        let reconnects: usize = chats.iter().map(|c| c.reconnects).sum();
        println!(
            "PostgreSQL crash mid-run: down {} ms; {errors} messages refused with an error and sent again, \
             {reconnects} reconnections; {acknowledged} acknowledged, 0 lost, 0 stored twice",
            down.as_millis()
        );
        assert!(errors > 0, "messages sent while PostgreSQL was down were refused");
        // Nothing can be stored while the server is down, so nothing sent once it was down is
        // acknowledged before it starts again. (A message stored just before the crash may be
        // acknowledged after it: when the acknowledgement arrives depends on the machine's load,
        // when the message was sent does not.)
        let during =
            chats.iter().flat_map(|c| &c.acks).filter(|(sent, acked)| *sent > crashed && *acked < restarting).count();
        assert_eq!(during, 0, "acknowledged while PostgreSQL was down");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sockets_resync_when_redis_restarts_and_events_flow_again() {
        let mut redis = RedisServer::start().await;
        let (a, b) = two_nodes(&redis.url()).await;
        let (mut inbox, mut customer, conversation) = chat_across(&a, &b).await;
        assert_eq!(say(&mut customer, "c-1", "antes").await, 1);
        assert_eq!(next_message(&mut inbox, &conversation).await["message"]["seq"], 1);

        redis.kill();
        // Stored and acknowledged while Redis is away, on both nodes; their events are lost, or
        // written late when a writer's retry outlasts the restart.
        assert_eq!(say(&mut customer, "c-2", "durante").await, 2);
        let ana = b.login(ANA).await;
        let path = format!("/api/v1/conversations/{conversation}/messages");
        let (status, body) = b.post(&path, &ana, &json!({"text": "mientras tanto"})).await;
        assert_eq!(status, 201, "{body}");
        redis.start_again().await;

        // Both nodes' sockets are told to re-read the store: the agent's inbox on B...
        inbox.next_of("resync").await;
        let (status, history) = b.get(&path, &ana).await;
        assert_eq!(status, 200);
        let texts: Vec<&str> = history["items"].as_array().unwrap().iter().filter_map(|m| m["text"].as_str()).collect();
        assert_eq!(texts, ["antes", "durante", "mientras tanto"], "what the resync re-reads holds the missed messages");
        // ...and the customer's socket on A replays from the store the reply it missed.
        let reply = loop {
            let m = customer.next_of("message").await;
            if m["message"]["author"] == "agent" {
                break m;
            }
        };
        assert_eq!(reply["message"]["text"], "mientras tanto");
        assert_eq!(reply["message"]["seq"], 3);

        assert_eq!(say(&mut customer, "c-3", "después").await, 4);
        // Late events (numbers 2 and 3) may come first; then the new one.
        let seen = loop {
            let m = next_message(&mut inbox, &conversation).await;
            let seq = m["message"]["seq"].as_i64().unwrap();
            assert!((2..=4).contains(&seq), "only the late events and the new one: {m}");
            if seq == 4 {
                break m;
            }
        };
        assert_eq!(seen["message"]["text"], "después");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sockets_resync_when_redis_drops_the_connections() {
        let redis = RedisServer::start().await;
        let (a, b) = two_nodes(&redis.url()).await;
        let (mut inbox, mut customer, conversation) = chat_across(&a, &b).await;
        assert_eq!(say(&mut customer, "c-1", "uno").await, 1);
        assert_eq!(next_message(&mut inbox, &conversation).await["message"]["seq"], 1);

        let killed = redis.command("CLIENT KILL TYPE normal").await.expect("redis answers");
        assert!(killed.starts_with(':'), "CLIENT KILL answered {killed}");
        inbox.next_of("resync").await;

        assert_eq!(say(&mut customer, "c-2", "dos").await, 2);
        assert_eq!(next_message(&mut inbox, &conversation).await["message"]["seq"], 2, "events flow again");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_node_whose_redis_is_unreachable_does_not_start_and_keeps_the_password_quiet() {
        let db = TestDb::new(Backend::Postgres).await;
        let mut config = test_config(&db);
        config.bus.kind = BusKind::Redis;
        // Port 1: nothing listens there.
        config.bus.url = Some("redis://:hunter2-secret@127.0.0.1:1/0".into());
        let error = hub::start(config.clone()).await.expect_err("no Redis, no node").to_string();
        assert!(error.contains("cannot reach Redis"), "{error}");
        assert!(!error.contains("hunter2"), "the URL's password must not show: {error}");
        assert!(!format!("{config:?}").contains("hunter2"), "nor in the config's Debug");
    }
}
