//! The console's dashboard: the business's figures against 30 days before,
//! and what needs attention.

use crate::analytics::domain::headline;
use crate::billing::domain::SubscriptionStatus;
use chrono::{DateTime, Utc};
use sqlx::PgPool;

/// The dashboard at `now`: the business's figures against 30 days before,
/// and what needs attention.
pub async fn dashboard(
    pool: &PgPool,
    admin_email: String,
    now: DateTime<Utc>,
) -> Result<super::views::DashboardView, sqlx::Error> {
    use super::views::{Attention, Trend};
    let then = now - chrono::TimeDelta::days(30);
    let organizations = crate::accounts::db::organizations_created_before(pool, [now, then]).await?;
    // MRR and active customers as every page states them (analytics' "now" too).
    let totals = crate::billing::series_store::load_totals(pool).await?;
    let (headline_now, headline_then) = (headline(&totals, now), headline(&totals, then));
    use crate::billing::ledger_store::statuses_at;
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
        trend("Organisations", organizations.0, organizations.1, &whole),
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
    let events = crate::billing::inbox::depths(pool).await?;
    let emails = crate::email::outbox::depths(pool).await?;
    // Still not sent an hour after it was queued: every retry failed so far.
    let unsent = crate::email::outbox::unsent_since(pool, now - chrono::TimeDelta::hours(1)).await?;
    let dead_jobs = crate::runner::db::dead_count(pool).await?;
    let endpoints_failing = crate::outbound::deliveries::backlog(pool)
        .await?
        .endpoints_failing;
    let attention = [
        (
            "Failed provider events",
            events.failed,
            Some("/admin/events?status=failed"),
        ),
        (
            "Unmatched provider events",
            events.unmatched,
            Some("/admin/events?status=unmatched"),
        ),
        (
            "Rejected provider deliveries",
            events.rejected,
            Some("/admin/events?status=rejected"),
        ),
        ("Dead emails", emails.dead, Some("/admin/emails?status=dead")),
        (
            "Emails unsent after an hour",
            unsent,
            Some("/admin/emails?status=queued"),
        ),
        ("Dead jobs", dead_jobs, Some("/admin/work")),
        (
            "Failing outbound endpoints",
            endpoints_failing,
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
