//! The sandbox's hosted pages (test mode): its checkout and its card form.

use super::*;

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
    let session_id = crate::ui::path_value("id");
    let feedback = FormFeedback::from_address();
    let checkout = OnceResource::new(get_sandbox_checkout(session_id));
    view! {
        <Title text=format!("Test checkout — {product}") />
        <main id="main" class="mx-auto max-w-xl space-y-6 px-4 py-10">
            <h1 class="text-3xl font-bold tracking-tight">"Checkout"</h1>
            <TestModeBanner />
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {
                    Suspend::new(async move {
                        let feedback = feedback.clone();
                        portal_outcome(checkout.await, "/app/billing", move |checkout| {
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
