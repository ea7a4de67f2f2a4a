//! Drains a backlog of Stripe events against a local Stripe-shaped mock and
//! prints events per second: once with one worker (the baseline, measured in
//! the same run) and once with the workers a server process runs, each on a
//! backlog of its own of the same size. Run by `bench/events`.
//!
//! Usage: DATABASE_URL=… drain_backlog [customers, default 500] [subscription events each, default 6]
//! (`DATABASE_URL` names a maintenance database; a fresh `gatehouse_bench_drain` is made beside it.)

#![allow(clippy::unwrap_used)]

use app::billing::inbox::{IncomingEvent, store_event};
use app::billing::provider::ProviderName;
use app::billing::trials::Notices;
use app::catalog::domain::BillingCycle;
use serde_json::{Value, json};
use server::billing::stripe::billing_event_from_stripe_event;
use server::billing::worker::process_due_with;
use server::config::Settings;
use server::runner::IN_TRANSACTION;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// Stripe's side: the current state of each subscription.
#[derive(Clone, Default)]
struct Subscriptions(Arc<Mutex<HashMap<String, Value>>>);

impl Respond for Subscriptions {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let id = request.url.path().rsplit('/').next().unwrap_or_default();
        match self.0.lock().unwrap().get(id) {
            Some(body) => ResponseTemplate::new(200).set_body_json(body),
            None => {
                ResponseTemplate::new(404).set_body_json(json!({"error": {"type": "invalid_request_error"}}))
            }
        }
    }
}

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/stripe/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn event(id: &str, kind: &str, created: i64, object: Value) -> String {
    json!({
        "id": id, "object": "event", "api_version": "2025-09-30.clover", "created": created,
        "data": { "object": object }, "livemode": false, "pending_webhooks": 1,
        "request": { "id": null, "idempotency_key": null }, "type": kind,
    })
    .to_string()
}

/// Stores `customers` customers' histories (each: `per_customer`
/// subscription events with growing seat counts, then an invoice opened and
/// paid) and returns how many events were stored.
async fn store_backlog(
    pool: &PgPool,
    stripe: &Subscriptions,
    run: &str,
    customers: usize,
    per_customer: usize,
) -> usize {
    let subscription = fixture("subscription_active_starter.json");
    let invoice = fixture("invoice_paid_starter.json");
    let base = app::clock::Clock::System.unix() + 3600;
    let mut stored = 0;
    let mut conn = pool.acquire().await.unwrap();
    for n in 0..customers {
        let (customer, sub) = (format!("cus_{run}_{n}"), format!("sub_{run}_{n}"));
        let mut tx = pool.begin().await.unwrap();
        let organization_id: uuid::Uuid =
            sqlx::query_scalar("insert into organization (name) values ($1) returning organization_id")
                .bind(&customer)
                .fetch_one(&mut *tx)
                .await
                .unwrap();
        app::billing::trials::start_signup_trial(
            &mut tx,
            organization_id,
            "starter",
            BillingCycle::Monthly,
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
            &customer,
            "b@bench.test",
        )
        .await
        .unwrap();
        let mut state = subscription.clone();
        state["id"] = json!(sub);
        state["customer"] = json!(customer);
        let mut payloads = Vec::new();
        for k in 0..per_customer {
            state["items"]["data"][0]["quantity"] = json!(1 + k);
            let kind = if k == 0 {
                "customer.subscription.created"
            } else {
                "customer.subscription.updated"
            };
            payloads.push((format!("evt_{run}_{n}_{k}"), kind, base + k as i64, state.clone()));
        }
        stripe.0.lock().unwrap().insert(sub.clone(), state);
        for (k, status) in [(0, "open"), (1, "paid")] {
            let mut object = invoice.clone();
            object["id"] = json!(format!("in_{run}_{n}"));
            object["customer"] = json!(customer);
            object["parent"]["subscription_details"]["subscription"] = json!(sub);
            object["status"] = json!(status);
            let kind = if status == "open" {
                "invoice.finalized"
            } else {
                "invoice.paid"
            };
            payloads.push((format!("evt_{run}_{n}_i{k}"), kind, base + 100 + k, object));
        }
        for (id, kind, created, object) in payloads {
            let payload = event(&id, kind, created, object);
            let parsed = stripe_webhook::Webhook::insecure(&payload).unwrap();
            store_event(
                &mut conn,
                app::clock::Clock::System.now(),
                &IncomingEvent {
                    provider: ProviderName::Stripe,
                    provider_event_id: &id,
                    event_type: kind,
                    livemode: false,
                    created: chrono::DateTime::from_timestamp(created, 0).unwrap(),
                    payload: &payload,
                    decoded: &billing_event_from_stripe_event(&parsed),
                    raw_body: None,
                },
            )
            .await
            .unwrap();
            stored += 1;
        }
    }
    stored
}

