//! The console's background work page: what each worker ran, when, and what
//! failed, as far as its own tables record it (there is no separate job
//! log: every queue is a table its rows stay in).

// #[server] turns each function's parameters into the fields of a generated
// argument struct; parameters cannot carry doc comments, the functions do.
#![allow(missing_docs)]

use crate::error::AppError;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
use chrono::{DateTime, TimeDelta, Utc};

/// One worker's record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Worker {
    /// Its name, as the page heads it.
    pub name: String,
    /// What it does.
    pub does: String,
    /// Label and value, in words.
    pub figures: Vec<(String, String)>,
    /// Whether anything failed that is still failed.
    pub attention: bool,
    /// Its latest failures, newest first.
    pub failures: Vec<Failure>,
    /// Where its items are listed in full.
    pub list: Option<String>,
}

/// One failure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// When.
    pub at: String,
    /// What failed.
    pub what: String,
    /// Why.
    pub error: String,
    /// Its page, if it has one.
    pub href: Option<String>,
}

/// A time as the operations pages show it, or “never”.
#[cfg(feature = "ssr")]
fn time(at: Option<DateTime<Utc>>) -> String {
    at.map_or_else(|| "never".to_owned(), super::ops::time)
}

#[cfg(feature = "ssr")]
fn figure(label: &str, value: impl ToString) -> (String, String) {
    (label.to_owned(), value.to_string())
}

