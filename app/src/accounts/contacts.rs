//! Who hears about an organisation's money: its owners and admins, and the
//! one way to email them, once per cause.

use crate::email::outbox;
use crate::email::templates::EmailMessage;
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

/// The organisation's billing contacts: its owners and admins.
pub async fn billing_contacts(
    conn: &mut PgConnection,
    organization_id: Uuid,
) -> Result<Vec<String>, sqlx::Error> {
    // language=PostgreSQL
    sqlx::query_scalar!(
        r#"
        select u.email from membership m join app_user u using (user_id)
        where m.organization_id = $1 and m.role in ('owner', 'admin')
        order by m.role desc, m.created_at
        "#,
        organization_id
    )
    .fetch_all(&mut *conn)
    .await
}

/// Queues `message` for each billing contact of the organisation, once per
/// `cause` (a re-run, a redelivery or a second process queues nothing), in
/// the caller's transaction. Returns how many were queued now.
pub async fn email_billing_contacts(
    conn: &mut PgConnection,
    organization_id: Uuid,
    message: &EmailMessage,
    cause: &str,
    now: DateTime<Utc>,
) -> Result<usize, sqlx::Error> {
    let contacts = billing_contacts(conn, organization_id).await?;
    outbox::enqueue_once_each(conn, now, &contacts, message, cause).await
}
