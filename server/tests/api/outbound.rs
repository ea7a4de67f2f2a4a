//! Outbound webhooks against a real local HTTP receiver that fails, then
//! recovers: every event arrives exactly once with a valid Standard Webhooks
//! signature and its stable id; nothing is dropped while a receiver is down.

use crate::helpers::*;
use crate::host_api::{api_key, call, organization_id};
use app::outbound::address::PrivateHosts;
use axum::http::{HeaderMap, StatusCode};
use chrono::TimeDelta;
use serde_json::{Value, json};
use server::host_api::keys::Scope;
use server::outbound::{Sender, add_endpoint};
use sqlx::PgPool;
use std::sync::{Arc, Mutex};

#[derive(Default)]
pub struct Received {
    /// Every request: (webhook-id, timestamp, signature, body, answered).
    pub requests: Vec<(String, i64, String, String, u16)>,
}

/// Answers 503 to the first `failures` requests, then 200.
pub async fn receiver(failures: usize) -> (String, Arc<Mutex<Received>>) {
    let received = Arc::new(Mutex::new(Received::default()));
    let state = received.clone();
    let app = axum::Router::new().route(
        "/hooks",
        axum::routing::post(move |headers: HeaderMap, body: String| {
            let state = state.clone();
            async move {
                let mut received = state.lock().unwrap();
                let status = if received.requests.len() < failures {
                    503
                } else {
                    200
                };
                let header = |name: &str| {
                    headers
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned()
                };
                received.requests.push((
                    header("webhook-id"),
                    header("webhook-timestamp").parse().unwrap_or(0),
                    header("webhook-signature"),
                    body,
                    status,
                ));
                StatusCode::from_u16(status).unwrap()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{address}/hooks"), received)
}

/// The tests' receivers listen on loopback, which only an operator's
/// allowance lets webhooks reach.
pub fn loopback_allowed() -> PrivateHosts {
    PrivateHosts::parse("127.0.0.1")
}

/// Runs the due webhook deliveries once, as one process's runner does,
/// sending with `sender`; returns how many ran.
pub async fn deliver_due(app: &TestApp, sender: &Sender) -> usize {
    let runner = server::runner::Runner::gatehouse_kind("webhooks", app::outbound::events::DELIVER_KIND);
    let mut context = app.state.job_context();
    context.sender = sender.clone();
    runner.pass_counted(&context).await.unwrap()
}

pub async fn drain(app: &TestApp, rounds: usize) {
    let sender = Sender::new(loopback_allowed());
    for _ in 0..rounds {
        deliver_due(app, &sender).await;
        // Past the longest backoff these tests reach.
        app.state.clock.advance(TimeDelta::minutes(10));
    }
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn a_receiver_that_fails_then_recovers_gets_every_event_once_signed(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let (url, received) = receiver(3).await;
    let (_, secret) = add_endpoint(&pool, &url, "host product", &app.state.clock, &loopback_allowed())
        .await
        .unwrap();

    app.signed_up("ada@acme.test", "Acme", "starter").await;
    let org = organization_id(&pool, "Acme").await;
    let key = api_key(&app, Scope::Write).await;
    // Reaching the workspace limit is heard once, even when the report is retried.
    let usage = json!({"reports": [{"id": "ws-1", "metric": "workspaces", "increment": 1}]});
    for _ in 0..2 {
        let (status, _, _) = call(
            &app,
            Some(&key),
            "POST",
            &format!("/api/v1/organizations/{org}/usage"),
            Some(usage.clone()),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
    }

    drain(&app, 8).await;

    let requests = received.lock().unwrap().requests.clone();
    let hook = standardwebhooks::Webhook::new(&secret).unwrap();
    let mut delivered: Vec<(String, String)> = Vec::new();
    for (id, timestamp, signature, body, status) in &requests {
        let expected = hook.sign(id, *timestamp, body.as_bytes()).unwrap();
        assert_eq!(signature, &expected, "every attempt is signed");
        let payload: Value = serde_json::from_str(body).unwrap();
        assert_eq!(
            payload["id"],
            json!(id),
            "the body carries the id the header does"
        );
        if *status == 200 {
            delivered.push((id.clone(), payload["type"].as_str().unwrap().to_owned()));
        }
    }
    assert_eq!(requests.iter().filter(|r| r.4 == 503).count(), 3);
    let mut types: Vec<&str> = delivered.iter().map(|(_, t)| t.as_str()).collect();
    types.sort_unstable();
    assert_eq!(
        types,
        [
            "entitlements.updated",
            "organization.created",
            "subscription.updated",
            "usage.limit_reached"
        ]
    );
    let mut ids: Vec<&String> = delivered.iter().map(|(id, _)| id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 4, "each event delivered exactly once");
    // A failed delivery was retried under the same id.
    let failed_id = &requests[0].0;
    assert!(delivered.iter().any(|(id, _)| id == failed_id));

    let attempts: i64 = sqlx::query_scalar("select count(*) from outbound_attempt")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(attempts, 7, "every attempt is recorded");
    let pending: i64 =
        sqlx::query_scalar("select count(*) from outbound_delivery where state <> 'delivered'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(pending, 0);
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn a_receiver_that_stays_down_is_marked_failing_and_nothing_is_dropped(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    // A port nothing listens on.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    add_endpoint(
        &pool,
        &format!("http://{closed}/hooks"),
        "down",
        &app.state.clock,
        &loopback_allowed(),
    )
    .await
    .unwrap();
    app.signed_up("ada@acme.test", "Acme", "starter").await;

    // Attempts 1..6 with waits of 30 s doubling: 10-minute steps reach them all.
    drain(&app, 7).await;
    let failing: Option<chrono::DateTime<chrono::Utc>> =
        sqlx::query_scalar("select failing_since from webhook_endpoint")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(failing.is_some(), "marked failing");
    let (pending, least_attempts): (i64, i32) =
        sqlx::query_as("select count(*), min(attempts) from outbound_delivery where state = 'pending'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(pending, 3, "every event still waits for its receiver");
    assert!(least_attempts >= 5);
    let errors: Vec<String> =
        sqlx::query_scalar("select error from outbound_attempt where error is not null limit 1")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert!(errors[0].contains("could not reach"), "{errors:?}");

    // An endpoint added later hears only what happens after it.
    let (url, received) = receiver(0).await;
    add_endpoint(&pool, &url, "new", &app.state.clock, &loopback_allowed())
        .await
        .unwrap();
    drain(&app, 1).await;
    assert!(received.lock().unwrap().requests.is_empty());
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn two_workers_racing_deliver_each_event_once(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let (url, received) = receiver(0).await;
    add_endpoint(&pool, &url, "host", &app.state.clock, &loopback_allowed())
        .await
        .unwrap();
    for i in 0..6 {
        app.signed_up(&format!("u{i}@org{i}.test"), &format!("Org {i}"), "starter")
            .await;
    }
    let sender = Sender::new(loopback_allowed());
    let workers = (0..3).map(|_| async {
        for _ in 0..3 {
            deliver_due(&app, &sender).await;
        }
    });
    futures::future::join_all(workers).await;
    let requests = received.lock().unwrap().requests.clone();
    let mut ids: Vec<&String> = requests.iter().map(|r| &r.0).collect();
    assert_eq!(ids.len(), 18, "three events for each of six organisations");
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 18, "no event twice");
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn a_subscription_change_at_the_provider_is_heard_once_with_the_new_entitlements(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let (url, received) = receiver(0).await;
    add_endpoint(&pool, &url, "host", &app.state.clock, &loopback_allowed())
        .await
        .unwrap();
    let mut owner = app.signed_up("ada@acme.test", "Acme", "starter").await;
    let session_id = start_sandbox_checkout(&mut owner, "professional").await;
    owner
        .submit(
            "/api/sandbox_pay",
            &[
                ("session_id", &session_id),
                ("card_number", "4242 4242 4242 4242"),
            ],
        )
        .await;
    crate::billing_events::drain(&app).await;
    // The provider's events redelivered change nothing, so they are heard of no more.
    crate::billing_events::drain(&app).await;
    drain(&app, 1).await;

    let requests = received.lock().unwrap().requests.clone();
    let payloads: Vec<Value> = requests
        .iter()
        .map(|r| serde_json::from_str(&r.3).unwrap())
        .collect();
    let entitlements: Vec<&Value> = payloads
        .iter()
        .filter(|p| p["type"] == "entitlements.updated")
        .collect();
    assert_eq!(
        entitlements.len(),
        2,
        "at signup, and when Professional replaced Starter"
    );
    // Deliveries run concurrently, so arrival order says nothing: the revision orders them.
    let mut revisions: Vec<i64> = entitlements
        .iter()
        .map(|p| p["data"]["revision"].as_i64().unwrap())
        .collect();
    revisions.sort();
    assert_eq!(revisions, [1, 2]);
    let latest = entitlements
        .iter()
        .max_by_key(|p| p["data"]["revision"].as_i64())
        .unwrap();
    assert_eq!(latest["data"]["tier"], "professional");
    assert_eq!(latest["data"]["features"]["oee_dashboard"], true);
    assert_eq!(latest["data"]["limits"]["workspaces"]["limit"], 5);
    let updates = payloads
        .iter()
        .filter(|p| p["type"] == "subscription.updated")
        .count();
    assert!(updates >= 2, "{updates}");
    let mut ids: Vec<&String> = requests.iter().map(|r| &r.0).collect();
    let all = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), all, "no event twice");
}
