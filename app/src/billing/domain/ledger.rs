//! The subscription ledger's rule for events that arrive late: pure.
//!
//! Every state a subscription was in is kept as a *revision* at its
//! effective time (when it happened at the provider), ordered by
//! `(time, cause)`: Stripe's times have one-second resolution, and the cause
//! (the event id) orders changes within a second the same way whatever order
//! they arrive in. The ledger has one row per revision whose state differs
//! from the revision before it, with that one as its "before".
//!
//! A revision placed at the end only ever adds a row. One placed between two
//! others (it arrived after a later one) changes at most the row of the
//! revision right after it: that row now starts from the new state, or
//! disappears (same state), or appears (it was a repeat of the old
//! predecessor). [`place`] says which; everything after is untouched. So a
//! history applied in any order ends in the same live ledger as in order.
//!
//! A ledger row is a change between two states; [`classify_change`] names
//! its kind by its most telling part.

use super::mrr::Discount;
use super::snapshot::plan_of_items;
use super::status::SubscriptionStatus;
use serde::{Deserialize, Serialize};

/// What kind of ledger entry separates two states of a subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// A trial began (the first state of a subscription that starts trialing).
    TrialStarted,
    /// First seen, not as a trial.
    Created,
    /// Status changed (activation, past due, cancel, …).
    StatusChanged,
    /// Tier or cycle changed.
    PlanChanged,
    /// Quantities (add-ons) changed.
    QuantityChanged,
    /// Discount changed.
    DiscountChanged,
}

impl ChangeKind {
    /// The ledger's word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::TrialStarted => "trial_started",
            ChangeKind::Created => "created",
            ChangeKind::StatusChanged => "status_changed",
            ChangeKind::PlanChanged => "plan_changed",
            ChangeKind::QuantityChanged => "quantity_changed",
            ChangeKind::DiscountChanged => "discount_changed",
        }
    }
}

/// The parts of a subscription the ledger tracks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerState {
    /// The subscription's state.
    pub status: SubscriptionStatus,
    /// Items as (lookup key, quantity), sorted.
    pub items: Vec<(String, u32)>,
    /// Discounts that apply (only forever ones change MRR).
    pub discounts: Vec<Discount>,
}

/// The ledger entry kind between two states; `None` if the ledger does not
/// care (only periods or flags moved). The most telling change names the row:
/// status, then plan, then quantity, then discount.
pub fn classify_change(before: Option<&LedgerState>, after: &LedgerState) -> Option<ChangeKind> {
    let Some(before) = before else {
        return Some(if after.status == SubscriptionStatus::Trialing {
            ChangeKind::TrialStarted
        } else {
            ChangeKind::Created
        });
    };
    let plan = |s: &LedgerState| plan_of_items(s.items.iter().map(|(k, q)| (k.as_str(), *q)));
    if before.status != after.status {
        Some(ChangeKind::StatusChanged)
    } else if plan(before).map(|p| (p.tier, p.cycle)) != plan(after).map(|p| (p.tier, p.cycle)) {
        Some(ChangeKind::PlanChanged)
    } else if before.items != after.items {
        Some(ChangeKind::QuantityChanged)
    } else if before.discounts != after.discounts {
        Some(ChangeKind::DiscountChanged)
    } else {
        None
    }
}

/// What the ledger must do for the revision right after a newly placed one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextRowFix {
    /// Nothing: there is no next revision, or its row is unchanged.
    Keep,
    /// Its row no longer says anything (it repeats the new state): supersede it.
    Supersede,
    /// Its row starts from the new state now: supersede it and append its
    /// restatement, of this kind.
    Restate(ChangeKind),
    /// It had no row (it repeated the old predecessor) and now differs from
    /// the new state: append one, of this kind.
    Append(ChangeKind),
}

/// The ledger's changes for one newly placed revision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    /// The new revision's own row, if its state differs from the previous one.
    pub row: Option<ChangeKind>,
    /// What happens to the next revision's row.
    pub next: NextRowFix,
}

