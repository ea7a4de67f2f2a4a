//! The headline cards of a window of months, each against the same number
//! of months just before it. Every card is a sum or a ratio of the monthly
//! figures `METRICS.md` defines, so a card and the export's months agree.

use super::report::{PeriodFigures, Rate, Window, ltv};
use crate::billing::domain::series::{Month, MovementKind};
use std::collections::BTreeMap;

/// A window's headline figures.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowKpis {
    /// The window.
    pub window: Window,
    /// MRR at the window's end (the headline's "now" for a running month).
    pub mrr_cents: i64,
    /// MRR at the window's start.
    pub mrr_start_cents: i64,
    /// New + reactivation + expansion + contraction + churn in the window.
    pub net_new_mrr_cents: i64,
    /// (MRR at the start + all four changes of existing MRR) ÷ MRR at the start: 1 − net MRR churn.
    pub net_revenue_retention: Rate,
    /// (MRR at the start + churn + contraction) ÷ MRR at the start: 1 − gross MRR churn.
    pub gross_revenue_retention: Rate,
    /// Customers lost in each month ÷ customers at each month's start, summed over the window's months.
    pub customer_churn: Rate,
    /// MRR ÷ active customers at the end.
    pub arpa_cents: Option<i64>,
    /// LTV at the window's last month.
    pub ltv_cents: Option<i64>,
    /// Trials converted ÷ trials ended in the window.
    pub trial_conversion: Rate,
    /// (New + reactivation + expansion) ÷ −(contraction + churn).
    pub quick_ratio: Rate,
}

impl WindowKpis {
    /// ARR: 12 × MRR.
    pub fn arr_cents(&self) -> i64 {
        12 * self.mrr_cents
    }
}

/// The window's months just before it, as many as it has.
pub fn previous_window(window: Window) -> Window {
    let length = window.last.since(window.first) + 1;
    Window {
        first: window.first.plus(-length),
        last: window.first.plus(-1),
    }
}

/// The figures of `window`; `figures` holds its months and the two before.
pub fn window_kpis(figures: &BTreeMap<Month, PeriodFigures>, window: Window) -> WindowKpis {
    let empty = PeriodFigures::default();
    let month = |m: Month| figures.get(&m).unwrap_or(&empty);
    let months: Vec<&PeriodFigures> = Month::range(window.first, window.last).map(month).collect();
    let sum = |pick: &dyn Fn(&PeriodFigures) -> i64| months.iter().map(|f| pick(f)).sum::<i64>();
    let movement = |kind: MovementKind| sum(&|f| f.movement(kind));
    let (first, last) = (month(window.first), month(window.last));
    let lost = movement(MovementKind::Churn) + movement(MovementKind::Contraction);
    let gained = movement(MovementKind::NewBusiness)
        + movement(MovementKind::Reactivation)
        + movement(MovementKind::Expansion);
    let existing_change = lost + movement(MovementKind::Reactivation) + movement(MovementKind::Expansion);
    let churn_rates: Vec<Rate> = (0..3)
        .map(|back| month(window.last.plus(-back)).customer_churn_rate())
        .collect();
    WindowKpis {
        window,
        mrr_cents: last.mrr_end,
        mrr_start_cents: first.mrr_start,
        net_new_mrr_cents: gained + lost,
        net_revenue_retention: Rate::new(first.mrr_start + existing_change, first.mrr_start),
        gross_revenue_retention: Rate::new(first.mrr_start + lost, first.mrr_start),
        customer_churn: Rate::new(sum(&|f| f.churned_customers), sum(&|f| f.active_start)),
        arpa_cents: last.arpa(),
        ltv_cents: last.arpa().and_then(|arpa| ltv(arpa, &churn_rates)),
        trial_conversion: Rate::new(sum(&|f| f.trials_converted), sum(&|f| f.trials_ended)),
        quick_ratio: Rate::new(gained, -lost),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn month(text: &str) -> Month {
        Month::parse(text).unwrap()
    }

    fn figures(mrr_start: i64, movements: [i64; 5], active: (i64, i64), churned: i64) -> PeriodFigures {
        PeriodFigures {
            mrr_start,
            mrr_end: mrr_start + movements.iter().sum::<i64>(),
            active_start: active.0,
            active_end: active.1,
            churned_customers: churned,
            movements,
            ..PeriodFigures::default()
        }
    }

    #[test]
    fn the_previous_window_is_as_long_and_ends_the_month_before() {
        let cases = [
            ("2026-12", "2026-12", "2026-11", "2026-11"),
            ("2026-10", "2026-12", "2026-07", "2026-09"),
            ("2026-01", "2026-12", "2025-01", "2025-12"),
            ("2026-02", "2026-03", "2025-12", "2026-01"),
        ];
        for (first, last, previous_first, previous_last) in cases {
            let previous = previous_window(Window {
                first: month(first),
                last: month(last),
            });
            assert_eq!(
                (previous.first, previous.last),
                (month(previous_first), month(previous_last)),
                "{first}..{last}"
            );
        }
    }

    #[test]
    fn a_window_sums_its_months_movements_and_pools_their_churn() {
        // MovementKind::ALL order: new, reactivation, expansion, contraction, churn.
        let map = BTreeMap::from([
            (
                month("2026-01"),
                figures(10_000, [2_000, 0, 1_000, -500, -1_000], (10, 11), 1),
            ),
            (
                month("2026-02"),
                figures(11_500, [0, 500, 0, 0, -2_000], (11, 10), 2),
            ),
        ]);
        let kpis = window_kpis(
            &map,
            Window {
                first: month("2026-01"),
                last: month("2026-02"),
            },
        );
        assert_eq!(kpis.mrr_start_cents, 10_000);
        assert_eq!(kpis.mrr_cents, 10_000);
        assert_eq!(kpis.arr_cents(), 120_000);
        assert_eq!(kpis.net_new_mrr_cents, 0);
        // Existing MRR: −500 − 1,000 + 500 + 1,000 − 2,000 = −2,000 of 10,000.
        assert_eq!(kpis.net_revenue_retention.value, Some(0.8));
        // Lost: −500 − 1,000 − 2,000 = −3,500.
        assert_eq!(kpis.gross_revenue_retention.value, Some(0.65));
        assert_eq!(
            (kpis.customer_churn.numerator, kpis.customer_churn.denominator),
            (3, 21)
        );
        assert_eq!(kpis.arpa_cents, Some(1_000));
        // Gained 3,500 against lost 3,500.
        assert_eq!(kpis.quick_ratio.value, Some(1.0));
        // Nothing lost: the quick ratio is undefined, never infinite.
        let growing = BTreeMap::from([(month("2026-03"), figures(1_000, [500, 0, 0, 0, 0], (1, 2), 0))]);
        let window = Window {
            first: month("2026-03"),
            last: month("2026-03"),
        };
        assert_eq!(window_kpis(&growing, window).quick_ratio.value, None);
        // A window before any history: zeros and undefined rates, no panic.
        let before = window_kpis(&growing, previous_window(window));
        assert_eq!((before.mrr_cents, before.net_revenue_retention.value), (0, None));
    }
}
