//! Churn risk end to end: a customer's score computed from real traffic through the hub
//! (repeated chats, a cancellation hand-over, an open complaint, a transfer, an outage notice),
//! recomputed when their tickets change, explained by its factors, and a routing rule that sends
//! high-risk customers to the retention queue at escalation; a low satisfaction rating counts
//! as soon as it is given.

use std::time::Duration;

use schema::{CustomerId, Store, StoreOptions};
use serde_json::{Value, json};
use tests::{ANA, BRUNO, Backend, TestApp, both_backends, spawn_app_with, test_config};

use crate::{outages, poll_until};

both_backends!(
    a_risky_history_scores_high_and_is_routed_to_retention,
    quiet_customers_outages_and_bad_input,
    a_low_rating_counts_as_soon_as_it_is_given,
);

const AM_TOKEN: &str = "am-token-churn-0123456789";

async fn app(backend: Backend) -> TestApp {
    let db = tests::TestDb::new(backend).await;
    let mut config = test_config(&db);
    config.outages.alertmanager_token = Some(AM_TOKEN.into());
    spawn_app_with(config, db).await
}

/// Rules: customers scoring 60 or more go to `retention`; everyone else to `general`.
fn rules() -> Value {
    json!({
        "skills": [],
        "queues": [{"name": "general"}, {"name": "billing"}, {"name": "retention"}],
        "rules": [{"name": "keep them", "when": {"churn_risk_at_least": 60}, "then": {"queue": "retention", "priority": 5}}],
        "fallback": {"queue": "general"}
    })
}

