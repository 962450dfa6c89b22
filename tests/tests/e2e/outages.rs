//! Outages end to end: an Alertmanager alert opens an incident that reaches the open web chat of
//! a customer whose address (their linked BSS customer's) is in its area, and its resolution
//! too, once each however often Alertmanager redelivers; bad webhook calls are refused with a
//! clear error and write nothing; the bot answers outage questions from live incidents; staff
//! enter, change and resolve incidents, resolve their tickets in bulk, and run line tests.

use schema::{CustomerId, Store, StoreOptions};
use serde_json::{Value, json};
use tests::{ANA, BRUNO, Backend, TestApp, Ws, both_backends, spawn_app_with, test_config};

both_backends!(
    an_alert_reaches_open_chats_in_its_area_once,
    bad_alertmanager_calls_are_refused_and_write_nothing,
    the_bot_answers_outage_questions_from_live_incidents,
    staff_enter_incidents_resolve_their_tickets_and_run_line_tests
);

const TOKEN: &str = "am-token-0123456789abcdef";

async fn app(backend: Backend, bot: bool) -> TestApp {
    let db = tests::TestDb::new(backend).await;
    let mut config = test_config(&db);
    config.outages.alertmanager_token = Some(TOKEN.into());
    if bot {
        // The outage pre-check comes before the knowledge base: keywords alone will do.
        config.bot.enabled = true;
        config.bot.model_dir = "/nonexistent-model".into();
    }
    spawn_app_with(config, db).await
}

