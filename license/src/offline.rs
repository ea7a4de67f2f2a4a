//! Renewal for air-gapped installs: the install writes a request file, the
//! customer carries it to the portal (`/app/licenses`), and carries back a
//! response file holding a signed answer and the machine's new licence file.
//!
//! ```text
//! -----BEGIN GATEHOUSE LICENSE REQUEST-----
//! License-Id: 0b9a…
//! Fingerprint: host-7f3a
//! Hostname: plant-3
//! Nonce: 5b1e0c…
//! -----END GATEHOUSE LICENSE REQUEST-----
//! ```
//!
//! The response carries the same answer an online check-in signs (with the
//! request's nonce and fingerprint echoed, and the licence file inside the
//! signed answer), so a response made for another request, another machine
//! or by an untrusted key is refused.

use super::{TrustedKey, Unverifiable, verify_answer};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// A request file's first line.
pub const REQUEST_BEGIN: &str = "-----BEGIN GATEHOUSE LICENSE REQUEST-----";
/// A request file's last line.
pub const REQUEST_END: &str = "-----END GATEHOUSE LICENSE REQUEST-----";
/// A response file's first line.
pub const RESPONSE_BEGIN: &str = "-----BEGIN GATEHOUSE LICENSE RESPONSE-----";
/// A response file's last line.
pub const RESPONSE_END: &str = "-----END GATEHOUSE LICENSE RESPONSE-----";

/// What an air-gapped install asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The licence's id (from its current file's claims).
    pub license_id: String,
    /// This machine's fingerprint.
    pub fingerprint: String,
    /// Its hostname.
    pub hostname: String,
    /// A fresh random value the response must echo.
    pub nonce: String,
}

/// Why a request file cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BadRequest {
    /// No `BEGIN` line, or no `END` line after it.
    NotARequest,
    /// A field is missing, repeated, unknown or not printable text.
    Field(String),
}

impl std::fmt::Display for BadRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BadRequest::NotARequest => write!(
                f,
                "this is not a whole licence request file ({REQUEST_BEGIN} … {REQUEST_END})"
            ),
            BadRequest::Field(field) => write!(f, "the licence request's {field} line is missing or wrong"),
        }
    }
}

const FIELDS: [&str; 4] = ["License-Id", "Fingerprint", "Hostname", "Nonce"];

/// Whether a field's value can travel on one line: 1 to 255 characters,
/// none of them a control character, no space at either end.
fn is_field_value(value: &str) -> bool {
    (1..=255).contains(&value.chars().count())
        && !value.chars().any(char::is_control)
        && value.trim() == value
}

impl Request {
    /// The request file's text; `None` when a value cannot travel on a line.
    pub fn to_text(&self) -> Option<String> {
        let values = [&self.license_id, &self.fingerprint, &self.hostname, &self.nonce];
        if !values.iter().all(|value| is_field_value(value)) {
            return None;
        }
        let mut text = format!("{REQUEST_BEGIN}\n");
        for (name, value) in FIELDS.iter().zip(values) {
            text.push_str(&format!("{name}: {value}\n"));
        }
        text.push_str(REQUEST_END);
        text.push('\n');
        Some(text)
    }

    /// Reads a request file (text around it, as in an email, is ignored).
    pub fn parse(text: &str) -> Result<Self, BadRequest> {
        let mut lines = text.lines().map(|line| line.trim_end_matches('\r'));
        if !lines.by_ref().any(|line| line.trim() == REQUEST_BEGIN) {
            return Err(BadRequest::NotARequest);
        }
        let mut values: [Option<String>; 4] = Default::default();
        loop {
            let line = lines.next().ok_or(BadRequest::NotARequest)?;
            if line.trim() == REQUEST_END {
                break;
            }
            if line.trim().is_empty() {
                continue;
            }
            let (name, value) = line
                .split_once(": ")
                .ok_or_else(|| BadRequest::Field(line.chars().take(40).collect()))?;
            let index = FIELDS
                .iter()
                .position(|field| *field == name)
                .ok_or_else(|| BadRequest::Field(name.chars().take(40).collect()))?;
            if values[index].is_some() || !is_field_value(value) {
                return Err(BadRequest::Field(FIELDS[index].to_owned()));
            }
            values[index] = Some(value.to_owned());
        }
        let [license_id, fingerprint, hostname, nonce] = values;
        let field = |value: Option<String>, index: usize| {
            value.ok_or_else(|| BadRequest::Field(FIELDS[index].to_owned()))
        };
        Ok(Request {
            license_id: field(license_id, 0)?,
            fingerprint: field(fingerprint, 1)?,
            hostname: field(hostname, 2)?,
            nonce: field(nonce, 3)?,
        })
    }
}

