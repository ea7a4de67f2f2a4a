//! The host product's webhook endpoints: added (with a signing secret shown
//! once), disabled and enabled again, their deliveries and every attempt
//! read back, and an event replayed to one of them. The command line and
//! the admin console share these.

use super::DeliveryState;
use super::address::{self, PrivateHosts};
use crate::clock::Clock;
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// Why an endpoint could not be added or changed.
#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    /// The URL is not an absolute http(s) URL with a host.
    #[error("{0}")]
    BadUrl(String),
    /// The description is too long or holds control characters.
    #[error("describe the endpoint in at most 200 characters, on one line")]
    BadDescription,
    /// The database failed.
    #[error("the database failed: {0}")]
    Database(#[from] sqlx::Error),
}

/// The URL as it will be stored (its host in the one spelling connections
/// use), or why it cannot be: not http(s), no host, too long, or a private
/// address `allowed` does not name.
pub fn check_url(url: &str, allowed: &PrivateHosts) -> Result<String, EndpointError> {
    let url = url.trim();
    let parsed =
        url::Url::parse(url).map_err(|e| EndpointError::BadUrl(format!("{url:?} is not a URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
        return Err(EndpointError::BadUrl(format!(
            "{url:?} must be an http or https URL with a host"
        )));
    }
    if let Some(host) = parsed.host()
        && let Some(refusal) = address::refusal(&host, allowed)
    {
        return Err(EndpointError::BadUrl(refusal));
    }
    if parsed.as_str().len() > 2_000 {
        return Err(EndpointError::BadUrl(
            "the URL is longer than 2,000 characters".to_owned(),
        ));
    }
    Ok(parsed.as_str().to_owned())
}

/// Adds an endpoint; returns its id and its signing secret.
pub async fn add(
    executor: impl sqlx::PgExecutor<'_>,
    url: &str,
    description: &str,
    clock: &Clock,
    allowed: &PrivateHosts,
) -> Result<(Uuid, String), EndpointError> {
    let url = check_url(url, allowed)?;
    let description = description.trim();
    if description.chars().count() > 200 || description.chars().any(char::is_control) {
        return Err(EndpointError::BadDescription);
    }
    let secret = new_secret();
    // language=PostgreSQL
    let id = sqlx::query_scalar!(
        r#"
        insert into webhook_endpoint (url, description, secret, created_at) values ($1, $2, $3, $4)
        returning endpoint_id
        "#,
        url,
        description,
        secret,
        clock.now() as _
    )
    .fetch_one(executor)
    .await?;
    Ok((id, secret))
}

/// A new Standard Webhooks secret: `whsec_` and 32 random bytes in base64.
pub fn new_secret() -> String {
    use base64::Engine;
    use rand::RngCore;
    let mut key = [0u8; 32];
    rand::rng().fill_bytes(&mut key);
    format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode(key))
}

/// An endpoint as the console lists it.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// Its id.
    pub id: Uuid,
    /// Where deliveries go.
    pub url: String,
    /// What the operator called it.
    pub description: String,
    /// When it was added.
    pub created_at: DateTime<Utc>,
    /// When it was disabled (no deliveries while it is).
    pub disabled_at: Option<DateTime<Utc>>,
    /// Since when its deliveries keep failing.
    pub failing_since: Option<DateTime<Utc>>,
    /// Deliveries still to make.
    pub pending: i64,
    /// The latest attempt.
    pub last_attempt_at: Option<DateTime<Utc>>,
}

/// Every endpoint, newest first.
pub async fn list(pool: &PgPool) -> Result<Vec<Endpoint>, sqlx::Error> {
    // language=PostgreSQL
    sqlx::query_as!(
        Endpoint,
        r#"
        select w.endpoint_id as id, w.url, w.description, w.created_at as "created_at: DateTime<Utc>",
               w.disabled_at as "disabled_at: DateTime<Utc>", w.failing_since as "failing_since: DateTime<Utc>",
               (select count(*) from outbound_delivery d where d.endpoint_id = w.endpoint_id and d.state = $1)
                   as "pending!",
               (select max(a.attempted_at) from outbound_attempt a join outbound_delivery d using (delivery_id)
                where d.endpoint_id = w.endpoint_id) as "last_attempt_at: DateTime<Utc>"
        from webhook_endpoint w
        order by w.created_at desc, w.endpoint_id
        "#,
        super::DeliveryState::Pending.as_str()
    )
    .fetch_all(pool)
    .await
}

/// One endpoint.
pub async fn find(pool: &PgPool, id: Uuid) -> Result<Option<Endpoint>, sqlx::Error> {
    Ok(list(pool).await?.into_iter().find(|e| e.id == id))
}

/// Disables (`enabled` false) or enables an endpoint; returns whether it was
/// enabled before, or `None` when there is no such endpoint.
pub async fn set_enabled(
    conn: &mut PgConnection,
    id: Uuid,
    enabled: bool,
    now: DateTime<Utc>,
) -> Result<Option<bool>, sqlx::Error> {
    // language=PostgreSQL
    let before = sqlx::query_scalar!(
        r#"select disabled_at is null as "enabled!" from webhook_endpoint where endpoint_id = $1 for update"#,
        id
    )
    .fetch_optional(&mut *conn)
    .await?;
    if before.is_some() {
        // Enabling again delivers what waited meanwhile, from now on.
        // language=PostgreSQL
        sqlx::query!(
            r#"
            update webhook_endpoint
            set disabled_at = case when $2 then null else coalesce(disabled_at, $3) end
            where endpoint_id = $1
            "#,
            id,
            enabled,
            now as _
        )
        .execute(&mut *conn)
        .await?;
        if enabled {
            // language=PostgreSQL
            let waiting = sqlx::query_scalar!(
                "select delivery_id from outbound_delivery where endpoint_id = $1 and state = $2",
                id,
                super::DeliveryState::Pending.as_str()
            )
            .fetch_all(&mut *conn)
            .await?;
            super::events::queue_deliveries(conn, &waiting, now).await?;
        }
    }
    Ok(before)
}

