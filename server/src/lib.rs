//! The Gatehouse server: configuration, the embedded database, start-up
//! (migrations, catalogue sync), the router and graceful shutdown.
//!
//! Everything testable lives here; `main.rs` only reads the command line.

pub mod admin;
pub mod admin_downloads;
pub mod admin_import;
pub mod api_doc;
pub mod api_errors;
pub mod assets;
pub mod billing;
pub mod change_listener;
pub mod commands;
pub mod config;
pub mod embedded_db;
pub mod health;
pub mod host_api;
pub mod licensing;
pub mod limits;
pub mod mailer;
pub mod outbound;
pub mod own_writes;
pub mod page_cache;
pub mod runner;
pub mod security;
pub mod seo_files;
pub mod session_cache;
pub mod static_files;
pub mod telemetry;
pub mod webhooks;

pub use change_listener::spawn_change_listener;

use anyhow::{Context, Result};
use app::accounts::users::UserCache;
use app::billing::page_cache::BillingPageCache;
use app::catalog::cache::CatalogCache;
use app::catalog::db::{SyncReport, sync_catalog};
use app::catalog::source::{LoadedCatalog, load_catalog_file};
use app::clock::Clock;
use app::context::AppContext;
use app::entitlements::cache::StandingCache;
use app::entitlements::history_cache::SnapshotHistoryCache;
use app::marketing::content::SiteContent;
use app::marketing::content_source::load_site_content;
use app::security::lease::LeasedThrottle;
use app::{App, SiteAssets, shell};
use axum::Router;
use axum::extract::FromRef;
use axum::http::{HeaderName, HeaderValue, Request, header};
use axum::routing::get;
use config::Settings;
use embedded_db::EmbeddedPostgres;
use leptos::prelude::*;
use leptos_axum::{LeptosRoutes, generate_route_list, render_app_async_with_context};
use metrics_exporter_prometheus::PrometheusHandle;
use secrecy::ExposeSecret;
use sqlx::PgPool;
use sqlx::migrate::Migrator;
use sqlx::postgres::PgPoolOptions;
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceBuilder;
use tower_http::compression::CompressionLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use tower_sessions::cookie::SameSite;
use tower_sessions::cookie::time;
use tower_sessions::{Expiry, SessionManagerLayer};
use tower_sessions_sqlx_store::PostgresStore;

/// The schema migrations, applied at every start.
pub static MIGRATOR: Migrator = sqlx::migrate!("../migrations");

/// The name of the database the embedded cluster serves.
pub const EMBEDDED_DATABASE: &str = "gatehouse";

/// Shared state of one server process, behind one pointer: every handler
/// and layer takes a copy of it per request, and cloning twenty handles
/// (each an atomic count, some an allocation) was a tenth of an API call.
#[derive(Clone)]
pub struct AppState(Arc<ProcessState>);

impl std::ops::Deref for AppState {
    type Target = ProcessState;

    fn deref(&self) -> &ProcessState {
        &self.0
    }
}

/// What [`AppState`] points at. Holds nothing that must agree across
/// processes: that lives in Postgres.
pub struct ProcessState {
    /// Leptos's settings (bundle name, site root).
    pub leptos_options: LeptosOptions,
    /// The database.
    pub pool: PgPool,
    /// A streaming replica for the analytics reads, when one is configured.
    pub replica: Option<app::read_replica::ReadReplica>,
    /// Cached catalogue, dropped on NOTIFY.
    pub catalog: CatalogCache,
    /// Hashed asset URLs.
    pub assets: SiteAssets,
    /// The built site's files, in memory.
    pub static_files: static_files::StaticFiles,
    /// Renders `/metrics`.
    pub metrics: PrometheusHandle,
    /// The configuration it was built from.
    pub settings: Arc<Settings>,
    /// The marketing copy.
    pub site: Arc<SiteContent>,
    /// The payment provider: Stripe when keys are set, else the sandbox.
    pub payments: billing::Payments,
    /// The current time, for everything this process does.
    pub clock: Clock,
    /// Connections for throttle counts, committed without waiting for the
    /// disk: a count lost in a crash lets one request more through, while
    /// waiting for a flush on every API call would halve its throughput.
    pub throttle_pool: PgPool,
    /// Cached organisation standings for the host API, dropped on NOTIFY.
    pub standings: StandingCache,
    /// Cached users behind sessions, dropped on NOTIFY.
    pub users: UserCache,
    /// Cached billing-page reads, dropped on NOTIFY.
    pub billing_pages: BillingPageCache,
    /// Cached usage snapshots, dropped on NOTIFY.
    pub snapshot_histories: SnapshotHistoryCache,
    /// Cached API keys, dropped on NOTIFY.
    pub api_keys: host_api::keys::KeyCache,
    /// This process's leases of busy API keys' next requests.
    pub api_throttle: LeasedThrottle,
    /// The session store (Postgres, with this process's cache in front).
    pub sessions: session_cache::CachedSessionStore,
    /// The keys licence files are signed with; `None` when none are configured.
    pub license_keys: Option<Arc<app::licensing::keys::SigningKeys>>,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

impl AppState {
    /// What trial emails are signed with and link to.
    pub fn notices(&self) -> app::billing::trials::Notices {
        app::billing::trials::Notices {
            brand: self.site.product.brand(),
            public_url: self.settings.public_url.clone(),
        }
    }

