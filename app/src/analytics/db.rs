//! What analytics reads beyond the ledger's MRR series
//! ([`crate::billing::series_store`]).

use crate::billing::domain::SubscriptionStatus;
use sqlx::PgPool;

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
        where s.cancel_at_period_end and s.status = any($1)
        "#,
        &SubscriptionStatus::words_where(SubscriptionStatus::carries_mrr) as &[&str]
    )
    .fetch_one(pool)
    .await
}

/// The MRR of past-due subscriptions (a failed payment not yet recovered)
/// and how many accounts hold it: the money at risk if collection fails.
pub async fn past_due_at_risk(pool: &PgPool) -> Result<(i64, i64), sqlx::Error> {
    // language=PostgreSQL
    let row = sqlx::query!(
        r#"
        select coalesce(sum(latest.mrr), 0)::bigint as "mrr!", count(distinct s.organization_id) as "accounts!"
        from subscription s
        cross join lateral (select mrr from subscription_revision r where r.subscription_id = s.subscription_id
                            order by r.occurred_at desc, r.cause desc limit 1) latest
        where s.status = $1
        "#,
        SubscriptionStatus::PastDue.as_str()
    )
    .fetch_one(pool)
    .await?;
    Ok((row.mrr, row.accounts))
}

/// The names of `organizations`, by id.
pub async fn organization_names(
    pool: &PgPool,
    organizations: &[uuid::Uuid],
) -> Result<std::collections::HashMap<uuid::Uuid, String>, sqlx::Error> {
    // language=PostgreSQL
    let rows = sqlx::query!(
        "select organization_id, name from organization where organization_id = any($1)",
        organizations
    )
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|r| (r.organization_id, r.name)).collect())
}
