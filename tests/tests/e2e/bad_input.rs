//! Every kind of bad input gets a clear error and loses nothing; nothing panics.

use channels::webchat::{VisitorClaims, VisitorTokenKey};
use serde_json::{Value, json};
use tests::{ADMIN, ANA, Backend, TEST_TOKEN_SECRET, both_backends, spawn_app};
use tokio_tungstenite::tungstenite::Message as WsMessage;

both_backends!(
    malformed_frames_get_error_frames_and_the_socket_stays_open,
    oversize_frame_closes_1009,
    bad_or_expired_tokens_close_4401,
    rest_rejects_bad_requests_with_json_errors,
    staff_auth_and_roles,
);

async fn malformed_frames_get_error_frames_and_the_socket_stays_open(backend: Backend) {
    let app = spawn_app(backend).await;
    let (visitor, _) = app.new_chat().await;
    let mut customer = app.customer_socket(&visitor, None).await;
    let cases: [(WsMessage, &str); 7] = [
        (WsMessage::text("this is not json"), "malformed_frame"),
        (WsMessage::text("{\"type\":"), "malformed_frame"),
        (WsMessage::text(r#"{"type":"sing","text":"la"}"#), "unknown_frame_type"),
        (WsMessage::text(r#"{"type":"message","text":"no client id"}"#), "invalid_field"),
        (WsMessage::text(r#"{"type":"message","client_id":"x","text":"   "}"#), "invalid_field"),
        (
            WsMessage::text(json!({"type":"message","client_id":"long","text":"x".repeat(4001)}).to_string()),
            "message_too_long",
        ),
        (WsMessage::binary(vec![0u8, 159, 146, 150]), "unsupported_frame"),
    ];
    for (frame, code) in cases {
        customer.send_raw(frame).await;
        let err = customer.next_of("error").await;
        assert_eq!(err["code"], code, "{err}");
    }
    // Invalid UTF-8 in a text frame is a protocol error in the websocket layer itself, so it
    // is not tried here; everything the JSON layer sees, it answers. The socket still works:
    customer.send_json(&json!({"type": "message", "client_id": "ok", "text": "still here"})).await;
    assert_eq!(customer.next_of("ack").await["seq"], 1, "nothing was stored by the bad frames");
}

async fn oversize_frame_closes_1009(backend: Backend) {
    let app = spawn_app(backend).await;
    let (visitor, _) = app.new_chat().await;
    let mut customer = app.customer_socket(&visitor, None).await;
    let huge = json!({"type": "message", "client_id": "big", "text": "x".repeat(70 * 1024)}).to_string();
    customer.send_raw(WsMessage::text(huge)).await;
    let (code, reason) = customer.closed().await;
    assert_eq!(code, 1009, "{reason}");

    // The hub is fine and a new socket works.
    let mut again = app.customer_socket(&visitor, None).await;
    again.send_json(&json!({"type": "message", "client_id": "ok", "text": "small"})).await;
    assert_eq!(again.next_of("ack").await["seq"], 1);
}

async fn bad_or_expired_tokens_close_4401(backend: Backend) {
    let app = spawn_app(backend).await;
    let (visitor, conversation) = app.new_chat().await;
    let key = VisitorTokenKey::new(TEST_TOKEN_SECRET.as_bytes());
    let expired = key.sign(&VisitorClaims {
        conversation_id: conversation.parse().unwrap(),
        customer_id: schema::CustomerId::new(),
        expires_at: time::OffsetDateTime::now_utc().unix_timestamp() - 10,
    });
    let forged = VisitorTokenKey::new(b"not the hub's secret".to_vec()).sign(&VisitorClaims {
        conversation_id: conversation.parse().unwrap(),
        customer_id: schema::CustomerId::new(),
        expires_at: i64::MAX,
    });
    let tampered = format!("{}x", &visitor[..visitor.len() - 1]);
    for (token, why) in [(expired.as_str(), "expired"), (forged.as_str(), "signature"), (tampered.as_str(), "")] {
        let mut ws = tests::Ws::connect(&format!("ws://{}/ws/webchat?token={token}", app.addr)).await;
        let (code, reason) = ws.closed().await;
        assert_eq!(code, 4401, "{reason}");
        assert!(reason.contains(why), "{reason:?} should mention {why:?}");
    }
    let mut ws = tests::Ws::connect(&format!("ws://{}/ws/webchat", app.addr)).await;
    assert_eq!(ws.closed().await.0, 4401);

    // Staff sockets: no token, a garbage token, a signed-out token.
    let mut ws = tests::Ws::connect(&format!("ws://{}/ws/inbox", app.addr)).await;
    assert_eq!(ws.closed().await.0, 4401);
    let mut ws = app.inbox_socket("sbs_garbage").await;
    assert_eq!(ws.closed().await.0, 4401);
    let ana = app.login(ANA).await;
    assert_eq!(app.post("/api/v1/auth/logout", &ana, &json!({})).await.0, 204);
    let mut ws = app.inbox_socket(&ana).await;
    assert_eq!(ws.closed().await.0, 4401);
}

async fn rest_rejects_bad_requests_with_json_errors(backend: Backend) {
    let app = spawn_app(backend).await;
    let ana = app.login(ANA).await;
    let (_, conversation) = app.new_chat().await;
    let path = format!("/api/v1/conversations/{conversation}/messages");

    let expect = |status: u16, body: &Value, want_status: u16, code: &str| {
        assert_eq!(status, want_status, "{body}");
        assert_eq!(body["error"]["code"], code, "{body}");
        assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    };
    let (s, b) = app.post(&path, &ana, &json!({"text": "x".repeat(4001)})).await;
    expect(s, &b, 413, "message_too_long");
    let (s, b) = app.post(&path, &ana, &json!({"text": ""})).await;
    expect(s, &b, 422, "invalid_field");
    assert_eq!(b["error"]["field"], "text");
    let (s, b) = app.post(&path, &ana, &json!({"txt": "typo"})).await;
    expect(s, &b, 400, "invalid_json");
    let res = app
        .http
        .post(app.url(&path))
        .bearer_auth(&ana)
        .header("content-type", "application/json")
        .body("{oops")
        .send()
        .await
        .unwrap();
    let s = res.status().as_u16();
    expect(s, &res.json().await.unwrap(), 400, "invalid_json");
    let res = app
        .http
        .post(app.url(&path))
        .bearer_auth(&ana)
        .header("content-type", "application/json")
        .body(vec![b'['; 300 * 1024])
        .send()
        .await
        .unwrap();
    let s = res.status().as_u16();
    expect(s, &res.json().await.unwrap(), 413, "payload_too_large");
    let (s, b) = app.post("/api/v1/conversations/not-a-uuid/messages", &ana, &json!({"text": "hi"})).await;
    expect(s, &b, 400, "invalid_path");
    let unknown = schema::ConversationId::new();
    let (s, b) = app.post(&format!("/api/v1/conversations/{unknown}/messages"), &ana, &json!({"text": "hi"})).await;
    expect(s, &b, 404, "not_found");
    let (s, b) = app.get("/api/v1/conversations?status=open", &ana).await;
    expect(s, &b, 422, "invalid_field");
    let (s, b) = app.get("/api/v1/conversations?limit=0", &ana).await;
    expect(s, &b, 422, "invalid_field");
    let (s, b) = app.get("/api/v1/conversations?cursor=garbage", &ana).await;
    expect(s, &b, 422, "invalid_field");
    let (s, b) = app.get("/api/v1/conversations?limit=many", &ana).await;
    expect(s, &b, 400, "invalid_query");
    let (s, b) = app.get("/api/v1/nothing-here", &ana).await;
    expect(s, &b, 404, "not_found");
    let res = app.http.post(app.url("/api/v1/webchat/sessions")).json(&json!({"language": "fr"})).send().await.unwrap();
    let s = res.status().as_u16();
    let b: Value = res.json().await.unwrap();
    expect(s, &b, 422, "invalid_field");
    assert_eq!(b["error"]["field"], "language");
    let res = app.http.post(app.url("/api/v1/webchat/sessions")).json(&json!({"email": "nope"})).send().await.unwrap();
    assert_eq!(res.status(), 422);

    // None of it was stored.
    let (_, history) = app.get(&path, &ana).await;
    assert_eq!(history["items"].as_array().unwrap().len(), 0);
}

async fn staff_auth_and_roles(backend: Backend) {
    let app = spawn_app(backend).await;
    let res = app
        .http
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"email": ANA, "password": "wrong password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let res = app
        .http
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"email": "nobody@x.org", "password": "whatever123456"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unauthorized");

    // No token, a bad token: 401.
    let res = app.http.get(app.url("/api/v1/conversations")).send().await.unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(app.get("/api/v1/conversations", "sbs_not-a-session").await.0, 401);

    // An agent may read conversations, and list the agents to transfer to (with presence, and
    // not staff who are no agents), but not manage staff; an admin may.
    let ana = app.login(ANA).await;
    assert_eq!(app.get("/api/v1/conversations", &ana).await.0, 200);
    let (s, b) = app.get("/api/v1/agents", &ana).await;
    assert_eq!(s, 200, "{b}");
    // Colleagues see names and presence only: no login e-mails or roles, and only staff who hold
    // the agent role themselves.
    let names: Vec<&str> = b.as_array().unwrap().iter().map(|a| a["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"Ana Agent") && !names.iter().any(|n| n.starts_with("Tina")), "{names:?}");
    assert!(b.as_array().unwrap().iter().all(|a| a["presence"].is_string() && a.get("email").is_none()), "{b}");
    let tina = app.login("tina@demo.switchboard.local").await;
    let (s, b) = app.get("/api/v1/agents", &tina).await;
    assert_eq!((s, b["error"]["code"].as_str()), (403, Some("forbidden")));
    let new =
        json!({"email": "dora@example.com", "name": "Dora", "roles": ["agent"], "password": "a long enough password"});
    assert_eq!(app.post("/api/v1/agents", &ana, &new).await.0, 403);

    let admin = app.login(ADMIN).await;
    let (s, created) = app.post("/api/v1/agents", &admin, &new).await;
    assert_eq!(s, 201, "{created}");
    assert_eq!(created["roles"], json!(["agent"]));
    assert!(created.get("password_hash").is_none());
    assert_eq!(app.post("/api/v1/agents", &admin, &new).await.0, 409, "same e-mail twice");
    let weak = json!({"email": "eve@example.com", "name": "Eve", "roles": ["agent"], "password": "short"});
    let (s, b) = app.post("/api/v1/agents", &admin, &weak).await;
    assert_eq!((s, b["error"]["field"].as_str()), (422, Some("password")));
    let bad_role =
        json!({"email": "eve@example.com", "name": "Eve", "roles": ["wizard"], "password": "a long enough password"});
    assert_eq!(app.post("/api/v1/agents", &admin, &bad_role).await.0, 422);
    let (_, agents) = app.get("/api/v1/agents", &admin).await;
    assert_eq!(agents.as_array().unwrap().len(), hub::DEMO_STAFF.len() + 1, "the demo staff and the new agent");

    // The new agent signs in; after sign-out the token is dead.
    let res = app
        .http
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"email": "Dora@Example.com", "password": "a long enough password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let dora = res.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_owned();
    assert_eq!(app.get("/api/v1/me", &dora).await.1["email"], "dora@example.com");
    assert_eq!(app.post("/api/v1/auth/logout", &dora, &json!({})).await.0, 204);
    assert_eq!(app.get("/api/v1/me", &dora).await.0, 401);
}
