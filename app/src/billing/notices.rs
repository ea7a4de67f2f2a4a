//! The emails a provider's subscription change sends its billing contacts:
//! plan changed, cancellation scheduled, subscription ended. Each is queued
//! once per cause (the event, or the subscription and its period end), so
//! redelivered and out-of-order events never send a second copy; and the
//! ended subscription closes its open collection cases.

use super::collection;
use super::db::LocalSubscription;
use super::domain::{ChangeKind, SubscriptionSnapshot, SubscriptionStatus};
use super::trials::Notices;
use crate::accounts::contacts::email_billing_contacts;
use crate::email::templates;
use chrono::{DateTime, Utc};
use sqlx::PgConnection;

/// A provider's subscription event, as applied.
#[derive(Debug, Clone, Copy)]
pub struct AppliedEvent<'a> {
    /// The local subscription it is about.
    pub local: LocalSubscription,
    /// The subscription as the event saw it.
    pub state: &'a SubscriptionSnapshot,
    /// The ledger's reading of the change, if the ledger recorded one.
    pub kind: Option<ChangeKind>,
    /// When it happened at the provider.
    pub occurred_at: DateTime<Utc>,
    /// The event, as causes name it.
    pub cause: &'a str,
}

/// Tells the billing contacts what a subscription event changed, in the
/// event's transaction. Returns the collection steps an ended subscription
/// took, for the host product to hear of.
pub async fn after_subscription_event(
    conn: &mut PgConnection,
    event: AppliedEvent<'_>,
    notices: &Notices,
    now: DateTime<Utc>,
) -> Result<Vec<collection::StepTaken>, sqlx::Error> {
    let AppliedEvent {
        local,
        state,
        kind,
        occurred_at,
        cause,
    } = event;
    let ended = matches!(
        state.status,
        SubscriptionStatus::Canceled | SubscriptionStatus::Unpaid | SubscriptionStatus::IncompleteExpired
    );
    let steps = if ended {
        collection::on_subscription_ended(conn, local.subscription_id, occurred_at, cause, notices, now)
            .await?
    } else {
        Vec::new()
    };
    // language=PostgreSQL
    let organization = sqlx::query_scalar!(
        "select name from organization where organization_id = $1",
        local.organization_id
    )
    .fetch_one(&mut *conn)
    .await?;
    let billing_url = format!("{}/app/billing", notices.public_url);
    let brand = &notices.brand;
    let (message, email_cause) = if state.status == SubscriptionStatus::Canceled {
        (
            templates::subscription_cancelled(brand, &organization, &billing_url),
            format!("subscription_cancelled:{}", local.subscription_id),
        )
    } else if state.cancel_at_period_end && !ended {
        let ends_on = DateTime::from_timestamp(state.current_period_end, 0)
            .map(|at| crate::format::long_day(at.date_naive()))
            .unwrap_or_default();
        (
            templates::cancellation_scheduled(brand, &organization, &ends_on, &billing_url),
            format!(
                "cancellation_scheduled:{}:{}",
                local.subscription_id, state.current_period_end
            ),
        )
    } else if kind == Some(ChangeKind::PlanChanged) {
        let plan = match state.plan() {
            Ok(plan) => {
                // language=PostgreSQL
                let name = sqlx::query_scalar!("select name from plan where plan_key = $1", plan.tier)
                    .fetch_optional(&mut *conn)
                    .await?
                    .unwrap_or(plan.tier.clone());
                format!("{name} ({})", plan.cycle.as_str())
            }
            Err(_) => return Ok(steps),
        };
        (
            templates::plan_changed(brand, &organization, &plan, &billing_url),
            format!("plan_changed:{cause}"),
        )
    } else {
        return Ok(steps);
    };
    email_billing_contacts(conn, local.organization_id, &message, &email_cause, now).await?;
    Ok(steps)
}
