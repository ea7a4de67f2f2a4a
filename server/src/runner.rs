//! The job runner every process runs, and the only claim loop: it ticks
//! the named schedules, then claims due jobs (the timed sweeps, and one job
//! per email, outbound webhook delivery and provider event) and runs each
//! kind's handler. A handler's work and the job's finish commit together,
//! fenced by the lease (a worker that lost its lease rolls back and
//! changes nothing). It wakes on `gatehouse_job_queued` and polls every
//! few seconds as a fallback. The queue itself is `app::runner`.

use app::billing::provider::BillingProvider;
use app::clock::Clock;
use app::flows::FlowContext;
use app::flows::sweeps::{self, Sweep};
use app::runner::db::{self, Claimed, Failed};
use app::runner::domain::{Backoff, DELIVERY_BACKOFF, JOB_BACKOFF, Schedule, WEBHOOK_BACKOFF, period_start};
use app::runner::schedules::*;
use chrono::{DateTime, TimeDelta, Utc};
use sqlx::{PgConnection, PgPool, Postgres, Transaction};
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use tokio::sync::Semaphore;

/// How one attempt went, as its handler says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// Done: the job succeeds.
    Done,
    /// Failed, but what it recorded stands (an attempt row, a counter):
    /// tried again after its kind's backoff.
    Retry(String),
    /// Failed so that no retry can succeed (a refused address): dead now,
    /// what it recorded standing.
    GiveUp(String),
}

/// A handler's future.
pub type HandlerFuture<'a, T> = Pin<Box<dyn Future<Output = anyhow::Result<T>> + Send + 'a>>;

/// Works inside `conn`, the transaction that also finishes the job.
pub type TxHandler =
    for<'a> fn(&'a mut PgConnection, &'a Claimed, &'a JobContext) -> HandlerFuture<'a, Attempt>;

/// Does its outside work (a send) holding no connection, then returns the
/// transaction that records it, in which the job is finished.
pub type SendHandler = for<'a> fn(&'a Claimed, &'a JobContext) -> HandlerFuture<'a, Recorded>;

/// What a [`SendHandler`] hands back: its record, not yet committed, and
/// how the attempt went.
pub struct Recorded {
    /// The transaction holding the record.
    pub tx: Transaction<'static, Postgres>,
    /// How it went.
    pub attempt: Attempt,
}

/// How a kind's jobs run.
#[derive(Clone, Copy)]
pub enum Handler {
    /// Inside the finishing transaction (the sweeps, provider events).
    InTransaction(TxHandler),
    /// Send first, then record and finish (email, webhooks).
    SendThenRecord(SendHandler),
}

/// What handlers may use.
#[derive(Clone)]
pub struct JobContext {
    /// The database.
    pub pool: PgPool,
    /// The time.
    pub clock: Clock,
    /// Who emails are from and link to; the licensing keys.
    pub flows: FlowContext,
    /// The built-in payment provider, when it is the provider (its renewals,
    /// retries and trial notices are jobs too).
    pub sandbox: Option<app::billing::sandbox::Sandbox>,
    /// The payment provider, which provider events are read back from.
    pub provider: Arc<dyn BillingProvider>,
    /// The SMTP connection, when email is sent from this process.
    pub mailer: Option<crate::mailer::Mailer>,
    /// The HTTP client webhooks are sent with.
    pub sender: crate::outbound::Sender,
}

impl JobContext {
    /// A context reading events back from `provider`, sending no email and
    /// webhooks to public addresses only, with no sandbox sweeps (tests and
    /// benchmarks; a server builds its own from its state).
    pub fn new(pool: PgPool, clock: Clock, flows: FlowContext, provider: Arc<dyn BillingProvider>) -> Self {
        JobContext {
            pool,
            clock,
            flows,
            sandbox: None,
            provider,
            mailer: None,
            sender: crate::outbound::Sender::default(),
        }
    }

