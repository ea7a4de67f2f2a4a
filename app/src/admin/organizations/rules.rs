//! The organisation actions' pure rules: what a trial extension, an
//! override and its expiry may be (a reason is checked for every section by
//! [`crate::admin::audited::checked_reason`]).

use crate::entitlements::overrides::OverrideInput;
use chrono::{DateTime, Utc};

/// Why an admin input was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdminInputError {
    /// Trial extensions are whole days from 1 to 90.
    #[error("extend a trial by a whole number of days from 1 to 90")]
    TrialDays,
}

/// Days to extend a trial by: 1–90.
pub fn parse_trial_days(raw: &str) -> Result<u32, AdminInputError> {
    let raw = raw.trim();
    match raw.parse::<u32>() {
        Ok(days) if raw.bytes().all(|b| b.is_ascii_digit()) && (1..=90).contains(&days) => Ok(days),
        _ => Err(AdminInputError::TrialDays),
    }
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
mod tests {
    use super::*;

    #[test]
    fn trial_days_are_checked() {
        for (raw, expected) in [("1", Ok(1)), ("90", Ok(90)), (" 14 ", Ok(14))] {
            assert_eq!(parse_trial_days(raw), expected);
        }
        for bad in ["0", "91", "-1", "+5", "1.5", "", "seven", "99999999999"] {
            assert_eq!(parse_trial_days(bad), Err(AdminInputError::TrialDays), "{bad:?}");
        }
    }

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
