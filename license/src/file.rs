//! The licence file: the claims as JSON, signed with Ed25519, in armoured
//! text an operator can paste into an email:
//!
//! ```text
//! -----BEGIN GATEHOUSE LICENSE-----
//! Key-Id: gh-2026-01
//! Format: 1
//!
//! eyJmb3JtYXQiOjEsImxpY2Vuc2VfaWQiOiJsaWNfMDEi...   (the claims, base64, 64 a line)
//! -----BEGIN SIGNATURE-----
//! 3q2+7wAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA...   (64 bytes, base64)
//! -----END GATEHOUSE LICENSE-----
//! ```
//!
//! The signature covers the exact claim bytes, domain-separated and bound
//! to the key id: `gatehouse-license-file:v1`, a line feed, the key id, a
//! line feed, then the claims. Text before the first line (an email's) is
//! ignored; anything else out of place refuses the file.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// The first line of a licence file.
pub const BEGIN: &str = "-----BEGIN GATEHOUSE LICENSE-----";
/// The line between the claims and the signature.
pub const SIGNATURE: &str = "-----BEGIN SIGNATURE-----";
/// The last line.
pub const END: &str = "-----END GATEHOUSE LICENSE-----";
/// The only format this crate reads.
pub const FORMAT: u32 = 1;
/// What a signature is over, before the key id and the claims.
pub const DOMAIN: &[u8] = b"gatehouse-license-file:v1\n";

/// A file taken apart, not yet verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Armoured {
    /// The signing key's id, from the header.
    pub key_id: String,
    /// The exact claim bytes that were signed.
    pub claims: Vec<u8>,
    /// The Ed25519 signature.
    pub signature: [u8; 64],
}

/// Why a text is not a well-formed licence file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Malformed {
    /// No `BEGIN` line.
    NoBegin,
    /// It stops before its `END` line (cut short in transit).
    Truncated,
    /// A header is missing, repeated or unknown, or the format is not 1.
    Header(String),
    /// The claims or the signature are not base64 of the right length.
    Encoding(&'static str),
    /// Text after the `END` line.
    Trailing,
}

impl std::fmt::Display for Malformed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Malformed::NoBegin => write!(f, "no licence file here (no {BEGIN} line)"),
            Malformed::Truncated => write!(f, "the licence file is cut short (no {END} line)"),
            Malformed::Header(what) => write!(f, "the licence file's header is wrong: {what}"),
            Malformed::Encoding(what) => write!(f, "the licence file's {what} is damaged"),
            Malformed::Trailing => write!(f, "text follows the licence file's last line"),
        }
    }
}

/// The bytes a signature covers.
pub fn signed_message(key_id: &str, claims: &[u8]) -> Vec<u8> {
    let mut message = Vec::with_capacity(DOMAIN.len() + key_id.len() + 1 + claims.len());
    message.extend_from_slice(DOMAIN);
    message.extend_from_slice(key_id.as_bytes());
    message.push(b'\n');
    message.extend_from_slice(claims);
    message
}

/// Whether a key id is one a header can carry: 1 to 64 of `A-Za-z0-9._-`.
pub fn is_key_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Writes the armoured text.
pub fn armour(key_id: &str, claims: &[u8], signature: &[u8; 64]) -> String {
    let mut text = format!("{BEGIN}\nKey-Id: {key_id}\nFormat: {FORMAT}\n\n");
    for line in STANDARD.encode(claims).as_bytes().chunks(64) {
        text.push_str(std::str::from_utf8(line).unwrap_or_default());
        text.push('\n');
    }
    text.push_str(SIGNATURE);
    text.push('\n');
    for line in STANDARD.encode(signature).as_bytes().chunks(64) {
        text.push_str(std::str::from_utf8(line).unwrap_or_default());
        text.push('\n');
    }
    text.push_str(END);
    text.push('\n');
    text
}

