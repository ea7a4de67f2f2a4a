//! The keys licence files are signed with: Gatehouse configuration, never
//! in the database and never logged. Several may be live at once so they
//! rotate: the newest `active` key signs new files, a `retiring` one still
//! verifies the files it signed, a `revoked` one verifies nothing. The set
//! is published (public halves only) at `GET /api/v1/licensing/keys`.
//!
//! The text form, one key a line (`#` starts a comment):
//!
//! ```text
//! gh-2026-01 retiring 9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60
//! gh-2026-02 active   4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb
//! ```
//!
//! Each line: the key id, its status, its 32-byte secret seed in hex. One
//! more line, `secret <64 hex digits>`, is the licensing secret, which never
//! rotates: each licence's key is derived from it (so the portal can show a
//! key that the database keeps only hashed) and instance ids are kept as its
//! HMAC. Without that line the first key's seed stands in for it, so keep
//! that key listed (`revoked` if need be) or write the line before rotating.

use license::SigningKey;
use sha2::{Digest, Sha256};
use std::fmt;

/// Where a key is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyStatus {
    /// Signs new files.
    Active,
    /// Signs nothing new; its files still verify.
    Retiring,
    /// Trusted no more: installs drop it, its files stop verifying.
    Revoked,
}

impl KeyStatus {
    /// The word in the key file and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyStatus::Active => "active",
            KeyStatus::Retiring => "retiring",
            KeyStatus::Revoked => "revoked",
        }
    }

    fn parse(word: &str) -> Option<Self> {
        match word {
            "active" => Some(KeyStatus::Active),
            "retiring" => Some(KeyStatus::Retiring),
            "revoked" => Some(KeyStatus::Revoked),
            _ => None,
        }
    }
}

/// One signing key.
#[derive(Clone)]
pub struct SigningKeyEntry {
    /// The id files name it by.
    pub id: String,
    /// Where it is in its life.
    pub status: KeyStatus,
    /// The secret half.
    pub key: SigningKey,
}

impl fmt::Debug for SigningKeyEntry {
    /// Never the secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKeyEntry({} {})", self.id, self.status.as_str())
    }
}

/// A key as published: id, status and public half (base64).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PublishedKey {
    /// The key id.
    pub id: String,
    /// `active`, `retiring` or `revoked`.
    pub status: KeyStatus,
    /// The algorithm (`ed25519`).
    pub algorithm: String,
    /// The 32-byte public key, base64.
    pub public_key: String,
}

/// The configured keys.
#[derive(Clone)]
pub struct SigningKeys {
    keys: Vec<SigningKeyEntry>,
    /// The licensing secret (see the module's text).
    secret: [u8; 32],
}

impl fmt::Debug for SigningKeys {
    /// Never a secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(&self.keys).finish()
    }
}

/// Why a key text cannot be used, naming the line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeysError {
    /// A line is not `id status hex-seed` (or `secret hex`).
    #[error(
        "licence signing keys, line {0}: expected `key-id active|retiring|revoked <64 hex digits>` or `secret <64 hex digits>`"
    )]
    Line(usize),
    /// Two lines name one id.
    #[error("licence signing keys: the id {0:?} is given twice")]
    Duplicate(String),
    /// No key is active, so nothing could be signed.
    #[error("licence signing keys: no key is active")]
    NoActive,
}

