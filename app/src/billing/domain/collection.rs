//! The collection ladder's rules: what a failed, unauthenticated or
//! successful payment, the grace period's end and the subscription's end do
//! to a collection case (one unpaid invoice). Stripe (or the sandbox)
//! retries the charge; this decides what the customer experiences.

use serde::{Deserialize, Serialize};

crate::stored_words! {
    /// Where a collection case stands (`collection_case.state`).
    #[derive(Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum CaseState {
        /// A charge failed; the provider retries.
        Failing => "failing",
        /// The bank asks the cardholder to authenticate the payment.
        ActionRequired => "action_required",
        /// The grace period ran out unpaid: the organisation is read-only.
        Restricted => "restricted",
        /// Paid: closed, any restriction lifted.
        Recovered => "recovered",
        /// The subscription ended unpaid: closed.
        Lapsed => "lapsed",
    }
}

impl CaseState {
    /// Whether the case is still open (the invoice unpaid, the
    /// subscription alive).
    pub fn is_open(self) -> bool {
        matches!(
            self,
            CaseState::Failing | CaseState::ActionRequired | CaseState::Restricted
        )
    }

    /// Whether the case is open and its organisation not yet restricted
    /// (its grace period still runs).
    pub fn is_in_grace(self) -> bool {
        self.is_open() && self != CaseState::Restricted
    }

    /// What the console and the history call it.
    pub fn label(self) -> &'static str {
        match self {
            CaseState::Failing => "Payment failing",
            CaseState::ActionRequired => "Needs authentication",
            CaseState::Restricted => "Restricted (read-only)",
            CaseState::Recovered => "Paid",
            CaseState::Lapsed => "Ended unpaid",
        }
    }
}

/// What happened to the invoice or its subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// A charge failed (`invoice.payment_failed`).
    PaymentFailed,
    /// The bank wants authentication (`invoice.payment_action_required`).
    ActionRequired,
    /// The invoice was paid (`invoice.paid`).
    Paid,
    /// The grace period after the first failure ended (the runner's sweep).
    GraceOver,
    /// The subscription ended or its retries ran out (`canceled`, `unpaid`).
    SubscriptionEnded,
}

/// A step a case takes: its state afterwards, and the step recorded (and
/// told to the customer) once per case and attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    /// The case's state after the step.
    pub state: CaseState,
    /// The step's name in the history (a failure while restricted is a
    /// `Failing` step that leaves the case restricted).
    pub step: CaseState,
}

/// What `signal` does to a case in `state` (`None`: there is no case yet).
/// `None` back: nothing happens (no case to open, or the case is closed).
pub fn next(state: Option<CaseState>, signal: Signal) -> Option<Step> {
    use CaseState::*;
    let step = |state, step| Some(Step { state, step });
    match (state, signal) {
        (None, Signal::PaymentFailed) => step(Failing, Failing),
        (None, Signal::ActionRequired) => step(ActionRequired, ActionRequired),
        (None, _) => None,
        (Some(Failing | ActionRequired), Signal::PaymentFailed) => step(Failing, Failing),
        (Some(Failing | ActionRequired), Signal::ActionRequired) => step(ActionRequired, ActionRequired),
        (Some(Restricted), Signal::PaymentFailed) => step(Restricted, Failing),
        (Some(Restricted), Signal::ActionRequired) => step(Restricted, ActionRequired),
        (Some(Failing | ActionRequired), Signal::GraceOver) => step(Restricted, Restricted),
        (Some(Failing | ActionRequired | Restricted | Lapsed), Signal::Paid) => step(Recovered, Recovered),
        (Some(Failing | ActionRequired | Restricted), Signal::SubscriptionEnded) => step(Lapsed, Lapsed),
        (Some(Restricted), Signal::GraceOver)
        | (Some(Recovered), _)
        | (
            Some(Lapsed),
            Signal::PaymentFailed | Signal::ActionRequired | Signal::GraceOver | Signal::SubscriptionEnded,
        ) => None,
    }
}

