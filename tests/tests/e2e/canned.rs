//! Canned responses through the REST API: who may write them, what validates, search, scope by
//! the queues an agent serves, paging, and the demo library.

use serde_json::{Value, json};
use tests::{ADMIN, ANA, BRUNO, Backend, PASSWORD, TestApp, both_backends, spawn_app};

both_backends!(canned_responses_by_role_scope_and_search);

const PATH: &str = "/api/v1/canned-responses";

async fn delete(app: &TestApp, path: &str, token: &str) -> u16 {
    app.http.delete(app.url(path)).bearer_auth(token).send().await.unwrap().status().as_u16()
}

fn shortcuts(page: &Value) -> Vec<String> {
    page["items"].as_array().unwrap().iter().map(|c| c["shortcut"].as_str().unwrap().to_owned()).collect()
}

async fn canned_responses_by_role_scope_and_search(backend: Backend) {
    let app = spawn_app(backend).await;
    let (ana, bruno, admin) = (app.login(ANA).await, app.login(BRUNO).await, app.login(ADMIN).await);
    // Dora: an agent with no skills, so only the queues nobody needs a skill for.
    let dora = json!({"email": "dora@example.com", "name": "Dora", "roles": ["agent"], "password": PASSWORD});
    assert_eq!(app.post("/api/v1/agents", &admin, &dora).await.0, 201);
    let dora = app.login("dora@example.com").await;
    let tina = app.login("tina@demo.switchboard.local").await;

    // The demo library, in each language.
    for (language, shortcut) in [("en", "roaming-on"), ("es", "saludo"), ("pt", "saudacao")] {
        let (status, page) = app.get(&format!("{PATH}?language={language}"), &ana).await;
        assert_eq!(status, 200, "{page}");
        assert!(shortcuts(&page).contains(&shortcut.to_owned()), "{page}");
        assert!(page["items"].as_array().unwrap().iter().all(|c| c["language"] == language), "{page}");
    }
    assert_eq!(app.get(PATH, &tina).await.0, 403, "a bot trainer is no agent");

    // Queues: general for everyone, billing for billing 5 and up (Ana has 8, Dora none).
    let rules = json!({
        "skills": ["billing", "tech", "spanish"],
        "queues": [{"name": "general"}, {"name": "billing"}],
        "rules": [{
            "name": "billing",
            "when": {"text_contains": ["bill"]},
            "then": {"queue": "billing", "skills": [{"skill": "billing", "level": 5}]}
        }],
        "fallback": {"queue": "general"}
    });
    let (status, body) = app.put("/api/v1/routing/rules", &bruno, &json!({"rules": rules})).await;
    assert_eq!(status, 200, "{body}");

    // Only supervisors write.
    let refund = json!({
        "queue": "billing",
        "shortcut": "refund-status",
        "title": "Refund status",
        "body": "The refund to your card 4111 1111 1111 1111 is on its way: 3 to 5 working days.",
        "language": "en"
    });
    let (status, body) = app.post(PATH, &ana, &refund).await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("forbidden")));
    let (status, created) = app.post(PATH, &bruno, &refund).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["body"], "The refund to your card **** **** **** 1111 is on its way: 3 to 5 working days.");
    assert_eq!(created["queue"], "billing");
    let id = created["id"].as_str().unwrap().to_owned();
    let (status, body) = app.post(PATH, &bruno, &refund).await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("conflict")), "the same shortcut twice");

    // Validation names the field.
    let long = "x".repeat(4001);
    for (field, value) in [
        ("shortcut", json!("Refund Status")),
        ("shortcut", json!("r")),
        ("title", json!("  ")),
        ("body", json!(long)),
        ("body", json!("")),
        ("language", json!("fr")),
        ("queue", json!("nowhere")),
        ("queue", json!("Not A Queue")),
    ] {
        let mut body = refund.clone();
        body["shortcut"] = json!("another-one");
        body[field] = value;
        let (status, err) = app.post(PATH, &bruno, &body).await;
        assert_eq!(status, 422, "{field}: {err}");
        assert_eq!(
            (err["error"]["code"].as_str(), err["error"]["field"].as_str()),
            (Some("invalid_field"), Some(field))
        );
    }
    let (status, err) = app.post(PATH, &bruno, &json!({"shortcut": "x1", "surprise": 1})).await;
    assert_eq!((status, err["error"]["code"].as_str()), (400, Some("invalid_json")));

    // Scope: Dora does not serve billing, Ana does, supervisors see every queue's.
    let q = |query: &str| format!("{PATH}?q={query}");
    assert_eq!(shortcuts(&app.get(&q("refund"), &dora).await.1), Vec::<String>::new());
    assert_eq!(app.get(&format!("{PATH}/{id}"), &dora).await.0, 404);
    assert_eq!(shortcuts(&app.get(&q("refund"), &ana).await.1), ["refund-status"]);
    assert_eq!(app.get(&format!("{PATH}/{id}"), &ana).await.1["shortcut"], "refund-status");
    assert_eq!(shortcuts(&app.get(&q("refund"), &bruno).await.1), ["refund-status"]);
    assert_eq!(shortcuts(&app.get(&format!("{PATH}?q=refund&queue=general"), &ana).await.1), Vec::<String>::new());
    assert_eq!(shortcuts(&app.get(&format!("{PATH}?q=refund&queue=billing"), &bruno).await.1), ["refund-status"]);

    // Search: every word, in shortcut, title or body, any case, accents ignored.
    assert_eq!(shortcuts(&app.get(&q("WORKING%20days"), &ana).await.1), ["refund-status"]);
    assert_eq!(
        shortcuts(&app.get(&format!("{PATH}?q=itinerancia%20LINEAS&language=es"), &ana).await.1),
        ["roaming-on"]
    );
    assert_eq!(shortcuts(&app.get(&q("roaming-on"), &dora).await.1), ["roaming-on", "roaming-on", "roaming-on"]);
    for (query, field) in [
        (format!("q={}", "x".repeat(201)), "q"),
        ("language=fr".to_owned(), "language"),
        ("limit=0".to_owned(), "limit"),
        ("cursor=nope".to_owned(), "cursor"),
        ("queue=Bad%20Queue".to_owned(), "queue"),
    ] {
        let (status, err) = app.get(&format!("{PATH}?{query}"), &ana).await;
        assert_eq!((status, err["error"]["field"].as_str()), (422, Some(field)), "{query}: {err}");
    }

    // Pages follow each other, by shortcut, without repeats.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("{PATH}?limit=4&cursor={c}"),
            None => format!("{PATH}?limit=4"),
        };
        let (status, page) = app.get(&path, &bruno).await;
        assert_eq!(status, 200, "{page}");
        seen.extend(page["items"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap().to_owned()));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let (_, all) = app.get(&format!("{PATH}?limit=200"), &bruno).await;
    let ids: Vec<String> =
        all["items"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(seen, ids);
    assert_eq!(ids.len(), hub::DEMO_CANNED.len() + 1);

    // Changes: made global, Dora sees it; agents may neither change nor delete.
    let mut global = refund.clone();
    global["queue"] = Value::Null;
    assert_eq!(app.put(&format!("{PATH}/{id}"), &ana, &global).await.0, 403);
    let (status, updated) = app.put(&format!("{PATH}/{id}"), &bruno, &global).await;
    assert_eq!((status, &updated["queue"]), (200, &Value::Null), "{updated}");
    assert_eq!(shortcuts(&app.get(&q("refund"), &dora).await.1), ["refund-status"]);
    assert_eq!(delete(&app, &format!("{PATH}/{id}"), &ana).await, 403);
    assert_eq!(delete(&app, &format!("{PATH}/{id}"), &bruno).await, 204);
    assert_eq!(delete(&app, &format!("{PATH}/{id}"), &bruno).await, 404);
    assert_eq!(app.get(&format!("{PATH}/{id}"), &bruno).await.0, 404);
    assert_eq!(app.put(&format!("{PATH}/{id}"), &bruno, &global).await.0, 404);
}
