//! The authorisation matrix: every operation the hub serves (from the OpenAPI document its route
//! table generates, so a new route cannot go untested) asked as every principal (nobody, a web
//! chat visitor, and staff holding exactly one role each), compared with [`EXPECTED`], the spec
//! of who may call what. docs/api.md ("Who may call what") carries the same table.
//!
//! A cell is *denied* when the hub answers 401 or 403 (a websocket: closed at once with 4401),
//! *allowed* otherwise: the request got past authorisation, whatever it then made of the body
//! (every request carries `{}`, which no write takes, so allowed calls fail validation and change
//! nothing) or the ids (made up: 404 after the role check). A 5xx fails the test. A 401 asking
//! for a fresh sign-in (`step_up_required`) is allowed: the role was enough.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tests::{ADMIN, Backend, PASSWORD, TestApp, TestDb, both_backends, spawn_app_with, test_config};
use tokio_tungstenite::tungstenite::{self, Message as WsMessage};

both_backends!(every_operation_as_every_principal);

/// Who asks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Principal {
    Anonymous,
    Visitor,
    Agent,
    Supervisor,
    BotTrainer,
    Admin,
    Auditor,
}

use Principal::{Admin, Agent, Anonymous, Auditor, BotTrainer, Supervisor, Visitor};

const PRINCIPALS: [Principal; 7] = [Anonymous, Visitor, Agent, Supervisor, BotTrainer, Admin, Auditor];

impl Principal {
    fn name(self) -> &'static str {
        match self {
            Anonymous => "anonymous",
            Visitor => "visitor",
            Agent => "agent",
            Supervisor => "supervisor",
            BotTrainer => "bot_trainer",
            Admin => "admin",
            Auditor => "auditor",
        }
    }

    /// The staff role of the account that plays this principal (each holds that one role only).
    fn role(self) -> Option<&'static str> {
        matches!(self, Agent | Supervisor | BotTrainer | Admin | Auditor).then(|| self.name())
    }
}

