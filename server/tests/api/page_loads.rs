//! Pages under more concurrent requests than the pool has connections.
//!
//! A page's data loads run as tasks of their own (resources), so a load
//! that has taken a connection finishes and gives it back even while the
//! page is still waiting for another part. Awaiting a server function
//! straight inside a `Suspend` breaks that: Leptos polls each `Suspend`
//! once while walking the page, and in `SsrMode::Async` a later section is
//! polled again only after the earlier ones are done. A connection taken in
//! that first poll stays checked out, so as many concurrent requests as
//! the pool has connections deadlocked until the acquire timed out.

use crate::admin_console::enrolled_admin;
use crate::helpers::TestApp;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use std::time::Duration;
use tower::ServiceExt;

/// Connections in the pool these tests run on; the requests per page are
/// several times as many.
const POOL_CONNECTIONS: u32 = 3;
const CONCURRENT_REQUESTS: usize = 12;

/// Every page `path` answers `expected` for each of many concurrent
/// requests with `cookie`, none of them waiting for the pool to time out.
async fn all_answer(app: &TestApp, cookie: &str, path: &str, expected: StatusCode) {
    let requests = (0..CONCURRENT_REQUESTS).map(|_| {
        let router = app.router.clone();
        let request = Request::get(path)
            .header("accept", "text/html")
            .header("cookie", cookie)
            .body(Body::empty())
            .unwrap();
        tokio::spawn(async move {
            let response = router.oneshot(request).await.unwrap();
            let status = response.status();
            let body = response.into_body().collect().await.unwrap().to_bytes();
            (status, String::from_utf8_lossy(&body).into_owned())
        })
    });
    let answers = tokio::time::timeout(Duration::from_secs(30), futures::future::join_all(requests))
        .await
        .unwrap_or_else(|_| panic!("{path}: requests still waiting after 30 s"));
    for answer in answers {
        let (status, body) = answer.unwrap();
        assert_eq!(status, expected, "{path}: {}", &body[..body.len().min(300)]);
    }
}

async fn small_pool_app(pool_options: PgPoolOptions, connect_options: PgConnectOptions) -> TestApp {
    let pool = pool_options
        .max_connections(POOL_CONNECTIONS)
        .acquire_timeout(Duration::from_secs(3))
        .connect_with(connect_options)
        .await
        .unwrap();
    TestApp::spawn(pool).await
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn portal_and_marketing_pages_answer_with_more_requests_than_connections(
    pool_options: PgPoolOptions,
    connect_options: PgConnectOptions,
) {
    let app = small_pool_app(pool_options, connect_options).await;
    let owner = app.signed_up("owner@pages.test", "Pages Works", "starter").await;
    let cookie = owner.cookie.clone().unwrap();

    for path in [
        "/app",
        "/app/billing",
        "/app/team",
        "/app/account",
        "/pricing",
        "/",
    ] {
        all_answer(&app, &cookie, path, StatusCode::OK).await;
    }
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn admin_pages_answer_with_more_requests_than_connections(
    pool_options: PgPoolOptions,
    connect_options: PgConnectOptions,
) {
    let app = small_pool_app(pool_options, connect_options).await;
    app.signed_up("owner@pages.test", "Pages Works", "starter").await;
    let (admin, _) = enrolled_admin(&app).await;
    let cookie = admin.cookie.clone().unwrap();

    for path in [
        "/admin",
        "/admin/organizations",
        "/admin/analytics",
        "/admin/events",
        "/admin/emails",
        "/admin/health",
        "/admin/api-keys",
        "/admin/work",
        "/admin/webhooks",
        "/admin/audit",
    ] {
        all_answer(&app, &cookie, path, StatusCode::OK).await;
    }
}
