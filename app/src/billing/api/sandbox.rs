//! The sandbox's test-mode actions: its checkout and card pages, and the
//! controls that make time pass (by calling what the clock would trigger).

// #[server] turns each function's parameters into the fields of a generated
// argument struct; parameters cannot carry doc comments, the functions do.
#![allow(missing_docs)]

use super::*;

/// The sandbox's checkout page.
#[server(prefix = "/api", endpoint = "sandbox_checkout", input = server_fn::codec::GetUrl)]
pub async fn get_sandbox_checkout(session_id: String) -> Result<SandboxCheckoutView, AppError> {
    let (_, scope) = require_billing_manager().await?;
    let session_id = object_id(&session_id)?;
    let billing = crate::billing::context::billing_context()?;
    let sandbox = billing.sandbox.clone().ok_or(AppError::NotFound)?;
    let checkout = sandbox
        .checkout_page(session_id, scope.organization_id())
        .await
        .map_err(provider_error)?
        .ok_or(AppError::NotFound)?;
    Ok(SandboxCheckoutView {
        session_id: checkout.session_id,
        open: checkout.status == crate::billing::domain::SandboxCheckoutStatus::Open.as_str(),
        lines: checkout
            .lines
            .into_iter()
            .map(|l| {
                (
                    l.description,
                    l.quantity,
                    Money::display_minor(l.amount, &checkout.currency),
                )
            })
            .collect(),
        total: Money::display_minor(checkout.total, &checkout.currency),
        cycle: checkout.cycle.as_str().to_owned(),
        trial_ends_on: checkout.trial_end.map(date),
        cancel_url: checkout.cancel_url,
    })
}

/// Pays a sandbox checkout with a test card.
#[server(prefix = "/api", endpoint = "sandbox_pay")]
pub async fn sandbox_pay(session_id: String, card_number: String) -> Result<(), AppError> {
    let (_, scope) = require_billing_manager().await?;
    let session_id = object_id(&session_id)?;
    let billing = crate::billing::context::billing_context()?;
    let sandbox = billing.sandbox.clone().ok_or(AppError::NotFound)?;
    sandbox
        .checkout_page(session_id, scope.organization_id())
        .await
        .map_err(provider_error)?
        .ok_or(AppError::NotFound)?;
    match sandbox.complete_checkout(session_id, &card_number).await {
        Ok(url) => {
            crate::security::redirect::redirect(&url);
            Ok(())
        }
        Err(ProviderError::Refused(message)) => Err(AppError::field("card_number", message)),
        Err(other) => Err(provider_error(other)),
    }
}

/// Replaces the sandbox test card (retrying an open invoice with it).
#[server(prefix = "/api", endpoint = "sandbox_card")]
pub async fn sandbox_update_card(card_number: String) -> Result<(), AppError> {
    let (_, scope) = require_billing_manager().await?;
    let billing = crate::billing::context::billing_context()?;
    let sandbox = billing.sandbox.clone().ok_or(AppError::NotFound)?;
    match sandbox.update_card(scope.organization_id(), &card_number).await {
        Ok(()) => {
            crate::security::redirect::redirect("/app/billing?card=1");
            Ok(())
        }
        Err(ProviderError::Refused(message)) => Err(AppError::field("card_number", message)),
        Err(other) => Err(provider_error(other)),
    }
}

/// Test mode only: ends the current period now (trial end, renewal, or a
/// scheduled change or cancellation taking effect).
#[server(prefix = "/api", endpoint = "sandbox_end_period")]
pub async fn sandbox_end_period() -> Result<(), AppError> {
    let (_, scope) = require_billing_manager().await?;
    let context = app_context()?;
    let billing = crate::billing::context::billing_context()?;
    let sandbox = billing.sandbox.clone().ok_or(AppError::NotFound)?;
    let (_, subscription_id, _) = linked_subscription(&context, &scope).await?;
    let snapshot = sandbox
        .end_period(&subscription_id)
        .await
        .map_err(provider_error)?;
    apply_now(&context, &snapshot).await?;
    crate::security::redirect::redirect("/app/billing?period_ended=1");
    Ok(())
}

/// Test mode only: lets the open collection case's grace period run out
/// now, as if its days had passed, and restricts the organisation through
/// the same step the runner's sweep takes.
#[server(prefix = "/api", endpoint = "sandbox_skip_grace")]
pub async fn sandbox_skip_grace() -> Result<(), AppError> {
    let (scope, context) = require_sandbox().await?;
    let now = context.clock.now();
    let mut tx = context.pool.begin().await?;
    let grace_days = crate::catalog::db::load_catalog(&mut tx)
        .await
        .map(|catalog| catalog.collection.grace_days)
        .unwrap_or_else(|_| crate::catalog::domain::CollectionTerms::default().grace_days);
    let restricted = crate::flows::trials::skip_grace(
        &mut tx,
        scope.organization_id(),
        grace_days,
        &crate::billing::trials::Notices::of_request(&context)?,
        now,
    )
    .await?;
    if !restricted {
        return Err(AppError::Conflict(
            "There is no unpaid invoice in its grace period.".into(),
        ));
    }
    tx.commit().await?;
    crate::security::redirect::redirect("/app/billing?grace_skipped=1");
    Ok(())
}

/// Test mode only: ends the signup trial now, as if its days had run out
/// (without a subscription the account is paused until a plan is chosen).
#[server(prefix = "/api", endpoint = "sandbox_end_trial")]
pub async fn sandbox_end_trial() -> Result<(), AppError> {
    let (scope, context) = require_sandbox().await?;
    let mut tx = context.pool.begin().await?;
    let notices = crate::billing::trials::Notices::of_request(&context)?;
    if !crate::flows::trials::end_now(&mut tx, scope.organization_id(), &notices, context.clock.now()).await?
    {
        return Err(AppError::Conflict("There is no running trial to end.".into()));
    }
    tx.commit().await?;
    crate::security::redirect::redirect("/app/billing?trial_ended=1");
    Ok(())
}

/// Test mode only: leaves `days` (1 to 90) days of the signup trial, as if
/// the rest had passed.
#[server(prefix = "/api", endpoint = "sandbox_trial_days_left")]
pub async fn sandbox_trial_days_left(days: String) -> Result<(), AppError> {
    let (scope, context) = require_sandbox().await?;
    let days = days
        .trim()
        .parse::<u32>()
        .ok()
        .filter(|d| (1..=90).contains(d))
        .ok_or_else(|| AppError::field("days", "enter a whole number of days from 1 to 90"))?;
    let mut tx = context.pool.begin().await?;
    let moved =
        crate::flows::trials::set_days_left(&mut tx, scope.organization_id(), days, context.clock.now())
            .await?;
    if !moved {
        return Err(AppError::Conflict("There is no running trial to shorten.".into()));
    }
    tx.commit().await?;
    crate::security::redirect::redirect("/app/billing?trial_moved=1");
    Ok(())
}

/// The caller, who may spend the organisation's money, and the request's
/// context; 404 when this Gatehouse runs without the sandbox (its controls
/// exist in test mode only).
#[cfg(feature = "ssr")]
async fn require_sandbox() -> Result<(crate::accounts::session::TenantScope, AppContext), AppError> {
    let (_, scope) = require_billing_manager().await?;
    if crate::billing::context::billing_context()?.sandbox.is_none() {
        return Err(AppError::NotFound);
    }
    Ok((scope, app_context()?))
}