    /// What flows use besides the database: the notices and licence keys.
    pub fn flow_context(&self) -> app::flows::FlowContext {
        app::flows::FlowContext {
            notices: self.notices(),
            license_keys: self.license_keys.clone(),
        }
    }

    /// What the job runner's handlers use, on this state.
    pub fn job_context(&self) -> runner::JobContext {
        runner::JobContext {
            pool: self.pool.clone(),
            clock: self.clock.clone(),
            flows: self.flow_context(),
            sandbox: self.payments.sandbox(),
            provider: self.payments.provider(),
            // Checked at start-up: a process whose SMTP settings are unusable does not start.
            mailer: self
                .settings
                .smtp_url
                .as_ref()
                .and_then(|url| mailer::Mailer::new(url.expose_secret(), &self.settings.mail_from).ok()),
            sender: outbound::Sender::new(self.settings.webhook_private_hosts.clone()),
        }
    }

    /// State for a pool and settings (the built site is read from
    /// `settings.site_root`); an error when the Stripe settings cannot make
    /// a client.
    pub fn new(pool: PgPool, settings: Settings, site: SiteContent) -> Result<Self, stripe::StripeError> {
        Self::with_clock(pool, settings, site, Clock::System)
    }

    /// [`AppState::new`] reading the time from `clock` (tests pass a manual one).
    pub fn with_clock(
        pool: PgPool,
        settings: Settings,
        site: SiteContent,
        clock: Clock,
    ) -> Result<Self, stripe::StripeError> {
        let (output_name, assets) = assets::load(&settings.site_root);
        let payments = billing::Payments::from_settings(&pool, &settings, &clock)?;
        let leptos_options = LeptosOptions::builder()
            .output_name(output_name)
            .site_root(settings.site_root.display().to_string())
            .site_pkg_dir("pkg")
            .build();
        let static_files = static_files::StaticFiles::load(&settings.site_root);
        let throttle_pool = PgPoolOptions::new()
            .max_connections(settings.db_max_connections.clamp(1, 8))
            .connect_lazy_with(
                (*pool.connect_options())
                    .clone()
                    .options([("synchronous_commit", "off")]),
            );
        let license_keys = config::license_signing_keys(&settings).map(Arc::new);
        // Lazy, and quick to give up: a replica that does not answer sends
        // its reads back to the primary instead of holding a page.
        let replica = settings
            .replica_database_url
            .as_ref()
            .and_then(|url| {
                url.expose_secret()
                    .parse::<sqlx::postgres::PgConnectOptions>()
                    .ok()
            })
            .map(|options| {
                app::read_replica::ReadReplica::new(
                    PgPoolOptions::new()
                        .max_connections(settings.db_max_connections.clamp(1, 4))
                        .acquire_timeout(std::time::Duration::from_secs(2))
                        .connect_lazy_with(options),
                )
            });
        Ok(AppState(Arc::new(ProcessState {
            replica,
            license_keys,
            throttle_pool,
            standings: StandingCache::default(),
            users: UserCache::default(),
            billing_pages: BillingPageCache::default(),
            snapshot_histories: SnapshotHistoryCache::default(),
            api_keys: host_api::keys::KeyCache::default(),
            api_throttle: LeasedThrottle::default(),
            sessions: session_cache::CachedSessionStore::new(
                PostgresStore::new(pool.clone()),
                pool.clone(),
                clock.clone(),
            ),
            leptos_options,
            pool,
            catalog: CatalogCache::default(),
            assets,
            static_files,
            metrics: telemetry::prometheus(),
            settings: Arc::new(settings),
            site: Arc::new(site),
            payments,
            clock,
        })))
    }
}

/// `/api/v1`'s routes (the host product's and the licences') and their
/// OpenAPI document, generated from the same handlers.
pub fn api_v1() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    use utoipa::OpenApi;
    utoipa_axum::router::OpenApiRouter::with_openapi(api_doc::ApiDoc::openapi())
        .merge(host_api::router())
        .merge(licensing::router())
        .split_for_parts()
}

