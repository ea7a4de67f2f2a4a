//! Rate-limit state in Postgres: one row per key, updated under a row lock so
//! concurrent requests on any process see each other.

use super::throttle::{Decision, LeaseDecision, Rate, decide, decide_lease, emission_interval_ms};
use crate::error::AppError;
use chrono::{DateTime, Utc};
use sqlx::PgPool;

/// Counts one request at `now` against `bucket`, refusing with
/// [`AppError::TooManyRequests`] when over `rate`.
pub async fn throttle(pool: &PgPool, now: DateTime<Utc>, bucket: &str, rate: Rate) -> Result<(), AppError> {
    let requests = i64::from(rate.requests.max(1));
    let interval_ms = emission_interval_ms(rate);
    let now_ms = now.timestamp_millis();
    // One statement, so a busy bucket's row is locked only for its length:
    // the same rule as `decide` (new TAT = max(TAT, now) + interval; allowed
    // while new TAT − interval × requests ≤ now), applied atomically.
    // language=PostgreSQL
    let counted = sqlx::query_scalar!(
        r#"
        insert into rate_limit as r (bucket, tat) values ($1, to_timestamp(($2::bigint + $3::bigint) / 1000.0))
        on conflict (bucket) do update
            set tat = to_timestamp((greatest(floor(extract(epoch from r.tat) * 1000)::bigint, $2) + $3) / 1000.0)
            where greatest(floor(extract(epoch from r.tat) * 1000)::bigint, $2) + $3 - $3 * $4::bigint <= $2
        returning 1 as "counted!"
        "#,
        bucket,
        now_ms,
        interval_ms,
        requests
    )
    .fetch_optional(pool)
    .await?;
    if counted.is_some() {
        return Ok(());
    }
    match check_throttle(pool, now, bucket, rate).await {
        // Refused a moment ago and allowed now: the retry is due at once.
        Ok(()) => Err(AppError::TooManyRequests { retry_after_secs: 1 }),
        Err(error) => Err(error),
    }
}

/// Counts up to `wanted` requests at `now` against `bucket` at once, the
/// rule of [`decide_lease`] applied atomically in one statement; returns how
/// many were granted (at least 1), or refuses as [`throttle`] does.
pub async fn lease(
    pool: &PgPool,
    now: DateTime<Utc>,
    bucket: &str,
    rate: Rate,
    wanted: u32,
) -> Result<u32, AppError> {
    let requests = i64::from(rate.requests.max(1));
    let interval_ms = emission_interval_ms(rate);
    let now_ms = now.timestamp_millis();
    // room = (now + interval × requests − max(TAT, now)) / interval requests
    // fit; grant min(wanted, room) when room ≥ 1 (SET reads the old row).
    // language=PostgreSQL
    let granted = sqlx::query_scalar!(
        r#"
        insert into rate_limit as r (bucket, tat, granted)
        values ($1, to_timestamp(($2::bigint + least($5::bigint, $4::bigint) * $3::bigint) / 1000.0),
                least($5::bigint, $4::bigint)::integer)
        on conflict (bucket) do update
            set tat = to_timestamp((greatest(floor(extract(epoch from r.tat) * 1000)::bigint, $2)
                                    + least($5, ($2 + $3 * $4 - greatest(floor(extract(epoch from r.tat) * 1000)::bigint, $2)) / $3)
                                      * $3) / 1000.0),
                granted = least($5, ($2 + $3 * $4 - greatest(floor(extract(epoch from r.tat) * 1000)::bigint, $2)) / $3)::integer
            where ($2 + $3 * $4 - greatest(floor(extract(epoch from r.tat) * 1000)::bigint, $2)) / $3 >= 1
        returning granted
        "#,
        bucket,
        now_ms,
        interval_ms,
        requests,
        i64::from(wanted.max(1))
    )
    .fetch_optional(pool)
    .await?;
    if let Some(granted) = granted {
        return Ok(granted.max(1) as u32);
    }
    // language=PostgreSQL
    let tat_ms = sqlx::query_scalar!(
        r#"select floor(extract(epoch from tat) * 1000)::bigint as "tat_ms!" from rate_limit where bucket = $1"#,
        bucket
    )
    .fetch_optional(pool)
    .await?;
    match decide_lease(now_ms, tat_ms, rate, wanted) {
        // Refused a moment ago and allowed now: the retry is due at once.
        LeaseDecision::Grant { .. } => Err(AppError::TooManyRequests { retry_after_secs: 1 }),
        LeaseDecision::Deny { retry_after_secs } => Err(AppError::TooManyRequests { retry_after_secs }),
    }
}

/// Refuses with [`AppError::TooManyRequests`] when `bucket` is over `rate`,
/// without counting this request (it is counted later, and only if it
/// fails, with [`throttle`]).
pub async fn check_throttle(
    pool: &PgPool,
    now: DateTime<Utc>,
    bucket: &str,
    rate: Rate,
) -> Result<(), AppError> {
    // language=PostgreSQL
    let tat_ms = sqlx::query_scalar!(
        r#"select floor(extract(epoch from tat) * 1000)::bigint as "tat_ms!" from rate_limit where bucket = $1"#,
        bucket
    )
    .fetch_optional(pool)
    .await?;
    let Some(tat_ms) = tat_ms else {
        return Ok(());
    };
    match decide(now.timestamp_millis(), Some(tat_ms), rate) {
        Decision::Allow { .. } => Ok(()),
        Decision::Deny { retry_after_secs } => Err(AppError::TooManyRequests { retry_after_secs }),
    }
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
