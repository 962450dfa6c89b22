//! Reports: figures from the rollups checked against a recount of the raw rows (tickets, their
//! history, messages, conversations) after traffic through the hub; time-zone buckets across
//! Madrid's DST change; roles, CSV and bad parameters.

use std::collections::BTreeMap;
use std::time::Duration;

use schema::reports::{bin_value_ms, duration_bin};
use schema::{
    Actor, Channel, ConversationStatus, NewCustomer, Priority, QueueName, Store, StoreOptions, Ticket, TicketEvent,
    TicketId, TicketStatus,
};
use serde_json::{Value, json};
use sqlx::Row;
use tests::{ADMIN, ANA, BRUNO, Backend, TestApp, TestDb, both_backends, spawn_app_with, test_config};
use time::OffsetDateTime;

use crate::poll_until;

both_backends!(
    figures_match_a_recount_of_the_raw_rows,
    buckets_follow_the_time_zone_across_the_dst_change,
    reports_are_for_supervisors_and_refuse_bad_parameters,
);

fn rules() -> Value {
    json!({
        "skills": ["billing"],
        "queues": [
            {"name": "general", "first_response_secs": 120},
            {"name": "billing", "first_response_secs": 1}
        ],
        "rules": [{
            "name": "billing",
            "when": {"text_contains": ["bill"]},
            "then": {"queue": "billing", "skills": [{"skill": "billing", "level": 1}], "priority": 4}
        }],
        "fallback": {"queue": "general"}
    })
}

/// The ticket's status once it is `want` (10 s at most).
async fn ticket_once(app: &TestApp, token: &str, ticket: &str, want: &[&str]) -> Value {
    poll_until(Duration::from_secs(10), async || {
        let (_, t) = app.get(&format!("/api/v1/tickets/{ticket}"), token).await;
        let t = if t["ticket"].is_object() { t["ticket"].clone() } else { t };
        want.contains(&t["status"].as_str().unwrap_or("")).then_some(t)
    })
    .await
    .unwrap_or_else(|| panic!("ticket {ticket} never became {want:?}"))
}

/// Accepts `ticket` as whoever it is offered to; returns that agent's id.
async fn accept(app: &TestApp, tokens: &BTreeMap<String, String>, ticket: &str) -> String {
    let any = tokens.values().next().unwrap();
    let offered = ticket_once(app, any, ticket, &["offered"]).await;
    let agent = offered["offered_to"].as_str().unwrap().to_owned();
    let (status, body) = app.post(&format!("/api/v1/tickets/{ticket}/accept"), &tokens[&agent], &json!({})).await;
    assert_eq!(status, 200, "{body}");
    agent
}

async fn customer_says(app: &TestApp, visitor: &str, id: &str, text: &str) {
    let mut ws = app.customer_socket(visitor, None).await;
    ws.send_json(&json!({"type": "message", "client_id": id, "text": text})).await;
    ws.next_of("ack").await;
}

