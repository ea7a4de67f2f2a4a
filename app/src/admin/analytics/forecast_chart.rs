//! The forecast beside the actuals, on one axis: the last months' MRR as a
//! solid line, the forecast dashed from where the actuals end, and its 80 %
//! band shaded around it. charts-rs's line chart cannot start a series
//! part-way along the axis, so this is drawn on its canvas.

use super::charts::{MoneyAxis, chart_label, round_step};
use crate::analytics::domain::{ForecastMonth, MonthReport};

/// How many actual months are drawn before the forecast.
pub const ACTUAL_MONTHS: usize = 12;

const ACTUAL_COLOUR: &str = "#0f172a";
const FORECAST_COLOUR: &str = "#2563eb";
const BAND_COLOUR: &str = "#dbeafe";

/// A forecast month's central figure and its band's lower and upper edges, in cents.
type Band = (i64, i64, i64);

/// One point on the month axis: its label and its figures in cents.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Slot {
    month: String,
    actual: Option<i64>,
    forecast: Option<Band>,
}

/// The months drawn: up to [`ACTUAL_MONTHS`] actual ones, then the forecast's,
/// which starts from the last actual month (its band of zero width there).
/// `None` when the forecast has no figures.
fn slots(actuals: &[MonthReport], forecast: &[ForecastMonth]) -> Option<Vec<Slot>> {
    let last = actuals.last()?;
    let ahead: Option<Vec<(String, Band)>> = forecast
        .iter()
        .map(|m| {
            Some((
                m.month.to_string(),
                (m.mrr_cents?, m.lower_cents?, m.upper_cents?),
            ))
        })
        .collect();
    let ahead = ahead.filter(|a| !a.is_empty())?;
    let shown = &actuals[actuals.len().saturating_sub(ACTUAL_MONTHS)..];
    let mut slots: Vec<Slot> = shown
        .iter()
        .map(|m| Slot {
            month: m.month.clone(),
            actual: Some(m.mrr_cents),
            forecast: None,
        })
        .collect();
    if let Some(joint) = slots.last_mut() {
        joint.forecast = Some((last.mrr_cents, last.mrr_cents, last.mrr_cents));
    }
    slots.extend(ahead.into_iter().map(|(month, figures)| Slot {
        month,
        actual: None,
        forecast: Some(figures),
    }));
    Some(slots)
}

/// The chart's SVG and its sentence, or `None` when there is no forecast.
pub fn forecast_chart(actuals: &[MonthReport], forecast: &[ForecastMonth]) -> Option<(String, String)> {
    let slots = slots(actuals, forecast)?;
    let svg = draw(&slots).ok()?;
    let money = |cents: i64| crate::analytics::tables::money(Some(cents));
    let first = &slots[0];
    let joint = slots.iter().rposition(|s| s.actual.is_some()).unwrap_or(0);
    let end = &slots[slots.len() - 1];
    let (central, low, high) = end.forecast.unwrap_or_default();
    let summary = format!(
        "Actual MRR from {} ({}) to {} ({}), then the forecast to {}: {}, between {} and {} at 80 %.",
        first.month,
        money(first.actual.unwrap_or_default()),
        slots[joint].month,
        money(slots[joint].actual.unwrap_or_default()),
        end.month,
        money(central),
        money(low),
        money(high),
    );
    Some((svg, summary))
}

