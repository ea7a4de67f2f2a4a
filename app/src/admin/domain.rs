//! The admin console's pure rules: how long an admin session lives, what a
//! reason and a trial extension may be, and how recovery codes look.

use chrono::{DateTime, TimeDelta, Utc};

/// An admin session ends this long after sign-in, however active.
pub const ADMIN_SESSION_ABSOLUTE: TimeDelta = TimeDelta::hours(8);
/// An admin session ends after this long without a request.
pub const ADMIN_SESSION_IDLE: TimeDelta = TimeDelta::minutes(30);
/// The password step must be followed by the second factor within this.
pub const SECOND_FACTOR_WINDOW: TimeDelta = TimeDelta::minutes(10);
/// How many recovery codes an enrolment makes.
pub const RECOVERY_CODES: usize = 10;

/// How far an admin has signed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum AdminStage {
    /// The password was right; the second factor has not been given yet
    /// (or, with no second factor enrolled, enrolment is under way).
    PasswordOnly,
    /// Password and second factor: the console is open.
    Full,
}

/// The times an admin session is judged by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdminSessionTimes {
    /// When the password was accepted.
    pub signed_in_at: DateTime<Utc>,
    /// The last request.
    pub last_seen_at: DateTime<Utc>,
}

impl AdminSessionTimes {
    /// Whether a session at `stage` is still alive at `now`.
    pub fn is_live(&self, stage: AdminStage, now: DateTime<Utc>) -> bool {
        if now < self.signed_in_at {
            // A clock that went backwards is not trusted to extend anything.
            return false;
        }
        match stage {
            AdminStage::PasswordOnly => now - self.signed_in_at < SECOND_FACTOR_WINDOW,
            AdminStage::Full => {
                now - self.signed_in_at < ADMIN_SESSION_ABSOLUTE
                    && now - self.last_seen_at < ADMIN_SESSION_IDLE
            }
        }
    }
}

/// Why an admin input was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdminInputError {
    /// No reason, or too long.
    #[error("give a reason of 1–500 characters; it goes into the audit log")]
    Reason,
    /// Trial extensions are whole days from 1 to 90.
    #[error("extend a trial by a whole number of days from 1 to 90")]
    TrialDays,
}

/// Why an admin did something: trimmed, 1–500 characters, no control characters
/// other than line breaks.
pub fn parse_reason(raw: &str) -> Result<String, AdminInputError> {
    let reason = raw.trim();
    let printable = reason
        .chars()
        .all(|c| !c.is_control() || c == '\n' || c == '\r' || c == '\t');
    if reason.is_empty() || reason.chars().count() > 500 || !printable {
        return Err(AdminInputError::Reason);
    }
    Ok(reason.to_owned())
}

/// Days to extend a trial by: 1–90.
pub fn parse_trial_days(raw: &str) -> Result<u32, AdminInputError> {
    let raw = raw.trim();
    match raw.parse::<u32>() {
        Ok(days) if raw.bytes().all(|b| b.is_ascii_digit()) && (1..=90).contains(&days) => Ok(days),
        _ => Err(AdminInputError::TrialDays),
    }
}

/// A recovery code as shown: `xxxxx-xxxxx` from 10 random characters of an
/// alphabet without look-alikes.
pub fn format_recovery_code(random: &[u8; 10]) -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    let chars: String = random
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect();
    format!("{}-{}", &chars[..5], &chars[5..])
}

/// A code as typed, made comparable: lower case, spaces and dashes dropped.
pub fn normalise_code(typed: &str) -> String {
    typed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .flat_map(char::to_lowercase)
        .collect()
}

