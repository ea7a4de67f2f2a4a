//! The hand-computed fixtures: every figure, and each case METRICS.md names.

use super::*;

#[test]
fn two_annual_subscriptions_round_once_at_the_customer() {
    let mut fixture = Fixture::default();
    fixture
        .state(0, 0, "2026-01-10T12:00:00Z", Active, "starter", yearly(52_900))
        .state(0, 1, "2026-01-10T12:00:00Z", Active, "growth", yearly(52_900));
    let report = fixture.report("2026-01", "2026-01");
    let january = month_of(&report, "2026-01");
    assert_eq!(january.mrr_cents, 8817, "2 × 529 ÷ 12 = 88.1667, not 2 × 44.08");
    assert_eq!(january.arr_cents, 12 * 8817);
    assert_eq!(january.movements_cents.new_business, 8817);
    // 4408.33 + 4408.33: floors 4408 + 4408, the one cent left goes to the
    // key that sorts first ("growth"), although "starter" was seen first.
    assert_eq!(january.mrr_by_plan_cents.values().sum::<i64>(), 8817);
    assert_eq!(january.mrr_by_plan_cents["growth"], 4409);
    assert_eq!(january.mrr_by_plan_cents["starter"], 4408);
    assert_eq!(january.mrr_by_interval_cents["year"], 8817);
}

#[test]
fn intervals_and_forever_discounts_follow_the_definitions() {
    let quarterly = Bill {
        count: 3,
        ..monthly(15_000)
    };
    let weekly = Bill {
        interval: IntervalUnit::Week,
        ..monthly(1_000)
    };
    let discounted = Bill {
        percent_off_forever: 20,
        quantity: 3,
        ..monthly(4_900)
    };
    let free = Bill {
        percent_off_forever: 100,
        ..monthly(4_900)
    };
    let mut fixture = Fixture::default();
    fixture
        .state(0, 0, "2026-03-01T00:00:00Z", Active, "a", quarterly)
        .state(1, 1, "2026-03-01T00:00:00Z", Active, "a", weekly)
        .state(2, 2, "2026-03-01T00:00:00Z", Active, "a", discounted)
        .state(3, 3, "2026-03-01T00:00:00Z", Active, "a", free);
    let history = fixture.history();
    let end = month("2026-03").last_day();
    assert_eq!(history.mrr_at_end_of(0, end), 5_000, "15,000 a quarter");
    assert_eq!(history.mrr_at_end_of(1, end), 4_333, "1,000 × 52 ÷ 12 = 4,333.33");
    assert_eq!(history.mrr_at_end_of(2, end), 11_760, "3 × 4,900 less 20 %");
    assert_eq!(
        history.mrr_at_end_of(3, end),
        0,
        "a 100 % discount carries no MRR"
    );
    let report = fixture.report("2026-03", "2026-04");
    let march = month_of(&report, "2026-03");
    assert_eq!(march.active_customers, 3, "the free customer is not active");
    assert_eq!(
        march.arpa_cents,
        Some((5_000 + 4_333 + 11_760 + 1) / 3),
        "21,093 ÷ 3 = 7,031"
    );
    assert_eq!(report.cohorts.len(), 1);
    assert_eq!(report.cohorts[0].customers, 3, "the free customer has no cohort");
    assert_eq!(march.mrr_by_interval_cents["quarter"], 5_000);
    assert_eq!(march.mrr_by_interval_cents["week"], 4_333);
}

