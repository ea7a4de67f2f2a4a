//! The admin console: the second factor, who may reach it, the actions and
//! their audit entries, and the organisation list's pagination.

use crate::helpers::{Browser, PASSWORD, TestApp, form_error};
use app::admin::totp::code_at;
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
    let org: Uuid = sqlx::query_scalar("select organization_id from organization")
        .fetch_one(&pool)
        .await
        .unwrap();
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
    let org: Uuid = sqlx::query_scalar("select organization_id from organization")
        .fetch_one(&pool)
        .await
        .unwrap();
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
    let org: Uuid = sqlx::query_scalar("select organization_id from organization")
        .fetch_one(&pool)
        .await
        .unwrap();
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
    let org: Uuid = sqlx::query_scalar("select organization_id from organization")
        .fetch_one(&pool)
        .await
        .unwrap();
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

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn the_organisation_list_pages_by_keyset_through_inserts_and_searches_safely(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let (mut admin, _) = enrolled_admin(&app).await;
    // 45 organisations a minute apart, one with an external id and odd characters.
    sqlx::query(
        "insert into organization (name, external_id, created_at)
         select 'Org ' || lpad(n::text, 2, '0'), case when n = 7 then 'host-7' end,
                timestamptz '2026-01-01' + make_interval(mins => n)
         from generate_series(1, 45) n",
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query("insert into organization (name) values ('100% Honest_Co')")
        .execute(&pool)
        .await
        .unwrap();
    let names = |body: &str| -> Vec<String> {
        body.split("data-organization=\"")
            .skip(1)
            .filter_map(|s| s.split('"').next())
            .map(str::to_owned)
            .collect()
    };
    let next = |body: &str| -> Option<String> {
        let before = body.split_once("rel=\"next\"")?.0;
        let href = before.rsplit("href=\"").next()?.split('"').next()?;
        Some(href.replace("&amp;", "&"))
    };
    let first = admin.get("/admin/organizations?q=Org&sort=newest").await;
    let page_one = names(&first.body);
    assert_eq!(page_one.len(), 20);
    assert_eq!(page_one[0], "Org 45");
    // Newer organisations arrive before the next page is read.
    sqlx::query("insert into organization (name, created_at) select 'Org new ' || n, now() from generate_series(1, 5) n")
        .execute(&pool)
        .await
        .unwrap();
    let second_href = next(&first.body).expect("a next page");
    let page_two = names(&admin.get(&second_href).await.body);
    assert_eq!(
        page_two.first().map(String::as_str),
        Some("Org 25"),
        "no row repeated or skipped: {page_two:?}"
    );
    assert_eq!(page_two.len(), 20);
    let by_name = names(&admin.get("/admin/organizations?q=org&sort=name").await.body);
    assert_eq!(by_name[0], "Org 01");
    assert_eq!(
        names(&admin.get("/admin/organizations?q=host-7").await.body),
        ["Org 07"]
    );
    // `%` and `_` are searched for, not wildcards.
    assert_eq!(
        names(&admin.get("/admin/organizations?q=100%25").await.body),
        ["100% Honest_Co"]
    );
    assert!(names(&admin.get("/admin/organizations?q=O_g").await.body).is_empty());
    let bad_status = admin.fetch("/api/admin_organizations?status=cancelled").await;
    assert_eq!(bad_status.status, 422);
    let bad_cursor = admin.fetch("/api/admin_organizations?after=not-an-id").await;
    assert_eq!(bad_cursor.status, 422);
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn the_analytics_page_and_its_downloads_show_the_ledgers_figures_to_admins_only(pool: PgPool) {
    use crate::analytics::{HEADER, HISTORY};
    let app = TestApp::spawn(pool.clone()).await;
    let rows =
        app::analytics::import::read_history(format!("{HEADER}\n{HISTORY}").as_bytes(), |_| {}).unwrap();
    app::analytics::import_store::store_history(&pool, &rows, app.state.clock.now())
        .await
        .unwrap();
    let mut customer = app.signed_up("ada@acme.test", "Acme", "starter").await;
    let (mut admin, _) = enrolled_admin(&app).await;

    let page = admin
        .get("/admin/analytics?first=2026-01&last=2026-03&from=2026-02-01&to=2026-02-28")
        .await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("data-table=\"months\"") && page.body.contains("<svg"),
        "tables and charts"
    );
    assert!(
        page.body.contains("$137.17"),
        "January's MRR: two annual plans rounded once plus a monthly one"
    );
    assert!(page.body.contains("data-table=\"range\""), "the custom range");
    assert!(page.body.contains("Baremetrics"), "the forecast names its method");

    let csv = admin
        .get("/admin/analytics/months.csv?first=2026-01&last=2026-03")
        .await;
    assert_eq!(csv.status, 200);
    assert_eq!(csv.headers["content-type"], "text/csv; charset=utf-8");
    assert!(
        csv.headers["content-disposition"]
            .to_str()
            .unwrap()
            .contains("gatehouse-months-2026-01-to-2026-03.csv")
    );
    let lines: Vec<&str> = csv.body.lines().collect();
    assert!(lines[0].starts_with("Month,MRR at start,MRR,ARR,Active customers"));
    assert!(
        lines[1].starts_with("2026-01,$0.00,$137.17,\"$1,646.04\",1,"),
        "{}",
        lines[1]
    );
    assert_eq!(lines.len(), 4);
    for file in ["cohorts.csv", "splits.csv", "forecast.csv"] {
        let download = admin
            .get(&format!("/admin/analytics/{file}?first=2026-01&last=2026-03"))
            .await;
        assert_eq!(download.status, 200, "{file}");
    }
    let json = admin
        .get("/admin/analytics/export.json?first=2026-01&last=2026-03")
        .await;
    let exported: serde_json::Value = serde_json::from_str(&json.body).unwrap();
    assert_eq!(exported["months"][1]["mrr_cents"], 23_317);
    assert_eq!(admin.get("/admin/analytics/secrets.csv").await.status, 404);
    assert_eq!(
        admin
            .get("/admin/analytics/months.csv?first=2026-13")
            .await
            .status,
        422
    );
    let backwards = admin.get("/admin/analytics?first=2026-03&last=2026-01").await;
    assert!(backwards.body.contains("the last month is before the first"));

    let mut anonymous = app.browser();
    for browser in [&mut anonymous, &mut customer] {
        let refused = browser.get("/admin/analytics/months.csv").await;
        assert_eq!(refused.status, 303);
        assert_eq!(refused.headers["location"], "/admin/login");
    }
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn an_impersonating_admin_sees_the_owners_portal_with_a_banner_is_audited_and_cannot_pay_or_change_security(
    pool: PgPool,
) {
    let app = TestApp::spawn(pool.clone()).await;
    app.signed_up("ada@acme.test", "Acme", "starter").await;
    let (mut admin, _) = enrolled_admin(&app).await;
    let org: Uuid = sqlx::query_scalar("select organization_id from organization")
        .fetch_one(&pool)
        .await
        .unwrap();
    let org_text = org.to_string();
    let without_reason = admin
        .submit(
            "/api/admin_impersonate",
            &[("organization_id", org_text.as_str()), ("reason", "")],
        )
        .await;
    assert!(
        matches!(form_error(&without_reason), app::error::AppError::Validation { field, .. } if field == "reason")
    );
    let started = admin
        .submit(
            "/api/admin_impersonate",
            &[
                ("organization_id", org_text.as_str()),
                ("reason", "Ticket 4411: invoices look wrong"),
            ],
        )
        .await;
    assert_eq!(started.headers["location"], "/app");

    let portal = admin.get("/app/billing").await;
    assert_eq!(portal.status, 200);
    assert!(
        portal.body.contains("data-banner=\"impersonation\""),
        "a permanent banner"
    );
    assert!(portal.body.contains("Exit impersonation"));
    // Billing, security and every other change are refused, whatever the path.
    for (path, fields) in [
        (
            "/api/change_password",
            vec![
                ("current_password", PASSWORD),
                ("new_password", "another long passphrase"),
            ],
        ),
        (
            "/api/start_checkout",
            vec![("tier", "starter"), ("cycle", "monthly")],
        ),
        ("/api/set_cancellation", vec![("cancel", "true")]),
        (
            "/api/invite_member",
            vec![("email", "eve@evil.test"), ("role", "admin")],
        ),
        ("/api/sandbox_end_trial", vec![]),
    ] {
        let refused = admin.submit(path, &fields).await;
        assert_eq!(refused.status, 403, "{path}");
    }
    // The console itself is closed until the exit.
    assert_eq!(admin.get("/admin").await.status, 403);
    assert_eq!(admin.fetch("/api/admin_dashboard").await.status, 403);

    let ended = admin.submit("/api/admin_stop_impersonating", &[]).await;
    assert_eq!(ended.headers["location"], format!("/admin/organizations/{org}"));
    assert_eq!(admin.get("/admin").await.status, 200);
    let actions: Vec<(String, Option<serde_json::Value>)> = sqlx::query_as(
        "select action, after from admin_audit where action like 'impersonation.%' order by admin_audit_id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let names: Vec<&str> = actions.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(names.first(), Some(&"impersonation.start"));
    assert_eq!(names.last(), Some(&"impersonation.end"));
    assert_eq!(
        names.iter().filter(|a| **a == "impersonation.refused").count(),
        5,
        "{names:?}"
    );
    assert!(
        actions.iter().any(|(a, after)| a == "impersonation.request"
            && after.as_ref().is_some_and(|v| v["path"] == "/app/billing")),
        "every request is audited"
    );
    let password_unchanged: i64 =
        sqlx::query_scalar("select auth_version::bigint from app_user where email = 'ada@acme.test'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(password_unchanged, 1);
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn an_impersonation_ends_by_itself_after_thirty_minutes(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    app.signed_up("ada@acme.test", "Acme", "starter").await;
    let (mut admin, _) = enrolled_admin(&app).await;
    let org: Uuid = sqlx::query_scalar("select organization_id from organization")
        .fetch_one(&pool)
        .await
        .unwrap();
    let org_text = org.to_string();
    admin
        .submit(
            "/api/admin_impersonate",
            &[("organization_id", org_text.as_str()), ("reason", "Support call")],
        )
        .await;
    app.state.clock.advance(TimeDelta::minutes(29));
    assert_eq!(admin.get("/app").await.status, 200);
    app.state.clock.advance(TimeDelta::minutes(2));
    let after = admin.get("/app").await;
    assert_eq!(after.status, 303, "no longer anyone in the portal");
    assert!(after.headers["location"].to_str().unwrap().starts_with("/login"));
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn overrides_are_checked_against_the_catalogue_change_what_the_organisation_may_do_and_are_audited(
    pool: PgPool,
) {
    let app = TestApp::spawn(pool.clone()).await;
    app.signed_up("ada@acme.test", "Acme", "starter").await;
    let (mut admin, _) = enrolled_admin(&app).await;
    let org: Uuid = sqlx::query_scalar("select organization_id from organization")
        .fetch_one(&pool)
        .await
        .unwrap();
    let org_text = org.to_string();
    let add = |kind: &'static str, key: &'static str, value: &'static str, expires: &'static str| {
        [
            ("organization_id", org_text.clone()),
            ("kind", kind.to_owned()),
            ("key", key.to_owned()),
            ("value", value.to_owned()),
            ("expires", expires.to_owned()),
            ("reason", "Pilot agreed with sales".to_owned()),
        ]
    };
    let form = |fields: &[(&'static str, String)]| -> Vec<(&'static str, String)> { fields.to_vec() };
    for (fields, field) in [
        (add("feature", "teleport", "on", ""), "key"),
        (add("feature", "oee_dashboard", "maybe", ""), "value"),
        (add("limit", "workspaces", "-3", ""), "value"),
        (add("tier", "platinum", "", ""), "key"),
        (add("limit", "workspaces", "10", "2020-01-01"), "expires"),
    ] {
        let fields = form(&fields);
        let refs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let refused = admin.submit("/api/admin_add_override", &refs).await;
        assert!(
            matches!(form_error(&refused), app::error::AppError::Validation { field: f, .. } if f == field),
            "{refs:?}"
        );
    }
    let fields = form(&add("feature", "oee_dashboard", "on", ""));
    let refs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let added = admin.submit("/api/admin_add_override", &refs).await;
    assert_eq!(
        added.headers["location"],
        format!("/admin/organizations/{org}?done=override")
    );

    // The organisation may now use a professional feature on the starter plan.
    let catalog = app.state.catalog.get(&pool).await.unwrap();
    let standing = app::entitlements::guard::standing(
        &pool,
        &catalog,
        &app::entitlements::db::OrganizationAddress::Id(org),
        app.state.clock.now(),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(standing.check_feature(&catalog, "oee_dashboard"), Some(Ok(())));

    let override_id: Uuid = sqlx::query_scalar("select override_id from entitlement_override")
        .fetch_one(&pool)
        .await
        .unwrap();
    let page = admin.get(&format!("/admin/organizations/{org}")).await;
    assert!(page.body.contains(&format!("data-override=\"{override_id}\"")));
    let override_text = override_id.to_string();
    admin
        .submit(
            "/api/admin_remove_override",
            &[
                ("organization_id", org_text.as_str()),
                ("override_id", override_text.as_str()),
                ("reason", "Pilot over"),
                ("confirm", "yes"),
            ],
        )
        .await;
    let removed: bool = sqlx::query_scalar("select removed_at is not null from entitlement_override")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(removed, "the row stays, marked removed");
    let actions: Vec<String> = sqlx::query_scalar(
        "select action from admin_audit where action like 'override.%' order by admin_audit_id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(actions, ["override.add", "override.remove"]);
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn a_failed_provider_event_shows_its_reason_and_payload_and_is_retried_once_and_a_dead_email_is_resent(
    pool: PgPool,
) {
    let app = TestApp::spawn(pool.clone()).await;
    let (mut admin, _) = enrolled_admin(&app).await;
    let event: Uuid = sqlx::query_scalar(
        "insert into webhook_event (provider, provider_event_id, event_type, livemode, provider_created_at, payload,
                                    status, attempts, last_error)
         values ('stripe', 'evt_broken', 'customer.subscription.updated', false, now(), '{\"id\": \"evt_broken\"}',
                 'failed', 8, 'the provider answered 500 eight times')
         returning webhook_event_id",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    let list = admin.get("/admin/events?status=failed").await;
    assert!(list.body.contains("data-event=\"evt_broken\""));
    assert!(list.body.contains("the provider answered 500 eight times"));
    let detail = admin.get(&format!("/admin/events/{event}")).await;
    assert!(
        detail.body.contains("&quot;id&quot;: &quot;evt_broken&quot;")
            || detail.body.contains("\"id\": \"evt_broken\"")
    );
    let event_text = event.to_string();
    let retried = admin
        .submit("/api/admin_retry_event", &[("id", event_text.as_str())])
        .await;
    assert_eq!(
        retried.headers["location"],
        format!("/admin/events/{event}?retried=1")
    );
    let status: String = sqlx::query_scalar("select status from webhook_event")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(status, "pending");
    let again = admin
        .submit("/api/admin_retry_event", &[("id", event_text.as_str())])
        .await;
    assert!(
        form_error(&again)
            .to_string()
            .contains("only a failed or unmatched event")
    );
    assert_eq!(admin.fetch("/api/admin_events?status=lost").await.status, 422);

    let email: Uuid = sqlx::query_scalar(
        "insert into email_outbox (to_address, template, subject, text_body, html_body, status, attempts, last_error)
         values ('ada@acme.test', 'trial_reminder', 'Your trial ends soon', 'x', 'x', 'dead', 10, '550 mailbox unavailable')
         returning email_outbox_id",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    let dead = admin.get("/admin/emails").await;
    assert!(dead.body.contains("550 mailbox unavailable"));
    let email_text = email.to_string();
    for reason in ["", "   "] {
        let refused = admin
            .submit(
                "/api/admin_resend_email",
                &[("id", email_text.as_str()), ("reason", reason)],
            )
            .await;
        assert!(
            matches!(form_error(&refused), app::error::AppError::Validation { field, .. } if field == "reason")
        );
    }
    let resent = admin
        .submit(
            "/api/admin_resend_email",
            &[("id", email_text.as_str()), ("reason", "the mailbox is fixed")],
        )
        .await;
    assert_eq!(resent.headers["location"], "/admin/emails?resent=1");
    let (status, attempts): (String, i32) = sqlx::query_as("select status, attempts from email_outbox")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!((status.as_str(), attempts), ("queued", 0));
    let queued = admin
        .submit(
            "/api/admin_resend_email",
            &[("id", email_text.as_str()), ("reason", "again")],
        )
        .await;
    assert!(matches!(form_error(&queued), app::error::AppError::Conflict(_)));

    // From the organisation's page: a sent email is copied into a new one.
    app.signed_up("grace@globex.test", "Globex", "starter").await;
    let (globex, sent): (Uuid, Uuid) = sqlx::query_as(
        "select m.organization_id, e.email_outbox_id from email_outbox e
         join app_user u on lower(u.email) = lower(e.to_address) join membership m using (user_id)
         where u.email = 'grace@globex.test' order by e.created_at limit 1",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    sqlx::query("update email_outbox set status = 'sent' where email_outbox_id = $1")
        .bind(sent)
        .execute(&pool)
        .await
        .unwrap();
    let page = admin.get(&format!("/admin/organizations/{globex}")).await;
    assert!(page.body.contains("grace@globex.test") && page.body.contains(&sent.to_string()));
    assert!(
        !page.body.contains("ada@acme.test"),
        "only its own members' emails"
    );
    let (globex_text, sent_text) = (globex.to_string(), sent.to_string());
    let resent = admin
        .submit(
            "/api/admin_resend_email",
            &[
                ("id", sent_text.as_str()),
                ("reason", "never arrived"),
                ("organization_id", globex_text.as_str()),
            ],
        )
        .await;
    assert_eq!(
        resent.headers["location"],
        format!("/admin/organizations/{globex}?done=email")
    );
    let copies: i64 = sqlx::query_scalar(
        "select count(*) from email_outbox where status = 'queued' and subject = (select subject from email_outbox where email_outbox_id = $1)",
    )
    .bind(sent)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(copies, 1);
    let audited: (String, Option<Uuid>) = sqlx::query_as(
        "select reason, organization_id from admin_audit where action = 'email.resend' order by admin_audit_id desc limit 1",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(audited, ("never arrived".to_owned(), Some(globex)));
    let actions: Vec<String> = sqlx::query_scalar(
        "select action from admin_audit where action not like 'admin.%' order by admin_audit_id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(actions, ["provider_event.retry", "email.resend", "email.resend"]);

    // The background work page: each worker's record, its failures linked.
    sqlx::query(
        "update email_outbox set status = 'dead', last_error = '552 mailbox full' where email_outbox_id = $1",
    )
    .bind(email)
    .execute(&pool)
    .await
    .unwrap();
    let work = admin.get("/admin/work").await;
    assert_eq!(work.status, 200);
    for worker in [
        "Provider events",
        "Email delivery",
        "Outbound webhooks",
        "MRR series",
    ] {
        assert!(
            work.body.contains(&format!("data-worker=\"{worker}\"")),
            "{worker}"
        );
    }
    assert!(
        work.body.contains("552 mailbox full"),
        "a dead email's error is shown"
    );
    assert!(
        work.body.contains("Dead: </dt><dd class=\"inline\">1<"),
        "{}",
        &work.body[..work.body.len().min(4000)]
    );

    let health = admin.get("/admin/health").await;
    assert_eq!(health.status, 200);
    assert!(health.body.contains("PostgreSQL") && health.body.contains("data-health=\"provider events\""));
    let dashboard = admin.get("/admin").await;
    assert!(
        dashboard.body.contains("/admin/events?status=failed"),
        "attention links to its page"
    );
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn an_uploaded_history_is_imported_all_or_nothing_and_audited(pool: PgPool) {
    use crate::analytics::{HEADER, HISTORY};
    let app = TestApp::spawn(pool.clone()).await;
    let (admin, _) = enrolled_admin(&app).await;
    let upload = |cookie: Option<String>, csv: String| {
        let body = format!(
            "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"history.csv\"\r\n\
             Content-Type: text/csv\r\n\r\n{csv}\r\n--XyZ--\r\n"
        );
        let mut request = axum::http::Request::post("/admin/import")
            .header("origin", crate::helpers::ORIGIN)
            .header("content-type", "multipart/form-data; boundary=XyZ");
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        request.body(axum::body::Body::from(body)).unwrap()
    };
    let subscriptions = || async {
        sqlx::query_scalar::<_, i64>("select count(*) from subscription")
            .fetch_one(&pool)
            .await
            .unwrap()
    };
    let bad = format!("{HEADER}\n{HISTORY}acme,sub_7,yesterday,active,starter,month,4900,1,0,0,0,USD\n");
    let refused = app.request(upload(admin.cookie.clone(), bad)).await;
    let location = refused.headers["location"].to_str().unwrap().to_owned();
    // The page's address carries no text: what happened waits in the session.
    assert_eq!(location, "/admin/import");
    assert_eq!(subscriptions().await, 0, "nothing of a bad file is stored");
    let page = app
        .request(
            axum::http::Request::get(&location)
                .header("cookie", admin.cookie.clone().unwrap())
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await;
    assert!(page.body.contains("data-import-error") && page.body.contains("line 8"));

    let imported = app
        .request(upload(admin.cookie.clone(), format!("{HEADER}\n{HISTORY}")))
        .await;
    let location = imported.headers["location"].to_str().unwrap();
    assert_eq!(location, "/admin/import");
    let shown = |cookie: Option<String>| {
        let app = &app;
        async move {
            app.request(
                axum::http::Request::get("/admin/import")
                    .header("cookie", cookie.unwrap())
                    .body(axum::body::Body::empty())
                    .unwrap(),
            )
            .await
        }
    };
    let page = shown(admin.cookie.clone()).await;
    assert!(page.body.contains("Imported 6 rows"), "the outcome is shown");
    assert!(
        !shown(admin.cookie.clone()).await.body.contains("Imported 6 rows"),
        "once"
    );
    // Text in the address is never shown as a notice.
    let forged = app
        .request(
            axum::http::Request::get("/admin/import?done=Your%20account%20is%20locked&error=call%20us")
                .header("cookie", admin.cookie.clone().unwrap())
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await;
    assert!(!forged.body.contains("account is locked") && !forged.body.contains("call us"));
    assert_eq!(subscriptions().await, 4);
    let audited: serde_json::Value =
        sqlx::query_scalar("select after from admin_audit where action = 'history.import'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(audited["revisions_added"], 6);

    let anonymous = app.request(upload(None, format!("{HEADER}\n{HISTORY}"))).await;
    assert_eq!(anonymous.status, 401, "{}", anonymous.body);
    let from_elsewhere = app
        .request(
            axum::http::Request::post("/admin/import")
                .header("origin", "https://evil.test")
                .header("cookie", admin.cookie.clone().unwrap())
                .header("content-type", "multipart/form-data; boundary=XyZ")
                .body(axum::body::Body::from("--XyZ--\r\n"))
                .unwrap(),
        )
        .await;
    assert_eq!(
        from_elsewhere.status, 403,
        "the same-origin guard covers the upload"
    );
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn an_api_key_made_in_the_console_is_shown_once_works_and_stops_working_when_revoked(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let (mut admin, _) = enrolled_admin(&app).await;
    let refused = admin
        .submit(
            "/api/admin_create_api_key",
            &[("name", "backend"), ("scope", "admin")],
        )
        .await;
    assert!(
        matches!(form_error(&refused), app::error::AppError::Validation { field, .. } if field == "scope")
    );
    let made = admin
        .submit(
            "/api/admin_create_api_key",
            &[("name", "backend"), ("scope", "read")],
        )
        .await;
    assert_eq!(made.headers["location"], "/admin/api-keys");
    let page = admin.get("/admin/api-keys").await;
    let key = page
        .body
        .split("data-fresh-key")
        .nth(1)
        .and_then(|rest| rest.split_once('>'))
        .and_then(|(_, rest)| rest.split('<').next())
        .unwrap_or_else(|| {
            panic!(
                "the new key is shown: {}",
                &page.body[page.body.len().saturating_sub(3000)..]
            )
        })
        .to_owned();
    assert!(key.starts_with("gk_"));
    assert!(
        !admin.get("/admin/api-keys").await.body.contains(&key),
        "shown once"
    );
    let call = |key: String| {
        axum::http::Request::get("/api/v1/organizations")
            .header("authorization", format!("Bearer {key}"))
            .body(axum::body::Body::empty())
            .unwrap()
    };
    assert_eq!(app.request(call(key.clone())).await.status, 200);
    let prefix: String = key.split('_').take(2).collect::<Vec<_>>().join("_");
    admin
        .submit(
            "/api/admin_revoke_api_key",
            &[("prefix", prefix.as_str()), ("confirm", "yes")],
        )
        .await;
    let after = app.request(call(key.clone())).await;
    assert_eq!(after.status, 401);
    assert!(after.body.contains("revoked_api_key"));
    let twice = admin
        .submit(
            "/api/admin_revoke_api_key",
            &[("prefix", prefix.as_str()), ("confirm", "yes")],
        )
        .await;
    assert!(form_error(&twice).to_string().contains("no live key"));
    let actions: Vec<String> = sqlx::query_scalar(
        "select action from admin_audit where action like 'api_key.%' order by admin_audit_id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(actions, ["api_key.create", "api_key.revoke"]);
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn one_code_sent_twice_at_once_signs_in_only_once(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    enrolled_admin(&app).await;
    app.state.clock.advance(TimeDelta::seconds(31));
    let code = current_code(&app, &secret(&pool).await);
    let mut first = app.browser();
    let mut second = app.browser();
    for browser in [&mut first, &mut second] {
        browser
            .submit("/api/admin_login", &[("email", ADMIN), ("password", PASSWORD)])
            .await;
    }
    let fields = [("code", code.as_str())];
    let (one, two) = tokio::join!(
        first.submit("/api/admin_verify", &fields),
        second.submit("/api/admin_verify", &fields)
    );
    let signed_in = [&one, &two]
        .iter()
        .filter(|r| r.headers["location"] == "/admin")
        .count();
    assert_eq!(
        signed_in, 1,
        "{:?} {:?}",
        one.headers["location"], two.headers["location"]
    );
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn needs_attention_counts_emails_unsent_after_an_hour_and_dead_jobs(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    app.signed_up("ada@acme.test", "Acme", "starter").await;
    let count = |body: &str, label: &str| -> i64 {
        let marker = format!("data-attention=\"{label}\" data-count=\"");
        let rest = &body[body.find(&marker).unwrap_or_else(|| panic!("no {label}")) + marker.len()..];
        rest[..rest.find('"').unwrap()].parse().unwrap()
    };
    let queued: i64 = sqlx::query_scalar("select count(*) from email_outbox where status = 'queued'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(
        queued > 0,
        "the signup's emails wait in the outbox (no SMTP here)"
    );
    {
        let (mut admin, _) = enrolled_admin_named(&app, "early@gatehouse.test").await;
        let page = admin.get("/admin").await;
        assert_eq!(
            count(&page.body, "Emails unsent after an hour"),
            0,
            "not yet an hour"
        );
        assert_eq!(count(&page.body, "Dead jobs"), 0);
    }
    app.state.clock.advance(chrono::TimeDelta::minutes(61));
    sqlx::query(
        "insert into job (kind, run_at, state, attempt, max_attempts, last_error, created_at, finished_at)
         values ('trials.expire', $1, 'dead', 8, 8, 'gave up', $1, $1)",
    )
    .bind(app.state.clock.now())
    .execute(&pool)
    .await
    .unwrap();
    let (mut admin, _) = enrolled_admin(&app).await;
    let page = admin.get("/admin").await;
    assert_eq!(count(&page.body, "Emails unsent after an hour"), queued);
    assert_eq!(count(&page.body, "Dead jobs"), 1);
    assert!(page.body.contains("href=\"/admin/work\""));
}
