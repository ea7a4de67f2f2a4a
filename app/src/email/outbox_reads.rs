//! The outbox as the console's emails pages read it and send again.

use super::EmailStatus;
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// A queued, sent or dead email, as the console lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEmail {
    /// Its row.
    pub email_outbox_id: Uuid,
    /// To whom.
    pub to_address: String,
    /// Its template.
    pub template: String,
    /// Its subject.
    pub subject: String,
    /// Its status, as stored.
    pub status: String,
    /// Attempts so far.
    pub attempts: i32,
    /// The last delivery error.
    pub last_error: Option<String>,
    /// When it was queued.
    pub created_at: DateTime<Utc>,
}

/// The newest `limit` emails to any of `addresses` (compared without case).
pub async fn to_addresses(
    pool: &PgPool,
    addresses: &[String],
    limit: i64,
) -> Result<Vec<StoredEmail>, sqlx::Error> {
    let addresses: Vec<String> = addresses.iter().map(|a| a.to_lowercase()).collect();
    // language=PostgreSQL
    sqlx::query_as!(
        StoredEmail,
        r#"select email_outbox_id, to_address, template, subject, status, attempts, last_error,
                  created_at as "created_at: DateTime<Utc>"
           from email_outbox
           where lower(to_address) = any($1)
           order by created_at desc, email_outbox_id
           limit $2"#,
        &addresses,
        limit
    )
    .fetch_all(pool)
    .await
}

/// The newest `limit` emails in `status`.
pub async fn list(pool: &PgPool, status: EmailStatus, limit: i64) -> Result<Vec<StoredEmail>, sqlx::Error> {
    // language=PostgreSQL
    let rows = sqlx::query!(
        r#"select email_outbox_id, to_address, template, subject, status, attempts, last_error,
                  created_at as "created_at: DateTime<Utc>"
           from email_outbox where status = $1 order by created_at desc limit $2"#,
        status.as_str(),
        limit
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| StoredEmail {
            email_outbox_id: r.email_outbox_id,
            to_address: r.to_address,
            template: r.template,
            subject: r.subject,
            status: r.status,
            attempts: r.attempts,
            last_error: r.last_error,
            created_at: r.created_at,
        })
        .collect())
}

/// An email sent again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resent {
    /// To whom.
    pub to_address: String,
    /// Its status before, as stored.
    pub status_before: String,
    /// The queued email that goes out: the same row (a dead one) or a copy (a sent one).
    pub sent_as: Uuid,
}

/// Why an email cannot be sent again.
#[derive(Debug, thiserror::Error)]
pub enum ResendError {
    /// No such email.
    #[error("no such email")]
    NotFound,
    /// It is still queued: it goes out by itself.
    #[error("the email is still queued; it goes out by itself")]
    StillQueued,
    /// The database failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Queues an email again at `now`, in the caller's transaction: a dead one
/// with its attempts reset, a sent one as a new copy. Its delivery job is
/// the caller's to queue ([`super::outbox::queue_delivery`]).
pub async fn resend(
    conn: &mut PgConnection,
    email_outbox_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Resent, ResendError> {
    // language=PostgreSQL
    let email = sqlx::query!(
        "select to_address, status from email_outbox where email_outbox_id = $1 for update",
        email_outbox_id
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(ResendError::NotFound)?;
    let sent_as = match EmailStatus::parse(&email.status) {
        Some(EmailStatus::Dead) => {
            // language=PostgreSQL
            sqlx::query!(
                "update email_outbox set status = $3, attempts = 0, next_attempt_at = $2
                 where email_outbox_id = $1",
                email_outbox_id,
                now as _,
                EmailStatus::Queued.as_str(),
            )
            .execute(&mut *conn)
            .await?;
            email_outbox_id
        }
        // language=PostgreSQL
        Some(EmailStatus::Sent) => sqlx::query_scalar!(
            "insert into email_outbox (to_address, template, subject, text_body, html_body, next_attempt_at, created_at)
             select to_address, template, subject, text_body, html_body, $2, $2 from email_outbox
             where email_outbox_id = $1
             returning email_outbox_id",
            email_outbox_id,
            now as _
        )
        .fetch_one(&mut *conn)
        .await?,
        _ => return Err(ResendError::StillQueued),
    };
    Ok(Resent {
        to_address: email.to_address,
        status_before: email.status,
        sent_as,
    })
}
