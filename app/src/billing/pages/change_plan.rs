//! `/app/billing/change`: what a plan change would do, before it is made.

use super::*;

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
    let preview = OnceResource::new(preview_plan_change(tier.clone(), cycle.clone(), add_ons.clone()));
    view! {
        <Title text=format!("Change plan — {product}") />
        <main id="main" class="mx-auto max-w-3xl space-y-6 px-4 py-10">
            <h1 class="text-3xl font-bold tracking-tight">"Change plan"</h1>
            <FormSummary feedback=feedback.clone() />
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {
                    Suspend::new(async move {
                        match preview.await {
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
