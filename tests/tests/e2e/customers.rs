//! The customer profile agents see beside a conversation (`GET /api/v1/customers/{id}`): who
//! the customer is, their handles on every channel, their conversations newest first with the
//! last message (card numbers masked) and the e-mail subject, paged; and who may see it.

use schema::{
    Channel, ContactHandle, ConversationStatus, CustomerTier, InboundEmail, InboundEmailKind, Language, NewCustomer,
    Store, StoreOptions,
};
use serde_json::{Value, json};
use tests::{ANA, Backend, TestApp, both_backends, spawn_app};

both_backends!(the_profile_shows_handles_and_conversations_newest_first, the_profile_is_for_agents_only);

/// Carla: known by e-mail, phone and WhatsApp; an e-mail conversation (with a subject), then a
/// WhatsApp one. Seeded through the store the hub uses, as the channels would leave it.
/// Returns (customer id, e-mail conversation id, WhatsApp conversation id).
async fn seed_carla(app: &TestApp) -> (String, String, String) {
    let store =
        Store::connect(&app.db.url, &StoreOptions { max_connections: 2, ..StoreOptions::default() }).await.unwrap();
    let handles = vec![
        ContactHandle { channel: Channel::Email, handle: "carla@example.com".into() },
        ContactHandle { channel: Channel::Voice, handle: "+34600111222".into() },
        ContactHandle { channel: Channel::WhatsApp, handle: "pn-1:34600111222".into() },
    ];
    let (customer, email) = store
        .create_customer_with_conversation(
            NewCustomer {
                // A card number typed as a name is masked like one in a message.
                name: Some("Carla Cliente 4111 1111 1111 1111".parse().unwrap()),
                email: Some("carla@example.com".parse().unwrap()),
                language: Language::Es,
                tier: CustomerTier::Vip,
                handles,
            },
            Channel::Email,
            ConversationStatus::Queued,
        )
        .await
        .unwrap();
    let recorded = store
        .record_inbound_email(&InboundEmail {
            message_id: "first@example.com".into(),
            conversation_id: Some(email.id),
            message_ref: None,
            kind: InboundEmailKind::Personal,
            parse_error: None,
            mail_from: Some("carla@example.com".into()),
            rcpt_to: vec!["support@telco.example".into()],
            peer: "127.0.0.1:1".into(),
            helo: "mail.example.com".into(),
            tls: false,
            from_address: Some("carla@example.com".into()),
            reply_to: None,
            subject: "Sin internet en casa".into(),
            in_reply_to: None,
            references: Vec::new(),
            raw: b"Subject: Sin internet en casa\r\n\r\nNo tengo internet\r\n".to_vec(),
            conversation_token: Some("SB-TESTTOKEN1".into()),
            attachments: Vec::new(),
        })
        .await
        .unwrap();
    assert!(recorded);
    // Opened later (ids and times are ordered).
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let whatsapp = store
        .conversation_for_handle(Channel::WhatsApp, "pn-1:34600111222", None, ConversationStatus::Queued)
        .await
        .unwrap();
    assert_eq!(whatsapp.customer_id, customer.id, "the handle finds Carla");
    store.close().await;
    (customer.id.to_string(), email.id.to_string(), whatsapp.id.to_string())
}

