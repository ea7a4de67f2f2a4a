//! Rate-limit state in Postgres: one row per key, updated under a row lock so
//! concurrent requests on any process see each other.

use super::throttle::{Decision, Rate, decide};
use crate::error::AppError;
use chrono::{DateTime, Utc};
use sqlx::PgPool;

/// Counts one request at `now` against `bucket`, refusing with
/// [`AppError::TooManyRequests`] when over `rate`.
pub async fn throttle(pool: &PgPool, now: DateTime<Utc>, bucket: &str, rate: Rate) -> Result<(), AppError> {
    let mut tx = pool.begin().await?;
    // language=PostgreSQL
    sqlx::query!(
        "insert into rate_limit (bucket, tat) values ($1, $2) on conflict (bucket) do nothing",
        bucket,
        now as _
    )
    .execute(&mut *tx)
    .await?;
    // language=PostgreSQL
    let tat_ms = sqlx::query_scalar!(
        r#"
        select floor(extract(epoch from tat) * 1000)::bigint as "tat_ms!"
        from rate_limit where bucket = $1 for update
        "#,
        bucket
    )
    .fetch_one(&mut *tx)
    .await?;
    match decide(now.timestamp_millis(), Some(tat_ms), rate) {
        Decision::Allow { new_tat_ms } => {
            // language=PostgreSQL
            sqlx::query!(
                "update rate_limit set tat = to_timestamp($2::bigint / 1000.0) where bucket = $1",
                bucket,
                new_tat_ms
            )
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(())
        }
        Decision::Deny { retry_after_secs } => {
            tx.rollback().await?;
            Err(AppError::TooManyRequests { retry_after_secs })
        }
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
