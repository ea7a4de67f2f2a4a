//! Stripe's subscription states, what each means for revenue and access,
//! and billing intervals.

use serde::{Deserialize, Serialize};

crate::stored_words! {
    /// Stripe's subscription states (`subscription.status`).
    #[derive(Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum SubscriptionStatus {
        /// In a free trial.
        Trialing => "trialing",
        /// Paid up.
        Active => "active",
        /// The latest invoice failed; retries are running.
        PastDue => "past_due",
        /// Retries are exhausted; no longer billed.
        Unpaid => "unpaid",
        /// Ended: no more invoices; access ends with the paid period.
        Canceled => "canceled",
        /// The first payment needs action.
        Incomplete => "incomplete",
        /// The first payment never completed.
        IncompleteExpired => "incomplete_expired",
        /// Collection paused.
        Paused => "paused",
    }
}

impl SubscriptionStatus {
    /// Only `active` and `past_due` subscriptions carry MRR.
    pub fn carries_mrr(self) -> bool {
        matches!(self, SubscriptionStatus::Active | SubscriptionStatus::PastDue)
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

impl ProviderEventStatus {
    /// Whether an operator may queue the event again: applying it failed or
    /// it matched nothing yet (a rejected event has nothing to apply).
    pub fn can_be_requeued(self) -> bool {
        matches!(self, ProviderEventStatus::Failed | ProviderEventStatus::Unmatched)
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
    fn serde_writes_each_state_as_the_word_its_column_stores() {
        use crate::billing::domain::InvoiceStatus;
        use crate::billing::domain::collection::CaseState;
        let json = |value: serde_json::Value| value.as_str().map(str::to_owned);
        for status in SubscriptionStatus::ALL {
            assert_eq!(json(serde_json::json!(status)).as_deref(), Some(status.as_str()));
        }
        for status in InvoiceStatus::ALL {
            assert_eq!(json(serde_json::json!(status)).as_deref(), Some(status.as_str()));
        }
        for state in CaseState::ALL {
            assert_eq!(json(serde_json::json!(state)).as_deref(), Some(state.as_str()));
        }
    }

    #[test]
    fn only_failed_and_unmatched_events_can_be_requeued() {
        assert_eq!(
            ProviderEventStatus::words_where(ProviderEventStatus::can_be_requeued),
            ["failed", "unmatched"]
        );
    }

    #[test]
    fn the_paying_words_are_the_states_that_carry_mrr() {
        let paying = SubscriptionStatus::words_where(SubscriptionStatus::carries_mrr);
        assert_eq!(paying, ["active", "past_due"]);
        for status in SubscriptionStatus::ALL {
            assert_eq!(
                paying.contains(&status.as_str()),
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
