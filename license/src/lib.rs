//! Verifies a Gatehouse licence file offline, for a self-hosted product to
//! embed: no I/O, no async, no clock of its own. Given the file (if any),
//! the public keys it trusts, the time and this machine's fingerprint, it
//! answers whether the install is licensed, in its grace period, lapsed,
//! or could not verify the file, with the reason and the entitlements.
//!
//! ```
//! use license::{Check, Standing, TrustedKey};
//!
//! // Published at GET /api/v1/licensing/keys; shipped with the product.
//! let trusted = [TrustedKey::from_base64("gh-2026-01", "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=").unwrap()];
//! let file = std::fs::read_to_string("/etc/acme/licence.txt").ok();
//! let verdict = license::check(&Check {
//!     file: file.as_deref(),
//!     trusted: &trusted,
//!     now: 1_790_000_000,          // the install's clock, in Unix seconds
//!     fingerprint: Some("host-7f3a"),
//!     watermark: None,             // the last verdict's, persisted by the caller
//! });
//! match verdict.standing {
//!     Standing::Licensed | Standing::InGrace { .. } => { /* run as licensed */ }
//!     Standing::Lapsed { .. } => { /* degrade as the licence says */ }
//!     Standing::NoFile | Standing::Unverifiable(_) => { /* ask for a licence */ }
//! }
//! // Keep verdict.watermark: a clock set back cannot buy time.
//! ```

pub mod file;
pub mod key;
pub mod offline;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::Signature;
use serde::{Deserialize, Serialize};

pub use ed25519_dalek::{SigningKey, VerifyingKey};
pub use file::Malformed;
pub use key::{KeyError, LicenseKey};

/// What a signed check-in answer is over, before the key id and the answer.
pub const ANSWER_DOMAIN: &[u8] = b"gatehouse-license-answer:v1\n";

/// The bytes an answer's signature covers.
fn answer_message(key_id: &str, answer: &str) -> Vec<u8> {
    let mut message = ANSWER_DOMAIN.to_vec();
    message.extend_from_slice(key_id.as_bytes());
    message.push(b'\n');
    message.extend_from_slice(answer.as_bytes());
    message
}

/// Verifies a check-in answer (`POST /api/v1/licenses/validate`'s `signed`
/// part: the answer's JSON text, the key id, the signature in base64) and
/// returns the answer, so an install can trust a `VALID` and its echoed
/// nonce even through a proxy.
pub fn verify_answer(
    answer: &str,
    key_id: &str,
    signature: &str,
    trusted: &[TrustedKey],
) -> Result<serde_json::Value, Unverifiable> {
    let key = trusted
        .iter()
        .find(|key| key.id == key_id)
        .ok_or_else(|| Unverifiable::UnknownKey(key_id.to_owned()))?;
    let signature: [u8; 64] = STANDARD
        .decode(signature.trim())
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or(Unverifiable::BadSignature)?;
    key.key
        .verify_strict(
            &answer_message(key_id, answer),
            &Signature::from_bytes(&signature),
        )
        .map_err(|_| Unverifiable::BadSignature)?;
    serde_json::from_str(answer).map_err(|_| Unverifiable::BadClaims)
}

/// What happens once a licence is past its grace period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AfterGrace {
    /// The product keeps working, read-only: nothing new is created.
    ReadOnly,
    /// The product keeps working and shows a warning.
    WarnOnly,
}

impl AfterGrace {
    /// The word a file and Gatehouse's database use.
    pub fn as_str(self) -> &'static str {
        match self {
            AfterGrace::ReadOnly => "read_only",
            AfterGrace::WarnOnly => "warn_only",
        }
    }

    /// Reads [`AfterGrace::as_str`]'s word.
    pub fn parse(word: &str) -> Option<Self> {
        [AfterGrace::ReadOnly, AfterGrace::WarnOnly]
            .into_iter()
            .find(|after| after.as_str() == word)
    }
}

