//! `/admin/import`: upload a subscription history.

use super::frame::{AdminNav, SMALL_BUTTON};
use crate::ui::form::Notice;
use crate::ui::query_value;
use leptos::prelude::*;
use leptos_meta::Title;

/// The upload form, and what the last upload did.
#[component]
pub fn AdminImportPage() -> impl IntoView {
    let error = query_value("error");
    let done = query_value("done");
    view! {
        <Title text="Import history — Gatehouse admin" />
        <AdminNav current="/admin/import" />
        <main id="main" class="mx-auto max-w-6xl space-y-6 px-4 py-10">
            <h1 class="text-3xl font-bold tracking-tight">"Import subscription history"</h1>
            {done.map(|message| view! { <Notice message /> })}
            {error.map(|message| view! {
                <div role="alert" class="rounded-md border border-red-200 bg-red-50 p-3 text-sm text-red-800">
                    <pre class="whitespace-pre-wrap font-sans" data-import-error>{message}</pre>
                </div>
            })}
            <p class="text-slate-700">
                "One row per change of one subscription, each giving its full state from that instant on, with exactly these columns: "
                <code class="break-all">"org_id,subscription_id,at,status,plan,interval,unit_amount_cents,quantity,addon_unit_amount_cents,addon_quantity,discount_percent_forever,currency"</code>
                ". A file with any bad row is refused whole, naming each line; importing a file twice adds nothing."
            </p>
            <form method="post" action="/admin/import" enctype="multipart/form-data" class="space-y-3">
                <label for="file" class="block text-sm font-medium">"CSV file"</label>
                <input id="file" name="file" type="file" accept=".csv,text/csv" required class="block" />
                <button type="submit" class=SMALL_BUTTON>"Import"</button>
            </form>
        </main>
    }
}
