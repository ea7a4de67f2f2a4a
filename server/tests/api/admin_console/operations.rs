//! The operations pages: a failed provider event and a dead email, an imported history, API keys, a code sent twice, and what needs attention.

use super::*;

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn a_failed_provider_event_shows_its_reason_and_payload_and_is_retried_once_and_a_dead_email_is_resent(
    pool: PgPool,
) {
    let app = TestApp::spawn(pool.clone()).await;
    let (mut admin, _) = enrolled_admin(&app).await;
    let event: Uuid = sqlx::query_scalar(
        "insert into webhook_event (provider, provider_event_id, event_type, livemode, provider_created_at, payload,
                                    status, attempts, last_error)
         values ('stripe', 'evt_broken', 'customer.subscription.updated', false, now(), '{\"id\": \"evt_broken\"}',
                 'failed', 8, 'the provider answered 500 eight times')
         returning webhook_event_id",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    let list = admin.get("/admin/events?status=failed").await;
    assert!(list.body.contains("data-event=\"evt_broken\""));
    assert!(list.body.contains("the provider answered 500 eight times"));
    let detail = admin.get(&format!("/admin/events/{event}")).await;
    assert!(
        detail.body.contains("&quot;id&quot;: &quot;evt_broken&quot;")
            || detail.body.contains("\"id\": \"evt_broken\"")
    );
    let event_text = event.to_string();
    let retried = admin
        .submit("/api/admin_retry_event", &[("id", event_text.as_str())])
        .await;
    assert_eq!(
        retried.headers["location"],
        format!("/admin/events/{event}?retried=1")
    );
    let status: String = sqlx::query_scalar("select status from webhook_event")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(status, "pending");
    let again = admin
        .submit("/api/admin_retry_event", &[("id", event_text.as_str())])
        .await;
    assert!(
        form_error(&again)
            .to_string()
            .contains("only a failed or unmatched event")
    );
    assert_eq!(admin.fetch("/api/admin_events?status=lost").await.status, 422);

    let email: Uuid = sqlx::query_scalar(
        "insert into email_outbox (to_address, template, subject, text_body, html_body, status, attempts, last_error)
         values ('ada@acme.test', 'trial_reminder', 'Your trial ends soon', 'x', 'x', 'dead', 10, '550 mailbox unavailable')
         returning email_outbox_id",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    let dead = admin.get("/admin/emails").await;
    assert!(dead.body.contains("550 mailbox unavailable"));
    let email_text = email.to_string();
    for reason in ["", "   "] {
        let refused = admin
            .submit(
                "/api/admin_resend_email",
                &[("id", email_text.as_str()), ("reason", reason)],
            )
            .await;
        assert!(
            matches!(form_error(&refused), app::error::AppError::Validation { field, .. } if field == "reason")
        );
    }
    let resent = admin
        .submit(
            "/api/admin_resend_email",
            &[("id", email_text.as_str()), ("reason", "the mailbox is fixed")],
        )
        .await;
    assert_eq!(resent.headers["location"], "/admin/emails?resent=1");
    let (status, attempts): (String, i32) = sqlx::query_as("select status, attempts from email_outbox")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!((status.as_str(), attempts), ("queued", 0));
    let queued = admin
        .submit(
            "/api/admin_resend_email",
            &[("id", email_text.as_str()), ("reason", "again")],
        )
        .await;
    assert!(matches!(form_error(&queued), app::error::AppError::Conflict(_)));

    // From the organisation's page: a sent email is copied into a new one.
    app.signed_up("grace@globex.test", "Globex", "starter").await;
    let (globex, sent): (Uuid, Uuid) = sqlx::query_as(
        "select m.organization_id, e.email_outbox_id from email_outbox e
         join app_user u on lower(u.email) = lower(e.to_address) join membership m using (user_id)
         where u.email = 'grace@globex.test' order by e.created_at limit 1",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    sqlx::query("update email_outbox set status = 'sent' where email_outbox_id = $1")
        .bind(sent)
        .execute(&pool)
        .await
        .unwrap();
    let page = admin.get(&format!("/admin/organizations/{globex}")).await;
    assert!(page.body.contains("grace@globex.test") && page.body.contains(&sent.to_string()));
    assert!(
        !page.body.contains("ada@acme.test"),
        "only its own members' emails"
    );
    let (globex_text, sent_text) = (globex.to_string(), sent.to_string());
    let resent = admin
        .submit(
            "/api/admin_resend_email",
            &[
                ("id", sent_text.as_str()),
                ("reason", "never arrived"),
                ("organization_id", globex_text.as_str()),
            ],
        )
        .await;
    assert_eq!(
        resent.headers["location"],
        format!("/admin/organizations/{globex}?done=email")
    );
    let copies: i64 = sqlx::query_scalar(
        "select count(*) from email_outbox where status = 'queued' and subject = (select subject from email_outbox where email_outbox_id = $1)",
    )
    .bind(sent)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(copies, 1);
    let audited: (String, Option<Uuid>) = sqlx::query_as(
        "select reason, organization_id from admin_audit where action = 'email.resend' order by admin_audit_id desc limit 1",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(audited, ("never arrived".to_owned(), Some(globex)));
    let actions: Vec<String> = sqlx::query_scalar(
        "select action from admin_audit where action not like 'admin.%' order by admin_audit_id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(actions, ["provider_event.retry", "email.resend", "email.resend"]);

    // The background work page: each worker's record, its failures linked.
    sqlx::query(
        "update email_outbox set status = 'dead', last_error = '552 mailbox full' where email_outbox_id = $1",
    )
    .bind(email)
    .execute(&pool)
    .await
    .unwrap();
    let work = admin.get("/admin/work").await;
    assert_eq!(work.status, 200);
    for worker in [
        "Provider events",
        "Email delivery",
        "Outbound webhooks",
        "MRR series",
    ] {
        assert!(
            work.body.contains(&format!("data-worker=\"{worker}\"")),
            "{worker}"
        );
    }
    assert!(
        work.body.contains("552 mailbox full"),
        "a dead email's error is shown"
    );
    assert!(
        work.body.contains("Dead: </dt><dd class=\"inline\">1<"),
        "{}",
        &work.body[..work.body.len().min(4000)]
    );

    let health = admin.get("/admin/health").await;
    assert_eq!(health.status, 200);
    assert!(health.body.contains("PostgreSQL") && health.body.contains("data-health=\"provider events\""));
    let dashboard = admin.get("/admin").await;
    assert!(
        dashboard.body.contains("/admin/events?status=failed"),
        "attention links to its page"
    );
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn an_uploaded_history_is_imported_all_or_nothing_and_audited(pool: PgPool) {
    use crate::analytics::{HEADER, HISTORY};
    let app = TestApp::spawn(pool.clone()).await;
    let (admin, _) = enrolled_admin(&app).await;
    let upload = |cookie: Option<String>, csv: String| {
        let body = format!(
            "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"history.csv\"\r\n\
             Content-Type: text/csv\r\n\r\n{csv}\r\n--XyZ--\r\n"
        );
        let mut request = axum::http::Request::post("/admin/import")
            .header("origin", crate::helpers::ORIGIN)
            .header("content-type", "multipart/form-data; boundary=XyZ");
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        request.body(axum::body::Body::from(body)).unwrap()
    };
    let subscriptions = || async {
        sqlx::query_scalar::<_, i64>("select count(*) from subscription")
            .fetch_one(&pool)
            .await
            .unwrap()
    };
    let bad = format!("{HEADER}\n{HISTORY}acme,sub_7,yesterday,active,starter,month,4900,1,0,0,0,USD\n");
    let refused = app.request(upload(admin.cookie.clone(), bad)).await;
    let location = refused.headers["location"].to_str().unwrap().to_owned();
    // The page's address carries no text: what happened waits in the session.
    assert_eq!(location, "/admin/import");
    assert_eq!(subscriptions().await, 0, "nothing of a bad file is stored");
    let page = app
        .request(
            axum::http::Request::get(&location)
                .header("cookie", admin.cookie.clone().unwrap())
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await;
    assert!(page.body.contains("data-import-error") && page.body.contains("line 8"));

    let imported = app
        .request(upload(admin.cookie.clone(), format!("{HEADER}\n{HISTORY}")))
        .await;
    let location = imported.headers["location"].to_str().unwrap();
    assert_eq!(location, "/admin/import");
    let shown = |cookie: Option<String>| {
        let app = &app;
        async move {
            app.request(
                axum::http::Request::get("/admin/import")
                    .header("cookie", cookie.unwrap())
                    .body(axum::body::Body::empty())
                    .unwrap(),
            )
            .await
        }
    };
    let page = shown(admin.cookie.clone()).await;
    assert!(page.body.contains("Imported 6 rows"), "the outcome is shown");
    assert!(
        !shown(admin.cookie.clone()).await.body.contains("Imported 6 rows"),
        "once"
    );
    // Text in the address is never shown as a notice.
    let forged = app
        .request(
            axum::http::Request::get("/admin/import?done=Your%20account%20is%20locked&error=call%20us")
                .header("cookie", admin.cookie.clone().unwrap())
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await;
    assert!(!forged.body.contains("account is locked") && !forged.body.contains("call us"));
    assert_eq!(subscriptions().await, 4);
    let audited: serde_json::Value =
        sqlx::query_scalar("select after from admin_audit where action = 'history.import'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(audited["revisions_added"], 6);

    let anonymous = app.request(upload(None, format!("{HEADER}\n{HISTORY}"))).await;
    assert_eq!(anonymous.status, 401, "{}", anonymous.body);
    let from_elsewhere = app
        .request(
            axum::http::Request::post("/admin/import")
                .header("origin", "https://evil.test")
                .header("cookie", admin.cookie.clone().unwrap())
                .header("content-type", "multipart/form-data; boundary=XyZ")
                .body(axum::body::Body::from("--XyZ--\r\n"))
                .unwrap(),
        )
        .await;
    assert_eq!(
        from_elsewhere.status, 403,
        "the same-origin guard covers the upload"
    );
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn an_api_key_made_in_the_console_is_shown_once_works_and_stops_working_when_revoked(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let (mut admin, _) = enrolled_admin(&app).await;
    let refused = admin
        .submit(
            "/api/admin_create_api_key",
            &[("name", "backend"), ("scope", "admin")],
        )
        .await;
    assert!(
        matches!(form_error(&refused), app::error::AppError::Validation { field, .. } if field == "scope")
    );
    let made = admin
        .submit(
            "/api/admin_create_api_key",
            &[("name", "backend"), ("scope", "read")],
        )
        .await;
    assert_eq!(made.headers["location"], "/admin/api-keys");
    let page = admin.get("/admin/api-keys").await;
    let key = page
        .body
        .split("data-fresh-key")
        .nth(1)
        .and_then(|rest| rest.split_once('>'))
        .and_then(|(_, rest)| rest.split('<').next())
        .unwrap_or_else(|| {
            panic!(
                "the new key is shown: {}",
                &page.body[page.body.len().saturating_sub(3000)..]
            )
        })
        .to_owned();
    assert!(key.starts_with("gk_"));
    assert!(
        !admin.get("/admin/api-keys").await.body.contains(&key),
        "shown once"
    );
    let call = |key: String| {
        axum::http::Request::get("/api/v1/organizations")
            .header("authorization", format!("Bearer {key}"))
            .body(axum::body::Body::empty())
            .unwrap()
    };
    assert_eq!(app.request(call(key.clone())).await.status, 200);
    let prefix: String = key.split('_').take(2).collect::<Vec<_>>().join("_");
    admin
        .submit(
            "/api/admin_revoke_api_key",
            &[("prefix", prefix.as_str()), ("confirm", "yes")],
        )
        .await;
    let after = app.request(call(key.clone())).await;
    assert_eq!(after.status, 401);
    assert!(after.body.contains("revoked_api_key"));
    let twice = admin
        .submit(
            "/api/admin_revoke_api_key",
            &[("prefix", prefix.as_str()), ("confirm", "yes")],
        )
        .await;
    assert!(form_error(&twice).to_string().contains("no live key"));
    let actions: Vec<String> = sqlx::query_scalar(
        "select action from admin_audit where action like 'api_key.%' order by admin_audit_id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(actions, ["api_key.create", "api_key.revoke"]);
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn one_code_sent_twice_at_once_signs_in_only_once(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    enrolled_admin(&app).await;
    app.state.clock.advance(TimeDelta::seconds(31));
    let code = current_code(&app, &secret(&pool).await);
    let mut first = app.browser();
    let mut second = app.browser();
    for browser in [&mut first, &mut second] {
        browser
            .submit("/api/admin_login", &[("email", ADMIN), ("password", PASSWORD)])
            .await;
    }
    let fields = [("code", code.as_str())];
    let (one, two) = tokio::join!(
        first.submit("/api/admin_verify", &fields),
        second.submit("/api/admin_verify", &fields)
    );
    let signed_in = [&one, &two]
        .iter()
        .filter(|r| r.headers["location"] == "/admin")
        .count();
    assert_eq!(
        signed_in, 1,
        "{:?} {:?}",
        one.headers["location"], two.headers["location"]
    );
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn needs_attention_counts_emails_unsent_after_an_hour_and_dead_jobs(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    app.signed_up("ada@acme.test", "Acme", "starter").await;
    let count = |body: &str, label: &str| -> i64 {
        let marker = format!("data-attention=\"{label}\" data-count=\"");
        let rest = &body[body.find(&marker).unwrap_or_else(|| panic!("no {label}")) + marker.len()..];
        rest[..rest.find('"').unwrap()].parse().unwrap()
    };
    let queued: i64 = sqlx::query_scalar("select count(*) from email_outbox where status = 'queued'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(
        queued > 0,
        "the signup's emails wait in the outbox (no SMTP here)"
    );
    {
        let (mut admin, _) = enrolled_admin_named(&app, "early@gatehouse.test").await;
        let page = admin.get("/admin").await;
        assert_eq!(
            count(&page.body, "Emails unsent after an hour"),
            0,
            "not yet an hour"
        );
        assert_eq!(count(&page.body, "Dead jobs"), 0);
    }
    app.state.clock.advance(chrono::TimeDelta::minutes(61));
    sqlx::query(
        "insert into job (kind, run_at, state, attempt, max_attempts, last_error, created_at, finished_at)
         values ('trials.expire', $1, 'dead', 8, 8, 'gave up', $1, $1)",
    )
    .bind(app.state.clock.now())
    .execute(&pool)
    .await
    .unwrap();
    let (mut admin, _) = enrolled_admin(&app).await;
    let page = admin.get("/admin").await;
    assert_eq!(count(&page.body, "Emails unsent after an hour"), queued);
    assert_eq!(count(&page.body, "Dead jobs"), 1);
    assert!(page.body.contains("href=\"/admin/work\""));
}
