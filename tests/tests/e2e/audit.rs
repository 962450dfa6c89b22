//! The audit trail through the running hub: staff actions leave entries with who, from where and
//! the state before and after; auditors (only they) read, page, export and verify them, and that
//! is audited too; a row edited in the database is named by `switchboard audit verify` (the
//! built binary); pruning behind an anchor keeps the rest of the chain verifiable.

use std::process::Output;

use serde_json::{Value, json};
use sqlx::Executor as _;
use tests::{ADMIN, ANA, BRUNO, Backend, OTTO, TestApp, both_backends, spawn_app, switchboard_bin};
use time::OffsetDateTime;

both_backends!(
    actions_leave_entries_that_auditors_alone_read,
    an_edited_row_is_named_by_the_cli,
    pruning_behind_an_anchor_keeps_the_chain_verifiable
);

/// Runs `switchboard audit verify` against the test's database.
async fn cli_verify(app: &TestApp) -> (bool, String) {
    let dir = std::env::temp_dir();
    let Output { status, stdout, stderr } = tokio::process::Command::new(switchboard_bin())
        .args(["audit", "verify", "--database-url", &app.db.url])
        .current_dir(dir)
        // Only configuration keys may be SWITCHBOARD_* variables of the hub.
        .env_remove("SWITCHBOARD_BIN")
        .env_remove("SWITCHBOARD_CONFIG")
        .env("RUST_LOG", "error")
        .output()
        .await
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&stdout), String::from_utf8_lossy(&stderr));
    (status.success(), text)
}

/// Runs one statement on the test's database, behind the hub's back.
async fn tamper(app: &TestApp, sql: &str) {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&app.db.url).await.unwrap();
    let done = pool.execute(sql).await.unwrap();
    assert_eq!(done.rows_affected(), 1, "{sql}");
    pool.close().await;
}

/// Audit entries matching `query`, newest first, as an auditor reads them.
async fn entries(app: &TestApp, auditor: &str, query: &str) -> Vec<Value> {
    let (status, page) = app.get(&format!("/api/v1/audit?limit=200&{query}"), auditor).await;
    assert_eq!(status, 200, "{page}");
    page["items"].as_array().unwrap().clone()
}

