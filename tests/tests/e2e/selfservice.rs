//! Self-service through the bot, end to end with the real embedding model and the embedded BSS:
//! a web chat customer asks about their account, is asked to verify, gets a one-time code by
//! e-mail at the relay (or by SMS at a stand-in gateway), types it, and gets live answers
//! (balance and due date, usage, the last bill explained, a plan change ordered after a "yes", a
//! payment arrangement within the rules; outside them a ticket for a person). Unverified, no bot
//! message carries account data; five wrong codes lock verification; an expired code is refused;
//! the code never reaches the transcript.

use std::sync::{Arc, Mutex};

use bss::Bss as _;
use bss::embedded::{CustomerSeed, Profile, SeededCustomer};
use bss::{CustomerRef, OrderAction};
use schema::{ConversationId, Store};
use serde_json::{Value, json};
use tests::mail::Relay;
use tests::{Backend, TestApp, Ws, both_backends};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

both_backends!(
    a_verified_customer_gets_live_answers_and_changes_their_plan,
    an_unlinked_customer_verifies_by_sms_and_arrears_go_to_a_person,
    unverified_customers_get_no_account_data_and_codes_expire_and_lock
);

async fn app(backend: Backend, relay: &Relay, sms: Option<String>) -> TestApp {
    crate::email::app_with(backend, relay, |config| {
        config.bot.enabled = true;
        config.bot.model_dir = tests::model_dir();
        config.selfservice.enabled = true;
        config.selfservice.sms = sms.map(|url| hub::config::SmsConfig {
            url,
            token: Some("sms-test-token".into()),
            sender: "Telco".into(),
            ..hub::config::SmsConfig::default()
        });
    })
    .await
}

fn store(app: &TestApp) -> Store {
    app.hub.as_ref().unwrap().state.core.store.clone()
}

/// A BSS customer of `profile` with an e-mail address and a phone, not linked to anyone.
async fn seed(app: &TestApp, profile: Profile) -> (SeededCustomer, String, String) {
    let reference = format!("SS-{}", &uuid::Uuid::new_v4().simple().to_string()[..10].to_uppercase());
    let email = format!("{}@example.com", reference.to_lowercase());
    let phone = format!("+34699{}", &uuid::Uuid::new_v4().as_u128().to_string()[..6]);
    let seed = CustomerSeed {
        email: Some(email.clone()),
        phone: Some(phone.clone()),
        ..CustomerSeed::new(CustomerRef::parse(&reference).unwrap(), "Sara Selfservice", profile)
    };
    let today = time::OffsetDateTime::now_utc().date();
    (tests::bss::embedded(app).seed_customer(&seed, today).await.unwrap(), email, phone)
}

