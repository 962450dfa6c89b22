//! Data-subject rights end to end: a customer known by web chat (messages and a file), e-mail (a
//! real SMTP session, with a raw copy and an attachment), a call record, bot turns (an answer, a
//! question a trainer copied into the knowledge base) and a ticket with a note; the export holds
//! each of them; a legal hold blocks erasure (409 `legal_hold`); after erasure no table (every
//! text and binary column of every table the store has) nor the SQLite files hold the customer's
//! name, e-mail address, phone number or words, while the counts stay. The retention job purges
//! old data per kind and skips customers under legal hold.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::time::Duration;

use lettre::address::Envelope as LettreEnvelope;
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use schema::knowledge::{BotAnswer, DocumentContent};
use schema::{
    AttachmentId, AuthorKind, Channel, ConversationStatus, CustomerTier, InboundEmail, InboundEmailKind, Language,
    MessageText, NewAttachment, NewCustomer, NewMessage, NewUpload, Store, StoreOptions, VoiceCall,
};
use serde_json::{Value, json};
use sqlx::{AnyPool, Column as _, Row as _};
use tests::mail::Relay;
use tests::{ADMIN, ANA, Backend, TestApp, both_backends};

both_backends!(export_then_erasure_leaves_nothing_behind, retention_purges_old_data_but_not_held_customers);

const SUPPORT: &str = "support@telco.example";
const NAME: &str = "Erin Erasure";
const EMAIL: &str = "erin.erasure@example.com";
const PHONE: &str = "+34600999888";
/// A word only this customer writes.
const WORD: &str = "Zanzibarquux";
/// What must be gone after erasure, compared in lower case.
const NEEDLES: [&str; 4] = ["erin erasure", "erasure@example", "34600999888", "zanzibarquux"];

/// A 1×1 PNG.
const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4, 0x89, 0x00, 0x00, 0x00, 0x0d, 0x49,
    0x44, 0x41, 0x54, 0x78, 0xda, 0x63, 0x64, 0xf8, 0xcf, 0x50, 0x0f, 0x00, 0x03, 0x86, 0x01, 0x80, 0x5a, 0x34, 0x7d,
    0x6b, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

async fn app(backend: Backend, relay: &Relay) -> TestApp {
    // The test runs the retention job itself, at the moment it chooses.
    crate::email::app_with(backend, relay, |config| config.retention.enabled = false).await
}

async fn store(app: &TestApp) -> Store {
    Store::connect(&app.db.url, &StoreOptions { max_connections: 2, ..StoreOptions::default() }).await.unwrap()
}

async fn pool(app: &TestApp) -> AnyPool {
    sqlx::any::install_default_drivers();
    sqlx::any::AnyPoolOptions::new().max_connections(1).connect(&app.db.url).await.unwrap()
}

/// Appends a message as `author` would write it.
async fn say(store: &Store, conversation: schema::ConversationId, author: AuthorKind, said: &str) -> schema::Message {
    let new = NewMessage {
        conversation_id: conversation,
        author,
        author_id: None,
        text: MessageText::parse(said, 4000).unwrap(),
        channel_message_id: None,
        media: Vec::new(),
        template: None,
    };
    store.append_message(new).await.unwrap().message
}

/// A mail from the customer with a text part and an attachment.
fn mail_with_attachment() -> Vec<u8> {
    format!(
        "From: {NAME} <{EMAIL}>\r\nTo: Telco Support <{SUPPORT}>\r\nSubject: My bill, {NAME}\r\n\
         Message-ID: <bill-1@erasure.example.com>\r\nDate: Tue, 24 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n\
         --b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHello, {NAME} here ({PHONE}). {WORD}.\r\n\
         --b1\r\nContent-Type: text/plain; name=\"id-card.txt\"\r\nContent-Disposition: attachment; filename=\"id-card.txt\"\r\n\r\n\
         Identity card of {NAME}, phone {PHONE}\r\n--b1--\r\n"
    )
    .into_bytes()
}

