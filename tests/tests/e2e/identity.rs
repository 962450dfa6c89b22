//! Staff identity through the running hub: TOTP set-up and two-step sign-in (codes computed here
//! from the secret the hub shows), replayed and used codes refused, the per-role requirement,
//! step-up expiry, sign-in throttling under a burst of wrong passwords, idle and absolute
//! session expiry, and signing out everywhere.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tests::{ADMIN, ANA, BRUNO, Backend, PASSWORD, TINA, TestApp, TestDb, both_backends, spawn_app_with, test_config};
use totp_rs::{Algorithm, Secret, TOTP};

both_backends!(
    totp_sign_in_replay_and_recovery_codes,
    role_requirement_and_admin_reset,
    step_up_expires,
    throttling_per_account_and_address,
    sessions_expire_idle_and_absolute,
    sign_out_everywhere,
);

async fn spawn(backend: Backend, tune: impl FnOnce(&mut hub::Config)) -> TestApp {
    let db = TestDb::new(backend).await;
    let mut config = test_config(&db);
    tune(&mut config);
    spawn_app_with(config, db).await
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

/// The code of `secret` (base32) for the step `steps_ahead` steps from now.
fn code(secret: &str, steps_ahead: u64) -> String {
    let bytes = Secret::Encoded(secret.to_owned()).to_bytes().unwrap();
    TOTP::new(Algorithm::SHA1, 6, 1, 30, bytes).unwrap().generate(now() + 30 * steps_ahead)
}

fn code_of(body: &Value) -> Option<&str> {
    body["error"]["code"].as_str()
}

async fn post_anon(app: &TestApp, path: &str, body: &Value) -> (u16, Value, Option<String>) {
    let res = app.http.post(app.url(path)).json(body).send().await.unwrap();
    let status = res.status().as_u16();
    let retry = res.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
    (status, res.json().await.unwrap_or(Value::Null), retry)
}

async fn password_login(app: &TestApp, email: &str, password: &str) -> (u16, Value, Option<String>) {
    post_anon(app, "/api/v1/auth/login", &json!({"email": email, "password": password})).await
}

/// Sets up TOTP for the member of `token`: (secret, recovery codes).
async fn enrol(app: &TestApp, token: &str) -> (String, Vec<String>) {
    let (status, started) = app.post("/api/v1/auth/mfa/totp", token, &json!({})).await;
    assert_eq!(status, 200, "{started}");
    let secret = started["secret"].as_str().unwrap().to_owned();
    let uri = started["otpauth_uri"].as_str().unwrap();
    assert!(uri.starts_with("otpauth://totp/Switchboard:"), "{uri}");
    assert!(uri.contains(&format!("secret={secret}")), "{uri}");
    assert!(started["qr_svg"].as_str().unwrap().contains("<svg"));
    let (status, body) = app.post("/api/v1/auth/mfa/totp/confirm", token, &json!({"code": "000000"})).await;
    if status == 200 {
        // One chance in a million that 000000 is the code: start over.
        return Box::pin(enrol(app, token)).await;
    }
    assert_eq!((status, code_of(&body)), (422, Some("invalid_field")), "{body}");
    let (status, body) = app.post("/api/v1/auth/mfa/totp/confirm", token, &json!({"code": code(&secret, 0)})).await;
    assert_eq!(status, 200, "{body}");
    let codes: Vec<String> =
        body["recovery_codes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_owned()).collect();
    (secret, codes)
}

/// Signs in with the password, expecting the second-factor challenge.
async fn challenge(app: &TestApp, email: &str) -> String {
    let (status, body, _) = password_login(app, email, PASSWORD).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["mfa_required"], true, "{body}");
    assert!(body.get("token").is_none(), "{body}");
    body["challenge"].as_str().unwrap().to_owned()
}

async fn second_factor(app: &TestApp, challenge: &str, factor: &Value) -> (u16, Value) {
    let mut body = factor.clone();
    body["challenge"] = json!(challenge);
    let (status, body, _) = post_anon(app, "/api/v1/auth/login/mfa", &body).await;
    (status, body)
}

async fn totp_sign_in_replay_and_recovery_codes(backend: Backend) {
    let app = spawn(backend, |_| {}).await;
    let bruno = app.login(BRUNO).await;
    let (status, state) = app.get("/api/v1/auth/mfa", &bruno).await;
    assert_eq!(status, 200);
    assert_eq!((state["enrolled"].as_bool(), state["required"].as_bool()), (Some(false), Some(false)), "{state}");
    let (secret, recovery) = enrol(&app, &bruno).await;
    assert_eq!(recovery.len(), 10);
    let (_, state) = app.get("/api/v1/auth/mfa", &bruno).await;
    assert_eq!((state["enrolled"].as_bool(), state["recovery_codes_left"].as_u64()), (Some(true), Some(10)));
    // Set up twice: refused.
    assert_eq!(app.post("/api/v1/auth/mfa/totp", &bruno, &json!({})).await.0, 409);

    // The password alone no longer gives a session.
    let c = challenge(&app, BRUNO).await;
    assert_eq!(second_factor(&app, &c, &json!({"code": "123"})).await.0, 401);
    assert_eq!(second_factor(&app, &c, &json!({})).await.0, 422);
    // The set-up's own code was used: replaying it is refused. The next step's code works.
    assert_eq!(second_factor(&app, &c, &json!({"code": code(&secret, 0)})).await.0, 401);
    let next = code(&secret, 1);
    let (status, session) = second_factor(&app, &c, &json!({"code": next})).await;
    assert_eq!(status, 200, "{session}");
    let token = session["token"].as_str().unwrap();
    assert_eq!(session["mfa_enrolment_required"], false);
    assert_eq!(app.get("/api/v1/me", token).await.0, 200);
    // A used challenge does not sign in again, and the same code is refused on a new one.
    assert_eq!(second_factor(&app, &c, &json!({"code": code(&secret, 1)})).await.0, 401);
    let c = challenge(&app, BRUNO).await;
    let (status, body) = second_factor(&app, &c, &json!({"code": next})).await;
    assert_eq!((status, code_of(&body)), (401, Some("unauthorized")), "a replayed code: {body}");

    // A recovery code works once, typed in any case.
    let (status, body) = second_factor(&app, &c, &json!({"recovery_code": recovery[0].to_uppercase()})).await;
    assert_eq!(status, 200, "{body}");
    let c = challenge(&app, BRUNO).await;
    assert_eq!(second_factor(&app, &c, &json!({"recovery_code": recovery[0]})).await.0, 401);
    assert_eq!(second_factor(&app, &c, &json!({"recovery_code": recovery[1]})).await.0, 200);
    let (_, state) = app.get("/api/v1/auth/mfa", &bruno).await;
    assert_eq!(state["recovery_codes_left"], 8);

    // New recovery codes replace the old ones.
    let (status, body) = app.post("/api/v1/auth/mfa/recovery-codes", &bruno, &json!({})).await;
    assert_eq!(status, 200, "{body}");
    let fresh = body["recovery_codes"][0].as_str().unwrap().to_owned();
    let c = challenge(&app, BRUNO).await;
    assert_eq!(second_factor(&app, &c, &json!({"recovery_code": recovery[2]})).await.0, 401);
    assert_eq!(second_factor(&app, &c, &json!({"recovery_code": fresh})).await.0, 200);

    // Turned off by its owner: the password alone signs in again.
    let res = app.http.delete(app.url("/api/v1/auth/mfa")).bearer_auth(&bruno).send().await.unwrap();
    assert_eq!(res.status(), 204);
    let (status, body, _) = password_login(&app, BRUNO, PASSWORD).await;
    assert_eq!(status, 200);
    assert!(body["token"].is_string(), "{body}");
}

async fn role_requirement_and_admin_reset(backend: Backend) {
    let app = spawn(backend, |_| {}).await;
    let admin = app.login(ADMIN).await;
    // The demo data turns the requirement off; the config's default asks supervisors and admins.
    let (status, policy) = app.get("/api/v1/settings/mfa", &admin).await;
    assert_eq!(status, 200);
    assert_eq!(policy["required_roles"], json!([]), "{policy}");
    let (status, policy) =
        app.put("/api/v1/settings/mfa", &admin, &json!({"required_roles": ["supervisor", "supervisor"]})).await;
    assert_eq!(status, 200, "{policy}");
    assert_eq!((policy["required_roles"].clone(), policy["source"].as_str()), (json!(["supervisor"]), Some("console")));
    assert_eq!(app.put("/api/v1/settings/mfa", &admin, &json!({"required_roles": ["root"]})).await.0, 400);
    let ana = app.login(ANA).await;
    assert_eq!(app.put("/api/v1/settings/mfa", &ana, &json!({"required_roles": []})).await.0, 403);

    // Bruno is a supervisor without TOTP: a session that can only set it up.
    let (status, body, _) = password_login(&app, BRUNO, PASSWORD).await;
    assert_eq!(status, 200);
    assert_eq!(body["mfa_enrolment_required"], true, "{body}");
    let bruno = body["token"].as_str().unwrap().to_owned();
    for path in ["/api/v1/agents", "/api/v1/routing/rules", "/api/v1/conversations"] {
        let (status, body) = app.get(path, &bruno).await;
        assert_eq!((status, code_of(&body)), (403, Some("mfa_enrolment_required")), "{path}: {body}");
    }
    assert_eq!(app.get("/api/v1/me", &bruno).await.0, 200);
    let (_, state) = app.get("/api/v1/auth/mfa", &bruno).await;
    assert_eq!((state["enrolled"].as_bool(), state["required"].as_bool()), (Some(false), Some(true)));
    // Ana (agent only) is not concerned.
    assert_eq!(app.get("/api/v1/conversations", &ana).await.0, 200);

    enrol(&app, &bruno).await;
    assert_eq!(app.get("/api/v1/routing/rules", &bruno).await.0, 200);
    let (_, staff) = app.get("/api/v1/agents", &admin).await;
    let bruno_id = app.me(&bruno).await;
    let row = staff.as_array().unwrap().iter().find(|a| a["id"] == bruno_id.as_str()).unwrap().clone();
    assert_eq!(row["mfa_enrolled"], true, "{row}");

    // An admin resets it (a lost phone): Bruno's sessions end; the password alone gives a
    // set-up-only session again.
    assert_eq!(app.post(&format!("/api/v1/agents/{bruno_id}/mfa/reset"), &ana, &json!({})).await.0, 403);
    let (status, row) = app.post(&format!("/api/v1/agents/{bruno_id}/mfa/reset"), &admin, &json!({})).await;
    assert_eq!(status, 200, "{row}");
    assert_eq!(row["mfa_enrolled"], false);
    assert_eq!(app.get("/api/v1/me", &bruno).await.0, 401);
    let (status, body, _) = password_login(&app, BRUNO, PASSWORD).await;
    assert_eq!((status, body["mfa_enrolment_required"].as_bool()), (200, Some(true)), "{body}");
}

async fn step_up_expires(backend: Backend) {
    let app = spawn(backend, |c| c.staff.step_up_secs = 1).await;
    let admin = app.login(ADMIN).await;
    let policy = json!({"required_roles": []});
    assert_eq!(app.put("/api/v1/settings/mfa", &admin, &policy).await.0, 200);
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let (status, body) = app.put("/api/v1/settings/mfa", &admin, &policy).await;
    assert_eq!((status, code_of(&body)), (401, Some("step_up_required")), "{body}");
    let bruno_id = app.me(&app.login(BRUNO).await).await;
    let (status, body) =
        app.put(&format!("/api/v1/agents/{bruno_id}/roles"), &admin, &json!({"roles": ["agent"]})).await;
    assert_eq!((status, code_of(&body)), (401, Some("step_up_required")), "{body}");
    // The session itself is still good.
    assert_eq!(app.get("/api/v1/settings/mfa", &admin).await.0, 200);

    let (status, body) = app.post("/api/v1/auth/step-up", &admin, &json!({"password": "wrong password!"})).await;
    assert_eq!((status, code_of(&body)), (401, Some("unauthorized")), "{body}");
    let (status, body) = app.post("/api/v1/auth/step-up", &admin, &json!({"password": PASSWORD})).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["authenticated_at"].is_string());
    assert_eq!(app.put("/api/v1/settings/mfa", &admin, &policy).await.0, 200);

    // With TOTP set up, step-up needs a code too.
    let (secret, _) = enrol(&app, &admin).await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(app.put("/api/v1/settings/mfa", &admin, &policy).await.0, 401);
    let (status, body) = app.post("/api/v1/auth/step-up", &admin, &json!({"password": PASSWORD})).await;
    assert_eq!(status, 401, "{body}");
    let (status, body) =
        app.post("/api/v1/auth/step-up", &admin, &json!({"password": PASSWORD, "code": code(&secret, 1)})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(app.put("/api/v1/settings/mfa", &admin, &policy).await.0, 200);
}

async fn throttling_per_account_and_address(backend: Backend) {
    let app = spawn(backend, |c| {
        c.staff.login_failures_before_lock = 3;
        c.staff.login_attempts_per_minute_per_address = 100;
    })
    .await;
    // A burst of wrong passwords for one account, at once: refused (401, or 429 once locked),
    // never a server error.
    let burst = (0..8).map(|i| {
        let app = &app;
        async move { password_login(app, ANA, &format!("wrong password {i}")).await.0 }
    });
    let statuses = futures_util::future::join_all(burst).await;
    assert!(statuses.iter().all(|s| *s == 401 || *s == 429), "{statuses:?}");
    // Now locked: the right password is refused too, with a Retry-After.
    let (status, body, retry) = password_login(&app, ANA, PASSWORD).await;
    assert_eq!((status, code_of(&body)), (429, Some("rate_limited")), "{body}");
    let retry: u64 = retry.expect("Retry-After").parse().unwrap();
    assert!(retry >= 1, "{retry}");
    // Another account from the same address still signs in.
    assert_eq!(password_login(&app, TINA, PASSWORD).await.0, 200);
    // Upper case is the same account.
    assert_eq!(password_login(&app, &ANA.to_uppercase(), PASSWORD).await.0, 429);

    // Many accounts from one address: the address is locked (4 x 3 failures), for everyone.
    let mut locked = false;
    for i in 0..12 {
        let (status, _, _) = password_login(&app, &format!("nobody{i}@example.com"), "wrong password").await;
        assert!(status == 401 || status == 429, "{status}");
        locked |= status == 429;
    }
    let (status, body, _) = password_login(&app, ADMIN, PASSWORD).await;
    assert!(locked || status == 429, "{status} {body}");
    assert_eq!((status, code_of(&body)), (429, Some("rate_limited")), "{body}");
}

async fn sessions_expire_idle_and_absolute(backend: Backend) {
    let app = spawn(backend, |c| {
        c.staff.session_idle_secs = 3;
        c.staff.session_max_secs = 8;
    })
    .await;
    // Idle: unused for longer than 3 s, the token is dead.
    let idle = app.login(ANA).await;
    let active = app.login(BRUNO).await;
    let start = Instant::now();
    assert_eq!(app.get("/api/v1/me", &idle).await.0, 200);
    // Active: used every half second, it outlives the idle timeout…
    let mut alive_past_idle = false;
    let mut died_at = None;
    while start.elapsed() < Duration::from_secs(14) {
        let status = app.get("/api/v1/me", &active).await.0;
        if status == 401 {
            died_at = Some(start.elapsed());
            break;
        }
        assert_eq!(status, 200);
        alive_past_idle |= start.elapsed() > Duration::from_secs(5);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(alive_past_idle, "activity did not keep the session past the idle timeout");
    // …but not past the absolute lifetime.
    let died_at = died_at.expect("the session outlived its absolute lifetime");
    assert!(died_at >= Duration::from_secs(7), "{died_at:?}");
    assert_eq!(app.get("/api/v1/me", &idle).await.0, 401);
    let (status, body) = app.get("/api/v1/me", &active).await;
    assert_eq!((status, code_of(&body)), (401, Some("unauthorized")));
}

async fn sign_out_everywhere(backend: Backend) {
    let app = spawn(backend, |_| {}).await;
    let one = app.login(ANA).await;
    let two = app.login(ANA).await;
    let other = app.login(TINA).await;
    let (status, body) = app.post("/api/v1/auth/logout-all", &one, &json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["sessions_ended"], 2);
    assert_eq!(app.get("/api/v1/me", &one).await.0, 401);
    assert_eq!(app.get("/api/v1/me", &two).await.0, 401);
    assert_eq!(app.get("/api/v1/me", &other).await.0, 200);
    assert_eq!(app.post("/api/v1/auth/logout-all", &one, &json!({})).await.0, 401);
}
