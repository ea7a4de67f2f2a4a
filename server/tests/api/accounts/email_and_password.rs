//! Confirming the email, resetting and changing the password, and where sign-in may lead.

use super::*;

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn the_emailed_link_verifies_once_and_only_within_a_day(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let mut browser = app.signed_up("ada@acme.test", "Acme", "starter").await;
    let link = app.link_in_email("ada@acme.test", "verify_email").await;
    let token = link.split("token=").nth(1).unwrap().to_owned();
    assert!(browser.get(&link).await.body.contains("Confirm my email"));

    let response = browser.submit("/api/verify_email", &[("token", &token)]).await;

    assert_eq!(response.headers["location"], "/app?verified=1");
    assert!(
        !browser
            .get("/app")
            .await
            .body
            .contains("Please confirm your email")
    );
    let again = browser.submit("/api/verify_email", &[("token", &token)]).await;
    assert!(matches!(form_error(&again), AppError::Validation { field, .. } if field == "token"));

    // A second user's token, aged past 24 hours, no longer works.
    let other = app.signed_up("bob@acme.test", "Bob Co", "starter").await;
    drop(other);
    let link = app.link_in_email("bob@acme.test", "verify_email").await;
    // language=PostgreSQL
    sqlx::query!("update email_token set expires_at = now() - interval '1 second' where used_at is null")
        .execute(&pool)
        .await
        .unwrap();
    let token = link.split("token=").nth(1).unwrap();
    let expired = app
        .browser()
        .submit("/api/verify_email", &[("token", token)])
        .await;
    assert!(matches!(form_error(&expired), AppError::Validation { .. }));
    // language=PostgreSQL
    let stored = sqlx::query_scalar!(
        "select count(*) from email_token where token_hash = sha256($1::text::bytea)",
        token
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(stored, Some(1), "only the token's hash is stored");
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn resending_the_confirmation_is_throttled(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let mut browser = app.signed_up("ada@acme.test", "Acme", "starter").await;
    for _ in 0..3 {
        assert_eq!(browser.call("/api/resend_verification", &[]).await.status, 200);
    }
    assert_eq!(browser.call("/api/resend_verification", &[]).await.status, 429);
    assert_eq!(
        app.emails_to("ada@acme.test")
            .await
            .iter()
            .filter(|(t, _)| t == "verify_email")
            .count(),
        4
    );
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn forgot_password_answers_alike_and_the_reset_ends_other_sessions(pool: PgPool) {
    // Arrange: signed in on two browsers.
    let app = TestApp::spawn(pool.clone()).await;
    let mut laptop = app.signed_up("ada@acme.test", "Acme", "starter").await;
    let mut phone = app.browser();
    phone.sign_in("ada@acme.test").await;
    assert_eq!(phone.get("/app").await.status, 200);

    // Act: ask for a reset for a real and an unknown address.
    let known = app
        .browser()
        .submit("/api/forgot_password", &[("email", "ada@acme.test")])
        .await;
    let unknown = app
        .browser()
        .submit("/api/forgot_password", &[("email", "nobody@acme.test")])
        .await;

    // Assert: same answer, one email.
    assert_eq!(known.headers["location"], unknown.headers["location"]);
    assert!(app.emails_to("nobody@acme.test").await.is_empty());
    let link = app.link_in_email("ada@acme.test", "reset_password").await;
    let token = link.split("token=").nth(1).unwrap().to_owned();

    let mut reset_browser = app.browser();
    let weak = reset_browser
        .submit("/api/reset_password", &[("token", &token), ("password", "short")])
        .await;
    assert!(matches!(form_error(&weak), AppError::InvalidForm { .. }));
    let done = reset_browser
        .submit(
            "/api/reset_password",
            &[("token", &token), ("password", "a brand new passphrase")],
        )
        .await;
    assert_eq!(done.headers["location"], "/app?password_reset=1");
    assert_eq!(
        reset_browser.get("/app").await.status,
        200,
        "signed in after reset"
    );
    assert_eq!(phone.get("/app").await.status, 303, "other sessions ended");
    assert_eq!(laptop.get("/app").await.status, 303);
    let reused = app
        .browser()
        .submit(
            "/api/reset_password",
            &[("token", &token), ("password", "yet another passphrase")],
        )
        .await;
    assert!(
        matches!(form_error(&reused), AppError::Validation { .. }),
        "single use"
    );
    let old = try_login(&app, "ada@acme.test", PASSWORD).await;
    assert_eq!(old.status, 422);
    let new = try_login(&app, "ada@acme.test", "a brand new passphrase").await;
    assert_eq!(new.status, 200, "{}", new.body);
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn a_reset_link_expires_after_an_hour(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    app.signed_up("ada@acme.test", "Acme", "starter").await;
    app.browser()
        .submit("/api/forgot_password", &[("email", "ada@acme.test")])
        .await;
    let link = app.link_in_email("ada@acme.test", "reset_password").await;
    // language=PostgreSQL
    let lifetime = sqlx::query_scalar!(
        r#"select extract(epoch from expires_at - created_at)::bigint as "secs!" from email_token where purpose = 'reset_password'"#
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(lifetime, 3600);
    // language=PostgreSQL
    sqlx::query!("update email_token set expires_at = now() - interval '1 second'")
        .execute(&pool)
        .await
        .unwrap();
    let token = link.split("token=").nth(1).unwrap();
    let response = app
        .browser()
        .submit(
            "/api/reset_password",
            &[("token", token), ("password", "a brand new passphrase")],
        )
        .await;
    assert!(matches!(form_error(&response), AppError::Validation { .. }));
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn changing_the_password_keeps_this_session_and_ends_the_others(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let mut laptop = app.signed_up("ada@acme.test", "Acme", "starter").await;
    let mut phone = app.browser();
    phone.sign_in("ada@acme.test").await;

    let wrong = laptop
        .submit(
            "/api/change_password",
            &[
                ("current_password", "not my password"),
                ("new_password", "a brand new passphrase"),
            ],
        )
        .await;
    assert!(matches!(form_error(&wrong), AppError::InvalidForm { .. }));
    let done = laptop
        .submit(
            "/api/change_password",
            &[
                ("current_password", PASSWORD),
                ("new_password", "a brand new passphrase"),
            ],
        )
        .await;

    assert_eq!(done.headers["location"], "/app/account?changed=1");
    assert_eq!(laptop.get("/app").await.status, 200);
    assert_eq!(phone.get("/app").await.status, 303);
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn sign_in_follows_only_local_next_paths(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    app.signed_up("ada@acme.test", "Acme", "starter").await;
    for (next, expected) in [
        ("/app/team", "/app/team"),
        ("//evil.test", "/app"),
        ("https://evil.test", "/app"),
    ] {
        let response = app
            .browser()
            .submit(
                "/api/login",
                &[("email", "ada@acme.test"), ("password", PASSWORD), ("next", next)],
            )
            .await;
        assert_eq!(response.headers["location"], expected, "next={next}");
    }
}

/// Times are kept to the microsecond and shown in whole days: whatever the
/// fraction of a second the signup happened at, a new trial has 14 days left
/// (an instant read as rounded seconds once made it 15).
#[sqlx::test(migrator = "server::MIGRATOR")]
async fn a_new_trial_has_fourteen_days_left_at_any_fraction_of_a_second(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let whole_second = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
    for (n, micros) in [0, 1, 499_999, 500_000, 999_999].into_iter().enumerate() {
        app.state
            .clock
            .set(whole_second + chrono::TimeDelta::days(n as i64) + chrono::TimeDelta::microseconds(micros));
        let mut browser = app
            .signed_up(&format!("ada{n}@acme.test"), &format!("Acme {n}"), "starter")
            .await;
        let home = browser.get("/app").await;
        assert!(
            home.body.contains("<span data-trial-days>14</span> days left"),
            "signed up at .{micros:06}: {}",
            home.body
        );
    }
}
