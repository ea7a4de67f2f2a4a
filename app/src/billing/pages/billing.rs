//! The panels of `/app/billing`: plan, trial, add-ons, card, invoices and the
//! forms that change them.

use super::*;

/// What happens next with money, and the one step to take (an alert when
/// a payment needs fixing).
#[component]
fn WhereYouStandNote(
    stand: crate::billing::where_you_stand::WhereYouStand,
    trial_ended: bool,
    manage: bool,
) -> impl IntoView {
    use crate::billing::where_you_stand::NextStep;
    let (role, class) = match stand.step {
        Some(NextStep::FixPayment) => ("alert", "mt-4 rounded-md bg-red-50 p-3 text-red-800"),
        Some(NextStep::ChoosePlan) if trial_ended => {
            ("alert", "mt-4 rounded-md bg-amber-50 p-3 text-amber-900")
        }
        _ => ("status", "mt-4 text-slate-800"),
    };
    // Only those who may change billing get the button; the forms it leads to are theirs.
    let step = stand.step.filter(|_| manage).map(|step| {
        let href = match step {
            NextStep::ChoosePlan => "#subscribe-heading",
            NextStep::FixPayment => "#change-heading",
        };
        view! { <a href=href class=format!("{BUTTON} mt-3 inline-block") data-next-step>{step.label()}</a> }
    });
    view! {
        <div role=role class=class data-where-you-stand data-trial-ended=trial_ended.then_some("")>
            <p>{stand.next}</p>
            {step}
        </div>
    }
}

/// The billing floor's part of `/app/billing`: plan, trial, add-ons, card,
/// invoices and their forms (the page itself is `portal::billing`).
#[component]
pub fn BillingPanels(view: BillingView, feedback: FormFeedback) -> impl IntoView {
    let status = view.status;
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
                    <dd class="text-lg font-semibold" data-billing-status=status.map_or("", SubscriptionStatus::as_str)>{view.where_you_stand.status.clone()}</dd>
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
            <WhereYouStandNote stand=view.where_you_stand.clone() trial_ended=view.trial_ended_on.is_some() manage />
            {view
                .scheduled_change
                .clone()
                .map(|c| view! { <p class="mt-2 text-slate-700" data-scheduled-change>{c}</p> })}
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
                            >
                                <form method="post" action="/api/sandbox_trial_days_left" class="mt-3 flex flex-wrap items-end gap-2 text-sm text-amber-900">
                                    <div>
                                        <label for="days" class="block font-medium">"Trial days left"</label>
                                        <input id="days" name="days" type="number" min="1" max="90" value="5" class="w-24 rounded-md border border-slate-300 bg-white px-2 py-1 text-slate-900" />
                                    </div>
                                    <button type="submit" class=SECONDARY>"Make the rest of the trial pass"</button>
                                </form>
                            </TestModeClock>
                        }
                    })}
            </section>
        }
    });
    let change = (manage && view.linked).then(|| {
        let view_for_fields = view.clone();
        let request_id = request_id.clone();
        let test_mode = view.test_mode;
        let past_due = view.status == Some(crate::billing::domain::SubscriptionStatus::PastDue);
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
                {(test_mode && past_due)
                    .then(|| {
                        view! {
                            <TestModeClock
                                explanation="Make time pass: let the unpaid invoice's grace period run out now (the account turns read-only until it is paid)."
                                action="/api/sandbox_skip_grace"
                                button="Skip the grace period"
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
                view! { <crate::ui::table::EmptyState message="No invoices yet: the first arrives when you pay for a plan, or when your trial ends with one chosen." /> }.into_any()
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
