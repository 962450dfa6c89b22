//! Customer satisfaction end to end: the survey a resolution sends in each channel (the web chat's
//! `survey` frame through the real customer socket, a Telegram message answered with a number,
//! one-click links in the e-mail reply), the first answer kept, used, expired and forged links
//! refused, an opted-out customer not asked, and the CSAT report checked against a computation
//! straight from the stored surveys.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};
use sqlx::Row as _;
use tests::mail::Relay;
use tests::platform::FakePlatform;
use tests::{ADMIN, ANA, Backend, TestApp, Ws, both_backends, spawn_app};

use crate::poll_until;

both_backends!(
    the_widget_asks_after_resolving_and_keeps_the_first_rating,
    an_opted_out_customer_is_not_asked,
    a_telegram_reply_with_a_number_is_the_rating,
    the_mail_link_works_once_and_forged_or_expired_ones_are_refused,
    the_report_equals_a_computation_from_the_stored_surveys
);

/// A web chat whose customer wrote once, handed to Ana (so she is the agent rated):
/// (visitor token, conversation id, ticket id, customer socket).
async fn chat_with_ana(app: &TestApp, admin: &str, ana_id: &str, text: &str) -> (String, String, String, Ws) {
    let (visitor, conversation) = app.new_chat().await;
    let mut customer = app.customer_socket(&visitor, None).await;
    customer.send_json(&json!({"type": "message", "client_id": "c1", "text": text})).await;
    customer.next_of("ack").await;
    let (status, ticket) = app.post(&format!("/api/v1/conversations/{conversation}/handover"), admin, &json!({})).await;
    assert_eq!(status, 201, "{ticket}");
    let ticket_id = ticket["id"].as_str().unwrap().to_owned();
    let (status, body) =
        app.post(&format!("/api/v1/tickets/{ticket_id}/transfer"), admin, &json!({"agent_id": ana_id})).await;
    assert_eq!(status, 200, "{body}");
    (visitor, conversation, ticket_id, customer)
}

async fn resolve(app: &TestApp, token: &str, ticket: &str) {
    let (status, body) = app.post(&format!("/api/v1/tickets/{ticket}/resolve"), token, &json!({})).await;
    assert_eq!(status, 200, "{body}");
}

/// The report over the last and next hour (UTC days).
async fn report_now(app: &TestApp, token: &str) -> Value {
    let now = time::OffsetDateTime::now_utc();
    let fmt = |t: time::OffsetDateTime| t.format(&time::format_description::well_known::Rfc3339).unwrap();
    let path = format!(
        "/api/v1/reports/csat?from={}&to={}",
        fmt(now - Duration::from_secs(3600)),
        fmt(now + Duration::from_secs(3600))
    );
    let (status, report) = app.get(&path.replace('+', "%2B"), token).await;
    assert_eq!(status, 200, "{report}");
    report
}

async fn metric(app: &TestApp, admin: &str, line: &str) -> bool {
    let text = app.http.get(app.url("/metrics")).bearer_auth(admin).send().await.unwrap().text().await.unwrap();
    text.lines().any(|l| l == line)
}