#[test]
fn every_status_but_active_and_past_due_carries_nothing_and_leaving_is_churn_then_reactivation() {
    let mut fixture = Fixture::default();
    fixture
        .state(0, 0, "2026-01-05T00:00:00Z", Trialing, "starter", monthly(4_900))
        .state(0, 0, "2026-01-19T00:00:00Z", PastDue, "starter", monthly(4_900))
        .state(0, 0, "2026-01-21T00:00:00Z", Active, "starter", monthly(4_900))
        .state(0, 0, "2026-02-10T00:00:00Z", Paused, "starter", monthly(4_900))
        .state(0, 0, "2026-03-10T00:00:00Z", Active, "starter", monthly(4_900))
        .state(0, 0, "2026-03-15T00:00:00Z", Unpaid, "starter", monthly(4_900));
    let report = fixture.report("2026-01", "2026-03");
    let january = month_of(&report, "2026-01");
    assert_eq!(
        january.movements_cents.new_business, 4_900,
        "past due after the trial is new business"
    );
    assert_eq!(january.mrr_cents, 4_900);
    let february = month_of(&report, "2026-02");
    assert_eq!(february.movements_cents.churn, -4_900, "entering paused is churn");
    assert_eq!(february.customer_churn_rate.value, Some(1.0));
    let march = month_of(&report, "2026-03");
    assert_eq!(march.movements_cents.reactivation, 4_900);
    assert_eq!(march.movements_cents.churn, -4_900, "unpaid carries nothing");
    assert_eq!(march.customer_churn_rate.denominator, 0);
    assert_eq!(
        march.customer_churn_rate.value, None,
        "no customer at the start: undefined, not 0"
    );
    assert_eq!(march.gross_mrr_churn_rate.value, None);
    assert_eq!(march.arpa_cents, None);
    // The trial ended in January in past due; it converted on reaching active.
    assert_eq!(january.trials.ended, 1);
    assert_eq!(january.trials.converted, 1);
    assert_eq!(january.trials.avg_days_to_convert.as_deref(), Some("16.0"));
}

#[test]
fn a_change_at_midnight_belongs_to_the_day_it_opens() {
    let mut fixture = Fixture::default();
    fixture
        .state(0, 0, "2026-01-10T00:00:00Z", Active, "starter", monthly(4_900))
        .state(0, 0, "2026-02-01T00:00:00Z", Active, "growth", monthly(9_900))
        .state(1, 1, "2026-01-31T23:59:59Z", Active, "starter", monthly(4_900));
    let report = fixture.report("2026-01", "2026-02");
    let january = month_of(&report, "2026-01");
    let february = month_of(&report, "2026-02");
    assert_eq!(
        january.mrr_cents, 9_800,
        "the upgrade at 00:00 on 1 February is February's"
    );
    assert_eq!(february.mrr_start_cents, 9_800);
    assert_eq!(february.movements_cents.expansion, 5_000);
    assert_eq!(
        january.movements_cents.new_business, 9_800,
        "23:59:59 is still January"
    );
}

#[test]
fn changes_with_one_timestamp_apply_in_the_order_recorded_and_a_day_nets_out() {
    let mut fixture = Fixture::default();
    fixture
        .state(0, 0, "2026-01-10T00:00:00Z", Active, "starter", monthly(4_900))
        .state(0, 0, "2026-01-20T10:00:00Z", Active, "growth", monthly(9_900))
        .state(0, 0, "2026-01-20T10:00:00Z", Active, "starter", monthly(4_900))
        .state(1, 1, "2026-01-10T00:00:00Z", Active, "starter", monthly(4_900))
        .state(1, 1, "2026-01-25T09:00:00Z", Canceled, "starter", monthly(4_900))
        .state(1, 1, "2026-01-25T17:00:00Z", Active, "starter", monthly(4_900));
    let report = fixture.report("2026-01", "2026-01");
    let january = month_of(&report, "2026-01");
    assert_eq!(january.mrr_cents, 9_800);
    assert_eq!(
        january.movements_cents.expansion, 0,
        "the later of two equal times wins, within the day"
    );
    assert_eq!(
        january.movements_cents.churn, 0,
        "cancelled and back within one day nets out"
    );
    assert_eq!(january.movements_cents.new_business, 9_800);
}

