//! HTTP Digest authentication for REGISTER (RFC 2617, RFC 7616; RFC 3261 §22): MD5 and SHA-256,
//! `qop=auth`, stateless nonces that carry their own issue time under an HMAC, `stale=true` when
//! a correct response used an expired nonce.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use md5::{Digest as _, Md5};
use schema::AgentId;
use sha2::Sha256;

/// What the hub knows about one SIP user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SipAccount {
    /// The agent this softphone account belongs to.
    pub agent: AgentId,
    pub secret: DigestSecret,
}

/// The secret a digest response is checked against.
#[derive(Clone, PartialEq, Eq)]
pub enum DigestSecret {
    /// The clear password (allows MD5 and SHA-256).
    Password(String),
    /// `MD5(username:realm:password)` in lower-case hex, as many PBXs store it (MD5 only).
    Md5Ha1(String),
}

impl std::fmt::Debug for DigestSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Password(_) => "Password(..)",
            Self::Md5Ha1(_) => "Md5Ha1(..)",
        })
    }
}

/// The hub's lookup of softphone accounts. Called on the SIP core task for every REGISTER, so it
/// must answer from memory (a map refreshed from the store), never block on I/O.
pub trait SipCredentials: Send + Sync + 'static {
    /// The account of `username` in `realm`, if there is one.
    fn account(&self, username: &str, realm: &str) -> Option<SipAccount>;
}

/// A digest algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    Md5,
    Sha256,
}

impl Algorithm {
    fn parse(s: Option<&str>) -> Option<Self> {
        match s.map(str::to_ascii_uppercase).as_deref() {
            None | Some("MD5") => Some(Self::Md5),
            Some("SHA-256") => Some(Self::Sha256),
            _ => None,
        }
    }

    fn hash(self, data: &str) -> String {
        let bytes: Vec<u8> = match self {
            Self::Md5 => Md5::digest(data.as_bytes()).to_vec(),
            Self::Sha256 => Sha256::digest(data.as_bytes()).to_vec(),
        };
        hex(&bytes)
    }
}

/// `MD5(username:realm:password)` in lower-case hex: what a registrar may store instead of the
/// password ([`DigestSecret::Md5Ha1`]).
#[must_use]
pub fn md5_ha1(username: &str, realm: &str, password: &str) -> String {
    Algorithm::Md5.hash(&format!("{username}:{realm}:{password}"))
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// The parsed `Authorization: Digest …` header.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DigestResponse {
    pub username: String,
    pub realm: String,
    pub nonce: String,
    pub uri: String,
    pub response: String,
    pub algorithm: Option<String>,
    pub cnonce: Option<String>,
    pub qop: Option<String>,
    pub nc: Option<String>,
}

impl DigestResponse {
    /// Parses an Authorization header value; `None` unless it is a Digest one with the required
    /// fields.
    #[must_use]
    pub fn parse(value: &str) -> Option<Self> {
        let value = value.trim();
        let scheme = value.get(..6)?;
        if !scheme.eq_ignore_ascii_case("digest") {
            return None;
        }
        let mut out = Self::default();
        let (mut username, mut realm, mut nonce, mut uri, mut response) = (None, None, None, None, None);
        for (k, v) in auth_params(&value[6..]) {
            match k.to_ascii_lowercase().as_str() {
                "username" => username = Some(v),
                "realm" => realm = Some(v),
                "nonce" => nonce = Some(v),
                "uri" => uri = Some(v),
                "response" => response = Some(v),
                "algorithm" => out.algorithm = Some(v),
                "cnonce" => out.cnonce = Some(v),
                "qop" => out.qop = Some(v),
                "nc" => out.nc = Some(v),
                _ => {}
            }
        }
        out.username = username?;
        out.realm = realm?;
        out.nonce = nonce?;
        out.uri = uri?;
        out.response = response?;
        Some(out)
    }
}

/// `k=v, k="quoted, value"` pairs.
fn auth_params(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace() || *c == ',') {
            chars.next();
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c == ',' {
                break;
            }
            key.push(c);
            chars.next();
        }
        if key.trim().is_empty() {
            break;
        }
        let mut val = String::new();
        if chars.peek() == Some(&'=') {
            chars.next();
            while chars.peek().is_some_and(|c| c.is_whitespace()) {
                chars.next();
            }
            if chars.peek() == Some(&'"') {
                chars.next();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            if let Some(n) = chars.next() {
                                val.push(n);
                            }
                        }
                        '"' => break,
                        c => val.push(c),
                    }
                }
            } else {
                while let Some(&c) = chars.peek() {
                    if c == ',' {
                        break;
                    }
                    val.push(c);
                    chars.next();
                }
            }
        }
        out.push((key.trim().to_owned(), val.trim().to_owned()));
        if out.len() > 32 {
            break;
        }
    }
    out
}

