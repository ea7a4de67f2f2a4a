//! The job runner every process runs: it ticks the named schedules, then
//! claims due jobs and runs each kind's handler inside a transaction that
//! also finishes the job, fenced by its lease (a worker that lost its lease
//! rolls back and changes nothing). It wakes on `gatehouse_job_queued` and
//! polls every few seconds as a fallback. The queue itself is
//! `app::runner`.

use app::billing::trials::Notices;
use app::clock::Clock;
use app::runner::db::{self, Claimed, Failed};
use app::runner::domain::{Schedule, period_start};
use app::runner::schedules::*;
use chrono::{DateTime, TimeDelta, Utc};
use sqlx::{PgConnection, PgPool};
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;

/// A handler's future, borrowing its transaction.
pub type HandlerFuture<'a> = Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send + 'a>>;

/// Runs one job of a kind, in `conn` (the transaction that finishes it).
pub type Handler = for<'a> fn(&'a mut PgConnection, &'a Claimed, &'a JobContext) -> HandlerFuture<'a>;

/// What handlers may use.
#[derive(Clone)]
pub struct JobContext {
    /// The database.
    pub pool: PgPool,
    /// The time.
    pub clock: Clock,
    /// Who emails are from and link to; the licensing keys.
    pub notices: Notices,
    /// The built-in payment provider, when it is the provider (its renewals,
    /// retries and trial notices are jobs too).
    pub sandbox: Option<app::billing::sandbox::Sandbox>,
}

/// The schedules and handlers of one process.
pub struct Runner {
    schedules: Vec<Schedule>,
    handlers: BTreeMap<&'static str, Handler>,
    kinds: Vec<String>,
    worker: String,
    lease: TimeDelta,
    /// The latest period this process saw ticked, per schedule: a tick
    /// before the next period starts would find nothing to do, so it is
    /// not sent. Only an optimisation: `schedule_tick` decides.
    ticked_through: Mutex<HashMap<&'static str, DateTime<Utc>>>,
}

/// How long a claimed job is its worker's before another may take it.
pub const LEASE: TimeDelta = TimeDelta::minutes(5);

/// Jobs one pass runs before it lets the loop breathe.
const JOBS_PER_PASS: usize = 50;

/// Rows one run of a sweep handles; the rest wait for the next period.
const SWEEP_BATCH: i64 = 500;

/// The handler of each of Gatehouse's schedules.
pub fn handler_for(name: &str) -> Option<Handler> {
    let handlers: [(&str, Handler); 10] = [
        (SANDBOX_RENEW.name, sandbox_renew),
        (TRIALS_REMIND.name, trials_remind),
        (TRIALS_EXPIRE.name, trials_expire),
        (COLLECTION_RESTRICT.name, collection_restrict),
        (USAGE_SNAPSHOTS.name, usage_snapshots),
        (ENTITLEMENTS_TIME_EVENTS.name, entitlements_time_events),
        (QUEUE_GAUGES.name, queue_gauges),
        (RETENTION_CLEANUP.name, retention_cleanup),
        (LICENCES_ISSUE_DUE.name, issue_due),
        (LICENCES_EXPIRY_ALERTS.name, expiry_alerts),
    ];
    handlers
        .into_iter()
        .find(|(kind, _)| *kind == name)
        .map(|(_, handler)| handler)
}

/// How long finished jobs and their runs are kept.
pub const JOB_RETENTION: TimeDelta = TimeDelta::days(30);

/// The job's cause, as emails and ledger steps name it.
fn cause_of(job: &Claimed) -> String {
    format!("job:{}:{}", job.kind, job.job_id)
}

fn trials_remind<'a>(
    conn: &'a mut PgConnection,
    job: &'a Claimed,
    context: &'a JobContext,
) -> HandlerFuture<'a> {
    Box::pin(async move {
        let catalog = app::catalog::db::load_catalog(&mut *conn).await?;
        let sent = app::billing::trials::send_due_reminders(
            conn,
            &catalog.trial.reminder_days,
            &cause_of(job),
            &context.notices,
            context.clock.now(),
            SWEEP_BATCH,
        )
        .await?;
        if sent > 0 {
            tracing::info!(sent, "trial reminders queued");
        }
        Ok(())
    })
}

fn trials_expire<'a>(
    conn: &'a mut PgConnection,
    _: &'a Claimed,
    context: &'a JobContext,
) -> HandlerFuture<'a> {
    Box::pin(async move {
        let paused = app::billing::trials::expire_ended_trials(
            conn,
            &context.notices,
            context.clock.now(),
            SWEEP_BATCH,
        )
        .await?;
        if paused > 0 {
            tracing::info!(paused, "ended trials paused");
        }
        Ok(())
    })
}

