//! Encryption of stored secrets (platform tokens and app secrets, the web chat token secret):
//! XChaCha20-Poly1305 with a key that lives outside the database, so a copy of the database alone
//! reveals no secret. Each sealed value is bound (AEAD associated data) to what it belongs to, e.g.
//! its platform account: moved to another row, it no longer opens.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

/// Why secrets cannot be sealed or opened.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error("the secrets key must be 32 bytes, base64-encoded")]
    BadKey,
    #[error("cannot read or create the secrets key file {path}: {source}")]
    KeyFile { path: String, source: std::io::Error },
    #[error("a stored secret cannot be decrypted (wrong key, or the data was altered)")]
    Undecryptable,
    #[error("encryption failed")]
    Encrypt,
}

/// Seals and opens secrets. Cheap to clone: every service that keeps secrets holds a copy of the
/// one key loaded at start.
#[derive(Clone)]
pub struct SecretBox(XChaCha20Poly1305);

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(..)")
    }
}

/// Sealed with associated data naming what the secret belongs to.
const PREFIX: &str = "v2:";
/// Sealed by earlier versions, without associated data: only opened to be sealed again
/// ([`SecretBox::open_unbound`]), at start.
const UNBOUND_PREFIX: &str = "v1:";
const NONCE_LEN: usize = 24;

impl SecretBox {
    /// The key from `key` (base64) if given, else from `key_file`, created with a new random
    /// key (mode 0600) when it does not exist.
    ///
    /// # Errors
    /// A key that is not 32 bytes of base64, or a key file that cannot be read or written.
    pub fn load(key: Option<&str>, key_file: &Path) -> Result<Self, SecretsError> {
        let encoded = match key {
            Some(k) => k.trim().to_owned(),
            None => read_or_create(key_file)?,
        };
        let bytes = B64.decode(encoded).map_err(|_| SecretsError::BadKey)?;
        let cipher = XChaCha20Poly1305::new_from_slice(&bytes).map_err(|_| SecretsError::BadKey)?;
        Ok(Self(cipher))
    }

    /// Encrypts `plain` with a fresh random nonce, bound to `owner` (associated data: what the
    /// secret belongs to, e.g. `social_account:<id>`), which [`SecretBox::open`] must name again.
    ///
    /// # Errors
    /// Only for absurdly large input.
    pub fn seal(&self, plain: &[u8], owner: &str) -> Result<String, SecretsError> {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let sealed =
            self.0.encrypt(&nonce, Payload { msg: plain, aad: owner.as_bytes() }).map_err(|_| SecretsError::Encrypt)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(format!("{PREFIX}{}", B64.encode(out)))
    }

    /// Decrypts what [`SecretBox::seal`] sealed for `owner`.
    ///
    /// # Errors
    /// A wrong key, another owner, altered data, or a value sealed without an owner.
    pub fn open(&self, sealed: &str, owner: &str) -> Result<Vec<u8>, SecretsError> {
        let (nonce, body) = split(sealed.strip_prefix(PREFIX).ok_or(SecretsError::Undecryptable)?)?;
        self.0
            .decrypt(XNonce::from_slice(&nonce), Payload { msg: &body, aad: owner.as_bytes() })
            .map_err(|_| SecretsError::Undecryptable)
    }

    /// Whether `stored` is a value [`SecretBox::seal`] made (rather than one sealed by an earlier
    /// version without an owner, or a secret stored in clear).
    #[must_use]
    pub fn is_sealed(stored: &str) -> bool {
        stored.starts_with(PREFIX)
    }

    /// Decrypts a value sealed by an earlier version, without an owner, so that it can be sealed
    /// again with one; `None` if `stored` is not such a value.
    ///
    /// # Errors
    /// A wrong key, or altered data.
    pub fn open_unbound(&self, stored: &str) -> Option<Result<Vec<u8>, SecretsError>> {
        let raw = stored.strip_prefix(UNBOUND_PREFIX)?;
        Some(split(raw).and_then(|(nonce, body)| {
            self.0.decrypt(XNonce::from_slice(&nonce), body.as_slice()).map_err(|_| SecretsError::Undecryptable)
        }))
    }
}

/// The nonce and the ciphertext of a sealed value's base64 text.
fn split(b64: &str) -> Result<(Vec<u8>, Vec<u8>), SecretsError> {
    let mut raw = B64.decode(b64).map_err(|_| SecretsError::Undecryptable)?;
    if raw.len() < NONCE_LEN {
        return Err(SecretsError::Undecryptable);
    }
    let body = raw.split_off(NONCE_LEN);
    Ok((raw, body))
}

fn read_or_create(path: &Path) -> Result<String, SecretsError> {
    let err = |source| SecretsError::KeyFile { path: path.display().to_string(), source };
    match std::fs::read_to_string(path) {
        Ok(s) => Ok(s),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(err)?;
            }
            let key = B64.encode(XChaCha20Poly1305::generate_key(&mut OsRng));
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options.open(path).map_err(err)?;
            std::io::Write::write_all(&mut file, key.as_bytes()).map_err(err)?;
            tracing::warn!(path = %path.display(), "created a new secrets key: back it up, stored secrets need it");
            Ok(key)
        }
        Err(e) => Err(err(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_opens_and_detects_tampering() {
        let dir = std::env::temp_dir().join(format!("sb-secrets-{}", std::process::id()));
        let file = dir.join("key");
        let a = SecretBox::load(None, &file).unwrap();
        let sealed = a.seal(b"EAAG-token", "acct-1").unwrap();
        assert!(!sealed.contains("EAAG"));
        assert!(SecretBox::is_sealed(&sealed));
        assert_eq!(a.open(&sealed, "acct-1").unwrap(), b"EAAG-token");
        // Bound to its owner: another owner's name does not open it.
        assert!(a.open(&sealed, "acct-2").is_err());
        // The same key file opens it again; another key does not.
        assert_eq!(SecretBox::load(None, &file).unwrap().open(&sealed, "acct-1").unwrap(), b"EAAG-token");
        let other = SecretBox::load(Some(&B64.encode([7u8; 32])), &file).unwrap();
        assert!(other.open(&sealed, "acct-1").is_err());
        let mut tampered = sealed.clone();
        tampered.pop();
        tampered.push('A');
        assert!(a.open(&tampered, "acct-1").is_err());
        assert!(a.open("garbage", "acct-1").is_err());
        assert!(!SecretBox::is_sealed("bm90IHNlYWxlZA=="));
        assert!(SecretBox::load(Some("short"), &file).is_err());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn values_sealed_without_an_owner_open_only_to_be_sealed_again() {
        let key = B64.encode([3u8; 32]);
        let file = std::env::temp_dir().join("sb-secrets-unused");
        let b = SecretBox::load(Some(&key), &file).unwrap();
        // What earlier versions stored: "v1:" + base64(nonce || ciphertext), no associated data.
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let mut raw = nonce.to_vec();
        raw.extend(b.0.encrypt(&nonce, b"old-token".as_slice()).unwrap());
        let legacy = format!("v1:{}", B64.encode(raw));
        assert!(!SecretBox::is_sealed(&legacy));
        assert!(b.open(&legacy, "acct-1").is_err(), "an unbound value is not accepted as bound");
        assert_eq!(b.open_unbound(&legacy).unwrap().unwrap(), b"old-token");
        assert!(b.open_unbound("in clear").is_none());
    }
}
