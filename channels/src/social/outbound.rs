//! Replies out: the HTTP requests of each platform's send API, and what its answer means.
//!
//! - WhatsApp Cloud API: `POST {graph}/{version}/{phone-number-id}/messages`, bearer token.
//! - Messenger Send API: `POST {graph}/{version}/{page-id}/messages`, bearer token.
//! - Telegram Bot API: `POST {api}/bot{token}/sendMessage`.

use serde::Deserialize;
use serde_json::{Value, json};

use super::Platform;

/// How long after a customer's last message a business may write freely (WhatsApp's
/// customer-service window; Messenger's standard messaging window).
pub const WINDOW_SECS: i64 = 24 * 3600;

/// Whether the customer-service window opened by a customer message at `last_customer_unix` is
/// still open at `now_unix`.
#[must_use]
pub const fn within_window(last_customer_unix: i64, now_unix: i64) -> bool {
    now_unix.saturating_sub(last_customer_unix) < WINDOW_SECS
}

/// A request to a platform's send API. Its URL may hold a secret (Telegram's bot token is a
/// path segment): never put it in a log or an error text; `Debug` shows it redacted.
#[derive(Clone, PartialEq)]
pub struct SendRequest {
    pub url: String,
    pub body: Value,
    /// A bearer token for the `Authorization` header.
    pub bearer: Option<String>,
}

impl std::fmt::Debug for SendRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendRequest")
            .field("url", &redact_url(&self.url))
            .field("body", &self.body)
            .field("bearer", &self.bearer.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

/// `url` with any Telegram bot token (a `bot<id>:<secret>` path segment) and the query
/// replaced by `[redacted]`.
#[must_use]
pub fn redact_url(url: &str) -> String {
    let (path, query) = url.split_once('?').map_or((url, false), |(p, _)| (p, true));
    let mut out: Vec<String> = path
        .split('/')
        .map(
            |seg| if seg.starts_with("bot") && seg.contains(':') { "bot[redacted]".to_owned() } else { seg.to_owned() },
        )
        .collect();
    if query && let Some(last) = out.last_mut() {
        last.push_str("?[redacted]");
    }
    out.join("/")
}

/// The Graph API endpoint and credentials of a Meta account.
#[derive(Clone, Copy)]
pub struct MetaApi<'a> {
    pub base_url: &'a str,
    pub version: &'a str,
    pub access_token: &'a str,
}

impl std::fmt::Debug for MetaApi<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetaApi")
            .field("base_url", &self.base_url)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

impl MetaApi<'_> {
    fn messages_url(&self, account_id: &str) -> String {
        format!("{}/{}/{account_id}/messages", self.base_url.trim_end_matches('/'), self.version)
    }

    fn request(&self, account_id: &str, body: Value) -> SendRequest {
        SendRequest { url: self.messages_url(account_id), body, bearer: Some(self.access_token.to_owned()) }
    }
}

/// A WhatsApp text message (only inside the 24-hour window).
#[must_use]
pub fn whatsapp_text(api: &MetaApi<'_>, phone_number_id: &str, to: &str, text: &str) -> SendRequest {
    api.request(
        phone_number_id,
        json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": to,
            "type": "text",
            "text": {"preview_url": false, "body": text},
        }),
    )
}

/// An approved WhatsApp template, without parameters (allowed at any time).
#[must_use]
pub fn whatsapp_template(
    api: &MetaApi<'_>,
    phone_number_id: &str,
    to: &str,
    name: &str,
    language: &str,
) -> SendRequest {
    api.request(
        phone_number_id,
        json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": to,
            "type": "template",
            "template": {"name": name, "language": {"code": language}},
        }),
    )
}

