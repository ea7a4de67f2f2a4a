//! The admin console: the second factor, who may reach it, the actions and
//! their audit entries, and the organisation list's pagination.

use crate::helpers::{Browser, PASSWORD, TestApp, form_error};
use app::admin::sign_in::totp::code_at;
use axum::http::Method;
use chrono::TimeDelta;
use server::admin::create_admin;
use sqlx::PgPool;
use uuid::Uuid;

const ADMIN: &str = "root@gatehouse.test";

async fn secret(pool: &PgPool) -> Vec<u8> {
    sqlx::query_scalar("select totp_secret from platform_admin where email = $1")
        .bind(ADMIN)
        .fetch_one(pool)
        .await
        .unwrap()
}

fn current_code(app: &TestApp, secret: &[u8]) -> String {
    code_at(secret, ADMIN, app.state.clock.now()).unwrap()
}

/// An admin through password, enrolment and recovery codes; returns the
/// browser and the recovery codes.
pub async fn enrolled_admin(app: &TestApp) -> (Browser<'_>, Vec<String>) {
    enrolled_admin_named(app, ADMIN).await
}

async fn enrolled_admin_named<'a>(app: &'a TestApp, email: &str) -> (Browser<'a>, Vec<String>) {
    create_admin(&app.state.pool, email, PASSWORD).await.unwrap();
    let mut browser = app.browser();
    let login = browser
        .submit("/api/admin_login", &[("email", email), ("password", PASSWORD)])
        .await;
    assert_eq!(login.headers["location"], "/admin/enroll");
    let page = browser.get("/admin/enroll").await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("data-secret") && page.body.contains("<svg"),
        "the QR code and the secret"
    );
    let secret: Vec<u8> = sqlx::query_scalar("select totp_secret from platform_admin where email = $1")
        .bind(email)
        .fetch_one(&app.state.pool)
        .await
        .unwrap();
    let code = code_at(&secret, email, app.state.clock.now()).unwrap();
    let confirmed = browser.submit("/api/admin_enrol", &[("code", &code)]).await;
    assert_eq!(confirmed.headers["location"], "/admin/recovery-codes");
    let codes_page = browser.get("/admin/recovery-codes").await;
    let codes: Vec<String> = codes_page
        .body
        .split("<li>")
        .skip(1)
        .filter_map(|rest| rest.split("</li>").next())
        .filter(|code| code.len() == 11 && code.as_bytes()[5] == b'-')
        .map(str::to_owned)
        .collect();
    assert_eq!(codes.len(), 10, "{}", codes_page.body);
    (browser, codes)
}

