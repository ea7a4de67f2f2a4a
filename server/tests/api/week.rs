//! Three real server processes on one database walk through a simulated
//! week together (their clocks follow one offset file, six hours a step):
//! every scheduled period runs once whichever process claims it, every
//! email reaches the SMTP sink once, every provider event is applied once.

use crate::billing_events::test_database_url;
use crate::email::SmtpSink;
use crate::helpers::{TestApp, start_sandbox_checkout};
use app::runner::domain::period_start;
use app::runner::schedules::ALL;
use chrono::TimeDelta;
use sqlx::PgPool;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

/// A server process whose clock follows `offset_file`; killed on drop.
struct Process(std::process::Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(database_url: &str, smtp_url: &str, offset_file: &Path) -> (Process, u16) {
    let (child, port) = crate::billing_events::start_server_process(
        database_url,
        &[
            ("GATEHOUSE_SMTP_URL", smtp_url.to_owned()),
            (
                "GATEHOUSE_MAIL_FROM",
                "Forgeline <no-reply@forgeline.test>".to_owned(),
            ),
            ("GATEHOUSE_CLOCK_OFFSET_FILE", offset_file.display().to_string()),
        ],
    );
    (Process(child), port)
}

async fn healthy(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(mut stream) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let _ = stream
                .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .await;
            let mut answer = String::new();
            let _ = stream.read_to_string(&mut answer).await;
            if answer.starts_with("HTTP/1.1 200") {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the process on {port} never became healthy");
}

/// Whether everything due at the processes' time (`ahead` of the wall
/// clock) is done: each schedule ticked its current period, no job, email
/// or provider event left due.
async fn quiet(pool: &PgPool, ahead: TimeDelta) -> bool {
    let now = app::clock::Clock::System.now() + ahead;
    for scheduled in ALL {
        let last: Option<chrono::DateTime<chrono::Utc>> =
            sqlx::query_scalar("select max(period_start) from schedule_tick where schedule = $1")
                .bind(scheduled.schedule.name)
                .fetch_one(pool)
                .await
                .unwrap();
        if last.is_none_or(|last| last < period_start(scheduled.schedule.every, now)) {
            return false;
        }
    }
    let waiting: i64 = sqlx::query_scalar(
        "select (select count(*) from job where state in ('queued', 'running') and run_at <= $1)
              + (select count(*) from email_outbox where status = 'queued' and next_attempt_at <= $1)
              + (select count(*) from webhook_event where status = 'pending' and next_attempt_at <= $1)",
    )
    .bind(now)
    .fetch_one(pool)
    .await
    .unwrap();
    waiting == 0
}

async fn organization(pool: &PgPool, name: &str) -> uuid::Uuid {
    sqlx::query_scalar("select organization_id from organization where name = $1")
        .bind(name)
        .fetch_one(pool)
        .await
        .unwrap()
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn three_processes_walk_a_week_running_each_period_email_and_event_once(pool: PgPool) {
    let sink = SmtpSink::start().await;
    let app = TestApp::spawn(pool.clone()).await;
    // A: a fresh 14-day trial (its 7-day reminder falls on the last day).
    app.signed_up("a@week.test", "Week A", "starter").await;
    // B: a trial ending in four and a half days (7-day reminder due at
    // once, 3-day on day 1.5, 1-day on day 3.5, paused on day 4.5).
    app.signed_up("b@week.test", "Week B", "starter").await;
    let b = organization(&pool, "Week B").await;
    sqlx::query(
        "update subscription set trial_end = now() + interval '4 days 12 hours',
                                 trial_start = now() + interval '4 days 12 hours' - interval '14 days'
         where organization_id = $1",
    )
    .bind(b)
    .execute(&pool)
    .await
    .unwrap();
    // C: a sandbox subscription whose card fails: the first charge fails
    // now, the sandbox retries on day 3 (and fails again).
    let mut c = app.signed_up("c@week.test", "Week C", "starter").await;
    let session = start_sandbox_checkout(&mut c, "starter").await;
    c.submit(
        "/api/sandbox_pay",
        &[("session_id", &session), ("card_number", "4000 0000 0000 0341")],
    )
    .await;
    crate::billing_events::drain(&app).await;
    let ended = c.submit("/api/sandbox_end_period", &[]).await;
    assert_eq!(
        ended.headers["location"], "/app/billing?period_ended=1",
        "{}",
        ended.body
    );

    let offset_file = std::env::temp_dir().join(format!("gatehouse-week-{}", uuid::Uuid::new_v4()));
    std::fs::write(&offset_file, "0").unwrap();
    let database_url = test_database_url(&pool);
    let processes: Vec<(Process, u16)> = (0..3)
        .map(|_| start(&database_url, &sink.url(), &offset_file))
        .collect();
    for (_, port) in &processes {
        healthy(*port).await;
    }

    // Six hours a step for a week; after each step every process is woken
    // (as a NOTIFY from any write would) and the test waits for quiet.
    for step in 0..=28 {
        let ahead = TimeDelta::hours(6 * step);
        std::fs::write(&offset_file, ahead.num_seconds().to_string()).unwrap();
        tokio::time::sleep(Duration::from_millis(250)).await;
        sqlx::query("select pg_notify('gatehouse_job_queued', 'tick')")
            .execute(&pool)
            .await
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        while !(quiet(&pool, ahead).await && {
            tokio::time::sleep(Duration::from_millis(300)).await;
            quiet(&pool, ahead).await
        }) {
            assert!(Instant::now() < deadline, "step {step} never went quiet");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    drop(processes);
    let _ = std::fs::remove_file(&offset_file);

    // Every period's job ran to success once, and the processes shared them.
    let twice: i64 = sqlx::query_scalar(
        "select count(*) from (select job_id from job_run where outcome = 'succeeded'
                               group by job_id having count(*) > 1) d",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(twice, 0, "no job finished twice");
    let unfinished: i64 = sqlx::query_scalar(
        "select count(*) from schedule_tick t join job j using (job_id) where j.state <> 'succeeded'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(unfinished, 0, "every ticked period's job succeeded");
    let snapshots: i64 = sqlx::query_scalar(
        "select count(*) from schedule_tick where schedule = 'usage.snapshots' and job_id is not null",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(snapshots, 29, "one six-hour period per step and the first");
    let workers: i64 = sqlx::query_scalar("select count(distinct worker) from job_run")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(workers >= 2, "the processes shared the work ({workers} did any)");

    // Every email reached the sink once.
    let queued: Vec<(String, String, String)> =
        sqlx::query_as("select to_address, subject, status from email_outbox order by created_at")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert!(queued.iter().all(|(_, _, status)| status == "sent"), "{queued:?}");
    let messages = sink.messages();
    assert_eq!(messages.len(), queued.len());
    let mut received: BTreeMap<(String, String), usize> = BTreeMap::new();
    for message in &messages {
        let to = message["to"][0].as_str().unwrap().to_owned();
        let subject = message["subject"].as_str().unwrap().to_owned();
        *received.entry((to, subject)).or_default() += 1;
    }
    assert!(received.values().all(|n| *n == 1), "{received:#?}");
    let subjects = |to: &str| -> Vec<String> {
        received
            .keys()
            .filter(|(address, _)| address == to)
            .map(|(_, subject)| subject.clone())
            .collect()
    };
    let b_subjects = subjects("b@week.test");
    assert_eq!(
        b_subjects.iter().filter(|s| s.contains("trial ends")).count(),
        3,
        "{b_subjects:?}"
    );
    assert!(
        b_subjects.contains(&"Your Forgeline trial has ended".to_owned()),
        "{b_subjects:?}"
    );
    let a_subjects = subjects("a@week.test");
    assert!(
        a_subjects.contains(&"Your Forgeline trial ends in 7 days".to_owned()),
        "{a_subjects:?}"
    );
    let c_subjects = subjects("c@week.test");
    for attempt in [1, 2] {
        assert!(
            c_subjects.contains(&format!("Payment of $49.00 failed (attempt {attempt})")),
            "{c_subjects:?}"
        );
    }

    // Every provider event was applied once.
    let pending: i64 = sqlx::query_scalar(
        "select count(*) from webhook_event where status not in ('processed', 'unmatched')",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(pending, 0);
    let doubled: i64 = sqlx::query_scalar(
        "select count(*) from (select cause from subscription_event where cause like 'sandbox:%'
                               group by cause having count(*) > 1) d",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(doubled, 0, "no event made two ledger rows");
}
