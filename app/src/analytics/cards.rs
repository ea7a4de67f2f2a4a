//! The analytics page's headline cards in words: each figure of the chosen
//! window beside the previous window's and the change between them.

use super::domain::{Rate, WindowKpis};
use super::tables::{money, percent};

/// One card as the page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Card {
    /// A stable key for tests and styling (`mrr`, `quick_ratio`, …).
    pub key: &'static str,
    /// The figure's name.
    pub label: &'static str,
    /// This window's figure.
    pub now: String,
    /// The previous window's figure.
    pub previous: String,
    /// The change in words (`+$1,200.00`, `−1.25 pts`, `no change`, or “—”).
    pub change: String,
    /// What the figure is, in a sentence.
    pub meaning: &'static str,
}

/// A change with its sign, its size written by `size`: `+$1.00`, `−2.50`,
/// or `no change`. The minus is U+2212, as in print.
pub fn signed_change(change: i64, size: impl Fn(i64) -> String) -> String {
    match change {
        0 => "no change".to_owned(),
        c if c > 0 => format!("+{}", size(c)),
        c => format!("−{}", size(-c)),
    }
}

/// Hundredths (never negative) with two places: `2.35`.
fn two_places(hundredths: i64) -> String {
    format!("{}.{:02}", hundredths / 100, hundredths % 100)
}

fn signed_money(change: i64) -> String {
    signed_change(change, |cents| money(Some(cents)))
}

fn money_change(now: Option<i64>, previous: Option<i64>) -> String {
    match (now, previous) {
        (Some(now), Some(previous)) => signed_money(now - previous),
        _ => "—".to_owned(),
    }
}

/// The change of a rate in percentage points, two decimals.
fn points_change(now: &Rate, previous: &Rate) -> String {
    match (
        Rate::millionths(now.numerator, now.denominator),
        Rate::millionths(previous.numerator, previous.denominator),
    ) {
        (Some(now), Some(previous)) => {
            signed_change((now - previous) / 100, |h| format!("{} pts", two_places(h)))
        }
        _ => "—".to_owned(),
    }
}

/// A ratio in hundredths, half-even (quick ratios are never negative).
fn hundredths(rate: &Rate) -> Option<i64> {
    Rate::millionths(rate.numerator, rate.denominator)
        .map(|m| crate::catalog::money::div_round_half_even(m, 10_000))
}

/// A ratio such as the quick ratio: `2.35`, or “—”.
fn ratio(rate: &Rate) -> String {
    hundredths(rate).map_or_else(|| "—".to_owned(), two_places)
}

fn ratio_change(now: &Rate, previous: &Rate) -> String {
    match (hundredths(now), hundredths(previous)) {
        (Some(now), Some(previous)) => signed_change(now - previous, two_places),
        _ => "—".to_owned(),
    }
}

/// The cards of `now`'s window against `previous`.
pub fn cards(now: &WindowKpis, previous: &WindowKpis) -> Vec<Card> {
    let money_card = |key, label, meaning, pick: fn(&WindowKpis) -> Option<i64>| Card {
        key,
        label,
        now: money(pick(now)),
        previous: money(pick(previous)),
        change: money_change(pick(now), pick(previous)),
        meaning,
    };
    let rate_card = |key, label, meaning, pick: fn(&WindowKpis) -> Rate| Card {
        key,
        label,
        now: percent(&pick(now)),
        previous: percent(&pick(previous)),
        change: points_change(&pick(now), &pick(previous)),
        meaning,
    };
    vec![
        money_card(
            "mrr",
            "MRR",
            "Monthly recurring revenue at the window's end.",
            |k| Some(k.mrr_cents),
        ),
        money_card("arr", "ARR", "Twelve times MRR.", |k| Some(k.arr_cents())),
        money_card(
            "net_new_mrr",
            "Net new MRR",
            "New business, reactivation and expansion less contraction and churn.",
            |k| Some(k.net_new_mrr_cents),
        ),
        rate_card(
            "net_revenue_retention",
            "Net revenue retention",
            "MRR kept from the window's start after every change of existing customers.",
            |k| k.net_revenue_retention,
        ),
        rate_card(
            "gross_revenue_retention",
            "Gross revenue retention",
            "MRR kept from the window's start after contraction and churn only.",
            |k| k.gross_revenue_retention,
        ),
        rate_card(
            "customer_churn",
            "Customer churn",
            "Customers lost per month, over the customers each month started with.",
            |k| k.customer_churn,
        ),
        money_card(
            "arpa",
            "ARPA",
            "MRR per paying customer at the window's end.",
            |k| k.arpa_cents,
        ),
        money_card(
            "ltv",
            "LTV",
            "ARPA over the mean customer churn of the last three months.",
            |k| k.ltv_cents,
        ),
        rate_card(
            "trial_conversion",
            "Trial conversion",
            "Trials that became paying, of the trials that ended.",
            |k| k.trial_conversion,
        ),
        Card {
            key: "quick_ratio",
            label: "Quick ratio",
            now: ratio(&now.quick_ratio),
            previous: ratio(&previous.quick_ratio),
            change: ratio_change(&now.quick_ratio, &previous.quick_ratio),
            meaning: "MRR gained for every dollar lost; above 1 the business grows.",
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_read_as_signed_money_points_and_ratios() {
        assert_eq!(signed_money(120_000), "+$1,200.00");
        assert_eq!(signed_money(-5), "−$0.05");
        assert_eq!(signed_money(0), "no change");
        let cases = [
            ((1, 4), (1, 5), "+5.00 pts"),
            ((1, 5), (1, 4), "−5.00 pts"),
            ((1, 3), (1, 3), "no change"),
            ((1, 0), (1, 3), "—"),
            ((3, 200), (1, 100), "+0.50 pts"),
        ];
        for ((a, b), (c, d), want) in cases {
            assert_eq!(
                points_change(&Rate::new(a, b), &Rate::new(c, d)),
                want,
                "{a}/{b} vs {c}/{d}"
            );
        }
        assert_eq!(ratio(&Rate::new(47, 20)), "2.35");
        assert_eq!(ratio(&Rate::new(1, 3)), "0.33");
        assert_eq!(ratio(&Rate::new(5, 0)), "—");
        assert_eq!(
            ratio(&Rate::new(1, 200)),
            "0.00",
            "0.005 rounds half-even to 0.00"
        );
        assert_eq!(ratio_change(&Rate::new(3, 1), &Rate::new(1, 2)), "+2.50");
        assert_eq!(ratio_change(&Rate::new(1, 2), &Rate::new(3, 1)), "−2.50");
    }
}
