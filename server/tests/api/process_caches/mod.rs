//! The per-process caches (standings, API keys, sessions) and the leased
//! throttle, with two server instances on one database: a change committed
//! through either (or straight in SQL) reaches the other's cache through
//! NOTIFY; time alone ends a cached answer at its boundary; a lease never
//! lets more through than the bucket holds, however processes race.

use crate::helpers::*;
use crate::host_api::{api_key, call, organization_id};
use app::security::lease::LeasedThrottle;
use app::security::throttle::{LeaseDecision, Rate, decide_lease};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::TimeDelta;
use serde_json::{Value, json};
use server::host_api::keys::{self, Scope};
use server::spawn_change_listener;
use sqlx::PgPool;
use std::future::Future;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// An instance whose caches follow every process's change notices.
async fn listening_instance(pool: &PgPool) -> TestApp {
    let app = TestApp::without_sync(pool.clone());
    spawn_change_listener(pool.clone(), &app.state);
    // Live once LISTEN has succeeded: a read after that is kept.
    let key = api_key(&app, Scope::Read).await;
    let org: Uuid = sqlx::query_scalar("select organization_id from organization limit 1")
        .fetch_one(pool)
        .await
        .unwrap();
    let uri = format!("/api/v1/organizations/{org}/entitlements");
    eventually("the listener to start", || async {
        call(&app, Some(&key), "GET", &uri, None).await;
        !app.state.caches.standings.is_empty()
    })
    .await;
    app
}

/// Waits up to five seconds for `done`; returns how long it took.
async fn eventually<F, Fut>(what: &str, mut done: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    while !done().await {
        assert!(start.elapsed() < Duration::from_secs(5), "waited 5 s for {what}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    start.elapsed()
}

/// A browser on `app` holding `cookie`.
fn visitor<'a>(app: &'a TestApp, cookie: &Option<String>) -> Browser<'a> {
    Browser {
        app,
        cookie: cookie.clone(),
    }
}

