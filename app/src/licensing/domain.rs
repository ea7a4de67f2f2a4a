//! Licences' pure rules: where a licence stands, derived from what
//! Gatehouse already knows of its organisation (the subscription's state
//! and period, a suspension) and the licence's own admin actions, never
//! from a second set of rules; and the codes a check-in answers with.

use crate::billing::domain::SubscriptionStatus;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The answer codes of activation and validation (stable: installs match on
/// them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ValidationCode {
    /// Licensed (perhaps with a warning, such as a payment being collected).
    Valid,
    /// Past its expiry (the install's grace period may still run).
    Expired,
    /// Suspended, with its organisation or by an admin.
    Suspended,
    /// Revoked by an admin: never valid again.
    Revoked,
    /// No licence has this key.
    NotFound,
    /// This machine holds no activation of the licence.
    NoMachine,
    /// Every seat is taken by other machines.
    TooManyMachines,
}

impl ValidationCode {
    /// The code as sent.
    pub fn as_str(self) -> &'static str {
        match self {
            ValidationCode::Valid => "VALID",
            ValidationCode::Expired => "EXPIRED",
            ValidationCode::Suspended => "SUSPENDED",
            ValidationCode::Revoked => "REVOKED",
            ValidationCode::NotFound => "NOT_FOUND",
            ValidationCode::NoMachine => "NO_MACHINE",
            ValidationCode::TooManyMachines => "TOO_MANY_MACHINES",
        }
    }
}

/// What a licence's standing is derived from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LicenseFacts {
    /// Revoked by an admin, and when.
    pub revoked_at: Option<DateTime<Utc>>,
    /// Suspended by an admin (the licence alone).
    pub suspended_at: Option<DateTime<Utc>>,
    /// Its organisation is suspended.
    pub organization_suspended: bool,
    /// The organisation's live subscription status (Stripe's words).
    pub subscription_status: Option<String>,
    /// The end of the period paid for, which a renewal moves on.
    pub current_period_end: Option<DateTime<Utc>>,
    /// The subscription ends at its period's end (a cancellation).
    pub cancel_at_period_end: bool,
    /// An admin's extension: valid at least until then.
    pub extended_until: Option<DateTime<Utc>>,
    /// When the licence was issued.
    pub issued_at: DateTime<Utc>,
}

/// Where a licence stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LicenseStanding {
    /// The validation code.
    pub code: ValidationCode,
    /// Until when a file issued now is valid (before its grace period).
    pub expires_at: DateTime<Utc>,
    /// A payment is being collected: valid, with a warning.
    pub past_due: bool,
    /// The subscription will move the expiry on by itself (it renews), so
    /// the expiry is no end to warn of.
    pub renews: bool,
}

/// How long a file is valid when no period end is known (a licence issued
/// by hand without a subscription).
const DEFAULT_TERM_DAYS: i64 = 30;

/// The licence's standing at `now`: revoked beats suspended beats the
/// subscription; an active (or trialing) subscription is valid to its
/// period's end, renewal moving it on; a payment being collected is valid
/// with a warning; a cancelled or unpaid one expires at its period's end.
pub fn standing(facts: &LicenseFacts, now: DateTime<Utc>) -> LicenseStanding {
    let billed_until = facts
        .current_period_end
        .unwrap_or(facts.issued_at + chrono::TimeDelta::days(DEFAULT_TERM_DAYS));
    let expires_at = facts
        .extended_until
        .map_or(billed_until, |until| until.max(billed_until));
    use crate::billing::domain::SubscriptionStatus::{Active, PastDue, Paused, Trialing};
    let status = facts
        .subscription_status
        .as_deref()
        .and_then(SubscriptionStatus::parse);
    let past_due = matches!(status, Some(PastDue));
    let renews = matches!(status, Some(Active | Trialing | PastDue))
        && !facts.cancel_at_period_end
        && expires_at == billed_until;
    let code = if facts.revoked_at.is_some() {
        ValidationCode::Revoked
    } else if facts.suspended_at.is_some() || facts.organization_suspended || matches!(status, Some(Paused)) {
        ValidationCode::Suspended
    } else if now > expires_at {
        ValidationCode::Expired
    } else {
        // Active, trialing or being collected; or cancelled, unpaid or
        // incomplete, which stay valid to the end of the period paid for.
        ValidationCode::Valid
    };
    LicenseStanding {
        code,
        expires_at,
        past_due,
        renews,
    }
}

/// How many days ahead of a real end (one no renewal will move) its owners
/// are warned, tightest last.
pub const EXPIRY_ALERT_LEADS: [i64; 2] = [30, 7];

/// The expiry alert due for a licence at `now`: the tightest lead the
/// expiry is within (`Some(7)` inside a week, else `Some(30)` inside a
/// month), for a valid licence that will not renew by itself. A lead
/// passed without its alert (an extension shortened nothing, a licence
/// issued a week before its end) is skipped, never sent late.
pub fn expiry_alert_due(standing: &LicenseStanding, now: DateTime<Utc>) -> Option<i64> {
    if standing.code != ValidationCode::Valid || standing.renews || standing.expires_at <= now {
        return None;
    }
    EXPIRY_ALERT_LEADS
        .into_iter()
        .rfind(|days| standing.expires_at - now <= chrono::TimeDelta::days(*days))
}

