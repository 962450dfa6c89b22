//! E-mail end to end: mail in over a real SMTP session (lettre as the client) to the hub's
//! listener, the conversation in the REST API and the live inbox, an agent's reply out through
//! the relay (a local SMTP server the test runs, recording what it receives), the customer's
//! answer threading back, redeliveries, auto-replies, bounces, oversize and malformed mail, and
//! the relay refusing for a while or for good.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;

use channels::email::{MailKind, conversation_token, synthetic_message_id};
use lettre::address::Envelope as LettreEnvelope;
use lettre::message::header::ContentType;
use lettre::message::{Attachment, MultiPart, SinglePart};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use serde_json::{Value, json};
use tests::mail::Relay;
use tests::{ANA, Backend, TestApp, Ws, both_backends, spawn_app_with, test_config};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

both_backends!(
    email_round_trip_threads_and_keeps_robots_out,
    email_refusals_and_relay_failures,
    the_bot_answers_mail_in_its_thread,
    a_forged_mail_neither_joins_a_thread_nor_redirects_replies,
    mail_without_results_is_unverified_when_they_are_required,
    smtp_limits_are_keyed_on_the_client_address
);

pub(crate) const SUPPORT: &str = "support@telco.example";
pub(crate) const CARLA: &str = "carla@example.com";
/// The wait before the first retry of a reply the relay refused for a while; the hub's sender
/// also looks at its queue this often.
const RETRY_BACKOFF_MS: u64 = 50;

async fn app(backend: Backend, relay: &Relay) -> TestApp {
    app_with(backend, relay, |_| {}).await
}

pub(crate) async fn app_with(backend: Backend, relay: &Relay, tune: impl FnOnce(&mut hub::config::Config)) -> TestApp {
    let db = tests::TestDb::new(backend).await;
    let mut config = test_config(&db);
    config.email.enabled = true;
    config.email.smtp_bind = "127.0.0.1:0".parse().unwrap();
    config.email.hostname = "mx.telco.test".into();
    config.email.addresses = vec![SUPPORT.into()];
    config.email.from_address = SUPPORT.into();
    config.email.from_name = "Telco Support".into();
    config.email.max_message_bytes = 64 * 1024;
    config.email.relay.host = "127.0.0.1".into();
    config.email.relay.port = relay.addr.port();
    config.email.relay.tls = hub::config::TlsMode::None;
    config.email.send_attempts = 5;
    config.email.retry_backoff_ms = RETRY_BACKOFF_MS;
    let tls = tests::mail::tls_dir();
    config.email.tls_cert_file = Some(tls.join("cert.pem").display().to_string());
    config.email.tls_key_file = Some(tls.join("key.pem").display().to_string());
    tune(&mut config);
    spawn_app_with(config, db).await
}

fn smtp_addr(app: &TestApp) -> SocketAddr {
    app.hub.as_ref().and_then(|h| h.smtp_addr).expect("the SMTP listener runs")
}

fn client(app: &TestApp) -> AsyncSmtpTransport<Tokio1Executor> {
    AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(smtp_addr(app).port())
        .hello_name(ClientId::Domain("mail.example.com".into()))
        .timeout(Some(Duration::from_secs(10)))
        .build()
}

/// A client that insists on STARTTLS and trusts only the test CA (the hub's certificate is for
/// `localhost`).
fn tls_client(app: &TestApp) -> AsyncSmtpTransport<Tokio1Executor> {
    use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
    let ca = std::fs::read(tests::mail::tls_dir().join("ca.pem")).unwrap();
    let params = TlsParameters::builder("localhost".into())
        .add_root_certificate(Certificate::from_pem(&ca).unwrap())
        .build()
        .unwrap();
    AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("localhost")
        .port(smtp_addr(app).port())
        .tls(Tls::Required(params))
        .timeout(Some(Duration::from_secs(10)))
        .build()
}

/// Sends `raw` with lettre, from `from` (`None`: the null reverse path) to support.
pub(crate) async fn send(app: &TestApp, from: Option<&str>, raw: &[u8]) -> Result<(), lettre::transport::smtp::Error> {
    let envelope = LettreEnvelope::new(from.map(|f| f.parse().unwrap()), vec![SUPPORT.parse().unwrap()]).unwrap();
    client(app).send_raw(&envelope, raw).await.map(|_| ())
}

