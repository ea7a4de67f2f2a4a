//! Stored values in words, for every status and change kind the console
//! shows: one mapping, so `past_due` reads "Past due: payment failed" on
//! every page. A subscription status takes its type's own label; every
//! other value is spelled out from its key (`quantity_changed` →
//! "Quantity changed", `admin.enrol_second_factor` → "Admin: enrol second
//! factor"), so a new kind never shows raw.

use crate::billing::domain::SubscriptionStatus;
use crate::email::EmailStatus;

/// A stored status or kind as a person reads it.
pub fn words(raw: &str) -> String {
    if let Some(status) = SubscriptionStatus::parse(raw) {
        return status.label().to_owned();
    }
    let known = match EmailStatus::parse(raw) {
        Some(EmailStatus::Dead) => Some("Gave up"),
        Some(EmailStatus::Queued) => Some("Waiting to send"),
        _ => None,
    };
    if let Some(known) = known {
        return known.to_owned();
    }
    raw.split('.')
        .enumerate()
        .map(|(index, part)| {
            let spaced = part.replace('_', " ");
            match index {
                0 => capitalised(&spaced),
                _ => spaced,
            }
        })
        .collect::<Vec<_>>()
        .join(": ")
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stored_value_reads_as_words_with_no_underscore_left() {
        let cases = [
            ("past_due", "Past due: payment failed"),
            ("trialing", "In trial"),
            ("canceled", "Cancelled"),
            ("incomplete_expired", "Expired"),
            ("quantity_changed", "Quantity changed"),
            ("trial_started", "Trial started"),
            ("admin.enrol_second_factor", "Admin: enrol second factor"),
            ("trial.extend", "Trial: extend"),
            ("dead", "Gave up"),
            ("queued", "Waiting to send"),
            ("sent", "Sent"),
            ("", ""),
        ];
        for (raw, want) in cases {
            assert_eq!(words(raw), want, "{raw}");
        }
        for raw in ["a_b_c", "x.y_z.w", "_lead", "trail_", "ünï_côdé"] {
            assert!(!words(raw).contains('_'), "{raw} → {}", words(raw));
        }
    }
}
