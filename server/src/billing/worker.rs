//! The event worker: drains the `webhook_event` inbox (Stripe's webhooks and
//! the sandbox's events alike) into local state.
//!
//! Workers claim one subject's due events at a time (see
//! [`app::billing::inbox`]): several per process, any number of processes.
//! A batch is applied and marked in one transaction, so a crash mid-way
//! leaves its events pending, to be applied once on the next pass.
//!
//! Two things are written for a subscription event. Its *present* state is
//! read from the provider once per batch, under the customer's lock, so
//! nothing older is ever written over something newer. The state the event
//! itself carried goes into the ledger at the event's time, so a backlog,
//! a redelivery or a late event gives the ledger it would have had on time.
//! Invoices carry their own state and never move to an older one.

use super::stripe::billing_event_from_stripe;
use crate::jobs;
use app::billing::db::{self, Applied, Present};
use app::billing::domain::BillingEvent;
use app::billing::inbox::{self, Claim, ClaimedEvent, Done, INBOX_CHANNEL};
use app::billing::provider::{BillingProvider, ProviderError};
use app::billing::trials::{self, Notices};
use app::clock::Clock;
use app::runner::domain::DELIVERY_BACKOFF;
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use std::collections::HashMap;
use std::sync::Arc;

/// Attempts before an event is parked as `failed` for an admin to look at.
pub const MAX_ATTEMPTS: i32 = 12;

/// Workers per process: each holds one database connection while it works.
pub const WORKERS_PER_PROCESS: usize = 4;

/// Why one event could not be processed now (it is retried).
#[derive(Debug, Clone, thiserror::Error)]
pub enum ProcessError {
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

/// What a pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pass {
    /// Events applied (or acknowledged as nothing to do).
    pub processed: usize,
    /// Events marked unmatched.
    pub unmatched: usize,
    /// Events that failed this time (retried later).
    pub failed: usize,
}

impl Pass {
    fn total(&self) -> usize {
        self.processed + self.unmatched + self.failed
    }

    fn add(&mut self, other: Pass) {
        self.processed += other.processed;
        self.unmatched += other.unmatched;
        self.failed += other.failed;
    }
}

/// Reads a stored event as a billing event: the form the endpoint decoded
/// it into, or (for events stored before that) its payload.
pub fn billing_event(event: &ClaimedEvent) -> Result<BillingEvent, ProcessError> {
    if let Some(decoded) = &event.decoded {
        return serde_json::from_value(decoded.clone()).map_err(|e| ProcessError::Payload(e.to_string()));
    }
    let payload: serde_json::Value = event
        .legacy_payload
        .as_deref()
        .map(serde_json::from_str)
        .ok_or_else(|| ProcessError::Payload("no payload".into()))?
        .map_err(|e| ProcessError::Payload(e.to_string()))?;
    let payload = &payload;
    match event.provider.as_str() {
        "sandbox" => {
            serde_json::from_value(payload.clone()).map_err(|e| ProcessError::Payload(e.to_string()))
        }
        "stripe" => billing_event_from_stripe(payload).map_err(ProcessError::Payload),
        other => Err(ProcessError::Payload(format!("unknown provider {other}"))),
    }
}

/// Claims and processes due events with one worker until none is left or
/// `limit` is reached.
pub async fn process_due(
    pool: &PgPool,
    provider: &dyn BillingProvider,
    notices: &Notices,
    clock: &Clock,
    limit: usize,
) -> Result<Pass, sqlx::Error> {
    let mut pass = Pass::default();
    // Subjects another worker holds; skipped for the rest of this pass.
    let mut busy: Vec<String> = Vec::new();
    while pass.total() < limit {
        let mut tx = pool.begin().await?;
        let now = clock.now();
        let events = match inbox::claim_batch(&mut tx, now, &busy).await? {
            Claim::Nothing => break,
            Claim::Busy(subject) => {
                tx.rollback().await?;
                busy.push(subject);
                continue;
            }
            Claim::Batch(events) => events,
        };
        match process_batch(&mut tx, provider, notices, now, &events).await {
            Ok(done) => {
                tx.commit().await?;
                pass.add(done);
            }
            Err(error) => {
                // Nothing of this attempt is kept; the events wait and are tried again.
                tx.rollback().await?;
                tracing::warn!(events = events.len(), %error, "event batch failed");
                for event in &events {
                    inbox::mark_failed(
                        pool,
                        event,
                        &format!("database: {error}"),
                        MAX_ATTEMPTS,
                        retry_at(now, event.attempts),
                    )
                    .await?;
                }
                pass.failed += events.len();
            }
        }
    }
    Ok(pass)
}

