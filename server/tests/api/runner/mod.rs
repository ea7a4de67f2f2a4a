//! The job runner against a real database: schedules ticked by racing
//! processes make one job a period; a worker whose lease ran out can never
//! finish (its work rolls back); failures back off from the failure and end
//! dead, kept and retryable; a seeded storm and a proptest state machine
//! (shrinking to the smallest failing sequence) of claims, finishes,
//! crashes and lease expiries across workers applies each job's effect
//! exactly once.

use app::clock::Clock;
use app::runner::db::{self, Claimed, Failed, NewJob, RetryRefused};
use app::runner::domain::{CatchUp, Schedule, backoff, period_start};
use chrono::TimeDelta;
use server::runner::{Attempt, HandlerFuture, JobContext, Runner};
use sqlx::{PgConnection, PgPool};

const HOURLY: Schedule = Schedule {
    name: "test.hourly",
    every: TimeDelta::hours(1),
    catch_up: CatchUp::All { cap: 3 },
};

fn kinds() -> Vec<String> {
    vec!["test.effect".to_owned(), HOURLY.name.to_owned()]
}

async fn effects_table(pool: &PgPool) {
    sqlx::query("create table test_effect (job_id bigint primary key, applied_by text not null)")
        .execute(pool)
        .await
        .unwrap();
}

