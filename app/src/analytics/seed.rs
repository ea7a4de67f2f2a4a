//! A realistic subscription history for demos and benchmarks: N
//! organisations over M months with trials (most converting), seat add-ons
//! bought and dropped, upgrades and downgrades, failed payments that recover
//! or end in cancellation, cancellations, and customers who come back on a
//! new subscription. Prices are the catalogue's. Deterministic for a seed.
//!
//! The rows are stored as an imported history is (`import_store`): through
//! the ledger's own change classification, so the ledger, the MRR series and
//! every figure hold exactly what live events of the same history would
//! have made.

use super::import::{ImportInterval, ImportRow};
use crate::billing::domain::SubscriptionStatus;
use crate::catalog::domain::Catalog;
use chrono::{DateTime, TimeDelta, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// What to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeedSize {
    /// How many organisations.
    pub organizations: u32,
    /// Over how many months before `end`.
    pub months: u32,
    /// The random seed.
    pub seed: u64,
}

impl Default for SeedSize {
    /// The demo's size: small enough to load in a blink.
    fn default() -> SeedSize {
        SeedSize {
            organizations: 200,
            months: 12,
            seed: 42,
        }
    }
}

/// The state a subscription moves through.
struct Subscription<'a> {
    org: String,
    id: String,
    tier: usize,
    interval: ImportInterval,
    seats: u32,
    discount: u32,
    catalog: &'a Catalog,
}

impl Subscription<'_> {
    fn row(&self, at: DateTime<Utc>, status: SubscriptionStatus) -> ImportRow {
        let tier = &self.catalog.tiers[self.tier];
        let monthly = tier.monthly_price.amount_minor;
        let unit = match self.interval {
            ImportInterval::Year => tier.annual_price.amount_minor,
            ImportInterval::Quarter => monthly * 3,
            ImportInterval::Week => monthly * 12 / 52,
            ImportInterval::Month => monthly,
        };
        let seat = self
            .catalog
            .add_ons
            .first()
            .map_or(0, |a| a.monthly_unit_price.amount_minor)
            * match self.interval {
                ImportInterval::Year => 12,
                ImportInterval::Quarter => 3,
                _ => 1,
            };
        ImportRow {
            line: 0,
            org_id: self.org.clone(),
            subscription_id: self.id.clone(),
            at,
            status,
            plan: tier.key.clone(),
            interval: self.interval,
            unit_amount_cents: unit,
            quantity: 1,
            addon_unit_amount_cents: seat,
            addon_quantity: self.seats,
            discount_percent_forever: self.discount,
            currency: self.catalog.currency.code().to_owned(),
        }
    }
}

/// An exponentially distributed wait with the given mean.
fn wait(rng: &mut StdRng, mean_days: f64) -> TimeDelta {
    let uniform: f64 = rng.random_range(f64::MIN_POSITIVE..1.0);
    TimeDelta::seconds((-uniform.ln() * mean_days * 86_400.0) as i64)
}