/// Who may call what: `METHOD path` as the OpenAPI document spells it, then the principals
/// allowed (`everyone`, `nobody`, or their names). Staff principals hold one role each; `admin`
/// implies every role but `auditor`. An `{id}` naming a staff member is another member's (the
/// agent themselves may also read their own routing profile and softphone identity).
const EXPECTED: &str = "
# Pages and public documents.
GET    /                                                  everyone
GET    /{console}                                         everyone
GET    /chat                                              everyone
GET    /widget.js                                         everyone
GET    /assets/{file}                                     everyone
GET    /help.css                                          everyone
GET    /help/{id}                                         everyone
GET    /csat/{token}                                      everyone
POST   /csat/{token}                                      everyone
GET    /web/config.json                                   everyone
GET    /api/v1/webchat/config                             everyone
GET    /healthz                                           everyone
GET    /readyz                                            everyone
GET    /metrics                                           supervisor admin
GET    /api/v1/openapi.yaml                               everyone
GET    /api/v1/openapi.json                               everyone
# Signing in and out.
POST   /api/v1/auth/login                                 everyone
POST   /api/v1/auth/logout                                agent supervisor bot_trainer admin auditor
GET    /api/v1/me                                         agent supervisor bot_trainer admin auditor
# The customer's chat: a visitor token.
POST   /api/v1/webchat/sessions                           everyone
POST   /api/v1/webchat/attachments                        visitor
GET    /api/v1/webchat/attachments/{id}                   visitor
GET    /ws/webchat                                        visitor
# Platform webhooks: the platform's signature or secret, never a session.
GET    /webhooks/meta                                     nobody
POST   /webhooks/meta                                     nobody
POST   /webhooks/telegram/{account_id}                    nobody
# Agents.
GET    /ws/inbox                                          agent admin
GET    /api/v1/conversations                              agent admin
GET    /api/v1/conversations/{id}                         agent admin
GET    /api/v1/conversations/{id}/messages                agent admin
POST   /api/v1/conversations/{id}/messages                agent admin
POST   /api/v1/conversations/{id}/template                agent admin
POST   /api/v1/conversations/{id}/handover                agent admin
GET    /api/v1/conversations/{id}/calls                   agent admin
PUT    /api/v1/calls/{id}/disposition                     agent admin
GET    /api/v1/customers/{id}                             agent admin
GET    /api/v1/customers/{id}/conversations               agent admin
GET    /api/v1/customers/{id}/account                     agent supervisor admin
GET    /api/v1/customers/{id}/bills                       agent supervisor admin
GET    /api/v1/customers/{id}/bills/{bill}                agent supervisor admin
GET    /api/v1/customers/{id}/products/{product}/usage    agent supervisor admin
GET    /api/v1/customers/search                           agent supervisor admin
PATCH  /api/v1/customers/{id}                             agent supervisor admin
POST   /api/v1/customers/{id}/handles                     agent supervisor admin
DELETE /api/v1/customers/{id}/handles/{channel}/{handle}  agent supervisor admin
POST   /api/v1/customers/{id}/merge                       agent supervisor admin
PUT    /api/v1/customers/{id}/bss-link                    agent supervisor admin
GET    /api/v1/customers/{id}/churn-risk                  agent supervisor admin
GET    /api/v1/attachments/{id}                           agent admin
GET    /api/v1/tickets                                    agent admin
GET    /api/v1/tickets/{id}                               agent admin
POST   /api/v1/tickets/{id}/accept                        agent admin
POST   /api/v1/tickets/{id}/reject                        agent admin
POST   /api/v1/tickets/{id}/resolve                       agent supervisor admin
POST   /api/v1/tickets/{id}/pending                       agent supervisor admin
POST   /api/v1/tickets/{id}/transfer                      agent supervisor admin
POST   /api/v1/tickets/{id}/notes                         agent supervisor admin
PUT    /api/v1/tickets/{id}/tags                          agent admin
GET    /api/v1/tickets/{id}/sla                           agent admin
PUT    /api/v1/me/presence                                agent admin
GET    /api/v1/agents                                     agent supervisor admin
GET    /api/v1/agents/{id}/sip                            admin
GET    /api/v1/canned-responses                           agent supervisor admin
GET    /api/v1/canned-responses/{id}                      agent supervisor admin
# Supervisors.
GET    /ws/supervisor                                     supervisor admin
GET    /api/v1/wall                                       supervisor admin
GET    /api/v1/queues                                     supervisor admin
GET    /api/v1/agents/{id}/routing                        supervisor admin
PUT    /api/v1/agents/{id}/routing                        supervisor admin
PUT    /api/v1/agents/{id}/presence                       supervisor admin
GET    /api/v1/routing/rules                              supervisor admin
PUT    /api/v1/routing/rules                              supervisor admin
GET    /api/v1/routing/rules/versions                     supervisor admin
GET    /api/v1/routing/rules/versions/{version}           supervisor admin
POST   /api/v1/routing/rules/versions/{version}/restore   supervisor admin
GET    /api/v1/sla/policies                               supervisor admin
PUT    /api/v1/sla/policies                               supervisor admin
GET    /api/v1/sla/policies/versions                      supervisor admin
POST   /api/v1/routing/dry-run                            supervisor admin
POST   /api/v1/routing/dry-run/history                    supervisor admin
POST   /api/v1/canned-responses                           supervisor admin
PUT    /api/v1/canned-responses/{id}                      supervisor admin
DELETE /api/v1/canned-responses/{id}                      supervisor admin
# Bot trainers.
GET    /api/v1/kb/documents                               bot_trainer admin
POST   /api/v1/kb/documents                               bot_trainer admin
GET    /api/v1/kb/documents/{id}                          bot_trainer admin
PUT    /api/v1/kb/documents/{id}                          bot_trainer admin
GET    /api/v1/kb/documents/{id}/versions                 bot_trainer admin
POST   /api/v1/kb/documents/{id}/versions/{version}/restore bot_trainer admin
GET    /api/v1/kb/search                                  bot_trainer admin
POST   /api/v1/kb/import                                  bot_trainer admin
GET    /api/v1/bot/unanswered                             bot_trainer admin
POST   /api/v1/bot/unanswered/answer                      bot_trainer admin
POST   /api/v1/bot/unanswered/dismiss                     bot_trainer admin
POST   /api/v1/bot/unanswered/merge                       bot_trainer admin
GET    /api/v1/bot/answers                                bot_trainer admin
PUT    /api/v1/bot/answers/{id}/verdict                   bot_trainer admin
GET    /api/v1/bot/conversations/{id}/messages            bot_trainer admin
POST   /api/v1/bot/try                                    bot_trainer admin
GET    /api/v1/bot/intents                                bot_trainer admin
PUT    /api/v1/bot/intents/{name}                         bot_trainer admin
# Administrators.
POST   /api/v1/agents                                     admin
PUT    /api/v1/agents/{id}/roles                          admin
POST   /api/v1/agents/{id}/disable                        admin
POST   /api/v1/agents/{id}/enable                         admin
POST   /api/v1/agents/{id}/password                       admin
DELETE /api/v1/agents/{id}/sessions                       admin
PUT    /api/v1/agents/{id}/sip                            admin
PUT    /api/v1/agents/{id}/team                           admin
GET    /api/v1/channels/social                            admin
POST   /api/v1/channels/social                            admin
GET    /api/v1/channels/configured                        admin
GET    /api/v1/email/unprocessed                          admin
GET    /api/v1/email/inbound/{message_id}/raw             admin
GET    /api/v1/settings/widget                            admin
PUT    /api/v1/settings/widget                            admin
GET    /api/v1/settings/retention                         admin
PUT    /api/v1/settings/retention                         admin
# Issue 15: two-step sign-in, step-up, single sign-on, the audit trail, data-subject rights.
DELETE /api/v1/auth/mfa                                   agent supervisor bot_trainer admin auditor
GET    /api/v1/auth/mfa                                   agent supervisor bot_trainer admin auditor
POST   /api/v1/auth/mfa/totp                              agent supervisor bot_trainer admin auditor
POST   /api/v1/auth/mfa/totp/confirm                      agent supervisor bot_trainer admin auditor
POST   /api/v1/auth/mfa/recovery-codes                    agent supervisor bot_trainer admin auditor
POST   /api/v1/auth/step-up                               agent supervisor bot_trainer admin auditor
POST   /api/v1/auth/logout-all                            agent supervisor bot_trainer admin auditor
POST   /api/v1/auth/login/mfa                             everyone
GET    /api/v1/auth/methods                               everyone
GET    /api/v1/auth/sso/start                             everyone
GET    /api/v1/auth/sso/callback                          everyone
POST   /api/v1/auth/sso/exchange                          everyone
GET    /api/v1/audit                                      auditor
GET    /api/v1/audit/export                               auditor
GET    /api/v1/audit/verify                               auditor
GET    /api/v1/customers                                  admin
GET    /api/v1/customers/{id}/privacy                     admin
PUT    /api/v1/customers/{id}/legal-hold                  admin
POST   /api/v1/customers/{id}/export                      admin
POST   /api/v1/customers/{id}/erase                       admin
GET    /api/v1/settings/mfa                               admin
PUT    /api/v1/settings/mfa                               admin
POST   /api/v1/agents/{id}/mfa/reset                      admin
# Issue 16: the customer-care workflows and their approvals.
GET    /api/v1/care/options                               agent supervisor admin
GET    /api/v1/conversations/{id}/care/requests           agent supervisor admin
GET    /api/v1/conversations/{id}/care/catalogue          agent supervisor admin
GET    /api/v1/conversations/{id}/care/eligibility        agent supervisor admin
POST   /api/v1/conversations/{id}/care/new-service        agent supervisor admin
GET    /api/v1/conversations/{id}/care/changes            agent supervisor admin
POST   /api/v1/conversations/{id}/care/modify-service     agent supervisor admin
GET    /api/v1/conversations/{id}/care/bills              agent supervisor admin
GET    /api/v1/conversations/{id}/care/bills/{bill}       agent supervisor admin
POST   /api/v1/conversations/{id}/care/adjustments        agent supervisor admin
GET    /api/v1/conversations/{id}/care/cancellable        agent supervisor admin
POST   /api/v1/conversations/{id}/care/discontinue        agent supervisor admin
GET    /api/v1/care/approvals                             supervisor admin
POST   /api/v1/care/approvals/{id}/approve                supervisor admin
POST   /api/v1/care/approvals/{id}/reject                 supervisor admin
GET    /api/v1/care/adjustments                           supervisor admin
# Issue 16: outages (the incident feed, its Alertmanager webhook, banners) and line tests.
GET    /api/v1/incidents                                  agent supervisor admin
POST   /api/v1/incidents                                  supervisor admin
GET    /api/v1/incidents/{id}                             agent supervisor admin
PATCH  /api/v1/incidents/{id}                             supervisor admin
POST   /api/v1/incidents/{id}/resolve-tickets             supervisor admin
POST   /api/v1/webhooks/alertmanager                      nobody
GET    /api/v1/webchat/incidents                          visitor
GET    /api/v1/conversations/{id}/incidents               agent supervisor admin
GET    /api/v1/conversations/{id}/diagnostics             agent supervisor admin
POST   /api/v1/conversations/{id}/diagnostics             agent supervisor admin
# Customer satisfaction.
GET    /api/v1/reports/csat                               supervisor admin
# Issue 18: reports from the rollups.
GET    /api/v1/reports/{kind}                             supervisor admin
";

