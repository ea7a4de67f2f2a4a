//! Rate-limit state in Postgres: one row per key, updated under a row lock so
//! concurrent requests on any process see each other.

use super::throttle::{LeaseDecision, Rate, decide_lease, emission_interval_us};
use crate::error::AppError;
use chrono::{DateTime, Utc};
use sqlx::PgPool;

/// Microseconds since the Unix epoch: the throttle's unit.
fn micros(at: DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

/// Counts one request at `now` against `bucket`, refusing with
/// [`AppError::TooManyRequests`] when over `rate`.
pub async fn throttle(pool: &PgPool, now: DateTime<Utc>, bucket: &str, rate: Rate) -> Result<(), AppError> {
    lease(pool, now, bucket, rate, 1).await.map(|_| ())
}

/// Counts up to `wanted` requests at `now` against `bucket` at once, the
/// rule of [`decide_lease`] applied atomically in one statement (so a busy
/// bucket's row is locked only for its length); returns how many were
/// granted (at least 1), or refuses with [`AppError::TooManyRequests`].
pub async fn lease(
    pool: &PgPool,
    now: DateTime<Utc>,
    bucket: &str,
    rate: Rate,
    wanted: u32,
) -> Result<u32, AppError> {
    let requests = i64::from(rate.requests.max(1));
    let interval_us = emission_interval_us(rate);
    let now_us = micros(now);
    // start = max(TAT, now); room = (now + interval × requests − start) / interval
    // requests fit; grant min(wanted, room) when room ≥ 1 (SET reads the old row).
    // language=PostgreSQL
    let granted = sqlx::query_scalar!(
        r#"
        insert into rate_limit as r (bucket, tat_us, granted)
        values ($1, $2::bigint + least($5::bigint, $4::bigint) * $3::bigint, least($5::bigint, $4::bigint)::integer)
        on conflict (bucket) do update
            set tat_us = greatest(r.tat_us, $2) + least($5, ($2 + $3 * $4 - greatest(r.tat_us, $2)) / $3) * $3,
                granted = least($5, ($2 + $3 * $4 - greatest(r.tat_us, $2)) / $3)::integer
            where ($2 + $3 * $4 - greatest(r.tat_us, $2)) / $3 >= 1
        returning granted
        "#,
        bucket,
        now_us,
        interval_us,
        requests,
        i64::from(wanted.max(1))
    )
    .fetch_optional(pool)
    .await?;
    if let Some(granted) = granted {
        return Ok(granted.max(1) as u32);
    }
    match decide_lease(now_us, stored_tat_us(pool, bucket).await?, rate, wanted) {
        // Refused a moment ago and allowed now: the retry is due at once.
        LeaseDecision::Grant { .. } => Err(AppError::TooManyRequests { retry_after_secs: 1 }),
        LeaseDecision::Deny { retry_after_secs } => Err(AppError::TooManyRequests { retry_after_secs }),
    }
}

async fn stored_tat_us(pool: &PgPool, bucket: &str) -> Result<Option<i64>, sqlx::Error> {
    // language=PostgreSQL
    sqlx::query_scalar!("select tat_us from rate_limit where bucket = $1", bucket)
        .fetch_optional(pool)
        .await
}

/// Forgets a bucket's history (a proven owner clears their account's
/// failure count).
pub async fn clear_throttle(pool: &PgPool, bucket: &str) -> Result<(), AppError> {
    // language=PostgreSQL
    sqlx::query!("delete from rate_limit where bucket = $1", bucket)
        .execute(pool)
        .await?;
    Ok(())
}
