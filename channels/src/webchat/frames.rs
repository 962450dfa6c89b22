//! The JSON frames of the web chat and inbox sockets.

use schema::csat::{Comment, Score};
use schema::{
    AttachmentId, AuthorKind, ChannelMessageId, ConversationId, ConversationStatus, Message, MessageText, Presence,
    SurveyId, TicketId, ValidationError,
};
use serde::{Deserialize, Serialize};

/// A frame from a customer's browser, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientFrame {
    /// `{"type":"message","client_id":"…","text":"…","attachments":["…"]}`: `attachments` (at
    /// most [`MAX_ATTACHMENTS`]) are files uploaded to this chat before.
    Message { client_id: ChannelMessageId, text: MessageText, attachments: Vec<AttachmentId> },
    /// `{"type":"typing"}`: the customer is writing (sent at most every few seconds).
    Typing,
    /// `{"type":"rating","survey_id":"…","score":4,"comment":"…"}`: the answer to a `survey`
    /// frame, a score of 1 to 5 and an optional comment.
    Rating { survey_id: SurveyId, score: Score, comment: Option<Comment> },
    /// `{"type":"leave"}`: the customer ends the chat (the hub answers `done` with `command`
    /// `leave`).
    Leave,
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
    /// `{"type":"typing","conversation_id":"…"}`: the agent is writing a reply (not a note).
    Typing { conversation_id: ConversationId },
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
    attachments: Option<Vec<String>>,
    survey_id: Option<String>,
    score: Option<i64>,
    comment: Option<String>,
}

/// Most files one customer message carries.
pub const MAX_ATTACHMENTS: usize = 5;

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

fn attachment_ids(ids: Option<&[String]>) -> Result<Vec<AttachmentId>, ValidationError> {
    let ids = ids.unwrap_or_default();
    if ids.len() > MAX_ATTACHMENTS {
        return Err(ValidationError::Invalid {
            field: "attachments",
            reason: format!("at most {MAX_ATTACHMENTS} files per message"),
        });
    }
    ids.iter().map(|id| id.parse()).collect()
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
                let attachments = attachment_ids(raw.attachments.as_deref()).map_err(invalid(&raw))?;
                Ok(Self::Message { client_id, text, attachments })
            }
            "typing" => Ok(Self::Typing),
            "leave" => Ok(Self::Leave),
            "rating" => {
                let survey_id = required(&raw.survey_id, "survey_id").and_then(str::parse).map_err(invalid(&raw))?;
                let score = raw.score.ok_or(ValidationError::Empty { field: "score" }).and_then(Score::try_from);
                let score = score.map_err(invalid(&raw))?;
                let comment = raw.comment.as_deref().map(Comment::parse).transpose().map_err(invalid(&raw))?.flatten();
                Ok(Self::Rating { survey_id, score, comment })
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
            "typing" => {
                let conversation_id =
                    required(&raw.conversation_id, "conversation_id").and_then(str::parse).map_err(invalid(&raw))?;
                Ok(Self::Typing { conversation_id })
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
    /// The other side is writing: on the customer's socket, an agent (with their name).
    Typing {
        author: AuthorKind,
        #[serde(skip_serializing_if = "Option::is_none")]
        name: Option<&'a str>,
    },
    /// Where the customer's conversation stands: sent on connect and whenever it changes. An
    /// `agent` is the person who has taken the conversation; `resolved` or `closed` ends it
    /// (a new message reopens it).
    State { status: ConversationStatus, agent: Option<AgentName<'a>> },
    /// The conversation was resolved and the customer is asked to rate it (1 to 5, and a
    /// comment): answered with a `rating` frame.
    Survey { survey_id: SurveyId, question: &'a str },
    /// The `rating` for the survey was recorded.
    Rated { survey_id: SurveyId },
    /// A frame was refused; the socket stays open.
    Error {
        code: &'a str,
        message: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        client_id: Option<&'a str>,
    },
}

/// The agent the customer is talking to, as the customer sees them.
#[derive(Clone, Debug, Serialize)]
pub struct AgentName<'a> {
    pub name: &'a str,
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
        let ClientFrame::Message { client_id, text, attachments } = f else { panic!("not a message: {f:?}") };
        assert_eq!((client_id.as_str(), text.as_str()), ("c1", "hola"));
        assert!(attachments.is_empty());
        let id = AttachmentId::new();
        let f = ClientFrame::parse(
            &format!(r#"{{"type":"message","client_id":"c2","text":"x","attachments":["{id}"]}}"#),
            9,
        );
        assert!(matches!(f, Ok(ClientFrame::Message { attachments, .. }) if attachments == [id]));
        let six = serde_json::to_string(&vec![id.to_string(); 6]).unwrap();
        let f =
            ClientFrame::parse(&format!(r#"{{"type":"message","client_id":"c3","text":"x","attachments":{six}}}"#), 9);
        assert_eq!(f.unwrap_err().client_id(), Some("c3"));
        let f = ClientFrame::parse(r#"{"type":"message","client_id":"c4","text":"x","attachments":["nope"]}"#, 9);
        assert_eq!(f.unwrap_err().code(), "invalid_field");
        assert_eq!(ClientFrame::parse(r#"{"type":"typing"}"#, 100), Ok(ClientFrame::Typing));
        assert_eq!(ClientFrame::parse(r#"{"type":"leave"}"#, 100), Ok(ClientFrame::Leave));
        assert_eq!(ClientFrame::parse(r#"{"type":"leave!"}"#, 100).unwrap_err().code(), "unknown_frame_type");
    }

    #[test]
    fn parses_a_rating() {
        let id = SurveyId::new();
        let f = ClientFrame::parse(&format!(r#"{{"type":"rating","survey_id":"{id}","score":4,"comment":" ok "}}"#), 9);
        let Ok(ClientFrame::Rating { survey_id, score, comment }) = f else { panic!("not a rating: {f:?}") };
        assert_eq!((survey_id, score.get(), comment.as_ref().map(Comment::as_str)), (id, 4, Some("ok")));
        let f = ClientFrame::parse(&format!(r#"{{"type":"rating","survey_id":"{id}","score":5,"comment":""}}"#), 9);
        assert!(matches!(f, Ok(ClientFrame::Rating { comment: None, .. })));
        for bad in [
            format!(r#"{{"type":"rating","survey_id":"{id}","score":6}}"#),
            format!(r#"{{"type":"rating","survey_id":"{id}","score":0}}"#),
            format!(r#"{{"type":"rating","survey_id":"{id}"}}"#),
            r#"{"type":"rating","survey_id":"nope","score":3}"#.to_owned(),
            format!(r#"{{"type":"rating","survey_id":"{id}","score":3,"comment":"{}"}}"#, "x".repeat(1001)),
        ] {
            assert_eq!(ClientFrame::parse(&bad, 9).unwrap_err().code(), "invalid_field", "{bad}");
        }
        let big = format!(r#"{{"type":"rating","survey_id":"{id}","score":99999999999999999999}}"#);
        assert_eq!(ClientFrame::parse(&big, 9).unwrap_err().code(), "malformed_frame");
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
        let typing = AgentFrame::parse(&format!(r#"{{"type":"typing","conversation_id":"{id}"}}"#), 10);
        assert_eq!(typing, Ok(AgentFrame::Typing { conversation_id: id }));
        let err = AgentFrame::parse(r#"{"type":"typing"}"#, 10).unwrap_err();
        assert_eq!(err.code(), "invalid_field");
    }
}
