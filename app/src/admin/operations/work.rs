//! The console's background work page: the job runner's own record (each
//! schedule's last and next run, the queues, the latest runs, dead jobs,
//! with "run now" and "retry", both audited), and the delivery queues that
//! keep their items in their own tables (provider events, email, outbound
//! webhooks) as those tables record them.

// #[server] turns each function's parameters into the fields of a generated
// argument struct; parameters cannot carry doc comments, the functions do.
#![allow(missing_docs)]

use crate::error::AppError;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
use crate::runner::domain::JobState;
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
    at.map_or_else(|| "never".to_owned(), super::time)
}

#[cfg(feature = "ssr")]
fn figure(label: &str, value: impl ToString) -> (String, String) {
    (label.to_owned(), value.to_string())
}

/// Every background worker's record.
#[server(prefix = "/api", endpoint = "admin_background_work", input = server_fn::codec::GetUrl)]
pub async fn get_background_work() -> Result<Vec<Worker>, AppError> {
    crate::admin::sign_in::session::require_admin().await?;
    let context = crate::context::app_context()?;
    let (pool, now) = (&context.pool, context.clock.now());
    let day_ago = now - TimeDelta::hours(24);
    let inbox = crate::billing::inbox::activity(pool, now, day_ago).await?;
    let mail = crate::email::outbox::activity(pool, now, day_ago).await?;
    let outbound = crate::outbound::deliveries::activity(pool, day_ago).await?;
    let series = crate::billing::series_store::coverage(pool).await?;
    Ok(workers(inbox, mail, outbound, series))
}

/// The work page's records of the delivery queues and the MRR series.
#[cfg(feature = "ssr")]
fn workers(
    inbox: crate::billing::inbox::Activity,
    mail: crate::email::outbox::Activity,
    outbound: crate::outbound::deliveries::Activity,
    series: crate::billing::series_store::Coverage,
) -> Vec<Worker> {
    vec![
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
            failures: inbox
                .failures
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
            failures: mail
                .failures
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
            failures: outbound
                .failures
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
    ]
}

/// One schedule, as the console shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleLine {
    /// Its name (the job kind).
    pub name: String,
    /// What it does.
    pub does: String,
    /// How often, in words.
    pub every: String,
    /// The latest period that ran (or was skipped), or “never”.
    pub last_run: String,
    /// When its next period starts.
    pub next_run: String,
    /// How its latest job ended: succeeded, failed (retrying), dead, queued, running.
    pub outcome: String,
    /// Whether that needs someone's attention (dead, or failed and retrying).
    pub failed: bool,
    /// The latest job's error, if it failed.
    pub error: Option<String>,
}

/// One kind's queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueLine {
    /// The job kind.
    pub kind: String,
    /// Due now.
    pub due: i64,
    /// Held by a worker.
    pub running: i64,
    /// Waiting for a later time (retries).
    pub scheduled: i64,
    /// Dead.
    pub dead: i64,
    /// The oldest due job's due time, or “none”.
    pub oldest_due: String,
}

/// One attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunLine {
    /// The job.
    pub job_id: i64,
    /// Its kind.
    pub kind: String,
    /// Which attempt.
    pub attempt: i32,
    /// The process that ran it.
    pub worker: String,
    /// When it started.
    pub started: String,
    /// How long it took, or “running”.
    pub took: String,
    /// succeeded, failed, lease_lost, dead, or running.
    pub outcome: String,
    /// What failed.
    pub error: Option<String>,
}

/// A dead job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLine {
    /// The job.
    pub job_id: i64,
    /// Its kind.
    pub kind: String,
    /// Attempts made.
    pub attempts: i32,
    /// When it was due.
    pub due: String,
    /// Its last error.
    pub error: String,
}

/// The job runner's record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunnerRecord {
    /// Every schedule.
    pub schedules: Vec<ScheduleLine>,
    /// Kinds with open work.
    pub queues: Vec<QueueLine>,
    /// The latest 30 attempts, newest first.
    pub runs: Vec<RunLine>,
    /// Dead jobs, newest first.
    pub dead: Vec<DeadLine>,
}

