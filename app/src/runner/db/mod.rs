//! The runner's one claim, one lease, one backoff and one record, in
//! Postgres. Every decision takes its time from the caller (the injectable
//! clock), never from SQL's `now()`.

mod reads;

pub use reads::{
    JobRow, QueueRecord, RunRow, ScheduleRecord, dead_jobs, open_jobs, queue_records, recent_runs,
    schedule_records,
};

use super::domain::{Backoff, JOB_BACKOFF, JobState, RunOutcome, Schedule, due};
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::Value;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// The channel every process's runner listens on; a NOTIFY here wakes them.
pub const JOB_QUEUED_CHANNEL: &str = "gatehouse_job_queued";

/// A job to add.
#[derive(Debug, Clone)]
pub struct NewJob<'a> {
    /// What runs it.
    pub kind: &'a str,
    /// Enqueueing the same key of the same kind again makes no second job.
    pub dedup_key: Option<&'a str>,
    /// Its input.
    pub payload: Value,
    /// Not before then.
    pub run_at: DateTime<Utc>,
    /// Attempts before it is dead.
    pub max_attempts: i32,
}

/// Adds a job inside the caller's transaction (so it exists only if the
/// change that asks for it commits) and wakes every runner; `None` when its
/// dedup key was taken.
pub async fn enqueue(
    conn: &mut PgConnection,
    job: &NewJob<'_>,
    now: DateTime<Utc>,
) -> Result<Option<i64>, sqlx::Error> {
    // language=PostgreSQL
    let job_id = sqlx::query_scalar!(
        "insert into job (kind, dedup_key, payload, run_at, max_attempts, created_at)
         values ($1, $2, $3, $4, $5, $6)
         on conflict (kind, dedup_key) where dedup_key is not null do nothing
         returning job_id",
        job.kind,
        job.dedup_key,
        job.payload,
        job.run_at as _,
        job.max_attempts,
        now as _
    )
    .fetch_optional(&mut *conn)
    .await?;
    if job_id.is_some() {
        // language=PostgreSQL
        sqlx::query!("select pg_notify($1, $2)", JOB_QUEUED_CHANNEL, job.kind)
            .execute(&mut *conn)
            .await?;
    }
    Ok(job_id)
}

/// A job a worker holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Claimed {
    /// The job.
    pub job_id: i64,
    /// Its kind.
    pub kind: String,
    /// Its input.
    pub payload: Value,
    /// This attempt's number (1 for the first).
    pub attempt: i32,
    /// The attempts it may make: this one is its last when they are equal.
    pub max_attempts: i32,
    /// The lease this attempt holds; finishing needs it.
    pub lease_token: Uuid,
    /// How long its kind waits after a failed attempt (the runner sets its
    /// kind's; [`JOB_BACKOFF`] as claimed).
    pub backoff: Backoff,
}

impl Claimed {
    /// When this attempt, failing at `now`, is tried again.
    pub fn retry_at(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now + self.backoff.after(self.attempt)
    }

    /// Whether a failure of this attempt makes the job dead.
    pub fn is_last_attempt(&self) -> bool {
        self.attempt >= self.max_attempts
    }

    /// The item an item job works on (see [`enqueue_items`]).
    pub fn item(&self) -> Option<&str> {
        self.payload.get("item").and_then(Value::as_str)
    }
}

/// The claim's statement, its state words written in from [`JobState`]
/// once per process rather than bound: with them as literals PostgreSQL
/// caches one generic plan that reads the partial indexes on queued and
/// running jobs; bound, no generic plan can use those indexes, so it plans
/// every claim afresh (about 80 µs, most of an idle pass, measured by
/// `bench/runner`).
static CLAIM: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "with next as (
             select job_id, lease_token as lost_token from job
             where kind = any($1)
               and ((state = '{queued}' and run_at <= $2) or (state = '{running}' and lease_until <= $2))
             order by run_at, job_id
             limit 1
             for update skip locked
         )
         update job set state = '{running}', attempt = attempt + 1, lease_token = $3, lease_until = $4
         from next where job.job_id = next.job_id
         returning job.job_id, job.kind, job.payload, job.attempt, job.max_attempts, next.lost_token",
        queued = JobState::Queued.as_str(),
        running = JobState::Running.as_str(),
    )
});

/// A row the claim returns.
#[derive(sqlx::FromRow)]
struct ClaimedRow {
    job_id: i64,
    kind: String,
    payload: Value,
    attempt: i32,
    max_attempts: i32,
    lost_token: Option<Uuid>,
}