#[test]
fn cancel_at_period_end_keeps_mrr_until_the_subscription_ends() {
    // Stripe keeps the subscription active (cancel_at_period_end) until the end.
    let mut fixture = Fixture::default();
    fixture
        .state(0, 0, "2026-01-15T00:00:00Z", Active, "starter", monthly(4_900))
        .state(0, 0, "2026-02-15T00:00:00Z", Canceled, "starter", monthly(4_900));
    let report = fixture.report("2026-01", "2026-02");
    assert_eq!(month_of(&report, "2026-01").mrr_cents, 4_900);
    let february = month_of(&report, "2026-02");
    assert_eq!(february.movements_cents.churn, -4_900);
    assert_eq!(february.gross_mrr_churn_rate, Rate::new(4_900, 4_900));
    assert_eq!(february.net_mrr_churn_rate.value, Some(1.0));
}

#[test]
fn customer_churn_compares_only_the_start_and_the_end() {
    let mut fixture = Fixture::default();
    // 0: leaves and comes back inside February: not churned.
    fixture
        .state(0, 0, "2026-01-05T00:00:00Z", Active, "a", monthly(1_000))
        .state(0, 0, "2026-02-05T00:00:00Z", Canceled, "a", monthly(1_000))
        .state(0, 1, "2026-02-20T00:00:00Z", Active, "a", monthly(2_000));
    // 1: joins and leaves inside February: not counted, but its movements are.
    fixture
        .state(1, 2, "2026-02-03T00:00:00Z", Active, "a", monthly(3_000))
        .state(1, 2, "2026-02-13T00:00:00Z", Canceled, "a", monthly(3_000));
    // 2 and 3: there at the start; 3 churns.
    fixture
        .state(2, 3, "2026-01-05T00:00:00Z", Active, "a", monthly(1_000))
        .state(3, 4, "2026-01-05T00:00:00Z", Active, "a", monthly(1_000))
        .state(3, 4, "2026-02-28T00:00:00Z", Canceled, "a", monthly(1_000));
    let report = fixture.report("2026-02", "2026-02");
    let february = month_of(&report, "2026-02");
    assert_eq!(february.customer_churn_rate, Rate::new(1, 3));
    assert_eq!(february.customer_churn_rate.value, Some(0.333333));
    // Movements: 0 churns −1,000 then reactivates +2,000; 1 new +3,000 then −3,000; 3 churns −1,000.
    assert_eq!(february.movements_cents.churn, -5_000);
    assert_eq!(february.movements_cents.reactivation, 2_000);
    assert_eq!(february.movements_cents.new_business, 3_000);
    assert_eq!(february.gross_mrr_churn_rate, Rate::new(5_000, 3_000));
    assert_eq!(february.net_mrr_churn_rate, Rate::new(3_000, 3_000));
    assert_eq!(
        february.mrr_start_cents + 3_000 + 2_000 - 5_000,
        february.mrr_cents
    );
}

#[test]
fn net_mrr_churn_is_negative_when_expansion_outgrows_losses() {
    let mut fixture = Fixture::default();
    fixture
        .state(0, 0, "2026-01-05T00:00:00Z", Active, "a", monthly(1_000))
        .state(0, 0, "2026-02-05T00:00:00Z", Active, "b", monthly(4_000))
        .state(1, 1, "2026-01-05T00:00:00Z", Active, "a", monthly(1_000))
        .state(1, 1, "2026-02-05T00:00:00Z", Active, "a", monthly(500));
    let february = month_of(&fixture.report("2026-02", "2026-02"), "2026-02").clone();
    assert_eq!(february.net_mrr_churn_rate, Rate::new(-2_500, 2_000));
    assert_eq!(february.net_mrr_churn_rate.value, Some(-1.25));
    assert_eq!(february.gross_mrr_churn_rate.value, Some(0.25));
}

