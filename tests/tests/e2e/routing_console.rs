//! The supervisors' routing console, end to end: draft rules tried on the real tickets of the
//! last hours (queue moves, expected waits), one version read back with who saved it, a version
//! restored as a new one that the next hand-over follows, and refusals of bad input.

use serde_json::{Value, json};
use tests::{ANA, BRUNO, Backend, TestApp, both_backends, spawn_app_with, test_config};

both_backends!(draft_rules_are_tried_on_recent_tickets_and_a_version_is_restored, bad_console_input_is_refused);

/// Billing words go to `billing` needing billing 5; everything else to `general`.
fn rules() -> Value {
    json!({
        "skills": ["billing", "tech"],
        "queues": [{"name": "general"}, {"name": "billing", "first_response_secs": 60}, {"name": "vip"}],
        "rules": [{
            "name": "billing",
            "when": {"text_contains": ["factura", "bill"]},
            "then": {"queue": "billing", "skills": [{"skill": "billing", "level": 5}], "priority": 4}
        }],
        "fallback": {"queue": "general"}
    })
}

/// The same, but billing words go to `vip`, served only at billing 9.
fn draft() -> Value {
    let mut d = rules();
    d["rules"][0]["then"]["queue"] = json!("vip");
    d["rules"][0]["then"]["skills"][0]["level"] = json!(9);
    d
}

/// A customer chat whose customer wrote `text`, handed over by `staff`: the ticket.
async fn handed_over(app: &TestApp, staff: &str, text: &str) -> Value {
    let (visitor, conversation) = app.new_chat().await;
    let mut customer = app.customer_socket(&visitor, None).await;
    customer.send_json(&json!({"type": "message", "client_id": "c1", "text": text})).await;
    customer.next_of("ack").await;
    let (status, ticket) = app.post(&format!("/api/v1/conversations/{conversation}/handover"), staff, &json!({})).await;
    assert_eq!(status, 201, "{ticket}");
    ticket
}

fn queue<'a>(result: &'a Value, name: &str) -> &'a Value {
    result["queues"].as_array().unwrap().iter().find(|q| q["queue"] == name).unwrap_or_else(|| panic!("{result}"))
}