/// A new English web chat: (visitor token, conversation id).
async fn chat(app: &TestApp) -> (String, ConversationId) {
    let res = app
        .http
        .post(app.url("/api/v1/webchat/sessions"))
        .json(&json!({"name": "Sara Selfservice", "language": "en"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    (body["token"].as_str().unwrap().to_owned(), body["conversation_id"].as_str().unwrap().parse().unwrap())
}

/// Links the chat's customer to the BSS customer.
async fn link(app: &TestApp, conversation: ConversationId, customer: &CustomerRef) {
    let store = store(app);
    let c = store.conversation(conversation).await.unwrap();
    store.set_customer_bss_id(c.customer_id, Some(customer.as_str())).await.unwrap();
}

/// Sends a customer message and returns the bot's next `n` messages' texts.
async fn say(ws: &mut Ws, id: &str, text: &str, n: usize) -> Vec<String> {
    ws.send_json(&json!({"type": "message", "client_id": id, "text": text})).await;
    ws.next_of("ack").await;
    let mut out = Vec::new();
    while out.len() < n {
        let frame = ws.next_of("message").await;
        if frame["message"]["author"] == "bot" {
            out.push(frame["message"]["text"].as_str().unwrap().to_owned());
        }
    }
    out
}

async fn one(ws: &mut Ws, id: &str, text: &str) -> String {
    say(ws, id, text, 1).await.remove(0)
}

/// The six digits in a text.
fn code_in(text: &str) -> String {
    text.split(|c: char| !c.is_ascii_digit()).find(|r| r.len() == 6).expect("a 6-digit code").to_owned()
}

/// Every message of the conversation: (author, text).
async fn transcript(app: &TestApp, conversation: ConversationId) -> Vec<(String, String)> {
    store(app)
        .messages_after(conversation, 0, 500)
        .await
        .unwrap()
        .into_iter()
        .map(|m| (m.author.as_str().to_owned(), m.text.as_str().to_owned()))
        .collect()
}

async fn a_verified_customer_gets_live_answers_and_changes_their_plan(backend: Backend) {
    let relay = Relay::start().await;
    let app = app(backend, &relay, None).await;
    let (seeded, email, _) = seed(&app, Profile::Family).await;
    let bss = tests::bss::embedded(&app);
    let (visitor, conversation) = chat(&app).await;
    link(&app, conversation, &seeded.customer).await;
    let mut ws = app.customer_socket(&visitor, None).await;

    // The balance question: verification first, with the masked contact (no SMS sender, so the
    // phone is not offered), and nothing about the account.
    let offer = one(&mut ws, "c1", "what's my balance?").await;
    let masked = format!("{}***@example.com", &email[..1]);
    assert!(offer.contains(&format!("1. {masked}")), "{offer}");
    assert!(!offer.contains("+34") && !offer.contains("EUR"), "{offer}");
    let sent = one(&mut ws, "c2", "1").await;
    assert!(sent.contains(&masked) && sent.contains("6-digit code"), "{sent}");

    // The code arrives at the relay, to the BSS's address for the customer.
    let (envelope, _, mail) = relay.mail(1).await;
    assert_eq!(envelope.rcpt_to.iter().map(ToString::to_string).collect::<Vec<_>>(), [email.as_str()]);
    let code = code_in(&mail.text);
    let answers = say(&mut ws, "c3", &format!("my code is {code}"), 2).await;
    assert!(answers[0].starts_with("Thank you"), "{answers:?}");
    let accounts = bss.accounts(&seeded.customer).await.unwrap();
    let account = &accounts[0];
    assert!(answers[1].contains(account.id.as_str()), "{answers:?}");
    assert!(answers[1].contains(&account.balance.to_string()), "{answers:?}");
    let due = account.due_date.unwrap();
    assert!(answers[1].contains(&format!("due on {due}")), "{answers:?}");

    // The code is not in the transcript: the customer's message is stored masked.
    let messages = transcript(&app, conversation).await;
    assert!(messages.iter().all(|(_, t)| !t.contains(&code)), "{messages:?}");
    assert!(messages.iter().any(|(a, t)| a == "customer" && t == "my code is ••••••"), "{messages:?}");

    // Usage, then the last bill line by line.
    let usage = one(&mut ws, "c4", "how much data have I got left this month?").await;
    assert!(usage.contains("MB"), "{usage}");
    let bill_ref = &seeded.bills[0];
    let bill = bss.bill(bill_ref).await.unwrap();
    let explained = one(&mut ws, "c5", "can you explain my last bill?").await;
    assert!(explained.contains(&bill.number), "{explained}");
    for item in &bill.items {
        assert!(explained.contains(&item.description), "{} missing from {explained}", item.description);
    }

    // A plan change: the options, a pick, an explicit yes, and the order in the BSS.
    let options = one(&mut ws, "c6", "I'd like to change to a different plan").await;
    assert!(options.contains("1. ") && options.contains("→"), "{options}");
    let confirm = one(&mut ws, "c7", "1").await;
    assert!(confirm.contains("Reply \"yes\""), "{confirm}");
    let orders_before = bss.orders(&seeded.customer, 50).await.unwrap().len();
    let done = one(&mut ws, "c8", "yes").await;
    assert!(done.starts_with("Done: your plan change is ordered"), "{done}");
    let orders = bss.orders(&seeded.customer, 50).await.unwrap();
    assert_eq!(orders.len(), orders_before + 1, "{orders:?}");
    assert_eq!(orders[0].items[0].action, OrderAction::Modify);
    assert!(orders[0].external_id.as_deref().is_some_and(|e| e.starts_with("ss-")), "{orders:?}");

    // A payment arrangement within the rules: the latest bill is not yet due.
    let proposal = one(&mut ws, "c9", "can I pay my bill a bit later?").await;
    assert!(proposal.contains("I can arrange for you to pay"), "{proposal}");
    let agreed = one(&mut ws, "c10", "yes").await;
    assert!(agreed.starts_with("Done: you have until"), "{agreed}");
    relay.shutdown.cancel();
}

/// A stand-in SMS gateway: answers 202 to every `POST` and records (authorization, body).
async fn sms_gateway() -> (String, Arc<Mutex<Vec<(String, Value)>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1/messages", listener.local_addr().unwrap());
    let got = Arc::new(Mutex::new(Vec::new()));
    let record = Arc::clone(&got);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut raw = Vec::new();
            let mut buf = [0u8; 4096];
            let (head, body) = loop {
                let n = socket.read(&mut buf).await.unwrap_or(0);
                if n == 0 {
                    break (String::new(), Vec::new());
                }
                raw.extend_from_slice(&buf[..n]);
                let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else { continue };
                let head = String::from_utf8_lossy(&raw[..end]).into_owned();
                let length = head
                    .lines()
                    .find_map(|l| {
                        l.to_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap_or(0))
                    })
                    .unwrap_or(0usize);
                while raw.len() < end + 4 + length {
                    let n = socket.read(&mut buf).await.unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    raw.extend_from_slice(&buf[..n]);
                }
                break (head, raw[end + 4..].to_vec());
            };
            let auth = head
                .lines()
                .find_map(|l| l.to_lowercase().starts_with("authorization:").then(|| l[14..].trim().to_owned()))
                .unwrap_or_default();
            if let Ok(json) = serde_json::from_slice::<Value>(&body) {
                record.lock().unwrap().push((auth, json));
            }
            let _ = socket.write_all(b"HTTP/1.1 202 Accepted\r\ncontent-length: 13\r\n\r\n{\"id\":\"sms1\"}").await;
        }
    });
    (url, got)
}

