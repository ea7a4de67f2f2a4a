//! The embedded default database: a private cluster in a directory of its own.

use server::embedded_db::{EmbeddedPostgres, ensure_database};
use sqlx::Connection;

#[tokio::test]
async fn the_embedded_cluster_starts_keeps_data_across_restarts_and_stops() {
    let root = std::env::temp_dir().join(format!("gatehouse-embedded-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);

    // First start: creates the cluster.
    let mut cluster = EmbeddedPostgres::prepare(&root, None)
        .await
        .expect("PostgreSQL binaries are installed");
    cluster.start().await.expect("cluster starts");
    assert!(cluster.started_here());
    ensure_database(&cluster.url("postgres"), "embedded_test")
        .await
        .unwrap();
    ensure_database(&cluster.url("postgres"), "embedded_test")
        .await
        .expect("creating twice is fine");
    let mut conn = sqlx::PgConnection::connect(&cluster.url("embedded_test"))
        .await
        .unwrap();
    sqlx::raw_sql("create table kept (v int); insert into kept values (42)")
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    cluster.stop().await.expect("cluster stops");

    // Second start: reuses the same cluster and its data.
    let mut again = EmbeddedPostgres::prepare(&root, None).await.unwrap();
    again.start().await.unwrap();
    let mut conn = sqlx::PgConnection::connect(&again.url("embedded_test"))
        .await
        .unwrap();
    let (value,): (i32,) = sqlx::query_as("select v from kept")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(value, 42);
    conn.close().await.unwrap();

    // A start while it runs adopts it instead of failing.
    let mut adopted = EmbeddedPostgres::prepare(&root, None).await.unwrap();
    adopted.start().await.unwrap();
    assert!(!adopted.started_here());

    again.stop().await.unwrap();
    assert!(
        ensure_database(&again.url("postgres"), "x").await.is_err(),
        "stopped means unreachable"
    );
    let _ = std::fs::remove_dir_all(&root);
}

#[tokio::test]
async fn database_names_that_are_not_plain_identifiers_are_refused() {
    let error = ensure_database("postgres://nowhere/x", "x\"; drop")
        .await
        .unwrap_err();
    assert!(error.to_string().contains("letters, digits and underscores"));
}