/// The history's rows, every state strictly before `end`, grouped by
/// subscription and in time order as [`super::import::read_history`] returns them.
pub fn generate(catalog: &Catalog, size: SeedSize, end: DateTime<Utc>) -> Vec<ImportRow> {
    use SubscriptionStatus::*;
    let mut rng = StdRng::seed_from_u64(size.seed);
    let start = end - TimeDelta::days(i64::from(size.months) * 30);
    let span = (end - start).num_seconds().max(1);
    let trial = TimeDelta::days(i64::from(catalog.trial.days));
    let tiers = catalog.tiers.len();
    let mut rows = Vec::new();
    for n in 0..size.organizations {
        let org = format!("demo-{n:06}");
        let mut at = start + TimeDelta::seconds(rng.random_range(0..span));
        // Cheaper tiers are chosen more often.
        let tier = (0..tiers)
            .rev()
            .find(|t| rng.random_bool(1.0 / (2.0 + *t as f64 * 2.0)))
            .unwrap_or(0);
        let mut sub = Subscription {
            org: org.clone(),
            id: format!("{org}-1"),
            tier,
            interval: match rng.random_range(0..100) {
                0..80 => ImportInterval::Month,
                80..95 => ImportInterval::Year,
                _ => ImportInterval::Quarter,
            },
            seats: rng.random_range(0..4),
            discount: *[0, 0, 0, 0, 0, 0, 0, 0, 10, 20, 100]
                .get(rng.random_range(0..11))
                .unwrap_or(&0),
            catalog,
        };
        let mut generation = 1;
        rows.push(sub.row(at, Trialing));
        at += trial;
        if at >= end {
            continue;
        }
        if rng.random_bool(0.3) {
            rows.push(sub.row(at, Canceled));
            continue;
        }
        let mut status = Active;
        rows.push(sub.row(at, status));
        loop {
            at += wait(&mut rng, 9.0);
            if at >= end {
                break;
            }
            let event: f64 = rng.random();
            match status {
                Canceled if event < 0.15 => {
                    // Back, on a new subscription.
                    generation += 1;
                    sub.id = format!("{org}-{generation}");
                    status = Active;
                    rows.push(sub.row(at, status));
                }
                Canceled => break,
                PastDue => {
                    status = if event < 0.9 { Active } else { Unpaid };
                    rows.push(sub.row(at, status));
                    if status == Unpaid {
                        at += TimeDelta::days(10);
                        if at < end {
                            status = Canceled;
                            rows.push(sub.row(at, status));
                        }
                    }
                }
                _ if event < 0.45 => {
                    sub.seats = if rng.random_bool(0.7) {
                        sub.seats + 1
                    } else {
                        sub.seats.saturating_sub(1)
                    };
                    rows.push(sub.row(at, status));
                }
                _ if event < 0.6 && sub.tier + 1 < tiers => {
                    sub.tier += 1;
                    rows.push(sub.row(at, status));
                }
                _ if event < 0.67 && sub.tier > 0 => {
                    sub.tier -= 1;
                    rows.push(sub.row(at, status));
                }
                _ if event < 0.8 => {
                    status = PastDue;
                    rows.push(sub.row(at, status));
                }
                _ if event < 0.83 => {
                    status = Canceled;
                    rows.push(sub.row(at, status));
                }
                _ => {}
            }
        }
    }
    rows.sort_by(|a, b| (&a.subscription_id, a.at).cmp(&(&b.subscription_id, b.at)));
    for (line, row) in rows.iter_mut().enumerate() {
        row.line = line as u64 + 2;
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analytics::domain::{Labels, Rollup, StatePoint};
    use std::collections::HashMap;

    fn catalog() -> Catalog {
        crate::catalog::source::parse_catalog(include_str!("../../../catalog/catalog.toml"))
            .expect("the shipped catalogue")
            .catalog
    }

    fn end() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-12-01T00:00:00Z")
            .expect("a time")
            .with_timezone(&Utc)
    }

    #[test]
    fn a_seed_gives_the_same_history_and_another_seed_another() {
        let size = SeedSize::default();
        let (a, b) = (
            generate(&catalog(), size, end()),
            generate(&catalog(), size, end()),
        );
        assert_eq!(a, b);
        let other = generate(&catalog(), SeedSize { seed: 7, ..size }, end());
        assert_ne!(a, other);
        assert!(a.iter().all(|r| r.at < end()));
    }

    #[test]
    fn the_demo_history_has_every_movement_a_business_sees() {
        let rows = generate(&catalog(), SeedSize::default(), end());
        let statuses: std::collections::BTreeSet<&str> = rows.iter().map(|r| r.status.as_str()).collect();
        for status in ["trialing", "active", "past_due", "unpaid", "canceled"] {
            assert!(statuses.contains(status), "{status}");
        }
        let (mut customers, mut subscriptions) = (HashMap::new(), HashMap::new());
        let (mut plans, mut intervals) = (Labels::default(), Labels::default());
        let points: Vec<StatePoint> = rows
            .iter()
            .map(|row| {
                let next = customers.len() as u32;
                let customer = *customers.entry(row.org_id.clone()).or_insert(next);
                let next = subscriptions.len() as u32;
                let subscription = *subscriptions.entry(row.subscription_id.clone()).or_insert(next);
                StatePoint {
                    customer,
                    subscription,
                    at: row.at,
                    status: row.status,
                    plan: plans.id(&row.plan),
                    interval: intervals.id(row.interval.as_str()),
                    mrr: row.mrr(),
                }
            })
            .collect();
        let history = crate::analytics::domain::History::build(points, plans, intervals);
        let rollup = Rollup::of(&history);
        let mut totals = [0_i64; 5];
        for day in rollup.days.values() {
            for (total, amount) in totals.iter_mut().zip(day.movements) {
                *total += amount.abs();
            }
        }
        assert!(
            totals.iter().all(|t| *t > 0),
            "every movement kind occurs: {totals:?}"
        );
        assert!(
            subscriptions.len() > customers.len(),
            "some customers come back on a new subscription"
        );
    }
}