/// Operations that end the caller's session: asked with a session of its own, signed in for it.
const SESSION_ENDING: &[&str] = &["POST /api/v1/auth/logout", "POST /api/v1/auth/logout-all"];

/// Operations that end every session of the caller's account (so the throwaway session does not
/// shield the others): asked last, after the check that the callers' sessions survived.
const ENDS_ALL_SESSIONS: &[&str] = &["POST /api/v1/auth/logout-all"];

/// Bodies other than `{}`, for operations whose credentials depend on what the body names: a Meta
/// webhook is verified with the secrets of the accounts it names, so it must parse first.
const PROBE_BODIES: &[(&str, &str)] = &[("POST /webhooks/meta", r#"{"object": "page", "entry": []}"#)];

/// An id no record has: an allowed caller gets 404 after the role check.
const NO_SUCH_ID: &str = "0190f6f2-7c1e-7000-8000-0000000a0000";

/// One row of the table: the operation and who may call it.
#[derive(Debug)]
struct Row {
    operation: String,
    allowed: BTreeSet<Principal>,
}

fn parse_expected() -> Vec<Row> {
    let by_name: BTreeMap<&str, Principal> = PRINCIPALS.iter().map(|p| (p.name(), *p)).collect();
    let mut rows = Vec::new();
    for line in EXPECTED.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let mut words = line.split_whitespace();
        let (Some(method), Some(path)) = (words.next(), words.next()) else {
            panic!("a row is `METHOD path principals…`: {line:?}");
        };
        let mut allowed = BTreeSet::new();
        for word in words {
            match word {
                "everyone" => allowed.extend(PRINCIPALS),
                "nobody" => {}
                name => {
                    allowed
                        .insert(*by_name.get(name).unwrap_or_else(|| panic!("unknown principal {name:?} in {line:?}")));
                }
            }
        }
        rows.push(Row { operation: format!("{method} {path}"), allowed });
    }
    rows
}

/// A row as it is written in [`EXPECTED`].
fn row_text(operation: &str, allowed: &BTreeSet<Principal>) -> String {
    let who = if allowed.len() == PRINCIPALS.len() {
        "everyone".to_owned()
    } else if allowed.is_empty() {
        "nobody".to_owned()
    } else {
        allowed.iter().map(|p| p.name()).collect::<Vec<_>>().join(" ")
    };
    let (method, path) = operation.split_once(' ').unwrap_or((operation, ""));
    format!("{method:<6} {path:<50} {who}")
}

/// The table as docs/api.md shows it.
fn markdown(rows: &[Row]) -> String {
    let mut out = String::from("| operation |");
    for p in PRINCIPALS {
        write!(out, " {} |", p.name()).unwrap();
    }
    out.push_str("\n|---|");
    out.push_str(&"---|".repeat(PRINCIPALS.len()));
    out.push('\n');
    for row in rows {
        write!(out, "| `{}` |", row.operation).unwrap();
        for p in PRINCIPALS {
            out.push_str(if row.allowed.contains(&p) { " ✓ |" } else { "   |" });
        }
        out.push('\n');
    }
    out
}

/// One operation of the OpenAPI document, with a concrete address to ask.
#[derive(Clone, Debug)]
struct Operation {
    method: String,
    path: String,
    url_path: String,
}

impl Operation {
    fn key(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

fn operations(doc: &Value) -> Vec<Operation> {
    let paths = doc["paths"].as_object().expect("paths");
    let mut out = Vec::new();
    for (path, item) in paths {
        for method in ["get", "put", "post", "delete", "patch"] {
            let Some(operation) = item.get(method) else {
                continue;
            };
            // A path parameter takes its documented example (a route that takes only some words),
            // a made-up number, or an id no record has.
            let value = |name: &str| {
                let param = operation["parameters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|p| p["in"] == "path" && p["name"] == name);
                match param {
                    Some(p) if p["example"].is_string() => p["example"].as_str().unwrap_or_default().to_owned(),
                    Some(p) if p["schema"]["type"] == "integer" => "999999".to_owned(),
                    _ => NO_SUCH_ID.to_owned(),
                }
            };
            let url_path = path
                .split('/')
                .map(|part| match part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                    Some(name) => value(name),
                    None => part.to_owned(),
                })
                .collect::<Vec<_>>()
                .join("/");
            out.push(Operation { method: method.to_uppercase(), path: path.clone(), url_path });
        }
    }
    out
}

/// What the hub made of one request.
#[derive(Clone, Debug)]
enum Outcome {
    Allowed(String),
    Denied(String),
    /// A 5xx, or a socket that neither opened nor closed as documented.
    Broken(String),
}

/// Asks one operation over HTTP.
async fn ask(app: &TestApp, op: &Operation, token: Option<&str>) -> Outcome {
    let mut request = app
        .http
        .request(op.method.parse().expect("method"), app.url(&op.url_path))
        .header("content-type", "application/json");
    if op.method != "GET" {
        let key = op.key();
        let body = PROBE_BODIES.iter().find(|(k, _)| *k == key).map_or("{}", |(_, b)| *b);
        request = request.body(body);
    }
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let res = match request.send().await {
        Ok(res) => res,
        Err(e) => return Outcome::Broken(format!("no answer: {e}")),
    };
    let status = res.status().as_u16();
    let body = res.text().await.unwrap_or_default();
    let code = serde_json::from_str::<Value>(&body)
        .ok()
        .and_then(|v| v["error"]["code"].as_str().map(str::to_owned))
        .unwrap_or_default();
    let seen = format!("{status} {}", body.chars().take(160).collect::<String>());
    match status {
        500.. => Outcome::Broken(seen),
        401 if code == "step_up_required" => Outcome::Allowed(seen),
        401 | 403 => Outcome::Denied(seen),
        _ => Outcome::Allowed(seen),
    }
}

/// Opens a websocket: closed at once with 4401 is denied; a frame (the hub's first push, or its
/// answer to a frame it cannot use) is allowed.
async fn ask_socket(app: &TestApp, op: &Operation, token: Option<&str>) -> Outcome {
    let mut url = format!("ws://{}{}", app.addr, op.url_path);
    if let Some(token) = token {
        write!(url, "?token={token}").unwrap();
    }
    let mut ws = match tokio_tungstenite::connect_async(&url).await {
        Ok((ws, _)) => ws,
        Err(tungstenite::Error::Http(res)) if matches!(res.status().as_u16(), 401 | 403) => {
            return Outcome::Denied(format!("HTTP {}", res.status()));
        }
        Err(e) => return Outcome::Broken(format!("no upgrade: {e}")),
    };
    // Sockets that push nothing on connect answer this with an error frame.
    let _ = ws.send(WsMessage::text("{}")).await;
    let deadline = tokio::time::Instant::now() + tests::WAIT;
    loop {
        let frame = match tokio::time::timeout_at(deadline, ws.next()).await {
            Ok(frame) => frame,
            Err(_) => return Outcome::Broken("neither a frame nor a close in time".into()),
        };
        match frame {
            Some(Ok(WsMessage::Text(_))) => return Outcome::Allowed("a frame".into()),
            Some(Ok(WsMessage::Close(Some(c)))) if u16::from(c.code) == 4401 => {
                return Outcome::Denied(format!("closed 4401 {}", c.reason));
            }
            Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_))) => {}
            other => return Outcome::Broken(format!("{other:?}")),
        }
    }
}