/// Claims the next due job of `kinds` for `lease`: a queued one whose time
/// has come, or a running one whose lease ended (its worker died or
/// stalled: that attempt is recorded as `lease_lost`). A job past its last
/// attempt this way is dead instead, and the next is looked for.
pub async fn claim(
    pool: &PgPool,
    worker: &str,
    kinds: &[String],
    lease: TimeDelta,
    now: DateTime<Utc>,
) -> Result<Option<Claimed>, sqlx::Error> {
    loop {
        let mut tx = pool.begin().await?;
        let token = Uuid::new_v4();
        let Some(row) = sqlx::query_as::<_, ClaimedRow>(&CLAIM)
            .bind(kinds)
            .bind(now)
            .bind(token)
            .bind(now + lease)
            .fetch_optional(&mut *tx)
            .await?
        else {
            return Ok(None);
        };
        if let Some(lost) = row.lost_token {
            // language=PostgreSQL
            sqlx::query!(
                "update job_run set outcome = $4, finished_at = $3, error = 'the lease ended before the job finished'
                 where job_id = $1 and lease_token = $2 and outcome is null",
                row.job_id,
                lost,
                now as _,
                RunOutcome::LeaseLost.as_str()
            )
            .execute(&mut *tx)
            .await?;
        }
        if row.attempt > row.max_attempts {
            // Its worker kept dying mid-job: it will not be tried again by itself.
            // language=PostgreSQL
            sqlx::query!(
                "update job set state = $3, lease_token = null, lease_until = null, finished_at = $2,
                        attempt = attempt - 1, last_error = coalesce(last_error, 'every attempt lost its lease')
                 where job_id = $1",
                row.job_id,
                now as _,
                JobState::Dead.as_str()
            )
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            continue;
        }
        // language=PostgreSQL
        sqlx::query!(
            "insert into job_run (job_id, attempt, worker, lease_token, started_at) values ($1, $2, $3, $4, $5)",
            row.job_id,
            row.attempt,
            worker,
            token,
            now as _
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        return Ok(Some(Claimed {
            job_id: row.job_id,
            kind: row.kind,
            payload: row.payload,
            attempt: row.attempt,
            max_attempts: row.max_attempts,
            lease_token: token,
            backoff: JOB_BACKOFF,
        }));
    }
}

/// Finishes a job in the transaction that did its work, fenced by the
/// lease: `false` (and nothing recorded) when the lease was lost, in which
/// case the caller must roll its transaction back.
pub async fn finish(conn: &mut PgConnection, job: &Claimed, now: DateTime<Utc>) -> Result<bool, sqlx::Error> {
    // language=PostgreSQL
    let finished = sqlx::query!(
        "update job set state = $4, lease_token = null, lease_until = null, finished_at = $3, last_error = null
         where job_id = $1 and lease_token = $2 and state = $5",
        job.job_id,
        job.lease_token,
        now as _,
        JobState::Succeeded.as_str(),
        JobState::Running.as_str()
    )
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1;
    if finished {
        // language=PostgreSQL
        sqlx::query!(
            "update job_run set outcome = $4, finished_at = $3 where job_id = $1 and lease_token = $2",
            job.job_id,
            job.lease_token,
            now as _,
            RunOutcome::Succeeded.as_str()
        )
        .execute(&mut *conn)
        .await?;
    }
    Ok(finished)
}

/// Extends a running job's lease to `until`, if this attempt still holds
/// it; returns whether it did.
pub async fn renew_lease(pool: &PgPool, job: &Claimed, until: DateTime<Utc>) -> Result<bool, sqlx::Error> {
    // language=PostgreSQL
    let renewed = sqlx::query!(
        "update job set lease_until = $3 where job_id = $1 and lease_token = $2 and state = $4",
        job.job_id,
        job.lease_token,
        until as _,
        JobState::Running.as_str()
    )
    .execute(pool)
    .await?
    .rows_affected();
    Ok(renewed == 1)
}

/// What became of a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failed {
    /// Queued again for then.
    RetryAt(DateTime<Utc>),
    /// Out of attempts: dead, kept and shown.
    Dead,
    /// The lease was already lost: another attempt owns the job.
    LeaseLost,
}

