//! Single sign-on through a real OpenID Connect provider (the certified `oidc-provider`, run by
//! `tests/oidc/provider.mjs` with Node), driven as a browser would: the hub's start sends the
//! browser to the provider, its login and consent forms are filled in, the provider sends it back
//! to the hub's callback, the page exchanges the one-time code for a session. Roles come from the
//! provider's `groups` claim on every sign-in; people with no mapped group, tampered or replayed
//! states and codes, and disabled accounts are refused; step-up refreshes the session's sign-in
//! time only for a fresh sign-in of the same person; with local passwords off, password sign-in is
//! refused but for the break-glass admin.

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::Mutex;
use std::time::Duration;

use reqwest::Url;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use tests::{ADMIN, ANA, Backend, PASSWORD, TestApp, TestDb, both_backends, spawn_app_with, test_config};
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};

both_backends!(sign_in_roles_replays_and_step_up, refusals_and_local_passwords_off);

const CLIENT_ID: &str = "switchboard";
const CLIENT_SECRET: &str = "switchboard-test-client-secret";

/// The provider's users and their claims.
fn users() -> Value {
    json!({
        "ana.sso": {
            "email": "ana.sso@idp.example", "email_verified": true, "name": "Ana Single",
            "groups": ["sb-agents", "sb-supervisors", "unrelated"]
        },
        "bea.sso": { "email": "bea.sso@idp.example", "email_verified": true, "name": "Bea Single", "groups": ["sb-agents"] },
        "nobody": { "email": "nobody@idp.example", "email_verified": true, "name": "No Body", "groups": ["unrelated"] },
        "ana.demo": {
            "email": ANA, "email_verified": false, "name": "Ana Demo", "groups": ["sb-agents"]
        }
    })
}

/// The provider, running until dropped.
struct Provider {
    _child: Child,
    issuer: String,
}

