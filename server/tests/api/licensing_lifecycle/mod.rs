//! The licence's life beside the subscription, against a real database:
//! issued once when a self-hosted tier's subscription turns active (however
//! many workers race), warned of at 30 and 7 days before a real end (once
//! each), shown and managed in the portal (key, files, freeing a seat, the
//! offline exchange), managed in the console with an audited reason, and
//! verifiable across a signing-key rotation.

use crate::admin_console::enrolled_admin;
use crate::billing_events::drain;
use crate::helpers::*;
use crate::host_api::organization_id;
use crate::licensing::{issued, licensed, licensing_app, post, trusted};
use axum::http::StatusCode;
use chrono::TimeDelta;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

async fn licence_count(pool: &PgPool, org: Uuid) -> i64 {
    sqlx::query_scalar("select count(*) from license where organization_id = $1")
        .bind(org)
        .fetch_one(pool)
        .await
        .unwrap()
}

async fn emails_of(app: &TestApp, to: &str, template: &str) -> usize {
    app.emails_to(to)
        .await
        .iter()
        .filter(|(t, _)| t == template)
        .count()
}

/// The owner checks out `tier` in the sandbox and its trial ends, so the
/// subscription is active and paid.
async fn subscribe_and_end_trial(app: &TestApp, owner: &mut Browser<'_>, tier: &str) {
    let session_id = start_sandbox_checkout(owner, tier).await;
    owner
        .submit(
            "/api/sandbox_pay",
            &[
                ("session_id", &session_id),
                ("card_number", "4242 4242 4242 4242"),
            ],
        )
        .await;
    drain(app).await;
    let ended = owner.submit("/api/sandbox_end_period", &[]).await;
    assert_eq!(ended.headers["location"], "/app/billing?period_ended=1");
    drain(app).await;
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn an_enterprise_subscription_issues_its_licence_once_when_it_turns_active(pool: PgPool) {
    let app = licensing_app(&pool).await;
    let mut owner = app.signed_up("ada@acme.test", "Acme", "starter").await;
    let mut other = app.signed_up("bob@other.test", "Other", "starter").await;
    let acme = organization_id(&pool, "Acme").await;
    let other_org = organization_id(&pool, "Other").await;

    // A signup trial of any tier carries no licence.
    runner_pass(&app).await;
    assert_eq!(licence_count(&pool, acme).await, 0);

    subscribe_and_end_trial(&app, &mut owner, "enterprise").await;
    subscribe_and_end_trial(&app, &mut other, "professional").await;
    assert_eq!(
        licence_count(&pool, acme).await,
        1,
        "issued as the subscription turned active"
    );
    assert_eq!(
        licence_count(&pool, other_org).await,
        0,
        "Professional has no self-hosted licence"
    );
    assert_eq!(emails_of(&app, "ada@acme.test", "license_issued").await, 1);

    // Events redelivered and the sweep on every process change nothing.
    drain(&app).await;
    let second = TestApp::with_settings(
        pool.clone(),
        &[("GATEHOUSE_LICENSE_SIGNING_KEYS", crate::licensing::KEYS)],
    );
    // A new period of the sweep's schedule, ticked and run by both at once.
    app.state.clock.advance(TimeDelta::minutes(11));
    tokio::join!(runner_pass(&app), runner_pass(&second));
    assert_eq!(licence_count(&pool, acme).await, 1);
    assert_eq!(emails_of(&app, "ada@acme.test", "license_issued").await, 1);

    // The owner sees the key on the portal; it activates a machine.
    let page = owner.get("/app/licenses").await;
    assert_eq!(page.status, 200);
    let key = page
        .body
        .split("data-license-key")
        .next()
        .and_then(|before| before.rsplit("value=\"").next())
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned();
    assert!(key.len() == 19 && key.contains('-'), "{key}");
    let (status, body) = post(
        &app,
        "/api/v1/licenses/activate",
        json!({ "key": key, "fingerprint": "plant-3-fp", "hostname": "plant-3" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let claims = license::verify(
        body["license_file"].as_str().unwrap(),
        &trusted(&app),
        Some("plant-3-fp"),
    )
    .unwrap();
    assert_eq!(claims.tier, "enterprise");
    assert_eq!(claims.features["self_hosted_licence"], true);
    assert_eq!(claims.max_activations, 3);

    // A renewal at the provider, a month on, moves the licence's expiry on by a period.
    app.state.clock.advance(TimeDelta::days(29));
    owner.sign_in("ada@acme.test").await; // the session idled out meanwhile
    let renewed = owner.submit("/api/sandbox_end_period", &[]).await;
    assert_eq!(renewed.headers["location"], "/app/billing?period_ended=1");
    drain(&app).await;
    let (_, body) = post(
        &app,
        "/api/v1/licenses/validate",
        json!({ "key": key, "fingerprint": "plant-3-fp" }),
    )
    .await;
    let renewed_claims = license::verify(
        body["license_file"].as_str().unwrap(),
        &trusted(&app),
        Some("plant-3-fp"),
    )
    .unwrap();
    let moved_days = (renewed_claims.expires_at - claims.expires_at) / 86_400;
    assert!((28..=31).contains(&moved_days), "moved by {moved_days} days");
    assert_eq!(
        licence_count(&pool, acme).await,
        1,
        "a renewal issues no second licence"
    );
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn processes_racing_to_issue_the_same_licence_issue_one(pool: PgPool) {
    let app = licensing_app(&pool).await;
    app.signed_up("ada@acme.test", "Acme", "enterprise").await;
    let acme = organization_id(&pool, "Acme").await;
    sqlx::query("update subscription set status = 'active' where organization_id = $1")
        .bind(acme)
        .execute(&pool)
        .await
        .unwrap();
    let catalog = app::catalog::db::load_catalog(&mut pool.acquire().await.unwrap())
        .await
        .unwrap();
    let keys = app.state.license_keys.clone().unwrap();
    let notices = app.state.notices();
    let now = app.state.clock.now();
    let racers = (0..8).map(|n| {
        let (pool, catalog, keys, notices) = (pool.clone(), catalog.clone(), keys.clone(), notices.clone());
        async move {
            if n % 2 == 0 {
                let mut tx = pool.begin().await.unwrap();
                let issued =
                    app::licensing::lifecycle::issue_due(&mut tx, &catalog, &keys, &notices, now, 10)
                        .await
                        .unwrap();
                tx.commit().await.unwrap();
                issued
            } else {
                let mut tx = pool.begin().await.unwrap();
                let issued = app::licensing::lifecycle::follow_subscription(
                    &mut tx, &catalog, &keys, &notices, acme, now,
                )
                .await
                .unwrap();
                tx.commit().await.unwrap();
                usize::from(issued.is_some())
            }
        }
    });
    let issued: usize = futures::future::join_all(racers).await.into_iter().sum();
    assert_eq!(issued, 1);
    assert_eq!(licence_count(&pool, acme).await, 1);
    assert_eq!(emails_of(&app, "ada@acme.test", "license_issued").await, 1);
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn owners_are_warned_30_and_7_days_before_a_real_end_once_each(pool: PgPool) {
    let app = licensing_app(&pool).await;
    let (org, _) = licensed(&app, 2).await;
    // Renewing every month: the period's end is no end, so no warning.
    sqlx::query(
        "update subscription set status = 'active', current_period_end = $2, cancel_at_period_end = false
         where organization_id = $1",
    )
    .bind(org)
    .bind(app.state.clock.now() + TimeDelta::days(20))
    .execute(&pool)
    .await
    .unwrap();
    let notices = app.state.notices();
    let sweep = || async {
        let mut tx = pool.begin().await?;
        let sent =
            app::licensing::lifecycle::send_expiry_alerts(&mut tx, &notices, app.state.clock.now()).await?;
        tx.commit().await?;
        Ok::<usize, sqlx::Error>(sent)
    };
    assert_eq!(sweep().await.unwrap(), 0);

    // Cancelled at the period's end, 40 days away.
    sqlx::query("update subscription set cancel_at_period_end = true, current_period_end = $2 where organization_id = $1")
        .bind(org)
        .bind(app.state.clock.now() + TimeDelta::days(40))
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(sweep().await.unwrap(), 0, "40 days ahead: not yet");
    app.state.clock.advance(TimeDelta::days(11));
    assert_eq!(sweep().await.unwrap(), 1, "29 days ahead: the 30-day warning");
    assert_eq!(sweep().await.unwrap(), 0, "once");
    app.state.clock.advance(TimeDelta::days(10));
    assert_eq!(sweep().await.unwrap(), 0, "19 days ahead: nothing new");
    app.state.clock.advance(TimeDelta::days(13));
    // Six days ahead, two processes at once: one 7-day warning.
    let (a, b) = tokio::join!(sweep(), sweep());
    assert_eq!(a.unwrap() + b.unwrap(), 1);
    let warnings: Vec<String> = app
        .emails_to("ada@acme.test")
        .await
        .into_iter()
        .filter(|(t, _)| t == "license_expiring")
        .map(|(_, body)| body)
        .collect();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(
        warnings.iter().any(|body| body.contains("ends in 6 days")),
        "{warnings:?}"
    );
    assert!(
        warnings.iter().any(|body| body.contains("ends in 29 days")),
        "{warnings:?}"
    );

    // An extension is a new end: warned of again when it nears.
    sqlx::query("update license set extended_until = $1")
        .bind(app.state.clock.now() + TimeDelta::days(25))
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(sweep().await.unwrap(), 1);
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn the_portal_shows_keys_to_owners_serves_files_and_frees_seats(pool: PgPool) {
    let app = licensing_app(&pool).await;
    let mut owner = app.signed_up("ada@acme.test", "Acme", "enterprise").await;
    let org = organization_id(&pool, "Acme").await;
    let (license_id, key) = issued(&app, org, 2).await;
    let mut member = join(&app, &mut owner, "mem@acme.test", "member").await;
    let mut outsider = app.signed_up("eve@other.test", "Other", "enterprise").await;
    for machine in ["m-1", "m-2"] {
        let (status, _) = post(
            &app,
            "/api/v1/licenses/activate",
            json!({ "key": key, "fingerprint": machine, "hostname": format!("host-{machine}") }),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
    }
    let page = owner.get("/app/licenses").await;
    assert!(page.body.contains(&key), "the owner sees the key");
    assert!(page.body.contains("host-m-1") && page.body.contains("host-m-2"));
    let page = member.get("/app/licenses").await;
    assert!(!page.body.contains(&key), "a member does not");
    assert!(page.body.contains("host-m-1"));
    let page = outsider.get("/app/licenses").await;
    assert!(!page.body.contains("host-m-1") && page.body.contains("No licences yet"));

    // A machine's file, bound to it and verifiable offline.
    let activation: Uuid =
        sqlx::query_scalar("select activation_id from license_activation where fingerprint = 'm-1'")
            .fetch_one(&pool)
            .await
            .unwrap();
    let file_path = format!("/app/licenses/{license_id}/activations/{activation}/file");
    let file = member.get(&file_path).await;
    assert_eq!(file.status, 200);
    assert!(
        file.headers["content-disposition"]
            .to_str()
            .unwrap()
            .contains("attachment")
    );
    let verdict = license::check(&license::Check {
        file: Some(&file.body),
        trusted: &trusted(&app),
        now: app.state.clock.unix(),
        fingerprint: Some("m-1"),
        watermark: None,
    });
    assert_eq!(verdict.standing, license::Standing::Licensed);
    assert_eq!(
        outsider.get(&file_path).await.status,
        404,
        "another organisation's file is no file"
    );
    assert_eq!(
        app.browser().get(&file_path).await.status,
        303,
        "signed out: to the sign-in page"
    );
    // A node-locked licence has no unbound file.
    assert_eq!(
        owner
            .get(&format!("/app/licenses/{license_id}/file"))
            .await
            .status,
        409
    );

    // Freeing a seat: owners and admins only, within the organisation.
    let activation_text = activation.to_string();
    let refused = member
        .call(
            "/api/license_free_seat",
            &[("activation_id", &activation_text), ("confirm", "yes")],
        )
        .await;
    assert_eq!(refused.status, 403);
    let refused = outsider
        .call(
            "/api/license_free_seat",
            &[("activation_id", &activation_text), ("confirm", "yes")],
        )
        .await;
    assert_eq!(refused.status, 404);
    let freed = owner
        .submit(
            "/api/license_free_seat",
            &[("activation_id", &activation_text), ("confirm", "yes")],
        )
        .await;
    assert_eq!(freed.headers["location"], "/app/licenses?done=freed");
    let (status, _) = post(
        &app,
        "/api/v1/licenses/activate",
        json!({ "key": key, "fingerprint": "m-3", "hostname": "host-m-3" }),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the freed seat is taken by another machine"
    );
    for bad in ["", "not-a-uuid", "00000000-0000-0000-0000-000000000000"] {
        let response = owner
            .call(
                "/api/license_free_seat",
                &[("activation_id", bad), ("confirm", "yes")],
            )
            .await;
        assert!(
            [404, 422].contains(&response.status.as_u16()),
            "{bad}: {}",
            response.status
        );
    }
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn an_air_gapped_install_renews_through_request_and_response_files(pool: PgPool) {
    let app = licensing_app(&pool).await;
    let mut owner = app.signed_up("ada@acme.test", "Acme", "enterprise").await;
    let org = organization_id(&pool, "Acme").await;
    let (license_id, _) = issued(&app, org, 1).await;
    let request = license::offline::Request {
        license_id: license_id.to_string(),
        fingerprint: "vault-fp".into(),
        hostname: "vault".into(),
        nonce: "n-7f3a".into(),
    };
    let text = request.to_text().unwrap();
    let response = owner
        .submit_from("/app/licenses", "/app/licenses/offline", &[("request", &text)])
        .await;
    assert_eq!(response.status, 200, "{}", response.body);
    let renewal = license::offline::verify_response(&response.body, &request, &trusted(&app)).unwrap();
    assert_eq!(renewal.code, "VALID");
    let verdict = license::check(&license::Check {
        file: renewal.license_file.as_deref(),
        trusted: &trusted(&app),
        now: app.state.clock.unix(),
        fingerprint: Some("vault-fp"),
        watermark: None,
    });
    assert_eq!(verdict.standing, license::Standing::Licensed);
    // The same machine again keeps its seat; another finds the licence full.
    let again = owner
        .submit_from("/app/licenses", "/app/licenses/offline", &[("request", &text)])
        .await;
    assert_eq!(again.status, 200);
    let mut other_machine = request.clone();
    other_machine.fingerprint = "other-fp".into();
    let full = owner
        .submit_from(
            "/app/licenses",
            "/app/licenses/offline",
            &[("request", &other_machine.to_text().unwrap())],
        )
        .await;
    assert_eq!(full.headers["location"], "/app/licenses?offline=full");

    // Requests that cannot be answered come back to the page with the reason.
    let mut stranger = app.signed_up("eve@other.test", "Other", "enterprise").await;
    for (by_stranger, text, reason) in [
        (false, "hello".to_owned(), "unreadable"),
        (false, text.replace("License-Id: ", "License-Id: x"), "unknown"),
        (true, text.clone(), "unknown"),
    ] {
        let who = if by_stranger { &mut stranger } else { &mut owner };
        let answer = who
            .submit_from("/app/licenses", "/app/licenses/offline", &[("request", &text)])
            .await;
        assert_eq!(
            answer.headers["location"],
            format!("/app/licenses?offline={reason}").as_str(),
            "{text}"
        );
    }
}

/// A check-in's fresh file.
async fn body_file(app: &TestApp, key: &str, fingerprint: &str) -> String {
    let (status, body) = post(
        app,
        "/api/v1/licenses/validate",
        json!({ "key": key, "fingerprint": fingerprint }),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    body["license_file"].as_str().unwrap().to_owned()
}

/// One pass of the process's job runner (its schedules ticked, due jobs run).
async fn runner_pass(app: &TestApp) {
    let runner = server::runner::Runner::gatehouse("test");
    runner.pass(&app.state.job_context()).await.unwrap();
}

mod console_and_files;
