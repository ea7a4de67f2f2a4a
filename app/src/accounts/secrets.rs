//! Password hashing and single-use tokens (server only).

use super::domain::Password;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::sync::OnceLock;

/// argon2id at OWASP's recommended floor: 19 MiB, 2 iterations, 1 lane.
fn hasher() -> Argon2<'static> {
    // These constants are within argon2's documented bounds.
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes a password off the async runtime (it takes tens of milliseconds).
pub async fn hash_password(password: &Password) -> anyhow::Result<String> {
    let secret = password.expose().to_owned();
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
        hasher()
            .hash_password(secret.as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|e| anyhow::anyhow!("Failed to hash password: {e}"))
    })
    .await?
}

/// A hash of a random password, verified against when the account does not
/// exist, so a wrong email costs the same time as a wrong password.
fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| {
        let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
        hasher()
            .hash_password(new_token().as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .unwrap_or_default()
    })
}

/// Checks `password` against `stored` (or against a decoy when there is no
/// account), off the async runtime and in the same time either way.
pub async fn verify_password(password: &str, stored: Option<String>) -> bool {
    let secret = password.to_owned();
    tokio::task::spawn_blocking(move || {
        let exists = stored.is_some();
        let hash = stored.unwrap_or_else(|| decoy_hash().to_owned());
        let matches = PasswordHash::new(&hash)
            .map(|parsed| hasher().verify_password(secret.as_bytes(), &parsed).is_ok())
            .unwrap_or(false);
        exists && matches
    })
    .await
    .unwrap_or(false)
}

/// A fresh 256-bit token, URL-safe. Only its hash is ever stored.
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The stored form of a token.
pub fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.trim().as_bytes()).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hashed_password_verifies_and_a_wrong_one_does_not() {
        let password = Password::parse("correct horse battery").unwrap();
        let hash = hash_password(&password).await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
        assert!(verify_password("correct horse battery", Some(hash.clone())).await);
        assert!(!verify_password("correct horse batterx", Some(hash)).await);
        assert!(!verify_password("correct horse battery", None).await);
    }

    #[test]
    fn tokens_are_unique_and_only_their_hash_is_kept() {
        let a = new_token();
        let b = new_token();
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert_eq!(token_hash(&a), token_hash(&a));
        assert_ne!(token_hash(&a), token_hash(&b));
    }
}
