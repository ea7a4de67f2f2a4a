//! The Stripe provider's requests, against an HTTP mock serving
//! Stripe-shaped objects (validated by async-stripe's own types): paths,
//! form fields and idempotency keys.

use crate::helpers::{shipped_catalog, stripe_app, stripe_fixture};
use serde_json::{Value, json};
use server::billing::stripe::StripeProvider;
use sqlx::PgPool;
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// Makes the mock answer `verb path` with `status` and `body`.
async fn answer(mock: &MockServer, verb: &str, route: &str, status: u16, body: Value) {
    Mock::given(method(verb))
        .and(path(route))
        .respond_with(ResponseTemplate::new(status).set_body_json(body))
        .mount(mock)
        .await;
}

fn price_fixture() -> Value {
    stripe_fixture("subscription_active_starter.json")["items"]["data"][0]["price"].clone()
}

/// A form body as pairs, decoded.
fn form(body: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

#[test]
fn the_fixtures_are_valid_stripe_objects() {
    let _: stripe_shared::Customer =
        serde_json::from_value(stripe_fixture("customer_acme.json")).expect("customer");
    let _: stripe_shared::CheckoutSession =
        serde_json::from_value(stripe_fixture("checkout_session_open.json")).expect("checkout session");
    let _: stripe_shared::Product =
        serde_json::from_value(stripe_fixture("product_tier_starter.json")).expect("product");
    let _: stripe_shared::Price = serde_json::from_value(price_fixture()).expect("price");
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn catalogue_sync_creates_each_price_once_by_lookup_key_and_reports_differences(pool: PgPool) {
    server::sync_catalog_file(&pool, &shipped_catalog())
        .await
        .unwrap();
    let mock = MockServer::start().await;
    answer(
        &mock,
        "GET",
        "/v1/prices",
        200,
        json!({"object": "list", "data": [], "has_more": false, "url": "/v1/prices"}),
    )
    .await;
    Mock::given(method("GET"))
        .and(path_regex(r"^/v1/products/.+$"))
        .respond_with(
            ResponseTemplate::new(404).set_body_json(
                json!({"error": {"type": "invalid_request_error", "message": "No such product"}}),
            ),
        )
        .mount(&mock)
        .await;
    answer(
        &mock,
        "POST",
        "/v1/products",
        200,
        stripe_fixture("product_tier_starter.json"),
    )
    .await;
    answer(&mock, "POST", "/v1/prices", 200, price_fixture()).await;
    let stripe = StripeProvider::new(
        pool.clone(),
        "sk_test_gatehouse",
        Some(&format!("{}/", mock.uri())),
    )
    .unwrap();
    let catalog = shipped_catalog().catalog;

    let differences = stripe.catalog_differences(&catalog).await.unwrap();
    assert_eq!(differences.len(), 12, "{differences:?}");
    assert!(
        differences
            .contains(&"gatehouse.tier.starter.monthly: missing at Stripe (catalogue: 4900)".to_owned())
    );

    let changes = stripe.sync_catalog(&catalog).await.unwrap();
    assert_eq!(changes.len(), 12);

    let requests = mock.received_requests().await.unwrap();
    let price_posts: Vec<_> = requests
        .iter()
        .filter(|r| r.method.as_str() == "POST" && r.url.path() == "/v1/prices")
        .collect();
    assert_eq!(price_posts.len(), 12);
    let starter_annual = price_posts
        .iter()
        .map(|r| (r, form(&r.body)))
        .find(|(_, f)| field(f, "lookup_key") == Some("gatehouse.tier.starter.annual"))
        .expect("the annual Starter price is created");
    let (request, fields) = starter_annual;
    assert_eq!(field(&fields, "unit_amount"), Some("52900"));
    assert_eq!(field(&fields, "currency"), Some("usd"));
    assert_eq!(field(&fields, "recurring[interval]"), Some("year"));
    assert_eq!(field(&fields, "product"), Some("gatehouse_tier_starter"));
    assert_eq!(field(&fields, "transfer_lookup_key"), Some("true"));
    assert_eq!(
        request
            .headers
            .get("idempotency-key")
            .map(|v| v.to_str().unwrap()),
        Some("price:gatehouse.tier.starter.annual:52900:usd")
    );
    // Products are created once each, with Gatehouse's ids.
    let product_posts = requests
        .iter()
        .filter(|r| r.method.as_str() == "POST" && r.url.path() == "/v1/products")
        .count();
    assert_eq!(
        product_posts, 12,
        "one per tier or add-on and cycle, idempotent by id"
    );
    // language=PostgreSQL
    let stored = sqlx::query_scalar!("select count(*) from provider_price where provider = 'stripe'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(stored, Some(12));
}

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
    let now = chrono::Utc::now().timestamp();
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
    assert_eq!(response.status, 409, "{}", response.body);
    assert!(response.body.contains("did not answer"), "{}", response.body);
    // language=PostgreSQL
    let linked = sqlx::query_scalar!("select count(*) from billing_customer")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(linked, Some(0));
}
