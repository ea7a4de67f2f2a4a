//! Subscription states and MRR, exactly as `shared/METRICS.md` defines them.
//!
//! MRR is kept as an exact fraction of minor units until the customer level,
//! where it is rounded half-even once; so two annual subscriptions of
//! $529 make $88.17 of customer MRR, not 2 × $44.08.

use super::status::{IntervalUnit, SubscriptionStatus};
use crate::catalog::money::div_round_half_even;
use serde::{Deserialize, Serialize};

/// A recurring, licensed (not metered) subscription item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecurringItem {
    /// Price per unit per billing period, in minor units.
    pub unit_amount: i64,
    /// How many units the item bills.
    pub quantity: u32,
    /// Billing interval unit.
    pub interval: IntervalUnit,
    /// Intervals per billing period (Stripe's `interval_count`, ≥ 1).
    pub interval_count: u32,
}

/// How long a coupon applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DiscountDuration {
    /// On every invoice: reduces MRR.
    Forever,
    /// On one invoice: does not reduce MRR.
    Once,
    /// For some months: does not reduce MRR.
    Repeating,
}

/// A discount on a whole subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Discount {
    /// A percentage in basis points (2,000 = 20 %).
    PercentOff {
        /// Basis points, 0–10,000.
        basis_points: u32,
        /// How long it applies.
        duration: DiscountDuration,
    },
    /// A fixed amount off each invoice, in minor units.
    AmountOff {
        /// Minor units per invoice.
        amount: i64,
        /// How long it applies.
        duration: DiscountDuration,
    },
}

/// An exact amount of minor units per month: `numerator / denominator`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExactMrr {
    numerator: i128,
    denominator: i128,
}

fn gcd(a: i128, b: i128) -> i128 {
    if b == 0 { a.abs() } else { gcd(b, a % b) }
}

impl ExactMrr {
    /// No MRR at all.
    pub const ZERO: ExactMrr = ExactMrr {
        numerator: 0,
        denominator: 1,
    };

    fn new(numerator: i128, denominator: i128) -> Self {
        let divisor = gcd(numerator, denominator).max(1);
        ExactMrr {
            numerator: numerator / divisor,
            denominator: denominator / divisor,
        }
    }

    /// The sum of two amounts.
    pub fn plus(self, other: ExactMrr) -> ExactMrr {
        ExactMrr::new(
            self.numerator * other.denominator + other.numerator * self.denominator,
            self.denominator * other.denominator,
        )
    }

    /// `numerator / denominator` minor units (`denominator` > 0), reduced;
    /// `None` for a zero or negative denominator.
    pub fn from_parts(numerator: i128, denominator: i128) -> Option<ExactMrr> {
        (denominator > 0).then(|| ExactMrr::new(numerator, denominator))
    }

    /// A whole number of minor units.
    pub fn whole(minor_units: i64) -> ExactMrr {
        ExactMrr::new(i128::from(minor_units), 1)
    }

    /// The reduced fraction, `(numerator, denominator)`, denominator > 0.
    pub fn parts(self) -> (i128, i128) {
        (self.numerator, self.denominator)
    }

    /// The largest whole number of minor units not above it.
    pub fn floor(self) -> i64 {
        i64::try_from(self.numerator.div_euclid(self.denominator)).unwrap_or(i64::MAX)
    }

    /// It less a whole number of minor units.
    pub fn minus_whole(self, minor_units: i64) -> ExactMrr {
        ExactMrr::new(
            self.numerator - i128::from(minor_units) * self.denominator,
            self.denominator,
        )
    }

    /// Compares two amounts by value.
    pub fn cmp_value(&self, other: &ExactMrr) -> std::cmp::Ordering {
        (self.numerator * other.denominator).cmp(&(other.numerator * self.denominator))
    }

    /// Rounded half-even to whole minor units: done once, per customer.
    pub fn rounded(self) -> i64 {
        let rounded = div_round_half_even(
            i64::try_from(self.numerator).unwrap_or(i64::MAX),
            i64::try_from(self.denominator).unwrap_or(1),
        );
        rounded.max(0)
    }
}

/// A subscription's MRR, exact: zero unless it carries MRR; the recurring
/// items normalised to one month; forever discounts subtracted, others not.
pub fn subscription_mrr(
    status: SubscriptionStatus,
    items: &[RecurringItem],
    discounts: &[Discount],
) -> ExactMrr {
    if !status.carries_mrr() {
        return ExactMrr::ZERO;
    }
    let mut total = ExactMrr::ZERO;
    // Per-period amount and the period's length, for amount-off coupons.
    let mut periods_per_year = None;
    for item in items {
        let count = i128::from(item.interval_count.max(1));
        let per_year = item.interval.periods_per_year();
        let period_amount = i128::from(item.unit_amount) * i128::from(item.quantity);
        // amount × (periods per year ÷ count) ÷ 12 months.
        total = total.plus(ExactMrr::new(period_amount * per_year, 12 * count));
        periods_per_year.get_or_insert((per_year, count));
    }
    for discount in discounts {
        match *discount {
            Discount::PercentOff {
                basis_points,
                duration: DiscountDuration::Forever,
            } => {
                let kept = 10_000 - i128::from(basis_points.min(10_000));
                total = ExactMrr::new(total.numerator * kept, total.denominator * 10_000);
            }
            Discount::AmountOff {
                amount,
                duration: DiscountDuration::Forever,
            } => {
                let (per_year, count) = periods_per_year.unwrap_or((12, 1));
                let monthly_off = ExactMrr::new(-i128::from(amount) * per_year, 12 * count);
                total = total.plus(monthly_off);
                if total.numerator < 0 {
                    total = ExactMrr::ZERO;
                }
            }
            Discount::PercentOff { .. } | Discount::AmountOff { .. } => {}
        }
    }
    total
}

