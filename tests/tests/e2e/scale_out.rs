//! Two hub nodes on one PostgreSQL database and one Redis, in one process (the scale-out
//! topology; the router still runs on each node): what one node announces reaches the sockets of
//! the other, in order; when Redis restarts or drops the connections, the sockets are told to
//! `resync`, and then events flow again. PostgreSQL only: several nodes on one SQLite file is not
//! a supported deployment.

use hub::config::BusKind;
use serde_json::{Value, json};
use tests::redis::{RedisServer, shared_url, unique_stream};
use tests::{ANA, Backend, TestApp, TestDb, Ws, spawn_app_with, test_config};

/// Nodes A and B on one new database, sharing the event stream on the Redis at `url`.
async fn two_nodes(url: &str) -> (TestApp, TestApp) {
    let db = TestDb::new(Backend::Postgres).await;
    let shared = db.shared();
    let stream = unique_stream();
    let config = |db: &TestDb| {
        let mut config = test_config(db);
        config.bus.kind = BusKind::Redis;
        config.bus.url = Some(url.into());
        config.bus.stream.clone_from(&stream);
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

mod postgres {
    use super::*;

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