/// The app's routes, generated once per process. Generating them renders
/// the app under leptos_server's process-global `SuppressResourceLoad`
/// flag, and any `Resource` or `OnceResource` that another thread creates
/// meanwhile never loads, so its page never finishes
/// (leptos-rs/leptos#4773): building a second router while pages render
/// (as the tests do, a router each, in parallel) hung a page now and then.
/// Once generated, no render can meet the flag again.
fn route_list() -> Vec<leptos_axum::AxumRouteListing> {
    static ROUTES: std::sync::OnceLock<Vec<leptos_axum::AxumRouteListing>> = std::sync::OnceLock::new();
    ROUTES.get_or_init(|| generate_route_list(App)).clone()
}

/// Builds the whole HTTP application from its state.
pub fn app(state: AppState) -> Router {
    let settings = state.settings.clone();
    let context = AppContext {
        pool: state.pool.clone(),
        replica: state.replica.clone(),
        public_url: settings.public_url.clone(),
        trust_forwarded_for: settings.trust_forwarded_for,
        local_mailbox: settings.smtp_url.is_none() && settings.is_local(),
        clock: state.clock.clone(),
        started_at: state.clock.now(),
    };
    // Each feature's own context value, handed over beside the ground's.
    let billing = app::billing::context::BillingContext {
        provider: state.payments.provider(),
        sandbox: state.payments.sandbox(),
        pages: state.billing_pages.clone(),
    };
    let license_keys = app::licensing::keys::LicenseKeys(state.license_keys.clone());
    let brand = state.site.product.brand();
    let catalog = state.catalog.clone();
    let standings = state.standings.clone();
    let snapshot_histories = state.snapshot_histories.clone();
    let users = state.users.clone();
    let private_hosts = settings.webhook_private_hosts.clone();
    let site = app::marketing::Site {
        content: state.site.clone(),
        public_url: settings.public_url.clone(),
    };
    let chrome = app::ui::SiteChrome::from(&*state.site);
    // Runs for every page render and server-function call: hands over the
    // shared state and sets the page's CSP with the nonce Leptos put on its
    // inline scripts.
    let provide_app_context = move || {
        provide_context(context.clone());
        provide_context(site.clone());
        provide_context(chrome.clone());
        provide_context(brand.clone());
        provide_context(billing.clone());
        provide_context(license_keys.clone());
        provide_context(catalog.clone());
        provide_context(standings.clone());
        provide_context(snapshot_histories.clone());
        provide_context(users.clone());
        provide_context(private_hosts.clone());
        if let (Some(nonce), Some(response)) = (
            leptos::nonce::use_nonce(),
            use_context::<leptos_axum::ResponseOptions>(),
        ) && let Ok(csp) = HeaderValue::from_str(&security::page_csp(&nonce))
        {
            response.insert_header(header::CONTENT_SECURITY_POLICY, csp);
        }
    };
    let page_shell = {
        let assets = state.assets.clone();
        move |options: LeptosOptions| shell(options, assets.clone())
    };
    let options = state.leptos_options.clone();
    let routes = route_list();
    // Anything that is neither a route nor one of the site's files renders
    // the 404 page.
    let not_found_page = {
        let page_shell = page_shell.clone();
        let options = options.clone();
        render_app_async_with_context(provide_app_context.clone(), move || page_shell(options.clone()))
    };
    let fallback = {
        let files = state.static_files.clone();
        move |request: axum::extract::Request| {
            let not_found_page = not_found_page.clone();
            let file = files.answer(&request);
            async move {
                match file {
                    Some(file) => file,
                    None => {
                        let mut page = not_found_page(request).await;
                        if page.status() == axum::http::StatusCode::OK {
                            *page.status_mut() = axum::http::StatusCode::NOT_FOUND;
                        }
                        page
                    }
                }
            }
        }
    };

    let sessions = SessionManagerLayer::new(state.sessions.clone())
        .with_name("gatehouse_session")
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(settings.is_https())
        .with_expiry(Expiry::OnInactivity(time::Duration::minutes(
            settings.session_idle_minutes,
        )));
    let allowed_origins = security::AllowedOrigins::for_public_url(&settings.public_url, settings.is_local());

    let request_id = HeaderName::from_static("x-request-id");
    let (api_v1, document) = api_v1();
    let api_v1 = api_v1
        .route("/openapi.json", api_doc::serve(&document))
        .fallback(host_api::no_such_route);
    Router::new()
        .nest("/api/v1", api_v1)
        .route("/healthz", get(health::healthz))
        .route("/livez", get(health::livez))
        .route("/metrics", get(render_metrics))
        .route("/webhooks/stripe", axum::routing::post(webhooks::receive_stripe_event))
        .route("/app/billing/invoices/{id}/pdf", get(billing::invoice_pdf::invoice_pdf))
        .merge(licensing::portal_router())
        .route("/admin/analytics/{file}", get(admin_downloads::analytics_download))
        .route(
            "/admin/import",
            axum::routing::post(admin_import::import_upload)
                .layer(axum::extract::DefaultBodyLimit::max(limits::MAX_IMPORT_BODY)),
        )
        .route("/brand.css", get(seo_files::brand_css))
        .route("/robots.txt", get(seo_files::robots_txt))
        .route("/sitemap.xml", get(seo_files::sitemap_xml))
        .leptos_routes_with_context(&state, routes, provide_app_context, {
            let page_shell = page_shell.clone();
            move || page_shell(options.clone())
        })
        .fallback(fallback)
        // Innermost: the page cache stores pages before compression and
        // answers with its own pre-compressed copies, which the compression
        // layer leaves alone.
        .layer(axum::middleware::from_fn_with_state(
            page_cache::PageCache::new(state.catalog.clone()),
            page_cache::serve_cached_pages,
        ))
        .layer(CompressionLayer::new().gzip(true).br(true))
        .layer(axum::middleware::from_fn_with_state(
            (state.pool.clone(), state.users.clone(), state.clock.clone()),
            security::require_sign_in_for_portal,
        ))
        .layer(axum::middleware::from_fn_with_state(
            (state.pool.clone(), state.clock.clone()),
            security::require_admin_for_console,
        ))
        .layer(axum::middleware::from_fn_with_state(
            (state.pool.clone(), state.clock.clone(), settings.trust_forwarded_for),
            security::audit_impersonated_requests,
        ))
        .layer(axum::middleware::from_fn_with_state(
            change_listener::ProcessCaches::of(&state),
            own_writes::forget_own_writes,
        ))
        .layer(sessions)
        .layer(axum::middleware::from_fn(api_errors::status_from_app_error))
        .layer(axum::middleware::from_fn(security::default_cache_control))
        .layer(axum::middleware::from_fn_with_state(allowed_origins, security::require_same_origin))
        // Before anything reads a body or a query.
        .layer(axum::middleware::from_fn(limits::limit_request_sizes))
        // Outside every refusal, so each `/api/v1` answer is the API's envelope.
        .layer(axum::middleware::from_fn(host_api::error::envelope_every_error))
        .layer(axum::middleware::from_fn_with_state(settings.is_https(), security::security_headers))
        .layer(axum::middleware::from_fn(telemetry::track_requests))
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(request_id.clone(), MakeRequestUuid))
                .layer(TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
                    let request_id = request
                        .headers()
                        .get("x-request-id")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default();
                    // The path only: query strings may carry tokens.
                    tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id)
                }))
                .layer(PropagateRequestIdLayer::new(request_id)),
        )
        .with_state(state)
}

