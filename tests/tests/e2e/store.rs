//! The store, against SQLite and PostgreSQL alike.

use schema::{
    AuthMethod, AuthorKind, Channel, ChannelMessageId, ContactHandle, ConversationStatus, MessageText, NewAgent,
    NewCustomer, NewMessage, Role, Store, StoreError, StoreOptions,
};
use tests::{Backend, TestDb, both_backends};

both_backends!(
    sequence_numbers_have_no_gaps_under_concurrency,
    a_redelivered_message_is_a_no_op,
    an_agent_reply_claims_the_conversation,
    customers_keep_their_handles_and_a_handle_has_one_owner,
    staff_and_sessions,
    settings_are_created_once,
    reopening_runs_no_migration_twice,
    two_senders_never_claim_the_same_reply,
    documents_keep_every_version_and_wrong_answers_queue_their_question,
    canned_responses_are_scoped_searched_paged_and_unique_per_scope,
    a_lease_has_one_holder_until_its_session_ends,
);

async fn store(db: &TestDb) -> Store {
    Store::connect(&db.url, &StoreOptions { max_connections: 4, ..StoreOptions::default() }).await.unwrap()
}

fn text(s: &str) -> MessageText {
    MessageText::parse(s, 4000).unwrap()
}

fn customer_message(conversation: schema::ConversationId, client_id: &str, body: &str) -> NewMessage {
    NewMessage {
        conversation_id: conversation,
        author: AuthorKind::Customer,
        author_id: None,
        text: text(body),
        channel_message_id: Some(client_id.parse().unwrap()),
        media: Vec::new(),
        template: None,
    }
}

async fn chat(store: &Store) -> schema::Conversation {
    store
        .create_customer_with_conversation(NewCustomer::default(), Channel::WebChat, ConversationStatus::Queued)
        .await
        .unwrap()
        .1
}

async fn sequence_numbers_have_no_gaps_under_concurrency(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = store(&db).await;
    let conversation = chat(&store).await;
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store.append_message(customer_message(conversation.id, &format!("m{i}"), "hi")).await
            })
        })
        .collect();
    let mut seqs = Vec::new();
    for t in tasks {
        seqs.push(t.await.unwrap().unwrap().message.seq);
    }
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=40).collect::<Vec<_>>());
    let stored = store.messages_after(conversation.id, 0, 100).await.unwrap();
    assert_eq!(stored.iter().map(|m| m.seq).collect::<Vec<_>>(), (1..=40).collect::<Vec<_>>());
    assert_eq!(store.messages_after(conversation.id, 38, 100).await.unwrap().len(), 2);
    assert_eq!(store.conversation(conversation.id).await.unwrap().last_seq, 40);
}

async fn a_redelivered_message_is_a_no_op(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = store(&db).await;
    let conversation = chat(&store).await;
    let first = store.append_message(customer_message(conversation.id, "wamid.1", "hello")).await.unwrap();
    assert!(first.created);
    let again =
        store.append_message(customer_message(conversation.id, "wamid.1", "hello (redelivered)")).await.unwrap();
    assert!(!again.created);
    assert_eq!(again.message.id, first.message.id);
    assert_eq!(again.message.text.as_str(), "hello");
    assert_eq!(again.conversation.last_seq, 1, "the sequence bump was rolled back");
    let next = store.append_message(customer_message(conversation.id, "wamid.2", "next")).await.unwrap();
    assert_eq!(next.message.seq, 2);
    // The same channel id in another conversation is another message.
    let other = chat(&store).await;
    assert!(store.append_message(customer_message(other.id, "wamid.1", "hello")).await.unwrap().created);
    // Messages without a channel id never collide.
    for _ in 0..2 {
        let m = NewMessage { channel_message_id: None, ..customer_message(conversation.id, "x", "no id") };
        assert!(store.append_message(m).await.unwrap().created);
    }
    assert_eq!(store.messages_after(conversation.id, 0, 10).await.unwrap().len(), 4);
    // The same message delivered many times at once (it lands in one batch on SQLite, in
    // racing transactions on PostgreSQL) is stored once.
    let tasks: Vec<_> = (0..12)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.append_message(customer_message(conversation.id, "burst", "x")).await })
        })
        .collect();
    let mut created = 0;
    let mut seqs = Vec::new();
    for t in tasks {
        let a = t.await.unwrap().unwrap();
        created += usize::from(a.created);
        seqs.push(a.message.seq);
    }
    assert_eq!(created, 1);
    assert!(seqs.iter().all(|&s| s == seqs[0]), "{seqs:?}");
    assert_eq!(store.conversation(conversation.id).await.unwrap().last_seq, 5);
    // An unknown conversation is NotFound, and writes nothing.
    let missing = schema::ConversationId::new();
    let err = store.append_message(customer_message(missing, "a", "b")).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err}");
}

