//! The job runner every process runs: it ticks the named schedules, then
//! claims due jobs and runs each kind's handler inside a transaction that
//! also finishes the job, fenced by its lease (a worker that lost its lease
//! rolls back and changes nothing). It wakes on `gatehouse_job_queued` and
//! polls every few seconds as a fallback. The queue itself is
//! `app::runner`.

use app::billing::trials::Notices;
use app::clock::Clock;
use app::runner::db::{self, Claimed, Failed};
use app::runner::domain::{CatchUp, Schedule};
use chrono::TimeDelta;
use sqlx::{PgConnection, PgPool};
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;

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
}

/// The schedules and handlers of one process.
pub struct Runner {
    schedules: Vec<Schedule>,
    handlers: BTreeMap<&'static str, Handler>,
    kinds: Vec<String>,
    worker: String,
    lease: TimeDelta,
}

/// How long a claimed job is its worker's before another may take it.
pub const LEASE: TimeDelta = TimeDelta::minutes(5);

/// Jobs one pass runs before it lets the loop breathe.
const JOBS_PER_PASS: usize = 50;

/// Licences owed to subscriptions that turned active without an event this
/// process applied (the event's own transaction issues it first).
pub const LICENCES_ISSUE_DUE: Schedule = Schedule {
    name: "licences.issue_due",
    every: TimeDelta::minutes(10),
    catch_up: CatchUp::Latest,
};

/// The 30- and 7-day expiry alerts.
pub const LICENCES_EXPIRY_ALERTS: Schedule = Schedule {
    name: "licences.expiry_alerts",
    every: TimeDelta::hours(1),
    catch_up: CatchUp::Latest,
};

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
        }
    }

    /// Gatehouse's schedules and handlers.
    pub fn gatehouse(worker: impl Into<String>) -> Self {
        Runner::new(worker)
            .schedule(LICENCES_ISSUE_DUE, issue_due)
            .schedule(LICENCES_EXPIRY_ALERTS, expiry_alerts)
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
        for schedule in &self.schedules {
            db::tick(&context.pool, schedule, context.clock.now()).await?;
        }
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
