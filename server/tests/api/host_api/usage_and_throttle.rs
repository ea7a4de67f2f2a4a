//! Usage reports (once each, all or nothing, raced), read-only standings, and each key's throttle.

use super::*;

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn usage_reports_count_once_refuse_a_reused_id_and_apply_all_or_nothing(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    app.signed_up("ada@acme.test", "Acme", "professional").await;
    let org = organization_id(&pool, "Acme").await;
    let key = api_key(&app, Scope::Write).await;
    let uri = format!("/api/v1/organizations/{org}/usage");
    let batch = json!({"reports": [
        {"id": "host-event-1", "metric": "workspaces", "increment": 2},
        {"id": "host-event-2", "metric": "storage_gb", "set": 40},
    ]});

    let (status, body, _) = call(&app, Some(&key), "POST", &uri, Some(batch.clone())).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["applied"], 2);
    assert_eq!(body["usage"]["workspaces"]["used"], 2);
    assert_eq!(
        body["usage"]["storage_gb"],
        json!({"used": 40, "limit": 100, "remaining": 60})
    );

    // The retry counts once.
    let (status, body, _) = call(&app, Some(&key), "POST", &uri, Some(batch)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (body["applied"].clone(), body["duplicates"].clone()),
        (json!(0), json!(2))
    );
    assert_eq!(body["usage"]["workspaces"]["used"], 2);

    // An id reused with other content is 409, and nothing of its batch counts.
    let conflict = json!({"reports": [
        {"id": "host-event-3", "metric": "workspaces", "increment": 1},
        {"id": "host-event-1", "metric": "workspaces", "increment": 5},
    ]});
    let (status, body, _) = call(&app, Some(&key), "POST", &uri, Some(conflict)).await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::CONFLICT, "idempotency_conflict")
    );
    assert_eq!(body["error"]["field"], "reports[1].id");

    // A bad report anywhere refuses the whole batch.
    let bad_batches = [
        (
            json!({"reports": [{"id": "a", "metric": "workspaces", "increment": 1}, {"id": "b", "metric": "nope", "increment": 1}]}),
            "reports[1].metric",
        ),
        (
            json!({"reports": [{"id": "a", "metric": "workspaces", "increment": -9}]}),
            "reports[0].increment",
        ),
        (
            json!({"reports": [{"id": "a", "metric": "users", "set": 9}]}),
            "reports[0].metric",
        ),
        (json!({"reports": []}), "reports"),
        (
            json!({"reports": (0..101).map(|i| json!({"id": format!("x{i}"), "metric": "workspaces", "increment": 1})).collect::<Vec<_>>()}),
            "reports",
        ),
    ];
    for (batch, field) in bad_batches {
        let (status, body, _) = call(&app, Some(&key), "POST", &uri, Some(batch)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["error"]["field"], field);
    }
    for raw in [
        "{",
        "[]",
        "{\"reports\": [{\"id\": 1}]}",
        "{\"reports\": [], \"extra\": 1}",
    ] {
        let request = Request::post(&uri)
            .header("authorization", format!("Bearer {key}"))
            .body(Body::from(raw))
            .unwrap();
        let response = app.request(request).await;
        assert_eq!(response.status, StatusCode::BAD_REQUEST, "{raw}");
    }

    let (_, body, _) = call(&app, Some(&key), "GET", &uri, None).await;
    assert_eq!(
        body["metrics"]["workspaces"]["used"], 2,
        "nothing refused was applied"
    );
    assert_eq!(body["metrics"]["storage_gb"]["used"], 40);
    assert_eq!(body["metrics"]["users"]["used"], 1);
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn racing_reports_lose_no_update_and_a_raced_retry_counts_once(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    app.signed_up("ada@acme.test", "Acme", "enterprise").await;
    let org = organization_id(&pool, "Acme").await;
    let key = api_key(&app, Scope::Write).await;
    let uri = format!("/api/v1/organizations/{org}/usage");
    let distinct = (0..20).map(|i| {
        let body = json!({"reports": [{"id": format!("d{i}"), "metric": "workspaces", "increment": 1}]});
        let (app, key, uri) = (&app, &key, &uri);
        async move { call(app, Some(key), "POST", uri, Some(body)).await.0 }
    });
    let same = (0..20).map(|_| {
        let body = json!({"reports": [{"id": "same", "metric": "storage_gb", "increment": 7}]});
        let (app, key, uri) = (&app, &key, &uri);
        async move { call(app, Some(key), "POST", uri, Some(body)).await.0 }
    });
    let (a, b) = futures::future::join(
        futures::future::join_all(distinct),
        futures::future::join_all(same),
    )
    .await;
    assert!(a.iter().chain(&b).all(|s| *s == StatusCode::OK), "{a:?} {b:?}");
    let (_, body, _) = call(&app, Some(&key), "GET", &uri, None).await;
    assert_eq!(body["metrics"]["workspaces"]["used"], 20);
    assert_eq!(body["metrics"]["storage_gb"]["used"], 7);
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn an_ended_trial_is_read_only_and_an_expired_override_stops_counting(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    app.signed_up("ada@acme.test", "Acme", "starter").await;
    let org = organization_id(&pool, "Acme").await;
    let key = api_key(&app, Scope::Read).await;
    let entitlements = format!("/api/v1/organizations/{org}/entitlements");
    let now = app.state.clock.now();
    sqlx::query(
        "insert into entitlement_override (organization_id, kind, key, limit_value, expires_at, reason, created_by, created_at)
         values ($1, 'limit', 'workspaces', 7, $2, 'pilot', 'test', $3)",
    )
    .bind(org)
    .bind(now + TimeDelta::days(3))
    .bind(now)
    .execute(&pool)
    .await
    .unwrap();

    let (_, body, _) = call(&app, Some(&key), "GET", &entitlements, None).await;
    assert_eq!(body["limits"]["workspaces"]["limit"], 7);
    app.state.clock.advance(TimeDelta::days(3));
    let (_, body, _) = call(&app, Some(&key), "GET", &entitlements, None).await;
    assert_eq!(body["limits"]["workspaces"]["limit"], 1, "the override expired");

    // Past the trial's end it is read-only, before and after the sweep pauses it.
    app.state.clock.advance(TimeDelta::days(12));
    for _ in 0..2 {
        let (_, body, _) = call(&app, Some(&key), "GET", &entitlements, None).await;
        assert_eq!(body["read_only"], true, "{body}");
        assert_eq!(body["read_only_reason"], "trial_ended");
        assert_eq!(body["features"]["work_orders"], true, "reads still work");
        let (_, check, _) = call(
            &app,
            Some(&key),
            "GET",
            &format!("{entitlements}/check?metric=workspaces"),
            None,
        )
        .await;
        assert_eq!(
            (check["allowed"].clone(), check["reason"].clone()),
            (json!(false), json!("read_only"))
        );
        app.run_due_work().await;
    }
    let (_, body, _) = call(&app, Some(&key), "GET", &entitlements, None).await;
    assert_eq!(body["status"], "paused");
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn each_key_is_throttled_with_retry_after(pool: PgPool) {
    let app = TestApp::with_settings(pool.clone(), &[("GATEHOUSE_API_REQUESTS_PER_MINUTE", "3")]);
    sync_shipped_catalog(&pool).await;
    app.signed_up("ada@acme.test", "Acme", "starter").await;
    let org = organization_id(&pool, "Acme").await;
    let (first, second) = (api_key(&app, Scope::Read).await, api_key(&app, Scope::Read).await);
    let uri = format!("/api/v1/organizations/{org}/entitlements");
    for _ in 0..3 {
        assert_eq!(
            call(&app, Some(&first), "GET", &uri, None).await.0,
            StatusCode::OK
        );
    }
    let (status, body, response) = call(&app, Some(&first), "GET", &uri, None).await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::TOO_MANY_REQUESTS, "rate_limited")
    );
    let retry: u64 = response.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=20).contains(&retry), "{retry}");
    assert_eq!(
        call(&app, Some(&second), "GET", &uri, None).await.0,
        StatusCode::OK,
        "keys are throttled apart"
    );
    app.state.clock.advance(TimeDelta::seconds(retry as i64));
    assert_eq!(
        call(&app, Some(&first), "GET", &uri, None).await.0,
        StatusCode::OK
    );
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn the_one_statement_throttle_decides_as_the_pure_rule_does(pool: PgPool) {
    use app::security::throttle::{Decision, Rate, decide};
    let start = chrono::DateTime::parse_from_rfc3339("2026-12-01T00:00:00Z")
        .unwrap()
        .to_utc();
    for (case, rate) in [
        Rate {
            requests: 1,
            per_seconds: 10,
        },
        Rate {
            requests: 3,
            per_seconds: 60,
        },
        Rate {
            requests: 5,
            per_seconds: 900,
        },
        Rate {
            requests: 100,
            per_seconds: 60,
        },
    ]
    .into_iter()
    .enumerate()
    {
        let bucket = format!("agree:{case}");
        let (mut tat, mut at_ms, mut seed) = (None, 0i64, 7u64 + case as u64);
        for _ in 0..150 {
            // A deterministic walk of gaps from 0 to about 4 intervals.
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            at_ms +=
                (seed >> 33) as i64 % (4 * 1000 * i64::from(rate.per_seconds) / i64::from(rate.requests) + 1);
            let now = start + TimeDelta::milliseconds(at_ms);
            let expected = decide(now.timestamp_micros(), tat, rate);
            let got = app::security::db::throttle(&pool, now, &bucket, rate).await;
            match expected {
                Decision::Allow { new_tat_us } => {
                    assert!(got.is_ok(), "case {case} at {at_ms}: {got:?}");
                    tat = Some(new_tat_us);
                }
                Decision::Deny { retry_after_secs } => assert_eq!(
                    got,
                    Err(app::error::AppError::TooManyRequests { retry_after_secs }),
                    "case {case} at {at_ms}"
                ),
            }
        }
    }
}