#[test]
fn trials_are_counted_per_subscription_in_the_month_they_end() {
    let mut fixture = Fixture::default();
    // Converts after 14 days, with a plan change inside the trial.
    fixture
        .state(0, 0, "2026-01-01T00:00:00Z", Trialing, "starter", monthly(4_900))
        .state(0, 0, "2026-01-07T00:00:00Z", Trialing, "growth", monthly(9_900))
        .state(0, 0, "2026-01-15T00:00:00Z", Active, "growth", monthly(9_900));
    // Cancelled at its end.
    fixture
        .state(1, 1, "2026-01-10T00:00:00Z", Trialing, "starter", monthly(4_900))
        .state(1, 1, "2026-01-24T00:00:00Z", Canceled, "starter", monthly(4_900));
    // Ends in February in past due, pays 3.5 days later.
    fixture
        .state(2, 2, "2026-01-20T00:00:00Z", Trialing, "starter", monthly(4_900))
        .state(2, 2, "2026-02-03T00:00:00Z", PastDue, "starter", monthly(4_900))
        .state(2, 2, "2026-02-06T12:00:00Z", Active, "starter", monthly(4_900));
    // Expires into paused and never pays; another still running when the data ends.
    fixture
        .state(3, 3, "2026-01-25T00:00:00Z", Trialing, "starter", monthly(4_900))
        .state(3, 3, "2026-02-08T00:00:00Z", Paused, "starter", monthly(4_900))
        .state(4, 4, "2026-02-20T00:00:00Z", Trialing, "starter", monthly(4_900));
    let report = fixture.report("2026-01", "2026-02");
    let january = &month_of(&report, "2026-01").trials;
    assert_eq!((january.ended, january.converted), (2, 1));
    assert_eq!(january.conversion_rate.value, Some(0.5));
    assert_eq!(
        january.avg_days_to_convert.as_deref(),
        Some("14.0"),
        "from the first moment of trialing"
    );
    let february = &month_of(&report, "2026-02").trials;
    assert_eq!((february.ended, february.converted), (2, 1));
    assert_eq!(february.avg_days_to_convert.as_deref(), Some("17.5"));
    assert_eq!(
        month_of(&fixture.report("2026-03", "2026-03"), "2026-03")
            .trials
            .conversion_rate
            .value,
        None,
        "no trial ended: undefined"
    );
}

#[test]
fn average_days_to_convert_rounds_half_even_to_one_decimal() {
    let cases = [
        (Duration::hours(14 * 24 + 1), "14.0"),            // 14.0417
        (Duration::hours(14 * 24 + 3), "14.1"),            // 14.125
        (Duration::minutes(14 * 1440 + 72), "14.0"),       // 14.05 exactly → even
        (Duration::minutes(14 * 1440 + 216), "14.2"),      // 14.15 exactly → even
        (Duration::seconds(14 * 86_400 + 12_959), "14.1"), // 14.1499
    ];
    for (delay, expected) in cases {
        let mut fixture = Fixture::default();
        let start = at("2026-01-01T00:00:00Z");
        fixture
            .state_at(0, 0, start, Trialing, "a", monthly(100))
            .state_at(0, 0, start + delay, Active, "a", monthly(100));
        let report = fixture.report("2026-01", "2026-01");
        assert_eq!(
            month_of(&report, "2026-01").trials.avg_days_to_convert.as_deref(),
            Some(expected),
            "{delay:?}"
        );
    }
}

