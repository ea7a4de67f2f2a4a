//! Every time-driven sweep, by the name of the schedule that runs it
//! (`crate::runner::schedules`). The job runner calls [`run`] in the
//! transaction that finishes the schedule's job, so a sweep whose worker lost
//! its lease changes nothing. Each sweep handles at most [`BATCH`] rows; the
//! rest wait for the next period.

use super::FlowContext;
use super::tell_host::{collection_steps, subscription_changed};
use crate::billing::sandbox::Sandbox;
use crate::billing::trials::Notices;
use crate::runner::schedules::{
    COLLECTION_RESTRICT, ENTITLEMENTS_TIME_EVENTS, LICENCES_EXPIRY_ALERTS, LICENCES_ISSUE_DUE,
    RETENTION_CLEANUP, SANDBOX_RENEW, SESSIONS_CLEANUP, TRIALS_EXPIRE, TRIALS_REMIND, USAGE_SNAPSHOTS,
};
use chrono::{DateTime, TimeDelta, Utc};
use sqlx::PgConnection;

/// Rows one run of a sweep handles.
pub const BATCH: i64 = 500;

/// Expired sessions one run removes (cheap rows, many of them).
const SESSIONS_BATCH: i64 = 10_000;

/// How long finished jobs and their runs are kept.
pub const JOB_RETENTION: TimeDelta = TimeDelta::days(30);

/// One run of a sweep.
pub struct Sweep<'a> {
    /// Who emails are from; the licence keys.
    pub context: &'a FlowContext,
    /// The built-in payment provider, when it is the provider (its
    /// renewals, retries and trial notices are a sweep too).
    pub sandbox: Option<&'a Sandbox>,
    /// The job, as emails and ledger steps name their cause.
    pub cause: &'a str,
    /// The clock's now.
    pub now: DateTime<Utc>,
}

/// Whether a sweep of this name exists.
pub fn exists(name: &str) -> bool {
    [
        SANDBOX_RENEW.name,
        TRIALS_REMIND.name,
        TRIALS_EXPIRE.name,
        COLLECTION_RESTRICT.name,
        USAGE_SNAPSHOTS.name,
        ENTITLEMENTS_TIME_EVENTS.name,
        RETENTION_CLEANUP.name,
        LICENCES_ISSUE_DUE.name,
        LICENCES_EXPIRY_ALERTS.name,
        SESSIONS_CLEANUP.name,
    ]
    .contains(&name)
}

/// Runs the sweep named `name` in `conn`; `Ok(false)` when there is none.
pub async fn run(name: &str, conn: &mut PgConnection, sweep: &Sweep<'_>) -> anyhow::Result<bool> {
    let Sweep {
        context,
        sandbox,
        cause,
        now,
    } = *sweep;
    let notices = &context.notices;
    match name {
        n if n == SANDBOX_RENEW.name => {
            let Some(sandbox) = sandbox else {
                return Ok(true);
            };
            let renewed = sandbox.renew_due(conn).await?;
            let retried = sandbox.retry_due_payments(conn).await?;
            let announced = sandbox.announce_trials_ending(conn).await?;
            if renewed + retried + announced > 0 {
                tracing::info!(
                    renewed,
                    retried,
                    announced,
                    "sandbox periods, retries and trial notices"
                );
            }
        }
        n if n == TRIALS_REMIND.name => {
            let catalog = crate::catalog::db::load_catalog(&mut *conn).await?;
            let offsets = &catalog.trial.reminder_days;
            let sent =
                crate::billing::trials::send_due_reminders(conn, offsets, cause, notices, now, BATCH).await?;
            if sent > 0 {
                tracing::info!(sent, "trial reminders queued");
            }
        }
        n if n == TRIALS_EXPIRE.name => {
            let paused = expire_trials(conn, notices, now, BATCH).await?;
            if paused > 0 {
                tracing::info!(paused, "ended trials paused");
            }
        }
        n if n == COLLECTION_RESTRICT.name => {
            let catalog = crate::catalog::db::load_catalog(&mut *conn).await?;
            let grace_days = catalog.collection.grace_days;
            let restricted = restrict_overdue(conn, grace_days, cause, notices, now, BATCH).await?;
            if restricted > 0 {
                tracing::info!(restricted, "organisations restricted for unpaid invoices");
            }
        }
        n if n == USAGE_SNAPSHOTS.name => {
            let catalog = crate::catalog::db::load_catalog(&mut *conn).await?;
            let taken = crate::entitlements::usage::take_snapshots(conn, &catalog, now).await?;
            if taken > 0 {
                tracing::info!(rows = taken, "usage snapshot taken");
            }
        }
        n if n == ENTITLEMENTS_TIME_EVENTS.name => {
            let catalog = crate::catalog::db::load_catalog(&mut *conn).await?;
            crate::outbound::events::publish_time_changes(conn, &catalog, now).await?;
        }
        n if n == RETENTION_CLEANUP.name => {
            let removed = crate::runner::db::remove_finished_before(conn, now - JOB_RETENTION).await?;
            if removed > 0 {
                tracing::info!(removed, "finished jobs past retention removed");
            }
        }
        n if n == SESSIONS_CLEANUP.name => {
            let removed = crate::accounts::db::remove_expired_sessions(conn, now, SESSIONS_BATCH).await?;
            if removed > 0 {
                tracing::info!(removed, "expired sessions removed");
            }
        }
        n if n == LICENCES_ISSUE_DUE.name => {
            let Some(keys) = context.license_keys.as_deref() else {
                return Ok(true);
            };
            let catalog = crate::catalog::db::load_catalog(&mut *conn).await?;
            let issued =
                crate::licensing::lifecycle::issue_due(conn, &catalog, keys, notices, now, BATCH).await?;
            if issued > 0 {
                tracing::info!(issued, "self-hosted licences issued");
            }
        }
        n if n == LICENCES_EXPIRY_ALERTS.name => {
            let sent = crate::licensing::lifecycle::send_expiry_alerts(conn, notices, now).await?;
            if sent > 0 {
                tracing::info!(sent, "licence expiry alerts queued");
            }
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// Pauses the signup trials that ended by `now` (up to `limit`;
/// [`crate::billing::trials::expire_ended_trials`]) and tells the host
/// product of each. Returns how many were paused.
pub async fn expire_trials(
    conn: &mut PgConnection,
    notices: &Notices,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<usize, sqlx::Error> {
    let paused = crate::billing::trials::expire_ended_trials(conn, notices, now, limit).await?;
    for organization_id in &paused {
        subscription_changed(conn, *organization_id, now).await?;
    }
    Ok(paused.len())
}

/// Restricts the organisations whose grace period ended by `now` (up to
/// `limit`; [`crate::billing::collection::restrict_overdue`]) and tells the
/// host product. Returns how many were restricted.
pub async fn restrict_overdue(
    conn: &mut PgConnection,
    grace_days: u32,
    cause: &str,
    notices: &Notices,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<usize, sqlx::Error> {
    let restricted =
        crate::billing::collection::restrict_overdue(conn, grace_days, cause, notices, now, limit).await?;
    collection_steps(conn, &restricted, now).await?;
    Ok(restricted.len())
}
