//! The Stripe webhook inbox: verify, store once, acknowledge.

use crate::helpers::{
    TestApp, WEBHOOK_SECRET, deliver_signed, deliver_webhook, shipped_catalog, stripe_event, stripe_fixture,
};
use sqlx::PgPool;
use stripe_webhook::Webhook;

/// A Stripe-shaped event, created at a fixed time.
fn event(id: &str, event_type: &str, object: serde_json::Value) -> String {
    stripe_event(id, event_type, 1_763_700_000, object)
}

fn subscription_event(id: &str) -> String {
    event(
        id,
        "customer.subscription.updated",
        stripe_fixture("subscription_active_starter.json"),
    )
}

fn now() -> i64 {
    app::clock::Clock::System.unix()
}

async fn app_with_webhooks(pool: PgPool) -> TestApp {
    server::sync_catalog_file(&pool, &shipped_catalog())
        .await
        .unwrap();
    TestApp::with_settings(pool, &[("GATEHOUSE_STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET)])
}

async fn stored(pool: &PgPool) -> Vec<(String, String, String)> {
    // language=PostgreSQL
    sqlx::query!("select provider_event_id, event_type, status from webhook_event order by received_at")
        .fetch_all(pool)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.provider_event_id, r.event_type, r.status))
        .collect()
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn a_signed_event_is_stored_before_it_is_acknowledged(pool: PgPool) {
    let app = app_with_webhooks(pool.clone()).await;
    let payload = subscription_event("evt_1");

    let response = deliver_signed(&app, &payload).await;

    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(response.body, r#"{"received":true,"duplicate":false}"#);
    assert_eq!(
        stored(&pool).await,
        [(
            "evt_1".into(),
            "customer.subscription.updated".into(),
            "pending".into()
        )]
    );
    // language=PostgreSQL
    let payload_kept = sqlx::query_scalar!("select payload->'data'->'object'->>'id' from webhook_event")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(payload_kept.as_deref(), Some("sub_gh_starter_001"));
}

#[test]
fn the_subscription_fixture_is_a_valid_stripe_subscription() {
    // async-stripe's own parser must accept it, with the typed object inside.
    let payload = subscription_event("evt_fixture");
    let parsed = Webhook::insecure(&payload).expect("async-stripe parses the fixture");
    match parsed.data.object {
        stripe_webhook::EventObject::CustomerSubscriptionUpdated(subscription) => {
            assert_eq!(subscription.id.as_str(), "sub_gh_starter_001");
            assert_eq!(subscription.items.data[0].price.unit_amount, Some(4900));
        }
        other => panic!("unexpected object: {other:?}"),
    }
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn a_redelivered_event_is_acknowledged_and_stored_once(pool: PgPool) {
    let app = app_with_webhooks(pool.clone()).await;
    let payload = subscription_event("evt_dup");
    for attempt in 0..3 {
        // Stripe signs each delivery afresh.
        let signature = Webhook::generate_test_header(&payload, WEBHOOK_SECRET, Some(now() - attempt));
        let response = deliver_webhook(&app, &payload, Some(signature)).await;
        assert_eq!(response.status, 200);
        assert_eq!(
            response.body.contains("\"duplicate\":true"),
            attempt > 0,
            "attempt {attempt}"
        );
    }
    assert_eq!(stored(&pool).await.len(), 1);
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn forged_stale_malformed_and_unsigned_deliveries_are_refused(pool: PgPool) {
    let app = app_with_webhooks(pool.clone()).await;
    let payload = subscription_event("evt_bad");
    let not_json = "this is not json";
    let cases: Vec<(&str, &str, Option<String>, &str)> = vec![
        (
            "forged",
            &payload,
            Some(Webhook::generate_test_header(&payload, "whsec_wrong", None)),
            "signature does not match",
        ),
        (
            "tampered",
            &payload,
            Some(Webhook::generate_test_header(
                &subscription_event("evt_other"),
                WEBHOOK_SECRET,
                None,
            )),
            "signature does not match",
        ),
        (
            "stale",
            &payload,
            Some(Webhook::generate_test_header(
                &payload,
                WEBHOOK_SECRET,
                Some(now() - 301),
            )),
            "older than 300 seconds",
        ),
        (
            "garbage header",
            &payload,
            Some("t=abc,v1=zz".into()),
            "signature does not match",
        ),
        ("unsigned", &payload, None, "missing Stripe-Signature"),
    ];
    for (case, body, signature, message) in cases {
        let response = deliver_webhook(&app, body, signature).await;
        assert_eq!(response.status, 400, "{case}: {}", response.body);
        assert!(response.body.contains(message), "{case}: {}", response.body);
    }
    assert!(stored(&pool).await.is_empty(), "nothing refused is stored");

    // A signed body that is not a readable event is Stripe's all the same:
    // kept as rejected, with its reason and the body, and acknowledged so
    // that Stripe does not redeliver it for days.
    let response = deliver_webhook(
        &app,
        not_json,
        Some(Webhook::generate_test_header(not_json, WEBHOOK_SECRET, None)),
    )
    .await;
    assert_eq!(response.status, 200, "{}", response.body);
    assert!(response.body.contains("not a Stripe event"), "{}", response.body);
    let kept = stored(&pool).await;
    assert_eq!(kept.len(), 1);
    assert_eq!((kept[0].1.as_str(), kept[0].2.as_str()), ("unknown", "rejected"));
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn event_types_gatehouse_does_not_handle_are_still_acknowledged_and_kept(pool: PgPool) {
    let app = app_with_webhooks(pool.clone()).await;
    let payload = event(
        "evt_new",
        "some.future_event",
        serde_json::json!({ "id": "x_1", "object": "thing" }),
    );
    let response = deliver_signed(&app, &payload).await;
    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(stored(&pool).await[0].1, "some.future_event");
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn without_a_signing_secret_the_endpoint_does_not_exist(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let payload = subscription_event("evt_1");
    let response = deliver_signed(&app, &payload).await;
    assert_eq!(response.status, 404);
    assert!(stored(&pool).await.is_empty());
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn webhooks_need_no_browser_origin(pool: PgPool) {
    // Stripe sends no Origin header, and a proxy may add any: the signature
    // is the proof instead, so neither a missing nor a foreign origin matters.
    let app = app_with_webhooks(pool).await;
    for (n, origin) in [None, Some("https://evil.test"), Some("null")]
        .into_iter()
        .enumerate()
    {
        let payload = subscription_event(&format!("evt_origin_{n}"));
        let signature = Webhook::generate_test_header(&payload, WEBHOOK_SECRET, None);
        let mut request = axum::http::Request::post("/webhooks/stripe")
            .header("content-type", "application/json")
            .header("stripe-signature", signature);
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        let response = app
            .request(request.body(axum::body::Body::from(payload)).unwrap())
            .await;
        assert_eq!(response.status, 200, "origin {origin:?}: {}", response.body);
    }
}

/// A signature's age is judged by Gatehouse's clock: signed at the clock's
/// now it is fresh however far the clock was moved, and 301 seconds before
/// it, stale.
#[sqlx::test(migrator = "server::MIGRATOR")]
async fn a_signatures_age_is_judged_by_the_clock(pool: PgPool) {
    let app = app_with_webhooks(pool.clone()).await;
    for (n, days) in [-30i64, 0, 45].into_iter().enumerate() {
        app.state
            .clock
            .set(chrono::DateTime::from_timestamp(now(), 0).unwrap() + chrono::TimeDelta::days(days));
        let at = app.state.clock.unix();
        for (age, fresh) in [(0, true), (299, true), (301, false), (-301, false)] {
            let payload = subscription_event(&format!("evt_age_{n}_{age}"));
            let signature = Webhook::generate_test_header(&payload, WEBHOOK_SECRET, Some(at - age));
            let response = deliver_webhook(&app, &payload, Some(signature)).await;
            let expected = if fresh { 200 } else { 400 };
            assert_eq!(
                response.status, expected,
                "clock {days:+} days, signed {age} s before: {}",
                response.body
            );
        }
    }
}