async fn the_widget_asks_after_resolving_and_keeps_the_first_rating(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.login(ADMIN).await;
    let ana = app.login(ANA).await;
    let ana_id = app.me(&ana).await;
    let (visitor, conversation, ticket, mut customer) = chat_with_ana(&app, &admin, &ana_id, "Mi router no va").await;

    // Ana resolves: the customer's socket offers the survey, in the customer's language.
    resolve(&app, &ana, &ticket).await;
    let survey = customer.next_of("survey").await;
    let survey_id = survey["survey_id"].as_str().unwrap().to_owned();
    assert_eq!(survey["question"], "¿Cómo de satisfecho está con la ayuda que ha recibido?", "{survey}");
    // The question is in the transcript too (what the agent sees).
    let (_, history) = app.get(&format!("/api/v1/conversations/{conversation}/messages"), &ana).await;
    let last = history["items"].as_array().unwrap().last().unwrap().clone();
    assert_eq!((last["author"].as_str(), last["text"].as_str()), (Some("bot"), survey["question"].as_str()));

    // A reconnecting customer is offered it again while it waits.
    let mut again = app.customer_socket(&visitor, None).await;
    assert_eq!(again.next_of("survey").await["survey_id"], survey_id.as_str());

    // Bad answers are refused with a code; the socket stays open.
    customer.send_json(&json!({"type": "rating", "survey_id": survey_id, "score": 6})).await;
    assert_eq!(customer.next_of("error").await["code"], "invalid_field");
    let forged = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";
    customer.send_json(&json!({"type": "rating", "survey_id": forged, "score": 3})).await;
    assert_eq!(customer.next_of("error").await["code"], "not_found");

    // The rating, then a second one (another tab): the first is kept.
    customer.send_json(&json!({"type": "rating", "survey_id": survey_id, "score": 2, "comment": "Muy lento"})).await;
    assert_eq!(customer.next_of("rated").await["survey_id"], survey_id.as_str());
    again.send_json(&json!({"type": "rating", "survey_id": survey_id, "score": 5})).await;
    assert_eq!(again.next_of("error").await["code"], "conflict");

    // Resolving again (reopened by a new message, resolved) does not ask a second time.
    customer.send_json(&json!({"type": "message", "client_id": "c2", "text": "Sigue sin ir"})).await;
    customer.next_of("ack").await;
    poll_until(Duration::from_secs(10), async || {
        let (_, t) = app.get(&format!("/api/v1/tickets/{ticket}"), &ana).await;
        (t["ticket"]["status"] != "resolved").then_some(())
    })
    .await
    .expect("the ticket reopens");
    // (Reopened, it is queued again: a supervisor resolves it.)
    resolve(&app, &admin, &ticket).await;
    let (_, t) = app.get(&format!("/api/v1/tickets/{ticket}"), &admin).await;
    assert_eq!(t["ticket"]["status"], "resolved", "{t}");

    let report = report_now(&app, &admin).await;
    assert_eq!(report["total"]["sent"], 1, "{report}");
    assert_eq!(report["total"]["answered"], 1, "{report}");
    assert_eq!(report["total"]["distribution"], json!([0, 1, 0, 0, 0]), "{report}");
    assert_eq!(report["total"]["average"], 2.0, "{report}");
    assert_eq!(
        report["agents"],
        json!([{"agent_id": ana_id, "sent": 1, "answered": 1, "distribution": [0, 1, 0, 0, 0],
        "response_rate": 1.0, "average": 2.0, "satisfied": 0.0}]),
        "{report}"
    );
    assert_eq!(report["comments"][0]["comment"], "Muy lento", "{report}");
    assert_eq!(report["comments"][0]["score"], 2, "{report}");

    // Agents do not read the report.
    let (status, _) = app.get("/api/v1/reports/csat?from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z", &ana).await;
    assert_eq!(status, 403);
}

