//! The outbox: emails are queued in the same transaction as the change that
//! causes them, and a delivery worker sends them later with retries.

use super::templates::EmailMessage;
use chrono::{DateTime, Utc};
use sqlx::PgConnection;

/// The channel that wakes delivery workers when mail is queued.
pub const OUTBOX_CHANNEL: &str = "gatehouse_email_queued";

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
    let queued = sqlx::query!(
        r#"
        insert into email_outbox (to_address, template, subject, text_body, html_body, created_at, next_attempt_at, cause)
        values ($1, $2, $3, $4, $5, $6, $6, $7)
        on conflict (cause, to_address) where cause is not null do nothing
        "#,
        to,
        message.template,
        message.subject,
        message.text,
        message.html,
        now as _,
        cause,
    )
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1;
    if queued {
        // language=PostgreSQL
        sqlx::query!("select pg_notify($1, '')", OUTBOX_CHANNEL)
            .execute(&mut *conn)
            .await?;
    }
    Ok(queued)
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
