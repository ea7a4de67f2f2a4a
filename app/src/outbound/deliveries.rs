//! The rows a webhook delivery job reads and writes: the pending delivery
//! it sends, then its attempt, the delivery's state and the endpoint's
//! failing mark, in the transaction that finishes the job.

use super::DeliveryState;
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

/// Consecutive failed attempts after which an endpoint is marked failing.
pub const FAILING_AFTER: i32 = 5;

/// A delivery waiting to be sent to an enabled endpoint.
#[derive(Debug, Clone)]
pub struct PendingDelivery {
    /// Attempts made so far.
    pub attempts: i32,
    /// The endpoint it goes to.
    pub endpoint_id: Uuid,
    /// The event's id (the `webhook-id` header).
    pub event_id: String,
    /// The signed body.
    pub payload: String,
    /// The endpoint's address.
    pub url: String,
    /// The endpoint's signing secret.
    pub secret: String,
}

/// The delivery `delivery_id` if it is pending and its endpoint enabled.
pub async fn pending(
    executor: impl sqlx::PgExecutor<'_>,
    delivery_id: i64,
) -> Result<Option<PendingDelivery>, sqlx::Error> {
    // language=PostgreSQL
    let row = sqlx::query!(
        r#"
        select d.attempts, d.endpoint_id, e.event_id, e.payload::text as "payload!", w.url, w.secret
        from outbound_delivery d
        join outbound_event e on e.event_id = d.event_id
        join webhook_endpoint w on w.endpoint_id = d.endpoint_id
        where d.delivery_id = $1 and d.state = $2 and w.disabled_at is null
        "#,
        delivery_id,
        DeliveryState::Pending.as_str(),
    )
    .fetch_optional(executor)
    .await?;
    Ok(row.map(|row| PendingDelivery {
        attempts: row.attempts,
        endpoint_id: row.endpoint_id,
        event_id: row.event_id,
        payload: row.payload,
        url: row.url,
        secret: row.secret,
    }))
}

/// One attempt to deliver, as the receiver answered it.
#[derive(Debug, Clone)]
pub struct AttemptOutcome<'a> {
    /// The delivery.
    pub delivery_id: i64,
    /// Its endpoint.
    pub endpoint_id: Uuid,
    /// Attempts made, this one included.
    pub attempts: i32,
    /// The receiver's status, if it answered.
    pub status_code: Option<i32>,
    /// Why it failed (`None`: delivered).
    pub error: Option<&'a str>,
    /// How long the receiver took.
    pub duration_ms: i32,
}

/// Records an attempt made at `now` on its delivery (delivered, or pending
/// again until `retry_at`), its attempt row, and the endpoint's failing
/// mark (cleared on success, set after [`FAILING_AFTER`] failures).
/// Returns false, recording nothing, when the delivery is no longer
/// pending (delivered meanwhile by a replay racing this attempt).
pub async fn record_attempt(
    conn: &mut PgConnection,
    attempt: &AttemptOutcome<'_>,
    now: DateTime<Utc>,
    retry_at: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    // language=PostgreSQL
    let held = sqlx::query!(
        r#"
        update outbound_delivery
        set attempts = $2,
            state = case when $3::text is null then $6 else state end,
            delivered_at = case when $3::text is null then $4 else delivered_at end,
            last_error = $3,
            next_attempt_at = case when $3::text is null then next_attempt_at else $5 end
        where delivery_id = $1 and state = $7
        "#,
        attempt.delivery_id,
        attempt.attempts,
        attempt.error,
        now as _,
        retry_at as _,
        DeliveryState::Delivered.as_str(),
        DeliveryState::Pending.as_str(),
    )
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1;
    if !held {
        return Ok(false);
    }
    // language=PostgreSQL
    sqlx::query!(
        r#"
        insert into outbound_attempt (delivery_id, attempted_at, status_code, error, duration_ms)
        values ($1, $2, $3, $4, $5)
        "#,
        attempt.delivery_id,
        now as _,
        attempt.status_code,
        attempt.error,
        attempt.duration_ms
    )
    .execute(&mut *conn)
    .await?;
    if attempt.error.is_none() {
        // language=PostgreSQL
        sqlx::query!(
            "update webhook_endpoint set failing_since = null where endpoint_id = $1 and failing_since is not null",
            attempt.endpoint_id
        )
        .execute(&mut *conn)
        .await?;
    } else if attempt.attempts >= FAILING_AFTER {
        // language=PostgreSQL
        sqlx::query!(
            "update webhook_endpoint set failing_since = $2 where endpoint_id = $1 and failing_since is null",
            attempt.endpoint_id,
            now as _
        )
        .execute(&mut *conn)
        .await?;
    }
    Ok(true)
}

