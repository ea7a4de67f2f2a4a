//! The 12-month MRR forecast: Baremetrics' documented baseline.
//!
//! For each of the last three complete months: growth rate = (new +
//! expansion + reactivation) ÷ MRR at the month's start, loss rate =
//! −(churn + contraction) ÷ MRR at the month's start. Their three-month
//! means compound current MRR month by month with (1 + growth − loss).
//! "Current" is the headline MRR ([`super::headline`]) when the window
//! reaches the running month, else MRR at the window's end.
//!
//! The 80 % band is informative: the central figure ± 1.2816 × σ × √h of it,
//! σ being the sample standard deviation of the three months' net rates
//! (growth − loss) and h the months ahead.

use super::report::{PeriodFigures, Window};
use crate::billing::domain::series::{Month, MovementKind};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;

/// The method's name, as the page and the export state it.
pub const METHOD: &str = "baremetrics_trailing_three_month_rates";

/// The z-score of a two-sided 80 % interval.
const Z_80: f64 = 1.2816;

/// The next 12 months of MRR.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Forecast {
    /// How the figures were produced.
    pub method: String,
    /// The MRR it compounds from (`null` with no complete month to start from).
    pub start_cents: Option<i64>,
    /// One entry per month ahead (empty with no complete month to start from).
    pub months: Vec<ForecastMonth>,
}

/// One forecast month; every figure `null` when a base month started at 0 MRR.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ForecastMonth {
    /// `YYYY-MM`.
    pub month: Month,
    /// Central MRR.
    pub mrr_cents: Option<i64>,
    /// Lower edge of the 80 % band.
    pub lower_cents: Option<i64>,
    /// Upper edge of the 80 % band.
    pub upper_cents: Option<i64>,
}

/// Monthly growth and loss rates of a month that started with MRR.
fn rates(figures: &PeriodFigures) -> Option<(f64, f64)> {
    if figures.mrr_start <= 0 {
        return None;
    }
    let start = figures.mrr_start as f64;
    let growth = figures.movement(MovementKind::NewBusiness)
        + figures.movement(MovementKind::Expansion)
        + figures.movement(MovementKind::Reactivation);
    let loss = -(figures.movement(MovementKind::Churn) + figures.movement(MovementKind::Contraction));
    Some((growth as f64 / start, loss as f64 / start))
}

/// The forecast from the end of `window`'s last month, or from the
/// headline's "now" when that month is still running (its figures end
/// there), at the rates of the last three complete months up to it;
/// `figures` holds every month of the window and at least the three before it.
pub fn forecast(figures: &BTreeMap<Month, PeriodFigures>, window: Window, now: DateTime<Utc>) -> Forecast {
    let start = window.last.min(Month::of(now));
    let base = window.last.min(Month::of(now).plus(-1));
    let mut months = Vec::new();
    // The rates may come from months before the window (a window of this month so far still forecasts).
    let start_cents = figures
        .contains_key(&base)
        .then(|| figures.get(&start).map_or(0, |f| f.mrr_end));
    if let Some(start_mrr) = start_cents {
        let current = start_mrr as f64;
        let figures: Vec<&PeriodFigures> = (0..3).filter_map(|back| figures.get(&base.plus(-back))).collect();
        let rates: Option<Vec<(f64, f64)>> = match figures.len() {
            3 => figures.iter().map(|f| rates(f)).collect(),
            _ => None,
        };
        for ahead in 1..=12 {
            let month = start.plus(ahead);
            let Some(rates) = &rates else {
                months.push(ForecastMonth {
                    month,
                    mrr_cents: None,
                    lower_cents: None,
                    upper_cents: None,
                });
                continue;
            };
            let nets: Vec<f64> = rates.iter().map(|(g, l)| g - l).collect();
            let mean = nets.iter().sum::<f64>() / 3.0;
            let spread = (nets.iter().map(|n| (n - mean).powi(2)).sum::<f64>() / 2.0).sqrt();
            let central = current * (1.0 + mean).max(0.0).powi(ahead);
            let band = central * Z_80 * spread * f64::from(ahead).sqrt();
            months.push(ForecastMonth {
                month,
                mrr_cents: Some(central.round() as i64),
                lower_cents: Some((central - band).max(0.0).round() as i64),
                upper_cents: Some((central + band).round() as i64),
            });
        }
    }
    Forecast {
        method: METHOD.to_owned(),
        start_cents,
        months,
    }
}
