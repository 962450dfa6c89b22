//! SLA policies and clocks, end to end: a missed first response is recorded once as a
//! `sla.breached` ticket event, after a warning, both pushed to the supervisors' socket; the
//! metric counts it, and the reports count a first response as met or missed by the policy's
//! clock; a reply stops the clock and pending time is excluded; breaches that came due
//! while the hub was down are recorded once after the restart; bad policies are refused.

use std::time::Duration;

use serde_json::{Value, json};
use tests::{ANA, BRUNO, Backend, TestApp, Ws, both_backends, spawn_app_with, test_config};
use time::format_description::well_known::Rfc3339;

use crate::poll_until;

both_backends!(
    a_missed_first_response_is_warned_then_recorded_once,
    a_reply_stops_the_clock_and_pending_time_is_excluded,
    a_breach_while_the_hub_was_down_is_recorded_once_after_restart,
    bad_policies_are_refused_with_the_field_named
);

async fn save_policies(app: &TestApp, supervisor: &str, config: &Value) -> Value {
    let (status, saved) = app.put("/api/v1/sla/policies", supervisor, &json!({"config": config})).await;
    assert_eq!(status, 200, "{saved}");
    saved
}

/// A customer writes and a supervisor hands the chat over: a ticket in `general`.
async fn open_ticket(app: &TestApp, supervisor: &str) -> (String, String, Ws) {
    let (visitor, conversation) = app.new_chat().await;
    let mut customer = app.customer_socket(&visitor, None).await;
    customer.send_json(&json!({"type": "message", "client_id": "c1", "text": "My line is down"})).await;
    customer.next_of("ack").await;
    let (status, ticket) =
        app.post(&format!("/api/v1/conversations/{conversation}/handover"), supervisor, &json!({})).await;
    assert_eq!(status, 201, "{ticket}");
    assert_eq!(ticket["queue"], "general");
    (ticket["id"].as_str().unwrap().to_owned(), conversation, customer)
}

async fn breach_events(app: &TestApp, ticket: &str, token: &str) -> Vec<Value> {
    let (status, detail) = app.get(&format!("/api/v1/tickets/{ticket}"), token).await;
    assert_eq!(status, 200, "{detail}");
    detail["events"].as_array().unwrap().iter().filter(|e| e["kind"] == "sla.breached").cloned().collect()
}

async fn clock(app: &TestApp, ticket: &str, token: &str, target: &str) -> Value {
    let (status, clocks) = app.get(&format!("/api/v1/tickets/{ticket}/sla"), token).await;
    assert_eq!(status, 200, "{clocks}");
    clocks["clocks"].as_array().unwrap().iter().find(|c| c["target"] == target).cloned().unwrap_or(Value::Null)
}

async fn a_missed_first_response_is_warned_then_recorded_once(backend: Backend) {
    let db = tests::TestDb::new(backend).await;
    let app = spawn_app_with(test_config(&db), db).await;
    let bruno = app.login(BRUNO).await;
    let saved = save_policies(
        &app,
        &bruno,
        &json!({"warning_percent": 50, "policies": [
            {"queue": "general", "first_response_secs": 3, "resolution_secs": 3600}
        ]}),
    )
    .await;
    assert_eq!(saved["version"], 1);
    let mut live = Ws::connect(&format!("ws://{}/ws/supervisor?token={bruno}", app.addr)).await;

    // Nobody is online: the ticket waits, and its first-response clock runs out.
    let (ticket, conversation, _customer) = open_ticket(&app, &bruno).await;
    let warning = live.next_of("sla.warning").await;
    assert_eq!(
        (warning["ticket_id"].as_str(), warning["target"].as_str()),
        (Some(ticket.as_str()), Some("first_response"))
    );
    assert_eq!(warning["conversation_id"], conversation.as_str());
    assert_eq!(warning["queue"], "general");
    let breach = live.next_of("sla.breached").await;
    assert_eq!(
        (breach["ticket_id"].as_str(), breach["target"].as_str()),
        (Some(ticket.as_str()), Some("first_response"))
    );

    // Recorded when it happened, as one ticket event, and not again on later wakes.
    let events = breach_events(&app, &ticket, &bruno).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["detail"]["target"], "first_response");
    assert_eq!(events[0]["actor"]["kind"], "system", "{events:?}");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(breach_events(&app, &ticket, &bruno).await.len(), 1);

    // The clocks as the workspace reads them.
    let ana = app.login(ANA).await;
    let first = clock(&app, &ticket, &ana, "first_response").await;
    assert_eq!(first["state"], "breached", "{first}");
    assert!(first["breached_at"].is_string(), "{first}");
    assert!(first["remaining_secs"].as_i64().unwrap() < 0, "{first}");
    let resolution = clock(&app, &ticket, &ana, "resolution").await;
    assert_eq!(resolution["state"], "running", "{resolution}");
    assert!(resolution["remaining_secs"].as_i64().unwrap() > 3500, "{resolution}");

    // The metric counts it by target and queue.
    let metrics = app.http.get(app.url("/metrics")).bearer_auth(&bruno).send().await.unwrap().text().await.unwrap();
    assert!(
        metrics.contains(r#"switchboard_sla_breaches_total{queue="general",target="first_response"} 1"#),
        "{metrics}"
    );

    // Ana comes online, takes the ticket and answers, late: the reports judge that first
    // response by the policy's clock (missed), not by the routing queue's own target.
    let mut inbox = app.inbox_socket(&ana).await;
    inbox.next_of("agent.presence").await;
    answer_when_offered(&app, &ana, &mut inbox, &ticket, &conversation).await;
    assert_eq!(sla_in_reports(&app, &bruno).await, (1, 0));
}

