//! A customer chats over a real websocket; an agent answers from the live inbox; nothing is lost.

use serde_json::json;
use tests::{ANA, BRUNO, Backend, both_backends, spawn_app};

both_backends!(
    customer_and_agent_talk_end_to_end,
    redelivered_message_is_stored_once,
    reconnect_replays_what_was_missed,
    conversations_page_and_filter,
    shutdown_closes_sockets_and_keeps_every_acked_message,
);

async fn customer_and_agent_talk_end_to_end(backend: Backend) {
    let app = spawn_app(backend).await;
    let ana = app.login(ANA).await;
    let mut inbox = app.inbox_socket(&ana).await;

    let (visitor, conversation) = app.new_chat().await;
    let created = inbox.next_of("conversation.created").await;
    assert_eq!(created["conversation"]["id"], conversation.as_str());
    assert_eq!(created["conversation"]["status"], "queued");
    assert_eq!(created["conversation"]["channel"], "webchat");

    let mut customer = app.customer_socket(&visitor, None).await;
    customer.send_json(&json!({"type": "message", "client_id": "c-1", "text": "Hola, no tengo señal"})).await;
    let ack = customer.next_of("ack").await;
    assert_eq!(ack, json!({"type": "ack", "conversation_id": conversation, "client_id": "c-1", "seq": 1}));

    let seen = inbox.next_of("message.created").await;
    assert_eq!(seen["message"]["text"], "Hola, no tengo señal");
    assert_eq!(seen["message"]["author"], "customer");
    assert_eq!(seen["message"]["seq"], 1);

    // The agent answers over the socket: the conversation becomes theirs.
    inbox
        .send_json(
            &json!({"type": "message", "conversation_id": conversation, "client_id": "a-1", "text": "¿Desde cuándo?"}),
        )
        .await;
    let ack = inbox.next_of("ack").await;
    assert_eq!(ack["seq"], 2);
    let reply = loop {
        let m = customer.next_of("message").await;
        if m["message"]["author"] == "agent" {
            break m;
        }
    };
    assert_eq!(reply["message"]["text"], "¿Desde cuándo?");
    assert_eq!(reply["message"]["seq"], 2);

    // ... and over REST.
    let (status, body) = app
        .post(&format!("/api/v1/conversations/{conversation}/messages"), &ana, &json!({"text": "Reinicie el móvil"}))
        .await;
    assert_eq!(status, 201, "{body}");
    let pushed = customer.next_of("message").await;
    assert_eq!(pushed["message"]["text"], "Reinicie el móvil");
    assert_eq!(pushed["message"]["seq"], 3);

    let (status, conv) = app.get(&format!("/api/v1/conversations/{conversation}"), &ana).await;
    assert_eq!(status, 200);
    assert_eq!(conv["status"], "assigned");
    let me = app.get("/api/v1/me", &ana).await.1;
    assert_eq!(conv["assignee_id"], me["id"]);
    assert_eq!(conv["last_seq"], 3);

    let (_, history) = app.get(&format!("/api/v1/conversations/{conversation}/messages"), &ana).await;
    let authors: Vec<_> = history["items"].as_array().unwrap().iter().map(|m| m["author"].clone()).collect();
    assert_eq!(authors, [json!("customer"), json!("agent"), json!("agent")]);

    // A card number never reaches the store in clear.
    customer.send_json(&json!({"type": "message", "client_id": "c-2", "text": "mi tarjeta 4111 1111 1111 1111"})).await;
    customer.next_of("ack").await;
    let (_, history) = app.get(&format!("/api/v1/conversations/{conversation}/messages?after_seq=3"), &ana).await;
    assert_eq!(history["items"][0]["text"], "mi tarjeta **** **** **** 1111");

    // A second agent sees the same live events.
    let bruno = app.login(BRUNO).await;
    let mut inbox2 = app.inbox_socket(&bruno).await;
    customer.send_json(&json!({"type": "message", "client_id": "c-3", "text": "gracias"})).await;
    assert_eq!(inbox2.next_of("message.created").await["message"]["text"], "gracias");
}