/// Whether a machine's fingerprint or hostname is one a request may carry.
pub fn is_machine_text(text: &str, max: usize) -> bool {
    !text.trim().is_empty() && text.chars().count() <= max && !text.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    fn at(days: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_790_000_000 + days * 86_400, 0).unwrap()
    }

    fn facts(status: &str) -> LicenseFacts {
        LicenseFacts {
            revoked_at: None,
            suspended_at: None,
            organization_suspended: false,
            subscription_status: Some(status.to_owned()),
            current_period_end: Some(at(30)),
            cancel_at_period_end: false,
            extended_until: None,
            issued_at: at(0),
        }
    }

    #[test]
    fn the_licence_follows_the_subscription() {
        for (status, day, code, past_due) in [
            ("active", 10, ValidationCode::Valid, false),
            ("trialing", 10, ValidationCode::Valid, false),
            ("past_due", 10, ValidationCode::Valid, true),
            ("canceled", 10, ValidationCode::Valid, false),
            ("canceled", 31, ValidationCode::Expired, false),
            ("active", 31, ValidationCode::Expired, false),
            ("unpaid", 31, ValidationCode::Expired, false),
            ("paused", 10, ValidationCode::Suspended, false),
        ] {
            let standing = standing(&facts(status), at(day));
            assert_eq!(
                (standing.code, standing.past_due),
                (code, past_due),
                "{status} on day {day}"
            );
        }
    }

    #[test]
    fn a_renewal_moves_the_expiry_on() {
        let mut renewed = facts("active");
        renewed.current_period_end = Some(at(60));
        assert_eq!(standing(&renewed, at(45)).code, ValidationCode::Valid);
        assert_eq!(standing(&renewed, at(45)).expires_at, at(60));
    }

    #[test]
    fn revocation_beats_suspension_beats_the_subscription() {
        let mut suspended = facts("active");
        suspended.organization_suspended = true;
        assert_eq!(standing(&suspended, at(1)).code, ValidationCode::Suspended);
        suspended.revoked_at = Some(at(1));
        assert_eq!(standing(&suspended, at(1)).code, ValidationCode::Revoked);
        let mut by_hand = facts("active");
        by_hand.suspended_at = Some(at(1));
        assert_eq!(standing(&by_hand, at(2)).code, ValidationCode::Suspended);
        let mut no_subscription = facts("active");
        no_subscription.subscription_status = None;
        no_subscription.current_period_end = None;
        assert_eq!(standing(&no_subscription, at(29)).code, ValidationCode::Valid);
        assert_eq!(
            standing(&no_subscription, at(0) + TimeDelta::days(31)).code,
            ValidationCode::Expired
        );
    }

    #[test]
    fn an_extension_moves_the_expiry_past_the_billing() {
        let mut extended = facts("canceled");
        extended.extended_until = Some(at(45));
        let later = standing(&extended, at(40));
        assert_eq!(
            (later.code, later.expires_at, later.renews),
            (ValidationCode::Valid, at(45), false)
        );
        assert_eq!(standing(&extended, at(46)).code, ValidationCode::Expired);
        // An extension that ends before the period paid for changes nothing.
        let mut short = facts("active");
        short.extended_until = Some(at(10));
        assert_eq!(standing(&short, at(20)).expires_at, at(30));
        assert!(standing(&short, at(20)).renews);
    }

    #[test]
    fn expiry_alerts_come_at_30_and_7_days_before_a_real_end() {
        let mut ending = facts("active");
        ending.cancel_at_period_end = true;
        for (day, due) in [
            (-1, None),
            (0, Some(30)),
            (5, Some(30)),
            (22, Some(30)),
            (23, Some(7)),
            (29, Some(7)),
            (30, None),
            (31, None),
        ] {
            assert_eq!(
                expiry_alert_due(&standing(&ending, at(day)), at(day)),
                due,
                "day {day}"
            );
        }
        // A renewing subscription's period end is no end: no alert.
        let renewing = facts("active");
        assert_eq!(expiry_alert_due(&standing(&renewing, at(29)), at(29)), None);
        // Nor a revoked or suspended licence.
        let mut revoked = ending.clone();
        revoked.revoked_at = Some(at(1));
        assert_eq!(expiry_alert_due(&standing(&revoked, at(29)), at(29)), None);
        for status in ["canceled", "unpaid"] {
            assert_eq!(
                expiry_alert_due(&standing(&facts(status), at(25)), at(25)),
                Some(7),
                "{status}"
            );
        }
    }

    #[test]
    fn codes_are_stable_words() {
        assert_eq!(ValidationCode::TooManyMachines.as_str(), "TOO_MANY_MACHINES");
        assert_eq!(
            serde_json::to_string(&ValidationCode::NoMachine).unwrap(),
            "\"NO_MACHINE\""
        );
    }
}
