//! `/app/billing/success`: the outcome of checkout, checked with the provider.

use super::*;

/// `/app/billing/success?session_id=…`: checks the session with the provider.
#[component]
pub fn CheckoutSuccessPage() -> impl IntoView {
    let product = product_name();
    let session_id = crate::ui::query_value("session_id").unwrap_or_default();
    let outcome = OnceResource::new(checkout_result(session_id));
    view! {
        <Title text=format!("Subscription — {product}") />
        <main id="main" class="mx-auto max-w-3xl space-y-6 px-4 py-10">
            <Suspense fallback=|| view! { <p>"Checking your payment…"</p> }>
                {
                    Suspend::new(async move {
                        portal_outcome(outcome.await, "/app/billing", |result| {
                            if result.complete {
                                view! {
                                    <h1 class="text-3xl font-bold tracking-tight" data-checkout-complete>
                                        {format!("You are subscribed to {}", result.plan_name)}
                                    </h1>
                                    <p>{format!("Status: {}.", status_label(result.status))}</p>
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
