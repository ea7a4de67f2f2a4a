//! Every answer of every route, checked against the document, and the document served.

use super::*;

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn the_document_is_served(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let response = app.get("/api/v1/openapi.json").await;
    assert_eq!(response.status, 200);
    assert_eq!(response.headers["content-type"], "application/json");
    let served: Value = serde_json::from_str(&response.body).unwrap();
    assert_eq!(served, generated());
}

/// Sends each `(uri, body, expected status)` to the route documented as
/// `path` with `key`, validating every answer against the document.
async fn expect(
    checked: &mut Checked,
    app: &TestApp,
    key: Option<&str>,
    method: &str,
    path: &str,
    cases: Vec<(String, Sent, u16)>,
) {
    for (uri, body, expected) in cases {
        let status = match body {
            Sent::Nothing => send(checked, app, key, method, path, &uri, None).await.0,
            Sent::Json(json) => send(checked, app, key, method, path, &uri, Some(json)).await.0,
            Sent::Raw(raw) => send_raw(checked, app, key, method, path, &uri, raw).await,
        };
        assert_eq!(status, expected, "{method} {uri}");
    }
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn every_answer_of_every_route_is_the_documented_one(pool: PgPool) {
    use Sent::{Json, Nothing, Raw};
    let mut checked = Checked::new();
    let c = &mut checked;
    let app = licensing_app(&pool).await;
    app.signed_up("ada@acme.test", "Acme", "enterprise").await;
    app.signed_up("bob@other.test", "Other", "starter").await;
    let acme = organization_id(&pool, "Acme").await;
    let other = organization_id(&pool, "Other").await;
    let read = api_key(&app, Scope::Read).await;
    let write = api_key(&app, Scope::Write).await;
    let (w, r) = (Some(write.as_str()), Some(read.as_str()));
    let org = format!("/organizations/{acme}");
    let nobody = "/organizations/00000000-0000-0000-0000-000000000000".to_owned();
    let s = |text: &str| text.to_owned();

    // The host product's routes.
    let p = "/organizations";
    expect(
        c,
        &app,
        r,
        "GET",
        p,
        vec![
            (s("/organizations?limit=1"), Nothing, 200),
            (s("/organizations?limit=0"), Nothing, 422),
            (s("/organizations?starting_after=x"), Nothing, 422),
        ],
    )
    .await;
    expect(c, &app, None, "GET", p, vec![(s(p), Nothing, 401)]).await;
    expect(c, &app, Some("gh_nope"), "GET", p, vec![(s(p), Nothing, 401)]).await;

    let p = "/organizations/{id}";
    expect(
        c,
        &app,
        r,
        "GET",
        p,
        vec![
            (org.clone(), Nothing, 200),
            (nobody.clone(), Nothing, 404),
            (s("/organizations/ext:unknown"), Nothing, 404),
        ],
    )
    .await;
    expect(c, &app, None, "GET", p, vec![(org.clone(), Nothing, 401)]).await;
    expect(
        c,
        &app,
        w,
        "PATCH",
        p,
        vec![
            (org.clone(), Json(json!({"external_id": "acme-1"})), 200),
            (org.clone(), Json(json!({"external_id": null})), 200),
            (nobody.clone(), Json(json!({"external_id": "x"})), 404),
            (org.clone(), Json(json!({"external_id": ""})), 422),
            (org.clone(), Json(json!({})), 422),
            (org.clone(), Raw("{not json"), 400),
            (
                format!("/organizations/{other}"),
                Json(json!({"external_id": "taken"})),
                200,
            ),
            (org.clone(), Json(json!({"external_id": "taken"})), 409),
        ],
    )
    .await;
    expect(
        c,
        &app,
        r,
        "PATCH",
        p,
        vec![(org.clone(), Json(json!({"external_id": "x"})), 403)],
    )
    .await;
    expect(
        c,
        &app,
        None,
        "PATCH",
        p,
        vec![(org.clone(), Json(json!({"external_id": "x"})), 401)],
    )
    .await;

    let p = "/organizations/{id}/entitlements";
    let (status, _, first) = call(&app, r, "GET", &format!("/api/v1{org}/entitlements"), None).await;
    c.answer("GET", p, status.as_u16(), &first.body);
    let etag = first.headers["etag"].to_str().unwrap().to_owned();
    let unchanged = app
        .request(
            axum::http::Request::get(format!("/api/v1{org}/entitlements"))
                .header("authorization", format!("Bearer {read}"))
                .header("if-none-match", etag)
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await;
    c.answer("GET", p, unchanged.status.as_u16(), &unchanged.body);
    assert_eq!(unchanged.status, 304);
    expect(
        c,
        &app,
        r,
        "GET",
        p,
        vec![(format!("{nobody}/entitlements"), Nothing, 404)],
    )
    .await;
    expect(
        c,
        &app,
        None,
        "GET",
        p,
        vec![(format!("{org}/entitlements"), Nothing, 401)],
    )
    .await;

    let p = "/organizations/{id}/entitlements/check";
    let check = |target: &str, query: &str| format!("{target}/entitlements/check?{query}");
    expect(
        c,
        &app,
        r,
        "GET",
        p,
        vec![
            (check(&org, "feature=self_hosted_licence"), Nothing, 200),
            (check(&org, "metric=users&increment=1"), Nothing, 200),
            (check(&org, "metric=users&increment=1000"), Nothing, 200),
            (check(&org, ""), Nothing, 422),
            (check(&org, "feature=nope"), Nothing, 422),
            (check(&org, "metric=nope"), Nothing, 422),
            (check(&org, "metric=users&increment=-1"), Nothing, 422),
            (check(&nobody, "feature=x"), Nothing, 404),
        ],
    )
    .await;
    expect(
        c,
        &app,
        None,
        "GET",
        p,
        vec![(check(&org, "feature=x"), Nothing, 401)],
    )
    .await;

    let p = "/organizations/{id}/usage";
    let usage = format!("{org}/usage");
    let batch = |id: &str, increment: i64| {
        Json(json!({"reports": [{"id": id, "metric": "workspaces", "increment": increment}]}))
    };
    expect(
        c,
        &app,
        w,
        "POST",
        p,
        vec![
            (usage.clone(), batch("r-1", 2), 200),
            (usage.clone(), batch("r-1", 2), 200),
            (usage.clone(), batch("r-1", 3), 409),
            (usage.clone(), batch("r-2", -9), 422),
            (format!("{nobody}/usage"), batch("r-4", 1), 404),
            (usage.clone(), Raw("[]"), 400),
        ],
    )
    .await;
    expect(c, &app, r, "POST", p, vec![(usage.clone(), batch("r-3", 1), 403)]).await;
    expect(
        c,
        &app,
        None,
        "POST",
        p,
        vec![(usage.clone(), batch("r-5", 1), 401)],
    )
    .await;
    expect(
        c,
        &app,
        r,
        "GET",
        p,
        vec![
            (format!("{usage}?days=7"), Nothing, 200),
            (format!("{usage}?days=0"), Nothing, 422),
            (format!("{nobody}/usage"), Nothing, 404),
        ],
    )
    .await;
    expect(c, &app, None, "GET", p, vec![(usage.clone(), Nothing, 401)]).await;

    // The licence routes (no API key: the licence key is in the body).
    let (_, key) = issued(&app, acme, 1).await;
    let unknown_key = app
        .state
        .license_keys
        .as_deref()
        .unwrap()
        .license_key(uuid::Uuid::new_v4(), 2026)
        .unwrap()
        .to_string();
    // A typo in the check symbol: any other symbol than the real one.
    let last = key.chars().last().unwrap();
    let typo = format!("{}{}", &key[..key.len() - 1], if last == 'X' { 'Y' } else { 'X' });
    let machine = |fingerprint: &str| Json(json!({"key": key, "fingerprint": fingerprint, "hostname": "h"}));
    expect(
        c,
        &app,
        None,
        "GET",
        "/licensing/keys",
        vec![(s("/licensing/keys"), Nothing, 200)],
    )
    .await;
    let p = "/licenses/activate";
    expect(
        c,
        &app,
        None,
        "POST",
        p,
        vec![
            (s(p), machine("m-1"), 200),
            (s(p), machine("m-2"), 409),
            (
                s(p),
                Json(json!({"key": typo, "fingerprint": "m", "hostname": "h"})),
                422,
            ),
            (s(p), Raw("nope"), 400),
            (
                s(p),
                Json(json!({"key": unknown_key, "fingerprint": "m", "hostname": "h"})),
                404,
            ),
        ],
    )
    .await;
    let p = "/licenses/validate";
    let (status, body) = send(
        c,
        &app,
        None,
        "POST",
        p,
        p,
        Some(json!({"key": key, "fingerprint": "m-1", "nonce": "n"})),
    )
    .await;
    assert_eq!((status, body["code"].as_str()), (200, Some("VALID")));
    let (status, body) = send(
        c,
        &app,
        None,
        "POST",
        p,
        p,
        Some(json!({"key": key, "fingerprint": "m-9"})),
    )
    .await;
    assert_eq!((status, body["code"].as_str()), (200, Some("NO_MACHINE")));
    expect(
        c,
        &app,
        None,
        "POST",
        p,
        vec![
            (s(p), Json(json!({"key": "2026-0000", "fingerprint": "m"})), 422),
            (s(p), Raw("{"), 400),
        ],
    )
    .await;
    let p = "/licenses/deactivate";
    expect(
        c,
        &app,
        None,
        "POST",
        p,
        vec![
            (s(p), Json(json!({"key": key, "fingerprint": "m-9"})), 404),
            (s(p), Json(json!({"key": key, "fingerprint": "m-1"})), 200),
            (s(p), Json(json!({"key": key, "fingerprint": ""})), 422),
            (s(p), Raw("[1]"), 400),
        ],
    )
    .await;
    // A suspended licence refuses activation at once.
    sqlx::query("update license set suspended_at = now()")
        .execute(&pool)
        .await
        .unwrap();
    expect(
        c,
        &app,
        None,
        "POST",
        "/licenses/activate",
        vec![(s("/licenses/activate"), machine("m-3"), 403)],
    )
    .await;
    sqlx::query("update license set suspended_at = null")
        .execute(&pool)
        .await
        .unwrap();

    // Budgets run out: the licence key's (60 a minute, shared by its routes) and an API key's.
    for path in ["/licenses/deactivate", "/licenses/activate", "/licenses/validate"] {
        let mut limited = false;
        for _ in 0..70 {
            limited |= send(
                c,
                &app,
                None,
                "POST",
                path,
                path,
                Some(json!({"key": key, "fingerprint": "m-1", "hostname": "h"})),
            )
            .await
            .0 == 429;
            if limited {
                break;
            }
        }
        assert!(limited, "{path}");
    }
    let throttled = TestApp::with_settings(pool.clone(), &[("GATEHOUSE_API_REQUESTS_PER_MINUTE", "1")]);
    let throttled_key = api_key(&throttled, Scope::Write).await;
    let t = Some(throttled_key.as_str());
    for (method, path, uri, body) in [
        ("GET", "/organizations", s("/organizations"), None),
        ("GET", "/organizations/{id}", org.clone(), None),
        (
            "PATCH",
            "/organizations/{id}",
            org.clone(),
            Some(json!({"external_id": "z"})),
        ),
        (
            "GET",
            "/organizations/{id}/entitlements",
            format!("{org}/entitlements"),
            None,
        ),
        (
            "GET",
            "/organizations/{id}/entitlements/check",
            check(&org, "feature=x"),
            None,
        ),
        ("GET", "/organizations/{id}/usage", usage.clone(), None),
        (
            "POST",
            "/organizations/{id}/usage",
            usage.clone(),
            Some(json!({"reports": [{"id": "r-9", "metric": "workspaces", "increment": 1}]})),
        ),
    ] {
        let mut limited = false;
        for _ in 0..3 {
            limited |= send(c, &throttled, t, method, path, &uri, body.clone()).await.0 == 429;
        }
        assert!(limited, "{method} {path}");
    }

    // Without signing keys, the licence routes that sign say so.
    let unconfigured = TestApp::without_sync(pool.clone());
    let fresh = Json(json!({"key": unknown_key, "fingerprint": "m-1", "hostname": "h"}));
    expect(
        c,
        &unconfigured,
        None,
        "GET",
        "/licensing/keys",
        vec![(s("/licensing/keys"), Nothing, 503)],
    )
    .await;
    expect(
        c,
        &unconfigured,
        None,
        "POST",
        "/licenses/activate",
        vec![(s("/licenses/activate"), fresh, 503)],
    )
    .await;
    let fresh = Json(json!({"key": unknown_key, "fingerprint": "m-1"}));
    expect(
        c,
        &unconfigured,
        None,
        "POST",
        "/licenses/validate",
        vec![(s("/licenses/validate"), fresh, 503)],
    )
    .await;

    // Every documented answer was met at least once.
    let unmet: Vec<_> = checked.documented().difference(&checked.seen).cloned().collect();
    assert!(unmet.is_empty(), "documented but never answered: {unmet:?}");
}