/// Drains everything pending with `workers` workers; events per second and
/// the provider reads it made.
async fn drain(
    pool: &PgPool,
    provider: Arc<dyn app::billing::provider::BillingProvider>,
    mock: &MockServer,
    workers: usize,
    events: usize,
) -> (f64, usize) {
    let notices = app::flows::FlowContext {
        notices: Notices {
            brand: app::email::templates::Brand::new("Bench", "#4338ca"),
            public_url: "http://127.0.0.1".into(),
        },
        license_keys: None,
    };
    let reads_before = mock.received_requests().await.map_or(0, |r| r.len());
    let started = Instant::now();
    let mut done = 0;
    while done < events {
        let pass = process_due_with(
            pool,
            provider.clone(),
            &notices,
            &app::clock::Clock::System,
            workers,
            usize::MAX,
        )
        .await
        .unwrap();
        assert_eq!(pass.failed, 0, "{pass:?}");
        done += pass.processed + pass.unmatched;
        if pass.processed + pass.unmatched == 0 {
            break;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    assert_eq!(done, events, "every event drained");
    let reads = mock.received_requests().await.map_or(0, |r| r.len()) - reads_before;
    (events as f64 / elapsed, reads)
}

#[tokio::main]
async fn main() {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let customers = args.first().copied().unwrap_or(500);
    let per_customer = args.get(1).copied().unwrap_or(6);
    let maintenance = std::env::var("DATABASE_URL").expect("DATABASE_URL");
    let (base, query) = maintenance.split_once('?').unwrap_or((maintenance.as_str(), ""));
    let url = format!(
        "{}/gatehouse_bench_drain{}{query}",
        base.rsplit_once('/').unwrap().0,
        if query.is_empty() { "" } else { "?" }
    );
    let admin = PgPoolOptions::new()
        .max_connections(1)
        .connect(&maintenance)
        .await
        .unwrap();
    let _ = sqlx::query("drop database if exists gatehouse_bench_drain")
        .execute(&admin)
        .await;
    sqlx::query("create database gatehouse_bench_drain")
        .execute(&admin)
        .await
        .unwrap();
    let pool = PgPoolOptions::new()
        .max_connections(10)
        .connect(&url)
        .await
        .unwrap();
    server::MIGRATOR.run(&pool).await.unwrap();
    let catalog = app::catalog::source::load_catalog_file(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../catalog/catalog.toml"
    )))
    .unwrap();
    server::sync_catalog_file(&pool, &catalog).await.unwrap();

    let mock = MockServer::start().await;
    let stripe = Subscriptions::default();
    Mock::given(method("GET"))
        .and(path_regex(r"^/v1/subscriptions/[^/]+$"))
        .respond_with(stripe.clone())
        .mount(&mock)
        .await;
    let settings = Settings::from_lookup(|name| match name {
        "GATEHOUSE_STRIPE_SECRET_KEY" => Some("sk_test_bench".into()),
        "GATEHOUSE_STRIPE_API_BASE" => Some(mock.uri()),
        _ => None,
    })
    .unwrap();
    let provider = server::billing::Payments::from_settings(&pool, &settings, &app::clock::Clock::System)
        .unwrap()
        .provider();

    let baseline_events = store_backlog(&pool, &stripe, "one", customers, per_customer).await;
    let (baseline, baseline_reads) = drain(&pool, provider.clone(), &mock, 1, baseline_events).await;
    let events = store_backlog(&pool, &stripe, "many", customers, per_customer).await;
    let (rate, reads) = drain(&pool, provider.clone(), &mock, IN_TRANSACTION, events).await;

    println!(
        "backlog: {customers} customers x ({per_customer} subscription events + 2 invoice events) = {events} events"
    );
    println!("1 worker (baseline)   {baseline:>8.0} events/s   {baseline_reads} Stripe reads");
    println!(
        "{IN_TRANSACTION} workers (a process) {rate:>8.0} events/s   {reads} Stripe reads ({:.2} per event)",
        reads as f64 / events as f64
    );
    println!(
        "ratio to the baseline {:.2}x; goal 500 events/s: {}",
        rate / baseline,
        if rate >= 500.0 { "met" } else { "missed" }
    );
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    if let Some(peak) = status.lines().find(|l| l.starts_with("VmHWM")) {
        println!(
            "peak resident memory (bench, mock and workers in one process): {}",
            peak.trim_start_matches("VmHWM:").trim()
        );
    }
    pool.close().await;
    let _ = sqlx::query("drop database if exists gatehouse_bench_drain")
        .execute(&admin)
        .await;
}