async fn entitlements(app: &TestApp, key: &str, org: &str) -> Value {
    let (status, body) = crate::host_api::entitlements_of(app, key, org).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn a_change_committed_anywhere_reaches_every_instance_cache(pool: PgPool) {
    let a = TestApp::spawn(pool.clone()).await;
    a.signed_up("ada@acme.test", "Acme", "starter").await;
    let org = organization_id(&pool, "Acme").await;
    let b = listening_instance(&pool).await;
    let (read, write) = (api_key(&a, Scope::Read).await, api_key(&a, Scope::Write).await);
    let id = org.to_string();
    let mut slowest = Duration::ZERO;

    // Cached on B: answered there without the database.
    assert_eq!(
        entitlements(&b, &read, &id).await["limits"]["workspaces"]["used"],
        0
    );
    assert_eq!(b.state.caches.standings.len(), 1);

    // Usage reported through A.
    let (status, _, _) = call(
        &a,
        Some(&write),
        "POST",
        &format!("/api/v1/organizations/{org}/usage"),
        Some(json!({"reports": [{"id": "e-1", "metric": "workspaces", "increment": 1}]})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    slowest = slowest.max(
        eventually("usage to reach B", || async {
            entitlements(&b, &read, &id).await["limits"]["workspaces"]["used"] == 1
        })
        .await,
    );

    // An override written straight in SQL (as the console's actions are).
    let now = a.state.clock.now();
    sqlx::query(
        "insert into entitlement_override (organization_id, kind, key, enabled, reason, created_by, created_at)
         values ($1, 'feature', 'oee_dashboard', true, 'pilot', 'test', $2)",
    )
    .bind(org)
    .bind(now)
    .execute(&pool)
    .await
    .unwrap();
    slowest = slowest.max(
        eventually("the override to reach B", || async {
            entitlements(&b, &read, &id).await["features"]["oee_dashboard"] == true
        })
        .await,
    );

    // A new invitation counts as a user; the subscription's status moves.
    sqlx::query(
        "insert into invitation (organization_id, email, role, token_hash, invited_by, expires_at)
         select $1, 'bo@acme.test', 'member', '\\x01', user_id, $2 from membership where organization_id = $1",
    )
    .bind(org)
    .bind(now + TimeDelta::days(7))
    .execute(&pool)
    .await
    .unwrap();
    slowest = slowest.max(
        eventually("the invitation to reach B", || async {
            entitlements(&b, &read, &id).await["limits"]["users"]["used"] == 2
        })
        .await,
    );
    sqlx::query("update subscription set status = 'past_due' where organization_id = $1")
        .bind(org)
        .execute(&pool)
        .await
        .unwrap();
    slowest = slowest.max(
        eventually("the status to reach B", || async {
            entitlements(&b, &read, &id).await["status"] == "past_due"
        })
        .await,
    );

    // An external id set through A is found on B under the new name only.
    let (status, _, _) = call(
        &a,
        Some(&write),
        "PATCH",
        &format!("/api/v1/organizations/{org}"),
        Some(json!({"external_id": "acme-1"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    slowest = slowest.max(
        eventually("the external id to reach B", || async {
            call(
                &b,
                Some(&read),
                "GET",
                "/api/v1/organizations/ext:acme-1/entitlements",
                None,
            )
            .await
            .0 == StatusCode::OK
        })
        .await,
    );
    call(
        &a,
        Some(&write),
        "PATCH",
        &format!("/api/v1/organizations/{org}"),
        Some(json!({"external_id": "acme-2"})),
    )
    .await;
    slowest = slowest.max(
        eventually("the renamed external id to reach B", || async {
            call(
                &b,
                Some(&read),
                "GET",
                "/api/v1/organizations/ext:acme-1/entitlements",
                None,
            )
            .await
            .0 == StatusCode::NOT_FOUND
        })
        .await,
    );
    assert_eq!(
        entitlements(&b, &read, "ext:acme-2").await["organization"]["external_id"],
        "acme-2"
    );

    // A key revoked on A stops working on B.
    let prefix: String = sqlx::query_scalar("select prefix from api_key where key_hash = $1")
        .bind(keys::key_hash(&read))
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(keys::revoke(&pool, &prefix, &a.state.clock).await.unwrap());
    slowest = slowest.max(
        eventually("the revocation to reach B", || async {
            call(
                &b,
                Some(&read),
                "GET",
                &format!("/api/v1/organizations/{org}/entitlements"),
                None,
            )
            .await
            .0 == StatusCode::UNAUTHORIZED
        })
        .await,
    );
    println!("slowest notice to reach the other instance: {slowest:?}");
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn the_cached_answer_is_what_b_serves_until_a_notice_drops_it(pool: PgPool) {
    let a = TestApp::spawn(pool.clone()).await;
    a.signed_up("ada@acme.test", "Acme", "starter").await;
    let org = organization_id(&pool, "Acme").await;
    let b = listening_instance(&pool).await;
    let read = api_key(&a, Scope::Read).await;
    let id = org.to_string();
    assert_eq!(
        entitlements(&b, &read, &id).await["limits"]["workspaces"]["used"],
        0
    );

    // A write that fires no trigger (replication role) sends no notice: B
    // keeps serving what it cached, which shows that it answers from memory.
    let mut conn = pool.acquire().await.unwrap();
    sqlx::query("set session_replication_role = replica")
        .execute(&mut *conn)
        .await
        .unwrap();
    sqlx::query(
        "insert into usage_counter (organization_id, metric_key, value, updated_at) values ($1, 'workspaces', 1, now())",
    )
    .bind(org)
    .execute(&mut *conn)
    .await
    .unwrap();
    sqlx::query("set session_replication_role = origin")
        .execute(&mut *conn)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        entitlements(&b, &read, &id).await["limits"]["workspaces"]["used"],
        0
    );

    // The notice the trigger would have sent drops it.
    sqlx::query("select pg_notify('gatehouse_entitlements', $1)")
        .bind(id.clone())
        .execute(&pool)
        .await
        .unwrap();
    eventually("the notice to drop the entry", || async {
        entitlements(&b, &read, &id).await["limits"]["workspaces"]["used"] == 1
    })
    .await;

    // A process that is not listening keeps nothing.
    entitlements(&a, &read, &id).await;
    assert!(a.state.caches.standings.is_empty());
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn time_alone_ends_a_cached_answer_at_its_boundary(pool: PgPool) {
    let a = TestApp::spawn(pool.clone()).await;
    a.signed_up("ada@acme.test", "Acme", "starter").await;
    let org = organization_id(&pool, "Acme").await;
    let b = listening_instance(&pool).await;
    let read = api_key(&b, Scope::Read).await;
    let id = org.to_string();
    let now = b.state.clock.now();
    sqlx::query(
        "insert into entitlement_override (organization_id, kind, key, limit_value, expires_at, reason, created_by, created_at)
         values ($1, 'limit', 'workspaces', 7, $2, 'pilot', 'test', $3)",
    )
    .bind(org)
    .bind(now + TimeDelta::days(2))
    .bind(now)
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "insert into invitation (organization_id, email, role, token_hash, invited_by, expires_at)
         select $1, 'bo@acme.test', 'member', '\\x01', user_id, $2 from membership where organization_id = $1",
    )
    .bind(org)
    .bind(now + TimeDelta::days(1))
    .execute(&pool)
    .await
    .unwrap();
    eventually("both changes", || async {
        let body = entitlements(&b, &read, &id).await;
        body["limits"]["workspaces"]["limit"] == 7 && body["limits"]["users"]["used"] == 2
    })
    .await;

    // No row changes from here on: each answer below is right at once.
    b.state.clock.advance(TimeDelta::days(1));
    assert_eq!(
        entitlements(&b, &read, &id).await["limits"]["users"]["used"],
        1,
        "the invitation expired"
    );
    b.state.clock.advance(TimeDelta::days(1));
    assert_eq!(
        entitlements(&b, &read, &id).await["limits"]["workspaces"]["limit"],
        1,
        "the override expired"
    );
    assert_eq!(entitlements(&b, &read, &id).await["read_only"], false);
    b.state.clock.advance(TimeDelta::days(13));
    let body = entitlements(&b, &read, &id).await;
    assert_eq!(
        (body["read_only"].clone(), body["read_only_reason"].clone()),
        (json!(true), json!("trial_ended"))
    );
    // A clock set back (tests only) does not see a later answer (a new key:
    // the old one's throttle state lies in that clock's future).
    b.state.clock.advance(TimeDelta::days(-14));
    let fresh = api_key(&b, Scope::Read).await;
    assert_eq!(entitlements(&b, &fresh, &id).await["read_only"], false);
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn an_unchanged_answer_is_not_sent_again(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    app.signed_up("ada@acme.test", "Acme", "starter").await;
    let org = organization_id(&pool, "Acme").await;
    let (read, write) = (
        api_key(&app, Scope::Read).await,
        api_key(&app, Scope::Write).await,
    );
    let uri = format!("/api/v1/organizations/{org}/entitlements");
    let (_, first, response) = call(&app, Some(&read), "GET", &uri, None).await;
    let etag = response.headers["etag"].to_str().unwrap().to_owned();
    assert!(
        etag.starts_with('"') && etag.ends_with('"') && etag.len() == 34,
        "{etag}"
    );

    let conditional = |tag: String| {
        let app = &app;
        let (read, uri) = (read.clone(), uri.clone());
        async move {
            app.request(
                Request::get(&uri)
                    .header("authorization", format!("Bearer {read}"))
                    .header("if-none-match", tag)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
        }
    };
    for tag in [
        etag.clone(),
        format!("W/{etag}"),
        format!("\"other\", {etag}"),
        "*".to_owned(),
    ] {
        let response = conditional(tag.clone()).await;
        assert_eq!(response.status, StatusCode::NOT_MODIFIED, "{tag}");
        assert_eq!(response.body, "");
        assert_eq!(response.headers["etag"].to_str().unwrap(), etag);
    }
    assert_eq!(conditional("\"other\"".into()).await.status, StatusCode::OK);

    call(
        &app,
        Some(&write),
        "POST",
        &format!("/api/v1/organizations/{org}/usage"),
        Some(json!({"reports": [{"id": "e-1", "metric": "workspaces", "increment": 1}]})),
    )
    .await;
    let changed = conditional(etag.clone()).await;
    assert_eq!(changed.status, StatusCode::OK, "usage changed the answer");
    assert_ne!(changed.headers["etag"].to_str().unwrap(), etag);
    let body: Value = serde_json::from_str(&changed.body).unwrap();
    assert_eq!(body["limits"]["workspaces"]["used"], 1);
    assert_eq!(first["limits"]["workspaces"]["used"], 0);
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn the_lease_statement_grants_as_the_pure_rule_does(pool: PgPool) {
    let start = chrono::DateTime::parse_from_rfc3339("2026-12-01T00:00:00Z")
        .unwrap()
        .to_utc();
    for (case, rate) in [
        (1, 10),
        (3, 60),
        (100, 60),
        (6_000, 60),
        (60_000, 60),
        (6_000_000, 60),
    ]
    .into_iter()
    .map(|(requests, per_seconds)| Rate {
        requests,
        per_seconds,
    })
    .enumerate()
    {
        let bucket = format!("lease:{case}");
        let (mut tat, mut at_us, mut seed) = (None, 0i64, 11u64 + case as u64);
        for _ in 0..150 {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let interval_us = 1_000_000 * i64::from(rate.per_seconds) / i64::from(rate.requests);
            at_us += (seed >> 33) as i64 % (40 * interval_us.max(1) + 1);
            let wanted = 1 + (seed >> 20) as u32 % 300;
            let now = start + TimeDelta::microseconds(at_us);
            let expected = decide_lease(now.timestamp_micros(), tat, rate, wanted);
            let got = app::security::db::lease(&pool, now, &bucket, rate, wanted).await;
            match expected {
                LeaseDecision::Grant { granted, new_tat_us } => {
                    assert_eq!(got, Ok(granted), "case {case} at {at_us} µs wanting {wanted}");
                    tat = Some(new_tat_us);
                }
                LeaseDecision::Deny { retry_after_secs } => assert_eq!(
                    got,
                    Err(app::error::AppError::TooManyRequests { retry_after_secs }),
                    "case {case} at {at_us} µs"
                ),
            }
        }
    }
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn processes_racing_on_one_key_never_get_more_than_its_burst(pool: PgPool) {
    // Four processes (separate leases), eight requests in flight in each, at
    // one instant: exactly the burst gets through, whatever the lease sizes.
    let now = chrono::DateTime::parse_from_rfc3339("2026-12-01T00:00:00Z")
        .unwrap()
        .to_utc();
    for requests in [3u32, 100, 1_000, 6_000] {
        let rate = Rate {
            requests,
            per_seconds: 60,
        };
        let bucket = format!("race:{requests}");
        let processes: Vec<LeasedThrottle> = (0..4).map(|_| LeasedThrottle::default()).collect();
        let mut tasks = tokio::task::JoinSet::new();
        for process in &processes {
            for _ in 0..8 {
                let (process, pool, bucket) = (process.clone(), pool.clone(), bucket.clone());
                tasks.spawn(async move {
                    let mut allowed = 0u32;
                    while process.admit(&pool, now, &bucket, rate).await.is_ok() {
                        allowed += 1;
                    }
                    allowed
                });
            }
        }
        let allowed: u32 = tasks.join_all().await.into_iter().sum();
        assert_eq!(allowed, requests, "a burst of {requests}");
    }
}

mod sessions_and_pages;