async fn redelivered_message_is_stored_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let ana = app.login(ANA).await;
    let (visitor, conversation) = app.new_chat().await;
    let mut customer = app.customer_socket(&visitor, None).await;
    for _ in 0..3 {
        customer.send_json(&json!({"type": "message", "client_id": "same", "text": "once"})).await;
        assert_eq!(customer.next_of("ack").await["seq"], 1);
    }
    let path = format!("/api/v1/conversations/{conversation}/messages");
    for _ in 0..2 {
        let (status, _) = app.post(&path, &ana, &json!({"text": "reply", "client_id": "r-1"})).await;
        assert!(status == 201 || status == 200);
    }
    let (_, history) = app.get(&path, &ana).await;
    let items = history["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{history}");
    assert_eq!(app.get(&format!("/api/v1/conversations/{conversation}"), &ana).await.1["last_seq"], 2);
}

async fn reconnect_replays_what_was_missed(backend: Backend) {
    let app = spawn_app(backend).await;
    let ana = app.login(ANA).await;
    let (visitor, conversation) = app.new_chat().await;
    let mut customer = app.customer_socket(&visitor, None).await;
    customer.send_json(&json!({"type": "message", "client_id": "1", "text": "first"})).await;
    customer.next_of("ack").await;
    drop(customer);

    // While the customer is away, the agent answers twice.
    let path = format!("/api/v1/conversations/{conversation}/messages");
    for text in ["second", "third"] {
        assert_eq!(app.post(&path, &ana, &json!({"text": text})).await.0, 201);
    }
    let mut customer = app.customer_socket(&visitor, Some(1)).await;
    let a = customer.next_of("message").await;
    let b = customer.next_of("message").await;
    assert_eq!((a["message"]["seq"].clone(), a["message"]["text"].clone()), (json!(2), json!("second")));
    assert_eq!((b["message"]["seq"].clone(), b["message"]["text"].clone()), (json!(3), json!("third")));

    // Live delivery continues after the replay, without duplicates.
    assert_eq!(app.post(&path, &ana, &json!({"text": "fourth"})).await.0, 201);
    assert_eq!(customer.next_of("message").await["message"]["seq"], 4);

    // A fresh socket with no last_seq gets the whole history.
    let mut fresh = app.customer_socket(&visitor, None).await;
    for seq in 1..=4 {
        assert_eq!(fresh.next_of("message").await["message"]["seq"], seq);
    }
}

async fn conversations_page_and_filter(backend: Backend) {
    let app = spawn_app(backend).await;
    let ana = app.login(ANA).await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(app.new_chat().await.1);
    }
    // Answer one so it leaves the queue.
    let path = format!("/api/v1/conversations/{}/messages", ids[0]);
    assert_eq!(app.post(&path, &ana, &json!({"text": "hello"})).await.0, 201);

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = match &cursor {
            Some(c) => format!("/api/v1/conversations?limit=2&cursor={c}"),
            None => "/api/v1/conversations?limit=2".to_owned(),
        };
        let (status, page) = app.get(&q, &ana).await;
        assert_eq!(status, 200, "{page}");
        for c in page["items"].as_array().unwrap() {
            seen.push(c["id"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 5);
    assert_eq!(seen[0], ids[0], "the answered conversation is the most recently active");
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), 5, "no conversation twice");

    let (_, queued) = app.get("/api/v1/conversations?status=queued", &ana).await;
    assert_eq!(queued["items"].as_array().unwrap().len(), 4);
    let (_, assigned) = app.get("/api/v1/conversations?status=assigned", &ana).await;
    assert_eq!(assigned["items"][0]["id"], ids[0].as_str());
}

async fn shutdown_closes_sockets_and_keeps_every_acked_message(backend: Backend) {
    let mut app = spawn_app(backend).await;
    let (visitor, conversation) = app.new_chat().await;
    let mut customer = app.customer_socket(&visitor, None).await;
    let mut acked = 0;
    for i in 0..20 {
        customer
            .send_json(&json!({"type": "message", "client_id": format!("m{i}"), "text": format!("message {i}")}))
            .await;
        customer.next_of("ack").await;
        acked += 1;
    }
    let stop = tokio::spawn(async move {
        app.stop().await;
        app
    });
    let (code, _) = customer.closed().await;
    assert_eq!(code, 1001, "going away");
    let app = stop.await.unwrap();

    // Restart on the same database: every acknowledged message is there, once.
    let tests::TestApp { db, .. } = app;
    let app = tests::spawn_app_with(tests::test_config(&db), db).await;
    let ana = app.login(ANA).await;
    let (_, history) = app.get(&format!("/api/v1/conversations/{conversation}/messages?limit=200"), &ana).await;
    let seqs: Vec<i64> = history["items"].as_array().unwrap().iter().map(|m| m["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, (1..=acked).collect::<Vec<_>>());
}