/// A web chat in `language`: (visitor token, conversation id, customer id).
async fn chat(app: &TestApp, language: &str) -> (String, String, String) {
    let res = app
        .http
        .post(app.url("/api/v1/webchat/sessions"))
        .json(&json!({"name": "Carla Cliente", "language": language}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    let s = |k: &str| body[k].as_str().unwrap().to_owned();
    (s("token"), s("conversation_id"), s("customer_id"))
}

/// Links the customer to the demo BSS customer `bss_id` (taking the link from the demo customer
/// who has it), as the customers' work links a web chat visitor who proved who they are.
pub(crate) async fn link(app: &TestApp, customer: &str, bss_id: &str) {
    let store =
        Store::connect(&app.db.url, &StoreOptions { max_connections: 2, ..StoreOptions::default() }).await.unwrap();
    if let Some(holder) = store.customer_by_bss_id(bss_id).await.unwrap() {
        store.set_customer_bss_id(holder, None).await.unwrap();
    }
    let customer: CustomerId = customer.parse().unwrap();
    store.set_customer_bss_id(customer, Some(bss_id)).await.unwrap();
    store.close().await;
}

pub(crate) fn alert_body(status: &str, labels: &Value, fingerprint: &str) -> Value {
    json!({
        "version": "4",
        "groupKey": "{}:{alertname=\"FibreDown\"}",
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "switchboard",
        "groupLabels": {"alertname": "FibreDown"},
        "commonLabels": labels,
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.example:9093",
        "alerts": [{
            "status": status,
            "labels": labels,
            "annotations": {
                "summary": "Fibre outage in Madrid Centro",
                "summary_es": "Avería de fibra en Madrid Centro",
                "description_es": "Un cable de fibra está cortado.",
                "eta": "2030-01-01T12:00:00Z"
            },
            "startsAt": "2026-11-29T18:00:00Z",
            "endsAt": if status == "firing" { "0001-01-01T00:00:00Z" } else { "2026-11-29T20:00:00Z" },
            "generatorURL": "http://prometheus.example:9090/graph",
            "fingerprint": fingerprint
        }]
    })
}

pub(crate) fn fibre_labels() -> Value {
    json!({"alertname": "FibreDown", "postcode": "28013", "service": "fibre", "severity": "critical"})
}

pub(crate) async fn webhook(app: &TestApp, token: Option<&str>, body: &str) -> (u16, Value) {
    let mut req = app.http.post(app.url("/api/v1/webhooks/alertmanager")).header("content-type", "application/json");
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.body(body.to_owned()).send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// The next bot message on the customer's socket.
async fn next_bot_message(ws: &mut Ws) -> Value {
    loop {
        let frame = ws.next_of("message").await;
        if frame["message"]["author"] == "bot" {
            return frame["message"].clone();
        }
    }
}

async fn bot_texts(app: &TestApp, staff: &str, conversation: &str) -> Vec<String> {
    let (status, page) = app.get(&format!("/api/v1/conversations/{conversation}/messages?limit=200"), staff).await;
    assert_eq!(status, 200, "{page}");
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["author"] == "bot")
        .map(|m| m["text"].as_str().unwrap().to_owned())
        .collect()
}

async fn an_alert_reaches_open_chats_in_its_area_once(backend: Backend) {
    let app = app(backend, false).await;
    let ana = app.login(ANA).await;
    // Carla lives in 28013 (the demo BSS customer CUST-1001); Diego, in 28014, is outside.
    let (visitor, conversation, customer) = chat(&app, "es").await;
    link(&app, &customer, "CUST-1001").await;
    let (outside_visitor, outside, outside_customer) = chat(&app, "en").await;
    link(&app, &outside_customer, "CUST-1004").await;
    let mut carla = app.customer_socket(&visitor, None).await;

    // No banner before.
    let banner = |token: String| {
        let app = &app;
        async move {
            let res = app.http.get(app.url("/api/v1/webchat/incidents")).bearer_auth(token).send().await.unwrap();
            assert_eq!(res.status(), 200);
            res.json::<Value>().await.unwrap()
        }
    };
    assert_eq!(banner(visitor.clone()).await, json!([]));

    let firing = alert_body("firing", &fibre_labels(), "1a30ba71cca2921f").to_string();
    let (status, outcome) = webhook(&app, Some(TOKEN), &firing).await;
    assert_eq!(status, 200, "{outcome}");
    assert_eq!(outcome["opened"].as_array().map(Vec::len), Some(1), "{outcome}");
    let incident = outcome["opened"][0].as_str().unwrap().to_owned();

    // Carla hears of it on her socket, in Spanish, with the ETA.
    let notice = next_bot_message(&mut carla).await;
    let text = notice["text"].as_str().unwrap();
    assert!(text.contains("Avería de fibra en Madrid Centro") && text.contains("2030-01-01"), "{notice}");

    // The widget's banner shows the public text and the ETA, nothing of the area or account.
    let shown = banner(visitor.clone()).await;
    assert_eq!(shown.as_array().map(Vec::len), Some(1), "{shown}");
    assert_eq!(shown[0]["title"], "Avería de fibra en Madrid Centro", "{shown}");
    assert_eq!(shown[0]["eta"], "2030-01-01T12:00:00Z", "{shown}");
    assert!(shown[0].get("postcodes").is_none() && !shown.to_string().contains("28013"), "{shown}");
    assert_eq!(banner(outside_visitor).await, json!([]), "Diego is outside the area");
    // The workspace's banner on her conversation.
    let (status, live) = app.get(&format!("/api/v1/conversations/{conversation}/incidents"), &ana).await;
    assert_eq!(status, 200, "{live}");
    assert_eq!(live[0]["id"], incident.as_str(), "{live}");
    assert_eq!(live[0]["source"], "alertmanager", "{live}");
    assert_eq!(live[0]["fingerprint"], "1a30ba71cca2921f", "{live}");

    // Alertmanager redelivers (repeat_interval): the same incident, no second notice.
    let (status, again) = webhook(&app, Some(TOKEN), &firing).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["updated"][0], incident.as_str(), "{again}");
    assert_eq!(again["opened"], json!([]), "{again}");

    // Resolved: the resolution notice, once.
    let resolved = alert_body("resolved", &fibre_labels(), "1a30ba71cca2921f").to_string();
    let (status, outcome) = webhook(&app, Some(TOKEN), &resolved).await;
    assert_eq!(status, 200, "{outcome}");
    assert_eq!(outcome["resolved"][0], incident.as_str(), "{outcome}");
    let notice = next_bot_message(&mut carla).await;
    assert!(notice["text"].as_str().unwrap().starts_with("Resuelto"), "{notice}");
    let (status, again) = webhook(&app, Some(TOKEN), &resolved).await;
    assert_eq!(status, 200, "{again}");

    let texts = bot_texts(&app, &ana, &conversation).await;
    assert_eq!(texts.len(), 2, "one notice per phase: {texts:?}");
    assert!(bot_texts(&app, &ana, &outside).await.is_empty(), "nothing outside the area");
    let (_, incident) = app.get(&format!("/api/v1/incidents/{incident}"), &ana).await;
    assert_eq!(incident["status"], "resolved", "{incident}");
    assert!(incident["resolved_at"].is_string(), "{incident}");
    assert_eq!(banner(visitor).await, json!([]), "no banner once resolved");
}

async fn bad_alertmanager_calls_are_refused_and_write_nothing(backend: Backend) {
    let app = app(backend, false).await;
    let bruno = app.login(BRUNO).await;
    let good = alert_body("firing", &fibre_labels(), "feedc0de").to_string();

    let (status, body) = webhook(&app, Some("wrong-token"), &good).await;
    assert_eq!((status, body["error"]["code"].as_str()), (401, Some("unauthorized")), "{body}");
    let (status, body) = webhook(&app, None, &good).await;
    assert_eq!(status, 401, "{body}");
    let (status, body) = webhook(&app, Some(TOKEN), "garbage{").await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("malformed_webhook")), "{body}");
    let v3 = good.replace("\"version\":\"4\"", "\"version\":\"3\"");
    let (status, body) = webhook(&app, Some(TOKEN), &v3).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("version"), "{body}");
    let (status, body) = webhook(&app, Some(TOKEN), r#"{"version":"4","alerts":{}}"#).await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("malformed_webhook")), "{body}");

    // Labels that do not map: the label is named, and the good alert beside it is not written.
    let mut two = alert_body("firing", &fibre_labels(), "feedc0de");
    let mut unknown = two["alerts"][0].clone();
    unknown["labels"] = json!({"alertname": "X", "zone": "eu-1", "service": "fibre", "severity": "critical"});
    unknown["fingerprint"] = json!("0badc0de");
    two["alerts"].as_array_mut().unwrap().push(unknown);
    let (status, body) = webhook(&app, Some(TOKEN), &two.to_string()).await;
    assert_eq!((status, body["error"]["code"].as_str()), (422, Some("invalid_field")), "{body}");
    assert_eq!(body["error"]["field"], "alerts[1].labels.postcode", "{body}");
    let bad_service = json!({"alertname": "X", "postcode": "28013", "service": "gas", "severity": "critical"});
    let (status, body) = webhook(&app, Some(TOKEN), &alert_body("firing", &bad_service, "ab").to_string()).await;
    assert_eq!((status, body["error"]["field"].as_str()), (422, Some("alerts[0].labels.service")), "{body}");

    // Oversized.
    let huge = format!("{{\"version\":\"4\",\"pad\":\"{}\"}}", "x".repeat(300 * 1024));
    let (status, body) = webhook(&app, Some(TOKEN), &huge).await;
    assert_eq!((status, body["error"]["code"].as_str()), (413, Some("payload_too_large")), "{body}");

    let (status, all) = app.get("/api/v1/incidents?all=true", &bruno).await;
    assert_eq!((status, all), (200, json!([])), "nothing written");
}

