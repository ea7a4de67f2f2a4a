//! The organisation pages and their actions: the list, analytics, impersonation and overrides.

use super::*;

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn the_organisation_list_pages_by_keyset_through_inserts_and_searches_safely(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let (mut admin, _) = enrolled_admin(&app).await;
    // 45 organisations a minute apart, one with an external id and odd characters.
    sqlx::query(
        "insert into organization (name, external_id, created_at)
         select 'Org ' || lpad(n::text, 2, '0'), case when n = 7 then 'host-7' end,
                timestamptz '2026-01-01' + make_interval(mins => n)
         from generate_series(1, 45) n",
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query("insert into organization (name) values ('100% Honest_Co')")
        .execute(&pool)
        .await
        .unwrap();
    let names = |body: &str| -> Vec<String> {
        body.split("data-organization=\"")
            .skip(1)
            .filter_map(|s| s.split('"').next())
            .map(str::to_owned)
            .collect()
    };
    let next = |body: &str| -> Option<String> {
        let before = body.split_once("rel=\"next\"")?.0;
        let href = before.rsplit("href=\"").next()?.split('"').next()?;
        Some(href.replace("&amp;", "&"))
    };
    let first = admin.get("/admin/organizations?q=Org&sort=newest").await;
    let page_one = names(&first.body);
    assert_eq!(page_one.len(), 20);
    assert_eq!(page_one[0], "Org 45");
    // Newer organisations arrive before the next page is read.
    sqlx::query("insert into organization (name, created_at) select 'Org new ' || n, now() from generate_series(1, 5) n")
        .execute(&pool)
        .await
        .unwrap();
    let second_href = next(&first.body).expect("a next page");
    let page_two = names(&admin.get(&second_href).await.body);
    assert_eq!(
        page_two.first().map(String::as_str),
        Some("Org 25"),
        "no row repeated or skipped: {page_two:?}"
    );
    assert_eq!(page_two.len(), 20);
    let by_name = names(&admin.get("/admin/organizations?q=org&sort=name").await.body);
    assert_eq!(by_name[0], "Org 01");
    assert_eq!(
        names(&admin.get("/admin/organizations?q=host-7").await.body),
        ["Org 07"]
    );
    // `%` and `_` are searched for, not wildcards.
    assert_eq!(
        names(&admin.get("/admin/organizations?q=100%25").await.body),
        ["100% Honest_Co"]
    );
    assert!(names(&admin.get("/admin/organizations?q=O_g").await.body).is_empty());
    let bad_status = admin.fetch("/api/admin_organizations?status=cancelled").await;
    assert_eq!(bad_status.status, 422);
    let bad_cursor = admin.fetch("/api/admin_organizations?after=not-an-id").await;
    assert_eq!(bad_cursor.status, 422);
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn the_analytics_page_and_its_downloads_show_the_ledgers_figures_to_admins_only(pool: PgPool) {
    use crate::analytics::{HEADER, HISTORY};
    let app = TestApp::spawn(pool.clone()).await;
    let rows =
        app::analytics::import::read_history(format!("{HEADER}\n{HISTORY}").as_bytes(), |_| {}).unwrap();
    app::analytics::import_store::store_history(&pool, &rows, app.state.clock.now())
        .await
        .unwrap();
    let mut customer = app.signed_up("ada@acme.test", "Acme", "starter").await;
    let (mut admin, _) = enrolled_admin(&app).await;

    let page = admin
        .get("/admin/analytics?first=2026-01&last=2026-03&from=2026-02-01&to=2026-02-28")
        .await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("data-table=\"months\"") && page.body.contains("<svg"),
        "tables and charts"
    );
    assert!(
        page.body.contains("$137.17"),
        "January's MRR: two annual plans rounded once plus a monthly one"
    );
    assert!(page.body.contains("data-table=\"range\""), "the custom range");
    assert!(page.body.contains("Baremetrics"), "the forecast names its method");

    let csv = admin
        .get("/admin/analytics/months.csv?first=2026-01&last=2026-03")
        .await;
    assert_eq!(csv.status, 200);
    assert_eq!(csv.headers["content-type"], "text/csv; charset=utf-8");
    assert!(
        csv.headers["content-disposition"]
            .to_str()
            .unwrap()
            .contains("gatehouse-months-2026-01-to-2026-03.csv")
    );
    let lines: Vec<&str> = csv.body.lines().collect();
    assert!(lines[0].starts_with("Month,MRR at start,MRR,ARR,Active customers"));
    assert!(
        lines[1].starts_with("2026-01,$0.00,$137.17,\"$1,646.04\",1,"),
        "{}",
        lines[1]
    );
    assert_eq!(lines.len(), 4);
    for file in ["cohorts.csv", "splits.csv", "forecast.csv"] {
        let download = admin
            .get(&format!("/admin/analytics/{file}?first=2026-01&last=2026-03"))
            .await;
        assert_eq!(download.status, 200, "{file}");
    }
    let json = admin
        .get("/admin/analytics/export.json?first=2026-01&last=2026-03")
        .await;
    let exported: serde_json::Value = serde_json::from_str(&json.body).unwrap();
    assert_eq!(exported["months"][1]["mrr_cents"], 23_317);
    assert_eq!(admin.get("/admin/analytics/secrets.csv").await.status, 404);
    assert_eq!(
        admin
            .get("/admin/analytics/months.csv?first=2026-13")
            .await
            .status,
        422
    );
    let backwards = admin.get("/admin/analytics?first=2026-03&last=2026-01").await;
    assert!(backwards.body.contains("the last month is before the first"));

    let mut anonymous = app.browser();
    for browser in [&mut anonymous, &mut customer] {
        let refused = browser.get("/admin/analytics/months.csv").await;
        assert_eq!(refused.status, 303);
        assert_eq!(refused.headers["location"], "/admin/login");
    }
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn an_impersonating_admin_sees_the_owners_portal_with_a_banner_is_audited_and_cannot_pay_or_change_security(
    pool: PgPool,
) {
    let app = TestApp::spawn(pool.clone()).await;
    app.signed_up("ada@acme.test", "Acme", "starter").await;
    let (mut admin, _) = enrolled_admin(&app).await;
    let org: Uuid = app.only_organization().await;
    let org_text = org.to_string();
    let without_reason = admin
        .submit(
            "/api/admin_impersonate",
            &[("organization_id", org_text.as_str()), ("reason", "")],
        )
        .await;
    assert!(
        matches!(form_error(&without_reason), app::error::AppError::Validation { field, .. } if field == "reason")
    );
    let started = admin
        .submit(
            "/api/admin_impersonate",
            &[
                ("organization_id", org_text.as_str()),
                ("reason", "Ticket 4411: invoices look wrong"),
            ],
        )
        .await;
    assert_eq!(started.headers["location"], "/app");

    let portal = admin.get("/app/billing").await;
    assert_eq!(portal.status, 200);
    assert!(
        portal.body.contains("data-banner=\"impersonation\""),
        "a permanent banner"
    );
    assert!(portal.body.contains("Exit impersonation"));
    // Billing, security and every other change are refused, whatever the path.
    for (path, fields) in [
        (
            "/api/change_password",
            vec![
                ("current_password", PASSWORD),
                ("new_password", "another long passphrase"),
            ],
        ),
        (
            "/api/start_checkout",
            vec![("tier", "starter"), ("cycle", "monthly")],
        ),
        ("/api/set_cancellation", vec![("cancel", "true")]),
        (
            "/api/invite_member",
            vec![("email", "eve@evil.test"), ("role", "admin")],
        ),
        ("/api/sandbox_end_trial", vec![]),
    ] {
        let refused = admin.submit(path, &fields).await;
        assert_eq!(refused.status, 403, "{path}");
    }
    // The console itself is closed until the exit.
    assert_eq!(admin.get("/admin").await.status, 403);
    assert_eq!(admin.fetch("/api/admin_dashboard").await.status, 403);

    let ended = admin.submit("/api/admin_stop_impersonating", &[]).await;
    assert_eq!(ended.headers["location"], format!("/admin/organizations/{org}"));
    assert_eq!(admin.get("/admin").await.status, 200);
    let actions: Vec<(String, Option<serde_json::Value>)> = sqlx::query_as(
        "select action, after from admin_audit where action like 'impersonation.%' order by admin_audit_id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let names: Vec<&str> = actions.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(names.first(), Some(&"impersonation.start"));
    assert_eq!(names.last(), Some(&"impersonation.end"));
    assert_eq!(
        names.iter().filter(|a| **a == "impersonation.refused").count(),
        5,
        "{names:?}"
    );
    assert!(
        actions.iter().any(|(a, after)| a == "impersonation.request"
            && after.as_ref().is_some_and(|v| v["path"] == "/app/billing")),
        "every request is audited"
    );
    let password_unchanged: i64 =
        sqlx::query_scalar("select auth_version::bigint from app_user where email = 'ada@acme.test'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(password_unchanged, 1);
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn an_impersonation_ends_by_itself_after_thirty_minutes(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    app.signed_up("ada@acme.test", "Acme", "starter").await;
    let (mut admin, _) = enrolled_admin(&app).await;
    let org: Uuid = app.only_organization().await;
    let org_text = org.to_string();
    admin
        .submit(
            "/api/admin_impersonate",
            &[("organization_id", org_text.as_str()), ("reason", "Support call")],
        )
        .await;
    app.state.clock.advance(TimeDelta::minutes(29));
    assert_eq!(admin.get("/app").await.status, 200);
    app.state.clock.advance(TimeDelta::minutes(2));
    let after = admin.get("/app").await;
    assert_eq!(after.status, 303, "no longer anyone in the portal");
    assert!(after.headers["location"].to_str().unwrap().starts_with("/login"));
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn overrides_are_checked_against_the_catalogue_change_what_the_organisation_may_do_and_are_audited(
    pool: PgPool,
) {
    let app = TestApp::spawn(pool.clone()).await;
    app.signed_up("ada@acme.test", "Acme", "starter").await;
    let (mut admin, _) = enrolled_admin(&app).await;
    let org: Uuid = app.only_organization().await;
    let org_text = org.to_string();
    let add = |kind: &'static str, key: &'static str, value: &'static str, expires: &'static str| {
        [
            ("organization_id", org_text.clone()),
            ("kind", kind.to_owned()),
            ("key", key.to_owned()),
            ("value", value.to_owned()),
            ("expires", expires.to_owned()),
            ("reason", "Pilot agreed with sales".to_owned()),
        ]
    };
    let form = |fields: &[(&'static str, String)]| -> Vec<(&'static str, String)> { fields.to_vec() };
    for (fields, field) in [
        (add("feature", "teleport", "on", ""), "key"),
        (add("feature", "oee_dashboard", "maybe", ""), "value"),
        (add("limit", "workspaces", "-3", ""), "value"),
        (add("tier", "platinum", "", ""), "key"),
        (add("limit", "workspaces", "10", "2020-01-01"), "expires"),
    ] {
        let fields = form(&fields);
        let refs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let refused = admin.submit("/api/admin_add_override", &refs).await;
        assert!(
            matches!(form_error(&refused), app::error::AppError::Validation { field: f, .. } if f == field),
            "{refs:?}"
        );
    }
    let fields = form(&add("feature", "oee_dashboard", "on", ""));
    let refs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let added = admin.submit("/api/admin_add_override", &refs).await;
    assert_eq!(
        added.headers["location"],
        format!("/admin/organizations/{org}?done=override")
    );

    // The organisation may now use a professional feature on the starter plan.
    let catalog = app.state.caches.catalog.get(&pool).await.unwrap();
    let standing = app::entitlements::guard::standing(
        &pool,
        &catalog,
        &app::entitlements::db::OrganizationAddress::Id(org),
        app.state.clock.now(),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(standing.check_feature(&catalog, "oee_dashboard"), Some(Ok(())));

    let override_id: Uuid = sqlx::query_scalar("select override_id from entitlement_override")
        .fetch_one(&pool)
        .await
        .unwrap();
    let page = admin.get(&format!("/admin/organizations/{org}")).await;
    assert!(page.body.contains(&format!("data-override=\"{override_id}\"")));
    let override_text = override_id.to_string();
    admin
        .submit(
            "/api/admin_remove_override",
            &[
                ("organization_id", org_text.as_str()),
                ("override_id", override_text.as_str()),
                ("reason", "Pilot over"),
                ("confirm", "yes"),
            ],
        )
        .await;
    let removed: bool = sqlx::query_scalar("select removed_at is not null from entitlement_override")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(removed, "the row stays, marked removed");
    let actions: Vec<String> = sqlx::query_scalar(
        "select action from admin_audit where action like 'override.%' order by admin_audit_id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(actions, ["override.add", "override.remove"]);
}
