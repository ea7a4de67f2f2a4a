//! The figures of any period, and the monthly report the analytics page and
//! `server export-analytics` show, exactly as `shared/METRICS.md` defines them.

use crate::billing::domain::series::Month;
use crate::billing::domain::series::{History, LabelId, MonthState, MovementKind, Rollup};
use crate::catalog::money::{div_round_half_even, div_round_half_even_wide};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use std::collections::BTreeMap;

/// A half-open run of UTC days, `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    /// The first day.
    pub start: NaiveDate,
    /// The day after the last.
    pub end: NaiveDate,
}

impl Period {
    /// The days of `month`.
    pub fn month(month: Month) -> Period {
        Period {
            start: month.first_day(),
            end: month.plus(1).first_day(),
        }
    }
}

/// Integer sums over a period, from which every rate is a ratio.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeriodFigures {
    /// MRR at the period's start: every change strictly before it applied.
    pub mrr_start: i64,
    /// MRR at its end.
    pub mrr_end: i64,
    /// Customers with MRR > 0 at the start.
    pub active_start: i64,
    /// Customers with MRR > 0 at the end.
    pub active_end: i64,
    /// Customers with MRR > 0 at the start and none at the end.
    pub churned_customers: i64,
    /// The sum of each movement kind in the period, in [`MovementKind::ALL`] order.
    pub movements: [i64; 5],
    /// Trials that ended in the period.
    pub trials_ended: i64,
    /// Of those, the ones that converted.
    pub trials_converted: i64,
    /// Seconds from trial start to conversion, summed over the converted ones.
    pub seconds_to_convert: i128,
    /// MRR at the end by plan key (parts sum to `mrr_end`).
    pub by_plan: BTreeMap<String, i64>,
    /// MRR at the end by billing interval (parts sum to `mrr_end`).
    pub by_interval: BTreeMap<String, i64>,
}

impl PeriodFigures {
    /// The sum of one movement kind.
    pub fn movement(&self, kind: MovementKind) -> i64 {
        self.movements[kind as usize]
    }

    /// Customer churn rate.
    pub fn customer_churn_rate(&self) -> Rate {
        Rate::new(self.churned_customers, self.active_start)
    }

    /// Gross MRR churn rate: −(churn + contraction) ÷ MRR at the start.
    pub fn gross_mrr_churn_rate(&self) -> Rate {
        let lost = self.movement(MovementKind::Churn) + self.movement(MovementKind::Contraction);
        Rate::new(-lost, self.mrr_start)
    }

    /// Net MRR churn rate: −(churn + contraction + expansion + reactivation) ÷ MRR at the start.
    pub fn net_mrr_churn_rate(&self) -> Rate {
        let net = self.movement(MovementKind::Churn)
            + self.movement(MovementKind::Contraction)
            + self.movement(MovementKind::Expansion)
            + self.movement(MovementKind::Reactivation);
        Rate::new(-net, self.mrr_start)
    }

    /// Trial conversion rate.
    pub fn trial_conversion_rate(&self) -> Rate {
        Rate::new(self.trials_converted, self.trials_ended)
    }

    /// Mean days from trial start to conversion, one decimal (half-even), or
    /// `None` when no trial converted.
    pub fn average_days_to_convert(&self) -> Option<String> {
        if self.trials_converted == 0 {
            return None;
        }
        let tenths = div_round_half_even_wide(
            self.seconds_to_convert * 10,
            i128::from(self.trials_converted) * 86_400,
        );
        Some(format!("{}.{}", tenths / 10, tenths % 10))
    }

    /// ARPA at the end: MRR ÷ active customers, half-even, or `None` with none.
    pub fn arpa(&self) -> Option<i64> {
        (self.active_end > 0).then(|| div_round_half_even(self.mrr_end, self.active_end))
    }
}

impl From<MonthState> for PeriodFigures {
    fn from(state: MonthState) -> PeriodFigures {
        PeriodFigures {
            mrr_start: state.mrr_start,
            mrr_end: state.mrr_end,
            active_start: state.active_start,
            active_end: state.active_end,
            churned_customers: state.flows.churned_customers,
            movements: state.movements,
            trials_ended: state.flows.trials_ended,
            trials_converted: state.flows.trials_converted,
            seconds_to_convert: i128::from(state.flows.seconds_to_convert),
            by_plan: state.by_plan,
            by_interval: state.by_interval,
        }
    }
}

