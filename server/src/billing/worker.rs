//! The event worker: drains the `webhook_event` inbox (Stripe's webhooks and
//! the sandbox's events alike) into local state.
//!
//! Each event is claimed with `FOR UPDATE SKIP LOCKED`, applied and marked
//! done in one transaction, so any number of processes can run it and a
//! crash mid-way leaves the event pending, to be applied once on the next
//! pass. Subscriptions are re-read from the provider before anything is
//! written, so events that arrive out of order cannot move state backwards;
//! invoices carry their own state and never move to an older one.

use super::stripe::billing_event_from_stripe;
use crate::jobs::{self, backoff_secs};
use app::billing::db::{self, Applied};
use app::billing::inbox::INBOX_CHANNEL;
use app::billing::provider::{BillingProvider, ProviderError};
use app::billing::subscription::BillingEvent;
use app::billing::trials::{self, Notices};
use sqlx::PgPool;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Attempts before an event is parked as `failed` for an admin to look at.
pub const MAX_ATTEMPTS: i32 = 12;

/// Why one event could not be processed now (it is retried).
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// The provider failed.
    #[error("provider: {0}")]
    Provider(#[from] ProviderError),
    /// The payload cannot be read.
    #[error("payload: {0}")]
    Payload(String),
    /// The event is from a provider this server is not configured for.
    #[error("events from {0} cannot be processed: this server uses {1}")]
    OtherProvider(String, &'static str),
}

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pass {
    /// Events applied (or acknowledged as nothing to do).
    pub processed: usize,
    /// Events marked unmatched.
    pub unmatched: usize,
    /// Events that failed this time (retried later).
    pub failed: usize,
}

/// Reads a stored payload as a billing event.
pub fn billing_event(provider: &str, payload: &serde_json::Value) -> Result<BillingEvent, ProcessError> {
    match provider {
        "sandbox" => {
            serde_json::from_value(payload.clone()).map_err(|e| ProcessError::Payload(e.to_string()))
        }
        "stripe" => billing_event_from_stripe(payload).map_err(ProcessError::Payload),
        other => Err(ProcessError::Payload(format!("unknown provider {other}"))),
    }
}

/// Claims and processes due events until none is left or `limit` is reached.
pub async fn process_due(
    pool: &PgPool,
    provider: &dyn BillingProvider,
    notices: &Notices,
    limit: usize,
) -> Result<Pass, sqlx::Error> {
    let mut pass = Pass::default();
    while pass.processed + pass.unmatched + pass.failed < limit {
        let mut tx = pool.begin().await?;
        // Oldest first (by the provider's clock), one at a time.
        // language=PostgreSQL
        let Some(event) = sqlx::query!(
            r#"
            select webhook_event_id, provider, provider_event_id, event_type, payload, attempts,
                   extract(epoch from provider_created_at)::float8 as "created!"
            from webhook_event
            where status = 'pending' and next_attempt_at <= now()
            order by provider_created_at, received_at
            limit 1
            for update skip locked
            "#
        )
        .fetch_optional(&mut *tx)
        .await?
        else {
            break;
        };
        let cause = format!("{}:{}", event.provider, event.provider_event_id);
        let outcome = apply_event(
            &mut tx,
            provider,
            notices,
            &event.provider,
            &event.payload,
            &cause,
            event.created,
        )
        .await;
        match outcome {
            Ok(applied) => {
                let (status, note) = match &applied {
                    Applied::Unmatched(reason) => ("unmatched", Some(reason.clone())),
                    _ => ("processed", None),
                };
                // language=PostgreSQL
                sqlx::query!(
                    r#"
                    update webhook_event set status = $2, last_error = $3, attempts = attempts + 1, processed_at = now()
                    where webhook_event_id = $1
                    "#,
                    event.webhook_event_id,
                    status,
                    note
                )
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                if matches!(applied, Applied::Unmatched(_)) {
                    pass.unmatched += 1;
                } else {
                    pass.processed += 1;
                }
            }
            Err(error) => {
                // Nothing of this attempt is kept; the event waits and is tried again.
                tx.rollback().await?;
                let attempts = event.attempts + 1;
                tracing::warn!(event = %event.provider_event_id, kind = %event.event_type, attempts, %error, "event processing failed");
                // language=PostgreSQL
                sqlx::query!(
                    r#"
                    update webhook_event
                    set attempts = $2, last_error = $3, status = case when $2::int >= $4::int then 'failed' else 'pending' end,
                        next_attempt_at = now() + make_interval(secs => $5)
                    where webhook_event_id = $1
                    "#,
                    event.webhook_event_id,
                    attempts,
                    error.to_string().chars().take(1000).collect::<String>(),
                    MAX_ATTEMPTS,
                    backoff_secs(attempts) as f64,
                )
                .execute(pool)
                .await?;
                pass.failed += 1;
            }
        }
    }
    Ok(pass)
}

async fn apply_event(
    conn: &mut sqlx::PgConnection,
    provider: &dyn BillingProvider,
    notices: &Notices,
    provider_name: &str,
    payload: &serde_json::Value,
    cause: &str,
    created: f64,
) -> Result<Applied, ProcessError> {
    let event = billing_event(provider_name, payload)?;
    if matches!(event, BillingEvent::Ignored) {
        return Ok(Applied::Unchanged);
    }
    if provider_name != provider.name().as_str() {
        return Err(ProcessError::OtherProvider(
            provider_name.to_owned(),
            provider.name().as_str(),
        ));
    }
    let name = provider.name();
    let trial_will_end = matches!(
        event,
        BillingEvent::SubscriptionChanged {
            trial_will_end: true,
            ..
        }
    );
    match event {
        BillingEvent::Ignored
        | BillingEvent::CheckoutCompleted {
            subscription_id: None,
            ..
        } => Ok(Applied::Unchanged),
        BillingEvent::InvoiceChanged { invoice } => {
            Ok(db::apply_invoice(conn, name, &invoice, created).await?)
        }
        BillingEvent::CustomerUpdated { customer_id, email } => Ok(
            if db::update_customer_email(conn, name, &customer_id, email.as_deref()).await? {
                Applied::Changed(None)
            } else {
                Applied::Unmatched(format!("customer {customer_id} is not a Gatehouse customer"))
            },
        ),
        BillingEvent::CheckoutCompleted {
            subscription_id: Some(id),
            ..
        }
        | BillingEvent::SubscriptionChanged {
            subscription_id: id, ..
        } => {
            let snapshot = match provider.fetch_subscription(&id).await {
                Ok(snapshot) => snapshot,
                Err(ProviderError::NotFound(what)) => {
                    return Ok(Applied::Unmatched(format!("the provider does not know {what}")));
                }
                Err(error) => return Err(error.into()),
            };
            let applied = db::apply_subscription(conn, name, &snapshot, cause, created).await?;
            if trial_will_end && !matches!(applied, Applied::Unmatched(_)) {
                trials::remind_provider_trial(conn, name, &snapshot.id, notices).await?;
            }
            Ok(applied)
        }
    }
}

/// How often the time-driven work runs on each instance: the sandbox's
/// renewals and trial announcements, trial reminders and trial expiry, and
/// the queue gauges.
const CLOCK_WORK_EVERY: Duration = Duration::from_secs(30);

/// Runs the worker forever: on every NOTIFY from the inbox, and every few
/// seconds for retries that come due. The time-driven work runs here too,
/// every 30 s: the sandbox's renewals and trial announcements, trial
/// reminders and trial expiry, and the queue gauges.
pub fn spawn(
    pool: PgPool,
    provider: Arc<dyn BillingProvider>,
    sandbox: Option<app::billing::sandbox::Sandbox>,
    notices: Notices,
) {
    let drain_pool = pool.clone();
    let mut last_clock_work: Option<Instant> = None;
    jobs::spawn_drain_loop(pool, INBOX_CHANNEL, "provider events", move || {
        let clock_work_due = last_clock_work.is_none_or(|last| last.elapsed() >= CLOCK_WORK_EVERY);
        if clock_work_due {
            last_clock_work = Some(Instant::now());
        }
        let (pool, provider, sandbox, notices) = (
            drain_pool.clone(),
            provider.clone(),
            sandbox.clone(),
            notices.clone(),
        );
        async move {
            if clock_work_due {
                run_clock_work(&pool, sandbox.as_ref(), &notices).await;
            }
            process_due(&pool, provider.as_ref(), &notices, 100)
                .await
                .map(|pass| pass.processed + pass.unmatched > 0)
        }
    });
}

/// The time-driven work; each part logs its own failure and the rest still runs.
async fn run_clock_work(pool: &PgPool, sandbox: Option<&app::billing::sandbox::Sandbox>, notices: &Notices) {
    if let Some(sandbox) = sandbox {
        if let Err(error) = sandbox.renew_due().await {
            tracing::warn!(%error, "sandbox renewals failed");
        }
        if let Err(error) = sandbox.announce_trials_ending().await {
            tracing::warn!(%error, "sandbox trial announcements failed");
        }
    }
    match trials::send_due_reminders(pool, notices, 500).await {
        Ok(0) => {}
        Ok(sent) => tracing::info!(sent, "trial reminders queued"),
        Err(error) => tracing::warn!(%error, "trial reminders failed"),
    }
    match trials::expire_ended_trials(pool, notices, 500).await {
        Ok(0) => {}
        Ok(paused) => tracing::info!(paused, "ended trials paused"),
        Err(error) => tracing::warn!(%error, "trial expiry failed"),
    }
    if let Err(error) = crate::telemetry::record_queue_depths(pool).await {
        tracing::warn!(%error, "queue gauges not updated");
    }
}