/// One delivery of one event to an endpoint, with its attempts.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// Its id.
    pub id: i64,
    /// The event's stable id (the `webhook-id` header).
    pub event_id: String,
    /// The event's type.
    pub event_type: String,
    /// `pending` or `delivered`.
    pub state: String,
    /// Attempts so far.
    pub attempts: i32,
    /// When the next attempt is due (pending only).
    pub next_attempt_at: DateTime<Utc>,
    /// When it was delivered.
    pub delivered_at: Option<DateTime<Utc>>,
    /// The last failure.
    pub last_error: Option<String>,
    /// Every attempt, newest first.
    pub tries: Vec<Attempt>,
}

/// One attempt at a delivery.
#[derive(Debug, Clone)]
pub struct Attempt {
    /// When.
    pub at: DateTime<Utc>,
    /// The receiver's status code, if it answered.
    pub status_code: Option<i32>,
    /// Why it failed.
    pub error: Option<String>,
    /// How long it took.
    pub duration_ms: i32,
}

/// The endpoint's latest `limit` deliveries, newest first, with their attempts.
pub async fn deliveries(pool: &PgPool, endpoint: Uuid, limit: i64) -> Result<Vec<Delivery>, sqlx::Error> {
    // language=PostgreSQL
    let rows = sqlx::query!(
        r#"
        select d.delivery_id, d.event_id, e.event_type, d.state, d.attempts,
               d.next_attempt_at as "next_attempt_at: DateTime<Utc>", d.delivered_at as "delivered_at: DateTime<Utc>",
               d.last_error
        from outbound_delivery d join outbound_event e using (event_id)
        where d.endpoint_id = $1
        order by d.delivery_id desc
        limit $2
        "#,
        endpoint,
        limit
    )
    .fetch_all(pool)
    .await?;
    let ids: Vec<i64> = rows.iter().map(|r| r.delivery_id).collect();
    // language=PostgreSQL
    let attempts = sqlx::query!(
        r#"
        select delivery_id, attempted_at as "attempted_at: DateTime<Utc>", status_code, error, duration_ms
        from outbound_attempt where delivery_id = any($1)
        order by attempt_id desc
        "#,
        &ids
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| Delivery {
            tries: attempts
                .iter()
                .filter(|a| a.delivery_id == row.delivery_id)
                .map(|a| Attempt {
                    at: a.attempted_at,
                    status_code: a.status_code,
                    error: a.error.clone(),
                    duration_ms: a.duration_ms,
                })
                .collect(),
            id: row.delivery_id,
            event_id: row.event_id,
            event_type: row.event_type,
            state: row.state,
            attempts: row.attempts,
            next_attempt_at: row.next_attempt_at,
            delivered_at: row.delivered_at,
            last_error: row.last_error,
        })
        .collect())
}

/// What a replay found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replay {
    /// Queued to go now (again, or for the first time if the endpoint was
    /// disabled or did not exist when the event happened).
    Queued,
    /// No such endpoint.
    NoEndpoint,
    /// No such event.
    NoEvent,
}

/// Sends `event_id` to `endpoint` again, from now on, with the same id (a
/// receiver that already has it can tell).
pub async fn replay(
    conn: &mut PgConnection,
    endpoint: Uuid,
    event_id: &str,
    now: DateTime<Utc>,
) -> Result<Replay, sqlx::Error> {
    // language=PostgreSQL
    let found = sqlx::query!(
        r#"select exists (select from webhook_endpoint where endpoint_id = $1) as "endpoint!",
                  exists (select from outbound_event where event_id = $2) as "event!""#,
        endpoint,
        event_id
    )
    .fetch_one(&mut *conn)
    .await?;
    match (found.endpoint, found.event) {
        (false, _) => return Ok(Replay::NoEndpoint),
        (_, false) => return Ok(Replay::NoEvent),
        _ => {}
    }
    // language=PostgreSQL
    let delivery = sqlx::query_scalar!(
        r#"
        insert into outbound_delivery (event_id, endpoint_id, next_attempt_at) values ($1, $2, $3)
        on conflict (event_id, endpoint_id)
            do update set state = $4, next_attempt_at = excluded.next_attempt_at, delivered_at = null
        returning delivery_id
        "#,
        event_id,
        endpoint,
        now as _,
        DeliveryState::Pending.as_str()
    )
    .fetch_one(&mut *conn)
    .await?;
    super::events::queue_deliveries(conn, &[delivery], now).await?;
    Ok(Replay::Queued)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_absolute_http_urls_with_a_host_are_endpoints() {
        for good in [
            "https://example.com/hooks",
            "http://93.184.215.14:9000/h?x=1",
            " https://a.b/ ",
        ] {
            assert!(check_url(good, &PrivateHosts::none()).is_ok(), "{good}");
        }
        for bad in [
            "",
            "example.com/hooks",
            "ftp://example.com/",
            "file:///etc/passwd",
            "javascript:alert(1)",
            "https://",
            "mailto:a@b.c",
            "http://127.0.0.1:9000/h",
            "http://2130706433/",
            "http://169.254.169.254/",
            &format!("https://example.com/{}", "a".repeat(2_100)),
        ] {
            assert!(check_url(bad, &PrivateHosts::none()).is_err(), "{bad}");
        }
    }
}