/// A Messenger text message. Inside the 24-hour window it is a `RESPONSE`; after it, a human
/// agent may still answer for 7 days with the `HUMAN_AGENT` tag.
#[must_use]
pub fn messenger_text(api: &MetaApi<'_>, page_id: &str, psid: &str, text: &str, within_window: bool) -> SendRequest {
    let mut body = json!({"recipient": {"id": psid}, "message": {"text": text}});
    if within_window {
        body["messaging_type"] = json!("RESPONSE");
    } else {
        body["messaging_type"] = json!("MESSAGE_TAG");
        body["tag"] = json!("HUMAN_AGENT");
    }
    api.request(page_id, body)
}

/// A Telegram text message to a chat.
#[must_use]
pub fn telegram_text(api_url: &str, bot_token: &str, chat_id: &str, text: &str) -> SendRequest {
    // A private chat's id is a number; send it as one (a string id also works for @channels).
    let chat: Value = chat_id.parse::<i64>().map_or_else(|_| json!(chat_id), |n| json!(n));
    SendRequest {
        url: format!("{}/bot{bot_token}/sendMessage", api_url.trim_end_matches('/')),
        body: json!({"chat_id": chat, "text": text}),
        bearer: None,
    }
}

/// What a platform's answer to a send means.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SendOutcome {
    /// Accepted; `external_id` is the platform's id for the message, which its status webhooks
    /// will name (absent if the answer did not carry one).
    Sent { external_id: Option<String> },
    /// A temporary refusal (rate limit, platform trouble): try again, after `after_secs` if
    /// the platform said when.
    Retry { after_secs: Option<u64>, reason: String },
    /// The platform's messaging window has closed: only a template (WhatsApp) can go now.
    WindowClosed { reason: String },
    /// A permanent refusal (bad token, blocked by the user, invalid recipient, ...).
    Failed { reason: String },
}

/// Meta error codes that mean "slow down" or "try again later".
const META_TRANSIENT: &[i64] = &[1, 2, 4, 17, 32, 613, 80_007, 130_429, 131_000, 131_016, 131_048, 131_056, 133_004];
/// WhatsApp's re-engagement error: more than 24 hours since the customer wrote.
const WHATSAPP_WINDOW: i64 = 131_047;
/// Messenger's "outside the allowed window" error subcodes (code 10).
const MESSENGER_WINDOW_SUBCODES: &[i64] = &[2_018_278, 2_018_108];

#[derive(Deserialize)]
struct MetaErrorBody {
    error: MetaError,
}

#[derive(Deserialize)]
struct MetaError {
    #[serde(default)]
    message: String,
    code: Option<i64>,
    error_subcode: Option<i64>,
    error_data: Option<MetaErrorData>,
}

#[derive(Deserialize)]
struct MetaErrorData {
    details: Option<String>,
}

#[derive(Deserialize)]
struct TelegramAnswer {
    ok: bool,
    result: Option<TelegramSent>,
    description: Option<String>,
    parameters: Option<TelegramParameters>,
}

#[derive(Deserialize)]
struct TelegramSent {
    message_id: i64,
    chat: Option<TelegramChat>,
}

#[derive(Deserialize)]
struct TelegramChat {
    id: i64,
}

#[derive(Deserialize)]
struct TelegramParameters {
    retry_after: Option<u64>,
}

/// Classifies a platform's answer: HTTP `status` and `body`.
#[must_use]
pub fn classify(platform: Platform, status: u16, body: &[u8]) -> SendOutcome {
    match platform {
        Platform::Telegram => classify_telegram(status, body),
        Platform::WhatsApp | Platform::Messenger => classify_meta(platform, status, body),
    }
}

fn short(body: &[u8]) -> String {
    String::from_utf8_lossy(body).chars().take(300).collect()
}

