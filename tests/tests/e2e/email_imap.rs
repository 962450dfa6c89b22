//! The e-mail channel's IMAP poll mode against a real Dovecot: mail delivered into mailboxes is
//! taken into conversations, threaded like SMTP mail, answered through the relay, and marked on
//! the server as each mailbox is configured (seen, moved, deleted); plain IMAP, STARTTLS and
//! IMAP over TLS with a private CA; duplicates, malformed and oversize mail; a wrong password
//! that fails its polls without hurting the others.

use channels::email::synthetic_message_id;
use hub::config::{ImapAfter, ImapConfig, TlsMode};
use serde_json::{Value, json};
use tests::mail::{Dovecot, Relay, tls_dir};
use tests::{ANA, Backend, TestApp, Ws, both_backends, spawn_app_with, test_config};

both_backends!(imap_mailboxes_are_polled_threaded_and_marked);

const SUPPORT: &str = "support@telco.example";
const BILLING: &str = "billing@telco.example";
const SALES: &str = "sales@telco.example";
const PASSWORD: &str = "imap-secret";
const CARLA: &str = "carla@example.com";

fn mailbox(name: &str, user: &str, port: u16, tls: TlsMode, after: ImapAfter) -> ImapConfig {
    ImapConfig {
        name: name.into(),
        host: "localhost".into(),
        port,
        tls,
        ca_file: (tls != TlsMode::None).then(|| tls_dir().join("ca.pem").display().to_string()),
        username: user.into(),
        password: Some(PASSWORD.into()),
        address: user.into(),
        after,
        move_to: "Done".into(),
        poll_secs: 1,
        timeout_secs: 10,
        ..ImapConfig::default()
    }
}

async fn app(backend: Backend, relay: &Relay, dovecot: &Dovecot) -> TestApp {
    let db = tests::TestDb::new(backend).await;
    let mut config = test_config(&db);
    config.email.enabled = true;
    // Mail comes only from IMAP here.
    config.email.smtp_enabled = false;
    config.email.from_address = SUPPORT.into();
    config.email.max_message_bytes = 16 * 1024;
    config.email.relay.host = "127.0.0.1".into();
    config.email.relay.port = relay.addr.port();
    config.email.relay.tls = TlsMode::None;
    config.email.retry_backoff_ms = 50;
    let mut wrong = mailbox("wrong", SUPPORT, dovecot.port, TlsMode::None, ImapAfter::Seen);
    wrong.password = Some("not-the-password".into());
    config.email.imap = vec![
        mailbox("support", SUPPORT, dovecot.port, TlsMode::None, ImapAfter::Seen),
        mailbox("billing", BILLING, dovecot.tls_port, TlsMode::Implicit, ImapAfter::Move),
        mailbox("sales", SALES, dovecot.port, TlsMode::Starttls, ImapAfter::Delete),
        wrong,
    ];
    spawn_app_with(config, db).await
}

