//! A local stand-in for the Meta Graph API and the Telegram Bot API: it records every request
//! and answers as the platform documents, or with scripted answers (errors, rate limits).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::{Value, json};

/// A request the stand-in received.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub path: String,
    pub authorization: Option<String>,
    pub body: Value,
}

#[derive(Debug, Default)]
struct Shared {
    requests: Vec<Recorded>,
    /// Answers to give before the default success, in order.
    script: VecDeque<(u16, Value)>,
    sent: u64,
}

/// The running stand-in.
#[derive(Debug, Clone)]
pub struct FakePlatform {
    pub url: String,
    shared: Arc<Mutex<Shared>>,
    handle: actix_web::dev::ServerHandle,
}

async fn answer(req: HttpRequest, body: web::Bytes, shared: web::Data<Arc<Mutex<Shared>>>) -> HttpResponse {
    let path = req.path().to_owned();
    let authorization = req.headers().get("authorization").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut shared = shared.lock().unwrap();
    shared.requests.push(Recorded { path: path.clone(), authorization, body: json.clone() });
    if let Some((status, body)) = shared.script.pop_front() {
        return HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap()).json(body);
    }
    shared.sent += 1;
    let n = shared.sent;
    if path.contains("/sendMessage") {
        // Telegram: https://core.telegram.org/bots/api#sendmessage
        HttpResponse::Ok().json(json!({
            "ok": true,
            "result": {"message_id": 1000 + n, "chat": {"id": json["chat_id"], "type": "private"}, "date": 1_700_000_000, "text": json["text"]}
        }))
    } else if json["messaging_product"] == "whatsapp" {
        // WhatsApp Cloud API: POST /{phone-number-id}/messages
        HttpResponse::Ok().json(json!({
            "messaging_product": "whatsapp",
            "contacts": [{"input": json["to"], "wa_id": json["to"]}],
            "messages": [{"id": format!("wamid.OUT{n}")}]
        }))
    } else {
        // Messenger Send API
        HttpResponse::Ok().json(json!({"recipient_id": json["recipient"]["id"], "message_id": format!("m_OUT{n}")}))
    }
}

impl FakePlatform {
    /// Starts the stand-in on an ephemeral port.
    pub async fn start() -> Self {
        let shared = Arc::new(Mutex::new(Shared::default()));
        let data = web::Data::new(shared.clone());
        let server = HttpServer::new(move || App::new().app_data(data.clone()).default_service(web::to(answer)))
            .workers(1)
            .disable_signals()
            .bind("127.0.0.1:0")
            .unwrap();
        let addr = server.addrs()[0];
        let server = server.run();
        let handle = server.handle();
        tokio::spawn(server);
        Self { url: format!("http://{addr}"), shared, handle }
    }

    /// The next answers, before the default success.
    pub fn script(&self, answers: impl IntoIterator<Item = (u16, Value)>) {
        self.shared.lock().unwrap().script.extend(answers);
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.lock().unwrap().requests.clone()
    }

    /// Waits until `n` requests have arrived (10 s at most) and returns them.
    pub async fn wait_for(&self, n: usize) -> Vec<Recorded> {
        for _ in 0..200 {
            let requests = self.requests();
            if requests.len() >= n {
                return requests;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("expected {n} requests at the platform, got {:?}", self.requests());
    }

    /// Stops it.
    pub async fn stop(&self) {
        self.handle.stop(true).await;
    }
}
