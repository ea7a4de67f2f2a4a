//! Who is behind a month's movements: each customer's new business,
//! reactivation, expansion, contraction and churn in that month, so a
//! founder can go from "churn was −$1,200 in March" to the accounts.

use crate::billing::domain::series::{History, Month, MovementKind, Rollup};

/// One customer's movements in a month.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mover {
    /// The customer's index in the history.
    pub customer: usize,
    /// Each movement kind's sum, in [`MovementKind::ALL`] order.
    pub movements: [i64; 5],
}

impl Mover {
    /// The customer's net change in the month.
    pub fn net(&self) -> i64 {
        self.movements.iter().sum()
    }

    /// The kinds that moved, with their amounts.
    pub fn kinds(&self) -> impl Iterator<Item = (MovementKind, i64)> + '_ {
        MovementKind::ALL
            .into_iter()
            .zip(self.movements)
            .filter(|(_, amount)| *amount != 0)
    }
}

/// Every customer that moved in `month`, the largest net change (either
/// way) first, then by customer for a stable order.
pub fn movers(history: &History, month: Month) -> Vec<Mover> {
    let (first, last) = (month.first_day(), month.last_day());
    let mut movers: Vec<Mover> = Rollup::per_customer(history)
        .into_iter()
        .enumerate()
        .filter_map(|(customer, rollup)| {
            let mut movements = [0; 5];
            for flows in rollup.days.range(first..=last).map(|(_, flows)| flows) {
                for (sum, amount) in movements.iter_mut().zip(flows.movements) {
                    *sum += amount;
                }
            }
            movements
                .iter()
                .any(|m| *m != 0)
                .then_some(Mover { customer, movements })
        })
        .collect();
    movers.sort_by_key(|m| (std::cmp::Reverse(m.net().abs()), m.customer));
    movers
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analytics::domain::{Labels, StatePoint, Window, report};
    use crate::billing::domain::SubscriptionStatus::{Active, Canceled};
    use chrono::{DateTime, Utc};

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn a_months_movers_add_up_to_its_movements() {
        let (mut plans, mut intervals) = (Labels::default(), Labels::default());
        let (plan, interval) = (plans.id("starter"), intervals.id("month"));
        let point = |customer: u32, when: &str, status, mrr: i64| StatePoint {
            customer,
            subscription: customer,
            at: at(when),
            status,
            plan,
            interval,
            mrr: crate::billing::domain::ExactMrr::whole(mrr),
        };
        let history = History::build(
            vec![
                point(0, "2026-01-05T00:00:00Z", Active, 1_000),
                point(0, "2026-02-10T00:00:00Z", Active, 3_000),
                point(1, "2026-01-07T00:00:00Z", Active, 2_000),
                point(1, "2026-02-20T00:00:00Z", Canceled, 0),
                point(2, "2026-02-01T00:00:00Z", Active, 500),
                point(3, "2026-01-09T00:00:00Z", Active, 700),
            ],
            plans,
            intervals,
        );
        let february = Month::parse("2026-02").unwrap();
        let moved = movers(&history, february);
        let order: Vec<(usize, i64)> = moved.iter().map(|m| (m.customer, m.net())).collect();
        assert_eq!(
            order,
            [(0, 2_000), (1, -2_000), (2, 500)],
            "largest first, ties by customer"
        );
        assert_eq!(
            moved[1].kinds().collect::<Vec<_>>(),
            [(MovementKind::Churn, -2_000)]
        );
        // The movers of a month sum to the month's movements in the report, kind by kind.
        let report = report(
            &Rollup::of(&history),
            Window {
                first: february,
                last: february,
            },
            at("2026-06-01T00:00:00Z"),
        );
        let month = &report.months[0].movements_cents;
        let sum = |kind: MovementKind| moved.iter().map(|m| m.movements[kind as usize]).sum::<i64>();
        assert_eq!(sum(MovementKind::NewBusiness), month.new_business);
        assert_eq!(sum(MovementKind::Expansion), month.expansion);
        assert_eq!(sum(MovementKind::Churn), month.churn);
        assert!(movers(&history, Month::parse("2026-03").unwrap()).is_empty());
    }
}
