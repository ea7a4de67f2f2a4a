//! The customer's billing pages: `/app/billing` (plan, trial, add-ons,
//! invoices), the plan-change preview, the checkout success page, invoices,
//! and the sandbox's test-mode checkout and card pages. Every action is a
//! plain form, so all of it works without JavaScript.

use super::api::{checkout_result, get_billing, get_invoice, get_sandbox_checkout, preview_plan_change};
use super::{BillingView, ChangePreviewView, InvoiceView, SandboxCheckoutView};
use crate::portal::{PortalNav, portal_outcome};
use crate::ui::form::{FormFeedback, FormSummary, Notice, TextField};
use crate::ui::product_name;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};
use std::collections::BTreeMap;

const BUTTON: &str = "rounded-md bg-brand px-4 py-2 font-semibold text-white hover:opacity-90";
const SECONDARY: &str =
    "rounded-md border border-slate-300 px-4 py-2 font-semibold text-slate-800 hover:border-brand";

fn status_label(status: &str) -> &'static str {
    match status {
        "trialing" => "In trial",
        "active" => "Active",
        "past_due" => "Past due: payment failed",
        "unpaid" => "Unpaid",
        "canceled" => "Cancelled",
        "incomplete" => "Incomplete",
        "incomplete_expired" => "Expired",
        "paused" => "Paused",
        _ => "Unknown",
    }
}