/// A web chat with one customer message: (conversation id, customer id).
async fn chat(app: &TestApp, text: &str) -> (String, String) {
    let res = app
        .http
        .post(app.url("/api/v1/webchat/sessions"))
        .json(&json!({"name": "Rita Risk", "language": "en"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    let s = |k: &str| body[k].as_str().unwrap().to_owned();
    let mut ws = app.customer_socket(&s("token"), None).await;
    ws.send_json(&json!({"type": "message", "client_id": "m1", "text": text})).await;
    ws.next_of("ack").await;
    (s("conversation_id"), s("customer_id"))
}

pub(crate) async fn hand_over(app: &TestApp, staff: &str, conversation: &str, tags: &[&str]) -> Value {
    let path = format!("/api/v1/conversations/{conversation}/handover");
    let (status, ticket) = app.post(&path, staff, &json!({"tags": tags})).await;
    assert_eq!(status, 201, "{ticket}");
    ticket
}

async fn risk(app: &TestApp, staff: &str, customer: &str) -> Value {
    let (status, body) = app.get(&format!("/api/v1/customers/{customer}/churn-risk"), staff).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// Polls the score until it is `score` (the hub recomputes it shortly after a change).
async fn risk_becomes(app: &TestApp, staff: &str, customer: &str, score: u64) -> Value {
    let found = poll_until(Duration::from_secs(15), async || {
        let r = risk(app, staff, customer).await;
        (r["score"] == score).then_some(r)
    })
    .await;
    match found {
        Some(r) => r,
        None => panic!("score never became {score}: {}", risk(app, staff, customer).await),
    }
}

fn factors(r: &Value) -> Vec<(String, u64)> {
    r["factors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["factor"].as_str().unwrap().to_owned(), f["points"].as_u64().unwrap()))
        .collect()
}

async fn a_risky_history_scores_high_and_is_routed_to_retention(backend: Backend) {
    let app = app(backend).await;
    let bruno = app.login(BRUNO).await;
    let ana = app.login(ANA).await;
    let (status, saved) = app.put("/api/v1/routing/rules", &bruno, &json!({"rules": rules()})).await;
    assert_eq!(status, 200, "{saved}");

    // First contact: she wants to cancel. Nothing was known before: the general queue.
    let (first, rita) = chat(&app, "I want to cancel my contract").await;
    let ticket = hand_over(&app, &bruno, &first, &["cancel_service"]).await;
    assert_eq!((ticket["queue"].as_str(), ticket["rule"].as_str()), (Some("general"), None), "{ticket}");
    let r = risk_becomes(&app, &ana, &rita, 40).await;
    assert_eq!(r["band"], "medium", "{r}");
    assert_eq!(factors(&r), [("cancellation_intent".to_owned(), 40)], "{r}");
    assert_eq!(r["signals"]["cancellation_intents_90d"], 1, "{r}");
    assert_eq!(r["signals"]["contacts_7d"], 1, "{r}");
    assert!(r["computed_at"].is_string(), "{r}");

    // Second contact (a new chat, merged into her as staff learn it is her): a complaint.
    let (second, other) = chat(&app, "This is the third time I write, I want to make a formal complaint").await;
    let (status, merged) = app.post(&format!("/api/v1/customers/{rita}/merge"), &bruno, &json!({"from": other})).await;
    assert_eq!(status, 200, "{merged}");
    let ticket = hand_over(&app, &bruno, &second, &["complaint"]).await;
    // At escalation: cancellation 40 + one repeated contact 8 = 48, under 60.
    assert_eq!(ticket["queue"], "general", "{ticket}");
    // Then the open complaint counts too: 40 + 20 + 8.
    let r = risk_becomes(&app, &ana, &rita, 68).await;
    assert_eq!(r["band"], "high", "{r}");
    assert_eq!(
        factors(&r),
        [
            ("cancellation_intent".to_owned(), 40),
            ("unresolved_complaints".to_owned(), 20),
            ("repeated_contacts".to_owned(), 8)
        ],
        "largest first: {r}"
    );

    // A supervisor moves the complaint to another queue: a transfer, 5 more.
    let complaint = ticket["id"].as_str().unwrap();
    let (status, moved) =
        app.post(&format!("/api/v1/tickets/{complaint}/transfer"), &bruno, &json!({"queue": "billing"})).await;
    assert_eq!(status, 200, "{moved}");
    risk_becomes(&app, &ana, &rita, 73).await;

    // Third contact: the rule sees her score at escalation and sends her to retention.
    let (third, other) = chat(&app, "Hello again").await;
    let (status, merged) = app.post(&format!("/api/v1/customers/{rita}/merge"), &bruno, &json!({"from": other})).await;
    assert_eq!(status, 200, "{merged}");
    let ticket = hand_over(&app, &bruno, &third, &[]).await;
    assert_eq!((ticket["queue"].as_str(), ticket["rule"].as_str()), (Some("retention"), Some("keep them")), "{ticket}");
    assert_eq!(ticket["priority"], 5, "{ticket}");
    // 40 + 20 + 2 repeated contacts 16 + 5 = 81; routed to retention by the rule is not an
    // intent of its own (the rule reads the score: no feedback).
    let r = risk_becomes(&app, &ana, &rita, 81).await;
    assert_eq!(r["signals"]["cancellation_intents_90d"], 1, "{r}");
    assert_eq!(r["signals"]["contacts_7d"], 3, "{r}");
    assert_eq!(r["signals"]["transfers_30d"], 1, "{r}");

    // The complaint resolved: it no longer counts (the worker recomputes on the change).
    let (status, body) = app.post(&format!("/api/v1/tickets/{complaint}/resolve"), &bruno, &json!({})).await;
    assert_eq!(status, 200, "{body}");
    let r = risk_becomes(&app, &ana, &rita, 61).await;
    assert_eq!(r["signals"]["open_complaints"], 0, "{r}");

    // The third ticket sits in retention by the rule: not an intent. A person moving it out
    // and back is one (and two more transfers): 2 × 40 + 16 + 3 × 5, capped at 100.
    let third_ticket = ticket["id"].as_str().unwrap();
    for queue in ["general", "retention"] {
        let path = format!("/api/v1/tickets/{third_ticket}/transfer");
        let (status, moved) = app.post(&path, &bruno, &json!({"queue": queue})).await;
        assert_eq!(status, 200, "{moved}");
    }
    let r = risk_becomes(&app, &ana, &rita, 100).await;
    assert_eq!(r["signals"]["cancellation_intents_90d"], 2, "{r}");
    assert_eq!(r["signals"]["transfers_30d"], 3, "{r}");
    assert_eq!(stored_score(&app, &rita).await, Some(100));

    // Erasure removes the stored score (profiling).
    let store = connect(&app).await;
    store.erase_customer(rita.parse().unwrap()).await.unwrap();
    store.close().await;
    assert_eq!(stored_score(&app, &rita).await, None);
}

async fn connect(app: &TestApp) -> Store {
    Store::connect(&app.db.url, &StoreOptions { max_connections: 2, ..StoreOptions::default() }).await.unwrap()
}

/// The score the store keeps for the customer.
async fn stored_score(app: &TestApp, customer: &str) -> Option<u8> {
    let store = connect(app).await;
    let id: CustomerId = customer.parse().unwrap();
    let stored = store.churn_risk(id).await.unwrap().map(|r| r.assessment.score);
    store.close().await;
    stored
}

async fn quiet_customers_outages_and_bad_input(backend: Backend) {
    let app = app(backend).await;
    let ana = app.login(ANA).await;
    let bruno = app.login(BRUNO).await;

    // One chat, nothing else: no risk, no factors.
    let (_, quiet) = chat(&app, "What are your opening hours?").await;
    let r = risk(&app, &ana, &quiet).await;
    assert_eq!((r["score"].as_u64(), r["band"].as_str()), (Some(0), Some("low")), "{r}");
    assert_eq!(r["factors"], json!([]), "{r}");

    // An outage in her area (her BSS customer lives in 28013): the proactive notice counts.
    outages::link(&app, &quiet, "CUST-1001").await;
    let firing = outages::alert_body("firing", &outages::fibre_labels(), "c4u2nc0ffee").to_string();
    let (status, outcome) = outages::webhook(&app, Some(AM_TOKEN), &firing).await;
    assert_eq!(status, 200, "{outcome}");
    let r = risk_becomes(&app, &ana, &quiet, 10).await;
    assert_eq!(factors(&r), [("outage_exposure".to_owned(), 10)], "{r}");
    assert_eq!(r["band"], "low", "{r}");

    // Unknown customer: 404. Not a customer id: 4xx. Nobody signed in: 401.
    let (status, body) = app.get(&format!("/api/v1/customers/{}/churn-risk", CustomerId::new()), &ana).await;
    assert_eq!(status, 404, "{body}");
    let (status, _) = app.get("/api/v1/customers/not-an-id/churn-risk", &ana).await;
    assert!((400..500).contains(&status), "{status}");
    let res = app.http.get(app.url(&format!("/api/v1/customers/{quiet}/churn-risk"))).send().await.unwrap();
    assert_eq!(res.status(), 401);

    // Rules: a threshold over 100 is refused naming the field; the dry run takes a score.
    let mut bad = rules();
    bad["rules"][0]["when"]["churn_risk_at_least"] = json!(101);
    let (status, body) = app.put("/api/v1/routing/rules", &bruno, &json!({"rules": bad})).await;
    assert_eq!((status, body["error"]["field"].as_str()), (422, Some("rules[0].when.churn_risk_at_least")), "{body}");
    let dry = |score: Value| json!({"channel": "webchat", "text": "hi", "churn_risk": score, "rules": rules()});
    let (status, body) = app.post("/api/v1/routing/dry-run", &bruno, &dry(json!(75))).await;
    assert_eq!((status, body["queue"].as_str()), (200, Some("retention")), "{body}");
    let (status, body) = app.post("/api/v1/routing/dry-run", &bruno, &dry(json!(59))).await;
    assert_eq!((status, body["queue"].as_str()), (200, Some("general")), "{body}");
    let (status, body) = app.post("/api/v1/routing/dry-run", &bruno, &dry(Value::Null)).await;
    assert_eq!((status, body["queue"].as_str()), (200, Some("general")), "unknown score: {body}");
    let (status, body) = app.post("/api/v1/routing/dry-run", &bruno, &dry(json!(101))).await;
    assert_eq!((status, body["error"]["field"].as_str()), (422, Some("churn_risk")), "{body}");
}

async fn a_low_rating_counts_as_soon_as_it_is_given(backend: Backend) {
    let app = app(backend).await;
    let ana = app.login(ANA).await;
    let bruno = app.login(BRUNO).await;
    let res = app.http.post(app.url("/api/v1/webchat/sessions")).json(&json!({"language": "en"})).send().await.unwrap();
    assert_eq!(res.status(), 201);
    let session: Value = res.json().await.unwrap();
    let customer_id = session["customer_id"].as_str().unwrap().to_owned();
    let conversation = session["conversation_id"].as_str().unwrap().to_owned();
    let mut ws = app.customer_socket(session["token"].as_str().unwrap(), None).await;
    ws.send_json(&json!({"type": "message", "client_id": "m1", "text": "My router keeps dropping"})).await;
    ws.next_of("ack").await;
    let ticket = hand_over(&app, &bruno, &conversation, &[]).await;
    let (status, body) =
        app.post(&format!("/api/v1/tickets/{}/resolve", ticket["id"].as_str().unwrap()), &bruno, &json!({})).await;
    assert_eq!(status, 200, "{body}");
    let survey = ws.next_of("survey").await;
    // Let the worker's recomputation for the resolution (batched for 2 s) pass first, so that
    // what follows is the rating's own.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let r = risk(&app, &ana, &customer_id).await;
    assert_eq!((r["score"].as_u64(), r["signals"]["low_csat_90d"].as_u64()), (Some(0), Some(0)), "{r}");

    // A rating of 2: recomputed before the customer is answered, 15 points.
    ws.send_json(&json!({"type": "rating", "survey_id": survey["survey_id"], "score": 2})).await;
    ws.next_of("rated").await;
    assert_eq!(stored_score(&app, &customer_id).await, Some(15));
    let r = risk(&app, &ana, &customer_id).await;
    assert_eq!(factors(&r), [("low_csat".to_owned(), 15)], "{r}");
    assert_eq!(r["signals"]["low_csat_90d"], 1, "{r}");
    assert_eq!(r["band"], "low", "one bad rating alone: {r}");
}