async fn an_opted_out_customer_is_not_asked(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.login(ADMIN).await;
    let ana = app.login(ANA).await;
    let ana_id = app.me(&ana).await;

    let (_, conversation, ticket, _customer) = chat_with_ana(&app, &admin, &ana_id, "Quiero darme de baja").await;
    let (_, c) = app.get(&format!("/api/v1/conversations/{conversation}"), &ana).await;
    let customer_id = c["customer_id"].as_str().unwrap();
    let res = app
        .http
        .patch(app.url(&format!("/api/v1/customers/{customer_id}")))
        .bearer_auth(&admin)
        .json(&json!({"consents": {"surveys": false}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204, "{}", res.text().await.unwrap());
    resolve(&app, &ana, &ticket).await;
    let skipped = r#"switchboard_csat_surveys_skipped_total{reason="opted_out"} 1"#;
    poll_until(Duration::from_secs(10), async || metric(&app, &admin, skipped).await.then_some(()))
        .await
        .expect("the resolution is skipped as opted out");

    // Another customer, who did not opt out, is asked: surveys are on.
    let (_, _, other, mut asked) = chat_with_ana(&app, &admin, &ana_id, "Hola").await;
    resolve(&app, &ana, &other).await;
    asked.next_of("survey").await;
    let report = report_now(&app, &admin).await;
    assert_eq!(report["total"]["sent"], 1, "only the second was asked: {report}");
    let (_, history) = app.get(&format!("/api/v1/conversations/{conversation}/messages"), &ana).await;
    assert!(history["items"].as_array().unwrap().iter().all(|m| m["author"] != "bot"), "{history}");
}

async fn a_telegram_reply_with_a_number_is_the_rating(backend: Backend) {
    use crate::social::{BOT_SECRET, app_with_platform, telegram_text, telegram_webhook};
    let platform = FakePlatform::start().await;
    let app = app_with_platform(backend, &platform, 600).await;
    let admin = app.login(ADMIN).await;
    let ana = app.login(ANA).await;
    let ana_id = app.me(&ana).await;
    let mut inbox = app.inbox_socket(&ana).await;

    assert_eq!(telegram_webhook(&app, &telegram_text(1, 1, 5_550_001, "No tengo señal"), BOT_SECRET).await, 200);
    let created = inbox.next_of("message.created").await;
    let conversation = created["conversation"]["id"].as_str().unwrap().to_owned();
    let (status, t) = app.post(&format!("/api/v1/conversations/{conversation}/handover"), &admin, &json!({})).await;
    assert_eq!(status, 201, "{t}");
    let ticket = t["id"].as_str().unwrap().to_owned();
    app.post(&format!("/api/v1/tickets/{ticket}/transfer"), &admin, &json!({"agent_id": ana_id})).await;
    resolve(&app, &ana, &ticket).await;

    // The question reaches Telegram through the outbox, with how to answer.
    let sent = platform.wait_for(1).await;
    assert_eq!(sent[0].path, "/bot123456:ABC-DEF/sendMessage");
    let question = sent[0].body["text"].as_str().unwrap();
    // (A new Telegram customer's language is the default, English.)
    assert!(question.contains("from 1 (very unsatisfied) to 5"), "{question}");

    // The customer answers with a number and a comment: rated, thanked, not reopened.
    assert_eq!(telegram_webhook(&app, &telegram_text(2, 2, 5_550_001, "4 bastante rápido"), BOT_SECRET).await, 200);
    let sent = platform.wait_for(2).await;
    assert_eq!(sent[1].body["text"], "Thank you for your rating.");
    let report = report_now(&app, &admin).await;
    assert_eq!(report["total"]["distribution"], json!([0, 0, 0, 1, 0]), "{report}");
    assert_eq!(report["comments"][0]["comment"], "bastante rápido", "{report}");
    assert_eq!(report["comments"][0]["channel"], "telegram", "{report}");
    let (_, t) = app.get(&format!("/api/v1/tickets/{ticket}"), &ana).await;
    assert_eq!(t["ticket"]["status"].as_str(), Some("resolved"), "{t}");

    // A second number is an ordinary message now: it reopens the ticket, the rating stays.
    assert_eq!(telegram_webhook(&app, &telegram_text(3, 3, 5_550_001, "1"), BOT_SECRET).await, 200);
    poll_until(Duration::from_secs(10), async || {
        let (_, t) = app.get(&format!("/api/v1/tickets/{ticket}"), &ana).await;
        (t["ticket"]["status"].as_str() != Some("resolved")).then_some(())
    })
    .await
    .expect("the ticket reopens");
    let report = report_now(&app, &admin).await;
    assert_eq!(report["total"]["distribution"], json!([0, 0, 0, 1, 0]), "{report}");
}

/// The path and token of the link for `score` in a survey mail.
fn link(text: &str, score: u8) -> (String, String) {
    let marker = "/csat/";
    let line = text.lines().find(|l| l.ends_with(&format!("?score={score}"))).unwrap_or_else(|| panic!("{text}"));
    let start = line.find(marker).unwrap();
    let path = line[start..].to_owned();
    let token = path[marker.len()..path.find('?').unwrap()].to_owned();
    (path, token)
}

async fn page(app: &TestApp, path: &str) -> (u16, String) {
    let res = app.http.get(app.url(path)).send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.text().await.unwrap())
}

async fn post_form(app: &TestApp, token: &str, score: &str, comment: &str) -> (u16, String) {
    let res = app
        .http
        .post(app.url(&format!("/csat/{token}")))
        .form(&[("score", score), ("comment", comment)])
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.text().await.unwrap())
}