/// A plain-text mail from Carla.
pub(crate) fn carla_mail(id: &str, subject: &str, headers: &str, body: &str) -> Vec<u8> {
    format!(
        "From: Carla Cliente <{CARLA}>\r\nTo: Telco Support <{SUPPORT}>\r\nSubject: {subject}\r\n\
         Message-ID: <{id}>\r\nDate: Tue, 24 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n{headers}\
         Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

/// The next inbox event of `kind` about message `id`.
async fn event_for(ws: &mut Ws, kind: &str, id: &str) -> Value {
    loop {
        let v = ws.next_of(kind).await;
        if v["message"]["id"] == id {
            return v;
        }
    }
}

/// The next `message.created` on a conversation.
async fn created_in(ws: &mut Ws, conversation: &str) -> Value {
    loop {
        let v = ws.next_of("message.created").await;
        if v["conversation"]["id"] == conversation {
            return v;
        }
    }
}

async fn messages(app: &TestApp, token: &str, conversation: &str) -> Vec<Value> {
    let (status, page) = app.get(&format!("/api/v1/conversations/{conversation}/messages"), token).await;
    assert_eq!(status, 200, "{page}");
    page["items"].as_array().unwrap().clone()
}

async fn email_round_trip_threads_and_keeps_robots_out(backend: Backend) {
    let relay = Relay::start().await;
    let app = app(backend, &relay).await;
    let ana = app.login(ANA).await;
    let mut inbox = app.inbox_socket(&ana).await;

    // A customer's mail, with an attachment, built and sent by lettre.
    let first = lettre::Message::builder()
        .from(format!("Carla Cliente <{CARLA}>").parse().unwrap())
        .to(SUPPORT.parse().unwrap())
        .subject("Sin internet")
        .message_id(Some("<m1.carla@example.com>".into()))
        .multipart(
            MultiPart::mixed().singlepart(SinglePart::plain("No tengo internet desde ayer.".to_owned())).singlepart(
                Attachment::new("factura.pdf".into())
                    .body(b"%PDF-1.4 la factura".to_vec(), ContentType::parse("application/pdf").unwrap()),
            ),
        )
        .unwrap();
    let first_raw = first.formatted();
    // Over STARTTLS (the listener has a certificate configured).
    tls_client(&app).send_raw(first.envelope(), &first_raw).await.unwrap();

    // The live inbox sees it, on a new e-mail conversation.
    let created = inbox.next_of("message.created").await;
    assert_eq!(created["conversation"]["channel"], "email", "{created}");
    assert_eq!(created["message"]["author"], "customer");
    assert_eq!(created["message"]["text"], "Sin internet\n\nNo tengo internet desde ayer.");
    assert_eq!(created["message"]["channel_message_id"], "m1.carla@example.com");
    let conversation = created["conversation"]["id"].as_str().unwrap().to_owned();
    let token = conversation_token(&conversation.parse().unwrap());

    // The attachment is a media reference agents can download.
    let media = &created["message"]["media"][0];
    assert_eq!(media["file_name"], "factura.pdf");
    assert_eq!(media["mime_type"], "application/pdf");
    let reference = media["reference"].as_str().unwrap();
    assert!(reference.starts_with("/api/v1/attachments/"), "{reference}");
    let res = app.http.get(app.url(reference)).bearer_auth(&ana).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/pdf");
    assert!(res.headers()["content-disposition"].to_str().unwrap().contains("factura.pdf"));
    assert_eq!(res.bytes().await.unwrap().as_ref(), b"%PDF-1.4 la factura");
    let res = app.http.get(app.url(reference)).send().await.unwrap();
    assert_eq!(res.status(), 401);

    // And the REST API.
    let (status, list) = app.get("/api/v1/conversations", &ana).await;
    assert_eq!(status, 200);
    assert!(
        list["items"].as_array().unwrap().iter().any(|c| c["id"] == conversation.as_str() && c["channel"] == "email")
    );
    // The conversation carries the mail's subject, and the customer's profile the address.
    let (status, detail) = app.get(&format!("/api/v1/conversations/{conversation}"), &ana).await;
    assert_eq!((status, detail["subject"].as_str()), (200, Some("Sin internet")), "{detail}");
    let customer = detail["customer_id"].as_str().unwrap();
    let (status, profile) = app.get(&format!("/api/v1/customers/{customer}"), &ana).await;
    assert_eq!(status, 200, "{profile}");
    let handles = profile["handles"].as_array().unwrap();
    assert_eq!(handles.len(), 1, "{profile}");
    assert_eq!((&handles[0]["channel"], &handles[0]["handle"]), (&json!("email"), &json!(CARLA)));
    assert_eq!((&handles[0]["kind"], &handles[0]["value"]), (&json!("email"), &json!(CARLA)));
    assert_eq!(profile["conversations"]["items"][0]["id"], conversation.as_str());
    assert_eq!(profile["conversations"]["items"][0]["subject"], "Sin internet");

    // The agent replies; the relay receives a threaded mail with both parts.
    let (status, reply) = app
        .post(
            &format!("/api/v1/conversations/{conversation}/messages"),
            &ana,
            &json!({"text": "Hola Carla, reinicie el router <ya>."}),
        )
        .await;
    assert_eq!(status, 201, "{reply}");
    assert_eq!(reply["delivery_status"], "queued");
    let reply_id = reply["id"].as_str().unwrap().to_owned();
    let (envelope, raw, sent) = relay.mail(1).await;
    assert_eq!(envelope.mail_from.as_deref(), Some(SUPPORT));
    assert_eq!(envelope.rcpt_to.iter().map(|r| r.as_str()).collect::<Vec<_>>(), vec![CARLA]);
    assert_eq!(sent.in_reply_to.as_deref(), Some("m1.carla@example.com"));
    assert_eq!(sent.references, vec!["m1.carla@example.com".to_owned()]);
    assert!(sent.message_id.as_str().ends_with("@telco.example"), "{}", sent.message_id.as_str());
    assert!(!sent.message_id_is_synthetic);
    assert_eq!(sent.subject, format!("Re: Sin internet {}", token.subject_tag()));
    assert_eq!(sent.text.trim(), "Hola Carla, reinicie el router <ya>.");
    let raw_text = String::from_utf8_lossy(&raw).to_lowercase();
    assert!(raw_text.contains("multipart/alternative"), "{raw_text}");
    assert!(raw_text.contains("content-type: text/plain"), "{raw_text}");
    assert!(raw_text.contains("content-type: text/html"), "{raw_text}");
    assert!(raw_text.contains("&lt;ya&gt;"), "the HTML part escapes the text: {raw_text}");
    assert!(raw_text.contains(&format!("support+{}@telco.example", token.as_str().to_lowercase())), "{raw_text}");
    let sent_event = event_for(&mut inbox, "message.updated", &reply_id).await;
    assert_eq!(sent_event["message"]["delivery_status"], "sent", "{sent_event}");
    let our_id = sent.message_id.as_str().to_owned();

    // The customer answers the reply: it threads by In-Reply-To, quotes trimmed.
    let answer = carla_mail(
        "m2.carla@example.com",
        &format!("Re: Re: Sin internet {}", token.subject_tag()),
        &format!("In-Reply-To: <{our_id}>\r\nReferences: <m1.carla@example.com> <{our_id}>\r\n"),
        "Ya lo reinicié y sigue igual.\r\n\r\nEl mar, 24 nov 2026, Telco Support escribió:\r\n> Hola Carla, reinicie el router.",
    );
    send(&app, Some(CARLA), &answer).await.unwrap();
    let threaded = created_in(&mut inbox, &conversation).await;
    assert_eq!(threaded["message"]["text"], "Ya lo reinicié y sigue igual.", "{threaded}");
    assert_eq!(threaded["message"]["author"], "customer");

    // A client that drops In-Reply-To still threads by the token in the subject...
    let by_token =
        carla_mail("m3.carla@example.com", &format!("Otra cosa {}", token.subject_tag()), "", "¿Y la factura?");
    send(&app, Some(CARLA), &by_token).await.unwrap();
    let threaded = created_in(&mut inbox, &conversation).await;
    assert_eq!(threaded["message"]["text"], "¿Y la factura?", "{threaded}");
    // ...but neither a token nor a Message-ID is a key for somebody else: a new conversation.
    let stranger = format!(
        "From: mallory@example.com\r\nTo: {SUPPORT}\r\nSubject: hi {}\r\nMessage-ID: <m1.mallory@example.com>\r\nIn-Reply-To: <m1.carla@example.com>\r\n\r\nlet me in\r\n",
        token.subject_tag()
    );
    send(&app, Some("mallory@example.com"), stranger.as_bytes()).await.unwrap();
    let other = inbox.next_of("message.created").await;
    assert_eq!(other["message"]["text"], format!("hi {}\n\nlet me in", token.subject_tag()));
    assert_ne!(other["conversation"]["id"], conversation.as_str());

    // A redelivered mail is stored once.
    send(&app, Some(CARLA), &first_raw).await.unwrap();

    // An out-of-office answer to our reply is no customer turn: a system message.
    let away = carla_mail(
        "ooo.carla@example.com",
        "Fuera de la oficina",
        &format!("Auto-Submitted: auto-replied\r\nIn-Reply-To: <{our_id}>\r\n"),
        "Vuelvo el lunes.",
    );
    send(&app, Some(CARLA), &away).await.unwrap();
    let auto = created_in(&mut inbox, &conversation).await;
    assert_eq!(auto["message"]["author"], "system", "{auto}");
    assert!(auto["message"]["text"].as_str().unwrap().starts_with("[automatic reply] Fuera de la oficina"));

    // A bounce of our reply marks it failed, and is no customer turn either.
    let bounce = format!(
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.com>\r\nTo: {SUPPORT}\r\n\
         Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <bounce1@mx.example.com>\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n\r\n\
         --B\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n\r\n\
         --B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.com\r\n\r\n\
         Final-Recipient: rfc822; {CARLA}\r\nAction: failed\r\nStatus: 5.2.2\r\n\
         Diagnostic-Code: smtp; 552 5.2.2 mailbox full\r\n\r\n\
         --B\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: {SUPPORT}\r\nTo: {CARLA}\r\nMessage-ID: <{our_id}>\r\n\r\n--B--\r\n"
    );
    send(&app, None, bounce.as_bytes()).await.unwrap();
    let failed = event_for(&mut inbox, "message.updated", &reply_id).await;
    assert_eq!(failed["message"]["delivery_status"], "failed", "{failed}");
    assert!(failed["message"]["delivery_error"].as_str().unwrap().contains("5.2.2"), "{failed}");
    let note = created_in(&mut inbox, &conversation).await;
    assert_eq!(note["message"]["author"], "system", "{note}");
    assert!(note["message"]["text"].as_str().unwrap().starts_with("[delivery failed]"), "{note}");

    // In all: three customer turns, one agent reply (failed), two system notes.
    let all = messages(&app, &ana, &conversation).await;
    let authors: Vec<&str> = all.iter().map(|m| m["author"].as_str().unwrap()).collect();
    assert_eq!(authors, ["customer", "agent", "customer", "customer", "system", "system"], "{all:?}");
    assert_eq!(all[1]["delivery_status"], "failed");
    assert_eq!(relay.sink.mails.lock().unwrap().len(), 1, "nothing else was mailed out");
    relay.shutdown.cancel();
}

/// With the bot on (the real model and the demo knowledge base), a mail gets the bot's answer in
/// its thread, marked as automatic; an out-of-office answer to it gets nothing; asking for a
/// person hands over, and the bot says so in the thread.
async fn the_bot_answers_mail_in_its_thread(backend: Backend) {
    let relay = Relay::start().await;
    let app = app_with(backend, &relay, |config| {
        config.bot.enabled = true;
        config.bot.model_dir = tests::model_dir();
    })
    .await;
    let ana = app.login(ANA).await;
    let mut inbox = app.inbox_socket(&ana).await;

    let question = carla_mail("q1.carla@example.com", "Roaming", "", "How do I turn on roaming for my trip abroad?");
    send(&app, Some(CARLA), &question).await.unwrap();
    let created = inbox.next_of("message.created").await;
    let conversation = created["conversation"]["id"].as_str().unwrap().to_owned();
    assert_eq!(created["conversation"]["status"], "bot", "{created}");

    let (_, _, answer) = relay.mail(1).await;
    assert_eq!(answer.in_reply_to.as_deref(), Some("q1.carla@example.com"));
    assert!(answer.subject.starts_with("Re: Roaming"), "{}", answer.subject);
    assert!(answer.text.to_lowercase().contains("roaming"), "{}", answer.text);
    assert!(matches!(answer.kind, MailKind::AutoReply(_)), "the bot's mail says it is automatic: {:?}", answer.kind);
    let bot_id = answer.message_id.as_str().to_owned();

    // Her out-of-office answer to the bot is kept as a note, and the bot does not answer it.
    let away = carla_mail(
        "ooo.carla@example.com",
        "Out of office",
        &format!("Auto-Submitted: auto-replied\r\nIn-Reply-To: <{bot_id}>\r\n"),
        "Back on Monday.",
    );
    send(&app, Some(CARLA), &away).await.unwrap();
    // She asks for a person: the bot hands over. Its next mail answers this one, so it did not
    // answer the out-of-office mail (the bot takes a conversation's turns in order).
    // (Her client sends In-Reply-To but no References.)
    let person = carla_mail(
        "q2.carla@example.com",
        "Re: Roaming",
        &format!("In-Reply-To: <{bot_id}>\r\n"),
        "I want to talk to a person, please.",
    );
    send(&app, Some(CARLA), &person).await.unwrap();
    let (_, _, handover) = relay.mail(2).await;
    assert_eq!(handover.in_reply_to.as_deref(), Some("q2.carla@example.com"));
    assert_eq!(handover.references, [bot_id.as_str(), "q2.carla@example.com"], "the thread goes on");
    assert!(handover.text.contains("agent"), "{}", handover.text);

    let all = messages(&app, &ana, &conversation).await;
    let authors: Vec<&str> = all.iter().map(|m| m["author"].as_str().unwrap()).collect();
    assert_eq!(authors, ["customer", "bot", "system", "customer", "bot"], "{all:?}");
    let (_, conv) = app.get(&format!("/api/v1/conversations/{conversation}"), &ana).await;
    assert_ne!(conv["status"], "bot", "handed over: {conv}");
    assert_eq!(relay.sink.mails.lock().unwrap().len(), 2, "two bot mails, nothing else");
    relay.shutdown.cancel();
}

async fn read_reply(r: &mut BufReader<tokio::net::tcp::OwnedReadHalf>) -> String {
    let mut all = String::new();
    loop {
        let mut line = String::new();
        r.read_line(&mut line).await.unwrap();
        all.push_str(&line);
        if line.len() < 4 || line.as_bytes()[3] != b'-' {
            return all;
        }
    }
}

/// One SMTP session on a raw socket, for bytes lettre would rewrite.
async fn raw_session(addr: SocketAddr, data: &[u8]) -> Vec<String> {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (r, mut w) = stream.into_split();
    let mut r = BufReader::new(r);
    let mut replies = Vec::new();
    replies.push(read_reply(&mut r).await);
    for command in [
        "EHLO raw.example.com\r\n",
        "MAIL FROM:<robot@example.com>\r\n",
        &format!("RCPT TO:<{SUPPORT}>\r\n"),
        "DATA\r\n",
    ] {
        w.write_all(command.as_bytes()).await.unwrap();
        replies.push(read_reply(&mut r).await);
    }
    w.write_all(data).await.unwrap();
    w.write_all(b".\r\n").await.unwrap();
    replies.push(read_reply(&mut r).await);
    w.write_all(b"QUIT\r\n").await.unwrap();
    replies
}

async fn email_refusals_and_relay_failures(backend: Backend) {
    let relay = Relay::start().await;
    let app = app(backend, &relay).await;
    let ana = app.login(ANA).await;
    let mut inbox = app.inbox_socket(&ana).await;

    // Too big: 552, and nothing stored.
    let big = carla_mail("big.carla@example.com", "big", "", &"x".repeat(100 * 1024));
    let err = send(&app, Some(CARLA), &big).await.unwrap_err();
    assert_eq!(err.status().map(|c| c.to_string()), Some("552".into()), "{err}");
    let (_, list) = app.get("/api/v1/conversations", &ana).await;
    assert_eq!(list["items"], json!([]), "{list}");

    // Not a mail at all: accepted, kept raw with its parse error, no conversation.
    let garbage = b"\x00\x01\x02 this is not a mail\r\n";
    let replies = raw_session(smtp_addr(&app), garbage).await;
    assert!(replies.last().unwrap().starts_with("250"), "{replies:?}");
    let store = schema::Store::connect(&app.db.url, &schema::StoreOptions { max_connections: 1, ..Default::default() })
        .await
        .unwrap();
    let kept = store.inbound_email(synthetic_message_id(garbage).as_str()).await.unwrap().expect("kept raw");
    assert_eq!(kept.kind, schema::InboundEmailKind::Unparseable);
    assert_eq!(kept.raw, garbage);
    assert!(kept.parse_error.as_deref().is_some_and(|e| !e.is_empty()), "{kept:?}");
    assert_eq!(kept.mail_from.as_deref(), Some("robot@example.com"));
    assert!(kept.conversation_id.is_none());
    let (_, list) = app.get("/api/v1/conversations", &ana).await;
    assert_eq!(list["items"], json!([]), "{list}");

    // One sender over the rate limit (30 a minute, burst 10): 451 4.7.1, that mail not stored.
    let mut accepted = 0;
    let refused = loop {
        let raw = format!(
            "From: flood@example.com\r\nTo: {SUPPORT}\r\nSubject: spam\r\nMessage-ID: <flood{accepted}@example.com>\r\n\r\nbuy\r\n"
        );
        match send(&app, Some("flood@example.com"), raw.as_bytes()).await {
            Ok(()) => accepted += 1,
            Err(e) => break e,
        }
        assert!(accepted <= 10, "the burst is 10");
    };
    assert_eq!(accepted, 10);
    assert_eq!(refused.status().map(|c| c.to_string()), Some("451".into()), "{refused}");
    assert!(refused.to_string().contains("4.7.1"), "{refused}");
    assert!(store.inbound_email("flood10@example.com").await.unwrap().is_none());
    assert!(store.inbound_email("flood9@example.com").await.unwrap().is_some());
    for _ in 0..10 {
        inbox.next_of("message.created").await;
    }

    // A mail opens a conversation to reply on.
    let body = "¿Cuándo se hace? Mi tarjeta es 4111 1111 1111 1111.";
    send(&app, Some(CARLA), &carla_mail("m1.carla@example.com", "Portabilidad", "", body)).await.unwrap();
    let created = inbox.next_of("message.created").await;
    // Card numbers are masked in the message and in the raw copy kept of the mail.
    assert_eq!(created["message"]["text"], "Portabilidad\n\n¿Cuándo se hace? Mi tarjeta es **** **** **** 1111.");
    let kept = store.inbound_email("m1.carla@example.com").await.unwrap().expect("kept raw");
    let kept = String::from_utf8(kept.raw).unwrap();
    assert!(kept.contains("Mi tarjeta es **** **** **** 1111.") && !kept.contains("4111"), "{kept}");
    let conversation = created["conversation"]["id"].as_str().unwrap().to_owned();

    // Also where the card is encoded: a base64 body, a CSV attachment, a UTF-8 subject.
    let encoded = lettre::Message::builder()
        .from(CARLA.parse().unwrap())
        .to(SUPPORT.parse().unwrap())
        .subject("Cobro a la tarjeta 4111111111111111 — ¿por qué?")
        .message_id(Some("<m1b.carla@example.com>".into()))
        .multipart(
            MultiPart::mixed()
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_PLAIN)
                        .header(lettre::message::header::ContentTransferEncoding::Base64)
                        .body("Me cobraron en la 4111111111111111 dos veces.".to_owned()),
                )
                .singlepart(Attachment::new("cobros.csv".into()).body(
                    b"fecha,tarjeta,importe\n2026-11-01,4111111111111111,20\n".to_vec(),
                    ContentType::parse("text/csv").unwrap(),
                )),
        )
        .unwrap();
    send(&app, Some(CARLA), &encoded.formatted()).await.unwrap();
    let created = inbox.next_of("message.created").await;
    let text = created["message"]["text"].as_str().unwrap();
    assert!(text.contains("************1111") && !text.contains("4111"), "{text}");
    let kept = store.inbound_email("m1b.carla@example.com").await.unwrap().expect("kept raw");
    let reread = channels::email::parse_inbound(&kept.raw, &channels::email::InboundLimits::default()).unwrap();
    assert_eq!(reread.subject, "Cobro a la tarjeta ************1111 — ¿por qué?");
    assert_eq!(reread.text.trim(), "Me cobraron en la ************1111 dos veces.");
    assert!(String::from_utf8_lossy(&reread.attachments[0].content).contains(",************1111,"));
    let csv = created["message"]["media"][0]["reference"].as_str().unwrap();
    let res = app.http.get(app.url(csv)).bearer_auth(&ana).send().await.unwrap();
    assert_eq!(res.text().await.unwrap(), "fecha,tarjeta,importe\n2026-11-01,************1111,20\n");

    // The relay refuses twice with 4xx: retried, then sent.
    relay.sink.refuse_temporarily.store(2, Ordering::SeqCst);
    let (status, reply) =
        app.post(&format!("/api/v1/conversations/{conversation}/messages"), &ana, &json!({"text": "Mañana."})).await;
    assert_eq!(status, 201, "{reply}");
    let reply_id = reply["id"].as_str().unwrap().to_owned();
    loop {
        let update = event_for(&mut inbox, "message.updated", &reply_id).await;
        match update["message"]["delivery_status"].as_str() {
            Some("queued") => assert!(update["message"]["delivery_error"].as_str().unwrap().contains("451")),
            Some("sent") => break,
            other => panic!("unexpected {other:?}: {update}"),
        }
    }
    let (_, _, sent) = relay.mail(1).await;
    assert_eq!(sent.text.trim(), "Mañana.");
    assert_eq!(relay.sink.attempts.load(Ordering::SeqCst), 3);

    // For good (5xx): failed, with the relay's reason, not retried.
    relay.sink.refuse_permanently.store(true, Ordering::SeqCst);
    let (status, reply) =
        app.post(&format!("/api/v1/conversations/{conversation}/messages"), &ana, &json!({"text": "¿Algo más?"})).await;
    assert_eq!(status, 201, "{reply}");
    let reply_id = reply["id"].as_str().unwrap().to_owned();
    let update = event_for(&mut inbox, "message.updated", &reply_id).await;
    assert_eq!(update["message"]["delivery_status"], "failed", "{update}");
    let error = update["message"]["delivery_error"].as_str().unwrap();
    assert!(error.contains("554") && error.contains("mailbox disabled"), "{error}");
    // This checks that something does not happen, so there is no event to wait for: a retry,
    // were there one, would be due one backoff after the failure and sent within one tick of
    // the hub's sender (also one backoff), so four backoffs are enough to see it.
    tokio::time::sleep(Duration::from_millis(4 * RETRY_BACKOFF_MS)).await;
    assert_eq!(relay.sink.attempts.load(Ordering::SeqCst), 4, "a permanent failure is not retried");
    let all = messages(&app, &ana, &conversation).await;
    assert_eq!(all.len(), 4, "two mails from her, two replies");
    assert_eq!(all[2]["delivery_status"], "sent");
    assert_eq!(all[3]["delivery_status"], "failed");

    // A new sender's first mails, delivered at once over several sessions: one conversation.
    let (_, before) = app.get("/api/v1/conversations", &ana).await;
    let sends = (0..6).map(|i| {
        let raw = format!(
            "From: burst@example.com\r\nTo: {SUPPORT}\r\nSubject: s{i}\r\nMessage-ID: <burst{i}@example.com>\r\n\r\nhola\r\n"
        );
        let app = &app;
        async move { send(app, Some("burst@example.com"), raw.as_bytes()).await }
    });
    for result in futures_util::future::join_all(sends).await {
        result.unwrap();
    }
    let (_, after) = app.get("/api/v1/conversations", &ana).await;
    let count = |v: &Value| v["items"].as_array().unwrap().len();
    assert_eq!(count(&after), count(&before) + 1, "{after}");
    store.close().await;
    relay.shutdown.cancel();
}