async fn draft_rules_are_tried_on_recent_tickets_and_a_version_is_restored(backend: Backend) {
    let db = tests::TestDb::new(backend).await;
    let app = spawn_app_with(test_config(&db), db).await;
    let bruno = app.login(BRUNO).await;
    let ana = app.login(ANA).await;
    let (status, saved) = app.put("/api/v1/routing/rules", &bruno, &json!({"rules": rules()})).await;
    assert_eq!(status, 200, "{saved}");
    let ana_id = app.me(&ana).await;
    let (status, body) =
        app.put(&format!("/api/v1/agents/{ana_id}/routing"), &bruno, &json!({"skills": {"billing": 8}})).await;
    assert_eq!(status, 200, "{body}");

    // Three real tickets: two about bills (billing), one not (general).
    let bill1 = handed_over(&app, &bruno, "My bill is wrong").await;
    let bill2 = handed_over(&app, &bruno, "No entiendo mi factura").await;
    let other = handed_over(&app, &bruno, "The router blinks red").await;
    assert_eq!(
        (bill1["queue"].as_str(), bill2["queue"].as_str(), other["queue"].as_str()),
        (Some("billing"), Some("billing"), Some("general"))
    );

    // The draft moves the two billing tickets to vip, where nobody qualifies.
    let (status, run) =
        app.post("/api/v1/routing/dry-run/history", &bruno, &json!({"rules": draft(), "hours": 1})).await;
    assert_eq!(status, 200, "{run}");
    assert_eq!(run["tickets"], 3, "{run}");
    assert_eq!(run["moved"], 2, "{run}");
    assert_eq!(run["truncated"], false);
    assert_eq!(run["rules_version"], 1);
    assert_eq!(run["moves"], json!([{"from": "billing", "to": "vip", "tickets": 2}]));
    let mut sample: Vec<&str> = run["moved_sample"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    sample.sort_unstable();
    let mut expected = vec![bill1["id"].as_str().unwrap(), bill2["id"].as_str().unwrap()];
    expected.sort_unstable();
    assert_eq!(sample, expected);
    let (billing, vip, general) = (queue(&run, "billing"), queue(&run, "vip"), queue(&run, "general"));
    assert_eq!((billing["tickets_now"].as_u64(), billing["tickets_draft"].as_u64()), (Some(2), Some(0)), "{run}");
    // Ana (billing 8) serves billing now; under the draft billing is nobody's target any more.
    assert_eq!(billing["agents_now"], 1, "{run}");
    assert_eq!(billing["expected_wait_ms"], 0, "{run}");
    assert!(billing["observed_wait_ms"].as_i64().is_some(), "{run}");
    assert_eq!((vip["tickets_draft"].as_u64(), vip["agents_draft"].as_u64()), (Some(2), Some(0)), "{run}");
    assert_eq!(vip["expected_wait_ms"], Value::Null, "nobody has billing 9: {run}");
    assert_eq!(general["tickets_draft"], 1, "{run}");
    assert!(general["expected_wait_ms"].as_i64().is_some(), "{run}");

    // The rules in force tried on themselves move nothing.
    let (status, same) =
        app.post("/api/v1/routing/dry-run/history", &bruno, &json!({"rules": rules(), "hours": 168})).await;
    assert_eq!(status, 200, "{same}");
    assert_eq!((same["tickets"].as_u64(), same["moved"].as_u64()), (Some(3), Some(0)), "{same}");

    // Publish the draft (version 2), then restore version 1 as version 3.
    let (status, v2) =
        app.put("/api/v1/routing/rules", &bruno, &json!({"rules": draft(), "expected_version": 1})).await;
    assert_eq!(status, 200, "{v2}");
    assert_eq!(v2["version"], 2);
    assert_eq!(handed_over(&app, &bruno, "another bill").await["queue"], "vip");

    let (status, v1) = app.get("/api/v1/routing/rules/versions/1", &bruno).await;
    assert_eq!(status, 200, "{v1}");
    assert_eq!(v1["created_by_name"], "Bruno Agent");
    assert_eq!(v1["rules"]["rules"][0]["then"]["queue"], "billing");
    assert!(v1["created_at"].as_str().is_some());

    let (status, stale) =
        app.post("/api/v1/routing/rules/versions/1/restore", &bruno, &json!({"expected_version": 1})).await;
    assert_eq!(status, 409, "{stale}");
    let (status, restored) =
        app.post("/api/v1/routing/rules/versions/1/restore", &bruno, &json!({"expected_version": 2})).await;
    assert_eq!(status, 200, "{restored}");
    assert_eq!(restored["version"], 3);
    assert_eq!(restored["rules"]["rules"][0]["then"]["queue"], "billing");
    let (_, versions) = app.get("/api/v1/routing/rules/versions", &bruno).await;
    let newest = &versions[0];
    assert_eq!((newest["version"].as_i64(), newest["restored_from"].as_i64()), (Some(3), Some(1)), "{versions}");
    assert_eq!(versions[1]["restored_from"], Value::Null);
    // The list is light: who, when, how many rules; never the rules themselves.
    for v in versions.as_array().unwrap() {
        assert!(v.get("rules").is_none(), "{v}");
        assert_eq!(v["rule_count"], 1, "{v}");
        assert_eq!(v["created_by_name"], "Bruno Agent", "{v}");
        assert!(v["created_at"].as_str().is_some(), "{v}");
    }
    let (_, in_force) = app.get("/api/v1/routing/rules", &bruno).await;
    assert_eq!(in_force["version"], 3);
    // The next hand-over follows the restored rules.
    let next = handed_over(&app, &bruno, "bill please").await;
    assert_eq!(next["queue"], "billing");
    assert_eq!(next["rule"], "billing");

    // Unknown version: 404 to read or restore; agents may do neither.
    let (status, _) = app.get("/api/v1/routing/rules/versions/99", &bruno).await;
    assert_eq!(status, 404);
    let (status, _) = app.post("/api/v1/routing/rules/versions/99/restore", &bruno, &json!({})).await;
    assert_eq!(status, 404);
    let (status, _) = app.post("/api/v1/routing/rules/versions/1/restore", &ana, &json!({})).await;
    assert_eq!(status, 403);
    let (status, _) = app.get("/api/v1/routing/rules/versions/1", &ana).await;
    assert_eq!(status, 403);
    let (_, versions) = app.get("/api/v1/routing/rules/versions", &bruno).await;
    assert_eq!(versions.as_array().unwrap().len(), 3, "refused restores saved nothing");
}

async fn bad_console_input_is_refused(backend: Backend) {
    let db = tests::TestDb::new(backend).await;
    let app = spawn_app_with(test_config(&db), db).await;
    let bruno = app.login(BRUNO).await;
    let ana = app.login(ANA).await;
    let dry = "/api/v1/routing/dry-run/history";

    let (status, _) = app.post(dry, &ana, &json!({"rules": rules(), "hours": 1})).await;
    assert_eq!(status, 403);
    for hours in [0, -1, 169, 100_000] {
        let (status, body) = app.post(dry, &bruno, &json!({"rules": rules(), "hours": hours})).await;
        assert_eq!(status, 422, "{hours}: {body}");
        assert_eq!(body["error"]["field"], "hours", "{body}");
    }
    let (status, body) = app.post(dry, &bruno, &json!({"rules": rules()})).await;
    assert!(status == 400 || status == 422, "hours missing: {status} {body}");

    // Rules that do not validate, or are not rules at all: 422 naming the field.
    let mut unknown_skill = rules();
    unknown_skill["rules"][0]["then"]["skills"][0]["skill"] = json!("astrology");
    let mut bad_channel = rules();
    bad_channel["rules"][0]["when"]["channels"] = json!(["pigeon"]);
    let mut bad_level = rules();
    bad_level["rules"][0]["then"]["skills"][0]["level"] = json!(42);
    let mut unknown_field = rules();
    unknown_field["rules"][0]["then"]["colour"] = json!("red");
    // Condition lists are bounded: at most 50 values of at most 100 characters each.
    let mut many_words = rules();
    many_words["rules"][0]["when"]["text_contains"] = json!((0..51).map(|i| format!("w{i}")).collect::<Vec<_>>());
    let mut long_tag = rules();
    long_tag["rules"][0]["when"]["tags_any"] = json!(["vip", "t".repeat(101)]);
    for (draft, field) in [
        (many_words, "rules[0].when.text_contains"),
        (long_tag, "rules[0].when.tags_any[1]"),
        (unknown_skill, "rules[0].then.skills[0].skill"),
        (bad_channel, "rules[0].when.channels[0]"),
        (bad_level, "rules[0].then.skills[0].level"),
        (unknown_field, "rules[0].then.colour"),
        (json!("not rules"), "rules"),
    ] {
        let (status, body) = app.post(dry, &bruno, &json!({"rules": draft, "hours": 1})).await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(body["error"]["field"], field, "{body}");
        // The same draft is refused on save the same way, and nothing is saved.
        let (status, body) = app.put("/api/v1/routing/rules", &bruno, &json!({"rules": draft})).await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(body["error"]["field"], field, "{body}");
    }
    let (_, versions) = app.get("/api/v1/routing/rules/versions", &bruno).await;
    assert_eq!(versions, json!([]));

    // No tickets in the window: nothing moves, nothing to expect.
    let (status, run) = app.post(dry, &bruno, &json!({"rules": draft(), "hours": 24})).await;
    assert_eq!(status, 200, "{run}");
    assert_eq!((run["tickets"].as_u64(), run["moved"].as_u64()), (Some(0), Some(0)), "{run}");
}
