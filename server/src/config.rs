//! One typed settings struct, read once from the environment at start-up.

use secrecy::SecretString;
use std::net::SocketAddr;
use std::path::PathBuf;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// Everything Gatehouse reads from its environment. `.env.example` documents
/// each variable.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `GATEHOUSE_ADDR`: where the HTTP server listens.
    pub addr: SocketAddr,
    /// `GATEHOUSE_PUBLIC_URL`: the site's own origin, as browsers see it.
    pub public_url: String,
    /// `DATABASE_URL`: an external PostgreSQL; unset means the embedded cluster.
    pub database_url: Option<SecretString>,
    /// `GATEHOUSE_LISTEN_DATABASE_URL`: where the change listener connects
    /// when the pool goes through a pooler that cannot hold a `LISTEN`
    /// (transaction mode); unset, it connects as the pool does.
    pub listen_database_url: Option<SecretString>,
    /// `GATEHOUSE_REPLICA_DATABASE_URL`: a streaming replica of the
    /// database, which the analytics pages and exports read when it has
    /// replayed what they must see; unset, everything reads the primary.
    pub replica_database_url: Option<SecretString>,
    /// `GATEHOUSE_LICENSE_SIGNING_KEYS`: the licence signing keys' text (see
    /// `app::licensing::keys`); unset, they are read from
    /// `license_keys_file`.
    pub license_signing_keys: Option<SecretString>,
    /// `GATEHOUSE_LICENSE_KEYS_FILE`: where the signing keys are kept when not
    /// in the environment (default: the data directory's
    /// `license-signing-keys`, made on the embedded default's first start).
    pub license_keys_file: PathBuf,
    /// `GATEHOUSE_DB_MAX_CONNECTIONS`: pool size per process.
    pub db_max_connections: u32,
    /// `GATEHOUSE_SHUTDOWN_GRACE_SECONDS`: how long a stopping process lets
    /// in-flight requests finish (default 20 s, 1 to 600); running jobs
    /// then get up to 10 s more.
    pub shutdown_grace: std::time::Duration,
    /// `GATEHOUSE_DATA_DIR`: where the embedded cluster keeps its files.
    pub data_dir: PathBuf,
    /// `GATEHOUSE_PG_BINDIR`: PostgreSQL's binaries for the embedded cluster;
    /// found automatically when unset.
    pub pg_bindir: Option<PathBuf>,
    /// `GATEHOUSE_CATALOG`: the plan catalogue file.
    pub catalog_path: PathBuf,
    /// `GATEHOUSE_CONTENT`: the marketing copy.
    pub content_path: PathBuf,
    /// `GATEHOUSE_SITE_ROOT`: the built site (scripts, styles, public files).
    pub site_root: PathBuf,
    /// `GATEHOUSE_LOG_FORMAT`: `text` or `json`.
    pub log_format: LogFormat,
    /// `GATEHOUSE_SMTP_URL`: `smtp://host:port` (plain, local sinks),
    /// `smtp://user:pass@host:587?tls=required` or `smtps://…`. Unset: mail
    /// stays in the outbox and, on local runs, shows at `/dev/mailbox`.
    pub smtp_url: Option<SecretString>,
    /// `GATEHOUSE_CLOCK_OFFSET_FILE`: for tests of several processes only. The
    /// process's clock runs ahead of the wall clock by the whole seconds
    /// this file holds, re-read every 100 ms, so a test can walk every
    /// process through days at once. Unset (always, in production): the
    /// wall clock.
    pub clock_offset_file: Option<PathBuf>,
    /// `GATEHOUSE_MAIL_FROM`: the sender of every email.
    pub mail_from: String,
    /// `GATEHOUSE_TRUST_FORWARDED_FOR`: `true` behind a proxy that sets
    /// `X-Forwarded-For` (client addresses for throttling come from it).
    pub trust_forwarded_for: bool,
    /// `GATEHOUSE_WEBHOOK_PRIVATE_HOSTS`: private hosts (names or addresses,
    /// comma-separated) outbound webhooks may reach, for self-hosted setups;
    /// unset, only public addresses are.
    pub webhook_private_hosts: app::outbound::address::PrivateHosts,
    /// `GATEHOUSE_SESSION_IDLE_MINUTES`: sessions end after this much inactivity.
    pub session_idle_minutes: i64,
    /// `GATEHOUSE_API_REQUESTS_PER_MINUTE`: requests one API key may make
    /// per minute, as a burst (default 6,000).
    pub api_requests_per_minute: u32,
    /// `GATEHOUSE_LICENSE_CHECKS_PER_MINUTE`: licence requests one licence
    /// key may make per minute, as a burst (default 60); one client address
    /// may make five times as many.
    pub license_checks_per_minute: u32,
    /// `GATEHOUSE_STRIPE_WEBHOOK_SECRET`: the `whsec_…` signing secret of
    /// the Stripe webhook endpoint. Unset: `/webhooks/stripe` answers 404.
    pub stripe_webhook_secret: Option<SecretString>,
    /// `GATEHOUSE_STRIPE_SECRET_KEY`: Stripe's secret key (`sk_…`). Set: Stripe
    /// is the payment provider. Unset: the built-in sandbox (test mode) is.
    pub stripe_secret_key: Option<SecretString>,
    /// `GATEHOUSE_STRIPE_API_BASE`: where Stripe's API is reached (a proxy, a
    /// mock in tests); unset means Stripe itself.
    pub stripe_api_base: Option<String>,
}

