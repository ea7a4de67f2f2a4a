//! The provider-event inbox: every event, from Stripe's webhooks or from the
//! sandbox, is stored here under its provider id before anything acts on it;
//! workers on any number of instances claim and mark events here.
//!
//! Events are claimed per *subject* (the provider customer they concern):
//! one worker takes all of a subject's due events at once, in the order the
//! provider made them, while other workers take other subjects. A subject
//! in the hands of one worker is skipped by the others (an advisory lock
//! held for the claiming transaction), so one customer's events are never
//! applied by two workers at once, and one re-read of a subscription serves
//! all of its waiting events.

use super::domain::BillingEvent;
use super::provider::ProviderName;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use sqlx::PgConnection;
use uuid::Uuid;

/// The channel that wakes event workers when an event is stored.
pub const INBOX_CHANNEL: &str = "gatehouse_webhook_received";

/// Most events claimed in one batch.
pub const MAX_BATCH: i64 = 500;

/// Longest provider event id stored (the table's rule).
pub const MAX_EVENT_ID_LEN: usize = 255;

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
    /// When the provider created it: the time its change happened.
    pub created: DateTime<Utc>,
    /// The whole event as JSON text, as it will be kept.
    pub payload: &'a str,
    /// The event decoded.
    pub decoded: &'a BillingEvent,
    /// The body as received, when `payload` had to differ from it.
    pub raw_body: Option<&'a [u8]>,
}

/// An event that cannot be stored as one (an unreadable signed body, a time
/// out of range): kept as `rejected` with its reason and raw body, so it is
/// acknowledged, never retried by the provider, and visible to operators.
#[derive(Debug, Clone)]
pub struct RejectedEvent<'a> {
    /// Who sent it.
    pub provider: ProviderName,
    /// The body as received.
    pub raw_body: &'a [u8],
    /// Its id, if it had a storable one.
    pub provider_event_id: Option<&'a str>,
    /// Its type, if it had a storable one.
    pub event_type: Option<&'a str>,
    /// Why it was rejected, for operators.
    pub reason: &'a str,
}

/// Whether a provider's event id can be stored and used as the dedupe key.
pub fn is_storable_event_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_EVENT_ID_LEN && !id.chars().any(char::is_control)
}

/// Whether a time can be stored and ordered (years 1970 to 9999).
pub fn is_storable_time(time: DateTime<Utc>) -> bool {
    use chrono::Datelike;
    (1970..=9999).contains(&time.year())
}