fn classify_meta(platform: Platform, status: u16, body: &[u8]) -> SendOutcome {
    if (200..300).contains(&status) {
        let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let id = match platform {
            Platform::WhatsApp => v["messages"][0]["id"].as_str(),
            _ => v["message_id"].as_str(),
        };
        return SendOutcome::Sent { external_id: id.map(str::to_owned) };
    }
    let Ok(MetaErrorBody { error }) = serde_json::from_slice::<MetaErrorBody>(body) else {
        let reason = format!("HTTP {status}: {}", short(body));
        return if status == 429 || status >= 500 {
            SendOutcome::Retry { after_secs: None, reason }
        } else {
            SendOutcome::Failed { reason }
        };
    };
    let code = error.code.unwrap_or_default();
    let details = error.error_data.and_then(|d| d.details).map(|d| format!(" ({d})")).unwrap_or_default();
    let reason = format!("HTTP {status}, code {code}: {}{details}", error.message);
    let window = match platform {
        Platform::WhatsApp => code == WHATSAPP_WINDOW,
        _ => code == 10 && error.error_subcode.is_some_and(|s| MESSENGER_WINDOW_SUBCODES.contains(&s)),
    };
    if window {
        SendOutcome::WindowClosed { reason }
    } else if status == 429 || status >= 500 || META_TRANSIENT.contains(&code) {
        SendOutcome::Retry { after_secs: None, reason }
    } else {
        SendOutcome::Failed { reason }
    }
}

