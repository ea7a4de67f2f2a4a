//! The outbound webhook endpoints: the list with an add form, and each
//! endpoint's deliveries and attempts with disable/enable and replay.

use super::webhooks::{get_endpoint, get_endpoints};
use crate::admin::frame::{ConsolePage, SMALL_BUTTON, TD, TD_NUM, TH, TH_NUM, admin_outcome};
use crate::ui::danger::ConfirmDanger;
use crate::ui::form::{FormFeedback, FormSummary, Notice};
use crate::ui::query_value;
use crate::ui::table::{EmptyState, ScrollRegion};
use leptos::prelude::*;

/// `/admin/webhooks`: every endpoint; a new one's secret is shown once.
#[component]
pub fn AdminWebhooksPage() -> impl IntoView {
    let feedback = FormFeedback::from_address();
    let endpoints = OnceResource::new(get_endpoints());
    view! {
        <ConsolePage title="Webhook endpoints" section="/admin/webhooks" heading="Webhook endpoints">
            <p class="text-sm text-slate-700">"Where the host product hears about subscription and entitlement changes. Deliveries are signed (Standard Webhooks) and retried until they succeed."</p>
            <FormSummary feedback=feedback />
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {Suspend::new(async move {
                    admin_outcome(endpoints.await, |view| view! {
                        {view.fresh_secret.map(|secret| view! {
                            <div role="status" class="rounded-md border border-emerald-200 bg-emerald-50 p-3 text-sm">
                                <p class="font-semibold">"The endpoint's signing secret, shown only this once:"</p>
                                <code class="break-all font-mono" data-fresh-secret>{secret}</code>
                            </div>
                        })}
                        <form method="post" action="/api/admin_add_webhook_endpoint" class="flex flex-wrap items-end gap-3">
                            <div><label for="endpoint-url" class="block text-sm font-medium">"URL"</label>
                                <input id="endpoint-url" name="url" type="url" required maxlength="2000" placeholder="https://" class="w-80 max-w-full rounded-md border border-slate-300 px-3 py-2" /></div>
                            <div><label for="endpoint-description" class="block text-sm font-medium">"Description"</label>
                                <input id="endpoint-description" name="description" type="text" maxlength="200" class="rounded-md border border-slate-300 px-3 py-2" /></div>
                            <button type="submit" class=SMALL_BUTTON>"Add the endpoint"</button>
                        </form>
                        {if view.endpoints.is_empty() {
                            view! { <EmptyState message="No endpoints yet: add one above, and every subscription and entitlement change is POSTed to it, signed." /> }.into_any()
                        } else {
                            view! {
                                <ScrollRegion label="Webhook endpoints, newest first">
                                    <table class="w-full text-sm">
                                        <caption class="sr-only">"Webhook endpoints, newest first"</caption>
                                        <thead><tr>
                                            <th scope="col" class=TH>"URL"</th><th scope="col" class=TH>"Description"</th>
                                            <th scope="col" class=TH>"State"</th><th scope="col" class=TH_NUM>"Pending"</th>
                                            <th scope="col" class=TH>"Last attempt"</th><th scope="col" class=TH>"Added"</th>
                                        </tr></thead>
                                        <tbody>
                                            {view.endpoints.into_iter().map(|endpoint| {
                                                let href = format!("/admin/webhooks/{}", endpoint.id);
                                                view! {
                                                    <tr class="border-t border-slate-100" data-endpoint=endpoint.id.clone()>
                                                        <th scope="row" class="break-all py-2 pr-4 text-left align-top font-normal">
                                                            <a href=href class="underline">{endpoint.url.clone()}</a>
                                                        </th>
                                                        <td class=TD>{endpoint.description.clone()}</td>
                                                        <td class=TD>{endpoint.state.clone()}</td>
                                                        <td class=TD_NUM>{endpoint.pending}</td>
                                                        <td class=TD>{endpoint.last_attempt_at.clone()}</td>
                                                        <td class=TD>{endpoint.created_at.clone()}</td>
                                                    </tr>
                                                }
                                            }).collect_view()}
                                        </tbody>
                                    </table>
                                </ScrollRegion>
                            }.into_any()
                        }}
                    })
                })}
            </Suspense>
        </ConsolePage>
    }
}

