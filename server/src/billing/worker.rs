//! The adapter from the `webhook_event` inbox (Stripe's webhooks and the
//! sandbox's events alike) to the flow that applies them
//! ([`app::flows::provider_events`]): each stored event is a runner job
//! (`provider_event.apply`) that claims its subject's pending events (see
//! [`app::billing::inbox`]), decodes them and hands the batch to the flow,
//! several per process, any number of processes. A batch is applied and
//! marked in the job's transaction, so a crash mid-way leaves its events
//! pending, to be applied once by the retry.

use super::stripe::billing_event_from_stripe;
use crate::runner::{Attempt, Handler, HandlerFuture, JobContext, Runner};
use anyhow::Context;
use app::billing::domain::{BillingEvent, ProviderEventStatus};
use app::billing::inbox::{self, APPLY_KIND, Claim, ClaimedEvent};
use app::billing::provider::BillingProvider;
use app::clock::Clock;
use app::flows::FlowContext;
use app::flows::provider_events::apply_batch;
use app::runner::db::Claimed;
use app::runner::domain::DELIVERY_BACKOFF;
use sqlx::{PgConnection, PgPool};
use std::sync::Arc;
use uuid::Uuid;

pub use app::billing::inbox::MAX_ATTEMPTS;
pub use app::flows::provider_events::{Pass, ProcessError};

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
            let provider = context.provider.as_ref();
            let pass = apply_batch(conn, provider, &context.flows, now, &events, billing_event).await?;
            tracing::debug!(?pass, "provider events applied");
            if holds_its_event || events.is_empty() {
                break;
            }
        }
        let (status, last_error) = inbox::standing_of(conn, id).await?;
        let error = || last_error.clone().unwrap_or_default();
        Ok(match status {
            Some(ProviderEventStatus::Pending) => Attempt::Retry(error()),
            Some(ProviderEventStatus::Failed) => Attempt::GiveUp(error()),
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
    flows: &FlowContext,
    clock: &Clock,
    limit: usize,
) -> Result<Pass, sqlx::Error> {
    process_due_with(pool, provider, flows, clock, crate::runner::IN_TRANSACTION, limit).await
}

/// [`process_due`] with at most `workers` jobs at once.
pub async fn process_due_with(
    pool: &PgPool,
    provider: Arc<dyn BillingProvider>,
    flows: &FlowContext,
    clock: &Clock,
    workers: usize,
    limit: usize,
) -> Result<Pass, sqlx::Error> {
    let context = JobContext::new(pool.clone(), clock.clone(), flows.clone(), provider);
    let runner = Runner::new(format!("events-{}", std::process::id()))
        .handle_kind(APPLY_KIND, Handler::InTransaction(apply), DELIVERY_BACKOFF)
        .with_concurrency(workers);
    let before = inbox::totals(pool).await?;
    let mut ran = 0;
    while ran < limit {
        match runner.pass_counted(&context).await? {
            0 => break,
            jobs => ran += jobs,
        }
    }
    Ok(pass_since(&before, &inbox::totals(pool).await?))
}

/// What a drain did, from the inbox's totals before and after: each
/// applied or unmatched event counts one attempt; the other new attempts
/// failed.
fn pass_since(before: &inbox::Totals, after: &inbox::Totals) -> Pass {
    let processed = (after.processed - before.processed).max(0);
    let unmatched = (after.unmatched - before.unmatched).max(0);
    let failed = (after.attempts - before.attempts - processed - unmatched).max(0);
    let count = |n: i64| usize::try_from(n).unwrap_or(0);
    Pass {
        processed: count(processed),
        unmatched: count(unmatched),
        failed: count(failed),
    }
}
