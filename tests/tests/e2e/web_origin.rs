//! The web chat's origin check: pages of origins the operator did not allow get 403 for the
//! session and the socket, allowed ones get CORS headers, and clients without `Origin` pass.

use serde_json::json;
use tests::{Backend, TestDb, both_backends, spawn_app_with, test_config};
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::http::HeaderValue;

both_backends!(only_allowed_origins_open_chats, pages_and_config_are_served);

const SHOP: &str = "https://shop.example";
const EVIL: &str = "https://evil.example";

async fn only_allowed_origins_open_chats(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut config = test_config(&db);
    config.widget.allowed_origins = vec![SHOP.to_owned()];
    let app = spawn_app_with(config, db).await;
    let sessions = app.url("/api/v1/webchat/sessions");

    let refused = app.http.post(&sessions).header("origin", EVIL).json(&json!({})).send().await.unwrap();
    assert_eq!(refused.status(), 403);
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "forbidden");

    let preflight = app
        .http
        .request(reqwest::Method::OPTIONS, &sessions)
        .header("origin", SHOP)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), 204);
    assert_eq!(preflight.headers()["access-control-allow-origin"], SHOP);

    let allowed = app.http.post(&sessions).header("origin", SHOP).json(&json!({})).send().await.unwrap();
    assert_eq!(allowed.status(), 201);
    assert_eq!(allowed.headers()["access-control-allow-origin"], SHOP);
    let token = allowed.json::<serde_json::Value>().await.unwrap()["token"].as_str().unwrap().to_owned();

    // Without Origin (curl, servers): not a browser page, allowed as before.
    assert_eq!(app.http.post(&sessions).json(&json!({})).send().await.unwrap().status(), 201);
    // The hub's own pages (same host) are always allowed.
    let own = format!("http://{}", app.addr);
    assert_eq!(app.http.post(&sessions).header("origin", &own).json(&json!({})).send().await.unwrap().status(), 201);

    let socket = |origin: &'static str| {
        let mut req = format!("ws://{}/ws/webchat?token={token}", app.addr).into_client_request().unwrap();
        req.headers_mut().insert("origin", HeaderValue::from_static(origin));
        tokio_tungstenite::connect_async(req)
    };
    match socket(EVIL).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => assert_eq!(response.status(), 403),
        other => panic!("a socket from {EVIL} must be refused with 403, got {:?}", other.map(|(_, r)| r.status())),
    }
    let (_ws, response) = socket(SHOP).await.expect("an allowed origin connects");
    assert_eq!(response.status(), 101);
}

async fn pages_and_config_are_served(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut config = test_config(&db);
    config.widget.primary_color = "red; background: url(https://evil.example/)".into();
    config.widget.title = "Soporte".into();
    let app = spawn_app_with(config, db).await;
    let widget: serde_json::Value =
        app.http.get(app.url("/api/v1/webchat/config")).send().await.unwrap().json().await.unwrap();
    assert_eq!(widget["title"], "Soporte");
    assert_eq!(widget["primary_color"], "#0b57d0", "only #rrggbb colours reach the widget's CSS");
    let web: serde_json::Value = app.http.get(app.url("/web/config.json")).send().await.unwrap().json().await.unwrap();
    assert_eq!(web["demo"], true);
    assert_eq!(web["demo_accounts"].as_array().unwrap().len(), hub::DEMO_STAFF.len());
    // With the front-end built, every page answers 200 with its policy; without (a debug build
    // on a machine without Node), 503 naming the command to run.
    let root = app.http.get(app.url("/")).send().await.unwrap();
    match root.status().as_u16() {
        200 => {
            let csp = root.headers()["content-security-policy"].to_str().unwrap().to_owned();
            assert!(csp.contains("script-src 'self';") && !csp.contains("unsafe-inline"), "{csp}");
            assert!(csp.ends_with("frame-ancestors 'none'"), "{csp}");
            assert_eq!(root.headers()["x-frame-options"], "DENY");
        }
        503 => assert!(root.text().await.unwrap().contains("npm run build")),
        other => panic!("GET / answered {other}"),
    }
}
