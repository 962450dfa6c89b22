//! Staff two-step sign-in with TOTP (RFC 6238: SHA-1, 6 digits, 30-second steps, one step of
//! clock skew either way): enrolment (a secret, its `otpauth://` URI and QR code, confirmed by a
//! first code), checking codes with a replay guard (a code, or any older one, is accepted once),
//! ten single-use recovery codes (kept as digests, shown once), turning it off, and the policy of
//! which roles must use it (kept by the settings service).
//!
//! Secrets are sealed with the hub's secrets key; the member's id is sealed with the secret and
//! checked on opening, so a sealed secret copied to another member's row does not open.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use rand::RngCore;
use rand::rngs::OsRng;
use schema::{Agent, AgentId, Role, Store};
use sha2::{Digest, Sha256};
use totp_rs::{Algorithm, Secret, TOTP};

use crate::error::Error;
use crate::secrets::SecretBox;
use crate::services::settings::Settings;

/// Seconds per TOTP step.
pub const STEP_SECS: u64 = 30;
const DIGITS: usize = 6;
/// Bytes of a new TOTP secret (160 bits, as RFC 4226 recommends).
const SECRET_BYTES: usize = 20;
/// Recovery codes made at once.
pub const RECOVERY_CODES: usize = 10;
/// Characters of recovery codes: no look-alikes.
const CODE_ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
/// Characters of a recovery code (two groups of five, shown with a dash; about 50 bits).
const CODE_CHARS: usize = 10;
/// The issuer shown in authenticator apps.
const ISSUER: &str = "Switchboard";

/// A TOTP enrolment just started: what the member's authenticator app needs.
pub struct Enrolment {
    /// The secret, base32 (for typing it in).
    pub secret: String,
    /// The `otpauth://totp/...` URI the QR code holds.
    pub otpauth_uri: String,
    /// The QR code of the URI, as an SVG document.
    pub qr_svg: String,
}

impl std::fmt::Debug for Enrolment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Enrolment(..)")
    }
}

/// Recovery codes, shown once.
pub struct RecoveryCodes(pub Vec<String>);

impl std::fmt::Debug for RecoveryCodes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RecoveryCodes({} codes)", self.0.len())
    }
}

/// A member's two-step sign-in state.
#[derive(Clone, Copy, Debug)]
pub struct MfaStatus {
    pub enrolled: bool,
    /// Whether one of the member's roles requires it.
    pub required: bool,
    pub recovery_codes_left: u32,
}