    /// [`JobContext::new`] with the sandbox as the provider.
    pub fn with_sandbox_provider(pool: PgPool, clock: Clock, flows: FlowContext) -> Self {
        let sandbox =
            app::billing::sandbox::Sandbox::new(pool.clone(), &flows.notices.public_url, clock.clone());
        JobContext::new(pool, clock, flows, Arc::new(sandbox))
    }
}

/// A kind's handler and retry rule.
#[derive(Clone, Copy)]
struct Kind {
    handler: Handler,
    backoff: Backoff,
}

/// The schedules and handlers of one process (cheap to clone: each job
/// runs on a task of its own, with a clone).
#[derive(Clone)]
pub struct Runner {
    schedules: Vec<Schedule>,
    handlers: BTreeMap<&'static str, Kind>,
    kinds: Vec<String>,
    worker: String,
    lease: TimeDelta,
    /// Jobs at once, and of those in a transaction.
    in_flight: usize,
    in_transaction: usize,
    /// The latest period this process saw ticked, per schedule: a tick
    /// before the next period starts would find nothing to do, so it is
    /// not sent. Only an optimisation: `schedule_tick` decides.
    ticked_through: Arc<Mutex<HashMap<&'static str, DateTime<Utc>>>>,
}

/// How long a claimed job is its worker's before another may take it; a
/// running job's worker renews it every third of that, so a job outlives
/// the lease only when its process died (or stalled).
pub const LEASE: TimeDelta = TimeDelta::seconds(30);

/// Jobs one pass claims before it lets the loop breathe (and ticks again).
const JOBS_PER_PASS: usize = 100;

/// Jobs one process runs at once: sends wait on receivers, not on the
/// database, so one slow endpoint never holds up the rest.
pub const IN_FLIGHT: usize = 16;

/// Of those, how many may hold a transaction while they work (each holds
/// a connection of the pool; fewer on a small pool).
pub const IN_TRANSACTION: usize = 4;

/// The handler of each of Gatehouse's schedules: the sweeps of
/// [`app::flows::sweeps`], and this process's queue gauges.
pub fn handler_for(name: &str) -> Option<TxHandler> {
    if name == QUEUE_GAUGES.name {
        return Some(queue_gauges);
    }
    sweeps::exists(name).then_some(sweep as TxHandler)
}

/// The job's cause, as emails and ledger steps name it.
fn cause_of(job: &Claimed) -> String {
    format!("job:{}:{}", job.kind, job.job_id)
}

/// Runs the sweep the job's schedule names, in the job's transaction.
fn sweep<'a>(
    conn: &'a mut PgConnection,
    job: &'a Claimed,
    context: &'a JobContext,
) -> HandlerFuture<'a, Attempt> {
    Box::pin(async move {
        let cause = cause_of(job);
        let sweep = Sweep {
            context: &context.flows,
            sandbox: context.sandbox.as_ref(),
            cause: &cause,
            now: context.clock.now(),
        };
        if sweeps::run(&job.kind, conn, &sweep).await? {
            Ok(Attempt::Done)
        } else {
            Ok(Attempt::GiveUp(format!("no sweep is named {}", job.kind)))
        }
    })
}

