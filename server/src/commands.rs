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

/// `embedded-db start-replica`: starts a streaming replica of the embedded
/// cluster (creating it from a base backup on first use) and prints its URL.
pub async fn embedded_db_start_replica(settings: &Settings) -> Result<()> {
    let mut primary = EmbeddedPostgres::prepare(&settings.data_dir, settings.pg_bindir.as_deref()).await?;
    primary.start().await?;
    let mut replica = primary.replica(&settings.data_dir.join("replica")).await?;
    replica.start().await?;
    println!("{}", replica.url("postgres"));
    Ok(())
}

/// `embedded-db stop-replica`: stops the embedded cluster's replica.
pub async fn embedded_db_stop_replica(settings: &Settings) -> Result<()> {
    let replica =
        EmbeddedPostgres::prepare(&settings.data_dir.join("replica"), settings.pg_bindir.as_deref()).await?;
    replica.stop().await
}

/// Reads `--name VALUE` style options; an unknown option or a missing value
/// is an error naming it.
fn options<'a>(arguments: &[&'a str], known: &[&str]) -> Result<std::collections::HashMap<String, &'a str>> {
    let mut found = std::collections::HashMap::new();
    let mut rest = arguments.iter();
    while let Some(option) = rest.next() {
        let name = option
            .strip_prefix("--")
            .filter(|name| known.contains(name))
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "unknown argument {option:?}; expected one of --{}",
                    known.join(", --")
                )
            })?;
        let value = rest
            .next()
            .ok_or_else(|| anyhow::anyhow!("--{name} needs a value"))?;
        found.insert(name.to_owned(), *value);
    }
    Ok(found)
}

/// `create-api-key --name NAME --scope read|write`: prints the new key alone
/// on standard output (it is shown only this once), so scripts can capture it.
pub async fn create_api_key(settings: &Settings, arguments: &[&str]) -> Result<()> {
    let options = options(arguments, &["name", "scope"])?;
    let name = options
        .get("name")
        .ok_or_else(|| anyhow::anyhow!("--name is required"))?;
    let scope = options.get("scope").copied().unwrap_or("read");
    let scope = crate::host_api::keys::Scope::parse(scope)
        .ok_or_else(|| anyhow::anyhow!("--scope must be read or write, not {scope:?}"))?;
    let database = Database::open_migrated(settings).await?;
    let created =
        crate::host_api::keys::create(&database.pool, name, scope, &app::clock::Clock::System).await;
    database.close().await?;
    let created = created?;
    eprintln!(
        "API key {} ({}) created; it is shown only this once",
        created.prefix,
        scope.as_str()
    );
    println!("{}", created.key);
    Ok(())
}

/// `revoke-api-key --prefix gk_…`: revokes a key.
pub async fn revoke_api_key(settings: &Settings, arguments: &[&str]) -> Result<()> {
    let options = options(arguments, &["prefix"])?;
    let prefix = options
        .get("prefix")
        .ok_or_else(|| anyhow::anyhow!("--prefix is required"))?;
    let database = Database::open_migrated(settings).await?;
    let revoked = crate::host_api::keys::revoke(&database.pool, prefix, &app::clock::Clock::System).await;
    database.close().await?;
    if revoked? {
        println!("API key {prefix} revoked");
        Ok(())
    } else {
        anyhow::bail!("no live API key has the prefix {prefix:?}")
    }
}

/// `add-webhook-endpoint --url URL [--description TEXT]`: adds an outbound
/// endpoint and prints its signing secret alone on standard output.
pub async fn add_webhook_endpoint(settings: &Settings, arguments: &[&str]) -> Result<()> {
    let options = options(arguments, &["url", "description"])?;
    let url = options
        .get("url")
        .ok_or_else(|| anyhow::anyhow!("--url is required"))?;
    let description = options.get("description").copied().unwrap_or("");
    let database = Database::open_migrated(settings).await?;
    let added = crate::outbound::add_endpoint(
        &database.pool,
        url,
        description,
        &app::clock::Clock::System,
        &settings.webhook_private_hosts,
    )
    .await;
    database.close().await?;
    let (id, secret) = added?;
    eprintln!("endpoint {id} added; verify deliveries with this Standard Webhooks secret");
    println!("{secret}");
    Ok(())
}