/// A customer's MRR in whole minor units: the exact sum of its subscriptions,
/// rounded half-even once.
pub fn customer_mrr(subscriptions: &[ExactMrr]) -> i64 {
    subscriptions
        .iter()
        .fold(ExactMrr::ZERO, |sum, mrr| sum.plus(*mrr))
        .rounded()
}

#[cfg(test)]
mod tests {
    use super::*;
    use DiscountDuration::*;
    use IntervalUnit::*;
    use SubscriptionStatus::*;

    fn item(unit_amount: i64, quantity: u32, interval: IntervalUnit, interval_count: u32) -> RecurringItem {
        RecurringItem {
            unit_amount,
            quantity,
            interval,
            interval_count,
        }
    }

    fn mrr(status: SubscriptionStatus, items: &[RecurringItem], discounts: &[Discount]) -> i64 {
        customer_mrr(&[subscription_mrr(status, items, discounts)])
    }

    #[test]
    fn only_active_and_past_due_subscriptions_carry_mrr() {
        let starter = [item(4900, 1, Month, 1)];
        for status in SubscriptionStatus::ALL {
            let expected = if matches!(status, Active | PastDue) {
                4900
            } else {
                0
            };
            assert_eq!(mrr(status, &starter, &[]), expected, "{}", status.as_str());
            assert_eq!(SubscriptionStatus::parse(status.as_str()), Some(status));
        }
    }

    #[test]
    fn intervals_normalise_to_one_month() {
        assert_eq!(mrr(Active, &[item(4900, 1, Month, 1)], &[]), 4900);
        assert_eq!(
            mrr(Active, &[item(52900, 1, Year, 1)], &[]),
            4408,
            "52900 ÷ 12 = 4408.33"
        );
        assert_eq!(
            mrr(Active, &[item(15000, 1, Month, 3)], &[]),
            5000,
            "quarterly ÷ 3"
        );
        assert_eq!(
            mrr(Active, &[item(1000, 1, Week, 1)], &[]),
            4333,
            "weekly × 52 ÷ 12 = 4333.33"
        );
        assert_eq!(mrr(Active, &[item(2000, 1, Week, 2)], &[]), 4333, "fortnightly");
        assert_eq!(
            mrr(Active, &[item(100_000, 1, Year, 2)], &[]),
            4167,
            "biennial: 100000 ÷ 24 = 4166.67"
        );
    }

    #[test]
    fn quantities_and_add_ons_sum_before_rounding() {
        let items = [
            item(19900, 1, Month, 1),
            item(500, 3, Month, 1),
            item(50, 25, Month, 1),
        ];
        assert_eq!(mrr(Active, &items, &[]), 19900 + 1500 + 1250);
    }

    #[test]
    fn only_forever_discounts_reduce_mrr() {
        let starter = [item(4900, 1, Month, 1)];
        let forever = Discount::PercentOff {
            basis_points: 2000,
            duration: Forever,
        };
        assert_eq!(mrr(Active, &starter, &[forever]), 3920);
        for duration in [Once, Repeating] {
            let temporary = Discount::PercentOff {
                basis_points: 2000,
                duration,
            };
            assert_eq!(mrr(Active, &starter, &[temporary]), 4900, "{duration:?}");
        }
        let amount = Discount::AmountOff {
            amount: 900,
            duration: Forever,
        };
        assert_eq!(mrr(Active, &starter, &[amount]), 4000);
        let annual_amount = Discount::AmountOff {
            amount: 1200,
            duration: Forever,
        };
        assert_eq!(
            mrr(Active, &[item(52900, 1, Year, 1)], &[annual_amount]),
            4308,
            "(52900 − 1200) ÷ 12 = 4308.33"
        );
    }

    #[test]
    fn a_fully_discounted_subscription_carries_no_mrr() {
        let starter = [item(4900, 1, Month, 1)];
        assert_eq!(
            mrr(
                Active,
                &starter,
                &[Discount::PercentOff {
                    basis_points: 10_000,
                    duration: Forever
                }]
            ),
            0
        );
        assert_eq!(
            mrr(
                Active,
                &starter,
                &[Discount::AmountOff {
                    amount: 99_999,
                    duration: Forever
                }]
            ),
            0
        );
    }

    #[test]
    fn rounding_happens_once_per_customer_and_half_to_even() {
        let annual = subscription_mrr(Active, &[item(52900, 1, Year, 1)], &[]);
        assert_eq!(
            customer_mrr(&[annual, annual]),
            8817,
            "105800 ÷ 12 = 8816.67, not 4408 + 4408"
        );
        // 4408.5 rounds to the even 4408; 4409.5 to 4410.
        assert_eq!(
            customer_mrr(&[subscription_mrr(Active, &[item(105_804, 1, Year, 2)], &[])]),
            4408
        );
        assert_eq!(
            customer_mrr(&[subscription_mrr(Active, &[item(105_828, 1, Year, 2)], &[])]),
            4410
        );
    }

    #[test]
    fn exact_sums_are_associative_over_many_subscriptions() {
        // 1..=40 weekly prices summed exactly equal the rounded exact total.
        let subscriptions: Vec<ExactMrr> = (1..=40)
            .map(|n| subscription_mrr(Active, &[item(n * 37, 1, Week, 1)], &[]))
            .collect();
        let total_weekly: i64 = (1..=40).map(|n| n * 37).sum();
        assert_eq!(
            customer_mrr(&subscriptions),
            div_round_half_even(total_weekly * 52, 12)
        );
    }
}
