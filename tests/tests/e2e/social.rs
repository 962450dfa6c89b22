//! Messenger, WhatsApp and Telegram end to end: signed webhooks in (payloads shaped as the
//! platforms document them), the live inbox, agent replies out to a local stand-in for each
//! platform, delivery reports, and the refusals: bad signatures, replays, garbage, rate limits,
//! WhatsApp's 24-hour window.

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use tests::platform::FakePlatform;
use tests::{ADMIN, ANA, Backend, TestApp, Ws, both_backends, spawn_app_with, test_config};

both_backends!(
    social_messages_reach_the_inbox_and_replies_reach_the_platforms,
    social_refusals_lose_nothing,
    platform_errors_keep_secrets_and_the_configured_webhook_limit_holds
);

const WA_PHONE: &str = "106540352242922";
const WA_SECRET: &str = "wa-app-secret";
const PAGE: &str = "1067280970047460";
const PAGE_SECRET: &str = "page-app-secret";
const BOT: &str = "supportbot";
pub(crate) const BOT_SECRET: &str = "tg-webhook-secret";

fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    let hex: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// A WhatsApp Cloud API webhook with one text message, as documented.
fn whatsapp_text(wamid: &str, from: &str, text: &str) -> Value {
    json!({
        "object": "whatsapp_business_account",
        "entry": [{
            "id": "102290129340398",
            "changes": [{
                "value": {
                    "messaging_product": "whatsapp",
                    "metadata": {"display_phone_number": "15550783881", "phone_number_id": WA_PHONE},
                    "contacts": [{"profile": {"name": "Sheena Nelson"}, "wa_id": from}],
                    "messages": [{"from": from, "id": wamid, "timestamp": now().to_string(), "text": {"body": text}, "type": "text"}]
                },
                "field": "messages"
            }]
        }]
    })
}

fn whatsapp_status(wamid: &str, status: &str) -> Value {
    json!({
        "object": "whatsapp_business_account",
        "entry": [{
            "id": "102290129340398",
            "changes": [{
                "value": {
                    "messaging_product": "whatsapp",
                    "metadata": {"display_phone_number": "15550783881", "phone_number_id": WA_PHONE},
                    "statuses": [{"id": wamid, "status": status, "timestamp": now().to_string(), "recipient_id": "16505551234"}]
                },
                "field": "messages"
            }]
        }]
    })
}

fn messenger_text(mid: &str, psid: &str, text: &str) -> Value {
    json!({
        "object": "page",
        "entry": [{
            "id": PAGE,
            "time": now() * 1000,
            "messaging": [{
                "sender": {"id": psid},
                "recipient": {"id": PAGE},
                "timestamp": now() * 1000,
                "message": {"mid": mid, "text": text}
            }]
        }]
    })
}

pub(crate) fn telegram_text(update_id: i64, message_id: i64, chat: i64, text: &str) -> Value {
    json!({
        "update_id": update_id,
        "message": {
            "message_id": message_id,
            "from": {"id": chat, "is_bot": false, "first_name": "Tomás", "language_code": "es"},
            "chat": {"id": chat, "first_name": "Tomás", "type": "private"},
            "date": now(),
            "text": text
        }
    })
}

async fn post_raw(app: &TestApp, path: &str, body: &[u8], headers: &[(&str, &str)]) -> u16 {
    let mut req = app.http.post(app.url(path)).header("content-type", "application/json").body(body.to_vec());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.unwrap().status().as_u16()
}

async fn meta_webhook(app: &TestApp, payload: &Value, secret: &str) -> u16 {
    let body = serde_json::to_vec(payload).unwrap();
    let signature = sign(secret, &body);
    post_raw(app, "/webhooks/meta", &body, &[("x-hub-signature-256", &signature)]).await
}

pub(crate) async fn telegram_webhook(app: &TestApp, payload: &Value, secret: &str) -> u16 {
    let body = serde_json::to_vec(payload).unwrap();
    post_raw(app, &format!("/webhooks/telegram/{BOT}"), &body, &[("x-telegram-bot-api-secret-token", secret)]).await
}