#[test]
fn cohorts_follow_first_new_business_and_keep_reactivated_customers() {
    let mut fixture = Fixture::default();
    fixture
        .state(0, 0, "2026-01-03T00:00:00Z", Active, "a", monthly(1_000))
        .state(0, 0, "2026-02-10T00:00:00Z", Canceled, "a", monthly(1_000))
        .state(0, 1, "2026-03-10T00:00:00Z", Active, "a", monthly(3_000))
        .state(1, 2, "2026-01-20T00:00:00Z", Active, "a", monthly(2_000))
        .state(1, 2, "2026-01-25T00:00:00Z", Canceled, "a", monthly(2_000))
        .state(2, 3, "2026-02-01T00:00:00Z", Active, "a", monthly(5_000));
    let report = fixture.report("2026-01", "2026-03");
    assert_eq!(report.cohorts.len(), 2);
    let january = &report.cohorts[0];
    assert_eq!((january.cohort.as_str(), january.customers), ("2026-01", 2));
    let cells: Vec<(i32, i64, i64)> = january
        .cells
        .iter()
        .map(|c| (c.k, c.customers_retained, c.mrr_cents))
        .collect();
    assert_eq!(
        cells,
        vec![(0, 1, 1_000), (1, 0, 0), (2, 1, 3_000)],
        "month 0 below 100 %; the reactivated customer counts again in its cohort"
    );
    let february = &report.cohorts[1];
    assert_eq!(february.cohort, "2026-02");
    assert_eq!(february.cells.len(), 2);
}

#[test]
fn ltv_divides_arpa_by_the_mean_of_three_months_of_churn() {
    // Churn rates 1/4, 0/3 and 1/3: mean = 7/36; ARPA 3,000 → 15,428.571… → 15,429.
    assert_eq!(
        ltv(3_000, &[Rate::new(1, 4), Rate::new(0, 3), Rate::new(1, 3)]),
        Some(15_429)
    );
    assert_eq!(
        ltv(3_000, &[Rate::new(0, 4), Rate::new(0, 3), Rate::new(0, 3)]),
        None,
        "mean 0"
    );
    assert_eq!(
        ltv(3_000, &[Rate::new(1, 4), Rate::new(0, 0), Rate::new(1, 3)]),
        None,
        "one undefined"
    );
    // Half-even at the cent: 2 × 3 ÷ (1/4 + 1/4 + 1/4 … ) cases.
    assert_eq!(
        ltv(1, &[Rate::new(2, 1), Rate::new(2, 1), Rate::new(2, 1)]),
        Some(0),
        "0.5 → 0"
    );
    assert_eq!(
        ltv(3, &[Rate::new(2, 1), Rate::new(2, 1), Rate::new(2, 1)]),
        Some(2),
        "1.5 → 2"
    );
}

#[test]
fn ltv_in_the_report_uses_the_rounded_arpa_and_the_months_before() {
    let mut fixture = Fixture::default();
    for customer in 0..4 {
        fixture.state(
            customer,
            customer,
            "2026-01-05T00:00:00Z",
            Active,
            "a",
            monthly(3_000),
        );
    }
    fixture.state(0, 0, "2026-02-10T00:00:00Z", Canceled, "a", monthly(3_000));
    fixture.state(1, 1, "2026-04-10T00:00:00Z", Canceled, "a", monthly(3_000));
    let report = fixture.report("2026-01", "2026-04");
    assert_eq!(
        month_of(&report, "2026-01").ltv.ltv_cents,
        None,
        "the months before have no customers"
    );
    assert_eq!(
        month_of(&report, "2026-03").ltv.ltv_cents,
        None,
        "January's rate is undefined"
    );
    // April: rates February 1/4, March 0/3, April 1/3; ARPA 3,000.
    assert_eq!(month_of(&report, "2026-04").ltv.ltv_cents, Some(15_429));
}

#[test]
fn rates_round_half_even_to_six_places() {
    assert_eq!(Rate::new(1, 3).value, Some(0.333333));
    assert_eq!(Rate::new(2, 3).value, Some(0.666667));
    assert_eq!(Rate::millionths(1, 8_000_000), Some(0), "0.000000125 → 0.000000");
    assert_eq!(Rate::millionths(3, 2_000_000), Some(2), "0.0000015 → 0.000002");
    assert_eq!(Rate::millionths(5, 2_000_000), Some(2), "0.0000025 → 0.000002");
    assert_eq!(Rate::millionths(-5, 2_000_000), Some(-2));
    assert_eq!(Rate::new(5, 0).value, None);
    assert_eq!(Rate::new(0, 0).percent(1), "—");
    assert_eq!(Rate::new(1, 4).percent(1), "25.0 %");
}

