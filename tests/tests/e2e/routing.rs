//! Hand-over and skills-based routing, end to end: rules, offers over the inbox socket,
//! timeouts, acceptance, replies, restart safety, and refusals of bad input.

use serde_json::{Value, json};
use tests::{ADMIN, ANA, BRUNO, Backend, TestApp, Ws, both_backends, spawn_app_with, test_config};

both_backends!(
    a_chat_is_routed_by_skill_times_out_to_the_next_agent_and_is_answered,
    restart_keeps_every_ticket,
    bad_routing_input_is_refused_with_the_field_named
);

/// Rules for the tests: billing words go to `billing` needing billing 5; everything else to
/// `general`.
fn rules() -> Value {
    json!({
        "skills": ["billing", "tech", "spanish"],
        "queues": [
            {"name": "general", "first_response_secs": 120},
            {"name": "billing", "first_response_secs": 60}
        ],
        "rules": [{
            "name": "billing",
            "when": {"text_contains": ["factura", "bill"]},
            "then": {"queue": "billing", "skills": [{"skill": "billing", "level": 5}], "priority": 4}
        }],
        "fallback": {"queue": "general"}
    })
}

async fn app_with_short_offers(backend: Backend) -> TestApp {
    let db = tests::TestDb::new(backend).await;
    let mut config = test_config(&db);
    config.routing.offer_timeout_secs = 2;
    config.routing.tick_ms = 100;
    spawn_app_with(config, db).await
}

/// The next offer of `ticket` to `agent` seen on `ws` (every inbox sees every ticket update).
async fn offer_to(ws: &mut Ws, ticket: &str, agent: &str) -> Value {
    loop {
        let t = ws.ticket_update(ticket, "offered").await;
        if t["offered_to"] == agent {
            return t;
        }
    }
}

async fn setup_agents(app: &TestApp, supervisor: &str) -> (String, String, String) {
    let (status, saved) = app.put("/api/v1/routing/rules", supervisor, &json!({"rules": rules()})).await;
    assert_eq!(status, 200, "{saved}");
    assert_eq!(saved["version"], 1);
    let ana_id = app.me(&app.login(ANA).await).await;
    let bruno_id = app.me(supervisor).await;
    let admin_id = app.me(&app.login(ADMIN).await).await;
    // Ana: the best billing agent. Admin: billing too, less. Bruno: technical only.
    for (id, skills) in [
        (&ana_id, json!({"billing": 8, "spanish": 9})),
        (&admin_id, json!({"billing": 5})),
        (&bruno_id, json!({"tech": 7})),
    ] {
        let (status, body) =
            app.put(&format!("/api/v1/agents/{id}/routing"), supervisor, &json!({"skills": skills})).await;
        assert_eq!(status, 200, "{body}");
    }
    (ana_id, bruno_id, admin_id)
}