pub(crate) async fn app_with_platform(backend: Backend, platform: &FakePlatform, sender_rate_per_min: u32) -> TestApp {
    app_with_platform_at(backend, &platform.url, |c| c.social.sender_rate_per_min = sender_rate_per_min).await
}

/// A hub whose platforms' APIs are at `url`, with the three accounts registered.
async fn app_with_platform_at(backend: Backend, url: &str, tune: impl FnOnce(&mut hub::config::Config)) -> TestApp {
    let db = tests::TestDb::new(backend).await;
    let mut config = test_config(&db);
    config.social.graph_api_url = url.to_owned();
    config.social.telegram_api_url = url.to_owned();
    tune(&mut config);
    let app = spawn_app_with(config, db).await;
    let admin = app.login(ADMIN).await;
    for account in [
        json!({"channel": "whatsapp", "account_id": WA_PHONE, "name": "Support WhatsApp",
               "app_secret": WA_SECRET, "access_token": "wa-token", "verify_token": "wa-verify"}),
        json!({"channel": "messenger", "account_id": PAGE, "name": "Support page",
               "app_secret": PAGE_SECRET, "access_token": "page-token", "verify_token": "page-verify"}),
        json!({"channel": "telegram", "account_id": BOT, "name": "Support bot",
               "bot_token": "123456:ABC-DEF", "webhook_secret": BOT_SECRET}),
    ] {
        let (status, body) = app.post("/api/v1/channels/social", &admin, &account).await;
        assert_eq!(status, 201, "{body}");
    }
    app
}

/// The next inbox event of `kind` about a message whose text is `text`.
async fn message_event(ws: &mut Ws, kind: &str, text: &str) -> Value {
    loop {
        let v = ws.next_of(kind).await;
        if v["message"]["text"] == text {
            return v;
        }
    }
}

