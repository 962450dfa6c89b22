//! The administrator's API through the running hub: staff accounts (roles, disabling with the
//! member's sessions and open socket ended, password resets, ending sessions), the guard that
//! keeps an active admin, the settings admins change at run time (the widget's look and allowed
//! origins, retention) taking effect without a restart, and the configured channels shown
//! without their secrets.

use std::time::Duration;

use serde_json::{Value, json};
use tests::{ADMIN, ANA, BRUNO, Backend, PASSWORD, TestApp, TestDb, both_backends, spawn_app_with, test_config};

both_backends!(staff_actions_and_the_last_admin, widget_and_retention_settings, configured_channels_without_secrets);

const SHOP: &str = "https://shop.example";
const EVIL: &str = "https://evil.example";

async fn delete(app: &TestApp, path: &str, token: &str) -> (u16, Value) {
    let res = app.http.delete(app.url(path)).bearer_auth(token).send().await.unwrap();
    (res.status().as_u16(), res.json().await.unwrap_or(Value::Null))
}

/// A member's presence as an admin sees it.
async fn presence(app: &TestApp, admin: &str, id: &str) -> String {
    let (_, listed) = app.get("/api/v1/agents", admin).await;
    let row = listed.as_array().unwrap().iter().find(|m| m["id"] == id).cloned().unwrap_or_default();
    row["presence"].as_str().unwrap_or_default().to_owned()
}

/// Waits until a member's presence is `wanted`.
async fn await_presence(app: &TestApp, admin: &str, id: &str, wanted: &str) {
    let found =
        crate::poll_until(Duration::from_secs(10), async || (presence(app, admin, id).await == wanted).then_some(()))
            .await;
    assert!(found.is_some(), "{id} never became {wanted}");
}

async fn login_status(app: &TestApp, email: &str, password: &str) -> u16 {
    let res = app
        .http
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap();
    res.status().as_u16()
}

fn error(body: &Value) -> (Option<&str>, Option<&str>) {
    (body["error"]["code"].as_str(), body["error"]["field"].as_str())
}

/// A hub whose sockets re-check their session every second.
async fn spawn_admin_app(backend: Backend) -> TestApp {
    let db = TestDb::new(backend).await;
    let mut config = test_config(&db);
    config.server.heartbeat_secs = 1;
    spawn_app_with(config, db).await
}

