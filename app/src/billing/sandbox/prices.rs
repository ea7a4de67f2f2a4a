//! The sandbox's price list (from the synced catalogue) and its period
//! arithmetic: pricing desired items, calendar months, proration.

use super::db_error;
use crate::billing::domain::{
    DesiredItem, InvoiceLine, PriceKey, PriceKind, ProrationLines, SnapshotItem, SubscriptionSnapshot,
    prorated_amount_due,
};
use crate::billing::domain::{IntervalUnit, SubscriptionStatus};
use crate::billing::provider::ProviderError;
use crate::catalog::domain::BillingCycle;
use chrono::{DateTime, Months, Utc};
use sqlx::PgConnection;
use std::collections::HashMap;

pub(super) fn add_months(start: i64, months: u32) -> i64 {
    DateTime::<Utc>::from_timestamp(start, 0)
        .and_then(|t| t.checked_add_months(Months::new(months)))
        .map_or(start + i64::from(months) * 30 * 86_400, |t| t.timestamp())
}

pub(super) fn cycle_of(items: &[SnapshotItem]) -> BillingCycle {
    if items.iter().any(|i| i.interval == IntervalUnit::Year) {
        BillingCycle::Annual
    } else {
        BillingCycle::Monthly
    }
}

pub(super) fn period_amount(items: &[SnapshotItem]) -> i64 {
    items.iter().map(|i| i.unit_amount * i64::from(i.quantity)).sum()
}

/// One price of the sandbox's price list.
pub(super) struct SandboxPrice {
    /// What invoices call it.
    name: String,
    /// Per unit per period, in minor units.
    amount: i64,
    /// ISO code, lower case as Stripe writes it.
    currency: String,
}

/// The currency a subscription bills in (all its items share one).
pub(super) fn currency_of(items: &[SnapshotItem]) -> String {
    items.first().map(|i| i.currency.clone()).unwrap_or_default()
}

/// The sandbox's price list: one price per lookup key, from the synced catalogue.
pub(super) async fn prices(conn: &mut PgConnection) -> Result<HashMap<String, SandboxPrice>, sqlx::Error> {
    let mut prices = HashMap::new();
    // language=PostgreSQL
    for plan in sqlx::query!(
        "select plan_key, name, currency, monthly_amount, annual_amount from plan where not retired"
    )
    .fetch_all(&mut *conn)
    .await?
    {
        for (cycle, amount) in [
            (BillingCycle::Monthly, plan.monthly_amount),
            (BillingCycle::Annual, plan.annual_amount),
        ] {
            prices.insert(
                PriceKey::tier(&plan.plan_key, cycle).lookup_key(),
                SandboxPrice {
                    name: format!("{} plan", plan.name),
                    amount,
                    currency: plan.currency.to_lowercase(),
                },
            );
        }
    }
    // language=PostgreSQL
    for add_on in
        sqlx::query!("select add_on_key, name, currency, monthly_unit_amount from add_on where not retired")
            .fetch_all(&mut *conn)
            .await?
    {
        for cycle in [BillingCycle::Monthly, BillingCycle::Annual] {
            prices.insert(
                PriceKey::add_on(&add_on.add_on_key, cycle).lookup_key(),
                SandboxPrice {
                    name: add_on.name.clone(),
                    amount: add_on.monthly_unit_amount * cycle.months(),
                    currency: add_on.currency.to_lowercase(),
                },
            );
        }
    }
    Ok(prices)
}

pub(super) async fn priced_items(
    conn: &mut PgConnection,
    items: &[DesiredItem],
) -> Result<Vec<SnapshotItem>, ProviderError> {
    let prices = prices(conn).await.map_err(db_error)?;
    let mut priced = Vec::new();
    for item in items {
        let Some(price) = prices.get(&item.lookup_key) else {
            return Err(ProviderError::Refused(format!(
                "No such price: {}",
                item.lookup_key
            )));
        };
        let Some(key) = PriceKey::parse(&item.lookup_key) else {
            return Err(ProviderError::Refused(format!(
                "No such price: {}",
                item.lookup_key
            )));
        };
        if item.quantity == 0 {
            return Err(ProviderError::Refused("Quantities must be at least 1.".into()));
        }
        priced.push(SnapshotItem {
            lookup_key: item.lookup_key.clone(),
            quantity: item.quantity,
            unit_amount: price.amount,
            currency: price.currency.clone(),
            interval: key.interval(),
            interval_count: 1,
        });
    }
    let cycles: Vec<BillingCycle> = priced
        .iter()
        .filter_map(|i| PriceKey::parse(&i.lookup_key).map(|k| k.cycle))
        .collect();
    if cycles.windows(2).any(|w| w[0] != w[1]) {
        return Err(ProviderError::Refused(
            "All items of a subscription must bill on the same interval.".into(),
        ));
    }
    if priced
        .iter()
        .filter(|i| PriceKey::parse(&i.lookup_key).is_some_and(|k| k.kind == PriceKind::Tier))
        .count()
        != 1
    {
        return Err(ProviderError::Refused(
            "A subscription needs exactly one plan.".into(),
        ));
    }
    Ok(priced)
}

pub(super) async fn line_descriptions(
    conn: &mut PgConnection,
    items: &[SnapshotItem],
) -> Result<Vec<InvoiceLine>, sqlx::Error> {
    let prices = prices(conn).await?;
    Ok(items
        .iter()
        .map(|i| InvoiceLine {
            description: prices
                .get(&i.lookup_key)
                .map_or_else(|| i.lookup_key.clone(), |price| price.name.clone()),
            quantity: i.quantity,
            amount: i.unit_amount * i64::from(i.quantity),
        })
        .collect())
}

/// The proration of an immediate change. A switch of billing cycle starts a
/// new period now: the unused time is credited and the whole new period charged.
pub(super) fn proration(
    current: &SubscriptionSnapshot,
    new_items: &[SnapshotItem],
    now: i64,
) -> ProrationLines {
    if current.status == SubscriptionStatus::Trialing {
        return ProrationLines {
            credit: 0,
            charge: 0,
            amount_due: 0,
        };
    }
    let old = period_amount(&current.items);
    let new = period_amount(new_items);
    let lines = prorated_amount_due(
        old,
        new,
        current.current_period_start,
        current.current_period_end,
        now,
    );
    if cycle_of(&current.items) == cycle_of(new_items) {
        lines
    } else {
        ProrationLines {
            credit: lines.credit,
            charge: new,
            amount_due: (new - lines.credit).max(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_are_calendar_months() {
        // 2026-01-31 + 1 month = 2026-02-28.
        let jan31 = 1_769_817_600;
        assert_eq!(add_months(jan31, 1), 1_772_236_800);
        assert_eq!(add_months(jan31, 12) - jan31, 365 * 86_400);
    }
}