impl Settings {
    /// Whether the site is served over TLS (secure cookies, HSTS).
    pub fn is_https(&self) -> bool {
        self.public_url.starts_with("https://")
    }

    /// Whether the public URL is this machine (local development).
    pub fn is_local(&self) -> bool {
        let authority = self.public_url.split_once("://").map_or("", |(_, rest)| {
            rest.split(['/', '?', '#']).next().unwrap_or_default()
        });
        let host = match authority.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or_default(),
            None => authority.split(':').next().unwrap_or_default(),
        };
        matches!(host, "127.0.0.1" | "localhost" | "::1")
    }
}

/// A variable that is set but cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{variable}: {problem}")]
pub struct SettingsError {
    /// The variable's name.
    pub variable: &'static str,
    /// What is wrong with its value.
    pub problem: String,
}

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, SettingsError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup`, so tests need not touch the process
    /// environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let addr: SocketAddr = match get("GATEHOUSE_ADDR") {
            None => SocketAddr::from(([127, 0, 0, 1], 3000)),
            Some(raw) => raw.parse().map_err(|_| SettingsError {
                variable: "GATEHOUSE_ADDR",
                problem: format!("\"{raw}\" is not an address such as 127.0.0.1:3000"),
            })?,
        };
        let public_url = match get("GATEHOUSE_PUBLIC_URL") {
            None => format!("http://{addr}"),
            Some(raw) if raw.starts_with("http://") || raw.starts_with("https://") => {
                raw.trim_end_matches('/').to_owned()
            }
            Some(raw) => {
                return Err(SettingsError {
                    variable: "GATEHOUSE_PUBLIC_URL",
                    problem: format!("\"{raw}\" must start with http:// or https://"),
                });
            }
        };
        let shutdown_grace = match get("GATEHOUSE_SHUTDOWN_GRACE_SECONDS") {
            None => std::time::Duration::from_secs(20),
            Some(raw) => match raw.parse::<u64>() {
                Ok(n) if (1..=600).contains(&n) => std::time::Duration::from_secs(n),
                _ => {
                    return Err(SettingsError {
                        variable: "GATEHOUSE_SHUTDOWN_GRACE_SECONDS",
                        problem: format!("\"{raw}\" is not a number of seconds from 1 to 600"),
                    });
                }
            },
        };
        let db_max_connections = match get("GATEHOUSE_DB_MAX_CONNECTIONS") {
            None => 10,
            Some(raw) => match raw.parse::<u32>() {
                Ok(n) if (1..=1000).contains(&n) => n,
                _ => {
                    return Err(SettingsError {
                        variable: "GATEHOUSE_DB_MAX_CONNECTIONS",
                        problem: format!("\"{raw}\" is not a number from 1 to 1000"),
                    });
                }
            },
        };
        let log_format = match get("GATEHOUSE_LOG_FORMAT").as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(SettingsError {
                    variable: "GATEHOUSE_LOG_FORMAT",
                    problem: format!("\"{other}\" is neither \"text\" nor \"json\""),
                });
            }
        };
        let trust_forwarded_for = match get("GATEHOUSE_TRUST_FORWARDED_FOR").as_deref() {
            None | Some("false") | Some("0") => false,
            Some("true") | Some("1") => true,
            Some(other) => {
                return Err(SettingsError {
                    variable: "GATEHOUSE_TRUST_FORWARDED_FOR",
                    problem: format!("\"{other}\" is neither \"true\" nor \"false\""),
                });
            }
        };
        let session_idle_minutes = match get("GATEHOUSE_SESSION_IDLE_MINUTES") {
            None => 12 * 60,
            Some(raw) => match raw.parse::<i64>() {
                Ok(n) if (5..=60 * 24 * 30).contains(&n) => n,
                _ => {
                    return Err(SettingsError {
                        variable: "GATEHOUSE_SESSION_IDLE_MINUTES",
                        problem: format!("\"{raw}\" is not a number of minutes from 5 to 43200"),
                    });
                }
            },
        };
        let license_checks_per_minute = match get("GATEHOUSE_LICENSE_CHECKS_PER_MINUTE") {
            None => 60,
            Some(raw) => match raw.parse::<u32>() {
                Ok(n) if (1..=1_000_000).contains(&n) => n,
                _ => {
                    return Err(SettingsError {
                        variable: "GATEHOUSE_LICENSE_CHECKS_PER_MINUTE",
                        problem: format!("\"{raw}\" is not a number of requests from 1 to 1000000"),
                    });
                }
            },
        };
        let api_requests_per_minute = match get("GATEHOUSE_API_REQUESTS_PER_MINUTE") {
            None => 6000,
            Some(raw) => match raw.parse::<u32>() {
                // At most 100,000 a second: the throttle counts in microseconds.
                Ok(n) if (1..=6_000_000).contains(&n) => n,
                _ => {
                    return Err(SettingsError {
                        variable: "GATEHOUSE_API_REQUESTS_PER_MINUTE",
                        problem: format!("\"{raw}\" is not a number of requests from 1 to 6000000"),
                    });
                }
            },
        };
        let replica_database_url = get("GATEHOUSE_REPLICA_DATABASE_URL");
        // sqlx reads any scheme as PostgreSQL's, so the scheme is checked here.
        if let Some(url) = &replica_database_url
            && (!(url.starts_with("postgres://") || url.starts_with("postgresql://"))
                || url.parse::<sqlx::postgres::PgConnectOptions>().is_err())
        {
            return Err(SettingsError {
                variable: "GATEHOUSE_REPLICA_DATABASE_URL",
                problem: "is not a PostgreSQL URL (postgres://user@host/database)".to_owned(),
            });
        }
        Ok(Settings {
            addr,
            replica_database_url: replica_database_url.map(SecretString::from),
            api_requests_per_minute,
            license_checks_per_minute,
            public_url,
            database_url: get("DATABASE_URL").map(SecretString::from),
            listen_database_url: get("GATEHOUSE_LISTEN_DATABASE_URL").map(SecretString::from),
            license_signing_keys: get("GATEHOUSE_LICENSE_SIGNING_KEYS").map(SecretString::from),
            license_keys_file: get("GATEHOUSE_LICENSE_KEYS_FILE").map_or_else(
                || {
                    get("GATEHOUSE_DATA_DIR")
                        .map_or_else(|| PathBuf::from(".gatehouse"), PathBuf::from)
                        .join("license-signing-keys")
                },
                PathBuf::from,
            ),
            db_max_connections,
            shutdown_grace,
            data_dir: get("GATEHOUSE_DATA_DIR").map_or_else(|| PathBuf::from(".gatehouse"), PathBuf::from),
            pg_bindir: get("GATEHOUSE_PG_BINDIR").map(PathBuf::from),
            catalog_path: get("GATEHOUSE_CATALOG")
                .map_or_else(|| PathBuf::from("catalog/catalog.toml"), PathBuf::from),
            content_path: get("GATEHOUSE_CONTENT")
                .map_or_else(|| PathBuf::from("content/site.toml"), PathBuf::from),
            site_root: get("GATEHOUSE_SITE_ROOT").map_or_else(|| PathBuf::from("target/site"), PathBuf::from),
            log_format,
            smtp_url: get("GATEHOUSE_SMTP_URL").map(SecretString::from),
            clock_offset_file: get("GATEHOUSE_CLOCK_OFFSET_FILE").map(PathBuf::from),
            mail_from: get("GATEHOUSE_MAIL_FROM")
                .unwrap_or_else(|| "Forgeline <no-reply@localhost>".to_owned()),
            trust_forwarded_for,
            webhook_private_hosts: app::outbound::address::PrivateHosts::parse(
                &get("GATEHOUSE_WEBHOOK_PRIVATE_HOSTS").unwrap_or_default(),
            ),
            session_idle_minutes,
            stripe_webhook_secret: get("GATEHOUSE_STRIPE_WEBHOOK_SECRET").map(SecretString::from),
            stripe_secret_key: get("GATEHOUSE_STRIPE_SECRET_KEY").map(SecretString::from),
            stripe_api_base: match get("GATEHOUSE_STRIPE_API_BASE") {
                None => None,
                Some(raw) if raw.starts_with("http://") || raw.starts_with("https://") => {
                    Some(format!("{}/", raw.trim_end_matches('/')))
                }
                Some(raw) => {
                    return Err(SettingsError {
                        variable: "GATEHOUSE_STRIPE_API_BASE",
                        problem: format!("\"{raw}\" must start with http:// or https://"),
                    });
                }
            },
        })
    }
}

/// The licence signing keys: the environment's text, else the key file's;
/// `None` (licensing answers 503) when neither is there or readable, which
/// is logged, the secret never.
pub fn license_signing_keys(settings: &Settings) -> Option<app::licensing::keys::SigningKeys> {
    let text = match &settings.license_signing_keys {
        Some(text) => secrecy::ExposeSecret::expose_secret(text).to_owned(),
        None => std::fs::read_to_string(&settings.license_keys_file).ok()?,
    };
    match app::licensing::keys::SigningKeys::parse(&text) {
        Ok(keys) => Some(keys),
        Err(error) => {
            tracing::error!(%error, "licence signing keys are unusable; licensing is off");
            None
        }
    }
}

/// On the embedded default's first start, makes the key file with one new
/// active key (readable by its owner only); checks a configured one reads.
pub fn ensure_license_signing_keys(
    settings: &Settings,
    embedded: bool,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<()> {
    use anyhow::Context;
    if let Some(text) = &settings.license_signing_keys {
        app::licensing::keys::SigningKeys::parse(secrecy::ExposeSecret::expose_secret(text))
            .context("GATEHOUSE_LICENSE_SIGNING_KEYS")?;
        return Ok(());
    }
    let path = &settings.license_keys_file;
    if path.exists() {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        app::licensing::keys::SigningKeys::parse(&text).with_context(|| path.display().to_string())?;
        return Ok(());
    }
    if !embedded {
        tracing::warn!(
            "no licence signing keys (GATEHOUSE_LICENSE_SIGNING_KEYS or GATEHOUSE_LICENSE_KEYS_FILE): licensing is off"
        );
        return Ok(());
    }
    let (mut seed, mut secret) = ([0u8; 32], [0u8; 32]);
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut seed);
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut secret);
    let id = format!("gh-{}", now.format("%Y-%m-%d"));
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let text = app::licensing::keys::SigningKeys::generate_text(&id, seed, secret);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    std::io::Write::write_all(&mut options.open(path)?, text.as_bytes())?;
    tracing::info!(key_id = %id, file = %path.display(), "made a licence signing key");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Settings::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn defaults_listen_locally_on_the_embedded_database() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.addr.to_string(), "127.0.0.1:3000");
        assert_eq!(s.public_url, "http://127.0.0.1:3000");
        assert!(s.database_url.is_none());
        assert_eq!(s.catalog_path, PathBuf::from("catalog/catalog.toml"));
    }

    #[test]
    fn local_and_tls_modes_follow_the_public_url() {
        let local = settings(&[]).unwrap();
        assert!(local.is_local() && !local.is_https());
        let live = settings(&[("GATEHOUSE_PUBLIC_URL", "https://billing.example.com")]).unwrap();
        assert!(!live.is_local() && live.is_https());
        let spoof = settings(&[("GATEHOUSE_PUBLIC_URL", "https://localhost.example.com")]).unwrap();
        assert!(!spoof.is_local());
    }

    #[test]
    fn a_database_url_is_kept_secret_in_debug_output() {
        let s = settings(&[("DATABASE_URL", "postgres://u:hunter2@db/x")]).unwrap();
        assert_eq!(
            s.database_url.as_ref().unwrap().expose_secret(),
            "postgres://u:hunter2@db/x"
        );
        assert!(!format!("{s:?}").contains("hunter2"));
        let s = settings(&[("GATEHOUSE_REPLICA_DATABASE_URL", "postgres://u:hunter2@replica/x")]).unwrap();
        assert!(s.replica_database_url.is_some());
        assert!(!format!("{s:?}").contains("hunter2"));
    }

    #[test]
    fn bad_values_name_the_variable() {
        let cases = [
            (
                "GATEHOUSE_ADDR",
                "localhost",
                "GATEHOUSE_ADDR: \"localhost\" is not an address",
            ),
            (
                "GATEHOUSE_PUBLIC_URL",
                "example.com",
                "GATEHOUSE_PUBLIC_URL: \"example.com\" must start",
            ),
            (
                "GATEHOUSE_DB_MAX_CONNECTIONS",
                "0",
                "GATEHOUSE_DB_MAX_CONNECTIONS: \"0\" is not a number",
            ),
            (
                "GATEHOUSE_LOG_FORMAT",
                "xml",
                "GATEHOUSE_LOG_FORMAT: \"xml\" is neither",
            ),
            (
                "GATEHOUSE_REPLICA_DATABASE_URL",
                "replica.internal:5432",
                "GATEHOUSE_REPLICA_DATABASE_URL: is not a PostgreSQL URL",
            ),
            (
                "GATEHOUSE_REPLICA_DATABASE_URL",
                "postgres://replica:notaport/x",
                "GATEHOUSE_REPLICA_DATABASE_URL: is not a PostgreSQL URL",
            ),
            (
                "GATEHOUSE_REPLICA_DATABASE_URL",
                "mysql://u:hunter2@replica/x",
                "GATEHOUSE_REPLICA_DATABASE_URL: is not a PostgreSQL URL",
            ),
        ];
        for (variable, value, expected) in cases {
            let error = settings(&[(variable, value)]).unwrap_err().to_string();
            assert!(error.starts_with(expected), "{variable}={value}: {error}");
        }
    }
}
