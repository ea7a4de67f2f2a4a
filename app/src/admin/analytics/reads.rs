//! Where the analytics page and its downloads read: the streaming replica
//! when one is configured and has replayed what the admin must see, else
//! the primary; and what the page says about it.

use crate::error::AppError;

/// Where the analytics figures are read, and what the page says of it.
pub struct AnalyticsReads {
    /// The database to read.
    pub pool: sqlx::PgPool,
    /// Whether that is the replica (a failed read there retries the primary).
    pub on_replica: bool,
    /// Where the figures come from and how old they are; `None` without a replica.
    pub freshness: Option<String>,
}

/// The replica when one is configured, answers, and has replayed the
/// admin's own last change (so an import shows at once); else the primary.
pub async fn analytics_reads(
    primary: &sqlx::PgPool,
    replica: Option<&crate::read_replica::ReadReplica>,
    admin_id: uuid::Uuid,
) -> AnalyticsReads {
    use crate::admin::audited::last_audit_entry;
    use crate::read_replica::{ReplicaError, ReplicaLag};
    let from_primary = |why: &str| AnalyticsReads {
        pool: primary.clone(),
        on_replica: false,
        freshness: Some(format!("Figures read from the primary: {why}.")),
    };
    let Some(replica) = replica else {
        return AnalyticsReads {
            pool: primary.clone(),
            on_replica: false,
            freshness: None,
        };
    };
    let checked = async {
        let lag = replica.lag(primary).await?;
        let own_change_replayed = lag == ReplicaLag::CaughtUp
            || last_audit_entry(primary, admin_id).await?
                <= last_audit_entry(replica.pool(), admin_id).await?;
        Ok::<_, ReplicaError>((lag, own_change_replayed))
    };
    match checked.await {
        Ok((lag, true)) => AnalyticsReads {
            pool: replica.pool().clone(),
            on_replica: true,
            freshness: Some(format!("Figures read from the replica, {}.", lag.describe())),
        },
        Ok((_, false)) => from_primary("the replica has not yet replayed your last change"),
        Err(error) => {
            tracing::warn!(%error, "analytics reads the primary: the replica cannot be read");
            from_primary(&error_in_words(&error))
        }
    }
}

fn error_in_words(error: &crate::read_replica::ReplicaError) -> String {
    match error {
        crate::read_replica::ReplicaError::NotAStandby => error.to_string(),
        crate::read_replica::ReplicaError::Database(_) => "the replica did not answer".to_owned(),
    }
}

/// [`report_of`](super::report_of) on `reads`, and on the primary if the replica fails
/// (a standby may cancel a read that conflicts with what it replays).
pub async fn report_from(
    reads: &AnalyticsReads,
    primary: &sqlx::PgPool,
    first: Option<String>,
    last: Option<String>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<super::WindowedReport, AppError> {
    match super::report_of(&reads.pool, first.clone(), last.clone(), now).await {
        Err(AppError::Internal) if reads.on_replica => super::report_of(primary, first, last, now).await,
        found => found,
    }
}