fn collection_restrict<'a>(
    conn: &'a mut PgConnection,
    job: &'a Claimed,
    context: &'a JobContext,
) -> HandlerFuture<'a> {
    Box::pin(async move {
        let catalog = app::catalog::db::load_catalog(&mut *conn).await?;
        let restricted = app::billing::collection::restrict_overdue(
            conn,
            catalog.collection.grace_days,
            &cause_of(job),
            &context.notices,
            context.clock.now(),
            SWEEP_BATCH,
        )
        .await?;
        if restricted > 0 {
            tracing::info!(restricted, "organisations restricted for unpaid invoices");
        }
        Ok(())
    })
}

fn sandbox_renew<'a>(
    conn: &'a mut PgConnection,
    _: &'a Claimed,
    context: &'a JobContext,
) -> HandlerFuture<'a> {
    Box::pin(async move {
        let Some(sandbox) = context.sandbox.as_ref() else {
            return Ok(());
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
        Ok(())
    })
}

fn usage_snapshots<'a>(
    conn: &'a mut PgConnection,
    _: &'a Claimed,
    context: &'a JobContext,
) -> HandlerFuture<'a> {
    Box::pin(async move {
        let catalog = app::catalog::db::load_catalog(&mut *conn).await?;
        let taken = app::entitlements::usage::take_snapshots(conn, &catalog, context.clock.now()).await?;
        if taken > 0 {
            tracing::info!(rows = taken, "usage snapshot taken");
        }
        Ok(())
    })
}

fn entitlements_time_events<'a>(
    conn: &'a mut PgConnection,
    _: &'a Claimed,
    context: &'a JobContext,
) -> HandlerFuture<'a> {
    Box::pin(async move {
        let catalog = app::catalog::db::load_catalog(&mut *conn).await?;
        app::outbound::events::publish_time_changes(conn, &catalog, context.clock.now()).await?;
        Ok(())
    })
}

fn queue_gauges<'a>(_: &'a mut PgConnection, _: &'a Claimed, context: &'a JobContext) -> HandlerFuture<'a> {
    Box::pin(async move {
        crate::telemetry::record_queue_depths(&context.pool).await?;
        Ok(())
    })
}

fn retention_cleanup<'a>(
    conn: &'a mut PgConnection,
    _: &'a Claimed,
    context: &'a JobContext,
) -> HandlerFuture<'a> {
    Box::pin(async move {
        let removed = db::remove_finished_before(conn, context.clock.now() - JOB_RETENTION).await?;
        if removed > 0 {
            tracing::info!(removed, "finished jobs past retention removed");
        }
        Ok(())
    })
}

fn issue_due<'a>(conn: &'a mut PgConnection, _: &'a Claimed, context: &'a JobContext) -> HandlerFuture<'a> {
    Box::pin(async move {
        let Some(keys) = context.notices.license_keys.as_deref() else {
            return Ok(());
        };
        let catalog = app::catalog::db::load_catalog(&mut *conn).await?;
        let issued = app::licensing::lifecycle::issue_due(
            conn,
            &catalog,
            keys,
            &context.notices,
            context.clock.now(),
            500,
        )
        .await?;
        if issued > 0 {
            tracing::info!(issued, "self-hosted licences issued");
        }
        Ok(())
    })
}

fn expiry_alerts<'a>(
    conn: &'a mut PgConnection,
    _: &'a Claimed,
    context: &'a JobContext,
) -> HandlerFuture<'a> {
    Box::pin(async move {
        let sent = app::licensing::lifecycle::send_expiry_alerts(conn, &context.notices, context.clock.now())
            .await?;
        if sent > 0 {
            tracing::info!(sent, "licence expiry alerts queued");
        }
        Ok(())
    })
}

impl Runner {
    /// An empty runner named `worker` (in every `job_run` it records).
    pub fn new(worker: impl Into<String>) -> Self {
        Runner {
            schedules: Vec::new(),
            handlers: BTreeMap::new(),
            kinds: Vec::new(),
            worker: worker.into(),
            lease: LEASE,
            ticked_through: Mutex::new(HashMap::new()),
        }
    }

