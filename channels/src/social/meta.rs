//! Meta's webhooks: Messenger (`"object": "page"`) and the WhatsApp Cloud API
//! (`"object": "whatsapp_business_account"`), batched in `entry` arrays, signed with the app
//! secret in `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>`.

use hmac::{Hmac, Mac};
use schema::DeliveryStatus;
use serde::Deserialize;
use sha2::Sha256;

use super::{
    InboundMessage, Media, MediaKind, Platform, ReadReceipt, SocialError, StatusUpdate, WebhookEvent, constant_time_eq,
};

/// The subscription handshake (`GET` with `hub.mode=subscribe`, `hub.verify_token`,
/// `hub.challenge`): the challenge to echo when the token is `expected`, else `None`.
#[must_use]
pub fn verify_subscription<'a>(
    mode: Option<&str>,
    token: Option<&str>,
    challenge: Option<&'a str>,
    expected: &str,
) -> Option<&'a str> {
    // Meta sends a number; anything else is not echoed back.
    let challenge = challenge.filter(|c| {
        !c.is_empty() && c.len() <= 128 && c.chars().all(|ch| ch.is_ascii_alphanumeric() || "-_.".contains(ch))
    })?;
    (mode == Some("subscribe") && !expected.is_empty() && constant_time_eq(token?.as_bytes(), expected.as_bytes()))
        .then_some(challenge)
}

/// Checks `X-Hub-Signature-256` against the app secret.
///
/// # Errors
/// [`SocialError::BadSignature`] when the header is missing, malformed or does not match.
pub fn verify_signature(app_secret: &[u8], body: &[u8], header: Option<&str>) -> Result<(), SocialError> {
    let hex = header.and_then(|h| h.trim().strip_prefix("sha256=")).ok_or(SocialError::BadSignature)?;
    let expected = decode_hex(hex).ok_or(SocialError::BadSignature)?;
    if app_secret.is_empty() {
        return Err(SocialError::BadSignature);
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(app_secret).map_err(|_| SocialError::BadSignature)?;
    mac.update(body);
    mac.verify_slice(&expected).map_err(|_| SocialError::BadSignature)
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if s.len() != 64 {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| s.get(i..i + 2).and_then(|pair| u8::from_str_radix(pair, 16).ok())).collect()
}

/// A parsed Meta webhook call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetaWebhook {
    pub platform: Platform,
    /// The operator accounts the call speaks for (page ids, or WhatsApp phone-number ids),
    /// each once: the call must verify with each one's app secret.
    pub accounts: Vec<String>,
    pub events: Vec<WebhookEvent>,
}

/// Parses a webhook body. Unknown message types become a message with media kind `other`;
/// fields Meta adds later are ignored; a body that is not of the documented shape is refused.
///
/// # Errors
/// [`SocialError::Malformed`] or [`SocialError::UnsupportedObject`].
pub fn parse(body: &[u8]) -> Result<MetaWebhook, SocialError> {
    let root: Root = serde_json::from_slice(body).map_err(|e| SocialError::Malformed(e.to_string()))?;
    let mut out = match root.object.as_str() {
        "page" => parse_messenger(root.entry)?,
        "whatsapp_business_account" => parse_whatsapp(root.entry)?,
        other => return Err(SocialError::UnsupportedObject(other.chars().take(64).collect())),
    };
    out.accounts.sort_unstable();
    out.accounts.dedup();
    Ok(out)
}

#[derive(Deserialize)]
struct Root {
    object: String,
    entry: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    id: String,
    #[serde(default)]
    messaging: Vec<Messaging>,
    #[serde(default)]
    changes: Vec<Change>,
}

// ---- Messenger ----------------------------------------------------------------------------------

#[derive(Deserialize)]
struct Messaging {
    sender: Party,
    recipient: Party,
    message: Option<MessengerMessage>,
    delivery: Option<Delivery>,
    read: Option<Read>,
    postback: Option<Postback>,
}

#[derive(Deserialize)]
struct Party {
    id: String,
}

#[derive(Deserialize)]
struct MessengerMessage {
    mid: String,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    is_echo: bool,
    #[serde(default)]
    attachments: Vec<Attachment>,
}

#[derive(Deserialize)]
struct Attachment {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    payload: Option<AttachmentPayload>,
}

#[derive(Deserialize)]
struct AttachmentPayload {
    url: Option<String>,
    coordinates: Option<Coordinates>,
}

#[derive(Deserialize)]
struct Coordinates {
    lat: f64,
    long: f64,
}

#[derive(Deserialize)]
struct Delivery {
    #[serde(default)]
    mids: Vec<String>,
}

