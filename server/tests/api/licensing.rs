//! Licences for self-hosted installs against a real database: activation
//! within the seat limit however many machines race, the same machine
//! again holding its seat, check-ins that follow the subscription and the
//! organisation's suspension, files an install verifies offline with the
//! `license` crate, and the published key set.

use crate::helpers::*;
use crate::host_api::organization_id;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::TimeDelta;
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

/// Two keys: a retiring one and the active one that signs.
pub(crate) const KEYS: &str = "gh-test-1 retiring 9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60\n\
                    gh-test-2 active 4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb\n";

pub(crate) async fn licensing_app(pool: &PgPool) -> TestApp {
    sync_shipped_catalog(pool).await;
    TestApp::with_settings(pool.clone(), &[("GATEHOUSE_LICENSE_SIGNING_KEYS", KEYS)])
}

/// Acme on the enterprise plan with a licence of `seats` issued in the
/// console; returns its organisation and key.
pub(crate) async fn licensed(app: &TestApp, seats: i32) -> (Uuid, String) {
    app.signed_up("ada@acme.test", "Acme", "enterprise").await;
    let org = organization_id(&app.state.pool, "Acme").await;
    let (_, key) = issued(app, org, seats).await;
    (org, key)
}

/// A console licence of `seats` for `org`; its id and key.
pub(crate) async fn issued(app: &TestApp, org: Uuid, seats: i32) -> (Uuid, String) {
    use chrono::Datelike;
    let keys = app.state.license_keys.as_deref().unwrap();
    let now = app.state.clock.now();
    let mut conn = app.state.pool.acquire().await.unwrap();
    let id = app::licensing::db::issue(
        &mut conn,
        keys,
        org,
        app::licensing::db::Source::Console,
        seats,
        true,
        now,
    )
    .await
    .unwrap()
    .unwrap();
    let key = keys.license_key(id, now.year() as u16).unwrap();
    (id, key.to_string())
}

pub(crate) async fn post(app: &TestApp, path: &str, body: Value) -> (StatusCode, Value) {
    let response = app
        .request(
            Request::post(path)
                .header("content-type", "application/json")
                .body(Body::from(body.to_string()))
                .unwrap(),
        )
        .await;
    let value = serde_json::from_str(&response.body).unwrap_or(Value::Null);
    (response.status, value)
}

