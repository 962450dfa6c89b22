//! A customer chats over a real websocket; an agent answers from the live inbox; nothing is lost.

use schema::{Store, StoreOptions};
use serde_json::{Value, json};
use tests::{ADMIN, ANA, BRUNO, Backend, TestApp, TestDb, Ws, both_backends, spawn_app, spawn_app_with, test_config};

both_backends!(
    customer_and_agent_talk_end_to_end,
    redelivered_message_is_stored_once,
    reconnect_replays_what_was_missed,
    conversations_page_and_filter,
    shutdown_closes_sockets_and_keeps_every_acked_message,
    customer_sees_who_answers_their_typing_and_the_end,
    customer_sends_pictures_and_documents,
    new_chats_are_limited_per_client_address,
    sockets_per_chat_are_bounded,
    pictures_showing_a_card_number_are_refused,
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
    let TestApp { db, .. } = app;
    let app = spawn_app_with(test_config(&db), db).await;
    let ana = app.login(ANA).await;
    let (_, history) = app.get(&format!("/api/v1/conversations/{conversation}/messages?limit=200"), &ana).await;
    let seqs: Vec<i64> = history["items"].as_array().unwrap().iter().map(|m| m["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, (1..=acked).collect::<Vec<_>>());
}

/// The next `state` frame with `status`, skipping other frames and earlier states.
async fn state(customer: &mut Ws, status: &str) -> Value {
    loop {
        let frame = customer.next_of("state").await;
        if frame["status"] == status {
            return frame;
        }
    }
}

async fn customer_sees_who_answers_their_typing_and_the_end(backend: Backend) {
    let app = spawn_app(backend).await;
    let ana = app.login(ANA).await;
    let admin = app.login(ADMIN).await;
    let ana_id = app.me(&ana).await;
    let mut inbox = app.inbox_socket(&ana).await;
    let (visitor, conversation) = app.new_chat().await;
    let mut customer = app.customer_socket(&visitor, None).await;

    // On connect the customer learns where the conversation stands: nobody on it yet.
    let first = customer.next_of("state").await;
    assert_eq!(first["agent"], Value::Null, "{first}");

    // The customer's typing reaches the agents, passed on at most once per interval.
    customer.send_json(&json!({"type": "typing"})).await;
    customer.send_json(&json!({"type": "typing"})).await;
    customer.send_json(&json!({"type": "message", "client_id": "c1", "text": "Mi factura está mal"})).await;
    customer.next_of("ack").await;
    let mut typing = Vec::new();
    loop {
        let event = inbox.next_json().await;
        match event["type"].as_str() {
            Some("conversation.typing") => typing.push(event),
            Some("message.created") if event["message"]["conversation_id"] == conversation.as_str() => break,
            _ => {}
        }
    }
    assert_eq!(typing.len(), 1, "{typing:?}");
    assert_eq!(typing[0]["conversation_id"], conversation.as_str());
    assert_eq!(typing[0]["author"], "customer");

    // A typing frame without its conversation is refused; the socket stays open.
    inbox.send_json(&json!({"type": "typing"})).await;
    assert_eq!(inbox.next_of("error").await["code"], "invalid_field");

    // A hand-over, then a supervisor gives the ticket to Ana: the customer learns her name.
    let (status, ticket) =
        app.post(&format!("/api/v1/conversations/{conversation}/handover"), &admin, &json!({})).await;
    assert_eq!(status, 201, "{ticket}");
    let ticket_id = ticket["id"].as_str().unwrap().to_owned();
    let (status, body) =
        app.post(&format!("/api/v1/tickets/{ticket_id}/transfer"), &admin, &json!({"agent_id": ana_id})).await;
    assert_eq!(status, 200, "{body}");
    let assigned = state(&mut customer, "assigned").await;
    assert_eq!(assigned["agent"], json!({"name": "Ana Agent"}), "{assigned}");

    // Ana's typing reaches the customer with her name; she answers.
    inbox.send_json(&json!({"type": "typing", "conversation_id": conversation})).await;
    let hint = customer.next_of("typing").await;
    assert_eq!(hint, json!({"type": "typing", "author": "agent", "name": "Ana Agent"}));

    // A reconnecting customer is told the current state again, with the agent.
    let mut again = app.customer_socket(&visitor, Some(1)).await;
    let now = again.next_of("state").await;
    assert_eq!((now["status"].clone(), now["agent"].clone()), (json!("assigned"), json!({"name": "Ana Agent"})));

    // Ana resolves: the conversation has ended for the customer.
    let (status, body) = app.post(&format!("/api/v1/tickets/{ticket_id}/resolve"), &ana, &json!({})).await;
    assert_eq!(status, 200, "{body}");
    state(&mut customer, "resolved").await;
    state(&mut again, "resolved").await;
}

/// A valid 1×1 white PNG (Tesseract reads it: no text).
const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4, 0x89, 0x00, 0x00, 0x00, 0x0d, 0x49,
    0x44, 0x41, 0x54, 0x78, 0xda, 0x63, 0x64, 0xf8, 0xcf, 0x50, 0x0f, 0x00, 0x03, 0x86, 0x01, 0x80, 0x5a, 0x34, 0x7d,
    0x6b, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

/// Uploads a file to the chat of `visitor`; the status and the JSON answer.
async fn upload(app: &TestApp, visitor: Option<&str>, name: &str, content_type: &str, body: Vec<u8>) -> (u16, Value) {
    let mut req = app
        .http
        .post(app.url(&format!("/api/v1/webchat/attachments?name={name}")))
        .header("content-type", content_type)
        .body(body);
    if let Some(token) = visitor {
        req = req.bearer_auth(token);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn customer_sends_pictures_and_documents(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut config = test_config(&db);
    config.webchat.max_attachment_bytes = 64 * 1024;
    config.webchat.max_attachments_per_conversation = 3;
    let app = spawn_app_with(config, db).await;
    let ana = app.login(ANA).await;
    let (visitor, conversation) = app.new_chat().await;
    let (other_visitor, _) = app.new_chat().await;
    let mut customer = app.customer_socket(&visitor, None).await;

    // A picture is kept for the chat, its name's card number masked.
    let (status, kept) = upload(&app, Some(&visitor), "4111111111111111.png", "image/png", PNG.to_vec()).await;
    assert_eq!(status, 201, "{kept}");
    assert_eq!(kept["content_type"], "image/png");
    assert_eq!(kept["file_name"], "************1111.png");
    let id = kept["id"].as_str().unwrap().to_owned();

    // Refusals, each with its code; none of them is kept.
    assert_eq!(upload(&app, None, "a.png", "image/png", PNG.to_vec()).await.0, 401);
    assert_eq!(upload(&app, Some("forged"), "a.png", "image/png", PNG.to_vec()).await.0, 401);
    let (status, body) = upload(&app, Some(&visitor), "x.exe", "image/png", b"MZ\x90\0binary".to_vec()).await;
    assert_eq!((status, body["error"]["code"].as_str()), (415, Some("unsupported_media_type")), "{body}");
    let (status, _) = upload(&app, Some(&visitor), "x.png", "application/pdf", PNG.to_vec()).await;
    assert_eq!(status, 415);
    let pdf = b"%PDF-1.4\n1 0 obj\n<< /Length 60 >>\nstream\nBT /F1 12 Tf (Card 4111 1111 1111 1111) Tj ET\nendstream\nendobj\n%%EOF\n";
    let (status, body) = upload(&app, Some(&visitor), "bill.pdf", "application/pdf", pdf.to_vec()).await;
    assert_eq!((status, body["error"]["field"].as_str()), (422, Some("file")), "{body}");
    let (status, body) =
        upload(&app, Some(&visitor), "big.png", "image/png", [PNG, &vec![0; 64 * 1024]].concat()).await;
    assert_eq!((status, body["error"]["code"].as_str()), (413, Some("payload_too_large")), "{body}");

    // The message names the file; agents see it in the message's media and download it.
    customer.send_json(&json!({"type": "message", "client_id": "f1", "text": "my screen", "attachments": [id]})).await;
    assert_eq!(customer.next_of("ack").await["client_id"], "f1");
    let (_, history) = app.get(&format!("/api/v1/conversations/{conversation}/messages"), &ana).await;
    let media = &history["items"][0]["media"][0];
    assert_eq!(media["kind"], "image", "{history}");
    assert_eq!(media["reference"], format!("/api/v1/attachments/{id}"));
    let res = app.http.get(app.url(&format!("/api/v1/attachments/{id}"))).bearer_auth(&ana).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "image/png");
    assert_eq!(res.bytes().await.unwrap().as_ref(), PNG);

    // The customer gets their own file back; another chat's visitor cannot, nor name it.
    let own = format!("/api/v1/webchat/attachments/{id}");
    let res = app.http.get(app.url(&own)).bearer_auth(&visitor).send().await.unwrap();
    assert_eq!((res.status().as_u16(), res.bytes().await.unwrap().as_ref()), (200, PNG));
    let res = app.http.get(app.url(&own)).bearer_auth(&other_visitor).send().await.unwrap();
    assert_eq!(res.status(), 404);
    let mut intruder = app.customer_socket(&other_visitor, None).await;
    intruder.send_json(&json!({"type": "message", "client_id": "x1", "text": "mine now", "attachments": [id]})).await;
    let refused = intruder.next_of("error").await;
    assert_eq!((refused["code"].as_str(), refused["client_id"].as_str()), (Some("invalid_field"), Some("x1")));

    // A chat holds a bounded number of files.
    let (status, orphan) = upload(&app, Some(&visitor), "p.png", "image/png", PNG.to_vec()).await;
    assert_eq!(status, 201);
    assert_eq!(upload(&app, Some(&visitor), "p.png", "image/png", PNG.to_vec()).await.0, 201);
    let (status, body) = upload(&app, Some(&visitor), "p.png", "image/png", PNG.to_vec()).await;
    assert_eq!((status, body["error"]["code"].as_str()), (429, Some("rate_limited")), "{body}");

    // The sweep deletes files no message named (here: all uploaded before "a second from now"),
    // and keeps the one the message carries.
    let store =
        Store::connect(&app.db.url, &StoreOptions { max_connections: 2, ..StoreOptions::default() }).await.unwrap();
    let later = time::OffsetDateTime::now_utc() + time::Duration::seconds(1);
    assert_eq!(store.delete_unclaimed_uploads(later).await.unwrap(), 2);
    let orphan = format!("/api/v1/webchat/attachments/{}", orphan["id"].as_str().unwrap());
    assert_eq!(app.http.get(app.url(&orphan)).bearer_auth(&visitor).send().await.unwrap().status(), 404);
    let res = app.http.get(app.url(&own)).bearer_auth(&visitor).send().await.unwrap();
    assert_eq!(res.status(), 200);
}

async fn new_chats_are_limited_per_client_address(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut config = test_config(&db);
    config.webchat.opens_per_minute_per_address = 5;
    config.webchat.upload_megabytes_per_hour_per_address = 1;
    // The 600 KiB files below are no real pictures; this test is about the limits, not OCR.
    config.webchat.picture_ocr = hub::config::PictureOcr::Off;
    config.webchat.client_address_header = Some("X-Forwarded-For".to_owned());
    let app = spawn_app_with(config, db).await;
    let open = |address: &'static str| {
        app.http
            .post(app.url("/api/v1/webchat/sessions"))
            .header("x-forwarded-for", format!("198.51.100.7, {address}"))
            .json(&json!({}))
            .send()
    };
    // A burst of 5 from one address, then 429; another address is not affected (the proxy's
    // last entry is the client, whatever the client wrote before it).
    for _ in 0..5 {
        assert_eq!(open("203.0.113.1").await.unwrap().status(), 201);
    }
    let refused = open("203.0.113.1").await.unwrap();
    assert_eq!(refused.status(), 429);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited", "{body}");
    let other = open("203.0.113.2").await.unwrap();
    assert_eq!(other.status(), 201);
    let token = other.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_owned();

    // File bytes are counted per address too: 1 MiB an hour here, so a second 600 KiB file is
    // refused (from this address, not from another).
    let send = |address: &'static str| {
        app.http
            .post(app.url("/api/v1/webchat/attachments?name=big.png"))
            .bearer_auth(&token)
            .header("x-forwarded-for", address)
            .header("content-type", "image/png")
            .body([PNG, &vec![0; 600 * 1024]].concat())
            .send()
    };
    assert_eq!(send("203.0.113.3").await.unwrap().status(), 201);
    assert_eq!(send("203.0.113.3").await.unwrap().status(), 429);
    assert_eq!(send("203.0.113.4").await.unwrap().status(), 201);
}

async fn sockets_per_chat_are_bounded(backend: Backend) {
    let app = spawn_app(backend).await;
    let (visitor, _) = app.new_chat().await;
    // A chat open in several tabs is fine, up to 8 sockets...
    let mut open = Vec::new();
    for _ in 0..8 {
        let mut ws = app.customer_socket(&visitor, None).await;
        ws.next_of("state").await;
        open.push(ws);
    }
    // ... the ninth is closed at once with a reason.
    let mut ninth = app.customer_socket(&visitor, None).await;
    let (code, reason) = ninth.closed().await;
    assert_eq!(code, 4401, "{reason}");
    assert!(reason.contains("sockets open"), "{reason}");
    // A closed one frees its place (the hub notices the peer leaving).
    drop(open.pop());
    let mut reopened = false;
    for _ in 0..50 {
        let mut ws = app.customer_socket(&visitor, None).await;
        // A refused socket's close makes `next_json` panic: each try runs on its own task.
        let first = tokio::spawn(async move { ws.next_json().await }).await;
        if first.is_ok_and(|f| f["type"] == "state") {
            reopened = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(reopened, "a socket could open again after one closed");
}

/// Needs Tesseract (`apt-get install tesseract-ocr`; the test script installs it).
async fn pictures_showing_a_card_number_are_refused(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut config = test_config(&db);
    config.webchat.picture_ocr = hub::config::PictureOcr::Required;
    let app = spawn_app_with(config, db).await;
    let (visitor, _) = app.new_chat().await;
    let fixture = |name: &str| std::fs::read(format!("{}/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    // A screenshot of "Tarjeta 4111 1111 1111 1111" is refused, on the field.
    let (status, body) = upload(&app, Some(&visitor), "captura.png", "image/png", fixture("card-number.png")).await;
    assert_eq!((status, body["error"]["field"].as_str()), (422, Some("file")), "{body}");
    // A screenshot of a line number and other text is kept.
    let (status, body) = upload(&app, Some(&visitor), "linea.png", "image/png", fixture("no-card-number.png")).await;
    assert_eq!(status, 201, "{body}");
    // With OCR required, a picture it cannot read is refused too.
    let broken = PNG[..20].to_vec();
    let (status, body) = upload(&app, Some(&visitor), "roto.png", "image/png", broken).await;
    assert_eq!((status, body["error"]["field"].as_str()), (422, Some("file")), "{body}");
}