async fn the_bot_answers_outage_questions_from_live_incidents(backend: Backend) {
    let app = app(backend, true).await;
    let bruno = app.login(BRUNO).await;
    let (status, incident) = app
        .post(
            "/api/v1/incidents",
            &bruno,
            &json!({
                "title": "Mobile network outage in Sol",
                "description": "A mast is down.",
                "texts": {"es": {"title": "Caída de la red móvil en Sol", "description": "Una antena está fuera de servicio."}},
                "services": ["mobile"],
                "postcodes": ["28013"],
                "eta": "2030-01-01T18:30:00Z"
            }),
        )
        .await;
    assert_eq!(status, 201, "{incident}");

    // Asked with the postcode, in English and in Spanish (the words tell the language).
    let (visitor, _, _) = chat(&app, "en").await;
    let mut ws = app.customer_socket(&visitor, None).await;
    ws.send_json(&json!({"type": "message", "client_id": "q1", "text": "is there an outage near 28013?"})).await;
    let reply = next_bot_message(&mut ws).await;
    let text = reply["text"].as_str().unwrap();
    assert!(text.contains("Mobile network outage in Sol") && text.contains("2030-01-01 18:30"), "{reply}");
    ws.send_json(&json!({"type": "message", "client_id": "q2", "text": "¿hay alguna avería cerca de 28013?"})).await;
    let reply = next_bot_message(&mut ws).await;
    assert!(reply["text"].as_str().unwrap().contains("Caída de la red móvil en Sol"), "{reply}");

    // Without a postcode: from the customer's address (their BSS customer's, in 28013).
    let (visitor, _, customer) = chat(&app, "pt").await;
    link(&app, &customer, "CUST-1001").await;
    let mut ws = app.customer_socket(&visitor, None).await;
    ws.send_json(&json!({"type": "message", "client_id": "q3", "text": "estou sem sinal desde manhã"})).await;
    let reply = next_bot_message(&mut ws).await;
    assert!(reply["text"].as_str().unwrap().starts_with("Sim, há uma avaria"), "{reply}");

    // Neither a postcode nor a known address: the bot asks where.
    let (visitor, _, _) = chat(&app, "en").await;
    let mut ws = app.customer_socket(&visitor, None).await;
    ws.send_json(&json!({"type": "message", "client_id": "q4", "text": "no signal since this morning"})).await;
    let reply = next_bot_message(&mut ws).await;
    assert!(reply["text"].as_str().unwrap().contains("postcode"), "{reply}");
    // ... and the postcode alone answers it.
    ws.send_json(&json!({"type": "message", "client_id": "q4b", "text": "28013"})).await;
    let reply = next_bot_message(&mut ws).await;
    assert!(reply["text"].as_str().unwrap().contains("Mobile network outage in Sol"), "{reply}");
    // Elsewhere nothing is known: the bot goes on as usual (no incident named).
    ws.send_json(&json!({"type": "message", "client_id": "q5", "text": "is there an outage near 08001?"})).await;
    let reply = next_bot_message(&mut ws).await;
    assert!(!reply["text"].as_str().unwrap().contains("Mobile network outage"), "{reply}");
}

