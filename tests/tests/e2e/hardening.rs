//! The review's defects in the hub and the store, each through the running hub: a message's
//! idempotency key is its author's (a customer cannot make an agent's message vanish), the
//! assignee-or-supervisor rule on every staff write, SQLite's `synchronous`, the web chat token
//! secret sealed at rest, `/metrics` behind a token, staff tokens in the URL only for
//! websockets, and the per-address bounds on new chats and websockets.

use serde_json::{Value, json};
use tests::{
    ADMIN, ANA, BRUNO, Backend, PASSWORD, TestApp, TestDb, Ws, both_backends, spawn_app, spawn_app_with, test_config,
};
use tokio_tungstenite::tungstenite::Message as WsMessage;

both_backends!(
    a_customer_cannot_take_the_client_id_an_agent_uses,
    only_the_assignee_or_a_supervisor_writes_on_held_work,
    sqlite_flushes_every_commit_by_default,
    the_web_chat_token_secret_is_sealed_at_rest,
    platform_secrets_open_only_for_their_own_account,
    metrics_need_a_token_and_rest_takes_no_token_in_the_url,
    new_chats_and_websockets_are_bounded_per_address,
);

async fn a_customer_cannot_take_the_client_id_an_agent_uses(backend: Backend) {
    let app = spawn_app(backend).await;
    let ana = app.login(ANA).await;
    let (visitor, conversation) = app.new_chat().await;
    let mut customer = app.customer_socket(&visitor, None).await;
    // The customer guesses the id the agent's client will use next.
    customer.send_json(&json!({"type": "message", "client_id": "reply-1", "text": "Hola"})).await;
    assert_eq!(customer.next_of("ack").await["seq"], 1);

    let path = format!("/api/v1/conversations/{conversation}/messages");
    let (status, reply) = app.post(&path, &ana, &json!({"text": "Hi, Ana here", "client_id": "reply-1"})).await;
    assert_eq!(status, 201, "the agent's message is new, not the customer's: {reply}");
    assert_eq!(reply["author"], "agent", "{reply}");
    assert_eq!(reply["seq"], 2, "{reply}");
    // The agent's own redelivery is still a no-op, answered with the agent's message.
    let (status, again) = app.post(&path, &ana, &json!({"text": "Hi, Ana here", "client_id": "reply-1"})).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["id"], reply["id"]);
    // So is the customer's.
    customer.send_json(&json!({"type": "message", "client_id": "reply-1", "text": "Hola"})).await;
    assert_eq!(customer.next_of("ack").await["seq"], 1);

    let (status, page) = app.get(&format!("{path}?limit=10"), &ana).await;
    assert_eq!(status, 200, "{page}");
    let authors: Vec<_> = page["items"].as_array().unwrap().iter().map(|m| m["author"].clone()).collect();
    assert_eq!(authors, [json!("customer"), json!("agent")], "{page}");
}