/// The verdict on a REGISTER's credentials.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DigestOutcome {
    /// The response verifies with a fresh nonce.
    Valid { agent: AgentId, username: String },
    /// The response verifies but the nonce expired: challenge again with `stale=true`.
    Stale,
    /// No Authorization header (or not a Digest one for our realm): challenge.
    Missing,
    /// Wrong password, unknown user, forged nonce, or unsupported algorithm.
    Invalid { username: String },
}

/// Issues and checks nonces; checks digest responses.
#[derive(Clone)]
pub struct DigestAuth {
    realm: String,
    key: [u8; 32],
    nonce_ttl: Duration,
}

impl std::fmt::Debug for DigestAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DigestAuth").field("realm", &self.realm).field("nonce_ttl", &self.nonce_ttl).finish()
    }
}

type HmacSha256 = Hmac<Sha256>;

fn unix_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl DigestAuth {
    /// A verifier for `realm` whose nonces live `nonce_ttl`, signed with `key`.
    #[must_use]
    pub fn new(realm: impl Into<String>, key: [u8; 32], nonce_ttl: Duration) -> Self {
        Self { realm: realm.into(), key, nonce_ttl }
    }

    fn mac(&self, ts: u64) -> String {
        // A 32-byte key is always a valid HMAC key; fall back to an empty MAC (which never verifies) otherwise.
        let Ok(mut mac) = HmacSha256::new_from_slice(&self.key) else { return String::new() };
        mac.update(&ts.to_be_bytes());
        hex(&mac.finalize().into_bytes()[..16])
    }

    /// A fresh nonce: `<unix seconds hex>.<HMAC>`.
    #[must_use]
    pub fn nonce(&self) -> String {
        self.nonce_at(unix_secs())
    }

    fn nonce_at(&self, ts: u64) -> String {
        format!("{ts:x}.{}", self.mac(ts))
    }

    /// `None`: forged. `Some(true)`: genuine and fresh. `Some(false)`: genuine but expired.
    fn check_nonce(&self, nonce: &str) -> Option<bool> {
        let (ts, mac) = nonce.split_once('.')?;
        let ts = u64::from_str_radix(ts, 16).ok()?;
        let expected = self.mac(ts);
        if !super::constant_time_eq(expected.as_bytes(), mac.as_bytes()) {
            return None;
        }
        Some(unix_secs().saturating_sub(ts) <= self.nonce_ttl.as_secs())
    }

    /// The `WWW-Authenticate` value of a challenge.
    #[must_use]
    pub fn challenge(&self, stale: bool) -> String {
        let mut v = format!("Digest realm=\"{}\", nonce=\"{}\", algorithm=MD5, qop=\"auth\"", self.realm, self.nonce());
        if stale {
            v.push_str(", stale=true");
        }
        v
    }

    /// Checks the Authorization header of a request with `method`.
    pub fn verify(&self, header: Option<&str>, method: &str, creds: &dyn SipCredentials) -> DigestOutcome {
        let Some(resp) = header.and_then(DigestResponse::parse) else { return DigestOutcome::Missing };
        if resp.realm != self.realm {
            return DigestOutcome::Missing;
        }
        let invalid = || DigestOutcome::Invalid { username: resp.username.clone() };
        let Some(fresh) = self.check_nonce(&resp.nonce) else { return invalid() };
        let Some(alg) = Algorithm::parse(resp.algorithm.as_deref()) else { return invalid() };
        let Some(account) = creds.account(&resp.username, &self.realm) else { return invalid() };
        let ha1 = match (&account.secret, alg) {
            (DigestSecret::Password(p), alg) => alg.hash(&format!("{}:{}:{p}", resp.username, self.realm)),
            (DigestSecret::Md5Ha1(h), Algorithm::Md5) => h.to_ascii_lowercase(),
            (DigestSecret::Md5Ha1(_), Algorithm::Sha256) => return invalid(),
        };
        let ha2 = alg.hash(&format!("{method}:{}", resp.uri));
        let expected = match resp.qop.as_deref() {
            Some("auth") => {
                let (Some(nc), Some(cnonce)) = (&resp.nc, &resp.cnonce) else { return invalid() };
                alg.hash(&format!("{ha1}:{}:{nc}:{cnonce}:auth:{ha2}", resp.nonce))
            }
            None => alg.hash(&format!("{ha1}:{}:{ha2}", resp.nonce)),
            Some(_) => return invalid(),
        };
        if !super::constant_time_eq(expected.as_bytes(), resp.response.to_ascii_lowercase().as_bytes()) {
            return invalid();
        }
        if !fresh {
            return DigestOutcome::Stale;
        }
        DigestOutcome::Valid { agent: account.agent, username: resp.username }
    }
}