/// `import-history FILE`: loads subscription histories from a CSV file into
/// the ledger, all or nothing; progress goes to standard error.
pub async fn import_history(settings: &Settings, arguments: &[&str]) -> Result<()> {
    let [path] = arguments else {
        bail!("usage: server import-history FILE");
    };
    let file = std::fs::File::open(path).map_err(|e| anyhow::anyhow!("cannot open {path}: {e}"))?;
    let rows = app::analytics::import::read_history(std::io::BufReader::new(file), |read| {
        eprintln!("{path}: {read} rows read…")
    })
    .map_err(|rejected| anyhow::anyhow!("{path}: {rejected}"))?;
    eprintln!("{path}: {} rows checked; storing…", rows.len());
    // Plans are checked against the catalogue, so the database holds the file's.
    let catalog = app::catalog::source::load_catalog_file(&settings.catalog_path)?;
    let database = Database::open_migrated(settings).await?;
    crate::sync_catalog_file(&database.pool, &catalog).await?;
    let now = app::clock::Clock::System.now();
    let stored = app::analytics::import_store::store_history(&database.pool, &rows, now).await;
    database.close().await?;
    let summary = stored.map_err(|e| anyhow::anyhow!("{path}: {e}"))?;
    println!(
        "imported {} rows: {} new revisions, {} subscriptions and {} organisations created",
        summary.rows, summary.revisions_added, summary.subscriptions_created, summary.organizations_created
    );
    Ok(())
}

/// `export-analytics [--first-month YYYY-MM] [--last-month YYYY-MM]`: prints
/// every monthly figure as JSON (the format is in the README).
pub async fn export_analytics(settings: &Settings, arguments: &[&str]) -> Result<()> {
    let options = options(arguments, &["first-month", "last-month"])?;
    let month = |name: &str| -> Result<Option<app::analytics::domain::Month>> {
        options
            .get(name)
            .map(|raw| {
                app::analytics::domain::Month::parse(raw).map_err(|e| anyhow::anyhow!("--{name}: {e}"))
            })
            .transpose()
    };
    let (first, last) = (month("first-month")?, month("last-month")?);
    let database = Database::open_migrated(settings).await?;
    let now = app::clock::Clock::System.now();
    let report = app::analytics::export::export(&database.pool, first, last, now).await;
    database.close().await?;
    println!("{}", serde_json::to_string_pretty(&report?)?);
    Ok(())
}

/// `rebuild-mrr-series`: recomputes every organisation's MRR series and the
/// platform totals from the ledger, and says how many were wrong.
pub async fn rebuild_mrr_series(settings: &Settings) -> Result<()> {
    let database = Database::open_migrated(settings).await?;
    let now = app::clock::Clock::System.now();
    let rebuilt = app::billing::series_store::rebuild(&database.pool, now).await;
    database.close().await?;
    let rebuilt = rebuilt?;
    println!(
        "rebuilt the MRR series of {} organisations; {} stored series differed from the ledger",
        rebuilt.organizations, rebuilt.corrected
    );
    Ok(())
}