pub(crate) fn trusted(app: &TestApp) -> Vec<license::TrustedKey> {
    app.state.license_keys.as_ref().unwrap().trusted()
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn twenty_machines_racing_for_three_seats_end_with_exactly_three(pool: PgPool) {
    let app = licensing_app(&pool).await;
    let (_, key) = licensed(&app, 3).await;
    let attempts = (0..20).map(|n| {
        let app = &app;
        let key = key.clone();
        async move {
            post(
                app,
                "/api/v1/licenses/activate",
                json!({ "key": key, "fingerprint": format!("machine-{n}"), "hostname": format!("host-{n}") }),
            )
            .await
        }
    });
    let answers = futures::future::join_all(attempts).await;
    let activated = answers
        .iter()
        .filter(|(status, _)| *status == StatusCode::OK)
        .count();
    let full = answers
        .iter()
        .filter(|(status, body)| {
            *status == StatusCode::CONFLICT && body["error"]["code"] == "TOO_MANY_MACHINES"
        })
        .count();
    assert_eq!((activated, full), (3, 17), "{answers:?}");
    let live: i64 =
        sqlx::query_scalar("select count(*) from license_activation where deactivated_at is null")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(live, 3);
    // The refusal lists who holds the seats, so the customer can free one.
    let refusal = answers
        .iter()
        .find(|(status, _)| *status == StatusCode::CONFLICT)
        .unwrap();
    assert_eq!(refusal.1["activations"].as_array().unwrap().len(), 3);
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn a_machine_activates_once_verifies_its_file_offline_and_frees_its_seat(pool: PgPool) {
    let app = licensing_app(&pool).await;
    let (_, key) = licensed(&app, 1).await;
    let activate_as = |fingerprint: &'static str, instance: &'static str| {
        let (app, key) = (&app, key.clone());
        async move {
            post(
                app,
                "/api/v1/licenses/activate",
                json!({ "key": key, "fingerprint": fingerprint, "hostname": "build-01", "instance_id": instance }),
            )
            .await
        }
    };
    let activate = |fingerprint: &'static str| activate_as(fingerprint, "container-7");
    let (status, first) = activate("machine-a").await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let (status, again) = activate("machine-a").await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the same machine again is not a second activation"
    );
    assert_eq!(first["activation"]["id"], again["activation"]["id"]);
    let (status, other) = activate_as("machine-b", "container-8").await;
    assert_eq!(
        (status, other["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("TOO_MANY_MACHINES"))
    );
    // A container restarted with a new fingerprint but its operator's stable
    // instance id is the same install: it keeps its seat, under the new print.
    let (status, restarted) = activate("machine-a-restarted").await;
    assert_eq!(status, StatusCode::OK, "{restarted}");
    assert_eq!(restarted["activation"]["id"], first["activation"]["id"]);
    assert_eq!(restarted["activation"]["fingerprint"], "machine-a-restarted");
    let (status, _) = activate("machine-a").await;
    assert_eq!(status, StatusCode::OK, "and back again");

    // The file verifies offline, bound to this machine, with the entitlements.
    let file = first["license_file"].as_str().unwrap();
    let trusted = trusted(&app);
    let verdict = license::check(&license::Check {
        file: Some(file),
        trusted: &trusted,
        now: app.state.clock.now().timestamp(),
        fingerprint: Some("machine-a"),
        watermark: None,
    });
    assert_eq!(verdict.standing, license::Standing::Licensed);
    let claims = verdict.claims.unwrap();
    assert_eq!(claims.tier, "enterprise");
    assert_eq!(
        claims.features["self_hosted_licence"], true,
        "the entitlements API's shape"
    );
    let elsewhere = license::verify(file, &trusted, Some("machine-b"));
    assert_eq!(elsewhere, Err(license::Unverifiable::WrongMachine));
    assert!(file.contains("Key-Id: gh-test-2"), "the active key signs");
    let stored: Option<Vec<u8>> = sqlx::query_scalar("select instance_hmac from license_activation")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(stored.is_some_and(|h| h.len() == 32 && !h.windows(11).any(|w| w == b"container-7")));

    // Freed, the seat takes another machine.
    let (status, _) = post(
        &app,
        "/api/v1/licenses/deactivate",
        json!({ "key": key, "fingerprint": "machine-a" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = activate("machine-b").await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = post(
        &app,
        "/api/v1/licenses/deactivate",
        json!({ "key": key, "fingerprint": "machine-a" }),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("NO_MACHINE"))
    );
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn check_ins_follow_the_subscription_and_the_organisation(pool: PgPool) {
    let app = licensing_app(&pool).await;
    let (org, key) = licensed(&app, 2).await;
    post(
        &app,
        "/api/v1/licenses/activate",
        json!({ "key": key, "fingerprint": "m1", "hostname": "h1" }),
    )
    .await;
    let validate = |nonce: &'static str| {
        let (app, key) = (&app, key.clone());
        async move {
            post(
                app,
                "/api/v1/licenses/validate",
                json!({ "key": key, "fingerprint": "m1", "nonce": nonce }),
            )
            .await
        }
    };
    let (status, body) = validate("n-1").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (body["valid"].as_bool(), body["code"].as_str()),
        (Some(true), Some("VALID"))
    );
    // The signed answer echoes the nonce and verifies with the published keys.
    let signed = &body["signed"];
    let answer = license::verify_answer(
        signed["answer"].as_str().unwrap(),
        signed["key_id"].as_str().unwrap(),
        signed["signature"].as_str().unwrap(),
        &trusted(&app),
    )
    .unwrap();
    assert_eq!(answer["nonce"], "n-1");

    // A payment being collected: still valid, with the warning.
    sqlx::query("update subscription set status = 'past_due' where organization_id = $1 and live")
        .bind(org)
        .execute(&pool)
        .await
        .unwrap();
    let (_, body) = validate("n-2").await;
    assert_eq!(
        (body["code"].as_str(), body["past_due"].as_bool()),
        (Some("VALID"), Some(true))
    );

    // Suspended with its organisation, at once.
    sqlx::query("update organization set suspended_at = now() where organization_id = $1")
        .bind(org)
        .execute(&pool)
        .await
        .unwrap();
    let (status, body) = validate("n-3").await;
    assert_eq!(
        (status, body["valid"].as_bool(), body["code"].as_str()),
        (StatusCode::OK, Some(false), Some("SUSPENDED"))
    );
    sqlx::query("update organization set suspended_at = null where organization_id = $1")
        .bind(org)
        .execute(&pool)
        .await
        .unwrap();

    // Cancelled: valid to the end of the period paid for, then expired.
    let period_end: chrono::DateTime<chrono::Utc> = sqlx::query_scalar(
        "update subscription set status = 'canceled', current_period_end = $2 where organization_id = $1 and live
         returning current_period_end",
    )
    .bind(org)
    .bind(app.state.clock.now() + TimeDelta::days(3))
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(validate("n-4").await.1["code"], "VALID");
    app.state.clock.advance(TimeDelta::days(4));
    let (_, body) = validate("n-5").await;
    assert_eq!(body["code"], "EXPIRED", "past {period_end}");

    // Revoked: never valid again.
    sqlx::query("update license set revoked_at = now()")
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(validate("n-6").await.1["code"], "REVOKED");
    // An unknown machine and an unknown key.
    let (_, body) = post(
        &app,
        "/api/v1/licenses/validate",
        json!({ "key": key, "fingerprint": "m9" }),
    )
    .await;
    assert_eq!(body["code"], "REVOKED");
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn bad_keys_and_fields_are_refused_before_any_lookup(pool: PgPool) {
    let app = licensing_app(&pool).await;
    let (_, key) = licensed(&app, 1).await;
    let mut typo = key.clone().into_bytes();
    typo[6] = if typo[6] == b'A' { b'B' } else { b'A' };
    let typo = String::from_utf8(typo).unwrap();
    for (body, field) in [
        (json!({ "fingerprint": "m", "hostname": "h" }), "key"),
        (json!({ "key": typo, "fingerprint": "m", "hostname": "h" }), "key"),
        (
            json!({ "key": "not a key", "fingerprint": "m", "hostname": "h" }),
            "key",
        ),
        (json!({ "key": key, "hostname": "h" }), "fingerprint"),
        (
            json!({ "key": key, "fingerprint": "m\u{0}", "hostname": "h" }),
            "fingerprint",
        ),
        (
            json!({ "key": key, "fingerprint": "x".repeat(201), "hostname": "h" }),
            "fingerprint",
        ),
        (json!({ "key": key, "fingerprint": "m" }), "hostname"),
    ] {
        let (status, answer) = post(&app, "/api/v1/licenses/activate", body.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer}");
        assert_eq!(answer["error"]["field"], field, "{body}: {answer}");
    }
    let (status, answer) = post(
        &app,
        "/api/v1/licenses/activate",
        json!({ "key": key, "fingerprint": "m", "hostname": "h", "extra": 1 }),
    )
    .await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_json"))
    );
    let unknown = license::LicenseKey::new(2026, 42).unwrap().to_string();
    let (status, answer) = post(
        &app,
        "/api/v1/licenses/activate",
        json!({ "key": unknown, "fingerprint": "m", "hostname": "h" }),
    )
    .await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("NOT_FOUND"))
    );
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn check_ins_are_throttled_per_key_with_retry_after(pool: PgPool) {
    let app = licensing_app(&pool).await;
    let (_, key) = licensed(&app, 1).await;
    let mut throttled = None;
    for _ in 0..70 {
        let response = app
            .request(
                Request::post("/api/v1/licenses/validate")
                    .header("content-type", "application/json")
                    .body(Body::from(json!({ "key": key, "fingerprint": "m" }).to_string()))
                    .unwrap(),
            )
            .await;
        if response.status == StatusCode::TOO_MANY_REQUESTS {
            throttled = Some(response);
            break;
        }
    }
    let throttled = throttled.expect("the key's budget of 60 a minute ran out");
    assert!(throttled.headers.contains_key("retry-after"));
    assert!(throttled.body.contains("rate_limited"));
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn the_key_set_is_published_with_each_keys_status(pool: PgPool) {
    let app = licensing_app(&pool).await;
    let response = app.get("/api/v1/licensing/keys").await;
    assert_eq!(response.status, StatusCode::OK);
    let body: Value = serde_json::from_str(&response.body).unwrap();
    let keys = body["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2);
    assert_eq!(
        (keys[0]["id"].as_str(), keys[0]["status"].as_str()),
        (Some("gh-test-1"), Some("retiring"))
    );
    assert_eq!(keys[1]["status"], "active");
    assert!(!response.body.contains("9d61b1"), "no secret is published");
    // A file signed by the retiring key still verifies with the published set.
    let published: Vec<license::TrustedKey> = keys
        .iter()
        .filter_map(|k| license::TrustedKey::from_base64(k["id"].as_str()?, k["public_key"].as_str()?))
        .collect();
    assert_eq!(published, trusted(&app));
    let unconfigured = TestApp::spawn(pool).await;
    let response = unconfigured.get("/api/v1/licensing/keys").await;
    assert_eq!(response.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.body.contains("licensing_not_configured"));
}