async fn an_unlinked_customer_verifies_by_sms_and_arrears_go_to_a_person(backend: Backend) {
    let relay = Relay::start().await;
    let (url, texts) = sms_gateway().await;
    let app = app(backend, &relay, Some(url)).await;
    let (seeded, _, phone) = seed(&app, Profile::Arrears).await;
    let (visitor, conversation) = chat(&app).await;
    let mut ws = app.customer_socket(&visitor, None).await;

    // Not linked: the bot asks for the account, and offers that account's contacts (both kinds).
    let asked = one(&mut ws, "c1", "I need more time to pay my bill").await;
    assert!(asked.contains("account number"), "{asked}");
    let offer = one(&mut ws, "c2", seeded.account.as_str()).await;
    let masked_phone = format!("+34 *** *** {}", &phone[phone.len() - 3..]);
    assert!(offer.contains(&masked_phone) && offer.contains("(SMS)") && offer.contains("(e-mail)"), "{offer}");
    let sent = one(&mut ws, "c3", "by sms").await;
    assert!(sent.contains(&masked_phone), "{sent}");
    let (auth, body) = {
        let mut waited = 0;
        loop {
            if let Some(first) = texts.lock().unwrap().first().cloned() {
                break first;
            }
            waited += 1;
            assert!(waited < 200, "no SMS reached the gateway");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    };
    assert_eq!(auth, "Bearer sms-test-token");
    assert_eq!((body["to"].as_str(), body["from"].as_str()), (Some(phone.as_str()), Some("Telco")), "{body}");
    let code = code_in(body["text"].as_str().unwrap());

    // The right code: verified and now linked; the arrears are beyond the rules, so a person
    // gets a ticket with a summary, and the customer is told.
    let answers = say(&mut ws, "c4", &code, 2).await;
    assert!(answers[0].starts_with("Thank you"), "{answers:?}");
    assert!(answers[1].contains("connecting you with an agent"), "{answers:?}");
    let store = store(&app);
    let customer = store.conversation(conversation).await.unwrap().customer_id;
    assert_eq!(store.customer_bss_id(customer).await.unwrap().as_deref(), Some(seeded.customer.as_str()));
    let ticket = store.latest_ticket(conversation).await.unwrap().expect("a ticket for a person");
    let summary = ticket.summary.clone().unwrap_or_default();
    assert!(summary.contains("outside the rules") && summary.contains(seeded.account.as_str()), "{summary}");
    assert!(ticket.tags.iter().any(|t| t == "payment_arrangement"), "{ticket:?}");
    relay.shutdown.cancel();
}

async fn unverified_customers_get_no_account_data_and_codes_expire_and_lock(backend: Backend) {
    let relay = Relay::start().await;
    let app = app(backend, &relay, None).await;
    let (seeded, _, _) = seed(&app, Profile::Family).await;
    let bss = tests::bss::embedded(&app);
    let (visitor, conversation) = chat(&app).await;
    link(&app, conversation, &seeded.customer).await;
    let mut ws = app.customer_socket(&visitor, None).await;

    // Every account question gets the verification offer, never data.
    for (i, q) in ["what's my balance?", "how much data have I got left this month?", "can you explain my last bill?"]
        .iter()
        .enumerate()
    {
        let offer = one(&mut ws, &format!("q{i}"), q).await;
        assert!(offer.contains("one-time code"), "{q}: {offer}");
    }

    // A code that expired is refused, and a new one offered.
    one(&mut ws, "c1", "1").await;
    let (_, _, first) = relay.mail(1).await;
    let stale = code_in(&first.text);
    let store = store(&app);
    let mut state: Value =
        serde_json::from_str(&store.selfservice_state(conversation).await.unwrap().unwrap()).unwrap();
    assert_eq!(state["step"], "awaiting_code", "{state}");
    assert!(!state.to_string().contains(&stale), "the state keeps a digest, not the code");
    state["expires_at"] = json!(0);
    store.put_selfservice_state(conversation, &state.to_string()).await.unwrap();
    let expired = one(&mut ws, "c2", &stale).await;
    assert!(expired.starts_with("That code has expired.") && expired.contains("1. "), "{expired}");

    // Five wrong codes lock verification and offer a person.
    one(&mut ws, "c3", "1").await;
    let (_, _, second) = relay.mail(2).await;
    let right = code_in(&second.text);
    let wrong = if right == "000000" { "111111" } else { "000000" };
    for attempt in 1..=4 {
        let reply = one(&mut ws, &format!("w{attempt}"), wrong).await;
        assert!(reply.contains("isn't right"), "{reply}");
    }
    let locked = one(&mut ws, "w5", wrong).await;
    assert!(locked.contains("Too many wrong codes") && locked.contains("agent"), "{locked}");
    // Locked: even the right code does not verify now.
    let still = one(&mut ws, "c4", "what's my balance?").await;
    assert!(still.contains("Too many wrong codes"), "{still}");

    // Nothing the bot said carries account data, and no code is in the transcript.
    let accounts = bss.accounts(&seeded.customer).await.unwrap();
    let bill = bss.bill(&seeded.bills[0]).await.unwrap();
    let mut secrets = vec![seeded.account.as_str().to_owned(), bill.number.clone(), stale.clone(), right.clone()];
    secrets.extend(accounts.iter().map(|a| a.balance.decimal()));
    secrets.extend(bill.items.iter().map(|i| i.description.clone()));
    let messages = transcript(&app, conversation).await;
    for (author, text) in &messages {
        for secret in &secrets {
            assert!(!text.contains(secret.as_str()), "{author} message {text:?} carries {secret}");
        }
    }
    assert_eq!(relay.sink.mails.lock().unwrap().len(), 2, "two codes, nothing else mailed");
    relay.shutdown.cancel();
}
