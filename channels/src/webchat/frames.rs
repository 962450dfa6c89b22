//! The JSON frames of the web chat and inbox sockets.

use schema::{ChannelMessageId, ConversationId, Message, MessageText, Presence, TicketId, ValidationError};
use serde::{Deserialize, Serialize};

/// A frame from a customer's browser, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientFrame {
    /// `{"type":"message","client_id":"…","text":"…"}`
    Message { client_id: ChannelMessageId, text: MessageText },
}

/// A frame from an agent's inbox, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AgentFrame {
    /// `{"type":"message","conversation_id":"…","client_id":"…","text":"…"}`
    Message { conversation_id: ConversationId, client_id: ChannelMessageId, text: MessageText },
    /// `{"type":"accept","ticket_id":"…"}`: take an offered ticket.
    Accept { ticket_id: TicketId },
    /// `{"type":"reject","ticket_id":"…"}`: decline an offered ticket.
    Reject { ticket_id: TicketId },
    /// `{"type":"presence","presence":"available"}`: available, busy, away or offline.
    Presence { presence: Presence },
}

/// Why a frame was refused. The socket stays open; the client gets an `error` frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("the frame is not valid JSON of a known shape: {0}")]
    Malformed(String),
    #[error("unknown frame type {0:?}")]
    UnknownType(String),
    #[error("{error}")]
    Invalid {
        /// The client id of the frame, when it had a usable one, so the client can tell which
        /// of its messages failed.
        client_id: Option<String>,
        error: ValidationError,
    },
}

impl FrameError {
    /// A stable, machine-readable code for the `error` frame.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "malformed_frame",
            Self::UnknownType(_) => "unknown_frame_type",
            Self::Invalid { error: ValidationError::TooLong { field: "text", .. }, .. } => "message_too_long",
            Self::Invalid { .. } => "invalid_field",
        }
    }

    /// The client id the failed frame carried, if any.
    #[must_use]
    pub fn client_id(&self) -> Option<&str> {
        match self {
            Self::Invalid { client_id, .. } => client_id.as_deref(),
            _ => None,
        }
    }
}

#[derive(Deserialize)]
struct RawFrame {
    #[serde(rename = "type")]
    kind: String,
    conversation_id: Option<String>,
    client_id: Option<String>,
    text: Option<String>,
    ticket_id: Option<String>,
    presence: Option<String>,
}

fn raw(json: &str) -> Result<RawFrame, FrameError> {
    serde_json::from_str(json).map_err(|e| FrameError::Malformed(e.to_string()))
}

fn required<'a>(v: &'a Option<String>, field: &'static str) -> Result<&'a str, ValidationError> {
    v.as_deref().ok_or(ValidationError::Empty { field })
}

fn message_parts(raw: &RawFrame, max_chars: usize) -> Result<(ChannelMessageId, MessageText), ValidationError> {
    let client_id = required(&raw.client_id, "client_id")?.parse()?;
    let text = MessageText::parse(required(&raw.text, "text")?, max_chars)?;
    Ok((client_id, text))
}

fn invalid(raw: &RawFrame) -> impl FnOnce(ValidationError) -> FrameError + '_ {
    move |error| FrameError::Invalid { client_id: raw.client_id.clone().filter(|c| c.len() <= 256), error }
}

impl ClientFrame {
    /// Parses and validates a customer frame; `max_chars` bounds the message text.
    ///
    /// # Errors
    /// Not JSON, an unknown type, or a missing or invalid field.
    pub fn parse(json: &str, max_chars: usize) -> Result<Self, FrameError> {
        let raw = raw(json)?;
        match raw.kind.as_str() {
            "message" => {
                let (client_id, text) = message_parts(&raw, max_chars).map_err(invalid(&raw))?;
                Ok(Self::Message { client_id, text })
            }
            other => Err(FrameError::UnknownType(other.chars().take(64).collect())),
        }
    }
}

