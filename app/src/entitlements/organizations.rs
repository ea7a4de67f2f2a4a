//! The organisations as the host product lists and labels them through
//! `/api/v1`: newest first, with their current plan, and the host
//! product's own id for each.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

/// One organisation of the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedOrganization {
    /// Its id.
    pub organization_id: Uuid,
    /// Its name.
    pub name: String,
    /// The host product's id for it.
    pub external_id: Option<String>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// Its current subscription's tier.
    pub tier: Option<String>,
    /// Its current subscription's status, as stored.
    pub status: Option<String>,
}

/// Up to `limit` organisations, newest first: those after `after` (an
/// organisation's id, for the next page), only the one with `external_id`
/// when it is given.
pub async fn list(
    pool: &PgPool,
    external_id: Option<&str>,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<ListedOrganization>, sqlx::Error> {
    // language=PostgreSQL
    let rows = sqlx::query!(
        r#"
        select o.organization_id, o.name, o.external_id, o.created_at as "created_at: DateTime<Utc>",
               p.plan_key as "tier?", s.status as "status?"
        from organization o
        left join lateral current_subscription(o.organization_id) s on true
        left join plan p on p.plan_id = s.plan_id
        where ($1::text is null or o.external_id = $1)
          and ($2::uuid is null or (o.created_at, o.organization_id) <
               (select a.created_at, a.organization_id from organization a where a.organization_id = $2))
        order by o.created_at desc, o.organization_id desc
        limit $3
        "#,
        external_id,
        after,
        limit
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| ListedOrganization {
            organization_id: r.organization_id,
            name: r.name,
            external_id: r.external_id,
            created_at: r.created_at,
            tier: r.tier,
            status: r.status,
        })
        .collect())
}

/// Why an external id could not be set.
#[derive(Debug, thiserror::Error)]
pub enum ExternalIdError {
    /// Another organisation has it.
    #[error("another organisation already has that external_id")]
    Taken,
    /// The database failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Sets (or, with `None`, clears) the host product's id for an organisation.
pub async fn set_external_id(
    pool: &PgPool,
    organization_id: Uuid,
    external_id: Option<&str>,
) -> Result<(), ExternalIdError> {
    // language=PostgreSQL
    let updated = sqlx::query!(
        "update organization set external_id = $2 where organization_id = $1",
        organization_id,
        external_id
    )
    .execute(pool)
    .await;
    match updated {
        Ok(_) => Ok(()),
        Err(sqlx::Error::Database(db)) if db.is_unique_violation() => Err(ExternalIdError::Taken),
        Err(error) => Err(error.into()),
    }
}
