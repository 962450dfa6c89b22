//! The supervisors' wall and actions, end to end: the snapshot over REST and `/ws/supervisor`
//! (queues with SLA at risk and breached, agents per skill, each agent's load and tickets), and
//! what a supervisor does from it: set an agent's presence, whisper (a note the assignee's inbox
//! receives live and the customer never sees), take over, move to another queue. Agents get 403.

use std::time::Duration;

use serde_json::{Value, json};
use tests::{ADMIN, ANA, BRUNO, Backend, TestApp, Ws, both_backends, spawn_app_with, test_config};

use crate::poll_until;

both_backends!(the_wall_shows_queues_and_agents_and_a_supervisor_acts_on_it, agents_and_bad_input_are_refused);

/// `billing` (first response in 1 s, so a waiting ticket is soon breached) needs billing 5;
/// everything else goes to `general`.
fn rules() -> Value {
    json!({
        "skills": ["billing", "tech", "spanish"],
        "queues": [
            {"name": "general", "first_response_secs": 120},
            {"name": "billing", "first_response_secs": 1}
        ],
        "rules": [{
            "name": "billing",
            "when": {"text_contains": ["factura"]},
            "then": {"queue": "billing", "skills": [{"skill": "billing", "level": 5}]}
        }],
        "fallback": {"queue": "general"}
    })
}

async fn app(backend: Backend) -> TestApp {
    let db = tests::TestDb::new(backend).await;
    spawn_app_with(test_config(&db), db).await
}

/// A web chat with one customer message, handed over by `staff`: (visitor token, ticket id).
async fn handed_over(app: &TestApp, staff: &str, text: &str) -> (String, String) {
    let (visitor, conversation) = app.new_chat().await;
    let mut customer = app.customer_socket(&visitor, None).await;
    customer.send_json(&json!({"type": "message", "client_id": "c1", "text": text})).await;
    customer.next_of("ack").await;
    let (status, ticket) = app.post(&format!("/api/v1/conversations/{conversation}/handover"), staff, &json!({})).await;
    assert_eq!(status, 201, "{ticket}");
    (visitor, ticket["id"].as_str().unwrap().to_owned())
}

fn find<'a>(list: &'a Value, key: &str, value: &str) -> Option<&'a Value> {
    list.as_array()?.iter().find(|x| x[key] == value)
}

/// Polls `GET /api/v1/wall` until `ok` holds (the snapshot is shared for up to a second).
async fn wall_until(app: &TestApp, token: &str, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    let found = poll_until(Duration::from_secs(10), async || {
        let (status, wall) = app.get("/api/v1/wall", token).await;
        assert_eq!(status, 200, "{wall}");
        let hit = ok(&wall);
        last = wall.clone();
        hit.then_some(wall)
    })
    .await;
    found.unwrap_or_else(|| panic!("the wall never showed {what}: {last}"))
}