async fn agent_says(app: &TestApp, token: &str, conversation: &str, id: &str) {
    let (status, body) = app
        .post(
            &format!("/api/v1/conversations/{conversation}/messages"),
            token,
            &json!({"text": "Let me look", "client_id": id}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
}

/// What the recount finds, per agent ("" for none) and in total.
#[derive(Debug, Default, Clone)]
struct Recount {
    conversations: i64,
    new: i64,
    resolved: i64,
    reopened: i64,
    abandoned: i64,
    transfers: i64,
    first_responses: Vec<i64>,
    sla_targeted: i64,
    sla_met: i64,
    resolutions: Vec<i64>,
    handled: BTreeMap<String, i64>,
    handle_ms: BTreeMap<String, i64>,
    resolved_by: BTreeMap<String, i64>,
    billing_new: i64,
}

/// Recomputes every measure from the raw rows, by replaying each ticket's history with the
/// agents' messages in time order (docs/reports.md's definitions).
async fn recount(app: &TestApp) -> Recount {
    sqlx::any::install_default_drivers();
    let pool = sqlx::any::AnyPoolOptions::new().max_connections(1).connect(&app.db.url).await.unwrap();
    let mut r = Recount {
        conversations: sqlx::query("SELECT COUNT(*) AS n FROM conversations").fetch_one(&pool).await.unwrap().get("n"),
        ..Recount::default()
    };
    let tickets = sqlx::query("SELECT id, conversation_id, channel, created_at, first_response_due FROM tickets")
        .fetch_all(&pool)
        .await
        .unwrap();
    for t in tickets {
        let id: String = t.get("id");
        let conversation: String = t.get("conversation_id");
        let created_at: i64 = t.get("created_at");
        let due: Option<i64> = t.get("first_response_due");
        let voice = t.get::<String, _>("channel") == "voice";
        // (time, order, kind, detail, agent): history lines first at equal times.
        let mut steps: Vec<(i64, u8, String, Value, Option<String>)> = Vec::new();
        for e in
            sqlx::query("SELECT kind, detail, actor_id, at FROM ticket_events WHERE ticket_id = $1 ORDER BY at, id")
                .bind(&id)
                .fetch_all(&pool)
                .await
                .unwrap()
        {
            let detail: Value = serde_json::from_str(&e.get::<String, _>("detail")).unwrap();
            steps.push((e.get("at"), 0, e.get("kind"), detail, e.get("actor_id")));
        }
        for m in sqlx::query(
            "SELECT author_id, created_at FROM messages WHERE conversation_id = $1 AND author = 'agent' \
             AND created_at >= $2 ORDER BY seq",
        )
        .bind(&conversation)
        .bind(created_at)
        .fetch_all(&pool)
        .await
        .unwrap()
        {
            steps.push((m.get("created_at"), 1, "agent_message".into(), Value::Null, m.get("author_id")));
        }
        steps.sort_by_key(|s| (s.0, s.1));
        let (mut open, mut status, mut owner) = (true, "queued", None::<String>);
        let (mut opened_at, mut responded, mut since) = (created_at, false, None::<i64>);
        for (at, _, kind, detail, actor) in steps {
            let end_active = |r: &mut Recount, owner: &Option<String>, since: &mut Option<i64>| {
                if let (Some(o), Some(s)) = (owner, since.take()) {
                    *r.handle_ms.entry(o.clone()).or_default() += at - s;
                }
            };
            let first_response = |r: &mut Recount| {
                r.first_responses.push(at - created_at);
                if let Some(due) = due {
                    r.sla_targeted += 1;
                    r.sla_met += i64::from(at <= due);
                }
            };
            match kind.as_str() {
                "created" => {
                    r.new += 1;
                    r.billing_new += i64::from(detail["queue"] == "billing");
                }
                "assigned" => {
                    owner = detail["agent_id"].as_str().map(str::to_owned);
                    status = "assigned";
                    since = Some(at);
                    if voice && !responded {
                        responded = true;
                        first_response(&mut r);
                    }
                }
                "pending_customer" => {
                    end_active(&mut r, &owner, &mut since);
                    status = "pending";
                }
                "customer_replied" => {
                    status = "assigned";
                    since = Some(at);
                }
                "transferred" => {
                    r.transfers += 1;
                    end_active(&mut r, &owner, &mut since);
                    if let Some(o) = &owner {
                        *r.handled.entry(o.clone()).or_default() += 1;
                    }
                    if let Some(to) = detail["to_agent"].as_str() {
                        owner = Some(to.to_owned());
                        status = "assigned";
                        since = Some(at);
                    } else {
                        owner = None;
                        status = "queued";
                    }
                }
                "resolved" | "call_ended" | "superseded_by_call" | "abandoned" => {
                    if status == "assigned" {
                        end_active(&mut r, &owner, &mut since);
                    }
                    if let (Some(o), "assigned" | "pending") = (&owner, status) {
                        *r.handled.entry(o.clone()).or_default() += 1;
                    }
                    if kind == "abandoned" {
                        r.abandoned += i64::from(!responded);
                    } else {
                        r.resolved += 1;
                        r.resolutions.push(at - opened_at);
                        *r.resolved_by.entry(owner.clone().unwrap_or_default()).or_default() += 1;
                    }
                    open = false;
                    status = "done";
                }
                "reopened" => {
                    r.reopened += 1;
                    opened_at = at;
                    open = true;
                    owner = None;
                    status = "queued";
                }
                "agent_message" if open && !responded => {
                    responded = true;
                    let _ = &actor;
                    first_response(&mut r);
                }
                _ => {}
            }
        }
    }
    r
}

/// The value the reports give for the `q` quantile of `values`: the bin of the ranked one.
#[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation, clippy::cast_sign_loss)]
fn quantile(values: &[i64], q: f64) -> Value {
    if values.is_empty() {
        return Value::Null;
    }
    let mut v = values.to_vec();
    v.sort_unstable();
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    json!((bin_value_ms(duration_bin(v[rank - 1])) / 1000.0 * 10.0).round() / 10.0)
}

#[allow(clippy::cast_precision_loss)]
fn mean(sum: i64, n: i64) -> Value {
    if n == 0 { Value::Null } else { json!((sum as f64 / n as f64 / 1000.0 * 10.0).round() / 10.0) }
}

async fn figures_match_a_recount_of_the_raw_rows(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut config = test_config(&db);
    config.routing.offer_timeout_secs = 30;
    config.routing.tick_ms = 100;
    let app = spawn_app_with(config, db).await;
    let bruno = app.login(BRUNO).await;
    let (status, body) = app.put("/api/v1/routing/rules", &bruno, &json!({"rules": rules()})).await;
    assert_eq!(status, 200, "{body}");
    let mut tokens = BTreeMap::new();
    let mut sockets = Vec::new();
    for email in [ANA, ADMIN] {
        let token = app.login(email).await;
        let id = app.me(&token).await;
        let (status, body) =
            app.put(&format!("/api/v1/agents/{id}/routing"), &bruno, &json!({"skills": {"billing": 5}})).await;
        assert_eq!(status, 200, "{body}");
        let mut ws = app.inbox_socket(&token).await;
        ws.next_of("agent.presence").await;
        sockets.push(ws);
        tokens.insert(id, token);
    }

    // A day's traffic in miniature: answered and resolved; pending and back; reopened and
    // resolved again; transferred to a colleague and to a queue; never answered; only the bot.
    let mut open_tickets = Vec::new();
    for i in 0..7 {
        let (visitor, conversation) = app.new_chat().await;
        let text = if i % 2 == 0 { "my bill is wrong" } else { "the router blinks" };
        customer_says(&app, &visitor, &format!("c{i}"), text).await;
        if i == 6 {
            continue; // Never handed over.
        }
        let (status, ticket) =
            app.post(&format!("/api/v1/conversations/{conversation}/handover"), &bruno, &json!({})).await;
        assert_eq!(status, 201, "{ticket}");
        let ticket = ticket["id"].as_str().unwrap().to_owned();
        if i == 5 {
            open_tickets.push(ticket);
            continue; // Queued (or offered), never answered.
        }
        let agent = accept(&app, &tokens, &ticket).await;
        let token = tokens[&agent].clone();
        agent_says(&app, &token, &conversation, &format!("a{i}")).await;
        agent_says(&app, &token, &conversation, &format!("a{i}b")).await;
        match i {
            0 | 2 => {
                if i == 2 {
                    let (s, b) = app.post(&format!("/api/v1/tickets/{ticket}/pending"), &token, &json!({})).await;
                    assert_eq!(s, 200, "{b}");
                    tokio::time::sleep(Duration::from_millis(150)).await;
                    customer_says(&app, &visitor, "c2b", "here it is").await;
                    ticket_once(&app, &token, &ticket, &["assigned"]).await;
                }
                let (s, b) = app.post(&format!("/api/v1/tickets/{ticket}/resolve"), &token, &json!({})).await;
                assert_eq!(s, 200, "{b}");
                if i == 2 {
                    customer_says(&app, &visitor, "c2c", "one more thing").await;
                    let again = accept(&app, &tokens, &ticket).await;
                    agent_says(&app, &tokens[&again], &conversation, "a2c").await;
                    let (s, b) =
                        app.post(&format!("/api/v1/tickets/{ticket}/resolve"), &tokens[&again], &json!({})).await;
                    assert_eq!(s, 200, "{b}");
                }
            }
            1 => {
                let other = tokens.keys().find(|k| **k != agent).unwrap().clone();
                let (s, b) =
                    app.post(&format!("/api/v1/tickets/{ticket}/transfer"), &token, &json!({"agent_id": other})).await;
                assert_eq!(s, 200, "{b}");
                let (s, b) = app.post(&format!("/api/v1/tickets/{ticket}/resolve"), &tokens[&other], &json!({})).await;
                assert_eq!(s, 200, "{b}");
            }
            3 => {
                let (s, b) =
                    app.post(&format!("/api/v1/tickets/{ticket}/transfer"), &token, &json!({"queue": "billing"})).await;
                assert_eq!(s, 200, "{b}");
                open_tickets.push(ticket);
            }
            _ => open_tickets.push(ticket),
        }
    }
    assert_eq!(open_tickets.len(), 3);

    let r = recount(&app).await;
    assert_eq!((r.conversations, r.new, r.reopened, r.transfers), (7, 6, 1, 2), "{r:?}");
    assert_eq!(r.resolved, 4, "{r:?}");
    let now = OffsetDateTime::now_utc();
    let range = format!(
        "from={}&to={}",
        (now - time::Duration::hours(2)).format(&time::format_description::well_known::Rfc3339).unwrap(),
        (now + time::Duration::hours(1)).format(&time::format_description::well_known::Rfc3339).unwrap()
    );
    check_reports(&app, &bruno, &r, &range).await;
    // A filter reads the rows of its dimension only.
    let (status, billing) = app.get(&format!("/api/v1/reports/volume?{range}&queue=billing"), &bruno).await;
    assert_eq!(status, 200, "{billing}");
    assert_eq!(billing["totals"]["new"], r.billing_new);
    assert_eq!(billing["totals"]["conversations"], 0, "conversations have no queue");
    // CSV: a header and one line per bucket.
    let res = app
        .http
        .get(app.url(&format!("/api/v1/reports/volume?{range}&bucket=hour")))
        .bearer_auth(&bruno)
        .header("Accept", "text/csv")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    let csv = res.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert!(lines[0].split(',').any(|h| h == "start") && lines[0].contains("resolved"), "{csv}");
    assert!((4..=5).contains(&lines.len()), "{csv}");

    // A store from before the rollups: the backfill counts it all, once, to the same figures.
    let pool = sqlx::any::AnyPoolOptions::new().max_connections(1).connect(&app.db.url).await.unwrap();
    for table in ["report_rollups", "report_durations", "report_slices", "report_slice_durations"] {
        sqlx::query(&format!("DELETE FROM {table}")).execute(&pool).await.unwrap();
    }
    sqlx::query("UPDATE settings SET value = $1 WHERE key = 'reports.counted_since'")
        .bind((OffsetDateTime::now_utc() + time::Duration::hours(1)).unix_timestamp().saturating_mul(1000).to_string())
        .execute(&pool)
        .await
        .unwrap();
    let (_, empty) = app.get(&format!("/api/v1/reports/volume?{range}"), &bruno).await;
    assert_eq!(empty["totals"]["new"], 0, "{empty}");
    let store =
        Store::connect(&app.db.url, &StoreOptions { max_connections: 2, ..StoreOptions::default() }).await.unwrap();
    assert_eq!(store.backfill_reports().await.unwrap(), Some((7, 6)));
    check_reports(&app, &bruno, &r, &range).await;
    assert_eq!(store.backfill_reports().await.unwrap(), None, "once only");
    check_reports(&app, &bruno, &r, &range).await;
}

/// Every report figure over `range` against the recount `r`.
async fn check_reports(app: &TestApp, bruno: &str, r: &Recount, range: &str) {
    for tz in ["UTC", "Asia/Kathmandu"] {
        let q = format!("{range}&tz={tz}&bucket=hour");
        let (status, volume) = app.get(&format!("/api/v1/reports/volume?{q}"), bruno).await;
        assert_eq!(status, 200, "{volume}");
        let totals = &volume["totals"];
        assert_eq!(totals["conversations"], r.conversations, "{volume}");
        assert_eq!(totals["new"], r.new);
        assert_eq!(totals["resolved"], r.resolved);
        assert_eq!(totals["reopened"], r.reopened);
        assert_eq!(totals["abandoned"], r.abandoned);
        assert_eq!(totals["transfers"], r.transfers);
        // The series adds up to the totals.
        let series = volume["series"].as_array().unwrap();
        assert!((3..=4).contains(&series.len()), "{volume}");
        let summed: i64 = series.iter().map(|p| p["new"].as_i64().unwrap()).sum();
        assert_eq!(summed, r.new);

        let (status, times) = app.get(&format!("/api/v1/reports/times?{q}"), bruno).await;
        assert_eq!(status, 200, "{times}");
        let t = &times["totals"];
        let fr_sum: i64 = r.first_responses.iter().sum();
        let n = i64::try_from(r.first_responses.len()).unwrap();
        assert_eq!(t["first_responses"], n, "{times} {r:?}");
        assert_eq!(t["first_response_mean_s"], mean(fr_sum, n));
        assert_eq!(t["first_response_median_s"], quantile(&r.first_responses, 0.5));
        assert_eq!(t["first_response_p90_s"], quantile(&r.first_responses, 0.9));
        assert_eq!(t["sla_targeted"], r.sla_targeted);
        assert_eq!(t["sla_met"], r.sla_met);
        let res_sum: i64 = r.resolutions.iter().sum();
        assert_eq!(t["resolution_mean_s"], mean(res_sum, r.resolved));
        assert_eq!(t["resolution_median_s"], quantile(&r.resolutions, 0.5));
        assert_eq!(t["resolution_p90_s"], quantile(&r.resolutions, 0.9));
        let handled: i64 = r.handled.values().sum();
        let handle_ms: i64 = r.handle_ms.values().sum();
        assert_eq!(t["handled"], handled);
        assert_eq!(t["handle_time_mean_s"], mean(handle_ms, handled));

        let (status, agents) = app.get(&format!("/api/v1/reports/agents?{q}"), bruno).await;
        assert_eq!(status, 200, "{agents}");
        for row in agents["agents"].as_array().unwrap() {
            let id = row["agent_id"].as_str().unwrap();
            let h = r.handled.get(id).copied().unwrap_or(0);
            assert_eq!(row["handled"], h, "{agents} {r:?}");
            assert_eq!(row["handle_time_mean_s"], mean(r.handle_ms.get(id).copied().unwrap_or(0), h));
            assert_eq!(row["resolved"], r.resolved_by.get(id).copied().unwrap_or(0));
            assert!(row["name"].is_string());
        }
        assert_eq!(agents["agents"].as_array().unwrap().len(), r.handled.len(), "{agents}");
    }
}

fn utc(rfc3339: &str) -> OffsetDateTime {
    OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339).unwrap()
}

fn ticket_at(conversation: schema::ConversationId, queue: &str, at: OffsetDateTime) -> Ticket {
    Ticket {
        id: TicketId::new(),
        conversation_id: conversation,
        channel: Channel::WebChat,
        status: TicketStatus::Queued,
        priority: Priority::default(),
        queue: queue.parse::<QueueName>().unwrap(),
        skills: Vec::new(),
        escalation: Vec::new(),
        tags: std::collections::BTreeSet::new(),
        rule: None,
        summary: None,
        assignee_id: None,
        offered_to: None,
        offer_expires_at: None,
        queued_at: at,
        first_response_due: None,
        created_at: at,
        updated_at: at,
    }
}

/// Opens a ticket at `at` and ends it `after` later: resolved, or closed unanswered (a caller
/// hanging up in the queue).
async fn ticket_between(store: &Store, at: OffsetDateTime, after: time::Duration, abandoned: bool) {
    let (_, conversation) = store
        .create_customer_with_conversation(NewCustomer::default(), Channel::WebChat, ConversationStatus::Queued)
        .await
        .unwrap();
    let mut ticket = ticket_at(conversation.id, "general", at);
    let line = |t: &Ticket, kind: &str, at| TicketEvent {
        ticket_id: t.id,
        actor: Actor::System,
        kind: kind.into(),
        detail: json!({"queue": "general"}),
        at,
    };
    let queued = schema::ConversationChange { status: ConversationStatus::Queued, assignee_id: None };
    store.create_ticket(&ticket, &line(&ticket, "created", at), queued).await.unwrap();
    let end = at + after;
    ticket.status = if abandoned { TicketStatus::Closed } else { TicketStatus::Resolved };
    ticket.updated_at = end;
    let kind = if abandoned { "abandoned" } else { "resolved" };
    let done = schema::ConversationChange {
        status: if abandoned { ConversationStatus::Closed } else { ConversationStatus::Resolved },
        assignee_id: None,
    };
    store.update_ticket(&ticket, &[line(&ticket, kind, end)], Some(done)).await.unwrap();
}

async fn buckets_follow_the_time_zone_across_the_dst_change(backend: Backend) {
    let app = tests::spawn_app(backend).await;
    let store =
        Store::connect(&app.db.url, &StoreOptions { max_connections: 2, ..StoreOptions::default() }).await.unwrap();
    // Madrid, 25 October 2026: 03:00 CEST becomes 02:00 CET, so 02:30 happens twice.
    ticket_between(&store, utc("2026-10-24T22:30:00Z"), time::Duration::minutes(5), false).await; // 00:30 CEST
    ticket_between(&store, utc("2026-10-25T00:30:00Z"), time::Duration::minutes(20), false).await; // 02:30 CEST
    ticket_between(&store, utc("2026-10-25T01:30:00Z"), time::Duration::minutes(10), true).await; // 02:30 CET
    ticket_between(&store, utc("2026-10-25T22:59:00Z"), time::Duration::seconds(30), false).await; // 23:59 CET
    let supervisor = app.login(BRUNO).await;

    let (status, day) =
        app.get("/api/v1/reports/volume?from=2026-10-25&to=2026-10-25&tz=Europe/Madrid&bucket=hour", &supervisor).await;
    assert_eq!(status, 200, "{day}");
    assert_eq!(day["from"], "2026-10-25T00:00:00+02:00");
    assert_eq!(day["to"], "2026-10-26T00:00:00+01:00");
    let series = day["series"].as_array().unwrap();
    assert_eq!(series.len(), 25, "the day has 25 hours: {day}");
    let new: Vec<i64> = series.iter().map(|p| p["new"].as_i64().unwrap()).collect();
    let mut want = vec![0; 25];
    (want[0], want[2], want[3], want[24]) = (1, 1, 1, 1);
    assert_eq!(new, want, "{day}");
    assert_eq!(series[2]["start"], "2026-10-25T02:00:00+02:00");
    assert_eq!(series[3]["start"], "2026-10-25T02:00:00+01:00");
    assert_eq!((series[2]["resolved"].as_i64(), series[3]["abandoned"].as_i64()), (Some(1), Some(1)));
    assert_eq!(day["totals"]["new"], 4);
    assert_eq!(day["totals"]["resolved"], 3);
    assert_eq!(day["totals"]["abandoned"], 1);

    // The same tickets by UTC day: the first falls on the 24th.
    let (status, utc) =
        app.get("/api/v1/reports/volume?from=2026-10-24&to=2026-10-25&tz=UTC&bucket=day", &supervisor).await;
    assert_eq!(status, 200, "{utc}");
    let new: Vec<i64> = utc["series"].as_array().unwrap().iter().map(|p| p["new"].as_i64().unwrap()).collect();
    assert_eq!(new, [1, 3], "{utc}");

    // Resolution times: 30 s, 5 and 20 minutes; the median is the 5 minutes' bin.
    let (status, times) =
        app.get("/api/v1/reports/times?from=2026-10-25&to=2026-10-25&tz=Europe/Madrid&bucket=day", &supervisor).await;
    assert_eq!(status, 200, "{times}");
    let median = times["totals"]["resolution_median_s"].as_f64().unwrap();
    assert!((median - 300.0).abs() <= 300.0 * 0.091, "{times}");
    assert_eq!(times["totals"]["resolution_mean_s"], json!(510.0), "(300 + 1200 + 30) / 3 s: {times}");
    assert_eq!(times["series"][0]["start"], "2026-10-25T00:00:00+02:00");
}

async fn reports_are_for_supervisors_and_refuse_bad_parameters(backend: Backend) {
    let app = tests::spawn_app(backend).await;
    let agent = app.login(ANA).await;
    let admin = app.login(ADMIN).await;
    let (status, _) = app.get("/api/v1/reports/volume", &agent).await;
    assert_eq!(status, 403);
    let (status, body) = app.get("/api/v1/reports/agents", &admin).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["series"].as_array().unwrap().len(), 8, "the last 7 days by default, by day: {body}");
    for (query, field) in [
        ("from=2020-01-01&to=2026-01-01", "to"),
        ("from=2026-01-02&to=2026-01-01", "to"),
        ("from=yesterday", "from"),
        ("tz=Mars/Olympus", "tz"),
        ("bucket=minute", "bucket"),
        ("from=2026-01-01&to=2026-06-01&bucket=hour", "bucket"),
        ("channel=pigeon", "channel"),
        ("format=xlsx", "format"),
    ] {
        let (status, body) = app.get(&format!("/api/v1/reports/times?{query}"), &admin).await;
        assert_eq!(status, 422, "{query}: {body}");
        assert_eq!(body["error"]["field"], field, "{query}: {body}");
    }
    let (status, _) = app.get("/api/v1/reports/times?colour=blue", &admin).await;
    assert!(status == 400 || status == 422, "unknown parameters are refused: {status}");
}
