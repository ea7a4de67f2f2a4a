//! The embedded default database: a private PostgreSQL cluster in a
//! project-local directory, run with the machine's own PostgreSQL binaries,
//! listening on a unix socket only.
//!
//! PostgreSQL refuses to run as root, so when Gatehouse runs as root the
//! cluster's commands run as the `postgres` system user (through `runuser`).

use anyhow::{Context, Result, anyhow, bail};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::process::Command;

/// The system user that runs the cluster when Gatehouse itself is root.
const CLUSTER_OWNER: &str = "postgres";
/// Socket paths longer than this risk the 107-byte `sun_path` limit.
const MAX_SOCKET_DIR_LEN: usize = 80;

/// A private PostgreSQL cluster owned by this checkout.
#[derive(Debug)]
pub struct EmbeddedPostgres {
    bindir: PathBuf,
    data_dir: PathBuf,
    socket_dir: PathBuf,
    log_file: PathBuf,
    run_as_owner: bool,
    started_here: bool,
}

impl EmbeddedPostgres {
    /// Finds PostgreSQL's binaries and lays out the cluster's directories
    /// below `root` (falling back to the temp directory when the cluster's
    /// owner could not reach `root`). Nothing is started yet.
    pub async fn prepare(root: &Path, bindir: Option<&Path>) -> Result<Self> {
        let bindir = match bindir {
            Some(dir) => dir.to_owned(),
            None => find_bindir().await?,
        };
        for tool in ["initdb", "pg_ctl", "postgres"] {
            if !bindir.join(tool).exists() {
                bail!(
                    "{} has no {tool}: install PostgreSQL (apt-get install postgresql) or set GATEHOUSE_PG_BINDIR",
                    bindir.display()
                );
            }
        }
        let run_as_owner = running_as_root()?;
        let mut root = std::path::absolute(root).context("Failed to resolve the data directory")?;
        std::fs::create_dir_all(&root).with_context(|| format!("Failed to create {}", root.display()))?;
        if run_as_owner && !owner_can_enter(&root).await {
            let fallback = std::env::temp_dir().join(format!("gatehouse-pg-{}", short_hash(&root)));
            tracing::warn!(
                wanted = %root.display(),
                using = %fallback.display(),
                "the postgres user cannot reach the data directory; keeping the cluster in the temp directory"
            );
            root = fallback;
            std::fs::create_dir_all(&root)?;
        }
        let cluster_root = root.join("postgres");
        std::fs::create_dir_all(&cluster_root)?;
        let mut socket_dir = cluster_root.join("run");
        if socket_dir.as_os_str().len() > MAX_SOCKET_DIR_LEN {
            socket_dir = std::env::temp_dir().join(format!("gatehouse-sock-{}", short_hash(&root)));
        }
        std::fs::create_dir_all(&socket_dir)?;
        if run_as_owner {
            chown_to_owner(&cluster_root).await?;
            chown_to_owner(&socket_dir).await?;
        }
        Ok(EmbeddedPostgres {
            bindir,
            data_dir: cluster_root.join("data"),
            socket_dir,
            log_file: cluster_root.join("postgres.log"),
            run_as_owner,
            started_here: false,
        })
    }

    /// Creates the cluster on first use and starts it unless it already runs.
    pub async fn start(&mut self) -> Result<()> {
        if !self.data_dir.join("PG_VERSION").exists() {
            tracing::info!(data_dir = %self.data_dir.display(), "creating the embedded PostgreSQL cluster");
            let data_dir = self.data_dir.display().to_string();
            self.run(
                "initdb",
                &[
                    "-D",
                    &data_dir,
                    "-U",
                    "postgres",
                    "-A",
                    "trust",
                    "-E",
                    "UTF8",
                    "--no-locale",
                    "--no-sync",
                ],
            )
            .await
            .context("initdb failed")?;
        }
        if self.is_running().await {
            tracing::info!("reusing the embedded PostgreSQL cluster that is already running");
            return Ok(());
        }
        let options = format!(
            "-c listen_addresses='' -c unix_socket_directories='{}' -c max_connections=200",
            self.socket_dir.display()
        );
        let data_dir = self.data_dir.display().to_string();
        let log_file = self.log_file.display().to_string();
        self.run(
            "pg_ctl",
            &[
                "-D", &data_dir, "-l", &log_file, "-o", &options, "-w", "-t", "60", "start",
            ],
        )
        .await
        .with_context(|| format!("pg_ctl start failed; see {log_file}"))?;
        self.started_here = true;
        Ok(())
    }

    /// A streaming replica of this (running) cluster below `root`: the
    /// first call copies the cluster with `pg_basebackup -R`, which leaves
    /// it configured to follow this one; [`EmbeddedPostgres::start`] starts
    /// it. For trying `GATEHOUSE_REPLICA_DATABASE_URL` on one machine.
    pub async fn replica(&self, root: &Path) -> Result<Self> {
        let replica = Self::prepare(root, Some(&self.bindir)).await?;
        if !replica.data_dir.join("PG_VERSION").exists() {
            let (data_dir, primary) = (
                replica.data_dir.display().to_string(),
                self.socket_dir.display().to_string(),
            );
            replica
                .run(
                    "pg_basebackup",
                    &[
                        "-h",
                        &primary,
                        "-U",
                        "postgres",
                        "-D",
                        &data_dir,
                        "-R",
                        "-X",
                        "stream",
                        "--checkpoint=fast",
                        "--no-sync",
                    ],
                )
                .await
                .context("pg_basebackup failed")?;
        }
        Ok(replica)
    }

