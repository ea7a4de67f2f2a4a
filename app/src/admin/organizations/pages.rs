//! The console's pages once signed in: the dashboard, organisations, one
//! organisation with its actions, and the audit log.

use super::api::{get_dashboard, get_organization, list_audit, list_organizations};
use super::views::{AuditRow, OrganizationDetail};
use crate::admin::frame::{ConsolePage, INPUT, ROW_TH, SMALL_BUTTON, TD, TD_NUM, TH, TH_NUM, admin_outcome};
use crate::admin::words::words;
use crate::billing::domain::SubscriptionStatus;
use crate::email::EmailStatus;
use crate::ui::danger::{ConfirmDanger, RowDangerAction};
use crate::ui::form::{FormFeedback, FormSummary, Notice};
use crate::ui::table::{EmptyState, ScrollRegion};
use crate::ui::{encode_query_value, query_value};
use leptos::prelude::*;

/// `/admin`.
#[component]
pub fn AdminDashboardPage() -> impl IntoView {
    let dashboard = OnceResource::new(get_dashboard());
    view! {
        <ConsolePage title="Dashboard" section="/admin" heading="Dashboard">
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {Suspend::new(async move {
                    admin_outcome(dashboard.await, |dashboard| view! {
                        <p class="text-slate-700">"Signed in as " {dashboard.admin_email.clone()} "."</p>
                        <p class="text-slate-700" data-as-of>{dashboard.as_of.clone()}</p>
                        <dl class="grid grid-cols-1 gap-4 sm:grid-cols-2 lg:grid-cols-3">
                            {dashboard.figures.into_iter().map(|figure| {
                                let key = figure.label.to_lowercase();
                                view! {
                                    <div class="rounded-lg border border-slate-200 p-4" data-figure=key>
                                        <dt class="text-sm text-slate-600">{figure.label}</dt>
                                        <dd class="text-2xl font-semibold tabular-nums" data-now>{figure.now}</dd>
                                        <dd class="text-sm text-slate-600">{figure.change}</dd>
                                    </div>
                                }
                            }).collect_view()}
                        </dl>
                        <section aria-labelledby="attention">
                            <h2 id="attention" class="text-xl font-semibold">"Needs attention"</h2>
                            <ul class="mt-3 space-y-1">
                                {dashboard.attention.into_iter().map(|item| {
                                    let label = format!("{}: {}", item.label, item.count);
                                    let urgent = item.count > 0;
                                    view! {
                                        <li class=if urgent { "font-semibold text-red-800" } else { "text-slate-700" } data-attention=item.label.clone() data-count=item.count>
                                            {match item.href {
                                                Some(href) => view! { <a href=href class="underline">{label}</a> }.into_any(),
                                                None => label.into_any(),
                                            }}
                                        </li>
                                    }
                                }).collect_view()}
                            </ul>
                        </section>
                    })
                })}
            </Suspense>
        </ConsolePage>
    }
}

/// The status filter's choices, in the order an admin looks for them.
const STATUSES: [SubscriptionStatus; 8] = [
    SubscriptionStatus::Trialing,
    SubscriptionStatus::Active,
    SubscriptionStatus::PastDue,
    SubscriptionStatus::Unpaid,
    SubscriptionStatus::Paused,
    SubscriptionStatus::Canceled,
    SubscriptionStatus::Incomplete,
    SubscriptionStatus::IncompleteExpired,
];

