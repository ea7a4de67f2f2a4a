//! How a billing change becomes the host product's events, in the change's
//! transaction (the outbox: `crate::outbound::events`).

use crate::billing::collection::StepTaken;
use crate::billing::domain::collection::CaseState;
use crate::outbound::events::{EventType, publish_changes, record};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::json;
use sqlx::PgConnection;

pub use crate::outbound::events::subscription_changed;

/// The host product's event for a collection step, if it has one.
fn event_of(step: &StepTaken) -> Option<EventType> {
    match step.step {
        CaseState::Failing => Some(EventType::InvoicePaymentFailed),
        CaseState::Restricted => Some(EventType::OrganizationRestricted),
        CaseState::Recovered | CaseState::Lapsed if step.lifted => Some(EventType::OrganizationRestored),
        _ => None,
    }
}

/// Records each newly taken collection step's event and, where the step
/// changed what the organisation may do (restricted, or the restriction
/// lifted), its new terms. Each is caused by the step, so a step told twice
/// records nothing twice.
pub async fn collection_steps(
    conn: &mut PgConnection,
    steps: &[StepTaken],
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let mut catalog = None;
    for step in steps {
        if let Some(event) = event_of(step) {
            let data = json!({
                "organization": { "id": step.organization_id },
                "invoice": {
                    "id": step.provider_invoice_id,
                    "amount_due": step.amount_due,
                    "currency": step.currency,
                    "attempt": step.attempt,
                    "next_payment_attempt": step.next_retry_at.map(|at| at.to_rfc3339_opts(SecondsFormat::Secs, true)),
                },
                "collection": { "state": step.state.as_str(), "step": step.step.as_str() },
                "occurred_at": step.occurred_at.to_rfc3339_opts(SecondsFormat::Secs, true),
            });
            record(conn, now, event, &step.step_key, Some(step.organization_id), data).await?;
        }
        if step.changes_access() {
            if catalog.is_none() {
                catalog = crate::catalog::db::load_catalog(&mut *conn).await.ok();
            }
            if let Some(catalog) = catalog.as_ref() {
                publish_changes(conn, catalog, step.organization_id, &step.step_key, false, now).await?;
            }
        }
    }
    Ok(())
}