async fn social_messages_reach_the_inbox_and_replies_reach_the_platforms(backend: Backend) {
    let platform = FakePlatform::start().await;
    let app = app_with_platform(backend, &platform, 60).await;
    let admin = app.login(ADMIN).await;
    let ana = app.login(ANA).await;

    // Secrets are never returned.
    let (status, accounts) = app.get("/api/v1/channels/social", &admin).await;
    assert_eq!(status, 200);
    let listed = accounts.to_string();
    for secret in [WA_SECRET, PAGE_SECRET, "wa-token", "123456:ABC-DEF", BOT_SECRET, "wa-verify"] {
        assert!(!listed.contains(secret), "{secret} leaked in {listed}");
    }
    assert_eq!(accounts[2]["secrets_set"], json!(["app_secret", "access_token", "verify_token"]), "{accounts}");
    let (status, _) = app.get("/api/v1/channels/social", &ana).await;
    assert_eq!(status, 403);

    // Meta's subscription handshake.
    let res = app
        .http
        .get(app.url("/webhooks/meta?hub.mode=subscribe&hub.verify_token=wa-verify&hub.challenge=1158201444"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), "1158201444");
    let res = app
        .http
        .get(app.url("/webhooks/meta?hub.mode=subscribe&hub.verify_token=nope&hub.challenge=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);

    let mut inbox = app.inbox_socket(&ana).await;

    // WhatsApp in: the message lands in the inbox, on a new conversation.
    assert_eq!(
        meta_webhook(&app, &whatsapp_text("wamid.IN1", "16505551234", "Sin datos móviles"), WA_SECRET).await,
        200
    );
    let wa = message_event(&mut inbox, "message.created", "Sin datos móviles").await;
    assert_eq!(wa["conversation"]["channel"], "whatsapp");
    let wa_conversation = wa["conversation"]["id"].as_str().unwrap().to_owned();
    // Replayed: stored once.
    assert_eq!(
        meta_webhook(&app, &whatsapp_text("wamid.IN1", "16505551234", "Sin datos móviles"), WA_SECRET).await,
        200
    );
    // Reply out: the stand-in receives the documented request.
    let (status, reply) = app
        .post(
            &format!("/api/v1/conversations/{wa_conversation}/messages"),
            &ana,
            &json!({"text": "Reinicie el teléfono"}),
        )
        .await;
    assert_eq!(status, 201, "{reply}");
    assert_eq!(reply["delivery_status"], "queued");
    let sent = platform.wait_for(1).await;
    assert_eq!(sent[0].path, format!("/v21.0/{WA_PHONE}/messages"));
    assert_eq!(sent[0].authorization.as_deref(), Some("Bearer wa-token"));
    assert_eq!(sent[0].body["to"], "16505551234");
    assert_eq!(sent[0].body["type"], "text");
    assert_eq!(sent[0].body["text"]["body"], "Reinicie el teléfono");
    let update = message_event(&mut inbox, "message.updated", "Reinicie el teléfono").await;
    assert_eq!(update["message"]["delivery_status"], "sent");
    // The platform reports delivery, then reading; a late "delivered" does not undo "read".
    for status in ["delivered", "read", "delivered"] {
        assert_eq!(meta_webhook(&app, &whatsapp_status("wamid.OUT1", status), WA_SECRET).await, 200);
    }
    let (_, history) = app.get(&format!("/api/v1/conversations/{wa_conversation}/messages"), &ana).await;
    let items = history["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "the replayed webhook was stored once: {history}");
    assert_eq!(items[1]["delivery_status"], "read");

    // Messenger in and out.
    assert_eq!(
        meta_webhook(&app, &messenger_text("m_IN1", "6790235457716711", "My bill doubled"), PAGE_SECRET).await,
        200
    );
    let fb = message_event(&mut inbox, "message.created", "My bill doubled").await;
    assert_eq!(fb["conversation"]["channel"], "messenger");
    let fb_conversation = fb["conversation"]["id"].as_str().unwrap().to_owned();
    app.post(&format!("/api/v1/conversations/{fb_conversation}/messages"), &ana, &json!({"text": "Let me check"}))
        .await;
    let sent = platform.wait_for(2).await;
    assert_eq!(sent[1].path, format!("/v21.0/{PAGE}/messages"));
    assert_eq!(sent[1].authorization.as_deref(), Some("Bearer page-token"));
    assert_eq!(sent[1].body["recipient"]["id"], "6790235457716711");
    assert_eq!(sent[1].body["message"]["text"], "Let me check");

    // Telegram in and out.
    assert_eq!(
        telegram_webhook(&app, &telegram_text(900, 41, 7_654_321, "¿Tienen fibra en mi zona?"), BOT_SECRET).await,
        200
    );
    let tg = message_event(&mut inbox, "message.created", "¿Tienen fibra en mi zona?").await;
    assert_eq!(tg["conversation"]["channel"], "telegram");
    let tg_conversation = tg["conversation"]["id"].as_str().unwrap().to_owned();
    app.post(&format!("/api/v1/conversations/{tg_conversation}/messages"), &ana, &json!({"text": "Sí, desde mayo"}))
        .await;
    let sent = platform.wait_for(3).await;
    assert_eq!(sent[2].path, "/bot123456:ABC-DEF/sendMessage");
    assert_eq!(sent[2].body["chat_id"], 7_654_321);
    assert_eq!(sent[2].body["text"], "Sí, desde mayo");

    // The platform rate-limits the next send: the hub retries and it goes out.
    platform.script([(
        429,
        json!({"error": {"message": "(#130429) Rate limit hit", "type": "OAuthException", "code": 130_429}}),
    )]);
    app.post(&format!("/api/v1/conversations/{wa_conversation}/messages"), &ana, &json!({"text": "¿Sigue sin datos?"}))
        .await;
    let sent = platform.wait_for(5).await;
    assert_eq!(sent[3].body["text"]["body"], "¿Sigue sin datos?");
    assert_eq!(sent[4].body["text"]["body"], "¿Sigue sin datos?");
    let retried = message_event(&mut inbox, "message.updated", "¿Sigue sin datos?").await;
    let retried = if retried["message"]["delivery_status"] == "queued" {
        message_event(&mut inbox, "message.updated", "¿Sigue sin datos?").await
    } else {
        retried
    };
    assert_eq!(retried["message"]["delivery_status"], "sent", "{retried}");

    // WhatsApp refuses: the 24-hour window has closed. The agent sees why.
    platform.script([(
        400,
        json!({"error": {"message": "(#131047) Re-engagement message", "type": "OAuthException", "code": 131_047,
                         "error_data": {"messaging_product": "whatsapp", "details": "Message failed to send because more than 24 hours have passed since the customer last replied to this number."}}}),
    )]);
    app.post(&format!("/api/v1/conversations/{wa_conversation}/messages"), &ana, &json!({"text": "¿Hola?"})).await;
    let failed = message_event(&mut inbox, "message.updated", "¿Hola?").await;
    assert_eq!(failed["message"]["delivery_status"], "failed");
    assert!(failed["message"]["delivery_error"].as_str().unwrap().contains("window_closed"), "{failed}");
    // A template goes out instead.
    let (status, template) = app
        .post(
            &format!("/api/v1/conversations/{wa_conversation}/template"),
            &ana,
            &json!({"name": "service_followup", "language": "es"}),
        )
        .await;
    assert_eq!(status, 201, "{template}");
    let sent = platform.wait_for(7).await;
    assert_eq!(sent[6].body["type"], "template");
    assert_eq!(sent[6].body["template"]["name"], "service_followup");
    assert_eq!(sent[6].body["template"]["language"]["code"], "es");
    platform.stop().await;
}

/// Every message stored, over every conversation.
async fn stored_messages(app: &TestApp, token: &str) -> usize {
    let (_, page) = app.get("/api/v1/conversations?limit=200", token).await;
    let mut total = 0;
    for c in page["items"].as_array().unwrap() {
        let (_, m) =
            app.get(&format!("/api/v1/conversations/{}/messages?limit=200", c["id"].as_str().unwrap()), token).await;
        total += m["items"].as_array().unwrap().len();
    }
    total
}

async fn social_refusals_lose_nothing(backend: Backend) {
    let platform = FakePlatform::start().await;
    // 6 messages a minute per sender: a burst of 5.
    let app = app_with_platform(backend, &platform, 6).await;
    let ana = app.login(ANA).await;
    // Badly signed, unsigned, signed by another app's secret, unknown account: 401, nothing stored.
    let payload = whatsapp_text("wamid.BAD", "16505550000", "forged");
    let body = serde_json::to_vec(&payload).unwrap();
    assert_eq!(post_raw(&app, "/webhooks/meta", &body, &[("x-hub-signature-256", "sha256=00ff")]).await, 401);
    assert_eq!(post_raw(&app, "/webhooks/meta", &body, &[]).await, 401);
    assert_eq!(meta_webhook(&app, &payload, PAGE_SECRET).await, 401);
    let mut unknown = payload.clone();
    unknown["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] = json!("999");
    assert_eq!(meta_webhook(&app, &unknown, WA_SECRET).await, 401);
    assert_eq!(telegram_webhook(&app, &telegram_text(1, 1, 42, "forged"), "wrong").await, 401);
    assert_eq!(post_raw(&app, &format!("/webhooks/telegram/{BOT}"), b"{}", &[]).await, 401);
    assert_eq!(stored_messages(&app, &ana).await, 0);

    // Garbage, correctly signed: 400, nothing stored.
    for garbage in [
        &b"not json"[..],
        b"{\"object\":\"page\",\"entry\":[{\"id\":",
        b"[]",
        b"{\"object\":\"instagram\",\"entry\":[]}",
    ] {
        let signature = sign(WA_SECRET, garbage);
        let status = post_raw(&app, "/webhooks/meta", garbage, &[("x-hub-signature-256", &signature)]).await;
        assert_eq!(status, 400, "{}", String::from_utf8_lossy(garbage));
    }
    assert_eq!(telegram_webhook(&app, &json!({"update_id": "x", "message": 5}), BOT_SECRET).await, 400);
    assert_eq!(stored_messages(&app, &ana).await, 0);

    // One sender floods: the burst is stored, the rest refused with 429 (the platform retries).
    let mut statuses = Vec::new();
    for i in 0..8 {
        statuses.push(
            meta_webhook(&app, &whatsapp_text(&format!("wamid.F{i}"), "16505559999", &format!("flood {i}")), WA_SECRET)
                .await,
        );
    }
    assert_eq!(&statuses[..5], &[200; 5], "{statuses:?}");
    assert!(statuses[5..].iter().all(|s| *s == 429), "{statuses:?}");
    assert_eq!(stored_messages(&app, &ana).await, 5);
    // Another sender is not held back by the first.
    assert_eq!(meta_webhook(&app, &whatsapp_text("wamid.OTHER", "16505558888", "hola"), WA_SECRET).await, 200);
    assert_eq!(stored_messages(&app, &ana).await, 6);
    platform.stop().await;
}

async fn platform_errors_keep_secrets_and_the_configured_webhook_limit_holds(backend: Backend) {
    // The platforms' address: a port nothing listens on, so every send fails in the network
    // layer, whose errors name the URL (Telegram's holds the bot token).
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    const LIMIT: usize = 512 * 1024;
    let app = app_with_platform_at(backend, &format!("http://{closed}"), |c| c.social.max_webhook_bytes = LIMIT).await;
    let ana = app.login(ANA).await;
    let mut inbox = app.inbox_socket(&ana).await;
    assert_eq!(telegram_webhook(&app, &telegram_text(1, 1, 4242, "¿Hola?"), BOT_SECRET).await, 200);
    let tg = message_event(&mut inbox, "message.created", "¿Hola?").await;
    let conversation = tg["conversation"]["id"].as_str().unwrap().to_owned();
    let (status, reply) =
        app.post(&format!("/api/v1/conversations/{conversation}/messages"), &ana, &json!({"text": "Hola"})).await;
    assert_eq!(status, 201, "{reply}");
    let update = message_event(&mut inbox, "message.updated", "Hola").await;
    let pushed = update["message"]["delivery_error"].as_str().unwrap().to_owned();
    assert!(pushed.contains("network"), "{update}");
    let (_, stored) = app.get(&format!("/api/v1/conversations/{conversation}/messages"), &ana).await;
    let stored = stored["items"][1]["delivery_error"].as_str().unwrap().to_owned();
    for text in [&pushed, &stored] {
        assert!(!text.contains("ABC-DEF") && !text.contains("123456:"), "the bot token leaked: {text}");
    }

    // The configured webhook body limit is the one in force (above actix's default 256 KiB):
    // a body of exactly the limit is read (and verified), one byte more is 413.
    let body_of = |len: usize| {
        let mut body = b"{\"update_id\": 2, \"pad\": \"".to_vec();
        body.resize(len - 2, b'x');
        body.extend_from_slice(b"\"}");
        body
    };
    let path = format!("/webhooks/telegram/{BOT}");
    let secret = [("x-telegram-bot-api-secret-token", BOT_SECRET)];
    assert_eq!(post_raw(&app, &path, &body_of(LIMIT), &secret).await, 200);
    let res = app
        .http
        .post(app.url(&path))
        .header("content-type", "application/json")
        .header(secret[0].0, secret[0].1)
        .body(body_of(LIMIT + 1))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 413);
    let error: Value = res.json().await.unwrap();
    assert_eq!(error["error"]["code"], "payload_too_large", "{error}");
}