/// What a licence grants and until when: the claims its file signs. The
/// tier, features and limits are in the same shape as Gatehouse's
/// entitlements API, so a self-hosted product and the SaaS share one check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    /// The claims' format (1).
    pub format: u32,
    /// The licence's id.
    pub license_id: String,
    /// Who it is for: `{ "id", "name" }`.
    pub organization: serde_json::Value,
    /// The tier's key.
    pub tier: String,
    /// The features, as the entitlements API lists them.
    pub features: serde_json::Value,
    /// The limits, as the entitlements API gives them.
    pub limits: serde_json::Value,
    /// When it was issued (Unix seconds).
    pub issued_at: i64,
    /// When it expires (Unix seconds); the grace period follows.
    pub expires_at: i64,
    /// Days after expiry it still counts as licensed, with a warning.
    pub grace_days: u32,
    /// What happens after the grace period.
    pub after_grace: AfterGrace,
    /// Machines that may hold an activation at once.
    pub max_activations: u32,
    /// Whether the file is bound to one machine (node-locked) or the
    /// activations float between machines.
    pub node_locked: bool,
    /// The machine this file was issued to, if bound to one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
}

impl Claims {
    /// When the grace period ends (Unix seconds).
    pub fn grace_ends_at(&self) -> i64 {
        self.expires_at
            .saturating_add(i64::from(self.grace_days).saturating_mul(86_400))
    }
}

/// A public key an install trusts, with the id files name it by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedKey {
    /// The key id.
    pub id: String,
    /// The Ed25519 public key.
    pub key: VerifyingKey,
}

impl TrustedKey {
    /// A key from its id and its 32 bytes in base64 (as Gatehouse
    /// publishes them); `None` if either is not one.
    pub fn from_base64(id: &str, public_key: &str) -> Option<Self> {
        let bytes: [u8; 32] = STANDARD.decode(public_key.trim()).ok()?.try_into().ok()?;
        Some(TrustedKey {
            id: file::is_key_id(id).then(|| id.to_owned())?,
            key: VerifyingKey::from_bytes(&bytes).ok()?,
        })
    }
}

/// What to check.
#[derive(Debug, Clone, Copy)]
pub struct Check<'a> {
    /// The licence file's text; `None` when the install has none.
    pub file: Option<&'a str>,
    /// The public keys the install trusts.
    pub trusted: &'a [TrustedKey],
    /// The install's clock (Unix seconds).
    pub now: i64,
    /// This machine's fingerprint, for a file bound to one.
    pub fingerprint: Option<&'a str>,
    /// The latest time any earlier check saw (the caller keeps it).
    pub watermark: Option<i64>,
}

/// Why a file could not be verified: never the same answer as "lapsed".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unverifiable {
    /// The text is not a whole, well-formed licence file.
    Malformed(Malformed),
    /// It names a signing key this install does not trust.
    UnknownKey(String),
    /// The signature does not match: the file was changed, or signed by
    /// another key under a trusted key's id.
    BadSignature,
    /// The signed claims are not claims this crate reads.
    BadClaims,
    /// It was issued to another machine.
    WrongMachine,
}

impl std::fmt::Display for Unverifiable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unverifiable::Malformed(why) => why.fmt(f),
            Unverifiable::UnknownKey(id) => write!(
                f,
                "the licence file is signed by a key this install does not trust ({id})"
            ),
            Unverifiable::BadSignature => {
                f.write_str("the licence file's signature does not match its content")
            }
            Unverifiable::BadClaims => {
                f.write_str("the licence file's content is not a licence this version reads")
            }
            Unverifiable::WrongMachine => f.write_str("the licence file was issued to another machine"),
        }
    }
}

