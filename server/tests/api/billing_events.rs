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

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn foreign_customers_are_unmatched_unknown_types_acknowledged_and_outages_retried(pool: PgPool) {
    let (mock, stripe) = stripe_mock().await;
    let app = stripe_app(pool.clone(), &mock.uri()).await;
    let foreign = subscription(
        "sub_foreign",
        "cus_not_ours",
        "active",
        "starter",
        "monthly",
        0,
        false,
    );
    stripe.set("sub_foreign", foreign.clone());
    deliver_signed(
        &app,
        &stripe_event("evt_foreign", "customer.subscription.created", 10, foreign),
    )
    .await;
    let other = deliver_signed(
        &app,
        &stripe_event(
            "evt_other",
            "billing.future_event",
            11,
            json!({"id": "fe_1", "object": "future"}),
        ),
    )
    .await;
    assert_eq!(other.status, 200, "{}", other.body);
    deliver_signed(
        &app,
        &stripe_event(
            "evt_gone",
            "customer.subscription.deleted",
            12,
            subscription(
                "sub_gone",
                "cus_not_ours",
                "canceled",
                "starter",
                "monthly",
                0,
                false,
            ),
        ),
    )
    .await;
    // A subscription of ours whose re-read fails: Stripe answers 500.
    customer_org(&pool, "cus_ours").await;
    Mock::given(method("GET"))
        .and(path_regex(r"^/v1/subscriptions/sub_flaky$"))
        .respond_with(
            ResponseTemplate::new(500)
                .set_body_json(json!({"error": {"type": "api_error", "message": "boom"}})),
        )
        .with_priority(1)
        .mount(&mock)
        .await;
    deliver_signed(
        &app,
        &stripe_event(
            "evt_flaky",
            "customer.subscription.updated",
            13,
            subscription("sub_flaky", "cus_ours", "active", "starter", "monthly", 0, false),
        ),
    )
    .await;

    let pass = drain(&app).await;
    assert_eq!(
        pass,
        Pass {
            processed: 1,
            unmatched: 2,
            failed: 1
        }
    );
    // language=PostgreSQL
    let rows = sqlx::query!(
        "select provider_event_id, status, attempts, last_error from webhook_event order by provider_event_id"
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let by_id: HashMap<String, (String, i32, Option<String>)> = rows
        .into_iter()
        .map(|r| (r.provider_event_id, (r.status, r.attempts, r.last_error)))
        .collect();
    assert_eq!(by_id["evt_foreign"].0, "unmatched");
    assert!(
        by_id["evt_foreign"]
            .2
            .as_deref()
            .unwrap()
            .contains("cus_not_ours")
    );
    assert_eq!(by_id["evt_gone"].0, "unmatched");
    assert_eq!(by_id["evt_other"].0, "processed");
    assert_eq!(
        (by_id["evt_flaky"].0.as_str(), by_id["evt_flaky"].1),
        ("pending", 1)
    );
    // Nothing of the failed attempt was written.
    // language=PostgreSQL
    let linked =
        sqlx::query_scalar!("select count(*) from subscription where provider_subscription_id = 'sub_flaky'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(linked, Some(0));

    // Stripe keeps failing: the event's job is retried, every attempt a run
    // of its job, until the event is parked and its job dead, kept and shown.
    for _ in 0..20 {
        assert!(app.state.clock.advance(chrono::TimeDelta::hours(2)));
        drain(&app).await;
    }
    // language=PostgreSQL
    let flaky =
        sqlx::query!("select status, attempts from webhook_event where provider_event_id = 'evt_flaky'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(
        (flaky.status.as_str(), flaky.attempts),
        ("failed", server::billing::worker::MAX_ATTEMPTS)
    );
    let dead = app::runner::db::dead_jobs(&pool, 10).await.unwrap();
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0].kind, "provider_event.apply");
    assert!(
        dead[0]
            .last_error
            .as_deref()
            .unwrap_or_default()
            .contains("provider"),
        "{dead:?}"
    );
    let runs = app::runner::db::recent_runs(&pool, true, 50).await.unwrap();
    let failed_runs = runs.iter().filter(|r| r.job_id == dead[0].job_id).count();
    assert_eq!(
        failed_runs,
        server::billing::worker::MAX_ATTEMPTS as usize,
        "{runs:?}"
    );

    // Retrying the dead job puts the event back in the queue: one more attempt.
    let mut conn = pool.acquire().await.unwrap();
    app::admin::work::retry_dead_job(&mut conn, dead[0].job_id, app.state.clock.now())
        .await
        .unwrap()
        .unwrap();
    drop(conn);
    assert_eq!(drain(&app).await.failed, 1, "tried again at once");
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

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn a_shuffled_sequence_of_200_events_ends_in_the_state_of_in_order_delivery(pool: PgPool) {
    let (mock, stripe) = stripe_mock().await;
    let app = stripe_app(pool.clone(), &mock.uri()).await;
    for (prefix, shuffled) in [("inorder", false), ("shuffled", true)] {
        let (mut events, finals) = history(prefix);
        assert_eq!(events.len(), 200);
        for n in 0..20 {
            customer_org(&pool, &format!("cus_{prefix}_{n}")).await;
        }
        stripe.subscriptions.lock().unwrap().extend(finals);
        if shuffled {
            shuffle(&mut events, 0x5eed);
            // Delivered in a random order and processed in small batches as they arrive.
            for chunk in events.chunks(17) {
                for payload in chunk {
                    let response = deliver_signed(&app, payload).await;
                    assert_eq!(response.status, 200);
                }
                drain(&app).await;
            }
        } else {
            for payload in &events {
                deliver_signed(&app, payload).await;
                drain(&app).await;
            }
        }
    }
    for n in 0..20 {
        let in_order = local_state(&pool, &format!("sub_inorder_{n}")).await;
        let shuffled = local_state(&pool, &format!("sub_shuffled_{n}")).await;
        assert_eq!(in_order, shuffled, "subscription {n}");
        assert_eq!(in_order.0, if n % 5 == 0 { "canceled" } else { "active" });
    }
    // Every invoice ends paid whatever order its events came in.
    // language=PostgreSQL
    let invoices = sqlx::query!("select status, count(*) as \"count!\" from invoice group by status")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(invoices.len(), 1);
    assert_eq!((invoices[0].status.as_str(), invoices[0].count), ("paid", 40));
    // Each linked to its subscription (read from `parent.subscription_details`).
    // language=PostgreSQL
    let unlinked = sqlx::query_scalar!(
        r#"select count(*) as "count!" from invoice where provider_subscription_id is distinct from 'sub_' || substr(provider_invoice_id, 4)"#
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(unlinked, 0, "every invoice names its subscription");
    // All 400 events processed once; ledger rows never repeat a cause, and
    // both orders wrote the same ledger.
    // language=PostgreSQL
    let statuses =
        sqlx::query!("select status, attempts, count(*) as \"count!\" from webhook_event group by 1, 2")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(statuses.len(), 1);
    assert_eq!(
        (
            statuses[0].status.as_str(),
            statuses[0].attempts,
            statuses[0].count
        ),
        ("processed", 1, 400)
    );
    // Both orders wrote the same live ledger: each change once, at the time
    // it happened at Stripe, with the state before it.
    let (in_order, shuffled) = (ledgers(&pool, "inorder").await, ledgers(&pool, "shuffled").await);
    assert_eq!(in_order, shuffled);
    for (n, ledger) in in_order.iter().enumerate() {
        // active, professional, extra users (unless none), past due, active,
        // annual, canceled (every fifth): each a row.
        let expected = 5 + usize::from(n % 4 != 0) + usize::from(n % 5 == 0);
        assert_eq!(ledger.len(), expected, "subscription {n}: {ledger:#?}");
    }
    assert_eq!(in_order.iter().map(Vec::len).sum::<usize>(), 5 * 20 + 15 + 4);
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

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn events_stored_when_the_server_is_killed_are_each_processed_once_after_restart(pool: PgPool) {
    // Stripe answers slowly, so the kill lands in the middle of the work.
    let mock = MockServer::start().await;
    let stripe = StripeState::default();
    Mock::given(method("GET"))
        .and(path_regex(r"^/v1/subscriptions/[^/]+$"))
        .respond_with(SlowStripe(stripe.clone()))
        .mount(&mock)
        .await;
    server::sync_catalog_file(&pool, &shipped_catalog())
        .await
        .unwrap();
    let mut conn = pool.acquire().await.unwrap();
    for n in 0..60 {
        let (sub, cus) = (format!("sub_crash_{n}"), format!("cus_crash_{n}"));
        customer_org(&pool, &cus).await;
        let current = subscription(&sub, &cus, "active", "professional", "monthly", n % 3, false);
        stripe.set(&sub, current.clone());
        for k in 0..5 {
            let id = format!("evt_crash_{n}_{k}");
            let payload = stripe_event(
                &id,
                "customer.subscription.updated",
                after_signup(k),
                current.clone(),
            );
            let event = stripe_webhook::Webhook::insecure(&payload).unwrap();
            app::billing::inbox::store_event(
                &mut conn,
                app::clock::Clock::System.now(),
                &app::billing::inbox::IncomingEvent {
                    provider: ProviderName::Stripe,
                    provider_event_id: &id,
                    event_type: "customer.subscription.updated",
                    livemode: false,
                    created: chrono::DateTime::from_timestamp(after_signup(k), 0).unwrap(),
                    payload: &payload,
                    decoded: &server::billing::stripe::billing_event_from_stripe_event(&event),
                    raw_body: None,
                },
            )
            .await
            .unwrap();
        }
    }
    drop(conn);
    let database_url = test_database_url(&pool);
    const DONE: &str = "select count(*) from webhook_event where status <> 'pending'";

    let mut first = start_server(&database_url, &mock);
    let before_kill = wait_for(&pool, DONE, |n| n >= 60, 60).await;
    first.kill().unwrap(); // SIGKILL: no graceful shutdown
    first.wait().unwrap();
    let at_kill = wait_for(&pool, DONE, |_| true, 0).await;
    assert!(
        (60..300).contains(&at_kill),
        "killed mid-way ({before_kill} → {at_kill} of 300 done)"
    );

    let mut second = start_server(&database_url, &mock);
    let finished = wait_for(&pool, DONE, |n| n == 300, 120).await;
    second.kill().unwrap();
    second.wait().unwrap();
    assert_eq!(finished, 300, "every stored event is processed after the restart");

    // Exactly once: each event was marked done once (the mark commits with its
    // effects), and each subscription got exactly one ledger row.
    let attempts: Vec<(String, i32)> = sqlx::query_as(
        "select status, attempts from webhook_event where attempts <> 1 or status <> 'processed'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(attempts, [], "no event processed twice or left over");
    let ledger: Vec<(Option<String>, i64)> = sqlx::query_as(
        "select s.provider_subscription_id, count(e.*) from subscription s left join subscription_event e
             on e.subscription_id = s.subscription_id and e.superseded_at is null and e.cause <> 'signup'
         group by 1 having count(e.*) <> 1",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(ledger, [], "one ledger row per subscription");
}

/// Stripe's state, answered after 40 ms.
struct SlowStripe(StripeState);

impl Respond for SlowStripe {
    fn respond(&self, request: &MockRequest) -> ResponseTemplate {
        self.0
            .respond(request)
            .set_delay(std::time::Duration::from_millis(40))
    }
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn trial_will_end_reminds_the_owners_once_and_the_sweep_does_not_repeat_it(pool: PgPool) {
    let (mock, stripe) = stripe_mock().await;
    let app = stripe_app(pool.clone(), &mock.uri()).await;
    app.signed_up("ada@acme.test", "Acme Metals", "starter").await;
    link_stripe_customer(&pool, "Acme Metals", "cus_gh_acme_001").await;
    let now = app::clock::Clock::System.unix();
    let mut trialing = subscription(
        "sub_gh_starter_001",
        "cus_gh_acme_001",
        "trialing",
        "starter",
        "monthly",
        0,
        false,
    );
    trialing["trial_end"] = json!(now + 3 * 86_400);
    stripe.set("sub_gh_starter_001", trialing.clone());
    let warning = stripe_event(
        "evt_trial_will_end",
        "customer.subscription.trial_will_end",
        now,
        trialing.clone(),
    );
    let update = stripe_event("evt_updated", "customer.subscription.updated", now + 1, trialing);
    for payload in [&warning, &warning, &update] {
        assert_eq!(deliver_signed(&app, payload).await.status, 200);
    }
    let pass = drain(&app).await;
    let errors: Vec<(String, Option<String>)> =
        sqlx::query_as("select status, last_error from webhook_event")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(pass.processed, 2, "{pass:?} {errors:?}");

    let reminders: Vec<String> = app
        .emails_to("ada@acme.test")
        .await
        .into_iter()
        .filter(|(template, _)| template == "trial_ending")
        .map(|(_, body)| body)
        .collect();
    assert_eq!(reminders.len(), 1, "one reminder for a duplicate delivery");
    assert!(reminders[0].contains("ends in 3 days"), "{}", reminders[0]);
    assert!(
        reminders[0].contains("card on file is charged"),
        "a subscribed trial is told it turns into the subscription: {}",
        reminders[0]
    );
    assert_eq!(
        app::billing::trials::send_due_reminders(
            &mut pool.acquire().await.unwrap(),
            &[7, 3, 1],
            "test:sweep",
            &app.state.notices(),
            app.state.clock.now(),
            100
        )
        .await
        .unwrap(),
        0,
        "the sweep knows the event already reminded"
    );
}