/// A staff member holding only `role`, created through the admin API: its e-mail.
async fn create_staff(app: &TestApp, admin: &str, role: &str) -> String {
    let email = format!("authz.{role}@example.com");
    let body = json!({"email": email, "name": format!("Matrix {role}"), "roles": [role], "password": PASSWORD});
    let (status, created) = app.post("/api/v1/agents", admin, &body).await;
    assert_eq!(status, 201, "creating the {role} account: {created}");
    email
}

async fn every_operation_as_every_principal(backend: Backend) {
    // The bot on (its routes answer 503 when it is off), searching by keywords: no model to load.
    let db = TestDb::new(backend).await;
    let mut config = test_config(&db);
    config.bot.enabled = true;
    config.bot.model_dir = "/nonexistent/model".into();
    let app = spawn_app_with(config, db).await;
    let doc: Value = app.http.get(app.url("/api/v1/openapi.json")).send().await.unwrap().json().await.unwrap();
    let served = operations(&doc);
    assert!(served.len() >= 100, "the document lists the hub's operations: {}", served.len());

    // The principals: staff accounts with one role each, made by an administrator; a visitor.
    let demo_admin = app.login(ADMIN).await;
    let mut emails = BTreeMap::new();
    let mut tokens: BTreeMap<Principal, Option<String>> = BTreeMap::new();
    for p in PRINCIPALS {
        if let Some(role) = p.role() {
            let email = create_staff(&app, &demo_admin, role).await;
            tokens.insert(p, Some(app.login(&email).await));
            emails.insert(p, email);
        }
    }
    let (visitor, _) = app.new_chat().await;
    tokens.insert(Visitor, Some(visitor));
    tokens.insert(Anonymous, None);
    // A session of its own for each operation that ends the caller's.
    let mut throwaway: BTreeMap<Principal, Option<String>> = tokens.clone();
    for (p, email) in &emails {
        throwaway.insert(*p, Some(app.login(email).await));
    }

    // Every cell, a few at a time.
    let mut cells = Vec::new();
    for op in &served {
        for p in PRINCIPALS {
            let sessions = if SESSION_ENDING.contains(&op.key().as_str()) { &throwaway } else { &tokens };
            cells.push((op.clone(), p, sessions[&p].clone()));
        }
    }
    let app_ref = &app;
    let ask_cell = |(op, p, token): (Operation, Principal, Option<String>)| async move {
        let outcome = if op.path.starts_with("/ws/") {
            ask_socket(app_ref, &op, token.as_deref()).await
        } else {
            ask(app_ref, &op, token.as_deref()).await
        };
        (op.key(), p, outcome)
    };
    let (last, cells): (Vec<_>, Vec<_>) =
        cells.into_iter().partition(|(op, _, _)| ENDS_ALL_SESSIONS.contains(&op.key().as_str()));
    let mut results: Vec<(String, Principal, Outcome)> =
        futures_util::stream::iter(cells).map(ask_cell).buffer_unordered(16).collect().await;

    // The callers' sessions survived (an operation that ends them belongs in SESSION_ENDING).
    let mut problems = Vec::new();
    for (p, token) in &tokens {
        if let (Some(token), Some(_)) = (token, p.role()) {
            let (status, _) = app.get("/api/v1/me", token).await;
            if status != 200 {
                problems.push(format!(
                    "the {} session ended during the run ({status}): an operation ends the caller's session; add it \
                     to SESSION_ENDING in tests/tests/e2e/authz.rs",
                    p.name()
                ));
            }
        }
    }
    // Each with a session of its own, opened now (the throwaway ones ended with `logout`).
    for (op, p, token) in last {
        let token = match emails.get(&p) {
            Some(email) => Some(app.login(email).await),
            None => token,
        };
        results.push(ask_cell((op, p, token)).await);
    }

    // Compare with the table.
    let expected = parse_expected();
    let expected_ops: BTreeMap<&str, &BTreeSet<Principal>> =
        expected.iter().map(|r| (r.operation.as_str(), &r.allowed)).collect();
    let mut observed: BTreeMap<String, BTreeMap<Principal, Outcome>> = BTreeMap::new();
    for (key, p, outcome) in results {
        observed.entry(key).or_default().insert(p, outcome);
    }
    let mut missing_rows = Vec::new();
    for (key, cells) in &observed {
        for (p, outcome) in cells {
            if let Outcome::Broken(seen) = outcome {
                problems.push(format!("{key} as {}: {seen}", p.name()));
            }
        }
        let allowed: BTreeSet<Principal> =
            cells.iter().filter(|(_, o)| matches!(o, Outcome::Allowed(_))).map(|(p, _)| *p).collect();
        let Some(want) = expected_ops.get(key.as_str()) else {
            missing_rows.push(row_text(key, &allowed));
            continue;
        };
        for (p, outcome) in cells {
            match (want.contains(p), outcome) {
                (true, Outcome::Denied(seen)) => {
                    problems.push(format!("{key} as {}: expected allowed, got {seen}", p.name()));
                }
                (false, Outcome::Allowed(seen)) => {
                    problems.push(format!("{key} as {}: expected denied, got {seen}", p.name()));
                }
                _ => {}
            }
        }
    }
    let stale: Vec<&str> = expected_ops.keys().filter(|k| !observed.contains_key(**k)).copied().collect();

    let mut report = String::new();
    if !missing_rows.is_empty() {
        writeln!(
            report,
            "\nServed operations without a row in EXPECTED (tests/tests/e2e/authz.rs). Each is shown with what the \
             hub does now; check it is what the operation should allow, then add it (and to docs/api.md):\n{}",
            missing_rows.join("\n")
        )
        .unwrap();
    }
    if !stale.is_empty() {
        writeln!(report, "\nRows for operations the hub no longer serves (remove them):\n{}", stale.join("\n"))
            .unwrap();
    }
    if !problems.is_empty() {
        writeln!(report, "\n{} cells differ from the table:\n{}", problems.len(), problems.join("\n")).unwrap();
    }
    assert!(report.is_empty(), "the authorisation matrix does not hold:{report}");
}

/// docs/api.md shows the same table.
#[test]
fn the_documented_table_is_the_tested_one() {
    let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/api.md")).unwrap();
    let (start, end) = ("<!-- authz-matrix:start -->\n", "<!-- authz-matrix:end -->");
    let shown = docs.split_once(start).and_then(|(_, rest)| rest.split_once(end)).map(|(table, _)| table);
    let want = markdown(&parse_expected());
    assert_eq!(
        shown,
        Some(want.as_str()),
        "docs/api.md must show the authorisation table of tests/tests/e2e/authz.rs between {start:?} and {end:?}:\n\
         {start}{want}{end}"
    );
}

/// The table's own checks: every row names known principals, none twice.
#[test]
fn the_table_parses() {
    let rows = parse_expected();
    assert!(rows.len() >= 100, "{}", rows.len());
    let ops: BTreeSet<&str> = rows.iter().map(|r| r.operation.as_str()).collect();
    assert_eq!(ops.len(), rows.len(), "an operation has two rows");
}