async fn render_metrics(axum::extract::State(state): axum::extract::State<AppState>) -> String {
    state.metrics.render()
}

/// Validates the catalogue file and syncs it into the database in one transaction.
pub async fn sync_catalog_file(pool: &PgPool, loaded: &LoadedCatalog) -> Result<SyncReport> {
    let mut tx = pool.begin().await.context("Failed to begin the catalogue sync")?;
    let report = sync_catalog(&mut tx, &loaded.catalog, &loaded.content_sha256)
        .await
        .context("Failed to sync the catalogue")?;
    tx.commit().await.context("Failed to commit the catalogue sync")?;
    Ok(report)
}

/// The open database: the pool, and the embedded cluster when Gatehouse
/// started it (so closing stops it again).
pub struct Database {
    /// The pool.
    pub pool: PgPool,
    embedded: Option<EmbeddedPostgres>,
}

impl Database {
    /// `DATABASE_URL` when set, else the embedded cluster (created and
    /// started here when needed).
    pub async fn open(settings: &Settings) -> Result<Self> {
        let (url, embedded) = match &settings.database_url {
            Some(url) => (url.expose_secret().to_owned(), None),
            None => {
                let mut cluster =
                    EmbeddedPostgres::prepare(&settings.data_dir, settings.pg_bindir.as_deref()).await?;
                cluster.start().await?;
                embedded_db::ensure_database(&cluster.url("postgres"), EMBEDDED_DATABASE).await?;
                (cluster.url(EMBEDDED_DATABASE), Some(cluster))
            }
        };
        let pool = PgPoolOptions::new()
            .max_connections(settings.db_max_connections)
            .acquire_timeout(Duration::from_secs(5))
            // sqlx already checks every connection when it is given back; a
            // second round trip on every checkout doubled the cost of the
            // one-query reads a page makes.
            .test_before_acquire(false)
            .connect(&url)
            .await
            .context("Failed to connect to PostgreSQL")?;
        Ok(Database { pool, embedded })
    }