    /// Gatehouse's schedules (`app::runner::schedules::ALL`) and their handlers.
    pub fn gatehouse(worker: impl Into<String>) -> Self {
        ALL.iter().fold(Runner::new(worker), |runner, scheduled| {
            match handler_for(scheduled.schedule.name) {
                Some(handler) => runner.schedule(scheduled.schedule, handler),
                None => {
                    tracing::error!(
                        schedule = scheduled.schedule.name,
                        "no handler: the schedule does not run"
                    );
                    runner
                }
            }
        })
    }

    /// Handles jobs of `kind` with `handler`.
    pub fn handle(mut self, kind: &'static str, handler: Handler) -> Self {
        self.handlers.insert(kind, handler);
        self.kinds = self.handlers.keys().map(|kind| (*kind).to_owned()).collect();
        self
    }

    /// Ticks `schedule` and handles its jobs with `handler`.
    pub fn schedule(mut self, schedule: Schedule, handler: Handler) -> Self {
        self.schedules.push(schedule);
        self.handle(schedule.name, handler)
    }

    /// Sets the lease (tests shorten it).
    pub fn with_lease(mut self, lease: TimeDelta) -> Self {
        self.lease = lease;
        self
    }

    /// The schedules this runner ticks.
    pub fn schedules(&self) -> &[Schedule] {
        &self.schedules
    }

    /// One pass: ticks every schedule, then runs due jobs (up to a batch).
    /// Returns whether any job ran.
    pub async fn pass(&self, context: &JobContext) -> Result<bool, sqlx::Error> {
        self.tick(context).await?;
        let mut ran = false;
        for _ in 0..JOBS_PER_PASS {
            let Some(job) = db::claim(
                &context.pool,
                &self.worker,
                &self.kinds,
                self.lease,
                context.clock.now(),
            )
            .await?
            else {
                break;
            };
            self.run(context, &job).await?;
            ran = true;
        }
        Ok(ran)
    }

    /// Ticks every schedule whose current period this process has not
    /// seen ticked yet.
    pub async fn tick(&self, context: &JobContext) -> Result<(), sqlx::Error> {
        let now = context.clock.now();
        for schedule in &self.schedules {
            let current = period_start(schedule.every, now);
            let seen = self
                .ticked_through
                .lock()
                .ok()
                .and_then(|seen| seen.get(schedule.name).copied());
            if seen.is_some_and(|seen| seen >= current) {
                continue;
            }
            db::tick(&context.pool, schedule, now).await?;
            if let Ok(mut seen) = self.ticked_through.lock() {
                seen.insert(schedule.name, current);
            }
        }
        Ok(())
    }

    /// Runs one claimed job: its work and its finish commit together, or not at all.
    pub async fn run(&self, context: &JobContext, job: &Claimed) -> Result<(), sqlx::Error> {
        let Some(handler) = self.handlers.get(job.kind.as_str()) else {
            db::fail(
                &context.pool,
                job,
                "no handler for this kind",
                context.clock.now(),
            )
            .await?;
            return Ok(());
        };
        let mut tx = context.pool.begin().await?;
        match handler(&mut tx, job, context).await {
            Ok(()) => {
                if db::finish(&mut tx, job, context.clock.now()).await? {
                    tx.commit().await?;
                } else {
                    tx.rollback().await?;
                    tracing::warn!(job = job.job_id, kind = %job.kind, "lease lost: the job's work was rolled back");
                }
            }
            Err(error) => {
                tx.rollback().await?;
                let error = format!("{error:#}");
                match db::fail(&context.pool, job, &error, context.clock.now()).await? {
                    Failed::RetryAt(at) => {
                        tracing::warn!(job = job.job_id, kind = %job.kind, %error, retry_at = %at, "job failed")
                    }
                    Failed::Dead => tracing::error!(job = job.job_id, kind = %job.kind, %error, "job dead"),
                    Failed::LeaseLost => {}
                }
            }
        }
        Ok(())
    }
}

/// Runs `runner` on this process until the pool closes.
pub fn spawn(runner: Runner, context: JobContext) {
    let pool = context.pool.clone();
    let runner = std::sync::Arc::new(runner);
    crate::jobs::spawn_drain_loop(pool, db::JOB_QUEUED_CHANNEL, "job runner", move || {
        let (runner, context) = (runner.clone(), context.clone());
        async move { runner.pass(&context).await }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_schedule_has_its_handler() {
        for scheduled in ALL {
            assert!(
                handler_for(scheduled.schedule.name).is_some(),
                "{}",
                scheduled.schedule.name
            );
        }
        assert_eq!(Runner::gatehouse("t").schedules().len(), ALL.len());
    }
}
