//! Authenticating the operator's API keys (made and revoked by
//! [`app::api_keys`]), with their last use recorded about once a minute,
//! from a per-process copy of the keys kept current through NOTIFY.

use super::error::ApiError;
use app::notice_cache::NoticeCache;
use app::security::lease::LeasedThrottle;
use app::security::throttle::Rate;
use axum::http::{HeaderMap, StatusCode, header};
use chrono::{DateTime, TimeDelta, Utc};
use sqlx::PgPool;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
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

/// The channel the `api_key` triggers notify when a key's scope or
/// revocation changes (migration `20261205000001`).
pub const API_KEYS_CHANGED_CHANNEL: &str = "gatehouse_api_keys";

/// Keys remembered before the cache starts again empty.
const MAX_KEYS: usize = 10_000;

/// A stored key as authentication needs it.
#[derive(Debug, Clone)]
struct StoredKey {
    api_key_id: Uuid,
    scope: Option<Scope>,
    revoked: bool,
}

struct KeyCacheInner {
    keys: NoticeCache<Vec<u8>, StoredKey>,
    // When this process last wrote each key's last use (or read it).
    last_used: RwLock<HashMap<Uuid, DateTime<Utc>>>,
}

impl Default for KeyCacheInner {
    fn default() -> Self {
        KeyCacheInner {
            keys: NoticeCache::new(MAX_KEYS),
            last_used: RwLock::default(),
        }
    }
}

/// This process's copy of the keys it has seen, by hash; dropped through
/// [`API_KEYS_CHANGED_CHANNEL`] (and entirely whenever the listener is
/// not listening, when it answers nothing). Clones share it.
#[derive(Clone, Default)]
pub struct KeyCache {
    inner: Arc<KeyCacheInner>,
}

impl KeyCache {
    /// Drops every cached key.
    pub fn invalidate_all(&self) {
        self.inner.keys.forget_all();
    }

    /// One heartbeat of the change listener: entries age by one (see
    /// [`app::notice_cache::MAX_AGE_TICKS`]).
    pub fn tick(&self) {
        self.inner.keys.tick();
    }

    /// Whether notices are being received; the cache answers only then.
    pub fn set_live(&self, live: bool) {
        self.inner.keys.set_live(live);
    }

    /// Whether this key's last use is due to be written at `now`, noting
    /// `now` as written if so; `stored` is the stored value when just read.
    fn last_use_due(
        &self,
        api_key_id: Uuid,
        stored: Option<Option<DateTime<Utc>>>,
        now: DateTime<Utc>,
    ) -> bool {
        let due_after = |at: DateTime<Utc>| now - at >= LAST_USED_GRANULARITY || at > now;
        // Nearly always: written less than a minute ago, seen under a read lock.
        if stored.is_none()
            && let Ok(last_used) = self.inner.last_used.read()
            && last_used.get(&api_key_id).is_some_and(|at| !due_after(*at))
        {
            return false;
        }
        let Ok(mut last_used) = self.inner.last_used.write() else {
            return true;
        };
        if last_used.len() >= MAX_KEYS {
            last_used.clear();
        }
        let known = match stored {
            Some(stored) => stored,
            None => last_used.get(&api_key_id).copied(),
        };
        let due = known.is_none_or(due_after);
        if due {
            last_used.insert(api_key_id, now);
        } else if let Some(at) = known {
            last_used.entry(api_key_id).or_insert(at);
        }
        due
    }

    async fn lookup(
        &self,
        pool: &PgPool,
        token: &str,
    ) -> Result<(StoredKey, Option<Option<DateTime<Utc>>>), ApiError> {
        let hash = key_hash(token);
        if let Some(key) = self.inner.keys.get(&hash) {
            return Ok((key, None));
        }
        let read = self.inner.keys.read_started();
        let row = app::api_keys::by_hash(pool, &hash)
            .await?
            .ok_or_else(|| unauthorized("invalid_api_key", "that API key is not valid"))?;
        let key = StoredKey {
            api_key_id: row.api_key_id,
            scope: row.scope,
            revoked: row.revoked,
        };
        self.inner.keys.keep(read, hash, key.clone());
        Ok((key, Some(row.last_used_at)))
    }
}

/// What authenticating a request needs from the server's state.
pub struct Authenticator<'a> {
    /// The database.
    pub pool: &'a PgPool,
    /// Connections for throttle counts (see [`crate::ProcessState::throttle_pool`]).
    pub throttle_pool: &'a PgPool,
    /// This process's cached keys.
    pub keys: &'a KeyCache,
    /// This process's leases of busy keys' requests.
    pub throttle: &'a LeasedThrottle,
    /// Requests per key.
    pub rate: Rate,
}

/// Authenticates a request's key and counts it against the key's rate.
pub async fn authenticate(
    auth: &Authenticator<'_>,
    headers: &HeaderMap,
    now: DateTime<Utc>,
) -> Result<Caller, ApiError> {
    let token = bearer(headers)?;
    if token.len() > 200 || !token.starts_with("gk_") {
        return Err(unauthorized("invalid_api_key", "that API key is not valid"));
    }
    let (key, stored_last_use) = auth.keys.lookup(auth.pool, token).await?;
    if key.revoked {
        return Err(unauthorized("revoked_api_key", "that API key has been revoked"));
    }
    let scope = key
        .scope
        .ok_or_else(|| ApiError::internal("reading an API key", "unknown scope"))?;
    let bucket = format!("api_key:{}", key.api_key_id);
    match auth
        .throttle
        .admit(auth.throttle_pool, now, &bucket, auth.rate)
        .await
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
    if auth.keys.last_use_due(key.api_key_id, stored_last_use, now) {
        app::api_keys::record_use(auth.pool, key.api_key_id, now).await?;
    }
    Ok(Caller {
        api_key_id: key.api_key_id,
        scope,
    })
}
