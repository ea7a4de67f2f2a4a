//! Rate-limit state in Postgres: one row per key, updated under a row lock so
//! concurrent requests on any process see each other.

use super::throttle::{Decision, Rate, decide};
use crate::error::AppError;
use sqlx::PgPool;

/// Counts one request against `bucket`, refusing with
/// [`AppError::TooManyRequests`] when over `rate`.
pub async fn throttle(pool: &PgPool, bucket: &str, rate: Rate) -> Result<(), AppError> {
    let mut tx = pool.begin().await?;
    // language=PostgreSQL
    sqlx::query!(
        "insert into rate_limit (bucket, tat) values ($1, now()) on conflict (bucket) do nothing",
        bucket
    )
    .execute(&mut *tx)
    .await?;
    // language=PostgreSQL
    let row = sqlx::query!(
        r#"
        select (extract(epoch from tat) * 1000)::bigint as "tat_ms!",
               (extract(epoch from now()) * 1000)::bigint as "now_ms!"
        from rate_limit where bucket = $1 for update
        "#,
        bucket
    )
    .fetch_one(&mut *tx)
    .await?;
    match decide(row.now_ms, Some(row.tat_ms), rate) {
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
