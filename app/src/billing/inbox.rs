//! The provider-event inbox: every event, from Stripe's webhooks or from the
//! sandbox, is stored here under its provider id before anything acts on it.

use super::provider::ProviderName;
use sqlx::PgConnection;

/// The channel that wakes event workers when an event is stored.
pub const INBOX_CHANNEL: &str = "gatehouse_webhook_received";

/// An event to store.
#[derive(Debug, Clone)]
pub struct IncomingEvent<'a> {
    /// Who sent it.
    pub provider: ProviderName,
    /// The provider's event id (the dedupe key).
    pub provider_event_id: &'a str,
    /// The provider's type name, e.g. `customer.subscription.updated`.
    pub event_type: &'a str,
    /// Live or test mode.
    pub livemode: bool,
    /// When the provider created it, Unix seconds (fractions allowed).
    pub created: f64,
    /// The whole event as received.
    pub payload: &'a serde_json::Value,
}

/// Stores an event once, in the caller's transaction; returns whether it was
/// new. Workers are woken when the transaction commits.
pub async fn store_event(conn: &mut PgConnection, event: &IncomingEvent<'_>) -> Result<bool, sqlx::Error> {
    // language=PostgreSQL
    let inserted = sqlx::query_scalar!(
        r#"
        insert into webhook_event (provider, provider_event_id, event_type, livemode, provider_created_at, payload)
        values ($1, $2, $3, $4, to_timestamp($5), $6)
        on conflict (provider, provider_event_id) do nothing
        returning webhook_event_id
        "#,
        event.provider.as_str(),
        event.provider_event_id,
        event.event_type,
        event.livemode,
        event.created,
        event.payload
    )
    .fetch_optional(&mut *conn)
    .await?;
    if inserted.is_some() {
        // language=PostgreSQL
        sqlx::query!("select pg_notify($1, '')", INBOX_CHANNEL)
            .execute(&mut *conn)
            .await?;
    }
    Ok(inserted.is_some())
}