/// The receiving MTA's authserv-id, trusted by the hub in the tests below.
const MX: &str = "mx.telco.test";
/// What the MTA writes for a genuine mail from example.com.
const PASS: &str =
    "spf=pass smtp.mailfrom=example.com; dkim=pass header.d=example.com; dmarc=pass header.from=example.com";

/// Carla's mail as the receiving MTA hands it on: its `Authentication-Results` on top.
fn checked_mail(id: &str, subject: &str, headers: &str, body: &str, results: &str) -> Vec<u8> {
    let mut raw = format!("Authentication-Results: {MX}; {results}\r\n").into_bytes();
    raw.extend(carla_mail(id, subject, headers, body));
    raw
}

/// The recipients of the relay's `n`th mail.
async fn mailed_to(relay: &Relay, n: usize) -> Vec<String> {
    let (envelope, _, _) = relay.mail(n).await;
    envelope.rcpt_to.iter().map(|r| r.as_str().to_owned()).collect()
}

async fn a_forged_mail_neither_joins_a_thread_nor_redirects_replies(backend: Backend) {
    let relay = Relay::start().await;
    let app = app_with(backend, &relay, |c| c.email.trusted_authserv_id = MX.into()).await;
    let ana = app.login(ANA).await;
    let mut inbox = app.inbox_socket(&ana).await;

    send(&app, Some(CARLA), &checked_mail("v1.carla@example.com", "Factura", "", "¿Y mi factura?", PASS))
        .await
        .unwrap();
    let created = inbox.next_of("message.created").await;
    let conversation = created["conversation"]["id"].as_str().unwrap().to_owned();
    let token = conversation_token(&conversation.parse().unwrap());

    // Carla's own follow-up names another Reply-To: it threads, but the answer still goes to
    // the address the conversation was opened with.
    let follow_up = checked_mail(
        "v2.carla@example.com",
        "Re: Factura",
        "Reply-To: <carla.work@example.net>\r\nIn-Reply-To: <v1.carla@example.com>\r\n",
        "Contesten aquí.",
        PASS,
    );
    send(&app, Some(CARLA), &follow_up).await.unwrap();
    assert_eq!(created_in(&mut inbox, &conversation).await["message"]["text"], "Contesten aquí.");
    let url = format!("/api/v1/conversations/{conversation}/messages");
    let (status, reply) = app.post(&url, &ana, &json!({"text": "Ya la enviamos."})).await;
    assert_eq!(status, 201, "{reply}");
    assert_eq!(mailed_to(&relay, 1).await, [CARLA]);
    let (_, _, sent) = relay.mail(1).await;
    let our_id = sent.message_id.as_str().to_owned();

    // A forged mail: Carla's From, the right In-Reply-To, References and token, a Reply-To of the
    // forger's, and even a forged "dmarc=pass" in the MTA's name below the MTA's real verdict.
    let forged = checked_mail(
        "forged1@evil.test",
        &format!("Re: Factura {}", token.subject_tag()),
        &format!(
            "Authentication-Results: {MX}; dmarc=pass header.from=example.com\r\nReply-To: <mallory@evil.test>\r\n\
             In-Reply-To: <{our_id}>\r\nReferences: <v1.carla@example.com> <{our_id}>\r\n"
        ),
        "Mándenme el PIN a esta dirección.",
        "spf=fail smtp.mailfrom=example.com; dmarc=fail header.from=example.com",
    );
    send(&app, Some(CARLA), &forged).await.unwrap();
    // The inbox also shows the agent's own reply: skip to the customer's next message.
    let opened = loop {
        let v = inbox.next_of("message.created").await;
        if v["message"]["author"] == "customer" {
            break v;
        }
    };
    let flagged = opened["conversation"]["id"].as_str().unwrap().to_owned();
    assert_ne!(flagged, conversation, "the forged mail joined Carla's conversation: {opened}");
    let flag = created_in(&mut inbox, &flagged).await;
    assert_eq!(flag["message"]["author"], "system", "{flag}");
    let flag_text = flag["message"]["text"].as_str().unwrap();
    assert!(flag_text.starts_with("[unverified sender]") && flag_text.contains("fail"), "{flag_text}");
    assert_eq!(messages(&app, &ana, &conversation).await.len(), 3, "Carla's conversation is untouched");

    // The agent's next answer to Carla goes to Carla; one in the flagged conversation goes to
    // the address it was opened with (the real Carla), never to the forger's Reply-To.
    let (status, _) = app.post(&url, &ana, &json!({"text": "¿Algo más?"})).await;
    assert_eq!(status, 201);
    assert_eq!(mailed_to(&relay, 2).await, [CARLA]);
    let (status, _) =
        app.post(&format!("/api/v1/conversations/{flagged}/messages"), &ana, &json!({"text": "¿Quién es?"})).await;
    assert_eq!(status, 201);
    assert_eq!(mailed_to(&relay, 3).await, [CARLA]);
    relay.shutdown.cancel();
}