/// A response file around a signed answer (the answer's JSON text, the key
/// id, the base64 signature), as Gatehouse writes it.
pub fn response_text(answer: &str, key_id: &str, signature: &str) -> String {
    let mut text = format!("{RESPONSE_BEGIN}\nKey-Id: {key_id}\nSignature: {signature}\n\n");
    for line in STANDARD.encode(answer).as_bytes().chunks(64) {
        text.push_str(std::str::from_utf8(line).unwrap_or_default());
        text.push('\n');
    }
    text.push_str(RESPONSE_END);
    text.push('\n');
    text
}

/// What a verified response gives the install.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Renewal {
    /// The answer's code (`VALID`, `SUSPENDED`, …).
    pub code: String,
    /// The new licence file, when the answer is `VALID`: check it with
    /// [`crate::check`] and keep it.
    pub license_file: Option<String>,
}

/// Verifies a response file against the request it answers: signed by a
/// trusted key, echoing the request's nonce and fingerprint.
pub fn verify_response(
    text: &str,
    request: &Request,
    trusted: &[TrustedKey],
) -> Result<Renewal, Unverifiable> {
    use crate::Malformed;
    let mut lines = text.lines().map(|line| line.trim_end_matches('\r'));
    if !lines.by_ref().any(|line| line.trim() == RESPONSE_BEGIN) {
        return Err(Unverifiable::Malformed(Malformed::NoBegin));
    }
    let header = |line: Option<&str>, name: &str| {
        line.and_then(|line| line.strip_prefix(name))
            .and_then(|rest| rest.strip_prefix(": "))
            .map(str::to_owned)
            .ok_or_else(|| Unverifiable::Malformed(Malformed::Header(name.to_owned())))
    };
    let key_id = header(lines.next(), "Key-Id")?;
    let signature = header(lines.next(), "Signature")?;
    if lines.next() != Some("") {
        return Err(Unverifiable::Malformed(Malformed::Header(
            "blank line".to_owned(),
        )));
    }
    let mut encoded = String::new();
    loop {
        match lines.next() {
            None => return Err(Unverifiable::Malformed(Malformed::Truncated)),
            Some(line) if line.trim() == RESPONSE_END => break,
            Some(line) => encoded.push_str(line.trim()),
        }
    }
    let answer = STANDARD
        .decode(encoded)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or(Unverifiable::Malformed(Malformed::Encoding("answer")))?;
    let answer = verify_answer(&answer, &key_id, &signature, trusted)?;
    let echoes = |name: &str, expected: &str| answer[name].as_str() == Some(expected);
    if !echoes("nonce", &request.nonce) || !echoes("license_id", &request.license_id) {
        return Err(Unverifiable::BadClaims);
    }
    if !echoes("fingerprint", &request.fingerprint) {
        return Err(Unverifiable::WrongMachine);
    }
    Ok(Renewal {
        code: answer["code"].as_str().unwrap_or_default().to_owned(),
        license_file: answer["license_file"].as_str().map(str::to_owned),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::issue::sign_answer;
    use ed25519_dalek::SigningKey;
    use proptest::prelude::*;

    fn request() -> Request {
        Request {
            license_id: "0b9a5c1e-1111-4222-8333-944455556666".into(),
            fingerprint: "host-7f3a".into(),
            hostname: "plant-3".into(),
            nonce: "n-42".into(),
        }
    }

    fn signed_response(answer: &serde_json::Value, key: &SigningKey, key_id: &str) -> String {
        let answer = answer.to_string();
        response_text(&answer, key_id, &sign_answer(&answer, key_id, key))
    }

    fn answer_for(request: &Request) -> serde_json::Value {
        serde_json::json!({
            "code": "VALID", "license_id": request.license_id, "fingerprint": request.fingerprint,
            "nonce": request.nonce, "license_file": "-----BEGIN GATEHOUSE LICENSE-----\n…",
        })
    }

    #[test]
    fn a_request_reads_back_whole_even_inside_an_email() {
        let text = request().to_text().unwrap();
        assert_eq!(Request::parse(&text).unwrap(), request());
        let email = format!(
            "Hello,\r\nhere it is:\r\n\r\n{}\r\nThanks",
            text.replace('\n', "\r\n")
        );
        assert_eq!(Request::parse(&email).unwrap(), request());
    }

    #[test]
    fn bad_requests_say_what_is_wrong() {
        let good = request().to_text().unwrap();
        for (text, error) in [
            ("nothing here".to_owned(), BadRequest::NotARequest),
            (good.replace(REQUEST_END, ""), BadRequest::NotARequest),
            (
                good.replace("Nonce: n-42\n", ""),
                BadRequest::Field("Nonce".into()),
            ),
            (
                good.replace("Nonce: n-42", "Nonce: n-42\nNonce: n-43"),
                BadRequest::Field("Nonce".into()),
            ),
            (
                good.replace("Hostname: plant-3", "Hostname: a\u{7}b"),
                BadRequest::Field("Hostname".into()),
            ),
            (
                good.replace("Hostname", "Shoe-Size"),
                BadRequest::Field("Shoe-Size".into()),
            ),
        ] {
            assert_eq!(Request::parse(&text), Err(error), "{text:?}");
        }
        let mut unprintable = request();
        unprintable.fingerprint = "a\nb".into();
        assert_eq!(unprintable.to_text(), None);
    }

    #[test]
    fn a_response_verifies_only_for_its_own_request_and_a_trusted_key() {
        let key = SigningKey::from_bytes(&[9; 32]);
        let trusted = [TrustedKey {
            id: "gh-1".into(),
            key: key.verifying_key(),
        }];
        let response = signed_response(&answer_for(&request()), &key, "gh-1");
        let renewal = verify_response(&response, &request(), &trusted).unwrap();
        assert_eq!(renewal.code, "VALID");
        assert!(
            renewal
                .license_file
                .unwrap()
                .starts_with("-----BEGIN GATEHOUSE LICENSE-----")
        );

        let mut other_nonce = request();
        other_nonce.nonce = "n-43".into();
        assert_eq!(
            verify_response(&response, &other_nonce, &trusted),
            Err(Unverifiable::BadClaims)
        );
        let mut other_machine = request();
        other_machine.fingerprint = "host-0000".into();
        assert_eq!(
            verify_response(&response, &other_machine, &trusted),
            Err(Unverifiable::WrongMachine)
        );
        let stranger = SigningKey::from_bytes(&[10; 32]);
        let forged = signed_response(&answer_for(&request()), &stranger, "gh-1");
        assert_eq!(
            verify_response(&forged, &request(), &trusted),
            Err(Unverifiable::BadSignature)
        );
        let unknown = signed_response(&answer_for(&request()), &key, "gh-9");
        assert_eq!(
            verify_response(&unknown, &request(), &trusted),
            Err(Unverifiable::UnknownKey("gh-9".into()))
        );
        let cut = &response[..response.len() - RESPONSE_END.len() - 2];
        assert!(matches!(
            verify_response(cut, &request(), &trusted),
            Err(Unverifiable::Malformed(_))
        ));
    }

    proptest! {
        #[test]
        fn no_text_makes_the_request_parser_panic(text in "\\PC*") {
            let _ = Request::parse(&text);
            let _ = Request::parse(&format!("{REQUEST_BEGIN}\n{text}\n{REQUEST_END}"));
        }

        #[test]
        fn no_text_makes_the_response_check_panic(text in "\\PC*") {
            let key = SigningKey::from_bytes(&[9; 32]);
            let trusted = [TrustedKey { id: "gh-1".into(), key: key.verifying_key() }];
            let _ = verify_response(&text, &request(), &trusted);
            let _ = verify_response(&format!("{RESPONSE_BEGIN}\nKey-Id: gh-1\nSignature: {text}\n\n{text}\n{RESPONSE_END}"), &request(), &trusted);
        }

        #[test]
        fn every_printable_request_reads_back(
            license_id in "[!-~][ -~]{0,40}[!-~]",
            fingerprint in "[!-~]{1,60}",
            hostname in "[!-~]{1,60}",
            nonce in "[!-~]{1,60}",
        ) {
            let request = Request { license_id, fingerprint, hostname, nonce };
            let text = request.to_text().unwrap();
            prop_assert_eq!(Request::parse(&text).unwrap(), request);
        }
    }
}
