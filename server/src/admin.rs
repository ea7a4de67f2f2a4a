//! Platform administrators: a role apart from organisation members, created
//! from the command line or once from the environment.

use anyhow::{Context, Result, bail};
use app::accounts::domain::{EmailAddress, Password};
use app::accounts::secrets::hash_password;
use sqlx::PgPool;

/// Creates a platform admin, or sets the password of an existing one.
/// Returns whether the admin is new.
pub async fn create_admin(pool: &PgPool, email: &str, password: &str) -> Result<bool> {
    let email = EmailAddress::parse(email).context("--email")?;
    let password = Password::parse(password).context("password")?;
    let hash = hash_password(&password).await?;
    let inserted = app::admin::sign_in::db::save_admin(pool, email.as_str(), &hash).await?;
    Ok(inserted)
}

/// On start: creates the admin named by `GATEHOUSE_ADMIN_EMAIL` and
/// `GATEHOUSE_ADMIN_PASSWORD` if no platform admin exists yet.
pub async fn bootstrap_from_env(pool: &PgPool) -> Result<()> {
    let (Ok(email), Ok(password)) = (
        std::env::var("GATEHOUSE_ADMIN_EMAIL"),
        std::env::var("GATEHOUSE_ADMIN_PASSWORD"),
    ) else {
        return Ok(());
    };
    let any = app::admin::sign_in::db::any_admin(pool).await?;
    if !any {
        create_admin(pool, &email, &password).await?;
        tracing::info!(email = %email, "created the first platform admin from the environment");
    }
    Ok(())
}

/// Reads `--email ADDRESS` from the subcommand's arguments.
pub fn email_argument(args: &[&str]) -> Result<String> {
    match args {
        ["--email", email] => Ok((*email).to_owned()),
        _ => bail!(
            "usage: server create-admin --email ADDRESS (password from GATEHOUSE_ADMIN_PASSWORD or stdin)"
        ),
    }
}
