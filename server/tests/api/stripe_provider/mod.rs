//! The Stripe provider's requests, against an HTTP mock serving
//! Stripe-shaped objects (validated by async-stripe's own types): paths,
//! form fields and idempotency keys.

use crate::helpers::{link_stripe_customer, shipped_catalog, stripe_app, stripe_fixture};
use app::billing::domain::{ChangeTiming, DesiredItem, ScheduledChange};
use app::billing::provider::BillingProvider;
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
    let _: stripe_shared::Subscription =
        serde_json::from_value(stripe_fixture("subscription_active_professional.json"))
            .expect("subscription");
    let _: stripe_shared::SubscriptionSchedule =
        serde_json::from_value(stripe_fixture("subscription_schedule_pro_to_starter.json"))
            .expect("schedule");
    let _: stripe_shared::SubscriptionSchedule =
        serde_json::from_value(schedule_created_from_subscription()).expect("schedule");
    let _: stripe_billing::BillingPortalSession =
        serde_json::from_value(stripe_fixture("billing_portal_session_acme.json")).expect("portal session");
}

/// The schedule Stripe creates `from_subscription`: one phase holding the
/// current items, prices as ids (nothing expanded).
fn schedule_created_from_subscription() -> Value {
    let mut schedule = stripe_fixture("subscription_schedule_pro_to_starter.json");
    let phases = schedule["phases"].as_array_mut().unwrap();
    phases.truncate(1);
    phases[0]["items"][0]["price"] = json!("price_gh_pro_monthly");
    schedule
}

/// A provider talking to `mock`, with the two monthly tier prices synced.
async fn provider_with_tier_prices(pool: &PgPool, mock: &MockServer) -> StripeProvider {
    // language=PostgreSQL
    sqlx::query!(
        r#"
        insert into provider_price (provider, lookup_key, provider_price_id, provider_product_id, unit_amount, currency)
        values ('stripe', 'gatehouse.tier.starter.monthly', 'price_gh_starter_monthly', 'gatehouse_tier_starter', 4900, 'USD'),
               ('stripe', 'gatehouse.tier.professional.monthly', 'price_gh_pro_monthly', 'gatehouse_tier_professional', 19900, 'USD'),
               ('stripe', 'gatehouse.tier.enterprise.monthly', 'price_gh_ent_monthly', 'gatehouse_tier_enterprise', 99900, 'USD')
        "#
    )
    .execute(pool)
    .await
    .unwrap();
    StripeProvider::new(pool.clone(), "sk_test_gatehouse", Some(&mock.uri())).unwrap()
}

fn idempotency_key(request: &wiremock::Request) -> &str {
    request.headers.get("idempotency-key").unwrap().to_str().unwrap()
}