/// A period in words: “every 15 min”, “every 6 h”, “every day”.
#[cfg(feature = "ssr")]
pub fn every_in_words(every: chrono::TimeDelta) -> String {
    let minutes = every.num_minutes();
    match minutes {
        m if m >= 1440 && m % 1440 == 0 => match m / 1440 {
            1 => "every day".to_owned(),
            days => format!("every {days} days"),
        },
        m if m >= 60 && m % 60 == 0 => format!("every {} h", m / 60),
        m if m >= 1 => format!("every {m} min"),
        _ => format!("every {} s", every.num_seconds()),
    }
}

/// The runner's schedules, queues, latest runs and dead jobs.
#[server(prefix = "/api", endpoint = "admin_runner_record", input = server_fn::codec::GetUrl)]
pub async fn get_runner_record() -> Result<RunnerRecord, AppError> {
    use crate::runner::{db, schedules::ALL};
    crate::admin::sign_in::session::require_admin().await?;
    let context = crate::context::app_context()?;
    let (pool, now) = (&context.pool, context.clock.now());
    let names: Vec<String> = ALL.iter().map(|s| s.schedule.name.to_owned()).collect();
    let records = db::schedule_records(pool, &names).await?;
    Ok(RunnerRecord {
        schedules: ALL
            .iter()
            .zip(records)
            .map(|(s, r)| schedule_line(s, r, now))
            .collect(),
        queues: db::queue_records(pool, now)
            .await?
            .into_iter()
            .map(queue_line)
            .collect(),
        runs: db::recent_runs(pool, false, 30)
            .await?
            .into_iter()
            .map(run_line)
            .collect(),
        dead: db::dead_jobs(pool, 50)
            .await?
            .into_iter()
            .map(dead_line)
            .collect(),
    })
}

/// A schedule as the work page lists it: when it ran, when it runs next and
/// how its last run went.
#[cfg(feature = "ssr")]
fn schedule_line(
    scheduled: &crate::runner::schedules::Scheduled,
    record: crate::runner::db::ScheduleRecord,
    now: DateTime<Utc>,
) -> ScheduleLine {
    use crate::runner::domain::{JobState, period_start};
    let current = period_start(scheduled.schedule.every, now);
    let next = if record.last_period.is_some_and(|last| last >= current) {
        current + scheduled.schedule.every
    } else {
        current
    };
    let state = record.last_state.as_deref().and_then(JobState::parse);
    let failed = matches!(state, Some(JobState::Dead))
        || (state == Some(JobState::Queued) && record.last_error.is_some());
    let outcome = match state {
        None => "not run yet",
        Some(JobState::Queued) if failed => "failed, retrying",
        Some(state) => state.as_str(),
    };
    ScheduleLine {
        name: scheduled.schedule.name.to_owned(),
        does: scheduled.does.to_owned(),
        every: every_in_words(scheduled.schedule.every),
        last_run: time(record.last_finished_at.or(record.last_period)),
        next_run: if next <= now {
            "due now".to_owned()
        } else {
            time(Some(next))
        },
        outcome: outcome.to_owned(),
        failed,
        error: record.last_error,
    }
}

#[cfg(feature = "ssr")]
fn queue_line(q: crate::runner::db::QueueRecord) -> QueueLine {
    QueueLine {
        kind: q.kind,
        due: q.due,
        running: q.running,
        scheduled: q.scheduled,
        dead: q.dead,
        oldest_due: q.oldest_due.map_or_else(|| "none".to_owned(), super::time),
    }
}

#[cfg(feature = "ssr")]
fn run_line(r: crate::runner::db::RunRow) -> RunLine {
    RunLine {
        job_id: r.job_id,
        kind: r.kind,
        attempt: r.attempt,
        worker: r.worker,
        started: super::time(r.started_at),
        took: r.finished_at.map_or_else(
            || JobState::Running.as_str().to_owned(),
            |end| format!("{} ms", (end - r.started_at).num_milliseconds().max(0)),
        ),
        outcome: r.outcome.unwrap_or_else(|| JobState::Running.as_str().to_owned()),
        error: r.error,
    }
}

