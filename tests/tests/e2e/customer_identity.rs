//! One customer, many handles: a phone number that called (from a trusted identity source) and
//! then writes on WhatsApp (a signed webhook) is one customer; an unverified e-mail does not join
//! the customer who owns the address; agents link and unlink handles, search customers, edit
//! contact details and consents (bad input refused whole), and merge two customers (audited; a
//! merged or erased customer cannot be merged again). Who may change whom.

use hmac::{Hmac, Mac};
use schema::{Channel, ConversationStatus, NewCustomer, Store, StoreOptions};
use serde_json::{Value, json};
use sha2::Sha256;
use tests::platform::FakePlatform;
use tests::{ADMIN, ANA, BRUNO, Backend, OTTO, TestApp, both_backends, spawn_app, spawn_app_with, test_config};

both_backends!(
    a_number_that_calls_and_writes_is_one_customer,
    agents_link_search_edit_and_merge_customers,
    billing_accounts_find_link_and_guard_merges
);

const WA_PHONE: &str = "106540352242922";
const WA_SECRET: &str = "wa-app-secret";
/// Vera's number, as a SIP identity source asserts it and as WhatsApp's `wa_id`.
const VERA_PHONE: &str = "+16505551234";
const VERA_WA: &str = "16505551234";

fn sign(body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(WA_SECRET.as_bytes()).unwrap();
    mac.update(body);
    let hex: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

/// A WhatsApp Cloud API text message, signed as Meta signs it.
async fn whatsapp(app: &TestApp, wamid: &str, from: &str, text: &str) -> u16 {
    let body = serde_json::to_vec(&json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": WA_PHONE},
            "contacts": [{"profile": {"name": "Vera"}, "wa_id": from}],
            "messages": [{"from": from, "id": wamid, "timestamp": time::OffsetDateTime::now_utc().unix_timestamp().to_string(),
                          "text": {"body": text}, "type": "text"}]
        }}]}]
    }))
    .unwrap();
    let res = app
        .http
        .post(app.url("/webhooks/meta"))
        .header("content-type", "application/json")
        .header("x-hub-signature-256", sign(&body))
        .body(body)
        .send()
        .await
        .unwrap();
    res.status().as_u16()
}

async fn app_with_whatsapp(backend: Backend, platform: &FakePlatform) -> TestApp {
    let db = tests::TestDb::new(backend).await;
    let mut config = test_config(&db);
    config.social.graph_api_url = platform.url.clone();
    let app = spawn_app_with(config, db).await;
    let admin = app.login(ADMIN).await;
    let account = json!({"channel": "whatsapp", "account_id": WA_PHONE, "name": "Support WhatsApp",
        "app_secret": WA_SECRET, "access_token": "wa-token", "verify_token": "wa-verify"});
    let (status, body) = app.post("/api/v1/channels/social", &admin, &account).await;
    assert_eq!(status, 201, "{body}");
    app
}

async fn store(app: &TestApp) -> Store {
    Store::connect(&app.db.url, &StoreOptions { max_connections: 2, ..StoreOptions::default() }).await.unwrap()
}