async fn the_wall_shows_queues_and_agents_and_a_supervisor_acts_on_it(backend: Backend) {
    let app = app(backend).await;
    let bruno = app.login(BRUNO).await;
    let ana = app.login(ANA).await;
    let (status, saved) = app.put("/api/v1/routing/rules", &bruno, &json!({"rules": rules()})).await;
    assert_eq!(status, 200, "{saved}");
    let ana_id = app.me(&ana).await;
    let bruno_id = app.me(&bruno).await;
    // Ana: the only billing agent, one web chat at a time. Bruno: technical.
    let (status, body) = app
        .put(
            &format!("/api/v1/agents/{ana_id}/routing"),
            &bruno,
            &json!({"skills": {"billing": 8, "spanish": 9}, "capacity": {"webchat": 1, "email": 2}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) =
        app.put(&format!("/api/v1/agents/{bruno_id}/routing"), &bruno, &json!({"skills": {"tech": 7}})).await;
    assert_eq!(status, 200, "{body}");
    let mut ana_ws = app.inbox_socket(&ana).await;
    ana_ws.next_of("agent.presence").await;

    // Two billing chats: Ana takes the first; the second waits (she is full) and breaches the
    // 1 s target.
    let (visitor, first) = handed_over(&app, &bruno, "Mi factura está mal").await;
    loop {
        let v = ana_ws.next_of("ticket.updated").await;
        if v["ticket"]["id"] == first.as_str() && v["ticket"]["status"] == "offered" {
            break;
        }
    }
    let (status, body) = app.post(&format!("/api/v1/tickets/{first}/accept"), &ana, &json!({})).await;
    assert_eq!(status, 200, "{body}");
    let (_, second) = handed_over(&app, &bruno, "Otra factura").await;

    let wall = wall_until(&app, &bruno, "a breached billing ticket", |w| {
        find(&w["queues"], "queue", "billing").is_some_and(|q| q["sla_breached"] == 1)
    })
    .await;
    let billing = find(&wall["queues"], "queue", "billing").unwrap();
    assert_eq!((billing["waiting"].as_u64(), billing["offered"].as_u64()), (Some(1), Some(0)), "{wall}");
    assert_eq!(billing["sla_at_risk"], 1, "{wall}");
    assert_eq!(billing["first_response_secs"], 1, "{wall}");
    assert!(billing["longest_wait_ms"].as_i64().unwrap() >= 1000, "{wall}");
    // Serving billing: Ana (available); per skill: billing, Ana available.
    assert_eq!(billing["agents"]["available"], 1, "{wall}");
    assert_eq!(billing["skills"], json!([{"skill": "billing", "available": 1, "busy": 0, "away": 0, "offline": 0}]));
    let general = find(&wall["queues"], "queue", "general").unwrap();
    assert_eq!((general["waiting"].as_u64(), general["sla_breached"].as_u64()), (Some(0), Some(0)), "{wall}");
    assert_eq!(find(&wall["skills"], "skill", "tech").unwrap()["offline"], 1, "{wall}");
    let agent = find(&wall["agents"], "id", &ana_id).unwrap();
    assert_eq!(agent["name"], "Ana Agent");
    assert_eq!(agent["presence"], "available");
    assert_eq!(agent["load"], json!({"webchat": 1}));
    assert_eq!(agent["capacity"], json!({"webchat": 1, "email": 2}));
    assert_eq!(agent["tickets"], json!([{"id": first, "channel": "webchat", "state": "assigned"}]));
    assert_eq!(agent["tickets_omitted"], 0);
    assert_eq!(wall["agents_omitted"], 0);
    // GET /queues tells the breach too.
    let (_, queues) = app.get("/api/v1/queues", &bruno).await;
    assert_eq!(find(&queues, "queue", "billing").unwrap()["sla_breached"], 1, "{queues}");

    // The socket pushes the same snapshot every second.
    let mut live = Ws::connect(&format!("ws://{}/ws/supervisor?token={bruno}", app.addr)).await;
    let frame = live.next_of("queues").await;
    assert_eq!(find(&frame["queues"], "queue", "billing").unwrap()["sla_breached"], 1, "{frame}");
    assert_eq!(find(&frame["agents"], "id", &ana_id).unwrap()["tickets"][0]["id"], first.as_str(), "{frame}");
    let next = live.next_of("queues").await;
    assert!(next["at_ms"].as_i64() > frame["at_ms"].as_i64(), "a new snapshot each second: {next}");

    // Whisper: the note reaches Ana's inbox live, and is in the ticket's history; the
    // customer's socket never sees it.
    let mut customer = app.customer_socket(&visitor, None).await;
    let (status, note) =
        app.post(&format!("/api/v1/tickets/{first}/notes"), &bruno, &json!({"text": "Offer the refund"})).await;
    assert_eq!(status, 201, "{note}");
    let whisper = ana_ws.next_of("ticket.note").await;
    assert_eq!(whisper["ticket_id"], first.as_str());
    assert_eq!(whisper["text"], "Offer the refund");
    assert_eq!(whisper["author_id"], bruno_id.as_str());
    assert_eq!(whisper["author_name"], "Bruno Agent");
    let (status, _) = app
        .post(
            &format!("/api/v1/conversations/{}/messages", whisper["conversation_id"].as_str().unwrap()),
            &ana,
            &json!({"text": "Le ayudo", "client_id": "a1"}),
        )
        .await;
    assert_eq!(status, 201);
    loop {
        let frame = customer.next_json().await;
        assert_ne!(frame["type"], "ticket.note", "the customer saw a note: {frame}");
        assert!(!frame.to_string().contains("Offer the refund"), "{frame}");
        if frame["type"] == "message" && frame["message"]["text"] == "Le ayudo" {
            break;
        }
    }

    // Presence: Bruno sets Ana away; her inbox and the wall show it.
    let (status, body) =
        app.put(&format!("/api/v1/agents/{ana_id}/presence"), &bruno, &json!({"presence": "away"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"agent_id": ana_id, "presence": "away"}));
    let changed = ana_ws.next_of("agent.presence").await;
    assert_eq!((changed["agent_id"].as_str(), changed["presence"].as_str()), (Some(ana_id.as_str()), Some("away")));
    wall_until(&app, &bruno, "Ana away", |w| {
        find(&w["agents"], "id", &ana_id).is_some_and(|a| a["presence"] == "away")
            && find(&w["queues"], "queue", "billing").is_some_and(|q| q["agents"]["away"] == 1)
    })
    .await;
    let (status, body) =
        app.put(&format!("/api/v1/agents/{ana_id}/presence"), &bruno, &json!({"presence": "available"})).await;
    assert_eq!(status, 200, "{body}");

    // Take over: Bruno assigns Ana's chat to himself; move: the waiting one goes to general.
    let (status, taken) =
        app.post(&format!("/api/v1/tickets/{first}/transfer"), &bruno, &json!({"agent_id": bruno_id})).await;
    assert_eq!(status, 200, "{taken}");
    assert_eq!(taken["assignee_id"], bruno_id.as_str());
    let (status, moved) =
        app.post(&format!("/api/v1/tickets/{second}/transfer"), &bruno, &json!({"queue": "general"})).await;
    assert_eq!(status, 200, "{moved}");
    let wall = wall_until(&app, &bruno, "the take-over and the move", |w| {
        find(&w["agents"], "id", &bruno_id).is_some_and(|a| a["tickets"][0]["id"] == first.as_str())
            && find(&w["queues"], "queue", "billing").is_some_and(|q| q["waiting"] == 0)
    })
    .await;
    // Ana is free again, so the moved chat (general: no skills) went to her.
    let ana_now = find(&wall["agents"], "id", &ana_id).unwrap();
    assert_eq!(ana_now["tickets"][0]["id"], second.as_str(), "{wall}");
    for (ticket, kind, detail) in [
        (&first, "transferred", json!({"to_agent": bruno_id})),
        (&second, "transferred", json!({"to_queue": "general"})),
    ] {
        let (_, d) = app.get(&format!("/api/v1/tickets/{ticket}"), &bruno).await;
        let line = d["events"].as_array().unwrap().iter().find(|e| e["kind"] == kind).cloned().unwrap_or_default();
        assert_eq!(line["detail"], detail, "{d}");
        assert_eq!(line["actor"], json!({"kind": "agent", "id": bruno_id}), "{d}");
    }
    let (_, d) = app.get(&format!("/api/v1/tickets/{first}"), &bruno).await;
    assert!(d["events"].as_array().unwrap().iter().any(|e| e["kind"] == "note_added"), "{d}");
    assert_eq!(d["notes"][0]["text"], "Offer the refund");
}

async fn agents_and_bad_input_are_refused(backend: Backend) {
    let app = app(backend).await;
    let bruno = app.login(BRUNO).await;
    let ana = app.login(ANA).await;
    let admin = app.login(ADMIN).await;
    let ana_id = app.me(&ana).await;
    let admin_id = app.me(&admin).await;
    let tina_id = {
        let tina = app.login("tina@demo.switchboard.local").await;
        app.me(&tina).await
    };

    // Agents see neither the wall nor another's presence control.
    let (status, body) = app.get("/api/v1/wall", &ana).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "forbidden");
    let (status, _) = app.put(&format!("/api/v1/agents/{admin_id}/presence"), &ana, &json!({"presence": "away"})).await;
    assert_eq!(status, 403);
    let mut refused = Ws::connect(&format!("ws://{}/ws/supervisor?token={ana}", app.addr)).await;
    assert_eq!(refused.closed().await.0, 4401);
    let (status, _) = app.get("/api/v1/wall", "not-a-token").await;
    assert_eq!(status, 401);

    // Bad input: typed errors naming the field.
    let (status, body) =
        app.put(&format!("/api/v1/agents/{ana_id}/presence"), &bruno, &json!({"presence": "asleep"})).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["field"], "presence", "{body}");
    let (status, body) =
        app.put(&format!("/api/v1/agents/{ana_id}/presence"), &bruno, &json!({"presense": "away"})).await;
    assert_eq!(status, 400, "{body}");
    let unknown = "00000000-0000-7000-8000-000000000001";
    let (status, body) =
        app.put(&format!("/api/v1/agents/{unknown}/presence"), &bruno, &json!({"presence": "away"})).await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = app.put("/api/v1/agents/nope/presence", &bruno, &json!({"presence": "away"})).await;
    assert!(status == 400 || status == 404, "{status} {body}");
    // A trainer is no agent.
    let (status, body) =
        app.put(&format!("/api/v1/agents/{tina_id}/presence"), &bruno, &json!({"presence": "away"})).await;
    assert_eq!(status, 422, "{body}");
    // Available needs an open inbox: the admin has none; Ana, once connected, may be set so.
    let (status, body) =
        app.put(&format!("/api/v1/agents/{admin_id}/presence"), &bruno, &json!({"presence": "available"})).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "conflict", "{body}");
    let (status, body) =
        app.put(&format!("/api/v1/agents/{admin_id}/presence"), &bruno, &json!({"presence": "away"})).await;
    assert_eq!(status, 200, "{body}");
    let mut ana_ws = app.inbox_socket(&ana).await;
    ana_ws.next_of("agent.presence").await;
    let (status, _) = app.put(&format!("/api/v1/agents/{ana_id}/presence"), &bruno, &json!({"presence": "busy"})).await;
    assert_eq!(status, 200);
    let busy = ana_ws.next_of("agent.presence").await;
    assert_eq!(busy["presence"], "busy");
    let (_, profile) = app.get(&format!("/api/v1/agents/{ana_id}/routing"), &bruno).await;
    assert_eq!(profile["presence"], "busy", "{profile}");
}
