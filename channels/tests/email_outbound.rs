//! Threaded replies and the relay.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use channels::email::smtp::{Envelope, MailSink, SinkError, SmtpConfig, serve};
use channels::email::{
    InboundLimits, MailError, Mailbox, RelayTls, ReplyParams, SendError, SmtpRelay, build_reply, conversation_token,
    find_token, parse_inbound, send_raw, thread_keys,
};
use schema::ConversationId;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

fn params() -> ReplyParams {
    let token = conversation_token(&ConversationId::new());
    ReplyParams {
        from: Mailbox {
            address: "support@telco.example".parse().unwrap(),
            name: Some("Soporte Telco".parse().unwrap()),
        },
        to: vec![Mailbox { address: "ana@example.com".parse().unwrap(), name: Some("Ana Pérez".parse().unwrap()) }],
        subject_of_thread: format!("RE: Re: Factura <diciembre> {}", token.subject_tag()),
        text: "Hola Ana,\n\nel cargo <42 €> & el IVA están corregidos.\nSaludos".into(),
        html: None,
        in_reply_to: Some("<parent@example.com>".into()),
        references: vec!["root@telco.example".into(), "middle@example.com".into()],
        token,
        domain: "telco.example".into(),
        automatic: false,
    }
}

fn header<'a>(formatted: &'a str, name: &str) -> Option<&'a str> {
    let prefix = format!("{name}: ");
    formatted.lines().take_while(|l| !l.is_empty()).find_map(|l| l.strip_prefix(prefix.as_str()))
}

#[test]
fn a_reply_threads_and_carries_the_token() {
    let p = params();
    let (message, id) = build_reply(&p).unwrap();
    let formatted = String::from_utf8(message.formatted()).unwrap();

    let (local, domain) = id.split_once('@').unwrap();
    assert_eq!(domain, "telco.example");
    assert_eq!(local.len(), 32, "a UUID without hyphens: {id}");
    assert_eq!(header(&formatted, "Message-ID"), Some(format!("<{id}>").as_str()));
    assert_eq!(header(&formatted, "In-Reply-To"), Some("<parent@example.com>"));
    assert!(header(&formatted, "Auto-Submitted").is_none(), "an agent's reply is not automatic");
    assert!(formatted.contains("multipart/alternative"));
    assert!(formatted.contains("text/plain") && formatted.contains("text/html"));

    // The customer's client sees all this; parse it back as the customer's MTA would.
    let back = parse_inbound(formatted.as_bytes(), &InboundLimits::default()).unwrap();
    assert_eq!(back.subject, format!("Re: Factura <diciembre> {}", p.token.subject_tag()));
    assert_eq!(back.message_id.as_str(), id);
    assert_eq!(back.references, ["root@telco.example", "middle@example.com", "parent@example.com"]);
    assert_eq!(thread_keys(&back), ["parent@example.com", "middle@example.com", "root@telco.example"]);
    assert_eq!(back.from.as_ref().unwrap().name.as_ref().unwrap().as_str(), "Soporte Telco");
    assert_eq!(back.to[0].address.as_str(), "ana@example.com");
    let reply_to = back.reply_to.as_ref().unwrap();
    assert_eq!(reply_to.address, p.token.plus_address(&p.from.address));
    assert_eq!(find_token("", [&reply_to.address]), Some(p.token.clone()));
    assert_eq!(back.text, p.text, "the plain part is the text as written");
    assert!(!back.is_automatic());

    // The HTML alternative is the text, escaped.
    let html_part = mail_parser::MessageParser::default().parse(formatted.as_bytes()).unwrap();
    let html = html_part.body_html(0).unwrap();
    assert!(html.contains("<p>Hola Ana,</p>"), "{html}");
    assert!(html.contains("el cargo &lt;42 €&gt; &amp; el IVA están corregidos.<br>"), "{html}");
}

