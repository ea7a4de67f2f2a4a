//! Properties over generated histories.

use super::*;

fn arbitrary_status() -> impl Strategy<Value = SubscriptionStatus> {
    prop::sample::select(SubscriptionStatus::ALL.to_vec())
}

fn arbitrary_bill() -> impl Strategy<Value = Bill> {
    (
        0i64..200_000,
        1u32..5,
        prop::sample::select(vec![
            (IntervalUnit::Month, 1),
            (IntervalUnit::Month, 3),
            (IntervalUnit::Year, 1),
            (IntervalUnit::Week, 1),
        ]),
        prop::sample::select(vec![0u32, 0, 10, 25, 100]),
    )
        .prop_map(
            |(amount, quantity, (interval, count), percent_off_forever)| Bill {
                amount,
                quantity,
                interval,
                count,
                percent_off_forever,
            },
        )
}

/// (customer, subscription within customer, seconds after 2026-01-01, status, plan, bill)
type GeneratedState = (u32, u32, i64, SubscriptionStatus, usize, Bill);

fn arbitrary_history() -> impl Strategy<Value = Vec<GeneratedState>> {
    prop::collection::vec(
        (
            0u32..6,
            0u32..3,
            // Six months, with a bias to midnight and to repeated instants.
            prop_oneof![0i64..(183 * 86_400), (0i64..183).prop_map(|d| d * 86_400)],
            arbitrary_status(),
            0usize..3,
            arbitrary_bill(),
        ),
        0..60,
    )
}

fn fixture_of(states: &[GeneratedState]) -> Fixture {
    let start = at("2026-01-01T00:00:00Z");
    let mut fixture = Fixture::default();
    for (customer, sub, seconds, status, plan, bill) in states {
        let plan = ["starter", "growth", "scale"][*plan];
        fixture.state_at(
            *customer,
            customer * 3 + sub,
            start + Duration::seconds(*seconds),
            *status,
            plan,
            *bill,
        );
    }
    fixture
}

/// Each cohort in the window worked out the slow way, from every member's series.
fn cohorts_from_series(history: &History, window: Window) -> Vec<CohortReport> {
    let mut first_new_business: Vec<Option<Month>> = vec![None; history.series.len()];
    for movement in &history.movements {
        if movement.kind == MovementKind::NewBusiness {
            first_new_business[movement.customer as usize].get_or_insert(Month::of_day(movement.day));
        }
    }
    let mut members: std::collections::BTreeMap<Month, Vec<usize>> = Default::default();
    for (customer, cohort) in first_new_business.iter().enumerate() {
        if let Some(cohort) = cohort.filter(|c| (window.first..=window.last).contains(c)) {
            members.entry(cohort).or_default().push(customer);
        }
    }
    members
        .into_iter()
        .map(|(cohort, customers)| CohortReport {
            cohort: cohort.to_string(),
            customers: customers.len() as i64,
            cells: (0..=window.last.since(cohort))
                .map(|k| {
                    let day = cohort.plus(k).last_day();
                    let values = customers.iter().map(|c| history.mrr_at_end_of(*c, day));
                    let (retained, mrr) = values.fold((0, 0), |(n, sum), v| (n + i64::from(v > 0), sum + v));
                    CohortCell {
                        k,
                        customers_retained: retained,
                        mrr_cents: mrr,
                    }
                })
                .collect(),
        })
        .collect()
}