/// A ratio kept with its parts; its value is rounded half-even to 6 places,
/// and undefined (`null`, shown as “—”) when the denominator is 0.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Rate {
    /// The numerator.
    pub numerator: i64,
    /// The denominator.
    pub denominator: i64,
    /// `numerator ÷ denominator` to 6 places, or `None`.
    pub value: Option<f64>,
}

impl Rate {
    /// `numerator ÷ denominator` (a negative denominator never arises: both
    /// are counts or MRR).
    pub fn new(numerator: i64, denominator: i64) -> Rate {
        Rate {
            numerator,
            denominator,
            value: Rate::millionths(numerator, denominator).map(|m| m as f64 / 1e6),
        }
    }

    /// The value in millionths, half-even; `None` when undefined.
    pub fn millionths(numerator: i64, denominator: i64) -> Option<i64> {
        (denominator > 0).then(|| {
            div_round_half_even_wide(i128::from(numerator) * 1_000_000, i128::from(denominator)) as i64
        })
    }

    /// The value as a percentage with `places` decimals, or “—”.
    pub fn percent(&self, places: usize) -> String {
        match self.value {
            Some(value) => format!("{:.*} %", places, value * 100.0),
            None => "—".to_owned(),
        }
    }
}

/// The figures of any `period`, read from every customer's series (the
/// monthly report reads the [`Rollup`] instead, which gives the same figures
/// for calendar months without the whole history).
pub fn period_figures(history: &History, period: Period) -> PeriodFigures {
    let mut figures = PeriodFigures::default();
    let before_start = period.start.pred_opt().unwrap_or(NaiveDate::MIN);
    let last_day = period.end.pred_opt().unwrap_or(NaiveDate::MIN);
    let mut by_plan: BTreeMap<LabelId, i64> = BTreeMap::new();
    let mut by_interval: BTreeMap<LabelId, i64> = BTreeMap::new();
    for customer in 0..history.series.len() {
        let start = history.mrr_at_end_of(customer, before_start);
        let end = history.value_at_end_of(customer, last_day);
        let end_mrr = end.map_or(0, |v| v.mrr);
        figures.mrr_start += start;
        figures.mrr_end += end_mrr;
        figures.active_start += i64::from(start > 0);
        figures.active_end += i64::from(end_mrr > 0);
        figures.churned_customers += i64::from(start > 0 && end_mrr == 0);
        if let Some(end) = end {
            for (label, cents) in end.by_plan.iter() {
                *by_plan.entry(*label).or_default() += cents;
            }
            for (label, cents) in end.by_interval.iter() {
                *by_interval.entry(*label).or_default() += cents;
            }
        }
    }
    figures.by_plan = by_plan
        .into_iter()
        .map(|(label, cents)| (history.plans.name(label).to_owned(), cents))
        .collect();
    figures.by_interval = by_interval
        .into_iter()
        .map(|(label, cents)| (history.intervals.name(label).to_owned(), cents))
        .collect();
    let first = history.movements.partition_point(|m| m.day < period.start);
    let last = history.movements.partition_point(|m| m.day < period.end);
    for movement in &history.movements[first..last] {
        figures.movements[movement.kind as usize] += movement.amount;
    }
    let (start, end) = (instant(period.start), instant(period.end));
    for trial in &history.trials {
        let Some(ended_at) = trial.ended_at else { continue };
        if ended_at < start || ended_at >= end {
            continue;
        }
        figures.trials_ended += 1;
        if let Some(converted_at) = trial.converted_at {
            figures.trials_converted += 1;
            figures.seconds_to_convert += i128::from((converted_at - trial.started_at).num_seconds());
        }
    }
    figures
}

/// 00:00:00 UTC of `day`.
fn instant(day: NaiveDate) -> DateTime<Utc> {
    day.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc()
}