/// A case as the console and the portal show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseView {
    /// The provider's invoice.
    pub invoice: String,
    /// Where it stands.
    pub state: CaseState,
    /// Attempts so far.
    pub attempt: i32,
    /// The amount, with its currency.
    pub amount: String,
    /// The next retry's day, if one is scheduled.
    pub next_retry_on: Option<String>,
    /// The day the grace period ends (restriction), for open unrestricted cases.
    pub restricts_on: Option<String>,
    /// Where the customer pays or authenticates, if the provider hosts it.
    pub pay_url: Option<String>,
    /// Opened (first failure at the provider), as a time in words.
    pub past_due_since: String,
    /// Its steps, oldest first.
    pub steps: Vec<StepView>,
}

/// One step of a case's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepView {
    /// The step.
    pub step: CaseState,
    /// The attempt it belongs to (0 for grace and closing steps).
    pub attempt: i32,
    /// What took it.
    pub cause: String,
    /// When it happened at the provider, as a time in words.
    pub occurred: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use CaseState::*;

    #[test]
    fn a_query_reads_the_states_of_the_grace_period_and_of_an_open_case_from_the_type() {
        for state in CaseState::ALL {
            assert_eq!(
                state.is_in_grace(),
                matches!(state, Failing | ActionRequired),
                "{state:?}"
            );
        }
        assert_eq!(
            CaseState::words_where(CaseState::is_in_grace),
            ["failing", "action_required"]
        );
        assert_eq!(
            CaseState::words_where(CaseState::is_open),
            ["failing", "action_required", "restricted"]
        );
        assert!(CaseState::words_where(|_| false).is_empty());
    }

    const SIGNALS: [Signal; 5] = [
        Signal::PaymentFailed,
        Signal::ActionRequired,
        Signal::Paid,
        Signal::GraceOver,
        Signal::SubscriptionEnded,
    ];

    #[test]
    fn the_ladder_climbs_and_comes_down_on_payment() {
        let walk = [
            (Signal::PaymentFailed, Failing),
            (Signal::PaymentFailed, Failing),
            (Signal::ActionRequired, ActionRequired),
            (Signal::PaymentFailed, Failing),
            (Signal::GraceOver, Restricted),
            (Signal::PaymentFailed, Restricted),
            (Signal::Paid, Recovered),
        ];
        let mut state = None;
        for (signal, expected) in walk {
            state = Some(next(state, signal).unwrap().state);
            assert_eq!(state, Some(expected), "after {signal:?}");
        }
        assert_eq!(
            next(state, Signal::PaymentFailed),
            None,
            "a paid case stays closed"
        );
    }

    #[test]
    fn only_a_failure_opens_a_case() {
        assert_eq!(next(None, Signal::Paid), None);
        assert_eq!(next(None, Signal::GraceOver), None);
        assert_eq!(next(None, Signal::SubscriptionEnded), None);
        assert_eq!(
            next(None, Signal::ActionRequired).map(|s| s.state),
            Some(ActionRequired)
        );
    }

    #[test]
    fn every_state_and_signal_has_an_answer_and_closed_cases_reopen_only_by_payment() {
        for state in [
            None,
            Some(Failing),
            Some(ActionRequired),
            Some(Restricted),
            Some(Recovered),
            Some(Lapsed),
        ] {
            for signal in SIGNALS {
                let answer = next(state, signal);
                if let Some(step) = answer {
                    // A payment always closes; only a payment leaves a closed case.
                    assert_eq!(
                        signal == Signal::Paid,
                        step.state == Recovered,
                        "{state:?} {signal:?}"
                    );
                    if state.is_some_and(|s| !s.is_open()) {
                        assert_eq!(signal, Signal::Paid, "{state:?} {signal:?}");
                    }
                    // Restriction comes only from the grace period and is kept by failures.
                    if step.state == Restricted {
                        assert!(signal == Signal::GraceOver || state == Some(Restricted));
                    }
                }
            }
        }
    }

    #[test]
    fn states_read_back_from_their_words() {
        for state in [Failing, ActionRequired, Restricted, Recovered, Lapsed] {
            assert_eq!(CaseState::parse(state.as_str()), Some(state));
        }
        assert_eq!(CaseState::parse("past_due"), None);
    }
}