/// Whether `typed` has the shape of a TOTP code (6 digits, spaces allowed).
pub fn looks_like_totp(typed: &str) -> bool {
    let code = normalise_code(typed);
    code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minutes: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap() + TimeDelta::minutes(minutes)
    }

    #[test]
    fn a_full_admin_session_ends_after_idling_or_at_its_absolute_limit() {
        let times = |signed_in, seen| AdminSessionTimes {
            signed_in_at: at(signed_in),
            last_seen_at: at(seen),
        };
        let cases = [
            (times(0, 0), 29, true),
            (times(0, 0), 30, false),
            (times(0, 470), 479, true),
            (times(0, 470), 480, false),
            (times(10, 10), 5, false),
        ];
        for (session, now, live) in cases {
            assert_eq!(
                session.is_live(AdminStage::Full, at(now)),
                live,
                "{session:?} at {now}"
            );
        }
        assert!(times(0, 0).is_live(AdminStage::PasswordOnly, at(9)));
        assert!(!times(0, 0).is_live(AdminStage::PasswordOnly, at(10)));
    }

    #[test]
    fn reasons_and_trial_days_are_checked() {
        assert_eq!(
            parse_reason("  customer asked for more time \n"),
            Ok("customer asked for more time".into())
        );
        for bad in ["", "   ", "\u{7}beep", &"x".repeat(501)] {
            assert_eq!(parse_reason(bad), Err(AdminInputError::Reason), "{bad:?}");
        }
        assert!(
            parse_reason(&"é".repeat(500)).is_ok(),
            "500 characters, not bytes"
        );
        for (raw, expected) in [("1", Ok(1)), ("90", Ok(90)), (" 14 ", Ok(14))] {
            assert_eq!(parse_trial_days(raw), expected);
        }
        for bad in ["0", "91", "-1", "+5", "1.5", "", "seven", "99999999999"] {
            assert_eq!(parse_trial_days(bad), Err(AdminInputError::TrialDays), "{bad:?}");
        }
    }

    #[test]
    fn recovery_codes_read_back_however_they_are_typed() {
        let code = format_recovery_code(&[0, 1, 2, 3, 4, 250, 251, 252, 253, 255]);
        assert_eq!(code.len(), 11);
        assert_eq!(&code[5..6], "-");
        assert!(!code.contains(['l', '1', 'o', '0', 'i']));
        assert_eq!(
            normalise_code(&code.to_uppercase().replace('-', " ")),
            normalise_code(&code)
        );
        assert!(looks_like_totp("123 456"));
        assert!(!looks_like_totp("12345"));
        assert!(!looks_like_totp(&code));
    }
}

/// What an entitlement override sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OverrideInput {
    /// A feature on or off.
    Feature {
        /// The feature key.
        key: String,
        /// On or off.
        enabled: bool,
    },
    /// A limit, `None` for unlimited.
    Limit {
        /// The metric key.
        key: String,
        /// The limit.
        limit: Option<i64>,
    },
    /// The tier whose entitlements apply.
    Tier {
        /// The tier key.
        key: String,
    },
}

/// The catalogue's keys an override may name.
pub struct KnownKeys<'a> {
    /// Feature keys.
    pub features: Vec<&'a str>,
    /// Metric keys.
    pub metrics: Vec<&'a str>,
    /// Tier keys.
    pub tiers: Vec<&'a str>,
}

impl<'a> KnownKeys<'a> {
    /// The keys of `catalog`.
    pub fn of(catalog: &'a crate::catalog::domain::Catalog) -> Self {
        KnownKeys {
            features: catalog.features().map(|f| f.key.as_str()).collect(),
            metrics: catalog.metrics.iter().map(|m| m.key.as_str()).collect(),
            tiers: catalog.tiers.iter().map(|t| t.key.as_str()).collect(),
        }
    }
}

/// Why an override was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OverrideError {
    /// Not feature, limit or tier.
    #[error("choose what to override: a feature, a limit or the tier")]
    Kind,
    /// A key the catalogue does not have.
    #[error("the catalogue has no {0} with that key")]
    UnknownKey(&'static str),
    /// A value that does not fit the kind.
    #[error("{0}")]
    Value(&'static str),
    /// An expiry that is not a future date.
    #[error("give the expiry as a future date, YYYY-MM-DD, or leave it empty")]
    Expiry,
}

impl OverrideError {
    /// The form's field the refusal is about.
    pub fn field(&self) -> &'static str {
        match self {
            OverrideError::Kind => "kind",
            OverrideError::UnknownKey(_) => "key",
            OverrideError::Value(_) | OverrideError::Expiry => "value",
        }
    }
}

