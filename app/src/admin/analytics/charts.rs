//! The analytics page's charts, drawn on the server by charts-rs as SVG:
//! MRR over the months, the movements stacked per month, the cohort
//! heatmap and the forecast with its band. Each comes with a sentence that
//! says the same in words.

use super::ChartView;
use charts_rs::{Canvas, Color, Line, Text};

fn dollars(cents: i64) -> f32 {
    cents as f32 / 100.0
}

/// A movement kind's name, colour and amount in a month.
type MovementLayer = (
    &'static str,
    &'static str,
    fn(&crate::analytics::domain::Movements) -> i64,
);

/// The movement kinds, in stacking order from the zero line, with their colours.
const MOVEMENT_LAYERS: [MovementLayer; 5] = [
    ("New", "#2563eb", |m| m.new_business),
    ("Reactivation", "#7c3aed", |m| m.reactivation),
    ("Expansion", "#16a34a", |m| m.expansion),
    ("Contraction", "#d97706", |m| m.contraction),
    ("Churn", "#dc2626", |m| m.churn),
];

/// The net new MRR line's colour (slate-900).
const NET_COLOUR: &str = "#0f172a";

/// A round step for an axis reaching `max` cents: 1, 2 or 5 × a power of
/// ten, about four steps from the zero line.
pub(super) fn round_step(max: i64) -> i64 {
    let raw = (max / 4).max(1);
    let mut magnitude = 1_i64;
    while magnitude <= raw / 10 {
        magnitude *= 10;
    }
    [1, 2, 5, 10]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|step| *step >= raw)
        .unwrap_or(10 * magnitude)
}

/// An axis label: whole dollars when the tick is whole (`$2,000`, `−$500`).
pub(super) fn axis_money(cents: i64) -> String {
    let text = crate::analytics::tables::money(Some(cents.abs()));
    let text = if cents % 100 == 0 {
        text.trim_end_matches(".00").to_owned()
    } else {
        text
    };
    if cents < 0 { format!("−{text}") } else { text }
}

/// Each month's movements as one bar: gains (new, reactivation, expansion)
/// stacked up from the zero line, losses (contraction, churn) down from it.
/// A chart's text: 11 px, slate, anchored `start`, `middle` or `end`.
pub(super) fn chart_label(text: String, x: f32, y: f32, anchor: &str) -> Text {
    Text {
        text,
        x: Some(x),
        y: Some(y),
        font_size: Some(11.0),
        font_color: Some(Color::from("#334155")),
        text_anchor: Some(anchor.to_owned()),
        ..Text::default()
    }
}

/// A money axis on round ticks: a label at each tick from `from` to `to`
/// (every `step` cents) left of the plot, with a light gridline across it.
pub(super) struct MoneyAxis {
    /// The lowest tick, in cents.
    pub from: i64,
    /// The highest tick, in cents.
    pub to: i64,
    /// Cents between ticks (a [`round_step`]).
    pub step: i64,
    /// The plot's left edge.
    pub left: f32,
    /// The plot's right edge.
    pub right: f32,
    /// Whether the zero tick gets a gridline too.
    pub gridline_at_zero: bool,
}

impl MoneyAxis {
    /// Draws the axis, each tick at `y_of(cents)`.
    pub(super) fn draw(&self, canvas: &mut Canvas, y_of: impl Fn(i64) -> f32) {
        let mut tick = self.from;
        while tick <= self.to {
            let y = y_of(tick);
            canvas.text(chart_label(axis_money(tick), self.left - 6.0, y + 4.0, "end"));
            if tick != 0 || self.gridline_at_zero {
                canvas.line(Line {
                    color: Some(Color::from("#e2e8f0")),
                    stroke_width: 1.0,
                    left: self.left,
                    top: y,
                    right: self.right,
                    bottom: y,
                    ..Line::default()
                });
            }
            tick += self.step.max(1);
        }
    }
}