fn mail(id: &str, to: &str, subject: &str, headers: &str, body: &str) -> Vec<u8> {
    format!(
        "Return-Path: <{CARLA}>\r\nFrom: Carla Cliente <{CARLA}>\r\nTo: {to}\r\nSubject: {subject}\r\n\
         Message-ID: <{id}>\r\nDate: Tue, 24 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n{headers}\
         Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

/// The next customer message created in the inbox.
async fn customer_message(inbox: &mut Ws) -> Value {
    loop {
        let v = inbox.next_of("message.created").await;
        if v["message"]["author"] == "customer" {
            return v;
        }
    }
}

async fn imap_mailboxes_are_polled_threaded_and_marked(backend: Backend) {
    let dovecot = Dovecot::start(&[(SUPPORT, PASSWORD), (BILLING, PASSWORD), (SALES, PASSWORD)]).await;
    let mut support = dovecot.session(SUPPORT, PASSWORD, "INBOX").await;
    let mut billing = dovecot.session(BILLING, PASSWORD, "Done").await;
    let mut sales = dovecot.session(SALES, PASSWORD, "INBOX").await;
    let relay = Relay::start().await;
    let app = app(backend, &relay, &dovecot).await;
    assert!(app.hub.as_ref().unwrap().smtp_addr.is_none(), "no SMTP listener when smtp_enabled = false");
    let ana = app.login(ANA).await;
    let mut inbox = app.inbox_socket(&ana).await;

    // Plain IMAP, "seen": the mail becomes a conversation and is marked read on the server.
    support.append("INBOX", &mail("i1.carla@example.com", SUPPORT, "Sin señal", "", "No tengo señal en casa.")).await;
    let created = customer_message(&mut inbox).await;
    assert_eq!(created["conversation"]["channel"], "email", "{created}");
    assert_eq!(created["message"]["text"], "Sin señal\n\nNo tengo señal en casa.");
    let conversation = created["conversation"]["id"].as_str().unwrap().to_owned();
    support.wait_flags("INBOX", 1, &["Seen"]).await;

    // The agent's answer goes out through the relay, threaded on the IMAP mail.
    let (status, reply) = app
        .post(&format!("/api/v1/conversations/{conversation}/messages"), &ana, &json!({"text": "¿Desde cuándo?"}))
        .await;
    assert_eq!(status, 201, "{reply}");
    let (_, _, sent) = relay.mail(1).await;
    assert_eq!(sent.in_reply_to.as_deref(), Some("i1.carla@example.com"));
    let ours = sent.message_id.as_str().to_owned();

    // Her answer lands in the same mailbox and threads by In-Reply-To; a second copy of it (a
    // redelivery) is not stored again.
    let answer = mail(
        "i2.carla@example.com",
        SUPPORT,
        "Re: Sin señal",
        &format!("In-Reply-To: <{ours}>\r\nReferences: <i1.carla@example.com> <{ours}>\r\n"),
        "Desde el lunes.\r\n\r\n> ¿Desde cuándo?",
    );
    support.append("INBOX", &answer).await;
    support.append("INBOX", &answer).await;
    let threaded = customer_message(&mut inbox).await;
    assert_eq!(threaded["conversation"]["id"], conversation.as_str(), "{threaded}");
    assert_eq!(threaded["message"]["text"], "Desde el lunes.");
    support.wait_flags("INBOX", 3, &["Seen"]).await;

    // Malformed and oversize mail: kept in the store with the reason, flagged on the server.
    let garbage = b"\x01\x02 this is not a mail\r\n".to_vec();
    support.append("INBOX", &garbage).await;
    support.wait_flags("INBOX", 4, &["Seen"]).await;
    let big = mail("big.carla@example.com", SUPPORT, "Fotos", "", &"x".repeat(40 * 1024));
    support.append("INBOX", &big).await;
    support.wait_flags("INBOX", 5, &["Seen", "Flagged"]).await;
    let store = schema::Store::connect(&app.db.url, &schema::StoreOptions { max_connections: 1, ..Default::default() })
        .await
        .unwrap();
    let kept = store.inbound_email(synthetic_message_id(&garbage).as_str()).await.unwrap().expect("kept raw");
    assert!(kept.parse_error.is_some(), "{kept:?}");
    let too_big = store.inbound_email("big.carla@example.com").await.unwrap().expect("recorded");
    let reason = too_big.parse_error.unwrap();
    assert!(reason.contains("over email.max_message_bytes"), "{reason}");
    assert!(too_big.raw.len() < 1024, "only the header is kept: {} bytes", too_big.raw.len());

    // Administrators see both, newest first, page by page, and can download each as kept.
    let admin = app.login(tests::ADMIN).await;
    let (status, page) = app.get("/api/v1/email/unprocessed?limit=1", &admin).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["items"][0]["message_id"], "big.carla@example.com", "{page}");
    assert_eq!(page["items"][0]["subject"], "Fotos");
    assert!(page["items"][0]["parse_error"].as_str().unwrap().contains("over email.max_message_bytes"));
    let cursor = page["next_cursor"].as_str().expect("a second page");
    let (_, second) = app.get(&format!("/api/v1/email/unprocessed?limit=1&cursor={cursor}"), &admin).await;
    let garbage_id = synthetic_message_id(&garbage);
    assert_eq!(second["items"][0]["message_id"], garbage_id.as_str(), "{second}");
    assert_eq!(second["items"][0]["kind"], "unparseable");
    assert!(second["next_cursor"].is_null(), "{second}");
    let res = app
        .http
        .get(app.url(&format!("/api/v1/email/inbound/{}/raw", garbage_id.as_str())))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "message/rfc822");
    assert_eq!(res.bytes().await.unwrap().as_ref(), garbage.as_slice());
    // Not for agents; a made-up cursor is refused.
    let (status, _) = app.get("/api/v1/email/unprocessed", &ana).await;
    assert_eq!(status, 403);
    let (status, body) = app.get("/api/v1/email/unprocessed?cursor=nonsense", &admin).await;
    assert_eq!(status, 422, "{body}");
    let (status, _) = app.get("/api/v1/email/inbound/nope@example.com/raw", &admin).await;
    assert_eq!(status, 404);

    // IMAP over TLS (a private CA), "move": the mail ends up in Done.
    billing.append("INBOX", &mail("b1.carla@example.com", BILLING, "Factura", "", "La factura está mal.")).await;
    let by_tls = customer_message(&mut inbox).await;
    assert_eq!(by_tls["message"]["text"], "Factura\n\nLa factura está mal.");
    billing.wait_count("Done", 1).await;
    billing.wait_count("INBOX", 0).await;

    // STARTTLS, "delete": the mail is gone from the server once stored.
    sales.append("INBOX", &mail("s1.carla@example.com", SALES, "Fibra", "", "¿Hay fibra en mi calle?")).await;
    let by_starttls = customer_message(&mut inbox).await;
    assert_eq!(by_starttls["message"]["text"], "Fibra\n\n¿Hay fibra en mi calle?");
    sales.wait_count("INBOX", 0).await;

    // Her mails to billing and sales join her open conversation, like SMTP mail would.
    assert_eq!(by_tls["conversation"]["id"], conversation.as_str());
    assert_eq!(by_starttls["conversation"]["id"], conversation.as_str());
    let (_, page) = app.get(&format!("/api/v1/conversations/{conversation}/messages"), &ana).await;
    let authors: Vec<&str> = page["items"].as_array().unwrap().iter().map(|m| m["author"].as_str().unwrap()).collect();
    assert_eq!(authors, ["customer", "agent", "customer", "customer", "customer"], "{page}");

    // The mailbox with a wrong password fails its polls, counted; the others went on meanwhile.
    let metrics = app.http.get(app.url("/metrics")).bearer_auth(&admin).send().await.unwrap().text().await.unwrap();
    let failed = metrics
        .lines()
        .find(|l| l.starts_with("switchboard_imap_mails_total{mailbox=\"wrong\",outcome=\"poll_failed\"}"))
        .unwrap_or_else(|| panic!("{metrics}"));
    assert!(!failed.ends_with(" 0"), "{failed}");
    assert!(metrics.contains("switchboard_imap_mails_total{mailbox=\"support\",outcome=\"taken\"} 4"), "{metrics}");
    assert!(metrics.contains("switchboard_imap_mails_total{mailbox=\"support\",outcome=\"too_large\"} 1"), "{metrics}");
    relay.shutdown.cancel();
}