/// Places `new` between the states of the revisions before and after it
/// (`None` at either end).
pub fn place(previous: Option<&LedgerState>, new: &LedgerState, next: Option<&LedgerState>) -> Placement {
    let row = classify_change(previous, new);
    let next = match next {
        None => NextRowFix::Keep,
        Some(next) => match (classify_change(previous, next), classify_change(Some(new), next)) {
            (None, None) => NextRowFix::Keep,
            (Some(_), None) => NextRowFix::Supersede,
            (None, Some(kind)) => NextRowFix::Append(kind),
            // The new state repeats the previous one: the next row's "before" is unchanged.
            (Some(_), Some(_)) if row.is_none() => NextRowFix::Keep,
            (Some(_), Some(kind)) => NextRowFix::Restate(kind),
        },
    };
    Placement { row, next }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::billing::domain::{Discount, DiscountDuration, SubscriptionStatus};
    use claims::{assert_none, assert_some_eq};
    use proptest::prelude::*;

    #[test]
    fn changes_are_classified_by_their_most_telling_part() {
        let state = |status, items: &[(&str, u32)], discounts: Vec<Discount>| LedgerState {
            status,
            items: items.iter().map(|(k, q)| ((*k).to_owned(), *q)).collect(),
            discounts,
        };
        let base = state(
            SubscriptionStatus::Active,
            &[("gatehouse.tier.starter.monthly", 1)],
            vec![],
        );
        assert_some_eq!(classify_change(None, &base), ChangeKind::Created);
        assert_none!(classify_change(Some(&base), &base));
        let past_due = state(
            SubscriptionStatus::PastDue,
            &[("gatehouse.tier.pro.monthly", 1)],
            vec![],
        );
        assert_some_eq!(classify_change(Some(&base), &past_due), ChangeKind::StatusChanged);
        let annual = state(
            SubscriptionStatus::Active,
            &[("gatehouse.tier.starter.annual", 1)],
            vec![],
        );
        assert_some_eq!(classify_change(Some(&base), &annual), ChangeKind::PlanChanged);
        let seats = state(
            SubscriptionStatus::Active,
            &[
                ("gatehouse.add_on.extra_user.monthly", 2),
                ("gatehouse.tier.starter.monthly", 1),
            ],
            vec![],
        );
        assert_some_eq!(classify_change(Some(&base), &seats), ChangeKind::QuantityChanged);
        let discounted = state(
            SubscriptionStatus::Active,
            &[("gatehouse.tier.starter.monthly", 1)],
            vec![Discount::PercentOff {
                basis_points: 1000,
                duration: DiscountDuration::Forever,
            }],
        );
        assert_some_eq!(
            classify_change(Some(&base), &discounted),
            ChangeKind::DiscountChanged
        );
    }

    fn state(status: SubscriptionStatus, tier: &str) -> LedgerState {
        LedgerState {
            status,
            items: vec![(format!("gatehouse.tier.{tier}.monthly"), 1)],
            discounts: vec![],
        }
    }

    #[test]
    fn a_revision_at_the_end_only_adds_its_row() {
        let trial = state(SubscriptionStatus::Trialing, "starter");
        let active = state(SubscriptionStatus::Active, "starter");
        assert_eq!(
            place(Some(&trial), &active, None),
            Placement {
                row: Some(ChangeKind::StatusChanged),
                next: NextRowFix::Keep
            }
        );
        assert_eq!(place(None, &trial, None).row, Some(ChangeKind::TrialStarted));
        assert_eq!(place(Some(&active), &active, None).row, None);
    }

    #[test]
    fn a_late_revision_restates_supersedes_or_adds_the_next_row() {
        let trial = state(SubscriptionStatus::Trialing, "starter");
        let active = state(SubscriptionStatus::Active, "starter");
        let pro = state(SubscriptionStatus::Active, "professional");
        // trial → pro was recorded; the active in between arrives late.
        assert_eq!(
            place(Some(&trial), &active, Some(&pro)),
            Placement {
                row: Some(ChangeKind::StatusChanged),
                next: NextRowFix::Restate(ChangeKind::PlanChanged)
            }
        );
        // trial → active was recorded; a late copy of "active" comes before it.
        assert_eq!(
            place(Some(&trial), &active, Some(&active)),
            Placement {
                row: Some(ChangeKind::StatusChanged),
                next: NextRowFix::Supersede
            }
        );
        // active, then active again (no row); a late "pro" arrives between them.
        assert_eq!(
            place(Some(&active), &pro, Some(&active)),
            Placement {
                row: Some(ChangeKind::PlanChanged),
                next: NextRowFix::Append(ChangeKind::PlanChanged)
            }
        );
        // A late repeat of the previous state changes nothing.
        assert_eq!(
            place(Some(&trial), &trial, Some(&active)),
            Placement {
                row: None,
                next: NextRowFix::Keep
            }
        );
    }

    /// The ledger as the database keeps it: revisions, and rows with a
    /// superseded flag, changed only as [`place`] says.
    #[derive(Default)]
    struct Model {
        revisions: Vec<(u32, LedgerState)>,
        rows: Vec<(u32, Option<LedgerState>, LedgerState, ChangeKind, bool)>,
    }

    impl Model {
        fn record(&mut self, at: u32, state: LedgerState) {
            if self.revisions.iter().any(|(t, _)| *t == at) {
                return; // a duplicate delivery
            }
            let previous = self
                .revisions
                .iter()
                .filter(|(t, _)| *t < at)
                .max_by_key(|(t, _)| *t)
                .cloned();
            let next = self
                .revisions
                .iter()
                .filter(|(t, _)| *t > at)
                .min_by_key(|(t, _)| *t)
                .cloned();
            self.revisions.push((at, state.clone()));
            let placement = place(
                previous.as_ref().map(|p| &p.1),
                &state,
                next.as_ref().map(|n| &n.1),
            );
            if let Some(kind) = placement.row {
                self.rows
                    .push((at, previous.map(|p| p.1), state.clone(), kind, false));
            }
            let supersede = |rows: &mut Vec<(u32, Option<LedgerState>, LedgerState, ChangeKind, bool)>,
                             at: u32| {
                for row in rows.iter_mut().filter(|r| r.0 == at && !r.4) {
                    row.4 = true;
                }
            };
            if let Some((next_at, next_state)) = next {
                match placement.next {
                    NextRowFix::Keep => {}
                    NextRowFix::Supersede => supersede(&mut self.rows, next_at),
                    NextRowFix::Restate(kind) => {
                        supersede(&mut self.rows, next_at);
                        self.rows.push((next_at, Some(state), next_state, kind, false));
                    }
                    NextRowFix::Append(kind) => {
                        self.rows.push((next_at, Some(state), next_state, kind, false))
                    }
                }
            }
        }

        fn live(&self) -> Vec<(u32, Option<LedgerState>, LedgerState, ChangeKind)> {
            let mut live: Vec<_> = self
                .rows
                .iter()
                .filter(|r| !r.4)
                .map(|r| (r.0, r.1.clone(), r.2.clone(), r.3))
                .collect();
            live.sort_by_key(|r| r.0);
            live
        }
    }

    fn any_state() -> impl Strategy<Value = LedgerState> {
        (0..3usize, 0..2usize).prop_map(|(status, tier)| {
            let status = [
                SubscriptionStatus::Trialing,
                SubscriptionStatus::Active,
                SubscriptionStatus::PastDue,
            ][status];
            state(status, ["starter", "professional"][tier])
        })
    }

    proptest! {
        #[test]
        fn any_arrival_order_with_duplicates_ends_in_the_in_order_ledger(
            states in prop::collection::vec(any_state(), 1..12),
            order in prop::collection::vec(any::<prop::sample::Index>(), 1..30),
        ) {
            let history: Vec<(u32, LedgerState)> =
                states.into_iter().enumerate().map(|(i, s)| (i as u32 * 10, s)).collect();
            let mut in_order = Model::default();
            for (at, state) in &history {
                in_order.record(*at, state.clone());
            }
            // Every event at least once, then redeliveries, in a shuffled order.
            let mut arrivals: Vec<usize> = (0..history.len()).collect();
            for (i, pick) in order.iter().enumerate() {
                let j = pick.index(arrivals.len());
                if i % 3 == 0 {
                    arrivals.push(arrivals[j]);
                } else {
                    let last = arrivals.len() - 1;
                    arrivals.swap(j, last);
                }
            }
            let mut shuffled = Model::default();
            for index in arrivals {
                let (at, state) = &history[index];
                shuffled.record(*at, state.clone());
            }
            prop_assert_eq!(shuffled.live(), in_order.live());
            // And the in-order ledger is the plain definition: one row per change.
            let mut expected = Vec::new();
            let mut previous: Option<LedgerState> = None;
            for (at, state) in &history {
                if let Some(kind) = classify_change(previous.as_ref(), state) {
                    expected.push((*at, previous.clone(), state.clone(), kind));
                }
                previous = Some(state.clone());
            }
            prop_assert_eq!(in_order.live(), expected);
        }
    }
}