/// `/admin/organizations?q=&tier=&status=&sort=&after=`: search, filter, sort, 20 a page.
#[component]
pub fn AdminOrganizationsPage() -> impl IntoView {
    let q = query_value("q");
    let tier = query_value("tier");
    let status = query_value("status");
    let sort = query_value("sort");
    let after = query_value("after");
    let (q2, tier2, status2, sort2) = (q.clone(), tier.clone(), status.clone(), sort.clone());
    let organizations = OnceResource::new(list_organizations(
        q.clone(),
        tier.clone(),
        status.clone(),
        sort.clone(),
        after,
    ));
    view! {
        <ConsolePage title="Organisations" section="/admin/organizations" heading="Organisations">
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {Suspend::new(async move {
                    let (q, tier, status, sort) = (q2.clone(), tier2.clone(), status2.clone(), sort2.clone());
                    admin_outcome(organizations.await, move |list| {
                        let selected = |current: &Option<String>, value: &str| current.as_deref() == Some(value);
                        let next = list.next_after.clone().map(|after| {
                            let mut query = vec![format!("after={}", encode_query_value(&after))];
                            for (name, value) in [("q", &q), ("tier", &tier), ("status", &status), ("sort", &sort)] {
                                if let Some(value) = value {
                                    query.push(format!("{name}={}", encode_query_value(value)));
                                }
                            }
                            format!("/admin/organizations?{}", query.join("&"))
                        });
                        view! {
                            <form method="get" action="/admin/organizations" class="grid grid-cols-1 gap-3 sm:grid-cols-5" role="search">
                                <div class="sm:col-span-2">
                                    <label for="q" class="block text-sm font-medium">"Name, member email or external id"</label>
                                    <input id="q" name="q" type="search" value=q.clone() class=INPUT />
                                </div>
                                <div>
                                    <label for="tier" class="block text-sm font-medium">"Tier"</label>
                                    <select id="tier" name="tier" class=INPUT>
                                        <option value="">"Any"</option>
                                        {list.tiers.iter().map(|t| view! { <option value=t.clone() selected=selected(&tier, t)>{t.clone()}</option> }).collect_view()}
                                    </select>
                                </div>
                                <div>
                                    <label for="status" class="block text-sm font-medium">"Status"</label>
                                    <select id="status" name="status" class=INPUT>
                                        <option value="">"Any"</option>
                                        {STATUSES.iter().map(|s| s.as_str()).map(|s| view! { <option value=s selected=selected(&status, s)>{words(s)}</option> }).collect_view()}
                                    </select>
                                </div>
                                <div>
                                    <label for="sort" class="block text-sm font-medium">"Sort"</label>
                                    <select id="sort" name="sort" class=INPUT>
                                        <option value="newest" selected=!selected(&sort, "name")>"Newest first"</option>
                                        <option value="name" selected=selected(&sort, "name")>"Name"</option>
                                    </select>
                                </div>
                                <div class="sm:col-span-5"><button type="submit" class=SMALL_BUTTON>"Search"</button></div>
                            </form>
                            <ScrollRegion label="Organisations">
                                <table class="w-full text-sm">
                                    <caption class="sr-only">"Organisations"</caption>
                                    <thead><tr>
                                        <th scope="col" class=TH>"Name"</th>
                                        <th scope="col" class=TH>"External id"</th>
                                        <th scope="col" class=TH>"Tier"</th>
                                        <th scope="col" class=TH>"Status"</th>
                                        <th scope="col" class=TH>"Created"</th>
                                    </tr></thead>
                                    <tbody>
                                        {list.rows.into_iter().map(|row| view! {
                                            <tr class="border-t border-slate-100" data-organization=row.name.clone()>
                                                <th scope="row" class=ROW_TH>
                                                    <a href=format!("/admin/organizations/{}", row.id) class="underline">{row.name.clone()}</a>
                                                    {row.suspended.then_some(" (suspended)")}
                                                </th>
                                                <td class=TD>{row.external_id.unwrap_or_default()}</td>
                                                <td class=TD>{row.tier.unwrap_or_default()}</td>
                                                <td class=TD>{row.status.as_deref().map(words).unwrap_or_default()}</td>
                                                <td class=TD>{row.created}</td>
                                            </tr>
                                        }).collect_view()}
                                    </tbody>
                                </table>
                            </ScrollRegion>
                            {next.map(|href| view! { <a href=href rel="next" class="underline">"Next page"</a> })}
                        }
                    })
                })}
            </Suspense>
        </ConsolePage>
    }
}