/// Records a failed attempt in `conn` (the transaction that also records
/// what the attempt did), fenced by its lease: queued again after its
/// kind's backoff counted from `now`, or dead after its last attempt (or at
/// once when `give_up`: no retry can succeed).
pub async fn fail(
    conn: &mut PgConnection,
    job: &Claimed,
    error: &str,
    give_up: bool,
    now: DateTime<Utc>,
) -> Result<Failed, sqlx::Error> {
    let error: String = error.chars().take(2000).collect();
    let retry_at = job.retry_at(now);
    // language=PostgreSQL
    let Some(dead) = sqlx::query_scalar!(
        r#"update job set
               state = case when $6 or attempt >= max_attempts then $7 else $8 end,
               run_at = case when $6 or attempt >= max_attempts then run_at else $3 end,
               finished_at = case when $6 or attempt >= max_attempts then $4::timestamptz end,
               lease_token = null, lease_until = null, last_error = $5
           where job_id = $1 and lease_token = $2 and state = $9
           returning state = $7 as "dead!""#,
        job.job_id,
        job.lease_token,
        retry_at as _,
        now as _,
        error,
        give_up,
        JobState::Dead.as_str(),
        JobState::Queued.as_str(),
        JobState::Running.as_str()
    )
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(Failed::LeaseLost);
    };
    // language=PostgreSQL
    sqlx::query!(
        "update job_run set outcome = $3, finished_at = $4, error = $5 where job_id = $1 and lease_token = $2",
        job.job_id,
        job.lease_token,
        if dead { RunOutcome::Dead } else { RunOutcome::Failed }.as_str(),
        now as _,
        error
    )
    .execute(&mut *conn)
    .await?;
    Ok(if dead {
        Failed::Dead
    } else {
        Failed::RetryAt(retry_at)
    })
}

/// [`fail`] in a transaction of its own (the attempt's work was rolled back).
pub async fn fail_alone(
    pool: &PgPool,
    job: &Claimed,
    error: &str,
    give_up: bool,
    now: DateTime<Utc>,
) -> Result<Failed, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let failed = fail(&mut tx, job, error, give_up, now).await?;
    tx.commit().await?;
    Ok(failed)
}

/// Adds a job of `kind` for each of `items` (an email, a delivery, an
/// event: its id, kept in the payload as `item`) that has no open job of
/// that kind yet, due at `run_at`, in the caller's transaction, and wakes
/// every runner. Returns how many were added.
pub async fn enqueue_items(
    conn: &mut PgConnection,
    kind: &str,
    items: &[String],
    run_at: DateTime<Utc>,
    max_attempts: i32,
    now: DateTime<Utc>,
) -> Result<u64, sqlx::Error> {
    if items.is_empty() {
        return Ok(0);
    }
    // language=PostgreSQL
    let added = sqlx::query!(
        "insert into job (kind, payload, run_at, max_attempts, created_at)
         select $1, jsonb_build_object('item', i.item), $3, $4, $5 from unnest($2::text[]) as i(item)
         where not exists (select from job j where j.kind = $1 and j.state = any($6)
                                                and j.payload ->> 'item' = i.item)",
        kind,
        items,
        run_at as _,
        max_attempts,
        now as _,
        &JobState::words_where(JobState::is_unfinished) as &[&str]
    )
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if added > 0 {
        // language=PostgreSQL
        sqlx::query!("select pg_notify($1, $2)", JOB_QUEUED_CHANNEL, kind)
            .execute(&mut *conn)
            .await?;
    }
    Ok(added)
}

/// Why a dead job cannot be retried.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RetryRefused {
    /// No job has the id.
    #[error("no job {0}")]
    NoSuchJob(i64),
    /// Only a dead job is retried.
    #[error("job {0} is {1}, not dead: only a dead job can be retried")]
    NotDead(i64, String),
}

/// How many jobs are dead (waiting for an operator's retry).
pub async fn dead_count(pool: &PgPool) -> Result<i64, sqlx::Error> {
    // language=PostgreSQL
    sqlx::query_scalar!(
        r#"select count(*) as "dead!" from job where state = $1"#,
        JobState::Dead.as_str()
    )
    .fetch_one(pool)
    .await
}

/// A job's kind and the item its payload names (`{"item": id}`), if it
/// names one.
pub async fn job_item(conn: &mut PgConnection, job_id: i64) -> Result<Option<(String, Uuid)>, sqlx::Error> {
    // language=PostgreSQL
    let job = sqlx::query!(
        "select kind, payload ->> 'item' as item from job where job_id = $1",
        job_id
    )
    .fetch_optional(conn)
    .await?;
    Ok(job.and_then(|job| Some((job.kind, Uuid::parse_str(&job.item?).ok()?))))
}

