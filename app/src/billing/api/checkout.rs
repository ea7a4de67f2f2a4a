//! Checkout: starting it at the provider, and checking its outcome.

// #[server] turns each function's parameters into the fields of a generated
// argument struct; parameters cannot carry doc comments, the functions do.
#![allow(missing_docs)]

use super::*;

/// Starts checkout for a tier, cycle and add-ons: the provider customer is
/// created and linked first, the trial's remaining days carry over, and the
/// browser is sent to the provider's checkout page.
#[server(prefix = "/api", endpoint = "start_checkout")]
pub async fn start_checkout(
    tier: String,
    cycle: String,
    add_ons: Option<BTreeMap<String, String>>,
    request_id: String,
) -> Result<(), AppError> {
    let (user, scope) = require_billing_manager().await?;
    let context = app_context()?;
    let billing = crate::billing::context::billing_context()?;
    let catalog = crate::catalog::cache::catalog_cache()?.get(&context.pool).await?;
    let choice = read_choice(&catalog, &tier, &cycle, &add_ons)?;
    let request_id = idempotency_token(&request_id)?;
    let organization_id = scope.organization_id();
    let row = db::billing_row(&context.pool, &scope).await?;
    if row.as_ref().is_some_and(db::BillingRow::has_live_subscription) {
        return Err(AppError::Conflict(SUBSCRIBED.into()));
    }
    let users = db::users_counted(&context.pool, &scope, context.clock.now()).await?;
    check_seats(&catalog, &choice, users).map_err(|error| AppError::field("tier", error.to_string()))?;
    let customer_id = provider_customer(&context, organization_id, &user.email).await?;
    let trial_end = trial_carried_over(row.as_ref(), context.clock.unix());
    let request = CheckoutRequest {
        items: choice.items(),
        trial_end,
        ..checkout_request(&context.public_url, organization_id, request_id, customer_id)
    };
    let redirect = billing
        .provider
        .create_checkout(&request)
        .await
        .map_err(provider_error)?;
    crate::security::redirect::redirect(&redirect.url);
    Ok(())
}

#[cfg(feature = "ssr")]
const SUBSCRIBED: &str = "you already have a subscription; change its plan from the billing page";

/// The trial's end a checkout keeps (so its remaining days carry over):
/// a card-free trial's, when more than an hour of it is left.
#[cfg(feature = "ssr")]
fn trial_carried_over(row: Option<&db::BillingRow>, now: i64) -> Option<i64> {
    row.filter(|r| r.status == SubscriptionStatus::Trialing)
        .and_then(|r| r.trial_end)
        .filter(|end| *end > now + 3600)
}

/// A checkout for the organisation's customer, coming back to the billing
/// page (or the pricing page, cancelled), idempotent per form.
#[cfg(feature = "ssr")]
fn checkout_request(
    public_url: &str,
    organization_id: Uuid,
    request_id: Uuid,
    customer_id: String,
) -> CheckoutRequest {
    CheckoutRequest {
        customer_id,
        items: Vec::new(),
        trial_end: None,
        success_url: format!("{public_url}/app/billing/success?session_id={{CHECKOUT_SESSION_ID}}"),
        cancel_url: format!("{public_url}/pricing?checkout=canceled"),
        organization_id: organization_id.to_string(),
        idempotency_key: format!("checkout:{organization_id}:{request_id}"),
    }
}

/// The organisation's customer at the provider: the linked one, or one
/// created now (idempotently, by organisation) and linked before checkout.
#[cfg(feature = "ssr")]
async fn provider_customer(
    context: &AppContext,
    organization_id: Uuid,
    email: &str,
) -> Result<String, AppError> {
    let provider = &crate::billing::context::billing_context()?.provider;
    if let Some(id) = db::customer_of(&context.pool, organization_id, provider.name()).await? {
        return Ok(id);
    }
    let name = crate::accounts::db::organization_name(&context.pool, organization_id).await?;
    let key = format!("customer:{organization_id}");
    let created = provider
        .create_customer(&organization_id.to_string(), &name, email, &key)
        .await;
    let id = created.map_err(provider_error)?;
    db::link_customer(&context.pool, organization_id, provider.name(), &id, email).await?;
    Ok(id)
}

/// The success page's check: re-reads the session and its subscription from
/// the provider (the redirect alone proves nothing) and applies it.
#[server(prefix = "/api", endpoint = "checkout_result", input = server_fn::codec::GetUrl)]
pub async fn checkout_result(session_id: String) -> Result<CheckoutResultView, AppError> {
    let (_, scope) = require_member().await?;
    let context = app_context()?;
    let billing = crate::billing::context::billing_context()?;
    let catalog_cache = crate::catalog::cache::catalog_cache()?;
    let session_id = object_id(&session_id)?;
    let outcome = billing
        .provider
        .checkout_outcome(session_id)
        .await
        .map_err(|e| match e {
            ProviderError::NotFound(_) => AppError::NotFound,
            other => provider_error(other),
        })?;
    let ours = db::customer_of(&context.pool, scope.organization_id(), billing.provider.name()).await?;
    if ours.is_none() || outcome.customer_id != ours {
        return Err(AppError::NotFound);
    }
    let catalog = catalog_cache.get(&context.pool).await?;
    let Some(subscription) = outcome.subscription.filter(|_| outcome.complete) else {
        return Ok(CheckoutResultView {
            complete: false,
            plan_name: String::new(),
            status: None,
        });
    };
    apply_now(&context, &subscription).await?;
    let plan = subscription
        .plan()
        .map_err(|e| AppError::Conflict(e.to_string()))?;
    Ok(CheckoutResultView {
        complete: true,
        plan_name: PlanChoice::from_plan(&plan).tier_name(&catalog),
        status: Some(subscription.status),
    })
}
