//! Stripe events through the whole path: signed delivery, the inbox, the
//! worker re-reading subscriptions from a Stripe-shaped HTTP mock, local
//! state, invoices and the ledger.

use crate::helpers::{
    TestApp, deliver_signed, link_stripe_customer, shipped_catalog, stripe_app, stripe_event, stripe_fixture,
};
use app::billing::provider::ProviderName;
use serde_json::{Value, json};
use server::billing::worker::{Pass, process_due};
use sqlx::PgPool;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use stripe_webhook::Webhook;
use uuid::Uuid;
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, Request as MockRequest, Respond, ResponseTemplate};

/// A subscription in a given state, built from the validated fixture.
pub(crate) fn subscription(
    id: &str,
    customer: &str,
    status: &str,
    tier: &str,
    cycle: &str,
    extra_users: u64,
    cancel: bool,
) -> Value {
    let catalog = shipped_catalog().catalog;
    let price = |kind: &str, key: &str| {
        let cycle = app::catalog::domain::BillingCycle::from_query(Some(cycle));
        let key = match kind {
            "tier" => app::billing::domain::PriceKey::tier(key, cycle),
            _ => app::billing::domain::PriceKey::add_on(key, cycle),
        };
        (key.lookup_key(), key.catalog_amount(&catalog).unwrap())
    };
    let mut value = stripe_fixture("subscription_active_starter.json");
    value["id"] = json!(id);
    value["customer"] = json!(customer);
    value["status"] = json!(status);
    value["cancel_at_period_end"] = json!(cancel);
    let template = value["items"]["data"][0].clone();
    let item = |n: usize, lookup_key: String, amount: i64, quantity: u64| {
        let mut item = template.clone();
        item["id"] = json!(format!("si_{id}_{n}"));
        item["quantity"] = json!(quantity);
        item["subscription"] = json!(id);
        item["price"]["id"] = json!(format!("price_{lookup_key}"));
        item["price"]["lookup_key"] = json!(lookup_key);
        item["price"]["unit_amount"] = json!(amount);
        item["price"]["unit_amount_decimal"] = json!(amount.to_string());
        item["price"]["recurring"]["interval"] = json!(if cycle == "annual" { "year" } else { "month" });
        item
    };
    let (tier_key, tier_amount) = price("tier", tier);
    let mut items = vec![item(0, tier_key, tier_amount, 1)];
    if extra_users > 0 {
        let (key, amount) = price("add_on", "extra_user");
        items.push(item(1, key, amount, extra_users));
    }
    value["items"]["data"] = json!(items);
    value
}

pub(crate) fn invoice(id: &str, customer: &str, subscription: &str, status: &str, created: i64) -> Value {
    let mut value = stripe_fixture("invoice_paid_starter.json");
    value["id"] = json!(id);
    value["customer"] = json!(customer);
    // Stripe's current API names the subscription under `parent` only.
    value["parent"]["subscription_details"]["subscription"] = json!(subscription);
    value["status"] = json!(status);
    value["created"] = json!(created);
    if status == "open" {
        value["amount_paid"] = json!(0);
        value["amount_remaining"] = json!(4900);
    }
    value
}

/// Stripe's side: the current state of each subscription, served at
/// `GET /v1/subscriptions/{id}` as Stripe would.
#[derive(Clone, Default)]
pub(crate) struct StripeState {
    pub(crate) subscriptions: Arc<Mutex<HashMap<String, Value>>>,
}

impl StripeState {
    /// What Stripe holds for a subscription from now on.
    pub(crate) fn set(&self, id: &str, subscription: Value) {
        self.subscriptions
            .lock()
            .unwrap()
            .insert(id.to_owned(), subscription);
    }
}

impl Respond for StripeState {
    fn respond(&self, request: &MockRequest) -> ResponseTemplate {
        let id = request
            .url
            .path()
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_owned();
        match self.subscriptions.lock().unwrap().get(&id) {
            Some(body) => ResponseTemplate::new(200).set_body_json(body),
            None => ResponseTemplate::new(404).set_body_json(json!({
                "error": { "type": "invalid_request_error", "message": format!("No such subscription: '{id}'") }
            })),
        }
    }
}

pub(crate) async fn stripe_mock() -> (MockServer, StripeState) {
    let server = MockServer::start().await;
    let state = StripeState::default();
    Mock::given(method("GET"))
        .and(path_regex(r"^/v1/subscriptions/[^/]+$"))
        .respond_with(state.clone())
        .mount(&server)
        .await;
    (server, state)
}