/// [`process_due`] with `workers` workers at once.
pub async fn process_due_concurrently(
    pool: &PgPool,
    provider: &dyn BillingProvider,
    notices: &Notices,
    clock: &Clock,
    workers: usize,
    limit_per_worker: usize,
) -> Result<Pass, sqlx::Error> {
    let passes = futures::future::join_all(
        (0..workers.max(1)).map(|_| process_due(pool, provider, notices, clock, limit_per_worker)),
    )
    .await;
    let mut total = Pass::default();
    for pass in passes {
        total.add(pass?);
    }
    Ok(total)
}

/// What the provider holds now for one subscription of the batch.
enum Reread {
    Present(Present),
    Gone(String),
    Failed(ProviderError),
}

/// Applies one subject's events, in order, in the claiming transaction, and
/// marks each. A database error fails the whole batch.
async fn process_batch(
    conn: &mut PgConnection,
    provider: &dyn BillingProvider,
    notices: &Notices,
    now: DateTime<Utc>,
    events: &[ClaimedEvent],
) -> Result<Pass, sqlx::Error> {
    let name = provider.name();
    let decoded: Vec<Result<BillingEvent, ProcessError>> = events
        .iter()
        .map(|event| {
            let decoded = billing_event(event)?;
            let ours = event.provider == name.as_str();
            if !ours && !matches!(decoded, BillingEvent::Ignored) {
                return Err(ProcessError::OtherProvider(event.provider.clone(), name.as_str()));
            }
            Ok(decoded)
        })
        .collect();

    // The provider is read after the customer's lock is held, once per
    // subscription however many of its events wait.
    if let Some(customer) = decoded.iter().flatten().find_map(BillingEvent::subject) {
        db::lock_customer(conn, name, customer).await?;
    }
    let mut rereads: HashMap<String, Reread> = HashMap::new();
    for event in decoded.iter().flatten() {
        let Some(id) = subscription_to_reread(event) else {
            continue;
        };
        if rereads.contains_key(id) {
            continue;
        }
        let reread = match provider.fetch_subscription(id).await {
            Ok(snapshot) => Reread::Present(db::apply_present(conn, name, &snapshot, now).await?),
            Err(ProviderError::NotFound(_)) => {
                Reread::Gone(format!("the provider does not know subscription {id}"))
            }
            Err(error) => Reread::Failed(error),
        };
        rereads.insert(id.to_owned(), reread);
    }

    let mut pass = Pass::default();
    for (event, decoded) in events.iter().zip(decoded) {
        let outcome = match decoded {
            Ok(decoded) => apply_event(conn, name, notices, now, event, decoded, &rereads).await?,
            Err(error) => Err(error),
        };
        match outcome {
            Ok(Applied::Unmatched(reason)) => {
                inbox::mark_done(conn, now, event.webhook_event_id, Done::Unmatched, Some(&reason)).await?;
                pass.unmatched += 1;
            }
            Ok(_) => {
                inbox::mark_done(conn, now, event.webhook_event_id, Done::Processed, None).await?;
                pass.processed += 1;
            }
            Err(error) => {
                tracing::warn!(event = %event.provider_event_id, kind = %event.event_type, attempts = event.attempts + 1, %error, "event processing failed");
                inbox::mark_failed(
                    &mut *conn,
                    event,
                    &error.to_string(),
                    MAX_ATTEMPTS,
                    retry_at(now, event.attempts),
                )
                .await?;
                pass.failed += 1;
            }
        }
    }
    follow_with_licences(conn, notices, now, &rereads).await?;
    Ok(pass)
}

/// A subscription that turned active on a self-hosted tier issues its
/// licence in the same transaction (once an organisation, however many
/// workers apply its events). The licence's later states are derived from
/// the billing state, so nothing else follows here.
async fn follow_with_licences(
    conn: &mut PgConnection,
    notices: &Notices,
    now: DateTime<Utc>,
    rereads: &HashMap<String, Reread>,
) -> Result<(), sqlx::Error> {
    let Some(keys) = notices.license_keys.as_deref() else {
        return Ok(());
    };
    let organizations: std::collections::BTreeSet<uuid::Uuid> = rereads
        .values()
        .filter_map(|reread| match reread {
            Reread::Present(Present::Applied(local)) => Some(local.organization_id),
            _ => None,
        })
        .collect();
    if organizations.is_empty() {
        return Ok(());
    }
    let catalog = match app::catalog::db::load_catalog(&mut *conn).await {
        Ok(catalog) => catalog,
        Err(error) => {
            // The sweep in the timed work issues it later.
            tracing::warn!(%error, "no catalogue: licences wait for the sweep");
            return Ok(());
        }
    };
    for organization_id in organizations {
        if let Some(license_id) = app::licensing::lifecycle::follow_subscription(
            conn,
            &catalog,
            keys,
            notices,
            organization_id,
            now,
        )
        .await?
        {
            tracing::info!(%organization_id, %license_id, "self-hosted licence issued with the subscription");
        }
    }
    Ok(())
}