async fn the_mail_link_works_once_and_forged_or_expired_ones_are_refused(backend: Backend) {
    use crate::email::{CARLA, app_with, carla_mail, send};
    let relay = Relay::start().await;
    let app = app_with(backend, &relay, |c| c.csat.public_url = "https://care.telco.example/".into()).await;
    let admin = app.login(ADMIN).await;
    let ana = app.login(ANA).await;
    let ana_id = app.me(&ana).await;
    let mut inbox = app.inbox_socket(&ana).await;

    send(&app, Some(CARLA), &carla_mail("csat1.carla@example.com", "Factura", "", "Me han cobrado dos veces"))
        .await
        .unwrap();
    let created = inbox.next_of("message.created").await;
    let conversation = created["conversation"]["id"].as_str().unwrap().to_owned();
    let (_, t) = app.post(&format!("/api/v1/conversations/{conversation}/handover"), &admin, &json!({})).await;
    let ticket = t["id"].as_str().unwrap().to_owned();
    app.post(&format!("/api/v1/tickets/{ticket}/transfer"), &admin, &json!({"agent_id": ana_id})).await;
    resolve(&app, &ana, &ticket).await;

    // The survey goes out as a reply in the thread, with one link per score on the public address.
    let (envelope, _, mail) = relay.mail(1).await;
    assert_eq!(envelope.rcpt_to.iter().map(|r| r.as_str().to_owned()).collect::<Vec<_>>(), vec![CARLA.to_owned()]);
    assert!(mail.text.contains("https://care.telco.example/csat/"), "{}", mail.text);
    let (path, token) = link(&mail.text, 4);

    // Opening the link records nothing (mail scanners open links): the form, score 4 chosen.
    let (status, html) = page(&app, &path).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("id=\"score-4\" value=\"4\" required checked"), "{html}");
    let (status, _) = page(&app, &path).await;
    assert_eq!(status, 200, "opening twice is fine");

    // Forged: another token, an altered one, garbage.
    let mut altered = token.clone().into_bytes();
    altered[5] = if altered[5] == b'A' { b'B' } else { b'A' };
    let altered = String::from_utf8(altered).unwrap();
    for bad in [altered.as_str(), "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "x"] {
        assert_eq!(page(&app, &format!("/csat/{bad}?score=5")).await.0, 404, "{bad}");
        assert_eq!(post_form(&app, bad, "5", "").await.0, 404, "{bad}");
    }

    // Expired (the store's expiry passed): refused, nothing recorded.
    let pool = sqlx::AnyPool::connect(&app.db.url).await.unwrap();
    let past = (time::OffsetDateTime::now_utc().unix_timestamp() - 60) * 1000;
    let kept: i64 = sqlx::query("SELECT expires_at FROM csat_surveys").fetch_one(&pool).await.unwrap().get(0);
    sqlx::query("UPDATE csat_surveys SET expires_at = $1").bind(past).execute(&pool).await.unwrap();
    let (status, html) = page(&app, &path).await;
    assert_eq!(status, 410, "{html}");
    assert_eq!(post_form(&app, &token, "4", "").await.0, 410);
    sqlx::query("UPDATE csat_surveys SET expires_at = $1").bind(kept).execute(&pool).await.unwrap();

    // A form without a score is shown again with the problem.
    let (status, html) = post_form(&app, &token, "", "").await;
    assert_eq!(status, 422, "{html}");
    assert!(html.contains("role=\"alert\""), "{html}");

    // Answered once; the link is then used up, whatever score it is used with.
    let (status, html) = post_form(&app, &token, "4", "Rápido y amable").await;
    assert_eq!(status, 200, "{html}");
    let (status, html) = post_form(&app, &token, "1", "otra vez").await;
    assert_eq!(status, 409, "{html}");
    assert_eq!(page(&app, &link(&mail.text, 1).0).await.0, 409);
    let row = sqlx::query("SELECT score, comment FROM csat_surveys").fetch_one(&pool).await.unwrap();
    assert_eq!((row.get::<i64, _>(0), row.get::<String, _>(1)), (4, "Rápido y amable".to_owned()));
    // The link's answer did not reopen anything.
    let (_, t) = app.get(&format!("/api/v1/tickets/{ticket}"), &ana).await;
    assert_eq!(t["ticket"]["status"].as_str(), Some("resolved"), "{t}");
    pool.close().await;
}