/// Where the install stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Standing {
    /// Licensed until the file's expiry.
    Licensed,
    /// Expired, still licensed until `until` (Unix seconds): warn.
    InGrace {
        /// When the grace period ends.
        until: i64,
    },
    /// Past its grace period: degrade as `after` says (never stop).
    Lapsed {
        /// What the licence says happens now.
        after: AfterGrace,
    },
    /// There is no licence file.
    NoFile,
    /// There is a file, and it could not be verified.
    Unverifiable(Unverifiable),
}

/// The answer to a [`Check`].
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// Where the install stands.
    pub standing: Standing,
    /// The verified claims (the entitlements), when the file verified.
    pub claims: Option<Claims>,
    /// The time the verdict was judged at: the later of the clock and the
    /// watermark. Persist it and pass it back as the next check's watermark.
    pub watermark: i64,
    /// Whether the clock was behind the watermark (set back).
    pub clock_set_back: bool,
}

/// Checks a licence file. Pure: the same inputs give the same verdict.
pub fn check(input: &Check<'_>) -> Verdict {
    let watermark = input.watermark.unwrap_or(i64::MIN);
    let now = input.now.max(watermark);
    let verdict = |standing, claims| Verdict {
        standing,
        claims,
        watermark: now,
        clock_set_back: input.now < watermark,
    };
    let Some(text) = input.file else {
        return verdict(Standing::NoFile, None);
    };
    match verify(text, input.trusted, input.fingerprint) {
        Err(why) => verdict(Standing::Unverifiable(why), None),
        Ok(claims) => {
            let standing = if now <= claims.expires_at {
                Standing::Licensed
            } else if now <= claims.grace_ends_at() {
                Standing::InGrace {
                    until: claims.grace_ends_at(),
                }
            } else {
                Standing::Lapsed {
                    after: claims.after_grace,
                }
            };
            verdict(standing, Some(claims))
        }
    }
}

/// The claims of a file signed by a trusted key (and bound to this machine
/// if bound at all), or why not.
pub fn verify(text: &str, trusted: &[TrustedKey], fingerprint: Option<&str>) -> Result<Claims, Unverifiable> {
    let armoured = file::parse(text).map_err(Unverifiable::Malformed)?;
    let key = trusted
        .iter()
        .find(|key| key.id == armoured.key_id)
        .ok_or_else(|| Unverifiable::UnknownKey(armoured.key_id.clone()))?;
    let message = file::signed_message(&armoured.key_id, &armoured.claims);
    key.key
        .verify_strict(&message, &Signature::from_bytes(&armoured.signature))
        .map_err(|_| Unverifiable::BadSignature)?;
    let claims: Claims = serde_json::from_slice(&armoured.claims).map_err(|_| Unverifiable::BadClaims)?;
    if claims.format != file::FORMAT {
        return Err(Unverifiable::BadClaims);
    }
    if let Some(bound) = &claims.fingerprint
        && fingerprint != Some(bound.as_str())
    {
        return Err(Unverifiable::WrongMachine);
    }
    Ok(claims)
}

/// Gatehouse's side: signing files with its keys.
#[cfg(any(test, feature = "issue"))]
pub mod issue {
    use super::{Claims, file};
    use ed25519_dalek::{Signer, SigningKey};

    /// The signature (base64) of a check-in answer's JSON text.
    pub fn sign_answer(answer: &str, key_id: &str, signing_key: &SigningKey) -> String {
        use base64::Engine;
        let signature = signing_key.sign(&super::answer_message(key_id, answer));
        base64::engine::general_purpose::STANDARD.encode(signature.to_bytes())
    }

    /// The file for `claims`, signed by `signing_key` under `key_id`.
    pub fn sign(
        claims: &Claims,
        key_id: &str,
        signing_key: &SigningKey,
    ) -> Result<String, serde_json::Error> {
        let bytes = serde_json::to_vec(claims)?;
        let signature = signing_key.sign(&file::signed_message(key_id, &bytes));
        Ok(file::armour(key_id, &bytes, &signature.to_bytes()))
    }
}

#[cfg(test)]
mod tests;