/// `seed-demo [--organizations N] [--months M] [--seed S]`: generates a
/// realistic history at the catalogue's prices, ending now, and stores it as
/// an import is stored (a second run with the same numbers adds nothing).
pub async fn seed_demo(settings: &Settings, arguments: &[&str]) -> Result<()> {
    let options = options(arguments, &["organizations", "months", "seed"])?;
    let mut size = app::analytics::seed::SeedSize::default();
    let number = |name: &str, default: u64, most: u64| -> Result<u64> {
        match options.get(name) {
            None => Ok(default),
            Some(raw) => match raw.parse::<u64>() {
                Ok(n) if (1..=most).contains(&n) => Ok(n),
                _ => bail!("--{name} takes a whole number from 1 to {most}"),
            },
        }
    };
    size.organizations = number("organizations", size.organizations.into(), 1_000_000)? as u32;
    size.months = number("months", size.months.into(), 120)? as u32;
    size.seed = number("seed", size.seed, u64::MAX)?;
    let catalog = app::catalog::source::load_catalog_file(&settings.catalog_path)?;
    let database = Database::open_migrated(settings).await?;
    crate::sync_catalog_file(&database.pool, &catalog).await?;
    let now = app::clock::Clock::System.now();
    let rows = app::analytics::seed::generate(&catalog.catalog, size, now);
    eprintln!(
        "seed-demo: {} organisations over {} months, {} states; storing…",
        size.organizations,
        size.months,
        rows.len()
    );
    let stored = app::analytics::import_store::store_history(&database.pool, &rows, now).await;
    database.close().await?;
    let summary = stored?;
    println!(
        "seeded {} rows: {} new revisions, {} subscriptions and {} organisations created",
        summary.rows, summary.revisions_added, summary.subscriptions_created, summary.organizations_created
    );
    Ok(())
}

