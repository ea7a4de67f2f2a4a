//! Applying a batch of provider events, Stripe's and the sandbox's alike,
//! in the transaction that claimed them (the server's `provider_event.apply`
//! job is the adapter that claims and decodes them).
//!
//! Two things are written for a subscription event. Its *present* state is
//! read from the provider once per batch, under the customer's lock, so
//! nothing older is ever written over something newer. The state the event
//! itself carried goes into the ledger at the event's time, so a backlog,
//! a redelivery or a late event gives the ledger it would have had on time.
//! Invoices carry their own state and never move to an older one. Then the
//! features above billing hear of it in the same transaction: the host
//! product's events ([`super::tell_host`]) and the licence a self-hosted
//! tier's subscription carries.

use super::FlowContext;
use super::tell_host::{collection_steps, subscription_changed};
use crate::billing::db::{self, Applied, Present};
use crate::billing::domain::BillingEvent;
use crate::billing::inbox::{self, ClaimedEvent, Done};
use crate::billing::provider::{BillingProvider, ProviderError, ProviderName};
use crate::billing::trials;
use crate::runner::domain::DELIVERY_BACKOFF;
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use std::collections::HashMap;

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

/// What the provider holds now for one subscription of the batch.
enum Reread {
    Present(Present),
    Gone(String),
    Failed(ProviderError),
}

/// How the transport reads a stored event as a billing event.
pub type Decode = fn(&ClaimedEvent) -> Result<BillingEvent, ProcessError>;

/// Applies one subject's events, in order, in the claiming transaction, and
/// marks each. A database error fails the whole batch.
pub async fn apply_batch(
    conn: &mut PgConnection,
    provider: &dyn BillingProvider,
    context: &FlowContext,
    now: DateTime<Utc>,
    events: &[ClaimedEvent],
    decode: Decode,
) -> Result<Pass, sqlx::Error> {
    let name = provider.name();
    let decoded: Vec<Result<BillingEvent, ProcessError>> = events
        .iter()
        .map(|event| {
            let decoded = decode(event)?;
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
            Ok(snapshot) => {
                let present = db::apply_present(conn, name, &snapshot).await?;
                if let Present::Applied { local, changed: true } = &present {
                    subscription_changed(conn, local.organization_id, now).await?;
                }
                Reread::Present(present)
            }
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
            Ok(decoded) => apply_event(conn, name, context, now, event, decoded, &rereads).await?,
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
    follow_with_licences(conn, context, now, &rereads).await?;
    Ok(pass)
}

/// A subscription that turned active on a self-hosted tier issues its
/// licence in the same transaction (once an organisation, however many
/// workers apply its events). The licence's later states are derived from
/// the billing state, so nothing else follows here.
async fn follow_with_licences(
    conn: &mut PgConnection,
    context: &FlowContext,
    now: DateTime<Utc>,
    rereads: &HashMap<String, Reread>,
) -> Result<(), sqlx::Error> {
    let Some(keys) = context.license_keys.as_deref() else {
        return Ok(());
    };
    let organizations: std::collections::BTreeSet<uuid::Uuid> = rereads
        .values()
        .filter_map(|reread| match reread {
            Reread::Present(Present::Applied { local, .. }) => Some(local.organization_id),
            _ => None,
        })
        .collect();
    if organizations.is_empty() {
        return Ok(());
    }
    let catalog = match crate::catalog::db::load_catalog(&mut *conn).await {
        Ok(catalog) => catalog,
        Err(error) => {
            // The sweep in the timed work issues it later.
            tracing::warn!(%error, "no catalogue: licences wait for the sweep");
            return Ok(());
        }
    };
    for organization_id in organizations {
        if let Some(license_id) = crate::licensing::lifecycle::follow_subscription(
            conn,
            &catalog,
            keys,
            &context.notices,
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
    name: ProviderName,
    context: &FlowContext,
    now: DateTime<Utc>,
    event: &ClaimedEvent,
    decoded: BillingEvent,
    rereads: &HashMap<String, Reread>,
) -> Result<Result<Applied, ProcessError>, sqlx::Error> {
    let notices = &context.notices;
    let present = |id: &str| match rereads.get(id) {
        Some(Reread::Present(Present::Applied { local, .. })) => Ok(Ok(*local)),
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
                let step = crate::billing::collection::on_invoice_event(
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
                collection_steps(conn, step.as_slice(), now).await?;
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
                        let steps = crate::billing::notices::after_subscription_event(
                            conn,
                            crate::billing::notices::AppliedEvent {
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
                        collection_steps(conn, &steps, now).await?;
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
