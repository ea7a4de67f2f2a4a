//! What the console's work page reads of the runner: open, dead and recent
//! jobs, each schedule's record and each queue's depth.

use crate::runner::domain::{JobState, RunOutcome};
use chrono::{DateTime, Utc};
use sqlx::PgPool;

/// A job as an operator sees it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct JobRow {
    /// The job.
    pub job_id: i64,
    /// Its kind.
    pub kind: String,
    /// `queued`, `running`, `succeeded`, `dead` or `cancelled`.
    pub state: String,
    /// Attempts so far.
    pub attempt: i32,
    /// When it is (or was) due.
    pub run_at: DateTime<Utc>,
    /// The last failure's message.
    pub last_error: Option<String>,
}

/// The jobs not yet succeeded (queued, running, dead), oldest due first.
pub async fn open_jobs(pool: &PgPool, limit: i64) -> Result<Vec<JobRow>, sqlx::Error> {
    // language=PostgreSQL
    sqlx::query_as!(
        JobRow,
        r#"select job_id, kind, state, attempt, run_at as "run_at: DateTime<Utc>", last_error
           from job where state = any($2) order by run_at, job_id limit $1"#,
        limit,
        &JobState::words_where(|state| !state.is_settled()) as &[&str]
    )
    .fetch_all(pool)
    .await
}

/// One attempt, as an operator sees it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RunRow {
    /// The job.
    pub job_id: i64,
    /// Its kind.
    pub kind: String,
    /// Which attempt.
    pub attempt: i32,
    /// The worker that made it.
    pub worker: String,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it ended, if it has.
    pub finished_at: Option<DateTime<Utc>>,
    /// `succeeded`, `failed`, `lease_lost`, `dead`, or none while running.
    pub outcome: Option<String>,
    /// What failed.
    pub error: Option<String>,
}

/// The latest attempts, newest first; only the ones that did not succeed
/// when `failed_only`.
pub async fn recent_runs(pool: &PgPool, failed_only: bool, limit: i64) -> Result<Vec<RunRow>, sqlx::Error> {
    // language=PostgreSQL
    sqlx::query_as!(
        RunRow,
        r#"select r.job_id, j.kind, r.attempt, r.worker, r.started_at as "started_at: DateTime<Utc>",
                  r.finished_at as "finished_at: DateTime<Utc>", r.outcome, r.error
           from job_run r join job j using (job_id)
           where not $1 or r.outcome = any($3)
           order by r.started_at desc, r.job_run_id desc limit $2"#,
        failed_only,
        limit,
        &RunOutcome::words_where(RunOutcome::is_failure) as &[&str]
    )
    .fetch_all(pool)
    .await
}

/// A schedule as its record says: the latest period ticked and how its
/// latest job ended.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ScheduleRecord {
    /// The schedule.
    pub name: String,
    /// The latest period that has a job (or was skipped).
    pub last_period: Option<DateTime<Utc>>,
    /// The latest job's state: `queued`, `running`, `succeeded`, `dead`.
    pub last_state: Option<String>,
    /// When the latest finished job finished.
    pub last_finished_at: Option<DateTime<Utc>>,
    /// The latest job's last error, if it failed.
    pub last_error: Option<String>,
}

/// The record of each schedule in `names`, in that order.
pub async fn schedule_records(pool: &PgPool, names: &[String]) -> Result<Vec<ScheduleRecord>, sqlx::Error> {
    // language=PostgreSQL
    sqlx::query_as!(
        ScheduleRecord,
        r#"
        select n.name as "name!",
               (select max(t.period_start) from schedule_tick t where t.schedule = n.name)
                   as "last_period: DateTime<Utc>",
               j.state as "last_state?", j.finished_at as "last_finished_at?: DateTime<Utc>",
               j.last_error as "last_error?"
        from unnest($1::text[]) with ordinality as n(name, position)
        left join lateral (select state, finished_at, last_error from job
                           where kind = n.name order by job_id desc limit 1) j on true
        order by n.position
        "#,
        names
    )
    .fetch_all(pool)
    .await
}

/// One kind's queue at a moment.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct QueueRecord {
    /// The kind.
    pub kind: String,
    /// Queued and due.
    pub due: i64,
    /// Queued for later.
    pub scheduled: i64,
    /// Held by a worker.
    pub running: i64,
    /// Dead, waiting for someone.
    pub dead: i64,
    /// The oldest due job's due time.
    pub oldest_due: Option<DateTime<Utc>>,
}

/// Every kind with open work at `now`.
pub async fn queue_records(pool: &PgPool, now: DateTime<Utc>) -> Result<Vec<QueueRecord>, sqlx::Error> {
    // language=PostgreSQL
    sqlx::query_as!(
        QueueRecord,
        r#"
        select kind,
               count(*) filter (where state = $2 and run_at <= $1) as "due!",
               count(*) filter (where state = $2 and run_at > $1) as "scheduled!",
               count(*) filter (where state = $3) as "running!",
               count(*) filter (where state = $4) as "dead!",
               min(run_at) filter (where state = $2 and run_at <= $1) as "oldest_due: DateTime<Utc>"
        from job where state = any($5)
        group by kind order by kind
        "#,
        now as _,
        JobState::Queued.as_str(),
        JobState::Running.as_str(),
        JobState::Dead.as_str(),
        &JobState::words_where(|state| !state.is_settled()) as &[&str]
    )
    .fetch_all(pool)
    .await
}

/// The dead jobs, newest first.
pub async fn dead_jobs(pool: &PgPool, limit: i64) -> Result<Vec<JobRow>, sqlx::Error> {
    // language=PostgreSQL
    sqlx::query_as!(
        JobRow,
        r#"select job_id, kind, state, attempt, run_at as "run_at: DateTime<Utc>", last_error
           from job where state = $2 order by finished_at desc, job_id desc limit $1"#,
        limit,
        JobState::Dead.as_str()
    )
    .fetch_all(pool)
    .await
}
