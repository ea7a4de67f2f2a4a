//! Signup, sign-in, verification and password resets.

use crate::helpers::{ORIGIN, PASSWORD, TestApp, form_error};
use app::error::AppError;
use sqlx::PgPool;

/// A scripted sign-in attempt from a fresh browser.
async fn try_login(app: &TestApp, email: &str, password: &str) -> crate::helpers::TestResponse {
    app.browser()
        .call("/api/login", &[("email", email), ("password", password)])
        .await
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn signup_creates_user_organisation_owner_and_a_card_free_trial(pool: PgPool) {
    // Arrange
    let app = TestApp::spawn(pool.clone()).await;
    let mut browser = app.browser();

    // Act
    let response = browser
        .submit(
            "/api/signup",
            &[
                ("email", " Ada@Acme.test "),
                ("password", PASSWORD),
                ("company", "Acme Metals"),
            ],
        )
        .await;

    // Assert
    assert_eq!(response.status, 302);
    assert_eq!(response.headers["location"], "/signup/check-email");
    // language=PostgreSQL
    let row = sqlx::query!(
        r#"
        select u.email, u.email_verified_at is null as "unverified!", u.password_hash, o.name, m.role,
               s.status, s.billing_cycle, p.plan_key,
               extract(epoch from s.trial_end - s.trial_start)::bigint as "trial_secs!"
        from app_user u join membership m using (user_id) join organization o using (organization_id)
        join subscription s using (organization_id) join plan p using (plan_id)
        "#
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(row.email, "ada@acme.test");
    assert!(row.unverified);
    assert!(
        row.password_hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "OWASP argon2id parameters"
    );
    assert_eq!((row.name.as_str(), row.role.as_str()), ("Acme Metals", "owner"));
    assert_eq!(
        (row.status.as_str(), row.plan_key.as_str()),
        ("trialing", "professional"),
        "catalogue default"
    );
    assert_eq!(row.billing_cycle, "monthly");
    assert_eq!(row.trial_secs, 14 * 24 * 3600);
    // language=PostgreSQL
    let ledger =
        sqlx::query!("select kind, status_after, mrr_before, mrr_after, cause from subscription_event")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(ledger.len(), 1);
    assert_eq!(
        (ledger[0].kind.as_str(), ledger[0].status_after.as_str()),
        ("trial_started", "trialing")
    );
    assert_eq!(
        (
            ledger[0].mrr_before,
            ledger[0].mrr_after,
            ledger[0].cause.as_str()
        ),
        (0, 0, "signup")
    );
    let templates: Vec<String> = app
        .emails_to("ada@acme.test")
        .await
        .into_iter()
        .map(|(t, _)| t)
        .collect();
    assert_eq!(templates.len(), 2);
    assert!(templates.contains(&"welcome".to_owned()) && templates.contains(&"verify_email".to_owned()));

    let home = browser.get("/app").await;
    assert_eq!(home.status, 200);
    assert!(home.body.contains("Acme Metals"));
    assert!(
        home.body.contains("<span data-trial-days>14</span> days left"),
        "{}",
        home.body
    );
    assert!(home.body.contains("Please confirm your email address"));
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn signup_from_a_pricing_card_trials_the_chosen_plan(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    app.signed_up("bo@forge.test", "Forge", "starter").await;
    // language=PostgreSQL
    let plan = sqlx::query_scalar!("select p.plan_key from subscription join plan p using (plan_id)")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(plan, "starter");
    let page = app.get("/signup?plan=starter&cycle=annual").await;
    assert!(page.body.contains("You chose the starter plan, billed annual"));
    assert!(page.body.contains("name=\"plan\" value=\"starter\""));
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn signup_rejects_each_bad_field_with_its_message_and_keeps_the_input(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let cases = [
        (
            "not-an-email",
            PASSWORD,
            "Acme",
            "email",
            "enter an email address",
        ),
        (
            "a@acme.test",
            "short",
            "Acme",
            "password",
            "at least 12 characters",
        ),
        ("a@acme.test", "password1234", "Acme", "password", "too common"),
        ("a@acme.test", &"x".repeat(129), "Acme", "password", "at most 128"),
        ("a@acme.test", PASSWORD, "   ", "company", "company name"),
    ];
    for (email, password, company, field, message) in cases {
        let response = app
            .browser()
            .submit(
                "/api/signup",
                &[("email", email), ("password", password), ("company", company)],
            )
            .await;
        assert_eq!(response.status, 302, "{field}");
        let AppError::InvalidForm { errors, values } = form_error(&response) else {
            panic!("{field}: not a form error");
        };
        let error = errors
            .iter()
            .find(|e| e.field == field)
            .unwrap_or_else(|| panic!("{field}: {errors:?}"));
        assert!(error.message.contains(message), "{field}: {}", error.message);
        assert!(
            values.iter().any(|(k, v)| k == "email" && v == email),
            "email kept"
        );
        assert!(
            values.iter().all(|(k, _)| k != "password"),
            "passwords are never echoed"
        );
    }
    // language=PostgreSQL
    let users = sqlx::query_scalar!(r#"select count(*) as "n!" from app_user"#)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(users, 0, "nothing stored");
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn the_signup_page_shows_errors_and_refills_the_form(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let mut browser = app.browser();
    let response = browser
        .submit_from(
            "/signup",
            "/api/signup",
            &[
                ("email", "ada@acme.test"),
                ("password", "short"),
                ("company", "Acme"),
            ],
        )
        .await;
    let location = response.headers["location"].to_str().unwrap().replace(ORIGIN, "");
    let page = browser.get(&location).await;
    assert!(page.body.contains("role=\"alert\""));
    assert!(page.body.contains("aria-invalid=\"true\""));
    assert!(page.body.contains("value=\"ada@acme.test\""));
    assert!(page.body.contains("value=\"Acme\""));
    assert!(page.body.contains("use at least 12 characters"));
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn signup_with_a_taken_email_looks_the_same_and_tells_the_owner(pool: PgPool) {
    // Arrange
    let app = TestApp::spawn(pool.clone()).await;
    let first = app
        .browser()
        .submit(
            "/api/signup",
            &[
                ("email", "ada@acme.test"),
                ("password", PASSWORD),
                ("company", "Acme"),
            ],
        )
        .await;

    // Act
    let second = app
        .browser()
        .submit(
            "/api/signup",
            &[
                ("email", "ADA@acme.test"),
                ("password", "another long password"),
                ("company", "Evil"),
            ],
        )
        .await;

    // Assert
    assert_eq!(
        (first.status, &first.headers["location"]),
        (second.status, &second.headers["location"])
    );
    assert!(
        second.headers.get("set-cookie").is_some(),
        "both get a session cookie"
    );
    // language=PostgreSQL
    let organizations = sqlx::query_scalar!(r#"select count(*) as "n!" from organization"#)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(organizations, 1);
    let templates: Vec<String> = app
        .emails_to("ada@acme.test")
        .await
        .into_iter()
        .map(|(t, _)| t)
        .collect();
    assert!(templates.contains(&"signup_existing_account".to_owned()));
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn wrong_password_and_unknown_email_get_the_same_answer(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    app.signed_up("ada@acme.test", "Acme", "starter").await;

    let wrong_password = app
        .browser()
        .submit(
            "/api/login",
            &[("email", "ada@acme.test"), ("password", "wrong password!")],
        )
        .await;
    let unknown = app
        .browser()
        .submit(
            "/api/login",
            &[("email", "bob@acme.test"), ("password", "wrong password!")],
        )
        .await;

    let (a, b) = (form_error(&wrong_password), form_error(&unknown));
    let message = |e: &AppError| match e {
        AppError::InvalidForm { errors, .. } => errors[0].message.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(message(&a), "the email or password is incorrect");
    assert_eq!(message(&a), message(&b));
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn sign_in_rotates_the_session_id_and_sign_out_ends_the_session(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let mut browser = app.signed_up("ada@acme.test", "Acme", "starter").await;
    let before = browser.cookie.clone().unwrap();

    let response = browser.sign_in("ada@acme.test").await;

    assert_eq!(response.headers["location"], "/app");
    let after = browser.cookie.clone().unwrap();
    assert_ne!(before, after, "a new session id after sign-in");
    let set_cookie = response.headers["set-cookie"].to_str().unwrap();
    assert!(
        set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Lax"),
        "{set_cookie}"
    );
    assert!(!set_cookie.contains("Secure"), "local mode serves plain http");
    assert_eq!(browser.get("/app").await.status, 200);

    browser.submit("/api/logout", &[]).await;
    let page = browser.get("/app").await;
    assert_eq!(page.status, 303);
    assert_eq!(page.headers["location"], "/login?next=/app");
    // The old cookie is dead too.
    let mut stale = app.browser();
    stale.cookie = Some(after);
    assert_eq!(stale.get("/app").await.status, 303);
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn over_tls_cookies_are_secure_and_hsts_is_sent(pool: PgPool) {
    server::sync_catalog_file(&pool, &crate::helpers::shipped_catalog())
        .await
        .unwrap();
    let app = TestApp::with_settings(pool, &[("GATEHOUSE_PUBLIC_URL", "https://billing.example.com")]);

    let page = app.get("/pricing").await;
    let request = axum::http::Request::post("/api/signup")
        .header("origin", "https://billing.example.com")
        .header("accept", "text/html")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(axum::body::Body::from(
            "email=tls%40acme.test&password=correct+horse+battery&company=Acme",
        ))
        .unwrap();
    let signup = app.request(request).await;

    assert_eq!(
        page.headers["strict-transport-security"],
        "max-age=63072000; includeSubDomains"
    );
    let cookie = signup.headers["set-cookie"].to_str().unwrap();
    assert!(
        cookie.contains("Secure") && cookie.contains("HttpOnly"),
        "{cookie}"
    );
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn sign_in_is_throttled_per_account_with_a_retry_hint(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    app.signed_up("ada@acme.test", "Acme", "starter").await;
    for attempt in 1..=5 {
        let response = try_login(&app, "ada@acme.test", "wrong password!").await;
        assert_eq!(response.status, 422, "attempt {attempt}: {}", response.body);
    }

    let refused = try_login(&app, "ada@acme.test", PASSWORD).await;
    assert_eq!(refused.status, 429, "{}", refused.body);
    let retry_after: u64 = refused.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=180).contains(&retry_after), "{retry_after}");

    // A form post gets the same refusal as a message on the form.
    let form = app
        .browser()
        .submit(
            "/api/login",
            &[("email", "ada@acme.test"), ("password", PASSWORD)],
        )
        .await;
    assert!(matches!(form_error(&form), AppError::TooManyRequests { .. }));
    // Another account is not affected.
    let other = try_login(&app, "bob@acme.test", "wrong password!").await;
    assert_eq!(other.status, 422);
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn password_reset_requests_are_throttled_per_account(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    for _ in 0..3 {
        let response = app
            .browser()
            .call("/api/forgot_password", &[("email", "ada@acme.test")])
            .await;
        assert_eq!(response.status, 200, "{}", response.body);
    }
    let refused = app
        .browser()
        .call("/api/forgot_password", &[("email", "ada@acme.test")])
        .await;
    assert_eq!(refused.status, 429);
    assert!(refused.headers.contains_key("retry-after"));
}

mod email_and_password;