async fn staff_actions_and_the_last_admin(backend: Backend) {
    let app = spawn_admin_app(backend).await;
    let admin = app.login(ADMIN).await;
    let bruno = app.login(BRUNO).await;
    let admin_id = app.me(&admin).await;

    // Every member, with the account part, and never a hash or a token.
    let res = app.http.get(app.url("/api/v1/agents")).bearer_auth(&admin).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    assert!(!text.contains("password") && !text.contains("token") && !text.contains("$argon2"), "{text}");
    let staff: Value = serde_json::from_str(&text).unwrap();
    let members = staff.as_array().unwrap();
    assert_eq!(members.len(), hub::DEMO_STAFF.len(), "{staff}");
    let ana_row = members.iter().find(|m| m["email"] == ANA).unwrap();
    assert_eq!((ana_row["active"].as_bool(), ana_row["roles"].clone()), (Some(true), json!(["agent"])));
    let ana_id = ana_row["id"].as_str().unwrap().to_owned();
    let me = members.iter().find(|m| m["email"] == ADMIN).unwrap();
    assert!(me["sessions"].as_u64().unwrap() >= 1, "{me}");
    // Colleagues see names and presence only.
    let (_, seen) = app.get("/api/v1/agents", &bruno).await;
    assert!(seen.as_array().unwrap().iter().all(|m| m.get("email").is_none() && m.get("roles").is_none()), "{seen}");

    // Only admins; unknown members and malformed ids are told apart.
    let path = |what: &str| format!("/api/v1/agents/{ana_id}/{what}");
    for (status, body) in [
        app.put(&path("roles"), &bruno, &json!({"roles": ["admin"]})).await,
        app.post(&path("disable"), &bruno, &json!({})).await,
        app.post(&path("enable"), &bruno, &json!({})).await,
        app.post(&path("password"), &bruno, &json!({})).await,
        delete(&app, &path("sessions"), &bruno).await,
    ] {
        assert_eq!((status, error(&body).0), (403, Some("forbidden")), "{body}");
    }
    let nobody = "/api/v1/agents/00000000-0000-7000-8000-000000000000/disable";
    let (status, body) = app.post(nobody, &admin, &json!({})).await;
    assert_eq!((status, error(&body).0), (404, Some("not_found")), "{body}");
    assert_eq!(app.post("/api/v1/agents/not-an-id/disable", &admin, &json!({})).await.0, 400);
    let unsigned = app.http.post(app.url(&path("disable"))).send().await.unwrap();
    assert_eq!(unsigned.status(), 401);

    // Disabling: Ana's calls and her sign-in are refused, and her open inbox closes with 4401
    // at the next heartbeat.
    let ana = app.login(ANA).await;
    let mut inbox = app.inbox_socket(&ana).await;
    await_presence(&app, &admin, &ana_id, "available").await;
    let (status, body) = app.post(&path("disable"), &admin, &json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!((body["active"].as_bool(), body["sessions"].as_u64()), (Some(false), Some(0)), "{body}");
    let (code, _) = inbox.closed().await;
    assert_eq!(code, 4401);
    assert_eq!(app.get("/api/v1/me", &ana).await.0, 401);
    assert_eq!(login_status(&app, ANA, PASSWORD).await, 401);
    await_presence(&app, &admin, &ana_id, "offline").await;
    let (status, body) = app.post(&path("enable"), &admin, &json!({})).await;
    assert_eq!((status, body["active"].as_bool()), (200, Some(true)), "{body}");
    assert_eq!(login_status(&app, ANA, PASSWORD).await, 200);

    // Roles: validated, replaced.
    for bad in [json!({"roles": []}), json!({"roles": ["root"]})] {
        let (status, body) = app.put(&path("roles"), &admin, &bad).await;
        assert_eq!((status, error(&body)), (422, (Some("invalid_field"), Some("roles"))), "{body}");
    }
    let (status, body) = app.put(&path("roles"), &admin, &json!({"roles": ["supervisor", "agent"]})).await;
    assert_eq!((status, body["roles"].clone()), (200, json!(["agent", "supervisor"])), "{body}");

    // The last active admin cannot be demoted or disabled, by themselves or anyone.
    let mine = |what: &str| format!("/api/v1/agents/{admin_id}/{what}");
    let (status, body) = app.put(&mine("roles"), &admin, &json!({"roles": ["agent"]})).await;
    assert_eq!((status, error(&body).0), (409, Some("conflict")), "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("no active admin"), "{body}");
    let (status, body) = app.post(&mine("disable"), &admin, &json!({})).await;
    assert_eq!((status, error(&body).0), (409, Some("conflict")), "{body}");
    assert_eq!(app.get("/api/v1/me", &admin).await.0, 200, "the refused change did nothing");
    // With a second admin, the first may step down; then the second is the last one.
    assert_eq!(app.put(&path("roles"), &admin, &json!({"roles": ["admin"]})).await.0, 200);
    let (status, body) = app.put(&mine("roles"), &admin, &json!({"roles": ["agent"]})).await;
    assert_eq!((status, body["roles"].clone()), (200, json!(["agent"])), "{body}");
    assert_eq!(app.get("/api/v1/settings/widget", &admin).await.0, 403, "no longer an admin");
    let ana = app.login(ANA).await;
    let (status, body) = app.post(&path("disable"), &ana, &json!({})).await;
    assert_eq!((status, error(&body).0), (409, Some("conflict")), "{body}");
    let (status, _) = app.put(&mine("roles"), &ana, &json!({"roles": ["admin", "agent"]})).await;
    assert_eq!(status, 200);

    // Password reset by the admin: every session ends, the old password no longer works.
    let bruno_id = app.me(&bruno).await;
    let reset = format!("/api/v1/agents/{bruno_id}/password");
    let (status, body) = app.post(&reset, &admin, &json!({"password": "short"})).await;
    assert_eq!((status, error(&body)), (422, (Some("invalid_field"), Some("password"))), "{body}");
    assert_eq!(app.get("/api/v1/me", &bruno).await.0, 200, "a refused reset ends nothing");
    let (status, body) = app.post(&reset, &admin, &json!({"password": "a new password for bruno"})).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("password").is_none(), "a password the admin chose is not echoed: {body}");
    assert!(body["sessions_ended"].as_u64().unwrap() >= 1, "{body}");
    assert_eq!(app.get("/api/v1/me", &bruno).await.0, 401);
    assert_eq!(login_status(&app, BRUNO, PASSWORD).await, 401);
    assert_eq!(login_status(&app, BRUNO, "a new password for bruno").await, 200);
    // A generated one-time password, shown once, not cached.
    let res = app.http.post(app.url(&reset)).bearer_auth(&admin).json(&json!({})).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let body: Value = res.json().await.unwrap();
    let generated = body["password"].as_str().unwrap().to_owned();
    assert_eq!(generated.chars().count(), 20);
    assert_eq!(login_status(&app, BRUNO, "a new password for bruno").await, 401);
    assert_eq!(login_status(&app, BRUNO, &generated).await, 200);

    // Ending every session of a member.
    let tina = app.login("tina@demo.switchboard.local").await;
    let tina_too = app.login("tina@demo.switchboard.local").await;
    let tina_id = app.me(&tina).await;
    let (status, body) = delete(&app, &format!("/api/v1/agents/{tina_id}/sessions"), &admin).await;
    assert_eq!((status, body["sessions_ended"].as_u64()), (200, Some(2)), "{body}");
    assert_eq!(app.get("/api/v1/me", &tina).await.0, 401);
    assert_eq!(app.get("/api/v1/me", &tina_too).await.0, 401);
    assert_eq!(login_status(&app, "tina@demo.switchboard.local", PASSWORD).await, 200, "she may sign in again");

    // Revoking the sessions of a member with an open socket closes it too.
    let ana = app.login(ANA).await;
    let mut inbox = app.inbox_socket(&ana).await;
    await_presence(&app, &admin, &ana_id, "available").await;
    assert_eq!(delete(&app, &path("sessions"), &admin).await.0, 200);
    assert_eq!(inbox.closed().await.0, 4401);

    // Taking the agent role away closes the inbox too, at the next heartbeat.
    let ana = app.login(ANA).await;
    let mut inbox = app.inbox_socket(&ana).await;
    await_presence(&app, &admin, &ana_id, "available").await;
    assert_eq!(app.put(&path("roles"), &admin, &json!({"roles": ["bot_trainer"]})).await.0, 200);
    // …and she is offline for routing at once, not only when the socket closes.
    assert_eq!(presence(&app, &admin, &ana_id).await, "offline", "no longer routable");
    let (code, reason) = inbox.closed().await;
    assert_eq!((code, reason.as_str()), (4401, "this socket needs the agent role"));

    // Taking the supervisor role away closes the supervisors' live wall the same way.
    assert_eq!(app.put(&path("roles"), &admin, &json!({"roles": ["agent", "supervisor"]})).await.0, 200);
    let ana = app.login(ANA).await;
    let mut wall = tests::Ws::connect(&format!("ws://{}/ws/supervisor?token={ana}", app.addr)).await;
    assert_eq!(wall.next_of("queues").await["type"], "queues");
    assert_eq!(app.put(&path("roles"), &admin, &json!({"roles": ["agent"]})).await.0, 200);
    let (code, reason) = wall.closed().await;
    assert_eq!((code, reason.as_str()), (4401, "this socket needs the supervisor role"));
}

async fn widget_and_retention_settings(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut config = test_config(&db);
    config.widget.title = "From the config file".into();
    let app = spawn_app_with(config.clone(), db).await;
    let admin = app.login(ADMIN).await;
    let ana = app.login(ANA).await;
    let open_chat = async |origin: &str| {
        let res = app.http.post(app.url("/api/v1/webchat/sessions")).header("origin", origin).json(&json!({}));
        res.send().await.unwrap().status().as_u16()
    };

    // The config file's values until an admin saves.
    let (status, widget) = app.get("/api/v1/settings/widget", &admin).await;
    assert_eq!(status, 200, "{widget}");
    assert_eq!((widget["title"].as_str(), widget["source"].as_str()), (Some("From the config file"), Some("config")));
    assert!(widget["saved"].is_null());
    assert_eq!(open_chat(SHOP).await, 403);
    for path in ["/api/v1/settings/widget", "/api/v1/settings/retention", "/api/v1/channels/configured"] {
        assert_eq!(app.get(path, &ana).await.0, 403, "{path}");
    }

    let saved = json!({
        "title": "Telco help",
        "greeting": "Hello! How can we help?",
        "primary_color": "#1B5E20",
        "on_primary_color": "#FFFFFF",
        "allowed_origins": ["https://Shop.example/", SHOP]
    });
    assert_eq!(app.put("/api/v1/settings/widget", &ana, &saved).await.0, 403);
    // Bad input: the field named, nothing saved.
    let with = |field: &str, value: Value| {
        let mut body = saved.clone();
        body[field] = value;
        body
    };
    for (body, field) in [
        (with("primary_color", json!("green")), "primary_color"),
        (with("on_primary_color", json!("#2e7d32")), "on_primary_color"),
        (with("allowed_origins", json!(["shop.example"])), "allowed_origins"),
        (with("allowed_origins", json!(["https://shop.example/checkout"])), "allowed_origins"),
        (with("allowed_origins", json!(vec!["https://a.example"; 51])), "allowed_origins"),
        (with("title", json!("x".repeat(61))), "title"),
        (with("greeting", json!("line one\nline two")), "greeting"),
    ] {
        let (status, answer) = app.put("/api/v1/settings/widget", &admin, &body).await;
        assert_eq!((status, error(&answer)), (422, (Some("invalid_field"), Some(field))), "{answer}");
    }
    let (status, answer) = app.put("/api/v1/settings/widget", &admin, &with("font", json!("Comic Sans"))).await;
    assert_eq!(status, 400, "unknown fields are refused: {answer}");
    assert_eq!(app.get("/api/v1/settings/widget", &admin).await.1["source"], "config", "nothing was saved");

    // Saved: normalised, in force at once for the widget's configuration and the origin check.
    let (status, widget) = app.put("/api/v1/settings/widget", &admin, &saved).await;
    assert_eq!(status, 200, "{widget}");
    assert_eq!(widget["allowed_origins"], json!([SHOP]));
    assert_eq!((widget["primary_color"].as_str(), widget["source"].as_str()), (Some("#1b5e20"), Some("console")));
    assert_eq!(widget["saved"]["by"], app.me(&admin).await.as_str());
    let public: Value = app.http.get(app.url("/api/v1/webchat/config")).send().await.unwrap().json().await.unwrap();
    assert_eq!(
        (&public["title"], &public["greeting"], &public["primary_color"], &public["on_primary_color"]),
        (&json!("Telco help"), &json!("Hello! How can we help?"), &json!("#1b5e20"), &json!("#ffffff"))
    );
    assert_eq!(open_chat(SHOP).await, 201);
    assert_eq!(open_chat(EVIL).await, 403);

    // Retention: defaults (enforced by the retention job), bounds, a round trip.
    let (status, retention) = app.get("/api/v1/settings/retention", &admin).await;
    assert_eq!(status, 200);
    assert_eq!(
        retention,
        json!({
            "conversations_days": 730, "messages_days": 730, "audit_days": 1825, "raw_mail_days": 730,
            "attachments_days": 730, "calls_days": 730, "enforced": true, "saved": null
        })
    );
    for (body, field) in [
        (json!({"conversations_days": 0, "messages_days": 0, "audit_days": 30}), "conversations_days"),
        (json!({"conversations_days": 30, "messages_days": 60, "audit_days": 30}), "messages_days"),
        (json!({"conversations_days": 30, "messages_days": 30, "audit_days": 3651}), "audit_days"),
        (json!({"conversations_days": 30, "messages_days": 30, "audit_days": 30, "calls_days": 0}), "calls_days"),
    ] {
        let (status, answer) = app.put("/api/v1/settings/retention", &admin, &body).await;
        assert_eq!((status, error(&answer)), (422, (Some("invalid_field"), Some(field))), "{answer}");
    }
    assert_eq!(app.put("/api/v1/settings/retention", &admin, &json!({"conversations_days": -1})).await.0, 400);
    let wanted = json!({"conversations_days": 365, "messages_days": 90, "audit_days": 2555});
    let (status, retention) = app.put("/api/v1/settings/retention", &admin, &wanted).await;
    assert_eq!((status, retention["messages_days"].as_u64()), (200, Some(90)), "{retention}");

    // Both survive a restart, over the config file.
    let mut app = app;
    app.stop().await;
    let TestApp { db, .. } = app;
    let app = spawn_app_with(config, db).await;
    let admin = app.login(ADMIN).await;
    let (_, widget) = app.get("/api/v1/settings/widget", &admin).await;
    assert_eq!((widget["title"].as_str(), widget["source"].as_str()), (Some("Telco help"), Some("console")));
    let (_, retention) = app.get("/api/v1/settings/retention", &admin).await;
    assert_eq!((retention["conversations_days"].as_u64(), retention["audit_days"].as_u64()), (Some(365), Some(2555)));
    let status = app
        .http
        .post(app.url("/api/v1/webchat/sessions"))
        .header("origin", SHOP)
        .json(&json!({}))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 201);
}

