//! `/api/v1`: keys, addressing, entitlements, checks, usage reports and
//! their idempotency, read-only states, overrides, the per-key throttle.

use crate::helpers::*;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::TimeDelta;
use serde_json::{Value, json};
use server::host_api::keys::{self, Scope};
use sqlx::PgPool;
use uuid::Uuid;

pub async fn api_key(app: &TestApp, scope: Scope) -> String {
    keys::create(&app.state.pool, "test", scope, &app.state.clock)
        .await
        .unwrap()
        .key
}

pub async fn organization_id(pool: &PgPool, name: &str) -> Uuid {
    sqlx::query_scalar("select organization_id from organization where name = $1")
        .bind(name)
        .fetch_one(pool)
        .await
        .unwrap()
}

/// `GET /api/v1/organizations/{org}/entitlements` with `key`: the status and body.
pub async fn entitlements_of(app: &TestApp, key: &str, org: impl std::fmt::Display) -> (StatusCode, Value) {
    let (status, body, _) = call(
        app,
        Some(key),
        "GET",
        &format!("/api/v1/organizations/{org}/entitlements"),
        None,
    )
    .await;
    (status, body)
}

pub async fn call(
    app: &TestApp,
    key: Option<&str>,
    method: &str,
    uri: &str,
    body: Option<Value>,
) -> (StatusCode, Value, TestResponse) {
    let mut request = Request::builder().method(method).uri(uri);
    if let Some(key) = key {
        request = request.header("authorization", format!("Bearer {key}"));
    }
    let body = match body {
        Some(body) => {
            request = request.header("content-type", "application/json");
            Body::from(body.to_string())
        }
        None => Body::empty(),
    };
    let response = app.request(request.body(body).unwrap()).await;
    let json = serde_json::from_str(&response.body).unwrap_or(Value::Null);
    (response.status, json, response)
}

