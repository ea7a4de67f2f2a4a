//! Email delivery over SMTP: each queued email is a runner job
//! (`email.deliver`), so any number of processes send each email once at
//! a time. Delivery is at least once (a crash between sending and
//! committing resends). A failed send is retried with backoff and, after
//! the last attempt, kept as `dead`, never deleted.

use crate::runner::{Attempt, HandlerFuture, JobContext, Recorded};
use anyhow::{Context, Result};
use app::email::outbox;
use app::runner::db::Claimed;
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::time::Duration;
use uuid::Uuid;

pub use app::email::outbox::MAX_ATTEMPTS;

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

/// Sends one queued email (a job of kind `email.deliver`, holding no
/// connection while SMTP answers), then records the attempt on the outbox
/// row: sent, queued again after the backoff, or dead when no retry can
/// help or the attempts ran out.
pub fn deliver<'a>(job: &'a Claimed, context: &'a JobContext) -> HandlerFuture<'a, Recorded> {
    Box::pin(async move {
        let mailer = context
            .mailer
            .as_ref()
            .context("this process has no SMTP server")?;
        let id: Uuid = job
            .item()
            .and_then(|item| item.parse().ok())
            .context("the job names no email")?;
        let Some(email) = outbox::waiting(&context.pool, id).await? else {
            // Sent by an earlier job, or gone: nothing to send.
            let tx = context.pool.begin().await?;
            return Ok(Recorded {
                tx,
                attempt: Attempt::Done,
            });
        };
        let sent = mailer
            .send(
                &email.to_address,
                &email.subject,
                email.text_body,
                email.html_body,
            )
            .await;
        let now = context.clock.now();
        let mut tx = context.pool.begin().await?;
        let attempt = match sent {
            Ok(()) => {
                outbox::record_sent(&mut tx, id, job.attempt, now).await?;
                Attempt::Done
            }
            Err(error) => {
                tracing::warn!(email = %id, attempts = job.attempt, %error, "email delivery failed");
                let dead = job.is_last_attempt() || error.is_permanent();
                let message: String = error.to_string().chars().take(1000).collect();
                outbox::record_failure(&mut tx, id, job.attempt, &message, dead, job.retry_at(now)).await?;
                if error.is_permanent() {
                    Attempt::GiveUp(message)
                } else {
                    Attempt::Retry(message)
                }
            }
        };
        Ok(Recorded { tx, attempt })
    })
}
