//! "Now" for the headline figures: the running month ends at the
//! headline's instant, and the forecast starts from it.

use super::*;

#[test]
fn a_window_reaching_the_running_month_forecasts_from_the_headline_figure() {
    let mut fixture = Fixture::default();
    for (customer, when) in [
        "2025-12-05T00:00:00Z",
        "2026-01-10T00:00:00Z",
        "2026-02-10T00:00:00Z",
        "2026-03-10T00:00:00Z",
        "2026-04-03T00:00:00Z",
        // After "now": a ledger does not hold these, but a cut must not read them.
        "2026-04-20T00:00:00Z",
    ]
    .iter()
    .enumerate()
    {
        fixture.state(
            customer as u32,
            customer as u32,
            when,
            Active,
            "a",
            monthly(1_000),
        );
    }
    let history = fixture.history();
    let rollup = Rollup::of(&history);
    let now = at("2026-04-15T09:30:00Z");
    let window = Window {
        first: month("2025-12"),
        last: month("2026-04"),
    };
    let report = report(&rollup, window, now);
    let headline = headline(&rollup, now);
    assert_eq!(headline.mrr_cents, 5_000);
    assert_eq!(headline.active_customers, 5);
    let running = report.months.last().unwrap();
    assert_eq!((running.mrr_cents, running.active_customers), (5_000, 5));
    assert_eq!(report.forecast.start_cents, Some(headline.mrr_cents));
    assert_eq!(report.forecast.months[0].month.to_string(), "2026-05");
    // The rates are still those of the three complete months before April.
    let mean: f64 = (1.0 / 1.0 + 1.0 / 2.0 + 1.0 / 3.0) / 3.0;
    assert_eq!(
        report.forecast.months[0].mrr_cents,
        Some((5_000.0 * (1.0 + mean)).round() as i64)
    );
    assert!(!month_is_complete(month("2026-04"), now));
    assert!(month_is_complete(month("2026-03"), now));
    assert_eq!(headline.as_of_words(), "as of 15 Apr 2026, 09:30 UTC");
}
