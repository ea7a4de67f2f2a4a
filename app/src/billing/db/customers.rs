//! Which provider customer pays for an organisation.

use crate::billing::provider::ProviderName;
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// The provider customer of an organisation.
pub async fn customer_of(
    pool: &PgPool,
    organization_id: Uuid,
    provider: ProviderName,
) -> Result<Option<String>, sqlx::Error> {
    // language=PostgreSQL
    sqlx::query_scalar!(
        "select provider_customer_id from billing_customer where organization_id = $1 and provider = $2",
        organization_id,
        provider.as_str()
    )
    .fetch_optional(pool)
    .await
}

/// Links an organisation to its provider customer (replacing a link to
/// another provider's customer, which happens when a deployment moves from the
/// sandbox to Stripe).
pub async fn link_customer(
    pool: &PgPool,
    organization_id: Uuid,
    provider: ProviderName,
    customer_id: &str,
    email: &str,
) -> Result<(), sqlx::Error> {
    // language=PostgreSQL
    sqlx::query!(
        r#"
        insert into billing_customer (organization_id, provider, provider_customer_id, email)
        values ($1, $2, $3, $4)
        on conflict (organization_id) do update
            set provider = excluded.provider, provider_customer_id = excluded.provider_customer_id,
                email = excluded.email
        "#,
        organization_id,
        provider.as_str(),
        customer_id,
        email
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Records a customer's email as an event of `event_at` carried it; an
/// older event than the one stored changes nothing. False if the customer
/// is not Gatehouse's.
pub async fn update_customer_email(
    conn: &mut PgConnection,
    provider: ProviderName,
    customer_id: &str,
    email: Option<&str>,
    event_at: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    // language=PostgreSQL
    let known = sqlx::query_scalar!(
        r#"
        update billing_customer
        set email = case when email_event_at is null or email_event_at <= $4 then $3 else email end,
            email_event_at = greatest(email_event_at, $4)
        where provider = $1 and provider_customer_id = $2
        returning true as "known!"
        "#,
        provider.as_str(),
        customer_id,
        email,
        event_at as _
    )
    .fetch_optional(conn)
    .await?;
    Ok(known.is_some())
}
