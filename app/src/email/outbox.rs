//! The outbox: emails are queued in the same transaction as the change that
//! causes them, each with its delivery job on the runner (kind
//! [`DELIVER_KIND`]), which sends it later with retries.

use super::EmailStatus;
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

/// Queues a dead email again, due at `now` (its job was retried by hand).
pub async fn reopen_dead(
    conn: &mut PgConnection,
    email_outbox_id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    // language=PostgreSQL
    sqlx::query!(
        "update email_outbox set status = $3, next_attempt_at = $2
         where email_outbox_id = $1 and status = $4",
        email_outbox_id,
        now as _,
        EmailStatus::Queued.as_str(),
        EmailStatus::Dead.as_str(),
    )
    .execute(conn)
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

/// A queued email, as its delivery job sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// Who it goes to.
    pub to_address: String,
    /// Its subject line.
    pub subject: String,
    /// The plain-text body.
    pub text_body: String,
    /// The HTML body.
    pub html_body: String,
}

/// The email `email_outbox_id` if it still waits to be sent (`None`: sent
/// by an earlier job, or gone).
pub async fn waiting(
    executor: impl sqlx::PgExecutor<'_>,
    email_outbox_id: Uuid,
) -> Result<Option<Outgoing>, sqlx::Error> {
    // language=PostgreSQL
    let email = sqlx::query!(
        "select to_address, subject, text_body, html_body from email_outbox
         where email_outbox_id = $1 and status = $2",
        email_outbox_id,
        EmailStatus::Queued.as_str(),
    )
    .fetch_optional(executor)
    .await?;
    Ok(email.map(|email| Outgoing {
        to_address: email.to_address,
        subject: email.subject,
        text_body: email.text_body,
        html_body: email.html_body,
    }))
}

/// Records that the mail server accepted the email at `now`, on its
/// `attempts`-th attempt.
pub async fn record_sent(
    conn: &mut PgConnection,
    email_outbox_id: Uuid,
    attempts: i32,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    // language=PostgreSQL
    sqlx::query!(
        "update email_outbox set status = $4, sent_at = $3, attempts = $2, last_error = null
         where email_outbox_id = $1",
        email_outbox_id,
        attempts,
        now as _,
        EmailStatus::Sent.as_str(),
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Records a failed attempt: the email is queued again for `retry_at`, or
/// `dead` when no retry can help.
pub async fn record_failure(
    conn: &mut PgConnection,
    email_outbox_id: Uuid,
    attempts: i32,
    error: &str,
    dead: bool,
    retry_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let status = if dead {
        EmailStatus::Dead
    } else {
        EmailStatus::Queued
    };
    // language=PostgreSQL
    sqlx::query!(
        "update email_outbox set attempts = $2, last_error = $3, status = $4, next_attempt_at = $5
         where email_outbox_id = $1",
        email_outbox_id,
        attempts,
        error,
        status.as_str(),
        retry_at as _,
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// How many emails are queued (and since when) and dead: the queue gauges
/// and the console's health page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Depths {
    /// Waiting to be sent.
    pub queued: i64,
    /// When the longest-waiting one came due.
    pub oldest_due: Option<DateTime<Utc>>,
    /// Given up.
    pub dead: i64,
}

impl Depths {
    /// Each status's count, as the gauges label them.
    pub fn by_status(&self) -> [(EmailStatus, i64); 2] {
        [(EmailStatus::Queued, self.queued), (EmailStatus::Dead, self.dead)]
    }
}

/// The outbox's [`Depths`], each count answered from its partial index: the
/// words are bound, so PostgreSQL plans each run for them (a generic plan
/// could not prove the index's predicate, so it is not chosen).
pub async fn depths(executor: impl sqlx::PgExecutor<'_>) -> Result<Depths, sqlx::Error> {
    // language=PostgreSQL
    let row = sqlx::query!(
        r#"
        select (select count(*) from email_outbox where status = $1) as "queued!",
               (select min(next_attempt_at) from email_outbox where status = $1)
                   as "oldest_due: DateTime<Utc>",
               (select count(*) from email_outbox where status = $2) as "dead!"
        "#,
        EmailStatus::Queued.as_str(),
        EmailStatus::Dead.as_str()
    )
    .fetch_one(executor)
    .await?;
    Ok(Depths {
        queued: row.queued,
        oldest_due: row.oldest_due,
        dead: row.dead,
    })
}

/// Emails still queued that were queued before `before` (every send so
/// far failed), for the console's dashboard.
pub async fn unsent_since(
    executor: impl sqlx::PgExecutor<'_>,
    before: DateTime<Utc>,
) -> Result<i64, sqlx::Error> {
    // language=PostgreSQL
    sqlx::query_scalar!(
        r#"select count(*) as "unsent!" from email_outbox where status = $2 and created_at < $1"#,
        before as _,
        EmailStatus::Queued.as_str()
    )
    .fetch_one(executor)
    .await
}

/// The outbox's activity as the console's work page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Activity {
    /// Queued emails due now.
    pub due: i64,
    /// Queued emails waiting for their retry.
    pub waiting: i64,
    /// Emails sent since the window's start.
    pub sent: i64,
    /// Emails given up.
    pub dead: i64,
    /// When an email was last sent.
    pub last: Option<DateTime<Utc>>,
    /// The latest dead emails, newest first.
    pub failures: Vec<DeadEmail>,
}

/// An email given up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadEmail {
    /// Its template.
    pub template: String,
    /// Its recipient.
    pub to_address: String,
    /// Why it was given up.
    pub last_error: Option<String>,
    /// When it was queued.
    pub at: DateTime<Utc>,
}

/// The outbox's [`Activity`] at `now`, counting what was sent since `since`.
pub async fn activity(
    pool: &sqlx::PgPool,
    now: DateTime<Utc>,
    since: DateTime<Utc>,
) -> Result<Activity, sqlx::Error> {
    // language=PostgreSQL
    let counts = sqlx::query!(
        r#"
        select count(*) filter (where status = $3 and next_attempt_at <= $1) as "due!",
               count(*) filter (where status = $3 and next_attempt_at > $1) as "waiting!",
               count(*) filter (where status = $4 and sent_at >= $2) as "sent!",
               count(*) filter (where status = $5) as "dead!",
               max(sent_at) as "last: DateTime<Utc>"
        from email_outbox
        "#,
        now as _,
        since as _,
        EmailStatus::Queued.as_str(),
        EmailStatus::Sent.as_str(),
        EmailStatus::Dead.as_str()
    )
    .fetch_one(pool)
    .await?;
    // language=PostgreSQL
    let failures = sqlx::query!(
        r#"select to_address, template, last_error, created_at as "at: DateTime<Utc>"
           from email_outbox where status = $1 order by created_at desc limit 10"#,
        EmailStatus::Dead.as_str()
    )
    .fetch_all(pool)
    .await?;
    Ok(Activity {
        due: counts.due,
        waiting: counts.waiting,
        sent: counts.sent,
        dead: counts.dead,
        last: counts.last,
        failures: failures
            .into_iter()
            .map(|f| DeadEmail {
                template: f.template,
                to_address: f.to_address,
                last_error: f.last_error,
                at: f.at,
            })
            .collect(),
    })
}
