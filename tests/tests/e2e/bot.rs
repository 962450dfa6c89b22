//! The bot end to end, with the real embedding model and the bundled demo knowledge base: it
//! answers from the knowledge base, hands over with the right skills and a summary, and learns
//! from a trainer.

use serde_json::{Value, json};
use tests::{ANA, Backend, TINA, TestApp, Ws, both_backends, spawn_app_with, test_config};

both_backends!(the_bot_answers_hands_over_and_learns_from_a_trainer, without_the_model_the_bot_searches_by_keywords);

/// A hub with the bot on and the real embedding model.
pub(super) async fn bot_app(backend: Backend) -> TestApp {
    let db = tests::TestDb::new(backend).await;
    let mut config = test_config(&db);
    config.bot.enabled = true;
    config.bot.model_dir = tests::model_dir();
    spawn_app_with(config, db).await
}

/// A new English web chat: (visitor token, conversation id).
pub(super) async fn english_chat(app: &TestApp) -> (String, String) {
    let res = app
        .http
        .post(app.url("/api/v1/webchat/sessions"))
        .json(&json!({"name": "Chris Customer", "language": "en"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["conversation_id"].as_str().map(str::len), Some(36));
    (body["token"].as_str().unwrap().to_owned(), body["conversation_id"].as_str().unwrap().to_owned())
}

/// Sends a customer message and returns the bot's reply.
pub(super) async fn ask(customer: &mut Ws, client_id: &str, text: &str) -> Value {
    customer.send_json(&json!({"type": "message", "client_id": client_id, "text": text})).await;
    customer.next_of("ack").await;
    loop {
        let frame = customer.next_of("message").await;
        if frame["message"]["author"] == "bot" {
            return frame["message"].clone();
        }
    }
}

async fn the_bot_answers_hands_over_and_learns_from_a_trainer(backend: Backend) {
    let app = bot_app(backend).await;
    let res: Value = app.http.get(app.url("/readyz")).send().await.unwrap().json().await.unwrap();
    assert_eq!(res["bot"]["model"], true, "{res}");
    assert_eq!(res["bot"]["search"], "hybrid", "{res}");
    assert!(res["bot"]["documents"].as_u64().unwrap() >= 50, "the demo knowledge base is loaded: {res}");

    let ana = app.login(ANA).await;
    let mut inbox = app.inbox_socket(&ana).await;
    inbox.next_of("agent.presence").await;

    // A question the knowledge base answers: the bot replies on the chat, citing the article.
    let (visitor, conversation) = english_chat(&app).await;
    let mut customer = app.customer_socket(&visitor, None).await;
    let answer = ask(&mut customer, "c1", "how do I turn on roaming?").await;
    let text = answer["text"].as_str().unwrap().to_lowercase();
    assert!(text.contains("roaming"), "{answer}");
    assert!(text.contains("help article"), "the answer cites its article: {answer}");
    // ... and links it: a page on the hub anyone can open, the article's title as its heading.
    let source = &answer["media"][0];
    assert_eq!(source["kind"], "article", "{answer}");
    let link = source["reference"].as_str().unwrap();
    assert!(link.starts_with("/help/"), "{answer}");
    let page = app.http.get(app.url(link)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.headers()["content-security-policy"].to_str().unwrap().contains("script-src 'none'"));
    let html = page.text().await.unwrap();
    let title = source["file_name"].as_str().unwrap();
    assert!(html.contains(&format!("<h1>{title}</h1>")), "{html}");
    assert!(html.to_lowercase().contains("roaming"), "{html}");
    let missing = app.http.get(app.url("/help/0190d5f0-0000-7000-8000-000000000000")).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(app.http.get(app.url("/help/not-an-id")).send().await.unwrap().status(), 404);
    let (_, conv) = app.get(&format!("/api/v1/conversations/{conversation}"), &ana).await;
    assert_eq!(conv["status"], "bot", "{conv}");

    // A refund request goes straight to a person with billing skills (Ana), with a summary.
    let handover = ask(&mut customer, "c2", "I want a refund for last month").await;
    let told = handover["text"].as_str().unwrap();
    assert!(told.contains("connecting you with an agent"), "{handover}");
    assert!(!told.contains("{wait}"), "the wait is filled in: {told}");
    let ticket = loop {
        let frame = inbox.next_of("ticket.updated").await;
        if frame["ticket"]["conversation_id"] == conversation.as_str() && frame["ticket"]["status"] == "offered" {
            break frame["ticket"].clone();
        }
    };
    assert_eq!(ticket["offered_to"], app.me(&ana).await.as_str(), "{ticket}");
    let skills: Vec<&str> = ticket["skills"].as_array().unwrap().iter().map(|s| s["skill"].as_str().unwrap()).collect();
    assert!(skills.contains(&"billing") && skills.contains(&"english"), "{ticket}");
    let summary = ticket["summary"].as_str().unwrap();
    assert!(summary.contains("bill_dispute") && summary.contains("refund for last month"), "{summary}");
    assert!(ticket["tags"].as_array().unwrap().contains(&json!("bill_dispute")), "{ticket}");
    // The agent accepts and sees the whole history, bot turns included.
    let ticket_id = ticket["id"].as_str().unwrap();
    let (status, _) = app.post(&format!("/api/v1/tickets/{ticket_id}/accept"), &ana, &json!({})).await;
    assert_eq!(status, 200);
    let (_, history) = app.get(&format!("/api/v1/conversations/{conversation}/messages"), &ana).await;
    let authors: Vec<&str> =
        history["items"].as_array().unwrap().iter().map(|m| m["author"].as_str().unwrap()).collect();
    assert_eq!(authors, ["customer", "bot", "customer", "bot"], "{history}");

    // Trainers only: an agent may not edit the knowledge base.
    let (status, _) = app.get("/api/v1/kb/documents", &ana).await;
    assert_eq!(status, 403);
    let tina = app.login(TINA).await;

    // The trainer judges the roaming answer right; the bot's answers list it.
    let answer_id = answer["id"].as_str().unwrap();
    let (status, judged) =
        app.put(&format!("/api/v1/bot/answers/{answer_id}/verdict"), &tina, &json!({"verdict": "right"})).await;
    assert_eq!((status, judged["verdict"].as_str()), (200, Some("right")), "{judged}");
    let (status, _) =
        app.put(&format!("/api/v1/bot/answers/{answer_id}/verdict"), &tina, &json!({"verdict": "maybe"})).await;
    assert_eq!(status, 422);

    // A question nobody wrote an answer for: the bot asks which of its two nearest topics is
    // meant (issue 17), and when it is neither, hands over; the question is queued for trainers.
    let question = "Do you sell refurbished Nokia 3310 phones?";
    let (visitor, _) = english_chat(&app).await;
    let mut second = app.customer_socket(&visitor, None).await;
    let clarify = ask(&mut second, "d1", question).await;
    assert!(clarify["text"].as_str().unwrap().contains("Reply 1 or 2"), "a clarifying question: {clarify}");
    let reply = ask(&mut second, "d2", "no").await;
    assert!(reply["text"].as_str().unwrap().contains("connecting you with an agent"), "{reply}");
    let (status, queue) = app.get("/api/v1/bot/unanswered", &tina).await;
    assert_eq!(status, 200, "{queue}");
    let group = queue["groups"].as_array().unwrap().iter().find(|g| g["question"] == question).cloned();
    let group = group.unwrap_or_else(|| panic!("{question} is not in the unanswered queue: {queue}"));
    assert_eq!(group["count"], 1);
    let ids: Vec<Value> = group["items"].as_array().unwrap().iter().map(|i| i["id"].clone()).collect();

    // The trainer answers it; the next customer who asks gets that answer from the bot.
    let answer_text =
        "Yes: refurbished Nokia 3310 phones are sold in our online shop for 29 EUR, with a one-year warranty.";
    let (status, created) = app
        .post(
            "/api/v1/bot/unanswered/answer",
            &tina,
            &json!({"ids": ids, "answer": answer_text, "questions": ["Can I buy a refurbished Nokia 3310?"]}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["resolved"], 1);
    assert_eq!(created["document"]["kind"], "qa");
    let (_, queue) = app.get("/api/v1/bot/unanswered", &tina).await;
    assert!(!queue.to_string().contains(question), "{queue}");
    let (visitor, _) = english_chat(&app).await;
    let mut third = app.customer_socket(&visitor, None).await;
    let learned = ask(&mut third, "e1", "do you sell refurbished nokia 3310 phones?").await;
    assert!(learned["text"].as_str().unwrap().contains("29 EUR"), "{learned}");

    // Documents are versioned; unpublishing takes one out of the bot's answers at once.
    let doc_id = created["document"]["id"].as_str().unwrap();
    let mut doc = created["document"].clone();
    doc.as_object_mut()
        .unwrap()
        .retain(|k, _| ["kind", "language", "title", "body", "questions", "tags"].contains(&k.as_str()));
    doc["status"] = json!("draft");
    doc["version"] = json!(1);
    let (status, edited) = app.put(&format!("/api/v1/kb/documents/{doc_id}"), &tina, &doc).await;
    assert_eq!((status, edited["version"].as_i64()), (200, Some(2)), "{edited}");
    let (status, stale) = app.put(&format!("/api/v1/kb/documents/{doc_id}"), &tina, &doc).await;
    assert_eq!(status, 409, "{stale}");
    let (_, versions) = app.get(&format!("/api/v1/kb/documents/{doc_id}/versions"), &tina).await;
    assert_eq!(versions["items"].as_array().unwrap().len(), 2);
    let (_, hits) = app.get("/api/v1/kb/search?q=refurbished%20nokia%203310&language=en", &tina).await;
    assert!(!hits.to_string().contains("29 EUR"), "an unpublished document is not searched: {hits}");
}

async fn without_the_model_the_bot_searches_by_keywords(backend: Backend) {
    let db = tests::TestDb::new(backend).await;
    let mut config = test_config(&db);
    config.bot.enabled = true;
    config.bot.model_dir = "/nonexistent/model".into();
    let app = spawn_app_with(config, db).await;
    let res: Value = app.http.get(app.url("/readyz")).send().await.unwrap().json().await.unwrap();
    assert_eq!(res["status"], "ready", "{res}");
    assert_eq!(
        (res["bot"]["model"].as_bool(), res["bot"]["search"].as_str()),
        (Some(false), Some("keyword_only")),
        "{res}"
    );
    let (visitor, _) = english_chat(&app).await;
    let mut customer = app.customer_socket(&visitor, None).await;
    let answer = ask(&mut customer, "k1", "how do I turn on data roaming?").await;
    assert!(answer["text"].as_str().unwrap().to_lowercase().contains("roaming"), "{answer}");
    let handover = ask(&mut customer, "k2", "agent please").await;
    assert!(handover["text"].as_str().unwrap().contains("connecting you with an agent"), "{handover}");
}
