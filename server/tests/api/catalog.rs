//! The catalogue: file → Postgres sync, and the pricing server function.

use crate::helpers::{TestApp, edited_catalog, shipped_catalog};
use app::catalog::db::{SyncReport, load_catalog};
use app::catalog::domain::Catalog;
use server::{spawn_change_listener, sync_catalog_file};
use sqlx::PgPool;
use std::time::Duration;

async fn plan_updated_at(pool: &PgPool) -> Vec<(String, String)> {
    // language=PostgreSQL
    sqlx::query!(r#"select plan_key, updated_at::text as "updated_at!" from plan order by plan_key"#)
        .fetch_all(pool)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.plan_key, r.updated_at))
        .collect()
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn syncing_the_same_catalogue_twice_changes_nothing(pool: PgPool) {
    // Arrange
    let loaded = shipped_catalog();
    let first = sync_catalog_file(&pool, &loaded).await.unwrap();
    let stamps = plan_updated_at(&pool).await;

    // Act
    let second = sync_catalog_file(&pool, &loaded).await.unwrap();

    // Assert
    let entries = loaded.catalog.metrics.len() as u64
        + 3
        + 3
        + loaded.catalog.feature_groups.len() as u64
        + loaded.catalog.feature_count() as u64
        + 1;
    assert_eq!(first.inserted, entries, "first sync inserts every entry");
    assert_eq!(second, SyncReport::default(), "second sync changes nothing");
    assert_eq!(plan_updated_at(&pool).await, stamps, "no row was rewritten");
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn changing_a_price_in_the_file_updates_only_that_plan(pool: PgPool) {
    // Arrange
    sync_catalog_file(&pool, &shipped_catalog()).await.unwrap();
    let cheaper = edited_catalog("monthly_price = \"199\"", "monthly_price = \"189\"");

    // Act
    let report = sync_catalog_file(&pool, &cheaper).await.unwrap();

    // Assert
    assert_eq!(
        report,
        SyncReport {
            inserted: 0,
            updated: 1,
            retired: 0
        }
    );
    let stored = load_catalog(&mut pool.acquire().await.unwrap()).await.unwrap();
    assert_eq!(
        stored.tier("professional").unwrap().monthly_price.amount_minor,
        18900
    );
    assert_eq!(stored.tier("starter").unwrap().monthly_price.amount_minor, 4900);
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn an_entry_removed_from_the_file_is_retired_not_deleted(pool: PgPool) {
    // Arrange
    sync_catalog_file(&pool, &shipped_catalog()).await.unwrap();
    let without_csm = edited_catalog(
        "  { key = \"dedicated_csm\", name = \"Dedicated success manager\", included_from = \"enterprise\" },\n",
        "",
    );

    // Act
    let report = sync_catalog_file(&pool, &without_csm).await.unwrap();

    // Assert
    assert_eq!(report.retired, 1);
    // language=PostgreSQL
    let retired = sqlx::query_scalar!("select retired from feature where feature_key = 'dedicated_csm'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(retired, "the row stays, marked retired");
    let stored = load_catalog(&mut pool.acquire().await.unwrap()).await.unwrap();
    assert!(
        stored
            .feature_groups
            .iter()
            .flat_map(|g| &g.features)
            .all(|f| f.key != "dedicated_csm")
    );
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn the_stored_catalogue_reads_back_exactly_as_the_file_says(pool: PgPool) {
    let loaded = shipped_catalog();
    sync_catalog_file(&pool, &loaded).await.unwrap();
    let stored = load_catalog(&mut pool.acquire().await.unwrap()).await.unwrap();
    assert_eq!(stored, loaded.catalog);
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn the_pricing_server_function_returns_the_catalogue_file(pool: PgPool) {
    // Arrange
    let app = TestApp::spawn(pool).await;

    // Act
    let response = app.get("/api/pricing").await;

    // Assert
    assert_eq!(response.status, 200, "{}", response.body);
    let catalog: Catalog = serde_json::from_str(&response.body).expect("a catalogue as JSON");
    assert_eq!(catalog, shipped_catalog().catalog);
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn the_pricing_server_function_reports_an_unsynced_catalogue_without_leaking_details(pool: PgPool) {
    let app = TestApp::without_sync(pool);
    let response = app.get("/api/pricing").await;
    assert_eq!(response.status, 500);
    assert!(response.body.contains("Internal"), "{}", response.body);
    assert!(
        !response.body.contains("synced"),
        "no internal text: {}",
        response.body
    );
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn a_sync_in_another_process_reaches_this_process_cache(pool: PgPool) {
    // Arrange: this process has the catalogue cached.
    let app = TestApp::spawn(pool.clone()).await;
    spawn_change_listener(pool.clone(), &app.state);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(app.get("/pricing").await.body.contains("$199"));

    // Act: a sync elsewhere (same database) changes a price.
    sync_catalog_file(
        &pool,
        &edited_catalog("monthly_price = \"199\"", "monthly_price = \"195\""),
    )
    .await
    .unwrap();

    // Assert: the NOTIFY drops the cache within a few seconds.
    for _ in 0..50 {
        if app.get("/pricing").await.body.contains("$195") {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the pricing page never showed the new price");
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn a_metric_added_to_the_file_is_metered_by_the_api_without_code(pool: PgPool) {
    use crate::host_api::{api_key, call, organization_id};
    use serde_json::json;
    // Add a metric: declare it and give every tier a limit.
    let mut text = std::fs::read_to_string(crate::helpers::shipped_catalog_path()).unwrap();
    text = text.replacen(
        "[[tiers]]",
        "[[metrics]]\nkey = \"api_calls\"\nname = \"API calls\"\nunit = \"API call\"\nunits = \"API calls\"\n\n[[tiers]]",
        1,
    );
    for (from, to) in [
        ("storage_gb = 10 }", "storage_gb = 10, api_calls = 1000 }"),
        ("storage_gb = 100 }", "storage_gb = 100, api_calls = 10000 }"),
        (
            "storage_gb = \"unlimited\" }",
            "storage_gb = \"unlimited\", api_calls = \"unlimited\" }",
        ),
    ] {
        assert!(text.contains(from));
        text = text.replace(from, to);
    }
    let catalog = app::catalog::source::parse_catalog(&text).expect("catalogue with a new metric is valid");
    sync_catalog_file(&pool, &catalog).await.unwrap();
    let app = TestApp::without_sync(pool.clone());
    app.signed_up("ada@acme.test", "Acme", "starter").await;
    let org = organization_id(&pool, "Acme").await;
    let key = api_key(&app, server::host_api::keys::Scope::Write).await;

    let usage = json!({"reports": [{"id": "c1", "metric": "api_calls", "set": 990}]});
    let (status, body, _) = call(
        &app,
        Some(&key),
        "POST",
        &format!("/api/v1/organizations/{org}/usage"),
        Some(usage),
    )
    .await;
    assert_eq!(status, axum::http::StatusCode::OK, "{body}");
    let (_, body, _) = call(
        &app,
        Some(&key),
        "GET",
        &format!("/api/v1/organizations/{org}/entitlements"),
        None,
    )
    .await;
    assert_eq!(
        body["limits"]["api_calls"],
        json!({"limit": 1000, "used": 990, "remaining": 10})
    );
    let (_, body, _) = call(
        &app,
        Some(&key),
        "GET",
        &format!("/api/v1/organizations/{org}/entitlements/check?metric=api_calls&increment=11"),
        None,
    )
    .await;
    assert_eq!(body["reason"], "limit_reached");
    assert_eq!(body["upgrade_to"], "professional");
}