/// Stores an event received at `now` once, due at once, in the caller's
/// transaction; returns whether it was new. Workers are woken when the
/// transaction commits.
pub async fn store_event(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    event: &IncomingEvent<'_>,
) -> Result<bool, sqlx::Error> {
    let decoded = serde_json::to_value(event.decoded).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    // language=PostgreSQL
    let inserted = sqlx::query_scalar!(
        r#"
        insert into webhook_event (provider, provider_event_id, event_type, livemode, provider_created_at, payload,
                                   decoded, subject, raw_body, received_at, next_attempt_at)
        values ($1, $2, $3, $4, $5, ($6::text)::jsonb, $7, $8, $9, $10, $10)
        on conflict (provider, provider_event_id) do nothing
        returning webhook_event_id
        "#,
        event.provider.as_str(),
        event.provider_event_id,
        event.event_type,
        event.livemode,
        event.created as _,
        event.payload,
        decoded,
        event.decoded.subject(),
        event.raw_body,
        now as _,
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

/// Stores a rejected event once (under its id, or under a hash of its body
/// when the id is not storable), received at `now`; returns whether it was new.
pub async fn store_rejected(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    event: &RejectedEvent<'_>,
) -> Result<bool, sqlx::Error> {
    let id = match event.provider_event_id.filter(|id| is_storable_event_id(id)) {
        Some(id) => id.to_owned(),
        None => format!("unreadable:{}", hex::encode(Sha256::digest(event.raw_body))),
    };
    let event_type = event
        .event_type
        .filter(|t| t.len() <= 255 && !t.chars().any(char::is_control))
        .unwrap_or("unknown");
    // language=PostgreSQL
    let inserted = sqlx::query_scalar!(
        r#"
        insert into webhook_event (provider, provider_event_id, event_type, livemode, provider_created_at, payload,
                                   raw_body, status, last_error, received_at)
        values ($1, $2, $3, false, $6, null, $4, 'rejected', $5, $6)
        on conflict (provider, provider_event_id) do nothing
        returning webhook_event_id
        "#,
        event.provider.as_str(),
        id,
        event_type,
        event.raw_body,
        event.reason,
        now as _,
    )
    .fetch_optional(&mut *conn)
    .await?;
    Ok(inserted.is_some())
}

/// A claimed event.
#[derive(Debug, Clone)]
pub struct ClaimedEvent {
    /// Local id.
    pub webhook_event_id: Uuid,
    /// `stripe` or `sandbox`.
    pub provider: String,
    /// The provider's id.
    pub provider_event_id: String,
    /// The provider's type name.
    pub event_type: String,
    /// The event as received, as text: only for events stored before the
    /// endpoint decoded them.
    pub legacy_payload: Option<String>,
    /// The event decoded at the endpoint (absent on events stored before
    /// decoding moved there).
    pub decoded: Option<serde_json::Value>,
    /// Attempts so far.
    pub attempts: i32,
    /// When the provider made it.
    pub created: DateTime<Utc>,
}

impl ClaimedEvent {
    /// What the ledger names as this event's cause.
    pub fn cause(&self) -> String {
        format!("{}:{}", self.provider, self.provider_event_id)
    }
}

/// What a claim found.
#[derive(Debug)]
pub enum Claim {
    /// Nothing is due (outside the skipped subjects).
    Nothing,
    /// The oldest due event's subject is being worked on by another worker:
    /// roll back, skip it and claim again.
    Busy(String),
    /// These events, of one subject (or one event without a subject), in
    /// the provider's order, locked until the transaction ends.
    Batch(Vec<ClaimedEvent>),
}

/// Claims the events of one subject due at `now`, oldest first, skipping
/// `busy` subjects, in the caller's transaction.
pub async fn claim_batch(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    busy: &[String],
) -> Result<Claim, sqlx::Error> {
    // language=PostgreSQL
    let Some(first) = sqlx::query!(
        r#"
        select webhook_event_id, provider, subject from webhook_event
        where status = 'pending' and next_attempt_at <= $2 and (subject is null or not (subject = any($1)))
        order by provider_created_at, provider_event_id
        limit 1
        for update skip locked
        "#,
        busy,
        now as _
    )
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(Claim::Nothing);
    };
    if let Some(subject) = &first.subject {
        // language=PostgreSQL
        let mine = sqlx::query_scalar!(
            r#"select pg_try_advisory_xact_lock(hashtextextended('inbox:' || $1 || ':' || $2, 0)) as "mine!""#,
            first.provider,
            subject
        )
        .fetch_one(&mut *conn)
        .await?;
        if !mine {
            return Ok(Claim::Busy(subject.clone()));
        }
    }
    // language=PostgreSQL
    let rows = sqlx::query!(
        r#"
        select webhook_event_id, provider, provider_event_id, event_type, decoded, attempts,
               -- The body is read only for events stored before the endpoint
               -- decoded them, and as text: an arbitrarily deep body must
               -- fail that one event, never the claim.
               case when decoded is null then payload::text end as legacy_payload,
               provider_created_at as "provider_created_at: DateTime<Utc>"
        from webhook_event
        where status = 'pending' and next_attempt_at <= $5
          and (webhook_event_id = $1 or ($3::text is not null and provider = $2 and subject = $3))
        order by provider_created_at, provider_event_id
        limit $4
        for update skip locked
        "#,
        first.webhook_event_id,
        first.provider,
        first.subject,
        MAX_BATCH,
        now as _
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(Claim::Batch(
        rows.into_iter()
            .map(|r| ClaimedEvent {
                webhook_event_id: r.webhook_event_id,
                provider: r.provider,
                provider_event_id: r.provider_event_id,
                event_type: r.event_type,
                legacy_payload: r.legacy_payload,
                decoded: r.decoded,
                attempts: r.attempts,
                created: r.provider_created_at,
            })
            .collect(),
    ))
}

/// How a processed event ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Done {
    /// Applied (or nothing to do).
    Processed,
    /// Not Gatehouse's: kept for admins, never retried.
    Unmatched,
}

/// Marks a claimed event done at `now`, in the claiming transaction.
pub async fn mark_done(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    webhook_event_id: Uuid,
    done: Done,
    note: Option<&str>,
) -> Result<(), sqlx::Error> {
    let status = match done {
        Done::Processed => "processed",
        Done::Unmatched => "unmatched",
    };
    // language=PostgreSQL
    sqlx::query!(
        r#"
        update webhook_event set status = $2, last_error = $3, attempts = attempts + 1, processed_at = $4
        where webhook_event_id = $1
        "#,
        webhook_event_id,
        status,
        note,
        now as _
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Records a failed attempt: the event waits until `retry_at` and is tried
/// again, or is parked as `failed` after `max_attempts`.
pub async fn mark_failed(
    executor: impl sqlx::PgExecutor<'_>,
    event: &ClaimedEvent,
    error: &str,
    max_attempts: i32,
    retry_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let attempts = event.attempts + 1;
    // language=PostgreSQL
    sqlx::query!(
        r#"
        update webhook_event
        set attempts = $2, last_error = $3, status = case when $2::int >= $4::int then 'failed' else 'pending' end,
            next_attempt_at = $5
        where webhook_event_id = $1
        "#,
        event.webhook_event_id,
        attempts,
        error.chars().take(1000).collect::<String>(),
        max_attempts,
        retry_at as _,
    )
    .execute(executor)
    .await?;
    Ok(())
}
