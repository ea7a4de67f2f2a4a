//! `/app/billing/invoices/{id}`: one invoice, printable.

use super::*;

/// `/app/billing/invoices/:id`: a printable invoice.
#[component]
pub fn InvoicePage() -> impl IntoView {
    let product = product_name();
    let invoice_id = crate::ui::path_value("id");
    let invoice = OnceResource::new(get_invoice(invoice_id));
    view! {
        <Title text=format!("Invoice — {product}") />
        <main id="main" class="mx-auto max-w-3xl space-y-6 px-4 py-10 print:p-0">
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {
                    let product = product.clone();
                    Suspend::new(async move {
                        let product = product.clone();
                        portal_outcome(invoice.await, "/app/billing", move |invoice| {
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