    /// [`Database::open`], with the migrations applied.
    pub async fn open_migrated(settings: &Settings) -> Result<Self> {
        let database = Self::open(settings).await?;
        if let Err(error) = MIGRATOR.run(&database.pool).await {
            database.close().await?;
            return Err(error).context("Failed to apply migrations");
        }
        Ok(database)
    }

    /// Closes the pool and stops the embedded cluster if it was started here.
    pub async fn close(self) -> Result<()> {
        // Waits for connections in use to come back, but not for ever: a
        // task that still holds one is cut off when the cluster stops.
        if tokio::time::timeout(Duration::from_secs(5), self.pool.close())
            .await
            .is_err()
        {
            tracing::warn!("connections still in use after 5 s; closing anyway");
        }
        if let Some(cluster) = self.embedded.filter(EmbeddedPostgres::started_here) {
            tracing::info!("stopping the embedded PostgreSQL cluster");
            cluster.stop().await?;
        }
        Ok(())
    }
}

/// Starts Gatehouse and serves until SIGINT or SIGTERM; then lets in-flight
/// requests finish, closes the pool and stops the embedded cluster.
pub async fn serve(settings: Settings) -> Result<()> {
    // The catalogue is checked before anything starts, so a bad file fails fast.
    let loaded = load_catalog_file(&settings.catalog_path)?;
    let site = load_site_content(&settings.content_path).map_err(anyhow::Error::msg)?;
    // So are the licence signing keys; the embedded default makes its own.
    config::ensure_license_signing_keys(&settings, settings.database_url.is_none(), Clock::System.now())?;
    let database = Database::open(&settings).await?;
    let result = serve_with_pool(&settings, database.pool.clone(), &loaded, site).await;
    if let Err(error) = database.close().await {
        tracing::error!(
            error = format!("{error:#}"),
            "the embedded cluster did not stop cleanly"
        );
    }
    result
}