async fn failed_login(app: &TestApp, email: &str) {
    let res = app
        .http
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"email": email, "password": "not the password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}

async fn actions_leave_entries_that_auditors_alone_read(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.login(ADMIN).await;
    let admin_id = app.me(&admin).await;
    let otto = app.login(OTTO).await;
    let otto_id = app.me(&otto).await;
    failed_login(&app, ANA).await;

    // An admin changes Ana's roles; an agent reads a customer's profile.
    let (_, staff) = app.get("/api/v1/agents", &admin).await;
    let ana_id =
        staff.as_array().unwrap().iter().find(|m| m["email"] == ANA).unwrap()["id"].as_str().unwrap().to_owned();
    let (status, body) =
        app.put(&format!("/api/v1/agents/{ana_id}/roles"), &admin, &json!({"roles": ["agent", "supervisor"]})).await;
    assert_eq!(status, 200, "{body}");
    let bruno = app.login(BRUNO).await;
    let bruno_id = app.me(&bruno).await;
    let (_, conversation) = app.new_chat().await;
    let (status, conv) = app.get(&format!("/api/v1/conversations/{conversation}"), &bruno).await;
    assert_eq!(status, 200, "{conv}");
    let customer = conv["customer_id"].as_str().unwrap().to_owned();
    assert_eq!(app.get(&format!("/api/v1/customers/{customer}"), &bruno).await.0, 200);
    let (status, body) = app
        .put(
            "/api/v1/settings/retention",
            &admin,
            &json!({"conversations_days": 400, "messages_days": 300, "audit_days": 2000}),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    // Only auditors: an admin (who holds every other role) and an agent are refused, and so is
    // nobody signed in.
    for token in [&admin, &bruno] {
        for path in ["/api/v1/audit", "/api/v1/audit/export", "/api/v1/audit/verify"] {
            let (status, body) = app.get(path, token).await;
            assert_eq!((status, body["error"]["code"].as_str()), (403, Some("forbidden")), "{path}: {body}");
        }
    }
    assert_eq!(app.http.get(app.url("/api/v1/audit")).send().await.unwrap().status(), 401);

    // Who, what, to what, from where, before and after.
    let roles = entries(&app, &otto, "action=account.roles_changed").await;
    assert_eq!(roles.len(), 1, "{roles:?}");
    let e = &roles[0];
    assert_eq!((e["actor_kind"].as_str(), e["actor_id"].as_str()), (Some("staff"), Some(admin_id.as_str())), "{e}");
    assert_eq!((e["target_kind"].as_str(), e["target_id"].as_str()), (Some("agent"), Some(ana_id.as_str())), "{e}");
    assert_eq!(e["source_ip"], "127.0.0.1", "{e}");
    assert_eq!(
        (e["before"].clone(), e["after"].clone()),
        (json!({"roles": ["agent"]}), json!({"roles": ["agent", "supervisor"]}))
    );
    assert_eq!(e["hash"].as_str().unwrap().len(), 64);
    let read = entries(&app, &otto, &format!("action=customer.read&target_id={customer}")).await;
    assert_eq!((read.len(), read[0]["actor_id"].as_str()), (1, Some(bruno_id.as_str())), "{read:?}");
    let failed = entries(&app, &otto, "action=auth.sign_in_failed").await;
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(
        (failed[0]["actor_kind"].as_str(), failed[0]["details"]["email"].as_str()),
        (Some("anonymous"), Some(ANA))
    );
    assert!(!failed[0].to_string().contains("not the password"), "never the password: {}", failed[0]);
    let settings = entries(&app, &otto, "action=settings.changed&target_kind=setting&target_id=retention").await;
    assert_eq!(settings[0]["before"]["audit_days"], 1825, "the built-in retention setting: {settings:?}");
    assert_eq!(settings[0]["after"]["audit_days"], 2000, "{settings:?}");
    let sign_ins = entries(&app, &otto, &format!("action=auth.sign_in&actor={admin_id}")).await;
    assert_eq!(sign_ins.len(), 1, "{sign_ins:?}");
    assert_eq!(app.post("/api/v1/auth/logout", &bruno, &json!({})).await.0, 204);
    assert_eq!(entries(&app, &otto, &format!("action=auth.sign_out&actor={bruno_id}")).await.len(), 1);

    // Bad filters are typed 422s; a time window narrows.
    for (query, field) in
        [("action=auth.root", "action"), ("from=yesterday", "from"), ("cursor=x", "cursor"), ("limit=0", "limit")]
    {
        let (status, body) = app.get(&format!("/api/v1/audit?{query}"), &otto).await;
        assert_eq!((status, body["error"]["field"].as_str()), (422, Some(field)), "{query}: {body}");
    }
    assert!(entries(&app, &otto, "from=2999-01-01T00:00:00Z").await.is_empty());
    assert!(!entries(&app, &otto, "to=2999-01-01T00:00:00Z").await.is_empty());

    // Keyset pages, newest first, without overlap.
    let (_, first) = app.get("/api/v1/audit?limit=2", &otto).await;
    let cursor = first["next_cursor"].as_str().unwrap();
    let (_, second) = app.get(&format!("/api/v1/audit?limit=2&cursor={cursor}"), &otto).await;
    let seqs: Vec<i64> = [&first, &second]
        .iter()
        .flat_map(|p| p["items"].as_array().unwrap().iter().map(|e| e["seq"].as_i64().unwrap()))
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] > w[1]), "{seqs:?}");

    // The export: every entry, oldest first, one JSON object a line; and it is audited.
    let res = app.http.get(app.url("/api/v1/audit/export")).bearer_auth(&otto).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/x-ndjson");
    let text = res.text().await.unwrap();
    let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(lines.windows(2).all(|w| w[1]["seq"].as_i64() == w[0]["seq"].as_i64().map(|s| s + 1)), "{text}");
    assert_eq!(lines[0]["seq"], 1);
    assert_eq!(lines.last().unwrap()["action"], "audit.exported", "the export records itself first");
    let reads = entries(&app, &otto, &format!("action=audit.read&actor={otto_id}")).await;
    assert!(reads.len() >= 10, "every read is audited: {}", reads.len());
    let (_, only_roles) = app.get("/api/v1/audit/export?action=account.roles_changed", &otto).await;
    assert_eq!(only_roles["seq"], e["seq"], "one line, parsed as one JSON value: {only_roles}");

    // The chain is intact, as the API and the CLI see it.
    let (status, verified) = app.get("/api/v1/audit/verify", &otto).await;
    assert_eq!(status, 200, "{verified}");
    assert_eq!((verified["intact"].as_bool(), verified["complete"].as_bool()), (Some(true), Some(true)), "{verified}");
    // Since the export: one read (of `audit.read` entries) and one export more.
    assert_eq!(verified["checked"].as_u64(), Some(lines.len() as u64 + 2), "{verified}");
    let (status, bounded) = app.get("/api/v1/audit/verify?max=3", &otto).await;
    assert_eq!(
        (status, bounded["checked"].as_u64(), bounded["complete"].as_bool()),
        (200, Some(3), Some(false)),
        "{bounded}"
    );
    assert_eq!(app.get("/api/v1/audit/verify?max=0", &otto).await.0, 422);
    let (ok, out) = cli_verify(&app).await;
    assert!(ok && out.contains("chain intact"), "{out}");
}

