//! The inbox as the console's events pages read and retry it.

use super::domain::ProviderEventStatus;
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// A stored provider event, as the console lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    /// Its row.
    pub webhook_event_id: Uuid,
    /// Who sent it.
    pub provider: String,
    /// The provider's id for it.
    pub provider_event_id: String,
    /// Its type.
    pub event_type: String,
    /// Its status, as stored.
    pub status: String,
    /// Attempts so far.
    pub attempts: i32,
    /// Why its last attempt failed, or why it matched nothing.
    pub last_error: Option<String>,
    /// When it arrived.
    pub received_at: DateTime<Utc>,
}

/// The newest `limit` events in `status`.
pub async fn list(
    pool: &PgPool,
    status: ProviderEventStatus,
    limit: i64,
) -> Result<Vec<StoredEvent>, sqlx::Error> {
    // language=PostgreSQL
    let rows = sqlx::query!(
        r#"select webhook_event_id, provider, provider_event_id, event_type, status, attempts, last_error,
                  received_at as "received_at: DateTime<Utc>"
           from webhook_event where status = $1 order by received_at desc limit $2"#,
        status.as_str(),
        limit
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| StoredEvent {
            webhook_event_id: r.webhook_event_id,
            provider: r.provider,
            provider_event_id: r.provider_event_id,
            event_type: r.event_type,
            status: r.status,
            attempts: r.attempts,
            last_error: r.last_error,
            received_at: r.received_at,
        })
        .collect())
}

/// One event with its payload as received (decoded JSON, pretty, or the raw body).
pub async fn with_payload(
    pool: &PgPool,
    webhook_event_id: Uuid,
) -> Result<Option<(StoredEvent, String)>, sqlx::Error> {
    // language=PostgreSQL
    let row = sqlx::query!(
        r#"select webhook_event_id, provider, provider_event_id, event_type, status, attempts, last_error,
                  received_at as "received_at: DateTime<Utc>", payload, raw_body
           from webhook_event where webhook_event_id = $1"#,
        webhook_event_id
    )
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|row| {
        let payload = match (&row.payload, &row.raw_body) {
            (Some(payload), _) => serde_json::to_string_pretty(payload).unwrap_or_default(),
            (None, Some(raw)) => String::from_utf8_lossy(raw).into_owned(),
            (None, None) => String::new(),
        };
        let event = StoredEvent {
            webhook_event_id: row.webhook_event_id,
            provider: row.provider,
            provider_event_id: row.provider_event_id,
            event_type: row.event_type,
            status: row.status,
            attempts: row.attempts,
            last_error: row.last_error,
            received_at: row.received_at,
        };
        (event, payload)
    }))
}

/// Puts a failed or unmatched event back in the queue, due at `now`, in
/// the caller's transaction. Returns its status before, or `None` when it
/// is neither (or missing).
pub async fn requeue(
    conn: &mut PgConnection,
    webhook_event_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Option<String>, sqlx::Error> {
    // language=PostgreSQL
    sqlx::query_scalar!(
        "update webhook_event w set status = $3, next_attempt_at = $2
         from (select status from webhook_event where webhook_event_id = $1 for update) old
         where w.webhook_event_id = $1 and old.status = any($4)
         returning old.status",
        webhook_event_id,
        now as _,
        ProviderEventStatus::Pending.as_str(),
        &ProviderEventStatus::words_where(ProviderEventStatus::can_be_requeued) as &[&str]
    )
    .fetch_optional(&mut *conn)
    .await
}