async fn configured_channels_without_secrets(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut config = test_config(&db);
    config.email.addresses = vec!["support@telco.example".into()];
    config.email.from_address = "support@telco.example".into();
    config.email.relay.host = "relay.telco.example".into();
    config.email.relay.username = Some("hub".into());
    config.email.relay.password = Some("relay-secret-0451".into());
    config.email.imap = vec![hub::config::ImapConfig {
        host: "imap.telco.example".into(),
        username: "billing".into(),
        password: Some("imap-secret-0451".into()),
        address: "billing@telco.example".into(),
        ..hub::config::ImapConfig::default()
    }];
    config.sip.support_numbers = [("+34900100200".to_owned(), vec!["spanish".to_owned()])].into_iter().collect();
    let app = spawn_app_with(config, db).await;
    let admin = app.login(ADMIN).await;
    let res = app.http.get(app.url("/api/v1/channels/configured")).bearer_auth(&admin).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    assert!(!text.contains("secret-0451"), "a secret was shown: {text}");
    let channels: Value = serde_json::from_str(&text).unwrap();
    let email = &channels["email"];
    assert_eq!((email["configured_in"].as_str(), email["enabled"].as_bool()), (Some("[email]"), Some(false)));
    assert_eq!(email["addresses"], json!(["support@telco.example"]));
    assert_eq!(
        (email["relay"]["host"].as_str(), email["relay"]["password_set"].as_bool()),
        (Some("relay.telco.example"), Some(true))
    );
    let imap = &email["imap"][0];
    assert_eq!(
        (imap["name"].as_str(), imap["address"].as_str(), imap["password_set"].as_bool(), imap["tls"].as_str()),
        (Some("billing"), Some("billing@telco.example"), Some(true), Some("implicit"))
    );
    assert_eq!(channels["sip"]["support_numbers"], json!([{"number": "+34900100200", "skills": ["spanish"]}]));
    assert_eq!(channels["sip"]["configured_in"], "[sip]");
}
