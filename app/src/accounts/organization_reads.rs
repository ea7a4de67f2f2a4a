//! An organisation as the console reads it: its own row and its members.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

/// An organisation's own facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrganizationRecord {
    /// Its name.
    pub name: String,
    /// The host product's id for it.
    pub external_id: Option<String>,
    /// When it signed up.
    pub created_at: DateTime<Utc>,
    /// Since when it is suspended, if it is.
    pub suspended_at: Option<DateTime<Utc>>,
    /// Why, as the admin gave it.
    pub suspension_reason: Option<String>,
}

/// The organisation `organization_id`, if there is one.
pub async fn organization(
    pool: &PgPool,
    organization_id: Uuid,
) -> Result<Option<OrganizationRecord>, sqlx::Error> {
    // language=PostgreSQL
    sqlx::query_as!(
        OrganizationRecord,
        r#"select name, external_id, created_at as "created_at: DateTime<Utc>",
                  suspended_at as "suspended_at: DateTime<Utc>", suspension_reason
           from organization where organization_id = $1"#,
        organization_id
    )
    .fetch_optional(pool)
    .await
}

/// Its members' emails and roles, owners first, then by email.
pub async fn members(pool: &PgPool, organization_id: Uuid) -> Result<Vec<(String, String)>, sqlx::Error> {
    // language=PostgreSQL
    let rows = sqlx::query!(
        "select u.email, m.role from membership m join app_user u using (user_id)
         where m.organization_id = $1 order by m.role = 'owner' desc, u.email",
        organization_id
    )
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|r| (r.email, r.role)).collect())
}