/// `verify-license --keys KEYS.json --file LICENSE [--fingerprint F]`: checks
/// a licence file as a self-hosted install would, with the `license` crate
/// and the key set `GET /api/v1/licensing/keys` publishes; prints the
/// verdict as JSON. For operators and support, and the browser tests.
pub fn verify_license(arguments: &[&str]) -> Result<()> {
    let options = options(arguments, &["keys", "file", "fingerprint"])?;
    let (Some(keys), Some(file)) = (options.get("keys"), options.get("file")) else {
        bail!("usage: verify-license --keys KEYS.json --file LICENSE [--fingerprint F]");
    };
    let (keys, file) = (std::fs::read_to_string(keys)?, std::fs::read_to_string(file)?);
    let fingerprint = options.get("fingerprint").copied();
    let published: serde_json::Value = serde_json::from_str(&keys)?;
    let trusted: Vec<license::TrustedKey> = published["keys"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter(|key| key["status"] != "revoked")
        .filter_map(|key| license::TrustedKey::from_base64(key["id"].as_str()?, key["public_key"].as_str()?))
        .collect();
    let verdict = license::check(&license::Check {
        file: Some(&file),
        trusted: &trusted,
        now: app::clock::Clock::System.unix(),
        fingerprint,
        watermark: None,
    });
    let standing = match &verdict.standing {
        license::Standing::Licensed => "licensed".to_owned(),
        license::Standing::InGrace { .. } => "in_grace".to_owned(),
        license::Standing::Lapsed { .. } => "lapsed".to_owned(),
        license::Standing::NoFile => "no_file".to_owned(),
        license::Standing::Unverifiable(why) => format!("unverifiable: {why}"),
    };
    let claims = verdict.claims.as_ref();
    println!(
        "{}",
        serde_json::json!({
            "standing": standing,
            "license_id": claims.map(|c| c.license_id.clone()),
            "tier": claims.map(|c| c.tier.clone()),
            "expires_at": claims.map(|c| c.expires_at),
            "fingerprint": claims.and_then(|c| c.fingerprint.clone()),
        })
    );
    Ok(())
}

/// `issue-license --organization ID [--machines N] [--floating true]`:
/// issues a licence by hand (as the console does, without its audit entry:
/// the operator's shell is its own record) and prints its key.
pub async fn issue_license(settings: &Settings, arguments: &[&str]) -> Result<()> {
    let options = options(arguments, &["organization", "machines", "floating"])?;
    let organization: uuid::Uuid = options
        .get("organization")
        .ok_or_else(|| anyhow::anyhow!("--organization is required"))?
        .parse()
        .map_err(|_| anyhow::anyhow!("--organization must be an organisation id"))?;
    let machines: i32 = options
        .get("machines")
        .unwrap_or(&"3")
        .parse()
        .ok()
        .filter(|n| (1..=1000).contains(n))
        .ok_or_else(|| anyhow::anyhow!("--machines must be a whole number from 1 to 1000"))?;
    let node_locked = match options.get("floating").copied() {
        None | Some("false") => true,
        Some("true") => false,
        Some(other) => bail!("--floating must be true or false, not {other:?}"),
    };
    let keys = crate::config::license_signing_keys(settings)
        .ok_or_else(|| anyhow::anyhow!("no licence signing keys are configured"))?;
    let database = Database::open_migrated(settings).await?;
    let now = app::clock::Clock::System.now();
    let issued = async {
        let mut conn = database.pool.acquire().await?;
        app::licensing::db::issue(
            &mut conn,
            &keys,
            organization,
            app::licensing::db::Source::Console,
            machines,
            node_locked,
            now,
        )
        .await
    }
    .await;
    database.close().await?;
    let license_id = issued?.ok_or_else(|| anyhow::anyhow!("no licence was issued"))?;
    let key = keys.license_key(license_id, chrono::Datelike::year(&now).clamp(2000, 2999) as u16)?;
    eprintln!("licence {license_id} issued ({machines} machines)");
    println!("{key}");
    Ok(())
}

/// `jobs list | runs [--failed] | run NAME | retry ID`: the job runner from
/// the command line: open jobs, the latest attempts, a schedule's job made
/// now (for its current period, once), a dead job queued again.
pub async fn jobs(settings: &Settings, arguments: &[&str]) -> Result<()> {
    let runner = crate::runner::Runner::gatehouse("cli");
    let known: Vec<&str> = runner.schedules().iter().map(|s| s.name).collect();
    let database = Database::open_migrated(settings).await?;
    let pool = database.pool.clone();
    let now = app::clock::Clock::System.now();
    let outcome = async {
        match arguments {
            ["list"] => {
                for job in app::runner::db::open_jobs(&pool, 200).await? {
                    println!(
                        "{:>8}  {:<28} {:<9} attempt {:<3} due {}  {}",
                        job.job_id,
                        job.kind,
                        job.state,
                        job.attempt,
                        job.run_at.to_rfc3339(),
                        job.last_error.unwrap_or_default()
                    );
                }
                Ok(())
            }
            ["runs", rest @ ..] => {
                let failed_only = match rest {
                    [] => false,
                    ["--failed"] => true,
                    _ => bail!("usage: jobs runs [--failed]"),
                };
                for run in app::runner::db::recent_runs(&pool, failed_only, 100).await? {
                    println!(
                        "{:>8}  {:<28} attempt {:<3} {:<12} {} by {}  {}",
                        run.job_id,
                        run.kind,
                        run.attempt,
                        run.outcome.unwrap_or_else(|| "running".to_owned()),
                        run.started_at.to_rfc3339(),
                        run.worker,
                        run.error.unwrap_or_default()
                    );
                }
                Ok(())
            }
            ["run", name] => {
                let Some(schedule) = runner.schedules().iter().find(|s| s.name == *name) else {
                    bail!("no schedule {name:?}; the schedules are: {}", known.join(", "));
                };
                let mut conn = pool.acquire().await?;
                let id = app::runner::db::run_now(&mut conn, schedule.name, now).await?;
                println!("queued job {id} ({name}, run now)");
                Ok(())
            }
            ["retry", id] => {
                let id: i64 = id
                    .parse()
                    .map_err(|_| anyhow::anyhow!("{id:?} is not a job id"))?;
                let mut conn = pool.acquire().await?;
                app::admin::operations::work::retry_dead_job(&mut conn, id, now).await??;
                println!("job {id} queued again");
                Ok(())
            }
            _ => bail!("usage: jobs list | jobs runs [--failed] | jobs run NAME | jobs retry ID"),
        }
    }
    .await;
    database.close().await?;
    outcome
}
