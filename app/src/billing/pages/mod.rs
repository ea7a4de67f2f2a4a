//! The customer's billing pages: `/app/billing` (plan, trial, add-ons,
//! invoices), the plan-change preview, the checkout success page, invoices,
//! and the sandbox's test-mode checkout and card pages. Every action is a
//! plain form, so all of it works without JavaScript.

use crate::billing::api::{checkout_result, get_invoice, get_sandbox_checkout, preview_plan_change};
use crate::billing::domain::SubscriptionStatus;
use crate::billing::{BillingView, ChangePreviewView, InvoiceView, SandboxCheckoutView};
use crate::portal::frame::portal_outcome;
use crate::ui::form::{FormFeedback, FormSummary, TextField};
use crate::ui::product_name;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;
use std::collections::BTreeMap;

mod billing;
mod change_plan;
mod checkout;
mod invoice;
mod sandbox;

pub use billing::BillingPanels;
pub use change_plan::ChangePlanPage;
pub use checkout::CheckoutSuccessPage;
pub use invoice::InvoicePage;
pub use sandbox::{SandboxCardPage, SandboxCheckoutPage};

const BUTTON: &str = "rounded-md bg-brand px-4 py-2 font-semibold text-white hover:opacity-90";
const SECONDARY: &str =
    "rounded-md border border-slate-300 px-4 py-2 font-semibold text-slate-800 hover:border-brand";

/// A subscription's state as the customer reads it.
fn status_label(status: Option<SubscriptionStatus>) -> &'static str {
    status.map_or("No subscription", SubscriptionStatus::label)
}

/// A test-mode control that makes time pass, clearly marked as such.
#[component]
fn TestModeClock(
    explanation: &'static str,
    action: &'static str,
    button: &'static str,
    /// More test-mode controls, drawn inside the same labelled box.
    #[prop(optional)]
    children: Option<Children>,
) -> impl IntoView {
    view! {
        <div class="rounded-md border border-dashed border-amber-400 bg-amber-50 p-4" role="group" aria-label="Test mode controls" data-test-mode>
            <p class="text-sm font-semibold text-amber-900">"Test mode — no real payment"</p>
            <p class="text-sm text-amber-900">{explanation}</p>
            <form method="post" action=action class="mt-2">
                <button type="submit" class=SECONDARY>{button}</button>
            </form>
            {children.map(|children| children())}
        </div>
    }
}

/// The tier, cycle and add-on fields shared by the subscribe and change forms.
#[component]
fn PlanFields(view: BillingView, feedback: FormFeedback) -> impl IntoView {
    let current_tier = feedback.value("tier").unwrap_or_else(|| view.plan_key.clone());
    let current_cycle = feedback.value("cycle").unwrap_or_else(|| view.cycle.clone());
    let tier_error = feedback.field_error("tier");
    let tiers = view
        .tiers
        .iter()
        .map(|t| {
            let selected = t.key == current_tier;
            view! {
                <option value=t.key.clone() selected=selected>
                    {format!("{} — {} a month or {} a year", t.name, t.monthly_price, t.annual_price)}
                </option>
            }
        })
        .collect_view();
    let add_ons = view
        .add_ons
        .iter()
        .map(|a| {
            let field = format!("add_ons[{}]", a.key);
            let id = format!("add-on-{}", a.key);
            let error = feedback.field_error(&field);
            let value = feedback.value(&field).unwrap_or_else(|| a.quantity.to_string());
            let error_id = format!("{id}-error");
            view! {
                <div class="space-y-1">
                    <label for=id.clone() class="block text-sm font-medium">
                        {format!("{} ({} per {} a month)", a.name, a.monthly_unit_price, a.unit)}
                    </label>
                    <input
                        id=id.clone()
                        name=field
                        type="number"
                        min="0"
                        max=a.max_quantity.map(|m| m.to_string())
                        value=value
                        inputmode="numeric"
                        aria-invalid=error.is_some().then_some("true")
                        aria-describedby=error.is_some().then(|| error_id.clone())
                        class="block w-32 rounded-md border border-slate-300 px-3 py-2"
                    />
                    {error.map(|m| view! { <p id=error_id class="text-sm text-red-700">{m}</p> })}
                </div>
            }
        })
        .collect_view();
    view! {
        <div class="space-y-1">
            <label for="tier" class="block text-sm font-medium">"Plan"</label>
            <select
                id="tier"
                name="tier"
                aria-invalid=tier_error.is_some().then_some("true")
                aria-describedby=tier_error.is_some().then_some("tier-error")
                class="block w-full max-w-md rounded-md border border-slate-300 px-3 py-2"
            >
                {tiers}
            </select>
            {tier_error.map(|m| view! { <p id="tier-error" class="text-sm text-red-700">{m}</p> })}
        </div>
        <fieldset class="space-y-1">
            <legend class="text-sm font-medium">"Billing"</legend>
            <label class="mr-4 inline-flex items-center gap-2">
                <input type="radio" name="cycle" value="monthly" checked=current_cycle != "annual" />
                "Monthly"
            </label>
            <label class="inline-flex items-center gap-2">
                <input type="radio" name="cycle" value="annual" checked=current_cycle == "annual" />
                "Annual"
            </label>
        </fieldset>
        <div class="grid gap-4 sm:grid-cols-3">{add_ons}</div>
    }
}

fn query_add_ons(q: &leptos_router::params::ParamsMap) -> Option<BTreeMap<String, String>> {
    let map: BTreeMap<String, String> = q
        .clone()
        .into_iter()
        .filter_map(|(key, value)| {
            let name = key.strip_prefix("add_ons[")?.strip_suffix(']')?.to_owned();
            Some((name, value))
        })
        .collect();
    (!map.is_empty()).then_some(map)
}
