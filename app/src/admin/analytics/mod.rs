//! `/admin/analytics`: every figure of `shared/METRICS.md` over a window of
//! months, with server-rendered charts (charts-rs SVG), each beside a table
//! and a sentence that say the same in text, and a custom date range. The
//! console's analytics section: this page's server function, its reads
//! (`reads`: the replica when it is fresh), its charts (`charts`,
//! `forecast_chart`), a month's movers (`movers`) and the two pages.

// #[server] turns each function's parameters into the fields of a generated
// argument struct; parameters cannot carry doc comments, the functions do.
#![allow(missing_docs)]

#[cfg(feature = "ssr")]
pub mod charts;
#[cfg(feature = "ssr")]
pub mod forecast_chart;
pub mod movers;
pub mod movers_page;
pub mod page;
#[cfg(feature = "ssr")]
pub mod reads;

use crate::error::AppError;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// A table as the page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableView {
    /// Column heads.
    pub head: Vec<String>,
    /// Rows.
    pub rows: Vec<Vec<String>>,
}

/// A chart and what it says in words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChartView {
    /// The SVG document.
    pub svg: String,
    /// The text alternative.
    pub summary: String,
}

/// One headline card: a figure of the window against the previous window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardView {
    /// A stable key (`mrr`, `quick_ratio`, …).
    pub key: String,
    /// The figure's name.
    pub label: String,
    /// This window's figure.
    pub now: String,
    /// The previous window's.
    pub previous: String,
    /// The change in words.
    pub change: String,
    /// What the figure is.
    pub meaning: String,
}

/// A quick choice of window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuickRange {
    /// Its name.
    pub label: String,
    /// `first=YYYY-MM&last=YYYY-MM`.
    pub query: String,
    /// Whether it is the window shown.
    pub current: bool,
}

/// The analytics page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnalyticsView {
    /// The window's first month, `YYYY-MM` (empty with no data).
    pub first: String,
    /// The window's last month.
    pub last: String,
    /// A sentence on where MRR stands.
    pub headline: String,
    /// The window the cards describe and the one they compare with, in words.
    pub cards_period: String,
    /// The headline cards.
    pub cards: Vec<CardView>,
    /// Quick choices of window.
    pub quick_ranges: Vec<QuickRange>,
    /// Where the figures were read and how old they are (with a replica).
    pub freshness: Option<String>,
    /// MRR of subscriptions set to cancel at period end.
    pub scheduled_churn: String,
    /// MRR in past-due accounts, and how many, in words.
    pub at_risk: String,
    /// Months.
    pub months: TableView,
    /// MRR by plan and interval at the window's end.
    pub splits: TableView,
    /// Cohorts.
    pub cohorts: TableView,
    /// Forecast months.
    pub forecast: TableView,
    /// What the forecast says, in a sentence.
    pub forecast_sentence: String,
    /// How the forecast is made.
    pub forecast_method: String,
    /// MRR over the months.
    pub mrr_chart: Option<ChartView>,
    /// Movements per month.
    pub movements_chart: Option<ChartView>,
    /// Customer retention by cohort.
    pub cohort_chart: Option<ChartView>,
    /// The forecast with its band.
    pub forecast_chart: Option<ChartView>,
    /// The cohort heatmap shows net MRR retention (else customers retained).
    pub cohorts_by_revenue: bool,
    /// The custom range, if one was asked for: its label and figures.
    pub range: Option<(String, TableView)>,
}

#[cfg(feature = "ssr")]
fn table(table: crate::analytics::tables::Table) -> TableView {
    TableView {
        head: table.head,
        rows: table.rows,
    }
}

/// Parses `YYYY-MM-DD`.
#[cfg(feature = "ssr")]
fn day(field: &str, raw: &str) -> Result<chrono::NaiveDate, AppError> {
    crate::input::parse_day(raw)
        .ok_or_else(|| AppError::field(field, "give a date as YYYY-MM-DD, from 1970 to 9999"))
}

/// A report and the window of months it covers (`None`: no history yet).
#[cfg(feature = "ssr")]
pub type WindowedReport = (
    Option<crate::analytics::domain::Window>,
    crate::analytics::domain::AnalyticsReport,
);

