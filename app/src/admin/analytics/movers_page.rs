//! `/admin/movements?month=YYYY-MM`.

use super::movers::get_movers;
use crate::admin::frame::{ConsolePage, ROW_TH, TD, TH, admin_outcome};
use crate::ui::query_value;
use crate::ui::table::ScrollRegion;
use leptos::prelude::*;

/// The organisations behind one month's MRR movements.
#[component]
pub fn AdminMoversPage() -> impl IntoView {
    let movers = OnceResource::new(get_movers(query_value("month")));
    view! {
        <ConsolePage title="Movements" section="/admin/analytics">
            <p><a href="/admin/analytics" class="underline">"Analytics"</a></p>
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {Suspend::new(async move {
                    admin_outcome(movers.await, |view| {
                        let heading = format!("Who moved MRR in {}", view.month_words);
                        let empty = view.rows.is_empty();
                        view! {
                            <h1 class="text-3xl font-bold tracking-tight">{heading}</h1>
                            {if empty {
                                view! { <p class="text-slate-700" data-movers-empty>"No organisation's MRR changed that month."</p> }.into_any()
                            } else {
                                view! {
                                    <ScrollRegion label="Organisations whose MRR moved">
                                        <table class="w-full text-sm" data-table="movers">
                                            <caption class="sr-only">"Organisations whose MRR moved, largest change first"</caption>
                                            <thead><tr>
                                                <th scope="col" class=TH>"Organisation"</th>
                                                <th scope="col" class=TH>"Movements"</th>
                                                <th scope="col" class=format!("{TH} text-right")>"Net change"</th>
                                            </tr></thead>
                                            <tbody>
                                                {view.rows.into_iter().map(|row| view! {
                                                    <tr class="border-t border-slate-100" data-mover=row.organization_id.clone()>
                                                        <th scope="row" class=ROW_TH>
                                                            <a href=format!("/admin/organizations/{}", row.organization_id) class="underline">{row.name}</a>
                                                        </th>
                                                        <td class=TD>{row.changes}</td>
                                                        <td class=format!("{TD} text-right tabular-nums whitespace-nowrap")>{row.net}</td>
                                                    </tr>
                                                }).collect_view()}
                                            </tbody>
                                        </table>
                                    </ScrollRegion>
                                }.into_any()
                            }}
                        }
                    })
                })}
            </Suspense>
        </ConsolePage>
    }
}