/// `/admin/webhooks/:id`: the endpoint's deliveries and every attempt.
#[component]
pub fn AdminWebhookPage() -> impl IntoView {
    let id = crate::ui::path_value("id");
    let feedback = FormFeedback::from_address();
    let replayed = query_value("replayed").is_some();
    let endpoint = OnceResource::new(get_endpoint(id));
    view! {
        <ConsolePage title="Webhook endpoint" section="/admin/webhooks">
            {replayed.then(|| view! { <Notice message="The event is queued for this endpoint; the worker sends it now.".to_owned() /> })}
            <FormSummary feedback=feedback />
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {Suspend::new({
                    async move {
                        admin_outcome(endpoint.await, |detail| {
                            let endpoint = detail.endpoint;
                            let (id, enabled) = (endpoint.id.clone(), endpoint.enabled);
                            let replay_id = id.clone();
                            view! {
                                <h1 class="break-all text-3xl font-bold tracking-tight">{endpoint.url.clone()}</h1>
                                <dl class="grid grid-cols-1 gap-1 text-sm sm:grid-cols-2">
                                    <div><dt class="inline font-semibold">"Description: "</dt><dd class="inline">{endpoint.description.clone()}</dd></div>
                                    <div><dt class="inline font-semibold">"State: "</dt><dd class="inline" data-state>{endpoint.state.clone()}</dd></div>
                                    <div><dt class="inline font-semibold">"Pending deliveries: "</dt><dd class="inline">{endpoint.pending}</dd></div>
                                    <div><dt class="inline font-semibold">"Added: "</dt><dd class="inline">{endpoint.created_at.clone()}</dd></div>
                                </dl>
                                <div class="flex flex-wrap items-end gap-6">
                                    <form method="post" action="/api/admin_set_webhook_endpoint" class="space-y-2">
                                        <input type="hidden" name="id" value=id />
                                        <input type="hidden" name="enabled" value=if enabled { "false" } else { "true" } />
                                        {if enabled {
                                            view! {
                                                <ConfirmDanger
                                                    id="disable-confirm".to_owned()
                                                    consequence="Events from now on are not sent to it, and deliveries already waiting are held until it is enabled again.".to_owned()
                                                    button="Disable the endpoint".to_owned()
                                                />
                                            }.into_any()
                                        } else {
                                            view! { <button type="submit" class=SMALL_BUTTON>"Enable the endpoint"</button> }.into_any()
                                        }}
                                    </form>
                                    <form method="post" action="/api/admin_replay_webhook_event" class="flex flex-wrap items-end gap-3">
                                        <input type="hidden" name="id" value=replay_id />
                                        <div><label for="replay-event" class="block text-sm font-medium">"Replay an event by id"</label>
                                            <input id="replay-event" name="event_id" type="text" required maxlength="200" class="rounded-md border border-slate-300 px-3 py-2 font-mono" /></div>
                                        <button type="submit" class=SMALL_BUTTON>"Replay"</button>
                                    </form>
                                </div>
                                <h2 class="text-xl font-semibold">"Latest deliveries"</h2>
                                {if detail.deliveries.is_empty() {
                                    view! { <EmptyState message="Nothing was sent to this endpoint yet: each event after it was added appears here with every attempt." /> }.into_any()
                                } else {
                                    view! {
                                        <ScrollRegion label="Deliveries to this endpoint, newest first, with every attempt">
                                            <table class="w-full text-sm">
                                                <caption class="sr-only">"Deliveries to this endpoint, newest first, with every attempt"</caption>
                                                <thead><tr>
                                                    <th scope="col" class=TH>"Event"</th><th scope="col" class=TH>"Type"</th>
                                                    <th scope="col" class=TH>"State"</th><th scope="col" class=TH>"Attempts"</th>
                                                    <th scope="col" class=TH>"Replay"</th>
                                                </tr></thead>
                                                <tbody>
                                                    {detail.deliveries.into_iter().map(|delivery| {
                                                        let endpoint_id = endpoint.id.clone();
                                                        let event_id = delivery.event_id.clone();
                                                        view! {
                                                            <tr class="border-t border-slate-100 align-top" data-delivery=delivery.event_id.clone()>
                                                                <th scope="row" class="break-all py-2 pr-4 text-left align-top font-mono font-normal">{delivery.event_id.clone()}</th>
                                                                <td class=TD>{delivery.event_type.clone()}</td>
                                                                <td class=TD data-delivery-state>{delivery.state.clone()}</td>
                                                                <td class=TD>
                                                                    {if delivery.tries.is_empty() {
                                                                        "none yet".into_any()
                                                                    } else {
                                                                        view! {
                                                                            <ol class="space-y-1">
                                                                                {delivery.tries.into_iter().map(|attempt| view! {
                                                                                    <li>{format!("{}: {} ({} ms)", attempt.at, attempt.outcome, attempt.duration_ms)}</li>
                                                                                }).collect_view()}
                                                                            </ol>
                                                                        }.into_any()
                                                                    }}
                                                                </td>
                                                                <td class=TD>
                                                                    <form method="post" action="/api/admin_replay_webhook_event">
                                                                        <input type="hidden" name="id" value=endpoint_id />
                                                                        <input type="hidden" name="event_id" value=event_id />
                                                                        <button type="submit" class="underline">"Send again"</button>
                                                                    </form>
                                                                </td>
                                                            </tr>
                                                        }
                                                    }).collect_view()}
                                                </tbody>
                                            </table>
                                        </ScrollRegion>
                                    }.into_any()
                                }}
                            }
                        })
                    }
                })}
            </Suspense>
        </ConsolePage>
    }
}
