//! Email delivery: a worker that drains the outbox over SMTP with retries.
//!
//! Several processes may run it: rows are claimed with `FOR UPDATE SKIP
//! LOCKED`, so each email goes to one worker at a time. Delivery is at least
//! once (a crash between sending and committing resends). A failed send is
//! retried with backoff and, after the last attempt, kept as `dead`, never
//! deleted.

use crate::jobs;
use anyhow::{Context, Result};
use app::clock::Clock;
use app::email::outbox::OUTBOX_CHANNEL;
use app::runner::domain::DELIVERY_BACKOFF;
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use sqlx::PgPool;
use std::time::Duration;

/// Attempts before an email is given up as `dead`.
pub const MAX_ATTEMPTS: i32 = 10;

/// An SMTP connection pool and the sender address.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Mailer {
    /// From `GATEHOUSE_SMTP_URL` and `GATEHOUSE_MAIL_FROM`.
    pub fn new(smtp_url: &str, from: &str) -> Result<Self> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(smtp_url)
            .context("GATEHOUSE_SMTP_URL is not a valid SMTP URL")?
            .timeout(Some(Duration::from_secs(30)))
            .build();
        let from = from
            .parse()
            .context("GATEHOUSE_MAIL_FROM is not a valid address")?;
        Ok(Mailer { transport, from })
    }

    async fn send(&self, to: &str, subject: &str, text: String, html: String) -> Result<(), SendError> {
        let to: Mailbox = to
            .parse()
            .map_err(|e| SendError::InvalidRecipient(format!("{e}")))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .multipart(MultiPart::alternative_plain_html(text, html))
            .map_err(|e| SendError::Unbuildable(e.to_string()))?;
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| SendError::Smtp {
                permanent: e.is_permanent(),
                detail: e.to_string(),
            })
    }
}

/// Why one email was not sent.
#[derive(Debug, thiserror::Error)]
enum SendError {
    /// The address cannot be an email address.
    #[error("invalid recipient: {0}")]
    InvalidRecipient(String),
    /// The message cannot be built (a header it refuses).
    #[error("could not build the message: {0}")]
    Unbuildable(String),
    /// The SMTP server failed or refused.
    #[error("{detail}")]
    Smtp {
        /// A 5xx answer: retrying cannot help.
        permanent: bool,
        /// What it said.
        detail: String,
    },
}

impl SendError {
    /// Whether no retry can ever succeed, so the email is dead at once.
    fn is_permanent(&self) -> bool {
        match self {
            SendError::InvalidRecipient(_) | SendError::Unbuildable(_) => true,
            SendError::Smtp { permanent, .. } => *permanent,
        }
    }
}

/// Sends every email due at the clock's now; returns how many were attempted.
pub async fn deliver_due(pool: &PgPool, mailer: &Mailer, clock: &Clock) -> Result<usize> {
    let now = clock.now();
    let mut tx = pool.begin().await?;
    // language=PostgreSQL
    let due = sqlx::query!(
        r#"
        select email_outbox_id, to_address, subject, text_body, html_body, attempts
        from email_outbox
        where status = 'queued' and next_attempt_at <= $1
        order by next_attempt_at
        limit 20
        for update skip locked
        "#,
        now as _
    )
    .fetch_all(&mut *tx)
    .await?;
    for email in &due {
        let attempts = email.attempts + 1;
        match mailer
            .send(
                &email.to_address,
                &email.subject,
                email.text_body.clone(),
                email.html_body.clone(),
            )
            .await
        {
            Ok(()) => {
                // language=PostgreSQL
                sqlx::query!(
                    "update email_outbox set status = 'sent', sent_at = $3, attempts = $2, last_error = null where email_outbox_id = $1",
                    email.email_outbox_id,
                    attempts,
                    now as _
                )
                .execute(&mut *tx)
                .await?;
            }
            Err(error) => {
                tracing::warn!(email = %email.email_outbox_id, attempts, %error, "email delivery failed");
                let dead = attempts >= MAX_ATTEMPTS || error.is_permanent();
                // language=PostgreSQL
                sqlx::query!(
                    r#"
                    update email_outbox
                    set attempts = $2, last_error = $3, status = case when $4 then 'dead' else 'queued' end,
                        next_attempt_at = $5
                    where email_outbox_id = $1
                    "#,
                    email.email_outbox_id,
                    attempts,
                    error.to_string().chars().take(1000).collect::<String>(),
                    dead,
                    (now + DELIVERY_BACKOFF.after(attempts)) as _,
                )
                .execute(&mut *tx)
                .await?;
            }
        }
    }
    tx.commit().await?;
    Ok(due.len())
}

/// Runs delivery forever: on every NOTIFY from a queueing transaction, and
/// every few seconds for retries that come due.
pub fn spawn_delivery_worker(pool: PgPool, mailer: Mailer, clock: Clock) {
    let drain_pool = pool.clone();
    jobs::spawn_drain_loop(pool, OUTBOX_CHANNEL, "email delivery", move || {
        let (pool, mailer, clock) = (drain_pool.clone(), mailer.clone(), clock.clone());
        async move {
            deliver_due(&pool, &mailer, &clock)
                .await
                .map(|attempted| attempted > 0)
        }
    });
}