async fn send_mail(app: &TestApp, raw: &[u8]) {
    let smtp = app.hub.as_ref().and_then(|h| h.smtp_addr).expect("the SMTP listener runs");
    let client = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(smtp.port())
        .hello_name(ClientId::Domain("mail.example.com".into()))
        .timeout(Some(Duration::from_secs(10)))
        .build();
    let envelope = LettreEnvelope::new(Some(EMAIL.parse().unwrap()), vec![SUPPORT.parse().unwrap()]).unwrap();
    client.send_raw(&envelope, raw).await.unwrap();
}

/// The files of a `.tar.gz`, by name.
fn untar(gz: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(gz).read_to_end(&mut raw).unwrap();
    let mut files = BTreeMap::new();
    let mut at = 0;
    while at + 512 <= raw.len() && raw[at] != 0 {
        let h = &raw[at..at + 512];
        let name = String::from_utf8(h[..100].iter().take_while(|&&b| b != 0).copied().collect()).unwrap();
        let size_field = std::str::from_utf8(&h[124..135]).unwrap();
        let size = usize::from_str_radix(size_field, 8).unwrap();
        assert_eq!(&h[257..262], b"ustar", "{name}: a ustar header");
        let mut check = h.to_vec();
        check[148..156].copy_from_slice(b"        ");
        let stored = u64::from_str_radix(std::str::from_utf8(&h[148..154]).unwrap(), 8).unwrap();
        assert_eq!(stored, check.iter().map(|&b| u64::from(b)).sum::<u64>(), "{name}: checksum");
        files.insert(name, raw[at + 512..at + 512 + size].to_vec());
        at += 512 + size.div_ceil(512) * 512;
    }
    files
}

fn json_file(files: &BTreeMap<String, Vec<u8>>, name: &str) -> Value {
    serde_json::from_slice(files.get(name).unwrap_or_else(|| panic!("{name} in the archive"))).unwrap()
}

/// Every table of the store with, for each row and text or binary column, where a needle is.
async fn find_needles(app: &TestApp, backend: Backend) -> Vec<String> {
    let pool = pool(app).await;
    let tables: Vec<String> = match backend {
        Backend::Sqlite => sqlx::query("SELECT name FROM sqlite_master WHERE type = 'table'"),
        Backend::Postgres => sqlx::query(
            "SELECT table_name::text AS name FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'",
        ),
    }
    .fetch_all(&pool)
    .await
    .unwrap()
    .iter()
    .map(|r| r.get::<String, _>("name"))
    .collect();
    assert!(tables.len() >= 25, "every table is searched: {tables:?}");
    let mut found = Vec::new();
    // `_sqlx_migrations` holds the schema's history, in types the `Any` driver does not read.
    for table in tables.iter().filter(|t| !t.starts_with("_sqlx")) {
        // Booleans hold no text, and the `Any` driver cannot read SQLite's: every other column.
        let select = match backend {
            Backend::Sqlite => {
                let columns: Vec<String> =
                    sqlx::query(&format!("SELECT name FROM pragma_table_info('{table}') WHERE type <> 'BOOLEAN'"))
                        .fetch_all(&pool)
                        .await
                        .unwrap()
                        .iter()
                        .map(|r| r.get::<String, _>("name"))
                        .collect();
                format!("SELECT {} FROM {table}", columns.join(", "))
            }
            Backend::Postgres => format!("SELECT * FROM {table}"),
        };
        for row in sqlx::query(&select).fetch_all(&pool).await.unwrap() {
            for (i, col) in row.columns().iter().enumerate() {
                let value = match row.try_get::<Option<String>, _>(i) {
                    Ok(v) => v,
                    Err(_) => row
                        .try_get::<Option<Vec<u8>>, _>(i)
                        .ok()
                        .flatten()
                        .map(|b| String::from_utf8_lossy(&b).into_owned()),
                };
                let Some(value) = value.map(|v| v.to_lowercase()) else { continue };
                for needle in NEEDLES {
                    if value.contains(needle) {
                        found.push(format!("{table}.{}: {needle}", col.name()));
                    }
                }
            }
        }
    }
    pool.close().await;
    found
}

