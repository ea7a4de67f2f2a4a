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
use sqlx::PgPool;
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

/// The messages of the error events logged on this thread (where the
/// test's runtime polls every request and every load it spawns).
#[derive(Clone, Default)]
struct LoggedErrors(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for LoggedErrors {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        struct Message(String);
        impl tracing::field::Visit for Message {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                if field.name() == "message" {
                    self.0 = format!("{value:?}");
                }
            }
        }
        if *event.metadata().level() == tracing::Level::ERROR {
            let mut message = Message(String::new());
            event.record(&mut message);
            self.0.lock().unwrap().push(message.0);
        }
    }
}

impl LoggedErrors {
    /// Records this thread's error events until the guard is dropped.
    fn capture() -> (Self, tracing::subscriber::DefaultGuard) {
        use tracing_subscriber::layer::SubscriberExt;
        let errors = LoggedErrors::default();
        let guard = tracing::subscriber::set_default(tracing_subscriber::registry().with(errors.clone()));
        (errors, guard)
    }

    /// Fails if any render or server function ran without the context it needs.
    fn assert_no_missing_context(&self) {
        let errors = self.0.lock().unwrap();
        let missing: Vec<&String> = errors
            .iter()
            .filter(|e| e.contains("missing from the Leptos context"))
            .collect();
        assert!(
            missing.is_empty(),
            "{} renders without their context",
            missing.len()
        );
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
    let (errors, _capturing) = LoggedErrors::capture();
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
    errors.assert_no_missing_context();
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn admin_pages_answer_with_more_requests_than_connections(
    pool_options: PgPoolOptions,
    connect_options: PgConnectOptions,
) {
    let (errors, _capturing) = LoggedErrors::capture();
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
    errors.assert_no_missing_context();
}

/// Pages render to the end while other threads build routers: leptos sets a
/// process-global flag while it generates a route list, and a resource
/// created meanwhile on another thread never loaded, so a page hung now and
/// then when tests built their routers in parallel (leptos-rs/leptos#4773).
/// The route list is now generated once per process; here one thread keeps
/// building routers while three render pages whose data comes from
/// resources, each on a runtime and pool of its own, each answer bounded.
#[sqlx::test(migrator = "server::MIGRATOR")]
async fn pages_render_to_the_end_while_other_threads_build_routers(pool: PgPool) {
    TestApp::spawn(pool.clone()).await;
    let options = (*pool.connect_options()).clone();
    let stop = std::sync::atomic::AtomicBool::new(false);
    // A thread's own runtime and pool (a pool's connections belong to the
    // runtime that opened them), and an app on them.
    let own_app = |runtime: &tokio::runtime::Runtime| {
        runtime.block_on(async {
            let pool = PgPoolOptions::new()
                .max_connections(4)
                .connect_with(options.clone())
                .await
                .unwrap();
            TestApp::without_sync(pool)
        })
    };
    let runtime = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    };
    std::thread::scope(|scope| {
        let builder = scope.spawn(|| {
            let runtime = runtime();
            let app = own_app(&runtime);
            let _entered = runtime.enter();
            let mut built = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                drop(server::app(app.state.clone()));
                built += 1;
            }
            built
        });
        let renderers: Vec<_> = (0..3)
            .map(|_| {
                scope.spawn(|| {
                    let runtime = runtime();
                    let app = own_app(&runtime);
                    runtime.block_on(async {
                        for round in 0..150 {
                            // A query string keeps the page cache out: each is rendered.
                            for page in ["/pricing", "/"] {
                                let path = format!("{page}?round={round}");
                                let request = Request::get(&path)
                                    .header("accept", "text/html")
                                    .body(Body::empty())
                                    .unwrap();
                                let answer = async {
                                    let response = app.router.clone().oneshot(request).await.unwrap();
                                    let status = response.status();
                                    response.into_body().collect().await.unwrap();
                                    status
                                };
                                let status = tokio::time::timeout(Duration::from_secs(10), answer)
                                    .await
                                    .unwrap_or_else(|_| panic!("{path} did not finish within 10 s"));
                                assert_eq!(status, StatusCode::OK, "{path}");
                            }
                        }
                    });
                })
            })
            .collect();
        // The builder stops whatever the renderers came to, so a failure is reported, not a hang.
        let rendered: Vec<_> = renderers.into_iter().map(|renderer| renderer.join()).collect();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        assert!(builder.join().unwrap() > 0, "routers were built meanwhile");
        for outcome in rendered {
            if let Err(panic) = outcome {
                std::panic::resume_unwind(panic);
            }
        }
    });
}
