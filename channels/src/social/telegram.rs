//! The Telegram Bot API's webhook: one `Update` per call, authenticated by the secret the bot
//! was given in `setWebhook` (`X-Telegram-Bot-Api-Secret-Token`).

use serde::Deserialize;

use super::{InboundMessage, Media, MediaKind, Platform, SocialError, WebhookEvent, constant_time_eq};

/// Checks the secret-token header.
///
/// # Errors
/// [`SocialError::BadSignature`] when it is missing or wrong (or no secret is configured).
pub fn verify_secret(expected: &str, header: Option<&str>) -> Result<(), SocialError> {
    match header {
        Some(got) if !expected.is_empty() && constant_time_eq(got.as_bytes(), expected.as_bytes()) => Ok(()),
        _ => Err(SocialError::BadSignature),
    }
}

#[derive(Deserialize)]
struct Update {
    /// Required by the shape, but redeliveries are recognised by the message id.
    #[serde(rename = "update_id")]
    _update_id: i64,
    message: Option<Message>,
}

#[derive(Deserialize)]
struct Message {
    message_id: i64,
    from: Option<User>,
    chat: Chat,
    text: Option<String>,
    caption: Option<String>,
    #[serde(default)]
    photo: Vec<File>,
    document: Option<File>,
    audio: Option<File>,
    voice: Option<File>,
    video: Option<File>,
    sticker: Option<File>,
    location: Option<Location>,
}

#[derive(Deserialize)]
struct User {
    #[serde(default)]
    is_bot: bool,
    first_name: String,
    last_name: Option<String>,
}

#[derive(Deserialize)]
struct Chat {
    id: i64,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Deserialize)]
struct File {
    file_id: String,
    mime_type: Option<String>,
    file_name: Option<String>,
}

#[derive(Deserialize)]
struct Location {
    latitude: f64,
    longitude: f64,
}

/// Parses one update sent to the bot `account_id`. Only private chats' new messages become
/// events: edits, group chats, channel posts and button callbacks are acknowledged and ignored.
///
/// # Errors
/// [`SocialError::Malformed`] when the body is not a Telegram `Update`.
pub fn parse(body: &[u8], account_id: &str) -> Result<Vec<WebhookEvent>, SocialError> {
    let update: Update = serde_json::from_slice(body).map_err(|e| SocialError::Malformed(e.to_string()))?;
    let Some(m) = update.message else { return Ok(Vec::new()) };
    if m.chat.kind != "private" || m.from.as_ref().is_some_and(|u| u.is_bot) {
        return Ok(Vec::new());
    }
    let file = |kind, f: &File| Media {
        kind,
        reference: f.file_id.clone(),
        mime_type: f.mime_type.clone(),
        file_name: f.file_name.clone(),
    };
    let mut media = Vec::new();
    // Telegram sends every size of a photo; the last is the largest.
    if let Some(photo) = m.photo.last() {
        media.push(file(MediaKind::Image, photo));
    }
    for (kind, f) in [
        (MediaKind::Document, &m.document),
        (MediaKind::Audio, &m.audio),
        (MediaKind::Audio, &m.voice),
        (MediaKind::Video, &m.video),
        (MediaKind::Sticker, &m.sticker),
    ] {
        if let Some(f) = f {
            media.push(file(kind, f));
        }
    }
    if let Some(l) = &m.location {
        let reference = format!("{},{}", l.latitude, l.longitude);
        media.push(Media { kind: MediaKind::Location, reference, mime_type: None, file_name: None });
    }
    let sender_name = m.from.as_ref().map(|u| match &u.last_name {
        Some(last) => format!("{} {last}", u.first_name),
        None => u.first_name.clone(),
    });
    let chat = m.chat.id;
    Ok(vec![WebhookEvent::Message(InboundMessage {
        platform: Platform::Telegram,
        account_id: account_id.to_owned(),
        sender_id: chat.to_string(),
        sender_name,
        // Message ids are per chat; the chat makes them unique for the bot.
        message_id: format!("{chat}:{}", m.message_id),
        text: m.text.or(m.caption).unwrap_or_default(),
        media,
    })])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secret_token() {
        assert_eq!(verify_secret("s", Some("s")), Ok(()));
        assert_eq!(verify_secret("s", Some("t")), Err(SocialError::BadSignature));
        assert_eq!(verify_secret("s", None), Err(SocialError::BadSignature));
        assert_eq!(verify_secret("", Some("")), Err(SocialError::BadSignature));
    }

    #[test]
    fn private_messages_with_media() {
        let body = json!({"update_id": 1, "message": {
            "message_id": 7, "date": 1,
            "from": {"id": 42, "is_bot": false, "first_name": "Tomás", "last_name": "Ruiz", "language_code": "es"},
            "chat": {"id": 42, "first_name": "Tomás", "type": "private"},
            "caption": "la factura",
            "photo": [{"file_id": "small", "file_unique_id": "a", "width": 90, "height": 90},
                      {"file_id": "large", "file_unique_id": "b", "width": 900, "height": 900}]
        }});
        let events = parse(&serde_json::to_vec(&body).unwrap(), "bot").unwrap();
        let [WebhookEvent::Message(m)] = events.as_slice() else { panic!("{events:?}") };
        assert_eq!(
            (m.account_id.as_str(), m.sender_id.as_str(), m.message_id.as_str(), m.text.as_str()),
            ("bot", "42", "42:7", "la factura")
        );
        assert_eq!(m.sender_name.as_deref(), Some("Tomás Ruiz"));
        assert_eq!((m.media[0].kind, m.media[0].reference.as_str()), (MediaKind::Image, "large"));
    }

    #[test]
    fn other_updates_are_ignored_and_garbage_refused() {
        for ignored in [
            json!({"update_id": 2}),
            json!({"update_id": 3, "edited_message": {"message_id": 1}}),
            json!({"update_id": 4, "message": {"message_id": 1, "date": 1, "chat": {"id": -5, "type": "group"}, "text": "x"}}),
        ] {
            assert_eq!(parse(&serde_json::to_vec(&ignored).unwrap(), "bot").unwrap(), Vec::new());
        }
        for garbage in [
            &b"{}"[..],
            b"null",
            b"{\"update_id\":\"x\"}",
            b"{\"update_id\":1,\"message\":5}",
            b"{\"update_id\":1,\"message\":{\"chat\":{}}}",
        ] {
            assert!(
                matches!(parse(garbage, "bot"), Err(SocialError::Malformed(_))),
                "{}",
                String::from_utf8_lossy(garbage)
            );
        }
    }
}