fn starter_monthly() -> Vec<DesiredItem> {
    vec![DesiredItem {
        lookup_key: "gatehouse.tier.starter.monthly".into(),
        quantity: 1,
    }]
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn a_downgrade_at_period_end_becomes_a_two_phase_subscription_schedule(pool: PgPool) {
    let mock = MockServer::start().await;
    let provider = provider_with_tier_prices(&pool, &mock).await;
    answer(
        &mock,
        "GET",
        "/v1/subscriptions/sub_gh_pro_001",
        200,
        stripe_fixture("subscription_active_professional.json"),
    )
    .await;
    answer(
        &mock,
        "POST",
        "/v1/subscription_schedules",
        200,
        schedule_created_from_subscription(),
    )
    .await;
    answer(
        &mock,
        "POST",
        "/v1/subscription_schedules/sub_sched_gh_pro_001",
        200,
        stripe_fixture("subscription_schedule_pro_to_starter.json"),
    )
    .await;

    let snapshot = provider
        .change_items(
            "sub_gh_pro_001",
            &starter_monthly(),
            ChangeTiming::AtPeriodEnd,
            "plan:org_1:req_1",
        )
        .await
        .unwrap();

    assert_eq!(
        snapshot.items[0].lookup_key, "gatehouse.tier.professional.monthly",
        "nothing changes before the period ends"
    );
    assert_eq!(
        snapshot.scheduled_change,
        Some(ScheduledChange {
            items: starter_monthly(),
            effective_at: 1_766_292_000,
        })
    );
    let requests = mock.received_requests().await.unwrap();
    assert_eq!(
        requests
            .iter()
            .map(|r| format!("{} {}", r.method, r.url.path()))
            .collect::<Vec<_>>(),
        [
            "GET /v1/subscriptions/sub_gh_pro_001",
            "POST /v1/subscription_schedules",
            "POST /v1/subscription_schedules/sub_sched_gh_pro_001",
        ]
    );
    assert!(
        requests[0]
            .url
            .query_pairs()
            .any(|(_, v)| v == "schedule.phases.items.price"),
        "the subscription is read with its schedule: {}",
        requests[0].url
    );
    let created = form(&requests[1].body);
    assert_eq!(field(&created, "from_subscription"), Some("sub_gh_pro_001"));
    assert_eq!(idempotency_key(&requests[1]), "plan:org_1:req_1:schedule");
    let phases = form(&requests[2].body);
    for (name, value) in [
        ("phases[0][items][0][price]", "price_gh_pro_monthly"),
        ("phases[0][items][0][quantity]", "1"),
        ("phases[0][start_date]", "1763700000"),
        ("phases[0][end_date]", "1766292000"),
        ("phases[1][items][0][price]", "price_gh_starter_monthly"),
        ("phases[1][items][0][quantity]", "1"),
        ("phases[1][duration][interval]", "month"),
        ("end_behavior", "release"),
        ("proration_behavior", "none"),
    ] {
        assert_eq!(field(&phases, name), Some(value), "{name} in {phases:?}");
    }
    assert_eq!(idempotency_key(&requests[2]), "plan:org_1:req_1:phases");
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn a_waiting_downgrade_is_read_replaced_in_place_and_released_by_an_upgrade(pool: PgPool) {
    let mock = MockServer::start().await;
    let provider = provider_with_tier_prices(&pool, &mock).await;
    let mut scheduled = stripe_fixture("subscription_active_professional.json");
    scheduled["schedule"] = stripe_fixture("subscription_schedule_pro_to_starter.json");
    answer(&mock, "GET", "/v1/subscriptions/sub_gh_pro_001", 200, scheduled).await;
    answer(
        &mock,
        "POST",
        "/v1/subscription_schedules/sub_sched_gh_pro_001",
        200,
        stripe_fixture("subscription_schedule_pro_to_starter.json"),
    )
    .await;
    let mut released = stripe_fixture("subscription_schedule_pro_to_starter.json");
    released["status"] = json!("released");
    released["released_at"] = json!(1_764_100_000);
    released["released_subscription"] = json!("sub_gh_pro_001");
    answer(
        &mock,
        "POST",
        "/v1/subscription_schedules/sub_sched_gh_pro_001/release",
        200,
        released,
    )
    .await;
    let mut upgraded = stripe_fixture("subscription_active_professional.json");
    upgraded["items"]["data"][0]["price"]["id"] = json!("price_gh_ent_monthly");
    upgraded["items"]["data"][0]["price"]["lookup_key"] = json!("gatehouse.tier.enterprise.monthly");
    upgraded["items"]["data"][0]["price"]["unit_amount"] = json!(99_900);
    answer(&mock, "POST", "/v1/subscriptions/sub_gh_pro_001", 200, upgraded).await;

    // Read: the waiting downgrade shows on the subscription.
    let read = provider.fetch_subscription("sub_gh_pro_001").await.unwrap();
    assert_eq!(
        read.scheduled_change.map(|change| change.items),
        Some(starter_monthly())
    );

    // Scheduling again rewrites the same schedule's phases: no second schedule.
    provider
        .change_items(
            "sub_gh_pro_001",
            &starter_monthly(),
            ChangeTiming::AtPeriodEnd,
            "plan:org_1:req_2",
        )
        .await
        .unwrap();

    // An upgrade now releases the schedule first: the downgrade is dropped.
    let upgrade = [DesiredItem {
        lookup_key: "gatehouse.tier.enterprise.monthly".into(),
        quantity: 1,
    }];
    let snapshot = provider
        .change_items(
            "sub_gh_pro_001",
            &upgrade,
            ChangeTiming::Immediately,
            "plan:org_1:req_3",
        )
        .await
        .unwrap();
    assert_eq!(snapshot.items[0].lookup_key, "gatehouse.tier.enterprise.monthly");
    assert_eq!(snapshot.scheduled_change, None);

    let requests = mock.received_requests().await.unwrap();
    let writes: Vec<(String, &str)> = requests
        .iter()
        .filter(|r| r.method.as_str() == "POST")
        .map(|r| (r.url.path().to_owned(), idempotency_key(r)))
        .collect();
    assert_eq!(
        writes,
        [
            (
                "/v1/subscription_schedules/sub_sched_gh_pro_001".to_owned(),
                "plan:org_1:req_2:phases"
            ),
            (
                "/v1/subscription_schedules/sub_sched_gh_pro_001/release".to_owned(),
                "plan:org_1:req_3:release"
            ),
            ("/v1/subscriptions/sub_gh_pro_001".to_owned(), "plan:org_1:req_3"),
        ]
    );
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

mod checkout;