fn draw(slots: &[Slot]) -> Result<String, charts_rs::CanvasError> {
    use charts_rs::{Canvas, Circle, Color, Line, Point, Polygon, Rect, StraightLine};
    let (width, height) = (720.0_f32, 300.0_f32);
    let (left, right, top, bottom) = (80.0_f32, 16.0_f32, 36.0_f32, 28.0_f32);
    let (plot_width, plot_height) = (width - left - right, height - top - bottom);
    let figures = slots.iter().flat_map(|s| {
        s.actual
            .into_iter()
            .chain(s.forecast.into_iter().flat_map(|(c, l, h)| [c, l, h]))
    });
    let (low, high) = figures.fold((i64::MAX, 0_i64), |(lo, hi), c| (lo.min(c), hi.max(c)));
    let low = low.min(high).max(0);
    // Round steps from a round floor below the lowest figure to a round ceiling above the highest.
    let step = round_step((high - low).max(100));
    let floor = low / step * step;
    let ceiling = (high + step - 1) / step * step;
    let ceiling = if ceiling == floor { floor + step } else { ceiling };
    let scale = plot_height / (ceiling - floor) as f32;
    let y_of = |cents: i64| top + plot_height - (cents - floor) as f32 * scale;
    let slot = plot_width / slots.len() as f32;
    let x_of = |i: usize| left + slot * (i as f32 + 0.5);
    let mut canvas = Canvas::new(width, height);
    let label = chart_label;
    // The legend.
    canvas.line(Line {
        color: Some(Color::from(ACTUAL_COLOUR)),
        stroke_width: 2.0,
        left,
        top: 14.0,
        right: left + 16.0,
        bottom: 14.0,
        ..Line::default()
    });
    canvas.text(label("Actual MRR".to_owned(), left + 20.0, 18.0, "start"));
    canvas.straight_line(StraightLine {
        color: Some(Color::from(FORECAST_COLOUR)),
        points: vec![(left + 120.0, 14.0).into(), (left + 136.0, 14.0).into()],
        stroke_width: 2.0,
        stroke_dash_array: Some("5,3".to_owned()),
        symbol: None,
        ..StraightLine::default()
    });
    canvas.text(label("Forecast".to_owned(), left + 140.0, 18.0, "start"));
    canvas.rect(Rect {
        fill: Some(Color::from(BAND_COLOUR)),
        left: left + 220.0,
        top: 8.0,
        width: 16.0,
        height: 12.0,
        ..Rect::default()
    });
    canvas.text(label("8 in 10 outcomes".to_owned(), left + 240.0, 18.0, "start"));
    let axis = MoneyAxis {
        from: floor,
        to: ceiling,
        step,
        left,
        right: width - right,
        gridline_at_zero: true,
    };
    axis.draw(&mut canvas, y_of);
    // The band: the upper edge forward, the lower edge back.
    let band: Vec<(usize, Band)> = slots
        .iter()
        .enumerate()
        .filter_map(|(i, s)| s.forecast.map(|f| (i, f)))
        .collect();
    let mut outline: Vec<Point> = band
        .iter()
        .map(|(i, (_, _, h))| (x_of(*i), y_of(*h)).into())
        .collect();
    outline.extend(
        band.iter()
            .rev()
            .map(|(i, (_, l, _))| Point::from((x_of(*i), y_of(*l)))),
    );
    canvas.polygon(Polygon {
        color: None,
        fill: Some(Color::from(BAND_COLOUR)),
        points: outline,
    });
    canvas.straight_line(StraightLine {
        color: Some(Color::from(FORECAST_COLOUR)),
        points: band
            .iter()
            .map(|(i, (c, _, _))| (x_of(*i), y_of(*c)).into())
            .collect(),
        stroke_width: 2.0,
        stroke_dash_array: Some("5,3".to_owned()),
        symbol: None,
        ..StraightLine::default()
    });
    let actual: Vec<Point> = slots
        .iter()
        .enumerate()
        .filter_map(|(i, s)| s.actual.map(|c| (x_of(i), y_of(c)).into()))
        .collect();
    canvas.straight_line(StraightLine {
        color: Some(Color::from(ACTUAL_COLOUR)),
        points: actual.clone(),
        stroke_width: 2.0,
        symbol: None,
        ..StraightLine::default()
    });
    for point in &actual {
        canvas.circle(Circle {
            fill: Some(Color::from(ACTUAL_COLOUR)),
            cx: point.x,
            cy: point.y,
            r: 2.5,
            ..Circle::default()
        });
    }
    let every = slots.len().div_ceil(8).max(1);
    for (i, s) in slots.iter().enumerate() {
        if i % every == 0 {
            canvas.text(label(s.month.clone(), x_of(i), height - 8.0, "middle"));
        }
    }
    canvas.svg()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::billing::domain::series::Month;

    fn actual(month: &str, mrr_cents: i64) -> MonthReport {
        let mut report = crate::admin::analytics::charts::tests::month(
            month,
            crate::analytics::domain::Movements {
                new_business: 0,
                reactivation: 0,
                expansion: 0,
                contraction: 0,
                churn: 0,
            },
        );
        report.mrr_cents = mrr_cents;
        report
    }

    fn ahead(month: &str, central: i64, spread: i64) -> ForecastMonth {
        ForecastMonth {
            month: Month::parse(month).expect("a month"),
            mrr_cents: Some(central),
            lower_cents: Some(central - spread),
            upper_cents: Some(central + spread),
        }
    }

    #[test]
    fn the_forecast_starts_where_the_actuals_end_on_one_axis() {
        let actuals: Vec<MonthReport> = (1..=14)
            .map(|m| {
                actual(
                    &format!("{}-{:02}", 2025 + (m - 1) / 12, (m - 1) % 12 + 1),
                    100_000 + m * 1_000,
                )
            })
            .collect();
        let forecast: Vec<ForecastMonth> = (3..=5)
            .map(|m| ahead(&format!("2026-{m:02}"), 115_000 + m * 1_000, m * 500))
            .collect();
        let slots = slots(&actuals, &forecast).expect("a chart");
        // The last 12 actual months, then the three ahead.
        assert_eq!(slots.len(), ACTUAL_MONTHS + 3);
        assert_eq!(slots[0].month, "2025-03");
        assert_eq!(slots[11].actual, Some(114_000));
        assert_eq!(
            slots[11].forecast,
            Some((114_000, 114_000, 114_000)),
            "joined at the last actual"
        );
        assert!(
            slots[12..]
                .iter()
                .all(|s| s.actual.is_none() && s.forecast.is_some())
        );

        let (svg, summary) = forecast_chart(&actuals, &forecast).expect("a chart");
        assert_eq!(
            svg.matches("<circle").count(),
            ACTUAL_MONTHS,
            "a dot per actual month"
        );
        assert!(svg.contains("stroke-dasharray=\"5,3\""), "the forecast is dashed");
        for text in ["Actual MRR", "Forecast", "8 in 10 outcomes", "2025-03", "$1,200"] {
            assert!(svg.contains(text), "{text}");
        }
        assert_eq!(
            summary,
            "Actual MRR from 2025-03 ($1,030.00) to 2026-02 ($1,140.00), then the forecast to 2026-05: \
             $1,200.00, between $1,175.00 and $1,225.00 at 80 %."
        );
    }

    #[test]
    fn no_chart_without_forecast_figures_or_actuals() {
        let actuals = vec![actual("2026-01", 50_000)];
        let mut blank = ahead("2026-02", 0, 0);
        blank.mrr_cents = None;
        assert!(forecast_chart(&actuals, &[blank]).is_none());
        assert!(forecast_chart(&actuals, &[]).is_none());
        assert!(forecast_chart(&[], &[ahead("2026-02", 50_000, 100)]).is_none());
        // A flat history still draws on a scale of its own.
        assert!(forecast_chart(&actuals, &[ahead("2026-02", 50_000, 0)]).is_some());
    }
}
