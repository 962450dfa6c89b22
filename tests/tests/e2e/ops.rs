//! Health, readiness, metrics, the OpenAPI document, and configuration errors.

use serde_json::json;
use tests::{ADMIN, ANA, Backend, TestDb, both_backends, spawn_app};

both_backends!(health_readiness_metrics_and_openapi);

/// Every operation the generated OpenAPI document lists is served: asked without credentials and
/// with made-up path values, none answers the "no such route" 404 (`hub/tests/tidy.rs` checks the
/// other way: no route is registered outside the documented table).
#[tokio::test]
async fn every_documented_route_is_served() {
    let app = spawn_app(Backend::Sqlite).await;
    let doc: serde_json::Value =
        app.http.get(app.url("/api/v1/openapi.json")).send().await.unwrap().json().await.unwrap();
    let paths = doc["paths"].as_object().expect("paths");
    assert!(paths.len() >= 50, "the document lists the hub's routes: {}", paths.len());
    let mut checked = 0;
    for (path, item) in paths {
        for method in ["get", "put", "post", "delete"] {
            let Some(operation) = item.get(method) else {
                continue;
            };
            // A path parameter is filled with its documented example (a route that takes only some
            // words), else with an id.
            let example = |name: &str| {
                operation["parameters"].as_array().into_iter().flatten().find_map(|p| {
                    (p["in"] == "path" && p["name"] == name).then(|| p["example"].as_str().map(str::to_owned)).flatten()
                })
            };
            let concrete = path
                .split('/')
                .map(|part| match part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                    Some(name) => example(name).unwrap_or_else(|| "0190f6f2-7c1e-7000-8000-000000000001".to_owned()),
                    None => part.to_owned(),
                })
                .collect::<Vec<_>>()
                .join("/");
            let request = app.http.request(method.to_uppercase().parse().unwrap(), app.url(&concrete));
            let res = request.header("content-type", "application/json").body("{}").send().await.unwrap();
            let status = res.status();
            let body = res.text().await.unwrap_or_default();
            assert!(
                !(status == 404 && body.contains("route not found")),
                "{} {path} is documented but not served: {status} {body}",
                method.to_uppercase()
            );
            checked += 1;
        }
    }
    assert!(checked >= 55, "{checked} operations checked");
}

