//! The provider-event inbox: every event, from Stripe's webhooks or from the
//! sandbox, is stored here under its provider id before anything acts on it;
//! workers on any number of instances claim and mark events here.
//!
//! Each stored event gets a job on the runner (kind [`APPLY_KIND`]). The
//! job applies its event's whole *subject* (the provider customer it
//! concerns): all of that subject's pending events at once, in the order
//! the provider made them, under an advisory lock held for the
//! transaction, so one customer's events are never applied by two workers
//! at once and one re-read of a subscription serves all of its waiting
//! events. A job whose event an earlier job already applied has nothing
//! left to do.

use super::domain::{BillingEvent, ProviderEventStatus};
use super::provider::ProviderName;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use sqlx::PgConnection;
use uuid::Uuid;

/// The runner's job kind that applies one stored event (and the rest of
/// its subject's pending events).
pub const APPLY_KIND: &str = "provider_event.apply";

/// Attempts before an event is parked as `failed` for an admin to look at.
pub const MAX_ATTEMPTS: i32 = 12;

/// Queues the job that applies the event `webhook_event_id`, due at `now`.
pub async fn queue_apply(
    conn: &mut PgConnection,
    webhook_event_id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let item = [webhook_event_id.to_string()];
    crate::runner::db::enqueue_items(conn, APPLY_KIND, &item, now, MAX_ATTEMPTS, now)
        .await
        .map(|_| ())
}

/// Makes a parked event pending again, due at `now` (its job was retried
/// by hand).
pub async fn reopen_failed(
    conn: &mut PgConnection,
    webhook_event_id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    // language=PostgreSQL
    sqlx::query!(
        "update webhook_event set status = $3, next_attempt_at = $2
         where webhook_event_id = $1 and status = $4",
        webhook_event_id,
        now as _,
        ProviderEventStatus::Pending.as_str(),
        ProviderEventStatus::Failed.as_str(),
    )
    .execute(conn)
    .await
    .map(|_| ())
}

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