/// The deliveries' activity as the console's work page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Activity {
    /// Deliveries not yet accepted.
    pub pending: i64,
    /// Deliveries accepted since the window's start.
    pub delivered: i64,
    /// Attempts refused or unanswered since the window's start.
    pub failed_attempts: i64,
    /// Enabled endpoints marked failing.
    pub failing_endpoints: i64,
    /// When an attempt was last made.
    pub last: Option<DateTime<Utc>>,
    /// The latest failed attempts, newest first.
    pub failures: Vec<FailedAttempt>,
}

/// An attempt the endpoint refused or did not answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedAttempt {
    /// When.
    pub at: DateTime<Utc>,
    /// The event sent.
    pub event_id: String,
    /// The endpoint.
    pub endpoint_id: Uuid,
    /// Its address.
    pub url: String,
    /// Its answer's status, if it answered.
    pub status_code: Option<i32>,
    /// Why, if it did not answer.
    pub error: Option<String>,
}

/// The deliveries' [`Activity`], counting what happened since `since`.
pub async fn activity(pool: &sqlx::PgPool, since: DateTime<Utc>) -> Result<Activity, sqlx::Error> {
    // language=PostgreSQL
    let counts = sqlx::query!(
        r#"
        select (select count(*) from outbound_delivery where state = $2) as "pending!",
               (select count(*) from outbound_delivery where state = $3 and delivered_at >= $1) as "delivered!",
               (select count(*) from outbound_attempt where attempted_at >= $1
                  and (status_code is null or status_code not between 200 and 299)) as "failed_attempts!",
               (select count(*) from webhook_endpoint where failing_since is not null and disabled_at is null)
                   as "failing_endpoints!",
               (select max(attempted_at) from outbound_attempt) as "last: DateTime<Utc>"
        "#,
        since as _,
        super::DeliveryState::Pending.as_str(),
        super::DeliveryState::Delivered.as_str()
    )
    .fetch_one(pool)
    .await?;
    // language=PostgreSQL
    let failures = sqlx::query!(
        r#"select a.attempted_at as "at: DateTime<Utc>", d.event_id, w.endpoint_id, w.url, a.status_code, a.error
           from outbound_attempt a join outbound_delivery d using (delivery_id) join webhook_endpoint w using (endpoint_id)
           where a.status_code is null or a.status_code not between 200 and 299
           order by a.attempt_id desc limit 10"#
    )
    .fetch_all(pool)
    .await?;
    Ok(Activity {
        pending: counts.pending,
        delivered: counts.delivered,
        failed_attempts: counts.failed_attempts,
        failing_endpoints: counts.failing_endpoints,
        last: counts.last,
        failures: failures
            .into_iter()
            .map(|f| FailedAttempt {
                at: f.at,
                event_id: f.event_id,
                endpoint_id: f.endpoint_id,
                url: f.url,
                status_code: f.status_code,
                error: f.error,
            })
            .collect(),
    })
}

/// The outbound webhooks' backlog, for the console's health page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backlog {
    /// Deliveries waiting to be sent.
    pub pending: i64,
    /// Enabled endpoints whose deliveries are failing.
    pub endpoints_failing: i64,
}

/// Deliveries waiting and endpoints failing.
pub async fn backlog(pool: &sqlx::PgPool) -> Result<Backlog, sqlx::Error> {
    // language=PostgreSQL
    let row = sqlx::query!(
        r#"select (select count(*) from outbound_delivery where state = $1) as "pending!",
                  (select count(*) from webhook_endpoint where failing_since is not null and disabled_at is null)
                      as "failing!""#,
        crate::outbound::DeliveryState::Pending.as_str(),
    )
    .fetch_one(pool)
    .await?;
    Ok(Backlog {
        pending: row.pending,
        endpoints_failing: row.failing,
    })
}
