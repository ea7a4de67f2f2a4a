//! Stripe's subscription states, what each means for revenue and access,
//! and billing intervals.

use serde::{Deserialize, Serialize};

/// Stripe's subscription states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionStatus {
    /// In a free trial.
    Trialing,
    /// Paid up.
    Active,
    /// The latest invoice failed; retries are running.
    PastDue,
    /// Retries are exhausted; no longer billed.
    Unpaid,
    /// Ended: no more invoices; access ends with the paid period.
    Canceled,
    /// The first payment needs action.
    Incomplete,
    /// The first payment never completed.
    IncompleteExpired,
    /// Collection paused.
    Paused,
}

impl SubscriptionStatus {
    /// Every state, for exhaustive tests and parsing.
    pub const ALL: [SubscriptionStatus; 8] = [
        SubscriptionStatus::Trialing,
        SubscriptionStatus::Active,
        SubscriptionStatus::PastDue,
        SubscriptionStatus::Unpaid,
        SubscriptionStatus::Canceled,
        SubscriptionStatus::Incomplete,
        SubscriptionStatus::IncompleteExpired,
        SubscriptionStatus::Paused,
    ];

    /// Only `active` and `past_due` subscriptions carry MRR.
    pub fn carries_mrr(self) -> bool {
        matches!(self, SubscriptionStatus::Active | SubscriptionStatus::PastDue)
    }

    /// The words of the states that carry MRR (the paying ones), for a
    /// query's `status = any($n)`.
    pub fn paying_words() -> Vec<&'static str> {
        Self::ALL
            .into_iter()
            .filter(|status| status.carries_mrr())
            .map(Self::as_str)
            .collect()
    }

    /// Stripe's name for the state.
    pub fn as_str(self) -> &'static str {
        match self {
            SubscriptionStatus::Trialing => "trialing",
            SubscriptionStatus::Active => "active",
            SubscriptionStatus::PastDue => "past_due",
            SubscriptionStatus::Unpaid => "unpaid",
            SubscriptionStatus::Canceled => "canceled",
            SubscriptionStatus::Incomplete => "incomplete",
            SubscriptionStatus::IncompleteExpired => "incomplete_expired",
            SubscriptionStatus::Paused => "paused",
        }
    }

    /// Reads Stripe's name.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    /// Whether the subscription is over for good: nothing more can change
    /// it, and a new checkout may start.
    pub fn has_ended(self) -> bool {
        matches!(
            self,
            SubscriptionStatus::Canceled | SubscriptionStatus::IncompleteExpired
        )
    }

    /// What the customer reads for the state.
    pub fn label(self) -> &'static str {
        match self {
            SubscriptionStatus::Trialing => "In trial",
            SubscriptionStatus::Active => "Active",
            SubscriptionStatus::PastDue => "Past due: payment failed",
            SubscriptionStatus::Unpaid => "Unpaid",
            SubscriptionStatus::Canceled => "Cancelled",
            SubscriptionStatus::Incomplete => "Incomplete",
            SubscriptionStatus::IncompleteExpired => "Expired",
            SubscriptionStatus::Paused => "Paused",
        }
    }
}

/// A billing interval unit, as Stripe's `recurring.interval`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IntervalUnit {
    /// Days.
    Day,
    /// Weeks.
    Week,
    /// Months.
    Month,
    /// Years.
    Year,
}

impl IntervalUnit {
    /// How many of this unit a year holds (weeks: 52, as METRICS.md fixes;
    /// days: 365). A period's amount × this ÷ `interval_count` ÷ 12 is its MRR.
    pub(super) fn periods_per_year(self) -> i128 {
        match self {
            IntervalUnit::Day => 365,
            IntervalUnit::Week => 52,
            IntervalUnit::Month => 12,
            IntervalUnit::Year => 1,
        }
    }
}

crate::stored_words! {
    /// What became of a provider event in the inbox (`webhook_event.status`).
    pub enum ProviderEventStatus {
        /// Applying it failed; its job retries, an operator may retry it by hand.
        Failed => "failed",
        /// It names no subscription Gatehouse knows.
        Unmatched => "unmatched",
        /// Refused at the door (a bad signature or body); nothing applied.
        Rejected => "rejected",
        /// Stored, waiting to be applied in the provider's order.
        Pending => "pending",
        /// Applied.
        Processed => "processed",
    }
}

crate::stored_words! {
    /// Where a sandbox checkout stands (`sandbox_checkout_session.status`).
    pub enum SandboxCheckoutStatus {
        /// Waiting for the test card.
        Open => "open",
        /// Paid: the subscription exists.
        Complete => "complete",
        /// Left unpaid past its time.
        Expired => "expired",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_paying_words_are_the_states_that_carry_mrr() {
        assert_eq!(SubscriptionStatus::paying_words(), ["active", "past_due"]);
        for status in SubscriptionStatus::ALL {
            assert_eq!(
                SubscriptionStatus::paying_words().contains(&status.as_str()),
                status.carries_mrr(),
                "{status:?}"
            );
        }
    }

    #[test]
    fn every_state_reads_back_from_its_name_and_has_its_own_label() {
        let labels: std::collections::HashSet<&str> =
            SubscriptionStatus::ALL.iter().map(|s| s.label()).collect();
        assert_eq!(labels.len(), SubscriptionStatus::ALL.len());
        for status in SubscriptionStatus::ALL {
            assert_eq!(SubscriptionStatus::parse(status.as_str()), Some(status));
            assert_eq!(SubscriptionStatus::parse(&status.as_str().to_uppercase()), None);
        }
        assert_eq!(
            SubscriptionStatus::parse("cancelled"),
            None,
            "Stripe spells it canceled"
        );
    }

    #[test]
    fn only_canceled_and_expired_subscriptions_have_ended() {
        let ended: Vec<_> = SubscriptionStatus::ALL
            .into_iter()
            .filter(|s| s.has_ended())
            .collect();
        assert_eq!(
            ended,
            [
                SubscriptionStatus::Canceled,
                SubscriptionStatus::IncompleteExpired
            ]
        );
    }
}
