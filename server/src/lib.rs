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
pub mod caches;
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
pub mod process;
pub mod runner;
pub mod security;
pub mod seo_files;
pub mod session_cache;
pub mod static_files;
pub mod telemetry;
pub mod webhooks;

pub use change_listener::spawn_change_listener;
pub use process::{Database, serve, sync_catalog_file};

use anyhow::Result;
use app::clock::Clock;
use app::context::AppContext;
use app::marketing::content::SiteContent;
use app::security::lease::LeasedThrottle;
use app::{App, SiteAssets, shell};
use axum::Router;
use axum::extract::FromRef;
use axum::http::{HeaderName, HeaderValue, Request, header};
use axum::routing::get;
use config::Settings;
use leptos::prelude::*;
use leptos_axum::{LeptosRoutes, generate_route_list, render_app_async_with_context};
use metrics_exporter_prometheus::PrometheusHandle;
use secrecy::ExposeSecret;
use sqlx::PgPool;
use sqlx::migrate::Migrator;
use sqlx::postgres::PgPoolOptions;
use std::sync::Arc;
use tower::ServiceBuilder;
use tower_http::compression::CompressionLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use tower_sessions::cookie::SameSite;
use tower_sessions::cookie::time;
use tower_sessions::{Expiry, SessionManagerLayer};

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
    /// Every process cache, dropped on NOTIFY (the registry: [`caches`]).
    pub caches: caches::ProcessCaches,
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
    /// This process's leases of busy API keys' next requests.
    pub api_throttle: LeasedThrottle,
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
            caches: caches::ProcessCaches::new(&pool, &clock),
            api_throttle: LeasedThrottle::default(),
            leptos_options,
            pool,
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
    // Each feature's own context value, handed over beside the ground's,
    // all behind one handle that leptos_axum's closure clones per request.
    let handover = app::context::Handover::default()
        .with(context)
        .with(app::billing::context::BillingContext {
            provider: state.payments.provider(),
            sandbox: state.payments.sandbox(),
            pages: state.caches.billing_pages.clone(),
        })
        .with(app::licensing::keys::LicenseKeys(state.license_keys.clone()))
        .with(Arc::new(state.site.product.brand()))
        .with(state.caches.catalog.clone())
        .with(state.caches.standings.clone())
        .with(state.caches.snapshot_histories.clone())
        .with(state.caches.users.clone())
        .with(settings.webhook_private_hosts.clone())
        .with(app::marketing::Site {
            content: state.site.clone(),
            public_url: settings.public_url.clone(),
        })
        .with(Arc::new(app::ui::SiteChrome::from(&*state.site)));
    // Runs for every page render and server-function call: hands over the
    // shared state and sets the page's CSP with the nonce Leptos put on its
    // inline scripts.
    let provide_app_context = move || {
        provide_context(handover.clone());
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

    let sessions = SessionManagerLayer::new(state.caches.sessions.clone())
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
            page_cache::PageCache::new(state.caches.catalog.clone()),
            page_cache::serve_cached_pages,
        ))
        .layer(CompressionLayer::new().gzip(true).br(true))
        .layer(axum::middleware::from_fn_with_state(
            (state.pool.clone(), state.caches.users.clone(), state.clock.clone()),
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
        // Behind an Arc: axum clones a middleware's state for every request.
        .layer(axum::middleware::from_fn_with_state(
            Arc::new(change_listener::ProcessCaches::of(&state)),
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