async fn staff_enter_incidents_resolve_their_tickets_and_run_line_tests(backend: Backend) {
    let app = app(backend, false).await;
    let (ana, bruno) = (app.login(ANA).await, app.login(BRUNO).await);
    let body = json!({"title": "TV outage", "services": ["tv"], "postcodes": ["28014"], "cells": ["MAD-0042"]});

    // Agents read; supervisors write.
    let (status, refused) = app.post("/api/v1/incidents", &ana, &body).await;
    assert_eq!(status, 403, "{refused}");
    let (status, bad) = app.post("/api/v1/incidents", &bruno, &json!({"title": "No area", "services": ["tv"]})).await;
    assert_eq!((status, bad["error"]["field"].as_str()), (422, Some("postcodes")), "{bad}");
    let (status, bad) = app
        .post("/api/v1/incidents", &bruno, &json!({"title": "x", "services": ["gas"], "postcodes": ["28014"]}))
        .await;
    assert_eq!((status, bad["error"]["field"].as_str()), (422, Some("services")), "{bad}");
    let (status, incident) = app.post("/api/v1/incidents", &bruno, &body).await;
    assert_eq!(status, 201, "{incident}");
    assert_eq!(incident["status"], "investigating", "{incident}");
    assert_eq!(incident["source"], "staff", "{incident}");
    let id = incident["id"].as_str().unwrap().to_owned();
    let (status, list) = app.get("/api/v1/incidents", &ana).await;
    assert_eq!((status, list[0]["id"].as_str()), (200, Some(id.as_str())), "{list}");

    let patch = |token: &str, body: Value| {
        let req = app.http.patch(app.url(&format!("/api/v1/incidents/{id}"))).bearer_auth(token).json(&body);
        async move {
            let res = req.send().await.unwrap();
            (res.status().as_u16(), res.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let (status, changed) = patch(&bruno, json!({"status": "identified", "eta": "2030-02-01T10:00:00Z"})).await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!((changed["status"].as_str(), changed["title"].as_str()), (Some("identified"), Some("TV outage")));
    assert_eq!(changed["eta"], "2030-02-01T10:00:00Z", "{changed}");
    let (status, _) = patch(&ana, json!({"status": "resolved"})).await;
    assert_eq!(status, 403);

    // A ticket about it (tagged by staff), resolved in bulk by the supervisor.
    let (_, conversation, customer) = chat(&app, "en").await;
    let (status, ticket) =
        app.post(&format!("/api/v1/conversations/{conversation}/handover"), &bruno, &json!({})).await;
    assert_eq!(status, 201, "{ticket}");
    let ticket = ticket["id"].as_str().unwrap().to_owned();
    let tag = format!("incident:{id}");
    let (status, tagged) = app.put(&format!("/api/v1/tickets/{ticket}/tags"), &bruno, &json!({"tags": [tag]})).await;
    assert_eq!(status, 200, "{tagged}");
    let (status, refused) = app.post(&format!("/api/v1/incidents/{id}/resolve-tickets"), &ana, &json!({})).await;
    assert_eq!(status, 403, "{refused}");
    let (status, done) = app.post(&format!("/api/v1/incidents/{id}/resolve-tickets"), &bruno, &json!({})).await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["resolved"], json!([ticket]), "{done}");
    let (_, detail) = app.get(&format!("/api/v1/tickets/{ticket}"), &bruno).await;
    assert_eq!(detail["ticket"]["status"], "resolved", "{detail}");
    let (_, done) = app.post(&format!("/api/v1/incidents/{id}/resolve-tickets"), &bruno, &json!({})).await;
    assert_eq!(done["resolved"], json!([]), "nothing left");
    let (status, resolved) = patch(&bruno, json!({"status": "resolved"})).await;
    assert_eq!((status, resolved["status"].as_str()), (200, Some("resolved")), "{resolved}");

    // Line tests from the conversation (its customer is Diego, whose fibre is faulty).
    link(&app, &customer, "CUST-1004").await;
    let path = format!("/api/v1/conversations/{conversation}/diagnostics");
    let (status, refused) = app.post(&path, &ana, &json!({"product": "CUST-1004-P1"})).await;
    assert_eq!(status, 403, "only the assignee or a supervisor: {refused}");
    let (status, bad) = app.post(&path, &bruno, &json!({"product": "not a ref!"})).await;
    assert_eq!((status, bad["error"]["field"].as_str()), (422, Some("product")), "{bad}");
    let (status, missing) = app.post(&path, &bruno, &json!({"product": "CUST-1004-P99"})).await;
    assert_eq!(status, 404, "{missing}");
    let (status, test) = app.post(&path, &bruno, &json!({"product": "CUST-1004-P1"})).await;
    assert_eq!(status, 201, "{test}");
    assert!(["pass", "fail", "inconclusive"].contains(&test["verdict"].as_str().unwrap()), "{test}");
    assert!(!test["measures"].as_array().unwrap().is_empty(), "{test}");
    let (status, timeline) = app.get(&path, &ana).await;
    assert_eq!((status, timeline[0]["id"].as_str()), (200, test["id"].as_str()), "{timeline}");

    // Audited.
    let otto = app.login(tests::OTTO).await;
    let (_, entries) = app.get("/api/v1/audit?limit=200", &otto).await;
    let actions = entries.to_string();
    for action in ["incident.created", "incident.updated", "incident.tickets_resolved", "conversation.diagnostic_run"] {
        assert!(actions.contains(action), "{action} in {entries}");
    }
}
