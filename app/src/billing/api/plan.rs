//! Changing a running subscription: plan changes and their preview,
//! cancellation and resumption, and the provider's payment-method page.

// #[server] turns each function's parameters into the fields of a generated
// argument struct; parameters cannot carry doc comments, the functions do.
#![allow(missing_docs)]

use super::*;

/// What a plan change would do: when it happens and what is due now.
#[server(prefix = "/api", endpoint = "preview_plan_change", input = server_fn::codec::GetUrl)]
pub async fn preview_plan_change(
    tier: String,
    cycle: String,
    add_ons: Option<BTreeMap<String, String>>,
) -> Result<ChangePreviewView, AppError> {
    let (_, scope) = require_billing_manager().await?;
    let context = app_context()?;
    let billing = crate::billing::context::billing_context()?;
    let catalog_cache = crate::catalog::cache::catalog_cache()?;
    let catalog = catalog_cache.get(&context.pool).await?;
    let target = read_choice(&catalog, &tier, &cycle, &add_ons)?;
    let (row, subscription_id, current) = linked_subscription(&context, &scope).await?;
    let users = db::users_counted(&context.pool, &scope, context.clock.now()).await?;
    let timing = plan_change(&catalog, &current, &target, users).map_err(plan_change_error)?;
    let proration = match timing {
        ChangeTiming::AtPeriodEnd => None,
        ChangeTiming::Immediately => {
            let items = target.items();
            let preview = billing.provider.preview_change(&subscription_id, &items).await;
            let preview = preview.map_err(provider_error)?;
            Some((preview.proration, preview.currency))
        }
    };
    Ok(preview_view(
        &catalog,
        (&current, &target),
        proration,
        row.current_period_end,
    ))
}

/// The preview as the page shows it: from and to in words, what is due now
/// (nothing for a change at the period's end) and from when.
#[cfg(feature = "ssr")]
fn preview_view(
    catalog: &Catalog,
    (current, target): (&PlanChoice, &PlanChoice),
    proration: Option<(super::super::domain::ProrationLines, String)>,
    period_end: Option<i64>,
) -> ChangePreviewView {
    let name = |choice: &PlanChoice| {
        let extras = choice.add_on_names(catalog);
        let mut text = format!("{}, billed {}", choice.tier_name(catalog), choice.cycle.as_str());
        if !extras.is_empty() {
            text.push_str(&format!(", with {}", extras.join(", ")));
        }
        text
    };
    let immediate = proration.is_some();
    let (amounts, currency) = match proration {
        Some((p, currency)) => ((p.amount_due, p.credit, p.charge), currency),
        None => ((0, 0, 0), catalog.currency.code().to_owned()),
    };
    ChangePreviewView {
        tier: target.tier.clone(),
        cycle: target.cycle.as_str().to_owned(),
        add_ons: target.add_ons.iter().map(|(k, q)| (k.clone(), *q)).collect(),
        from: name(current),
        to: name(target),
        immediate,
        amount_due: Money::display_minor(amounts.0, &currency),
        credit: Money::display_minor(amounts.1, &currency),
        charge: Money::display_minor(amounts.2, &currency),
        new_period_price: target
            .period_amount(catalog)
            .map(|amount| Money::new(amount, catalog.currency).display_exact())
            .unwrap_or_default(),
        effective_on: if immediate {
            "today".into()
        } else {
            period_end.map(date).unwrap_or_default()
        },
        request_id: Uuid::new_v4().to_string(),
    }
}

#[cfg(feature = "ssr")]
fn plan_change_error(error: PlanChangeError) -> AppError {
    match error {
        PlanChangeError::UnknownTier(_) => AppError::field("tier", error.to_string()),
        PlanChangeError::Unchanged | PlanChangeError::TooManyUsers { .. } => {
            AppError::Conflict(error.to_string())
        }
    }
}

/// Makes a plan change: upgrades and cycle switches now (prorated and
/// invoiced at once), downgrades at period end. Refused, with the reason,
/// when current usage exceeds the target's limits.
#[server(prefix = "/api", endpoint = "change_plan")]
pub async fn change_plan(
    tier: String,
    cycle: String,
    add_ons: Option<BTreeMap<String, String>>,
    request_id: String,
) -> Result<(), AppError> {
    let (_, scope) = require_billing_manager().await?;
    let context = app_context()?;
    let billing = crate::billing::context::billing_context()?;
    let catalog_cache = crate::catalog::cache::catalog_cache()?;
    let catalog = catalog_cache.get(&context.pool).await?;
    let target = read_choice(&catalog, &tier, &cycle, &add_ons)?;
    let request_id = idempotency_token(&request_id)?;
    let (_, subscription_id, current) = linked_subscription(&context, &scope).await?;
    let users = db::users_counted(&context.pool, &scope, context.clock.now()).await?;
    let timing = plan_change(&catalog, &current, &target, users).map_err(plan_change_error)?;
    let changed = billing
        .provider
        .change_items(
            &subscription_id,
            &target.items(),
            timing,
            &format!("change:{subscription_id}:{request_id}"),
        )
        .await
        .map_err(provider_error)?;
    apply_now(&context, &changed).await?;
    crate::security::redirect::redirect(match timing {
        ChangeTiming::Immediately => "/app/billing?changed=now",
        ChangeTiming::AtPeriodEnd => "/app/billing?changed=later",
    });
    Ok(())
}

/// Cancels at period end (`cancel = "true"`) or resumes (`"false"`).
#[server(prefix = "/api", endpoint = "set_cancellation")]
pub async fn set_cancellation(cancel: String, request_id: String) -> Result<(), AppError> {
    let (_, scope) = require_billing_manager().await?;
    let context = app_context()?;
    let billing = crate::billing::context::billing_context()?;
    let cancel = match cancel.as_str() {
        "true" => true,
        "false" => false,
        _ => return Err(AppError::field("cancel", "choose cancel or resume")),
    };
    let request_id = idempotency_token(&request_id)?;
    let (_, subscription_id, _) = linked_subscription(&context, &scope).await?;
    let changed = billing
        .provider
        .set_cancel_at_period_end(
            &subscription_id,
            cancel,
            &format!("cancel:{subscription_id}:{request_id}"),
        )
        .await
        .map_err(provider_error)?;
    apply_now(&context, &changed).await?;
    crate::security::redirect::redirect(if cancel {
        "/app/billing?canceled=1"
    } else {
        "/app/billing?resumed=1"
    });
    Ok(())
}

/// Sends the customer to the provider's page for payment methods.
#[server(prefix = "/api", endpoint = "payment_methods")]
pub async fn payment_methods(request_id: String) -> Result<(), AppError> {
    const NO_CUSTOMER: &str = "subscribe first: there is no payment method to manage yet";
    let (_, scope) = require_billing_manager().await?;
    let request_id = idempotency_token(&request_id)?;
    let context = app_context()?;
    let provider = &crate::billing::context::billing_context()?.provider;
    let customer = db::customer_of(&context.pool, scope.organization_id(), provider.name()).await?;
    let customer = customer.ok_or_else(|| AppError::Conflict(NO_CUSTOMER.into()))?;
    let back = format!("{}/app/billing", context.public_url);
    let key = format!("portal:{customer}:{request_id}");
    let page = provider.payment_methods_url(&customer, &back, &key).await;
    crate::security::redirect::redirect(&page.map_err(provider_error)?);
    Ok(())
}
