//! `/admin/analytics`: every figure of `shared/METRICS.md` over a window of
//! months, with server-rendered charts (charts-rs SVG), each beside a table
//! and a sentence that say the same in text, and a custom date range.

// #[server] turns each function's parameters into the fields of a generated
// argument struct; parameters cannot carry doc comments, the functions do.
#![allow(missing_docs)]

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

#[cfg(feature = "ssr")]
fn dollars(cents: i64) -> f32 {
    cents as f32 / 100.0
}

/// A movement kind's name, colour and amount in a month.
#[cfg(feature = "ssr")]
type MovementLayer = (
    &'static str,
    &'static str,
    fn(&crate::analytics::domain::Movements) -> i64,
);

/// The movement kinds, in stacking order from the zero line, with their colours.
#[cfg(feature = "ssr")]
const MOVEMENT_LAYERS: [MovementLayer; 5] = [
    ("New", "#2563eb", |m| m.new_business),
    ("Reactivation", "#7c3aed", |m| m.reactivation),
    ("Expansion", "#16a34a", |m| m.expansion),
    ("Contraction", "#d97706", |m| m.contraction),
    ("Churn", "#dc2626", |m| m.churn),
];

/// Each month's movements as one bar: gains (new, reactivation, expansion)
/// stacked up from the zero line, losses (contraction, churn) down from it.
/// charts-rs has no stacked bars, so they are drawn on its canvas.
#[cfg(feature = "ssr")]
fn stacked_movements(
    months: &[crate::analytics::domain::MonthReport],
) -> Result<String, charts_rs::CanvasError> {
    use charts_rs::{Canvas, Color, Line, Rect, Text};
    let (width, height) = (720.0_f32, 300.0_f32);
    let (left, right, top, bottom) = (80.0_f32, 10.0_f32, 36.0_f32, 28.0_f32);
    let (plot_width, plot_height) = (width - left - right, height - top - bottom);
    let gains = |m: &crate::analytics::domain::MonthReport| -> i64 {
        MOVEMENT_LAYERS[..3]
            .iter()
            .map(|(_, _, pick)| pick(&m.movements_cents))
            .sum()
    };
    let losses = |m: &crate::analytics::domain::MonthReport| -> i64 {
        -MOVEMENT_LAYERS[3..]
            .iter()
            .map(|(_, _, pick)| pick(&m.movements_cents))
            .sum::<i64>()
    };
    let up = months.iter().map(gains).max().unwrap_or(0).max(0);
    let down = months.iter().map(losses).max().unwrap_or(0).max(0);
    let range = (up + down).max(1) as f32;
    let zero = top + plot_height * up as f32 / range;
    let scale = plot_height / range;
    let mut canvas = Canvas::new(width, height);
    let label = |text: String, x: f32, y: f32, anchor: &str| Text {
        text,
        x: Some(x),
        y: Some(y),
        font_size: Some(11.0),
        font_color: Some(Color::from("#334155")),
        text_anchor: Some(anchor.to_owned()),
        ..Text::default()
    };
    for (i, (name, colour, _)) in MOVEMENT_LAYERS.iter().enumerate() {
        let x = left + i as f32 * 120.0;
        canvas.rect(Rect {
            fill: Some(Color::from(*colour)),
            left: x,
            top: 8.0,
            width: 12.0,
            height: 12.0,
            ..Rect::default()
        });
        canvas.text(label((*name).to_owned(), x + 16.0, 18.0, "start"));
    }
    for (value, y) in [(up, top), (0, zero), (-down, top + plot_height)] {
        canvas.text(label(
            crate::analytics::tables::money(Some(value)),
            left - 6.0,
            y + 4.0,
            "end",
        ));
    }
    let slot = plot_width / months.len().max(1) as f32;
    let every = months.len().div_ceil(12).max(1);
    for (i, month) in months.iter().enumerate() {
        let x = left + slot * i as f32 + slot * 0.2;
        let (mut above, mut below) = (zero, zero);
        for (_, colour, pick) in MOVEMENT_LAYERS {
            let cents = pick(&month.movements_cents);
            if cents == 0 {
                continue;
            }
            let bar = cents.unsigned_abs() as f32 * scale;
            let y = if cents > 0 {
                above -= bar;
                above
            } else {
                below += bar;
                below - bar
            };
            canvas.rect(Rect {
                fill: Some(Color::from(colour)),
                left: x,
                top: y,
                width: slot * 0.6,
                height: bar,
                ..Rect::default()
            });
        }
        if i % every == 0 {
            canvas.text(label(month.month.clone(), x + slot * 0.3, height - 8.0, "middle"));
        }
    }
    canvas.line(Line {
        color: Some(Color::from("#64748b")),
        stroke_width: 1.0,
        left,
        top: zero,
        right: width - right,
        bottom: zero,
        ..Line::default()
    });
    canvas.svg()
}