/// The report for the page's `first` and `last` (`YYYY-MM`, checked, each
/// defaulting to the ledger's first or last month), read from the ledger's
/// MRR series; with its window.
#[cfg(feature = "ssr")]
pub async fn report_of(
    pool: &sqlx::PgPool,
    first: Option<String>,
    last: Option<String>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<WindowedReport, AppError> {
    use crate::analytics::domain::{Window, report_for};
    use crate::billing::series_store::{ledger_span, load_totals};
    let window = window_of(ledger_span(pool).await?.map(Window::spanning), first, last)?;
    Ok((window, report_for(&load_totals(pool).await?, window, now)))
}

/// Where MRR stands: at the headline's "now" when the window reaches the
/// running month (whose figures end there, as [`domain::headline`]'s do),
/// else at the window's last month's end.
///
/// [`domain::headline`]: crate::analytics::domain::headline
#[cfg(feature = "ssr")]
fn headline_words(
    report: &crate::analytics::domain::AnalyticsReport,
    now: chrono::DateTime<chrono::Utc>,
) -> String {
    use crate::analytics::{domain, tables::money};
    let Some(last) = report.months.last() else {
        return "No subscription history yet.".to_owned();
    };
    let running = domain::Month::parse(&last.month).is_ok_and(|month| !domain::month_is_complete(month, now));
    let when = if running {
        domain::as_of_words(now)
    } else {
        format!("at the end of {}", last.month)
    };
    format!(
        "MRR {} (ARR {}) from {} active customers {when}.",
        money(Some(last.mrr_cents)),
        money(Some(last.arr_cents)),
        last.active_customers,
    )
}

/// The forecast in a sentence a person reads.
#[cfg(feature = "ssr")]
fn forecast_sentence(
    forecast: &crate::analytics::domain::Forecast,
    now: chrono::DateTime<chrono::Utc>,
) -> String {
    use crate::analytics::tables::money;
    let (Some(start), Some(first), Some(last)) = (
        forecast.start_cents,
        forecast.months.first(),
        forecast.months.last(),
    ) else {
        return "No forecast yet: it needs a complete month of history.".to_owned();
    };
    let (Some(next), Some(central)) = (first.mrr_cents, last.mrr_cents) else {
        return "No forecast: one of the last three complete months started with no MRR, so it has no rates."
            .to_owned();
    };
    let pace = crate::analytics::domain::Rate::new(next - start, start);
    let start_month = first.month.plus(-1);
    let from = if !crate::analytics::domain::month_is_complete(start_month, now) {
        "now".to_owned()
    } else {
        format!(
            "at the end of {}",
            crate::format::month_of(start_month.first_day())
        )
    };
    format!(
        "If the last three complete months' pace holds ({} a month), MRR goes from {} {from} to {} by {}; \
         8 in 10 outcomes fall between {} and {}.",
        pace.percent(1),
        money(Some(start)),
        money(Some(central)),
        crate::format::month_of(last.month.first_day()),
        money(last.lower_cents),
        money(last.upper_cents),
    )
}

/// The headline cards and the sentence naming their windows.
#[cfg(feature = "ssr")]
fn cards_of(
    report: &crate::analytics::domain::AnalyticsReport,
    now: chrono::DateTime<chrono::Utc>,
) -> (String, Vec<CardView>) {
    let Some((current, previous)) = &report.kpis else {
        return (String::new(), vec![]);
    };
    let words = |w: crate::analytics::domain::Window| {
        let (first, last) = (
            crate::format::month_of(w.first.first_day()),
            crate::format::month_of(w.last.first_day()),
        );
        if w.first == w.last {
            first
        } else {
            format!("{first} – {last}")
        }
    };
    let so_far = if !crate::analytics::domain::month_is_complete(current.window.last, now) {
        format!(" (so far: {})", crate::format::minute(now))
    } else {
        String::new()
    };
    let period = format!(
        "{}{so_far}, against {}.",
        words(current.window),
        words(previous.window)
    );
    let cards = crate::analytics::cards::cards(current, previous)
        .into_iter()
        .map(|card| CardView {
            key: card.key.to_owned(),
            label: card.label.to_owned(),
            now: card.now,
            previous: card.previous,
            change: card.change,
            meaning: card.meaning.to_owned(),
        })
        .collect();
    (period, cards)
}

/// This month so far, last month, this quarter, the year to date and the
/// trailing twelve months, as windows of whole months.
#[cfg(feature = "ssr")]
fn quick_ranges(
    shown: Option<crate::analytics::domain::Window>,
    now: chrono::DateTime<chrono::Utc>,
) -> Vec<QuickRange> {
    use crate::analytics::domain::{Month, Window};
    let this = Month::of(now);
    let quarter_start = this.plus(-(((this.number() - 1) % 3) as i32));
    let year_start = this.plus(-((this.number() - 1) as i32));
    [
        (
            "This month so far",
            Window {
                first: this,
                last: this,
            },
        ),
        (
            "Last month",
            Window {
                first: this.plus(-1),
                last: this.plus(-1),
            },
        ),
        (
            "This quarter",
            Window {
                first: quarter_start,
                last: this,
            },
        ),
        (
            "Year to date",
            Window {
                first: year_start,
                last: this,
            },
        ),
        (
            "Trailing 12 months",
            Window {
                first: this.plus(-11),
                last: this,
            },
        ),
    ]
    .into_iter()
    .map(|(label, window)| QuickRange {
        label: label.to_owned(),
        query: format!("first={}&last={}", window.first, window.last),
        current: shown == Some(window),
    })
    .collect()
}

/// The window from the page's `first` and `last` (`YYYY-MM`), checked;
/// either missing takes its end of `default`.
#[cfg(feature = "ssr")]
fn window_of(
    default: Option<crate::analytics::domain::Window>,
    first: Option<String>,
    last: Option<String>,
) -> Result<Option<crate::analytics::domain::Window>, AppError> {
    use crate::analytics::domain::{Month, Window};
    let month = |field: &str, raw: Option<String>| -> Result<Option<Month>, AppError> {
        raw.filter(|r| !r.trim().is_empty())
            .map(|r| Month::parse(r.trim()).map_err(|e| AppError::field(field, e.to_string())))
            .transpose()
    };
    let (first, last) = (month("first", first)?, month("last", last)?);
    let first = first.or(default.map(|w| w.first)).or(last);
    let last = last.or(default.map(|w| w.last)).or(first);
    match (first, last) {
        (Some(first), Some(last)) if first > last => {
            Err(AppError::field("last", "the last month is before the first"))
        }
        (Some(first), Some(last)) if last.since(first) > 120 => {
            Err(AppError::field("first", "show at most ten years at a time"))
        }
        (Some(first), Some(last)) => Ok(Some(Window { first, last })),
        _ => Ok(None),
    }
}

/// The analytics page's figures for a window (`first`/`last`, `YYYY-MM`,
/// defaulting to the ledger's months) and an optional day range (`from`/`to`,
/// both included).
#[server(prefix = "/api", endpoint = "admin_analytics", input = server_fn::codec::GetUrl)]
pub async fn get_analytics(
    first: Option<String>,
    last: Option<String>,
    from: Option<String>,
    to: Option<String>,
    cohorts: Option<String>,
) -> Result<AnalyticsView, AppError> {
    use reads::{analytics_reads, report_from};
    let admin = super::sign_in::session::require_admin().await?;
    let context = crate::context::app_context()?;
    let now = context.clock.now();
    let by_revenue = cohorts_by_revenue(cohorts.as_deref())?;
    let reads = analytics_reads(&context.pool, context.replica.as_ref(), admin.admin_id).await;
    let (window, report) = report_from(&reads, &context.pool, first, last, now).await?;
    let range = day_range(&reads.pool, from, to).await?;
    let scheduled_churn = crate::analytics::db::scheduled_churn(&reads.pool).await?;
    let at_risk = crate::analytics::db::past_due_at_risk(&reads.pool).await?;
    let gathered = Gathered {
        window,
        report,
        freshness: reads.freshness,
        scheduled_churn,
        at_risk,
        range,
        by_revenue,
    };
    Ok(analytics_view(gathered, now))
}

/// Whether the cohort heatmap counts revenue (`revenue`) or customers (the
/// default, `customers`).
#[cfg(feature = "ssr")]
fn cohorts_by_revenue(cohorts: Option<&str>) -> Result<bool, AppError> {
    match cohorts.map(str::trim) {
        None | Some("") | Some("customers") => Ok(false),
        Some("revenue") => Ok(true),
        Some(_) => Err(AppError::field(
            "cohorts",
            "show cohorts by customers or by revenue",
        )),
    }
}

/// The figures of a run of days (`from` to `to`, both included), when both
/// ends are given.
#[cfg(feature = "ssr")]
async fn day_range(
    pool: &sqlx::PgPool,
    from: Option<String>,
    to: Option<String>,
) -> Result<Option<(String, TableView)>, AppError> {
    use crate::analytics::{domain, tables};
    let given = |end: Option<String>| end.filter(|e| !e.trim().is_empty());
    let (from, to) = match (given(from), given(to)) {
        (Some(from), Some(to)) => (day("from", &from)?, day("to", &to)?),
        (None, None) => return Ok(None),
        _ => return Err(AppError::field("to", "give both ends of the range")),
    };
    if to < from {
        return Err(AppError::field("to", "the range ends before it starts"));
    }
    let period = domain::Period {
        start: from,
        end: to.succ_opt().unwrap_or(to),
    };
    // Any run of days reads every customer's series: slower than the
    // months, which the stored totals answer.
    let (history, _) = crate::billing::series_store::load_history(pool).await?;
    let figures = tables::range(&domain::period_figures(&history, period));
    Ok(Some((format!("{from} to {to}"), table(figures))))
}

/// What the analytics page's server function read.
#[cfg(feature = "ssr")]
struct Gathered {
    window: Option<crate::analytics::domain::Window>,
    report: crate::analytics::domain::AnalyticsReport,
    freshness: Option<String>,
    scheduled_churn: i64,
    /// Past-due accounts' MRR, and how many they are.
    at_risk: (i64, i64),
    range: Option<(String, TableView)>,
    by_revenue: bool,
}

/// "£1,234.00 of MRR in 3 past-due accounts (…)", or that none is.
#[cfg(feature = "ssr")]
fn at_risk_sentence((mrr, accounts): (i64, i64)) -> String {
    if accounts == 0 {
        return "No account is past due.".to_owned();
    }
    format!(
        "{} of MRR in {accounts} past-due {} (a failed payment not yet recovered).",
        crate::analytics::tables::money(Some(mrr)),
        if accounts == 1 { "account" } else { "accounts" }
    )
}

/// The analytics page, drawn from what was read.
#[cfg(feature = "ssr")]
fn analytics_view(gathered: Gathered, now: chrono::DateTime<chrono::Utc>) -> AnalyticsView {
    use crate::analytics::{domain, tables};
    let Gathered {
        window,
        report,
        by_revenue,
        ..
    } = gathered;
    let [mrr_chart, movements_chart, cohort_chart, forecast_chart] = charts::charts(&report, by_revenue);
    let (cards_period, cards) = cards_of(&report, now);
    let mut months = table(tables::months(&report));
    // The running month's figures end now: say so beside it (the CSV keeps the plain month).
    let running = domain::Month::of(now).to_string();
    for row in months.rows.iter_mut().filter(|row| row.first() == Some(&running)) {
        row[0] = format!("{running} (so far)");
    }
    AnalyticsView {
        first: window.map(|w| w.first.to_string()).unwrap_or_default(),
        last: window.map(|w| w.last.to_string()).unwrap_or_default(),
        headline: headline_words(&report, now),
        cards_period,
        cards,
        quick_ranges: quick_ranges(window, now),
        freshness: gathered.freshness,
        scheduled_churn: tables::money(Some(gathered.scheduled_churn)),
        at_risk: at_risk_sentence(gathered.at_risk),
        months,
        splits: table(tables::splits(&report)),
        cohorts: table(tables::cohorts(&report)),
        forecast: table(tables::forecast(&report)),
        forecast_sentence: forecast_sentence(&report.forecast, now),
        forecast_method: FORECAST_METHOD.to_owned(),
        mrr_chart,
        movements_chart,
        cohort_chart,
        cohorts_by_revenue: by_revenue,
        forecast_chart,
        range: gathered.range,
    }
}

/// How the forecast is made, as the page says it.
#[cfg(feature = "ssr")]
const FORECAST_METHOD: &str = "Baremetrics' baseline: current MRR compounded monthly by the mean growth rate \
    (new + expansion + reactivation) less the mean loss rate (churn + contraction) of the last three complete \
    months, each rate over MRR at its month's start. The 80 % band is ± 1.2816 × σ × √(months ahead) of the \
    central figure, σ being the spread of those three months' net rates.";
