//! The collection ladder against a real database, walked by the clock: a
//! card that keeps failing climbs failing → restricted and comes back down
//! on payment; a bank that wants authentication gets its own email; events
//! redelivered or out of order change nothing twice.

use crate::billing_events::{drain, invoice, stripe_mock};
use crate::helpers::{
    TestApp, deliver_signed, link_stripe_customer, start_sandbox_checkout, stripe_app, stripe_event,
};
use chrono::TimeDelta;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

async fn organization(pool: &PgPool, name: &str) -> Uuid {
    // language=PostgreSQL
    sqlx::query_scalar!("select organization_id from organization where name = $1", name)
        .fetch_one(pool)
        .await
        .unwrap()
}

async fn templates_to(app: &TestApp, to: &str) -> Vec<(String, String)> {
    let mut emails = app.emails_to(to).await;
    emails.reverse();
    emails
}

fn count(emails: &[(String, String)], template: &str) -> usize {
    emails.iter().filter(|(t, _)| t == template).count()
}

/// (event type, occurred) of the organisation's outbound events, oldest first.
async fn outbound_types(pool: &PgPool, organization_id: Uuid) -> Vec<String> {
    // language=PostgreSQL
    sqlx::query_scalar!(
        "select event_type from outbound_event where organization_id = $1 order by created_at, event_id",
        organization_id
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

/// (step, attempt) of the organisation's collection history, in order.
async fn steps(pool: &PgPool, organization_id: Uuid) -> Vec<(String, i32)> {
    // language=PostgreSQL
    sqlx::query!(
        r#"
        select s.step, s.attempt from collection_step s join collection_case c using (collection_case_id)
        where c.organization_id = $1 order by s.occurred_at, s.collection_step_id
        "#,
        organization_id
    )
    .fetch_all(pool)
    .await
    .unwrap()
    .into_iter()
    .map(|r| (r.step, r.attempt))
    .collect()
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn three_failed_payments_restrict_the_account_and_a_payment_restores_it(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let clock = &app.state.clock;
    let mut owner = app.signed_up("ada@acme.test", "Acme Metals", "starter").await;
    let acme = organization(&pool, "Acme Metals").await;
    // A card that attaches but fails every later charge.
    let session = start_sandbox_checkout(&mut owner, "starter").await;
    let paid = owner
        .submit(
            "/api/sandbox_pay",
            &[("session_id", &session), ("card_number", "4000 0000 0000 0341")],
        )
        .await;
    assert!(paid.headers.contains_key("location"), "{}", paid.body);
    app.run_due_work().await;

    // The trial ends and its first charge fails: the case opens.
    assert!(clock.advance(TimeDelta::days(14) + TimeDelta::hours(1)));
    app.run_due_work().await;
    // language=PostgreSQL
    let first_failure = sqlx::query_scalar!(
        r#"select past_due_since as "at: chrono::DateTime<chrono::Utc>" from collection_case where organization_id = $1"#,
        acme
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(
        clock.now() - first_failure < TimeDelta::seconds(5),
        "dated at the provider's failure"
    );
    let emails = templates_to(&app, "ada@acme.test").await;
    assert_eq!(count(&emails, "payment_failed"), 1, "{emails:?}");
    let failed = &emails.iter().find(|(t, _)| t == "payment_failed").unwrap().1;
    assert!(failed.contains("We could not charge $49.00"), "{failed}");
    assert!(failed.contains("(attempt 1)"), "{failed}");
    let retry_day = (first_failure + TimeDelta::days(3))
        .format("%-d %B %Y")
        .to_string();
    assert!(failed.contains(&format!("try again on {retry_day}")), "{failed}");

    // Day by day: the sandbox retries on days 3 and 8, both fail; on day
    // 14 the grace period ends and the account turns read-only.
    for _ in 0..14 {
        assert!(clock.advance(TimeDelta::days(1)));
        app.run_due_work().await;
    }
    let emails = templates_to(&app, "ada@acme.test").await;
    assert_eq!(count(&emails, "payment_failed"), 3, "{emails:?}");
    assert_eq!(count(&emails, "account_restricted"), 1, "{emails:?}");
    assert_eq!(
        steps(&pool, acme).await,
        [
            ("failing".to_owned(), 1),
            ("failing".to_owned(), 2),
            ("failing".to_owned(), 3),
            ("restricted".to_owned(), 0)
        ]
    );
    // language=PostgreSQL
    let restricted_at = sqlx::query_scalar!(
        r#"select payment_restricted_at as "at: chrono::DateTime<chrono::Utc>" from organization where organization_id = $1"#,
        acme
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        restricted_at,
        Some(first_failure + TimeDelta::days(14)),
        "restricted when the grace period ended"
    );
    owner.sign_in("ada@acme.test").await;
    let page = owner.get("/app").await;
    assert!(
        page.body.contains(r#"data-reason="payment_overdue""#),
        "the banner says why: {}",
        page.body
    );
    let billing = owner.get("/app/billing").await;
    assert!(billing.body.contains("$49.00"), "{}", billing.body);

    // A working card pays the open invoice: restored at once, told once.
    let fixed = owner
        .submit("/api/sandbox_card", &[("card_number", "4242 4242 4242 4242")])
        .await;
    assert!(fixed.status.as_u16() < 400, "{}", fixed.body);
    app.run_due_work().await;
    app.run_due_work().await;
    let emails = templates_to(&app, "ada@acme.test").await;
    assert_eq!(count(&emails, "account_restored"), 1, "{emails:?}");
    assert_eq!(count(&emails, "payment_receipt"), 1, "{emails:?}");
    assert_eq!(count(&emails, "payment_failed"), 3, "nothing more: {emails:?}");
    assert_eq!(
        steps(&pool, acme).await.last().unwrap(),
        &("recovered".to_owned(), 0)
    );
    // language=PostgreSQL
    let state = sqlx::query!(
        r#"select o.payment_restricted_at is null as "lifted!", s.status
           from organization o join subscription s using (organization_id) where o.organization_id = $1"#,
        acme
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(state.lifted);
    assert_eq!(state.status, "active");
    let page = owner.get("/app").await;
    assert!(!page.body.contains("data-banner=\"read_only\""), "{}", page.body);

    // The host product heard each failure, the restriction and the restoration.
    let types = outbound_types(&pool, acme).await;
    let of = |t: &str| types.iter().filter(|x| *x == t).count();
    assert_eq!(of("invoice.payment_failed"), 3, "{types:?}");
    assert_eq!(of("organization.restricted"), 1, "{types:?}");
    assert_eq!(of("organization.restored"), 1, "{types:?}");

    // The console's organisation page shows the case and its history.
    let (mut admin, _) = crate::admin_console::enrolled_admin(&app).await;
    let page = admin.get(&format!("/admin/organizations/{acme}")).await;
    assert!(
        page.body.contains(r#"data-case-state="recovered""#),
        "{}",
        page.body
    );
    for label in [
        "Payment failing",
        "Restricted (read-only)",
        "Paid",
        "sandbox:evt_",
    ] {
        assert!(page.body.contains(label), "{label}");
    }
    // Each step is in the organisation's ledger, beside the subscription's
    // changes, with its cause: the provider's event or the runner's job.
    let ledger: Vec<&str> = page
        .body
        .split("data-ledger-row")
        .skip(1)
        .map(|row| row.split("</tr>").next().unwrap_or_default())
        .collect();
    for (step, cause) in [
        ("Collection: Payment failing", "sandbox:evt_"),
        ("Collection: Restricted (read-only)", "job:collection.restrict:"),
        ("Collection: Paid", "sandbox:evt_"),
    ] {
        assert!(
            ledger.iter().any(|row| row.contains(step) && row.contains(cause)),
            "{step} caused by {cause}: {ledger:?}"
        );
    }
    assert!(
        ledger.iter().any(|row| !row.contains("Collection:")),
        "the subscription's own changes are there too"
    );

    // Nothing more happens however often the work runs again.
    let before = app.emails_to("ada@acme.test").await.len();
    for _ in 0..3 {
        assert!(clock.advance(TimeDelta::days(1)));
        app.run_due_work().await;
    }
    assert_eq!(app.emails_to("ada@acme.test").await.len(), before);
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn a_payment_that_needs_authentication_links_the_hosted_invoice_once_and_late_events_change_nothing(
    pool: PgPool,
) {
    let (mock, _stripe) = stripe_mock().await;
    let app = stripe_app(pool.clone(), &mock.uri()).await;
    app.signed_up("ada@acme.test", "Acme Metals", "starter").await;
    let acme = link_stripe_customer(&pool, "Acme Metals", "cus_gh_acme_001").await;
    let now = app.state.clock.now().timestamp();
    let mut open = invoice(
        "in_auth_1",
        "cus_gh_acme_001",
        "sub_gh_starter_001",
        "open",
        now - 60,
    );
    open["attempt_count"] = json!(1);
    open["next_payment_attempt"] = json!(now + 3 * 86_400);
    open["hosted_invoice_url"] = json!("https://invoice.stripe.test/i/auth_1");
    let failed = stripe_event(
        "evt_auth_failed",
        "invoice.payment_failed",
        now - 50,
        open.clone(),
    );
    let action = stripe_event(
        "evt_auth_action",
        "invoice.payment_action_required",
        now - 40,
        open.clone(),
    );
    for payload in [&failed, &action, &action] {
        assert_eq!(deliver_signed(&app, payload).await.status, 200);
    }
    drain(&app).await;
    let emails = templates_to(&app, "ada@acme.test").await;
    assert_eq!(count(&emails, "payment_failed"), 1, "{emails:?}");
    assert_eq!(
        count(&emails, "payment_action_required"),
        1,
        "a redelivery sends nothing: {emails:?}"
    );
    let action_email = &emails
        .iter()
        .find(|(t, _)| t == "payment_action_required")
        .unwrap()
        .1;
    assert!(
        action_email.contains("Confirm the payment: https://invoice.stripe.test/i/auth_1"),
        "{action_email}"
    );
    // language=PostgreSQL
    let state = sqlx::query_scalar!(
        "select state from collection_case where organization_id = $1",
        acme
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(state, "action_required");

    // Paid; then the failure is delivered again, late: the case stays closed.
    let mut paid = invoice(
        "in_auth_1",
        "cus_gh_acme_001",
        "sub_gh_starter_001",
        "paid",
        now - 60,
    );
    paid["attempt_count"] = json!(2);
    let paid_event = stripe_event("evt_auth_paid", "invoice.paid", now - 30, paid);
    let late = stripe_event("evt_auth_failed_late", "invoice.payment_failed", now - 55, open);
    for payload in [&paid_event, &late, &paid_event] {
        assert_eq!(deliver_signed(&app, payload).await.status, 200);
    }
    drain(&app).await;
    let emails = templates_to(&app, "ada@acme.test").await;
    assert_eq!(count(&emails, "payment_failed"), 1, "{emails:?}");
    assert_eq!(count(&emails, "account_restored"), 1, "{emails:?}");
    assert_eq!(count(&emails, "payment_receipt"), 1, "{emails:?}");
    assert_eq!(
        steps(&pool, acme).await,
        [
            ("failing".to_owned(), 1),
            ("action_required".to_owned(), 1),
            ("recovered".to_owned(), 0)
        ]
    );
    // It was never restricted, so the host product hears no restoration.
    let types = outbound_types(&pool, acme).await;
    assert!(!types.iter().any(|t| t == "organization.restored"), "{types:?}");
    assert_eq!(types.iter().filter(|t| *t == "invoice.payment_failed").count(), 1);
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn two_workers_racing_the_grace_sweep_restrict_once(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let mut owner = app.signed_up("ada@acme.test", "Acme Metals", "starter").await;
    let acme = organization(&pool, "Acme Metals").await;
    let session = start_sandbox_checkout(&mut owner, "starter").await;
    owner
        .submit(
            "/api/sandbox_pay",
            &[("session_id", &session), ("card_number", "4000 0000 0000 0341")],
        )
        .await;
    app.run_due_work().await;
    assert!(app.state.clock.advance(TimeDelta::days(14) + TimeDelta::hours(1)));
    app.run_due_work().await;
    // Twenty days later, two processes' sweeps at once (no runner: the
    // sweep itself must hold).
    assert!(app.state.clock.advance(TimeDelta::days(20)));
    let sweep = || async {
        let mut tx = pool.begin().await.unwrap();
        let n = app::flows::sweeps::restrict_overdue(
            &mut tx,
            14,
            "test:sweep",
            &app.state.notices(),
            app.state.clock.now(),
            100,
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        n
    };
    let (a, b) = tokio::join!(sweep(), sweep());
    assert_eq!(a + b, 1);
    assert_eq!(sweep().await, 0);
    assert_eq!(
        count(&templates_to(&app, "ada@acme.test").await, "account_restricted"),
        1
    );
    assert_eq!(
        outbound_types(&pool, acme)
            .await
            .iter()
            .filter(|t| *t == "organization.restricted")
            .count(),
        1
    );
}