async fn a_chat_is_routed_by_skill_times_out_to_the_next_agent_and_is_answered(backend: Backend) {
    let app = app_with_short_offers(backend).await;
    let bruno = app.login(BRUNO).await;
    let (ana_id, _bruno_id, admin_id) = setup_agents(&app, &bruno).await;
    let ana = app.login(ANA).await;
    let admin = app.login(ADMIN).await;
    let mut ana_ws = app.inbox_socket(&ana).await;
    let mut admin_ws = app.inbox_socket(&admin).await;
    let mut bruno_ws = app.inbox_socket(&bruno).await;
    // Connecting made each of them available.
    for ws in [&mut ana_ws, &mut admin_ws, &mut bruno_ws] {
        ws.next_of("agent.presence").await;
    }

    let (visitor, conversation) = app.new_chat().await;
    let mut customer = app.customer_socket(&visitor, None).await;
    customer
        .send_json(&json!({"type": "message", "client_id": "c1", "text": "No entiendo mi factura de octubre"}))
        .await;
    customer.next_of("ack").await;

    // Hand-over: the rules send it to billing; the best billing agent (Ana, 8) gets the offer.
    let (status, ticket) =
        app.post(&format!("/api/v1/conversations/{conversation}/handover"), &bruno, &json!({})).await;
    assert_eq!(status, 201, "{ticket}");
    assert_eq!(ticket["queue"], "billing");
    assert_eq!(ticket["rule"], "billing");
    assert_eq!(ticket["priority"], 4);
    let ticket_id = ticket["id"].as_str().unwrap().to_owned();
    let offered = ana_ws.ticket_update(&ticket_id, "offered").await;
    assert_eq!(offered["offered_to"], ana_id.as_str());

    // A second hand-over of the same conversation is refused.
    let (status, body) = app.post(&format!("/api/v1/conversations/{conversation}/handover"), &bruno, &json!({})).await;
    assert_eq!(status, 409, "{body}");

    // Ana lets it time out (2 s): it goes to the next billing agent, the admin.
    offer_to(&mut admin_ws, &ticket_id, &admin_id).await;
    // Ana's late accept is refused: the offer went to someone else.
    ana_ws.send_json(&json!({"type": "accept", "ticket_id": ticket_id})).await;
    let refused = ana_ws.next_of("error").await;
    assert_eq!(refused["code"], "conflict", "{refused}");
    let (status, body) = app.post(&format!("/api/v1/tickets/{ticket_id}/accept"), &ana, &json!({})).await;
    assert_eq!(status, 409, "{body}");

    // The admin accepts over the socket, and answers; the customer receives it.
    admin_ws.send_json(&json!({"type": "accept", "ticket_id": ticket_id})).await;
    let done = admin_ws.next_of("done").await;
    assert_eq!(done["command"], "accept");
    let assigned = admin_ws.ticket_update(&ticket_id, "assigned").await;
    assert_eq!(assigned["assignee_id"], admin_id.as_str());
    let (_, conv) = app.get(&format!("/api/v1/conversations/{conversation}"), &admin).await;
    assert_eq!(conv["status"], "assigned");
    assert_eq!(conv["assignee_id"], admin_id.as_str());
    admin_ws
        .send_json(&json!({"type": "message", "conversation_id": conversation, "client_id": "a1", "text": "Le explico la factura"}))
        .await;
    admin_ws.next_of("ack").await;
    loop {
        let m = customer.next_of("message").await;
        if m["message"]["author"] == "agent" {
            assert_eq!(m["message"]["text"], "Le explico la factura");
            break;
        }
    }

    // The admin waits for the customer; the customer's answer puts it back to the admin.
    let (status, waiting) = app.post(&format!("/api/v1/tickets/{ticket_id}/pending"), &admin, &json!({})).await;
    assert_eq!(status, 200, "{waiting}");
    assert_eq!(waiting["status"], "pending_customer");
    customer.send_json(&json!({"type": "message", "client_id": "c1b", "text": "Es la de octubre"})).await;
    customer.next_of("ack").await;
    let resumed = admin_ws.ticket_update(&ticket_id, "assigned").await;
    assert_eq!(resumed["assignee_id"], admin_id.as_str());

    // Notes and tags, then resolve; the history tells the whole story.
    let (status, _) = app
        .post(&format!("/api/v1/tickets/{ticket_id}/notes"), &admin, &json!({"text": "Explained the October bill"}))
        .await;
    assert_eq!(status, 201);
    let (status, tagged) =
        app.put(&format!("/api/v1/tickets/{ticket_id}/tags"), &admin, &json!({"tags": ["Billing", "october"]})).await;
    assert_eq!(status, 200);
    assert_eq!(tagged["tags"], json!(["billing", "october"]));
    // Only the assignee or a supervisor may resolve.
    let (status, _) = app.post(&format!("/api/v1/tickets/{ticket_id}/resolve"), &ana, &json!({})).await;
    assert_eq!(status, 403);
    let (status, resolved) = app.post(&format!("/api/v1/tickets/{ticket_id}/resolve"), &admin, &json!({})).await;
    assert_eq!(status, 200, "{resolved}");
    assert_eq!(resolved["status"], "resolved");
    let (_, detail) = app.get(&format!("/api/v1/tickets/{ticket_id}"), &admin).await;
    let kinds: Vec<&str> = detail["events"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "created",
            "offered",
            "offer_timed_out",
            "offered",
            "assigned",
            "pending_customer",
            "customer_replied",
            "note_added",
            "tags_changed",
            "resolved"
        ],
        "{detail}"
    );
    assert_eq!(detail["notes"][0]["text"], "Explained the October bill");

    // The customer writes again: the ticket reopens and is offered anew (Ana is best again).
    customer.send_json(&json!({"type": "message", "client_id": "c2", "text": "Otra pregunta"})).await;
    customer.next_of("ack").await;
    let reoffered = ana_ws.ticket_update(&ticket_id, "offered").await;
    assert_eq!(reoffered["offered_to"], ana_id.as_str());

    // Ana takes it and hands it to Bruno by name; Bruno sends it to the general queue.
    ana_ws.send_json(&json!({"type": "accept", "ticket_id": ticket_id})).await;
    ana_ws.next_of("done").await;
    let bruno_id = app.me(&bruno).await;
    let (status, moved) =
        app.post(&format!("/api/v1/tickets/{ticket_id}/transfer"), &ana, &json!({"agent_id": bruno_id})).await;
    assert_eq!(status, 200, "{moved}");
    assert_eq!(moved["status"], "assigned");
    assert_eq!(moved["assignee_id"], bruno_id.as_str());
    let (status, moved) =
        app.post(&format!("/api/v1/tickets/{ticket_id}/transfer"), &bruno, &json!({"queue": "general"})).await;
    assert_eq!(status, 200, "{moved}");
    assert_eq!(moved["queue"], "general");
    assert_eq!(moved["status"], "queued");
    let (status, body) =
        app.post(&format!("/api/v1/tickets/{ticket_id}/transfer"), &bruno, &json!({"queue": "nowhere"})).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["field"], "queue");

    // Every input the engine decided on was timed.
    let metrics = app.http.get(app.url("/metrics")).bearer_auth(&bruno).send().await.unwrap().text().await.unwrap();
    let timed: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("switchboard_routing_engine_seconds_count "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("the engine's timing in\n{metrics}"));
    assert!(timed >= 10, "hand-over, offers, time-outs, accepts, transfers: {timed} timed");
}