    /// A connection URL for `database` over the cluster's socket.
    pub fn url(&self, database: &str) -> String {
        format!(
            "postgres://postgres@localhost/{database}?host={}",
            self.socket_dir.display()
        )
    }

    /// Whether this process started the cluster (and so should stop it).
    pub fn started_here(&self) -> bool {
        self.started_here
    }

    /// Stops the cluster, letting connected sessions finish their transactions.
    pub async fn stop(&self) -> Result<()> {
        let data_dir = self.data_dir.display().to_string();
        self.run("pg_ctl", &["-D", &data_dir, "-m", "fast", "-w", "stop"])
            .await
    }

    async fn is_running(&self) -> bool {
        let data_dir = self.data_dir.display().to_string();
        self.run("pg_ctl", &["-D", &data_dir, "status"]).await.is_ok()
    }

    async fn run(&self, tool: &str, args: &[&str]) -> Result<()> {
        let program = self.bindir.join(tool);
        let mut command = if self.run_as_owner {
            let mut c = Command::new("runuser");
            c.args(["-u", CLUSTER_OWNER, "--"]).arg(&program);
            c
        } else {
            Command::new(&program)
        };
        // pg_ctl's server inherits stdio; keep it off ours so start-up output
        // and the server's log do not interleave.
        let output = command
            .args(args)
            .current_dir(std::env::temp_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(false)
            .output();
        let output = tokio::time::timeout(Duration::from_secs(120), output)
            .await
            .map_err(|_| anyhow!("{tool} did not finish within 120 s"))?
            .with_context(|| format!("Failed to run {}", program.display()))?;
        if output.status.success() {
            Ok(())
        } else {
            bail!(
                "{tool} exited with {}: {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            )
        }
    }
}

fn running_as_root() -> Result<bool> {
    // The owner of /proc/self is the process's effective user.
    Ok(std::fs::metadata("/proc/self")
        .context("Failed to read /proc/self")?
        .uid()
        == 0)
}

fn short_hash(path: &Path) -> String {
    let mut hasher = DefaultHasher::new();
    path.hash(&mut hasher);
    format!("{:016x}", hasher.finish())
}

/// Whether the cluster's owner can reach `dir` (every ancestor must be
/// searchable by it, which `access(2)` checks along the whole path).
async fn owner_can_enter(dir: &Path) -> bool {
    Command::new("runuser")
        .args(["-u", CLUSTER_OWNER, "--", "test", "-x"])
        .arg(dir)
        .status()
        .await
        .is_ok_and(|s| s.success())
}

async fn chown_to_owner(path: &Path) -> Result<()> {
    let status = Command::new("chown")
        .arg("-R")
        .arg(format!("{CLUSTER_OWNER}:"))
        .arg(path)
        .status()
        .await
        .context("Failed to run chown")?;
    if !status.success() {
        bail!(
            "could not give {} to the {CLUSTER_OWNER} user (is PostgreSQL installed?)",
            path.display()
        );
    }
    Ok(())
}

/// Finds the newest installed PostgreSQL's binaries: `pg_config --bindir`,
/// then Debian's `/usr/lib/postgresql/<version>/bin`.
async fn find_bindir() -> Result<PathBuf> {
    let mut candidates = Vec::new();
    if let Ok(output) = Command::new("pg_config").arg("--bindir").output().await
        && output.status.success()
    {
        candidates.push(PathBuf::from(String::from_utf8_lossy(&output.stdout).trim()));
    }
    if let Ok(entries) = std::fs::read_dir("/usr/lib/postgresql") {
        let mut versions: Vec<(u32, PathBuf)> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let version = e.file_name().to_string_lossy().parse::<u32>().ok()?;
                Some((version, e.path().join("bin")))
            })
            .collect();
        versions.sort_by_key(|(version, _)| std::cmp::Reverse(*version));
        candidates.extend(versions.into_iter().map(|(_, path)| path));
    }
    candidates
        .into_iter()
        .find(|dir| dir.join("initdb").exists() && dir.join("pg_ctl").exists())
        .ok_or_else(|| {
            anyhow!(
                "no PostgreSQL server binaries found: run scripts/setup (it installs Debian's postgresql), \
                 set GATEHOUSE_PG_BINDIR, or set DATABASE_URL to use an existing server"
            )
        })
}

/// Creates `database` in the cluster at `maintenance_url` unless it exists.
pub async fn ensure_database(maintenance_url: &str, database: &str) -> Result<()> {
    use sqlx::Connection;
    if !database.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        bail!("database name {database:?} must be letters, digits and underscores");
    }
    let mut conn = sqlx::PgConnection::connect(maintenance_url)
        .await
        .context("Failed to connect to the embedded cluster")?;
    // language=PostgreSQL
    let exists = sqlx::query_scalar!(
        r#"select exists(select 1 from pg_database where datname = $1) as "exists!""#,
        database
    )
    .fetch_one(&mut conn)
    .await?;
    if !exists {
        // The name was checked above; identifiers cannot be bound as parameters.
        sqlx::raw_sql(&format!("create database \"{database}\""))
            .execute(&mut conn)
            .await
            .with_context(|| format!("Failed to create database {database}"))?;
    }
    Ok(())
}
