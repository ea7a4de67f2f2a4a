//! Billing server functions: the billing page, checkout, plan changes,
//! cancel/resume, payment methods, and the sandbox's test-mode actions.
//!
//! Each function authenticates, checks the rule in `subscription.rs`, calls
//! the provider (with an idempotency key when it changes something) and only
//! then writes locally, so a provider error leaves nothing half-written.

// #[server] turns each function's parameters into the fields of a generated
// argument struct; parameters cannot carry doc comments, the functions do.
#![allow(missing_docs)]

use super::{BillingView, ChangePreviewView, CheckoutResultView, SandboxCheckoutView};
use crate::error::AppError;
use leptos::prelude::*;
use std::collections::BTreeMap;

#[cfg(feature = "ssr")]
use {
    super::db,
    super::provider::{CheckoutRequest, ProviderError},
    super::subscription::{
        ChangeTiming, PlanChangeError, PlanChoice, allowed_users, plan_change, plan_of_items,
    },
    super::{AddOnLine, InvoiceSummary, TierOption},
    crate::accounts::session::require_member,
    crate::catalog::domain::{BillingCycle, Catalog, Limit},
    crate::catalog::money::Money,
    crate::context::{AppContext, app_context},
    crate::error::FormCheck,
    uuid::Uuid,
};

/// A provider failure as the customer is told it: an outage is 503 and an
/// unusable answer 502 (both: nothing was changed), a refusal is 409 in
/// Gatehouse's words (a provider's own message never reaches the page).
#[cfg(feature = "ssr")]
fn provider_error(error: ProviderError) -> AppError {
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
        .map(|t| t.format("%-d %B %Y").to_string())
        .unwrap_or_default()
}

