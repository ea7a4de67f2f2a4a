//! The operator's API keys for `/api/v1`: `gk_` + a short visible prefix +
//! a random secret. Only a SHA-256 of the key is stored (a key is 256 random
//! bits, so a fast hash is enough: there is nothing to guess); the key is
//! shown once and can be revoked. Made by `server create-api-key` and the
//! admin console; checked by the server's host API.

use crate::clock::Clock;
use anyhow::Result;
use base64::Engine;
use chrono::{DateTime, Utc};
use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use uuid::Uuid;

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Reads only.
    Read,
    /// Reads and writes.
    Write,
}

impl Scope {
    /// Reads `read` or `write`.
    pub fn parse(raw: &str) -> Option<Scope> {
        match raw {
            "read" => Some(Scope::Read),
            "write" => Some(Scope::Write),
            _ => None,
        }
    }

    /// The stored word.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
        }
    }
}

/// A newly made key: the key itself exists only here.
#[derive(Debug, Clone)]
pub struct NewKey {
    /// The key's id.
    pub api_key_id: Uuid,
    /// The full key, shown once.
    pub key: String,
    /// Its visible prefix.
    pub prefix: String,
}

/// The stored form of a key: its SHA-256.
pub fn key_hash(key: &str) -> Vec<u8> {
    Sha256::digest(key.as_bytes()).to_vec()
}

/// Makes and stores a key.
/// `executor` may be the caller's transaction, so its audit entry commits
/// with the key.
pub async fn create(
    executor: impl sqlx::PgExecutor<'_>,
    name: &str,
    scope: Scope,
    clock: &Clock,
) -> Result<NewKey> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        anyhow::bail!("a key's name must be 1 to 100 characters");
    }
    let mut visible = [0u8; 4];
    let mut secret = [0u8; 32];
    rand::rng().fill_bytes(&mut visible);
    rand::rng().fill_bytes(&mut secret);
    let prefix = format!("gk_{}", hex_of(&visible));
    let key = format!(
        "{prefix}_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret)
    );
    // language=PostgreSQL
    let api_key_id = sqlx::query_scalar!(
        r#"
        insert into api_key (name, scope, prefix, key_hash, created_at) values ($1, $2, $3, $4, $5)
        returning api_key_id
        "#,
        name,
        scope.as_str(),
        prefix,
        key_hash(&key),
        clock.now() as _
    )
    .fetch_one(executor)
    .await?;
    Ok(NewKey {
        api_key_id,
        key,
        prefix,
    })
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Revokes a key by its prefix; returns whether one was live.
/// `executor` may be the caller's transaction, as for [`create`].
pub async fn revoke(executor: impl sqlx::PgExecutor<'_>, prefix: &str, clock: &Clock) -> Result<bool> {
    // language=PostgreSQL
    let revoked = sqlx::query!(
        "update api_key set revoked_at = $2 where prefix = $1 and revoked_at is null",
        prefix,
        clock.now() as _
    )
    .execute(executor)
    .await?
    .rows_affected();
    Ok(revoked == 1)
}

/// A key as the console lists it (never the key itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyListing {
    /// Its name.
    pub name: String,
    /// Its visible prefix.
    pub prefix: String,
    /// `read` or `write`.
    pub scope: String,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When it was last used (to the minute).
    pub last_used_at: Option<DateTime<Utc>>,
    /// When it was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Every key, newest first.
pub async fn list(pool: &PgPool) -> Result<Vec<KeyListing>, sqlx::Error> {
    // language=PostgreSQL
    let rows = sqlx::query!(
        r#"select name, prefix, scope, created_at as "created_at: DateTime<Utc>",
                  last_used_at as "last_used_at: DateTime<Utc>", revoked_at as "revoked_at: DateTime<Utc>"
           from api_key order by created_at desc, prefix"#
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| KeyListing {
            name: r.name,
            prefix: r.prefix,
            scope: r.scope,
            created_at: r.created_at,
            last_used_at: r.last_used_at,
            revoked_at: r.revoked_at,
        })
        .collect())
}

/// A key as authentication reads it by its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredKeyRow {
    /// The key's id.
    pub api_key_id: Uuid,
    /// What it may do (`None`: a scope this version does not know).
    pub scope: Option<Scope>,
    /// Whether it was revoked.
    pub revoked: bool,
    /// When it was last used, as recorded.
    pub last_used_at: Option<DateTime<Utc>>,
}

/// The key whose hash is `hash`, if any.
pub async fn by_hash(pool: &PgPool, hash: &[u8]) -> Result<Option<StoredKeyRow>, sqlx::Error> {
    // language=PostgreSQL
    let row = sqlx::query!(
        r#"
        select api_key_id, scope, (revoked_at is not null) as "revoked!",
               last_used_at as "last_used_at: DateTime<Utc>"
        from api_key where key_hash = $1
        "#,
        hash
    )
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|row| StoredKeyRow {
        api_key_id: row.api_key_id,
        scope: Scope::parse(&row.scope),
        revoked: row.revoked,
        last_used_at: row.last_used_at,
    }))
}

/// Records that the key `api_key_id` was used at `now`.
pub async fn record_use(pool: &PgPool, api_key_id: Uuid, now: DateTime<Utc>) -> Result<(), sqlx::Error> {
    // language=PostgreSQL
    sqlx::query!(
        "update api_key set last_used_at = $2 where api_key_id = $1",
        api_key_id,
        now as _
    )
    .execute(pool)
    .await?;
    Ok(())
}
