//! The visitor token: proof that a browser may use one web chat conversation.
//!
//! `base64url(claims-json) "." base64url(HMAC-SHA256(key, claims-json))`. Stateless, so any hub
//! node sharing the key can check it without a database round trip.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, Mac};
use schema::{ConversationId, CustomerId};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use time::OffsetDateTime;

type HmacSha256 = Hmac<Sha256>;

/// What a visitor token grants.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VisitorClaims {
    /// The conversation the bearer may read and write.
    #[serde(rename = "cnv")]
    pub conversation_id: ConversationId,
    /// The customer the bearer is.
    #[serde(rename = "cus")]
    pub customer_id: CustomerId,
    /// Expiry, Unix seconds.
    #[serde(rename = "exp")]
    pub expires_at: i64,
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is malformed")]
    Malformed,
    #[error("the token's signature is invalid")]
    BadSignature,
    #[error("the token has expired")]
    Expired,
}

/// The secret that signs and checks visitor tokens.
#[derive(Clone)]
pub struct VisitorTokenKey(Vec<u8>);

impl std::fmt::Debug for VisitorTokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("VisitorTokenKey(***)")
    }
}

impl VisitorTokenKey {
    /// A key from secret bytes (at least 32 of them should be random).
    #[must_use]
    pub fn new(secret: impl Into<Vec<u8>>) -> Self {
        Self(secret.into())
    }

    fn mac(&self) -> HmacSha256 {
        // HMAC accepts keys of any length; this cannot fail.
        <HmacSha256 as Mac>::new_from_slice(&self.0).unwrap_or_else(|_| unreachable!("HMAC takes any key length"))
    }

    /// Signs `claims` into a token.
    #[must_use]
    pub fn sign(&self, claims: &VisitorClaims) -> String {
        let json = serde_json::to_vec(claims).unwrap_or_default();
        let mut mac = self.mac();
        mac.update(&json);
        let sig = mac.finalize().into_bytes();
        format!("{}.{}", B64.encode(&json), B64.encode(sig))
    }

    /// Checks a token's signature and expiry (at `now`) and returns its claims.
    ///
    /// # Errors
    /// A malformed, forged or expired token.
    pub fn verify(&self, token: &str, now: OffsetDateTime) -> Result<VisitorClaims, TokenError> {
        if token.len() > 1024 {
            return Err(TokenError::Malformed);
        }
        let (body, sig) = token.split_once('.').ok_or(TokenError::Malformed)?;
        if body.is_empty() || sig.is_empty() {
            return Err(TokenError::Malformed);
        }
        let json = B64.decode(body).map_err(|_| TokenError::Malformed)?;
        let sig = B64.decode(sig).map_err(|_| TokenError::Malformed)?;
        let mut mac = self.mac();
        mac.update(&json);
        mac.verify_slice(&sig).map_err(|_| TokenError::BadSignature)?;
        let claims: VisitorClaims = serde_json::from_slice(&json).map_err(|_| TokenError::Malformed)?;
        if claims.expires_at <= now.unix_timestamp() {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: i64) -> VisitorClaims {
        VisitorClaims { conversation_id: ConversationId::new(), customer_id: CustomerId::new(), expires_at: exp }
    }

    #[test]
    fn round_trips_and_rejects_tampering_and_expiry() {
        let key = VisitorTokenKey::new(*b"0123456789abcdef0123456789abcdef");
        let now = OffsetDateTime::now_utc();
        let c = claims(now.unix_timestamp() + 60);
        let token = key.sign(&c);
        assert_eq!(key.verify(&token, now), Ok(c.clone()));

        let other = VisitorTokenKey::new(*b"another key, another key, anothe");
        assert_eq!(other.verify(&token, now), Err(TokenError::BadSignature));

        let (_, sig) = token.split_once('.').unwrap();
        let forged = format!("{}.{sig}", B64.encode(serde_json::to_vec(&claims(i64::MAX)).unwrap()));
        assert_eq!(key.verify(&forged, now), Err(TokenError::BadSignature));

        let old = key.sign(&claims(now.unix_timestamp() - 1));
        assert_eq!(key.verify(&old, now), Err(TokenError::Expired));

        for garbage in ["", ".", "a.b", "not a token", "💥.💥"] {
            assert_eq!(key.verify(garbage, now), Err(TokenError::Malformed), "{garbage:?}");
        }
    }
}