#[derive(Deserialize)]
struct Read {
    watermark: i64,
}

#[derive(Deserialize)]
struct Postback {
    mid: Option<String>,
    title: Option<String>,
    payload: Option<String>,
}

fn parse_messenger(entries: Vec<Entry>) -> Result<MetaWebhook, SocialError> {
    let mut accounts = Vec::new();
    let mut events = Vec::new();
    for entry in entries {
        for m in entry.messaging {
            // The page is the recipient of what customers send; echoes of our own sends have it
            // as the sender and are skipped.
            let (page, customer) = (m.recipient.id, m.sender.id);
            if page != entry.id {
                if m.message.as_ref().is_some_and(|msg| msg.is_echo) {
                    continue;
                }
                return Err(SocialError::Malformed(format!("event for page {page} inside entry {}", entry.id)));
            }
            if let Some(message) = m.message {
                if message.is_echo {
                    continue;
                }
                let media = message.attachments.into_iter().map(messenger_media).collect();
                events.push(WebhookEvent::Message(InboundMessage {
                    platform: Platform::Messenger,
                    account_id: page.clone(),
                    sender_id: customer.clone(),
                    sender_name: None,
                    message_id: message.mid,
                    text: message.text.unwrap_or_default(),
                    media,
                }));
            } else if let Some(postback) = m.postback {
                // A button press: its title is what the customer "said".
                let Some(mid) = postback.mid else { continue };
                events.push(WebhookEvent::Message(InboundMessage {
                    platform: Platform::Messenger,
                    account_id: page.clone(),
                    sender_id: customer.clone(),
                    sender_name: None,
                    message_id: mid,
                    text: postback.title.or(postback.payload).unwrap_or_default(),
                    media: Vec::new(),
                }));
            }
            if let Some(delivery) = m.delivery {
                events.extend(delivery.mids.into_iter().map(|mid| {
                    WebhookEvent::Status(StatusUpdate {
                        platform: Platform::Messenger,
                        message_id: mid,
                        status: DeliveryStatus::Delivered,
                        error: None,
                    })
                }));
            }
            if let Some(read) = m.read {
                events.push(WebhookEvent::Read(ReadReceipt {
                    platform: Platform::Messenger,
                    account_id: page.clone(),
                    sender_id: customer,
                    watermark_ms: read.watermark,
                }));
            }
            accounts.push(page);
        }
    }
    Ok(MetaWebhook { platform: Platform::Messenger, accounts, events })
}

fn messenger_media(a: Attachment) -> Media {
    let kind = match a.kind.as_str() {
        "image" => MediaKind::Image,
        "audio" => MediaKind::Audio,
        "video" => MediaKind::Video,
        "file" => MediaKind::Document,
        "location" => MediaKind::Location,
        _ => MediaKind::Other,
    };
    let reference = match a.payload {
        Some(AttachmentPayload { coordinates: Some(c), .. }) => format!("{},{}", c.lat, c.long),
        Some(AttachmentPayload { url: Some(url), .. }) => url,
        _ => String::new(),
    };
    Media { kind, reference, mime_type: None, file_name: None }
}

// ---- WhatsApp -----------------------------------------------------------------------------------

#[derive(Deserialize)]
struct Change {
    field: String,
    value: serde_json::Value,
}

#[derive(Deserialize)]
struct WaValue {
    metadata: WaMetadata,
    #[serde(default)]
    contacts: Vec<WaContact>,
    #[serde(default)]
    messages: Vec<WaMessage>,
    #[serde(default)]
    statuses: Vec<WaStatus>,
}

#[derive(Deserialize)]
struct WaMetadata {
    phone_number_id: String,
}

#[derive(Deserialize)]
struct WaContact {
    wa_id: String,
    profile: Option<WaProfile>,
}

#[derive(Deserialize)]
struct WaProfile {
    name: Option<String>,
}

#[derive(Deserialize)]
struct WaMessage {
    from: String,
    id: String,
    #[serde(rename = "type")]
    kind: String,
    text: Option<WaText>,
    image: Option<WaMedia>,
    audio: Option<WaMedia>,
    video: Option<WaMedia>,
    document: Option<WaMedia>,
    sticker: Option<WaMedia>,
    location: Option<WaLocation>,
    button: Option<WaButton>,
    interactive: Option<WaInteractive>,
}

#[derive(Deserialize)]
struct WaText {
    body: String,
}

#[derive(Deserialize)]
struct WaMedia {
    id: String,
    mime_type: Option<String>,
    caption: Option<String>,
    filename: Option<String>,
}