impl SigningKeys {
    /// Reads the text form.
    pub fn parse(text: &str) -> Result<Self, KeysError> {
        let mut keys: Vec<SigningKeyEntry> = Vec::new();
        let mut secret = None;
        let seed_of = |hex_text: &str, number: usize| -> Result<[u8; 32], KeysError> {
            hex::decode(hex_text)
                .ok()
                .and_then(|bytes| bytes.try_into().ok())
                .ok_or(KeysError::Line(number + 1))
        };
        for (number, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or_default().trim();
            if line.is_empty() {
                continue;
            }
            let fields: Vec<&str> = line.split_whitespace().collect();
            if let ["secret", value] = fields[..] {
                if secret.replace(seed_of(value, number)?).is_some() {
                    return Err(KeysError::Duplicate("secret".to_owned()));
                }
                continue;
            }
            let [id, status, seed] = fields[..] else {
                return Err(KeysError::Line(number + 1));
            };
            let status = KeyStatus::parse(status).ok_or(KeysError::Line(number + 1))?;
            let seed = seed_of(seed, number)?;
            if !license::file::is_key_id(id) {
                return Err(KeysError::Line(number + 1));
            }
            if keys.iter().any(|k| k.id == id) {
                return Err(KeysError::Duplicate(id.to_owned()));
            }
            keys.push(SigningKeyEntry {
                id: id.to_owned(),
                status,
                key: SigningKey::from_bytes(&seed),
            });
        }
        if !keys.iter().any(|k| k.status == KeyStatus::Active) {
            return Err(KeysError::NoActive);
        }
        let secret = secret.unwrap_or_else(|| {
            let first = keys[0].key.to_bytes();
            Sha256::digest([&b"gatehouse-licensing-secret:"[..], &first].concat()).into()
        });
        Ok(SigningKeys { keys, secret })
    }

    /// A new set of one active key `id` made from `seed`, and the licensing
    /// secret (32 random bytes each, drawn by the caller from a secure
    /// source), in the text form.
    pub fn generate_text(id: &str, seed: [u8; 32], secret: [u8; 32]) -> String {
        format!(
            "# Gatehouse licence signing keys: keep secret, back up, share with every instance.\n\
             # The secret line never changes: licence keys are derived from it.\n\
             secret {}\n{id} active {}\n",
            hex::encode(secret),
            hex::encode(seed)
        )
    }

    /// The key of the licence `license_id` issued in `year`: derived from
    /// the licensing secret, so it can be shown again while only its hash
    /// is stored.
    pub fn license_key(
        &self,
        license_id: uuid::Uuid,
        year: u16,
    ) -> Result<license::LicenseKey, license::KeyError> {
        let digest = self.mac(b"license-key", license_id.as_bytes());
        let mut random = [0u8; 8];
        random.copy_from_slice(&digest[..8]);
        license::LicenseKey::new(year, u64::from_le_bytes(random))
    }

    /// An operator's container instance id as kept: its HMAC, stable across
    /// signing-key rotations.
    pub fn instance_hmac(&self, instance_id: &str) -> Vec<u8> {
        self.mac(b"instance-id", instance_id.as_bytes())
    }

    fn mac(&self, purpose: &[u8], message: &[u8]) -> Vec<u8> {
        use hmac::Mac;
        let mut mac =
            hmac::Hmac::<Sha256>::new_from_slice(&self.secret).expect("HMAC takes a key of any length");
        mac.update(purpose);
        mac.update(b":");
        mac.update(message);
        mac.finalize().into_bytes().to_vec()
    }

    /// The key new files are signed with: the last active one listed.
    pub fn signer(&self) -> &SigningKeyEntry {
        self.keys
            .iter()
            .rev()
            .find(|k| k.status == KeyStatus::Active)
            .unwrap_or(&self.keys[0])
    }

    /// The public set, as published.
    pub fn published(&self) -> Vec<PublishedKey> {
        use base64::Engine;
        self.keys
            .iter()
            .map(|k| PublishedKey {
                id: k.id.clone(),
                status: k.status,
                algorithm: "ed25519".to_owned(),
                public_key: base64::engine::general_purpose::STANDARD
                    .encode(k.key.verifying_key().to_bytes()),
            })
            .collect()
    }

    /// The keys an install should trust: every one not revoked.
    pub fn trusted(&self) -> Vec<license::TrustedKey> {
        self.keys
            .iter()
            .filter(|k| k.status != KeyStatus::Revoked)
            .map(|k| license::TrustedKey {
                id: k.id.clone(),
                key: k.key.verifying_key(),
            })
            .collect()
    }
}

/// The licence signing keys, as the server provided them to the request
/// (`None`: licensing is off on this Gatehouse).
#[derive(Clone, Default)]
pub struct LicenseKeys(pub Option<std::sync::Arc<SigningKeys>>);