async fn mail_without_results_is_unverified_when_they_are_required(backend: Backend) {
    let relay = Relay::start().await;
    let app = app_with(backend, &relay, |c| {
        c.email.trusted_authserv_id = MX.into();
        c.email.require_authentication = true;
    })
    .await;
    let ana = app.login(ANA).await;
    let mut inbox = app.inbox_socket(&ana).await;
    send(&app, Some(CARLA), &checked_mail("r1.carla@example.com", "Alta", "", "Quiero fibra.", PASS)).await.unwrap();
    let conversation = inbox.next_of("message.created").await["conversation"]["id"].as_str().unwrap().to_owned();
    // Verified again: it threads.
    let again =
        checked_mail("r2.carla@example.com", "Re: Alta", "In-Reply-To: <r1.carla@example.com>\r\n", "¿Cuándo?", PASS);
    send(&app, Some(CARLA), &again).await.unwrap();
    assert_eq!(created_in(&mut inbox, &conversation).await["message"]["text"], "¿Cuándo?");
    // No results at all, or only another server's: not threaded, flagged.
    for (i, headers) in
        ["", "Authentication-Results: mx.evil.test; dmarc=pass header.from=example.com\r\n"].into_iter().enumerate()
    {
        let bare = carla_mail(
            &format!("r3-{i}.carla@example.com"),
            "Re: Alta",
            &format!("{headers}In-Reply-To: <r1.carla@example.com>\r\n"),
            "Soy yo.",
        );
        send(&app, Some(CARLA), &bare).await.unwrap();
        let opened = inbox.next_of("message.created").await;
        let other = opened["conversation"]["id"].as_str().unwrap().to_owned();
        assert_ne!(other, conversation, "{opened}");
        let flag = created_in(&mut inbox, &other).await;
        assert!(
            flag["message"]["text"].as_str().unwrap().contains(&format!("no Authentication-Results from {MX}")),
            "{flag}"
        );
    }
    relay.shutdown.cancel();
}

