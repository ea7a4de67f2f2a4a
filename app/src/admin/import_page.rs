//! `/admin/import`: upload a subscription history.

use super::frame::{ConsolePage, SMALL_BUTTON};
use crate::admin::import_outcome::{ImportOutcome, take_import_outcome};
use crate::ui::form::Notice;
use leptos::prelude::*;

/// The upload form, and what the last upload did.
#[component]
pub fn AdminImportPage() -> impl IntoView {
    let outcome = OnceResource::new(take_import_outcome());
    view! {
        <ConsolePage title="Import history" section="/admin/import" heading="Import subscription history">
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    match outcome.await {
                        Ok(Some(ImportOutcome::Refused(message))) => view! {
                            <div role="alert" class="rounded-md border border-red-200 bg-red-50 p-3 text-sm text-red-800">
                                <pre class="whitespace-pre-wrap font-sans" data-import-error>{message}</pre>
                            </div>
                        }.into_any(),
                        Ok(Some(done)) => view! { <Notice message=done.summary().unwrap_or_default() /> }.into_any(),
                        _ => ().into_any(),
                    }
                })}
            </Suspense>
            <p class="text-slate-700">
                "One row per change of one subscription, each giving its full state from that instant on, with exactly these columns: "
                <code class="break-all">"org_id,subscription_id,at,status,plan,interval,unit_amount_cents,quantity,addon_unit_amount_cents,addon_quantity,discount_percent_forever,currency"</code>
                ". A file with any bad row is refused whole, naming each line; importing a file twice adds nothing."
            </p>
            <form method="post" action="/admin/import" enctype="multipart/form-data" class="space-y-3">
                <label for="file" class="block text-sm font-medium">"CSV file"</label>
                <input id="file" name="file" type="file" accept=".csv,text/csv" required class="block" />
                <fieldset class="rounded-md border border-amber-300 bg-amber-50 p-3 text-sm">
                    <legend class="px-1 font-medium">"Live subscriptions"</legend>
                    <label class="flex items-start gap-2">
                        <input type="checkbox" name="migrate_live" value="1" class="mt-1" />
                        <span>"Also make these subscriptions live. This changes what each organisation in the file may do (its plan and status), records each organisation in the audit log and tells the host product. Leave unticked to import history for the ledger and analytics only."</span>
                    </label>
                </fieldset>
                <button type="submit" class=SMALL_BUTTON>"Import"</button>
            </form>
        </ConsolePage>
    }
}
