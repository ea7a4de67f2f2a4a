//! `/app/licenses`: the organisation's self-hosted licences: where each
//! stands and until when, its key (owners and admins), its file, the
//! machines holding its seats (with a button to free one), and the offline
//! exchange for installs without a network. Plain forms and links: it all
//! works without JavaScript.

use super::api::get_licenses;
use super::view::{LicenseView, LicensesOverview};
use crate::portal::frame::portal_outcome;
use crate::ui::danger::RowDangerAction;
use crate::ui::form::{FormFeedback, FormSummary, Notice};
use crate::ui::product_name;
use crate::ui::table::ScrollRegion;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

/// The notice a finished action leaves in the address (`?done=…`).
fn done_notice(done: Option<String>) -> Option<String> {
    match done.as_deref() {
        Some("freed") => Some("The machine's seat is free. Another machine can activate now.".to_owned()),
        _ => None,
    }
}

/// Why the offline exchange refused a request (`?offline=…`), in words.
fn offline_notice(code: Option<String>) -> Option<&'static str> {
    Some(match code.as_deref()? {
        "unreadable" => {
            "That is not a licence request file. Paste the whole text, from its BEGIN line to its END line."
        }
        "unknown" => "The request names a licence this organisation does not hold.",
        "full" => "Every seat of the licence is taken. Free a machine's seat below, then try again.",
        "invalid" => "The licence is not valid now, so no renewal can be issued. See its status below.",
        _ => "The request could not be answered.",
    })
}

/// The portal's licences page.
#[component]
pub fn LicensesPage() -> impl IntoView {
    let product = product_name();
    let feedback = FormFeedback::from_address();
    let query = use_query_map();
    let done = done_notice(query.with_untracked(|q| q.get("done")));
    let offline = offline_notice(query.with_untracked(|q| q.get("offline")));
    let licenses = OnceResource::new(get_licenses());
    view! {
        <Title text=format!("Licences — {product}") />
        <main id="main" class="mx-auto max-w-5xl space-y-8 px-4 py-10">
            <h1 class="text-3xl font-bold tracking-tight">"Self-hosted licences"</h1>
            {done.map(|message| view! { <Notice message /> })}
            {offline
                .map(|message| {
                    view! {
                        <div role="alert" class="rounded-md border border-red-200 bg-red-50 p-3 text-sm text-red-800">
                            {message}
                        </div>
                    }
                })}
            <FormSummary feedback=feedback.clone() />
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {Suspend::new(async move {
                    portal_outcome(licenses.await, "/app/licenses", |overview| view! { <Licenses overview /> })
                })}
            </Suspense>
        </main>
    }
}

#[component]
fn Licenses(overview: LicensesOverview) -> impl IntoView {
    if overview.licenses.is_empty() {
        return view! {
            <section class="rounded-lg border border-slate-200 p-6">
                <h2 class="text-lg font-semibold">"No licences yet"</h2>
                <p class="mt-2 text-slate-700">
                    "A licence for running the product on your own servers comes with the Enterprise plan: it is issued as soon as the subscription is active, and appears here with its key and file."
                </p>
                <a href="/app/billing/change" class="mt-4 inline-block font-semibold text-brand underline">
                    "See the plans"
                </a>
            </section>
        }
        .into_any();
    }
    let manages = overview.manages;
    let offline = overview.licensing_on && manages;
    view! {
        <div class="space-y-8">
            {overview
                .licenses
                .into_iter()
                .map(|license| view! { <License license manages /> })
                .collect_view()}
            {offline.then(|| view! { <OfflineExchange /> })}
        </div>
    }
    .into_any()
}