async fn send(app: &TestApp, method: reqwest::Method, path: &str, token: &str, body: Option<&Value>) -> (u16, Value) {
    let mut req = app.http.request(method, app.url(path)).bearer_auth(token);
    if let Some(b) = body {
        req = req.json(b);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn a_number_that_calls_and_writes_is_one_customer(backend: Backend) {
    let platform = FakePlatform::start().await;
    let app = app_with_whatsapp(backend, &platform).await;
    let ana = app.login(ANA).await;
    let store = store(&app).await;

    // A call from a trusted identity source: the voice service opens the caller's conversation
    // by their asserted number, as here.
    let call = store
        .conversation_for_handle(Channel::Voice, VERA_PHONE, Some("Vera".parse().unwrap()), ConversationStatus::Queued)
        .await
        .unwrap();
    // An unverified caller claiming the number gets a customer of their own.
    let (spoof, _) = store
        .create_customer_with_conversation(NewCustomer::default(), Channel::Voice, ConversationStatus::Queued)
        .await
        .unwrap();
    assert_ne!(spoof.id, call.customer_id);

    // Then Vera writes on WhatsApp: the signed webhook's sender is her number.
    assert_eq!(whatsapp(&app, "wamid.V1", VERA_WA, "Sigo sin línea").await, 200);
    let vera = call.customer_id.to_string();
    // Stored before the webhook was acknowledged.
    let (status, profile) = app.get(&format!("/api/v1/customers/{vera}"), &ana).await;
    assert_eq!(status, 200, "{profile}");
    let channels: Vec<&str> =
        profile["conversations"]["items"].as_array().unwrap().iter().map(|c| c["channel"].as_str().unwrap()).collect();
    assert_eq!(channels, ["whatsapp", "voice"], "one customer, both channels, newest first");
    let handles = profile["handles"].as_array().unwrap();
    assert_eq!(handles.len(), 1, "{handles:?}");
    assert_eq!(handles[0]["kind"], "phone");
    assert_eq!(handles[0]["value"], VERA_PHONE);
    assert_eq!(handles[0]["verified"], true);
    assert_eq!(profile["phone"], VERA_PHONE, "a verified number is their contact number");
    // A second message joins the open WhatsApp conversation (the hot path finds it).
    assert_eq!(whatsapp(&app, "wamid.V2", VERA_WA, "¿Hola?").await, 200);
    assert_eq!(whatsapp(&app, "wamid.V2", VERA_WA, "¿Hola?").await, 200, "a redelivery is a no-op");
    let (_, again) = app.get(&format!("/api/v1/customers/{vera}"), &ana).await;
    assert_eq!(again["conversations"]["items"].as_array().unwrap().len(), 2, "{again}");

    // E-mail: an authenticated mail from an address finds its owner, in any case; an
    // unverified one (failed the MTA's checks) does not attach to them.
    let mail =
        store.conversation_for_handle(Channel::Email, "vera@example.com", None, ConversationStatus::Bot).await.unwrap();
    let owner = mail.customer_id;
    assert_ne!(owner, call.customer_id, "a new address is a new customer until linked or merged");
    let again =
        store.conversation_for_handle(Channel::Email, "vera@example.com", None, ConversationStatus::Bot).await.unwrap();
    assert_eq!(again.id, mail.id, "the open conversation is reused");
    let forged = store
        .new_conversation_for_handle(Channel::Email, "vera@example.com", None, ConversationStatus::Bot)
        .await
        .unwrap();
    assert_ne!(forged.customer_id, owner, "an unverified mail is not the owner's");
    let forged_again = store
        .new_conversation_for_handle(Channel::Email, "vera@example.com", None, ConversationStatus::Bot)
        .await
        .unwrap();
    assert_eq!(forged_again.customer_id, forged.customer_id, "keyed on the exact unverified handle, as before");
    assert_ne!(forged_again.id, forged.id, "never an open conversation");
    store.close().await;
}

async fn agents_link_search_edit_and_merge_customers(backend: Backend) {
    let platform = FakePlatform::start().await;
    let app = app_with_whatsapp(backend, &platform).await;
    let ana = app.login(ANA).await;
    let bruno = app.login(BRUNO).await;
    let otto = app.login(OTTO).await;
    let store = store(&app).await;
    let call = store
        .conversation_for_handle(
            Channel::Voice,
            VERA_PHONE,
            Some("Vera Vidal".parse().unwrap()),
            ConversationStatus::Queued,
        )
        .await
        .unwrap();
    let vera = call.customer_id.to_string();
    // Vera again, on the web chat, under another name: a customer of her own.
    let res = app
        .http
        .post(app.url("/api/v1/webchat/sessions"))
        .json(&json!({"name": "V. Vidal", "email": "vera.vidal@example.com", "language": "es"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let chat: Value = res.json().await.unwrap();
    let web = chat["customer_id"].as_str().unwrap().to_owned();

    // An agent who holds none of her conversations may read her, not change her.
    let profile_path = format!("/api/v1/customers/{vera}");
    let (status, _) = app.get(&profile_path, &ana).await;
    assert_eq!(status, 200);
    let (status, body) =
        send(&app, reqwest::Method::PATCH, &profile_path, &ana, Some(&json!({"name": "Vera V."}))).await;
    assert_eq!(status, 403, "{body}");

    // Bad input is refused whole, naming the field; nothing is written.
    for (patch, field) in [
        (json!({"name": "Vera V.", "email": "not-an-address"}), "email"),
        (json!({"name": "Vera V.", "phone": "600 111 222"}), "phone"),
        (json!({"name": "Vera V.", "language": "fr"}), "language"),
        (json!({"name": "Vera V.", "consents": {"marketing_fax": true}}), "consents"),
    ] {
        let (status, body) = send(&app, reqwest::Method::PATCH, &profile_path, &bruno, Some(&patch)).await;
        assert_eq!(status, 422, "{patch}: {body}");
        assert_eq!(body["error"]["field"], field, "{body}");
    }
    let (status, body) =
        send(&app, reqwest::Method::PATCH, &profile_path, &bruno, Some(&json!({"nickname": "x"}))).await;
    assert_eq!(status, 400, "unknown fields are refused: {body}");
    let (_, unchanged) = app.get(&profile_path, &bruno).await;
    assert_eq!(unchanged["name"], "Vera Vidal", "nothing written");

    // A supervisor edits her contact details and consents.
    let patch = json!({"name": "Vera Vidal Ruiz", "email": "Vera@Example.com", "language": "es",
                       "consents": {"marketing_sms": true, "marketing_email": false}});
    let (status, body) = send(&app, reqwest::Method::PATCH, &profile_path, &bruno, Some(&patch)).await;
    assert_eq!(status, 204, "{body}");
    let (_, profile) = app.get(&profile_path, &bruno).await;
    assert_eq!(profile["name"], "Vera Vidal Ruiz");
    assert_eq!(profile["email"], "vera@example.com");
    assert_eq!(profile["language"], "es");
    let bruno_id = app.me(&bruno).await;
    let consents = profile["consents"].as_array().unwrap();
    assert_eq!(consents.len(), 2, "{consents:?}");
    let sms = consents.iter().find(|c| c["kind"] == "marketing_sms").unwrap();
    assert_eq!((sms["granted"].clone(), sms["changed_by"].as_str().unwrap()), (json!(true), bruno_id.as_str()));
    assert!(sms["changed_at"].is_string());
    // The address is now a verified handle of hers: her authenticated mail finds her.
    let mail =
        store.conversation_for_handle(Channel::Email, "vera@example.com", None, ConversationStatus::Bot).await.unwrap();
    assert_eq!(mail.customer_id.to_string(), vera);

    // Link and unlink handles.
    let handles_path = format!("/api/v1/customers/{vera}/handles");
    let (status, linked) = app.post(&handles_path, &bruno, &json!({"channel": "telegram", "handle": "424242"})).await;
    assert_eq!(status, 201, "{linked}");
    assert_eq!((linked["kind"].as_str(), linked["verified"].as_bool()), (Some("telegram"), Some(true)));
    let (status, body) = app.post(&handles_path, &bruno, &json!({"channel": "whatsapp", "handle": "650555"})).await;
    assert_eq!((status, body["error"]["field"].as_str()), (422, Some("handle")), "{body}");
    // Another customer's handle is refused: merge them instead.
    let (status, body) = app
        .post(
            &format!("/api/v1/customers/{web}/handles"),
            &bruno,
            &json!({"channel": "whatsapp", "handle": VERA_PHONE}),
        )
        .await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("handle_taken")), "{body}");
    let unlink = format!("/api/v1/customers/{vera}/handles/telegram/424242");
    let (status, _) = send(&app, reqwest::Method::DELETE, &unlink, &bruno, None).await;
    assert_eq!(status, 204);
    let (status, _) = send(&app, reqwest::Method::DELETE, &unlink, &bruno, None).await;
    assert_eq!(status, 404, "already unlinked");

    // Search: by name, phone (as people type it), e-mail, and a minimum length.
    for q in ["vidal ruiz", "+1 650 555 1234", "VERA@example", "5551234"] {
        let (status, page) = app.get(&format!("/api/v1/customers/search?{}", serde_urlencoded(q)), &ana).await;
        assert_eq!(status, 200, "{q}: {page}");
        let ids: Vec<&str> = page["items"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
        assert!(ids.contains(&vera.as_str()), "{q} finds Vera: {page}");
    }
    let (status, page) = app.get("/api/v1/customers/search?q=vidal", &ana).await;
    assert_eq!(status, 200);
    assert_eq!(page["items"].as_array().unwrap().len(), 2, "both Veras: {page}");
    let (status, page) = app.get("/api/v1/customers/search?q=vidal&limit=1", &ana).await;
    assert_eq!(status, 200);
    let cursor = page["next_cursor"].as_str().expect("a second page").to_owned();
    let (_, second) = app.get(&format!("/api/v1/customers/search?q=vidal&limit=1&cursor={cursor}"), &ana).await;
    assert_eq!(second["items"].as_array().unwrap().len(), 1);
    assert_ne!(second["items"][0]["id"], page["items"][0]["id"]);
    let (status, body) = app.get("/api/v1/customers/search?q=ve", &ana).await;
    assert_eq!((status, body["error"]["field"].as_str()), (422, Some("q")), "{body}");

    // Merge the web chat Vera into the caller: her conversation moves; audited.
    let merge_path = format!("/api/v1/customers/{vera}/merge");
    let (status, body) = app.post(&merge_path, &ana, &json!({"from": web})).await;
    assert_eq!(status, 403, "Ana holds neither: {body}");
    let (status, body) = app.post(&merge_path, &bruno, &json!({"from": vera})).await;
    assert_eq!((status, body["error"]["field"].as_str()), (422, Some("from")), "{body}");
    let (status, merged) = app.post(&merge_path, &bruno, &json!({"from": web})).await;
    assert_eq!(status, 200, "{merged}");
    assert_eq!(merged["conversations"], 1);
    let (_, profile) = app.get(&profile_path, &bruno).await;
    let ids: Vec<&str> =
        profile["conversations"]["items"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert!(ids.contains(&chat["conversation_id"].as_str().unwrap()), "the chat moved: {profile}");
    let (_, old) = app.get(&format!("/api/v1/customers/{web}"), &bruno).await;
    assert_eq!(old["merged_into"], vera.as_str());
    assert_eq!(old["conversations"]["items"].as_array().unwrap().len(), 0);
    let (status, page) = app.get("/api/v1/audit?limit=50&action=customer.merged", &otto).await;
    assert_eq!(status, 200, "{page}");
    let entry = &page["items"][0];
    assert_eq!(entry["target_id"], vera.as_str(), "{page}");
    assert_eq!(entry["actor_id"], bruno_id.as_str());
    // The merged customer cannot be merged again, nor into.
    let (status, body) = app.post(&merge_path, &bruno, &json!({"from": web})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("merge_refused")), "{body}");
    // Nor an erased one.
    let (other, _) = store
        .create_customer_with_conversation(NewCustomer::default(), Channel::WebChat, ConversationStatus::Bot)
        .await
        .unwrap();
    store.erase_customer(other.id).await.unwrap();
    let (status, body) = app.post(&merge_path, &bruno, &json!({"from": other.id})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("merge_refused")), "{body}");

    // Erasure clears what the customer identity adds: handles, consents, phone, BSS link.
    store.erase_customer(call.customer_id).await.unwrap();
    let (_, erased) = app.get(&profile_path, &bruno).await;
    assert_eq!(erased["handles"], json!([]));
    assert_eq!(erased["consents"], json!([]));
    assert_eq!(erased["phone"], Value::Null);
    assert_eq!(erased["erased"], true);
    // Her number now makes a new customer.
    assert_eq!(whatsapp(&app, "wamid.AFTER", VERA_WA, "hola").await, 200);
    store.close().await;
}

async fn billing_accounts_find_link_and_guard_merges(backend: Backend) {
    let app = spawn_app(backend).await;
    let ana = app.login(ANA).await;
    let bruno = app.login(BRUNO).await;
    let marta = tests::bss::seed_linked_customer(&app, "Marta Cuenta", bss::embedded::Profile::Family).await;
    let nuno = tests::bss::seed_linked_customer(&app, "Nuno Conta", bss::embedded::Profile::Arrears).await;
    let (marta_id, nuno_id) = (marta.customer_id.to_string(), nuno.customer_id.to_string());

    // Search by billing account number: the BSS finds the account's customer, the hub its own.
    let account = marta.seeded.account.as_str();
    let (status, page) = app.get(&format!("/api/v1/customers/search?q={account}"), &ana).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["by_account"][0]["id"], marta_id.as_str(), "{page}");
    assert_eq!(page["bss_unavailable"], false);

    // The profile shows the link and the orders section from the BSS.
    let (status, profile) = app.get(&format!("/api/v1/customers/{marta_id}"), &ana).await;
    assert_eq!(status, 200, "{profile}");
    assert_eq!(profile["bss_customer_id"], marta.seeded.customer.as_str());
    assert_eq!(profile["orders"]["status"], "ok", "{profile}");

    // Linking: checked with the BSS; a BSS customer belongs to one of ours at most.
    let store = store(&app).await;
    let (web, _) = store
        .create_customer_with_conversation(NewCustomer::default(), Channel::WebChat, ConversationStatus::Bot)
        .await
        .unwrap();
    let link = format!("/api/v1/customers/{}/bss-link", web.id);
    let (status, body) = app.put(&link, &bruno, &json!({"bss_customer_id": "CUST-NOBODY"})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("bss_not_found")), "{body}");
    let (status, body) = app.put(&link, &bruno, &json!({"bss_customer_id": "bad ref!"})).await;
    assert_eq!((status, body["error"]["field"].as_str()), (422, Some("bss_customer_id")), "{body}");
    let (status, body) = app.put(&link, &bruno, &json!({"bss_customer_id": marta.seeded.customer.as_str()})).await;
    assert_eq!(status, 409, "linked to Marta already: {body}");
    let (status, body) = app.put(&link, &ana, &json!({"bss_customer_id": null})).await;
    assert_eq!(status, 403, "Ana holds none of their conversations: {body}");

    // Two customers of different BSS customers are not merged; the web one merges into Marta,
    // whose link stays.
    let (status, body) =
        app.post(&format!("/api/v1/customers/{marta_id}/merge"), &bruno, &json!({"from": nuno_id})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("merge_refused")), "{body}");
    let (status, merged) =
        app.post(&format!("/api/v1/customers/{marta_id}/merge"), &bruno, &json!({"from": web.id})).await;
    assert_eq!(status, 200, "{merged}");
    assert_eq!(merged["bss_link_moved"], false);
    // Unlinked, Nuno can be merged into Marta: his BSS link cannot come along (hers stays).
    let (status, _) =
        app.put(&format!("/api/v1/customers/{nuno_id}/bss-link"), &bruno, &json!({"bss_customer_id": null})).await;
    assert_eq!(status, 204);
    let (status, merged) =
        app.post(&format!("/api/v1/customers/{marta_id}/merge"), &bruno, &json!({"from": nuno_id})).await;
    assert_eq!(status, 200, "{merged}");
    let (_, profile) = app.get(&format!("/api/v1/customers/{marta_id}"), &ana).await;
    assert_eq!(profile["bss_customer_id"], marta.seeded.customer.as_str());
    store.close().await;
}

/// `q=…`, URL-encoded.
fn serde_urlencoded(q: &str) -> String {
    let encoded: String = q
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    format!("q={encoded}")
}
