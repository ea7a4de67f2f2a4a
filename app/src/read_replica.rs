//! Reads that may trail the primary: a PostgreSQL streaming replica
//! (`GATEHOUSE_REPLICA_DATABASE_URL`) serves them when one is configured,
//! and says how far behind it is. A feature decides what may read it; this
//! module only knows the replica and how to measure it.

use sqlx::PgPool;

/// A streaming replica of the primary database.
#[derive(Clone, Debug)]
pub struct ReadReplica {
    pool: PgPool,
}

/// How far a replica trails the primary.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ReplicaLag {
    /// It has replayed everything the primary had written when asked.
    CaughtUp,
    /// It trails the primary.
    Behind {
        /// The age of the newest transaction it replayed (`None` when it has
        /// replayed none since it started).
        seconds: Option<f64>,
        /// Whether replay is paused (`pg_wal_replay_pause()`).
        paused: bool,
    },
}

impl ReplicaLag {
    /// The lag in words: "up to date with the primary", "42 s behind the
    /// primary (replay paused)".
    pub fn describe(self) -> String {
        match self {
            ReplicaLag::CaughtUp => "up to date with the primary".to_owned(),
            ReplicaLag::Behind { seconds, paused } => {
                let age = seconds.map_or_else(
                    || "behind the primary by an unknown time".to_owned(),
                    |s| format!("{} behind the primary", duration_in_words(s)),
                );
                if paused {
                    format!("{age} (replay paused)")
                } else {
                    age
                }
            }
        }
    }
}

/// Whole seconds below 90 s, whole minutes below 90 min, then hours.
fn duration_in_words(seconds: f64) -> String {
    let seconds = seconds.max(0.0);
    if seconds < 90.0 {
        format!("{} s", seconds.round() as i64)
    } else if seconds < 90.0 * 60.0 {
        format!("{} min", (seconds / 60.0).round() as i64)
    } else {
        format!("{} h", (seconds / 3600.0).round() as i64)
    }
}

/// Why a replica cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum ReplicaError {
    /// The database at the replica's address is not replaying a primary.
    #[error("the configured replica is not a standby")]
    NotAStandby,
    /// The primary or the replica did not answer.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl ReadReplica {
    /// The replica behind `pool`.
    pub fn new(pool: PgPool) -> Self {
        ReadReplica { pool }
    }

    /// Its connections.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// How far it trails `primary`: caught up when it has replayed the
    /// primary's present write position, else the age of the newest
    /// transaction it replayed. The age is the database servers' own (their
    /// clocks stamped the commits), not the application's clock.
    pub async fn lag(&self, primary: &PgPool) -> Result<ReplicaLag, ReplicaError> {
        // language=PostgreSQL
        let position = sqlx::query_scalar!(r#"select pg_current_wal_lsn()::text as "position!""#)
            .fetch_one(primary)
            .await?;
        // language=PostgreSQL
        let replica = sqlx::query!(
            r#"
            select pg_is_in_recovery() as "standby!",
                   coalesce(pg_last_wal_replay_lsn() >= $1::text::pg_lsn, false) as "caught_up!",
                   extract(epoch from now() - pg_last_xact_replay_timestamp())::float8 as behind_seconds,
                   case when pg_is_in_recovery() then pg_is_wal_replay_paused() else false end as "paused!"
            "#,
            position
        )
        .fetch_one(&self.pool)
        .await?;
        if !replica.standby {
            return Err(ReplicaError::NotAStandby);
        }
        Ok(if replica.caught_up {
            ReplicaLag::CaughtUp
        } else {
            ReplicaLag::Behind {
                seconds: replica.behind_seconds,
                paused: replica.paused,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lag_reads_in_words_at_every_scale() {
        let behind = |seconds, paused| ReplicaLag::Behind { seconds, paused };
        let cases = [
            (ReplicaLag::CaughtUp, "up to date with the primary"),
            (behind(Some(0.2), false), "0 s behind the primary"),
            (behind(Some(-3.0), false), "0 s behind the primary"),
            (
                behind(Some(42.4), true),
                "42 s behind the primary (replay paused)",
            ),
            (behind(Some(89.4), false), "89 s behind the primary"),
            (behind(Some(90.0), false), "2 min behind the primary"),
            (behind(Some(5399.0), false), "90 min behind the primary"),
            (behind(Some(5400.0), false), "2 h behind the primary"),
            (behind(Some(86_400.0 * 3.0), false), "72 h behind the primary"),
            (behind(None, false), "behind the primary by an unknown time"),
            (
                behind(None, true),
                "behind the primary by an unknown time (replay paused)",
            ),
        ];
        for (lag, words) in cases {
            assert_eq!(lag.describe(), words, "{lag:?}");
        }
    }
}