async fn an_agent_reply_claims_the_conversation(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = store(&db).await;
    let ana = agent(&store, "ana@example.com").await;
    let bea = agent(&store, "bea@example.com").await;
    let conversation = chat(&store).await;
    assert_eq!(conversation.status, ConversationStatus::Queued);
    let reply = |who: schema::AgentId| NewMessage {
        conversation_id: conversation.id,
        author: AuthorKind::Agent,
        author_id: Some(who),
        text: text("on it"),
        channel_message_id: None,
        media: Vec::new(),
        template: None,
    };
    let a = store.append_message(reply(ana.id)).await.unwrap();
    assert_eq!((a.conversation.status, a.conversation.assignee_id), (ConversationStatus::Assigned, Some(ana.id)));
    // A second agent chiming in does not take it over.
    let b = store.append_message(reply(bea.id)).await.unwrap();
    assert_eq!(b.conversation.assignee_id, Some(ana.id));
    let page = store.list_conversations(Some(ConversationStatus::Assigned), 10, None).await.unwrap();
    assert_eq!(page.items.len(), 1);
    assert!(store.list_conversations(Some(ConversationStatus::Queued), 10, None).await.unwrap().items.is_empty());
}

async fn agent(store: &Store, email: &str) -> schema::Agent {
    store
        .create_agent(NewAgent {
            email: email.parse().unwrap(),
            name: "Agent".parse().unwrap(),
            roles: vec![Role::Agent],
            password_hash: "not-a-real-hash".into(),
        })
        .await
        .unwrap()
}

async fn customers_keep_their_handles_and_a_handle_has_one_owner(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = store(&db).await;
    let handle = ContactHandle { channel: Channel::WhatsApp, handle: "+34600111222".into() };
    let new = NewCustomer {
        name: Some("Lucía".parse().unwrap()),
        email: Some("lucia@example.es".parse().unwrap()),
        language: schema::Language::Es,
        tier: schema::CustomerTier::Vip,
        handles: vec![handle.clone()],
    };
    let (customer, conversation) =
        store.create_customer_with_conversation(new.clone(), Channel::WhatsApp, ConversationStatus::Bot).await.unwrap();
    assert_eq!(store.customer(customer.id).await.unwrap(), customer);
    assert_eq!(conversation.language, schema::Language::Es);
    // The same handle for a second customer is refused, and nothing of it is left behind.
    let err =
        store.create_customer_with_conversation(new, Channel::WhatsApp, ConversationStatus::Bot).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err}");
    assert_eq!(store.list_conversations(None, 10, None).await.unwrap().items.len(), 1, "the transaction rolled back");
}

async fn staff_and_sessions(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = store(&db).await;
    let ana = agent(&store, "ana@example.com").await;
    let err = store
        .create_agent(NewAgent {
            email: "ANA@example.com".parse().unwrap(),
            name: "Other".parse().unwrap(),
            roles: vec![Role::Agent],
            password_hash: "x".into(),
        })
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(ref m) if m.contains("ana@example.com")), "{err}");
    let (found, hash) = store.agent_credentials(&"ana@example.com".parse().unwrap()).await.unwrap().unwrap();
    assert_eq!((found, hash.as_str()), (ana.clone(), "not-a-real-hash"));

    let now = time::OffsetDateTime::now_utc();
    store.create_session("digest-live", &ana, AuthMethod::Password, now + time::Duration::minutes(15)).await.unwrap();
    store.create_session("digest-old", &ana, AuthMethod::Password, now - time::Duration::seconds(1)).await.unwrap();
    let live = store.live_session("digest-live").await.unwrap().unwrap();
    assert_eq!(live.agent, ana);
    assert!(store.live_session("digest-old").await.unwrap().is_none(), "expired");
    assert!(store.live_session("digest-unknown").await.unwrap().is_none());
    store.touch_session("digest-old", now + time::Duration::minutes(5)).await.unwrap();
    assert!(store.live_session("digest-old").await.unwrap().is_some(), "touch extends");
    store.revoke_session("digest-live").await.unwrap();
    assert!(store.live_session("digest-live").await.unwrap().is_none(), "revoked");
}