/// An organisation on a trial whose Stripe customer is `customer`.
/// A Stripe time `seconds` after the test's signups (Stripe's events come
/// after the trial they follow).
pub(crate) fn after_signup(seconds: i64) -> i64 {
    static BASE: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    *BASE.get_or_init(|| app::clock::Clock::System.unix() + 3600) + seconds
}

pub(crate) async fn customer_org(pool: &PgPool, customer: &str) -> Uuid {
    // language=PostgreSQL
    let organization_id = sqlx::query_scalar!(
        "insert into organization (name) values ($1) returning organization_id",
        customer
    )
    .fetch_one(pool)
    .await
    .unwrap();
    // The card-free trial signup starts, with its first ledger row.
    let mut tx = pool.begin().await.unwrap();
    app::billing::trials::start_signup_trial(
        &mut tx,
        organization_id,
        "starter",
        app::catalog::domain::BillingCycle::Monthly,
        14,
        "USD",
        app::clock::Clock::System.now(),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    app::billing::db::link_customer(
        pool,
        organization_id,
        ProviderName::Stripe,
        customer,
        "billing@acme.test",
    )
    .await
    .unwrap();
    organization_id
}

pub(crate) async fn drain(app: &TestApp) -> Pass {
    process_due(
        &app.state.pool,
        app.state.payments.provider(),
        &app.state.flow_context(),
        &app.state.clock,
        10_000,
    )
    .await
    .unwrap()
}

/// Local state of the subscription with this Stripe id, comparable across runs.
pub(crate) async fn local_state(
    pool: &PgPool,
    stripe_id: &str,
) -> (String, String, String, bool, Vec<(String, i32)>) {
    // language=PostgreSQL
    let row = sqlx::query!(
        r#"
        select s.subscription_id, s.status, p.plan_key, s.billing_cycle, s.cancel_at_period_end
        from subscription s join plan p using (plan_id) where s.provider_subscription_id = $1
        "#,
        stripe_id
    )
    .fetch_one(pool)
    .await
    .unwrap();
    // language=PostgreSQL
    let items = sqlx::query!(
        "select lookup_key, quantity from subscription_item where subscription_id = $1 order by lookup_key",
        row.subscription_id
    )
    .fetch_all(pool)
    .await
    .unwrap()
    .into_iter()
    .map(|i| (i.lookup_key, i.quantity))
    .collect();
    (
        row.status,
        row.plan_key,
        row.billing_cycle,
        row.cancel_at_period_end,
        items,
    )
}

#[test]
fn the_fixtures_are_valid_stripe_objects() {
    // async-stripe's own types must accept every fixture and every variant built from it.
    let _: stripe_shared::Invoice =
        serde_json::from_value(stripe_fixture("invoice_paid_starter.json")).expect("invoice parses");
    let variant = subscription("sub_x", "cus_x", "past_due", "professional", "annual", 3, true);
    let parsed: stripe_shared::Subscription =
        serde_json::from_value(variant).expect("subscription variant parses");
    assert_eq!(parsed.items.data.len(), 2);
    let snapshot = server::billing::stripe::subscription_snapshot(&parsed);
    assert_eq!(snapshot.plan().unwrap().tier, "professional");
    assert_eq!(snapshot.plan().unwrap().add_ons.get("extra_user"), Some(&3));
    // Past due carries MRR: (2149 + 3 × 60) / 12 → $194.08 (2328.999… half-even at cents).
    assert_eq!(snapshot.mrr(), 19408);
    for payload in [
        stripe_event(
            "evt_a",
            "customer.subscription.updated",
            1,
            subscription("sub_x", "cus_x", "active", "starter", "monthly", 0, false),
        ),
        stripe_event(
            "evt_b",
            "invoice.paid",
            1,
            stripe_fixture("invoice_paid_starter.json"),
        ),
    ] {
        Webhook::insecure(&payload).expect("async-stripe parses the event");
    }
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn a_subscription_event_is_re_read_applied_and_ledgered_once_even_when_delivered_twice(pool: PgPool) {
    let (mock, stripe) = stripe_mock().await;
    let app = stripe_app(pool.clone(), &mock.uri()).await;
    let organization_id = customer_org(&pool, "cus_gh_acme_001").await;
    // The first event carries an older state than Stripe now holds: the
    // re-read gives the present, the event's own state goes to the ledger.
    let stale = subscription(
        "sub_gh_starter_001",
        "cus_gh_acme_001",
        "trialing",
        "starter",
        "monthly",
        0,
        false,
    );
    let current = subscription(
        "sub_gh_starter_001",
        "cus_gh_acme_001",
        "active",
        "starter",
        "monthly",
        2,
        false,
    );
    stripe.set("sub_gh_starter_001", current.clone());
    let first = stripe_event("evt_one", "customer.subscription.updated", after_signup(0), stale);
    let second = stripe_event(
        "evt_two",
        "customer.subscription.updated",
        after_signup(60),
        current,
    );

    assert_eq!(
        deliver_signed(&app, &first).await.body,
        r#"{"received":true,"duplicate":false}"#
    );
    assert_eq!(
        deliver_signed(&app, &first).await.body,
        r#"{"received":true,"duplicate":true}"#
    );
    assert_eq!(
        drain(&app).await,
        Pass {
            processed: 1,
            unmatched: 0,
            failed: 0
        }
    );
    assert_eq!(drain(&app).await, Pass::default(), "nothing is processed twice");

    let state = local_state(&pool, "sub_gh_starter_001").await;
    assert_eq!(state.0, "active", "the re-read wins for the present");
    assert_eq!(
        state.4,
        [
            ("gatehouse.add_on.extra_user.monthly".into(), 2),
            ("gatehouse.tier.starter.monthly".into(), 1)
        ]
    );
    let ledger = live_ledger(&pool, organization_id).await;
    assert!(
        ledger.is_empty(),
        "at evt_one's time the subscription was still the trial: {ledger:?}"
    );

    // The change itself, with its own event: one row, at that event's time.
    deliver_signed(&app, &second).await;
    deliver_signed(&app, &second).await;
    assert_eq!(drain(&app).await.processed, 1);
    let ledger = live_ledger(&pool, organization_id).await;
    assert_eq!(ledger.len(), 1, "{ledger:?}");
    let row = &ledger[0];
    assert_eq!(row.kind, "status_changed");
    assert_eq!(row.status_before.as_deref(), Some("trialing"));
    assert_eq!((row.mrr_before, row.mrr_after), (0, 4900 + 2 * 500));
    assert_eq!(row.cause, "stripe:evt_two");
    assert_eq!(
        row.occurred_at.timestamp(),
        after_signup(60),
        "when it happened at Stripe"
    );
}

/// A live ledger row (not superseded), as the tests compare them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LedgerEntry {
    pub(crate) occurred_at: chrono::DateTime<chrono::Utc>,
    pub(crate) kind: String,
    pub(crate) status_before: Option<String>,
    pub(crate) status_after: String,
    pub(crate) plan_after: String,
    pub(crate) mrr_before: i64,
    pub(crate) mrr_after: i64,
    pub(crate) cause: String,
}

/// An organisation's live ledger in effective order, the signup row left out.
pub(crate) async fn live_ledger(pool: &PgPool, organization_id: Uuid) -> Vec<LedgerEntry> {
    // language=PostgreSQL
    sqlx::query_as!(
        LedgerEntry,
        r#"
        select occurred_at as "occurred_at: chrono::DateTime<chrono::Utc>", kind, status_before, status_after,
               plan_after, mrr_before, mrr_after, cause
        from subscription_event
        where organization_id = $1 and superseded_at is null and cause <> 'signup'
        order by occurred_at, cause
        "#,
        organization_id
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

/// A deterministic shuffle (no randomness in tests): Fisher–Yates over an LCG.
pub(crate) fn shuffle<T>(items: &mut [T], mut seed: u64) {
    for i in (1..items.len()).rev() {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        items.swap(i, (seed >> 33) as usize % (i + 1));
    }
}

/// Twenty subscriptions, ten events each: state changes and an invoice
/// going from open to paid. Returns the event payloads and each
/// subscription's final state.
pub(crate) fn history(prefix: &str) -> (Vec<String>, HashMap<String, Value>) {
    let mut events = Vec::new();
    let mut finals = HashMap::new();
    for n in 0..20 {
        let sub = format!("sub_{prefix}_{n}");
        let cus = format!("cus_{prefix}_{n}");
        let states = [
            ("trialing", "starter", "monthly", 0, false),
            ("active", "starter", "monthly", 0, false),
            ("active", "professional", "monthly", 0, false),
            ("active", "professional", "monthly", (n % 4) as u64, false),
            ("past_due", "professional", "monthly", (n % 4) as u64, false),
            ("active", "professional", "monthly", (n % 4) as u64, false),
            ("active", "professional", "annual", (n % 3) as u64, n % 2 == 0),
            (
                if n % 5 == 0 { "canceled" } else { "active" },
                "professional",
                "annual",
                (n % 3) as u64,
                n % 2 == 0,
            ),
        ];
        let base = after_signup(n as i64 * 100);
        for (k, (status, tier, cycle, extra, cancel)) in states.iter().enumerate() {
            let object = subscription(&sub, &cus, status, tier, cycle, *extra, *cancel);
            let kind = if k == 0 {
                "customer.subscription.created"
            } else {
                "customer.subscription.updated"
            };
            events.push(stripe_event(
                &format!("evt_{prefix}_{n}_{k}"),
                kind,
                base + k as i64,
                object.clone(),
            ));
            finals.insert(sub.clone(), object);
        }
        let invoice_id = format!("in_{prefix}_{n}");
        events.push(stripe_event(
            &format!("evt_{prefix}_{n}_8"),
            "invoice.finalized",
            base + 8,
            invoice(&invoice_id, &cus, &sub, "open", base),
        ));
        events.push(stripe_event(
            &format!("evt_{prefix}_{n}_9"),
            "invoice.paid",
            base + 9,
            invoice(&invoice_id, &cus, &sub, "paid", base),
        ));
    }
    (events, finals)
}

/// The live ledgers of a [`history`] run's 20 subscriptions, with the run's
/// name taken out of the causes so that two runs compare.
pub(crate) async fn ledgers(pool: &PgPool, run: &str) -> Vec<Vec<LedgerEntry>> {
    let mut all = Vec::new();
    for n in 0..20 {
        let organization_id = organization(pool, &format!("cus_{run}_{n}")).await;
        let ledger = live_ledger(pool, organization_id)
            .await
            .into_iter()
            .map(|e| LedgerEntry {
                cause: e.cause.replace(run, "run"),
                ..e
            })
            .collect();
        all.push(ledger);
    }
    all
}

pub(crate) async fn organization(pool: &PgPool, name: &str) -> Uuid {
    // language=PostgreSQL
    sqlx::query_scalar!("select organization_id from organization where name = $1", name)
        .fetch_one(pool)
        .await
        .unwrap()
}

/// Polls until `done` holds or the deadline passes.
pub(crate) async fn wait_for(pool: &PgPool, query: &str, done: impl Fn(i64) -> bool, seconds: u64) -> i64 {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
    loop {
        let value: i64 = sqlx::query_scalar(query).fetch_one(pool).await.unwrap();
        if done(value) || std::time::Instant::now() > deadline {
            return value;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

pub(crate) fn start_server(database_url: &str, mock: &MockServer) -> std::process::Child {
    start_server_on(database_url, mock).0
}

/// Starts the real server binary on `database_url`, with Stripe at `mock`
/// and webhooks signed with the test secret; returns it and its port.
pub(crate) fn start_server_on(database_url: &str, mock: &MockServer) -> (std::process::Child, u16) {
    start_server_process(
        database_url,
        &[
            ("GATEHOUSE_STRIPE_SECRET_KEY", "sk_test_gatehouse".to_owned()),
            ("GATEHOUSE_STRIPE_API_BASE", mock.uri()),
            (
                "GATEHOUSE_STRIPE_WEBHOOK_SECRET",
                crate::helpers::WEBHOOK_SECRET.to_owned(),
            ),
        ],
    )
}

/// Starts the real server binary on `database_url` on a free port, with
/// only `env` beside the basics (no built site, errors-only logs).
pub(crate) fn start_server_process(database_url: &str, env: &[(&str, String)]) -> (std::process::Child, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_server"))
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", database_url)
        .env("GATEHOUSE_ADDR", format!("127.0.0.1:{port}"))
        .env("GATEHOUSE_SITE_ROOT", "target/site-absent-in-tests")
        .env("RUST_LOG", "error")
        .envs(env.iter().map(|(name, value)| (*name, value.as_str())))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("the server binary starts");
    (child, port)
}

/// The URL of this test's own database (the test server's, with the
/// database name replaced; the URL may carry a query).
pub(crate) fn test_database_url(pool: &PgPool) -> String {
    let database = pool.connect_options().get_database().unwrap().to_owned();
    let base = std::env::var("DATABASE_URL").unwrap();
    let (address, query) = base.split_once('?').unwrap_or((base.as_str(), ""));
    let separator = if query.is_empty() { "" } else { "?" };
    format!(
        "{}/{database}{separator}{query}",
        address.rsplit_once('/').unwrap().0
    )
}

mod arrival;