#[derive(Deserialize)]
struct WaLocation {
    latitude: f64,
    longitude: f64,
    name: Option<String>,
    address: Option<String>,
}

#[derive(Deserialize)]
struct WaButton {
    text: String,
}

#[derive(Deserialize)]
struct WaInteractive {
    button_reply: Option<WaReply>,
    list_reply: Option<WaReply>,
}

#[derive(Deserialize)]
struct WaReply {
    title: String,
}

#[derive(Deserialize)]
struct WaStatus {
    id: String,
    status: String,
    #[serde(default)]
    errors: Vec<WaError>,
}

#[derive(Deserialize)]
struct WaError {
    code: Option<i64>,
    title: Option<String>,
    message: Option<String>,
    error_data: Option<WaErrorData>,
}

#[derive(Deserialize)]
struct WaErrorData {
    details: Option<String>,
}

fn parse_whatsapp(entries: Vec<Entry>) -> Result<MetaWebhook, SocialError> {
    let mut accounts = Vec::new();
    let mut events = Vec::new();
    for entry in entries {
        for change in entry.changes {
            // Other fields (template reviews, account updates) carry nothing for conversations.
            if change.field != "messages" {
                continue;
            }
            let value: WaValue = serde_json::from_value(change.value)
                .map_err(|e| SocialError::Malformed(format!("change value: {e}")))?;
            let phone = value.metadata.phone_number_id;
            for m in value.messages {
                let name = value
                    .contacts
                    .iter()
                    .find(|c| c.wa_id == m.from)
                    .and_then(|c| c.profile.as_ref())
                    .and_then(|p| p.name.clone());
                let (text, media) = whatsapp_content(&m);
                events.push(WebhookEvent::Message(InboundMessage {
                    platform: Platform::WhatsApp,
                    account_id: phone.clone(),
                    sender_id: m.from,
                    sender_name: name,
                    message_id: m.id,
                    text,
                    media,
                }));
            }
            for s in value.statuses {
                let status = match s.status.as_str() {
                    "sent" => DeliveryStatus::Sent,
                    "delivered" => DeliveryStatus::Delivered,
                    "read" => DeliveryStatus::Read,
                    "failed" => DeliveryStatus::Failed,
                    // "deleted", "warning" and later additions change nothing we show.
                    _ => continue,
                };
                let error = s.errors.first().map(|e| {
                    let what = e.title.as_deref().or(e.message.as_deref()).unwrap_or("delivery failed");
                    let code = e.code.map(|c| format!("{c}: ")).unwrap_or_default();
                    match e.error_data.as_ref().and_then(|d| d.details.as_deref()) {
                        Some(details) => format!("{code}{what} ({details})"),
                        None => format!("{code}{what}"),
                    }
                });
                events.push(WebhookEvent::Status(StatusUpdate {
                    platform: Platform::WhatsApp,
                    message_id: s.id,
                    status,
                    error,
                }));
            }
            accounts.push(phone);
        }
    }
    Ok(MetaWebhook { platform: Platform::WhatsApp, accounts, events })
}

