//! Billing server functions: the billing page, checkout, plan changes,
//! cancel/resume, payment methods, and the sandbox's test-mode actions.
//!
//! Each function authenticates, checks the rule in `domain`, calls
//! the provider (with an idempotency key when it changes something) and only
//! then writes locally, so a provider error leaves nothing half-written.

// #[server] turns each function's parameters into the fields of a generated
// argument struct; parameters cannot carry doc comments, the functions do.
#![allow(missing_docs)]

mod checkout;
mod page;
mod plan;
mod sandbox;

pub use checkout::*;
pub use page::*;
pub use plan::*;
pub use sandbox::*;

use super::{ChangePreviewView, CheckoutResultView, SandboxCheckoutView};
use crate::error::AppError;
use leptos::prelude::*;
use std::collections::BTreeMap;

#[cfg(feature = "ssr")]
use {
    super::db,
    super::domain::{
        ChangeTiming, PlanChangeError, PlanChoice, SubscriptionStatus, check_seats, plan_change,
        plan_of_items,
    },
    super::provider::{CheckoutRequest, ProviderError},
    crate::accounts::session::require_member,
    crate::catalog::domain::Catalog,
    crate::catalog::money::Money,
    crate::context::{AppContext, app_context},
    crate::error::{Doing, FormCheck},
    uuid::Uuid,
};

/// A provider failure as the customer is told it: an outage is 503 and an
/// unusable answer 502 (both: nothing was changed), a refusal is 409 in
/// Gatehouse's words (a provider's own message never reaches the page).
#[cfg(feature = "ssr")]
pub(crate) fn provider_error(error: ProviderError) -> AppError {
    let words = error.to_string();
    match error {
        ProviderError::Unavailable => AppError::Unavailable(words),
        ProviderError::Unexpected(detail) => {
            tracing::error!(%detail, "payment provider answered unexpectedly");
            AppError::BadGateway(ProviderError::Unexpected(String::new()).to_string())
        }
        ProviderError::Refused(_) | ProviderError::NotFound(_) => AppError::Conflict(words),
    }
}

#[cfg(feature = "ssr")]
fn date(unix: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp(unix, 0)
        .map(|t| crate::format::long_day(t.date_naive()))
        .unwrap_or_default()
}

/// Reads a form's tier, cycle and add-on quantities into a choice
/// ([`PlanChoice::parse`]), with field-level messages and the form refilled.
#[cfg(feature = "ssr")]
fn read_choice(
    catalog: &Catalog,
    tier: &str,
    cycle: &str,
    add_ons: &Option<BTreeMap<String, String>>,
) -> Result<PlanChoice, AppError> {
    let submitted = add_ons.iter().flatten().map(|(k, v)| (k.as_str(), v.as_str()));
    PlanChoice::parse(catalog, tier, cycle, submitted).map_err(|problems| {
        let mut form = FormCheck::new();
        form.keep("tier", tier).keep("cycle", cycle);
        for (key, raw) in add_ons.iter().flatten() {
            if catalog.add_ons.iter().any(|a| &a.key == key) {
                form.keep(&format!("add_ons[{key}]"), raw);
            }
        }
        for problem in problems {
            form.fail(&problem.field, problem.message);
        }
        form.into_error()
    })
}

/// The caller, when they may spend the organisation's money (check out, pay,
/// change or cancel the plan, change the card): the one check every such
/// server function makes, so no path lets a plain member pay.
#[cfg(feature = "ssr")]
async fn require_billing_manager() -> Result<
    (
        crate::accounts::session::SignedIn,
        crate::accounts::session::TenantScope,
    ),
    AppError,
> {
    let (user, scope) = require_member().await?;
    // An admin seeing the portal as the owner never spends their money.
    user.refuse_while_impersonated()?;
    if scope.role().manages_billing() {
        Ok((user, scope))
    } else {
        Err(AppError::Forbidden)
    }
}

/// A provider object id from a URL or form, or 404: ids are short runs of
/// letters, digits, `_` and `-`, so anything else (a NUL, a quote, 10 KB) is
/// refused before it reaches the provider or the database.
#[cfg(feature = "ssr")]
fn object_id(raw: &str) -> Result<&str, AppError> {
    super::provider::parse_object_id(raw).ok_or(AppError::NotFound)
}

#[cfg(feature = "ssr")]
fn idempotency_token(raw: &str) -> Result<Uuid, AppError> {
    Uuid::parse_str(raw.trim())
        .map_err(|_| AppError::field("request_id", "the form is out of date; reload the page"))
}

/// The linked provider subscription of the organisation and its current plan.
#[cfg(feature = "ssr")]
async fn linked_subscription(
    context: &AppContext,
    scope: &crate::accounts::session::TenantScope,
) -> Result<(db::BillingRow, String, PlanChoice), AppError> {
    let billing = super::context::billing_context()?;
    let row = db::billing_row(&context.pool, scope)
        .await?
        .ok_or(AppError::NotFound)?;
    let Some((provider, subscription_id)) = row.provider_subscription.clone() else {
        return Err(AppError::Conflict(
            "subscribe first: your trial has no payment method yet".into(),
        ));
    };
    if provider != billing.provider.name().as_str() {
        return Err(AppError::Conflict(format!(
            "this subscription is managed by {provider}, which this server is not connected to"
        )));
    }
    let plan = plan_of_items(row.items.iter().map(|(k, q)| (k.as_str(), *q)))
        .map_err(|e| AppError::Conflict(e.to_string()))?;
    Ok((row, subscription_id, PlanChoice::from_plan(&plan)))
}

/// Shows what the provider now holds at once, without waiting for its
/// event. The subscription is read again under the customer's lock, so a
/// worker that wrote a newer state in the meantime is never overwritten with
/// an older one. The ledger row comes from the provider's event, at the
/// time the change happened there.
#[cfg(feature = "ssr")]
async fn apply_now(
    context: &AppContext,
    snapshot: &super::domain::SubscriptionSnapshot,
) -> Result<(), AppError> {
    let billing = super::context::billing_context()?;
    let mut tx = context.pool.begin().await?;
    db::lock_customer(&mut tx, billing.provider.name(), &snapshot.customer_id)
        .await
        .doing("locking the billing customer to apply a change")?;
    let present = billing
        .provider
        .fetch_subscription(&snapshot.id)
        .await
        .map_err(provider_error)?;
    let applied = db::apply_present(&mut tx, billing.provider.name(), &present)
        .await
        .doing("applying the provider's subscription")?;
    if let db::Present::Applied { local, changed: true } = applied {
        crate::flows::tell_host::subscription_changed(&mut tx, local.organization_id, context.clock.now())
            .await
            .doing("telling the host product of the change")?;
    }
    tx.commit()
        .await
        .doing("committing the provider's subscription")?;
    Ok(())
}