/// This Gatehouse's [`LicenseKeys`].
#[cfg(feature = "ssr")]
pub fn license_keys() -> Result<Option<std::sync::Arc<SigningKeys>>, crate::error::AppError> {
    Ok(crate::context::provided::<LicenseKeys>()?.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# comment\n\
        gh-1 retiring 9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60\n\
        \n\
        gh-2 active 4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb  # newest\n\
        gh-0 revoked c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7\n";

    #[test]
    fn the_newest_active_key_signs_and_the_unrevoked_ones_are_trusted() {
        let keys = SigningKeys::parse(TEXT).unwrap();
        assert_eq!(keys.signer().id, "gh-2");
        let trusted: Vec<String> = keys.trusted().into_iter().map(|k| k.id).collect();
        assert_eq!(trusted, ["gh-1", "gh-2"]);
        let published = keys.published();
        assert_eq!(published.len(), 3);
        assert_eq!(published[2].status, KeyStatus::Revoked);
        // RFC 8032's first test vector: this seed's public key.
        assert_eq!(
            published[0].public_key,
            "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
        );
        assert!(
            !format!("{keys:?}").contains("9d61b1"),
            "debug output holds no secret"
        );
    }

    #[test]
    fn bad_key_text_names_the_line() {
        for (text, error) in [
            ("gh-1 active 00", KeysError::Line(1)),
            (
                "\ngh-1 sleeping 9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
                KeysError::Line(2),
            ),
            (
                "gh 1 active 9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
                KeysError::Line(1),
            ),
            (
                "gh-1 retiring 9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
                KeysError::NoActive,
            ),
            ("", KeysError::NoActive),
        ] {
            assert_eq!(SigningKeys::parse(text).unwrap_err(), error, "{text:?}");
        }
        let twice = "k active 9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60\n\
                     k retiring 4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb";
        assert_eq!(
            SigningKeys::parse(twice).unwrap_err(),
            KeysError::Duplicate("k".into())
        );
    }

    #[test]
    fn generated_text_reads_back_as_one_active_key() {
        let text = SigningKeys::generate_text("gh-2026-12", [7; 32], [8; 32]);
        let keys = SigningKeys::parse(&text).unwrap();
        assert_eq!(keys.signer().id, "gh-2026-12");
        assert_eq!(keys.signer().key.to_bytes(), [7; 32]);
        assert!(
            !format!("{keys:?}").contains("0808"),
            "debug output holds no secret"
        );
    }

    #[test]
    fn licence_keys_come_from_the_secret_and_survive_rotation() {
        let id = uuid::Uuid::from_u128(42);
        let first = SigningKeys::parse(&SigningKeys::generate_text("gh-1", [7; 32], [8; 32])).unwrap();
        let key = first.license_key(id, 2026).unwrap();
        assert!(key.as_str().starts_with("2026-"));
        assert_eq!(first.license_key(id, 2026).unwrap(), key, "the same every time");
        assert_ne!(first.license_key(uuid::Uuid::from_u128(43), 2026).unwrap(), key);
        // Rotated: the old key retires, a new one signs; the secret line stays.
        let rotated = SigningKeys::parse(
            "secret 0808080808080808080808080808080808080808080808080808080808080808\n\
             gh-1 retiring 0707070707070707070707070707070707070707070707070707070707070707\n\
             gh-2 active 0909090909090909090909090909090909090909090909090909090909090909",
        )
        .unwrap();
        assert_eq!(rotated.signer().id, "gh-2");
        assert_eq!(rotated.license_key(id, 2026).unwrap(), key);
        assert_eq!(rotated.instance_hmac("pod-1"), first.instance_hmac("pod-1"));
        // Without a secret line, the first key's seed stands in for it.
        let other = SigningKeys::parse(TEXT).unwrap();
        assert_ne!(other.license_key(id, 2026).unwrap(), key);
        assert_eq!(
            SigningKeys::parse(&format!("{TEXT}\nsecret 00\n")).unwrap_err(),
            KeysError::Line(7)
        );
    }
}
