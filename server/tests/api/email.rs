//! Email delivery over real SMTP to a local sink (aiosmtpd, from PyPI).

use crate::helpers::TestApp;
use server::mailer::Mailer;
use sqlx::PgPool;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use tokio::io::{AsyncBufReadExt, BufReader};

/// A running SMTP sink that stores each message as JSON in its directory.
pub struct SmtpSink {
    _process: tokio::process::Child,
    directory: PathBuf,
    pub port: u16,
}

impl SmtpSink {
    pub async fn start() -> SmtpSink {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let python = root.join("target/tools/venv/bin/python");
        assert!(
            python.exists(),
            "run scripts/setup first: it installs the SMTP sink's aiosmtpd"
        );
        let port = free_port();
        let directory = std::env::temp_dir().join(format!("gatehouse-sink-{port}-{}", std::process::id()));
        let mut process = tokio::process::Command::new(python)
            .arg(root.join("scripts/smtp_sink.py"))
            .arg(&directory)
            .arg(port.to_string())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("the sink starts");
        let mut lines = BufReader::new(process.stdout.take().unwrap()).lines();
        let ready = tokio::time::timeout(std::time::Duration::from_secs(10), lines.next_line()).await;
        assert!(
            matches!(ready, Ok(Ok(Some(ref line))) if line == "ready"),
            "sink did not start: {ready:?}"
        );
        SmtpSink {
            _process: process,
            directory,
            port,
        }
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Received messages, oldest first.
    pub fn messages(&self) -> Vec<serde_json::Value> {
        let mut files: Vec<_> = std::fs::read_dir(&self.directory)
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .collect();
        files.sort();
        files
            .iter()
            .map(|f| serde_json::from_str(&std::fs::read_to_string(f).unwrap()).unwrap())
            .collect()
    }
}

/// A local port nothing listens on (it was free a moment ago).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A mailer whose SMTP server is down.
fn unreachable_mailer() -> Mailer {
    Mailer::new(
        &format!("smtp://127.0.0.1:{}", free_port()),
        "no-reply@forgeline.test",
    )
    .unwrap()
}

async fn outbox_status(pool: &PgPool) -> Vec<(String, String, i32, Option<String>, bool)> {
    // language=PostgreSQL
    sqlx::query!(
        r#"select template, status, attempts, last_error, next_attempt_at > now() as "later!" from email_outbox order by template"#
    )
    .fetch_all(pool)
    .await
    .unwrap()
    .into_iter()
    .map(|r| (r.template, r.status, r.attempts, r.last_error, r.later))
    .collect()
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn queued_mail_is_delivered_over_smtp_with_text_and_html_parts(pool: PgPool) {
    // Arrange
    let sink = SmtpSink::start().await;
    let app = TestApp::spawn(pool.clone()).await;
    app.signed_up("ada@acme.test", "Acme Metals", "starter").await;
    let mailer = Mailer::new(&sink.url(), "Forgeline <no-reply@forgeline.test>").unwrap();

    // Act
    let attempted = app.deliver_email(&mailer).await;

    // Assert
    assert_eq!(attempted, 2);
    let messages = sink.messages();
    assert_eq!(messages.len(), 2);
    let verify = messages
        .iter()
        .find(|m| m["subject"] == "Confirm your email for Forgeline")
        .expect("verify email");
    assert_eq!(verify["to"][0], "ada@acme.test");
    assert_eq!(verify["from"], "no-reply@forgeline.test");
    assert_eq!(verify["content_type"], "multipart/alternative");
    assert!(
        verify["text"]
            .as_str()
            .unwrap()
            .contains("http://127.0.0.1:3000/verify?token=")
    );
    assert!(verify["html"].as_str().unwrap().contains("Confirm my email"));
    assert!(messages.iter().any(|m| m["subject"] == "Welcome to Forgeline"));
    assert!(
        outbox_status(&pool)
            .await
            .iter()
            .all(|(_, status, attempts, _, _)| status == "sent" && *attempts == 1)
    );
    assert_eq!(app.deliver_email(&mailer).await, 0, "nothing is sent twice");
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn a_failed_send_is_kept_and_retried_later_until_it_goes_through(pool: PgPool) {
    // Arrange: the mail server is down.
    let app = TestApp::spawn(pool.clone()).await;
    app.browser()
        .submit("/api/forgot_password", &[("email", "nobody@acme.test")])
        .await;
    app.signed_up("ada@acme.test", "Acme", "starter").await;
    let down = unreachable_mailer();

    // Act
    app.deliver_email(&down).await;

    // Assert: kept, with the error, scheduled for later.
    for (template, status, attempts, error, later) in outbox_status(&pool).await {
        assert_eq!(
            (status.as_str(), attempts, later),
            ("queued", 1, true),
            "{template}"
        );
        assert!(error.is_some(), "{template}");
    }
    assert_eq!(app.deliver_email(&down).await, 0, "not retried before its time");

    // When the retry comes due and the server is back, it goes through.
    let sink = SmtpSink::start().await;
    // language=PostgreSQL
    sqlx::query!("update email_outbox set next_attempt_at = now()")
        .execute(&pool)
        .await
        .unwrap();
    app.run_jobs_now("email.deliver").await;
    let up = Mailer::new(&sink.url(), "no-reply@forgeline.test").unwrap();
    app.deliver_email(&up).await;
    assert_eq!(sink.messages().len(), 2);
    assert!(
        outbox_status(&pool)
            .await
            .iter()
            .all(|(_, status, attempts, _, _)| status == "sent" && *attempts == 2)
    );
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn after_the_last_attempt_an_email_is_kept_as_dead(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    app.signed_up("ada@acme.test", "Acme", "starter").await;
    // language=PostgreSQL
    sqlx::query!(
        "update job set attempt = $1 - 1 where kind = 'email.deliver'",
        server::mailer::MAX_ATTEMPTS
    )
    .execute(&pool)
    .await
    .unwrap();
    let down = unreachable_mailer();

    app.deliver_email(&down).await;

    let rows = outbox_status(&pool).await;
    assert_eq!(rows.len(), 2, "never deleted");
    assert!(rows.iter().all(|(_, status, _, _, _)| status == "dead"));
    // The runner's record agrees: two dead jobs, each with its error.
    let dead = app::runner::db::dead_jobs(&pool, 10).await.unwrap();
    assert_eq!(dead.len(), 2, "{dead:?}");
    assert!(
        dead.iter()
            .all(|job| job.kind == "email.deliver" && job.last_error.is_some())
    );

    // Retrying a dead job (as /admin/work and `server jobs retry` do) queues
    // its email again, and it goes out once the server is back.
    let sink = SmtpSink::start().await;
    for job in &dead {
        let mut conn = pool.acquire().await.unwrap();
        app::admin::operations::work::retry_dead_job(&mut conn, job.job_id, app.state.clock.now())
            .await
            .unwrap()
            .unwrap();
    }
    let up = Mailer::new(&sink.url(), "no-reply@forgeline.test").unwrap();
    assert_eq!(app.deliver_email(&up).await, 2);
    assert_eq!(sink.messages().len(), 2);
    assert!(
        outbox_status(&pool)
            .await
            .iter()
            .all(|(_, status, _, _, _)| status == "sent")
    );
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn the_local_mailbox_shows_queued_mail_only_on_local_runs_without_smtp(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    app.signed_up("ada@acme.test", "Acme", "starter").await;
    let page = app.get("/dev/mailbox").await;
    assert!(page.body.contains("Confirm your email for Forgeline"));
    assert!(
        page.body.contains("href=\"http://127.0.0.1:3000/verify?token="),
        "links are clickable"
    );

    let live = TestApp::with_settings(pool, &[("GATEHOUSE_PUBLIC_URL", "https://billing.example.com")]);
    let hidden = live.get("/dev/mailbox").await;
    assert!(!hidden.body.contains("Confirm your email"));
    assert!(hidden.body.contains("not found"));
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn a_recipient_refused_for_good_is_dead_at_once_and_one_refused_for_now_is_retried(pool: PgPool) {
    let sink = SmtpSink::start().await;
    let app = TestApp::spawn(pool.clone()).await;
    let mut tx = pool.begin().await.unwrap();
    for to in [
        "gone@refused.test",
        "later@busy.test",
        "ok@acme.test",
        "not an address",
    ] {
        app::email::outbox::enqueue(
            &mut tx,
            app::clock::Clock::System.now(),
            to,
            &app::email::templates::verify_email(
                &app::email::templates::Brand::new("Forgeline", "#4338ca"),
                "http://x/verify",
            ),
        )
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    let mailer = Mailer::new(&sink.url(), "no-reply@forgeline.test").unwrap();

    app.deliver_email(&mailer).await;

    // language=PostgreSQL
    let rows = sqlx::query!("select to_address, status, attempts from email_outbox order by to_address")
        .fetch_all(&pool)
        .await
        .unwrap();
    let outcome: Vec<(&str, &str, i32)> = rows
        .iter()
        .map(|r| (r.to_address.as_str(), r.status.as_str(), r.attempts))
        .collect();
    assert_eq!(
        outcome,
        [
            ("gone@refused.test", "dead", 1),
            ("later@busy.test", "queued", 1),
            ("not an address", "dead", 1),
            ("ok@acme.test", "sent", 1),
        ]
    );
    assert_eq!(sink.messages().len(), 1);
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn every_template_arrives_over_smtp_in_both_parts_with_its_facts(pool: PgPool) {
    use app::email::templates::{Brand, samples};
    let sink = SmtpSink::start().await;
    let app = TestApp::spawn(pool.clone()).await;
    let brand = Brand::new("Forgeline", "#0f766e");
    let samples = samples(&brand, "http://127.0.0.1:3000");
    let now = app::clock::Clock::System.now();
    let mut tx = pool.begin().await.unwrap();
    for (index, message) in samples.iter().enumerate() {
        app::email::outbox::enqueue(&mut tx, now, &format!("t{index}@acme.test"), message)
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    let mailer = Mailer::new(&sink.url(), "Forgeline <no-reply@forgeline.test>").unwrap();
    while app.deliver_email(&mailer).await > 0 {}

    let messages = sink.messages();
    assert_eq!(messages.len(), samples.len());
    let normalised = |text: &str| text.replace("\r\n", "\n").trim_end().to_owned();
    for (index, sample) in samples.iter().enumerate() {
        let to = format!("t{index}@acme.test");
        let received = messages
            .iter()
            .find(|m| m["to"][0] == to.as_str())
            .unwrap_or_else(|| panic!("{} never arrived", sample.template));
        assert_eq!(
            received["subject"],
            sample.subject.as_str(),
            "{}",
            sample.template
        );
        assert_eq!(
            received["content_type"], "multipart/alternative",
            "{}",
            sample.template
        );
        assert_eq!(
            normalised(received["text"].as_str().unwrap()),
            normalised(&sample.text),
            "{}",
            sample.template
        );
        let html = received["html"].as_str().unwrap();
        assert!(
            html.contains("#0f766e"),
            "{} is in the brand colour",
            sample.template
        );
        assert!(
            html.contains(">Forgeline</p>"),
            "{} names the product",
            sample.template
        );
    }
    // The facts each message must carry, as the customer reads them.
    let text_of = |template: &str, needle: &str| {
        let found = messages.iter().any(|m| {
            let of_template = samples
                .iter()
                .any(|s| s.template == template && m["subject"] == s.subject.as_str());
            of_template && m["text"].as_str().unwrap().contains(needle)
        });
        assert!(found, "{template} says {needle:?}");
    };
    text_of("payment_failed", "We could not charge $49.00");
    text_of("payment_failed", "(attempt 2)");
    text_of("payment_failed", "try again on 23 December 2026");
    text_of("payment_receipt", "Invoice GH-0042 is paid");
    text_of(
        "payment_action_required",
        "Confirm the payment: http://127.0.0.1:3000/app/billing/invoices",
    );
    text_of(
        "account_restricted",
        "unpaid for 14 days, so the account is now read-only",
    );
    text_of("account_restored", "Every restriction is lifted");
    text_of("trial_ending", "charged $49.00 on 20 December 2026");
    text_of("cancellation_scheduled", "ends on 31 December 2026");
    text_of("usage_warning", "8000 of its 10000 API calls (80 %)");
    text_of(
        "suspended",
        "The reason given: Unusual payment activity under review.",
    );
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn an_email_queued_for_one_cause_by_racing_transactions_goes_out_once(pool: PgPool) {
    let brand = app::email::templates::Brand::new("Forgeline", "#4338ca");
    let message = app::email::templates::account_restored(&brand, "Acme", "$49.00", "http://x/app");
    let now = app::clock::Clock::System.now();
    let queue = || async {
        let mut tx = pool.begin().await.unwrap();
        let queued = app::email::outbox::enqueue_once(
            &mut tx,
            now,
            "ada@acme.test",
            &message,
            "collection:x:recovered:1",
        )
        .await
        .unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        tx.commit().await.unwrap();
        queued
    };
    let results = futures::future::join_all((0..4).map(|_| queue())).await;
    assert_eq!(results.iter().filter(|q| **q).count(), 1, "{results:?}");
    // language=PostgreSQL
    let rows = sqlx::query_scalar!(r#"select count(*) as "n!" from email_outbox"#)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(rows, 1);
    // Another recipient of the same cause gets their own copy.
    let mut conn = pool.acquire().await.unwrap();
    assert!(
        app::email::outbox::enqueue_once(
            &mut conn,
            now,
            "bo@acme.test",
            &message,
            "collection:x:recovered:1"
        )
        .await
        .unwrap()
    );
}