/// Stores an event received at `now` once, due at once, with its job, in
/// the caller's transaction; returns whether it was new.
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
    if let Some(webhook_event_id) = inserted {
        queue_apply(conn, webhook_event_id, now).await?;
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
        values ($1, $2, $3, false, $6, null, $4, $7, $5, $6)
        on conflict (provider, provider_event_id) do nothing
        returning webhook_event_id
        "#,
        event.provider.as_str(),
        id,
        event_type,
        event.raw_body,
        event.reason,
        now as _,
        ProviderEventStatus::Rejected.as_str(),
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

/// Where one event stands, as its job finds it.
#[derive(Debug)]
pub enum Claim {
    /// Pending: these events of its subject (or the event alone, without a
    /// subject), in the provider's order, locked until the transaction ends.
    Batch(Vec<ClaimedEvent>),
    /// Already applied, unmatched or rejected: nothing to do.
    Settled,
    /// Parked after its last attempt, with its last error.
    Parked(Option<String>),
    /// No such event.
    Missing,
}

/// Claims, in the caller's transaction, the pending events of the subject
/// of `webhook_event_id`, oldest first, leaving out `tried` (events this
/// transaction already attempted). Waits for another worker applying the
/// same subject to finish first.
pub async fn claim_subject(
    conn: &mut PgConnection,
    webhook_event_id: Uuid,
    tried: &[Uuid],
) -> Result<Claim, sqlx::Error> {
    // language=PostgreSQL
    let Some(event) = sqlx::query!(
        "select provider, subject, status, last_error from webhook_event where webhook_event_id = $1",
        webhook_event_id
    )
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(Claim::Missing);
    };
    if let Some(subject) = &event.subject {
        // language=PostgreSQL
        sqlx::query!(
            "select pg_advisory_xact_lock(hashtextextended('inbox:' || $1 || ':' || $2, 0))",
            event.provider,
            subject
        )
        .execute(&mut *conn)
        .await?;
    }
    // Read again under the lock: another worker may have applied it meanwhile.
    // language=PostgreSQL
    let status = sqlx::query_scalar!(
        "select status from webhook_event where webhook_event_id = $1 for update",
        webhook_event_id
    )
    .fetch_one(&mut *conn)
    .await?;
    match ProviderEventStatus::parse(&status) {
        Some(ProviderEventStatus::Pending) => {}
        Some(ProviderEventStatus::Failed) => {
            return Ok(Claim::Parked(event.last_error));
        }
        _ => return Ok(Claim::Settled),
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
        where status = $6 and not (webhook_event_id = any($5))
          and (webhook_event_id = $1 or ($3::text is not null and provider = $2 and subject = $3))
        order by provider_created_at, provider_event_id
        limit $4
        for update
        "#,
        webhook_event_id,
        event.provider,
        event.subject,
        MAX_BATCH,
        tried,
        ProviderEventStatus::Pending.as_str()
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
        Done::Processed => ProviderEventStatus::Processed,
        Done::Unmatched => ProviderEventStatus::Unmatched,
    }
    .as_str();
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

/// Records a failed attempt: the event waits until `retry_at` (its job is
/// tried again then), or is parked as `failed` after [`MAX_ATTEMPTS`].
pub async fn mark_failed(
    executor: impl sqlx::PgExecutor<'_>,
    event: &ClaimedEvent,
    error: &str,
    retry_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let attempts = event.attempts + 1;
    // language=PostgreSQL
    sqlx::query!(
        r#"
        update webhook_event
        set attempts = $2, last_error = $3, status = case when $2::int >= $4::int then $6 else $7 end,
            next_attempt_at = $5
        where webhook_event_id = $1
        "#,
        event.webhook_event_id,
        attempts,
        error.chars().take(1000).collect::<String>(),
        MAX_ATTEMPTS,
        retry_at as _,
        ProviderEventStatus::Failed.as_str(),
        ProviderEventStatus::Pending.as_str(),
    )
    .execute(executor)
    .await?;
    Ok(())
}

/// Where one event stands after its job's work: its status, and the error
/// of its last failed attempt.
pub async fn standing_of(
    conn: &mut PgConnection,
    webhook_event_id: Uuid,
) -> Result<(Option<ProviderEventStatus>, Option<String>), sqlx::Error> {
    // language=PostgreSQL
    let event = sqlx::query!(
        "select status, last_error from webhook_event where webhook_event_id = $1",
        webhook_event_id
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok((ProviderEventStatus::parse(&event.status), event.last_error))
}

/// The inbox's running totals, to tell what a drain did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    /// Events applied.
    pub processed: i64,
    /// Events marked unmatched.
    pub unmatched: i64,
    /// Attempts made, over every event.
    pub attempts: i64,
}

/// Reads the inbox's [`Totals`].
pub async fn totals(executor: impl sqlx::PgExecutor<'_>) -> Result<Totals, sqlx::Error> {
    // language=PostgreSQL
    let row = sqlx::query!(
        r#"select count(*) filter (where status = $1) as "processed!",
                  count(*) filter (where status = $2) as "unmatched!",
                  coalesce(sum(attempts), 0)::bigint as "attempts!"
           from webhook_event"#,
        ProviderEventStatus::Processed.as_str(),
        ProviderEventStatus::Unmatched.as_str(),
    )
    .fetch_one(executor)
    .await?;
    Ok(Totals {
        processed: row.processed,
        unmatched: row.unmatched,
        attempts: row.attempts,
    })
}

/// How many events wait (and since when), are unmatched, failed for good
/// or were rejected: the queue gauges and the console's health page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Depths {
    /// Waiting to be applied.
    pub pending: i64,
    /// When the longest-waiting one came due.
    pub oldest_due: Option<DateTime<Utc>>,
    /// Matched nothing of Gatehouse's.
    pub unmatched: i64,
    /// Parked after their last attempt.
    pub failed: i64,
    /// Refused at the door.
    pub rejected: i64,
}

impl Depths {
    /// Each status's count, as the gauges label them.
    pub fn by_status(&self) -> [(ProviderEventStatus, i64); 4] {
        [
            (ProviderEventStatus::Pending, self.pending),
            (ProviderEventStatus::Unmatched, self.unmatched),
            (ProviderEventStatus::Failed, self.failed),
            (ProviderEventStatus::Rejected, self.rejected),
        ]
    }

    /// Events that will not be applied without an operator.
    pub fn stuck(&self) -> i64 {
        self.unmatched + self.failed + self.rejected
    }
}