#[test]
fn the_forecast_compounds_the_trailing_three_month_rates() {
    let mut fixture = Fixture::default();
    // Ten customers from December; one more each month from January (10 % growth-ish).
    for customer in 0..10 {
        fixture.state(
            customer,
            customer,
            "2025-12-05T00:00:00Z",
            Active,
            "a",
            monthly(1_000),
        );
    }
    for (i, when) in [
        "2026-01-10T00:00:00Z",
        "2026-02-10T00:00:00Z",
        "2026-03-10T00:00:00Z",
    ]
    .iter()
    .enumerate()
    {
        let customer = 10 + i as u32;
        fixture.state(customer, customer, when, Active, "a", monthly(1_000));
    }
    let history = fixture.history();
    let window = Window {
        first: month("2025-12"),
        last: month("2026-03"),
    };
    let forecast = report(&Rollup::of(&history), window, at("2026-04-15T00:00:00Z")).forecast;
    assert_eq!(forecast.method, METHOD);
    assert_eq!(forecast.months.len(), 12);
    assert_eq!(forecast.months[0].month.to_string(), "2026-04");
    // Growth 1/10, 1/11, 1/12 → mean 0.090909…; no loss. 13,000 × (1 + mean).
    let mean: f64 = (1.0 / 10.0 + 1.0 / 11.0 + 1.0 / 12.0) / 3.0;
    assert_eq!(
        forecast.months[0].mrr_cents,
        Some((13_000.0 * (1.0 + mean)).round() as i64)
    );
    assert_eq!(
        forecast.months[11].mrr_cents,
        Some((13_000.0 * (1.0 + mean).powi(12)).round() as i64)
    );
    for month in &forecast.months {
        let (lower, central, upper) = (
            month.lower_cents.unwrap(),
            month.mrr_cents.unwrap(),
            month.upper_cents.unwrap(),
        );
        assert!(lower <= central && central <= upper);
    }
    // A base month that starts at zero MRR: every figure undefined.
    let early = forecast_with_start(&history, "2025-12");
    assert!(early.months.iter().all(|m| m.mrr_cents.is_none()));
}

fn forecast_with_start(history: &History, last: &str) -> Forecast {
    let window = Window {
        first: month("2025-12"),
        last: month(last),
    };
    report(&Rollup::of(history), window, at("2026-06-01T00:00:00Z")).forecast
}

#[test]
fn movement_kinds_follow_the_table() {
    use MovementKind::*;
    let cases = [
        (0, 100, false, Some(NewBusiness)),
        (0, 100, true, Some(Reactivation)),
        (100, 150, true, Some(Expansion)),
        (150, 100, true, Some(Contraction)),
        (100, 0, true, Some(Churn)),
        (100, 100, true, None),
        (0, 0, true, None),
    ];
    for (before, after, had, expected) in cases {
        assert_eq!(
            MovementKind::of(before, after, had),
            expected,
            "{before} → {after}"
        );
    }
}

/// Labels named in the given order (ids 0, 1, 2… in arrival order).
fn labels_in_order(names: &[&str]) -> crate::billing::domain::series::Labels {
    let mut labels = crate::billing::domain::series::Labels::default();
    for name in names {
        labels.id(name);
    }
    labels
}