fn error_code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("")
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn entitlements_answer_in_the_documented_shape(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    app.signed_up("ada@acme.test", "Acme", "starter").await;
    let org = organization_id(&pool, "Acme").await;
    let key = api_key(&app, Scope::Read).await;

    let (status, body, _) = call(
        &app,
        Some(&key),
        "GET",
        &format!("/api/v1/organizations/{org}/entitlements"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["organization"]["id"], json!(org));
    assert_eq!(body["organization"]["name"], "Acme");
    assert_eq!(body["organization"]["external_id"], Value::Null);
    assert_eq!(body["tier"], "starter");
    assert_eq!(body["status"], "trialing");
    assert_eq!(body["read_only"], false);
    assert_eq!(body["features"]["work_orders"], true);
    assert_eq!(body["features"]["oee_dashboard"], false);
    assert_eq!(
        body["limits"]["workspaces"],
        json!({"limit": 1, "used": 0, "remaining": 1})
    );
    assert_eq!(
        body["limits"]["users"],
        json!({"limit": 3, "used": 1, "remaining": 2})
    );
    assert!(body["trial_ends_at"].as_str().unwrap().ends_with('Z'));
    let features = body["features"].as_object().unwrap();
    assert_eq!(features.len(), 27, "every catalogue feature is answered");

    let enterprise = {
        app.signed_up("bo@big.test", "Big", "enterprise").await;
        organization_id(&pool, "Big").await
    };
    let (_, body, _) = call(
        &app,
        Some(&key),
        "GET",
        &format!("/api/v1/organizations/{enterprise}/entitlements"),
        None,
    )
    .await;
    assert_eq!(
        body["limits"]["workspaces"],
        json!({"limit": null, "used": 0, "remaining": null})
    );
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn keys_are_required_valid_live_and_scoped(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    app.signed_up("ada@acme.test", "Acme", "starter").await;
    let org = organization_id(&pool, "Acme").await;
    let read = api_key(&app, Scope::Read).await;
    let write = api_key(&app, Scope::Write).await;
    let uri = format!("/api/v1/organizations/{org}/entitlements");

    let cases: Vec<(Option<String>, StatusCode, &str)> = vec![
        (None, StatusCode::UNAUTHORIZED, "missing_api_key"),
        (
            Some("gk_nope".into()),
            StatusCode::UNAUTHORIZED,
            "invalid_api_key",
        ),
        (
            Some(format!("{read}x")),
            StatusCode::UNAUTHORIZED,
            "invalid_api_key",
        ),
        (
            Some("x".repeat(5000)),
            StatusCode::UNAUTHORIZED,
            "invalid_api_key",
        ),
    ];
    for (key, status, code) in cases {
        let (got, body, _) = call(&app, key.as_deref(), "GET", &uri, None).await;
        assert_eq!((got, error_code(&body)), (status, code), "{key:?}");
    }
    let request = Request::get(&uri)
        .header("authorization", format!("Basic {read}"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(app.request(request).await.status, StatusCode::UNAUTHORIZED);

    // A read key reads but does not write.
    assert_eq!(call(&app, Some(&read), "GET", &uri, None).await.0, StatusCode::OK);
    let usage = json!({"reports": [{"id": "r1", "metric": "workspaces", "increment": 1}]});
    let (status, body, _) = call(
        &app,
        Some(&read),
        "POST",
        &format!("/api/v1/organizations/{org}/usage"),
        Some(usage.clone()),
    )
    .await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::FORBIDDEN, "read_only_key")
    );
    let (status, body, _) = call(
        &app,
        Some(&read),
        "PATCH",
        &format!("/api/v1/organizations/{org}"),
        Some(json!({"external_id": "x"})),
    )
    .await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::FORBIDDEN, "read_only_key")
    );
    assert_eq!(
        call(
            &app,
            Some(&write),
            "POST",
            &format!("/api/v1/organizations/{org}/usage"),
            Some(usage)
        )
        .await
        .0,
        StatusCode::OK
    );

    // A revoked key stops at once.
    let prefix = write[.."gk_".len() + 8].to_owned();
    assert!(keys::revoke(&pool, &prefix, &app.state.clock).await.unwrap());
    let (status, body, _) = call(&app, Some(&write), "GET", &uri, None).await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::UNAUTHORIZED, "revoked_api_key")
    );
    let last_used: Option<chrono::DateTime<chrono::Utc>> =
        sqlx::query_scalar("select last_used_at from api_key where prefix = $1")
            .bind(&prefix)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(last_used.is_some(), "last use is recorded");
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn organisations_are_addressed_by_id_or_external_id_and_listed_newest_first(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    for (email, name) in [
        ("a@one.test", "One"),
        ("b@two.test", "Two"),
        ("c@three.test", "Three"),
    ] {
        app.signed_up(email, name, "starter").await;
        app.state.clock.advance(TimeDelta::seconds(1));
    }
    let two = organization_id(&pool, "Two").await;
    let key = api_key(&app, Scope::Write).await;

    let (status, body, _) = call(
        &app,
        Some(&key),
        "PATCH",
        &format!("/api/v1/organizations/{two}"),
        Some(json!({"external_id": "host-42"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["external_id"], "host-42");
    let (status, body, _) = call(
        &app,
        Some(&key),
        "GET",
        "/api/v1/organizations/ext:host-42/entitlements",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["organization"]["id"], json!(two));
    let (_, body, _) = call(
        &app,
        Some(&key),
        "GET",
        "/api/v1/organizations?external_id=host-42",
        None,
    )
    .await;
    assert_eq!(body["data"].as_array().unwrap().len(), 1);
    assert_eq!(body["data"][0]["name"], "Two");

    // Another organisation cannot take the same external id.
    let one = organization_id(&pool, "One").await;
    let (status, body, _) = call(
        &app,
        Some(&key),
        "PATCH",
        &format!("/api/v1/organizations/{one}"),
        Some(json!({"external_id": "host-42"})),
    )
    .await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::CONFLICT, "external_id_taken")
    );

    // Bad input is 400/422 with the field, unknown organisations 404.
    let bad: Vec<(&str, &str, Option<Value>, StatusCode, &str)> = vec![
        (
            "PATCH",
            "/api/v1/organizations/ext:host-42",
            Some(json!({"external_id": ""})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            "PATCH",
            "/api/v1/organizations/ext:host-42",
            Some(json!({"name": "x"})),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            "PATCH",
            "/api/v1/organizations/ext:host-42",
            Some(json!({})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            "GET",
            "/api/v1/organizations/not-a-uuid/entitlements",
            None,
            StatusCode::NOT_FOUND,
            "organization_not_found",
        ),
        (
            "GET",
            "/api/v1/organizations/00000000-0000-0000-0000-000000000000/entitlements",
            None,
            StatusCode::NOT_FOUND,
            "organization_not_found",
        ),
        (
            "GET",
            "/api/v1/organizations/ext:nobody/usage",
            None,
            StatusCode::NOT_FOUND,
            "organization_not_found",
        ),
        (
            "GET",
            "/api/v1/organizations?limit=0",
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            "GET",
            "/api/v1/organizations?limit=abc",
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            "GET",
            "/api/v1/organizations?starting_after=zzz",
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            "GET",
            "/api/v1/nothing-here",
            None,
            StatusCode::NOT_FOUND,
            "route_not_found",
        ),
    ];
    for (method, uri, body, status, code) in bad {
        let (got, answer, _) = call(&app, Some(&key), method, uri, body).await;
        assert_eq!(
            (got, error_code(&answer)),
            (status, code),
            "{method} {uri}: {answer}"
        );
    }
    let request = Request::patch(format!("/api/v1/organizations/{one}"))
        .header("authorization", format!("Bearer {key}"))
        .body(Body::from("{not json"))
        .unwrap();
    assert_eq!(app.request(request).await.status, StatusCode::BAD_REQUEST);

    // Newest first, paged by the last id seen, and a page survives an insert.
    let (_, first, _) = call(&app, Some(&key), "GET", "/api/v1/organizations?limit=2", None).await;
    let names: Vec<&str> = first["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Three", "Two"]);
    assert_eq!(first["has_more"], true);
    app.signed_up("d@four.test", "Four", "starter").await;
    let last = first["data"][1]["id"].as_str().unwrap();
    let (_, second, _) = call(
        &app,
        Some(&key),
        "GET",
        &format!("/api/v1/organizations?limit=2&starting_after={last}"),
        None,
    )
    .await;
    let names: Vec<&str> = second["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["One"]);
    assert_eq!(second["has_more"], false);
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn checks_say_allowed_or_why_not_with_the_tier_that_would_allow_it(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    app.signed_up("ada@acme.test", "Acme", "starter").await;
    let org = organization_id(&pool, "Acme").await;
    let key = api_key(&app, Scope::Read).await;
    let check = |query: &str| format!("/api/v1/organizations/{org}/entitlements/check?{query}");

    let cases: Vec<(&str, bool, Value, Value)> = vec![
        ("feature=work_orders", true, Value::Null, Value::Null),
        (
            "feature=oee_dashboard",
            false,
            json!("feature_not_in_plan"),
            json!("professional"),
        ),
        (
            "feature=lot_traceability",
            false,
            json!("feature_not_in_plan"),
            json!("enterprise"),
        ),
        ("metric=workspaces", true, Value::Null, Value::Null),
        (
            "metric=workspaces&increment=2",
            false,
            json!("limit_reached"),
            json!("professional"),
        ),
        (
            "metric=workspaces&increment=6",
            false,
            json!("limit_reached"),
            json!("enterprise"),
        ),
        ("metric=users&increment=2", true, Value::Null, Value::Null),
        (
            "metric=users&increment=3",
            false,
            json!("limit_reached"),
            json!("professional"),
        ),
        ("metric=storage_gb&increment=0", true, Value::Null, Value::Null),
    ];
    for (query, allowed, reason, upgrade) in cases {
        let (status, body, _) = call(&app, Some(&key), "GET", &check(query), None).await;
        assert_eq!(status, StatusCode::OK, "{query}: {body}");
        assert_eq!(body["allowed"], allowed, "{query}: {body}");
        assert_eq!(body["reason"], reason, "{query}");
        assert_eq!(body["upgrade_to"], upgrade, "{query}");
    }
    for query in [
        "feature=teleport",
        "metric=seats",
        "metric=workspaces&increment=-1",
        "metric=workspaces&increment=x",
        "",
        "feature=a&metric=b",
    ] {
        let (status, body, _) = call(&app, Some(&key), "GET", &check(query), None).await;
        assert_eq!(
            (status, error_code(&body)),
            (StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"),
            "{query}"
        );
    }
}

mod usage_and_throttle;