async fn start_provider(redirect_uri: &str) -> Provider {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/oidc");
    assert!(
        std::path::Path::new(dir).join("node_modules/oidc-provider").exists(),
        "the test OpenID provider is not installed: run `npm ci` in {dir} (scripts/test does)"
    );
    let mut child = Command::new("node")
        .arg("provider.mjs")
        .current_dir(dir)
        .env("OIDC_REDIRECT_URI", redirect_uri)
        .env("OIDC_CLIENT_ID", CLIENT_ID)
        .env("OIDC_CLIENT_SECRET", CLIENT_SECRET)
        .env("OIDC_USERS", users().to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("node runs tests/oidc/provider.mjs");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let ready = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("the provider starts within 30 s")
        .expect("provider output")
        .expect("a line from the provider");
    let issuer = ready.strip_prefix("ready ").expect("`ready <issuer>`").to_owned();
    // The provider logs on standard output too: keep reading it (a closed pipe would end it).
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Provider { _child: child, issuer }
}

/// A hub with single sign-on to a provider of its own.
async fn spawn(backend: Backend, local_passwords: bool) -> (TestApp, Provider) {
    // The provider must know the hub's callback before the hub knows the provider: take a port.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let public_url = format!("http://127.0.0.1:{port}");
    let provider = start_provider(&format!("{public_url}/api/v1/auth/sso/callback")).await;
    let db = TestDb::new(backend).await;
    let mut config = test_config(&db);
    config.server.bind = format!("127.0.0.1:{port}").parse().unwrap();
    config.sso.enabled = true;
    config.sso.issuer = provider.issuer.clone();
    config.sso.provider_name = "Test IdP".into();
    config.sso.client_id = CLIENT_ID.into();
    config.sso.client_secret = Some(CLIENT_SECRET.into());
    config.sso.public_url = public_url;
    config.sso.scopes = vec!["email".into(), "profile".into(), "groups".into()];
    config.sso.roles = [
        ("sb-agents".to_owned(), vec!["agent".to_owned()]),
        ("sb-supervisors".to_owned(), vec!["supervisor".to_owned()]),
    ]
    .into_iter()
    .collect();
    config.sso.local_passwords = local_passwords;
    config.sso.break_glass = vec![ADMIN.into()];
    (spawn_app_with(config, db).await, provider)
}

/// A browser: follows nothing by itself, keeps cookies (by name: both servers are 127.0.0.1, and
/// cookies do not tell ports apart).
struct Browser {
    http: reqwest::Client,
    cookies: Mutex<HashMap<String, String>>,
}

/// Where a browser ended up.
enum Landed {
    /// A redirect to the hub's callback, not yet followed.
    Callback(String),
    /// A hub page, with the outcome in the fragment.
    Page(String),
}

impl Browser {
    fn new() -> Self {
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Self { http, cookies: Mutex::new(HashMap::new()) }
    }

    fn cookie_header(&self) -> String {
        self.cookies.lock().unwrap().iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    fn keep_cookies(&self, res: &reqwest::Response) {
        let mut jar = self.cookies.lock().unwrap();
        for header in res.headers().get_all(SET_COOKIE) {
            let text = header.to_str().unwrap();
            let (pair, attributes) = text.split_once(';').unwrap_or((text, ""));
            let (name, value) = pair.split_once('=').unwrap();
            let lower = attributes.to_ascii_lowercase();
            if lower.contains("max-age=0") || lower.contains("1970") {
                jar.remove(name.trim());
            } else {
                jar.insert(name.trim().to_owned(), value.trim().to_owned());
            }
        }
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> reqwest::Response {
        let res = req.header(COOKIE, self.cookie_header()).send().await.unwrap();
        self.keep_cookies(&res);
        res
    }

    async fn get(&self, url: &str) -> reqwest::Response {
        self.send(self.http.get(url)).await
    }

    /// Follows redirects and fills in the provider's forms (logging in as `login`) until the
    /// provider sends the browser to the hub's callback, or the hub to one of its pages.
    async fn drive(&self, hub: &TestApp, url: &str, login: &str) -> Landed {
        let mut url = Url::parse(url).unwrap();
        let mut res = self.get(url.as_str()).await;
        for _ in 0..20 {
            if res.status().is_redirection() {
                let location = res.headers()[LOCATION].to_str().unwrap().to_owned();
                let next = url.join(&location).unwrap();
                if next.path() == "/api/v1/auth/sso/callback" {
                    return Landed::Callback(next.to_string());
                }
                if next.as_str().starts_with(&hub.url("/")) {
                    return Landed::Page(location);
                }
                url = next;
                res = self.get(url.as_str()).await;
                continue;
            }
            assert_eq!(res.status(), 200, "at {url}");
            let html = res.text().await.unwrap();
            // The form on the page (sign-in, consent, or the provider's self-submitting step
            // that ends another person's session there): its hidden fields, and at sign-in, who.
            let Some(action) = attribute(&html, "action=\"") else {
                panic!("no form at {url}: {html}");
            };
            let mut form = hidden_fields(&html);
            if form.iter().any(|(name, value)| name == "prompt" && value == "login") {
                form.push(("login".into(), login.to_owned()));
                form.push(("password".into(), "any password".to_owned()));
            }
            url = url.join(&action).unwrap();
            res = self.send(self.http.post(url.as_str()).form(&form)).await;
        }
        panic!("no end to the redirects at {url}");
    }

    /// Follows the hub's callback: the page the hub sends the browser to.
    async fn callback(&self, url: &str) -> String {
        let res = self.get(url).await;
        assert_eq!(res.status(), 303, "the callback redirects");
        res.headers()[LOCATION].to_str().unwrap().to_owned()
    }

    /// A whole sign-in as `login`, from the hub's start to the page it lands on.
    async fn sign_in(&self, hub: &TestApp, start: &str, login: &str) -> String {
        match self.drive(hub, &hub.url(start), login).await {
            Landed::Callback(url) => self.callback(&url).await,
            Landed::Page(page) => page,
        }
    }

    async fn exchange(&self, hub: &TestApp, code: &str) -> (u16, Value) {
        let res = self.send(self.http.post(hub.url("/api/v1/auth/sso/exchange")).json(&json!({"code": code}))).await;
        (res.status().as_u16(), res.json().await.unwrap_or(Value::Null))
    }
}

/// The value of the first `prefix…"` in an HTML page (a form's action, the prompt).
fn attribute(html: &str, prefix: &str) -> Option<String> {
    let start = html.find(prefix)? + prefix.len();
    let end = html[start..].find('"')?;
    Some(html[start..start + end].replace("&amp;", "&"))
}

/// The hidden fields of an HTML form: (name, value).
fn hidden_fields(html: &str) -> Vec<(String, String)> {
    html.split("<input type=\"hidden\" ")
        .skip(1)
        .filter_map(|input| Some((attribute(input, "name=\"")?, attribute(input, "value=\"")?)))
        .collect()
}

/// The value of `key` in a page's fragment (`/#sso_code=…`).
fn fragment<'a>(page: &'a str, key: &str) -> Option<&'a str> {
    let (_, fragment) = page.split_once('#')?;
    fragment.split('&').find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
}

fn digest(token: &str) -> String {
    Sha256::digest(token.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

async fn session(app: &TestApp, token: &str) -> schema::StaffSession {
    let store = &app.hub.as_ref().unwrap().state.core.store;
    store.live_session(&digest(token)).await.unwrap().expect("a live session")
}

/// Staff members with this e-mail address, as an admin lists them.
async fn members(app: &TestApp, admin: &str, email: &str) -> Vec<Value> {
    let (status, listed) = app.get("/api/v1/agents", admin).await;
    assert_eq!(status, 200);
    listed.as_array().unwrap().iter().filter(|m| m["email"] == email).cloned().collect()
}

/// A step-up's start from the admin console: the provider's URL, asking for a fresh sign-in.
async fn step_up_url(app: &TestApp, browser: &Browser, token: &str) -> String {
    let req = browser.http.get(app.url("/api/v1/auth/sso/start?purpose=step_up&return_to=/admin")).bearer_auth(token);
    let res = browser.send(req).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    let url = body["url"].as_str().unwrap().to_owned();
    assert!(url.contains("prompt=login") && url.contains("max_age=0"), "{url}");
    url
}

async fn sign_in_roles_replays_and_step_up(backend: Backend) {
    let (app, _provider) = spawn(backend, true).await;
    let (status, methods) = app.get("/api/v1/auth/methods", "").await;
    assert_eq!(status, 200);
    assert_eq!(methods["password"], true);
    assert_eq!(methods["sso"]["provider_name"], "Test IdP");

    // The whole flow; the provider's redirect to the callback is kept to replay it later.
    let browser = Browser::new();
    let Landed::Callback(callback) = browser.drive(&app, &app.url("/api/v1/auth/sso/start"), "ana.sso").await else {
        panic!("the provider did not send the browser back");
    };
    let page = browser.callback(&callback).await;
    assert!(page.starts_with("/#"), "{page}");
    let code = fragment(&page, "sso_code").expect("a one-time code in the fragment").to_owned();

    // Another browser cannot take the code (and it is then spent), nor can a wrong code work.
    let (status, _) = browser.exchange(&app, "not-the-code").await;
    assert_eq!(status, 401);
    let (status, body) = browser.exchange(&app, &code).await;
    assert_eq!(status, 200, "{body}");
    let token = body["token"].as_str().unwrap().to_owned();
    assert_eq!(body["agent"]["email"], "ana.sso@idp.example");
    // The code works once.
    let (status, body) = browser.exchange(&app, &code).await;
    assert_eq!((status, body["error"]["code"].as_str()), (401, Some("unauthorized")));
    // The provider's answer works once too: replaying the callback is refused.
    let replayed = browser.callback(&callback).await;
    assert_eq!(fragment(&replayed, "sso_error"), Some("invalid_state"), "{replayed}");

    // Roles from the claim, name and e-mail from the provider; an SSO session signed in now.
    let (status, me) = app.get("/api/v1/me", &token).await;
    assert_eq!(status, 200);
    assert_eq!(me["roles"], json!(["agent", "supervisor"]));
    assert_eq!(me["name"], "Ana Single");
    let signed_in = session(&app, &token).await;
    assert_eq!(signed_in.auth_method, schema::AuthMethod::Sso);
    assert!(time::OffsetDateTime::now_utc() - signed_in.authenticated_at < time::Duration::seconds(30));

    // An admin takes the supervisor role away; the next sign-in restores what the claim says,
    // on the same member (found by issuer and subject).
    let admin = app.login(ADMIN).await;
    let id = me["id"].as_str().unwrap().to_owned();
    let (status, _) = app.put(&format!("/api/v1/agents/{id}/roles"), &admin, &json!({"roles": ["agent"]})).await;
    assert_eq!(status, 200);
    let other = Browser::new();
    let page = other.sign_in(&app, "/api/v1/auth/sso/start?return_to=/supervisor", "ana.sso").await;
    assert!(page.starts_with("/supervisor#sso_code="), "{page}");
    let (status, body) = other.exchange(&app, fragment(&page, "sso_code").unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(body["agent"]["id"], id.as_str());
    assert_eq!(body["agent"]["roles"], json!(["agent", "supervisor"]));
    assert_eq!(members(&app, &admin, "ana.sso@idp.example").await.len(), 1);

    // Step-up: needs the session's token; a fresh sign-in of the same person refreshes it.
    let res = browser.send(browser.http.get(app.url("/api/v1/auth/sso/start?purpose=step_up"))).await;
    assert_eq!(res.status(), 401);
    let before = session(&app, &token).await.authenticated_at;
    tokio::time::sleep(Duration::from_millis(20)).await;
    // Someone else signing in at the provider does not step this session up.
    let url = step_up_url(&app, &browser, &token).await;
    let Landed::Callback(callback) = browser.drive(&app, &url, "bea.sso").await else { panic!("no callback") };
    let page = browser.callback(&callback).await;
    assert_eq!(fragment(&page, "sso_error"), Some("wrong_account"), "{page}");
    assert_eq!(session(&app, &token).await.authenticated_at, before);
    let url = step_up_url(&app, &browser, &token).await;
    let Landed::Callback(callback) = browser.drive(&app, &url, "ana.sso").await else { panic!("no callback") };
    let page = browser.callback(&callback).await;
    assert_eq!(page, "/admin#sso_step_up=done");
    assert!(session(&app, &token).await.authenticated_at > before);
}

async fn refusals_and_local_passwords_off(backend: Backend) {
    let (app, _provider) = spawn(backend, false).await;
    let (_, methods) = app.get("/api/v1/auth/methods", "").await;
    assert_eq!(methods["password"], false);

    // Password sign-in is off, but for the break-glass admin.
    let res =
        app.http.post(app.url("/api/v1/auth/login")).json(&json!({"email": ANA, "password": PASSWORD})).send().await;
    let res = res.unwrap();
    assert_eq!(res.status(), 403);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "local_passwords_disabled");
    let admin = app.login(ADMIN).await;

    // No mapped group: refused, nobody created.
    let browser = Browser::new();
    let page = browser.sign_in(&app, "/api/v1/auth/sso/start", "nobody").await;
    assert_eq!(page, "/#sso_error=no_role");
    assert!(members(&app, &admin, "nobody@idp.example").await.is_empty());

    // The provider does not vouch for the e-mail address of an existing member: not linked.
    // (Each person signs in from a browser of their own: the provider remembers who signed in.)
    let page = Browser::new().sign_in(&app, "/api/v1/auth/sso/start", "ana.demo").await;
    assert_eq!(page, "/#sso_error=email_taken");

    // A tampered state is refused and spends nothing; the real one still works.
    let browser = Browser::new();
    let Landed::Callback(callback) = browser.drive(&app, &app.url("/api/v1/auth/sso/start"), "bea.sso").await else {
        panic!("no callback")
    };
    let mut url = Url::parse(&callback).unwrap();
    let pairs: Vec<(String, String)> = url.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    url.query_pairs_mut()
        .clear()
        .extend_pairs(pairs.iter().map(|(k, v)| (k.as_str(), if k == "state" { format!("{v}x") } else { v.clone() })));
    let page = browser.callback(url.as_str()).await;
    assert_eq!(page, "/#sso_error=invalid_state");
    // Another browser (without the cookie the start set) cannot use the provider's answer.
    let page = Browser::new().callback(&callback).await;
    assert_eq!(page, "/#sso_error=invalid_state");
    let page = browser.sign_in(&app, "/api/v1/auth/sso/start", "bea.sso").await;
    let (status, body) = browser.exchange(&app, fragment(&page, "sso_code").unwrap()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["agent"]["roles"], json!(["agent"]));
    let id = body["agent"]["id"].as_str().unwrap().to_owned();

    // A disabled member is refused at the callback.
    let (status, _) = app.post(&format!("/api/v1/agents/{id}/disable"), &admin, &json!({})).await;
    assert_eq!(status, 200);
    let page = browser.sign_in(&app, "/api/v1/auth/sso/start", "bea.sso").await;
    assert_eq!(page, "/#sso_error=disabled");

    // A start with a return page elsewhere is refused.
    let res = browser.get(&app.url("/api/v1/auth/sso/start?return_to=//evil.example")).await;
    assert_eq!(res.status(), 422);
}
