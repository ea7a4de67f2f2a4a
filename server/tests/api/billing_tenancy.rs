//! Billing's server functions and files tried as anonymous, as the owner of
//! another organisation, as a plain member and as the owner; and each one's
//! refusals (a stale form, too many users, unknown add-ons) over HTTP.

use crate::billing_events::drain;
use crate::helpers::{Browser, TestApp, join};
use sqlx::PgPool;
use uuid::Uuid;

/// The owner subscribes on the sandbox and the trial ends, so the first
/// invoice is issued and paid; returns the invoice id and the checkout session.
async fn subscribed(app: &TestApp, owner: &mut Browser<'_>, tier: &str) -> (String, String) {
    let session_id = crate::helpers::start_sandbox_checkout(owner, tier).await;
    let paid = owner
        .submit(
            "/api/sandbox_pay",
            &[
                ("session_id", &session_id),
                ("card_number", "4242 4242 4242 4242"),
            ],
        )
        .await;
    assert!(paid.headers.contains_key("location"), "{}", paid.body);
    drain(app).await;
    let ended = owner.submit("/api/sandbox_end_period", &[]).await;
    assert_eq!(ended.headers["location"], "/app/billing?period_ended=1");
    drain(app).await;
    // language=PostgreSQL
    let invoice = sqlx::query_scalar!("select invoice_id from invoice")
        .fetch_one(&app.state.pool)
        .await
        .unwrap()
        .to_string();
    (invoice, session_id)
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn billing_tenancy_matrix(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let mut owner = app.signed_up("ada@acme.test", "Acme", "starter").await;
    let mut member = join(&app, &mut owner, "mem@acme.test", "member").await;
    let mut outsider = app.signed_up("eve@other.test", "Other", "starter").await;
    let mut anonymous = app.browser();
    let (invoice, session) = subscribed(&app, &mut owner, "starter").await;
    // A fresh form (request id) for each write: one id is one request.
    let ids: Vec<String> = (0..6).map(|_| Uuid::new_v4().to_string()).collect();

    // Reads, as [anonymous, outsider, member, owner].
    let reads: Vec<(String, [u16; 4])> = vec![
        ("/api/billing".into(), [401, 200, 200, 200]),
        (format!("/api/invoice?invoice_id={invoice}"), [401, 404, 200, 200]),
        (
            format!("/api/sandbox_checkout?session_id={session}"),
            [401, 404, 403, 200],
        ),
        (
            format!("/api/checkout_result?session_id={session}"),
            [401, 404, 200, 200],
        ),
        (
            "/api/preview_plan_change?tier=professional&cycle=monthly".into(),
            [401, 409, 403, 200],
        ),
    ];
    for (endpoint, expected) in &reads {
        let mut actual = [0u16; 4];
        for (slot, browser) in [&mut anonymous, &mut outsider, &mut member, &mut owner]
            .into_iter()
            .enumerate()
        {
            actual[slot] = browser.fetch(endpoint).await.status.as_u16();
        }
        assert_eq!(
            &actual, expected,
            "{endpoint} as [anonymous, outsider, member, owner]"
        );
    }
    // Another organisation's invoice page and PDF do not exist for them.
    for path in [
        format!("/app/billing/invoices/{invoice}"),
        format!("/app/billing/invoices/{invoice}/pdf"),
    ] {
        let theirs = outsider.get(&path).await;
        assert_eq!(theirs.status, 404, "{path} for an outsider");
        assert!(!theirs.body.contains("SBX-"), "{path} leaks the invoice");
        assert_eq!(member.get(&path).await.status, 200, "{path} for a member");
        assert_eq!(anonymous.get(&path).await.status, 303, "{path} for a visitor");
    }
    let billing = outsider.fetch("/api/billing").await.body;
    assert!(
        !billing.contains("SBX-") && !billing.contains("Acme"),
        "{billing}"
    );

    // Writes. The outsider, on a trial of its own, is told to subscribe first.
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, [u16; 4]);
    let writes: Vec<Case> = vec![
        (
            "/api/sandbox_pay",
            // Paying a completed checkout again answers as the first time did
            // (a double submit charges once).
            vec![("session_id", &session), ("card_number", "4242 4242 4242 4242")],
            [401, 404, 403, 200],
        ),
        (
            "/api/preview_plan_change",
            vec![("tier", "professional"), ("cycle", "monthly")],
            [401, 409, 403, 200],
        ),
        (
            "/api/change_plan",
            vec![
                ("tier", "professional"),
                ("cycle", "monthly"),
                ("request_id", &ids[0]),
            ],
            [401, 409, 403, 200],
        ),
        (
            "/api/set_cancellation",
            vec![("cancel", "true"), ("request_id", &ids[1])],
            [401, 409, 403, 200],
        ),
        (
            "/api/set_cancellation",
            vec![("cancel", "false"), ("request_id", &ids[2])],
            [401, 409, 403, 200],
        ),
        (
            "/api/payment_methods",
            vec![("request_id", &ids[3])],
            [401, 409, 403, 200],
        ),
        (
            "/api/sandbox_card",
            vec![("card_number", "4242 4242 4242 4242")],
            [401, 409, 403, 200],
        ),
        ("/api/sandbox_end_period", vec![], [401, 409, 403, 200]),
        (
            "/api/start_checkout",
            vec![("tier", "starter"), ("cycle", "monthly"), ("request_id", &ids[4])],
            [401, 200, 403, 409],
        ),
    ];
    for (endpoint, fields, expected) in &writes {
        // Preview is a GET function; the rest are posted.
        let mut actual = [0u16; 4];
        for (slot, browser) in [&mut anonymous, &mut outsider, &mut member, &mut owner]
            .into_iter()
            .enumerate()
        {
            let response = if *endpoint == "/api/preview_plan_change" {
                let query = form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(fields.iter())
                    .finish();
                browser.fetch(&format!("{endpoint}?{query}")).await
            } else {
                browser.call(endpoint, fields).await
            };
            assert!(response.status.as_u16() < 500, "{endpoint}: {}", response.body);
            actual[slot] = response.status.as_u16();
        }
        assert_eq!(
            &actual, expected,
            "{endpoint} {fields:?} as [anonymous, outsider, member, owner]"
        );
    }
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn billing_refusals_are_typed_and_name_the_field(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let mut owner = app.signed_up("ada@acme.test", "Acme", "professional").await;
    for n in 0..6 {
        join(&app, &mut owner, &format!("m{n}@acme.test"), "member").await;
    }
    subscribed(&app, &mut owner, "professional").await;
    let fresh = Uuid::new_v4().to_string();
    // (endpoint, fields, status, words in the answer)
    type Refusal<'a> = (&'a str, Vec<(&'a str, &'a str)>, u16, &'a str);
    let cases: Vec<Refusal> = vec![
        // Seven users do not fit Starter's five.
        (
            "/api/change_plan",
            vec![("tier", "starter"), ("cycle", "annual"), ("request_id", &fresh)],
            409,
            "7",
        ),
        (
            "/api/change_plan",
            vec![
                ("tier", "professional"),
                ("cycle", "monthly"),
                ("request_id", "not-a-uuid"),
            ],
            422,
            "request_id",
        ),
        (
            "/api/change_plan",
            vec![("tier", "platinum"), ("cycle", "monthly"), ("request_id", &fresh)],
            422,
            "tier",
        ),
        (
            "/api/change_plan",
            vec![("tier", "starter"), ("cycle", "weekly"), ("request_id", &fresh)],
            422,
            "cycle",
        ),
        (
            "/api/change_plan",
            vec![
                ("tier", "professional"),
                ("cycle", "monthly"),
                ("request_id", &fresh),
                ("add_ons[extra_user]", "many"),
            ],
            422,
            "add_ons[extra_user]",
        ),
        (
            "/api/change_plan",
            vec![
                ("tier", "professional"),
                ("cycle", "monthly"),
                ("request_id", &fresh),
                ("add_ons[no_such_add_on]", "1"),
            ],
            422,
            "add_ons",
        ),
        (
            "/api/set_cancellation",
            vec![("cancel", "maybe"), ("request_id", &fresh)],
            422,
            "cancel",
        ),
        (
            "/api/set_cancellation",
            vec![("cancel", "true"), ("request_id", "")],
            422,
            "request_id",
        ),
        (
            "/api/payment_methods",
            vec![("request_id", "stale")],
            422,
            "request_id",
        ),
        (
            "/api/sandbox_card",
            vec![("card_number", "1234")],
            422,
            "card_number",
        ),
        (
            "/api/sandbox_card",
            vec![("card_number", "4000 0000 0000 0002")],
            422,
            "card_number",
        ),
    ];
    for (endpoint, fields, status, words) in &cases {
        let response = owner.call(endpoint, fields).await;
        assert_eq!(
            response.status, *status,
            "{endpoint} {fields:?}: {}",
            response.body
        );
        assert!(
            response.body.contains(words),
            "{endpoint} {fields:?}: {}",
            response.body
        );
    }
    // Nothing changed: still Professional, monthly, not cancelled.
    let billing = owner.fetch("/api/billing").await.body;
    assert!(billing.contains("\"cancel_at_period_end\":false"), "{billing}");

    // One form is one request: its id reused for another change is refused,
    // as Stripe refuses a reused idempotency key; reused for the same change
    // it answers as the first time.
    let form = Uuid::new_v4().to_string();
    let cancel = [("cancel", "true"), ("request_id", form.as_str())];
    assert_eq!(owner.call("/api/set_cancellation", &cancel).await.status, 200);
    assert_eq!(
        owner.call("/api/set_cancellation", &cancel).await.status,
        200,
        "a double submit"
    );
    let resume = owner
        .call(
            "/api/set_cancellation",
            &[("cancel", "false"), ("request_id", &form)],
        )
        .await;
    assert_eq!(resume.status, 409, "{}", resume.body);
    assert!(resume.body.contains("reload the page"), "{}", resume.body);
    let billing = owner.fetch("/api/billing").await.body;
    assert!(billing.contains("\"cancel_at_period_end\":true"), "{billing}");
}
