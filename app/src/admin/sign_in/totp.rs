//! The admin's second factor: TOTP codes (RFC 6238: SHA-1, 6 digits, 30 s,
//! one step of clock skew either way) by `totp-rs`, the enrolment QR code
//! as SVG by `qrcode`. Time comes from the caller's clock.

use chrono::{DateTime, Utc};
use rand::RngCore;
use totp_rs::{Builder, Totp};

/// The issuer an authenticator app shows beside the code.
const ISSUER: &str = "Gatehouse admin";

/// A new 160-bit secret, as RFC 4226 recommends.
pub fn new_secret() -> Vec<u8> {
    let mut secret = vec![0u8; 20];
    rand::rng().fill_bytes(&mut secret);
    secret
}

fn totp(secret: &[u8], account: &str) -> Option<Totp> {
    Builder::new()
        .with_secret(secret.to_vec())
        .with_account_name(account)
        .with_issuer(Some(ISSUER))
        .build()
        .ok()
}

/// The `otpauth://` address an authenticator app reads from the QR code.
pub fn otpauth_url(secret: &[u8], account: &str) -> Option<String> {
    totp(secret, account)?.to_url().ok()
}

/// The secret spelt out in base32, for typing in by hand.
pub fn secret_text(secret: &[u8]) -> String {
    totp_rs::Secret::from(secret.to_vec()).to_base32()
}

/// The QR code of `data` as an SVG document.
pub fn qr_svg(data: &str) -> Option<String> {
    let code = qrcode::QrCode::new(data.as_bytes()).ok()?;
    Some(
        code.render::<qrcode::render::svg::Color>()
            .min_dimensions(200, 200)
            .quiet_zone(true)
            .build(),
    )
}

/// The time step `code` is valid for at `now`, if it is valid and newer
/// than `last_step` (each step's code is accepted once).
pub fn accepted_step(
    secret: &[u8],
    account: &str,
    code: &str,
    now: DateTime<Utc>,
    last_step: Option<i64>,
) -> Option<i64> {
    let seconds = u64::try_from(now.timestamp()).ok()?;
    let code = super::rules::normalise_code(code);
    let step = i64::try_from(totp(secret, account)?.check(&code, seconds)?).ok()?;
    (last_step.is_none_or(|last| step > last)).then_some(step)
}

/// The code for `now` (for tests and the development mailbox, never shown in production).
pub fn code_at(secret: &[u8], account: &str, now: DateTime<Utc>) -> Option<String> {
    let seconds = u64::try_from(now.timestamp()).ok()?;
    Some(totp(secret, account)?.generate(seconds).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(seconds, 0).unwrap()
    }

    #[test]
    fn rfc_6238_vectors_are_reproduced() {
        // RFC 6238 appendix B, SHA-1, secret "12345678901234567890", 6 digits.
        let secret = b"12345678901234567890";
        for (time, code) in [
            (59, "287082"),
            (1_111_111_109, "081804"),
            (1_234_567_890, "005924"),
            (2_000_000_000, "279037"),
        ] {
            assert_eq!(
                code_at(secret, "admin@example.com", at(time)).as_deref(),
                Some(code),
                "{time}"
            );
        }
    }

    #[test]
    fn a_code_is_accepted_within_one_step_and_only_once() {
        let secret = new_secret();
        let now = at(1_800_000_015);
        let code = code_at(&secret, "a@b.test", now).unwrap();
        let step = accepted_step(&secret, "a@b.test", &code, now, None).expect("the current code");
        assert_eq!(
            accepted_step(&secret, "a@b.test", &code, now, Some(step)),
            None,
            "replayed"
        );
        assert!(accepted_step(&secret, "a@b.test", &code, now + TimeDelta::seconds(30), None).is_some());
        assert_eq!(
            accepted_step(&secret, "a@b.test", &code, now + TimeDelta::seconds(75), None),
            None
        );
        let spaced = format!("{} {}", &code[..3], &code[3..]);
        assert!(accepted_step(&secret, "a@b.test", &spaced, now, None).is_some());
        for bad in ["", "abcdef", "1234567", "12345"] {
            assert_eq!(
                accepted_step(&secret, "a@b.test", bad, now, None),
                None,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn enrolment_shows_an_otpauth_address_as_a_qr_code() {
        let secret = new_secret();
        let url = otpauth_url(&secret, "admin@example.com").unwrap();
        assert!(url.starts_with("otpauth://totp/"));
        assert!(url.contains(&secret_text(&secret)));
        let svg = qr_svg(&url).unwrap();
        assert!(svg.contains("<svg"));
    }
}