/// Every background worker's record.
#[server(prefix = "/api", endpoint = "admin_background_work", input = server_fn::codec::GetUrl)]
pub async fn get_background_work() -> Result<Vec<Worker>, AppError> {
    super::session::require_admin().await?;
    let context = crate::context::app_context()?;
    let pool = &context.pool;
    let now = context.clock.now();
    let day_ago = now - TimeDelta::hours(24);

    // language=PostgreSQL
    let inbox = sqlx::query!(
        r#"
        select count(*) filter (where status = 'pending' and next_attempt_at <= $1) as "due!",
               count(*) filter (where status = 'pending' and next_attempt_at > $1) as "waiting!",
               count(*) filter (where status = 'processed' and processed_at >= $2) as "processed!",
               count(*) filter (where status = 'failed') as "failed!",
               count(*) filter (where status = 'unmatched') as "unmatched!",
               max(processed_at) as "last: DateTime<Utc>"
        from webhook_event
        "#,
        now as _,
        day_ago as _
    )
    .fetch_one(pool)
    .await?;
    // language=PostgreSQL
    let inbox_failures = sqlx::query!(
        r#"select webhook_event_id, provider, provider_event_id, event_type, last_error,
                  coalesce(processed_at, received_at) as "at!: DateTime<Utc>"
           from webhook_event where status in ('failed', 'unmatched')
           order by received_at desc limit 10"#
    )
    .fetch_all(pool)
    .await?;

    // language=PostgreSQL
    let mail = sqlx::query!(
        r#"
        select count(*) filter (where status = 'queued' and next_attempt_at <= $1) as "due!",
               count(*) filter (where status = 'queued' and next_attempt_at > $1) as "waiting!",
               count(*) filter (where status = 'sent' and sent_at >= $2) as "sent!",
               count(*) filter (where status = 'dead') as "dead!",
               max(sent_at) as "last: DateTime<Utc>",
               max(sent_at) filter (where template = 'trial_reminder') as "last_reminder: DateTime<Utc>"
        from email_outbox
        "#,
        now as _,
        day_ago as _
    )
    .fetch_one(pool)
    .await?;
    // language=PostgreSQL
    let mail_failures = sqlx::query!(
        r#"select to_address, template, last_error, created_at as "at: DateTime<Utc>"
           from email_outbox where status = 'dead' order by created_at desc limit 10"#
    )
    .fetch_all(pool)
    .await?;

    // language=PostgreSQL
    let outbound = sqlx::query!(
        r#"
        select (select count(*) from outbound_delivery where state = 'pending') as "pending!",
               (select count(*) from outbound_delivery where state = 'delivered' and delivered_at >= $1) as "delivered!",
               (select count(*) from outbound_attempt where attempted_at >= $1
                  and (status_code is null or status_code not between 200 and 299)) as "failed_attempts!",
               (select count(*) from webhook_endpoint where failing_since is not null and disabled_at is null)
                   as "failing_endpoints!",
               (select max(attempted_at) from outbound_attempt) as "last: DateTime<Utc>"
        "#,
        day_ago as _
    )
    .fetch_one(pool)
    .await?;
    // language=PostgreSQL
    let outbound_failures = sqlx::query!(
        r#"select a.attempted_at as "at: DateTime<Utc>", d.event_id, w.endpoint_id, w.url, a.status_code, a.error
           from outbound_attempt a join outbound_delivery d using (delivery_id) join webhook_endpoint w using (endpoint_id)
           where a.status_code is null or a.status_code not between 200 and 299
           order by a.attempt_id desc limit 10"#
    )
    .fetch_all(pool)
    .await?;

    // language=PostgreSQL
    let trials = sqlx::query!(
        r#"
        select (select count(*) from subscription where live and status = 'trialing' and trial_end <= $1) as "overdue!",
               (select max(recorded_at) from subscription_revision where cause = $2) as "last_expiry: DateTime<Utc>",
               (select count(*) from subscription_revision where cause = $2 and recorded_at >= $3) as "expired!"
        "#,
        // An hour's grace: the sweep runs every few minutes.
        (now - TimeDelta::hours(1)) as _,
        crate::billing::trials::TRIAL_EXPIRED_CAUSE,
        day_ago as _
    )
    .fetch_one(pool)
    .await?;

    // language=PostgreSQL
    let series = sqlx::query!(
        r#"
        select (select count(*) from mrr_series_customer) as "organizations!",
               (select max(refreshed_at) from mrr_series_customer) as "last: DateTime<Utc>",
               (select count(distinct s.organization_id) from subscription s
                where exists (select from subscription_revision r where r.subscription_id = s.subscription_id)
                  and not exists (select from mrr_series_customer c where c.organization_id = s.organization_id))
                   as "missing!"
        "#
    )
    .fetch_one(pool)
    .await?;

    Ok(vec![
        Worker {
            name: "Provider events".to_owned(),
            does:
                "Applies Stripe's (or the sandbox's) events from the inbox, in order, retrying with backoff."
                    .to_owned(),
            figures: vec![
                figure("Due now", inbox.due),
                figure("Waiting to retry", inbox.waiting),
                figure("Processed in the last 24 hours", inbox.processed),
                figure("Failed", inbox.failed),
                figure("Matched nothing", inbox.unmatched),
                figure("Last processed", time(inbox.last)),
            ],
            attention: inbox.failed + inbox.unmatched > 0,
            failures: inbox_failures
                .into_iter()
                .map(|f| Failure {
                    at: time(Some(f.at)),
                    what: format!("{} {} ({})", f.provider, f.provider_event_id, f.event_type),
                    error: f.last_error.unwrap_or_default(),
                    href: Some(format!("/admin/events/{}", f.webhook_event_id)),
                })
                .collect(),
            list: Some("/admin/events?status=failed".to_owned()),
        },
        Worker {
            name: "Email delivery".to_owned(),
            does: "Sends the outbox over SMTP, retrying with backoff until an email is sent or dead."
                .to_owned(),
            figures: vec![
                figure("Due now", mail.due),
                figure("Waiting to retry", mail.waiting),
                figure("Sent in the last 24 hours", mail.sent),
                figure("Dead", mail.dead),
                figure("Last sent", time(mail.last)),
            ],
            attention: mail.dead > 0,
            failures: mail_failures
                .into_iter()
                .map(|f| Failure {
                    at: time(Some(f.at)),
                    what: format!("{} to {}", f.template, f.to_address),
                    error: f.last_error.unwrap_or_default(),
                    href: None,
                })
                .collect(),
            list: Some("/admin/emails?status=dead".to_owned()),
        },
        Worker {
            name: "Outbound webhooks".to_owned(),
            does: "Delivers events to the host product's endpoints, signed, retrying until each succeeds."
                .to_owned(),
            figures: vec![
                figure("Pending deliveries", outbound.pending),
                figure("Delivered in the last 24 hours", outbound.delivered),
                figure("Failed attempts in the last 24 hours", outbound.failed_attempts),
                figure("Failing endpoints", outbound.failing_endpoints),
                figure("Last attempt", time(outbound.last)),
            ],
            attention: outbound.failing_endpoints > 0,
            failures: outbound_failures
                .into_iter()
                .map(|f| Failure {
                    at: time(Some(f.at)),
                    what: format!("{} to {}", f.event_id, f.url),
                    error: match (f.status_code, f.error) {
                        (Some(code), _) => format!("HTTP {code}"),
                        (None, error) => error.unwrap_or_default(),
                    },
                    href: Some(format!("/admin/webhooks/{}", f.endpoint_id)),
                })
                .collect(),
            list: Some("/admin/webhooks".to_owned()),
        },
        Worker {
            name: "Trial sweeps".to_owned(),
            does: "Reminds trialing customers before their trial ends and pauses trials that ran out."
                .to_owned(),
            figures: vec![
                figure("Last reminder sent", time(mail.last_reminder)),
                figure("Trials ended by the sweep in the last 24 hours", trials.expired),
                figure("Last trial ended by the sweep", time(trials.last_expiry)),
                figure(
                    "Trials over an hour past their end, still trialing",
                    trials.overdue,
                ),
            ],
            attention: trials.overdue > 0,
            failures: vec![],
            list: None,
        },
        Worker {
            name: "MRR series".to_owned(),
            does:
                "Keeps each organisation's MRR series and the platform's totals with every ledger revision \
                   (in its transaction); `server rebuild-mrr-series` recomputes them."
                    .to_owned(),
            figures: vec![
                figure("Organisations with a series", series.organizations),
                figure("Last written", time(series.last)),
                figure("Organisations with a ledger but no series", series.missing),
            ],
            attention: series.missing > 0,
            failures: vec![],
            list: Some("/admin/analytics".to_owned()),
        },
    ])
}