fn audit_table(rows: Vec<AuditRow>, caption: &'static str) -> impl IntoView {
    if rows.is_empty() {
        return view! { <EmptyState message="No entries: every action an admin takes (with its reason) is kept here, and cannot be changed." /> }.into_any();
    }
    view! {
        <ScrollRegion label=caption>
            <table class="w-full text-sm">
                <caption class="sr-only">{caption}</caption>
                <thead><tr>
                    <th scope="col" class=TH>"When"</th>
                    <th scope="col" class=TH>"Admin"</th>
                    <th scope="col" class=TH>"Action"</th>
                    <th scope="col" class=TH>"Organisation"</th>
                    <th scope="col" class=TH>"Reason"</th>
                    <th scope="col" class=TH>"Before → after"</th>
                </tr></thead>
                <tbody>
                    {rows.into_iter().map(|row| { let action = row.action.clone(); view! {
                        <tr class="border-t border-slate-100" data-audit=action>
                            <td class=TD>{row.at}</td>
                            <td class=TD>{row.admin_email}</td>
                            <td class=TD>{words(&row.action)}</td>
                            <td class=TD>{match (row.organization_id, row.organization_name) {
                                (Some(id), name) => {
                                    let href = format!("/admin/organizations/{id}");
                                    view! { <a href=href class="underline">{name.unwrap_or(id)}</a> }.into_any()
                                }
                                (None, _) => "—".into_any(),
                            }}</td>
                            <td class=TD>{row.reason.unwrap_or_default()}</td>
                            // The stored states, as recorded: identifiers and all.
                            <td class="py-2 pr-4 align-top text-xs break-all">
                                <code>{row.before.unwrap_or_else(|| "—".to_owned())}</code> " → " <code>{row.after.unwrap_or_else(|| "—".to_owned())}</code>
                            </td>
                        </tr>
                    }}).collect_view()}
                </tbody>
            </table>
        </ScrollRegion>
    }
    .into_any()
}

/// `/admin/organizations/:id`: everything about one organisation, and its actions.
#[component]
pub fn AdminOrganizationPage() -> impl IntoView {
    let id = crate::ui::path_value("id");
    let feedback = FormFeedback::from_address();
    let done = query_value("done");
    let organization = OnceResource::new(get_organization(id));
    view! {
        <ConsolePage title="Organisation" section="/admin/organizations">
            {done.map(|done| view! { <Notice message=match done.as_str() {
                "trial" => "The trial was extended and the audit log has the entry.".to_owned(),
                "override" => "The overrides changed; the host product is told, and the audit log has the entry.".to_owned(),
                "email" => "The email is queued to go again; the audit log has the entry.".to_owned(),
                _ => "Done; the audit log has the entry.".to_owned(),
            } /> })}
            <FormSummary feedback=feedback.clone() />
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {Suspend::new(async move { admin_outcome(organization.await, organization_view) })}
            </Suspense>
        </ConsolePage>
    }
}