async fn serve_with_pool(
    settings: &Settings,
    pool: PgPool,
    loaded: &LoadedCatalog,
    site: SiteContent,
) -> Result<()> {
    MIGRATOR.run(&pool).await.context("Failed to apply migrations")?;
    let report = sync_catalog_file(&pool, loaded).await?;
    tracing::info!(
        version = loaded.catalog.version,
        inserted = report.inserted,
        updated = report.updated,
        retired = report.retired,
        "catalogue synced"
    );
    admin::bootstrap_from_env(&pool).await?;
    // The one clock of this process; everything below reads the time from it.
    let clock = match &settings.clock_offset_file {
        None => Clock::System,
        Some(path) => follow_clock_offset_file(path.clone()),
    };
    let caught_up = app::billing::series_store::catch_up(&pool, clock.now()).await?;
    if caught_up > 0 {
        tracing::info!(
            organizations = caught_up,
            "MRR series written for a ledger older than them"
        );
    }
    match &settings.smtp_url {
        Some(url) => {
            // Email is sent by the runner's `email.deliver` jobs.
            mailer::Mailer::new(url.expose_secret(), &settings.mail_from)?;
        }
        None if settings.is_local() => {
            tracing::info!(url = %format!("{}/dev/mailbox", settings.public_url), "no SMTP server: email is kept in the outbox")
        }
        None => {
            tracing::warn!("no SMTP server configured (GATEHOUSE_SMTP_URL): email is queued but not sent")
        }
    }
    let state = AppState::with_clock(pool.clone(), settings.clone(), site, clock)
        .context("GATEHOUSE_STRIPE_SECRET_KEY / GATEHOUSE_STRIPE_API_BASE cannot make a Stripe client")?;
    match &state.payments {
        billing::Payments::Stripe(stripe) => {
            check_stripe_catalog(stripe, &loaded.catalog).await;
            if settings.stripe_webhook_secret.is_none() {
                tracing::warn!(
                    "GATEHOUSE_STRIPE_WEBHOOK_SECRET is not set: Stripe's events cannot be received"
                );
            }
        }
        billing::Payments::Sandbox(_) => {
            tracing::info!("no Stripe key: payments use the built-in sandbox (test mode)")
        }
    }
    let stop_background = tokio_util::sync::CancellationToken::new();
    let runner = runner::spawn(
        runner::Runner::gatehouse(format!(
            "pid-{}-{}",
            std::process::id(),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        )),
        state.job_context(),
        stop_background.clone(),
    );
    let listen_options = match &settings.listen_database_url {
        Some(url) => Some(
            url.expose_secret()
                .parse::<sqlx::postgres::PgConnectOptions>()
                .context("GATEHOUSE_LISTEN_DATABASE_URL is not a PostgreSQL URL")?,
        ),
        None => None,
    };
    change_listener::spawn_change_listener_with(
        pool,
        &state,
        change_listener::ListenerSettings {
            connect_options: listen_options,
            ..change_listener::ListenerSettings::default()
        },
    );
    let listener = tokio::net::TcpListener::bind(settings.addr)
        .await
        .with_context(|| format!("Failed to listen on {}", settings.addr))?;
    tracing::info!(addr = %settings.addr, url = %settings.public_url, "Gatehouse is listening");
    let signalled = tokio_util::sync::CancellationToken::new();
    let on_signal = signalled.clone();
    let serving = axum::serve(
        listener,
        app(state).into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown_signal().await;
        on_signal.cancel();
    })
    .into_future();
    // In-flight requests get a bounded time to finish: a client that holds
    // its request open never holds the process.
    let drain_bound = settings.shutdown_grace;
    tokio::select! {
        served = serving => {
            served.context("server error")?;
            tracing::info!("stopped accepting requests; in-flight requests finished");
        }
        () = async {
            signalled.cancelled().await;
            tokio::time::sleep(drain_bound).await;
        } => tracing::warn!(
            seconds = drain_bound.as_secs(),
            "in-flight requests did not finish in time; stopping anyway"
        ),
    }
    stop_background.cancel();
    if runner.await.is_err() {
        tracing::warn!("the job runner ended abnormally");
    }
    Ok(())
}

/// Says, at start-up, precisely where Stripe's prices differ from the
/// catalogue (or that they match); never stops start-up, since Stripe may be
/// briefly unreachable.
async fn check_stripe_catalog(
    stripe: &billing::stripe::StripeProvider,
    catalog: &app::catalog::domain::Catalog,
) {
    match stripe.catalog_differences(catalog).await {
        Ok(differences) if differences.is_empty() => tracing::info!("Stripe prices match the catalogue"),
        Ok(differences) => {
            for difference in &differences {
                tracing::warn!(%difference, "Stripe differs from the catalogue; run `server sync-stripe`");
            }
        }
        Err(error) => tracing::warn!(%error, "could not compare Stripe's prices with the catalogue"),
    }
}

/// Deletes expired sessions hourly.
/// A clock that runs ahead of the wall clock by the whole seconds in
/// `path` (`GATEHOUSE_CLOCK_OFFSET_FILE`, for tests of several processes),
/// re-read every 100 ms; an unreadable file leaves the offset as it was.
fn follow_clock_offset_file(path: std::path::PathBuf) -> Clock {
    let clock = Clock::shifted();
    let read = |path: &std::path::Path| {
        std::fs::read_to_string(path)
            .ok()
            .and_then(|text| text.trim().parse::<i64>().ok())
    };
    if let Some(seconds) = read(&path) {
        clock.set_ahead(chrono::TimeDelta::seconds(seconds));
    }
    tracing::warn!(path = %path.display(), "the clock follows an offset file: a test setting, never for production");
    let follower = clock.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            if let Some(seconds) = read(&path) {
                follower.set_ahead(chrono::TimeDelta::seconds(seconds));
            }
        }
    });
    clock
}

async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
    tracing::info!("shutdown requested");
}