async fn settings_are_created_once(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = store(&db).await;
    let a = store.setting_or_init("k", || "first".into()).await.unwrap();
    let b = store.setting_or_init("k", || "second".into()).await.unwrap();
    assert_eq!((a.as_str(), b.as_str()), ("first", "first"));
}

async fn reopening_runs_no_migration_twice(backend: Backend) {
    let db = TestDb::new(backend).await;
    let first = store(&db).await;
    let conversation = chat(&first).await;
    first.append_message(customer_message(conversation.id, "1", "kept")).await.unwrap();
    first.close().await;
    let second = store(&db).await;
    let kept = second.messages_after(conversation.id, 0, 10).await.unwrap();
    assert_eq!(kept[0].text.as_str(), "kept");
    assert_eq!(kept[0].channel_message_id, Some("1".parse::<ChannelMessageId>().unwrap()));
}

async fn a_lease_has_one_holder_until_its_session_ends(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = store(&db).await;
    if backend == Backend::Sqlite {
        assert!(store.lease_session().await.unwrap().is_none(), "one node on SQLite: no session, always the leader");
        return;
    }
    let mut first = store.lease_session().await.unwrap().expect("a session on PostgreSQL");
    let mut second = store.lease_session().await.unwrap().unwrap();
    assert!(first.try_acquire("jobs").await.unwrap());
    assert!(!second.try_acquire("jobs").await.unwrap(), "two holders");
    assert!(first.try_acquire("jobs").await.unwrap(), "taking it again keeps it");
    assert!(first.holds("jobs").await.unwrap());
    assert!(!second.holds("jobs").await.unwrap());
    assert!(second.try_acquire("router").await.unwrap(), "leases are by name");

    // Another schema of the same database is another deployment: its lease is its own.
    let other = TestDb::new(backend).await;
    let other_store =
        Store::connect(&other.url, &StoreOptions { max_connections: 2, ..StoreOptions::default() }).await.unwrap();
    let mut elsewhere = other_store.lease_session().await.unwrap().unwrap();
    assert!(elsewhere.try_acquire("jobs").await.unwrap());

    // Released once (taking it twice did not stack), it is free for the other session.
    first.release("jobs").await.unwrap();
    assert!(!first.holds("jobs").await.unwrap());
    assert!(second.try_acquire("jobs").await.unwrap());
    assert!(!first.try_acquire("jobs").await.unwrap());

    // A session the server ends (as when its node dies) holds nothing, and says so.
    sqlx::any::install_default_drivers();
    let admin = sqlx::AnyPool::connect(&db.url).await.unwrap();
    let ended = sqlx::query(
        "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND granted \
         AND pid <> pg_backend_pid() AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
         AND pid IN (SELECT pid FROM pg_stat_activity WHERE application_name = 'switchboard-leases') \
         AND objid::bigint = (hashtextextended(current_schema() || '/jobs', 0) & 4294967295)",
    )
    .fetch_all(&admin)
    .await
    .unwrap();
    assert_eq!(ended.len(), 1, "the holder's session");
    admin.close().await;
    assert!(second.holds("jobs").await.is_err(), "the ended session fails its next check");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !first.try_acquire("jobs").await.unwrap() {
        assert!(std::time::Instant::now() < deadline, "the lease is freed with its session");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    first.close().await;
    elsewhere.close().await;
}

fn ticket_line(ticket: &schema::Ticket, kind: &str) -> schema::TicketEvent {
    schema::TicketEvent {
        ticket_id: ticket.id,
        actor: schema::Actor::System,
        kind: kind.into(),
        detail: serde_json::Value::Null,
        at: time::OffsetDateTime::now_utc(),
    }
}

/// The router's writes are fenced with its term of the lease (PostgreSQL; on SQLite one node
/// always leads): once another node's term has begun, the old holder (which has not noticed yet)
/// can neither create, offer nor assign tickets nor set presence, and writes nothing; a fenced
/// transaction in flight holds the new term back until it ends.
#[tokio::test]
async fn a_node_that_lost_the_router_lease_cannot_write_over_its_successor() {
    let db = TestDb::new(Backend::Postgres).await;
    let store = store(&db).await;
    let ana = agent(&store, "ana@example.com").await;
    let routing = schema::AgentRouting {
        agent_id: ana.id,
        skills: std::collections::BTreeMap::new(),
        capacity: schema::Capacity::default(),
        presence: schema::Presence::Offline,
    };
    store.set_agent_routing(&routing).await.unwrap();
    let queued = schema::ConversationChange { status: ConversationStatus::Queued, assignee_id: None };

    let mut first = store.lease_session().await.unwrap().unwrap();
    assert!(first.try_acquire("router").await.unwrap());
    let term = first.begin_term("router").await.unwrap();
    assert_eq!((term.lease(), term.term()), ("router", 1));
    let old = store.fenced(term);
    let ticket = tests::queued_ticket(chat(&store).await.id, "general", time::OffsetDateTime::now_utc());
    old.create_ticket(&ticket, &ticket_line(&ticket, "created"), queued).await.unwrap();
    assert!(old.set_presence(ana.id, schema::Presence::Available, 1).await.unwrap(), "the holder writes");

    // A fenced transaction in flight (as `Store::begin_fenced` opens them) when another node takes
    // the lease: the new term waits for it.
    sqlx::any::install_default_drivers();
    let side = sqlx::AnyPool::connect(&db.url).await.unwrap();
    let mut in_flight = side.begin().await.unwrap();
    sqlx::query("SELECT term FROM lease_terms WHERE name = 'router' FOR SHARE")
        .fetch_one(&mut *in_flight)
        .await
        .unwrap();
    // The first node's session ends (its node lost the database) and a second node takes over.
    first.close().await;
    let mut second = store.lease_session().await.unwrap().unwrap();
    assert!(second.try_acquire("router").await.unwrap(), "the lease is free once its session ended");
    let mut beginning = tokio::spawn(async move {
        let term = second.begin_term("router").await;
        (second, term)
    });
    assert!(
        tokio::time::timeout(std::time::Duration::from_millis(300), &mut beginning).await.is_err(),
        "the new term waits for the old term's transaction in flight"
    );
    in_flight.commit().await.unwrap();
    let (second, term) = beginning.await.unwrap();
    let term = term.unwrap();
    assert_eq!(term.term(), 2, "the next term");
    let new = store.fenced(term);

    // The first node, not aware yet, offers the ticket, sets presence, opens another ticket:
    // each refused, nothing written.
    let mut offered = ticket.clone();
    offered.status = schema::TicketStatus::Offered;
    offered.offered_to = Some(ana.id);
    let err = old.update_ticket(&offered, &[ticket_line(&offered, "offered")], None).await.unwrap_err();
    assert!(matches!(err, StoreError::Fenced { ref lease } if lease == "router"), "{err}");
    assert_eq!(store.ticket(ticket.id).await.unwrap().status, schema::TicketStatus::Queued);
    assert_eq!(store.ticket_events(ticket.id).await.unwrap().len(), 1, "no history line either");
    let err = old.set_presence(ana.id, schema::Presence::Away, 2).await.unwrap_err();
    assert!(matches!(err, StoreError::Fenced { .. }), "{err}");
    let another = tests::queued_ticket(chat(&store).await.id, "general", time::OffsetDateTime::now_utc());
    let err = old.create_ticket(&another, &ticket_line(&another, "created"), queued).await.unwrap_err();
    assert!(matches!(err, StoreError::Fenced { .. }), "{err}");
    assert!(matches!(store.ticket(another.id).await, Err(StoreError::NotFound { .. })), "no ticket created");
    assert_eq!(store.agent_routing(ana.id).await.unwrap().unwrap().presence, schema::Presence::Available);

    // The second node's writes go through; the store unfenced (other services) is unchanged.
    new.update_ticket(&offered, &[ticket_line(&offered, "offered")], None).await.unwrap();
    assert_eq!(store.ticket(ticket.id).await.unwrap().offered_to, Some(ana.id));
    assert!(new.set_presence(ana.id, schema::Presence::Away, 3).await.unwrap());
    store.create_ticket(&another, &ticket_line(&another, "created"), queued).await.unwrap();

    // Only a holder begins a term; terms are counted per lease.
    let mut third = store.lease_session().await.unwrap().unwrap();
    assert!(matches!(third.begin_term("router").await, Err(StoreError::Fenced { .. })), "not the holder");
    assert!(third.try_acquire("jobs").await.unwrap());
    assert_eq!(third.begin_term("jobs").await.unwrap().term(), 1);
    second.close().await;
    third.close().await;
    side.close().await;
}

#[tokio::test]
async fn unsupported_urls_are_refused_by_name() {
    for url in ["mysql://localhost/x", "sqlite://", "sqlite://:memory:", "nonsense"] {
        let err = Store::connect(url, &StoreOptions::default()).await.unwrap_err();
        assert!(matches!(err, StoreError::UnsupportedUrl(_)), "{url}: {err}");
    }
    let err = Store::connect("postgres://u:secret@127.0.0.1:1/x", &StoreOptions::default()).await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err}");
    assert_eq!(schema::redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
}

async fn two_senders_never_claim_the_same_reply(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = store(&db).await;
    let ana = agent(&store, "ana@example.com").await;
    let mut queued = Vec::new();
    for sender in 0..10 {
        let conversation = store
            .conversation_for_handle(Channel::Telegram, &format!("bot:{sender}"), None, ConversationStatus::Queued)
            .await
            .unwrap();
        store.append_message(customer_message(conversation.id, "in-1", "hola")).await.unwrap();
        let reply = NewMessage {
            author: AuthorKind::Agent,
            author_id: Some(ana.id),
            channel_message_id: None,
            ..customer_message(conversation.id, "x", "buenas")
        };
        let appended = store.append_message(reply).await.unwrap();
        assert_eq!(appended.message.delivery_status, Some(schema::DeliveryStatus::Queued));
        queued.push(appended.message.id);
    }
    // Two nodes claim at the same moment: every reply goes to exactly one of them.
    let now = time::OffsetDateTime::now_utc();
    let lease = std::time::Duration::from_secs(60);
    let (a, b) = tokio::join!(store.claim_outbound(now, lease, 100), store.claim_outbound(now, lease, 100));
    let mut claimed: Vec<_> = a.unwrap().into_iter().chain(b.unwrap()).map(|o| o.message.id).collect();
    claimed.sort();
    queued.sort();
    assert_eq!(claimed, queued);
    // Leased: nothing is due again until the lease runs out; then it is.
    assert!(store.claim_outbound(now, lease, 100).await.unwrap().is_empty());
    let later = now + lease + std::time::Duration::from_secs(1);
    assert_eq!(store.claim_outbound(later, lease, 100).await.unwrap().len(), 10);
}

fn article(title: &str, status: schema::DocumentStatus) -> schema::knowledge::DocumentContent {
    schema::knowledge::DocumentContent {
        kind: schema::DocumentKind::Article,
        language: schema::Language::En,
        title: title.into(),
        body: "Settings > Mobile data > Roaming.".into(),
        questions: Vec::new(),
        tags: vec!["roaming".into()],
        status,
    }
}

async fn documents_keep_every_version_and_wrong_answers_queue_their_question(backend: Backend) {
    use schema::{DocumentStatus, Verdict};
    let db = TestDb::new(backend).await;
    let store = store(&db).await;
    let trainer = agent(&store, "tina@example.com").await;

    // Imported once: a second import of the same source changes nothing.
    let (doc, created) = store
        .create_document(&article("Roaming", DocumentStatus::Published), Some("demo/roaming.md"), None)
        .await
        .unwrap();
    assert!(created);
    let (again, created) = store
        .create_document(&article("Other", DocumentStatus::Published), Some("demo/roaming.md"), None)
        .await
        .unwrap();
    assert!(!created);
    assert_eq!(again.id, doc.id);

    // Edits are versioned; a stale edit is refused.
    let edited = store
        .update_document(doc.id, &article("Data roaming", DocumentStatus::Published), 1, trainer.id)
        .await
        .unwrap();
    assert_eq!((edited.version, edited.content.title.as_str()), (2, "Data roaming"));
    let stale = store.update_document(doc.id, &article("Lost", DocumentStatus::Draft), 1, trainer.id).await;
    assert!(matches!(stale, Err(StoreError::Conflict(_))), "{stale:?}");
    let versions = store.document_versions(doc.id).await.unwrap();
    assert_eq!(
        versions.iter().map(|v| (v.version, v.content.title.as_str())).collect::<Vec<_>>(),
        [(2, "Data roaming"), (1, "Roaming")]
    );
    assert_eq!(versions[0].edited_by, Some(trainer.id));
    store.create_document(&article("Draft", DocumentStatus::Draft), None, Some(trainer.id)).await.unwrap();
    assert_eq!(store.documents(Some(DocumentStatus::Published), None).await.unwrap().len(), 1);
    assert_eq!(store.documents(None, Some(schema::Language::En)).await.unwrap().len(), 2);
    assert!(matches!(store.document_versions(schema::DocumentId::new()).await, Err(StoreError::NotFound { .. })));

    // Embedding vectors are cached per document version and model.
    let rows = vec![vec![0.25f32, -0.5, 1.0], vec![0.0, 1.5, -2.0]];
    store.save_document_embedding(doc.id, 1, "mini", &rows).await.unwrap();
    store.save_document_embedding(doc.id, 2, "mini", &rows[..1]).await.unwrap();
    let cached = store.document_embeddings("mini", 3).await.unwrap();
    assert_eq!(cached[&doc.id], schema::CachedEmbedding { version: 2, rows: rows[..1].to_vec() });
    assert!(store.document_embeddings("other-model", 3).await.unwrap().is_empty());
    assert!(matches!(store.document_embeddings("mini", 2).await, Err(StoreError::Corrupt(_))));

    // A bot answer judged wrong queues the customer's question, once.
    let conversation = chat(&store).await;
    let question = store.append_message(customer_message(conversation.id, "q1", "roaming?")).await.unwrap().message;
    let bot = NewMessage {
        author: AuthorKind::Bot,
        channel_message_id: None,
        ..customer_message(conversation.id, "x", "Settings > Roaming")
    };
    let answer = store.append_message(bot).await.unwrap().message;
    store
        .record_bot_answer(&schema::knowledge::BotAnswer {
            message_id: answer.id,
            conversation_id: conversation.id,
            question: "roaming?".into(),
            language: schema::Language::En,
            intent: Some("roaming".into()),
            document_id: doc.id,
            confidence: 0.72,
            verdict: None,
            judged_by: None,
            judged_at: None,
            created_at: answer.created_at,
            unhelpful: false,
        })
        .await
        .unwrap();
    let unjudged =
        schema::BotAnswerFilter { unjudged: true, below_confidence: None, language: None, unhelpful: false, limit: 10 };
    assert_eq!(store.bot_answers(&unjudged).await.unwrap().len(), 1);
    for _ in 0..2 {
        let judged = store.judge_bot_answer(answer.id, Verdict::Wrong, trainer.id).await.unwrap();
        assert_eq!(judged.verdict, Some(Verdict::Wrong));
    }
    assert!(store.bot_answers(&unjudged).await.unwrap().is_empty());
    let open = store.open_unanswered(10).await.unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!((open[0].message_id, open[0].reason.as_str()), (question.id, "marked_wrong"));
    assert!(matches!(
        store.judge_bot_answer(question.id, Verdict::Right, trainer.id).await,
        Err(StoreError::NotFound { .. })
    ));

    // Resolved by a new Q&A pair.
    assert_eq!(store.resolve_unanswered(&[open[0].id], doc.id, trainer.id).await.unwrap(), 1);
    assert_eq!(store.resolve_unanswered(&[open[0].id], doc.id, trainer.id).await.unwrap(), 0);
    assert!(store.open_unanswered(10).await.unwrap().is_empty());
}

async fn canned_responses_are_scoped_searched_paged_and_unique_per_scope(backend: Backend) {
    use schema::canned::{CannedContent, CannedFilter};
    use schema::{Language, QueueName};
    let db = TestDb::new(backend).await;
    let store = store(&db).await;
    let bruno = agent(&store, "bruno@example.com").await;
    let content = |queue: Option<&str>, shortcut: &str, title: &str, body: &str, language: Language| {
        CannedContent::new(queue.map(|q| q.parse().unwrap()), shortcut.parse().unwrap(), title, body, language).unwrap()
    };
    let global = store
        .create_canned_response(
            content(None, "roaming-on", "Roaming on", "Roaming is on. Card 4111 1111 1111 1111.", Language::En),
            bruno.id,
        )
        .await
        .unwrap();
    assert_eq!(global.content.body, "Roaming is on. Card **** **** **** 1111.", "masked before it is stored");
    assert_eq!(store.canned_response(global.id).await.unwrap(), global);
    let es =
        content(None, "roaming-on", "Activar itinerancia", "La itinerancia (roaming) está activada.", Language::Es);
    let es = store.create_canned_response(es, bruno.id).await.unwrap();
    let billing = content(Some("billing"), "refund", "Refund", "Your refund is on its way.", Language::En);
    let billing = store.create_canned_response(billing, bruno.id).await.unwrap();
    // The same shortcut in the same scope and language is refused; in another scope it is not.
    let dup = store.create_canned_response(content(None, "roaming-on", "x", "y", Language::En), bruno.id).await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");
    let dup = store.create_canned_response(content(Some("billing"), "refund", "x", "y", Language::En), bruno.id).await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");
    store.create_canned_response(content(Some("general"), "refund", "x", "y", Language::En), bruno.id).await.unwrap();

    let list = async |filter: CannedFilter| -> Vec<String> {
        let page = store.canned_responses(&filter, 50, None).await.unwrap();
        page.items.iter().map(|c| format!("{}:{}", c.content.language, c.content.shortcut)).collect()
    };
    assert_eq!(list(CannedFilter::default()).await, ["en:refund", "en:refund", "en:roaming-on", "es:roaming-on"]);
    let queues = |names: &[&str]| Some(names.iter().map(|n| n.parse::<QueueName>().unwrap()).collect());
    assert_eq!(
        list(CannedFilter { queues: queues(&[]), ..Default::default() }).await,
        ["en:roaming-on", "es:roaming-on"]
    );
    assert_eq!(
        list(CannedFilter { queues: queues(&["billing"]), ..Default::default() }).await,
        ["en:refund", "en:roaming-on", "es:roaming-on"]
    );
    assert_eq!(list(CannedFilter { language: Some(Language::Es), ..Default::default() }).await, ["es:roaming-on"]);
    // Words match shortcut, title or body, in any case and without accents; all must match.
    let search = |q: &str| CannedFilter { query: Some(q.into()), ..Default::default() };
    assert_eq!(list(search("ESTA activada")).await, ["es:roaming-on"]);
    assert_eq!(list(search("ROAMING")).await, ["en:roaming-on", "es:roaming-on"]);
    assert_eq!(list(search("refund way")).await, ["en:refund"]);
    assert_eq!(list(search("100%")).await, Vec::<String>::new(), "% is not a wildcard");

    // Pages follow each other without gaps or repeats; a made-up cursor is refused.
    let first = store.canned_responses(&CannedFilter::default(), 3, None).await.unwrap();
    let cursor = first.next_cursor.clone().unwrap();
    let second = store.canned_responses(&CannedFilter::default(), 3, Some(&cursor)).await.unwrap();
    assert_eq!((first.items.len(), second.items.len(), second.next_cursor), (3, 1, None));
    assert_eq!(second.items[0].id, es.id);
    assert!(store.canned_responses(&CannedFilter::default(), 3, Some("nope")).await.is_err());

    // Changes and deletion.
    let moved = content(None, "refund-status", "Refund status", "Refunds take 5 days.", Language::En);
    let updated = store.update_canned_response(billing.id, moved).await.unwrap();
    assert_eq!((updated.content.queue, updated.content.shortcut.as_str()), (None, "refund-status"));
    assert!(updated.updated_at >= billing.updated_at);
    let clash = store.update_canned_response(billing.id, content(None, "roaming-on", "t", "b", Language::En)).await;
    assert!(matches!(clash, Err(StoreError::Conflict(_))), "{clash:?}");
    store.delete_canned_response(billing.id).await.unwrap();
    let gone = store.delete_canned_response(billing.id).await;
    assert!(matches!(gone, Err(StoreError::NotFound { .. })), "{gone:?}");
    let gone = store.update_canned_response(billing.id, content(None, "x1", "t", "b", Language::En)).await;
    assert!(matches!(gone, Err(StoreError::NotFound { .. })), "{gone:?}");
}
