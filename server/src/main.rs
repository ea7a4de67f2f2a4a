//! `server`: starts Gatehouse, or runs one of its maintenance commands.

use anyhow::{Result, bail};
use server::Database;
use server::config::Settings;
use server::embedded_db::EmbeddedPostgres;

const USAGE: &str = "\
usage: server [command]

commands:
  serve               start Gatehouse (the default)
  check-catalog       validate the catalogue file and print a summary
  sync-stripe         create or update Stripe's products and prices from the catalogue
  create-admin --email ADDRESS
                      create a platform admin (password from GATEHOUSE_ADMIN_PASSWORD or stdin)
  embedded-db start   start the embedded PostgreSQL cluster and print its URL
  embedded-db stop    stop the embedded PostgreSQL cluster
  help                show this text

Configuration comes from the environment; see .env.example.";

#[tokio::main]
async fn main() {
    // A missing .env is normal; a broken one is worth a warning.
    if let Err(error) = dotenvy::dotenv()
        && !error.not_found()
    {
        eprintln!("warning: .env ignored: {error}");
    }
    if let Err(error) = run().await {
        eprintln!("error: {error:#}");
        std::process::exit(1);
    }
}

async fn run() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let settings = Settings::from_env()?;
    server::telemetry::init_tracing(settings.log_format);
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        [] | ["serve"] => server::serve(settings).await,
        ["check-catalog"] => {
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
        ["sync-stripe"] => {
            let Some(key) = settings.stripe_secret_key.clone() else {
                bail!("GATEHOUSE_STRIPE_SECRET_KEY is not set: the sandbox needs no sync");
            };
            let loaded = app::catalog::source::load_catalog_file(&settings.catalog_path)?;
            let database = Database::open_migrated(&settings).await?;
            let stripe = server::billing::stripe::StripeProvider::new(
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
        ["create-admin", rest @ ..] => {
            let email = server::admin::email_argument(rest)?;
            let password = match std::env::var("GATEHOUSE_ADMIN_PASSWORD") {
                Ok(password) => password,
                Err(_) => {
                    let mut line = String::new();
                    std::io::stdin().read_line(&mut line)?;
                    line.trim_end_matches(['\r', '\n']).to_owned()
                }
            };
            let database = Database::open_migrated(&settings).await?;
            let created = server::admin::create_admin(&database.pool, &email, &password).await;
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
        ["embedded-db", "start"] => {
            let mut cluster =
                EmbeddedPostgres::prepare(&settings.data_dir, settings.pg_bindir.as_deref()).await?;
            cluster.start().await?;
            println!("{}", cluster.url("postgres"));
            Ok(())
        }
        ["embedded-db", "stop"] => {
            let cluster =
                EmbeddedPostgres::prepare(&settings.data_dir, settings.pg_bindir.as_deref()).await?;
            cluster.stop().await
        }
        ["help" | "--help" | "-h"] => {
            println!("{USAGE}");
            Ok(())
        }
        _ => bail!("unknown command {:?}\n\n{USAGE}", args.join(" ")),
    }
}