/// The SQLite files (database, WAL) hold none of the needles, in any page.
fn sqlite_files_clean(app: &TestApp) -> Vec<String> {
    let path = app.db.url.strip_prefix("sqlite://").unwrap();
    let dir = std::path::Path::new(path).parent().unwrap();
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let bytes = std::fs::read(entry.path()).unwrap().to_ascii_lowercase();
        for needle in NEEDLES {
            if bytes.windows(needle.len()).any(|w| w == needle.as_bytes()) {
                found.push(format!("{}: {needle}", entry.file_name().to_string_lossy()));
            }
        }
    }
    found
}

async fn export_then_erasure_leaves_nothing_behind(backend: Backend) {
    let relay = Relay::start().await;
    let app = app(backend, &relay).await;
    let admin = app.login(ADMIN).await;
    let ana = app.login(ANA).await;

    // Web chat: the session names the customer; they are also known by e-mail and phone.
    let res = app
        .http
        .post(app.url("/api/v1/webchat/sessions"))
        .json(&json!({ "name": NAME, "email": EMAIL, "language": "en" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let session: Value = res.json().await.unwrap();
    let visitor = session["token"].as_str().unwrap().to_owned();
    let chat = session["conversation_id"].as_str().unwrap().to_owned();
    let customer = session["customer_id"].as_str().unwrap().to_owned();
    let pool = pool(&app).await;
    for (kind, channel, handle) in [("email", "email", EMAIL), ("phone", "voice", PHONE)] {
        sqlx::query(
            "INSERT INTO customer_handles (kind, value, verified, channel, handle, customer_id, created_at) \
             VALUES ($1, $3, 1, $2, $3, $4, 0)",
        )
        .bind(kind)
        .bind(channel)
        .bind(handle)
        .bind(&customer)
        .execute(&pool)
        .await
        .unwrap();
    }
    pool.close().await;

    let mut socket = app.customer_socket(&visitor, None).await;
    let res = app
        .http
        .post(app.url("/api/v1/webchat/attachments?name=erin-erasure.png"))
        .bearer_auth(&visitor)
        .header("content-type", "image/png")
        .body(PNG.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let upload: Value = res.json().await.unwrap();
    let said = format!("Hi, I am {NAME}, call me on {PHONE} or write to {EMAIL}. {WORD}");
    socket.send_json(&json!({"type": "message", "client_id": "c1", "text": said, "attachments": [upload["id"]]})).await;
    assert_eq!(socket.next_of("ack").await["client_id"], "c1");
    drop(socket);

    // E-mail through the hub's SMTP listener: it joins the customer by their address.
    send_mail(&app, &mail_with_attachment()).await;
    let store = store(&app).await;
    let customer_id: schema::CustomerId = customer.parse().unwrap();
    let mail_conversation = crate::poll_until(Duration::from_secs(10), async || {
        let page = store.customer_conversations(customer_id, 10, None).await.unwrap();
        page.items.into_iter().find(|c| c.conversation.channel == Channel::Email).map(|c| c.conversation.id)
    })
    .await
    .expect("the mail joins the customer");

    // A call from their number.
    let voice = store.conversation_for_handle(Channel::Voice, PHONE, None, ConversationStatus::Resolved).await.unwrap();
    assert_eq!(voice.customer_id, customer_id);
    let now = time::OffsetDateTime::now_utc();
    store.save_call(&call("call-erin-1", voice.id, now)).await.unwrap();

    // Bot turns: an answer to their question, and a question a trainer copied into a document.
    let question = format!("Why is my bill so high, says {NAME}? {WORD}");
    let doc = store
        .create_document(
            &serde_json::from_value::<DocumentContent>(json!({
                "kind": "qa", "language": "en", "title": "High bills", "body": "Check the tariff.",
                "questions": ["Why is my bill high?", question], "tags": [], "status": "published"
            }))
            .unwrap(),
            None,
            None,
        )
        .await
        .unwrap()
        .0;
    let chat_id: schema::ConversationId = chat.parse().unwrap();
    let asked = say(&store, chat_id, AuthorKind::Customer, &question).await;
    let answer = say(&store, chat_id, AuthorKind::Bot, "Check the tariff.").await;
    store
        .record_bot_answer(&BotAnswer {
            message_id: answer.id,
            conversation_id: chat_id,
            question: question.clone(),
            language: Language::En,
            intent: None,
            document_id: doc.id,
            confidence: 0.4,
            verdict: None,
            judged_by: None,
            judged_at: None,
            created_at: now,
            unhelpful: false,
        })
        .await
        .unwrap();
    store.record_unanswered(chat_id, asked.id, &question, Language::En, "low_confidence").await.unwrap();
    let open = store.open_unanswered(10).await.unwrap();
    let admin_id: schema::AgentId = app.me(&admin).await.parse().unwrap();
    store.resolve_unanswered(&[open[0].id], doc.id, admin_id).await.unwrap();

    // A ticket with a note naming them.
    let (status, ticket) = app.post(&format!("/api/v1/conversations/{chat}/handover"), &ana, &json!({})).await;
    assert_eq!(status, 201, "{ticket}");
    let ticket = ticket["id"].as_str().unwrap().to_owned();
    let (status, body) = app
        .post(
            &format!("/api/v1/tickets/{ticket}/notes"),
            &admin,
            &json!({ "text": format!("{NAME} is upset, {WORD}") }),
        )
        .await;
    assert!(status == 200 || status == 201, "{status} {body}");

    // Found by name, address or phone; what is held is counted.
    for q in ["erin eras", "ERASURE@example", "600999"] {
        let (status, found) = app.get(&format!("/api/v1/customers?q={q}"), &admin).await;
        assert_eq!(status, 200, "{found}");
        assert_eq!(found[0]["id"], customer.as_str(), "{q}: {found}");
    }
    let (status, body) = app.get("/api/v1/customers?q=", &admin).await;
    assert_eq!((status, body["error"]["field"].as_str()), (422, Some("q")));
    let (status, before) = app.get(&format!("/api/v1/customers/{customer}/privacy"), &admin).await;
    assert_eq!(status, 200, "{before}");
    let held = &before["holdings"];
    for (kind, at_least) in [
        ("handles", 2),
        ("conversations", 3),
        ("messages", 4),
        ("emails", 1),
        ("email_attachments", 1),
        ("uploads", 1),
        ("calls", 1),
        ("bot_answers", 1),
        ("unanswered_questions", 1),
        ("tickets", 1),
        ("ticket_notes", 1),
    ] {
        assert!(held[kind].as_i64().unwrap() >= at_least, "{kind}: {held}");
    }

    // Only administrators.
    for (method, path) in
        [("GET", "/api/v1/customers?q=erin".to_owned()), ("POST", format!("/api/v1/customers/{customer}/erase"))]
    {
        let req = if method == "GET" { app.http.get(app.url(&path)) } else { app.http.post(app.url(&path)) };
        assert_eq!(req.bearer_auth(&ana).send().await.unwrap().status(), 403, "{path} as an agent");
    }

    // The export: every kind, raw mail and files.
    let res = app
        .http
        .post(app.url(&format!("/api/v1/customers/{customer}/export")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/gzip");
    assert!(res.headers()["content-disposition"].to_str().unwrap().contains(".tar.gz"));
    let files = untar(&res.bytes().await.unwrap());
    let manifest = json_file(&files, "manifest.json");
    assert_eq!(manifest["schema_version"], 1);
    assert_eq!(manifest["customer_id"], customer.as_str());
    assert!(manifest["generated_at"].is_string());
    for kind in [
        "messages",
        "emails_inbound",
        "email_attachments",
        "uploads",
        "calls",
        "bot_answers",
        "tickets",
        "ticket_notes",
    ] {
        let records = json_file(&files, &format!("{kind}.json"));
        assert!(!records.as_array().unwrap().is_empty(), "{kind}.json: {records}");
        assert_eq!(manifest["counts"][kind], records.as_array().unwrap().len(), "{kind} counted");
    }
    assert_eq!(json_file(&files, "customer.json")[0]["name"], NAME);
    let handles = json_file(&files, "handles.json").to_string();
    assert!(handles.contains(PHONE) && handles.contains(EMAIL), "{handles}");
    assert!(json_file(&files, "messages.json").to_string().contains(WORD));
    assert!(json_file(&files, "unanswered_questions.json").to_string().contains(WORD));
    assert!(json_file(&files, "ticket_notes.json").to_string().contains(WORD));
    // The audit trail's entries about them: the admin's read of the privacy view, above.
    let audit = json_file(&files, "audit_entries.json").to_string();
    assert!(audit.contains("customer.read") && audit.contains(customer.as_str()), "{audit}");
    assert_eq!(json_file(&files, "calls.json")[0]["caller"], PHONE);
    let mail = &json_file(&files, "emails_inbound.json")[0];
    let raw = &files[mail["file"].as_str().expect("the raw mail's file")];
    assert!(String::from_utf8_lossy(raw).contains("Message-ID: <bill-1@erasure.example.com>"));
    let attachment = &json_file(&files, "email_attachments.json")[0];
    assert_eq!(attachment["file_name"], "id-card.txt");
    assert!(String::from_utf8_lossy(&files[attachment["file"].as_str().unwrap()]).contains("Identity card of"));
    let chat_file = &json_file(&files, "uploads.json")[0];
    assert_eq!(files[chat_file["file"].as_str().unwrap()], PNG);

    // A legal hold blocks erasure.
    let (status, view) =
        app.put(&format!("/api/v1/customers/{customer}/legal-hold"), &admin, &json!({"hold": true})).await;
    assert_eq!((status, view["legal_hold"].as_bool()), (200, Some(true)), "{view}");
    let (status, body) = app.post(&format!("/api/v1/customers/{customer}/erase"), &admin, &json!({})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("legal_hold")), "{body}");
    assert!(find_needles(&app, backend).await.len() > 5, "nothing erased under hold");
    let (status, _) =
        app.put(&format!("/api/v1/customers/{customer}/legal-hold"), &admin, &json!({"hold": false})).await;
    assert_eq!(status, 200);

    // Erasure, twice (the second is harmless); an unknown customer is 404.
    for _ in 0..2 {
        let (status, after) = app.post(&format!("/api/v1/customers/{customer}/erase"), &admin, &json!({})).await;
        assert_eq!(status, 200, "{after}");
        assert!(after["erased_at"].is_string());
        let (kept, gone) = (&after["holdings"], held);
        for kind in [
            "conversations",
            "messages",
            "calls",
            "bot_answers",
            "unanswered_questions",
            "tickets",
            "ticket_events",
            "ticket_notes",
        ] {
            assert_eq!(kept[kind], gone[kind], "{kind} still counted");
        }
        for kind in ["handles", "emails", "email_attachments", "uploads"] {
            assert_eq!(kept[kind], 0, "{kind} deleted");
        }
    }
    let unknown = schema::CustomerId::new();
    assert_eq!(app.post(&format!("/api/v1/customers/{unknown}/erase"), &admin, &json!({})).await.0, 404);

    // Nothing left: not in any table, not in the knowledge base, not in the files.
    let left = find_needles(&app, backend).await;
    assert!(left.is_empty(), "left after erasure: {left:?}");
    let doc = store.document(doc.id).await.unwrap();
    assert_eq!(doc.content.questions, ["Why is my bill high?"], "the copied phrasing is gone");
    let (_, history) = app.get(&format!("/api/v1/conversations/{mail_conversation}/messages"), &ana).await;
    assert!(history["items"].as_array().unwrap().iter().all(|m| m["text"] == "[erased]"), "{history}");
    let (status, found) = app.get("/api/v1/customers?q=erin", &admin).await;
    assert_eq!((status, found.as_array().map(Vec::len)), (200, Some(0)), "{found}");
    store.close().await;
    if backend == Backend::Sqlite {
        let mut app = app;
        app.stop().await;
        let left = sqlite_files_clean(&app);
        assert!(left.is_empty(), "left in the SQLite files: {left:?}");
    }
}

fn call(id: &str, conversation: schema::ConversationId, at: time::OffsetDateTime) -> VoiceCall {
    VoiceCall {
        id: id.into(),
        conversation_id: conversation,
        ticket_id: None,
        caller: PHONE.into(),
        dialled: "+34900100200".into(),
        status: "ended".into(),
        answered_by: None,
        started_at: at,
        answered_at: None,
        ended_at: Some(at),
        ended_by: Some("caller".into()),
        duration_ms: None,
        disposition: None,
    }
}

/// A customer with a web chat message, a mail (raw copy and attachment), a chat file and a call,
/// all dated `days` ago. Returns (customer id, message id, mail Message-ID, upload id, call id).
async fn seed_aged(store: &Store, pool: &AnyPool, who: &str, days: i64) -> (String, String, String, String, String) {
    let (customer, conversation) = store
        .create_customer_with_conversation(
            NewCustomer {
                name: Some(who.parse().unwrap()),
                email: None,
                language: Language::En,
                tier: CustomerTier::Standard,
                handles: Vec::new(),
            },
            Channel::WebChat,
            ConversationStatus::Resolved,
        )
        .await
        .unwrap();
    let message = say(store, conversation.id, AuthorKind::Customer, &format!("{who} says {WORD}")).await;
    let mail_id = format!("{}@{days}.example.com", uuid::Uuid::new_v4().simple());
    store
        .record_inbound_email(&InboundEmail {
            message_id: mail_id.clone(),
            conversation_id: Some(conversation.id),
            message_ref: None,
            kind: InboundEmailKind::Personal,
            parse_error: None,
            mail_from: None,
            rcpt_to: vec![SUPPORT.into()],
            peer: "127.0.0.1:1".into(),
            helo: "mail.example.com".into(),
            tls: false,
            from_address: None,
            reply_to: None,
            subject: "Old".into(),
            in_reply_to: None,
            references: Vec::new(),
            raw: format!("Subject: Old\r\n\r\n{who} {WORD}\r\n").into_bytes(),
            conversation_token: None,
            attachments: vec![NewAttachment {
                id: AttachmentId::new(),
                file_name: Some("a.txt".into()),
                content_type: "text/plain".into(),
                size: 5,
                content: Some(b"hello".to_vec()),
            }],
        })
        .await
        .unwrap();
    let upload = AttachmentId::new();
    let kept = store
        .create_upload(
            &NewUpload {
                id: upload,
                conversation_id: conversation.id,
                file_name: Some("p.png".into()),
                content_type: "image/png".into(),
                content: PNG.to_vec(),
            },
            10,
        )
        .await
        .unwrap();
    assert!(kept);
    let call_id = format!("call-{}", uuid::Uuid::new_v4().simple());
    let then = time::OffsetDateTime::now_utc() - time::Duration::days(days);
    store.save_call(&call(&call_id, conversation.id, then)).await.unwrap();
    // Age everything.
    let at = then.unix_timestamp() * 1000;
    let conv = conversation.id.to_string();
    for sql in [
        "UPDATE messages SET created_at = $1 WHERE conversation_id = $2",
        "UPDATE email_inbound SET received_at = $1 WHERE conversation_id = $2",
        "UPDATE email_attachments SET created_at = $1 WHERE conversation_id = $2",
        "UPDATE chat_uploads SET created_at = $1 WHERE conversation_id = $2",
    ] {
        sqlx::query(sql).bind(at).bind(&conv).execute(pool).await.unwrap();
    }
    (customer.id.to_string(), message.id.to_string(), mail_id, upload.to_string(), call_id)
}

async fn retention_purges_old_data_but_not_held_customers(backend: Backend) {
    let relay = Relay::start().await;
    let app = app(backend, &relay).await;
    let admin = app.login(ADMIN).await;
    let store = store(&app).await;
    let pool = pool(&app).await;
    let old = seed_aged(&store, &pool, "Olga Old", 100).await;
    let held = seed_aged(&store, &pool, "Hector Held", 100).await;
    let recent = seed_aged(&store, &pool, "Rita Recent", 2).await;
    let (status, _) =
        app.put(&format!("/api/v1/customers/{}/legal-hold", held.0), &admin, &json!({"hold": true})).await;
    assert_eq!(status, 200);
    let policy = json!({
        "conversations_days": 365, "messages_days": 30, "audit_days": 1825,
        "raw_mail_days": 30, "attachments_days": 30, "calls_days": 30
    });
    let (status, saved) = app.put("/api/v1/settings/retention", &admin, &policy).await;
    assert_eq!(status, 200, "{saved}");
    assert_eq!((saved["calls_days"].as_u64(), saved["enforced"].as_bool()), (Some(30), Some(false)), "{saved}");

    let privacy = &app.hub.as_ref().unwrap().state.privacy;
    let report = privacy.run_retention().await.unwrap();
    for kind in schema::RetentionKind::ALL {
        assert!(report.count(kind) >= 1, "{kind:?} purged: {report:?}");
    }

    let row = |sql: &'static str, id: String| {
        let pool = pool.clone();
        async move { sqlx::query(sql).bind(id).fetch_optional(&pool).await.unwrap() }
    };
    let body = |id: String| async move {
        row("SELECT body FROM messages WHERE id = $1", id).await.unwrap().get::<String, _>("body")
    };
    let raw_len = |id: String| async move {
        row("SELECT raw FROM email_inbound WHERE message_id = $1", id).await.unwrap().get::<Vec<u8>, _>("raw").len()
    };
    let attachment = |id: String| async move {
        row("SELECT a.content FROM email_attachments a WHERE a.mail_message_id = $1", id)
            .await
            .unwrap()
            .get::<Option<Vec<u8>>, _>("content")
    };
    let upload = |id: String| async move { row("SELECT id FROM chat_uploads WHERE id = $1", id).await.is_some() };
    let caller = |id: String| async move {
        row("SELECT caller FROM voice_calls WHERE id = $1", id).await.unwrap().get::<String, _>("caller")
    };
    // Old and free: purged, the rows that count stay.
    assert_eq!(body(old.1.clone()).await, "[erased]");
    assert_eq!(raw_len(old.2.clone()).await, 0);
    assert_eq!(attachment(old.2.clone()).await, None);
    assert!(!upload(old.3.clone()).await);
    assert_eq!(caller(old.4.clone()).await, "");
    // Held, or recent: untouched.
    for kept in [&held, &recent] {
        assert!(body(kept.1.clone()).await.contains(WORD));
        assert!(raw_len(kept.2.clone()).await > 0);
        assert_eq!(attachment(kept.2.clone()).await.as_deref(), Some(&b"hello"[..]));
        assert!(upload(kept.3.clone()).await);
        assert!(caller(kept.4.clone()).await.starts_with('+'));
    }
    // A second run finds nothing more; the metrics count what was purged.
    let again = privacy.run_retention().await.unwrap();
    assert!(schema::RetentionKind::ALL.iter().all(|k| again.count(*k) == 0), "{again:?}");
    let metrics = app.http.get(app.url("/metrics")).bearer_auth(&admin).send().await.unwrap().text().await.unwrap();
    let purged = format!(
        "switchboard_retention_purged_total{{kind=\"messages\"}} {}",
        report.count(schema::RetentionKind::Messages)
    );
    assert!(metrics.contains(&purged), "{purged} in the metrics");
    pool.close().await;
    store.close().await;
}