/// The text and media of a WhatsApp message, whatever its type.
fn whatsapp_content(m: &WaMessage) -> (String, Vec<Media>) {
    let media = |kind, x: &WaMedia| Media {
        kind,
        reference: x.id.clone(),
        mime_type: x.mime_type.clone(),
        file_name: x.filename.clone(),
    };
    let caption = |x: &WaMedia| x.caption.clone().unwrap_or_default();
    let one = |kind, x: &Option<WaMedia>| match x {
        Some(x) => (caption(x), vec![media(kind, x)]),
        None => (String::new(), Vec::new()),
    };
    match m.kind.as_str() {
        "text" => (m.text.as_ref().map(|t| t.body.clone()).unwrap_or_default(), Vec::new()),
        "image" => one(MediaKind::Image, &m.image),
        "audio" | "voice" => one(MediaKind::Audio, &m.audio),
        "video" => one(MediaKind::Video, &m.video),
        "document" => one(MediaKind::Document, &m.document),
        "sticker" => one(MediaKind::Sticker, &m.sticker),
        "location" => match &m.location {
            Some(l) => {
                let label = [l.name.as_deref(), l.address.as_deref()].into_iter().flatten().collect::<Vec<_>>();
                let reference = format!("{},{}", l.latitude, l.longitude);
                let media = Media { kind: MediaKind::Location, reference, mime_type: None, file_name: None };
                (label.join(", "), vec![media])
            }
            None => (String::new(), Vec::new()),
        },
        "button" => (m.button.as_ref().map(|b| b.text.clone()).unwrap_or_default(), Vec::new()),
        "interactive" => {
            let reply = m.interactive.as_ref().and_then(|i| i.button_reply.as_ref().or(i.list_reply.as_ref()));
            (reply.map(|r| r.title.clone()).unwrap_or_default(), Vec::new())
        }
        other => {
            let media = Media { kind: MediaKind::Other, reference: other.to_owned(), mime_type: None, file_name: None };
            (String::new(), vec![media])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sign(secret: &[u8], body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
        mac.update(body);
        let bytes = mac.finalize().into_bytes();
        format!("sha256={}", bytes.iter().map(|b| format!("{b:02x}")).collect::<String>())
    }

    #[test]
    fn signatures() {
        let body = br#"{"object":"page","entry":[]}"#;
        let good = sign(b"s3cret", body);
        assert_eq!(verify_signature(b"s3cret", body, Some(&good)), Ok(()));
        assert_eq!(verify_signature(b"other", body, Some(&good)), Err(SocialError::BadSignature));
        assert_eq!(verify_signature(b"s3cret", b"{}", Some(&good)), Err(SocialError::BadSignature));
        assert_eq!(verify_signature(b"s3cret", body, None), Err(SocialError::BadSignature));
        for bad in ["sha1=00", "sha256=", "sha256=zz", "sha256=ü", &good[..good.len() - 1], &format!("{good}0")] {
            assert_eq!(verify_signature(b"s3cret", body, Some(bad)), Err(SocialError::BadSignature), "{bad}");
        }
        assert_eq!(verify_signature(b"", body, Some(&sign(b"", body))), Err(SocialError::BadSignature));
    }

    #[test]
    fn handshake() {
        assert_eq!(verify_subscription(Some("subscribe"), Some("tok"), Some("123"), "tok"), Some("123"));
        assert_eq!(verify_subscription(Some("subscribe"), Some("bad"), Some("123"), "tok"), None);
        assert_eq!(verify_subscription(Some("unsubscribe"), Some("tok"), Some("123"), "tok"), None);
        assert_eq!(verify_subscription(Some("subscribe"), None, Some("123"), "tok"), None);
        assert_eq!(verify_subscription(Some("subscribe"), Some("tok"), Some("<script>"), "tok"), None);
        assert_eq!(verify_subscription(Some("subscribe"), Some("tok"), Some("a b"), "tok"), None);
        assert_eq!(verify_subscription(Some("subscribe"), Some(""), Some("1"), ""), None);
    }

    #[test]
    fn whatsapp_messages_media_and_statuses() {
        let body = json!({
            "object": "whatsapp_business_account",
            "entry": [{"id": "WABA", "changes": [
                {"field": "messages", "value": {
                    "messaging_product": "whatsapp",
                    "metadata": {"display_phone_number": "15550783881", "phone_number_id": "PHONE"},
                    "contacts": [{"profile": {"name": "Sheena"}, "wa_id": "1650"}],
                    "messages": [
                        {"from": "1650", "id": "wamid.1", "timestamp": "1", "type": "text", "text": {"body": "hi"}},
                        {"from": "1650", "id": "wamid.2", "timestamp": "1", "type": "image",
                         "image": {"id": "MEDIA", "mime_type": "image/jpeg", "sha256": "x", "caption": "my bill"}},
                        {"from": "1650", "id": "wamid.3", "timestamp": "1", "type": "location",
                         "location": {"latitude": 38.7, "longitude": -9.1, "name": "Casa"}},
                        {"from": "1650", "id": "wamid.4", "timestamp": "1", "type": "unsupported",
                         "errors": [{"code": 131051}]}
                    ],
                    "statuses": [
                        {"id": "wamid.OUT", "status": "failed", "timestamp": "1", "recipient_id": "1650",
                         "errors": [{"code": 131047, "title": "Re-engagement message",
                                     "error_data": {"details": "more than 24 hours"}}]},
                        {"id": "wamid.OUT2", "status": "deleted", "timestamp": "1", "recipient_id": "1650"}
                    ]
                }},
                {"field": "account_update", "value": {"event": "VERIFIED_ACCOUNT"}}
            ]}]
        });
        let parsed = parse(&serde_json::to_vec(&body).unwrap()).unwrap();
        assert_eq!(parsed.platform, Platform::WhatsApp);
        assert_eq!(parsed.accounts, ["PHONE"]);
        assert_eq!(parsed.events.len(), 5);
        let WebhookEvent::Message(first) = &parsed.events[0] else { panic!("{:?}", parsed.events[0]) };
        assert_eq!(
            (first.account_id.as_str(), first.sender_id.as_str(), first.sender_name.as_deref(), first.text.as_str()),
            ("PHONE", "1650", Some("Sheena"), "hi")
        );
        let WebhookEvent::Message(image) = &parsed.events[1] else { panic!() };
        assert_eq!(
            (image.text.as_str(), image.media[0].kind, image.media[0].reference.as_str()),
            ("my bill", MediaKind::Image, "MEDIA")
        );
        let WebhookEvent::Message(location) = &parsed.events[2] else { panic!() };
        assert_eq!((location.text.as_str(), location.media[0].reference.as_str()), ("Casa", "38.7,-9.1"));
        let WebhookEvent::Message(unsupported) = &parsed.events[3] else { panic!() };
        assert_eq!(unsupported.media[0].kind, MediaKind::Other);
        let WebhookEvent::Status(failed) = &parsed.events[4] else { panic!() };
        assert_eq!(failed.status, DeliveryStatus::Failed);
        assert_eq!(failed.error.as_deref(), Some("131047: Re-engagement message (more than 24 hours)"));
    }

    #[test]
    fn messenger_messages_echoes_receipts() {
        let body = json!({
            "object": "page",
            "entry": [{"id": "PAGE", "time": 1, "messaging": [
                {"sender": {"id": "PSID"}, "recipient": {"id": "PAGE"}, "timestamp": 1,
                 "message": {"mid": "m_1", "text": "hello", "attachments": [
                     {"type": "image", "payload": {"url": "https://cdn.example/x.jpg"}}]}},
                {"sender": {"id": "PAGE"}, "recipient": {"id": "PSID"}, "timestamp": 1,
                 "message": {"mid": "m_echo", "text": "our reply", "is_echo": true}},
                {"sender": {"id": "PSID"}, "recipient": {"id": "PAGE"}, "timestamp": 1,
                 "delivery": {"mids": ["m_OUT"], "watermark": 5}},
                {"sender": {"id": "PSID"}, "recipient": {"id": "PAGE"}, "timestamp": 1, "read": {"watermark": 1700}},
                {"sender": {"id": "PSID"}, "recipient": {"id": "PAGE"}, "timestamp": 1,
                 "postback": {"mid": "m_pb", "title": "Talk to an agent", "payload": "AGENT"}}
            ]}]
        });
        let parsed = parse(&serde_json::to_vec(&body).unwrap()).unwrap();
        assert_eq!(parsed.accounts, ["PAGE"]);
        assert_eq!(parsed.events.len(), 4, "{:?}", parsed.events);
        let WebhookEvent::Message(m) = &parsed.events[0] else { panic!() };
        assert_eq!((m.message_id.as_str(), m.text.as_str(), m.media.len()), ("m_1", "hello", 1));
        assert!(
            matches!(&parsed.events[1], WebhookEvent::Status(s) if s.message_id == "m_OUT" && s.status == DeliveryStatus::Delivered)
        );
        assert!(matches!(&parsed.events[2], WebhookEvent::Read(r) if r.watermark_ms == 1700 && r.sender_id == "PSID"));
        assert!(matches!(&parsed.events[3], WebhookEvent::Message(m) if m.text == "Talk to an agent"));
    }

    #[test]
    fn garbage_is_refused() {
        for body in [
            &b""[..],
            b"not json",
            b"[]",
            b"{}",
            b"{\"object\":\"page\"}",
            b"{\"object\":\"page\",\"entry\":[{\"id\":",
            b"{\"object\":\"page\",\"entry\":[{\"id\":5}]}",
            b"{\"object\":\"page\",\"entry\":[{\"id\":\"P\",\"messaging\":[{\"sender\":{}}]}]}",
            b"{\"object\":\"page\",\"entry\":[{\"id\":\"P\",\"messaging\":[{\"sender\":{\"id\":\"a\"},\"recipient\":{\"id\":\"Q\"},\"message\":{\"mid\":\"m\"}}]}]}",
            b"{\"object\":\"whatsapp_business_account\",\"entry\":[{\"id\":\"W\",\"changes\":[{\"field\":\"messages\",\"value\":{}}]}]}",
            b"{\"object\":\"whatsapp_business_account\",\"entry\":[{\"id\":\"W\",\"changes\":[{\"field\":\"messages\",\"value\":{\"metadata\":{\"phone_number_id\":\"P\"},\"messages\":[{\"id\":\"x\"}]}}]}]}",
        ] {
            assert!(matches!(parse(body), Err(SocialError::Malformed(_))), "{}", String::from_utf8_lossy(body));
        }
        assert_eq!(
            parse(b"{\"object\":\"instagram\",\"entry\":[]}"),
            Err(SocialError::UnsupportedObject("instagram".into()))
        );
    }
}