async fn health_readiness_metrics_and_openapi(backend: Backend) {
    let app = spawn_app(backend).await;
    let res = app.http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let store = if backend == Backend::Sqlite { "sqlite" } else { "postgres" };
    // The only node takes the leases of the scheduled jobs and of the router (on PostgreSQL
    // within its first check).
    let ready = crate::poll_until(std::time::Duration::from_secs(5), async || {
        let ready: serde_json::Value = app.http.get(app.url("/readyz")).send().await.unwrap().json().await.unwrap();
        (ready["leases"]["jobs"] == true && ready["leases"]["router"] == true).then_some(ready)
    })
    .await
    .expect("the only node holds the leases");
    assert_eq!(
        ready,
        json!({"status": "ready", "store": store, "bot": {"enabled": false}, "leases": {"jobs": true, "router": true}})
    );

    let ana = app.login(ANA).await;
    let (visitor, conversation) = app.new_chat().await;
    let mut customer = app.customer_socket(&visitor, None).await;
    customer.send_json(&json!({"type": "message", "client_id": "1", "text": "hi"})).await;
    customer.next_of("ack").await;
    app.post(&format!("/api/v1/conversations/{conversation}/messages"), &ana, &json!({"text": "hello"})).await;

    // The metrics are for a supervisor or admin (or the configured `metrics.token`).
    let admin = app.login(ADMIN).await;
    let metrics = app.http.get(app.url("/metrics")).bearer_auth(&admin).send().await.unwrap().text().await.unwrap();
    for line in [
        r#"switchboard_messages_stored_total{author="customer",channel="webchat"} 1"#,
        r#"switchboard_messages_stored_total{author="agent",channel="webchat"} 1"#,
        r#"switchboard_websockets_open{kind="customer"} 1"#,
        r#"switchboard_http_requests_total{method="POST",route="/api/v1/webchat/sessions",status="201"} 1"#,
    ] {
        assert!(metrics.contains(line), "missing {line:?} in\n{metrics}");
    }

    let res = app.http.get(app.url("/api/v1/openapi.yaml")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let doc = res.text().await.unwrap();
    // Every route the hub serves is documented.
    for path in [
        "/healthz:",
        "/readyz:",
        "/metrics:",
        "/api/v1/openapi.yaml:",
        "/api/v1/auth/login:",
        "/api/v1/auth/logout:",
        "/api/v1/me:",
        "/api/v1/webchat/sessions:",
        "/api/v1/conversations:",
        "/api/v1/conversations/{id}:",
        "/api/v1/conversations/{id}/messages:",
        "/api/v1/agents:",
        "/api/v1/agents/{id}/routing:",
        "/api/v1/agents/{id}/sip:",
        "/api/v1/conversations/{id}/calls:",
        "/api/v1/calls/{id}/disposition:",
        "/api/v1/me/presence:",
        "/api/v1/conversations/{id}/handover:",
        "/api/v1/tickets:",
        "/api/v1/tickets/{id}:",
        "/api/v1/tickets/{id}/accept:",
        "/api/v1/tickets/{id}/reject:",
        "/api/v1/tickets/{id}/resolve:",
        "/api/v1/tickets/{id}/transfer:",
        "/api/v1/tickets/{id}/pending:",
        "/api/v1/tickets/{id}/notes:",
        "/api/v1/tickets/{id}/tags:",
        "/api/v1/routing/rules:",
        "/api/v1/routing/rules/versions:",
        "/api/v1/routing/dry-run:",
        "/api/v1/queues:",
        "/ws/webchat:",
        "/ws/inbox:",
        "/ws/supervisor:",
        "/api/v1/channels/social:",
        "/api/v1/conversations/{id}/template:",
        "/webhooks/meta:",
        "/webhooks/telegram/{account_id}:",
        "/api/v1/kb/documents:",
        "/api/v1/kb/documents/{id}:",
        "/api/v1/kb/documents/{id}/versions:",
        "/api/v1/kb/search:",
        "/api/v1/bot/unanswered:",
        "/api/v1/bot/unanswered/answer:",
        "/api/v1/bot/answers:",
        "/api/v1/bot/answers/{id}/verdict:",
        "/api/v1/attachments/{id}:",
        "/api/v1/email/unprocessed:",
        "/api/v1/email/inbound/{message_id}/raw:",
        "/api/v1/canned-responses:",
        "/api/v1/canned-responses/{id}:",
    ] {
        assert!(doc.contains(path), "the OpenAPI document lacks {path}");
    }
}

#[tokio::test]
async fn unreachable_postgres_is_a_clear_error_not_a_hang() {
    let db = TestDb::new(Backend::Sqlite).await;
    let mut config = tests::test_config(&db);
    config.database.url = "postgres://postgres@127.0.0.1:1/test".into();
    let err = hub::start(config).await.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(err.contains("unreachable"), "{err}");
    config_error_names_the_key();
}

fn config_error_names_the_key() {
    let dir = std::env::temp_dir().join(format!("sb-config-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("switchboard.toml");
    std::fs::write(&file, "[server]\nbind = \"127.0.0.1:9999\"\nworkerz = 2\n").unwrap();
    let err = hub::Config::load(Some(&file)).unwrap_err().to_string();
    assert!(err.contains("workerz"), "{err}");
    std::fs::write(&file, "[server]\nbind = \"127.0.0.1:9999\"\n[database]\nurl = \"sqlite://x.db\"\n").unwrap();
    let config = hub::Config::load(Some(&file)).unwrap();
    assert_eq!(config.server.bind.port(), 9999);
    assert_eq!(config.database.url, "sqlite://x.db");
    assert!(hub::Config::load(Some(&dir.join("missing.toml"))).is_err());
    std::fs::remove_dir_all(dir).ok();
}