fn queue_gauges<'a>(
    _: &'a mut PgConnection,
    _: &'a Claimed,
    context: &'a JobContext,
) -> HandlerFuture<'a, Attempt> {
    Box::pin(async move {
        crate::telemetry::record_queue_depths(&context.pool).await?;
        Ok(Attempt::Done)
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
            in_flight: IN_FLIGHT,
            in_transaction: IN_TRANSACTION,
            ticked_through: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Gatehouse's schedules (`app::runner::schedules::ALL`) with their
    /// handlers, and the item kinds: email, outbound webhook delivery and
    /// provider events.
    pub fn gatehouse(worker: impl Into<String>) -> Self {
        let runner = ALL.iter().fold(Runner::new(worker), |runner, scheduled| {
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
        });
        runner
            .handle_kind(
                app::email::outbox::DELIVER_KIND,
                Handler::SendThenRecord(crate::mailer::deliver),
                DELIVERY_BACKOFF,
            )
            .handle_kind(
                app::outbound::events::DELIVER_KIND,
                Handler::SendThenRecord(crate::outbound::deliver),
                WEBHOOK_BACKOFF,
            )
            .handle_kind(
                app::billing::inbox::APPLY_KIND,
                Handler::InTransaction(crate::billing::worker::apply),
                DELIVERY_BACKOFF,
            )
    }

    /// Gatehouse's handler of `kind` alone, no schedules (tests and
    /// benchmarks drive one queue with it).
    pub fn gatehouse_kind(worker: impl Into<String>, kind: &str) -> Self {
        let mut runner = Runner::gatehouse(worker);
        runner.schedules.clear();
        runner.handlers.retain(|name, _| *name == kind);
        runner.kinds.retain(|name| name == kind);
        runner
    }

    /// Handles jobs of `kind` in their finishing transaction, retrying with
    /// the runner's backoff.
    pub fn handle(self, kind: &'static str, handler: TxHandler) -> Self {
        self.handle_kind(kind, Handler::InTransaction(handler), JOB_BACKOFF)
    }

    /// Handles jobs of `kind` with `handler`, retrying after `backoff`.
    pub fn handle_kind(mut self, kind: &'static str, handler: Handler, backoff: Backoff) -> Self {
        self.handlers.insert(kind, Kind { handler, backoff });
        self.kinds = self.handlers.keys().map(|kind| (*kind).to_owned()).collect();
        self
    }

    /// Ticks `schedule` and handles its jobs with `handler`.
    pub fn schedule(mut self, schedule: Schedule, handler: TxHandler) -> Self {
        self.schedules.push(schedule);
        self.handle(schedule.name, handler)
    }

    /// Sets the lease (tests shorten it).
    pub fn with_lease(mut self, lease: TimeDelta) -> Self {
        self.lease = lease;
        self
    }

    /// Runs at most `jobs` jobs at once (benchmarks compare one with many).
    pub fn with_concurrency(mut self, jobs: usize) -> Self {
        self.in_flight = jobs.max(1);
        self.in_transaction = jobs.clamp(1, IN_TRANSACTION);
        self
    }

    /// How many jobs may hold a transaction at once on `pool`: each may need
    /// a second connection inside (the sandbox reads through its own), and
    /// the claims and the process's requests need theirs.
    fn transactions_on(&self, pool: &PgPool) -> usize {
        let connections = pool.options().get_max_connections() as usize;
        self.in_transaction.min(connections.saturating_sub(1) / 3).max(1)
    }

    /// The schedules this runner ticks.
    pub fn schedules(&self) -> &[Schedule] {
        &self.schedules
    }

    /// The kinds this runner claims with `context`: email only where a
    /// mailer is set (elsewhere it waits in the outbox for a process that
    /// has one).
    fn kinds_for(&self, context: &JobContext) -> Vec<String> {
        self.kinds
            .iter()
            .filter(|kind| context.mailer.is_some() || kind.as_str() != app::email::outbox::DELIVER_KIND)
            .cloned()
            .collect()
    }

    /// One pass: ticks every schedule, then runs due jobs (up to a batch,
    /// [`IN_FLIGHT`] at once). Returns whether any job ran.
    pub async fn pass(&self, context: &JobContext) -> Result<bool, sqlx::Error> {
        Ok(self.pass_counted(context).await? > 0)
    }

    /// [`Runner::pass`], returning how many jobs ran: it claims while it
    /// has room and due jobs, and returns once every job it claimed ended.
    pub async fn pass_counted(&self, context: &JobContext) -> Result<usize, sqlx::Error> {
        let room = Arc::new(Semaphore::new(self.in_flight));
        let transactions = Arc::new(Semaphore::new(self.transactions_on(&context.pool)));
        let finished = Arc::new(tokio::sync::Notify::new());
        let mut total = 0;
        loop {
            let claimed = if total < JOBS_PER_PASS {
                self.claim_into(context, &room, &transactions, &finished).await?
            } else {
                0
            };
            total += claimed;
            if claimed == 0 {
                if room.available_permits() == self.in_flight {
                    break;
                }
                finished.notified().await;
            }
        }
        Ok(total)
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

    /// Runs one claimed job, renewing its lease meanwhile: its work and its
    /// finish commit together, or not at all.
    async fn run(
        &self,
        context: &JobContext,
        mut job: Claimed,
        transactions: &Semaphore,
    ) -> Result<(), sqlx::Error> {
        let Some(kind) = self.handlers.get(job.kind.as_str()).copied() else {
            db::fail_alone(
                &context.pool,
                &job,
                "no handler for this kind",
                false,
                context.clock.now(),
            )
            .await?;
            return Ok(());
        };
        job.backoff = kind.backoff;
        let renewals = async {
            let every = (self.lease / 3)
                .to_std()
                .unwrap_or(std::time::Duration::from_secs(10));
            loop {
                tokio::time::sleep(every).await;
                let until = context.clock.now() + self.lease;
                if let Err(error) = db::renew_lease(&context.pool, &job, until).await {
                    tracing::warn!(job = job.job_id, %error, "lease not renewed");
                }
            }
        };
        tokio::select! {
            ran = self.attempt(context, &job, kind, transactions) => ran,
            never = renewals => never,
        }
    }

    /// One attempt of `job` and its record.
    async fn attempt(
        &self,
        context: &JobContext,
        job: &Claimed,
        kind: Kind,
        transactions: &Semaphore,
    ) -> Result<(), sqlx::Error> {
        let recorded = match kind.handler {
            Handler::InTransaction(handler) => {
                let _permit = transactions.acquire().await;
                let mut tx = context.pool.begin().await?;
                match handler(&mut tx, job, context).await {
                    Ok(attempt) => Ok(Recorded { tx, attempt }),
                    Err(error) => {
                        tx.rollback().await?;
                        Err(error)
                    }
                }
            }
            Handler::SendThenRecord(handler) => handler(job, context).await,
        };
        let now = context.clock.now();
        let Recorded { mut tx, attempt } = match recorded {
            Ok(recorded) => recorded,
            Err(error) => {
                // Nothing of this attempt is kept but its failure.
                let error = format!("{error:#}");
                let failed = db::fail_alone(&context.pool, job, &error, false, now).await?;
                log_failure(job, &error, failed);
                return Ok(());
            }
        };
        let kept = match &attempt {
            Attempt::Done => db::finish(&mut tx, job, now).await?,
            Attempt::Retry(error) | Attempt::GiveUp(error) => {
                let failed =
                    db::fail(&mut tx, job, error, matches!(attempt, Attempt::GiveUp(_)), now).await?;
                log_failure(job, error, failed);
                failed != Failed::LeaseLost
            }
        };
        if kept {
            tx.commit().await?;
        } else {
            tx.rollback().await?;
            tracing::warn!(job = job.job_id, kind = %job.kind, "lease lost: the job's work was rolled back");
        }
        Ok(())
    }
}

fn log_failure(job: &Claimed, error: &str, failed: Failed) {
    match failed {
        Failed::RetryAt(at) => {
            tracing::warn!(job = job.job_id, kind = %job.kind, %error, retry_at = %at, "job failed")
        }
        Failed::Dead => tracing::error!(job = job.job_id, kind = %job.kind, %error, "job dead"),
        Failed::LeaseLost => {}
    }
}

/// How long the loop waits for a NOTIFY before looking again (retries and
/// schedules come due without one).
const POLL: std::time::Duration = std::time::Duration::from_secs(5);

impl Runner {
    /// Ticks, then claims due jobs while this process has room, running
    /// each on a task of its own (so a slow send holds up only itself);
    /// returns how many it claimed.
    async fn claim_into(
        &self,
        context: &JobContext,
        room: &Arc<Semaphore>,
        transactions: &Arc<Semaphore>,
        finished: &Arc<tokio::sync::Notify>,
    ) -> Result<usize, sqlx::Error> {
        self.tick(context).await?;
        let kinds = self.kinds_for(context);
        let mut claimed = 0;
        while let Ok(permit) = room.clone().try_acquire_owned() {
            let Some(job) = db::claim(
                &context.pool,
                &self.worker,
                &kinds,
                self.lease,
                context.clock.now(),
            )
            .await?
            else {
                break;
            };
            claimed += 1;
            let (runner, context, transactions, finished) = (
                self.clone(),
                context.clone(),
                transactions.clone(),
                finished.clone(),
            );
            tokio::spawn(async move {
                if let Err(error) = runner.run(&context, job, &transactions).await {
                    tracing::error!(%error, "a job's outcome could not be recorded");
                }
                drop(permit);
                finished.notify_one();
            });
        }
        Ok(claimed)
    }
}

/// How long a stopping process waits for its running jobs; a job still
/// running then is left to its lease (another process takes it over, and
/// this one's late finish is fenced off).
pub const STOP_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Runs `runner` on this process until `stop` is cancelled (or the pool
/// closes): again at once while it finds work, else after a NOTIFY on the
/// job channel, a job finishing (room again), or five seconds. A lost listener
/// is connected again on the next round; meanwhile the loop polls. On stop
/// it claims nothing more and waits up to [`STOP_WAIT`] for the jobs it
/// runs.
pub fn spawn(
    runner: Runner,
    context: JobContext,
    stop: tokio_util::sync::CancellationToken,
) -> tokio::task::JoinHandle<()> {
    let runner = Arc::new(runner);
    let room = Arc::new(Semaphore::new(runner.in_flight));
    let transactions = Arc::new(Semaphore::new(runner.transactions_on(&context.pool)));
    let finished = Arc::new(tokio::sync::Notify::new());
    tokio::spawn(async move {
        let pool = context.pool.clone();
        let mut listener = None;
        while !stop.is_cancelled() && !pool.is_closed() {
            if listener.is_none() {
                listener = listen(&pool).await;
            }
            match runner.claim_into(&context, &room, &transactions, &finished).await {
                Ok(claimed) if claimed > 0 => continue,
                Ok(_) => {}
                Err(_) if pool.is_closed() || stop.is_cancelled() => break,
                Err(error) => tracing::error!(%error, "runner pass failed"),
            }
            let notified = async {
                match listener.as_mut() {
                    Some(listener) => listener.recv().await.map(|_| ()),
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                woken = tokio::time::timeout(POLL, notified) => {
                    if let Ok(Err(error)) = woken {
                        tracing::warn!(%error, "job listener lost; polling until it is back");
                        listener = None;
                    }
                }
                _ = finished.notified() => {}
                _ = stop.cancelled() => {}
            }
        }
        let all = u32::try_from(runner.in_flight).unwrap_or(u32::MAX);
        match tokio::time::timeout(STOP_WAIT, room.acquire_many(all)).await {
            Ok(_) => tracing::info!("job runner stopped"),
            Err(_) => tracing::warn!(
                running = runner.in_flight - room.available_permits(),
                "job runner stopped with jobs still running: their leases hand them on"
            ),
        }
    })
}

/// A listener on the job channel, or `None` (polling) when it cannot be had.
async fn listen(pool: &PgPool) -> Option<sqlx::postgres::PgListener> {
    let mut listener = sqlx::postgres::PgListener::connect_with(pool).await.ok()?;
    listener.listen(db::JOB_QUEUED_CHANNEL).await.ok()?;
    Some(listener)
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
