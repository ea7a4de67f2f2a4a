//! The outbox: emails are queued in the same transaction as the change that
//! causes them, each with its delivery job on the runner (kind
//! [`DELIVER_KIND`]), which sends it later with retries.

use super::templates::EmailMessage;
use crate::runner::db::enqueue_items;
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

/// The runner's job kind that sends one queued email.
pub const DELIVER_KIND: &str = "email.deliver";

/// Attempts before an email is given up as `dead`.
pub const MAX_ATTEMPTS: i32 = 10;

/// Queues the delivery job of the email `email_outbox_id`, due at `now`.
pub async fn queue_delivery(
    conn: &mut PgConnection,
    email_outbox_id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let item = [email_outbox_id.to_string()];
    enqueue_items(conn, DELIVER_KIND, &item, now, MAX_ATTEMPTS, now)
        .await
        .map(|_| ())
}

/// Queues `message` for `to`, due at `now`, inside the caller's transaction.
pub async fn enqueue(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    to: &str,
    message: &EmailMessage,
) -> Result<(), sqlx::Error> {
    insert(conn, now, to, message, None).await.map(|_| ())
}

/// Queues `message` for `to` once per `cause` (a job's period, a provider
/// event, a collection step): a second call for the same cause and
/// recipient, from any process or re-run, queues nothing. Returns whether
/// it was queued now.
pub async fn enqueue_once(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    to: &str,
    message: &EmailMessage,
    cause: &str,
) -> Result<bool, sqlx::Error> {
    insert(conn, now, to, message, Some(cause)).await
}

async fn insert(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    to: &str,
    message: &EmailMessage,
    cause: Option<&str>,
) -> Result<bool, sqlx::Error> {
    // language=PostgreSQL
    let queued = sqlx::query_scalar!(
        r#"
        insert into email_outbox (to_address, template, subject, text_body, html_body, created_at, next_attempt_at, cause)
        values ($1, $2, $3, $4, $5, $6, $6, $7)
        on conflict (cause, to_address) where cause is not null do nothing
        returning email_outbox_id
        "#,
        to,
        message.template,
        message.subject,
        message.text,
        message.html,
        now as _,
        cause,
    )
    .fetch_optional(&mut *conn)
    .await?;
    match queued {
        Some(email_outbox_id) => {
            queue_delivery(conn, email_outbox_id, now).await?;
            Ok(true)
        }
        None => Ok(false),
    }
}

/// Queues `message` once per `cause` for each of `recipients`; returns how
/// many were queued now.
pub async fn enqueue_once_each(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    recipients: &[String],
    message: &EmailMessage,
    cause: &str,
) -> Result<usize, sqlx::Error> {
    let mut queued = 0;
    for to in recipients {
        queued += usize::from(enqueue_once(conn, now, to, message, cause).await?);
    }
    Ok(queued)
}

/// The most recent emails, newest first.
pub async fn recent(conn: &mut PgConnection, limit: i64) -> Result<Vec<super::DevEmailView>, sqlx::Error> {
    // language=PostgreSQL
    let rows = sqlx::query!(
        r#"
        select to_address, subject, text_body, status,
               to_char(created_at at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS "UTC"') as "created_at!"
        from email_outbox order by created_at desc limit $1
        "#,
        limit
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| super::DevEmailView {
            to_address: r.to_address,
            subject: r.subject,
            text_body: r.text_body,
            status: r.status,
            created_at: r.created_at,
        })
        .collect())
}