/// Takes an armoured text apart, checking its shape (not its signature).
pub fn parse(text: &str) -> Result<Armoured, Malformed> {
    let mut lines = text.lines().map(|line| line.trim_end_matches('\r'));
    // Whatever precedes the first line (a greeting in an email) is not read.
    if !lines.by_ref().any(|line| line.trim() == BEGIN) {
        return Err(Malformed::NoBegin);
    }
    let (mut key_id, mut format) = (None, None);
    loop {
        let line = lines.next().ok_or(Malformed::Truncated)?;
        if line.is_empty() {
            break;
        }
        let (name, value) = line
            .split_once(": ")
            .ok_or_else(|| Malformed::Header("a header line reads Name: value".to_owned()))?;
        let slot = match name {
            "Key-Id" => &mut key_id,
            "Format" => &mut format,
            other => return Err(Malformed::Header(format!("unknown header {other:?}"))),
        };
        if slot.replace(value.to_owned()).is_some() {
            return Err(Malformed::Header(format!("{name} is given twice")));
        }
    }
    let key_id = key_id.ok_or_else(|| Malformed::Header("no Key-Id".to_owned()))?;
    if !is_key_id(&key_id) {
        return Err(Malformed::Header("the Key-Id is not a key id".to_owned()));
    }
    if format.as_deref() != Some("1") {
        return Err(Malformed::Header("only format 1 is read".to_owned()));
    }
    let claims = base64_until(&mut lines, SIGNATURE)?;
    let signature = base64_until(&mut lines, END)?;
    if lines.any(|line| !line.trim().is_empty()) {
        return Err(Malformed::Trailing);
    }
    let claims = STANDARD
        .decode(claims)
        .map_err(|_| Malformed::Encoding("claims"))?;
    if claims.is_empty() {
        return Err(Malformed::Encoding("claims"));
    }
    let signature: [u8; 64] = STANDARD
        .decode(signature)
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or(Malformed::Encoding("signature"))?;
    Ok(Armoured {
        key_id,
        claims,
        signature,
    })
}

/// The base64 lines up to the `stop` line, joined.
fn base64_until<'a>(lines: &mut impl Iterator<Item = &'a str>, stop: &str) -> Result<String, Malformed> {
    let mut joined = String::new();
    for line in lines {
        if line == stop {
            return Ok(joined);
        }
        // The marker cut short: the file stops here.
        if line.starts_with('-') && stop.starts_with(line) {
            return Err(Malformed::Truncated);
        }
        if line.len() > 64
            || !line
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
        {
            return Err(Malformed::Encoding(if stop == END {
                "signature"
            } else {
                "claims"
            }));
        }
        joined.push_str(line);
    }
    Err(Malformed::Truncated)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_round_trips_and_survives_an_email() {
        let claims = br#"{"format":1,"license_id":"lic_1"}"#;
        let text = armour("gh-2026-01", claims, &[7; 64]);
        let parsed = parse(&text).unwrap();
        assert_eq!(parsed.key_id, "gh-2026-01");
        assert_eq!(parsed.claims, claims);
        assert_eq!(parsed.signature, [7; 64]);
        let emailed = format!("Hello,\r\nyour licence:\r\n\r\n{}", text.replace('\n', "\r\n"));
        assert_eq!(parse(&emailed), Ok(parsed));
    }

    #[test]
    fn damaged_files_say_how() {
        let text = armour("k1", b"{}", &[1; 64]);
        assert_eq!(parse("no file"), Err(Malformed::NoBegin));
        assert_eq!(parse(&text[..text.len() - 20]), Err(Malformed::Truncated));
        assert!(matches!(
            parse(&text.replace("Format: 1", "Format: 2")),
            Err(Malformed::Header(_))
        ));
        assert!(matches!(
            parse(&text.replace("Key-Id: k1", "Key-Id: k 1")),
            Err(Malformed::Header(_))
        ));
        assert!(matches!(
            parse(&text.replace("Format: 1\n", "Format: 1\nKey-Id: k2\n")),
            Err(Malformed::Header(_))
        ));
        assert_eq!(parse(&format!("{text}more")), Err(Malformed::Trailing));
        let short_signature = armour("k1", b"{}", &[1; 64]).replace("AQEBAQEBAQEBAQEBAQEB", "AQEB");
        assert!(matches!(parse(&short_signature), Err(Malformed::Encoding(_))));
    }

    #[test]
    fn the_signed_message_binds_the_key_id() {
        // A key id holds no line feed, so where it ends is never in doubt.
        assert!(!is_key_id("a\nb") && !is_key_id("") && !is_key_id(&"k".repeat(65)));
        assert_ne!(signed_message("k1", b"{}"), signed_message("k2", b"{}"));
        assert!(signed_message("k", b"{}").starts_with(DOMAIN));
    }
}