#[component]
fn License(license: LicenseView, manages: bool) -> impl IntoView {
    let heading_id = format!("license-{}", license.id);
    let valid = license.valid;
    let status_class = if valid {
        "rounded-full bg-emerald-100 px-2 py-0.5 text-sm font-medium text-emerald-900"
    } else {
        "rounded-full bg-red-100 px-2 py-0.5 text-sm font-medium text-red-900"
    };
    let until = if license.renews {
        format!(
            "Renews with the subscription; the current file is valid until {}.",
            license.expires_on
        )
    } else {
        format!(
            "Valid until {}, then {} days of grace.",
            license.expires_on, license.grace_days
        )
    };
    let seats = format!(
        "{} of {} machines{}",
        license.activations.len(),
        license.max_activations,
        if license.node_locked {
            ", each bound to its fingerprint"
        } else {
            ", floating"
        }
    );
    let floating_file = (valid && !license.node_locked).then(|| format!("/app/licenses/{}/file", license.id));
    let license_id = license.id.clone();
    let machines = license
        .activations
        .into_iter()
        .map(|machine| {
            let file = valid.then(|| format!("/app/licenses/{license_id}/activations/{}/file", machine.id));
            let host = machine.hostname.clone();
            let fingerprint = machine.fingerprint.clone();
            view! {
                <tr class="border-b border-slate-100 align-top" data-activation=fingerprint>
                    <th scope="row" class="py-3 pr-4 text-left font-normal">{machine.hostname.clone()}</th>
                    <td class="py-3 pr-4 font-mono text-sm break-all">{machine.fingerprint}</td>
                    <td class="py-3 pr-4 tabular-nums">{machine.last_check_in_at}</td>
                    <td class="py-3">
                        <div class="flex flex-wrap gap-3 text-sm">
                            {file
                                .map(|href| {
                                    view! {
                                        <a href=href class="underline" download="">
                                            "Download file"
                                            <span class="sr-only">{format!(" for {host}")}</span>
                                        </a>
                                    }
                                })}
                            {manages
                                .then(|| {
                                    view! {
                                        <RowDangerAction
                                            action="/api/license_free_seat"
                                            fields=vec![("activation_id", machine.id.clone())]
                                            label="Free this seat"
                                            target=format!("({})", machine.hostname)
                                            consequence=format!(
                                                "{} stops validating at its next check-in; another machine can take the seat.",
                                                machine.hostname,
                                            )
                                            button="Free the seat".to_owned()
                                            id=format!("free-{}", machine.id)
                                        />
                                    }
                                })}
                        </div>
                    </td>
                </tr>
            }
        })
        .collect_view();
    let empty = license.max_activations > 0 && seats.starts_with("0 ");
    let labelled_by = heading_id.clone();
    let data_license = license.id.clone();
    view! {
        <section class="space-y-4 rounded-lg border border-slate-200 p-6" aria-labelledby=labelled_by data-license=data_license>
            <div class="flex flex-wrap items-center justify-between gap-3">
                <h2 id=heading_id class="text-lg font-semibold">
                    {format!("Licence {}", license.key_hint)}
                </h2>
                <span class=status_class data-code=license.code.clone()>{license.status.clone()}</span>
            </div>
            {license
                .past_due
                .then(|| {
                    view! {
                        <p class="rounded-md border border-amber-200 bg-amber-50 p-3 text-sm text-amber-900">
                            "A payment is being collected. The licence stays valid meanwhile; update the card on the billing page to keep it that way."
                        </p>
                    }
                })}
            <dl class="grid gap-3 text-sm sm:grid-cols-2">
                <div>
                    <dt class="text-slate-600">"Validity"</dt>
                    <dd>{until}</dd>
                </div>
                <div>
                    <dt class="text-slate-600">"Machines"</dt>
                    <dd>{seats}</dd>
                </div>
                <div>
                    <dt class="text-slate-600">"Issued"</dt>
                    <dd>{format!("{} ({})", license.issued_on, license.source.to_lowercase())}</dd>
                </div>
                <div>
                    <dt class="text-slate-600">"Key"</dt>
                    <dd>
                        {match license.key {
                            Some(key) => {
                                view! {
                                    <label class="sr-only" for=format!("key-{}", license.id)>"Licence key"</label>
                                    <input
                                        id=format!("key-{}", license.id)
                                        readonly
                                        value=key
                                        class="w-full rounded border border-slate-300 px-2 py-1 font-mono"
                                        data-license-key=""
                                    />
                                }
                                    .into_any()
                            }
                            None => {
                                view! { <span>"Shown to the organisation's owners and admins."</span> }.into_any()
                            }
                        }}
                    </dd>
                </div>
            </dl>
            {floating_file
                .map(|href| {
                    view! {
                        <a href=href class="inline-block font-semibold text-brand underline" download="">
                            "Download the licence file"
                        </a>
                    }
                })}
            <h3 class="font-semibold">"Machines"</h3>
            {if empty {
                view! {
                    <p class="text-sm text-slate-700">
                        "No machine has activated this licence yet. Start the installation with the key above, or use the offline exchange below."
                    </p>
                }
                    .into_any()
            } else {
                view! {
                    <ScrollRegion label="Machines activated on this licence">
                        <table class="w-full text-left text-sm">
                            <thead>
                                <tr class="border-b border-slate-200 text-slate-600">
                                    <th scope="col" class="py-2 pr-4 font-medium">"Hostname"</th>
                                    <th scope="col" class="py-2 pr-4 font-medium">"Fingerprint"</th>
                                    <th scope="col" class="py-2 pr-4 font-medium">"Last check-in"</th>
                                    <th scope="col" class="py-2 font-medium">
                                        <span class="sr-only">"Actions"</span>
                                    </th>
                                </tr>
                            </thead>
                            <tbody>{machines}</tbody>
                        </table>
                    </ScrollRegion>
                }
                    .into_any()
            }}
        </section>
    }
}

#[component]
fn OfflineExchange() -> impl IntoView {
    view! {
        <section class="space-y-3 rounded-lg border border-slate-200 p-6" aria-labelledby="offline-heading">
            <h2 id="offline-heading" class="text-lg font-semibold">"Installations without a network"</h2>
            <p class="text-sm text-slate-700">
                "An installation that cannot reach us writes a licence request file. Paste it here and you get a response file to carry back: it activates the machine (taking a seat) and renews its licence."
            </p>
            <form method="post" action="/app/licenses/offline" class="space-y-3">
                <label for="offline-request" class="block text-sm font-medium">"Licence request file"</label>
                <textarea
                    id="offline-request"
                    name="request"
                    required
                    rows="7"
                    class="w-full rounded border border-slate-300 p-2 font-mono text-sm"
                    placeholder="-----BEGIN GATEHOUSE LICENSE REQUEST-----"
                ></textarea>
                <button type="submit" class="rounded-md bg-brand px-4 py-2 font-semibold text-white">
                    "Download the response file"
                </button>
            </form>
        </section>
    }
}
