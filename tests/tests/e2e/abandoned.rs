//! Customers who leave a web chat: ending it (`leave`) before an agent answered closes the ticket
//! as abandoned, counted by the volume report; after an answer it is resolved; a customer whose
//! last socket stays gone past `webchat.abandon_after_secs` is abandoned, one who comes back in
//! time is not; bad frames get typed errors.

use std::time::Duration;

use serde_json::{Value, json};
use sqlx::Row as _;
use tests::{ANA, BRUNO, Backend, TestApp, Ws, both_backends, spawn_app_with, test_config};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::poll_until;

both_backends!(ending_a_chat_abandons_only_unanswered_tickets, customers_gone_past_the_window_are_abandoned);

/// A hub whose chats are abandoned `abandon_after_secs` after their last socket closed.
async fn app(backend: Backend, abandon_after_secs: u64) -> TestApp {
    let db = tests::TestDb::new(backend).await;
    let mut config = test_config(&db);
    config.webchat.abandon_after_secs = abandon_after_secs;
    spawn_app_with(config, db).await
}

/// A chat with one customer message, handed over by a supervisor: (visitor token, conversation,
/// ticket, the customer's socket).
async fn waiting_chat(app: &TestApp, supervisor: &str) -> (String, String, String, Ws) {
    let (visitor, conversation) = app.new_chat().await;
    let mut customer = app.customer_socket(&visitor, None).await;
    customer.send_json(&json!({"type": "message", "client_id": "c1", "text": "My line is down"})).await;
    customer.next_of("ack").await;
    let ticket = crate::churn::hand_over(app, supervisor, &conversation, &[]).await["id"].as_str().unwrap().to_owned();
    (visitor, conversation, ticket, customer)
}

async fn ticket(app: &TestApp, staff: &str, id: &str) -> Value {
    let (status, detail) = app.get(&format!("/api/v1/tickets/{id}"), staff).await;
    assert_eq!(status, 200, "{detail}");
    detail
}