#[cfg(feature = "ssr")]
fn dead_line(j: crate::runner::db::JobRow) -> DeadLine {
    DeadLine {
        job_id: j.job_id,
        kind: j.kind,
        attempts: j.attempt,
        due: super::time(j.run_at),
        error: j.last_error.unwrap_or_default(),
    }
}

/// Runs a schedule's work now, beside its periods (audited).
#[server(prefix = "/api", endpoint = "admin_run_schedule")]
pub async fn run_schedule(name: String, reason: String) -> Result<(), AppError> {
    use super::super::audited::{Audit, AuditedAction};
    let mut action = AuditedAction::begin().await?;
    let scheduled = crate::runner::schedules::find(name.trim())
        .ok_or_else(|| AppError::field("name", "there is no such schedule"))?;
    let reason = crate::admin::audited::checked_reason(&reason)?;
    let job_id =
        crate::runner::db::run_now(action.tx.get().await?, scheduled.schedule.name, action.now).await?;
    let audit = Audit::of("schedule.run_now")
        .because(reason)
        .after(serde_json::json!({ "schedule": scheduled.schedule.name, "job": job_id }));
    action.commit(audit, "/admin/work?done=run").await
}

/// Queues a dead job again, now, and reopens the item a delivery job
/// works on (a dead email queued again, a parked provider event pending
/// again), so the retry can succeed. Used by the console and `server jobs
/// retry`.
#[cfg(feature = "ssr")]
pub async fn retry_dead_job(
    conn: &mut sqlx::PgConnection,
    job_id: i64,
    now: DateTime<Utc>,
) -> Result<Result<(), crate::runner::db::RetryRefused>, sqlx::Error> {
    if let Err(refused) = crate::runner::db::retry_dead(&mut *conn, job_id, now).await? {
        return Ok(Err(refused));
    }
    let Some((kind, item)) = crate::runner::db::job_item(&mut *conn, job_id).await? else {
        return Ok(Ok(()));
    };
    match kind.as_str() {
        crate::email::outbox::DELIVER_KIND => crate::email::outbox::reopen_dead(conn, item, now).await?,
        crate::billing::inbox::APPLY_KIND => crate::billing::inbox::reopen_failed(conn, item, now).await?,
        // A delivery stays pending while it fails: nothing to reopen.
        _ => {}
    }
    Ok(Ok(()))
}

/// Queues a dead job again (audited).
#[server(prefix = "/api", endpoint = "admin_retry_job")]
pub async fn retry_job(id: String, reason: String) -> Result<(), AppError> {
    use super::super::audited::{Audit, AuditedAction};
    let mut action = AuditedAction::begin().await?;
    let job_id: i64 = id.trim().parse().map_err(|_| AppError::NotFound)?;
    let reason = crate::admin::audited::checked_reason(&reason)?;
    match retry_dead_job(action.tx.get().await?, job_id, action.now).await? {
        Ok(()) => {}
        Err(crate::runner::db::RetryRefused::NoSuchJob(_)) => return Err(AppError::NotFound),
        Err(refused) => return Err(AppError::Conflict(refused.to_string())),
    }
    let audit = Audit::of("job.retry")
        .because(reason)
        .before(serde_json::json!({ "job": job_id, "state": JobState::Dead.as_str() }))
        .after(serde_json::json!({ "job": job_id, "state": JobState::Queued.as_str() }));
    action.commit(audit, "/admin/work?done=retry").await
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use super::every_in_words;
    use chrono::TimeDelta;

    #[test]
    fn periods_read_in_words() {
        for (every, words) in [
            (TimeDelta::seconds(30), "every 30 s"),
            (TimeDelta::minutes(1), "every 1 min"),
            (TimeDelta::minutes(15), "every 15 min"),
            (TimeDelta::minutes(90), "every 90 min"),
            (TimeDelta::hours(6), "every 6 h"),
            (TimeDelta::days(1), "every day"),
            (TimeDelta::days(7), "every 7 days"),
        ] {
            assert_eq!(every_in_words(every), words);
        }
    }
}