async fn the_profile_shows_handles_and_conversations_newest_first(backend: Backend) {
    let app = spawn_app(backend).await;
    let ana = app.login(ANA).await;
    let (customer, email, whatsapp) = seed_carla(&app).await;

    // An agent's reply with a card number: the preview shows it masked, as the store keeps it.
    let long = format!("Su tarjeta 4111 1111 1111 1111 está bloqueada. {}", "Detalles. ".repeat(40));
    let (status, _) =
        app.post(&format!("/api/v1/conversations/{whatsapp}/messages"), &ana, &json!({ "text": long })).await;
    assert_eq!(status, 201);

    let (status, profile) = app.get(&format!("/api/v1/customers/{customer}"), &ana).await;
    assert_eq!(status, 200, "{profile}");
    assert_eq!(profile["id"], customer.as_str());
    assert_eq!(profile["name"], "Carla Cliente **** **** **** 1111");
    assert_eq!(profile["email"], "carla@example.com");
    assert_eq!(profile["language"], "es");
    assert_eq!(profile["tier"], "vip");
    let handles: Vec<(String, String)> = profile["handles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (h["channel"].as_str().unwrap().to_owned(), h["handle"].as_str().unwrap().to_owned()))
        .collect();
    // The voice and WhatsApp handles are one identity, the phone number.
    for expected in [("email", "carla@example.com"), ("voice", "+34600111222")] {
        assert!(handles.contains(&(expected.0.into(), expected.1.into())), "{expected:?} in {handles:?}");
    }
    let items = profile["conversations"]["items"].as_array().unwrap();
    let ids: Vec<&str> = items.iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [whatsapp.as_str(), email.as_str()], "newest first");
    assert_eq!(profile["conversations"]["next_cursor"], Value::Null);
    let (wa, mail) = (&items[0], &items[1]);
    assert_eq!(wa["channel"], "whatsapp");
    assert_eq!(wa["status"], "assigned", "Ana's reply claimed it");
    assert!(wa["created_at"].is_string() && wa["updated_at"].is_string());
    assert_eq!(wa["subject"], Value::Null);
    assert_eq!(wa["last_message"]["author"], "agent");
    let preview = wa["last_message"]["text"].as_str().unwrap();
    assert!(preview.starts_with("Su tarjeta **** **** **** 1111 está bloqueada."), "{preview}");
    assert!(preview.ends_with('…') && preview.chars().count() == 161, "cut to 160 characters: {preview}");
    let whole = profile.to_string();
    for clear in ["4111 1111 1111 1111", "4111111111111111"] {
        assert!(!whole.contains(clear), "no card number in clear: {whole}");
    }
    assert_eq!(mail["channel"], "email");
    assert_eq!(mail["subject"], "Sin internet en casa");
    assert_eq!(mail["last_message"], Value::Null, "no message yet");

    // The conversation itself carries the subject for the thread's header (e-mail only).
    let (status, detail) = app.get(&format!("/api/v1/conversations/{email}"), &ana).await;
    assert_eq!(status, 200);
    assert_eq!(detail["subject"], "Sin internet en casa");
    assert_eq!(detail["customer_id"], customer.as_str());
    let (_, detail) = app.get(&format!("/api/v1/conversations/{whatsapp}"), &ana).await;
    assert!(detail.get("subject").is_none(), "{detail}");

    // Paged: one at a time, by the cursor, on the profile and on the list of its own.
    let (status, first) = app.get(&format!("/api/v1/customers/{customer}?limit=1"), &ana).await;
    assert_eq!(status, 200);
    assert_eq!(first["conversations"]["items"][0]["id"], whatsapp.as_str());
    let cursor = first["conversations"]["next_cursor"].as_str().expect("a next page").to_owned();
    let (status, second) =
        app.get(&format!("/api/v1/customers/{customer}/conversations?limit=1&cursor={cursor}"), &ana).await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(second["items"].as_array().unwrap().len(), 1);
    assert_eq!(second["items"][0]["id"], email.as_str());
    assert_eq!(second["next_cursor"], Value::Null);

    // Bad input: an unknown customer, a malformed id, a bad limit or cursor.
    let unknown = schema::CustomerId::new();
    let (status, body) = app.get(&format!("/api/v1/customers/{unknown}"), &ana).await;
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("not_found")));
    let (status, _) = app.get(&format!("/api/v1/customers/{unknown}/conversations"), &ana).await;
    assert_eq!(status, 404);
    let (status, body) = app.get("/api/v1/customers/not-an-id", &ana).await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("invalid_path")));
    let (status, body) = app.get(&format!("/api/v1/customers/{customer}?limit=0"), &ana).await;
    assert_eq!((status, body["error"]["field"].as_str()), (422, Some("limit")));
    let (status, body) = app.get(&format!("/api/v1/customers/{customer}/conversations?cursor=zzz"), &ana).await;
    assert_eq!((status, body["error"]["code"].as_str()), (422, Some("invalid_field")));
}

async fn the_profile_is_for_agents_only(backend: Backend) {
    let app = spawn_app(backend).await;
    let (customer, _, _) = seed_carla(&app).await;
    for path in [format!("/api/v1/customers/{customer}"), format!("/api/v1/customers/{customer}/conversations")] {
        let res = app.http.get(app.url(&path)).send().await.unwrap();
        assert_eq!(res.status(), 401, "{path} without a session");
        let (status, _) = app.get(&path, "sbs_not-a-session").await;
        assert_eq!(status, 401, "{path} with a made-up token");
        // A bot trainer is staff, but not an agent.
        let tina = app.login("tina@demo.switchboard.local").await;
        let (status, body) = app.get(&path, &tina).await;
        assert_eq!((status, body["error"]["code"].as_str()), (403, Some("forbidden")), "{path} as a trainer");
    }
}