/// The subscription an event needs read from the provider.
fn subscription_to_reread(event: &BillingEvent) -> Option<&str> {
    match event {
        BillingEvent::CheckoutCompleted {
            subscription_id: Some(id),
            ..
        }
        | BillingEvent::SubscriptionChanged {
            subscription_id: id, ..
        } => Some(id),
        _ => None,
    }
}

async fn apply_event(
    conn: &mut PgConnection,
    name: app::billing::provider::ProviderName,
    notices: &Notices,
    now: DateTime<Utc>,
    event: &ClaimedEvent,
    decoded: BillingEvent,
    rereads: &HashMap<String, Reread>,
) -> Result<Result<Applied, ProcessError>, sqlx::Error> {
    let present = |id: &str| match rereads.get(id) {
        Some(Reread::Present(Present::Applied(local))) => Ok(Ok(*local)),
        Some(Reread::Present(Present::Unmatched(reason)) | Reread::Gone(reason)) => Ok(Err(reason.clone())),
        Some(Reread::Failed(error)) => Err(ProcessError::Provider(error.clone())),
        None => Err(ProcessError::Payload(format!("subscription {id} was not read"))),
    };
    Ok(Ok(match decoded {
        BillingEvent::Ignored
        | BillingEvent::CheckoutCompleted {
            subscription_id: None,
            ..
        } => Applied::Unchanged,
        BillingEvent::InvoiceChanged { invoice } => {
            let applied = db::apply_invoice(conn, name, &invoice, event.created).await?;
            if !matches!(applied, Applied::Unmatched(_)) {
                app::billing::collection::on_invoice_event(
                    conn,
                    name,
                    &invoice,
                    &event.event_type,
                    event.created,
                    &event.cause(),
                    notices,
                    now,
                )
                .await?;
            }
            applied
        }
        BillingEvent::CustomerUpdated { customer_id, email } => {
            if db::update_customer_email(conn, name, &customer_id, email.as_deref(), event.created).await? {
                Applied::Changed(None)
            } else {
                Applied::Unmatched(format!("customer {customer_id} is not a Gatehouse customer"))
            }
        }
        BillingEvent::CheckoutCompleted {
            subscription_id: Some(id),
            ..
        } => match present(&id) {
            Ok(Ok(_)) => Applied::Changed(None),
            Ok(Err(reason)) => Applied::Unmatched(reason),
            Err(error) => return Ok(Err(error)),
        },
        BillingEvent::SubscriptionChanged {
            subscription_id,
            trial_will_end,
            state,
            ..
        } => match present(&subscription_id) {
            Ok(Ok(local)) => {
                let kind = match &state {
                    Some(state) => {
                        let kind =
                            db::record_event_state(conn, local, state, event.created, &event.cause(), now)
                                .await?;
                        app::billing::notices::after_subscription_event(
                            conn,
                            app::billing::notices::AppliedEvent {
                                local,
                                state,
                                kind,
                                occurred_at: event.created,
                                cause: &event.cause(),
                            },
                            notices,
                            now,
                        )
                        .await?;
                        kind
                    }
                    None => None,
                };
                if trial_will_end {
                    trials::remind_provider_trial(conn, local.subscription_id, &event.cause(), notices, now)
                        .await?;
                }
                Applied::Changed(kind)
            }
            Ok(Err(reason)) => Applied::Unmatched(reason),
            Err(error) => return Ok(Err(error)),
        },
    }))
}

/// When a failed event is tried again, after its `attempts` so far.
fn retry_at(now: DateTime<Utc>, attempts: i32) -> DateTime<Utc> {
    now + DELIVERY_BACKOFF.after(attempts + 1)
}

/// Runs the workers forever: on every NOTIFY from the inbox, and every few
/// seconds for retries that come due. (The time-driven work is the job
/// runner's: `crate::runner`.)
pub fn spawn(pool: PgPool, provider: Arc<dyn BillingProvider>, notices: Notices, clock: Clock) {
    let drain_pool = pool.clone();
    jobs::spawn_drain_loop(pool, INBOX_CHANNEL, "provider events", move || {
        let (pool, provider, notices, clock) = (
            drain_pool.clone(),
            provider.clone(),
            notices.clone(),
            clock.clone(),
        );
        async move {
            process_due_concurrently(
                &pool,
                provider.as_ref(),
                &notices,
                &clock,
                WORKERS_PER_PROCESS,
                100,
            )
            .await
            .map(|pass| pass.processed + pass.unmatched > 0)
        }
    });
}