/// Ana accepts `ticket` once it is offered to her and answers in its conversation.
async fn answer_when_offered(app: &TestApp, ana: &str, inbox: &mut Ws, ticket: &str, conversation: &str) {
    poll_until(Duration::from_secs(10), async || {
        let (_, t) = app.get(&format!("/api/v1/tickets/{ticket}"), ana).await;
        (t["ticket"]["status"] == "offered").then_some(())
    })
    .await
    .expect("the ticket is offered to Ana");
    let (status, body) = app.post(&format!("/api/v1/tickets/{ticket}/accept"), ana, &json!({})).await;
    assert_eq!(status, 200, "{body}");
    inbox
        .send_json(
            &json!({"type": "message", "conversation_id": conversation, "client_id": "a1", "text": "Let me check"}),
        )
        .await;
    inbox.next_of("ack").await;
}

/// The first responses with a target, and those within it, in the last week's times report.
async fn sla_in_reports(app: &TestApp, supervisor: &str) -> (i64, i64) {
    let (status, times) = app.get("/api/v1/reports/times", supervisor).await;
    assert_eq!(status, 200, "{times}");
    let t = &times["totals"];
    (t["sla_targeted"].as_i64().unwrap(), t["sla_met"].as_i64().unwrap())
}

async fn a_reply_stops_the_clock_and_pending_time_is_excluded(backend: Backend) {
    let db = tests::TestDb::new(backend).await;
    let app = spawn_app_with(test_config(&db), db).await;
    let bruno = app.login(BRUNO).await;
    save_policies(
        &app,
        &bruno,
        &json!({"policies": [
            {"queue": "general", "first_response_secs": 600, "resolution_secs": 3600, "pending_excluded": true}
        ]}),
    )
    .await;
    let ana = app.login(ANA).await;
    let mut inbox = app.inbox_socket(&ana).await;
    inbox.next_of("agent.presence").await;
    let (ticket, conversation, mut customer) = open_ticket(&app, &bruno).await;
    let running = clock(&app, &ticket, &ana, "first_response").await;
    assert_eq!(running["state"], "running", "{running}");
    assert!(running["due_at"].is_string());

    // Ana is offered the ticket, accepts and answers: the first-response clock stops, met.
    answer_when_offered(&app, &ana, &mut inbox, &ticket, &conversation).await;
    assert_eq!(sla_in_reports(&app, &bruno).await, (1, 1), "met in the reports too");
    let met = poll_until(Duration::from_secs(10), async || {
        let c = clock(&app, &ticket, &ana, "first_response").await;
        (c["state"] == "met").then_some(c)
    })
    .await
    .expect("the first response is met");
    assert!(met["stopped_at"].is_string(), "{met}");

    // Waiting for the customer: the resolution clock is paused, its business time stands still.
    let (status, body) = app.post(&format!("/api/v1/tickets/{ticket}/pending"), &ana, &json!({})).await;
    assert_eq!(status, 200, "{body}");
    let paused = clock(&app, &ticket, &ana, "resolution").await;
    assert_eq!((paused["state"].as_str(), paused["paused"].as_bool()), (Some("paused"), Some(true)), "{paused}");
    assert!(paused["due_at"].is_null(), "{paused}");
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let still = clock(&app, &ticket, &ana, "resolution").await;
    assert_eq!(still["remaining_secs"], paused["remaining_secs"], "{still}");

    // The customer answers: the clock runs again, its deadline pushed back by the wait.
    customer.send_json(&json!({"type": "message", "client_id": "c2", "text": "Here it is"})).await;
    customer.next_of("ack").await;
    let resumed = poll_until(Duration::from_secs(10), async || {
        let c = clock(&app, &ticket, &ana, "resolution").await;
        (c["state"] == "running").then_some(c)
    })
    .await
    .expect("the resolution clock runs again");
    let started = time::OffsetDateTime::parse(resumed["started_at"].as_str().unwrap(), &Rfc3339).unwrap();
    let due = time::OffsetDateTime::parse(resumed["due_at"].as_str().unwrap(), &Rfc3339).unwrap();
    assert!(due - started >= time::Duration::seconds(3602), "pending time must not count: {resumed}");
    assert_eq!(breach_events(&app, &ticket, &ana).await.len(), 0);

    // Resolved: the resolution clock is met.
    let (status, body) = app.post(&format!("/api/v1/tickets/{ticket}/resolve"), &ana, &json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(clock(&app, &ticket, &ana, "resolution").await["state"], "met");
}

async fn a_breach_while_the_hub_was_down_is_recorded_once_after_restart(backend: Backend) {
    let db = tests::TestDb::new(backend).await;
    let mut app = spawn_app_with(test_config(&db), db).await;
    let bruno = app.login(BRUNO).await;
    save_policies(&app, &bruno, &json!({"policies": [{"queue": "general", "first_response_secs": 2}]})).await;
    let (ticket, _, _customer) = open_ticket(&app, &bruno).await;
    assert_eq!(breach_events(&app, &ticket, &bruno).await.len(), 0);
    app.stop().await;
    // Due while the hub is down.
    tokio::time::sleep(Duration::from_millis(2500)).await;

    let TestApp { db, .. } = app;
    let restarted_at = time::OffsetDateTime::now_utc();
    let mut app = spawn_app_with(test_config(&db), db).await;
    let bruno = app.login(BRUNO).await;
    let events = poll_until(Duration::from_secs(10), async || {
        let events = breach_events(&app, &ticket, &bruno).await;
        (!events.is_empty()).then_some(events)
    })
    .await
    .expect("the breach is recorded after the restart");
    assert_eq!(events.len(), 1, "{events:?}");
    // Dated when it happened (while the hub was down), written after the restart.
    let at = time::OffsetDateTime::parse(events[0]["at"].as_str().unwrap(), &Rfc3339).unwrap();
    assert!(at < restarted_at, "{events:?}");
    assert!(events[0]["detail"]["recorded_at"].as_i64().unwrap() >= restarted_at.unix_timestamp(), "{events:?}");

    // Another restart records nothing more.
    app.stop().await;
    let TestApp { db, .. } = app;
    let app = spawn_app_with(test_config(&db), db).await;
    let bruno = app.login(BRUNO).await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(breach_events(&app, &ticket, &bruno).await.len(), 1);
}

async fn bad_policies_are_refused_with_the_field_named(backend: Backend) {
    let db = tests::TestDb::new(backend).await;
    let app = spawn_app_with(test_config(&db), db).await;
    let bruno = app.login(BRUNO).await;
    let ana = app.login(ANA).await;
    let calendar = json!({"time_zone": "Europe/Lisbon", "hours": [{"days": ["mon", "tue"], "from": "09:00", "to": "17:00"}], "holidays": ["2026-12-25"]});
    for (config, field) in [
        (json!({"calendars": {"pt": {"time_zone": "Europe/Atlantis", "hours": []}}}), "calendars.pt"),
        (
            json!({"calendars": {"pt": calendar}, "policies": [{"queue": "general", "first_response_secs": 60, "calendar": "es"}]}),
            "policies[0].calendar",
        ),
        (json!({"policies": [{"queue": "general"}]}), "policies[0].first_response_secs"),
        (json!({"policies": [{"queue": "general", "resolution_secs": 99_999_999}]}), "policies[0].resolution_secs"),
        (json!({"warning_percent": 0}), "warning_percent"),
    ] {
        let (status, body) = app.put("/api/v1/sla/policies", &bruno, &json!({"config": config})).await;
        assert_eq!(status, 422, "{config}: {body}");
        assert_eq!(body["error"]["field"], field, "{body}");
    }
    // Agents may not change policies; a stale version is refused.
    let good = json!({"calendars": {"pt": calendar}, "policies": [{"queue": "general", "priority": 5, "first_response_secs": 60, "calendar": "pt"}]});
    let (status, _) = app.put("/api/v1/sla/policies", &ana, &json!({"config": good})).await;
    assert_eq!(status, 403);
    save_policies(&app, &bruno, &good).await;
    let (status, body) = app.put("/api/v1/sla/policies", &bruno, &json!({"config": good, "expected_version": 0})).await;
    assert_eq!(status, 409, "{body}");
    let (status, versions) = app.get("/api/v1/sla/policies/versions", &bruno).await;
    assert_eq!(status, 200);
    assert_eq!(versions.as_array().unwrap().len(), 1);
    let (_, current) = app.get("/api/v1/sla/policies", &bruno).await;
    assert_eq!(current["config"]["policies"][0]["calendar"], "pt");
}