/// A second agent, with the agent role only: (token, id).
async fn another_agent(app: &TestApp) -> (String, String) {
    let admin = app.login(ADMIN).await;
    let (status, dora) = app
        .post(
            "/api/v1/agents",
            &admin,
            &json!({"email": "dora@demo.switchboard.local", "name": "Dora Agent", "roles": ["agent"], "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, 201, "{dora}");
    (app.login("dora@demo.switchboard.local").await, dora["id"].as_str().unwrap().to_owned())
}

async fn only_the_assignee_or_a_supervisor_writes_on_held_work(backend: Backend) {
    let app = spawn_app(backend).await;
    let (ana, bruno, admin) = (app.login(ANA).await, app.login(BRUNO).await, app.login(ADMIN).await);
    let (dora, _) = another_agent(&app).await;
    let mut ana_ws = app.inbox_socket(&ana).await;
    ana_ws.next_of("agent.presence").await;

    // A chat handed over by the supervisor and taken by Ana.
    let (visitor, conversation) = app.new_chat().await;
    let mut customer = app.customer_socket(&visitor, None).await;
    customer.send_json(&json!({"type": "message", "client_id": "c1", "text": "My bill is wrong"})).await;
    customer.next_of("ack").await;
    let (status, ticket) =
        app.post(&format!("/api/v1/conversations/{conversation}/handover"), &bruno, &json!({})).await;
    assert_eq!(status, 201, "{ticket}");
    let ticket = ticket["id"].as_str().unwrap().to_owned();
    loop {
        let v = ana_ws.next_of("ticket.updated").await;
        if v["ticket"]["id"] == ticket.as_str() && v["ticket"]["status"] == "offered" {
            break;
        }
    }
    let (status, body) = app.post(&format!("/api/v1/tickets/{ticket}/accept"), &ana, &json!({})).await;
    assert_eq!(status, 200, "{body}");

    // Dora, another agent, may write on none of it, whatever the path.
    let c = format!("/api/v1/conversations/{conversation}");
    let t = format!("/api/v1/tickets/{ticket}");
    let writes = [
        ("POST", format!("{c}/messages"), json!({"text": "Dora was here", "client_id": "d1"})),
        ("POST", format!("{c}/template"), json!({"name": "followup", "language": "es"})),
        ("POST", format!("{c}/handover"), json!({})),
        ("POST", format!("{t}/notes"), json!({"text": "a note"})),
        ("PUT", format!("{t}/tags"), json!({"tags": ["dora"]})),
        ("POST", format!("{t}/resolve"), json!({})),
        ("POST", format!("{t}/pending"), json!({})),
        ("POST", format!("{t}/transfer"), json!({"queue": "general"})),
    ];
    for (method, path, body) in &writes {
        let (status, answer) =
            if *method == "PUT" { app.put(path, &dora, body).await } else { app.post(path, &dora, body).await };
        assert_eq!(status, 403, "{method} {path}: {answer}");
        assert_eq!(answer["error"]["code"], "forbidden", "{method} {path}: {answer}");
    }
    // Nor over her inbox socket.
    let mut dora_ws = app.inbox_socket(&dora).await;
    dora_ws
        .send_json(
            &json!({"type": "message", "conversation_id": conversation, "client_id": "d2", "text": "Dora again"}),
        )
        .await;
    let refused = dora_ws.next_of("error").await;
    assert_eq!((refused["code"].as_str(), refused["client_id"].as_str()), (Some("forbidden"), Some("d2")), "{refused}");

    // The assignee, the supervisor and the admin may.
    let (status, body) = app.post(&format!("{c}/messages"), &ana, &json!({"text": "Ana here"})).await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = app.post(&format!("{t}/notes"), &bruno, &json!({"text": "Offer the refund"})).await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = app.put(&format!("{t}/tags"), &admin, &json!({"tags": ["billing"]})).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = app.post(&format!("{t}/notes"), &ana, &json!({"text": "Refund offered"})).await;
    assert_eq!(status, 201, "{body}");

    // Nothing of Dora's was stored.
    let (_, page) = app.get(&format!("{c}/messages?limit=50"), &ana).await;
    assert!(!page.to_string().contains("Dora"), "{page}");
    let (_, detail) = app.get(&t, &ana).await;
    assert_eq!(detail["ticket"]["tags"], json!(["billing"]), "{detail}");
    assert_eq!(detail["notes"].as_array().map(Vec::len), Some(2), "{detail}");
}

async fn sqlite_flushes_every_commit_by_default(backend: Backend) {
    let app = spawn_app(backend).await;
    let store = &app.hub.as_ref().unwrap().state.core.store;
    let expected = (backend == Backend::Sqlite).then_some(2); // 2 = FULL
    assert_eq!(store.sqlite_synchronous().await.unwrap(), expected);
    drop(app);

    let db = TestDb::new(backend).await;
    let mut config = test_config(&db);
    config.database.sqlite_synchronous = schema::SqliteSynchronous::Normal;
    let app = spawn_app_with(config, db).await;
    let store = &app.hub.as_ref().unwrap().state.core.store;
    assert_eq!(store.sqlite_synchronous().await.unwrap(), (backend == Backend::Sqlite).then_some(1));
}

async fn the_web_chat_token_secret_is_sealed_at_rest(backend: Backend) {
    // A database where an earlier version kept the secret in clear.
    let db = TestDb::new(backend).await;
    let clear = "a-secret-kept-in-clear-by-an-earlier-version";
    let store = schema::Store::connect(&db.url, &schema::StoreOptions::default()).await.unwrap();
    assert_eq!(store.setting_or_init("webchat.token_secret", || clear.to_owned()).await.unwrap(), clear);
    store.close().await;

    let mut config = test_config(&db);
    config.webchat.token_secret = None;
    let app = spawn_app_with(config, db).await;
    let stored =
        app.hub.as_ref().unwrap().state.core.store.setting_or_init("webchat.token_secret", String::new).await.unwrap();
    assert!(stored.starts_with("v2:") && !stored.contains(clear), "sealed: {stored}");
    // The same secret, so visitors' tokens stay valid: a new chat's token verifies with it.
    let (visitor, _) = app.new_chat().await;
    let key = channels::webchat::VisitorTokenKey::new(clear.as_bytes());
    assert!(key.verify(&visitor, time::OffsetDateTime::now_utc()).is_ok());
    let mut socket = app.customer_socket(&visitor, None).await;
    socket.send_json(&json!({"type": "message", "client_id": "c1", "text": "hola"})).await;
    socket.next_of("ack").await;
}

async fn platform_secrets_open_only_for_their_own_account(backend: Backend) {
    let db = TestDb::new(backend).await;
    let url = db.url.clone();
    let mut app = spawn_app_with(test_config(&db), db).await;
    let admin = app.login(ADMIN).await;
    for (bot, secret) in [("bot_a", "secret-a"), ("bot_b", "secret-b")] {
        let account = json!({"channel": "telegram", "account_id": bot, "name": bot,
                             "bot_token": "123456:ABC-DEF", "webhook_secret": secret});
        let (status, body) = app.post("/api/v1/channels/social", &admin, &account).await;
        assert_eq!(status, 201, "{body}");
    }
    app.stop().await;
    // Someone with write access to the database gives bot_b the sealed secrets of bot_a.
    let store = schema::Store::connect(&url, &schema::StoreOptions::default()).await.unwrap();
    let accounts = store.social_accounts().await.unwrap();
    let (a, b) = (&accounts[0], &accounts[1]);
    assert_eq!((a.account_id.as_str(), b.account_id.as_str()), ("bot_a", "bot_b"));
    assert!(a.secrets.starts_with("v2:") && !a.secrets.contains("secret-a"), "{}", a.secrets);
    assert!(store.reseal_social_account(b.id, &b.secrets, &a.secrets).await.unwrap());
    store.close().await;
    // They are bound to bot_a's row: they do not open for bot_b, and the hub says which account.
    let mut config = test_config(&TestDb::new(backend).await);
    config.database.url = url;
    let err = hub::start(config).await.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(err.contains("bot_b") && err.contains("cannot be decrypted"), "{err}");
}

async fn metrics_need_a_token_and_rest_takes_no_token_in_the_url(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut config = test_config(&db);
    config.metrics.token = Some("prometheus-scrape-token".into());
    let app = spawn_app_with(config, db).await;
    let metrics = |token: Option<&str>| {
        let mut req = app.http.get(app.url("/metrics"));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        async move { req.send().await.unwrap() }
    };
    let res = metrics(None).await;
    assert_eq!(res.status(), 401);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unauthorized", "{body}");
    assert_eq!(metrics(Some("wrong")).await.status(), 401);
    let res = metrics(Some("prometheus-scrape-token")).await;
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("http_requests_total"), "Prometheus text");
    // A supervisor's or admin's session reads them too; an agent's does not.
    let (ana, bruno, admin) = (app.login(ANA).await, app.login(BRUNO).await, app.login(ADMIN).await);
    assert_eq!(metrics(Some(&bruno)).await.status(), 200);
    assert_eq!(metrics(Some(&admin)).await.status(), 200);
    assert_eq!(metrics(Some(&ana)).await.status(), 403);
    // Nor does the metrics token, in the URL.
    let res = app.http.get(app.url("/metrics?token=prometheus-scrape-token")).send().await.unwrap();
    assert_eq!(res.status(), 401);

    // REST: the header only; a token in the URL is no credential.
    let res = app.http.get(app.url(&format!("/api/v1/me?token={ana}"))).send().await.unwrap();
    assert_eq!(res.status(), 401);
    let res = app.http.get(app.url(&format!("/api/v1/conversations?token={ana}"))).send().await.unwrap();
    assert_eq!(res.status(), 401);
    let (status, _) = app.get("/api/v1/me", &ana).await;
    assert_eq!(status, 200);
    // Websockets: the URL still works (browsers cannot give a socket headers).
    let mut inbox = app.inbox_socket(&ana).await;
    inbox.next_of("agent.presence").await;
}

async fn new_chats_and_websockets_are_bounded_per_address(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut config = test_config(&db);
    config.webchat.opens_per_minute_per_address = 60;
    config.server.websockets_per_address = 3;
    config.server.websocket_frames_per_sec = 1;
    let app = spawn_app_with(config, db).await;

    // New chats: a burst of 15 (a quarter of the minute's 60), then 429 with Retry-After.
    let mut tokens = Vec::new();
    let refused = loop {
        let res = app
            .http
            .post(app.url("/api/v1/webchat/sessions"))
            .json(&json!({"name": "Carla", "language": "es"}))
            .send()
            .await
            .unwrap();
        if res.status() != 201 {
            break res;
        }
        let body: Value = res.json().await.unwrap();
        tokens.push(body["token"].as_str().unwrap().to_owned());
        assert!(tokens.len() <= 15, "no limit on new chats");
    };
    assert_eq!(refused.status(), 429);
    let retry: u64 = refused.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited", "{body}");

    // Websockets: 3 from this address (customer and staff alike); the 4th is refused with 429
    // before the upgrade; closing one frees its place.
    let ana = app.login(ANA).await;
    let mut first = app.customer_socket(&tokens[0], None).await;
    let _second = app.customer_socket(&tokens[1], None).await;
    let _inbox = app.inbox_socket(&ana).await;
    let url = format!("ws://{}/ws/webchat?token={}", app.addr, tokens[2]);
    match tokio_tungstenite::connect_async(&url).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => {
            assert_eq!(res.status(), 429);
            assert!(res.headers().contains_key("retry-after"));
        }
        other => panic!("a 4th socket from one address: {other:?}"),
    }
    first.send_raw(WsMessage::Close(None)).await;
    first.closed().await;
    let mut third = connect_when_free(&url).await;

    // Frames: 1 a second, bursts of 2; the third at once closes the socket with 1008. (Exactly
    // three: more, sent after the close, could make the hub reset the connection.)
    for _ in 0..3 {
        third.send_json(&json!({"type": "typing"})).await;
    }
    let (code, reason) = third.closed().await;
    assert_eq!(code, 1008, "{reason}");
}

/// Connects once the hub has counted a closed socket out (it does so when the socket's task
/// ends, just after the close handshake).
async fn connect_when_free(url: &str) -> Ws {
    let found = crate::poll_until(std::time::Duration::from_secs(5), async || Ws::try_connect(url).await).await;
    found.expect("a place is free again")
}
