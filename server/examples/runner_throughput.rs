//! The job runner's throughput and idle cost, each beside a baseline
//! measured in the same run. Run by `bench/runner`.
//!
//! Modes (`DATABASE_URL` names the benchmark's own database):
//! - `fresh`: drops and recreates `gatehouse_bench_runner` beside the
//!   database `DATABASE_URL` names and migrates it; prints its URL.
//! - `fill N`: queues N no-op jobs (kind `bench.noop`).
//! - `bare`: drains the queue with the bare claim statement and a bare
//!   finish (no lease, no run record, no handler transaction): the floor.
//! - `drain`: drains the queue with the runner, as one server process does
//!   (claim under a lease, the handler and the fenced finish in one
//!   transaction, a `job_run` row per attempt).
//! - `idle N`: N idle passes of Gatehouse's own runner (every schedule
//!   ticked already, nothing due) beside N `select 1` round trips.
//!
//! Each mode prints one line: `jobs seconds` or `pass_us select_us`.

#![allow(clippy::unwrap_used)]

use app::billing::trials::Notices;
use app::clock::Clock;
use app::runner::db::Claimed;
use server::runner::{Attempt, HandlerFuture, JobContext, Runner};
use sqlx::postgres::PgPoolOptions;
use sqlx::{PgConnection, PgPool};
use std::time::Instant;

const NOOP: &str = "bench.noop";

fn noop<'a>(_: &'a mut PgConnection, _: &'a Claimed, _: &'a JobContext) -> HandlerFuture<'a, Attempt> {
    Box::pin(async { Ok(Attempt::Done) })
}

fn context(pool: PgPool) -> JobContext {
    JobContext::with_sandbox_provider(
        pool,
        Clock::System,
        app::flows::FlowContext {
            notices: Notices {
                brand: app::email::templates::Brand::new("Bench", "#4338ca"),
                public_url: "http://127.0.0.1".into(),
            },
            license_keys: None,
        },
    )
}

async fn pool(url: &str, connections: u32) -> PgPool {
    PgPoolOptions::new()
        .max_connections(connections)
        .connect(url)
        .await
        .unwrap()
}

#[tokio::main]
async fn main() {
    let url = std::env::var("DATABASE_URL").expect("DATABASE_URL");
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["fresh"] => {
            let (address, query) = url.split_once('?').unwrap_or((url.as_str(), ""));
            let separator = if query.is_empty() { "" } else { "?" };
            let bench = format!(
                "{}/gatehouse_bench_runner{separator}{query}",
                address.rsplit_once('/').unwrap().0
            );
            let maintenance = pool(&url, 1).await;
            sqlx::query("drop database if exists gatehouse_bench_runner with (force)")
                .execute(&maintenance)
                .await
                .unwrap();
            sqlx::query("create database gatehouse_bench_runner")
                .execute(&maintenance)
                .await
                .unwrap();
            let pool = pool(&bench, 2).await;
            server::MIGRATOR.run(&pool).await.unwrap();
            println!("{bench}");
        }
        ["fill", count] => {
            let count: i64 = count.parse().unwrap();
            let pool = pool(&url, 1).await;
            sqlx::query(
                "insert into job (kind, payload, run_at, created_at)
                 select $1, '{}', now() - interval '1 second', now() from generate_series(1, $2)",
            )
            .bind(NOOP)
            .bind(count)
            .execute(&pool)
            .await
            .unwrap();
            println!("{count}");
        }
        ["bare"] => {
            let pool = pool(&url, 2).await;
            let started = Instant::now();
            let mut done = 0_u64;
            loop {
                // The claim statement alone, and the plainest finish.
                let claimed: Option<i64> = sqlx::query_scalar(
                    "update job set state = 'running', attempt = attempt + 1,
                            lease_token = gen_random_uuid(), lease_until = now() + interval '5 minutes'
                     where job_id = (select job_id from job where state = 'queued' and run_at <= now()
                                     order by run_at, job_id limit 1 for update skip locked)
                     returning job_id",
                )
                .fetch_optional(&pool)
                .await
                .unwrap();
                let Some(job_id) = claimed else { break };
                sqlx::query(
                    "update job set state = 'succeeded', lease_token = null, lease_until = null,
                            finished_at = now() where job_id = $1",
                )
                .bind(job_id)
                .execute(&pool)
                .await
                .unwrap();
                done += 1;
            }
            println!("{done} {:.3}", started.elapsed().as_secs_f64());
        }
        ["drain"] => {
            let context = context(pool(&url, 4).await);
            let worker = format!("bench-{}", std::process::id());
            let runner = Runner::new(worker).handle(NOOP, noop);
            let started = Instant::now();
            while runner.pass(&context).await.unwrap() {}
            // language=PostgreSQL
            let done: i64 = sqlx::query_scalar("select count(*) from job_run where worker = $1")
                .bind(format!("bench-{}", std::process::id()))
                .fetch_one(&context.pool)
                .await
                .unwrap();
            println!("{done} {:.3}", started.elapsed().as_secs_f64());
        }
        ["idle", count] => {
            let count: u32 = count.parse().unwrap();
            let context = context(pool(&url, 4).await);
            let runner = Runner::gatehouse("bench-idle");
            // The first pass ticks every schedule and runs their jobs; the
            // passes measured find the periods ticked and nothing due.
            while runner.pass(&context).await.unwrap() {}
            let started = Instant::now();
            for _ in 0..count {
                runner.pass(&context).await.unwrap();
            }
            let pass_us = started.elapsed().as_secs_f64() * 1e6 / f64::from(count);
            let started = Instant::now();
            for _ in 0..count {
                sqlx::query("select 1").execute(&context.pool).await.unwrap();
            }
            let select_us = started.elapsed().as_secs_f64() * 1e6 / f64::from(count);
            println!("{pass_us:.1} {select_us:.1}");
        }
        _ => {
            eprintln!("usage: runner_throughput fresh | fill N | bare | drain | idle N");
            std::process::exit(2);
        }
    }
}