/// One month of the report, in the export's shape.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MonthReport {
    /// `YYYY-MM`.
    pub month: String,
    /// MRR at the month's first instant.
    pub mrr_start_cents: i64,
    /// MRR at its end.
    pub mrr_cents: i64,
    /// 12 × `mrr_cents`.
    pub arr_cents: i64,
    /// Customers with MRR > 0 at the end.
    pub active_customers: i64,
    /// MRR ÷ active customers, or `null`.
    pub arpa_cents: Option<i64>,
    /// The month's movements.
    pub movements_cents: Movements,
    /// Customers lost ÷ customers at the start.
    pub customer_churn_rate: Rate,
    /// −(churn + contraction) ÷ MRR at the start.
    pub gross_mrr_churn_rate: Rate,
    /// −(churn + contraction + expansion + reactivation) ÷ MRR at the start.
    pub net_mrr_churn_rate: Rate,
    /// Trials that ended in the month.
    pub trials: TrialReport,
    /// Lifetime value.
    pub ltv: Ltv,
    /// MRR at the end by plan.
    pub mrr_by_plan_cents: BTreeMap<String, i64>,
    /// MRR at the end by billing interval.
    pub mrr_by_interval_cents: BTreeMap<String, i64>,
}

/// The five movements of a period, signed, in minor units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Movements {
    /// New business (≥ 0).
    pub new_business: i64,
    /// Reactivation (≥ 0).
    pub reactivation: i64,
    /// Expansion (≥ 0).
    pub expansion: i64,
    /// Contraction (≤ 0).
    pub contraction: i64,
    /// Churn (≤ 0).
    pub churn: i64,
}

/// Trials ended in a period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrialReport {
    /// Trials that ended.
    pub ended: i64,
    /// Of those, converted.
    pub converted: i64,
    /// converted ÷ ended.
    pub conversion_rate: Rate,
    /// Mean days to convert, one decimal, or `null`.
    pub avg_days_to_convert: Option<String>,
}

/// Lifetime value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Ltv {
    /// ARPA ÷ the mean customer churn rate of this month and the two before,
    /// half-even; `null` if any of the three is undefined or the mean is 0.
    pub ltv_cents: Option<i64>,
}

/// A signup cohort's retention.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CohortReport {
    /// The month of the customers' first new business.
    pub cohort: String,
    /// How many customers.
    pub customers: i64,
    /// Month k = 0, 1, … after the cohort month.
    pub cells: Vec<CohortCell>,
}

/// A cohort at the end of its month k.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CohortCell {
    /// Months after the cohort month.
    pub k: i32,
    /// Members with MRR > 0 at the end of month k.
    pub customers_retained: i64,
    /// Their MRR then.
    pub mrr_cents: i64,
}

/// The whole report: months, cohorts, forecast.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AnalyticsReport {
    /// One entry per month of the window.
    pub months: Vec<MonthReport>,
    /// Cohorts whose month is in the window, followed to its end.
    pub cohorts: Vec<CohortReport>,
    /// The next 12 months.
    pub forecast: super::forecast::Forecast,
    /// The window's headline cards, then the previous window's (the page's; not exported).
    #[serde(skip)]
    pub kpis: Option<(super::WindowKpis, super::WindowKpis)>,
}

/// The months a report covers: from the first to the last, both included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// First month.
    pub first: Month,
    /// Last month.
    pub last: Month,
}

impl Window {
    /// The default window: the month of the earliest state to the month of
    /// the latest; `None` with no data.
    pub fn of(history: &History) -> Option<Window> {
        history.span.map(Window::spanning)
    }

    /// The months from the one of `first` to the one of `last`.
    pub fn spanning((first, last): (DateTime<Utc>, DateTime<Utc>)) -> Window {
        Window {
            first: Month::of(first),
            last: Month::of(last),
        }
    }
}

impl AnalyticsReport {
    /// The report of no months: what an empty ledger has.
    pub fn empty() -> AnalyticsReport {
        AnalyticsReport {
            months: vec![],
            cohorts: vec![],
            forecast: super::forecast::Forecast {
                method: super::forecast::METHOD.to_owned(),
                start_cents: None,
                months: vec![],
            },
            kpis: None,
        }
    }
}

/// The report for `window`, or the empty one when there is no window (no ledger).
pub fn report_for(rollup: &Rollup, window: Option<Window>, now: DateTime<Utc>) -> AnalyticsReport {
    window.map_or_else(AnalyticsReport::empty, |window| report(rollup, window, now))
}