async fn restart_keeps_every_ticket(backend: Backend) {
    let app = app_with_short_offers(backend).await;
    let bruno = app.login(BRUNO).await;
    let (ana_id, _, _) = setup_agents(&app, &bruno).await;
    let ana = app.login(ANA).await;

    // Three billing tickets; only Ana is online, with capacity for 3 chats: she gets offers.
    // One she accepts; the others stay offered when the hub stops.
    let mut ana_ws = app.inbox_socket(&ana).await;
    let mut tickets = Vec::new();
    for i in 0..3 {
        let (visitor, conversation) = app.new_chat().await;
        let mut customer = app.customer_socket(&visitor, None).await;
        customer.send_json(&json!({"type": "message", "client_id": "c", "text": format!("bill {i}")})).await;
        customer.next_of("ack").await;
        let (status, ticket) =
            app.post(&format!("/api/v1/conversations/{conversation}/handover"), &bruno, &json!({})).await;
        assert_eq!(status, 201);
        tickets.push(ticket["id"].as_str().unwrap().to_owned());
    }
    // A fourth, general ticket that nobody can take (Bruno is offline): stays queued.
    let (_, conversation) = app.new_chat().await;
    let (_, general) = app.post(&format!("/api/v1/conversations/{conversation}/handover"), &bruno, &json!({})).await;
    assert_eq!(general["queue"], "general");
    let accepted = tickets[0].clone();
    ana_ws.ticket_update(&accepted, "offered").await;
    let (status, _) = app.post(&format!("/api/v1/tickets/{accepted}/accept"), &ana, &json!({})).await;
    assert_eq!(status, 200);

    let mut app = app;
    app.stop().await;
    let TestApp { db, .. } = app;
    let mut config = test_config(&db);
    config.routing.offer_timeout_secs = 2;
    config.routing.tick_ms = 100;
    let app = spawn_app_with(config, db).await;
    let ana = app.login(ANA).await;
    let bruno = app.login(BRUNO).await;

    // Nothing lost: the accepted ticket is still Ana's; the offered ones are queued again.
    let (_, t) = app.get(&format!("/api/v1/tickets/{accepted}"), &ana).await;
    assert_eq!(t["ticket"]["status"], "assigned");
    assert_eq!(t["ticket"]["assignee_id"], ana_id.as_str());
    for id in &tickets[1..] {
        let (_, t) = app.get(&format!("/api/v1/tickets/{id}"), &ana).await;
        assert_eq!(t["ticket"]["status"], "queued", "{t}");
    }
    let (_, t) = app.get(&format!("/api/v1/tickets/{}", general["id"].as_str().unwrap()), &ana).await;
    assert_eq!(t["ticket"]["status"], "queued");

    // Ana reconnects: she still holds one chat, so she gets the other two offered, once each.
    let mut ana_ws = app.inbox_socket(&ana).await;
    let mut offered = Vec::new();
    while offered.len() < 2 {
        let v = ana_ws.next_of("ticket.updated").await;
        if v["ticket"]["status"] == "offered" {
            offered.push(v["ticket"]["id"].as_str().unwrap().to_owned());
        }
    }
    offered.sort();
    let mut expected = tickets[1..].to_vec();
    expected.sort();
    assert_eq!(offered, expected);
    let (_, queues) = app.get("/api/v1/queues", &bruno).await;
    let general_q = queues.as_array().unwrap().iter().find(|q| q["queue"] == "general").unwrap().clone();
    assert_eq!(general_q["waiting"], 1, "{queues}");

    // The live view pushes the same figures to supervisors, and only to them.
    let mut live = Ws::connect(&format!("ws://{}/ws/supervisor?token={bruno}", app.addr)).await;
    let frame = live.next_of("queues").await;
    let general_live = frame["queues"].as_array().unwrap().iter().find(|q| q["queue"] == "general").unwrap().clone();
    assert_eq!(general_live["waiting"], 1, "{frame}");
    let mut refused = Ws::connect(&format!("ws://{}/ws/supervisor?token={ana}", app.addr)).await;
    assert_eq!(refused.closed().await.0, 4401);
}

