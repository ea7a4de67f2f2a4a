//! The maintenance commands `server` runs besides `serve`; `main.rs`
//! parses the command line and calls one of these.

use crate::Database;
use crate::config::Settings;
use crate::embedded_db::EmbeddedPostgres;
use anyhow::{Result, bail};

/// `check-catalog`: validates the catalogue file and prints a summary.
pub fn check_catalog(settings: &Settings) -> Result<()> {
    let loaded = app::catalog::source::load_catalog_file(&settings.catalog_path)?;
    let catalog = loaded.catalog;
    println!(
        "{}: version {}, {} tiers, {} add-ons, {} features in {} groups",
        settings.catalog_path.display(),
        catalog.version,
        catalog.tiers.len(),
        catalog.add_ons.len(),
        catalog.feature_count(),
        catalog.feature_groups.len()
    );
    Ok(())
}

/// `sync-stripe`: creates or updates Stripe's products and prices from the
/// catalogue, printing each change.
pub async fn sync_stripe(settings: &Settings) -> Result<()> {
    let Some(key) = settings.stripe_secret_key.clone() else {
        bail!("GATEHOUSE_STRIPE_SECRET_KEY is not set: the sandbox needs no sync");
    };
    let loaded = app::catalog::source::load_catalog_file(&settings.catalog_path)?;
    let database = Database::open_migrated(settings).await?;
    let stripe = crate::billing::stripe::StripeProvider::new(
        database.pool.clone(),
        secrecy::ExposeSecret::expose_secret(&key),
        settings.stripe_api_base.as_deref(),
    );
    let result = match stripe {
        Ok(stripe) => stripe
            .sync_catalog(&loaded.catalog)
            .await
            .map_err(|e| anyhow::anyhow!("{e}")),
        Err(error) => Err(error.into()),
    };
    database.close().await?;
    let changes = result?;
    if changes.is_empty() {
        println!("Stripe already matches the catalogue");
    }
    for change in changes {
        println!("{change}");
    }
    Ok(())
}

/// `create-admin --email ADDRESS`: creates a platform admin, or updates its
/// password (from `GATEHOUSE_ADMIN_PASSWORD` or the first line of stdin).
pub async fn create_admin(settings: &Settings, arguments: &[&str]) -> Result<()> {
    let email = crate::admin::email_argument(arguments)?;
    let password = match std::env::var("GATEHOUSE_ADMIN_PASSWORD") {
        Ok(password) => password,
        Err(_) => {
            let mut line = String::new();
            std::io::stdin().read_line(&mut line)?;
            line.trim_end_matches(['\r', '\n']).to_owned()
        }
    };
    let database = Database::open_migrated(settings).await?;
    let created = crate::admin::create_admin(&database.pool, &email, &password).await;
    database.close().await?;
    println!(
        "{}",
        if created? {
            "platform admin created"
        } else {
            "platform admin password updated"
        }
    );
    Ok(())
}

/// `embedded-db start`: starts the embedded PostgreSQL cluster and prints its URL.
pub async fn embedded_db_start(settings: &Settings) -> Result<()> {
    let mut cluster = EmbeddedPostgres::prepare(&settings.data_dir, settings.pg_bindir.as_deref()).await?;
    cluster.start().await?;
    println!("{}", cluster.url("postgres"));
    Ok(())
}

/// `embedded-db stop`: stops the embedded PostgreSQL cluster.
pub async fn embedded_db_stop(settings: &Settings) -> Result<()> {
    let cluster = EmbeddedPostgres::prepare(&settings.data_dir, settings.pg_bindir.as_deref()).await?;
    cluster.stop().await
}
