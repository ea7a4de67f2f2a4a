//! Applying the `webhook_event` inbox (Stripe's webhooks and the sandbox's
//! events alike) to local state: each stored event is a runner job
//! (`provider_event.apply`) that applies its subject's pending events (see
//! [`app::billing::inbox`]), several per process, any number of processes.
//! A batch is applied and marked in the job's transaction, so a crash
//! mid-way leaves its events pending, to be applied once by the retry.
//!
//! Two things are written for a subscription event. Its *present* state is
//! read from the provider once per batch, under the customer's lock, so
//! nothing older is ever written over something newer. The state the event
//! itself carried goes into the ledger at the event's time, so a backlog,
//! a redelivery or a late event gives the ledger it would have had on time.
//! Invoices carry their own state and never move to an older one.

use super::stripe::billing_event_from_stripe;
use crate::runner::{Attempt, Handler, HandlerFuture, JobContext, Runner};
use anyhow::Context;
use app::billing::db::{self, Applied, Present};
use app::billing::domain::BillingEvent;
use app::billing::inbox::{self, APPLY_KIND, Claim, ClaimedEvent, Done};
use app::billing::provider::{BillingProvider, ProviderError};
use app::billing::trials::{self, Notices};
use app::clock::Clock;
use app::runner::db::Claimed;
use app::runner::domain::DELIVERY_BACKOFF;
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use std::collections::HashMap;
use std::sync::Arc;
use uuid::Uuid;

pub use app::billing::inbox::MAX_ATTEMPTS;

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

/// Applies the event a job names, with its subject's other pending events
/// (in the provider's order), in the job's transaction. The job succeeds
/// when its event is applied (or was already), is retried while the event
/// waits for a retry, and is dead once the event is parked.
pub fn apply<'a>(
    conn: &'a mut PgConnection,
    job: &'a Claimed,
    context: &'a JobContext,
) -> HandlerFuture<'a, Attempt> {
    Box::pin(async move {
        let id: Uuid = job
            .item()
            .and_then(|item| item.parse().ok())
            .context("the job names no event")?;
        let now = context.clock.now();
        let mut tried = Vec::new();
        loop {
            let events = match inbox::claim_subject(conn, id, &tried).await? {
                Claim::Missing | Claim::Settled => return Ok(Attempt::Done),
                Claim::Parked(error) => {
                    return Ok(Attempt::GiveUp(
                        error.unwrap_or_else(|| "parked after its last attempt".to_owned()),
                    ));
                }
                Claim::Batch(events) => events,
            };
            tried.extend(events.iter().map(|event| event.webhook_event_id));
            let holds_its_event = events.iter().any(|event| event.webhook_event_id == id);
            let pass = process_batch(conn, context.provider.as_ref(), &context.notices, now, &events).await?;
            tracing::debug!(?pass, "provider events applied");
            if holds_its_event || events.is_empty() {
                break;
            }
        }
        // language=PostgreSQL
        let event = sqlx::query!(
            "select status, last_error from webhook_event where webhook_event_id = $1",
            id
        )
        .fetch_one(&mut *conn)
        .await?;
        let error = || event.last_error.clone().unwrap_or_default();
        Ok(match event.status.as_str() {
            "pending" => Attempt::Retry(error()),
            "failed" => Attempt::GiveUp(error()),
            _ => Attempt::Done,
        })
    })
}

/// Runs the due provider-event jobs at the clock's now until none is left
/// (or `limit` jobs ran), as a server process's runner does, and says what
/// became of the events meanwhile (read from the inbox, so events stored
/// meanwhile by others count too). For tests and benchmarks.
pub async fn process_due(
    pool: &PgPool,
    provider: Arc<dyn BillingProvider>,
    notices: &Notices,
    clock: &Clock,
    limit: usize,
) -> Result<Pass, sqlx::Error> {
    process_due_with(
        pool,
        provider,
        notices,
        clock,
        crate::runner::IN_TRANSACTION,
        limit,
    )
    .await
}

/// [`process_due`] with at most `workers` jobs at once.
pub async fn process_due_with(
    pool: &PgPool,
    provider: Arc<dyn BillingProvider>,
    notices: &Notices,
    clock: &Clock,
    workers: usize,
    limit: usize,
) -> Result<Pass, sqlx::Error> {
    let context = JobContext::new(pool.clone(), clock.clone(), notices.clone(), provider);
    let runner = Runner::new(format!("events-{}", std::process::id()))
        .handle_kind(APPLY_KIND, Handler::InTransaction(apply), DELIVERY_BACKOFF)
        .with_concurrency(workers);
    let before = InboxCounts::read(pool).await?;
    let mut ran = 0;
    while ran < limit {
        match runner.pass_counted(&context).await? {
            0 => break,
            jobs => ran += jobs,
        }
    }
    Ok(InboxCounts::read(pool).await?.since(&before))
}

/// The inbox's totals, to tell what a drain did.
struct InboxCounts {
    processed: i64,
    unmatched: i64,
    attempts: i64,
}

impl InboxCounts {
    async fn read(pool: &PgPool) -> Result<Self, sqlx::Error> {
        // language=PostgreSQL
        let row = sqlx::query!(
            r#"select count(*) filter (where status = 'processed') as "processed!",
                      count(*) filter (where status = 'unmatched') as "unmatched!",
                      coalesce(sum(attempts), 0)::bigint as "attempts!"
               from webhook_event"#
        )
        .fetch_one(pool)
        .await?;
        Ok(InboxCounts {
            processed: row.processed,
            unmatched: row.unmatched,
            attempts: row.attempts,
        })
    }

    /// Each applied or unmatched event counts one attempt; the other new
    /// attempts failed.
    fn since(&self, before: &InboxCounts) -> Pass {
        let processed = (self.processed - before.processed).max(0);
        let unmatched = (self.unmatched - before.unmatched).max(0);
        let failed = (self.attempts - before.attempts - processed - unmatched).max(0);
        let count = |n: i64| usize::try_from(n).unwrap_or(0);
        Pass {
            processed: count(processed),
            unmatched: count(unmatched),
            failed: count(failed),
        }
    }
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
