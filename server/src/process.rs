//! A process's life: open the database (the embedded cluster when none is
//! configured), migrate, sync the catalogue, serve the router with the
//! change listener and the job runner beside it, and on SIGTERM stop in
//! order (see ARCHITECTURE.md, "Many processes, one database").

use crate::{
    AppState, EMBEDDED_DATABASE, MIGRATOR, admin, billing, change_listener, config, embedded_db, mailer,
    runner,
};
use anyhow::{Context, Result};
use app::catalog::db::{SyncReport, sync_catalog};
use app::catalog::source::{LoadedCatalog, load_catalog_file};
use app::clock::Clock;
use app::marketing::content::SiteContent;
use app::marketing::content_source::load_site_content;
use config::Settings;
use embedded_db::EmbeddedPostgres;
use secrecy::ExposeSecret;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use std::time::Duration;

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
        crate::app(state).into_make_service_with_connect_info::<std::net::SocketAddr>(),
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
