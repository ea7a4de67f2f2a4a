//! Reads the ledger's revisions into an analytics [`History`].

use super::domain::{History, Labels, StatePoint};
use crate::billing::domain::{ExactMrr, SubscriptionStatus};
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use sqlx::PgPool;
use std::collections::HashMap;
use uuid::Uuid;

/// Every revision of every subscription, in the ledger's order (effective
/// time, then cause), as one history.
pub async fn load_history(pool: &PgPool) -> Result<History, sqlx::Error> {
    // language=PostgreSQL
    let mut rows = sqlx::query!(
        r#"
        select s.organization_id, r.subscription_id, r.occurred_at as "occurred_at: DateTime<Utc>",
               r.state ->> 'status' as "status!", r.plan,
               coalesce(r.billing_interval,
                        case s.billing_cycle when 'annual' then 'year' else 'month' end) as "interval!",
               coalesce(r.mrr_numerator, r.mrr) as "numerator!", coalesce(r.mrr_denominator, 1) as "denominator!"
        from subscription_revision r
        join subscription s using (subscription_id)
        order by r.subscription_id, r.occurred_at, r.cause
        "#
    )
    .fetch(pool);
    let mut customers: HashMap<Uuid, u32> = HashMap::new();
    let mut subscriptions: HashMap<Uuid, u32> = HashMap::new();
    let (mut plans, mut intervals) = (Labels::default(), Labels::default());
    let mut points = Vec::new();
    while let Some(row) = rows.try_next().await? {
        let next = customers.len() as u32;
        let customer = *customers.entry(row.organization_id).or_insert(next);
        let next = subscriptions.len() as u32;
        let subscription = *subscriptions.entry(row.subscription_id).or_insert(next);
        let status = SubscriptionStatus::parse(&row.status)
            .ok_or_else(|| sqlx::Error::Decode(format!("unknown status {:?}", row.status).into()))?;
        let mrr = ExactMrr::from_parts(i128::from(row.numerator), i128::from(row.denominator))
            .ok_or_else(|| sqlx::Error::Decode("a revision's MRR denominator is not positive".into()))?;
        points.push(StatePoint {
            customer,
            subscription,
            at: row.occurred_at,
            status,
            plan: plans.id(&row.plan),
            interval: intervals.id(&row.interval),
            mrr,
        });
    }
    Ok(History::build(points, plans, intervals))
}

/// MRR that subscriptions set to cancel at their period's end will lose
/// (their latest state's MRR; they keep it until they end).
pub async fn scheduled_churn(pool: &PgPool) -> Result<i64, sqlx::Error> {
    // language=PostgreSQL
    sqlx::query_scalar!(
        r#"
        select coalesce(sum(latest.mrr), 0)::bigint as "mrr!"
        from subscription s
        cross join lateral (select mrr from subscription_revision r where r.subscription_id = s.subscription_id
                            order by r.occurred_at desc, r.cause desc limit 1) latest
        where s.cancel_at_period_end and s.status in ('active', 'past_due')
        "#
    )
    .fetch_one(pool)
    .await
}
