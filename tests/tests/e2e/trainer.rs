//! The trainers' console API end to end, with the real embedding model and the demo knowledge
//! base: trying the bot's decision without a conversation, dismissing and merging unanswered
//! questions, reading where they came from, filtering the bot's answers, restoring a version,
//! importing files, and editing intents that the bot uses at once. Agents get 403 everywhere.

use std::time::Duration;

use serde_json::{Value, json};
use tests::{ANA, Backend, TINA, TestApp, Ws, both_backends};

use super::bot::{ask, bot_app, english_chat};

both_backends!(a_trainer_tries_merges_dismisses_restores_imports_and_edits_intents);

/// A new English web chat's customer socket and conversation id.
async fn chat(app: &TestApp) -> (Ws, String) {
    let (visitor, conversation) = english_chat(app).await;
    (app.customer_socket(&visitor, None).await, conversation)
}

/// The open unanswered question asked as `question`: its id.
async fn unanswered_id(app: &TestApp, tina: &str, question: &str) -> Option<String> {
    let (status, queue) = app.get("/api/v1/bot/unanswered", tina).await;
    assert_eq!(status, 200, "{queue}");
    queue["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["items"].as_array().unwrap().iter())
        .find(|i| i["question"] == question)
        .map(|i| i["id"].as_str().unwrap().to_owned())
}

async fn a_trainer_tries_merges_dismisses_restores_imports_and_edits_intents(backend: Backend) {
    let app = bot_app(backend).await;
    let hybrid = crate::poll_until(Duration::from_secs(120), async || {
        let res: Value = app.http.get(app.url("/readyz")).send().await.ok()?.json().await.ok()?;
        (res["bot"]["search"] == "hybrid").then_some(())
    })
    .await;
    assert!(hybrid.is_some(), "the knowledge base's vectors are built");
    let tina = app.login(TINA).await;
    let ana = app.login(ANA).await;

    // Agents may use none of it.
    let some_id = "0190d5f0-0000-7000-8000-000000000000";
    for (method, path, body) in [
        ("POST", "/api/v1/bot/try".to_owned(), json!({"text": "roaming"})),
        ("POST", "/api/v1/bot/unanswered/dismiss".to_owned(), json!({"ids": [some_id]})),
        ("POST", "/api/v1/bot/unanswered/merge".to_owned(), json!({"ids": [some_id], "document_id": some_id})),
        ("GET", format!("/api/v1/bot/conversations/{some_id}/messages"), Value::Null),
        ("GET", "/api/v1/bot/intents".to_owned(), Value::Null),
        ("PUT", "/api/v1/bot/intents/outage".to_owned(), json!({"examples": {"en": ["no signal"]}})),
        ("GET", "/api/v1/bot/answers?unhelpful=true".to_owned(), Value::Null),
        ("POST", format!("/api/v1/kb/documents/{some_id}/versions/1/restore"), json!({})),
        ("POST", "/api/v1/kb/import".to_owned(), json!({"folder": "f", "file_name": "a.md", "content": "x"})),
    ] {
        let (status, body) = match method {
            "GET" => app.get(&path, &ana).await,
            "PUT" => app.put(&path, &ana, &body).await,
            _ => app.post(&path, &ana, &body).await,
        };
        assert_eq!(status, 403, "{method} {path}: {body}");
    }

    // ---- Try it: the real decision, with its reasons, and nothing stored. ------------------------
    let (_, before) = app.get("/api/v1/bot/unanswered", &tina).await;
    let (_, conversations_before) = app.get("/api/v1/conversations?limit=200", &ana).await;
    let (status, tried) =
        app.post("/api/v1/bot/try", &tina, &json!({"text": "how do I turn on roaming?", "language": "en"})).await;
    assert_eq!(status, 200, "{tried}");
    assert_eq!(tried["decision"], "answer", "{tried}");
    assert_eq!(tried["search"], "hybrid", "{tried}");
    assert!(tried["text"].as_str().unwrap().to_lowercase().contains("roaming"), "{tried}");
    let confidence = tried["confidence"].as_f64().unwrap();
    assert!(confidence > 0.0 && confidence <= 1.0, "{tried}");
    let top = &tried["hits"][0];
    assert_eq!(top["document_id"], tried["document_id"], "the answer comes from the best hit: {tried}");
    assert!(top["bm25_rank"].as_u64().is_some() && top["vector_rank"].as_u64().is_some(), "{tried}");
    let (status, refund) =
        app.post("/api/v1/bot/try", &tina, &json!({"text": "Do you sell refurbished Nokia 3310 phones?"})).await;
    assert_eq!(status, 200, "{refund}");
    assert_ne!(refund["decision"], "answer", "{refund}");
    let (status, refund) = app.post("/api/v1/bot/try", &tina, &json!({"text": "quiero un reembolso"})).await;
    assert_eq!(status, 200, "{refund}");
    assert_eq!(
        (refund["decision"].as_str(), refund["reason"].as_str(), refund["language"].as_str()),
        (Some("hand_over"), Some("always_human"), Some("es")),
        "{refund}"
    );
    let (_, after) = app.get("/api/v1/bot/unanswered", &tina).await;
    assert_eq!(before, after, "trying leaves the unanswered queue alone");
    let (_, conversations_after) = app.get("/api/v1/conversations?limit=200", &ana).await;
    assert_eq!(
        conversations_before["items"].as_array().map(Vec::len),
        conversations_after["items"].as_array().map(Vec::len),
        "trying opens no conversation"
    );
    for bad in [json!({"text": "  "}), json!({"text": "x".repeat(1001)}), json!({"text": "hi", "language": "xx"})] {
        let (status, body) = app.post("/api/v1/bot/try", &tina, &bad).await;
        assert_eq!(status, 422, "{bad}: {body}");
        assert!(body["error"]["code"].is_string(), "{body}");
    }
    let (status, _) = app.post("/api/v1/bot/try", &tina, &json!({"text": "hi", "extra": 1})).await;
    assert!(status == 400 || status == 422, "unknown fields are refused: {status}");

    // ---- The bot's answers: filters, "didn't help" from the customer's next message. -----------
    let (mut customer, _) = chat(&app).await;
    let answer = ask(&mut customer, "a1", "how do I turn on roaming?").await;
    let answer_id = answer["id"].as_str().unwrap().to_owned();
    let listed = |v: &Value| v["items"].as_array().unwrap().iter().any(|a| a["message_id"] == answer_id.as_str());
    // The answer is recorded just after the customer reads it: wait for it.
    let mut all = Value::Null;
    for _ in 0..50 {
        let (status, found) = app.get("/api/v1/bot/answers", &tina).await;
        assert_eq!(status, 200, "{found}");
        all = found;
        if listed(&all) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(listed(&all), "{all}");
    assert_eq!(all["items"][0]["unhelpful"], false, "{all}");
    let (_, low) = app.get("/api/v1/bot/answers?below_confidence=0.0001", &tina).await;
    assert!(!listed(&low), "{low}");
    let (_, english) = app.get("/api/v1/bot/answers?language=en&below_confidence=1", &tina).await;
    assert!(listed(&english), "{english}");
    let (_, spanish) = app.get("/api/v1/bot/answers?language=es", &tina).await;
    assert!(!listed(&spanish), "{spanish}");
    let (_, unhelpful) = app.get("/api/v1/bot/answers?unhelpful=true", &tina).await;
    assert!(!listed(&unhelpful), "{unhelpful}");
    ask(&mut customer, "a2", "that didn't help").await;
    let (_, unhelpful) = app.get("/api/v1/bot/answers?unhelpful=true", &tina).await;
    assert!(listed(&unhelpful), "the customer said it did not help: {unhelpful}");
    for bad in ["below_confidence=2", "below_confidence=x", "language=xx", "limit=0", "unhelpful=maybe"] {
        let (status, body) = app.get(&format!("/api/v1/bot/answers?{bad}"), &tina).await;
        assert!(status == 400 || status == 422, "{bad}: {status} {body}");
    }

    // ---- Unanswered: merge into an existing Q&A pair, dismiss, and read the source. -----------
    let nokia = "Do you sell refurbished Nokia 3310 phones?";
    let (mut first, nokia_conversation) = chat(&app).await;
    ask(&mut first, "n1", nokia).await;
    let nokia_id = unanswered_id(&app, &tina, nokia).await.expect("the question is queued");
    let walls = "What colour are the walls of your shop in Lisbon painted?";
    let (mut second, _) = chat(&app).await;
    ask(&mut second, "w1", walls).await;
    let walls_id = unanswered_id(&app, &tina, walls).await.expect("the question is queued");

    // The source conversation, which trainers may read though they are not agents.
    let (status, messages) = app.get(&format!("/api/v1/bot/conversations/{nokia_conversation}/messages"), &tina).await;
    assert_eq!(status, 200, "{messages}");
    assert_eq!(messages["items"][0]["text"], nokia, "{messages}");
    // Only up to the hand-over: what the customer tells the people after it is not the trainers'.
    let handed = ask(&mut first, "n3", "I want a refund for last month").await;
    assert!(handed["text"].as_str().unwrap().contains("connecting you with an agent"), "{handed}");
    let secret = "My address is 1 Secret Street, account ACC-555";
    first.send_json(&json!({"type": "message", "client_id": "n4", "text": secret})).await;
    first.next_of("ack").await;
    let (_, agent_view) = app.get(&format!("/api/v1/conversations/{nokia_conversation}/messages"), &ana).await;
    assert!(agent_view.to_string().contains("Secret Street"), "the agents see it: {agent_view}");
    let (status, messages) = app.get(&format!("/api/v1/bot/conversations/{nokia_conversation}/messages"), &tina).await;
    assert_eq!(status, 200, "{messages}");
    let texts: Vec<&str> = messages["items"].as_array().unwrap().iter().map(|m| m["text"].as_str().unwrap()).collect();
    assert!(texts.contains(&nokia) && texts.contains(&"I want a refund for last month"), "{messages}");
    assert!(!messages.to_string().contains("Secret Street"), "nothing after the hand-over: {messages}");
    let (status, _) = app.get(&format!("/api/v1/bot/conversations/{some_id}/messages"), &tina).await;
    assert_eq!(status, 404);
    // A conversation the bot took no part in is not the trainers' to read.
    let res = app
        .http
        .post(app.url("/api/v1/webchat/sessions"))
        .json(&json!({"name": "Quiet Customer", "language": "en"}))
        .send()
        .await
        .unwrap();
    let quiet: Value = res.json().await.unwrap();
    let quiet = quiet["conversation_id"].as_str().unwrap();
    let (status, _) = app.get(&format!("/api/v1/bot/conversations/{quiet}/messages"), &tina).await;
    assert_eq!(status, 404, "a conversation without the bot's part");

    let (status, qa) = app
        .post(
            "/api/v1/kb/documents",
            &tina,
            &json!({"kind": "qa", "language": "en", "title": "Second-hand phones",
                    "body": "Our online shop sells refurbished classic phones from 29 EUR, with a one-year warranty.",
                    "questions": ["Can I buy a second-hand phone?"], "tags": ["shop"]}),
        )
        .await;
    assert_eq!(status, 201, "{qa}");
    let qa_id = qa["id"].as_str().unwrap().to_owned();
    let (status, spanish_doc) = app
        .post(
            "/api/v1/kb/documents",
            &tina,
            &json!({"kind": "article", "language": "es", "title": "Tienda", "body": "La tienda online."}),
        )
        .await;
    assert_eq!(status, 201, "{spanish_doc}");
    let (status, draft_doc) = app
        .post(
            "/api/v1/kb/documents",
            &tina,
            &json!({"kind": "article", "language": "en", "title": "Shop draft", "body": "Not yet.", "status": "draft"}),
        )
        .await;
    assert_eq!((status, draft_doc["status"].as_str()), (201, Some("draft")), "{draft_doc}");
    for (body, expected) in [
        (json!({"ids": [nokia_id], "document_id": draft_doc["id"]}), 422),
        (json!({"ids": [], "document_id": qa_id}), 422),
        (json!({"ids": [nokia_id], "document_id": spanish_doc["id"]}), 422),
        (json!({"ids": [nokia_id], "document_id": some_id}), 404),
        (json!({"ids": [some_id], "document_id": qa_id}), 409),
        (json!({"ids": ["not-an-id"], "document_id": qa_id}), 400),
    ] {
        let (status, res) = app.post("/api/v1/bot/unanswered/merge", &tina, &body).await;
        assert!(
            status == expected || (expected == 400 && status == 422),
            "{body}: {status} {res} (expected {expected})"
        );
    }
    let (status, merged) =
        app.post("/api/v1/bot/unanswered/merge", &tina, &json!({"ids": [nokia_id], "document_id": qa_id})).await;
    assert_eq!(status, 200, "{merged}");
    assert_eq!((merged["resolved"].as_u64(), merged["document"]["version"].as_i64()), (Some(1), Some(2)));
    assert!(merged["document"]["questions"].as_array().unwrap().contains(&json!(nokia)), "{merged}");
    assert_eq!(merged["document"]["status"], "published");
    assert!(unanswered_id(&app, &tina, nokia).await.is_none(), "merged questions leave the queue");
    let (status, _) =
        app.post("/api/v1/bot/unanswered/merge", &tina, &json!({"ids": [nokia_id], "document_id": qa_id})).await;
    assert_eq!(status, 409, "merged twice");
    // The next customer who asks alike gets the merged document's answer.
    let (mut third, _) = chat(&app).await;
    let learned = ask(&mut third, "n2", "do you sell refurbished nokia 3310 phones?").await;
    assert!(learned["text"].as_str().unwrap().contains("29 EUR"), "{learned}");

    for (body, expected) in [(json!({"ids": []}), 422), (json!({"ids": ["nope"]}), 400), (json!({}), 400)] {
        let (status, res) = app.post("/api/v1/bot/unanswered/dismiss", &tina, &body).await;
        assert!(status == expected || (expected == 400 && status == 422), "{body}: {status} {res}");
    }
    let (status, dismissed) = app.post("/api/v1/bot/unanswered/dismiss", &tina, &json!({"ids": [walls_id]})).await;
    assert_eq!((status, dismissed["dismissed"].as_u64()), (200, Some(1)), "{dismissed}");
    assert!(unanswered_id(&app, &tina, walls).await.is_none(), "dismissed questions leave the queue");
    let (status, again) = app.post("/api/v1/bot/unanswered/dismiss", &tina, &json!({"ids": [walls_id]})).await;
    assert_eq!((status, again["dismissed"].as_u64()), (200, Some(0)), "{again}");

    // ---- Restore a version, as a new version. -------------------------------------------------
    let (status, restored) =
        app.post(&format!("/api/v1/kb/documents/{qa_id}/versions/1/restore"), &tina, &json!({})).await;
    assert_eq!(status, 200, "{restored}");
    assert_eq!(restored["version"], 3, "{restored}");
    assert_eq!(restored["questions"], json!(["Can I buy a second-hand phone?"]), "{restored}");
    let (_, versions) = app.get(&format!("/api/v1/kb/documents/{qa_id}/versions"), &tina).await;
    assert_eq!(versions["items"].as_array().unwrap().len(), 3, "{versions}");
    // Restoring keeps the current status: an archived article is not republished.
    let article = json!({"kind": "article", "language": "en", "title": "Old tariffs", "body": "The 2019 tariffs."});
    let (_, old_tariffs) = app.post("/api/v1/kb/documents", &tina, &article).await;
    let old_id = old_tariffs["id"].as_str().unwrap().to_owned();
    let mut archived = article.clone();
    archived["status"] = json!("archived");
    archived["version"] = json!(1);
    let (status, res) = app.put(&format!("/api/v1/kb/documents/{old_id}"), &tina, &archived).await;
    assert_eq!((status, res["status"].as_str()), (200, Some("archived")), "{res}");
    let (status, res) = app.post(&format!("/api/v1/kb/documents/{old_id}/versions/1/restore"), &tina, &json!({})).await;
    assert_eq!((status, res["status"].as_str(), res["version"].as_i64()), (200, Some("archived"), Some(3)), "{res}");
    let (status, _) = app.post(&format!("/api/v1/kb/documents/{qa_id}/versions/9/restore"), &tina, &json!({})).await;
    assert_eq!(status, 404);
    let (status, _) = app.post(&format!("/api/v1/kb/documents/{some_id}/versions/1/restore"), &tina, &json!({})).await;
    assert_eq!(status, 404);

    // ---- Import files, as the CLI's importer does. -------------------------------------------
    let markdown = "---\nid: esim-transfer\ntitle: Moving your eSIM to a new phone\nlanguage: en\ntags: [esim]\n---\n\
                    Open the app, choose **Move eSIM** and scan the code on the new phone.\n";
    let import = json!({"folder": "handbook", "file_name": "esim.md", "content": markdown});
    let (status, imported) = app.post("/api/v1/kb/import", &tina, &import).await;
    assert_eq!(status, 201, "{imported}");
    assert_eq!((imported["created"].as_array().map(Vec::len), imported["kept"].as_u64()), (Some(1), Some(0)));
    assert_eq!(imported["created"][0]["status"], "published", "{imported}");
    assert!(imported["created"][0]["updated_by"].is_string(), "the trainer is the author: {imported}");
    let (status, again) = app.post("/api/v1/kb/import", &tina, &import).await;
    assert_eq!((status, again["kept"].as_u64()), (201, Some(1)), "a second import keeps what is there: {again}");
    let (_, hits) = app.get("/api/v1/kb/search?q=move%20esim%20new%20phone&language=en", &tina).await;
    assert_eq!(hits["items"][0]["title"], "Moving your eSIM to a new phone", "searchable at once: {hits}");
    let json_file =
        json!([{"id": "d1", "kind": "article", "title": "Draft one", "language": "pt", "body": "Um rascunho."}])
            .to_string();
    let (status, drafts) = app
        .post(
            "/api/v1/kb/import",
            &tina,
            &json!({"folder": "handbook", "file_name": "pt.json", "content": json_file, "draft": true}),
        )
        .await;
    assert_eq!((status, drafts["created"][0]["status"].as_str()), (201, Some("draft")), "{drafts}");
    for (body, field) in [
        (json!({"folder": "handbook", "file_name": "notes.txt", "content": markdown}), "file_name"),
        (json!({"folder": "../etc", "file_name": "a.md", "content": markdown}), "folder"),
        (json!({"folder": "handbook", "file_name": "bad.md", "content": "no front matter"}), "content"),
        (json!({"folder": "handbook", "file_name": "bad.json", "content": "[{\"title\": 1}]"}), "content"),
        (json!({"folder": "handbook", "file_name": "big.md", "content": "x".repeat(210 * 1024)}), "content"),
    ] {
        let (status, res) = app.post("/api/v1/kb/import", &tina, &body).await;
        assert_eq!((status, res["error"]["field"].as_str()), (422, Some(field)), "{res}");
    }

    // ---- Intents: the built-in set, stored; an edit the bot uses at once. ---------------------
    let (status, intents) = app.get("/api/v1/bot/intents", &tina).await;
    assert_eq!(status, 200, "{intents}");
    let items = intents["items"].as_array().unwrap();
    // 14 of the starter set and the 4 self-service intents.
    assert_eq!(items.len(), 18, "{intents}");
    let plan = items.iter().find(|i| i["name"] == "plan_change").unwrap().clone();
    assert_eq!(plan["always_human"], false, "{plan}");
    assert!(plan["examples"]["es"].as_array().unwrap().contains(&json!("quiero cambiar de tarifa")), "{plan}");
    assert!(plan["updated_by"].is_null(), "{plan}");
    let (_, before) = app.post("/api/v1/bot/try", &tina, &json!({"text": "I lost my phone on holiday"})).await;
    assert_ne!(before["reason"], "always_human", "{before}");

    let lost = json!({"examples": {"en": ["I lost my phone", "my phone was stolen"], "es": ["he perdido el móvil"]},
                      "always_human": true, "skills": [{"skill": "tech", "level": 3}]});
    let (status, created) = app.put("/api/v1/bot/intents/lost_phone", &tina, &lost).await;
    assert_eq!(status, 200, "{created}");
    assert_eq!(created["skills"], json!([{"skill": "tech", "level": 3}]), "{created}");
    let (_, tried) = app.post("/api/v1/bot/try", &tina, &json!({"text": "I lost my phone"})).await;
    assert_eq!(
        (tried["decision"].as_str(), tried["reason"].as_str(), tried["intent"]["name"].as_str()),
        (Some("hand_over"), Some("always_human"), Some("lost_phone")),
        "the new intent is used at once: {tried}"
    );
    assert!(tried["skills"].as_array().unwrap().contains(&json!(["tech", 3])), "{tried}");
    // A customer in a real conversation gets the hand-over too.
    let (mut fourth, _) = chat(&app).await;
    let handed = ask(&mut fourth, "l1", "I lost my phone").await;
    assert!(handed["text"].as_str().unwrap().contains("connecting you with an agent"), "{handed}");

    // Turning always_human off again lets the bot answer plan questions itself.
    let mut plan_body = json!({"examples": plan["examples"], "always_human": true, "skills": plan["skills"]});
    let (status, _) = app.put("/api/v1/bot/intents/plan_change", &tina, &plan_body).await;
    assert_eq!(status, 200);
    let (_, tried) = app.post("/api/v1/bot/try", &tina, &json!({"text": "I want to change my plan"})).await;
    assert_eq!(tried["reason"], "always_human", "{tried}");
    plan_body["always_human"] = json!(false);
    app.put("/api/v1/bot/intents/plan_change", &tina, &plan_body).await;
    let (_, tried) = app.post("/api/v1/bot/try", &tina, &json!({"text": "I want to change my plan"})).await;
    assert_ne!(tried["reason"], "always_human", "{tried}");
    let (_, intents) = app.get("/api/v1/bot/intents", &tina).await;
    let items = intents["items"].as_array().unwrap();
    assert_eq!(items.len(), 19);
    assert_eq!(items.last().unwrap()["name"], "lost_phone", "a new intent goes last");
    assert!(items.iter().find(|i| i["name"] == "plan_change").unwrap()["updated_by"].is_string());

    for (name, body, field) in [
        ("Bad Name", json!({"examples": {"en": ["x"]}}), "intent"),
        ("outage", json!({"examples": {}}), "examples"),
        ("outage", json!({"examples": {"en": ["   "]}}), "examples"),
        ("outage", json!({"examples": {"xx": ["no signal"]}}), "language"),
        ("outage", json!({"examples": {"en": ["x".repeat(301)]}}), "examples"),
        ("outage", json!({"examples": {"en": ["no signal"]}, "skills": [{"skill": "tech", "level": 11}]}), "level"),
        ("outage", json!({"examples": {"en": ["no signal"]}, "skills": [{"skill": "Tech!", "level": 2}]}), "skill"),
        (
            "outage",
            json!({"examples": {"en": ["no signal"]},
                   "skills": [{"skill": "tech", "level": 2}, {"skill": "tech", "level": 3}]}),
            "skills",
        ),
    ] {
        let (status, res) = app.put(&format!("/api/v1/bot/intents/{name}"), &tina, &body).await;
        assert_eq!((status, res["error"]["field"].as_str()), (422, Some(field)), "{name} {body}: {res}");
    }
    let (_, unchanged) = app.get("/api/v1/bot/intents", &tina).await;
    let outage = unchanged["items"].as_array().unwrap().iter().find(|i| i["name"] == "outage").unwrap().clone();
    assert!(outage["updated_by"].is_null(), "a refused edit changes nothing: {outage}");

    // Two trainers save at once: the running bot keeps both edits.
    let sim = json!({"examples": {"en": ["my sim card is broken"]}, "always_human": true});
    let card = json!({"examples": {"en": ["I want to pay with a credit card"]}, "always_human": true});
    let (sim_saved, card_saved) = tokio::join!(
        app.put("/api/v1/bot/intents/broken_sim", &tina, &sim),
        app.put("/api/v1/bot/intents/card_payment", &tina, &card)
    );
    assert_eq!((sim_saved.0, card_saved.0), (200, 200), "{sim_saved:?} {card_saved:?}");
    for (text, intent) in
        [("my sim card is broken", "broken_sim"), ("I want to pay with a credit card", "card_payment")]
    {
        let (_, tried) = app.post("/api/v1/bot/try", &tina, &json!({"text": text})).await;
        assert_eq!(tried["intent"]["name"], intent, "both saves are in force: {tried}");
    }
}
