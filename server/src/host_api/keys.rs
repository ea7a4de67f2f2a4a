//! Authenticating the operator's API keys (made and revoked by
//! [`app::api_keys`]), with their last use recorded.

use super::error::ApiError;
use app::security::throttle::Rate;
use axum::http::{HeaderMap, StatusCode, header};
use chrono::{DateTime, TimeDelta, Utc};
use sqlx::PgPool;
use uuid::Uuid;

pub use app::api_keys::{NewKey, Scope, create, key_hash, revoke};

/// A key that authenticated a request.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The key's id.
    pub api_key_id: Uuid,
    /// What it may do.
    pub scope: Scope,
}

impl Caller {
    /// Refuses a read key a write.
    pub fn require_write(&self) -> Result<(), ApiError> {
        match self.scope {
            Scope::Write => Ok(()),
            Scope::Read => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "read_only_key",
                "this API key may only read; use a key with the write scope",
            )),
        }
    }
}

fn unauthorized(code: &'static str, message: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, code, message)
}

/// The bearer token of a request, if it has one.
fn bearer(headers: &HeaderMap) -> Result<&str, ApiError> {
    let value = headers.get(header::AUTHORIZATION).ok_or_else(|| {
        unauthorized(
            "missing_api_key",
            "send your API key as Authorization: Bearer <key>",
        )
    })?;
    let value = value
        .to_str()
        .map_err(|_| unauthorized("invalid_api_key", "that API key is not valid"))?;
    let (scheme, token) = value.split_once(' ').ok_or_else(|| {
        unauthorized(
            "invalid_api_key",
            "send your API key as Authorization: Bearer <key>",
        )
    })?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(unauthorized(
            "invalid_api_key",
            "send your API key as Authorization: Bearer <key>",
        ));
    }
    Ok(token.trim())
}

/// How often a key's last use is written: not on every request.
const LAST_USED_GRANULARITY: TimeDelta = TimeDelta::seconds(60);

/// Authenticates a request's key and counts it against the key's rate;
/// `throttle_pool` counts it (see [`crate::AppState::throttle_pool`]).
pub async fn authenticate(
    pool: &PgPool,
    throttle_pool: &PgPool,
    headers: &HeaderMap,
    now: DateTime<Utc>,
    rate: Rate,
) -> Result<Caller, ApiError> {
    let token = bearer(headers)?;
    if token.len() > 200 || !token.starts_with("gk_") {
        return Err(unauthorized("invalid_api_key", "that API key is not valid"));
    }
    // language=PostgreSQL
    let row = sqlx::query!(
        r#"
        select api_key_id, scope, (revoked_at is not null) as "revoked!",
               last_used_at as "last_used_at: DateTime<Utc>"
        from api_key where key_hash = $1
        "#,
        key_hash(token)
    )
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| unauthorized("invalid_api_key", "that API key is not valid"))?;
    if row.revoked {
        return Err(unauthorized("revoked_api_key", "that API key has been revoked"));
    }
    let scope =
        Scope::parse(&row.scope).ok_or_else(|| ApiError::internal("reading an API key", "unknown scope"))?;
    match app::security::db::throttle(throttle_pool, now, &format!("api_key:{}", row.api_key_id), rate).await
    {
        Ok(()) => {}
        Err(app::error::AppError::TooManyRequests { retry_after_secs }) => {
            return Err(ApiError {
                retry_after: Some(retry_after_secs),
                ..ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limited",
                    format!("too many requests for this key; try again in {retry_after_secs} seconds"),
                )
            });
        }
        Err(error) => return Err(ApiError::internal("throttling an API key", error)),
    }
    if row
        .last_used_at
        .is_none_or(|at| now - at >= LAST_USED_GRANULARITY)
    {
        // language=PostgreSQL
        sqlx::query!(
            "update api_key set last_used_at = $2 where api_key_id = $1",
            row.api_key_id,
            now as _
        )
        .execute(pool)
        .await?;
    }
    Ok(Caller {
        api_key_id: row.api_key_id,
        scope,
    })
}