/// MRR at the end of `month` worked out the slow way: every state strictly
/// before the next month, latest per subscription (ties in the given order).
fn brute_force_mrr(fixture: &Fixture, month: Month) -> i64 {
    let cutoff = month.plus(1).first_day().and_hms_opt(0, 0, 0).unwrap().and_utc();
    let mut customers: std::collections::BTreeMap<u32, std::collections::BTreeMap<u32, ExactMrr>> =
        Default::default();
    let mut ordered: Vec<&StatePoint> = fixture.points.iter().filter(|p| p.at < cutoff).collect();
    ordered.sort_by_key(|p| p.at);
    for point in ordered {
        customers
            .entry(point.customer)
            .or_default()
            .insert(point.subscription, point.mrr);
    }
    customers
        .values()
        .map(|subs| customer_mrr(&subs.values().copied().collect::<Vec<_>>()))
        .sum()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn every_month_moves_by_the_sum_of_its_movements_and_every_split_sums_to_mrr(states in arbitrary_history()) {
        let fixture = fixture_of(&states);
        let report = fixture.report("2026-01", "2026-07");
        let mut previous_end = 0;
        for month in &report.months {
            let m = month.movements_cents;
            prop_assert_eq!(
                month.mrr_cents - month.mrr_start_cents,
                m.new_business + m.reactivation + m.expansion + m.contraction + m.churn,
                "{}", month.month
            );
            prop_assert_eq!(month.mrr_start_cents, previous_end);
            prop_assert!(m.new_business >= 0 && m.reactivation >= 0 && m.expansion >= 0);
            prop_assert!(m.contraction <= 0 && m.churn <= 0);
            prop_assert_eq!(month.mrr_by_plan_cents.values().sum::<i64>(), month.mrr_cents);
            prop_assert_eq!(month.mrr_by_interval_cents.values().sum::<i64>(), month.mrr_cents);
            prop_assert_eq!(month.mrr_cents, brute_force_mrr(&fixture, Month::parse(&month.month).unwrap()));
            prop_assert_eq!(month.arr_cents, 12 * month.mrr_cents);
            if let Some(value) = month.customer_churn_rate.value {
                prop_assert!((0.0..=1.0).contains(&value));
            }
            previous_end = month.mrr_cents;
        }
        for cohort in &report.cohorts {
            for cell in &cohort.cells {
                prop_assert!(cell.customers_retained <= cohort.customers);
            }
        }
    }

    #[test]
    fn the_order_states_arrive_in_across_subscriptions_does_not_matter(states in arbitrary_history()) {
        let fixture = fixture_of(&states);
        let mut shuffled = Fixture { points: fixture.points.clone(), plans: fixture.plans.clone(), intervals: fixture.intervals.clone() };
        // Reverse, then restore each subscription's own order (ties apply in recorded order).
        shuffled.points.reverse();
        shuffled.points.sort_by_key(|p| p.subscription);
        let mut by_sub: std::collections::BTreeMap<u32, Vec<StatePoint>> = Default::default();
        for point in &fixture.points {
            by_sub.entry(point.subscription).or_default().push(point.clone());
        }
        shuffled.points = by_sub.into_values().rev().flatten().collect();
        prop_assert_eq!(fixture.report("2026-01", "2026-07"), shuffled.report("2026-01", "2026-07"));
    }

    #[test]
    fn the_rollup_gives_every_months_figures_and_cohorts_as_the_series_do(states in arbitrary_history()) {
        let history = fixture_of(&states).history();
        let rollup = Rollup::of(&history);
        let (first, last) = (month("2025-11"), month("2026-08"));
        for (month, state) in rollup.month_states(first, last) {
            prop_assert_eq!(PeriodFigures::from(state), period_figures(&history, Period::month(month)), "{}", month);
        }
        let window = Window { first, last };
        prop_assert_eq!(cohorts(&rollup, window), cohorts_from_series(&history, window));
        for day in (0..200).map(|d| at("2025-12-25T00:00:00Z").date_naive() + Duration::days(d)) {
            let (mrr, active) = rollup.at_end_of(day);
            let values: Vec<i64> = (0..history.series.len()).map(|c| history.mrr_at_end_of(c, day)).collect();
            prop_assert_eq!(mrr, values.iter().sum::<i64>());
            prop_assert_eq!(active, values.iter().filter(|v| **v > 0).count() as i64);
        }
    }

    #[test]
    fn a_customers_rollup_can_be_taken_back_out_and_put_in_again(states in arbitrary_history(), cut in 0usize..60) {
        // What the ledger does when one customer's history changes: subtract
        // its old rollup, add its new one. The total must be the rollup of
        // the new histories, whatever else the total holds.
        let fixture = fixture_of(&states);
        let mut earlier = Fixture { points: fixture.points.clone(), plans: fixture.plans.clone(), intervals: fixture.intervals.clone() };
        earlier.points.truncate(cut.min(earlier.points.len()));
        let (old, new) = (Rollup::per_customer(&earlier.history()), Rollup::per_customer(&fixture.history()));
        let mut total = Rollup::of(&earlier.history());
        for (customer, new) in new.iter().enumerate() {
            let old = old.get(customer).cloned().unwrap_or_default();
            let mut change = new.clone();
            change.add_signed(&old, -1);
            total.add_signed(&change, 1);
        }
        prop_assert_eq!(&total, &Rollup::of(&fixture.history()));
        let json = serde_json::to_string(&total).expect("a rollup serialises");
        prop_assert_eq!(serde_json::from_str::<Rollup>(&json).expect("and reads back"), total);
    }
}