async fn count(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

async fn new_job(pool: &PgPool, clock: &Clock, dedup: Option<&str>, max_attempts: i32) -> Option<i64> {
    let mut tx = pool.begin().await.unwrap();
    let job = NewJob {
        kind: "test.effect",
        dedup_key: dedup,
        payload: serde_json::json!({}),
        run_at: clock.now(),
        max_attempts,
    };
    let id = db::enqueue(&mut tx, &job, clock.now()).await.unwrap();
    tx.commit().await.unwrap();
    id
}

/// The job's effect, applied in its transaction (a second apply would break
/// the primary key, so "exactly once" is checked by the table itself).
async fn apply(conn: &mut PgConnection, job: &Claimed, worker: &str) {
    sqlx::query("insert into test_effect (job_id, applied_by) values ($1, $2)")
        .bind(job.job_id)
        .bind(worker)
        .execute(conn)
        .await
        .unwrap();
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn processes_racing_a_tick_make_one_job_a_period(pool: PgPool) {
    let clock = Clock::shifted();
    let ticks = (0..8).map(|_| {
        let (pool, clock) = (pool.clone(), clock.clone());
        async move { db::tick(&pool, &HOURLY, clock.now()).await.unwrap().len() }
    });
    let made: usize = futures::future::join_all(ticks).await.into_iter().sum();
    assert_eq!(made, 1);
    // The same period again on every process, and a clock behind: nothing new.
    assert!(db::tick(&pool, &HOURLY, clock.now()).await.unwrap().is_empty());
    assert!(
        db::tick(&pool, &HOURLY, clock.now() - TimeDelta::hours(3))
            .await
            .unwrap()
            .is_empty()
    );
    // Ten hours of downtime: the last three periods (its cap), each once.
    clock.advance(TimeDelta::hours(10));
    let racing = (0..4).map(|_| {
        let (pool, clock) = (pool.clone(), clock.clone());
        async move { db::tick(&pool, &HOURLY, clock.now()).await.unwrap().len() }
    });
    let made: usize = futures::future::join_all(racing).await.into_iter().sum();
    assert_eq!(made, 3);
    assert_eq!(count(&pool, "select count(*) from job").await, 4);
    let latest = Schedule {
        name: "test.latest",
        catch_up: CatchUp::Latest,
        ..HOURLY
    };
    db::tick(&pool, &latest, clock.now() - TimeDelta::hours(5))
        .await
        .unwrap();
    assert_eq!(db::tick(&pool, &latest, clock.now()).await.unwrap().len(), 1);
    let skipped = count(
        &pool,
        "select count(*) from schedule_tick where schedule = 'test.latest' and job_id is null",
    )
    .await;
    assert_eq!(skipped, 4, "the missed periods are recorded as skipped, not run");
    let current = period_start(HOURLY.every, clock.now());
    let last: chrono::DateTime<chrono::Utc> =
        sqlx::query_scalar("select max(period_start) from schedule_tick where schedule = 'test.hourly'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(last, current);
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn a_worker_whose_lease_ran_out_cannot_finish_and_its_work_rolls_back(pool: PgPool) {
    effects_table(&pool).await;
    let clock = Clock::shifted();
    let job_id = new_job(&pool, &clock, Some("once"), 5).await.unwrap();
    assert_eq!(
        new_job(&pool, &clock, Some("once"), 5).await,
        None,
        "deduplicated"
    );
    let lease = TimeDelta::seconds(30);
    let slow = db::claim(&pool, "slow", &kinds(), lease, clock.now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((slow.job_id, slow.attempt), (job_id, 1));
    assert!(
        db::claim(&pool, "fast", &kinds(), lease, clock.now())
            .await
            .unwrap()
            .is_none(),
        "leased"
    );
    // The slow worker stalls past its lease; another takes the job over.
    clock.advance(TimeDelta::seconds(31));
    let fast = db::claim(&pool, "fast", &kinds(), lease, clock.now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((fast.job_id, fast.attempt), (job_id, 2));
    let mut fast_tx = pool.begin().await.unwrap();
    apply(&mut fast_tx, &fast, "fast").await;
    assert!(db::finish(&mut fast_tx, &fast, clock.now()).await.unwrap());
    fast_tx.commit().await.unwrap();
    // The slow worker wakes: it may neither finish nor fail the job.
    let mut slow_tx = pool.begin().await.unwrap();
    assert!(!db::finish(&mut slow_tx, &slow, clock.now()).await.unwrap());
    slow_tx.rollback().await.unwrap();
    assert_eq!(
        db::fail_alone(&pool, &slow, "late", false, clock.now())
            .await
            .unwrap(),
        Failed::LeaseLost
    );
    let applied: Vec<String> = sqlx::query_scalar("select applied_by from test_effect")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(applied, ["fast"]);
    let runs: Vec<(i32, String, Option<String>)> =
        sqlx::query_as("select attempt, worker, outcome from job_run order by attempt")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(
        runs,
        [
            (1, "slow".to_owned(), Some("lease_lost".to_owned())),
            (2, "fast".to_owned(), Some("succeeded".to_owned()))
        ]
    );
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn failures_back_off_from_the_failure_then_the_job_is_dead_kept_and_retryable(pool: PgPool) {
    let clock = Clock::shifted();
    let job_id = new_job(&pool, &clock, None, 3).await.unwrap();
    let lease = TimeDelta::minutes(5);
    for attempt in 1..=3 {
        // Each attempt runs late, long after it was due: the wait counts from the failure.
        clock.advance(TimeDelta::hours(2));
        let job = db::claim(&pool, "w", &kinds(), lease, clock.now())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(job.attempt, attempt);
        let failed_at = clock.now();
        let failed = db::fail_alone(&pool, &job, &format!("boom {attempt}"), false, failed_at)
            .await
            .unwrap();
        if attempt < 3 {
            assert_eq!(failed, Failed::RetryAt(failed_at + backoff(attempt)));
            assert!(
                db::claim(&pool, "w", &kinds(), lease, clock.now())
                    .await
                    .unwrap()
                    .is_none(),
                "not yet due"
            );
        } else {
            assert_eq!(failed, Failed::Dead);
        }
    }
    clock.advance(TimeDelta::days(1));
    assert!(
        db::claim(&pool, "w", &kinds(), lease, clock.now())
            .await
            .unwrap()
            .is_none(),
        "dead stays dead"
    );
    let (state, error): (String, String) =
        sqlx::query_as("select state, last_error from job where job_id = $1")
            .bind(job_id)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!((state.as_str(), error.as_str()), ("dead", "boom 3"));

    let mut conn = pool.acquire().await.unwrap();
    assert_eq!(
        db::retry_dead(&mut conn, job_id, clock.now()).await.unwrap(),
        Ok(())
    );
    assert_eq!(
        db::retry_dead(&mut conn, job_id, clock.now()).await.unwrap(),
        Err(RetryRefused::NotDead(job_id, "queued".into()))
    );
    assert_eq!(
        db::retry_dead(&mut conn, 999_999, clock.now()).await.unwrap(),
        Err(RetryRefused::NoSuchJob(999_999))
    );
    let again = db::claim(&pool, "w", &kinds(), lease, clock.now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.attempt, 4, "a fresh set of attempts after the retry");
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn a_job_whose_workers_keep_dying_ends_dead_instead_of_looping(pool: PgPool) {
    let clock = Clock::shifted();
    let job_id = new_job(&pool, &clock, None, 2).await.unwrap();
    let lease = TimeDelta::seconds(10);
    for _ in 0..2 {
        assert!(
            db::claim(&pool, "w", &kinds(), lease, clock.now())
                .await
                .unwrap()
                .is_some()
        );
        clock.advance(TimeDelta::seconds(11)); // crashed mid-job
    }
    assert!(
        db::claim(&pool, "w", &kinds(), lease, clock.now())
            .await
            .unwrap()
            .is_none()
    );
    let state: String = sqlx::query_scalar("select state from job where job_id = $1")
        .bind(job_id)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(state, "dead");
    assert_eq!(
        count(&pool, "select count(*) from job_run where outcome = 'lease_lost'").await,
        2
    );
}

/// A tiny deterministic generator, so a failing storm can be replayed.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % below
    }
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn a_storm_of_claims_finishes_crashes_and_expiries_applies_each_job_once(pool: PgPool) {
    effects_table(&pool).await;
    for seed in [7_u64, 42, 1234] {
        sqlx::query("truncate job, job_run, test_effect, schedule_tick")
            .execute(&pool)
            .await
            .unwrap();
        let clock = Clock::shifted();
        let mut random = Lcg(seed);
        for n in 0..25 {
            new_job(&pool, &clock, Some(&format!("j-{n}")), 100)
                .await
                .unwrap();
        }
        let lease = TimeDelta::seconds(20);
        // Each simulated worker holds at most one job. Finishing is fenced
        // by the lease, and the effect is applied in the finishing
        // transaction, so it exists only if the finish held.
        async fn try_finish(pool: &PgPool, job: &Claimed, worker: &str, clock: &Clock) {
            let mut tx = pool.begin().await.unwrap();
            if db::finish(&mut tx, job, clock.now()).await.unwrap() {
                apply(&mut tx, job, worker).await;
                tx.commit().await.unwrap();
            } else {
                tx.rollback().await.unwrap();
            }
        }
        let mut held: Vec<Option<Claimed>> = vec![None; 4];
        for _ in 0..400 {
            let worker = random.next(4) as usize;
            let name = format!("w{worker}");
            match (held[worker].take(), random.next(4)) {
                (None, _) => {
                    held[worker] = db::claim(&pool, &name, &kinds(), lease, clock.now())
                        .await
                        .unwrap()
                }
                (Some(job), 0 | 1) => try_finish(&pool, &job, &name, &clock).await,
                // Crash: the job stays leased until its lease ends.
                (Some(_), 2) => {}
                // Stall: time passes while the worker holds the job.
                (Some(job), _) => {
                    held[worker] = Some(job);
                    clock.advance(TimeDelta::seconds(random.next(30) as i64));
                }
            }
        }
        for (worker, slot) in held.iter_mut().enumerate() {
            if let Some(job) = slot.take() {
                try_finish(&pool, &job, &format!("w{worker}"), &clock).await;
            }
        }
        // Drain what is left with a well-behaved runner, long after every lease.
        clock.advance(TimeDelta::minutes(5));
        while let Some(job) = db::claim(&pool, "drain", &kinds(), lease, clock.now())
            .await
            .unwrap()
        {
            try_finish(&pool, &job, "drain", &clock).await;
        }
        assert_eq!(
            count(&pool, "select count(*) from test_effect").await,
            25,
            "seed {seed}"
        );
        assert_eq!(
            count(&pool, "select count(*) from job where state = 'succeeded'").await,
            25,
            "seed {seed}"
        );
        // Every succeeded job's effect came from the attempt recorded as succeeded.
        let mismatched = count(
            &pool,
            "select count(*) from test_effect e join job_run r on r.job_id = e.job_id and r.outcome = 'succeeded'
             where r.worker <> e.applied_by",
        )
        .await;
        assert_eq!(mismatched, 0, "seed {seed}");
        // No finish after a lost lease: the attempt that succeeded is the job's last.
        let stale = count(
            &pool,
            "select count(*) from job j join job_run r on r.job_id = j.job_id and r.outcome = 'succeeded'
             where r.attempt <> j.attempt",
        )
        .await;
        assert_eq!(stale, 0, "seed {seed}");
        let lost = count(&pool, "select count(*) from job_run where outcome = 'lease_lost'").await;
        assert!(lost > 0, "seed {seed}: the storm lost some leases");
    }
}

fn effect<'a>(conn: &'a mut PgConnection, job: &'a Claimed, _: &'a JobContext) -> HandlerFuture<'a, Attempt> {
    Box::pin(async move {
        if job.payload["fail"] == true {
            anyhow::bail!("asked to fail");
        }
        apply(conn, job, "runner").await;
        Ok(Attempt::Done)
    })
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn the_runner_runs_handlers_in_the_finishing_transaction(pool: PgPool) {
    effects_table(&pool).await;
    let clock = Clock::shifted();
    let context = JobContext::with_sandbox_provider(
        pool.clone(),
        clock.clone(),
        app::flows::FlowContext {
            notices: app::billing::trials::Notices {
                brand: app::email::templates::Brand::new("Test", "#4338ca"),
                public_url: "http://127.0.0.1".into(),
            },
            license_keys: None,
        },
    );
    let runner = Runner::new("r")
        .schedule(HOURLY, effect)
        .handle("test.effect", effect);
    new_job(&pool, &clock, Some("a"), 3).await;
    let mut tx = pool.begin().await.unwrap();
    let failing = NewJob {
        kind: "test.effect",
        dedup_key: Some("b"),
        payload: serde_json::json!({"fail": true}),
        run_at: clock.now(),
        max_attempts: 1,
    };
    db::enqueue(&mut tx, &failing, clock.now()).await.unwrap();
    tx.commit().await.unwrap();
    assert!(runner.pass(&context).await.unwrap());
    // The schedule's job and job "a" applied; job "b" failed its only attempt.
    assert_eq!(count(&pool, "select count(*) from test_effect").await, 2);
    assert_eq!(
        count(&pool, "select count(*) from job where state = 'dead'").await,
        1
    );
    assert!(!runner.pass(&context).await.unwrap(), "nothing left this period");
    clock.advance(TimeDelta::hours(1));
    assert!(runner.pass(&context).await.unwrap(), "the next period");
    assert_eq!(count(&pool, "select count(*) from test_effect").await, 3);
}

mod state_machine;

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn expired_sessions_are_removed_by_the_runner_by_its_clock(pool: PgPool) {
    let app = crate::helpers::TestApp::spawn(pool.clone()).await;
    let now = app.state.clock.now();
    for (id, expires) in [
        ("expired-long-ago", now - TimeDelta::days(30)),
        ("expired-just-now", now - TimeDelta::seconds(1)),
        ("still-valid", now + TimeDelta::hours(1)),
    ] {
        sqlx::query("insert into tower_sessions.session (id, data, expiry_date) values ($1, '\\x00', $2)")
            .bind(id)
            .bind(expires)
            .execute(&pool)
            .await
            .unwrap();
    }
    app.run_due_work().await;
    let left: Vec<String> = sqlx::query_scalar("select id from tower_sessions.session order by id")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(left, ["still-valid"]);
    // An hour on (the runner's clock, not the wall's), the last one has expired too.
    assert!(app.state.clock.advance(TimeDelta::hours(2)));
    app.run_due_work().await;
    let left: i64 = sqlx::query_scalar("select count(*) from tower_sessions.session")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(left, 0);
    let runs = db::recent_runs(&pool, false, 100).await.unwrap();
    assert_eq!(
        runs.iter()
            .filter(|r| r.kind == "sessions.cleanup" && r.outcome.as_deref() == Some("succeeded"))
            .count(),
        2,
        "each period's sweep recorded as a run"
    );
}