/// A test-mode control that makes time pass, clearly marked as such.
#[component]
fn TestModeClock(explanation: &'static str, action: &'static str, button: &'static str) -> impl IntoView {
    view! {
        <div class="rounded-md border border-dashed border-amber-400 bg-amber-50 p-4">
            <p class="text-sm font-semibold text-amber-900">"Test mode — no real payment"</p>
            <p class="text-sm text-amber-900">{explanation}</p>
            <form method="post" action=action class="mt-2">
                <button type="submit" class=SECONDARY>{button}</button>
            </form>
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

/// `/app/billing`.
#[component]
pub fn BillingPage() -> impl IntoView {
    let product = product_name();
    let feedback = FormFeedback::from_address();
    let notice = use_query_map().with_untracked(|q| {
        [
            ("changed", "now", "Your plan was changed."),
            (
                "changed",
                "later",
                "Your plan will change at the end of the current period.",
            ),
            (
                "canceled",
                "1",
                "Your subscription will end at the end of the current period.",
            ),
            ("resumed", "1", "Your subscription will continue."),
            ("card", "1", "Your card was updated."),
            ("period_ended", "1", "Test mode: the current period has ended."),
        ]
        .into_iter()
        .find(|(key, value, _)| q.get(key).as_deref() == Some(*value))
        .map(|(_, _, message)| message)
    });
    view! {
        <Title text=format!("Billing — {product}") />
        <PortalNav current="/app/billing" />
        <main id="main" class="mx-auto max-w-5xl space-y-8 px-4 py-10">
            <h1 class="text-3xl font-bold tracking-tight">"Billing"</h1>
            {notice.map(|message| view! { <Notice message=message.to_owned() /> })}
            <FormSummary feedback=feedback.clone() />
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {Suspend::new(async move {
                    let feedback = feedback.clone();
                    portal_outcome(get_billing().await, "/app/billing", move |view| view! { <BillingPanels view feedback /> })
                })}
            </Suspense>
        </main>
    }
}

#[component]
fn BillingPanels(view: BillingView, feedback: FormFeedback) -> impl IntoView {
    let status = view.status.clone();
    let manage = view.can_manage;
    let request_id = view.request_id.clone();
    let summary = view! {
        <section aria-labelledby="plan-heading" class="rounded-xl border border-slate-200 p-6">
            <h2 id="plan-heading" class="text-xl font-semibold">"Your plan"</h2>
            <dl class="mt-4 grid gap-4 sm:grid-cols-4">
                <div>
                    <dt class="text-sm text-slate-600">"Plan"</dt>
                    <dd class="text-lg font-semibold" data-billing-plan>{view.plan_name.clone()}</dd>
                </div>
                <div>
                    <dt class="text-sm text-slate-600">"Billing"</dt>
                    <dd class="text-lg font-semibold" data-billing-cycle>{view.cycle.clone()}</dd>
                </div>
                <div>
                    <dt class="text-sm text-slate-600">"Status"</dt>
                    <dd class="text-lg font-semibold" data-billing-status=status.clone()>{status_label(&status)}</dd>
                </div>
                <div>
                    <dt class="text-sm text-slate-600">"Users"</dt>
                    <dd class="text-lg font-semibold" data-billing-users>
                        {match view.users_allowed {
                            Some(n) => format!("{} of {n}", view.users_counted),
                            None => format!("{} (unlimited)", view.users_counted),
                        }}
                    </dd>
                </div>
            </dl>
            {view.trial_ends_on.clone().map(|d| view! { <p class="mt-4">{format!("Your trial ends on {d}.")}</p> })}
            {view
                .trial_ended_on
                .clone()
                .map(|d| {
                    view! {
                        <p role="alert" class="mt-4 rounded-md bg-amber-50 p-3 text-amber-900" data-trial-ended>
                            {format!(
                                "Your trial ended on {d} and the account is paused. Nothing is lost: choose a plan below to continue.",
                            )}
                        </p>
                    }
                })}
            {(!view.cancel_at_period_end && view.linked && view.trial_ends_on.is_none())
                .then(|| view.period_ends_on.clone())
                .flatten()
                .map(|d| view! { <p class="mt-4">{format!("Renews on {d}.")}</p> })}
            {view
                .scheduled_change
                .clone()
                .map(|c| view! { <p class="mt-2 text-slate-700" data-scheduled-change>{c}</p> })}
            {view.card.clone().map(|c| view! { <p class="mt-2 text-slate-700">{format!("Payment method: {c}")}</p> })}
            {(status == "past_due")
                .then(|| {
                    view! {
                        <p role="alert" class="mt-4 rounded-md bg-red-50 p-3 text-red-800">
                            "Your last payment failed. Update your payment method to keep your subscription."
                        </p>
                    }
                })}
            {(view.cancel_at_period_end && manage)
                .then(|| {
                    let request_id = request_id.clone();
                    view! {
                        <div class="mt-4 rounded-md bg-amber-50 p-3 text-amber-900" data-cancel-notice>
                            <p>
                                {format!(
                                    "Your subscription ends on {}.",
                                    view.period_ends_on.clone().unwrap_or_default(),
                                )}
                            </p>
                            <form method="post" action="/api/set_cancellation" class="mt-2">
                                <input type="hidden" name="cancel" value="false" />
                                <input type="hidden" name="request_id" value=request_id />
                                <button type="submit" class=BUTTON>"Resume subscription"</button>
                            </form>
                        </div>
                    }
                })}
        </section>
    };
    let subscribe = (manage && !view.linked).then(|| {
        let view = view.clone();
        let feedback = feedback.clone();
        let request_id = request_id.clone();
        view! {
            <section aria-labelledby="subscribe-heading" class="space-y-4 rounded-xl border border-slate-200 p-6">
                <h2 id="subscribe-heading" class="text-xl font-semibold">"Subscribe"</h2>
                <p class="text-slate-700">
                    "Choose a plan and pay securely. Any trial days you have left carry over: you are charged when the trial ends."
                </p>
                <form method="post" action="/api/start_checkout" class="space-y-4" novalidate>
                    <input type="hidden" name="request_id" value=request_id />
                    <PlanFields view=view.clone() feedback />
                    <button type="submit" class=BUTTON>"Continue to payment"</button>
                </form>
                {(view.test_mode && view.trial_ends_on.is_some())
                    .then(|| {
                        view! {
                            <TestModeClock
                                explanation="Make time pass: end the free trial now. Without a subscription the account is paused until a plan is chosen."
                                action="/api/sandbox_end_trial"
                                button="End the trial now"
                            />
                        }
                    })}
            </section>
        }
    });
    let change = (manage && view.linked).then(|| {
        let view_for_fields = view.clone();
        let request_id = request_id.clone();
        let test_mode = view.test_mode;
        view! {
            <section aria-labelledby="change-heading" class="space-y-4 rounded-xl border border-slate-200 p-6">
                <h2 id="change-heading" class="text-xl font-semibold">"Change plan"</h2>
                <p class="text-slate-700">
                    "Upgrades and extra add-ons start now, with the difference for the rest of the period charged at once. Downgrades start at the end of the period."
                </p>
                <form method="get" action="/app/billing/change" class="space-y-4">
                    <PlanFields view=view_for_fields feedback=FormFeedback::default() />
                    <button type="submit" class=BUTTON>"Review change"</button>
                </form>
                <div class="flex flex-wrap gap-3 border-t border-slate-200 pt-4">
                    <form method="post" action="/api/payment_methods">
                        <input type="hidden" name="request_id" value=request_id.clone() />
                        <button type="submit" class=SECONDARY>"Manage payment methods"</button>
                    </form>
                    {(!view.cancel_at_period_end)
                        .then(|| {
                            let request_id = request_id.clone();
                            view! {
                                <form method="post" action="/api/set_cancellation">
                                    <input type="hidden" name="cancel" value="true" />
                                    <input type="hidden" name="request_id" value=request_id />
                                    <button type="submit" class=SECONDARY>"Cancel at period end"</button>
                                </form>
                            }
                        })}
                </div>
                {test_mode
                    .then(|| {
                        view! {
                            <TestModeClock
                                explanation="Make time pass: end the current period now (the trial ends or the subscription renews and is charged)."
                                action="/api/sandbox_end_period"
                                button="End the current period now"
                            />
                        }
                    })}
            </section>
        }
    });
    let invoices = view
        .invoices
        .iter()
        .map(|i| {
            let href = format!("/app/billing/invoices/{}", i.invoice_id);
            let pdf = format!("/app/billing/invoices/{}/pdf", i.invoice_id);
            view! {
                <tr class="border-b border-slate-100" data-invoice=i.number.clone()>
                    <th scope="row" class="py-2 pr-4 text-left font-normal">
                        <a href=href class="underline">{i.number.clone()}</a>
                    </th>
                    <td class="py-2 pr-4">{i.issued_on.clone()}</td>
                    <td class="py-2 pr-4" data-invoice-status>{i.status.clone()}</td>
                    <td class="py-2 pr-4 text-right">{i.total.clone()}</td>
                    <td class="py-2">
                        <a href=pdf class="underline">
                            "PDF"
                            <span class="sr-only">{format!(" of invoice {}", i.number)}</span>
                        </a>
                    </td>
                </tr>
            }
        })
        .collect_view();
    let no_invoices = view.invoices.is_empty();
    view! {
        {summary}
        {subscribe}
        {change}
        <section aria-labelledby="invoices-heading">
            <h2 id="invoices-heading" class="text-xl font-semibold">"Invoices"</h2>
            {if no_invoices {
                view! { <p class="mt-2 text-slate-600">"No invoices yet."</p> }.into_any()
            } else {
                view! {
                    <table class="mt-2 w-full text-sm">
                        <caption class="sr-only">"Invoices"</caption>
                        <thead>
                            <tr class="border-b border-slate-300 text-left">
                                <th scope="col" class="py-2">"Number"</th>
                                <th scope="col" class="py-2">"Issued"</th>
                                <th scope="col" class="py-2">"Status"</th>
                                <th scope="col" class="py-2 text-right">"Total"</th>
                                <th scope="col" class="py-2"><span class="sr-only">"Download"</span></th>
                            </tr>
                        </thead>
                        <tbody>{invoices}</tbody>
                    </table>
                }
                    .into_any()
            }}
        </section>
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

/// `/app/billing/change?tier=…&cycle=…&add_ons[key]=n`: what a change would
/// do, and the button that makes it.
#[component]
pub fn ChangePlanPage() -> impl IntoView {
    let product = product_name();
    let query = use_query_map().get_untracked();
    let tier = query.get("tier").unwrap_or_default();
    let cycle = query.get("cycle").unwrap_or_default();
    let add_ons = query_add_ons(&query);
    let feedback = FormFeedback::from_address();
    view! {
        <Title text=format!("Change plan — {product}") />
        <PortalNav current="/app/billing" />
        <main id="main" class="mx-auto max-w-3xl space-y-6 px-4 py-10">
            <h1 class="text-3xl font-bold tracking-tight">"Change plan"</h1>
            <FormSummary feedback=feedback.clone() />
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {
                    let (tier, cycle, add_ons) = (tier.clone(), cycle.clone(), add_ons.clone());
                    Suspend::new(async move {
                        match preview_plan_change(tier, cycle, add_ons).await {
                            Ok(preview) => view! { <ChangePreviewPanel preview /> }.into_any(),
                            Err(crate::error::AppError::Unauthorized) => {
                                view! { <crate::ui::SignInRedirect next="/app/billing".to_owned() /> }.into_any()
                            }
                            Err(error) => {
                                view! {
                                    <p role="alert" class="rounded-md bg-red-50 p-4 text-red-800" data-change-refused>
                                        {error.to_string()}
                                    </p>
                                    <p><a href="/app/billing" class="underline">"Back to billing"</a></p>
                                }
                                    .into_any()
                            }
                        }
                    })
                }
            </Suspense>
        </main>
    }
}

#[component]
fn ChangePreviewPanel(preview: ChangePreviewView) -> impl IntoView {
    let hidden = preview
        .add_ons
        .iter()
        .map(|(key, quantity)| view! { <input type="hidden" name=format!("add_ons[{key}]") value=quantity.to_string() /> })
        .collect_view();
    view! {
        <dl class="space-y-2">
            <div><dt class="inline font-semibold">"From: "</dt><dd class="inline">{preview.from.clone()}</dd></div>
            <div><dt class="inline font-semibold">"To: "</dt><dd class="inline" data-change-to>{preview.to.clone()}</dd></div>
            <div>
                <dt class="inline font-semibold">"Price per period: "</dt>
                <dd class="inline">{preview.new_period_price.clone()}</dd>
            </div>
        </dl>
        {if preview.immediate {
            view! {
                <section class="rounded-xl border border-slate-200 p-4" aria-labelledby="due-heading">
                    <h2 id="due-heading" class="font-semibold">"Due today"</h2>
                    <p class="text-2xl font-bold" data-amount-due>{preview.amount_due.clone()}</p>
                    <p class="text-sm text-slate-600">
                        {format!(
                            "{} for the rest of this period, less {} for unused time on your current plan.",
                            preview.charge,
                            preview.credit,
                        )}
                    </p>
                </section>
            }
                .into_any()
        } else {
            view! {
                <p class="rounded-xl border border-slate-200 p-4" data-change-later>
                    {format!("Nothing is charged today. The change takes effect on {}.", preview.effective_on)}
                </p>
            }
                .into_any()
        }}
        <form method="post" action="/api/change_plan" class="flex flex-wrap gap-3">
            <input type="hidden" name="tier" value=preview.tier.clone() />
            <input type="hidden" name="cycle" value=preview.cycle.clone() />
            <input type="hidden" name="request_id" value=preview.request_id.clone() />
            {hidden}
            <button type="submit" class=BUTTON>
                {if preview.immediate { "Confirm and pay" } else { "Confirm change" }}
            </button>
            <a href="/app/billing" class=SECONDARY>"Keep my current plan"</a>
        </form>
    }
}

/// `/app/billing/success?session_id=…`: checks the session with the provider.
#[component]
pub fn CheckoutSuccessPage() -> impl IntoView {
    let product = product_name();
    let session_id = use_query_map().with_untracked(|q| q.get("session_id").unwrap_or_default());
    view! {
        <Title text=format!("Subscription — {product}") />
        <PortalNav current="/app/billing" />
        <main id="main" class="mx-auto max-w-3xl space-y-6 px-4 py-10">
            <Suspense fallback=|| view! { <p>"Checking your payment…"</p> }>
                {
                    let session_id = session_id.clone();
                    Suspend::new(async move {
                        portal_outcome(checkout_result(session_id).await, "/app/billing", |result| {
                            if result.complete {
                                view! {
                                    <h1 class="text-3xl font-bold tracking-tight" data-checkout-complete>
                                        {format!("You are subscribed to {}", result.plan_name)}
                                    </h1>
                                    <p>{format!("Status: {}.", status_label(&result.status))}</p>
                                    <p><a href="/app/billing" class="underline">"Go to billing"</a></p>
                                }
                                    .into_any()
                            } else {
                                view! {
                                    <h1 class="text-3xl font-bold tracking-tight">"Checkout is not complete"</h1>
                                    <p><a href="/app/billing" class="underline">"Back to billing"</a></p>
                                }
                                    .into_any()
                            }
                        })
                    })
                }
            </Suspense>
        </main>
    }
}

#[component]
fn TestModeBanner() -> impl IntoView {
    view! {
        <p role="note" class="rounded-md border-2 border-dashed border-amber-500 bg-amber-50 p-3 font-semibold text-amber-900">
            "Test mode — no real payment. Use 4242 4242 4242 4242 to pay, 4000 0000 0000 0341 for a card whose later charges fail, or 4000 0000 0000 0002 for a declined card."
        </p>
    }
}

/// `/billing/sandbox/checkout/:id`: the sandbox's checkout.
#[component]
pub fn SandboxCheckoutPage() -> impl IntoView {
    let product = product_name();
    let session_id = use_params_map().with_untracked(|p| p.get("id").unwrap_or_default());
    let feedback = FormFeedback::from_address();
    view! {
        <Title text=format!("Test checkout — {product}") />
        <main id="main" class="mx-auto max-w-xl space-y-6 px-4 py-10">
            <h1 class="text-3xl font-bold tracking-tight">"Checkout"</h1>
            <TestModeBanner />
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {
                    let session_id = session_id.clone();
                    Suspend::new(async move {
                        let feedback = feedback.clone();
                        portal_outcome(get_sandbox_checkout(session_id).await, "/app/billing", move |checkout| {
                            view! { <SandboxCheckoutForm checkout feedback /> }
                        })
                    })
                }
            </Suspense>
        </main>
    }
}

#[component]
fn SandboxCheckoutForm(checkout: SandboxCheckoutView, feedback: FormFeedback) -> impl IntoView {
    let lines = checkout
        .lines
        .iter()
        .map(|(description, quantity, amount)| {
            view! {
                <tr class="border-b border-slate-100">
                    <th scope="row" class="py-2 text-left font-normal">{format!("{description} × {quantity}")}</th>
                    <td class="py-2 text-right">{amount.clone()}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <table class="w-full">
            <caption class="sr-only">"What you are buying"</caption>
            <tbody>{lines}</tbody>
            <tfoot>
                <tr>
                    <th scope="row" class="py-2 text-left">{format!("Total per {}", if checkout.cycle == "annual" { "year" } else { "month" })}</th>
                    <td class="py-2 text-right font-semibold" data-checkout-total>{checkout.total.clone()}</td>
                </tr>
            </tfoot>
        </table>
        {checkout
            .trial_ends_on
            .clone()
            .map(|d| view! { <p>{format!("Your trial continues: nothing is charged until {d}.")}</p> })}
        {if checkout.open {
            view! {
                <form method="post" action="/api/sandbox_pay" class="space-y-4" novalidate>
                    <FormSummary feedback=feedback.clone() />
                    <input type="hidden" name="session_id" value=checkout.session_id.clone() />
                    <TextField
                        name="card_number"
                        label="Test card number"
                        autocomplete="cc-number"
                        hint="Test mode takes test card numbers only."
                        feedback=feedback.clone()
                    />
                    <div class="flex flex-wrap gap-3">
                        <button type="submit" class=BUTTON>"Pay (test mode)"</button>
                        <a href=checkout.cancel_url.clone() class=SECONDARY>"Cancel"</a>
                    </div>
                </form>
            }
                .into_any()
        } else {
            view! {
                <p>"This checkout is finished. " <a href="/app/billing" class="underline">"Go to billing"</a></p>
            }
                .into_any()
        }}
    }
}

/// `/app/billing/card`: replace the sandbox test card.
#[component]
pub fn SandboxCardPage() -> impl IntoView {
    let product = product_name();
    let feedback = FormFeedback::from_address();
    view! {
        <Title text=format!("Payment method — {product}") />
        <PortalNav current="/app/billing" />
        <main id="main" class="mx-auto max-w-xl space-y-6 px-4 py-10">
            <h1 class="text-3xl font-bold tracking-tight">"Payment method"</h1>
            <TestModeBanner />
            <form method="post" action="/api/sandbox_card" class="space-y-4" novalidate>
                <FormSummary feedback=feedback.clone() />
                <TextField name="card_number" label="Test card number" autocomplete="cc-number" feedback=feedback.clone() />
                <button type="submit" class=BUTTON>"Save card"</button>
            </form>
        </main>
    }
}

/// `/app/billing/invoices/:id`: a printable invoice.
#[component]
pub fn InvoicePage() -> impl IntoView {
    let product = product_name();
    let invoice_id = use_params_map().with_untracked(|p| p.get("id").unwrap_or_default());
    view! {
        <Title text=format!("Invoice — {product}") />
        <main id="main" class="mx-auto max-w-3xl space-y-6 px-4 py-10 print:p-0">
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {
                    let invoice_id = invoice_id.clone();
                    let product = product.clone();
                    Suspend::new(async move {
                        let product = product.clone();
                        portal_outcome(get_invoice(invoice_id).await, "/app/billing", move |invoice| {
                            view! { <InvoiceDocument invoice product /> }
                        })
                    })
                }
            </Suspense>
        </main>
    }
}

#[component]
fn InvoiceDocument(invoice: InvoiceView, product: String) -> impl IntoView {
    let lines = invoice
        .lines
        .iter()
        .map(|(description, quantity, amount)| {
            view! {
                <tr class="border-b border-slate-200">
                    <th scope="row" class="py-2 text-left font-normal">{description.clone()}</th>
                    <td class="py-2 text-right">{quantity.to_string()}</td>
                    <td class="py-2 text-right">{amount.clone()}</td>
                </tr>
            }
        })
        .collect_view();
    let pdf = format!("/app/billing/invoices/{}/pdf", invoice.invoice_id);
    view! {
        <nav class="flex gap-4 print:hidden" aria-label="Invoice">
            <a href="/app/billing" class="underline">"Back to billing"</a>
            <a href=pdf class="underline">"Download PDF"</a>
            {invoice
                .hosted_invoice_url
                .clone()
                .map(|url| view! { <a href=url class="underline" rel="noopener">"View at the payment provider"</a> })}
        </nav>
        <header class="flex flex-wrap justify-between gap-4">
            <div>
                <p class="text-xl font-bold">{product}</p>
                <p class="text-slate-600">{format!("Billed to {}", invoice.organization_name)}</p>
            </div>
            <div class="text-right">
                <h1 class="text-2xl font-bold" data-invoice-number>{format!("Invoice {}", invoice.number)}</h1>
                <p>{format!("Issued {}", invoice.issued_on)}</p>
                {invoice.period.clone().map(|p| view! { <p>{format!("Service period {p}")}</p> })}
                <p class="font-semibold uppercase">{invoice.status.clone()}</p>
            </div>
        </header>
        <table class="w-full">
            <caption class="sr-only">"Invoice lines"</caption>
            <thead>
                <tr class="border-b border-slate-400 text-left">
                    <th scope="col" class="py-2">"Description"</th>
                    <th scope="col" class="py-2 text-right">"Qty"</th>
                    <th scope="col" class="py-2 text-right">"Amount"</th>
                </tr>
            </thead>
            <tbody>{lines}</tbody>
        </table>
        <dl class="ml-auto w-64 space-y-1">
            <div class="flex justify-between"><dt>"Subtotal"</dt><dd>{invoice.subtotal.clone()}</dd></div>
            <div class="flex justify-between font-semibold"><dt>"Total"</dt><dd data-invoice-total>{invoice.total.clone()}</dd></div>
            <div class="flex justify-between"><dt>"Paid"</dt><dd>{invoice.amount_paid.clone()}</dd></div>
            <div class="flex justify-between"><dt>"Amount remaining"</dt><dd data-amount-remaining>{invoice.amount_remaining.clone()}</dd></div>
        </dl>
    }
}