/// The report for `window` from the platform's rollup; `now` decides which
/// months are complete for the forecast.
pub fn report(rollup: &Rollup, window: Window, now: DateTime<Utc>) -> AnalyticsReport {
    // LTV and the forecast look two months back, so figures start two months before the window.
    // A month still running ends at the headline's instant, the figure every
    // page shows as "now". The previous window's cards read as far back again.
    let previous = super::previous_window(window);
    let figures: BTreeMap<Month, PeriodFigures> = rollup
        .month_states_through(previous.first.plus(-2), window.last, super::last_day_counted(now))
        .into_iter()
        .map(|(month, state)| (month, state.into()))
        .collect();
    let months = Month::range(window.first, window.last)
        .map(|month| month_report(month, &figures))
        .collect();
    AnalyticsReport {
        months,
        cohorts: cohorts(rollup, window),
        forecast: super::forecast::forecast(&figures, window, now),
        kpis: Some((
            super::window_kpis(&figures, window),
            super::window_kpis(&figures, previous),
        )),
    }
}

fn month_report(month: Month, figures: &BTreeMap<Month, PeriodFigures>) -> MonthReport {
    let this = &figures[&month];
    let churn_rates: Vec<Rate> = (0..3)
        .map(|back| figures[&month.plus(-back)].customer_churn_rate())
        .collect();
    MonthReport {
        month: month.to_string(),
        mrr_start_cents: this.mrr_start,
        mrr_cents: this.mrr_end,
        arr_cents: 12 * this.mrr_end,
        active_customers: this.active_end,
        arpa_cents: this.arpa(),
        movements_cents: Movements {
            new_business: this.movement(MovementKind::NewBusiness),
            reactivation: this.movement(MovementKind::Reactivation),
            expansion: this.movement(MovementKind::Expansion),
            contraction: this.movement(MovementKind::Contraction),
            churn: this.movement(MovementKind::Churn),
        },
        customer_churn_rate: this.customer_churn_rate(),
        gross_mrr_churn_rate: this.gross_mrr_churn_rate(),
        net_mrr_churn_rate: this.net_mrr_churn_rate(),
        trials: TrialReport {
            ended: this.trials_ended,
            converted: this.trials_converted,
            conversion_rate: this.trial_conversion_rate(),
            avg_days_to_convert: this.average_days_to_convert(),
        },
        ltv: Ltv {
            ltv_cents: this.arpa().and_then(|arpa| ltv(arpa, &churn_rates)),
        },
        mrr_by_plan_cents: this.by_plan.clone(),
        mrr_by_interval_cents: this.by_interval.clone(),
    }
}

/// ARPA ÷ the plain mean of the churn rates, exactly, rounded half-even once.
pub fn ltv(arpa: i64, churn_rates: &[Rate]) -> Option<i64> {
    // mean = Σ nᵢ/dᵢ ÷ k, so LTV = arpa × k × Πd ÷ Σ (nᵢ × Π_{j≠i} dⱼ).
    if churn_rates.is_empty() || churn_rates.iter().any(|r| r.denominator <= 0) {
        return None;
    }
    let product: i128 = churn_rates.iter().map(|r| i128::from(r.denominator)).product();
    let sum: i128 = churn_rates
        .iter()
        .map(|r| i128::from(r.numerator) * (product / i128::from(r.denominator)))
        .sum();
    if sum <= 0 {
        return None;
    }
    let numerator = i128::from(arpa) * churn_rates.len() as i128 * product;
    i64::try_from(div_round_half_even_wide(numerator, sum)).ok()
}

/// Each cohort in the window, followed to the window's last month.
pub fn cohorts(rollup: &Rollup, window: Window) -> Vec<CohortReport> {
    rollup
        .cohorts
        .range(window.first..=window.last)
        .filter_map(|(cohort, months)| {
            let members: i64 = months.values().map(|flows| flows.members).sum();
            (members > 0).then(|| {
                let (mut retained, mut mrr) = (0, 0);
                let mut flows = months.iter().peekable();
                let cells = (0..=window.last.since(*cohort))
                    .map(|k| {
                        while let Some((_, f)) = flows.next_if(|(month, _)| **month <= cohort.plus(k)) {
                            retained += f.retained;
                            mrr += f.mrr;
                        }
                        CohortCell {
                            k,
                            customers_retained: retained,
                            mrr_cents: mrr,
                        }
                    })
                    .collect();
                CohortReport {
                    cohort: cohort.to_string(),
                    customers: members,
                    cells,
                }
            })
        })
        .collect()
}