async fn an_edited_row_is_named_by_the_cli(backend: Backend) {
    let app = spawn_app(backend).await;
    for email in [ADMIN, ANA, BRUNO] {
        app.login(email).await;
    }
    failed_login(&app, BRUNO).await;
    let (ok, out) = cli_verify(&app).await;
    assert!(ok && out.contains("4 audit entries checked") && out.contains("chain intact"), "{out}");

    // Someone with database access rewrites who failed to sign in.
    tamper(&app, r#"UPDATE audit_entries SET details = '{"email":"nobody@example.com"}' WHERE seq = 4"#).await;
    let (ok, out) = cli_verify(&app).await;
    assert!(!ok, "{out}");
    assert!(out.contains("chain broken at seq 4") && out.contains("altered"), "{out}");
    let otto = app.login(OTTO).await;
    let (_, verified) = app.get("/api/v1/audit/verify", &otto).await;
    assert_eq!(
        (verified["intact"].as_bool(), verified["broken"]["seq"].as_i64()),
        (Some(false), Some(4)),
        "{verified}"
    );

    // Deleting a row (here the second) breaks the chain at the next one.
    let app = spawn_app(backend).await;
    for email in [ADMIN, ANA, BRUNO] {
        app.login(email).await;
    }
    tamper(&app, "DELETE FROM audit_entries WHERE seq = 2").await;
    let (ok, out) = cli_verify(&app).await;
    assert!(!ok && out.contains("chain broken at seq 3"), "{out}");
}

async fn pruning_behind_an_anchor_keeps_the_chain_verifiable(backend: Backend) {
    let app = spawn_app(backend).await;
    for email in [ADMIN, ANA, BRUNO, ADMIN] {
        app.login(email).await;
    }
    let audit = &app.hub.as_ref().unwrap().state.audit;
    assert_eq!(audit.retention_days(), 1826, "five years by default");
    // Nothing is that old yet.
    let five_years_ago = OffsetDateTime::now_utc() - time::Duration::days(1826);
    assert_eq!(audit.prune_before(five_years_ago).await.unwrap(), 0);

    // Prune everything so far but the newest sign-in: as the daily job does with its cutoff.
    let otto = app.login(OTTO).await;
    let newest = entries(&app, &otto, "action=auth.sign_in").await;
    let cutoff =
        OffsetDateTime::parse(newest[0]["at"].as_str().unwrap(), &time::format_description::well_known::Rfc3339)
            .unwrap();
    let kept_seq = newest[0]["seq"].as_i64().unwrap();
    let pruned = audit.prune_before(cutoff).await.unwrap();
    assert!(pruned >= 4, "{pruned}");
    let (_, page) = app.get("/api/v1/audit?limit=200", &otto).await;
    let seqs: Vec<i64> = page["items"].as_array().unwrap().iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert!(seqs.contains(&kept_seq) && seqs.iter().all(|s| *s > i64::try_from(pruned).unwrap()), "{seqs:?}");
    let pruning = entries(&app, &otto, "action=audit.pruned").await;
    assert_eq!(
        (pruning[0]["actor_kind"].as_str(), pruning[0]["details"]["pruned"].as_u64()),
        (Some("system"), Some(pruned))
    );

    // New entries follow; the chain verifies from the anchor, by the API and the CLI.
    app.login(ANA).await;
    let (_, verified) = app.get("/api/v1/audit/verify", &otto).await;
    assert_eq!(verified["intact"], true, "{verified}");
    assert_eq!(verified["anchor"]["seq"].as_u64(), Some(pruned), "{verified}");
    let (ok, out) = cli_verify(&app).await;
    assert!(ok && out.contains(&format!("after the anchor at seq {pruned}")) && out.contains("chain intact"), "{out}");

    // Without its anchor, the chain no longer starts where it should.
    tamper(&app, "DELETE FROM audit_anchors").await;
    let (ok, out) = cli_verify(&app).await;
    assert!(!ok && out.contains(&format!("chain broken at seq {}", pruned + 1)), "{out}");
}
