//! Reports: figures from the rollups checked against a recount of the raw rows (tickets, their
//! history, messages, conversations; the bot's answers, verdicts, unanswered questions) after
//! traffic through the hub; time-zone buckets across Madrid's DST change; roles, CSV and bad
//! parameters.

use std::collections::BTreeMap;
use std::time::Duration;

use schema::reports::{RETURN_WINDOW_MS, bin_value_ms, duration_bin, normalise_question, returns};
use schema::{
    Actor, AgentId, Channel, ConversationStatus, NewCustomer, Presence, Store, StoreOptions, TeamName, Ticket,
    TicketEvent, TicketStatus,
};
use serde_json::{Value, json};
use sqlx::Row;
use tests::{ADMIN, ANA, BRUNO, Backend, OTTO, TINA, TestApp, TestDb, both_backends, spawn_app_with, test_config};
use time::OffsetDateTime;

use crate::bot::{ask, bot_app};
use crate::poll_until;

both_backends!(
    figures_match_a_recount_of_the_raw_rows,
    buckets_follow_the_time_zone_across_the_dst_change,
    reports_are_for_supervisors_and_refuse_bad_parameters,
    bot_figures_match_a_recount_of_the_raw_rows,
    presence_times_occupancy_and_teams_match_a_recount,
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

/// Opens a ticket at `at` and ends it `after` later: resolved, or closed unanswered (a caller
/// hanging up in the queue).
async fn ticket_between(store: &Store, at: OffsetDateTime, after: time::Duration, abandoned: bool) {
    let (_, conversation) = store
        .create_customer_with_conversation(NewCustomer::default(), Channel::WebChat, ConversationStatus::Queued)
        .await
        .unwrap();
    let mut ticket = tests::queued_ticket(conversation.id, "general", at);
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
    // The day's histogram, summed by the store over the 25-hour day, is the totals' one.
    assert_eq!(times["series"].as_array().unwrap().len(), 1, "{times}");
    assert_eq!(times["series"][0]["resolution_median_s"], times["totals"]["resolution_median_s"], "{times}");
    assert_eq!(times["series"][0]["resolution_p90_s"], times["totals"]["resolution_p90_s"], "{times}");
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

/// What the bot report's recount finds in the raw rows (docs/reports.md, "Bot").
#[derive(Debug, Default)]
struct BotRecount {
    conversations: i64,
    answers: i64,
    handed_over: i64,
    returned: i64,
    pending: i64,
    contained: i64,
    /// By reason: asked_for_human, low_confidence, repeated_failure, always_human, other.
    handovers: BTreeMap<String, i64>,
    right: i64,
    wrong: i64,
    unanswered: i64,
    /// Normalised question → how many.
    topics: BTreeMap<String, i64>,
}

/// Recomputes the bot report from `bot_answers`, `bot_unanswered`, `tickets`, `messages` and
/// `conversations`, by the definitions (not the rollups' bookkeeping columns).
async fn bot_recount(app: &TestApp, now_ms: i64) -> BotRecount {
    sqlx::any::install_default_drivers();
    let pool = sqlx::any::AnyPoolOptions::new().max_connections(1).connect(&app.db.url).await.unwrap();
    let mut r = BotRecount::default();
    let mut answers: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for a in sqlx::query("SELECT conversation_id, created_at, verdict FROM bot_answers ORDER BY created_at")
        .fetch_all(&pool)
        .await
        .unwrap()
    {
        r.answers += 1;
        match a.get::<Option<String>, _>("verdict").as_deref() {
            Some("right") => r.right += 1,
            Some("wrong") => r.wrong += 1,
            _ => {}
        }
        answers.entry(a.get("conversation_id")).or_default().push(a.get("created_at"));
    }
    for u in sqlx::query("SELECT question FROM bot_unanswered").fetch_all(&pool).await.unwrap() {
        r.unanswered += 1;
        *r.topics.entry(normalise_question(&u.get::<String, _>("question"))).or_default() += 1;
    }
    for t in sqlx::query("SELECT conversation_id, tags, created_at FROM tickets").fetch_all(&pool).await.unwrap() {
        let tags: Vec<String> = serde_json::from_str(&t.get::<String, _>("tags")).unwrap();
        let at: i64 = t.get("created_at");
        let reason = tags.iter().find_map(|t| t.strip_prefix("bot:").map(str::to_owned)).or_else(|| {
            answers.get(&t.get::<String, _>("conversation_id")).filter(|a| a[0] <= at).map(|_| "other".to_owned())
        });
        if let Some(reason) = reason {
            *r.handovers.entry(reason).or_default() += 1;
        }
    }
    for (conversation, times) in &answers {
        r.conversations += 1;
        let first = times[0];
        let handed: Option<i64> =
            sqlx::query("SELECT MIN(created_at) AS at FROM tickets WHERE conversation_id = $1 AND created_at >= $2")
                .bind(conversation)
                .bind(first)
                .fetch_one(&pool)
                .await
                .unwrap()
                .get("at");
        let customer: String = sqlx::query("SELECT customer_id FROM conversations WHERE id = $1")
            .bind(conversation)
            .fetch_one(&pool)
            .await
            .unwrap()
            .get("customer_id");
        let came_back = sqlx::query(
            "SELECT m.conversation_id, m.created_at FROM messages m JOIN conversations c ON c.id = m.conversation_id \
             WHERE c.customer_id = $1 AND m.author = 'customer' ORDER BY m.created_at",
        )
        .bind(&customer)
        .fetch_all(&pool)
        .await
        .unwrap()
        .iter()
        .map(|m| (m.get::<String, _>("conversation_id"), m.get::<i64, _>("created_at")))
        .find(|(c, at)| *at >= first && returns(times, *at, c == conversation))
        .map(|(_, at)| at);
        match (handed, came_back) {
            (Some(h), Some(b)) if b < h => r.returned += 1,
            (Some(_), _) => r.handed_over += 1,
            (None, Some(_)) => r.returned += 1,
            (None, None) if times[times.len() - 1] > now_ms - RETURN_WINDOW_MS => r.pending += 1,
            (None, None) => r.contained += 1,
        }
    }
    r
}

/// A web chat session: (visitor token, conversation id, customer id).
async fn session(app: &TestApp, language: &str) -> (String, String, String) {
    let res = app
        .http
        .post(app.url("/api/v1/webchat/sessions"))
        .json(&json!({"name": "Chris Customer", "language": language}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    let s = |k: &str| body[k].as_str().unwrap().to_owned();
    (s("token"), s("conversation_id"), s("customer_id"))
}

/// The bot report's totals over `range`, in two zones and with filters, against the recount.
async fn check_bot_report(app: &TestApp, bruno: &str, r: &BotRecount, range: &str) {
    for tz in ["UTC", "Asia/Kathmandu"] {
        let (status, bot) = app.get(&format!("/api/v1/reports/bot?{range}&tz={tz}&bucket=hour"), bruno).await;
        assert_eq!(status, 200, "{bot}");
        let t = &bot["totals"];
        let want = [
            ("conversations", r.conversations),
            ("answers", r.answers),
            ("handed_over", r.handed_over),
            ("returned", r.returned),
            ("pending", r.pending),
            ("contained", r.contained),
            ("verdict_right", r.right),
            ("verdict_wrong", r.wrong),
            ("unanswered", r.unanswered),
            ("handovers", r.handovers.values().sum()),
        ];
        for (measure, n) in want {
            assert_eq!(t[measure], n, "{measure} in {tz}: {bot} {r:?}");
            let summed: i64 = bot["series"].as_array().unwrap().iter().map(|p| p[measure].as_i64().unwrap()).sum();
            assert_eq!(summed, n, "{measure}: the series adds up to the totals in {tz}");
        }
        for reason in ["asked_for_human", "low_confidence", "repeated_failure", "always_human", "other"] {
            assert_eq!(
                t[format!("handovers_{reason}")],
                r.handovers.get(reason).copied().unwrap_or(0),
                "{reason}: {bot}"
            );
        }
        let decided = r.contained + r.handed_over + r.returned;
        #[allow(clippy::cast_precision_loss)]
        let rate = if decided == 0 {
            Value::Null
        } else {
            json!(((r.contained as f64 / decided as f64) * 10_000.0).round() / 10_000.0)
        };
        assert_eq!(t["containment_rate"], rate, "{bot}");
        // The top topics: most asked first, the counts of the recount.
        let topics = bot["top_unanswered"]["topics"].as_array().unwrap();
        assert_eq!(topics.len(), r.topics.len().min(10), "{bot}");
        for topic in topics {
            assert_eq!(topic["count"], r.topics[topic["topic"].as_str().unwrap()], "{topic}");
        }
        assert_eq!(bot["top_unanswered"]["truncated"], false);
    }
    // Filters: the one language and channel of the traffic hold it all; another holds nothing.
    let (_, en) = app.get(&format!("/api/v1/reports/bot?{range}&channel=webchat&language=en"), bruno).await;
    assert_eq!(en["totals"]["answers"], r.answers, "{en}");
    assert_eq!(en["totals"]["conversations"], r.conversations, "{en}");
    let (_, es) = app.get(&format!("/api/v1/reports/bot?{range}&language=es"), bruno).await;
    assert_eq!((es["totals"]["answers"].as_i64(), es["totals"]["unanswered"].as_i64()), (Some(0), Some(0)), "{es}");
    assert!(es["top_unanswered"]["topics"].as_array().unwrap().is_empty(), "{es}");
    let (_, email) = app.get(&format!("/api/v1/reports/bot?{range}&channel=email"), bruno).await;
    assert_eq!(email["totals"]["conversations"], 0, "{email}");
}

async fn bot_figures_match_a_recount_of_the_raw_rows(backend: Backend) {
    let app = bot_app(backend).await;
    let bruno = app.login(BRUNO).await;
    let tina = app.login(TINA).await;
    let roaming = "how do I turn on roaming?";
    let answered = |m: &Value| {
        assert!(m["text"].as_str().unwrap().to_lowercase().contains("roaming"), "{m}");
        m["id"].as_str().unwrap().to_owned()
    };

    // A: asks twice in a row, answered twice (the second within 30 minutes: no return).
    let (visitor, a, _) = session(&app, "en").await;
    let mut ws = app.customer_socket(&visitor, None).await;
    let a1 = answered(&ask(&mut ws, "a1", roaming).await);
    answered(&ask(&mut ws, "a2", roaming).await);
    // B: answered, then a refund: a person always handles those.
    let (visitor, _, _) = session(&app, "en").await;
    let mut ws = app.customer_socket(&visitor, None).await;
    let b1 = answered(&ask(&mut ws, "b1", roaming).await);
    let reply = ask(&mut ws, "b2", "I want a refund for last month").await;
    assert!(reply["text"].as_str().unwrap().contains("connecting you with an agent"), "{reply}");
    // C: asks for a person at once (no bot answer: a hand-over, not a bot conversation).
    let (visitor, _, _) = session(&app, "en").await;
    let mut ws = app.customer_socket(&visitor, None).await;
    let reply = ask(&mut ws, "c1", "agent please").await;
    assert!(reply["text"].as_str().unwrap().contains("connecting you with an agent"), "{reply}");
    // D: nothing in the knowledge base: a clarifying question, then a hand-over; queued twice.
    for (i, question) in
        ["Do you sell refurbished Nokia 3310 phones?", "do you sell REFURBISHED nokia 3310 phones"].iter().enumerate()
    {
        let (visitor, _, _) = session(&app, "en").await;
        let mut ws = app.customer_socket(&visitor, None).await;
        ask(&mut ws, &format!("d{i}"), question).await;
        ask(&mut ws, &format!("d{i}b"), "no").await;
    }
    // E: answered, then a supervisor takes it over (a hand-over the bot did not decide).
    let (visitor, e, _) = session(&app, "en").await;
    let mut ws = app.customer_socket(&visitor, None).await;
    answered(&ask(&mut ws, "e1", roaming).await);
    let (status, ticket) = app.post(&format!("/api/v1/conversations/{e}/handover"), &bruno, &json!({})).await;
    assert_eq!(status, 201, "{ticket}");
    // F: answered; the same customer comes back in a new chat (staff merge the two customers
    // before the first message there): F returned.
    let (visitor, _, f_customer) = session(&app, "en").await;
    let mut ws = app.customer_socket(&visitor, None).await;
    answered(&ask(&mut ws, "f1", roaming).await);
    let (visitor, _, g_customer) = session(&app, "en").await;
    let (status, merged) =
        app.post(&format!("/api/v1/customers/{f_customer}/merge"), &bruno, &json!({"from": g_customer})).await;
    assert_eq!(status, 200, "{merged}");
    let mut ws = app.customer_socket(&visitor, None).await;
    answered(&ask(&mut ws, "g1", roaming).await);

    // Trainers judge: A's answer right, then wrong (the count moves); B's right.
    for (answer, verdict) in [(&a1, "right"), (&b1, "right"), (&a1, "wrong")] {
        let (status, judged) =
            app.put(&format!("/api/v1/bot/answers/{answer}/verdict"), &tina, &json!({"verdict": verdict})).await;
        assert_eq!(status, 200, "{judged}");
    }

    // A happened more than a day ago (its rows moved back 25 hours): contained, not pending.
    sqlx::any::install_default_drivers();
    let pool = sqlx::any::AnyPoolOptions::new().max_connections(1).connect(&app.db.url).await.unwrap();
    let day = 25 * 3_600_000_i64;
    for sql in [
        "UPDATE conversations SET created_at = created_at - $2, bot_first_answer_at = bot_first_answer_at - $2, \
         bot_last_answer_at = bot_last_answer_at - $2 WHERE id = $1",
        "UPDATE messages SET created_at = created_at - $2 WHERE conversation_id = $1",
        "UPDATE bot_answers SET created_at = created_at - $2 WHERE conversation_id = $1",
    ] {
        sqlx::query(sql).bind(&a).bind(day).execute(&pool).await.unwrap();
    }

    let now = OffsetDateTime::now_utc();
    let r = bot_recount(&app, now.unix_timestamp() * 1000).await;
    // The traffic did what it was meant to.
    assert_eq!((r.conversations, r.returned, r.contained), (5, 1, 1), "{r:?}");
    assert!(r.handed_over >= 2 && r.pending >= 1, "{r:?}");
    assert_eq!((r.right, r.wrong), (1, 1), "{r:?}");
    assert!(r.handovers.get("always_human") >= Some(&1), "{r:?}");
    assert!(r.handovers.get("asked_for_human") >= Some(&1), "{r:?}");
    assert_eq!(r.handovers.get("other"), Some(&1), "{r:?}");
    assert_eq!(r.topics.get("do you sell refurbished nokia 3310 phones"), Some(&2), "{r:?}");
    let fmt = |t: OffsetDateTime| t.format(&time::format_description::well_known::Rfc3339).unwrap();
    let range = format!("from={}&to={}", fmt(now - time::Duration::hours(27)), fmt(now + time::Duration::hours(1)));
    check_bot_report(&app, &bruno, &r, &range).await;

    // Bot traffic has no queue, agent or tier: those filters are refused.
    for (query, field) in [("queue=general", "queue"), ("tier=gold", "tier"), ("agent=x", "agent")] {
        let (status, body) = app.get(&format!("/api/v1/reports/bot?{query}"), &bruno).await;
        assert_eq!((status, body["error"]["field"].as_str()), (422, Some(field)), "{query}: {body}");
    }
    let (status, body) = app.get("/api/v1/reports/hourly", &bruno).await;
    assert_eq!(status, 400, "{body}");
    // CSV: a line per bucket.
    let res = app
        .http
        .get(app.url(&format!("/api/v1/reports/bot?{range}&bucket=day&format=csv")))
        .bearer_auth(&bruno)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-disposition"].to_str().unwrap().contains("bot.csv"));
    let csv = res.text().await.unwrap();
    let header = csv.lines().next().unwrap();
    assert!(header.split(',').any(|h| h == "start") && header.contains("containment_rate"), "{csv}");
    assert!((2..=3).contains(&(csv.lines().count() - 1)), "{csv}");

    // A store from before the bot rollups: the backfill counts it all, once, to the same figures.
    sqlx::query("DELETE FROM bot_rollups").execute(&pool).await.unwrap();
    sqlx::query(
        "UPDATE conversations SET bot_first_answer_at = NULL, bot_last_answer_at = NULL, bot_outcome = NULL, \
         bot_outcome_at = NULL",
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query("UPDATE bot_answers SET counted = 0").execute(&pool).await.unwrap();
    sqlx::query("UPDATE settings SET value = $1 WHERE key = 'reports.bot_counted_since'")
        .bind(((now + time::Duration::hours(1)).unix_timestamp() * 1000).to_string())
        .execute(&pool)
        .await
        .unwrap();
    let (_, empty) = app.get(&format!("/api/v1/reports/bot?{range}"), &bruno).await;
    assert_eq!(empty["totals"]["answers"], 0, "{empty}");
    let store =
        Store::connect(&app.db.url, &StoreOptions { max_connections: 2, ..StoreOptions::default() }).await.unwrap();
    let counted = store.backfill_bot_reports().await.unwrap();
    assert_eq!(counted, Some((u64::try_from(r.answers).unwrap(), 5)));
    check_bot_report(&app, &bruno, &r, &range).await;
    assert_eq!(store.backfill_bot_reports().await.unwrap(), None, "once only");
}

fn at_ms(rfc3339: &str) -> i64 {
    i64::try_from(utc(rfc3339).unix_timestamp_nanos() / 1_000_000).unwrap()
}

/// A ticket `agent` holds from `from` to `to` (assigned, then resolved): `to - from` of handle
/// time, counted when the stretch ends.
async fn handled_by(store: &Store, agent: AgentId, from: &str, to: &str) {
    let (_, conversation) = store
        .create_customer_with_conversation(NewCustomer::default(), Channel::WebChat, ConversationStatus::Queued)
        .await
        .unwrap();
    let (from, to) = (utc(from), utc(to));
    let mut ticket = tests::queued_ticket(conversation.id, "general", from);
    let line = |t: &Ticket, kind: &str, detail: Value, at| TicketEvent {
        ticket_id: t.id,
        actor: Actor::System,
        kind: kind.into(),
        detail,
        at,
    };
    let queued = schema::ConversationChange { status: ConversationStatus::Queued, assignee_id: None };
    store.create_ticket(&ticket, &line(&ticket, "created", json!({"queue": "general"}), from), queued).await.unwrap();
    ticket.status = TicketStatus::Assigned;
    ticket.assignee_id = Some(agent);
    let assigned = schema::ConversationChange { status: ConversationStatus::Assigned, assignee_id: Some(agent) };
    let event = line(&ticket, "assigned", json!({"agent_id": agent}), from);
    store.update_ticket(&ticket, &[event], Some(assigned)).await.unwrap();
    ticket.status = TicketStatus::Resolved;
    ticket.updated_at = to;
    let done = schema::ConversationChange { status: ConversationStatus::Resolved, assignee_id: Some(agent) };
    store.update_ticket(&ticket, &[line(&ticket, "resolved", json!({}), to)], Some(done)).await.unwrap();
}

/// Presence times per agent recounted from the raw presence records over `[from, to)`: each
/// change starts an interval that the agent's next change ends (one still open ends at `now`).
/// Returns agent -> [available, busy, away] ms.
async fn presence_recount(app: &TestApp, from: i64, to: i64, now: i64) -> BTreeMap<String, [i64; 3]> {
    sqlx::any::install_default_drivers();
    let pool = sqlx::any::AnyPoolOptions::new().max_connections(1).connect(&app.db.url).await.unwrap();
    let rows = sqlx::query("SELECT agent_id, presence, at FROM presence_events ORDER BY agent_id, at, id")
        .fetch_all(&pool)
        .await
        .unwrap();
    let events: Vec<(String, String, i64)> =
        rows.iter().map(|r| (r.get("agent_id"), r.get("presence"), r.get("at"))).collect();
    let mut out: BTreeMap<String, [i64; 3]> = BTreeMap::new();
    for (i, (agent, presence, start)) in events.iter().enumerate() {
        let end = match events.get(i + 1) {
            Some((next, _, at)) if next == agent => *at,
            _ => now,
        };
        let spent = (end.min(to) - (*start).max(from)).max(0);
        let slot = match presence.as_str() {
            "available" => 0,
            "busy" => 1,
            "away" => 2,
            _ => continue,
        };
        out.entry(agent.clone()).or_default()[slot] += spent;
    }
    out
}

/// Handle time per agent recounted from the raw history: each ticket from its `assigned` line
/// to its `resolved` line, counted when it ends within `[from, to)`.
async fn handle_recount(app: &TestApp, from: i64, to: i64) -> BTreeMap<String, i64> {
    let pool = sqlx::any::AnyPoolOptions::new().max_connections(1).connect(&app.db.url).await.unwrap();
    let rows = sqlx::query(
        "SELECT a.detail AS detail, a.at AS start, r.at AS stop FROM ticket_events a \
         JOIN ticket_events r ON r.ticket_id = a.ticket_id AND r.kind = 'resolved' WHERE a.kind = 'assigned'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let mut out = BTreeMap::new();
    for row in rows {
        let detail: Value = serde_json::from_str(&row.get::<String, _>("detail")).unwrap();
        let (start, stop): (i64, i64) = (row.get("start"), row.get("stop"));
        if (from..to).contains(&stop) {
            *out.entry(detail["agent_id"].as_str().unwrap().to_owned()).or_default() += stop - start;
        }
    }
    out
}

/// Occupancy as the report rounds it: handle time over available and busy time.
#[allow(clippy::cast_precision_loss)]
fn occupancy(handle_ms: i64, times: [i64; 3]) -> Value {
    let staffed = times[0] + times[1];
    if staffed == 0 { Value::Null } else { json!(((handle_ms as f64 / staffed as f64) * 10_000.0).round() / 10_000.0) }
}

/// A report point's or row's presence times: [available, busy, away] ms.
fn times_of(v: &Value) -> [i64; 3] {
    ["available_ms", "busy_ms", "away_ms"].map(|m| v[m].as_i64().unwrap_or_else(|| panic!("{m} in {v}")))
}

fn now_ms() -> i64 {
    i64::try_from(OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).unwrap()
}

/// The agents report's rows by agent id.
fn rows_by_agent(report: &Value) -> BTreeMap<String, Value> {
    report["agents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["agent_id"].as_str().unwrap().to_owned(), r.clone()))
        .collect()
}

async fn presence_times_occupancy_and_teams_match_a_recount(backend: Backend) {
    let app = tests::spawn_app(backend).await;
    let store =
        Store::connect(&app.db.url, &StoreOptions { max_connections: 2, ..StoreOptions::default() }).await.unwrap();
    let bruno = app.login(BRUNO).await;
    let admin = app.login(ADMIN).await;
    let ana: AgentId = app.me(&app.login(ANA).await).await.parse().unwrap();
    let dora: AgentId = app.me(&admin).await.parse().unwrap();
    for id in [ana, dora] {
        let (status, body) = app.put(&format!("/api/v1/agents/{id}/routing"), &bruno, &json!({"skills": {}})).await;
        assert_eq!(status, 200, "{body}");
    }
    let team = |name: &str| name.parse::<TeamName>().unwrap();

    // Teams over time (the store's clock, as the other tests here): Ana is in "north" from 09:00
    // and moves to "south" at 10:00; the admin is in "south" from 09:00.
    store.set_agent_team(ana, Some(&team("north")), at_ms("2026-11-02T09:03:00Z")).await.unwrap();
    store.set_agent_team(dora, Some(&team("south")), at_ms("2026-11-02T09:00:00Z")).await.unwrap();
    let before = store.set_agent_team(ana, Some(&team("south")), at_ms("2026-11-02T10:00:00Z")).await.unwrap();
    assert_eq!(before, Some(team("north")));

    // Presence across quarter-hour and hour boundaries.
    let presence = |agent, p, at: &str| {
        let store = store.clone();
        let at = at_ms(at);
        async move { assert!(store.set_presence(agent, p, at).await.unwrap()) }
    };
    presence(ana, Presence::Available, "2026-11-02T09:05:00Z").await;
    presence(ana, Presence::Busy, "2026-11-02T09:20:00Z").await;
    presence(ana, Presence::Away, "2026-11-02T09:50:00Z").await;
    presence(ana, Presence::Available, "2026-11-02T10:07:30Z").await;
    presence(ana, Presence::Offline, "2026-11-02T10:40:00Z").await;
    presence(dora, Presence::Available, "2026-11-02T09:10:00Z").await;
    presence(dora, Presence::Busy, "2026-11-02T09:44:10Z").await;
    presence(dora, Presence::Offline, "2026-11-02T10:31:00Z").await;
    assert!(!store.set_presence(dora, Presence::Offline, at_ms("2026-11-02T10:32:00Z")).await.unwrap(), "no change");
    // A node dies with Ana available at 11:00; its last heartbeat was at 11:05: the next start
    // closes her interval there.
    presence(ana, Presence::Available, "2026-11-02T11:00:00Z").await;
    store.presence_heartbeat(&[ana], at_ms("2026-11-02T11:05:00Z")).await.unwrap();
    assert_eq!(store.close_open_presence().await.unwrap(), 1);
    // Tickets: Ana 09:25-09:40 (in north) and 10:10-10:20 (in south), the admin 09:15-09:30.
    handled_by(&store, ana, "2026-11-02T09:25:00Z", "2026-11-02T09:40:00Z").await;
    handled_by(&store, ana, "2026-11-02T10:10:00Z", "2026-11-02T10:20:00Z").await;
    handled_by(&store, dora, "2026-11-02T09:15:00Z", "2026-11-02T09:30:00Z").await;

    let (from, to) = (at_ms("2026-11-02T00:00:00Z"), at_ms("2026-11-03T00:00:00Z"));
    let now = now_ms();
    let recount = presence_recount(&app, from, to, now).await;
    let handle = handle_recount(&app, from, to).await;
    let (ana_id, dora_id) = (ana.to_string(), dora.to_string());
    // Known by construction too: Ana available 15 + 32.5 + 5 min, busy 30, away 17.5.
    assert_eq!(recount[&ana_id], [3_150_000, 1_800_000, 1_050_000], "{recount:?}");
    assert_eq!(recount[&dora_id], [2_050_000, 2_810_000, 0], "{recount:?}");

    let q = "from=2026-11-02&to=2026-11-02&tz=UTC&bucket=hour";
    let (status, report) = app.get(&format!("/api/v1/reports/agents?{q}"), &bruno).await;
    assert_eq!(status, 200, "{report}");
    let rows = rows_by_agent(&report);
    let mut totals = [0_i64; 3];
    let mut handle_total = 0;
    for (id, times) in &recount {
        let row = &rows[id];
        assert_eq!(times_of(row), *times, "{row}");
        let h = handle.get(id).copied().unwrap_or(0);
        assert_eq!(row["occupancy"], occupancy(h, *times), "{row}");
        for (t, v) in totals.iter_mut().zip(times) {
            *t += v;
        }
        handle_total += h;
    }
    assert_eq!(rows[&ana_id]["team"], "south", "the current team: {report}");
    let t = &report["totals"];
    assert_eq!(times_of(t), totals, "{report}");
    assert_eq!(t["occupancy"], occupancy(handle_total, totals), "{report}");
    // Hour by hour: 09:00-10:00 holds Ana's 15 min available, 30 busy, 10 away.
    let series = report["series"].as_array().unwrap();
    assert_eq!(series.len(), 24);
    let (_, only_ana) = app.get(&format!("/api/v1/reports/agents?{q}&agent={ana_id}"), &bruno).await;
    let hours = only_ana["series"].as_array().unwrap();
    assert_eq!(times_of(&hours[9]), [900_000, 1_800_000, 600_000], "{only_ana}");
    assert_eq!(times_of(&hours[10]), [1_950_000, 0, 450_000], "{only_ana}");
    assert_eq!(times_of(&hours[11]), [300_000, 0, 0], "{only_ana}");
    assert_eq!(times_of(&only_ana["totals"]), recount[&ana_id]);
    let summed: i64 = series.iter().map(|p| p["busy_ms"].as_i64().unwrap()).sum();
    assert_eq!(summed, totals[1]);
    // CSV: one line per agent with the new columns.
    let res = app
        .http
        .get(app.url(&format!("/api/v1/reports/agents?{q}&format=csv")))
        .bearer_auth(&bruno)
        .send()
        .await
        .unwrap();
    let csv = res.text().await.unwrap();
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    for column in ["team", "available_ms", "busy_ms", "away_ms", "occupancy"] {
        assert!(header.contains(&column), "{csv}");
    }

    // Team "north": Ana's figures while she was in it (09:00-10:00) only; the admin's never.
    let (status, north) = app.get(&format!("/api/v1/reports/agents?{q}&team=north"), &bruno).await;
    assert_eq!(status, 200, "{north}");
    let rows = rows_by_agent(&north);
    assert_eq!(rows.keys().collect::<Vec<_>>(), [&ana_id], "{north}");
    let ana_north = [900_000, 1_800_000, 600_000];
    assert_eq!(times_of(&north["totals"]), ana_north, "{north}");
    assert_eq!(north["totals"]["handled"], 1, "{north}");
    assert_eq!(north["totals"]["handle_time_s"], json!(900.0));
    assert_eq!(north["totals"]["occupancy"], occupancy(900_000, ana_north));
    // Team "south": the admin all day and Ana from 10:00; the recount restricted the same way.
    let (status, south) = app.get(&format!("/api/v1/reports/agents?{q}&team=south"), &bruno).await;
    assert_eq!(status, 200, "{south}");
    let ana_south = presence_recount(&app, at_ms("2026-11-02T10:00:00Z"), to, now).await[&ana_id];
    let want: [i64; 3] = std::array::from_fn(|i| recount[&dora_id][i] + ana_south[i]);
    assert_eq!(times_of(&south["totals"]), want, "{south}");
    assert_eq!(south["totals"]["handled"], 2, "{south}");
    let (_, times) = app.get(&format!("/api/v1/reports/times?{q}&team=south"), &bruno).await;
    assert_eq!(times["totals"]["handled"], 2, "{times}");
    assert_eq!(times["totals"]["resolved"], 2, "{times}");
    let (_, volume) = app.get(&format!("/api/v1/reports/volume?{q}&team=north"), &bruno).await;
    assert_eq!(
        (volume["totals"]["new"].as_i64(), volume["totals"]["resolved"].as_i64()),
        (Some(0), Some(1)),
        "{volume}"
    );
    // Unknown and malformed teams are refused, naming the parameter.
    for bad in ["west", "North%20Side"] {
        let (status, body) = app.get(&format!("/api/v1/reports/agents?{q}&team={bad}"), &bruno).await;
        assert_eq!(status, 422, "{bad}: {body}");
        assert_eq!(body["error"]["field"], "team", "{body}");
    }

    // An interval still open counts up to now.
    let twenty_min_ago = OffsetDateTime::now_utc() - time::Duration::minutes(20);
    let ago = i64::try_from(twenty_min_ago.unix_timestamp_nanos() / 1_000_000).unwrap();
    store.set_presence(dora, Presence::Busy, ago).await.unwrap();
    let (_, live) = app.get(&format!("/api/v1/reports/agents?agent={dora_id}"), &bruno).await;
    let busy = live["totals"]["busy_ms"].as_i64().unwrap();
    assert!((1_200_000..1_260_000).contains(&busy), "{live}");
    store.set_presence(dora, Presence::Offline, now_ms()).await.unwrap();

    // Admins set teams through the API, audited; a bad name is refused.
    let (status, body) = app.put(&format!("/api/v1/agents/{ana}/team"), &admin, &json!({"team": "care-es"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["team"], "care-es");
    let (status, body) = app.put(&format!("/api/v1/agents/{ana}/team"), &admin, &json!({"team": "Care ES"})).await;
    assert_eq!((status, body["error"]["field"].as_str()), (422, Some("team")), "{body}");
    let (status, _) = app.put(&format!("/api/v1/agents/{ana}/team"), &bruno, &json!({"team": "x"})).await;
    assert_eq!(status, 403);
    let (_, list) = app.get("/api/v1/agents", &bruno).await;
    let listed = list.as_array().unwrap().iter().find(|a| a["id"] == ana_id.as_str()).unwrap().clone();
    assert_eq!(listed["team"], "care-es", "supervisors see teams: {list}");
    let (status, body) = app.put(&format!("/api/v1/agents/{ana}/team"), &admin, &json!({"team": null})).await;
    assert_eq!((status, &body["team"]), (200, &Value::Null), "{body}");
    let (_, audit) = app.get("/api/v1/audit?action=account.team_changed", &app.login(OTTO).await).await;
    assert!(audit.to_string().contains("care-es"), "{audit}");
}
