//! The billing page's view model, built from what was read by pure
//! functions: what the page says about the plan, the trial, a scheduled
//! change, the seats and the invoices.

use super::db::{BillingRow, InvoiceRow};
use super::domain::{PlanChoice, ScheduledChange, SubscriptionStatus, allowed_users, plan_of_items};
use super::provider::ProviderName;
use super::{AddOnLine, BillingView, InvoiceSummary, InvoiceView, TierOption};
use crate::catalog::domain::{Catalog, Limit};
use crate::catalog::money::Money;
use uuid::Uuid;

/// A Unix time as the pages print a date: `1 March 2026`.
pub fn date(unix: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp(unix, 0)
        .map(|t| crate::format::long_day(t.date_naive()))
        .unwrap_or_default()
}

/// Everything the billing page is built from.
#[derive(Debug)]
pub struct BillingFacts<'a> {
    /// The catalogue, for names, prices and limits.
    pub catalog: &'a Catalog,
    /// The organisation's newest subscription, if it has one.
    pub row: Option<&'a BillingRow>,
    /// Its invoices, newest first.
    pub invoices: Vec<InvoiceRow>,
    /// Users counted against the seats now.
    pub users_counted: u64,
    /// The sandbox's card on file, described.
    pub card: Option<String>,
    /// Whether the viewer may change billing.
    pub can_manage: bool,
    /// The deployment's provider.
    pub provider: ProviderName,
    /// Whether the sandbox is the provider.
    pub test_mode: bool,
    /// A fresh idempotency token for the page's forms.
    pub request_id: Uuid,
}

/// The plan a scheduled change moves to and when, if one is due.
fn scheduled_choice(row: Option<&BillingRow>) -> Option<(PlanChoice, i64)> {
    let change: ScheduledChange = serde_json::from_value(row?.scheduled_change.clone()?).ok()?;
    let plan = plan_of_items(change.items.iter().map(|i| (i.lookup_key.as_str(), i.quantity))).ok()?;
    Some((PlanChoice::from_plan(&plan), change.effective_at))
}

/// The billing page from its facts.
pub fn billing_view(facts: BillingFacts<'_>) -> BillingView {
    let catalog = facts.catalog;
    let current = facts
        .row
        .map(|r| PlanChoice::of_subscription(&r.plan_key, &r.billing_cycle, &r.items));
    let scheduled_plan = scheduled_choice(facts.row);
    let scheduled = scheduled_plan.as_ref().map(|(choice, effective_at)| {
        let extras = choice.add_on_names(catalog);
        format!(
            "Changes to {} ({}){} on {}",
            choice.tier_name(catalog),
            choice.cycle.as_str(),
            if extras.is_empty() {
                String::new()
            } else {
                format!(" with {}", extras.join(", "))
            },
            date(*effective_at)
        )
    });
    let linked = facts.row.is_some_and(BillingRow::has_live_subscription);
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
    let users_allowed = current.as_ref().and_then(|c| match allowed_users(catalog, c) {
        Limit::Limited(n) => Some(n),
        Limit::Unlimited => None,
    });
    let row = facts.row;
    // The next period is priced as the plan it will be on: a scheduled change
    // takes effect at the period's end.
    let next_plan = scheduled_plan.map(|(choice, _)| choice).or(current.clone());
    let trial_ends_on = row
        .as_ref()
        .filter(|r| r.status == SubscriptionStatus::Trialing)
        .and_then(|r| r.trial_end)
        .map(date);
    let trial_ended_on = row
        .as_ref()
        .filter(|r| r.status == SubscriptionStatus::Paused && r.provider_subscription.is_none())
        .and_then(|r| r.trial_end)
        .map(date);
    let where_you_stand = super::where_you_stand::where_you_stand(&super::where_you_stand::Facts {
        status: row.map(|r| r.status),
        linked,
        trial_ends_on: trial_ends_on.clone(),
        trial_ended_on: trial_ended_on.clone(),
        period_ends_on: row.and_then(|r| r.current_period_end).map(date),
        cancel_at_period_end: row.is_some_and(|r| r.cancel_at_period_end),
        next_amount: next_plan
            .as_ref()
            .and_then(|plan| plan.period_amount(catalog))
            .map(|amount| Money::new(amount, catalog.currency).display_exact()),
        per: match next_plan.as_ref().map(|plan| plan.cycle) {
            Some(crate::catalog::domain::BillingCycle::Annual) => "year".to_owned(),
            _ => "month".to_owned(),
        },
        card: facts.card.clone(),
    });
    BillingView {
        where_you_stand,
        can_manage: facts.can_manage,
        provider: facts.provider.as_str().to_owned(),
        test_mode: facts.test_mode,
        linked,
        plan_key: row.map(|r| r.plan_key.clone()).unwrap_or_default(),
        plan_name: row.map(|r| r.plan_name.clone()).unwrap_or_default(),
        cycle: current
            .as_ref()
            .map(|c| c.cycle.as_str().to_owned())
            .unwrap_or_default(),
        status: row.map(|r| r.status),
        trial_ends_on,
        trial_ended_on,
        period_ends_on: row.and_then(|r| r.current_period_end).map(date),
        cancel_at_period_end: row.is_some_and(|r| r.cancel_at_period_end),
        scheduled_change: scheduled,
        card: facts.card,
        add_ons,
        tiers,
        users_counted: facts.users_counted,
        users_allowed,
        invoices: facts
            .invoices
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
        request_id: facts.request_id.to_string(),
    }
}

/// The sandbox's card on file as the billing page describes it.
pub fn describe_test_card(last4: &str, fails: bool) -> String {
    if fails {
        format!("Test card ending {last4} (its charges fail)")
    } else {
        format!("Test card ending {last4}")
    }
}

impl InvoiceView {
    /// Formats a stored invoice.
    pub fn from_row(row: &InvoiceRow, organization_name: String) -> Self {
        let money = |amount: i64| crate::catalog::money::Money::display_minor(amount, &row.currency);
        InvoiceView {
            invoice_id: row.invoice_id.to_string(),
            organization_name,
            number: row.number.clone().unwrap_or_else(|| "Draft".into()),
            status: row.status.clone(),
            issued_on: row.issued_on.clone(),
            period: row.period.as_ref().map(|(from, to)| format!("{from} to {to}")),
            lines: row
                .lines
                .iter()
                .map(|l| (l.description.clone(), l.quantity, money(l.amount)))
                .collect(),
            subtotal: money(row.subtotal),
            total: money(row.total),
            amount_paid: money(row.amount_paid),
            amount_remaining: money((row.amount_due - row.amount_paid).max(0)),
            hosted_invoice_url: row.hosted_invoice_url.clone(),
            invoice_pdf_url: row.invoice_pdf_url.clone(),
        }
    }
}