#[test]
fn bot_replies_are_auto_submitted_and_given_html_is_used() {
    let mut p = params();
    p.automatic = true;
    p.html = Some("<p>Custom <b>HTML</b></p>".into());
    p.in_reply_to = None;
    p.references = vec![];
    let (message, _) = build_reply(&p).unwrap();
    let formatted = String::from_utf8(message.formatted()).unwrap();
    assert_eq!(header(&formatted, "Auto-Submitted"), Some("auto-replied"));
    assert_eq!(header(&formatted, "X-Auto-Response-Suppress"), Some("All"));
    assert!(header(&formatted, "In-Reply-To").is_none() && header(&formatted, "References").is_none());
    assert!(formatted.contains("<p>Custom <b>HTML</b></p>"));
    let back = parse_inbound(formatted.as_bytes(), &InboundLimits::default()).unwrap();
    assert!(back.is_automatic());
}

#[test]
fn bad_replies_are_refused_with_a_code() {
    let mut p = params();
    p.to.clear();
    let err = build_reply(&p).unwrap_err();
    assert_eq!(err.code(), "mail_build_failed");
    let mut p = params();
    p.domain = "bad domain".into();
    assert!(matches!(build_reply(&p), Err(MailError::Build(_))));
}

#[derive(Default)]
struct MemSink(Mutex<Vec<(Envelope, Bytes)>>);

impl MailSink for MemSink {
    async fn deliver(&self, envelope: Envelope, raw: Bytes) -> Result<(), SinkError> {
        self.0.lock().unwrap().push((envelope, raw));
        Ok(())
    }
}

fn relay(port: u16) -> SmtpRelay {
    SmtpRelay {
        host: "127.0.0.1".into(),
        port,
        tls: RelayTls::None,
        credentials: Some(("user".into(), "hunter2".into())),
        hello_name: "telco.example".into(),
        timeout: Duration::from_secs(5),
        max_connections: 2,
    }
}

#[tokio::test]
async fn the_relay_sends_and_classifies_failures() {
    let r = relay(25);
    let debug = format!("{r:?}");
    assert!(debug.contains("user") && !debug.contains("hunter2"), "{debug}");

    // Through our own server as the relay (it offers no AUTH, so no credentials here).
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let sink = Arc::new(MemSink::default());
    let shutdown = CancellationToken::new();
    let config = SmtpConfig::new("mx.example.com", vec!["example.com".into()], vec![]);
    let server = tokio::spawn(serve(listener, config, Arc::clone(&sink), shutdown.clone()));

    let mut r = relay(port);
    r.credentials = None;
    let transport = r.transport().unwrap();
    let (message, id) = build_reply(&params()).unwrap();
    let raw = message.formatted();
    send_raw(&transport, message.envelope(), &raw).await.unwrap();
    {
        let mails = sink.0.lock().unwrap();
        assert_eq!(mails.len(), 1);
        assert_eq!(mails[0].0.mail_from.as_deref(), Some("support@telco.example"));
        assert_eq!(mails[0].0.rcpt_to[0].as_str(), "ana@example.com");
        assert_eq!(mails[0].0.helo, "telco.example");
        assert!(String::from_utf8_lossy(&mails[0].1).contains(&id));
    }

    // A recipient the relay refuses: permanent.
    let envelope = lettre::address::Envelope::new(
        Some("support@telco.example".parse().unwrap()),
        vec!["someone@elsewhere.example".parse().unwrap()],
    )
    .unwrap();
    let err = send_raw(&transport, &envelope, &raw).await.unwrap_err();
    assert!(err.is_permanent() && err.code() == "mail_send_permanent", "{err:?}");
    shutdown.cancel();
    server.await.unwrap();

    // Nobody listening: transient, retry later.
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let err = send_raw(&relay(port).transport().unwrap(), message.envelope(), &raw).await.unwrap_err();
    assert!(matches!(err, SendError::Transient { code: None, .. }), "{err:?}");
}