async fn the_report_equals_a_computation_from_the_stored_surveys(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.login(ADMIN).await;
    let admin_id = app.me(&admin).await;
    let ana = app.login(ANA).await;
    let ana_id = app.me(&ana).await;

    // Eight resolutions: Ana's and the admin's, rated 1 to 5 or not at all.
    let plan: [(Option<u8>, bool); 8] = [
        (Some(5), true),
        (Some(4), true),
        (None, true),
        (Some(1), false),
        (Some(4), false),
        (None, false),
        (Some(3), true),
        (Some(5), false),
    ];
    for (i, (score, by_ana)) in plan.iter().enumerate() {
        let agent = if *by_ana { &ana_id } else { &admin_id };
        let (_, _, ticket, mut customer) = chat_with_ana(&app, &admin, agent, &format!("Consulta {i}")).await;
        resolve(&app, &admin, &ticket).await;
        let survey = customer.next_of("survey").await;
        if let Some(score) = score {
            customer
                .send_json(&json!({"type": "rating", "survey_id": survey["survey_id"], "score": score, "comment": format!("c{i}")}))
                .await;
            customer.next_of("rated").await;
        }
    }
    // Spread over three days, across a day's boundary in São Paulo (UTC-3) but not in UTC.
    let pool = sqlx::AnyPool::connect(&app.db.url).await.unwrap();
    let ids: Vec<String> = sqlx::query("SELECT id FROM csat_surveys ORDER BY id")
        .fetch_all(&pool)
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(ids.len(), plan.len());
    let base: i64 = 1_793_145_600_000; // 2026-10-28T00:00:00Z
    let hour = 3_600_000;
    let offsets = [1, 2, 5, 26, 27, 49, 50, 70].map(|h| h * hour);
    for (id, offset) in ids.iter().zip(offsets) {
        sqlx::query("UPDATE csat_surveys SET sent_at = $1, answered_at = CASE WHEN answered_at IS NULL THEN NULL ELSE $2 END WHERE id = $3")
            .bind(base + offset)
            .bind(base + offset + 60_000)
            .bind(id)
            .execute(&pool)
            .await
            .unwrap();
    }

    // The computation: straight from the rows, buckets by whole days of the zone's fixed offset.
    let rows = sqlx::query("SELECT sent_at, score, agent_id FROM csat_surveys").fetch_all(&pool).await.unwrap();
    let rows: Vec<(i64, Option<i64>, Option<String>)> = rows.iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect();
    pool.close().await;
    let day = 24 * hour;
    for (tz, offset_ms) in [("UTC", 0), ("America/Sao_Paulo", -3 * hour)] {
        let mut buckets: BTreeMap<i64, [i64; 7]> = BTreeMap::new(); // sent, answered, scores 1..5
        let mut agents: BTreeMap<Option<String>, [i64; 7]> = BTreeMap::new();
        for (sent_at, score, agent) in &rows {
            let local_day = (sent_at + offset_ms).div_euclid(day);
            for counts in [buckets.entry(local_day).or_default(), agents.entry(agent.clone()).or_default()] {
                counts[0] += 1;
                if let Some(s) = score {
                    counts[1] += 1;
                    counts[1 + usize::try_from(*s).unwrap()] += 1;
                }
            }
        }
        let path = format!(
            "/api/v1/reports/csat?from=2026-10-27T00:00:00Z&to=2026-11-03T00:00:00Z&tz={tz}&bucket=day&limit=3"
        );
        let (status, report) = app.get(&path, &admin).await;
        assert_eq!(status, 200, "{report}");
        let got: Vec<(i64, i64, Vec<i64>)> = report["buckets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| {
                let start = time::OffsetDateTime::parse(
                    b["start"].as_str().unwrap(),
                    &time::format_description::well_known::Rfc3339,
                )
                .unwrap();
                let local_day = (start.unix_timestamp() * 1000 + offset_ms).div_euclid(day);
                assert_eq!(
                    (start.unix_timestamp() * 1000 + offset_ms).rem_euclid(day),
                    0,
                    "a bucket starts at midnight: {b}"
                );
                (
                    local_day,
                    b["sent"].as_i64().unwrap(),
                    serde_json::from_value::<Vec<i64>>(b["distribution"].clone()).unwrap(),
                )
            })
            .collect();
        let want: Vec<(i64, i64, Vec<i64>)> = buckets.iter().map(|(d, c)| (*d, c[0], c[2..].to_vec())).collect();
        assert_eq!(got, want, "{tz}: {report}");
        let answered: i64 = rows.iter().filter(|r| r.1.is_some()).count().try_into().unwrap();
        let sum: i64 = rows.iter().filter_map(|r| r.1).sum();
        assert_eq!(report["total"]["sent"], rows.len(), "{report}");
        assert_eq!(report["total"]["answered"], answered, "{report}");
        let average = report["total"]["average"].as_f64().unwrap();
        assert!((average - sum as f64 / answered as f64).abs() < 1e-9, "{report}");
        let rate = report["total"]["response_rate"].as_f64().unwrap();
        assert!((rate - answered as f64 / rows.len() as f64).abs() < 1e-9, "{report}");
        let got_agents: BTreeMap<Option<String>, (i64, i64)> = report["agents"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                (
                    a["agent_id"].as_str().map(str::to_owned),
                    (a["sent"].as_i64().unwrap(), a["answered"].as_i64().unwrap()),
                )
            })
            .collect();
        let want_agents: BTreeMap<Option<String>, (i64, i64)> =
            agents.iter().map(|(a, c)| (a.clone(), (c[0], c[1]))).collect();
        assert_eq!(got_agents, want_agents, "{report}");
        // Comments: newest answer first, three per page, then the rest.
        assert_eq!(report["comments"].as_array().unwrap().len(), 3, "{report}");
        let next = report["next"].as_str().unwrap();
        let (_, rest) = app.get(&format!("{path}&after={next}"), &admin).await;
        let seen: Vec<String> = report["comments"]
            .as_array()
            .unwrap()
            .iter()
            .chain(rest["comments"].as_array().unwrap())
            .map(|c| c["comment"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(seen, ["c7", "c6", "c4", "c3", "c1", "c0"], "{report} {rest}");
    }

    // A team: Ana's surveys sent while she was in it (she joined at 26 h, after three of hers).
    let (status, body) = app.put(&format!("/api/v1/agents/{ana_id}/team"), &admin, &json!({"team": "north"})).await;
    assert_eq!(status, 200, "{body}");
    let pool = sqlx::AnyPool::connect(&app.db.url).await.unwrap();
    sqlx::query("UPDATE agent_teams SET from_ms = $1 WHERE agent_id = $2")
        .bind(base + 26 * hour)
        .bind(&ana_id)
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let in_team = rows.iter().filter(|(sent, _, agent)| agent.as_deref() == Some(&ana_id) && *sent >= base + 26 * hour);
    let (status, north) =
        app.get("/api/v1/reports/csat?from=2026-10-27T00:00:00Z&to=2026-11-03T00:00:00Z&team=north", &admin).await;
    assert_eq!(status, 200, "{north}");
    assert_eq!(north["total"]["sent"], in_team.count(), "{north}");
    assert_eq!(north["total"]["sent"], 1, "{north}");

    // The agents report's CSAT columns: the same surveys, per agent.
    let (status, agents) = app.get("/api/v1/reports/agents?from=2026-10-27&to=2026-11-02&tz=UTC", &admin).await;
    assert_eq!(status, 200, "{agents}");
    for agent in [&ana_id, &admin_id] {
        let row = agents["agents"].as_array().unwrap().iter().find(|r| r["agent_id"] == agent.as_str());
        let row = row.unwrap_or_else(|| panic!("{agent} in {agents}"));
        let scores: Vec<i64> =
            rows.iter().filter(|(_, _, a)| a.as_deref() == Some(agent.as_str())).filter_map(|(_, s, _)| *s).collect();
        let sent = rows.iter().filter(|(_, _, a)| a.as_deref() == Some(agent.as_str())).count();
        assert_eq!(row["csat_sent"], sent, "{row}");
        assert_eq!(row["csat_answered"], scores.len(), "{row}");
        #[allow(clippy::cast_precision_loss)]
        let average = scores.iter().sum::<i64>() as f64 / scores.len() as f64;
        assert_eq!(row["csat_average"], json!((average * 100.0).round() / 100.0), "{row}");
    }

    // Dates as the other reports take them, read in `tz` (`to` a whole day): the same report as
    // the RFC 3339 times of those days' bounds in that zone.
    for (tz, dates, times) in [
        ("UTC", "from=2026-10-27&to=2026-11-02", "from=2026-10-27T00:00:00Z&to=2026-11-03T00:00:00Z"),
        (
            "America/Sao_Paulo",
            "from=2026-10-27&to=2026-11-02",
            "from=2026-10-27T00:00:00-03:00&to=2026-11-03T00:00:00-03:00",
        ),
        ("UTC", "from=2026-10-28&to=2026-10-28", "from=2026-10-28T00:00:00Z&to=2026-10-29T00:00:00Z"),
    ] {
        let (status, by_dates) = app.get(&format!("/api/v1/reports/csat?{dates}&tz={tz}"), &admin).await;
        assert_eq!(status, 200, "{by_dates}");
        let (status, by_times) =
            app.get(&format!("/api/v1/reports/csat?{}&tz={tz}", times.replace('+', "%2B")), &admin).await;
        assert_eq!(status, 200, "{by_times}");
        assert_eq!(by_dates, by_times, "{tz} {dates}");
        assert!(by_dates["total"]["sent"].as_i64().unwrap() > 0, "{by_dates}");
    }
    let (_, one_day) = app.get("/api/v1/reports/csat?from=2026-10-28&to=2026-10-28&tz=UTC", &admin).await;
    assert_eq!(one_day["total"]["sent"], 3, "the surveys sent at 1, 2 and 5 h: {one_day}");

    // A filter, the CSV, and refusals.
    let (_, ana_only) = app
        .get(&format!("/api/v1/reports/csat?from=2026-10-27T00:00:00Z&to=2026-11-03T00:00:00Z&agent={ana_id}"), &admin)
        .await;
    assert_eq!(ana_only["total"]["sent"], 4, "{ana_only}");
    let csv = app
        .http
        .get(app.url("/api/v1/reports/csat?from=2026-10-27T00:00:00Z&to=2026-11-03T00:00:00Z&format=csv"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), 200);
    assert!(csv.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    let csv = csv.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "start,sent,answered,score_1,score_2,score_3,score_4,score_5,response_rate,average,satisfied");
    assert_eq!(lines[1], "2026-10-28T00:00:00+00:00,3,2,0,0,0,1,1,0.6667,4.5000,1.0000", "{csv}");
    for bad in [
        "from=2026-13-01&to=2026-11-03T00:00:00Z",
        "from=27/10/2026&to=2026-11-03T00:00:00Z",
        "from=2026-11-03&to=2026-11-02",
        "from=2026-11-03T00:00:00Z&to=2026-10-27T00:00:00Z",
        "from=2020-01-01T00:00:00Z&to=2026-01-01T00:00:00Z",
        "from=2026-10-27T00:00:00Z&to=2026-11-03T00:00:00Z&tz=Mars/Olympus",
        "from=2026-10-27T00:00:00Z&to=2026-11-03T00:00:00Z&bucket=month",
        "from=2026-10-27T00:00:00Z&to=2026-11-03T00:00:00Z&team=south",
        "from=2026-10-27T00:00:00Z&to=2026-11-03T00:00:00Z&format=xml",
    ] {
        let (status, body) = app.get(&format!("/api/v1/reports/csat?{bad}"), &admin).await;
        assert_eq!(status, 422, "{bad}: {body}");
    }
    let (status, _) =
        app.get("/api/v1/reports/csat?from=2026-10-27T00:00:00Z&to=2026-11-03T00:00:00Z&channel=fax", &admin).await;
    assert_eq!(status, 400);
}