async fn smtp_limits_are_keyed_on_the_client_address(backend: Backend) {
    let relay = Relay::start().await;
    let app = app_with(backend, &relay, |c| {
        c.email.peer_rate_per_min = 15;
        c.email.max_sessions_per_ip = 2;
    })
    .await;
    // Five mails from five different From addresses: the client's burst (a third of 15).
    for i in 0..5 {
        let from = format!("sender{i}@example.com");
        let raw =
            format!("From: {from}\r\nTo: {SUPPORT}\r\nSubject: s\r\nMessage-ID: <peer{i}@example.com>\r\n\r\nhola\r\n");
        send(&app, Some(&from), raw.as_bytes()).await.unwrap();
    }
    // A sixth, from yet another address: changing the From does not escape the limit.
    let raw = format!(
        "From: new@example.com\r\nTo: {SUPPORT}\r\nSubject: s\r\nMessage-ID: <peer5@example.com>\r\n\r\nhola\r\n"
    );
    let refused = send(&app, Some("new@example.com"), raw.as_bytes()).await.unwrap_err();
    assert_eq!(refused.status().map(|c| c.to_string()), Some("451".into()), "{refused}");
    assert!(refused.to_string().contains("4.7.1"), "{refused}");

    // Two sessions from this address at once (the client's sessions above may take a moment to
    // end); a third is refused with 421.
    let addr = smtp_addr(&app);
    let mut open = Vec::new();
    let opened = crate::poll_until(tests::WAIT, async || {
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (r, w) = stream.into_split();
        let mut r = BufReader::new(r);
        if read_reply(&mut r).await.starts_with("220") {
            open.push((r, w));
        }
        (open.len() == 2).then_some(())
    })
    .await;
    assert!(opened.is_some(), "two sessions could not be opened");
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (r, _w) = stream.into_split();
    let greeting = read_reply(&mut BufReader::new(r)).await;
    assert!(greeting.starts_with("421 4.7.0"), "{greeting}");
    relay.shutdown.cancel();
}