async fn sign_in_again<'a>(app: &'a TestApp, code: &str) -> (Browser<'a>, crate::helpers::TestResponse) {
    let mut browser = app.browser();
    let login = browser
        .submit("/api/admin_login", &[("email", ADMIN), ("password", PASSWORD)])
        .await;
    assert_eq!(login.headers["location"], "/admin/verify");
    let verified = browser.submit("/api/admin_verify", &[("code", code)]).await;
    (browser, verified)
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn an_admin_enrols_on_first_sign_in_and_each_code_works_once(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let (mut admin, recovery) = enrolled_admin(&app).await;
    assert_eq!(admin.get("/admin").await.status, 200);
    let again = admin.get("/admin/recovery-codes").await;
    assert!(
        !again.body.contains(&recovery[0]),
        "recovery codes are shown once"
    );
    admin.submit("/api/admin_logout", &[]).await;
    assert_eq!(admin.get("/admin").await.headers["location"], "/admin/login");

    // The enrolment code's step is used: the same code is refused.
    let secret = secret(&pool).await;
    let replay = current_code(&app, &secret);
    let (_, replayed) = sign_in_again(&app, &replay).await;
    assert_eq!(
        form_error(&replayed).to_string(),
        "that code is not valid (a code works once)"
    );
    app.state.clock.advance(TimeDelta::seconds(31));
    let (mut admin, signed_in) = sign_in_again(&app, &current_code(&app, &secret)).await;
    assert_eq!(signed_in.headers["location"], "/admin");
    assert_eq!(admin.get("/admin/organizations").await.status, 200);

    // A recovery code, however typed, once.
    let typed = recovery[3].to_uppercase().replace('-', " ");
    let (_, used) = sign_in_again(&app, &typed).await;
    assert_eq!(used.headers["location"], "/admin");
    let (_, reused) = sign_in_again(&app, &recovery[3]).await;
    assert!(form_error(&reused).to_string().contains("not valid"));

    let signed_ins: i64 =
        sqlx::query_scalar("select count(*) from admin_audit where action = 'admin.sign_in'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(signed_ins, 2, "each completed sign-in is audited");
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn an_admin_session_ends_after_thirty_idle_minutes_and_a_customer_session_is_no_admin_session(
    pool: PgPool,
) {
    let app = TestApp::spawn(pool.clone()).await;
    let (mut admin, _) = enrolled_admin(&app).await;
    app.state.clock.advance(TimeDelta::minutes(29));
    assert_eq!(admin.get("/admin").await.status, 200, "activity keeps it alive");
    app.state.clock.advance(TimeDelta::minutes(29));
    assert_eq!(admin.get("/admin").await.status, 200);
    app.state.clock.advance(TimeDelta::minutes(31));
    assert_eq!(admin.get("/admin").await.headers["location"], "/admin/login");

    // The admin's credentials do not sign in a customer.
    let mut browser = app.browser();
    let customer_login = browser
        .submit("/api/login", &[("email", ADMIN), ("password", PASSWORD)])
        .await;
    assert!(
        matches!(form_error(&customer_login), app::error::AppError::InvalidForm { errors, .. } if errors[0].message.contains("incorrect"))
    );
}

/// Every field any console function takes, so each call gets past decoding
/// and is refused for who is asking, not for its form.
fn every_field(org: &str) -> Vec<(&'static str, &str)> {
    vec![
        ("organization_id", org),
        ("override_id", org),
        ("id", org),
        ("days", "7"),
        ("reason", "x"),
        ("suspend", "true"),
        ("kind", "feature"),
        ("key", "work_orders"),
        ("value", "on"),
        ("expires", ""),
        ("name", "x"),
        ("scope", "read"),
        ("prefix", "gk_00000000"),
        ("url", "https://example.com/hooks"),
        ("description", "x"),
        ("enabled", "false"),
        ("event_id", "evt_x"),
        ("license_id", org),
        ("action", "suspend"),
        ("until", ""),
        ("max_activations", "1"),
        ("node_locked", "on"),
    ]
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn every_console_page_and_function_is_refused_to_anyone_but_a_signed_in_admin(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let mut customer = app.signed_up("ada@acme.test", "Acme", "starter").await;
    create_admin(&pool, ADMIN, PASSWORD).await.unwrap();
    // An admin who gave the password but not the second factor.
    let mut pending = app.browser();
    pending
        .submit("/api/admin_login", &[("email", ADMIN), ("password", PASSWORD)])
        .await;
    let org: Uuid = app.only_organization().await;
    let pages = [
        "/admin".to_owned(),
        "/admin/organizations".to_owned(),
        "/admin/analytics".to_owned(),
        "/admin/analytics/months.csv".to_owned(),
        "/admin/events".to_owned(),
        "/admin/emails".to_owned(),
        "/admin/health".to_owned(),
        "/admin/import".to_owned(),
        "/admin/api-keys".to_owned(),
        "/admin/webhooks".to_owned(),
        "/admin/work".to_owned(),
        format!("/admin/webhooks/{}", Uuid::nil()),
        format!("/admin/organizations/{org}"),
        "/admin/audit".to_owned(),
        "/admin/recovery-codes".to_owned(),
    ];
    // The sign-in steps themselves, open by design.
    let sign_in_steps = [
        "/api/admin_login",
        "/api/admin_logout",
        "/api/admin_enrol",
        "/api/admin_verify",
        "/api/admin_enrolment",
        "/api/admin_stop_impersonating",
    ];
    let functions: Vec<(&str, Method)> = crate::helpers::server_functions()
        .into_iter()
        .filter(|(path, _)| path.starts_with("/api/admin_") && !sign_in_steps.contains(path))
        .collect();
    assert!(functions.len() >= 7, "{functions:?}");
    let mut anonymous = app.browser();
    for (who, browser) in [
        ("anonymous", &mut anonymous),
        ("customer", &mut customer),
        ("password only", &mut pending),
    ] {
        for page in &pages {
            let response = browser.get(page).await;
            assert_eq!(response.status, 303, "{who} {page}");
            assert_eq!(response.headers["location"], "/admin/login", "{who} {page}");
        }
        for (path, method) in &functions {
            let response = if *method == Method::GET {
                browser
                    .fetch(&format!("{path}?id={org}&organization_id={org}"))
                    .await
            } else {
                let org = org.to_string();
                browser.call(path, &every_field(&org)).await
            };
            assert_eq!(response.status, 401, "{who} {path}: {}", response.body);
        }
    }
    let trial_end: Option<chrono::DateTime<chrono::Utc>> =
        sqlx::query_scalar("select trial_end from subscription")
            .fetch_one(&pool)
            .await
            .unwrap();
    let suspended: bool = sqlx::query_scalar("select suspended_at is not null from organization")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(trial_end.is_some() && !suspended, "nothing was changed");
    let audited: i64 = sqlx::query_scalar("select count(*) from admin_audit")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(audited, 0);
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn extending_a_trial_needs_a_reason_and_leaves_an_audit_entry_no_one_can_change(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    app.signed_up("ada@acme.test", "Acme", "starter").await;
    let (mut admin, _) = enrolled_admin(&app).await;
    let org: Uuid = app.only_organization().await;
    let org_text = org.to_string();
    let before: chrono::DateTime<chrono::Utc> = sqlx::query_scalar("select trial_end from subscription")
        .fetch_one(&pool)
        .await
        .unwrap();

    for (days, reason, field) in [
        ("7", "  ", "reason"),
        ("0", "asked nicely", "days"),
        ("91", "asked nicely", "days"),
        ("x", "ok", "days"),
    ] {
        let refused = admin
            .submit(
                "/api/admin_extend_trial",
                &[
                    ("organization_id", org_text.as_str()),
                    ("days", days),
                    ("reason", reason),
                ],
            )
            .await;
        assert!(
            matches!(form_error(&refused), app::error::AppError::Validation { field: f, .. } if f == field),
            "{days} {reason:?}"
        );
    }
    let extended = admin
        .submit(
            "/api/admin_extend_trial",
            &[
                ("organization_id", org_text.as_str()),
                ("days", "7"),
                ("reason", "Customer is waiting on procurement"),
            ],
        )
        .await;
    assert_eq!(
        extended.headers["location"],
        format!("/admin/organizations/{org}?done=trial")
    );
    let after: chrono::DateTime<chrono::Utc> = sqlx::query_scalar("select trial_end from subscription")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(after - before, TimeDelta::days(7));
    let (action, reason, email, before_json, after_json): (
        String,
        String,
        String,
        serde_json::Value,
        serde_json::Value,
    ) = sqlx::query_as(
        "select action, reason, admin_email, before, after from admin_audit where action = 'trial.extend'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        (action.as_str(), reason.as_str(), email.as_str()),
        ("trial.extend", "Customer is waiting on procurement", ADMIN)
    );
    assert_eq!(before_json["status"], "trialing");
    assert_eq!(after_json["days"], 7);
    let page = admin.get(&format!("/admin/organizations/{org}")).await;
    assert!(
        page.body.contains("Customer is waiting on procurement"),
        "the detail page lists its audit entries"
    );
    let log = admin.get("/admin/audit?action=trial.extend").await;
    assert!(log.body.contains("data-audit=\"trial.extend\""));

    // Append-only, enforced by the database for every kind of change.
    for statement in [
        "update admin_audit set reason = 'nothing happened'",
        "delete from admin_audit",
        "truncate admin_audit",
    ] {
        let error = sqlx::query(statement).execute(&pool).await.unwrap_err();
        assert!(error.to_string().contains("append-only"), "{statement}: {error}");
    }
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn a_trial_that_ran_out_reopens_when_extended_and_the_ledger_records_it(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    app.signed_up("ada@acme.test", "Acme", "starter").await;
    enrolled_admin(&app).await;
    app.state.clock.advance(TimeDelta::days(15));
    let paused = app::flows::sweeps::expire_trials(
        &mut pool.acquire().await.unwrap(),
        &app.state.notices(),
        app.state.clock.now(),
        10,
    )
    .await;
    assert!(paused.is_ok());
    let status: String = sqlx::query_scalar("select status from subscription")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(status, "paused");
    // The admin session idled out while time passed: sign in again.
    let secret = secret(&pool).await;
    let (mut admin, _) = sign_in_again(&app, &current_code(&app, &secret)).await;
    let org: Uuid = app.only_organization().await;
    let org_text = org.to_string();
    admin
        .submit(
            "/api/admin_extend_trial",
            &[
                ("organization_id", org_text.as_str()),
                ("days", "10"),
                ("reason", "Second chance"),
            ],
        )
        .await;
    let (status, trial_end): (String, chrono::DateTime<chrono::Utc>) =
        sqlx::query_as("select status, trial_end from subscription")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(status, "trialing");
    assert!(
        (trial_end - (app.state.clock.now() + TimeDelta::days(10)))
            .num_seconds()
            .abs()
            < 5
    );
    let kinds: Vec<String> = sqlx::query_scalar(
        "select status_after from subscription_event where superseded_at is null order by occurred_at",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(kinds, ["trialing", "paused", "trialing"]);
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn suspension_is_audited_and_refused_twice(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    app.signed_up("ada@acme.test", "Acme", "starter").await;
    let (mut admin, _) = enrolled_admin(&app).await;
    let org: Uuid = app.only_organization().await;
    let org_text = org.to_string();
    let fields = |suspend: &'static str| {
        [
            ("organization_id", org_text.clone()),
            ("suspend", suspend.to_owned()),
            ("reason", "Chargeback".to_owned()),
            ("confirm", "yes".to_owned()),
        ]
    };
    let send = |fields: [(&'static str, String); 4]| fields;
    let suspend = send(fields("true"));
    let refs: Vec<(&str, &str)> = suspend.iter().map(|(k, v)| (*k, v.as_str())).collect();
    admin.submit("/api/admin_suspension", &refs).await;
    let twice = admin.submit("/api/admin_suspension", &refs).await;
    assert!(form_error(&twice).to_string().contains("already suspended"));
    let reactivate = send(fields("false"));
    let refs: Vec<(&str, &str)> = reactivate.iter().map(|(k, v)| (*k, v.as_str())).collect();
    admin.submit("/api/admin_suspension", &refs).await;
    let actions: Vec<String> = sqlx::query_scalar(
        "select action from admin_audit where organization_id = $1 order by admin_audit_id",
    )
    .bind(org)
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(actions, ["organization.suspend", "organization.reactivate"]);
    // The owner heard both, once each.
    let subjects: Vec<String> = sqlx::query_scalar(
        "select subject from email_outbox where template in ('suspended', 'reactivated') order by created_at",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        subjects,
        [
            "Acme has been suspended on Forgeline",
            "Acme is active again on Forgeline"
        ]
    );
    let suspended: String =
        sqlx::query_scalar("select text_body from email_outbox where template = 'suspended'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(suspended.contains("The reason given: Chargeback"), "{suspended}");
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn the_work_page_reads_the_runner_record_and_run_now_and_retry_are_audited(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    app.signed_up("ada@acme.test", "Acme", "starter").await;
    let (mut admin, _) = enrolled_admin(&app).await;
    app.run_due_work().await;
    let dead: i64 = sqlx::query_scalar(
        "insert into job (kind, payload, run_at, state, attempt, max_attempts, last_error, created_at, finished_at)
         values ('reports.send', '{}', now(), 'dead', 8, 8, 'smtp exploded', now(), now()) returning job_id",
    )
    .fetch_one(&pool)
    .await
    .unwrap();

    let work = admin.get("/admin/work").await;
    assert_eq!(work.status, 200);
    for scheduled in app::runner::schedules::ALL {
        let row_start = work
            .body
            .find(&format!("data-schedule=\"{}\"", scheduled.schedule.name))
            .unwrap_or_else(|| panic!("{} is listed", scheduled.schedule.name));
        let row = &work.body[row_start..];
        let row = &row[..row.find("</tr>").unwrap()];
        assert!(
            row.contains("succeeded"),
            "{} ran once already: {row}",
            scheduled.schedule.name
        );
    }
    assert!(work.body.contains(&format!("data-dead-job=\"{dead}\"")));
    assert!(work.body.contains("smtp exploded"));
    assert!(work.body.contains("data-run-outcome=\"succeeded\""));

    // Run now: a one-off job beside the periods, audited.
    let run = admin
        .submit(
            "/api/admin_run_schedule",
            &[("name", "trials.remind"), ("reason", "Customer asked")],
        )
        .await;
    assert_eq!(run.headers["location"], "/admin/work?done=run");
    let manual: i64 = sqlx::query_scalar(
        "select count(*) from job where kind = 'trials.remind' and state = 'queued' and dedup_key like 'manual:%'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(manual, 1);
    let unknown = admin
        .submit(
            "/api/admin_run_schedule",
            &[("name", "trials.nope"), ("reason", "x")],
        )
        .await;
    assert!(form_error(&unknown).to_string().contains("no such schedule"));

    // Retry: the dead job is queued again, audited; a second retry is refused.
    let retried = admin
        .submit(
            "/api/admin_retry_job",
            &[("id", &dead.to_string()), ("reason", "SMTP is back")],
        )
        .await;
    assert_eq!(retried.headers["location"], "/admin/work?done=retry");
    let state: String = sqlx::query_scalar("select state from job where job_id = $1")
        .bind(dead)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(state, "queued");
    let twice = admin
        .submit(
            "/api/admin_retry_job",
            &[("id", &dead.to_string()), ("reason", "again")],
        )
        .await;
    assert!(
        form_error(&twice).to_string().contains("not dead"),
        "{}",
        twice.body
    );
    for bad in ["", "abc", "-1", "99999999999999999999"] {
        let refused = admin
            .call("/api/admin_retry_job", &[("id", bad), ("reason", "x")])
            .await;
        assert_eq!(refused.status, 404, "{bad:?}: {}", refused.body);
    }
    let actions: Vec<(String, String)> = sqlx::query_as(
        "select action, reason from admin_audit where action in ('schedule.run_now', 'job.retry') order by admin_audit_id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        actions,
        [
            ("schedule.run_now".to_owned(), "Customer asked".to_owned()),
            ("job.retry".to_owned(), "SMTP is back".to_owned())
        ]
    );

    // The email previews: every template, HTML beside text.
    let emails = admin.get("/admin/emails").await;
    assert_eq!(emails.status, 200);
    let templates = app::email::templates::samples(
        &app::email::templates::Brand::new("Forgeline", "#4338ca"),
        "http://127.0.0.1:3000",
    );
    for sample in &templates {
        assert!(
            emails
                .body
                .contains(&format!("data-template=\"{}\"", sample.template)),
            "{} is previewed",
            sample.template
        );
    }
    assert!(emails.body.contains("<iframe"), "the HTML part is drawn");
}

mod operations;

mod organizations;
