//! Admin overrides of an organisation's entitlements: a feature on or off,
//! a limit, or the tier, until an optional expiry; removed, not deleted.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

/// What an entitlement override sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OverrideInput {
    /// A feature on or off.
    Feature {
        /// The feature key.
        key: String,
        /// On or off.
        enabled: bool,
    },
    /// A limit, `None` for unlimited.
    Limit {
        /// The metric key.
        key: String,
        /// The limit.
        limit: Option<i64>,
    },
    /// The tier whose entitlements apply.
    Tier {
        /// The tier key.
        key: String,
    },
}

/// Writes an override for an existing organisation; `None` if there is none.
pub async fn add_override(
    conn: &mut PgConnection,
    organization_id: Uuid,
    input: &OverrideInput,
    expires_at: Option<DateTime<Utc>>,
    reason: &str,
    admin_email: &str,
    now: DateTime<Utc>,
) -> Result<Option<Uuid>, sqlx::Error> {
    use super::domain::OverrideKind;
    let (kind, key, enabled, limit) = match input {
        OverrideInput::Feature { key, enabled } => (OverrideKind::Feature, key, Some(*enabled), None),
        OverrideInput::Limit { key, limit } => (OverrideKind::Limit, key, None, *limit),
        OverrideInput::Tier { key } => (OverrideKind::Tier, key, None, None),
    };
    // language=PostgreSQL
    sqlx::query_scalar!(
        "insert into entitlement_override (organization_id, kind, key, enabled, limit_value, expires_at, reason,
                                           created_by, created_at)
         select organization_id, $2, $3, $4, $5, $6, $7, $8, $9 from organization where organization_id = $1
         returning override_id",
        organization_id,
        kind.as_str(),
        key,
        enabled,
        limit,
        expires_at as _,
        reason,
        format!("admin:{admin_email}"),
        now as _
    )
    .fetch_optional(conn)
    .await
}

/// Marks an organisation's live override removed; returns what it was.
pub async fn remove_override(
    conn: &mut PgConnection,
    organization_id: Uuid,
    override_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Option<Value>, sqlx::Error> {
    // language=PostgreSQL
    sqlx::query_scalar!(
        r#"update entitlement_override set removed_at = $3
           where override_id = $2 and organization_id = $1 and removed_at is null
           returning jsonb_build_object('override', override_id, 'kind', kind, 'key', key, 'enabled', enabled,
                                        'limit', limit_value, 'expires_at', expires_at) as "before!""#,
        organization_id,
        override_id,
        now as _
    )
    .fetch_optional(conn)
    .await
}
