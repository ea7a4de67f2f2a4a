//! The runner's queue as a proptest state machine: random interleavings
//! of schedule ticks, claims, fenced finishes, crashes and time passing
//! (which ends leases) across four simulated workers, shrunk to the
//! smallest failing sequence if any breaks a rule. Runs in its own
//! database (proptest drives it synchronously, so not `sqlx::test`).

use super::*;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

const MINUTELY: Schedule = Schedule {
    name: "test.minutely",
    every: TimeDelta::minutes(1),
    catch_up: CatchUp::All { cap: 1000 },
};
const WORKERS: usize = 4;

#[derive(Debug, Clone)]
enum Op {
    Tick,
    Claim(usize),
    Finish(usize),
    Crash(usize),
    Wait(i64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        Just(Op::Tick),
        (0..WORKERS).prop_map(Op::Claim),
        (0..WORKERS).prop_map(Op::Finish),
        (0..WORKERS).prop_map(Op::Crash),
        (1_i64..45).prop_map(Op::Wait),
    ]
}

async fn fresh_database(url: &str, name: &str) -> (PgPool, PgPool) {
    let (address, query) = url.split_once('?').unwrap_or((url, ""));
    let separator = if query.is_empty() { "" } else { "?" };
    let own = format!("{}/{name}{separator}{query}", address.rsplit_once('/').unwrap().0);
    let maintenance = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(url)
        .await
        .unwrap();
    sqlx::query(&format!("create database {name}"))
        .execute(&maintenance)
        .await
        .unwrap();
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(4)
        .connect(&own)
        .await
        .unwrap();
    server::MIGRATOR.run(&pool).await.unwrap();
    effects_table(&pool).await;
    (pool, maintenance)
}

async fn finish(pool: &PgPool, job: &Claimed, worker: &str, clock: &Clock) {
    let mut tx = pool.begin().await.unwrap();
    if db::finish(&mut tx, job, clock.now()).await.unwrap() {
        apply(&mut tx, job, worker).await;
        tx.commit().await.unwrap();
    } else {
        tx.rollback().await.unwrap();
    }
}

async fn check(pool: &PgPool, ops: &[Op]) -> Result<(), String> {
    sqlx::query("truncate job, job_run, test_effect, schedule_tick")
        .execute(pool)
        .await
        .unwrap();
    let clock = Clock::shifted();
    clock.set(
        chrono::DateTime::parse_from_rfc3339("2027-01-01T00:00:30Z")
            .unwrap()
            .to_utc(),
    );
    let kinds = vec![MINUTELY.name.to_owned()];
    let lease = TimeDelta::seconds(20);
    let mut held: Vec<Option<Claimed>> = vec![None; WORKERS];
    for op in ops {
        match op {
            Op::Tick => {
                db::tick(pool, &MINUTELY, clock.now()).await.unwrap();
            }
            Op::Claim(w) if held[*w].is_none() => {
                held[*w] = db::claim(pool, &format!("w{w}"), &kinds, lease, clock.now())
                    .await
                    .unwrap();
            }
            Op::Finish(w) => {
                if let Some(job) = held[*w].take() {
                    finish(pool, &job, &format!("w{w}"), &clock).await;
                }
            }
            Op::Crash(w) => held[*w] = None,
            Op::Wait(seconds) => {
                clock.advance(TimeDelta::seconds(*seconds));
            }
            Op::Claim(_) => {}
        }
    }
    // Long after every lease, a well-behaved worker drains the rest.
    clock.advance(TimeDelta::minutes(10));
    while let Some(job) = db::claim(pool, "drain", &kinds, lease, clock.now())
        .await
        .unwrap()
    {
        finish(pool, &job, "drain", &clock).await;
    }
    let one = |sql: &'static str| async move { count(pool, sql).await };
    let periods = one("select count(*) from schedule_tick where job_id is not null").await;
    let jobs = one("select count(*) from job").await;
    let effects = one("select count(*) from test_effect").await;
    let succeeded = one("select count(*) from job where state = 'succeeded'").await;
    let dead = one("select count(*) from job where state = 'dead'").await;
    let stale = one(
        "select count(*) from job j join job_run r on r.job_id = j.job_id and r.outcome = 'succeeded'
         where r.attempt <> j.attempt",
    )
    .await;
    let wrong_worker = one(
        "select count(*) from test_effect e join job_run r on r.job_id = e.job_id and r.outcome = 'succeeded'
         where r.worker <> e.applied_by",
    )
    .await;
    let checks = [
        (periods == jobs, "one job per ticked period"),
        (
            effects == succeeded,
            "one effect per succeeded job, none for the rest",
        ),
        (succeeded + dead == jobs, "every job ends succeeded or dead"),
        (stale == 0, "no finish after a lost lease"),
        (wrong_worker == 0, "the effect is the succeeding attempt's"),
    ];
    match checks.iter().find(|(held, _)| !held) {
        Some((_, rule)) => Err(format!(
            "{rule}: periods {periods}, jobs {jobs}, effects {effects}, succeeded {succeeded}, dead {dead}, stale {stale}"
        )),
        None => Ok(()),
    }
}

#[test]
fn random_interleavings_apply_one_effect_per_period_and_never_finish_after_a_lost_lease() {
    let url = std::env::var("DATABASE_URL").expect("DATABASE_URL");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let name = format!("gatehouse_runner_sm_{}", uuid::Uuid::new_v4().simple());
    let (pool, maintenance) = runtime.block_on(fresh_database(&url, &name));
    let mut runner = TestRunner::new(Config {
        cases: 32,
        failure_persistence: None,
        ..Config::default()
    });
    let outcome = runner.run(&proptest::collection::vec(op(), 1..150), |ops| {
        runtime.block_on(check(&pool, &ops)).map_err(TestCaseError::fail)
    });
    runtime.block_on(async {
        pool.close().await;
        sqlx::query(&format!("drop database if exists {name} with (force)"))
            .execute(&maintenance)
            .await
            .unwrap();
    });
    outcome.unwrap();
}