impl AgentFrame {
    /// Parses and validates an agent frame; `max_chars` bounds the message text.
    ///
    /// # Errors
    /// Not JSON, an unknown type, or a missing or invalid field.
    pub fn parse(json: &str, max_chars: usize) -> Result<Self, FrameError> {
        let raw = raw(json)?;
        match raw.kind.as_str() {
            "message" => {
                let conversation_id =
                    required(&raw.conversation_id, "conversation_id").and_then(str::parse).map_err(invalid(&raw))?;
                let (client_id, text) = message_parts(&raw, max_chars).map_err(invalid(&raw))?;
                Ok(Self::Message { conversation_id, client_id, text })
            }
            "accept" | "reject" => {
                let ticket_id = required(&raw.ticket_id, "ticket_id").and_then(str::parse).map_err(invalid(&raw))?;
                Ok(if raw.kind == "accept" { Self::Accept { ticket_id } } else { Self::Reject { ticket_id } })
            }
            "presence" => {
                let presence = required(&raw.presence, "presence").and_then(str::parse).map_err(invalid(&raw))?;
                Ok(Self::Presence { presence })
            }
            other => Err(FrameError::UnknownType(other.chars().take(64).collect())),
        }
    }
}

/// A frame the hub sends on a web chat or inbox socket.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame<'a> {
    /// The message with `client_id` is stored as number `seq` of its conversation.
    Ack { conversation_id: ConversationId, client_id: &'a str, seq: i64 },
    /// A message on the conversation.
    Message { message: &'a Message },
    /// An inbox command (`accept`, `reject`, `presence`) was carried out.
    Done {
        command: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        ticket_id: Option<TicketId>,
    },
    /// A frame was refused; the socket stays open.
    Error {
        code: &'a str,
        message: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        client_id: Option<&'a str>,
    },
}

impl ServerFrame<'_> {
    /// The frame as JSON text.
    #[must_use]
    pub fn to_json(&self) -> String {
        // Serialising these plain structs cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_customer_message() {
        let f = ClientFrame::parse(r#"{"type":"message","client_id":"c1","text":"hola"}"#, 100).unwrap();
        let ClientFrame::Message { client_id, text } = f;
        assert_eq!((client_id.as_str(), text.as_str()), ("c1", "hola"));
    }

    #[test]
    fn refuses_garbage_with_codes() {
        let cases = [
            ("not json", "malformed_frame"),
            ("[1,2]", "malformed_frame"),
            (r#"{"type":42}"#, "malformed_frame"),
            (r#"{"type":"dance"}"#, "unknown_frame_type"),
            (r#"{"type":"message","text":"x"}"#, "invalid_field"),
            (r#"{"type":"message","client_id":"a","text":"   "}"#, "invalid_field"),
            (r#"{"type":"message","client_id":"a","text":"xxxxxxxxxxx"}"#, "message_too_long"),
        ];
        for (input, code) in cases {
            let err = ClientFrame::parse(input, 10).unwrap_err();
            assert_eq!(err.code(), code, "{input}");
        }
        let err = ClientFrame::parse(r#"{"type":"message","client_id":"a","text":"xxxxxxxxxxx"}"#, 10).unwrap_err();
        assert_eq!(err.client_id(), Some("a"));
    }

    #[test]
    fn agent_frames_need_a_conversation() {
        let err = AgentFrame::parse(r#"{"type":"message","client_id":"a","text":"x"}"#, 10).unwrap_err();
        assert_eq!(err.code(), "invalid_field");
        let err = AgentFrame::parse(r#"{"type":"message","conversation_id":"nope","client_id":"a","text":"x"}"#, 10)
            .unwrap_err();
        assert_eq!(err.code(), "invalid_field");
        let id = ConversationId::new();
        let ok = AgentFrame::parse(
            &format!(r#"{{"type":"message","conversation_id":"{id}","client_id":"a","text":"x"}}"#),
            10,
        );
        assert!(matches!(ok, Ok(AgentFrame::Message { conversation_id, .. }) if conversation_id == id));
    }
}
