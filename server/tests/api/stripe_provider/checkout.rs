//! Checkout, the billing portal and Stripe's failures, told in Gatehouse's words.

use super::*;

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn checkout_creates_the_customer_first_and_sends_idempotent_stripe_requests(pool: PgPool) {
    let mock = MockServer::start().await;
    answer(
        &mock,
        "POST",
        "/v1/customers",
        200,
        stripe_fixture("customer_acme.json"),
    )
    .await;
    answer(
        &mock,
        "POST",
        "/v1/checkout/sessions",
        200,
        stripe_fixture("checkout_session_open.json"),
    )
    .await;
    // language=PostgreSQL
    sqlx::query!(
        r#"
        insert into provider_price (provider, lookup_key, provider_price_id, provider_product_id, unit_amount, currency)
        values ('stripe', 'gatehouse.tier.professional.annual', 'price_pro_annual', 'gatehouse_tier_professional', 214900, 'USD'),
               ('stripe', 'gatehouse.add_on.extra_user.annual', 'price_extra_user_annual', 'gatehouse_add_on_extra_user', 6000, 'USD')
        "#
    )
    .execute(&pool)
    .await
    .unwrap();
    let app = stripe_app(pool.clone(), &mock.uri()).await;
    let mut owner = app
        .signed_up("ada@acme.test", "Acme Metals", "professional")
        .await;
    let request_id = uuid::Uuid::new_v4().to_string();
    let checkout = [
        ("tier", "professional"),
        ("cycle", "annual"),
        ("add_ons[extra_user]", "3"),
        ("request_id", request_id.as_str()),
    ];

    let response = owner.submit("/api/start_checkout", &checkout).await;
    assert_eq!(
        response.headers["location"],
        "https://checkout.stripe.test/c/pay/cs_test_gh_0001"
    );

    let requests = mock.received_requests().await.unwrap();
    assert_eq!(
        requests.iter().map(|r| r.url.path()).collect::<Vec<_>>(),
        ["/v1/customers", "/v1/checkout/sessions"],
        "the customer is created before the session"
    );
    let customer = form(&requests[0].body);
    assert_eq!(field(&customer, "email"), Some("ada@acme.test"));
    assert_eq!(field(&customer, "name"), Some("Acme Metals"));
    assert!(
        requests[0]
            .headers
            .get("idempotency-key")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("customer:")
    );
    let session = form(&requests[1].body);
    assert_eq!(field(&session, "mode"), Some("subscription"));
    assert_eq!(field(&session, "customer"), Some("cus_gh_acme_001"));
    assert_eq!(field(&session, "line_items[0][price]"), Some("price_pro_annual"));
    assert_eq!(field(&session, "line_items[0][quantity]"), Some("1"));
    assert_eq!(
        field(&session, "line_items[1][price]"),
        Some("price_extra_user_annual")
    );
    assert_eq!(field(&session, "line_items[1][quantity]"), Some("3"));
    assert_eq!(field(&session, "allow_promotion_codes"), Some("true"));
    let trial_end: i64 = field(&session, "subscription_data[trial_end]")
        .unwrap()
        .parse()
        .unwrap();
    let now = app::clock::Clock::System.unix();
    assert!(
        (now + 13 * 86_400..=now + 14 * 86_400 + 5).contains(&trial_end),
        "the trial's remaining days carry over"
    );
    assert_eq!(
        field(&session, "success_url"),
        Some("http://127.0.0.1:3000/app/billing/success?session_id={CHECKOUT_SESSION_ID}")
    );
    assert_eq!(
        requests[1]
            .headers
            .get("idempotency-key")
            .unwrap()
            .to_str()
            .unwrap(),
        format!(
            "checkout:{}:{request_id}",
            field(&session, "client_reference_id").unwrap()
        )
    );
    // The customer is linked before the redirect.
    // language=PostgreSQL
    let linked = sqlx::query_scalar!("select provider_customer_id from billing_customer")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(linked, "cus_gh_acme_001");

    // A second submit of the same form reuses the customer and the same key.
    owner.submit("/api/start_checkout", &checkout).await;
    let requests = mock.received_requests().await.unwrap();
    assert_eq!(requests.len(), 3);
    assert_eq!(requests[2].url.path(), "/v1/checkout/sessions");
    assert_eq!(
        requests[2].headers.get("idempotency-key"),
        requests[1].headers.get("idempotency-key")
    );
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn payment_methods_open_a_billing_portal_session_for_the_linked_customer(pool: PgPool) {
    let mock = MockServer::start().await;
    answer(
        &mock,
        "POST",
        "/v1/billing_portal/sessions",
        200,
        stripe_fixture("billing_portal_session_acme.json"),
    )
    .await;
    let app = stripe_app(pool.clone(), &mock.uri()).await;
    let mut owner = app.signed_up("ada@acme.test", "Acme Metals", "starter").await;
    let request_id = uuid::Uuid::new_v4().to_string();

    // Before any checkout there is nothing to manage, and Stripe is not asked.
    let response = owner
        .call("/api/payment_methods", &[("request_id", &request_id)])
        .await;
    assert_eq!(response.status, 409, "{}", response.body);
    assert!(response.body.contains("subscribe first"), "{}", response.body);
    assert!(mock.received_requests().await.unwrap().is_empty());

    link_stripe_customer(&pool, "Acme Metals", "cus_gh_acme_001").await;
    let response = owner
        .submit("/api/payment_methods", &[("request_id", &request_id)])
        .await;
    assert_eq!(
        response.headers["location"],
        "https://billing.stripe.test/p/session/test_gh_acme_0001"
    );
    let requests = mock.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1);
    let session = form(&requests[0].body);
    assert_eq!(field(&session, "customer"), Some("cus_gh_acme_001"));
    assert_eq!(
        field(&session, "return_url"),
        Some("http://127.0.0.1:3000/app/billing")
    );
    assert_eq!(
        idempotency_key(&requests[0]),
        format!("portal:cus_gh_acme_001:{request_id}")
    );

    // A forged or stale form is refused before Stripe is asked.
    let response = owner
        .call("/api/payment_methods", &[("request_id", "not-a-uuid")])
        .await;
    assert_eq!(response.status, 422, "{}", response.body);
    assert_eq!(mock.received_requests().await.unwrap().len(), 1);
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn a_stripe_outage_shows_a_clear_message_and_writes_nothing(pool: PgPool) {
    let mock = MockServer::start().await;
    answer(
        &mock,
        "POST",
        "/v1/customers",
        503,
        json!({"error": {"type": "api_error", "message": "unavailable"}}),
    )
    .await;
    let app = stripe_app(pool.clone(), &mock.uri()).await;
    let mut owner = app.signed_up("ada@acme.test", "Acme Metals", "starter").await;
    let request_id = uuid::Uuid::new_v4().to_string();
    let response = owner
        .call(
            "/api/start_checkout",
            &[
                ("tier", "starter"),
                ("cycle", "monthly"),
                ("request_id", &request_id),
            ],
        )
        .await;
    assert_eq!(response.status, 503, "an outage is 503: {}", response.body);
    assert!(response.body.contains("did not answer"), "{}", response.body);
    // language=PostgreSQL
    let linked = sqlx::query_scalar!("select count(*) from billing_customer")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(linked, Some(0));
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn stripe_failures_are_told_in_gatehouse_words_with_their_own_status(pool: PgPool) {
    // (what Stripe answers to the customer creation, the status the page
    // gets, words it must show)
    let cases = [
        (
            400,
            json!({"error": {"type": "card_error", "code": "card_declined", "message": "RAW: req_123 declined"}}),
            409,
            "the card was declined",
        ),
        (
            402,
            json!({"error": {"type": "card_error", "code": "card_declined", "decline_code": "insufficient_funds", "message": "RAW: funds"}}),
            409,
            "insufficient funds",
        ),
        (
            400,
            json!({"error": {"type": "invalid_request_error", "message": "RAW: param x is invalid"}}),
            409,
            "refused the change; nothing was changed",
        ),
        (
            429,
            json!({"error": {"type": "rate_limit_error", "message": "RAW: slow down"}}),
            503,
            "did not answer",
        ),
        (
            500,
            json!({"error": {"type": "api_error", "message": "RAW: boom"}}),
            503,
            "did not answer",
        ),
        // A 200 that is not a customer: an answer nothing can be made of.
        (200, json!({"not": "a customer"}), 502, "answered unexpectedly"),
    ];
    for (n, (stripe_status, body, status, words)) in cases.into_iter().enumerate() {
        let mock = MockServer::start().await;
        answer(&mock, "POST", "/v1/customers", stripe_status, body).await;
        let app = stripe_app(pool.clone(), &mock.uri()).await;
        let mut owner = app
            .signed_up(&format!("ada{n}@acme.test"), &format!("Acme {n}"), "starter")
            .await;
        let response = owner
            .call(
                "/api/start_checkout",
                &[
                    ("tier", "starter"),
                    ("cycle", "monthly"),
                    ("request_id", &uuid::Uuid::new_v4().to_string()),
                ],
            )
            .await;
        assert_eq!(
            response.status, status,
            "Stripe {stripe_status}: {}",
            response.body
        );
        assert!(
            response.body.contains(words),
            "Stripe {stripe_status}: {}",
            response.body
        );
        assert!(
            !response.body.contains("RAW"),
            "Stripe's own text reached the page: {}",
            response.body
        );
    }
    // language=PostgreSQL
    let linked = sqlx::query_scalar!("select count(*) from billing_customer")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(linked, Some(0), "nothing was written");
}
