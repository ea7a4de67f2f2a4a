//! `server`: starts Gatehouse, or runs one of its maintenance commands.

use anyhow::{Result, bail};
use server::commands;
use server::config::Settings;

// Rendering a page allocates many short-lived strings: with glibc's
// allocator, malloc and free took about a third of a signed-in page's CPU
// (perf during bench/run).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const USAGE: &str = "\
usage: server [command]

commands:
  serve               start Gatehouse (the default)
  check-catalog       validate the catalogue file and print a summary
  sync-stripe         create or update Stripe's products and prices from the catalogue
  create-admin --email ADDRESS
                      create a platform admin (password from GATEHOUSE_ADMIN_PASSWORD or stdin)
  create-api-key --name NAME [--scope read|write]
                      create a key for /api/v1 and print it (shown once)
  revoke-api-key --prefix gk_…
                      revoke an API key
  add-webhook-endpoint --url URL [--description TEXT]
                      add an outbound webhook endpoint and print its signing secret
  import-history FILE load subscription histories from a CSV file (all or nothing)
  export-analytics [--first-month YYYY-MM] [--last-month YYYY-MM]
                      print every monthly revenue figure as JSON
  seed-demo [--organizations N] [--months M] [--seed S]
                      load a realistic demo history (default 200 organisations over 12 months)
  rebuild-mrr-series  recompute every organisation's MRR series and the totals from the ledger
  jobs list | jobs runs [--failed] | jobs run NAME | jobs retry ID
                      the job runner: open jobs, latest attempts, run a schedule now, retry a dead job
  issue-license --organization ID [--machines N] [--floating true]
                      issue a self-hosted licence by hand and print its key
  verify-license --keys KEYS.json --file LICENSE [--fingerprint F]
                      check a licence file offline, as an install would (keys as GET /api/v1/licensing/keys publishes them)
  embedded-db start   start the embedded PostgreSQL cluster and print its URL
  embedded-db stop    stop the embedded PostgreSQL cluster
  embedded-db start-replica | stop-replica
                      a streaming replica of it (for GATEHOUSE_REPLICA_DATABASE_URL), printing its URL
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
    let code = match run().await {
        Ok(()) => 0,
        Err(error) => {
            eprintln!("error: {error:#}");
            1
        }
    };
    // Everything was stopped in order (requests drained, jobs waited for,
    // pool closed, cluster stopped); a detached task or a blocking thread
    // left somewhere must not keep the process alive after that.
    let _ = std::io::Write::flush(&mut std::io::stdout());
    std::process::exit(code);
}

async fn run() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let settings = Settings::from_env()?;
    server::telemetry::init_tracing(settings.log_format);
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        [] | ["serve"] => server::serve(settings).await,
        ["check-catalog"] => commands::check_catalog(&settings),
        ["sync-stripe"] => commands::sync_stripe(&settings).await,
        ["create-admin", rest @ ..] => commands::create_admin(&settings, rest).await,
        ["create-api-key", rest @ ..] => commands::create_api_key(&settings, rest).await,
        ["revoke-api-key", rest @ ..] => commands::revoke_api_key(&settings, rest).await,
        ["add-webhook-endpoint", rest @ ..] => commands::add_webhook_endpoint(&settings, rest).await,
        ["import-history", rest @ ..] => commands::import_history(&settings, rest).await,
        ["export-analytics", rest @ ..] => commands::export_analytics(&settings, rest).await,
        ["seed-demo", rest @ ..] => commands::seed_demo(&settings, rest).await,
        ["rebuild-mrr-series"] => commands::rebuild_mrr_series(&settings).await,
        ["jobs", rest @ ..] => commands::jobs(&settings, rest).await,
        ["issue-license", rest @ ..] => commands::issue_license(&settings, rest).await,
        ["verify-license", rest @ ..] => commands::verify_license(rest),
        ["embedded-db", "start"] => commands::embedded_db_start(&settings).await,
        ["embedded-db", "stop"] => commands::embedded_db_stop(&settings).await,
        ["embedded-db", "start-replica"] => commands::embedded_db_start_replica(&settings).await,
        ["embedded-db", "stop-replica"] => commands::embedded_db_stop_replica(&settings).await,
        ["help" | "--help" | "-h"] => {
            println!("{USAGE}");
            Ok(())
        }
        _ => bail!("unknown command {:?}\n\n{USAGE}", args.join(" ")),
    }
}
