//! The web chat channel's sessions: a new customer and conversation, and the signed visitor token
//! that opens its socket.

use std::sync::Arc;

use channels::webchat::{VisitorClaims, VisitorTokenKey};
use schema::{Channel, Conversation, Customer, DisplayName, EmailAddress, Language, NewCustomer};
use time::OffsetDateTime;

use crate::bus::Event;
use crate::error::Error;
use crate::services::Core;
use crate::services::ingest::Ingest;

/// What a customer gives when a chat starts; every field is optional.
#[derive(Debug, Default)]
pub struct NewSession<'a> {
    pub name: Option<&'a str>,
    pub email: Option<&'a str>,
    pub language: Option<&'a str>,
}

/// A chat session that was opened.
#[derive(Debug)]
pub struct Session {
    pub token: String,
    pub customer: Customer,
    pub conversation: Conversation,
    pub expires_at: OffsetDateTime,
}

/// Opens web chat sessions and checks their tokens.
#[derive(Debug)]
pub struct Webchat {
    core: Core,
    ingest: Arc<Ingest>,
    key: VisitorTokenKey,
    token_ttl_secs: u64,
}

impl Webchat {
    #[must_use]
    pub fn new(core: Core, ingest: Arc<Ingest>, key: VisitorTokenKey, token_ttl_secs: u64) -> Self {
        Self { core, ingest, key, token_ttl_secs }
    }

    /// A new customer and conversation, and the token for its socket.
    ///
    /// # Errors
    /// A field that does not validate (422), or the store fails.
    pub async fn open(&self, req: NewSession<'_>) -> Result<Session, Error> {
        let new = NewCustomer {
            name: req.name.map(str::parse::<DisplayName>).transpose()?,
            email: req.email.map(str::parse::<EmailAddress>).transpose()?,
            language: req.language.map(str::parse::<Language>).transpose()?.unwrap_or_default(),
            ..NewCustomer::default()
        };
        let (customer, conversation) = self
            .core
            .store
            .create_customer_with_conversation(new, Channel::WebChat, self.ingest.first_status())
            .await?;
        let ttl = i64::try_from(self.token_ttl_secs).unwrap_or(i64::MAX / 2);
        let expires_at = OffsetDateTime::now_utc() + time::Duration::seconds(ttl);
        let token = self.key.sign(&VisitorClaims {
            conversation_id: conversation.id,
            customer_id: customer.id,
            expires_at: expires_at.unix_timestamp(),
        });
        tracing::info!(conversation_id = %conversation.id, customer_id = %customer.id, "web chat session opened");
        self.core.bus.publish(Event::ConversationCreated { conversation: conversation.clone() });
        Ok(Session { token, customer, conversation, expires_at })
    }

    /// The claims of a visitor token that is valid now.
    ///
    /// # Errors
    /// The token is malformed, forged or expired.
    pub fn verify(&self, token: &str) -> Result<VisitorClaims, channels::webchat::TokenError> {
        self.key.verify(token, OffsetDateTime::now_utc())
    }
}