/// charts-rs has no stacked bars, so they are drawn on its canvas.
fn stacked_movements(
    months: &[crate::analytics::domain::MonthReport],
) -> Result<String, charts_rs::CanvasError> {
    use charts_rs::{Circle, Point, Polyline, Rect};
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
    // The axis runs to whole steps of a round size ($100, $200, $500, …) each way.
    let (up, down) = (
        months.iter().map(gains).max().unwrap_or(0).max(0),
        months.iter().map(losses).max().unwrap_or(0).max(0),
    );
    let step = round_step(up.max(down));
    // Both are ≥ 0 and step > 0: round each up to a whole step.
    let whole_steps = |cents: i64| (cents + step - 1) / step * step;
    let (up, down) = (whole_steps(up), whole_steps(down));
    let range = (up + down).max(1) as f32;
    let zero = top + plot_height * up as f32 / range;
    let scale = plot_height / range;
    let mut canvas = Canvas::new(width, height);
    let label = chart_label;
    for (i, (name, colour, _)) in MOVEMENT_LAYERS.iter().enumerate() {
        let x = left + i as f32 * 105.0;
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
    let net_legend = left + MOVEMENT_LAYERS.len() as f32 * 105.0;
    canvas.circle(Circle {
        fill: Some(Color::from(NET_COLOUR)),
        cx: net_legend + 6.0,
        cy: 14.0,
        r: 4.0,
        ..Circle::default()
    });
    canvas.text(label("Net new MRR".to_owned(), net_legend + 16.0, 18.0, "start"));
    // The zero line is drawn with the bars, so it gets no gridline here.
    let axis = MoneyAxis {
        from: -down,
        to: up,
        step,
        left,
        right: width - right,
        gridline_at_zero: false,
    };
    axis.draw(&mut canvas, |cents| zero - cents as f32 * scale);
    let slot = plot_width / months.len().max(1) as f32;
    let mut net_points = Vec::with_capacity(months.len());
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
        net_points.push(Point {
            x: x + slot * 0.3,
            y: zero
                - MOVEMENT_LAYERS
                    .iter()
                    .map(|(_, _, pick)| pick(&month.movements_cents))
                    .sum::<i64>() as f32
                    * scale,
        });
    }
    // Net new MRR: a dot a month on the same scale, joined into a line.
    canvas.polyline(Polyline {
        color: Some(Color::from(NET_COLOUR)),
        stroke_width: 1.5,
        points: net_points.clone(),
    });
    for point in &net_points {
        canvas.circle(Circle {
            fill: Some(Color::from(NET_COLOUR)),
            cx: point.x,
            cy: point.y,
            r: 3.0,
            ..Circle::default()
        });
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

/// The MRR, movements, cohort and forecast charts, each `None` when it has
/// nothing to draw; the cohorts by customers retained, or `by_revenue` by
/// net MRR retention.
pub fn charts(
    report: &crate::analytics::domain::AnalyticsReport,
    by_revenue: bool,
) -> [Option<ChartView>; 4] {
    use charts_rs::{HeatmapChart, LineChart, Series};
    let months: Vec<String> = report.months.iter().map(|m| m.month.clone()).collect();
    let sized = |svg: Result<String, charts_rs::CanvasError>, summary: String| {
        svg.ok().map(|svg| ChartView { svg, summary })
    };
    let mrr = (months.len() >= 2).then(|| {
        // The total, then one line per plan: how the mix moved, not only the sum.
        let plans: std::collections::BTreeSet<&String> = report
            .months
            .iter()
            .flat_map(|m| m.mrr_by_plan_cents.keys())
            .collect();
        let mut series = vec![Series::new(
            "All plans ($)".into(),
            report.months.iter().map(|m| dollars(m.mrr_cents)).collect(),
        )];
        for plan in &plans {
            series.push(Series::new(
                (*plan).clone(),
                report
                    .months
                    .iter()
                    .map(|m| dollars(m.mrr_by_plan_cents.get(*plan).copied().unwrap_or(0)))
                    .collect(),
            ));
        }
        let mut chart = LineChart::new(series, months.clone());
        chart.width = 720.0;
        chart.height = 300.0;
        chart.title_text = String::new();
        let (first, last) = (&report.months[0], &report.months[report.months.len() - 1]);
        let by_plan = last
            .mrr_by_plan_cents
            .iter()
            .map(|(plan, cents)| format!("{plan} {}", crate::analytics::tables::money(Some(*cents))))
            .collect::<Vec<_>>()
            .join(", ");
        sized(
            chart.svg(),
            format!(
                "MRR went from {} at the start of {} to {} at the end of {}{}.",
                crate::analytics::tables::money(Some(first.mrr_start_cents)),
                first.month,
                crate::analytics::tables::money(Some(last.mrr_cents)),
                last.month,
                if by_plan.is_empty() {
                    String::new()
                } else {
                    format!(" ({by_plan})")
                }
            ),
        )
    });
    let movements = (!months.is_empty()).then(|| {
        sized(
            stacked_movements(&report.months),
            "MRR movements per month, gains stacked above the line and losses below, net new MRR as a dark \
             line; the months table below lists each figure."
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
            let base = cohort.cells.first().map_or(0, |c| c.mrr_cents);
            for cell in &cohort.cells {
                let (part, whole) = match by_revenue {
                    true => (cell.mrr_cents, base),
                    false => (cell.customers_retained, cohort.customers),
                };
                if whole > 0 {
                    data.push((
                        row * size + cell.k as usize,
                        (100.0 * part as f32 / whole as f32).round(),
                    ));
                }
            }
        }
        let mut y: Vec<String> = report.cohorts.iter().map(|c| c.cohort.clone()).collect();
        y.resize(size, String::new());
        let x: Vec<String> = (0..size).map(|k| format!("M{k}")).collect();
        let mut chart = HeatmapChart::new(data, x, y);
        // A sequential scale, light (none retained) to dark blue (all): the
        // page's legend states it. charts-rs's default runs to red.
        // Net MRR retention can pass 100 %: its scale runs to 150 % (darker is better either way).
        chart.series.min = 0.0;
        chart.series.max = if by_revenue { 150.0 } else { 100.0 };
        chart.series.min_color = (239, 246, 255).into();
        chart.series.max_color = (30, 58, 138).into();
        chart.series.min_font_color = (15, 23, 42).into();
        chart.series.max_font_color = (255, 255, 255).into();
        chart.width = 720.0;
        chart.height = 40.0 * size as f32 + 60.0;
        chart.title_text = String::new();
        sized(
            chart.svg(),
            if by_revenue {
                "Each cohort's MRR at each month as a share of its first month's (net MRR retention); the \
                 cohorts table below has every cell."
            } else {
                "Share of each cohort still paying at each month; the cohorts table below has every cell."
            }
            .to_owned(),
        )
    });
    let forecast = super::forecast_chart::forecast_chart(&report.months, &report.forecast.months)
        .map(|(svg, summary)| ChartView { svg, summary });
    [mrr.flatten(), movements.flatten(), cohorts.flatten(), forecast]
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::analytics::domain::{MonthReport, Movements};

    pub(in crate::admin) fn month(name: &str, movements: Movements) -> MonthReport {
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
    fn axis_steps_are_round_and_cover_the_largest_bar() {
        let cases = [
            (40_000, 10_000),
            (1, 1),
            (399, 100),
            (123_456, 50_000),
            (1_000_000, 500_000),
            (0, 1),
        ];
        for (max, step) in cases {
            assert_eq!(round_step(max), step, "{max}");
            assert!(round_step(max) * 5 >= max, "{max}: five steps reach the bar");
        }
        assert_eq!(axis_money(200_000), "$2,000");
        assert_eq!(axis_money(-50_000), "−$500");
        assert_eq!(axis_money(150), "$1.50");
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
            "Net new MRR",
            "$400",
            "$200",
            "−$400",
        ] {
            assert!(svg.contains(label), "{label}");
        }
        assert!(!svg.contains("$400.00"), "round ticks read as whole dollars");
        // One dot a month for net new MRR, plus the legend's.
        assert_eq!(svg.matches("<circle").count(), 3 + 1);
        // Nothing moved at all: only the legend and the line.
        let quiet = stacked_movements(&months[1..2]).expect("an SVG");
        assert_eq!(quiet.matches("<rect").count(), 5);
    }
}