#[cfg(feature = "ssr")]
fn charts(report: &crate::analytics::domain::AnalyticsReport) -> [Option<ChartView>; 4] {
    use charts_rs::{HeatmapChart, LineChart, Series};
    let months: Vec<String> = report.months.iter().map(|m| m.month.clone()).collect();
    let sized = |svg: Result<String, charts_rs::CanvasError>, summary: String| {
        svg.ok().map(|svg| ChartView { svg, summary })
    };
    let mrr = (months.len() >= 2).then(|| {
        let mut chart = LineChart::new(
            vec![Series::new(
                "MRR ($)".into(),
                report.months.iter().map(|m| dollars(m.mrr_cents)).collect(),
            )],
            months.clone(),
        );
        chart.width = 720.0;
        chart.height = 280.0;
        chart.title_text = String::new();
        let (first, last) = (&report.months[0], &report.months[report.months.len() - 1]);
        sized(
            chart.svg(),
            format!(
                "MRR went from {} at the start of {} to {} at the end of {}.",
                crate::analytics::tables::money(Some(first.mrr_start_cents)),
                first.month,
                crate::analytics::tables::money(Some(last.mrr_cents)),
                last.month
            ),
        )
    });
    let movements = (!months.is_empty()).then(|| {
        sized(
            stacked_movements(&report.months),
            "MRR movements per month, gains stacked above the line and losses below; the months table below \
             lists each figure."
                .to_owned(),
        )
    });
    let cohorts = (!report.cohorts.is_empty()).then(|| {
        // A square grid (the chart's cells are indexed row × height + column).
        let size = report
            .cohorts
            .len()
            .max(report.cohorts.iter().map(|c| c.cells.len()).max().unwrap_or(0));
        let mut data = Vec::new();
        for (row, cohort) in report.cohorts.iter().enumerate() {
            for cell in &cohort.cells {
                if cohort.customers > 0 {
                    let retained = 100.0 * cell.customers_retained as f32 / cohort.customers as f32;
                    data.push((row * size + cell.k as usize, retained.round()));
                }
            }
        }
        let mut y: Vec<String> = report.cohorts.iter().map(|c| c.cohort.clone()).collect();
        y.resize(size, String::new());
        let x: Vec<String> = (0..size).map(|k| format!("M{k}")).collect();
        let mut chart = HeatmapChart::new(data, x, y);
        // A sequential scale, light (none retained) to dark blue (all): the
        // page's legend states it. charts-rs's default runs to red.
        chart.series.min = 0.0;
        chart.series.max = 100.0;
        chart.series.min_color = (239, 246, 255).into();
        chart.series.max_color = (30, 58, 138).into();
        chart.series.min_font_color = (15, 23, 42).into();
        chart.series.max_font_color = (255, 255, 255).into();
        chart.width = 720.0;
        chart.height = 40.0 * size as f32 + 60.0;
        chart.title_text = String::new();
        sized(
            chart.svg(),
            "Share of each cohort still paying at each month; the cohorts table below has every cell."
                .to_owned(),
        )
    });
    let forecast = (report.forecast.months.iter().all(|m| m.mrr_cents.is_some())
        && !report.forecast.months.is_empty())
    .then(|| {
        let pick = |f: fn(&crate::analytics::domain::ForecastMonth) -> Option<i64>| {
            report
                .forecast
                .months
                .iter()
                .map(|m| dollars(f(m).unwrap_or(0)))
                .collect::<Vec<f32>>()
        };
        let mut chart = LineChart::new(
            vec![
                Series::new("Forecast ($)".into(), pick(|m| m.mrr_cents)),
                Series::new("80 % low".into(), pick(|m| m.lower_cents)),
                Series::new("80 % high".into(), pick(|m| m.upper_cents)),
            ],
            report
                .forecast
                .months
                .iter()
                .map(|m| m.month.to_string())
                .collect(),
        );
        chart.width = 720.0;
        chart.height = 280.0;
        chart.title_text = String::new();
        let last = report.forecast.months.last();
        sized(
            chart.svg(),
            format!(
                "The forecast reaches {} by {}, between {} and {} at 80 %.",
                crate::analytics::tables::money(last.and_then(|m| m.mrr_cents)),
                last.map(|m| m.month.to_string()).unwrap_or_default(),
                crate::analytics::tables::money(last.and_then(|m| m.lower_cents)),
                crate::analytics::tables::money(last.and_then(|m| m.upper_cents)),
            ),
        )
    });
    [
        mrr.flatten(),
        movements.flatten(),
        cohorts.flatten(),
        forecast.flatten(),
    ]
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
    let when = if last.month >= domain::Month::of(now).to_string() {
        format!("as of {}", crate::format::minute(now))
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
    let from = if start_month >= crate::analytics::domain::Month::of(now) {
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
    let running = crate::analytics::domain::Month::of(now);
    let so_far = if current.window.last >= running {
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
) -> Result<AnalyticsView, AppError> {
    use crate::analytics::{domain, tables};
    let admin = super::session::require_admin().await?;
    let context = crate::context::app_context()?;
    let now = context.clock.now();
    let reads =
        super::analytics_reads::analytics_reads(&context.pool, context.replica.as_ref(), admin.admin_id)
            .await;
    let (window, report) =
        super::analytics_reads::report_from(&reads, &context.pool, first, last, now).await?;
    let range = match (
        from.filter(|f| !f.trim().is_empty()),
        to.filter(|t| !t.trim().is_empty()),
    ) {
        (Some(from), Some(to)) => {
            let (start, end) = (day("from", &from)?, day("to", &to)?);
            if end < start {
                return Err(AppError::field("to", "the range ends before it starts"));
            }
            let period = domain::Period {
                start,
                end: end.succ_opt().unwrap_or(end),
            };
            // Any run of days reads every customer's series: slower than the
            // months, which the stored totals answer.
            let (history, _) = crate::billing::series_store::load_history(&reads.pool).await?;
            Some((
                format!("{start} to {end}"),
                table(tables::range(&domain::period_figures(&history, period))),
            ))
        }
        (None, None) => None,
        _ => return Err(AppError::field("to", "give both ends of the range")),
    };
    let scheduled_churn = tables::money(Some(crate::analytics::db::scheduled_churn(&reads.pool).await?));
    let at_risk = match crate::analytics::db::past_due_at_risk(&reads.pool).await? {
        (_, 0) => "No account is past due.".to_owned(),
        (mrr, accounts) => format!(
            "{} of MRR in {accounts} past-due {} (a failed payment not yet recovered).",
            tables::money(Some(mrr)),
            if accounts == 1 { "account" } else { "accounts" }
        ),
    };
    let [mrr_chart, movements_chart, cohort_chart, forecast_chart] = charts(&report);
    let headline = headline_words(&report, now);
    let (cards_period, cards) = cards_of(&report, now);
    let mut months = table(tables::months(&report));
    // The running month's figures end now: say so beside it (the CSV keeps the plain month).
    let running = domain::Month::of(now).to_string();
    for row in months.rows.iter_mut().filter(|row| row.first() == Some(&running)) {
        row[0] = format!("{running} (so far)");
    }
    Ok(AnalyticsView {
        first: window.map(|w| w.first.to_string()).unwrap_or_default(),
        last: window.map(|w| w.last.to_string()).unwrap_or_default(),
        headline,
        cards_period,
        cards,
        quick_ranges: quick_ranges(window, now),
        freshness: reads.freshness,
        scheduled_churn,
        at_risk,
        months,
        splits: table(tables::splits(&report)),
        cohorts: table(tables::cohorts(&report)),
        forecast: table(tables::forecast(&report)),
        forecast_sentence: forecast_sentence(&report.forecast, now),
        forecast_method: "Baremetrics' baseline: current MRR compounded monthly by the mean growth rate \
                          (new + expansion + reactivation) less the mean loss rate (churn + contraction) of the \
                          last three complete months, each rate over MRR at its month's start. The 80 % band is \
                          ± 1.2816 × σ × √(months ahead) of the central figure, σ being the spread of those \
                          three months' net rates."
            .to_owned(),
        mrr_chart,
        movements_chart,
        cohort_chart,
        forecast_chart,
        range,
    })
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use super::*;
    use crate::analytics::domain::{MonthReport, Movements};

    fn month(name: &str, movements: Movements) -> MonthReport {
        let rate = crate::analytics::domain::Rate::new(0, 0);
        MonthReport {
            month: name.to_owned(),
            mrr_start_cents: 0,
            mrr_cents: 0,
            arr_cents: 0,
            active_customers: 0,
            arpa_cents: None,
            movements_cents: movements,
            customer_churn_rate: rate,
            gross_mrr_churn_rate: rate,
            net_mrr_churn_rate: rate,
            trials: crate::analytics::domain::TrialReport {
                ended: 0,
                converted: 0,
                conversion_rate: rate,
                avg_days_to_convert: None,
            },
            ltv: crate::analytics::domain::Ltv { ltv_cents: None },
            mrr_by_plan_cents: Default::default(),
            mrr_by_interval_cents: Default::default(),
        }
    }

    #[test]
    fn movements_stack_gains_above_the_line_and_losses_below_one_bar_a_month() {
        let months = [
            month(
                "2026-01",
                Movements {
                    new_business: 30_000,
                    reactivation: 0,
                    expansion: 10_000,
                    contraction: -5_000,
                    churn: -15_000,
                },
            ),
            month(
                "2026-02",
                Movements {
                    new_business: 0,
                    reactivation: 0,
                    expansion: 0,
                    contraction: 0,
                    churn: 0,
                },
            ),
            month(
                "2026-03",
                Movements {
                    new_business: 10_000,
                    reactivation: 2_000,
                    expansion: 0,
                    contraction: 0,
                    churn: -40_000,
                },
            ),
        ];
        let svg = stacked_movements(&months).expect("an SVG");
        // Five legend swatches, then one rect per non-zero movement.
        assert_eq!(svg.matches("<rect").count(), 5 + 4 + 3);
        for label in [
            "New",
            "Reactivation",
            "Expansion",
            "Contraction",
            "Churn",
            "2026-01",
            "2026-03",
            "$400.00",
        ] {
            assert!(svg.contains(label), "{label}");
        }
        // Nothing moved at all: only the legend and the line.
        let quiet = stacked_movements(&months[1..2]).expect("an SVG");
        assert_eq!(quiet.matches("<rect").count(), 5);
    }
}