/// The inbox's [`Depths`]. One subquery per status, each answered from its
/// partial index: the words are bound, so PostgreSQL plans each run for
/// them (a generic plan could not prove the index's predicate, so it is not
/// chosen).
pub async fn depths(executor: impl sqlx::PgExecutor<'_>) -> Result<Depths, sqlx::Error> {
    // language=PostgreSQL
    let row = sqlx::query!(
        r#"
        select (select count(*) from webhook_event where status = $1) as "pending!",
               (select min(next_attempt_at) from webhook_event where status = $1)
                   as "oldest_due: DateTime<Utc>",
               (select count(*) from webhook_event where status = $2) as "unmatched!",
               (select count(*) from webhook_event where status = $3) as "failed!",
               (select count(*) from webhook_event where status = $4) as "rejected!"
        "#,
        ProviderEventStatus::Pending.as_str(),
        ProviderEventStatus::Unmatched.as_str(),
        ProviderEventStatus::Failed.as_str(),
        ProviderEventStatus::Rejected.as_str()
    )
    .fetch_one(executor)
    .await?;
    Ok(Depths {
        pending: row.pending,
        oldest_due: row.oldest_due,
        unmatched: row.unmatched,
        failed: row.failed,
        rejected: row.rejected,
    })
}

/// The inbox's activity as the console's work page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Activity {
    /// Pending events due now.
    pub due: i64,
    /// Pending events waiting for their retry.
    pub waiting: i64,
    /// Events processed since the window's start.
    pub processed: i64,
    /// Events parked after their last attempt.
    pub failed: i64,
    /// Events that matched nothing of Gatehouse's.
    pub unmatched: i64,
    /// When an event was last processed.
    pub last: Option<DateTime<Utc>>,
    /// The latest failed or unmatched events, newest first.
    pub failures: Vec<FailedEvent>,
}

/// A failed or unmatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedEvent {
    /// Its row.
    pub webhook_event_id: Uuid,
    /// Who sent it.
    pub provider: String,
    /// The provider's id for it.
    pub provider_event_id: String,
    /// Its type.
    pub event_type: String,
    /// Why it failed or matched nothing.
    pub last_error: Option<String>,
    /// When it was last tried (or received).
    pub at: DateTime<Utc>,
}

/// The inbox's [`Activity`] at `now`, counting what was processed since `since`.
pub async fn activity(
    pool: &sqlx::PgPool,
    now: DateTime<Utc>,
    since: DateTime<Utc>,
) -> Result<Activity, sqlx::Error> {
    // language=PostgreSQL
    let counts = sqlx::query!(
        r#"
        select count(*) filter (where status = $3 and next_attempt_at <= $1) as "due!",
               count(*) filter (where status = $3 and next_attempt_at > $1) as "waiting!",
               count(*) filter (where status = $4 and processed_at >= $2) as "processed!",
               count(*) filter (where status = $5) as "failed!",
               count(*) filter (where status = $6) as "unmatched!",
               max(processed_at) as "last: DateTime<Utc>"
        from webhook_event
        "#,
        now as _,
        since as _,
        ProviderEventStatus::Pending.as_str(),
        ProviderEventStatus::Processed.as_str(),
        ProviderEventStatus::Failed.as_str(),
        ProviderEventStatus::Unmatched.as_str()
    )
    .fetch_one(pool)
    .await?;
    // language=PostgreSQL
    let failures = sqlx::query!(
        r#"select webhook_event_id, provider, provider_event_id, event_type, last_error,
                  coalesce(processed_at, received_at) as "at!: DateTime<Utc>"
           from webhook_event where status = any($1)
           order by received_at desc limit 10"#,
        &ProviderEventStatus::words_where(ProviderEventStatus::can_be_requeued) as &[&str]
    )
    .fetch_all(pool)
    .await?;
    Ok(Activity {
        due: counts.due,
        waiting: counts.waiting,
        processed: counts.processed,
        failed: counts.failed,
        unmatched: counts.unmatched,
        last: counts.last,
        failures: failures
            .into_iter()
            .map(|f| FailedEvent {
                webhook_event_id: f.webhook_event_id,
                provider: f.provider,
                provider_event_id: f.provider_event_id,
                event_type: f.event_type,
                last_error: f.last_error,
                at: f.at,
            })
            .collect(),
    })
}
