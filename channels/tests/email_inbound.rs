//! The inbound corpus: awkward, real-world-shaped mails under `tests/mail/`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use channels::email::{
    AutoReason, BodySource, InboundLimits, InboundMail, MailError, MailKind, find_token, parse_inbound, thread_keys,
};

fn raw(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/mail/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn parse(name: &str) -> InboundMail {
    parse_inbound(&raw(name), &InboundLimits::default()).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn gmail_alternative_with_qp_utf8_and_wrapped_attribution() {
    let m = parse("gmail_alternative.eml");
    assert_eq!(m.message_id.as_str(), "CAGx5=Yq+example.id@mail.gmail.com");
    assert!(!m.message_id_is_synthetic);
    assert_eq!(m.subject, "Re: Factura de diciembre – ¿error? [#SB-0123456789]");
    let from = m.from.as_ref().unwrap();
    assert_eq!(from.address.as_str(), "ana.perez@example.com");
    assert_eq!(from.name.as_ref().unwrap().as_str(), "Ana Pérez");
    assert_eq!(m.to.len(), 1);
    // "not-an-address" in Cc is skipped, the valid one kept.
    assert_eq!(m.cc.iter().map(|c| c.address.as_str()).collect::<Vec<_>>(), ["luis@example.com"]);
    assert_eq!(m.date.unwrap().unix_timestamp(), 1_717_485_302);
    assert_eq!(m.body_source, BodySource::Plain, "text/plain is preferred over HTML");
    assert!(m.text.contains("> Hola Ana"));
    assert_eq!(m.new_text, "Sí, el cargo de 42,50 € sigue apareciendo.");
    assert_eq!(m.kind, MailKind::Personal);
    assert_eq!(thread_keys(&m), ["reply-2@telco.example", "CAB+abc123@mail.gmail.com", "root-1@telco.example"]);
    assert_eq!(find_token(&m.subject, m.recipients()).unwrap().as_str(), "SB-0123456789");
    assert_eq!(m.message_text(10_000).unwrap().as_str(), m.new_text);
}

#[test]
fn outlook_nested_mixed_with_attachments_and_latin1_subject() {
    let m = parse("outlook_mixed_attachment.eml");
    assert_eq!(m.subject, "RE: Señal débil");
    assert_eq!(m.from.as_ref().unwrap().name.as_ref().unwrap().as_str(), "Carlos Gómez");
    assert_eq!(m.in_reply_to.as_deref(), Some("reply-7@telco.example"));
    assert_eq!(m.body_source, BodySource::Plain);
    assert_eq!(m.new_text, "Sigo sin señal en casa desde el lunes.\nAdjunto la factura.");
    assert_eq!(m.attachments.len(), 2);
    let pdf = &m.attachments[0];
    assert_eq!(pdf.filename.as_deref(), Some("factura junio.pdf"));
    assert_eq!(pdf.content_type, "application/pdf");
    assert_eq!(pdf.size, 2064);
    assert_eq!(pdf.content.len(), 2064);
    assert!(pdf.content.starts_with(b"%PDF-1.4\n\x00\x01\x02") && pdf.content.ends_with(b"%%EOF\n"));
    assert!(!pdf.oversize);
    let png = &m.attachments[1];
    assert_eq!(png.filename.as_deref(), Some("señal.png"));
    assert_eq!((png.content_type.as_str(), png.size), ("image/png", 108));

    // Per-attachment limit: the PDF is listed without bytes, the PNG kept.
    let limits = InboundLimits { max_attachment_bytes: 1000, ..InboundLimits::default() };
    let m = parse_inbound(&raw("outlook_mixed_attachment.eml"), &limits).unwrap();
    assert!(m.attachments[0].oversize && m.attachments[0].content.is_empty() && m.attachments[0].size == 2064);
    assert!(!m.attachments[1].oversize && m.attachments[1].content.len() == 108);
    // Total limit: the first fits, the second would exceed the total.
    let limits = InboundLimits { max_total_attachment_bytes: 2100, ..InboundLimits::default() };
    let m = parse_inbound(&raw("outlook_mixed_attachment.eml"), &limits).unwrap();
    assert!(!m.attachments[0].oversize && m.attachments[1].oversize && m.attachments[1].content.is_empty());
}

#[test]
fn latin1_8bit_body_spanish_quote_and_signature() {
    let m = parse("latin1_spanish.eml");
    assert_eq!(m.subject, "Re: Portabilidad número");
    assert!(m.text.contains("Marta Núñez"), "ISO-8859-1 body decoded: {:?}", m.text);
    assert_eq!(m.new_text, "Gracias, ya recibí el código de portabilidad.\n¿Cuándo se activa la línea?");
    assert_eq!(thread_keys(&m), ["out-99@telco.example", "out-98@telco.example"]);
}

#[test]
fn portuguese_without_message_id_gets_a_stable_synthetic_id_and_plus_token() {
    let bytes = raw("portuguese_no_message_id.eml");
    let m = parse_inbound(&bytes, &InboundLimits::default()).unwrap();
    assert!(m.message_id_is_synthetic);
    assert!(m.message_id.as_str().ends_with("@synthetic.switchboard.invalid"));
    assert_eq!(parse_inbound(&bytes, &InboundLimits::default()).unwrap().message_id, m.message_id);
    let mut other = bytes.clone();
    other.extend_from_slice(b"x");
    assert_ne!(parse_inbound(&other, &InboundLimits::default()).unwrap().message_id, m.message_id);

    assert_eq!(m.subject, "Re: Sem conexão");
    assert_eq!(m.from.as_ref().unwrap().name.as_ref().unwrap().as_str(), "João Silva");
    assert_eq!(m.new_text, "Obrigado, a internet voltou.", "quote and 'Enviado do meu iPhone' trimmed");
    // The token comes from the plus-address even though the subject has none.
    assert_eq!(find_token(&m.subject, m.recipients()).unwrap().as_str(), "SB-0123456789");
    assert!(thread_keys(&m).is_empty());
}

#[test]
fn html_only_is_converted_to_readable_text() {
    let m = parse("html_only.eml");
    assert_eq!(m.body_source, BodySource::Html);
    assert_eq!(
        m.text,
        "Router status\n\nThe light is red & blinking since Monday.\n\n- Restarted: yes\n- Cable checked: yes\n\n\
         See the status page <https://status.shop.example/r/1>."
    );
    assert!(!m.text.contains("tracking") && !m.text.contains("color"));
}

#[test]
fn auto_reply_is_recognised() {
    let m = parse("auto_reply.eml");
    assert_eq!(m.kind, MailKind::AutoReply(AutoReason::AutoSubmitted("auto-replied".into())));
    assert!(m.is_automatic());
}

#[test]
fn dsn_bounce_reports_the_original_message() {
    let m = parse("dsn_bounce.eml");
    let MailKind::Bounce(b) = &m.kind else { panic!("not a bounce: {:?}", m.kind) };
    assert_eq!(b.original_message_id.as_deref(), Some("4f1c2d3e4b5a69788796a5b4c3d2e1f0@telco.example"));
    assert_eq!(b.action.as_deref(), Some("failed"));
    assert_eq!(b.status.as_deref(), Some("5.1.1"));
    assert_eq!(b.recipient.as_deref(), Some("nobody@example.org"));
    assert_eq!(
        b.diagnostic.as_deref(),
        Some("smtp; 550 5.1.1 <nobody@example.org>: Recipient address rejected: User unknown")
    );
    assert!(b.is_permanent());
}

#[test]
fn malformed_mime_is_parsed_leniently() {
    let m = parse("malformed.eml");
    assert_eq!(m.message_id.as_str(), "malformed-1@example.com");
    assert_eq!(m.text, "My phone has no signal.");
    assert!(m.subject.contains("half-encoded"));
    assert_eq!(m.attachments.len(), 1);
    assert_eq!(m.attachments[0].filename.as_deref(), Some("blob.bin"));
}

#[test]
fn non_mail_is_unparseable_but_keeps_a_stable_id() {
    for junk in [&b""[..], b"   \r\n", b"just some text without headers", b"\x00\x01\x02\xff", b"\r\n\r\nbody only"] {
        match parse_inbound(junk, &InboundLimits::default()) {
            Err(e @ MailError::Unparseable { .. }) => {
                assert_eq!(e.code(), "mail_unparseable");
                let MailError::Unparseable { synthetic_id, .. } = e else { unreachable!() };
                assert_eq!(synthetic_id, channels::email::synthetic_message_id(junk));
            }
            other => panic!("{junk:?} gave {other:?}"),
        }
    }
}

/// A minimal mail with extra headers, to check each auto-reply signal on its own.
fn with_headers(extra: &str, from: &str) -> InboundMail {
    let raw = format!(
        "From: {from}\r\nTo: support@telco.example\r\nSubject: hi\r\nMessage-ID: <x@y>\r\n{extra}\r\nHello there\r\n"
    );
    parse_inbound(raw.as_bytes(), &InboundLimits::default()).unwrap()
}

#[test]
fn each_auto_reply_signal_classifies() {
    let person = "Ana <ana@example.com>";
    assert_eq!(with_headers("", person).kind, MailKind::Personal);
    assert_eq!(with_headers("Auto-Submitted: no\r\n", person).kind, MailKind::Personal);
    assert_eq!(with_headers("Precedence: first-class\r\n", person).kind, MailKind::Personal);
    assert_eq!(
        with_headers("Auto-Submitted: auto-generated; owner-email=x@y\r\n", person).kind,
        MailKind::AutoReply(AutoReason::AutoSubmitted("auto-generated".into()))
    );
    for p in ["bulk", "Junk", "list"] {
        assert_eq!(
            with_headers(&format!("Precedence: {p}\r\n"), person).kind,
            MailKind::AutoReply(AutoReason::Precedence(p.to_lowercase()))
        );
    }
    assert_eq!(with_headers("X-Autoreply: yes\r\n", person).kind, MailKind::AutoReply(AutoReason::XAutoreply));
    assert_eq!(
        with_headers("X-Auto-Response-Suppress: All\r\n", person).kind,
        MailKind::AutoReply(AutoReason::XAutoResponseSuppress)
    );
    assert_eq!(with_headers("Return-Path: <>\r\n", person).kind, MailKind::AutoReply(AutoReason::NullReturnPath));
    // A daemon sender without a DSN is still a bounce; the original id is searched in the text.
    let m = parse_inbound(
        b"From: postmaster@mx.example.org\r\nTo: support@telco.example\r\nSubject: failure notice\r\n\r\n\
          Sorry, I couldn't deliver.\r\n--- Below this line is a copy of the message.\r\n\r\nMessage-ID: <orig-1@telco.example>\r\n",
        &InboundLimits::default(),
    )
    .unwrap();
    let MailKind::Bounce(b) = &m.kind else { panic!("{:?}", m.kind) };
    assert_eq!(b.original_message_id.as_deref(), Some("orig-1@telco.example"));
    assert!(b.is_permanent());

    // The envelope's null reverse path also makes a mail automatic.
    let mut m = with_headers("", person);
    m.apply_envelope_sender(Some("ana@example.com"));
    assert_eq!(m.kind, MailKind::Personal);
    m.apply_envelope_sender(None);
    assert_eq!(m.kind, MailKind::AutoReply(AutoReason::NullReturnPath));
    let mut m = with_headers("", person);
    m.apply_envelope_sender(Some("MAILER-DAEMON@mx.example.org"));
    assert_eq!(m.kind, MailKind::AutoReply(AutoReason::DaemonSender));
}

#[test]
fn long_bodies_are_truncated_and_flagged() {
    let body = "ñ".repeat(500);
    let raw = format!("From: a@b.example\r\nSubject: x\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n");
    let limits = InboundLimits { max_text_chars: 100, ..InboundLimits::default() };
    let m = parse_inbound(raw.as_bytes(), &limits).unwrap();
    assert!(m.text_truncated);
    assert_eq!(m.text.chars().count(), 100);
}