/// Computes a client's digest response (for tests and tools).
#[allow(clippy::too_many_arguments, reason = "mirrors the fields of RFC 7616 §3.4.1 one to one")]
#[must_use]
pub fn client_response(
    alg: Algorithm,
    username: &str,
    realm: &str,
    password: &str,
    method: &str,
    uri: &str,
    nonce: &str,
    nc_cnonce: Option<(&str, &str)>,
) -> String {
    let ha1 = alg.hash(&format!("{username}:{realm}:{password}"));
    let ha2 = alg.hash(&format!("{method}:{uri}"));
    match nc_cnonce {
        Some((nc, cnonce)) => alg.hash(&format!("{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}")),
        None => alg.hash(&format!("{ha1}:{nonce}:{ha2}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct One(AgentId, DigestSecret);
    impl SipCredentials for One {
        fn account(&self, username: &str, _realm: &str) -> Option<SipAccount> {
            (username == "alice").then(|| SipAccount { agent: self.0, secret: self.1.clone() })
        }
    }

    fn header(alg: Algorithm, password: &str, nonce: &str) -> String {
        let r = client_response(alg, "alice", "sb", password, "REGISTER", "sip:sb", nonce, Some(("00000001", "xyz")));
        let a = if alg == Algorithm::Md5 { "MD5" } else { "SHA-256" };
        format!(
            "Digest username=\"alice\", realm=\"sb\", nonce=\"{nonce}\", uri=\"sip:sb\", response=\"{r}\", algorithm={a}, cnonce=\"xyz\", qop=auth, nc=00000001"
        )
    }

    #[test]
    fn verifies_md5_and_sha256_and_flags_stale_nonces() {
        let agent = AgentId::new();
        let auth = DigestAuth::new("sb", [7; 32], Duration::from_secs(60));
        let creds = One(agent, DigestSecret::Password("s3cret".into()));
        let nonce = auth.nonce();
        for alg in [Algorithm::Md5, Algorithm::Sha256] {
            let out = auth.verify(Some(&header(alg, "s3cret", &nonce)), "REGISTER", &creds);
            assert_eq!(out, DigestOutcome::Valid { agent, username: "alice".into() });
            let bad = auth.verify(Some(&header(alg, "wrong", &nonce)), "REGISTER", &creds);
            assert_eq!(bad, DigestOutcome::Invalid { username: "alice".into() });
        }
        let old = auth.nonce_at(unix_secs() - 3600);
        assert_eq!(
            auth.verify(Some(&header(Algorithm::Md5, "s3cret", &old)), "REGISTER", &creds),
            DigestOutcome::Stale
        );
        let forged = format!("{:x}.00000000000000000000000000000000", unix_secs());
        assert!(matches!(
            auth.verify(Some(&header(Algorithm::Md5, "s3cret", &forged)), "REGISTER", &creds),
            DigestOutcome::Invalid { .. }
        ));
        assert_eq!(auth.verify(None, "REGISTER", &creds), DigestOutcome::Missing);
        assert_eq!(auth.verify(Some("Basic abc"), "REGISTER", &creds), DigestOutcome::Missing);
        assert!(auth.challenge(true).ends_with("stale=true"));
    }

    #[test]
    fn accepts_a_stored_md5_ha1() {
        let agent = AgentId::new();
        let auth = DigestAuth::new("sb", [1; 32], Duration::from_secs(60));
        // RFC 2617 §3.5's example: HA1 of Mufasa in testrealm@host.com.
        assert_eq!(md5_ha1("Mufasa", "testrealm@host.com", "Circle Of Life"), "939e7578ed9e3c518a452acee763bce9");
        let ha1 = md5_ha1("alice", "sb", "pw");
        let creds = One(agent, DigestSecret::Md5Ha1(ha1));
        let nonce = auth.nonce();
        assert!(matches!(
            auth.verify(Some(&header(Algorithm::Md5, "pw", &nonce)), "REGISTER", &creds),
            DigestOutcome::Valid { .. }
        ));
        assert!(matches!(
            auth.verify(Some(&header(Algorithm::Sha256, "pw", &nonce)), "REGISTER", &creds),
            DigestOutcome::Invalid { .. }
        ));
    }
}