/// Reads a form's tier, cycle and add-on quantities into a choice, with
/// field-level messages.
#[cfg(feature = "ssr")]
fn read_choice(
    catalog: &Catalog,
    tier: &str,
    cycle: &str,
    add_ons: &Option<BTreeMap<String, String>>,
) -> Result<PlanChoice, AppError> {
    let mut form = FormCheck::new();
    form.keep("tier", tier).keep("cycle", cycle);
    if catalog.tier(tier).is_none() {
        form.fail("tier", "choose one of the plans");
    }
    let cycle = match cycle {
        "monthly" => BillingCycle::Monthly,
        "annual" => BillingCycle::Annual,
        _ => {
            form.fail("cycle", "choose monthly or annual billing");
            BillingCycle::Monthly
        }
    };
    let mut quantities = BTreeMap::new();
    for (key, raw) in add_ons.iter().flatten() {
        // Only the catalogue's own keys become field names: a submitted key
        // is never repeated back.
        let Some(add_on) = catalog.add_ons.iter().find(|a| &a.key == key) else {
            form.fail("add_ons", "one of the add-ons is not offered; reload the page");
            continue;
        };
        let field = format!("add_ons[{}]", add_on.key);
        form.keep(&field, raw);
        let raw = raw.trim();
        let quantity = if raw.is_empty() { Ok(0) } else { raw.parse::<u32>() };
        match quantity {
            Ok(q) if add_on.max_quantity.is_some_and(|max| q > max) => form.fail(
                &field,
                format!(
                    "at most {} {}",
                    add_on.max_quantity.unwrap_or_default(),
                    add_on.unit
                ),
            ),
            Ok(q) => {
                if q > 0 {
                    quantities.insert(key.clone(), q);
                }
            }
            Err(_) => form.fail(&field, "enter a whole number of 0 or more"),
        }
    }
    form.finish()?;
    Ok(PlanChoice {
        tier: tier.to_owned(),
        cycle,
        add_ons: quantities,
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
    organization_id: Uuid,
) -> Result<(db::BillingRow, String, PlanChoice), AppError> {
    let row = db::billing_row(&context.pool, organization_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let Some((provider, subscription_id)) = row.provider_subscription.clone() else {
        return Err(AppError::Conflict(
            "subscribe first: your trial has no payment method yet".into(),
        ));
    };
    if provider != context.billing.name().as_str() {
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
    snapshot: &super::subscription::SubscriptionSnapshot,
) -> Result<(), AppError> {
    let mut tx = context.pool.begin().await?;
    db::lock_customer(&mut tx, context.billing.name(), &snapshot.customer_id).await?;
    let present = context
        .billing
        .fetch_subscription(&snapshot.id)
        .await
        .map_err(provider_error)?;
    db::apply_present(&mut tx, context.billing.name(), &present).await?;
    tx.commit().await?;
    Ok(())
}

/// Everything the billing page shows.
#[server(prefix = "/api", endpoint = "billing", input = server_fn::codec::GetUrl)]
pub async fn get_billing() -> Result<BillingView, AppError> {
    let (_, scope) = require_member().await?;
    let context = app_context()?;
    let organization_id = scope.organization_id();
    let catalog = context.catalog.get(&context.pool).await?;
    let row = db::billing_row(&context.pool, organization_id).await?;
    let invoices = db::invoices(&context.pool, organization_id, None).await?;
    let users_counted = db::users_counted(&context.pool, organization_id).await?;
    let card = match &context.sandbox {
        Some(sandbox) => sandbox
            .card_on_file(organization_id)
            .await
            .map_err(provider_error)?
            .map(|(last4, fails)| {
                if fails {
                    format!("Test card ending {last4} (its charges fail)")
                } else {
                    format!("Test card ending {last4}")
                }
            }),
        None => None,
    };
    let current = row
        .as_ref()
        .and_then(|r| plan_of_items(r.items.iter().map(|(k, q)| (k.as_str(), *q))).ok())
        .map(|p| PlanChoice::from_plan(&p))
        .or_else(|| {
            row.as_ref().map(|r| PlanChoice {
                tier: r.plan_key.clone(),
                cycle: BillingCycle::from_query(Some(&r.billing_cycle)),
                add_ons: BTreeMap::new(),
            })
        });
    let scheduled = row
        .as_ref()
        .and_then(|r| r.scheduled_change.clone())
        .and_then(|json| serde_json::from_value::<super::subscription::ScheduledChange>(json).ok())
        .and_then(|change| {
            let plan =
                plan_of_items(change.items.iter().map(|i| (i.lookup_key.as_str(), i.quantity))).ok()?;
            let choice = PlanChoice::from_plan(&plan);
            let extras = choice.add_on_names(&catalog);
            Some(format!(
                "Changes to {} ({}){} on {}",
                choice.tier_name(&catalog),
                choice.cycle.as_str(),
                if extras.is_empty() {
                    String::new()
                } else {
                    format!(" with {}", extras.join(", "))
                },
                date(change.effective_at)
            ))
        });
    let linked = row.as_ref().is_some_and(db::BillingRow::has_live_subscription);
    let add_ons = catalog
        .add_ons
        .iter()
        .map(|a| AddOnLine {
            key: a.key.clone(),
            name: a.name.clone(),
            unit: a.unit.clone(),
            monthly_unit_price: a.monthly_unit_price.display_exact(),
            max_quantity: a.max_quantity,
            quantity: current
                .as_ref()
                .and_then(|c| c.add_ons.get(&a.key).copied())
                .unwrap_or(0),
        })
        .collect();
    let tiers = catalog
        .tiers
        .iter()
        .map(|t| TierOption {
            key: t.key.clone(),
            name: t.name.clone(),
            monthly_price: t.monthly_price.display(),
            annual_price: t.annual_price.display(),
        })
        .collect();
    let users_allowed = current.as_ref().and_then(|c| match allowed_users(&catalog, c) {
        Limit::Limited(n) => Some(n),
        Limit::Unlimited => None,
    });
    Ok(BillingView {
        can_manage: scope.role().manages_team(),
        provider: context.billing.name().as_str().to_owned(),
        test_mode: context.sandbox.is_some(),
        linked,
        plan_key: row.as_ref().map(|r| r.plan_key.clone()).unwrap_or_default(),
        plan_name: row.as_ref().map(|r| r.plan_name.clone()).unwrap_or_default(),
        cycle: current
            .as_ref()
            .map(|c| c.cycle.as_str().to_owned())
            .unwrap_or_default(),
        status: row.as_ref().map(|r| r.status.clone()).unwrap_or_default(),
        trial_ends_on: row
            .as_ref()
            .filter(|r| r.status == "trialing")
            .and_then(|r| r.trial_end)
            .map(date),
        trial_ended_on: row
            .as_ref()
            .filter(|r| r.status == "paused" && r.provider_subscription.is_none())
            .and_then(|r| r.trial_end)
            .map(date),
        period_ends_on: row.as_ref().and_then(|r| r.current_period_end).map(date),
        cancel_at_period_end: row.as_ref().is_some_and(|r| r.cancel_at_period_end),
        scheduled_change: scheduled,
        card,
        add_ons,
        tiers,
        users_counted,
        users_allowed,
        invoices: invoices
            .into_iter()
            .map(|i| InvoiceSummary {
                invoice_id: i.invoice_id.to_string(),
                number: i.number.unwrap_or_else(|| "Draft".into()),
                issued_on: i.issued_on,
                status: i.status,
                total: Money::display_minor(i.total, &i.currency),
                hosted_invoice_url: i.hosted_invoice_url,
            })
            .collect(),
        request_id: Uuid::new_v4().to_string(),
    })
}

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
    let catalog = context.catalog.get(&context.pool).await?;
    let choice = read_choice(&catalog, &tier, &cycle, &add_ons)?;
    let request_id = idempotency_token(&request_id)?;
    let organization_id = scope.organization_id();
    let row = db::billing_row(&context.pool, organization_id).await?;
    if row.as_ref().is_some_and(db::BillingRow::has_live_subscription) {
        return Err(AppError::Conflict(
            "you already have a subscription; change its plan from the billing page".into(),
        ));
    }
    let users = db::users_counted(&context.pool, organization_id).await?;
    if let Limit::Limited(allowed) = allowed_users(&catalog, &choice)
        && users > allowed
    {
        return Err(AppError::field(
            "tier",
            format!(
                "your organisation has {users} users but that plan allows {allowed}; choose a larger plan or add extra users"
            ),
        ));
    }
    let provider = context.billing.clone();
    let customer_id = match db::customer_of(&context.pool, organization_id, provider.name()).await? {
        Some(id) => id,
        None => {
            let organization_name =
                crate::accounts::db::organization_name(&context.pool, organization_id).await?;
            let id = provider
                .create_customer(
                    &organization_id.to_string(),
                    &organization_name,
                    &user.email,
                    &format!("customer:{organization_id}"),
                )
                .await
                .map_err(provider_error)?;
            db::link_customer(&context.pool, organization_id, provider.name(), &id, &user.email).await?;
            id
        }
    };
    let now = chrono::Utc::now().timestamp();
    let trial_end = row
        .as_ref()
        .filter(|r| r.status == "trialing")
        .and_then(|r| r.trial_end)
        .filter(|end| *end > now + 3600);
    let redirect = provider
        .create_checkout(&CheckoutRequest {
            customer_id,
            items: choice.items(),
            trial_end,
            success_url: format!(
                "{}/app/billing/success?session_id={{CHECKOUT_SESSION_ID}}",
                context.public_url
            ),
            cancel_url: format!("{}/pricing?checkout=canceled", context.public_url),
            organization_id: organization_id.to_string(),
            idempotency_key: format!("checkout:{organization_id}:{request_id}"),
        })
        .await
        .map_err(provider_error)?;
    crate::security::redirect::redirect(&redirect.url);
    Ok(())
}

/// The success page's check: re-reads the session and its subscription from
/// the provider (the redirect alone proves nothing) and applies it.
#[server(prefix = "/api", endpoint = "checkout_result", input = server_fn::codec::GetUrl)]
pub async fn checkout_result(session_id: String) -> Result<CheckoutResultView, AppError> {
    let (_, scope) = require_member().await?;
    let context = app_context()?;
    let session_id = object_id(&session_id)?;
    let outcome = context
        .billing
        .checkout_outcome(session_id)
        .await
        .map_err(|e| match e {
            ProviderError::NotFound(_) => AppError::NotFound,
            other => provider_error(other),
        })?;
    let ours = db::customer_of(&context.pool, scope.organization_id(), context.billing.name()).await?;
    if ours.is_none() || outcome.customer_id != ours {
        return Err(AppError::NotFound);
    }
    let catalog = context.catalog.get(&context.pool).await?;
    let Some(subscription) = outcome.subscription.filter(|_| outcome.complete) else {
        return Ok(CheckoutResultView {
            complete: false,
            plan_name: String::new(),
            status: String::new(),
        });
    };
    apply_now(&context, &subscription).await?;
    let plan = subscription
        .plan()
        .map_err(|e| AppError::Conflict(e.to_string()))?;
    Ok(CheckoutResultView {
        complete: true,
        plan_name: PlanChoice::from_plan(&plan).tier_name(&catalog),
        status: subscription.status.as_str().to_owned(),
    })
}

/// What a plan change would do: when it happens and what is due now.
#[server(prefix = "/api", endpoint = "preview_plan_change", input = server_fn::codec::GetUrl)]
pub async fn preview_plan_change(
    tier: String,
    cycle: String,
    add_ons: Option<BTreeMap<String, String>>,
) -> Result<ChangePreviewView, AppError> {
    let (_, scope) = require_billing_manager().await?;
    let context = app_context()?;
    let catalog = context.catalog.get(&context.pool).await?;
    let target = read_choice(&catalog, &tier, &cycle, &add_ons)?;
    let (row, subscription_id, current) = linked_subscription(&context, scope.organization_id()).await?;
    let users = db::users_counted(&context.pool, scope.organization_id()).await?;
    let timing = plan_change(&catalog, &current, &target, users).map_err(plan_change_error)?;
    let (amount_due, credit, charge, currency) = match timing {
        ChangeTiming::AtPeriodEnd => (0, 0, 0, catalog.currency.code().to_owned()),
        ChangeTiming::Immediately => {
            let preview = context
                .billing
                .preview_change(&subscription_id, &target.items())
                .await
                .map_err(provider_error)?;
            (
                preview.proration.amount_due,
                preview.proration.credit,
                preview.proration.charge,
                preview.currency,
            )
        }
    };
    let name = |choice: &PlanChoice| {
        let extras = choice.add_on_names(&catalog);
        let mut text = format!("{}, billed {}", choice.tier_name(&catalog), choice.cycle.as_str());
        if !extras.is_empty() {
            text.push_str(&format!(", with {}", extras.join(", ")));
        }
        text
    };
    Ok(ChangePreviewView {
        tier: target.tier.clone(),
        cycle: target.cycle.as_str().to_owned(),
        add_ons: target.add_ons.iter().map(|(k, q)| (k.clone(), *q)).collect(),
        from: name(&current),
        to: name(&target),
        immediate: timing == ChangeTiming::Immediately,
        amount_due: Money::display_minor(amount_due, &currency),
        credit: Money::display_minor(credit, &currency),
        charge: Money::display_minor(charge, &currency),
        new_period_price: target
            .period_amount(&catalog)
            .map(|amount| Money::new(amount, catalog.currency).display_exact())
            .unwrap_or_default(),
        effective_on: match timing {
            ChangeTiming::Immediately => "today".into(),
            ChangeTiming::AtPeriodEnd => row.current_period_end.map(date).unwrap_or_default(),
        },
        request_id: Uuid::new_v4().to_string(),
    })
}

#[cfg(feature = "ssr")]
fn plan_change_error(error: PlanChangeError) -> AppError {
    match error {
        PlanChangeError::UnknownTier(_) => AppError::field("tier", error.to_string()),
        PlanChangeError::UnknownAddOn(_) | PlanChangeError::TooMany { .. } => {
            AppError::field("add_ons", error.to_string())
        }
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
    let catalog = context.catalog.get(&context.pool).await?;
    let target = read_choice(&catalog, &tier, &cycle, &add_ons)?;
    let request_id = idempotency_token(&request_id)?;
    let (_, subscription_id, current) = linked_subscription(&context, scope.organization_id()).await?;
    let users = db::users_counted(&context.pool, scope.organization_id()).await?;
    let timing = plan_change(&catalog, &current, &target, users).map_err(plan_change_error)?;
    let changed = context
        .billing
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
    let cancel = match cancel.as_str() {
        "true" => true,
        "false" => false,
        _ => return Err(AppError::field("cancel", "choose cancel or resume")),
    };
    let request_id = idempotency_token(&request_id)?;
    let (_, subscription_id, _) = linked_subscription(&context, scope.organization_id()).await?;
    let changed = context
        .billing
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
    let (_, scope) = require_billing_manager().await?;
    let request_id = idempotency_token(&request_id)?;
    let context = app_context()?;
    let customer = db::customer_of(&context.pool, scope.organization_id(), context.billing.name())
        .await?
        .ok_or_else(|| {
            AppError::Conflict("subscribe first: there is no payment method to manage yet".into())
        })?;
    let url = context
        .billing
        .payment_methods_url(
            &customer,
            &format!("{}/app/billing", context.public_url),
            &format!("portal:{customer}:{request_id}"),
        )
        .await
        .map_err(provider_error)?;
    crate::security::redirect::redirect(&url);
    Ok(())
}

/// The sandbox's checkout page.
#[server(prefix = "/api", endpoint = "sandbox_checkout", input = server_fn::codec::GetUrl)]
pub async fn get_sandbox_checkout(session_id: String) -> Result<SandboxCheckoutView, AppError> {
    let (_, scope) = require_billing_manager().await?;
    let session_id = object_id(&session_id)?;
    let context = app_context()?;
    let sandbox = context.sandbox.clone().ok_or(AppError::NotFound)?;
    let checkout = sandbox
        .checkout_page(session_id, scope.organization_id())
        .await
        .map_err(provider_error)?
        .ok_or(AppError::NotFound)?;
    Ok(SandboxCheckoutView {
        session_id: checkout.session_id,
        open: checkout.status == "open",
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
    let context = app_context()?;
    let sandbox = context.sandbox.clone().ok_or(AppError::NotFound)?;
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
    let context = app_context()?;
    let sandbox = context.sandbox.clone().ok_or(AppError::NotFound)?;
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
    let sandbox = context.sandbox.clone().ok_or(AppError::NotFound)?;
    let (_, subscription_id, _) = linked_subscription(&context, scope.organization_id()).await?;
    let snapshot = sandbox
        .end_period(&subscription_id)
        .await
        .map_err(provider_error)?;
    apply_now(&context, &snapshot).await?;
    crate::security::redirect::redirect("/app/billing?period_ended=1");
    Ok(())
}

/// Test mode only: ends the signup trial now, as if its days had run out
/// (without a subscription the account is paused until a plan is chosen).
#[server(prefix = "/api", endpoint = "sandbox_end_trial")]
pub async fn sandbox_end_trial() -> Result<(), AppError> {
    let (_, scope) = require_billing_manager().await?;
    let context = app_context()?;
    if context.sandbox.is_none() {
        return Err(AppError::NotFound);
    }
    let ended =
        super::trials::end_signup_trial_now(&context.pool, scope.organization_id(), &context.trial_notices())
            .await?;
    if !ended {
        return Err(AppError::Conflict("There is no running trial to end.".into()));
    }
    crate::security::redirect::redirect("/app/billing?trial_ended=1");
    Ok(())
}

/// One invoice of the caller's organisation.
#[server(prefix = "/api", endpoint = "invoice", input = server_fn::codec::GetUrl)]
pub async fn get_invoice(invoice_id: String) -> Result<super::InvoiceView, AppError> {
    let (_, scope) = require_member().await?;
    let context = app_context()?;
    let invoice_id = Uuid::parse_str(invoice_id.trim()).map_err(|_| AppError::NotFound)?;
    let organization_name =
        crate::accounts::db::organization_name(&context.pool, scope.organization_id()).await?;
    let invoice = db::invoices(&context.pool, scope.organization_id(), Some(invoice_id))
        .await?
        .into_iter()
        .next()
        .ok_or(AppError::NotFound)?;
    Ok(super::InvoiceView::from_row(&invoice, organization_name))
}
