//! The console's dashboard: the business's figures against 30 days before,
//! and what needs attention.

use crate::analytics::domain::headline;
use crate::billing::domain::SubscriptionStatus;
use chrono::{DateTime, Utc};
use sqlx::PgPool;

/// Subscriptions in each status at `at`, from the ledger's revisions.
async fn statuses_at(
    pool: &PgPool,
    at: DateTime<Utc>,
) -> Result<std::collections::HashMap<String, i64>, sqlx::Error> {
    // language=PostgreSQL
    let rows = sqlx::query!(
        r#"
        select status as "status!", count(*) as "count!"
        from (select distinct on (subscription_id) state ->> 'status' as status
              from subscription_revision where occurred_at < $1
              order by subscription_id, occurred_at desc, cause desc) latest
        group by status
        "#,
        at as _
    )
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|r| (r.status, r.count)).collect())
}

/// The dashboard at `now`: the business's figures against 30 days before,
/// and what needs attention.
pub async fn dashboard(
    pool: &PgPool,
    admin_email: String,
    now: DateTime<Utc>,
) -> Result<super::views::DashboardView, sqlx::Error> {
    use super::views::{Attention, Trend};
    let then = now - chrono::TimeDelta::days(30);
    // language=PostgreSQL
    let organizations = sqlx::query!(
        r#"select count(*) filter (where created_at < $1) as "now!", count(*) filter (where created_at < $2) as "then!"
           from organization"#,
        now as _,
        then as _
    )
    .fetch_one(pool)
    .await?;
    // MRR and active customers as every page states them (analytics' "now" too).
    let totals = crate::billing::series_store::load_totals(pool).await?;
    let (headline_now, headline_then) = (headline(&totals, now), headline(&totals, then));
    let (statuses_now, statuses_then) = (statuses_at(pool, now).await?, statuses_at(pool, then).await?);
    let count = |map: &std::collections::HashMap<String, i64>, status: SubscriptionStatus| -> i64 {
        map.get(status.as_str()).copied().unwrap_or(0)
    };
    let usd = |cents: i64| crate::analytics::tables::money(Some(cents));
    let whole = |n: i64| n.to_string();
    let trend = |label: &str, now: i64, then: i64, format: &dyn Fn(i64) -> String| Trend {
        label: label.to_owned(),
        now: format(now),
        change: crate::analytics::cards::signed_change(now - then, format),
    };
    let figures = vec![
        trend("Organisations", organizations.now, organizations.then, &whole),
        trend("MRR", headline_now.mrr_cents, headline_then.mrr_cents, &usd),
        trend("ARR", headline_now.arr_cents(), headline_then.arr_cents(), &usd),
        trend(
            "Active customers",
            headline_now.active_customers,
            headline_then.active_customers,
            &whole,
        ),
        trend(
            "Subscriptions in trial",
            count(&statuses_now, SubscriptionStatus::Trialing),
            count(&statuses_then, SubscriptionStatus::Trialing),
            &whole,
        ),
        trend(
            "Subscriptions past due",
            count(&statuses_now, SubscriptionStatus::PastDue),
            count(&statuses_then, SubscriptionStatus::PastDue),
            &whole,
        ),
    ];
    // language=PostgreSQL
    let attention = sqlx::query!(
        r#"select (select count(*) from webhook_event where status = 'failed') as "failed!",
                  (select count(*) from webhook_event where status = 'unmatched') as "unmatched!",
                  (select count(*) from webhook_event where status = 'rejected') as "rejected!",
                  (select count(*) from email_outbox where status = 'dead') as "dead!",
                  (select count(*) from webhook_endpoint where failing_since is not null and disabled_at is null)
                      as "failing!",
                  -- Still not sent an hour after it was queued: every retry failed so far.
                  (select count(*) from email_outbox where status = 'queued' and created_at < $1) as "stuck!",
                  (select count(*) from job where state = 'dead') as "dead_jobs!""#,
        (now - chrono::TimeDelta::hours(1)) as _
    )
    .fetch_one(pool)
    .await?;
    let attention = [
        (
            "Failed provider events",
            attention.failed,
            Some("/admin/events?status=failed"),
        ),
        (
            "Unmatched provider events",
            attention.unmatched,
            Some("/admin/events?status=unmatched"),
        ),
        (
            "Rejected provider deliveries",
            attention.rejected,
            Some("/admin/events?status=rejected"),
        ),
        ("Dead emails", attention.dead, Some("/admin/emails?status=dead")),
        (
            "Emails unsent after an hour",
            attention.stuck,
            Some("/admin/emails?status=queued"),
        ),
        ("Dead jobs", attention.dead_jobs, Some("/admin/work")),
        (
            "Failing outbound endpoints",
            attention.failing,
            Some("/admin/health"),
        ),
    ]
    .into_iter()
    .map(|(label, count, href)| Attention {
        label: label.to_owned(),
        count,
        href: href.map(str::to_owned),
    })
    .collect();
    Ok(super::views::DashboardView {
        admin_email,
        as_of: format!(
            "Figures {}, against 30 days before. Active customers pay MRR above zero.",
            headline_now.as_of_words()
        ),
        figures,
        attention,
    })
}