/// A second factor as a member gives it.
#[derive(Clone, Copy, Debug)]
pub enum SecondFactor<'a> {
    /// A 6-digit TOTP code.
    Code(&'a str),
    /// A recovery code.
    Recovery(&'a str),
}

fn invalid_code() -> Error {
    Error::Unauthorized("the code is wrong, expired or already used".into())
}

fn digest(s: &str) -> String {
    Sha256::digest(s.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// A recovery code as typed: lower case, without spaces or dashes.
fn normalize_recovery(code: &str) -> String {
    code.chars().filter(char::is_ascii_alphanumeric).map(|c| c.to_ascii_lowercase()).collect()
}

fn new_recovery_codes() -> (RecoveryCodes, Vec<String>) {
    let limit = 256 - 256 % CODE_ALPHABET.len();
    let mut codes = Vec::with_capacity(RECOVERY_CODES);
    while codes.len() < RECOVERY_CODES {
        let mut raw = String::with_capacity(CODE_CHARS);
        let mut bytes = [0u8; 32];
        while raw.len() < CODE_CHARS {
            OsRng.fill_bytes(&mut bytes);
            for &b in &bytes {
                if usize::from(b) < limit && raw.len() < CODE_CHARS {
                    raw.push(char::from(CODE_ALPHABET[usize::from(b) % CODE_ALPHABET.len()]));
                }
            }
        }
        codes.push(format!("{}-{}", &raw[..CODE_CHARS / 2], &raw[CODE_CHARS / 2..]));
    }
    let digests = codes.iter().map(|c| digest(&normalize_recovery(c))).collect();
    (RecoveryCodes(codes), digests)
}

fn totp(secret: Vec<u8>) -> Result<TOTP, Error> {
    TOTP::new(Algorithm::SHA1, DIGITS, 1, STEP_SECS, secret).map_err(|e| Error::Internal(format!("TOTP: {e}")))
}

/// Percent-encodes a URI path segment or query value (RFC 3986 unreserved characters stay).
fn percent(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn now_secs() -> u64 {
    u64::try_from(time::OffsetDateTime::now_utc().unix_timestamp()).unwrap_or(0)
}

/// The TOTP step (within one step of `now`) whose code is `code`, if any.
fn matching_step(totp: &TOTP, code: &str, now: u64) -> Option<i64> {
    let code = code.trim();
    if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let current = now / STEP_SECS;
    let mut found = None;
    // Every candidate is compared (no early exit), in constant time.
    for step in [current.saturating_sub(1), current, current + 1] {
        let expected = totp.generate(step * STEP_SECS);
        if constant_eq(expected.as_bytes(), code.as_bytes()) {
            found = i64::try_from(step).ok();
        }
    }
    found
}

fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Two-step sign-in.
#[derive(Debug)]
pub struct Mfa {
    store: Store,
    secrets: SecretBox,
    settings: Arc<Settings>,
}

impl Mfa {
    #[must_use]
    pub fn new(store: Store, secrets: SecretBox, settings: Arc<Settings>) -> Self {
        Self { store, secrets, settings }
    }

    /// The TOTP secret sealed with the member's id as associated data: a sealed value copied to
    /// another account does not open.
    fn seal(&self, agent: AgentId, secret: &[u8]) -> Result<String, Error> {
        self.secrets.seal(secret, &format!("totp:{agent}")).map_err(Error::internal)
    }

    fn open(&self, agent: AgentId, sealed: &str) -> Result<Vec<u8>, Error> {
        self.secrets.open(sealed, &format!("totp:{agent}")).map_err(Error::internal)
    }

    /// Whether one of `agent`'s roles requires two-step sign-in.
    #[must_use]
    pub fn required_for(&self, agent: &Agent) -> bool {
        let required = self.settings.mfa_policy().0;
        agent.roles.iter().any(|r| required.contains(r))
    }

    /// Whether `agent` has confirmed a TOTP enrolment.
    ///
    /// # Errors
    /// The store fails.
    pub async fn enrolled(&self, agent: AgentId) -> Result<bool, Error> {
        Ok(self.store.mfa_enrolment(agent).await?.is_some_and(|e| e.confirmed))
    }

    /// Whether `agent` may only set up two-step sign-in: their role requires it and they have
    /// none.
    ///
    /// # Errors
    /// The store fails.
    pub async fn enrolment_pending(&self, agent: &Agent) -> Result<bool, Error> {
        Ok(self.required_for(agent) && !self.enrolled(agent.id).await?)
    }

    /// A member's state.
    ///
    /// # Errors
    /// The store fails.
    pub async fn status(&self, agent: &Agent) -> Result<MfaStatus, Error> {
        Ok(MfaStatus {
            enrolled: self.enrolled(agent.id).await?,
            required: self.required_for(agent),
            recovery_codes_left: self.store.recovery_codes_left(agent.id).await?,
        })
    }

    /// Starts an enrolment: a new secret (replacing a pending one).
    ///
    /// # Errors
    /// 409 when already enrolled; the store fails.
    pub async fn start(&self, agent: &Agent) -> Result<Enrolment, Error> {
        let mut secret = vec![0u8; SECRET_BYTES];
        OsRng.fill_bytes(&mut secret);
        self.store.begin_mfa_enrolment(agent.id, &self.seal(agent.id, &secret)?).await?;
        let encoded = Secret::Raw(secret).to_encoded().to_string();
        let label = format!("{}:{}", percent(ISSUER), percent(agent.email.as_str()));
        let otpauth_uri = format!(
            "otpauth://totp/{label}?secret={encoded}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
            percent(ISSUER)
        );
        let qr_svg = qrcode::QrCode::new(otpauth_uri.as_bytes())
            .map_err(|e| Error::Internal(format!("QR code: {e}")))?
            .render::<qrcode::render::svg::Color<'_>>()
            .min_dimensions(200, 200)
            .build();
        tracing::info!(agent_id = %agent.id, "two-step sign-in set-up started");
        Ok(Enrolment { secret: encoded, otpauth_uri, qr_svg })
    }

    /// Confirms a pending enrolment with a first code; returns the recovery codes (shown once).
    /// A wrong code is a field that does not validate (422 on `code`), not a failed sign-in: the
    /// session stays.
    ///
    /// # Errors
    /// 422 for a wrong code, 409 when nothing is pending; the store fails.
    pub async fn confirm(&self, agent: &Agent, code: &str) -> Result<RecoveryCodes, Error> {
        let pending = self
            .store
            .mfa_enrolment(agent.id)
            .await?
            .filter(|e| !e.confirmed)
            .ok_or_else(|| Error::Conflict("no two-step sign-in set-up is pending: start again".into()))?;
        let totp = totp(self.open(agent.id, &pending.secret_sealed)?)?;
        let Some(step) = matching_step(&totp, code, now_secs()) else {
            tracing::info!(agent_id = %agent.id, "two-step sign-in set-up: wrong code");
            return Err(Error::invalid("code", "the code is wrong or expired: enter the one the app shows now"));
        };
        let (codes, digests) = new_recovery_codes();
        self.store.confirm_mfa(agent.id, step, &digests).await?;
        tracing::info!(agent_id = %agent.id, "two-step sign-in set up");
        Ok(codes)
    }

    /// Checks a second factor of an enrolled member; a TOTP code is accepted once, a recovery
    /// code is used up.
    ///
    /// # Errors
    /// 401 for a wrong, replayed or used code (or no enrolment); the store fails.
    pub async fn verify(&self, agent: AgentId, factor: SecondFactor<'_>) -> Result<(), Error> {
        let enrolment = self.store.mfa_enrolment(agent).await?.filter(|e| e.confirmed).ok_or_else(invalid_code)?;
        match factor {
            SecondFactor::Code(code) => {
                let totp = totp(self.open(agent, &enrolment.secret_sealed)?)?;
                let step = matching_step(&totp, code, now_secs()).ok_or_else(invalid_code)?;
                if !self.store.accept_totp_step(agent, step).await? {
                    tracing::warn!(agent_id = %agent, "a TOTP code was replayed");
                    return Err(invalid_code());
                }
            }
            SecondFactor::Recovery(code) => {
                if !self.store.use_recovery_code(agent, &digest(&normalize_recovery(code))).await? {
                    return Err(invalid_code());
                }
                tracing::info!(agent_id = %agent, "a recovery code was used");
            }
        }
        Ok(())
    }

    /// New recovery codes (the old ones stop working).
    ///
    /// # Errors
    /// 409 when not enrolled; the store fails.
    pub async fn regenerate_recovery_codes(&self, agent: &Agent) -> Result<RecoveryCodes, Error> {
        let (codes, digests) = new_recovery_codes();
        self.store.replace_recovery_codes(agent.id, &digests).await?;
        tracing::info!(agent_id = %agent.id, "recovery codes replaced");
        Ok(codes)
    }

    /// Turns off a member's own two-step sign-in.
    ///
    /// # Errors
    /// 409 when there is none; the store fails.
    pub async fn disable_own(&self, agent: &Agent) -> Result<(), Error> {
        if !self.store.remove_mfa(agent.id, false).await? {
            return Err(Error::Conflict("two-step sign-in is not set up".into()));
        }
        tracing::info!(agent_id = %agent.id, "two-step sign-in turned off by its owner");
        Ok(())
    }

    /// An administrator resets another member's two-step sign-in (a lost phone): it is removed
    /// and every session of theirs ends. Returns whether there was one.
    ///
    /// # Errors
    /// 404 for an unknown member; the store fails.
    pub async fn reset(&self, by: &Agent, id: AgentId) -> Result<bool, Error> {
        let removed = self.store.remove_mfa(id, true).await?;
        tracing::info!(agent_id = %id, by = %by.id, removed, "two-step sign-in reset by an admin");
        Ok(removed)
    }

    /// Members with two-step sign-in set up.
    ///
    /// # Errors
    /// The store fails.
    pub async fn enrolled_members(&self) -> Result<Vec<AgentId>, Error> {
        Ok(self.store.mfa_enrolled_agents().await?)
    }

    /// The roles that must use two-step sign-in.
    #[must_use]
    pub fn policy(&self) -> Vec<Role> {
        self.settings.mfa_policy().0
    }

    /// A new sign-in challenge token for `agent` (shown once; only its digest is stored).
    ///
    /// # Errors
    /// The store fails.
    pub async fn challenge(
        &self,
        agent: AgentId,
        ttl: time::Duration,
    ) -> Result<(String, time::OffsetDateTime), Error> {
        let mut bytes = [0u8; 32];
        OsRng.fill_bytes(&mut bytes);
        let token = format!("sbc_{}", B64.encode(bytes));
        let expires_at = time::OffsetDateTime::now_utc() + ttl;
        self.store.create_mfa_challenge(&digest(&token), agent, expires_at).await?;
        Ok((token, expires_at))
    }

    /// The member of a live sign-in challenge, and the challenge's digest.
    ///
    /// # Errors
    /// 401 for an unknown, expired, used or too often failed challenge; the store fails.
    pub async fn challenge_member(&self, challenge: &str) -> Result<(String, AgentId), Error> {
        let gone = || Error::Unauthorized("the sign-in has expired: enter your password again".into());
        if !challenge.starts_with("sbc_") || challenge.len() > 128 {
            return Err(gone());
        }
        let digest = digest(challenge);
        let agent = self.store.live_mfa_challenge(&digest).await?.ok_or_else(gone)?;
        Ok((digest, agent))
    }

    /// Answers a sign-in challenge (by digest, see [`Mfa::challenge_member`]) with a second
    /// factor; the challenge is used up, so two racing answers cannot both sign in. Wrong codes
    /// count against the challenge, which dies after a few.
    ///
    /// # Errors
    /// 401 for a wrong code or a challenge used meanwhile; the store fails.
    pub async fn answer_challenge(&self, digest: &str, agent: AgentId, factor: SecondFactor<'_>) -> Result<(), Error> {
        if let Err(e) = self.verify(agent, factor).await {
            self.store.fail_mfa_challenge(digest).await?;
            return Err(e);
        }
        if !self.store.consume_mfa_challenge(digest).await? {
            return Err(Error::Unauthorized("the sign-in has expired: enter your password again".into()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn rfc6238_sha1_vectors() {
        // RFC 6238, appendix B, with 6 of the 8 digits.
        let totp = totp(b"12345678901234567890".to_vec()).unwrap();
        assert_eq!(totp.generate(59), "287082");
        assert_eq!(totp.generate(1_111_111_109), "081804");
        assert_eq!(matching_step(&totp, "081804", 1_111_111_109), Some(1_111_111_109 / 30));
        // One step of skew either way, not two.
        assert!(matching_step(&totp, "081804", 1_111_111_109 + 30).is_some());
        assert!(matching_step(&totp, "081804", 1_111_111_109 + 61).is_none());
        assert!(matching_step(&totp, "08180", 1_111_111_109).is_none());
        assert!(matching_step(&totp, "abcdef", 1_111_111_109).is_none());
    }

    #[test]
    fn recovery_codes_are_distinct_and_normalised() {
        let (codes, digests) = new_recovery_codes();
        assert_eq!(codes.0.len(), RECOVERY_CODES);
        assert_eq!(digests.len(), RECOVERY_CODES);
        let first = &codes.0[0];
        assert_eq!(first.len(), CODE_CHARS + 1);
        assert_eq!(digest(&normalize_recovery(&format!(" {} ", first.to_uppercase()))), digests[0]);
        let mut unique = codes.0.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), RECOVERY_CODES);
    }

    #[test]
    fn uri_parts_are_percent_encoded() {
        assert_eq!(percent("a b@c+d"), "a%20b%40c%2Bd");
    }
}
