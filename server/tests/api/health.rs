//! Health and metrics endpoints.

use crate::helpers::TestApp;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn healthz_reports_a_reachable_database_as_healthy(pool: PgPool) {
    let response = TestApp::spawn(pool).await.get("/healthz").await;
    assert_eq!(response.status, 200);
    assert_eq!(response.body, r#"{"status":"ok","database":"ok"}"#);
    assert_eq!(response.headers["content-type"], "application/json");
}

#[tokio::test]
async fn healthz_reports_a_stopped_database_as_unhealthy() {
    // Nothing listens on this port: the database is down.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let pool = PgPoolOptions::new()
        .acquire_timeout(std::time::Duration::from_secs(1))
        .connect_lazy(&format!("postgres://postgres@127.0.0.1:{port}/gatehouse"))
        .unwrap();

    let response = TestApp::without_sync(pool).get("/healthz").await;

    assert_eq!(response.status, 503);
    assert_eq!(
        response.body,
        r#"{"status":"unhealthy","database":"unreachable"}"#
    );
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn every_response_carries_a_request_id(pool: PgPool) {
    let response = TestApp::spawn(pool).await.get("/livez").await;
    assert_eq!(response.body, "ok");
    let id = response.headers["x-request-id"].to_str().unwrap();
    assert_eq!(id.len(), 36, "a UUID: {id}");
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn metrics_count_requests_by_route_in_prometheus_format(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    app.get("/livez").await;
    app.get("/pricing").await;

    let response = app.get("/metrics").await;

    assert_eq!(response.status, 200);
    assert!(
        response
            .body
            .contains(r#"http_requests_total{method="GET",path="/livez",status="200"}"#),
        "{}",
        response.body
    );
    assert!(response.body.contains(
        r#"http_request_duration_seconds_bucket{method="GET",path="/pricing",status="200",le="0.005"}"#
    ));
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn metrics_show_provider_events_and_emails_that_need_an_operator(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    // language=PostgreSQL
    sqlx::query!(
        r#"
        insert into webhook_event (provider, provider_event_id, event_type, livemode, provider_created_at, payload, status)
        select 'stripe', 'evt_gauge_' || n, 'invoice.paid', false, now(), '{}'::jsonb,
               (array['pending', 'pending', 'unmatched', 'failed', 'processed'])[n]
        from generate_series(1, 5) as n
        "#
    )
    .execute(&pool)
    .await
    .unwrap();
    // language=PostgreSQL
    sqlx::query!(
        r#"
        insert into email_outbox (to_address, template, subject, text_body, html_body, status)
        values ('a@x.test', 'welcome', 's', 't', 'h', 'dead'), ('b@x.test', 'welcome', 's', 't', 'h', 'queued'),
               ('c@x.test', 'welcome', 's', 't', 'h', 'sent')
        "#
    )
    .execute(&pool)
    .await
    .unwrap();

    server::telemetry::record_queue_depths(&pool).await.unwrap();
    let body = app.get("/metrics").await.body;

    for line in [
        r#"gatehouse_provider_events{status="pending"} 2"#,
        r#"gatehouse_provider_events{status="unmatched"} 1"#,
        r#"gatehouse_provider_events{status="failed"} 1"#,
        r#"gatehouse_email_outbox{status="queued"} 1"#,
        r#"gatehouse_email_outbox{status="dead"} 1"#,
    ] {
        assert!(body.lines().any(|l| l == line), "{line} in\n{body}");
    }
}