fn classify_telegram(status: u16, body: &[u8]) -> SendOutcome {
    let answer = serde_json::from_slice::<TelegramAnswer>(body).ok();
    match answer {
        Some(TelegramAnswer { ok: true, result, .. }) if (200..300).contains(&status) => SendOutcome::Sent {
            external_id: result.map(|r| match r.chat {
                Some(chat) => format!("{}:{}", chat.id, r.message_id),
                None => r.message_id.to_string(),
            }),
        },
        Some(TelegramAnswer { description, parameters, .. }) => {
            let reason = format!("HTTP {status}: {}", description.unwrap_or_default());
            if status == 429 || status >= 500 {
                SendOutcome::Retry { after_secs: parameters.and_then(|p| p.retry_after), reason }
            } else {
                SendOutcome::Failed { reason }
            }
        }
        None if status == 429 || status >= 500 => {
            SendOutcome::Retry { after_secs: None, reason: format!("HTTP {status}: {}", short(body)) }
        }
        None => SendOutcome::Failed { reason: format!("HTTP {status}: {}", short(body)) },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_never_show_their_secrets_in_debug() {
        let tg = telegram_text("https://api.telegram.org", "123456:ABC-DEF_secret", "42", "hola");
        let shown = format!("{tg:?}");
        assert!(!shown.contains("ABC-DEF_secret") && !shown.contains("123456:"), "{shown}");
        assert!(shown.contains("https://api.telegram.org/bot[redacted]/sendMessage"), "{shown}");
        let meta = whatsapp_text(&api(), "1065", "34600", "hola");
        let shown = format!("{meta:?}");
        assert!(!shown.contains("tok\"") && shown.contains("[redacted]"), "{shown}");
        assert_eq!(redact_url("http://h/a?access_token=x"), "http://h/a?[redacted]");
    }

    fn api() -> MetaApi<'static> {
        MetaApi { base_url: "http://graph/", version: "v21.0", access_token: "tok" }
    }

    #[test]
    fn debug_never_prints_a_token() {
        let printed = format!("{:?} {:?}", api(), whatsapp_text(&api(), "PHONE", "1650", "hola"));
        assert!(!printed.contains("tok"), "{printed}");
        let printed = format!("{:?}", telegram_text("http://tg", "123:SECRETBOT", "42", "hi"));
        assert!(!printed.contains("SECRETBOT"), "{printed}");
        assert!(printed.contains("http://tg"), "{printed}");
    }

    #[test]
    fn requests_are_shaped_as_documented() {
        let r = whatsapp_text(&api(), "PHONE", "1650", "hola");
        assert_eq!(r.url, "http://graph/v21.0/PHONE/messages");
        assert_eq!(r.bearer.as_deref(), Some("tok"));
        assert_eq!(r.body["text"]["body"], "hola");
        let r = whatsapp_template(&api(), "PHONE", "1650", "followup", "es");
        assert_eq!(r.body["template"]["language"]["code"], "es");
        let r = messenger_text(&api(), "PAGE", "PSID", "hi", true);
        assert_eq!(
            (r.url.as_str(), &r.body["messaging_type"]),
            ("http://graph/v21.0/PAGE/messages", &json!("RESPONSE"))
        );
        let r = messenger_text(&api(), "PAGE", "PSID", "hi", false);
        assert_eq!((&r.body["messaging_type"], &r.body["tag"]), (&json!("MESSAGE_TAG"), &json!("HUMAN_AGENT")));
        let r = telegram_text("http://tg", "1:AB", "42", "hi");
        assert_eq!((r.url.as_str(), &r.body["chat_id"]), ("http://tg/bot1:AB/sendMessage", &json!(42)));
        assert_eq!(telegram_text("http://tg", "1:AB", "@news", "hi").body["chat_id"], "@news");
    }

    #[test]
    fn window() {
        assert!(within_window(1000, 1000 + WINDOW_SECS - 1));
        assert!(!within_window(1000, 1000 + WINDOW_SECS));
    }

    #[test]
    fn answers_are_classified() {
        let sent = br#"{"messaging_product":"whatsapp","messages":[{"id":"wamid.X"}]}"#;
        assert_eq!(classify(Platform::WhatsApp, 200, sent), SendOutcome::Sent { external_id: Some("wamid.X".into()) });
        let sent = br#"{"recipient_id":"P","message_id":"m_X"}"#;
        assert_eq!(classify(Platform::Messenger, 200, sent), SendOutcome::Sent { external_id: Some("m_X".into()) });
        let sent = br#"{"ok":true,"result":{"message_id":5,"chat":{"id":42,"type":"private"},"date":1}}"#;
        assert_eq!(classify(Platform::Telegram, 200, sent), SendOutcome::Sent { external_id: Some("42:5".into()) });

        let limited = br#"{"error":{"message":"(#130429) Rate limit hit","type":"OAuthException","code":130429}}"#;
        assert!(matches!(classify(Platform::WhatsApp, 400, limited), SendOutcome::Retry { .. }));
        let window = br#"{"error":{"message":"Re-engagement","code":131047,"error_data":{"details":"24 hours"}}}"#;
        assert!(
            matches!(classify(Platform::WhatsApp, 400, window), SendOutcome::WindowClosed { reason } if reason.contains("24 hours"))
        );
        let window = br#"{"error":{"message":"outside window","code":10,"error_subcode":2018278}}"#;
        assert!(matches!(classify(Platform::Messenger, 400, window), SendOutcome::WindowClosed { .. }));
        let token = br#"{"error":{"message":"Invalid OAuth access token","code":190}}"#;
        assert!(matches!(classify(Platform::Messenger, 401, token), SendOutcome::Failed { .. }));
        assert!(matches!(classify(Platform::WhatsApp, 502, b"<html>bad gateway"), SendOutcome::Retry { .. }));
        assert!(matches!(classify(Platform::WhatsApp, 400, b"garbage"), SendOutcome::Failed { .. }));

        let flood = br#"{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 7","parameters":{"retry_after":7}}"#;
        assert!(matches!(classify(Platform::Telegram, 429, flood), SendOutcome::Retry { after_secs: Some(7), .. }));
        let blocked = br#"{"ok":false,"error_code":403,"description":"Forbidden: bot was blocked by the user"}"#;
        assert!(
            matches!(classify(Platform::Telegram, 403, blocked), SendOutcome::Failed { reason } if reason.contains("blocked"))
        );
        assert!(matches!(classify(Platform::Telegram, 500, b""), SendOutcome::Retry { .. }));
    }
}