fn organization_view(org: OrganizationDetail) -> impl IntoView {
    let id = org.id.clone();
    let suspended = org.suspension.is_some();
    let has_owner = org.members.iter().any(|m| {
        matches!(
            crate::accounts::domain::Role::parse(&m.role),
            Ok(crate::accounts::domain::Role::Owner)
        )
    });
    view! {
        <h1 class="text-3xl font-bold tracking-tight">{org.name.clone()}</h1>
        <dl class="grid grid-cols-1 gap-2 text-sm sm:grid-cols-2">
            <div><dt class="inline font-semibold">"Id: "</dt><dd class="inline font-mono">{org.id.clone()}</dd></div>
            <div><dt class="inline font-semibold">"External id: "</dt><dd class="inline">{org.external_id.clone().unwrap_or_else(|| "—".to_owned())}</dd></div>
            <div><dt class="inline font-semibold">"Created: "</dt><dd class="inline">{org.created.clone()}</dd></div>
            <div><dt class="inline font-semibold">"Suspended: "</dt><dd class="inline">{org.suspension.clone().unwrap_or_else(|| "no".to_owned())}</dd></div>
        </dl>
        <section aria-labelledby="actions" class="grid grid-cols-1 gap-6 lg:grid-cols-2">
            <h2 id="actions" class="sr-only">"Actions"</h2>
            {org.trial_extendable.then(|| view! {
                <form method="post" action="/api/admin_extend_trial" class="space-y-3 rounded-lg border border-slate-200 p-4" aria-labelledby="extend-heading">
                    <h3 id="extend-heading" class="font-semibold">"Extend the trial"</h3>
                    <input type="hidden" name="organization_id" value=id.clone() />
                    <label for="days" class="block text-sm font-medium">"Days (1–90)"</label>
                    <input id="days" name="days" type="number" min="1" max="90" value="14" required class=INPUT />
                    <label for="extend-reason" class="block text-sm font-medium">"Reason (kept in the audit log)"</label>
                    <textarea id="extend-reason" name="reason" required maxlength="500" class=INPUT></textarea>
                    <button type="submit" class=SMALL_BUTTON>"Extend trial"</button>
                </form>
            })}
            {if has_owner {
                view! {
                    <form method="post" action="/api/admin_impersonate" class="space-y-3 rounded-lg border border-slate-200 p-4" aria-labelledby="impersonate-heading">
                        <h3 id="impersonate-heading" class="font-semibold">"See the portal as its owner"</h3>
                        <p class="text-sm text-slate-700">"For 30 minutes at most; every page you open is audited, and billing and security actions are refused."</p>
                        <input type="hidden" name="organization_id" value=id.clone() />
                        <label for="impersonate-reason" class="block text-sm font-medium">"Reason (kept in the audit log)"</label>
                        <textarea id="impersonate-reason" name="reason" required maxlength="500" class=INPUT></textarea>
                        <button type="submit" class=SMALL_BUTTON>"Impersonate the owner"</button>
                    </form>
                }.into_any()
            } else {
                view! {
                    <div class="space-y-2 rounded-lg border border-slate-200 p-4" data-no-owner>
                        <h3 class="font-semibold">"See the portal as its owner"</h3>
                        <p class="text-sm text-slate-700">"It has no owner to see the portal as (an imported organisation has no members until someone is invited)."</p>
                    </div>
                }.into_any()
            }}
            <form method="post" action="/api/admin_suspension" class="space-y-3 rounded-lg border border-slate-200 p-4" aria-labelledby="suspend-heading">
                <h3 id="suspend-heading" class="font-semibold">{if suspended { "Reactivate" } else { "Suspend" }}</h3>
                <input type="hidden" name="organization_id" value=id.clone() />
                <input type="hidden" name="suspend" value=if suspended { "false" } else { "true" } />
                <label for="suspend-reason" class="block text-sm font-medium">"Reason (kept in the audit log)"</label>
                <textarea id="suspend-reason" name="reason" required maxlength="500" class=INPUT></textarea>
                {if suspended {
                    view! { <button type="submit" class=SMALL_BUTTON>"Reactivate the organisation"</button> }.into_any()
                } else {
                    view! {
                        <ConfirmDanger
                            id="suspend-confirm".to_owned()
                            consequence="Its members and its API keys can only read until it is reactivated.".to_owned()
                            button="Suspend the organisation".to_owned()
                        />
                    }.into_any()
                }}
            </form>
        </section>
        <section aria-labelledby="subscription">
            <h2 id="subscription" class="text-xl font-semibold">"Subscription"</h2>
            {match org.subscription.clone() {
                Some(facts) => view! {
                    <dl class="mt-2 grid grid-cols-1 gap-1 text-sm sm:grid-cols-2">
                        {facts.into_iter().map(|(k, v)| view! { <div><dt class="inline font-semibold">{k} ": "</dt><dd class="inline">{v}</dd></div> }).collect_view()}
                    </dl>
                }.into_any(),
                None => view! { <p class="text-slate-700">"No subscription."</p> }.into_any(),
            }}
        </section>
        <crate::licensing::console::ConsoleLicenses organization_id=id.clone() />
        <section aria-labelledby="members">
            <h2 id="members" class="text-xl font-semibold">"Members"</h2>
            {if org.members.is_empty() {
                view! { <EmptyState message="No members: people join when its owner invites them (an imported organisation starts with none)." /> }.into_any()
            } else {
                view! {
                    <ul class="mt-2 text-sm">
                        {org.members.iter().map(|m| view! { <li>{m.email.clone()} " — " {m.role.clone()}</li> }).collect_view()}
                    </ul>
                }.into_any()
            }}
        </section>
        <section aria-labelledby="ledger">
            <h2 id="ledger" class="text-xl font-semibold">"Ledger"</h2>
            {if org.ledger.is_empty() {
                view! { <EmptyState message="No changes yet: each change of plan, status or MRR at the provider, and each step of collecting a failed payment, appears here." /> }.into_any()
            } else { view! {
            <ScrollRegion label="Subscription ledger and payment collection steps, newest first">
                <table class="mt-2 w-full text-sm">
                    <caption class="sr-only">"Subscription ledger and payment collection steps, newest first"</caption>
                    <thead><tr>
                        <th scope="col" class=TH>"When (at the provider)"</th>
                        <th scope="col" class=TH>"Change"</th>
                        <th scope="col" class=TH>"Status"</th>
                        <th scope="col" class=TH>"Plan or invoice"</th>
                        <th scope="col" class=TH_NUM>"MRR or amount"</th>
                        <th scope="col" class=TH>"Cause"</th>
                    </tr></thead>
                    <tbody>
                        {org.ledger.into_iter().map(|row| view! {
                            <tr class="border-t border-slate-100" data-ledger-row>
                                <td class=TD>{row.occurred_at}</td><td class=TD>{words(&row.kind)}</td><td class=TD>{words(&row.status)}</td>
                                <td class=TD>{row.plan}</td><td class=TD_NUM>{row.mrr}</td>
                                <td class=TD><code class="text-xs">{row.cause}</code></td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
            </ScrollRegion>
            }.into_any() }}
        </section>
        <section aria-labelledby="emails" class="space-y-2">
            <h2 id="emails" class="text-xl font-semibold">"Emails to its members"</h2>
            {if org.emails.is_empty() {
                view! { <EmptyState message="No emails to its members yet: receipts, trial reminders and billing notices appear here once written." /> }.into_any()
            } else {
                let id = id.clone();
                view! {
                    <ScrollRegion label="The latest emails to its members, newest first">
                        <table class="w-full text-sm">
                            <caption class="sr-only">"The latest emails to its members, newest first"</caption>
                            <thead><tr>
                                <th scope="col" class=TH>"Written"</th><th scope="col" class=TH>"To"</th>
                                <th scope="col" class=TH>"Subject"</th><th scope="col" class=TH>"State"</th>
                                <th scope="col" class=TH>"Send again"</th>
                            </tr></thead>
                            <tbody>
                                {org.emails.into_iter().map(|email| {
                                    let field = format!("resend-reason-{}", email.id);
                                    let org_id = id.clone();
                                    let state = match email.last_error.clone() {
                                        Some(error) if email.status == EmailStatus::Dead.as_str() => format!("{}: {error}", words(&email.status)),
                                        _ => words(&email.status),
                                    };
                                    let queued = email.status == EmailStatus::Queued.as_str();
                                    view! {
                                        <tr class="border-t border-slate-100 align-top" data-email=email.template.clone()>
                                            <td class=TD>{email.created_at.clone()}</td>
                                            <th scope="row" class=ROW_TH>{email.to.clone()}</th>
                                            <td class=TD>{email.subject.clone()}</td>
                                            <td class=TD>{state}</td>
                                            <td class=TD>{(!queued).then(|| view! {
                                                <form method="post" action="/api/admin_resend_email" class="flex flex-wrap items-end gap-2">
                                                    <input type="hidden" name="id" value=email.id.clone() />
                                                    <input type="hidden" name="organization_id" value=org_id />
                                                    <label for=field.clone() class="sr-only">"Reason for sending it again"</label>
                                                    <input id=field name="reason" type="text" required maxlength="500" placeholder="Reason" class="rounded-md border border-slate-300 px-2 py-1" />
                                                    <button type="submit" class="underline">"Send again"</button>
                                                </form>
                                            })}</td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table>
                    </ScrollRegion>
                }.into_any()
            }}
        </section>
        <section aria-labelledby="invoices">
            <h2 id="invoices" class="text-xl font-semibold">"Invoices"</h2>
            {if org.invoices.is_empty() {
                view! { <EmptyState message="No invoices yet: the first is issued when a trial converts or a plan is paid for." /> }.into_any()
            } else {
                view! {
                    <ul class="mt-2 text-sm">
                        {org.invoices.into_iter().map(|(number, status, total, date)| view! { <li>{date} " — " {number} " — " {words(&status)} " — " {total}</li> }).collect_view()}
                    </ul>
                }.into_any()
            }}
        </section>
        <section aria-labelledby="overrides" class="space-y-3">
            <h2 id="overrides" class="text-xl font-semibold">"Entitlement overrides"</h2>
            {if org.overrides.is_empty() {
                view! { <EmptyState message="No overrides: the organisation has its plan's limits and features." /> }.into_any()
            } else { view! {
            <ul class="space-y-2 text-sm">
                {org.overrides.into_iter().map(|(override_id, text)| {
                    let org_id = id.clone();
                    let field = format!("remove-reason-{override_id}");
                    view! {
                        <li data-override=override_id.clone() class="flex flex-wrap items-start justify-between gap-2">
                            <span>{text.clone()}</span>
                            <RowDangerAction
                                action="/api/admin_remove_override"
                                fields=vec![("organization_id", org_id), ("override_id", override_id.clone())]
                                label="Remove"
                                target=format!("the override: {text}")
                                consequence="The organisation falls back to its plan's own limit or feature at once.".to_owned()
                                button="Remove the override".to_owned()
                                id=format!("remove-confirm-{override_id}")
                            >
                                <label for=field.clone() class="block text-sm font-medium">"Reason (kept in the audit log)"</label>
                                <input id=field name="reason" type="text" required maxlength="500" class=INPUT />
                            </RowDangerAction>
                        </li>
                    }
                }).collect_view()}
            </ul>
            }.into_any() }}
            <form method="post" action="/api/admin_add_override" class="grid grid-cols-1 gap-3 rounded-lg border border-slate-200 p-4 sm:grid-cols-3" aria-labelledby="override-heading">
                <h3 id="override-heading" class="font-semibold sm:col-span-3">"Add an override"</h3>
                <input type="hidden" name="organization_id" value=id.clone() />
                <div><label for="override-kind" class="block text-sm font-medium">"What"</label>
                    <select id="override-kind" name="kind" class=INPUT>
                        <option value="feature">"A feature (on/off)"</option>
                        <option value="limit">"A limit (a number or unlimited)"</option>
                        <option value="tier">"The tier"</option>
                    </select></div>
                <div><label for="override-key" class="block text-sm font-medium">"Key (feature, metric or tier)"</label>
                    <input id="override-key" name="key" type="text" required class=INPUT /></div>
                <div><label for="override-value" class="block text-sm font-medium">"Value (on, off, a number, unlimited)"</label>
                    <input id="override-value" name="value" type="text" class=INPUT /></div>
                <div><label for="override-expires" class="block text-sm font-medium">"Expires (optional)"</label>
                    <input id="override-expires" name="expires" type="date" class=INPUT /></div>
                <div class="sm:col-span-2"><label for="override-reason" class="block text-sm font-medium">"Reason (kept in the audit log)"</label>
                    <input id="override-reason" name="reason" type="text" required maxlength="500" class=INPUT /></div>
                <div class="sm:col-span-3"><button type="submit" class=SMALL_BUTTON>"Add the override"</button></div>
            </form>
        </section>
        <section aria-labelledby="org-collection" class="space-y-3" data-collection>
            <h2 id="org-collection" class="text-xl font-semibold">"Unpaid invoices"</h2>
            {if org.collection.is_empty() {
                view! { <p class="text-sm text-slate-600">"No failed payments."</p> }.into_any()
            } else {
                org.collection.into_iter().map(collection_case).collect_view().into_any()
            }}
        </section>
        <section aria-labelledby="org-audit">
            <h2 id="org-audit" class="text-xl font-semibold">"Audit entries"</h2>
            {audit_table(org.audit, "Audit entries about this organisation")}
        </section>
    }
}

/// One collection case and its steps, as a small table.
fn collection_case(case: crate::billing::domain::collection::CaseView) -> impl IntoView {
    let summary = format!(
        "{}: {} after {} attempt{}",
        case.invoice,
        case.amount,
        case.attempt,
        if case.attempt == 1 { "" } else { "s" }
    );
    let next = [
        case.next_retry_on.map(|day| format!("next retry on {day}")),
        case.restricts_on.map(|day| format!("read-only from {day}")),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join("; ");
    view! {
        <div class="relative overflow-x-auto rounded-lg border border-slate-200 p-4" data-case-state=case.state.as_str()>
            <p class="text-sm"><strong>{case.state.label()}</strong>" · "{summary}</p>
            {(!next.is_empty()).then(|| view! { <p class="text-sm text-slate-600">{next}</p> })}
            <table class="mt-2 min-w-full text-left text-sm">
                <caption class="sr-only">{format!("The history of invoice {}", case.invoice)}</caption>
                <thead><tr>
                    <th scope="col" class="py-1 pr-4">"When (at the provider)"</th>
                    <th scope="col" class="py-1 pr-4">"Step"</th>
                    <th scope="col" class="py-1 pr-4">"Attempt"</th>
                    <th scope="col" class="py-1">"Cause"</th>
                </tr></thead>
                <tbody>
                    {case.steps.into_iter().map(|step| view! {
                        <tr class="border-t border-slate-100">
                            <td class="py-1 pr-4 whitespace-nowrap">{step.occurred}</td>
                            <td class="py-1 pr-4">{step.step.label()}</td>
                            <td class="py-1 pr-4 tabular-nums">{(step.attempt > 0).then(|| step.attempt.to_string())}</td>
                            <td class="py-1 break-all font-mono text-xs">{step.cause}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

/// `/admin/audit?admin=&organization=&action=&from=&to=&before=`.
#[component]
pub fn AdminAuditPage() -> impl IntoView {
    let fields = ["admin", "organization", "action", "from", "to"].map(|name| (name, query_value(name)));
    let before = query_value("before");
    let values = fields.clone();
    let entries = {
        let [admin, organization, action, from, to] = fields.clone().map(|(_, v)| v);
        OnceResource::new(list_audit(admin, organization, action, from, to, before.clone()))
    };
    view! {
        <ConsolePage title="Audit log" section="/admin/audit" heading="Audit log">
            <p class="text-slate-700">"Every admin action, with who, when, why, and what it changed. Entries cannot be changed or deleted."</p>
            <form method="get" action="/admin/audit" class="grid grid-cols-1 gap-3 sm:grid-cols-5">
                {values.iter().map(|(name, value)| {
                    let label = match *name {
                        "admin" => "Admin email",
                        "organization" => "Organisation id",
                        "action" => "Action",
                        "from" => "From (YYYY-MM-DD)",
                        _ => "To (YYYY-MM-DD)",
                    };
                    view! {
                        <div>
                            <label for=*name class="block text-sm font-medium">{label}</label>
                            <input id=*name name=*name type="text" value=value.clone() class=INPUT />
                        </div>
                    }
                }).collect_view()}
                <div class="sm:col-span-5"><button type="submit" class=SMALL_BUTTON>"Filter"</button></div>
            </form>
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {Suspend::new(async move {
                    let result = entries.await;
                    let query: Vec<String> = fields
                        .iter()
                        .filter_map(|(name, value)| value.as_ref().map(|v| format!("{name}={}", encode_query_value(v))))
                        .collect();
                    admin_outcome(result, move |list| view! {
                        {audit_table(list.rows, "Audit log, newest first")}
                        {list.next_before.map(|before| {
                            let mut query = query.clone();
                            query.push(format!("before={before}"));
                            view! { <a href=format!("/admin/audit?{}", query.join("&")) rel="next" class="underline">"Older entries"</a> }
                        })}
                    })
                })}
            </Suspense>
        </ConsolePage>
    }
}