/// The kinds and actors of the ticket's history.
fn history(detail: &Value) -> Vec<(String, String)> {
    detail["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["kind"].as_str().unwrap().to_owned(), e["actor"]["kind"].as_str().unwrap().to_owned()))
        .collect()
}

/// The volume report's totals over the last two hours.
async fn volume(app: &TestApp, supervisor: &str) -> Value {
    let now = OffsetDateTime::now_utc();
    let range = format!(
        "from={}&to={}",
        (now - time::Duration::hours(2)).format(&Rfc3339).unwrap(),
        (now + time::Duration::hours(1)).format(&Rfc3339).unwrap()
    );
    let (status, body) = app.get(&format!("/api/v1/reports/volume?{range}"), supervisor).await;
    assert_eq!(status, 200, "{body}");
    body["totals"].clone()
}

/// Abandoned tickets counted from the raw rows (docs/reports.md): closed, not resolved, and no
/// agent wrote in the conversation after the ticket was opened.
async fn recount_abandoned(app: &TestApp) -> i64 {
    sqlx::any::install_default_drivers();
    let pool = sqlx::any::AnyPoolOptions::new().max_connections(1).connect(&app.db.url).await.unwrap();
    let n: i64 = sqlx::query(
        "SELECT COUNT(*) AS n FROM tickets t WHERE t.status = 'closed' AND NOT EXISTS (SELECT 1 FROM messages m \
         WHERE m.conversation_id = t.conversation_id AND m.author = 'agent' AND m.created_at >= t.created_at)",
    )
    .fetch_one(&pool)
    .await
    .unwrap()
    .get("n");
    pool.close().await;
    n
}

/// The next `state` frame with `status`, skipping others.
async fn state(ws: &mut Ws, status: &str) {
    loop {
        if ws.next_of("state").await["status"] == status {
            return;
        }
    }
}

async fn ending_a_chat_abandons_only_unanswered_tickets(backend: Backend) {
    let app = app(backend, 120).await;
    let ana = app.login(ANA).await;
    let bruno = app.login(BRUNO).await;
    let mut inbox = app.inbox_socket(&ana).await;
    // Connecting made her available.
    inbox.next_of("agent.presence").await;

    // Nobody has answered: the customer ends the chat. The offer to Ana (she is the one agent
    // online) is withdrawn, the ticket is closed as abandoned by the customer.
    let (_, conversation, id, mut customer) = waiting_chat(&app, &bruno).await;
    let offered = loop {
        let e = inbox.next_of("ticket.updated").await;
        if e["ticket"]["id"] == id.as_str() && e["ticket"]["status"] == "offered" {
            break e;
        }
    };
    assert_eq!(offered["ticket"]["offered_to"], app.me(&ana).await, "{offered}");
    customer.send_json(&json!({"type": "leave"})).await;
    assert_eq!(customer.next_of("done").await, json!({"type": "done", "command": "leave"}));
    state(&mut customer, "closed").await;
    let withdrawn = loop {
        let e = inbox.next_of("ticket.updated").await;
        if e["ticket"]["id"] == id.as_str() && e["ticket"]["status"] == "closed" {
            break e;
        }
    };
    assert_eq!(withdrawn["ticket"]["offered_to"], Value::Null, "{withdrawn}");
    let detail = ticket(&app, &ana, &id).await;
    assert_eq!(detail["ticket"]["status"], "closed", "{detail}");
    assert!(history(&detail).contains(&("abandoned".to_owned(), "customer".to_owned())), "{detail}");
    // The agents' timeline says the customer left.
    let (_, messages) = app.get(&format!("/api/v1/conversations/{conversation}/messages"), &ana).await;
    let last = messages["items"].as_array().unwrap().last().unwrap().clone();
    assert_eq!((last["author"].as_str(), last["text"].as_str()), (Some("system"), Some("The customer ended the chat")));
    // Ending it again changes nothing; a message into the closed chat is refused.
    customer.send_json(&json!({"type": "leave"})).await;
    customer.next_of("done").await;
    customer.send_json(&json!({"type": "message", "client_id": "c2", "text": "hello?"})).await;
    let refused = customer.next_of("error").await;
    assert_eq!((refused["client_id"].as_str(), refused["code"].as_str()), (Some("c2"), Some("conflict")), "{refused}");

    // Ana answers the next chat, then the customer ends it: resolved by the customer, not
    // abandoned, and Ana sees the line on her timeline.
    let (_, conversation, answered, mut customer) = waiting_chat(&app, &bruno).await;
    let ana_id = app.me(&ana).await;
    let (status, body) =
        app.post(&format!("/api/v1/tickets/{answered}/transfer"), &bruno, &json!({"agent_id": ana_id})).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = app
        .post(&format!("/api/v1/conversations/{conversation}/messages"), &ana, &json!({"text": "Let me check"}))
        .await;
    assert_eq!(status, 201, "{body}");
    customer.send_json(&json!({"type": "leave"})).await;
    customer.next_of("done").await;
    state(&mut customer, "resolved").await;
    let seen = loop {
        let e = inbox.next_of("message.created").await;
        if e["message"]["conversation_id"] == conversation.as_str() && e["message"]["author"] == "system" {
            break e;
        }
    };
    assert_eq!(seen["message"]["text"], "The customer ended the chat");
    let detail = ticket(&app, &ana, &answered).await;
    assert_eq!(detail["ticket"]["status"], "resolved", "{detail}");
    assert!(history(&detail).contains(&("resolved".to_owned(), "customer".to_owned())), "{detail}");

    // A chat nobody escalated is simply closed.
    let (visitor, _) = app.new_chat().await;
    let mut quiet = app.customer_socket(&visitor, None).await;
    quiet.send_json(&json!({"type": "leave"})).await;
    quiet.next_of("done").await;
    state(&mut quiet, "closed").await;

    // The volume report counts the abandoned ticket, as the raw rows do; the answered one is
    // resolved.
    let totals = volume(&app, &bruno).await;
    assert_eq!(recount_abandoned(&app).await, 1);
    assert_eq!(
        (totals["abandoned"].as_i64(), totals["resolved"].as_i64(), totals["new"].as_i64()),
        (Some(1), Some(1), Some(2)),
        "{totals}"
    );
}

async fn customers_gone_past_the_window_are_abandoned(backend: Backend) {
    let app = app(backend, 3).await;
    let ana = app.login(ANA).await;
    let bruno = app.login(BRUNO).await;

    // Bad frames: typed errors, the socket stays open.
    let (visitor, conversation, id, mut customer) = waiting_chat(&app, &bruno).await;
    customer.send_json(&json!({"type": "leaving"})).await;
    assert_eq!(customer.next_of("error").await["code"], "unknown_frame_type");
    customer.send_raw(tokio_tungstenite::tungstenite::Message::text(r#"{"type":"leave""#)).await;
    assert_eq!(customer.next_of("error").await["code"], "malformed_frame");

    // The customer's socket drops and comes back within the window (a page reload): kept.
    drop(customer);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut back = app.customer_socket(&visitor, None).await;
    back.next_of("state").await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(ticket(&app, &ana, &id).await["ticket"]["status"], "queued", "came back in time");

    // A second chat whose ticket Ana answered: its customer goes away for good, but the agent
    // decides what happens to an answered ticket.
    let (_, answered_conversation, answered, customer) = waiting_chat(&app, &bruno).await;
    let ana_id = app.me(&ana).await;
    let (status, body) =
        app.post(&format!("/api/v1/tickets/{answered}/transfer"), &bruno, &json!({"agent_id": ana_id})).await;
    assert_eq!(status, 200, "{body}");
    let path = format!("/api/v1/conversations/{answered_conversation}/messages");
    let (status, body) = app.post(&path, &ana, &json!({"text": "Checking your line"})).await;
    assert_eq!(status, 201, "{body}");
    drop(customer);

    // Now the first customer goes away for good: abandoned once the window has passed.
    drop(back);
    let closed = poll_until(Duration::from_secs(20), async || {
        let detail = ticket(&app, &ana, &id).await;
        (detail["ticket"]["status"] == "closed").then_some(detail)
    })
    .await
    .expect("the ticket of a customer gone past the window is abandoned");
    assert!(history(&closed).contains(&("abandoned".to_owned(), "customer".to_owned())), "{closed}");
    let (_, messages) = app.get(&format!("/api/v1/conversations/{conversation}/messages"), &ana).await;
    let last = messages["items"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["author"], "system", "{last}");
    assert!(last["text"].as_str().unwrap().starts_with("The customer left the chat without ending it"), "{last}");

    // The answered ticket is still Ana's, well past its own window.
    assert_eq!(ticket(&app, &ana, &answered).await["ticket"]["status"], "assigned");
    let totals = volume(&app, &bruno).await;
    assert_eq!(totals["abandoned"], 1, "{totals}");
    assert_eq!(recount_abandoned(&app).await, 1);
}