#[test]
fn a_largest_remainder_split_always_sums_to_the_rounded_total() {
    let labels = labels_in_order(&["a", "b", "c"]);
    let third = ExactMrr::from_parts(1, 3).unwrap();
    let parts = split(1, [(0, third), (1, third), (2, third)].into_iter(), &labels);
    assert_eq!(
        &*parts,
        &[(0, 1)],
        "1 cent over three equal thirds goes to the name that sorts first"
    );
    let parts = split(
        2,
        [(0, ExactMrr::whole(1)), (1, ExactMrr::from_parts(5, 4).unwrap())].into_iter(),
        &labels,
    );
    assert_eq!(parts.iter().map(|p| p.1).sum::<i64>(), 2);
    assert_eq!(&*split(0, std::iter::empty(), &labels), &[]);
}

#[test]
fn a_tied_cent_goes_to_the_key_that_sorts_first_whatever_arrived_first() {
    // The same shares, their labels seen in every order: the split by name
    // is the same each time (ties by name, not by arrival).
    let third = ExactMrr::from_parts(1, 3).unwrap();
    let half = ExactMrr::from_parts(1, 2).unwrap();
    /// Named shares, the rounded total, and the split expected by name.
    type Case<'a> = (&'a [(&'a str, ExactMrr)], i64, &'a [(&'a str, i64)]);
    let cases: [Case; 3] = [
        (
            &[("pro", third), ("basic", third), ("team", third)],
            1,
            &[("basic", 1)],
        ),
        (&[("year", half), ("month", half)], 1, &[("month", 1)]),
        (
            &[
                ("z.tier", ExactMrr::whole(3).plus(half)),
                ("a.tier", ExactMrr::whole(2).plus(half)),
            ],
            6,
            &[("a.tier", 3), ("z.tier", 3)],
        ),
    ];
    for (shares, total, expected) in cases {
        let names: Vec<&str> = shares.iter().map(|(name, _)| *name).collect();
        let mut orders = vec![names.clone()];
        let mut reversed = names.clone();
        reversed.reverse();
        orders.push(reversed);
        orders.push({
            let mut rotated = names.clone();
            rotated.rotate_left(1);
            rotated
        });
        for order in orders {
            let labels = labels_in_order(&order);
            let mut ids = labels.clone();
            let parts = split(
                total,
                shares.iter().map(|(name, share)| (ids.id(name), *share)),
                &labels,
            );
            let mut named: Vec<(&str, i64)> = parts
                .iter()
                .map(|(id, cents)| (labels.name(*id), *cents))
                .collect();
            named.sort();
            assert_eq!(named, expected, "labels seen in the order {order:?}");
        }
    }
}

proptest::proptest! {
    /// Any shares, their labels met in any order, split alike by name.
    #[test]
    fn a_split_never_depends_on_the_order_labels_arrived(
        cents in proptest::collection::vec((0_i64..5_000, 1_i64..13), 1..6),
        rotation in 0_usize..6,
    ) {
        let names = ["annual", "basic", "month", "pro", "team", "year"];
        let shares: Vec<(&str, ExactMrr)> = cents
            .iter()
            .enumerate()
            .map(|(i, (amount, months))| (names[i], ExactMrr::from_parts(i128::from(*amount), i128::from(*months)).unwrap()))
            .collect();
        let total = shares.iter().fold(ExactMrr::ZERO, |sum, (_, share)| sum.plus(*share)).rounded();
        let by_name = |order: Vec<&str>| {
            let labels = labels_in_order(&order);
            let mut ids = labels.clone();
            let parts = split(total, shares.iter().map(|(name, share)| (ids.id(name), *share)), &labels);
            let mut named: Vec<(String, i64)> =
                parts.iter().map(|(id, cents)| (labels.name(*id).to_owned(), *cents)).collect();
            named.sort();
            named
        };
        let arrival: Vec<&str> = shares.iter().map(|(name, _)| *name).collect();
        let mut other = arrival.clone();
        let turns = rotation % other.len();
        other.rotate_left(turns);
        other.reverse();
        let first = by_name(arrival);
        proptest::prop_assert_eq!(first.iter().map(|(_, c)| c).sum::<i64>(), total.max(0));
        proptest::prop_assert_eq!(first, by_name(other));
    }
}
