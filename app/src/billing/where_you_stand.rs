//! What the portal says first about billing: the plan's status in words,
//! what happens next with money (the next charge and its day, or the
//! trial's end and what follows), and the one thing to do, if any.

use super::domain::SubscriptionStatus;
use serde::{Deserialize, Serialize};

/// The one call to action that applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum NextStep {
    /// No plan is paid for: pick one.
    ChoosePlan,
    /// A payment failed or waits: fix the payment method.
    FixPayment,
}

impl NextStep {
    /// The button's words.
    pub fn label(self) -> &'static str {
        match self {
            NextStep::ChoosePlan => "Choose a plan",
            NextStep::FixPayment => "Fix the payment",
        }
    }
}

/// Where the customer stands, in words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WhereYouStand {
    /// The status in words (`In trial`, `Active`, …).
    pub status: String,
    /// What happens next, with the amount and the day where there is a charge.
    pub next: String,
    /// The one call to action, if any.
    pub step: Option<NextStep>,
}

/// What the sentence is made of, already formatted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// The subscription's status; `None` before there is one.
    pub status: Option<SubscriptionStatus>,
    /// A provider subscription pays for it (checked out with a payment method).
    pub linked: bool,
    /// The trial's end day, while trialing.
    pub trial_ends_on: Option<String>,
    /// The day a signup trial ended without a plan (the account is paused since).
    pub trial_ended_on: Option<String>,
    /// The current period's end day.
    pub period_ends_on: Option<String>,
    /// Set to end at the period's end.
    pub cancel_at_period_end: bool,
    /// The next period's price (the scheduled plan's, if a change is due), formatted.
    pub next_amount: Option<String>,
    /// `month` or `year`.
    pub per: String,
    /// The payment method, described.
    pub card: Option<String>,
}

/// Where the customer stands, from its facts.
pub fn where_you_stand(facts: &Facts) -> WhereYouStand {
    use SubscriptionStatus::*;
    let to_card = facts
        .card
        .as_ref()
        .map(|c| format!(" to {c}"))
        .unwrap_or_default();
    let charge = |label: &str, day: &str| match &facts.next_amount {
        Some(amount) => format!("{label}: {amount}{to_card} on {day}, then every {}.", facts.per),
        None => format!("{label} on {day}{to_card}."),
    };
    let day = |d: &Option<String>| d.clone().unwrap_or_else(|| "the end of the period".to_owned());
    let (next, step) = match facts.status {
        None => (
            "You have no plan yet. Choose one to start.".to_owned(),
            Some(NextStep::ChoosePlan),
        ),
        Some(Trialing) if facts.linked => (
            format!(
                "Your trial ends on {}. {}",
                day(&facts.trial_ends_on),
                charge("First charge", &day(&facts.trial_ends_on))
            ),
            None,
        ),
        Some(Trialing) => (
            format!(
                "Your trial ends on {}. Then the account pauses until you choose a plan; nothing is lost.",
                day(&facts.trial_ends_on)
            ),
            Some(NextStep::ChoosePlan),
        ),
        Some(Active) if facts.cancel_at_period_end => (
            format!(
                "Your subscription ends on {}. Nothing more is charged.",
                day(&facts.period_ends_on)
            ),
            None,
        ),
        Some(Active) => (charge("Next charge", &day(&facts.period_ends_on)), None),
        Some(PastDue) => (
            "Your last payment failed. Your plan stays on while we retry; fix the payment to keep it."
                .to_owned(),
            Some(NextStep::FixPayment),
        ),
        Some(Unpaid) => (
            "A payment is overdue and the account is read-only until it is paid.".to_owned(),
            Some(NextStep::FixPayment),
        ),
        Some(Incomplete) => (
            "Your first payment has not gone through yet.".to_owned(),
            Some(NextStep::FixPayment),
        ),
        Some(Paused) if !facts.linked => (
            format!(
                "Your trial ended on {} and the account is paused. Nothing is lost: choose a plan below to continue.",
                day(&facts.trial_ended_on)
            ),
            Some(NextStep::ChoosePlan),
        ),
        Some(Paused) => (
            "Your subscription is paused: nothing is charged until it resumes.".to_owned(),
            None,
        ),
        Some(Canceled | IncompleteExpired) => (
            "Your subscription has ended. Choose a plan to start again.".to_owned(),
            Some(NextStep::ChoosePlan),
        ),
    };
    WhereYouStand {
        status: facts
            .status
            .map_or("No plan", SubscriptionStatus::label)
            .to_owned(),
        next,
        step,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use SubscriptionStatus::*;

    fn facts(status: Option<SubscriptionStatus>, linked: bool) -> Facts {
        Facts {
            status,
            linked,
            trial_ends_on: Some("21 December 2026".to_owned()),
            trial_ended_on: Some("30 November 2026".to_owned()),
            period_ends_on: Some("7 January 2027".to_owned()),
            cancel_at_period_end: false,
            next_amount: Some("$49.00".to_owned()),
            per: "month".to_owned(),
            card: Some("Visa ending 4242".to_owned()),
        }
    }

    #[test]
    fn every_state_says_what_happens_next_and_offers_only_the_step_that_applies() {
        // (status, checked out, cancelling at period end, the words, the step)
        type Case = (
            Option<SubscriptionStatus>,
            bool,
            bool,
            &'static str,
            Option<NextStep>,
        );
        let cases: &[Case] = &[
            (None, false, false, "no plan yet", Some(NextStep::ChoosePlan)),
            (
                Some(Trialing),
                false,
                false,
                "account pauses",
                Some(NextStep::ChoosePlan),
            ),
            (
                Some(Trialing),
                true,
                false,
                "Your trial ends on 21 December 2026. First charge: $49.00 to Visa ending 4242 on 21 December 2026, then every month.",
                None,
            ),
            (
                Some(Active),
                true,
                false,
                "Next charge: $49.00 to Visa ending 4242 on 7 January 2027, then every month.",
                None,
            ),
            (
                Some(Active),
                true,
                true,
                "ends on 7 January 2027. Nothing more",
                None,
            ),
            (
                Some(PastDue),
                true,
                false,
                "payment failed",
                Some(NextStep::FixPayment),
            ),
            (Some(Unpaid), true, false, "read-only", Some(NextStep::FixPayment)),
            (
                Some(Incomplete),
                true,
                false,
                "first payment",
                Some(NextStep::FixPayment),
            ),
            (
                Some(Paused),
                false,
                false,
                "trial ended on",
                Some(NextStep::ChoosePlan),
            ),
            (Some(Paused), true, false, "nothing is charged", None),
            (
                Some(Canceled),
                true,
                false,
                "has ended",
                Some(NextStep::ChoosePlan),
            ),
            (
                Some(IncompleteExpired),
                true,
                false,
                "has ended",
                Some(NextStep::ChoosePlan),
            ),
        ];
        for (status, linked, cancelling, says, step) in cases {
            let mut facts = facts(*status, *linked);
            facts.cancel_at_period_end = *cancelling;
            let stand = where_you_stand(&facts);
            assert!(
                stand.next.contains(says),
                "{status:?} linked={linked}: {}",
                stand.next
            );
            assert_eq!(stand.step, *step, "{status:?} linked={linked}");
            assert!(!stand.status.contains('_'), "a status in words: {}", stand.status);
        }
        // Without a known amount or card, still a day and no broken sentence.
        let mut bare = facts(Some(Active), true);
        bare.next_amount = None;
        bare.card = None;
        assert_eq!(where_you_stand(&bare).next, "Next charge on 7 January 2027.");
    }
}