async fn bad_routing_input_is_refused_with_the_field_named(backend: Backend) {
    let db = tests::TestDb::new(backend).await;
    let app = spawn_app_with(test_config(&db), db).await;
    let bruno = app.login(BRUNO).await;
    let ana = app.login(ANA).await;

    // Agents cannot change rules.
    let (status, _) = app.put("/api/v1/routing/rules", &ana, &json!({"rules": rules()})).await;
    assert_eq!(status, 403);

    let mut unknown_skill = rules();
    unknown_skill["rules"][0]["then"]["skills"][0]["skill"] = json!("astrology");
    let (status, body) = app.put("/api/v1/routing/rules", &bruno, &json!({"rules": unknown_skill})).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["field"], "rules[0].then.skills[0].skill", "{body}");

    let mut cycle = rules();
    cycle["rules"][0]["then"]["escalation"] = json!([
        {"action": "overflow", "after_secs": 60, "queue": "general"},
        {"action": "overflow", "after_secs": 120, "queue": "billing"}
    ]);
    let (status, body) = app.put("/api/v1/routing/rules", &bruno, &json!({"rules": cycle})).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["field"], "rules[0].then.escalation[1].queue", "{body}");

    // Nothing was saved by the refused attempts.
    let (_, versions) = app.get("/api/v1/routing/rules/versions", &bruno).await;
    assert_eq!(versions, json!([]));

    // Versioned saves: a stale expected version is a conflict.
    let (status, _) = app.put("/api/v1/routing/rules", &bruno, &json!({"rules": rules(), "expected_version": 0})).await;
    assert_eq!(status, 200);
    let (status, _) = app.put("/api/v1/routing/rules", &bruno, &json!({"rules": rules(), "expected_version": 0})).await;
    assert_eq!(status, 409);
    let (_, versions) = app.get("/api/v1/routing/rules/versions", &bruno).await;
    assert_eq!(versions.as_array().unwrap().len(), 1);

    // Dry run: which rule and queue a sample would hit.
    let (status, hit) =
        app.post("/api/v1/routing/dry-run", &bruno, &json!({"channel": "webchat", "text": "my BILL is wrong"})).await;
    assert_eq!(status, 200, "{hit}");
    assert_eq!(hit["rule"], "billing");
    assert_eq!(hit["queue"], "billing");
    let (_, miss) = app.post("/api/v1/routing/dry-run", &bruno, &json!({"channel": "email", "text": "hello"})).await;
    assert_eq!(miss["rule"], Value::Null);
    assert_eq!(miss["queue"], "general");

    // Capacity below zero, an unknown skill, a level out of range: 422 naming the field.
    let ana_id = app.me(&ana).await;
    for (body, field) in [
        (json!({"skills": {}, "capacity": {"webchat": -1}}), "capacity"),
        (json!({"skills": {"astrology": 3}}), "skills"),
        (json!({"skills": {"billing": 11}}), "level"),
    ] {
        let (status, err) = app.put(&format!("/api/v1/agents/{ana_id}/routing"), &bruno, &body).await;
        assert_eq!(status, 422, "{body} -> {err}");
        assert_eq!(err["error"]["field"], field, "{err}");
    }
    // Accepting a ticket that was never offered: 409; an unknown one: 404.
    let (status, _) = app.post(&format!("/api/v1/tickets/{}/accept", uuid::Uuid::now_v7()), &ana, &json!({})).await;
    assert_eq!(status, 409);
    let (status, _) = app.get(&format!("/api/v1/tickets/{}", uuid::Uuid::now_v7()), &ana).await;
    assert_eq!(status, 404);
}