/// Reads an override from the console's form.
pub fn parse_override(
    kind: &str,
    key: &str,
    value: &str,
    known: &KnownKeys<'_>,
) -> Result<OverrideInput, OverrideError> {
    use crate::entitlements::domain::OverrideKind;
    let (key, value) = (key.trim(), value.trim());
    match OverrideKind::parse(kind).ok_or(OverrideError::Kind)? {
        OverrideKind::Feature => {
            if !known.features.contains(&key) {
                return Err(OverrideError::UnknownKey("feature"));
            }
            let enabled = match value {
                "on" => true,
                "off" => false,
                _ => return Err(OverrideError::Value("a feature override is on or off")),
            };
            Ok(OverrideInput::Feature {
                key: key.to_owned(),
                enabled,
            })
        }
        OverrideKind::Limit => {
            if !known.metrics.contains(&key) {
                return Err(OverrideError::UnknownKey("metric"));
            }
            let limit = match value {
                "unlimited" => None,
                digits if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => Some(
                    digits
                        .parse::<i64>()
                        .map_err(|_| OverrideError::Value("that limit is too large"))?,
                ),
                _ => return Err(OverrideError::Value("a limit is a whole number, or unlimited")),
            };
            Ok(OverrideInput::Limit {
                key: key.to_owned(),
                limit,
            })
        }
        OverrideKind::Tier => {
            if !known.tiers.contains(&key) {
                return Err(OverrideError::UnknownKey("tier"));
            }
            Ok(OverrideInput::Tier { key: key.to_owned() })
        }
    }
}

/// An override's expiry: empty for none, else a date after today (it ends
/// at 00:00 UTC of that day).
pub fn parse_expiry(raw: &str, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>, OverrideError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    let day = crate::input::parse_day(raw).ok_or(OverrideError::Expiry)?;
    let at = day.and_time(chrono::NaiveTime::MIN).and_utc();
    if at <= now {
        return Err(OverrideError::Expiry);
    }
    Ok(Some(at))
}

#[cfg(test)]
mod override_tests {
    use super::*;

    fn known() -> KnownKeys<'static> {
        KnownKeys {
            features: vec!["sso", "audit_log"],
            metrics: vec!["users", "workspaces"],
            tiers: vec!["starter", "professional"],
        }
    }

    #[test]
    fn overrides_name_only_what_the_catalogue_has_with_values_that_fit() {
        let ok = [
            (
                "feature",
                "sso",
                "on",
                OverrideInput::Feature {
                    key: "sso".into(),
                    enabled: true,
                },
            ),
            (
                "feature",
                " audit_log ",
                "off",
                OverrideInput::Feature {
                    key: "audit_log".into(),
                    enabled: false,
                },
            ),
            (
                "limit",
                "users",
                "25",
                OverrideInput::Limit {
                    key: "users".into(),
                    limit: Some(25),
                },
            ),
            (
                "limit",
                "workspaces",
                "unlimited",
                OverrideInput::Limit {
                    key: "workspaces".into(),
                    limit: None,
                },
            ),
            (
                "limit",
                "users",
                "0",
                OverrideInput::Limit {
                    key: "users".into(),
                    limit: Some(0),
                },
            ),
            (
                "tier",
                "professional",
                "",
                OverrideInput::Tier {
                    key: "professional".into(),
                },
            ),
        ];
        for (kind, key, value, expected) in ok {
            assert_eq!(
                parse_override(kind, key, value, &known()),
                Ok(expected),
                "{kind} {key} {value}"
            );
        }
        let bad = [
            ("plan", "starter", "", OverrideError::Kind),
            ("feature", "teleport", "on", OverrideError::UnknownKey("feature")),
            (
                "feature",
                "sso",
                "yes",
                OverrideError::Value("a feature override is on or off"),
            ),
            ("limit", "seats", "5", OverrideError::UnknownKey("metric")),
            (
                "limit",
                "users",
                "-1",
                OverrideError::Value("a limit is a whole number, or unlimited"),
            ),
            (
                "limit",
                "users",
                "2.5",
                OverrideError::Value("a limit is a whole number, or unlimited"),
            ),
            (
                "limit",
                "users",
                "99999999999999999999",
                OverrideError::Value("that limit is too large"),
            ),
            ("tier", "enterprise", "", OverrideError::UnknownKey("tier")),
        ];
        for (kind, key, value, expected) in bad {
            assert_eq!(
                parse_override(kind, key, value, &known()),
                Err(expected),
                "{kind} {key} {value}"
            );
        }
    }

    #[test]
    fn an_expiry_is_a_future_date_or_nothing() {
        let now = DateTime::parse_from_rfc3339("2026-12-01T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(parse_expiry("", now), Ok(None));
        assert_eq!(
            parse_expiry("2026-12-02", now).unwrap().unwrap().to_rfc3339(),
            "2026-12-02T00:00:00+00:00"
        );
        for bad in ["2026-12-01", "2025-01-01", "tomorrow", "2026-13-01", "02/12/2026"] {
            assert_eq!(parse_expiry(bad, now), Err(OverrideError::Expiry), "{bad}");
        }
    }
}
