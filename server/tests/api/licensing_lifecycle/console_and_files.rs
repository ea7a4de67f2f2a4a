//! The console's licence actions, files across a key rotation, and floating seats and grace on the clock.

use super::*;

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn the_console_issues_extends_suspends_and_revokes_with_an_audited_reason(pool: PgPool) {
    let app = licensing_app(&pool).await;
    app.signed_up("ada@acme.test", "Acme", "starter").await;
    let org = organization_id(&pool, "Acme").await;
    let (mut admin, _) = enrolled_admin(&app).await;
    let org_text = org.to_string();
    let made = admin
        .submit(
            "/api/admin_issue_license",
            &[
                ("organization_id", &org_text),
                ("max_activations", "2"),
                ("node_locked", "on"),
                ("reason", "Signed order #1042"),
            ],
        )
        .await;
    assert_eq!(
        made.headers["location"],
        format!("/admin/organizations/{org}?done=license").as_str()
    );
    let (license_id, issued_at): (Uuid, chrono::DateTime<chrono::Utc>) =
        sqlx::query_as("select license_id, issued_at from license where organization_id = $1")
            .bind(org)
            .fetch_one(&pool)
            .await
            .unwrap();
    let key = {
        use chrono::Datelike;
        app.state
            .license_keys
            .as_deref()
            .unwrap()
            .license_key(license_id, issued_at.year() as u16)
            .unwrap()
            .to_string()
    };
    let page = admin.get(&format!("/admin/organizations/{org}")).await;
    assert!(
        page.body.contains("Self-hosted licences") && !page.body.contains(&key),
        "no key in the console"
    );
    let (status, _) = post(
        &app,
        "/api/v1/licenses/activate",
        json!({ "key": key, "fingerprint": "m", "hostname": "h" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let validate = || async {
        post(
            &app,
            "/api/v1/licenses/validate",
            json!({ "key": key, "fingerprint": "m" }),
        )
        .await
        .1
    };

    let license_text = license_id.to_string();
    let extended = act(
        &mut admin,
        &license_text,
        "extend",
        "2099-01-31",
        "Renewal paid by bank transfer",
    )
    .await;
    assert!(
        extended.headers["location"]
            .to_str()
            .unwrap()
            .contains("done=license")
    );
    assert_eq!(validate().await["expires_at"], "2099-01-31T23:59:59Z");
    act(
        &mut admin,
        &license_text,
        "suspend",
        "",
        "Chargeback under review",
    )
    .await;
    assert_eq!(validate().await["code"], "SUSPENDED", "at once");
    assert!(
        form_error(&act(&mut admin, &license_text, "suspend", "", "Twice").await)
            .to_string()
            .contains("already suspended")
    );
    act(&mut admin, &license_text, "reinstate", "", "Chargeback won").await;
    assert_eq!(validate().await["code"], "VALID");
    act(&mut admin, &license_text, "revoke", "", "Contract terminated").await;
    assert_eq!(validate().await["code"], "REVOKED");
    assert!(
        form_error(&act(&mut admin, &license_text, "reinstate", "", "Oops").await)
            .to_string()
            .contains("revoked")
    );

    // Bad input is refused with the field named, and nothing changes.
    for (action, until, reason, field) in [
        ("extend", "31/01/2099", "r", "until"),
        ("extend", "2099-02-30", "r", "until"),
        ("explode", "", "r", "action"),
        ("suspend", "", "", "reason"),
    ] {
        let response = act(&mut admin, &license_text, action, until, reason).await;
        assert!(
            format!("{:?}", form_error(&response)).contains(field),
            "{action} {until:?} {reason:?}"
        );
    }
    let actions: Vec<(String, String)> = sqlx::query_as(
        "select action, reason from admin_audit where action like 'license.%' order by admin_audit_id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        actions,
        [
            ("license.issue", "Signed order #1042"),
            ("license.extend", "Renewal paid by bank transfer"),
            ("license.suspend", "Chargeback under review"),
            ("license.reinstate", "Chargeback won"),
            ("license.revoke", "Contract terminated"),
        ]
        .map(|(a, r)| (a.to_owned(), r.to_owned()))
    );
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn files_verify_across_a_key_rotation_until_their_key_is_revoked(pool: PgPool) {
    const SECRET: &str = "secret 0808080808080808080808080808080808080808080808080808080808080808\n";
    const OLD: &str = "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb";
    const NEW: &str = "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7";
    sync_shipped_catalog(&pool).await;
    let before = TestApp::with_settings(
        pool.clone(),
        &[(
            "GATEHOUSE_LICENSE_SIGNING_KEYS",
            &format!("{SECRET}gh-a active {OLD}\n"),
        )],
    );
    before.signed_up("ada@acme.test", "Acme", "enterprise").await;
    let org = organization_id(&pool, "Acme").await;
    let (_, key) = issued(&before, org, 1).await;
    let (_, body) = post(
        &before,
        "/api/v1/licenses/activate",
        json!({ "key": key, "fingerprint": "m", "hostname": "h" }),
    )
    .await;
    let old_file = body["license_file"].as_str().unwrap().to_owned();
    let check = |app: &TestApp, file: &str| {
        license::verify(
            file,
            &app.state.license_keys.as_deref().unwrap().trusted(),
            Some("m"),
        )
    };

    let rotated = TestApp::with_settings(
        pool.clone(),
        &[(
            "GATEHOUSE_LICENSE_SIGNING_KEYS",
            &format!("{SECRET}gh-a retiring {OLD}\ngh-b active {NEW}\n"),
        )],
    );
    assert!(
        check(&rotated, &old_file).is_ok(),
        "a retiring key's file still verifies"
    );
    let (status, body) = post(
        &rotated,
        "/api/v1/licenses/validate",
        json!({ "key": key, "fingerprint": "m" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "the key survives the rotation: {body}");
    let new_file = body["license_file"].as_str().unwrap().to_owned();
    assert!(new_file.contains("Key-Id: gh-b"));

    let revoked = TestApp::with_settings(
        pool.clone(),
        &[(
            "GATEHOUSE_LICENSE_SIGNING_KEYS",
            &format!("{SECRET}gh-a revoked {OLD}\ngh-b active {NEW}\n"),
        )],
    );
    assert_eq!(
        check(&revoked, &old_file).unwrap_err(),
        license::Unverifiable::UnknownKey("gh-a".into()),
        "a revoked key's file does not verify"
    );
    assert!(check(&revoked, &new_file).is_ok());
}

/// Posts one of the console's licence actions.
async fn act(
    admin: &mut Browser<'_>,
    license_id: &str,
    action: &str,
    until: &str,
    reason: &str,
) -> TestResponse {
    admin
        .submit(
            "/api/admin_license_action",
            &[
                ("license_id", license_id),
                ("action", action),
                ("until", until),
                ("reason", reason),
                ("confirm", "yes"),
            ],
        )
        .await
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn floating_seats_free_themselves_and_files_degrade_through_grace_on_the_clock(pool: PgPool) {
    let app = licensing_app(&pool).await;
    app.signed_up("ada@acme.test", "Acme", "enterprise").await;
    let org = organization_id(&pool, "Acme").await;
    let keys = app.state.license_keys.clone().unwrap();
    let now = app.state.clock.now();
    let license_id = {
        let mut conn = pool.acquire().await.unwrap();
        app::licensing::db::issue(
            &mut conn,
            &keys,
            org,
            app::licensing::db::Source::Console,
            1,
            false,
            now,
        )
        .await
        .unwrap()
        .unwrap()
    };
    let key = {
        use chrono::Datelike;
        keys.license_key(license_id, now.year() as u16)
            .unwrap()
            .to_string()
    };
    let activate = |fingerprint: &'static str| {
        let (app, key) = (&app, key.clone());
        async move {
            post(
                app,
                "/api/v1/licenses/activate",
                json!({ "key": key, "fingerprint": fingerprint, "hostname": "h" }),
            )
            .await
        }
    };
    assert_eq!(activate("m-1").await.0, StatusCode::OK);
    assert_eq!(
        activate("m-2").await.0,
        StatusCode::CONFLICT,
        "the one floating seat is held"
    );
    // m-1 stops checking in; after the lease (72 h) its seat is free again.
    app.state.clock.advance(TimeDelta::hours(71));
    assert_eq!(activate("m-2").await.0, StatusCode::CONFLICT);
    app.state.clock.advance(TimeDelta::hours(2));
    let (status, body) = activate("m-2").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, body) = post(
        &app,
        "/api/v1/licenses/validate",
        json!({ "key": key, "fingerprint": "m-1" }),
    )
    .await;
    assert_eq!(body["code"], "NO_MACHINE");

    // A floating licence's file is bound to no machine: it verifies anywhere.
    let file = body_file(&app, &key, "m-2").await;
    let claims = license::verify(&file, &trusted(&app), Some("any-machine")).unwrap();
    assert_eq!(claims.fingerprint, None);
    // Offline, on the injectable clock: licensed to the expiry, then grace, then read-only.
    let check = |at: chrono::DateTime<chrono::Utc>| {
        license::check(&license::Check {
            file: Some(&file),
            trusted: &trusted(&app),
            now: at.timestamp(),
            fingerprint: None,
            watermark: None,
        })
        .standing
    };
    let expires = chrono::DateTime::from_timestamp(claims.expires_at, 0).unwrap();
    assert_eq!(check(app.state.clock.now()), license::Standing::Licensed);
    app.state.clock.set(expires + TimeDelta::days(1));
    assert!(matches!(
        check(app.state.clock.now()),
        license::Standing::InGrace { .. }
    ));
    app.state
        .clock
        .set(expires + TimeDelta::days(i64::from(claims.grace_days) + 1));
    assert_eq!(
        check(app.state.clock.now()),
        license::Standing::Lapsed {
            after: license::AfterGrace::ReadOnly
        }
    );
    // Online, the same instant answers at once.
    let (_, body) = post(
        &app,
        "/api/v1/licenses/validate",
        json!({ "key": key, "fingerprint": "m-2" }),
    )
    .await;
    assert_eq!(body["code"], "EXPIRED");
}
