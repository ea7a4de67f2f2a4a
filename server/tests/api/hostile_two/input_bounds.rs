//! Input at and past its bounds (control characters, dates, usage amounts, made-up methods), the API's envelope, imported history and the append-only tables.

use super::*;

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn control_characters_in_any_request_text_are_refused_with_422(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    app.signed_up("ada@acme.test", "Acme", "starter").await;
    let key = api_key(&app, Scope::Write).await;
    for uri in [
        "/api/v1/organizations/ext:%00",
        "/api/v1/organizations/ext:a%00b/entitlements",
        "/api/v1/organizations?external_id=%00",
        "/api/v1/organizations?starting_after=%00",
        "/api/v1/organizations/ext:%07/usage",
    ] {
        let (status, body, _) = call(&app, Some(&key), "GET", uri, None).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{uri}: {body}");
        assert!(body["error"]["code"].is_string(), "{uri}: {body}");
    }
    let (status, body, _) = call(
        &app,
        Some(&key),
        "PATCH",
        "/api/v1/organizations/ext:nobody",
        Some(json!({ "external_id": "a\u{0}b" })),
    )
    .await;
    assert!(status.is_client_error(), "{body}");
    let (mut admin, _) = enrolled_admin(&app).await;
    for (path, field) in [
        ("/api/admin_organizations?q=%00", "q"),
        ("/api/admin_organizations?tier=starter%00", "tier"),
        ("/api/admin_organizations?status=%00", "status"),
        ("/api/admin_audit?admin=%00", "admin"),
        ("/api/admin_audit?action=a%00", "action"),
        ("/api/admin_events?status=%1B", "status"),
    ] {
        let answer = admin.fetch(path).await;
        assert_eq!(
            answer.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{path}: {}",
            answer.body
        );
        assert!(
            matches!(json_error(&answer), app::error::AppError::Validation { field: ref f, .. } if f == field),
            "{path}: {}",
            answer.body
        );
    }
    // A console page's search or filter comes back to the page with the
    // console's notice, naming the field, and runs nothing.
    for (page, field) in [
        ("/admin/organizations?q=%00", "q"),
        ("/admin/organizations?tier=starter%00", "tier"),
        ("/admin/audit?action=%00", "action"),
        ("/admin/emails?status=%1B", "status"),
    ] {
        let answer = admin.get(page).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{page}");
        let back = answer.headers["location"].to_str().unwrap().to_owned();
        assert_eq!(
            back,
            format!(
                "{}?refused=control_character&field={field}",
                page.split('?').next().unwrap()
            )
        );
        let shown = admin.get(&back).await;
        assert_eq!(shown.status, StatusCode::OK, "{back}");
        assert!(
            shown.body.contains("data-refused-input") && shown.body.contains(&format!("The {field} field")),
            "{back}"
        );
    }
    // A path holding one is refused outright.
    assert_eq!(
        admin.get("/admin/organizations/%00").await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn dates_out_of_range_are_refused_not_panicked_on(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let (mut admin, _) = enrolled_admin(&app).await;
    for day in [
        "%2B262142-12-31",
        "262142-12-31",
        "-0001-01-01",
        "9999-12-32",
        "0000-01-01",
        "1969-12-31",
        "2026-02-30",
    ] {
        for field in ["from", "to"] {
            let answer = admin.fetch(&format!("/api/admin_audit?{field}={day}")).await;
            assert_eq!(
                answer.status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{field}={day}: {}",
                answer.body
            );
        }
    }
    // The last day accepted still has a next midnight.
    let answer = admin.fetch("/api/admin_audit?to=9999-12-31").await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn usage_amounts_past_their_bound_are_refused_with_the_field_and_nothing_changes(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    app.signed_up("ada@acme.test", "Acme", "starter").await;
    let key = api_key(&app, Scope::Write).await;
    let org = organization_id(&pool, "Acme").await;
    let uri = format!("/api/v1/organizations/{org}/usage");
    let metric = {
        let (_, body) = crate::host_api::entitlements_of(&app, &key, org).await;
        body["limits"]
            .as_object()
            .unwrap()
            .keys()
            .find(|k| *k != "users")
            .cloned()
            .expect("a metric the host reports")
    };
    let report = |id: &str, change: Value| {
        let mut report = json!({ "id": id, "metric": metric });
        for (name, value) in change.as_object().unwrap() {
            report[name] = value.clone();
        }
        json!({ "reports": [report] })
    };
    let max = app::entitlements::usage::MAX_USAGE_VALUE;
    for (id, change, field) in [
        ("a", json!({ "set": i64::MAX }), "reports[0].set"),
        ("b", json!({ "increment": i64::MAX }), "reports[0].increment"),
        ("c", json!({ "increment": i64::MIN }), "reports[0].increment"),
        ("d", json!({ "set": max + 1 }), "reports[0].set"),
        ("e", json!({ "increment": -(max + 1) }), "reports[0].increment"),
    ] {
        let (status, body, _) = call(&app, Some(&key), "POST", &uri, Some(report(id, change))).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{id}: {body}");
        assert_eq!(body["error"]["field"], field, "{id}: {body}");
    }
    let (status, _, _) = call(
        &app,
        Some(&key),
        "POST",
        &uri,
        Some(report("f", json!({ "set": max }))),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    for (id, change) in [
        ("g", json!({ "increment": 1 })),
        ("h", json!({ "increment": max })),
    ] {
        let (status, body, _) = call(&app, Some(&key), "POST", &uri, Some(report(id, change))).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{id}: {body}");
        assert_eq!(body["error"]["field"], "reports[0].increment");
    }
    let value: i64 =
        sqlx::query_scalar("select value from usage_counter where organization_id = $1 and metric_key = $2")
            .bind(org)
            .bind(&metric)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(value, max, "nothing refused changed the counter");
    let (status, _, _) = call(
        &app,
        Some(&key),
        "GET",
        &format!("/api/v1/organizations/{org}/entitlements"),
        None,
    )
    .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "figures derived from the largest value stay in range"
    );
}

/// A raw request under `/api/v1`.
async fn raw(app: &TestApp, key: &str, method: &str, uri: &str, body: &str) -> TestResponse {
    app.request(
        Request::builder()
            .method(method)
            .uri(uri)
            .header("authorization", format!("Bearer {key}"))
            .header("content-type", "application/json")
            .body(Body::from(body.to_owned()))
            .unwrap(),
    )
    .await
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn every_api_answer_is_the_envelope_and_never_repeats_the_request(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    app.signed_up("ada@acme.test", "Acme", "starter").await;
    let key = api_key(&app, Scope::Write).await;
    let org = organization_id(&pool, "Acme").await;
    let usage = format!("/api/v1/organizations/{org}/usage");
    let echo = "ECHO-ME-7f3a";
    let big = format!("{{\"reports\":[{{\"id\":\"{}\"}}]}}", "x".repeat(200 * 1024));
    for (method, uri, body, status) in [
        ("BREW", usage.as_str(), "", 405),
        ("DELETE", "/api/v1/organizations", "", 405),
        ("PUT", usage.as_str(), "{}", 405),
        ("POST", usage.as_str(), big.as_str(), 413),
        (
            "POST",
            usage.as_str(),
            &format!("{{\"reports\": [{{\"id\": \"{echo}\", \"increment\": \"{echo}\"}}]}}"),
            400,
        ),
        ("POST", usage.as_str(), &format!("{{\"{echo}\": 1}}"), 400),
        ("POST", usage.as_str(), &format!("not json {echo}"), 400),
        ("GET", &format!("/api/v1/organizations?limit={echo}"), "", 422),
        ("GET", &format!("/api/v1/{echo}"), "", 404),
    ] {
        let answer = raw(&app, &key, method, uri, body).await;
        assert_eq!(answer.status.as_u16(), status, "{method} {uri}: {}", answer.body);
        let parsed: Value =
            serde_json::from_str(&answer.body).unwrap_or_else(|_| panic!("{method} {uri}: {}", answer.body));
        assert!(
            parsed["error"]["code"].is_string() && parsed["error"]["message"].is_string(),
            "{method} {uri}: {parsed}"
        );
        assert!(
            !answer.body.contains(echo),
            "{method} {uri} repeats the request: {}",
            answer.body
        );
    }
    let (status, body, _) = call(&app, None, "GET", "/api/v1/organizations", None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("missing_api_key"))
    );
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn made_up_methods_add_no_series_to_the_metrics(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    for method in ["BREW", "FOO123", "X-SCAN", "PROPFIND"] {
        app.request(
            Request::builder()
                .method(method)
                .uri("/pricing")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    }
    let metrics = app.get("/metrics").await;
    assert_eq!(metrics.status, StatusCode::OK);
    for method in ["BREW", "FOO123", "X-SCAN", "PROPFIND"] {
        assert!(
            !metrics.body.contains(&format!("method=\"{method}\"")),
            "{method}"
        );
    }
    assert!(metrics.body.contains("method=\"other\""));
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn imported_history_changes_no_live_state_unless_migrated_explicitly_and_audited(pool: PgPool) {
    use crate::analytics::HEADER;
    let app = TestApp::spawn(pool.clone()).await;
    app.signed_up("ada@acme.test", "Acme", "starter").await;
    let org = organization_id(&pool, "Acme").await;
    sqlx::query("update organization set external_id = 'acme' where organization_id = $1")
        .bind(org)
        .execute(&pool)
        .await
        .unwrap();
    let key = api_key(&app, Scope::Read).await;
    let standing = || async {
        let (status, body) = crate::host_api::entitlements_of(&app, &key, org).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        (
            body["tier"].clone(),
            body["status"].clone(),
            body["read_only"].clone(),
        )
    };
    let before = standing().await;
    assert_eq!(before.1, "trialing");
    let events = || async {
        sqlx::query_scalar::<_, i64>("select count(*) from outbound_event where organization_id = $1")
            .bind(org)
            .fetch_one(&pool)
            .await
            .unwrap()
    };
    let events_before = events().await;
    let (admin, _) = enrolled_admin(&app).await;
    let upload = |csv: String, migrate: bool| {
        let mut body = format!(
            "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"history.csv\"\r\n\
             Content-Type: text/csv\r\n\r\n{csv}\r\n"
        );
        if migrate {
            body.push_str("--XyZ\r\nContent-Disposition: form-data; name=\"migrate_live\"\r\n\r\n1\r\n");
        }
        body.push_str("--XyZ--\r\n");
        Request::post("/admin/import")
            .header("origin", ORIGIN)
            .header("content-type", "multipart/form-data; boundary=XyZ")
            .header("cookie", admin.cookie.clone().unwrap())
            .body(Body::from(body))
            .unwrap()
    };
    // One line makes the trialing customer an enterprise one; another a
    // canceled one: history only, so neither changes what Acme may do.
    for (status, plan) in [("active", "enterprise"), ("canceled", "starter")] {
        let csv = format!(
            "{HEADER}\nacme,sub_{status},2026-01-01T00:00:00Z,{status},{plan},month,9900,1,0,0,0,USD\n"
        );
        let answer = app.request(upload(csv, false)).await;
        assert_eq!(answer.headers["location"], "/admin/import");
        assert_eq!(
            standing().await,
            before,
            "an import of {status} {plan} changed nothing live"
        );
    }
    assert_eq!(
        events().await,
        events_before,
        "the host product heard of no change"
    );
    let portal_sees: Option<String> = sqlx::query_scalar(
        "select status from subscription where organization_id = $1 and live order by created_at desc limit 1",
    )
    .bind(org)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(portal_sees.as_deref(), Some("trialing"));

    // The explicit migration makes it live, names the organisation in the
    // audit log and tells the host product.
    let csv = format!(
        "{HEADER}\nacme,sub_migrated,2026-02-01T00:00:00Z,active,enterprise,month,9900,1,0,0,0,USD\n"
    );
    let answer = app.request(upload(csv, true)).await;
    assert_eq!(answer.headers["location"], "/admin/import");
    let after = standing().await;
    assert_eq!(
        (after.0.as_str(), after.1.as_str()),
        (Some("enterprise"), Some("active"))
    );
    let audited: Vec<(Option<uuid::Uuid>, Option<String>)> = sqlx::query_as(
        "select organization_id, client_ip from admin_audit where action = 'subscription.migrate_live'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(audited.len(), 1);
    assert_eq!(audited[0].0, Some(org));
    let announced: i64 = sqlx::query_scalar(
        "select count(*) from outbound_event where organization_id = $1 and event_type = 'entitlements.updated'",
    )
    .bind(org)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(announced >= 1, "the host product hears of the change");
    let imports: Vec<Value> =
        sqlx::query_scalar("select after from admin_audit where action = 'history.import'")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(
        imports.len(),
        3,
        "every import is audited with its own transaction"
    );
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn the_ledger_and_the_audit_log_refuse_truncate_and_changes_even_as_a_replica(pool: PgPool) {
    let mut conn = pool.acquire().await.unwrap();
    for table in ["subscription_revision", "subscription_event", "admin_audit"] {
        let refused = sqlx::query(&format!("truncate {table}"))
            .execute(&mut *conn)
            .await;
        assert!(refused.is_err(), "truncate {table}");
    }
    sqlx::query("set session_replication_role = replica")
        .execute(&mut *conn)
        .await
        .unwrap();
    for statement in [
        "truncate subscription_revision",
        "truncate subscription_event",
        "truncate admin_audit",
    ] {
        let refused = sqlx::query(statement).execute(&mut *conn).await;
        assert!(refused.is_err(), "{statement} as a replica");
    }
    let guards: Vec<(String, String)> = sqlx::query_as(
        "select tgname::text, tgenabled::text from pg_trigger
         where tgname in ('subscription_revision_append_only', 'subscription_event_append_only',
                          'admin_audit_append_only', 'subscription_revision_no_truncate',
                          'subscription_event_no_truncate', 'admin_audit_no_truncate')",
    )
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    assert_eq!(guards.len(), 6);
    assert!(
        guards.iter().all(|(_, enabled)| enabled == "A"),
        "every guard fires always: {guards:?}"
    );
}
