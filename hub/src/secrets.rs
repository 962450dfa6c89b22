//! Encryption of stored secrets (platform tokens and app secrets): XChaCha20-Poly1305 with a key
//! that lives outside the database, so a copy of the database alone reveals no secret.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng};
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

/// Seals and opens secrets.
pub struct SecretBox(XChaCha20Poly1305);

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(..)")
    }
}

const PREFIX: &str = "v1:";

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

    /// Encrypts `plain` with a fresh random nonce.
    ///
    /// # Errors
    /// Only for absurdly large input.
    pub fn seal(&self, plain: &[u8]) -> Result<String, SecretsError> {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let sealed = self.0.encrypt(&nonce, plain).map_err(|_| SecretsError::Encrypt)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(format!("{PREFIX}{}", B64.encode(out)))
    }

    /// Decrypts what [`SecretBox::seal`] produced.
    ///
    /// # Errors
    /// A wrong key, or altered data.
    pub fn open(&self, sealed: &str) -> Result<Vec<u8>, SecretsError> {
        let raw = sealed.strip_prefix(PREFIX).ok_or(SecretsError::Undecryptable)?;
        let raw = B64.decode(raw).map_err(|_| SecretsError::Undecryptable)?;
        if raw.len() < 24 {
            return Err(SecretsError::Undecryptable);
        }
        let (nonce, body) = raw.split_at(24);
        self.0.decrypt(XNonce::from_slice(nonce), body).map_err(|_| SecretsError::Undecryptable)
    }
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
        let sealed = a.seal(b"EAAG-token").unwrap();
        assert!(!sealed.contains("EAAG"));
        assert_eq!(a.open(&sealed).unwrap(), b"EAAG-token");
        // The same key file opens it again; another key does not.
        assert_eq!(SecretBox::load(None, &file).unwrap().open(&sealed).unwrap(), b"EAAG-token");
        let other = SecretBox::load(Some(&B64.encode([7u8; 32])), &file).unwrap();
        assert!(other.open(&sealed).is_err());
        let mut tampered = sealed.clone();
        tampered.pop();
        tampered.push('A');
        assert!(a.open(&tampered).is_err());
        assert!(a.open("garbage").is_err());
        assert!(SecretBox::load(Some("short"), &file).is_err());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