/// Queues a dead job again, now, with a fresh set of attempts.
pub async fn retry_dead(
    conn: &mut PgConnection,
    job_id: i64,
    now: DateTime<Utc>,
) -> Result<Result<(), RetryRefused>, sqlx::Error> {
    // language=PostgreSQL
    let Some(state) = sqlx::query_scalar!("select state from job where job_id = $1 for update", job_id)
        .fetch_optional(&mut *conn)
        .await?
    else {
        return Ok(Err(RetryRefused::NoSuchJob(job_id)));
    };
    if state != JobState::Dead.as_str() {
        return Ok(Err(RetryRefused::NotDead(job_id, state)));
    }
    // language=PostgreSQL
    sqlx::query!(
        "update job set state = $3, run_at = $2, max_attempts = attempt + max_attempts, finished_at = null
         where job_id = $1",
        job_id,
        now as _,
        JobState::Queued.as_str()
    )
    .execute(&mut *conn)
    .await?;
    // language=PostgreSQL
    sqlx::query!("select pg_notify($1, 'retry')", JOB_QUEUED_CHANNEL)
        .execute(&mut *conn)
        .await?;
    Ok(Ok(()))
}

/// Ticks `schedule` at `now`: each due period gets its job (deduplicated by
/// the period) exactly once across every process, and skipped periods are
/// recorded. Returns the jobs made.
pub async fn tick(pool: &PgPool, schedule: &Schedule, now: DateTime<Utc>) -> Result<Vec<i64>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    // language=PostgreSQL
    let last = sqlx::query_scalar!(
        r#"select max(period_start) as "last: DateTime<Utc>" from schedule_tick where schedule = $1"#,
        schedule.name
    )
    .fetch_one(&mut *tx)
    .await?;
    let due = due(schedule, last, now);
    let mut made = Vec::new();
    for period in due.run {
        // language=PostgreSQL
        let ticked = sqlx::query!(
            "insert into schedule_tick (schedule, period_start, ticked_at) values ($1, $2, $3)
             on conflict do nothing",
            schedule.name,
            period as _,
            now as _
        )
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if !ticked {
            continue;
        }
        let key = period.to_rfc3339();
        let job = NewJob {
            kind: schedule.name,
            dedup_key: Some(&key),
            payload: serde_json::json!({ "period_start": key }),
            run_at: now,
            max_attempts: 8,
        };
        if let Some(job_id) = enqueue(&mut tx, &job, now).await? {
            // language=PostgreSQL
            sqlx::query!(
                "update schedule_tick set job_id = $3 where schedule = $1 and period_start = $2",
                schedule.name,
                period as _,
                job_id
            )
            .execute(&mut *tx)
            .await?;
            made.push(job_id);
        }
    }
    for period in due.skipped {
        // language=PostgreSQL
        sqlx::query!(
            "insert into schedule_tick (schedule, period_start, ticked_at) values ($1, $2, $3) on conflict do nothing",
            schedule.name,
            period as _,
            now as _
        )
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(made)
}

/// Queues a one-off job of `kind` (a schedule's "run now"), due at `now`,
/// beside whatever its schedule made; tried once. Returns its id.
pub async fn run_now(conn: &mut PgConnection, kind: &str, now: DateTime<Utc>) -> Result<i64, sqlx::Error> {
    let key = format!("manual:{}", Uuid::new_v4());
    let job = NewJob {
        kind,
        dedup_key: Some(&key),
        payload: serde_json::json!({ "manual": true }),
        run_at: now,
        max_attempts: 1,
    };
    // A fresh key is never taken.
    Ok(enqueue(conn, &job, now).await?.unwrap_or_default())
}

/// Removes succeeded and cancelled jobs (and their runs) finished before
/// `before`; dead jobs stay until someone retries or looks at them.
/// Returns how many jobs went.
pub async fn remove_finished_before(
    conn: &mut PgConnection,
    before: DateTime<Utc>,
) -> Result<u64, sqlx::Error> {
    // language=PostgreSQL
    let removed = sqlx::query!(
        "delete from job where state = any($2) and finished_at < $1",
        before as _,
        &JobState::words_where(JobState::is_settled) as &[&str]
    )
    .execute(&mut *conn)
    .await?
    .rows_affected();
    // language=PostgreSQL
    sqlx::query!(
        "delete from schedule_tick where ticked_at < $1 and job_id is null",
        before as _
    )
    .execute(&mut *conn)
    .await?;
    Ok(removed)
}
