//! The operations pages: provider events, the email outbox, system health.

use super::{email_previews, get_event, get_health, list_emails, list_events};
use crate::admin::frame::{ConsolePage, ROW_TH, SMALL_BUTTON, TD, TD_NUM, TH, TH_NUM, admin_outcome};
use crate::billing::domain::ProviderEventStatus;
use crate::email::EmailStatus;
use crate::ui::danger::RowDangerAction;
use crate::ui::form::{FormFeedback, FormSummary, Notice};
use crate::ui::query_value;
use crate::ui::table::{EmptyState, ScrollRegion};
use leptos::prelude::*;

fn status_links(
    base: &'static str,
    statuses: impl IntoIterator<Item = &'static str>,
    current: String,
) -> impl IntoView {
    view! {
        <nav aria-label="Status" class="flex flex-wrap gap-4 text-sm">
            {statuses.into_iter().map(|status| {
                let active = status == current;
                view! {
                    <a href=format!("{base}?status={status}") aria-current=active.then_some("page")
                       class=if active { "font-semibold underline" } else { "underline text-slate-700" }>{crate::admin::words::words(status)}</a>
                }
            }).collect_view()}
        </nav>
    }
}

/// `/admin/events?status=`.
#[component]
pub fn AdminEventsPage() -> impl IntoView {
    let status = query_value("status").unwrap_or_else(|| ProviderEventStatus::Failed.as_str().to_owned());
    let current = status.clone();
    let events = OnceResource::new(list_events(Some(status)));
    view! {
        <ConsolePage title="Provider events" section="/admin/events" heading="Provider events">
            {status_links("/admin/events", ProviderEventStatus::ALL.iter().map(|s| s.as_str()), current)}
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {Suspend::new({
                    async move {
                        admin_outcome(events.await, |rows| if rows.is_empty() {
                            view! { <EmptyState message="No provider events here: each event Stripe (or the sandbox) sends is listed once it arrives, with what became of it." /> }.into_any()
                        } else { view! {
                            <ScrollRegion label="Provider events, newest first">
                                <table class="w-full text-sm">
                                    <caption class="sr-only">"Provider events, newest first"</caption>
                                    <thead><tr>
                                        <th scope="col" class=TH>"Received"</th><th scope="col" class=TH>"Event"</th>
                                        <th scope="col" class=TH>"Type"</th><th scope="col" class=TH_NUM>"Attempts"</th>
                                        <th scope="col" class=TH>"Reason"</th>
                                    </tr></thead>
                                    <tbody>
                                        {rows.into_iter().map(|row| view! {
                                            <tr class="border-t border-slate-100" data-event=row.provider_event_id.to_owned()>
                                                <td class=TD>{row.received_at.clone()}</td>
                                                <th scope="row" class=ROW_TH>
                                                    <a href=format!("/admin/events/{}", row.id) class="underline">{format!("{} {}", row.provider, row.provider_event_id)}</a>
                                                </th>
                                                <td class=TD>{row.event_type.clone()}</td>
                                                <td class=TD_NUM>{row.attempts}</td>
                                                <td class=TD>{row.reason.clone().unwrap_or_default()}</td>
                                            </tr>
                                        }).collect_view()}
                                    </tbody>
                                </table>
                            </ScrollRegion>
                        }.into_any() })
                    }
                })}
            </Suspense>
        </ConsolePage>
    }
}

/// `/admin/events/:id`: the reason, the raw payload, a retry.
#[component]
pub fn AdminEventPage() -> impl IntoView {
    let id = crate::ui::path_value("id");
    let feedback = FormFeedback::from_address();
    let retried = query_value("retried").is_some();
    let event = OnceResource::new(get_event(id));
    view! {
        <ConsolePage title="Provider event" section="/admin/events">
            {retried.then(|| view! { <Notice message="The event is queued again; the worker picks it up now.".to_owned() /> })}
            <FormSummary feedback=feedback />
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {Suspend::new({
                    async move {
                        admin_outcome(event.await, |detail| {
                            let event = detail.event;
                            view! {
                                <h1 class="text-3xl font-bold tracking-tight">{format!("{} {}", event.provider, event.provider_event_id)}</h1>
                                <dl class="grid grid-cols-1 gap-1 text-sm sm:grid-cols-2">
                                    <div><dt class="inline font-semibold">"Type: "</dt><dd class="inline">{event.event_type.clone()}</dd></div>
                                    <div><dt class="inline font-semibold">"Status: "</dt><dd class="inline" data-status=event.status.clone()>{crate::admin::words::words(&event.status)}</dd></div>
                                    <div><dt class="inline font-semibold">"Attempts: "</dt><dd class="inline">{event.attempts}</dd></div>
                                    <div><dt class="inline font-semibold">"Received: "</dt><dd class="inline">{event.received_at.clone()}</dd></div>
                                    <div class="sm:col-span-2"><dt class="inline font-semibold">"Reason: "</dt><dd class="inline">{event.reason.clone().unwrap_or_else(|| "—".to_owned())}</dd></div>
                                </dl>
                                {detail.retryable.then(|| view! {
                                    <form method="post" action="/api/admin_retry_event">
                                        <input type="hidden" name="id" value=event.id.clone() />
                                        <button type="submit" class=SMALL_BUTTON>"Retry the event"</button>
                                    </form>
                                })}
                                <h2 class="text-xl font-semibold">"Payload"</h2>
                                <pre class="max-h-[32rem] overflow-auto rounded-md bg-slate-100 p-4 text-xs" tabindex="0" aria-label="Raw payload">{detail.payload}</pre>
                            }
                        })
                    }
                })}
            </Suspense>
        </ConsolePage>
    }
}

/// `/admin/emails?status=`: the outbox, dead letters first.
#[component]
pub fn AdminEmailsPage() -> impl IntoView {
    let status = query_value("status").unwrap_or_else(|| EmailStatus::Dead.as_str().to_owned());
    let resent = query_value("resent").is_some();
    let feedback = FormFeedback::from_address();
    let current = status.clone();
    let emails = OnceResource::new(list_emails(Some(status)));
    view! {
        <ConsolePage title="Email outbox" section="/admin/emails" heading="Email outbox">
            {resent.then(|| view! { <Notice message="The email is queued again.".to_owned() /> })}
            <FormSummary feedback=feedback />
            {status_links("/admin/emails", EmailStatus::ALL.iter().map(|s| s.as_str()), current)}
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {Suspend::new({
                    async move {
                        admin_outcome(emails.await, |rows| if rows.is_empty() {
                            view! { <EmptyState message="No emails here: every email Gatehouse writes (receipts, reminders, invitations) is listed with its delivery, newest first." /> }.into_any()
                        } else { view! {
                            <ScrollRegion label="Emails, newest first">
                                <table class="w-full text-sm">
                                    <caption class="sr-only">"Emails, newest first"</caption>
                                    <thead><tr>
                                        <th scope="col" class=TH>"Written"</th><th scope="col" class=TH>"To"</th>
                                        <th scope="col" class=TH>"Subject"</th><th scope="col" class=TH_NUM>"Attempts"</th>
                                        <th scope="col" class=TH>"Last error"</th><th scope="col" class=TH><span class="sr-only">"Action"</span></th>
                                    </tr></thead>
                                    <tbody>
                                        {rows.into_iter().map(|row| {
                                            let dead = row.status == EmailStatus::Dead.as_str();
                                            view! {
                                                <tr class="border-t border-slate-100" data-email=row.template.clone()>
                                                    <td class=TD>{row.created_at.clone()}</td>
                                                    <th scope="row" class=ROW_TH>{row.to.clone()}</th>
                                                    <td class=TD>{row.subject.clone()}</td>
                                                    <td class=TD_NUM>{row.attempts}</td>
                                                    <td class=TD>{row.last_error.clone().unwrap_or_default()}</td>
                                                    <td class=TD>{dead.then(|| view! {
                                                        <form method="post" action="/api/admin_resend_email" class="flex flex-wrap items-end gap-2">
                                                            <input type="hidden" name="id" value=row.id.clone() />
                                                            <label for=format!("resend-reason-{}", row.id) class="sr-only">"Reason for sending it again"</label>
                                                            <input id=format!("resend-reason-{}", row.id) name="reason" type="text" required maxlength="500" placeholder="Reason" class="rounded-md border border-slate-300 px-2 py-1" />
                                                            <button type="submit" class="underline">"Send again"</button>
                                                        </form>
                                                    })}</td>
                                                </tr>
                                            }
                                        }).collect_view()}
                                    </tbody>
                                </table>
                            </ScrollRegion>
                        }.into_any() })
                    }
                })}
            </Suspense>
            <EmailPreviews />
        </ConsolePage>
    }
}

/// Every template with sample data: the HTML as a mail client draws it,
/// beside its plain-text part.
#[component]
fn EmailPreviews() -> impl IntoView {
    let previews = OnceResource::new(email_previews());
    view! {
        <section aria-labelledby="templates" class="space-y-4" data-email-previews>
            <h2 id="templates" class="text-2xl font-semibold">"Templates"</h2>
            <p class="text-sm text-slate-700">"Every email Gatehouse sends, with sample data, in the product's name and colour. Each is queued once per cause, so a retried job or a redelivered event never sends a second copy."</p>
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {Suspend::new(async move {
                    admin_outcome(previews.await, |previews| {
                        previews.into_iter().enumerate().map(|(index, preview)| {
                            let (heading, labelled_by) = (format!("template-{index}"), format!("template-{index}"));
                            let (html_title, text_label) = (format!("{} as HTML", preview.template), format!("{} as plain text", preview.template));
                            view! {
                                <article aria-labelledby=labelled_by class="space-y-2 rounded-lg border border-slate-200 p-4" data-template=preview.template.clone()>
                                    <h3 id=heading class="font-semibold">
                                        <code>{preview.template.clone()}</code>": "{preview.subject.clone()}
                                    </h3>
                                    <div class="grid grid-cols-1 gap-4 lg:grid-cols-2">
                                        <iframe srcdoc=preview.html sandbox="" title=html_title
                                            class="h-96 w-full rounded border border-slate-200 bg-white"></iframe>
                                        <pre class="h-96 overflow-auto whitespace-pre-wrap break-words rounded border border-slate-200 bg-slate-50 p-3 text-xs" tabindex="0"
                                            aria-label=text_label>{preview.text}</pre>
                                    </div>
                                </article>
                            }
                        }).collect_view()
                    })
                })}
            </Suspense>
        </section>
    }
}

/// `/admin/health`.
#[component]
pub fn AdminHealthPage() -> impl IntoView {
    let health = OnceResource::new(get_health());
    view! {
        <ConsolePage title="System health" section="/admin/health" heading="System health">
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {Suspend::new(async move {
                    admin_outcome(health.await, |lines| view! {
                        <dl class="space-y-3">
                            {lines.into_iter().map(|line| view! {
                                <div class=if line.attention { "rounded-md border border-red-300 bg-red-50 p-3" } else { "rounded-md border border-slate-200 p-3" }
                                     data-health=line.label.to_lowercase()>
                                    <dt class="font-semibold">{line.label.clone()}</dt>
                                    <dd>{line.value.clone()}</dd>
                                </div>
                            }).collect_view()}
                        </dl>
                    })
                })}
            </Suspense>
        </ConsolePage>
    }
}

/// `/admin/api-keys`: the host product's keys; a new one is shown once.
#[component]
pub fn AdminApiKeysPage() -> impl IntoView {
    let feedback = FormFeedback::from_address();
    let revoked = query_value("revoked").is_some();
    let keys = OnceResource::new(super::get_api_keys());
    view! {
        <ConsolePage title="API keys" section="/admin/api-keys" heading="API keys">
            {revoked.then(|| view! { <Notice message="The key is revoked; requests with it are refused from now on.".to_owned() /> })}
            <FormSummary feedback=feedback />
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {Suspend::new(async move {
                    admin_outcome(keys.await, |view| view! {
                        {view.fresh_key.map(|key| view! {
                            <div role="status" class="rounded-md border border-emerald-200 bg-emerald-50 p-3 text-sm">
                                <p class="font-semibold">"Your new key, shown only this once:"</p>
                                <code class="break-all font-mono" data-fresh-key>{key}</code>
                            </div>
                        })}
                        <form method="post" action="/api/admin_create_api_key" class="flex flex-wrap items-end gap-3">
                            <div><label for="key-name" class="block text-sm font-medium">"Name"</label>
                                <input id="key-name" name="name" type="text" required maxlength="100" class="rounded-md border border-slate-300 px-3 py-2" /></div>
                            <div><label for="key-scope" class="block text-sm font-medium">"Scope"</label>
                                <select id="key-scope" name="scope" class="rounded-md border border-slate-300 px-3 py-2">
                                    <option value="read">"Read"</option>
                                    <option value="write">"Read and write"</option>
                                </select></div>
                            <button type="submit" class=SMALL_BUTTON>"Make a key"</button>
                        </form>
                        {if view.keys.is_empty() {
                            view! { <EmptyState message="No API keys yet: make one above for the product that reads entitlements and reports usage." /> }.into_any()
                        } else { view! {
                        <ScrollRegion label="API keys, newest first">
                            <table class="w-full text-sm">
                                <caption class="sr-only">"API keys, newest first"</caption>
                                <thead><tr>
                                    <th scope="col" class=TH>"Name"</th><th scope="col" class=TH>"Prefix"</th>
                                    <th scope="col" class=TH>"Scope"</th><th scope="col" class=TH>"Made"</th>
                                    <th scope="col" class=TH>"Last used"</th><th scope="col" class=TH>"State"</th>
                                </tr></thead>
                                <tbody>
                                    {view.keys.into_iter().map(|key| {
                                        view! {
                                            <tr class="border-t border-slate-100" data-key=key.prefix.clone()>
                                                <th scope="row" class=ROW_TH>{key.name.clone()}</th>
                                                <td class="py-2 pr-4 align-top font-mono">{key.prefix.clone()}</td>
                                                <td class=TD>{key.scope.clone()}</td>
                                                <td class=TD>{key.created_at.clone()}</td>
                                                <td class=TD>{key.last_used_at.clone().unwrap_or_else(|| "never".to_owned())}</td>
                                                <td class=TD>{match key.revoked_at.clone() {
                                                    Some(at) => format!("revoked {at}").into_any(),
                                                    None => view! {
                                                        <RowDangerAction
                                                            action="/api/admin_revoke_api_key"
                                                            fields=vec![("prefix", key.prefix.clone())]
                                                            label="Revoke"
                                                            target=format!("the key {}", key.prefix)
                                                            consequence="Requests with this key are refused from now on; a revoked key cannot be restored.".to_owned()
                                                            button="Revoke the key".to_owned()
                                                            id=format!("revoke-{}", key.prefix)
                                                        />
                                                    }.into_any(),
                                                }}</td>
                                            </tr>
                                        }
                                    }).collect_view()}
                                </tbody>
                            </table>
                        </ScrollRegion>
                        }.into_any() }}
                    })
                })}
            </Suspense>
        </ConsolePage>
    }
}

/// `/admin/work`: the job runner's schedules, queues, latest runs and dead
/// jobs (with "run now" and "retry"), then the delivery queues.
#[component]
pub fn AdminWorkPage() -> impl IntoView {
    let record = OnceResource::new(super::work::get_runner_record());
    let work = OnceResource::new(super::work::get_background_work());
    let feedback = FormFeedback::from_address();
    let done = query_value("done").map(|done| match done.as_str() {
        "retry" => "The job is queued again.".to_owned(),
        _ => "The schedule's work is queued and runs in a moment.".to_owned(),
    });
    view! {
        <ConsolePage title="Background work" section="/admin/work" heading="Background work">
            <p class="text-sm text-slate-700">"Every server process runs the same job runner on the one database: each schedule's period runs once, whichever process gets there first, and every attempt is recorded here."</p>
            {done.map(|message| view! { <Notice message=message /> })}
            <FormSummary feedback=feedback />
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {Suspend::new(async move {
                    admin_outcome(record.await, runner_record)
                })}
            </Suspense>
            <h2 class="text-2xl font-semibold">"Delivery queues"</h2>
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {Suspend::new(async move {
                    admin_outcome(work.await, |workers| {
                        workers.into_iter().enumerate().map(|(index, worker)| {
                            let (heading, labelled_by) = (format!("worker-{index}"), format!("worker-{index}"));
                            let attention = worker.attention;
                            view! {
                                <section aria-labelledby=labelled_by class="space-y-2 rounded-lg border border-slate-200 p-4" data-worker=worker.name.clone()>
                                    <h3 id=heading class="text-xl font-semibold">
                                        {crate::admin::words::words(&worker.name)}
                                        {attention.then(|| view! { <span class="ml-2 rounded bg-amber-100 px-2 py-0.5 text-sm font-medium text-amber-900">"needs attention"</span> })}
                                    </h3>
                                    <p class="text-sm text-slate-700">{worker.does.clone()}</p>
                                    <dl class="grid grid-cols-1 gap-1 text-sm sm:grid-cols-2">
                                        {worker.figures.into_iter().map(|(label, value)| view! {
                                            <div><dt class="inline font-semibold">{format!("{label}: ")}</dt><dd class="inline">{value}</dd></div>
                                        }).collect_view()}
                                    </dl>
                                    {(!worker.failures.is_empty()).then(|| view! {
                                        <h4 class="font-semibold">"Latest failures"</h4>
                                        <ul class="space-y-1 text-sm break-words">
                                            {worker.failures.into_iter().map(|failure| view! {
                                                <li>
                                                    {failure.at.clone()} " — "
                                                    {match failure.href.clone() {
                                                        Some(href) => view! { <a href=href class="underline">{failure.what.clone()}</a> }.into_any(),
                                                        None => failure.what.clone().into_any(),
                                                    }}
                                                    " — " {failure.error.clone()}
                                                </li>
                                            }).collect_view()}
                                        </ul>
                                    })}
                                    {worker.list.map(|href| view! { <a href=href class="text-sm underline">"See them all"</a> })}
                                </section>
                            }
                        }).collect_view()
                    })
                })}
            </Suspense>
        </ConsolePage>
    }
}

/// A short reason field and a submit button, for an audited action.
fn reasoned_action(
    action: &'static str,
    field: (&'static str, String),
    id: String,
    label: &'static str,
) -> impl IntoView {
    let input_id = format!("{}-reason-{id}", field.0);
    view! {
        <form method="post" action=action class="flex flex-wrap items-end gap-2">
            <input type="hidden" name=field.0 value=field.1 />
            <label for=input_id.clone() class="sr-only">{format!("Reason ({label})")}</label>
            <input id=input_id name="reason" type="text" required maxlength="500" placeholder="Reason" class="w-32 rounded-md border border-slate-300 px-2 py-1" />
            <button type="submit" class="rounded-md border border-slate-300 px-2 py-1 font-medium hover:bg-slate-50">{label}</button>
        </form>
    }
}

fn runner_record(record: super::work::RunnerRecord) -> impl IntoView {
    let dead_count = record.dead.len();
    view! {
        <section aria-labelledby="schedules" class="space-y-3" data-runner-schedules>
            <h2 id="schedules" class="text-2xl font-semibold">"Schedules"</h2>
            <ScrollRegion label="Schedules">
                <table class="w-full text-sm">
                    <caption class="sr-only">"Each schedule: how often, its last and next run, how the last ended"</caption>
                    <thead><tr>
                        <th scope="col" class=TH>"Schedule"</th><th scope="col" class=TH>"How often"</th>
                        <th scope="col" class=TH>"Last run"</th><th scope="col" class=TH>"Next run"</th>
                        <th scope="col" class=TH>"Outcome"</th><th scope="col" class=TH>"Run now"</th>
                    </tr></thead>
                    <tbody>
                        {record.schedules.into_iter().map(|line| {
                            let failed = line.failed;
                            view! {
                                <tr class="border-t border-slate-100 align-top" data-schedule=line.name.clone()>
                                    <th scope="row" class=ROW_TH>
                                        <code class="font-semibold">{line.name.clone()}</code>
                                        <span class="block max-w-md text-slate-600">{line.does.clone()}</span>
                                    </th>
                                    <td class=TD>{line.every.clone()}</td>
                                    <td class=TD>{line.last_run.clone()}</td>
                                    <td class=TD>{line.next_run.clone()}</td>
                                    <td class=TD>
                                        <span class=if failed { "font-semibold text-red-800" } else { "" }>{line.outcome.clone()}</span>
                                        {line.error.clone().map(|error| view! { <span class="block max-w-xs break-words text-red-800">{error}</span> })}
                                    </td>
                                    <td class=TD>{reasoned_action("/api/admin_run_schedule", ("name", line.name.clone()), line.name.replace('.', "-"), "Run now")}</td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
            </ScrollRegion>
        </section>
        <section aria-labelledby="queues" class="space-y-3">
            <h2 id="queues" class="text-2xl font-semibold">"Queues"</h2>
            {if record.queues.is_empty() {
                view! { <p class="text-sm text-slate-700">"Nothing queued: every job has run."</p> }.into_any()
            } else {
                view! {
                    <ScrollRegion label="Queues">
                        <table class="w-full text-sm">
                            <caption class="sr-only">"Open jobs by kind"</caption>
                            <thead><tr>
                                <th scope="col" class=TH>"Kind"</th><th scope="col" class="py-2 pr-4 text-right font-semibold">"Due"</th>
                                <th scope="col" class="py-2 pr-4 text-right font-semibold">"Running"</th><th scope="col" class="py-2 pr-4 text-right font-semibold">"Retrying later"</th>
                                <th scope="col" class="py-2 pr-4 text-right font-semibold">"Dead"</th><th scope="col" class=TH>"Oldest due"</th>
                            </tr></thead>
                            <tbody>
                                {record.queues.into_iter().map(|q| view! {
                                    <tr class="border-t border-slate-100">
                                        <th scope="row" class=ROW_TH><code>{q.kind}</code></th>
                                        <td class="py-2 pr-4 text-right tabular-nums">{q.due}</td>
                                        <td class="py-2 pr-4 text-right tabular-nums">{q.running}</td>
                                        <td class="py-2 pr-4 text-right tabular-nums">{q.scheduled}</td>
                                        <td class="py-2 pr-4 text-right tabular-nums">{q.dead}</td>
                                        <td class=TD>{q.oldest_due}</td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    </ScrollRegion>
                }.into_any()
            }}
        </section>
        <section aria-labelledby="dead-jobs" class="space-y-3" data-dead-jobs=dead_count>
            <h2 id="dead-jobs" class="text-2xl font-semibold">"Dead jobs"</h2>
            {if record.dead.is_empty() {
                view! { <p class="text-sm text-slate-700">"No dead jobs."</p> }.into_any()
            } else {
                view! {
                    <ScrollRegion label="Dead jobs">
                        <table class="w-full text-sm">
                            <caption class="sr-only">"Jobs that failed every attempt, newest first"</caption>
                            <thead><tr>
                                <th scope="col" class=TH>"Job"</th><th scope="col" class=TH>"Kind"</th><th scope="col" class=TH>"Attempts"</th>
                                <th scope="col" class=TH>"Due"</th><th scope="col" class=TH>"Last error"</th><th scope="col" class=TH>"Retry"</th>
                            </tr></thead>
                            <tbody>
                                {record.dead.into_iter().map(|job| view! {
                                    <tr class="border-t border-slate-100 align-top" data-dead-job=job.job_id>
                                        <th scope="row" class="py-2 pr-4 text-left align-top font-normal tabular-nums">{job.job_id}</th>
                                        <td class="py-2 pr-4"><code>{job.kind}</code></td>
                                        <td class="py-2 pr-4 tabular-nums">{job.attempts}</td>
                                        <td class=TD>{job.due}</td>
                                        <td class="py-2 pr-4 max-w-xs break-words">{job.error}</td>
                                        <td class=TD>{reasoned_action("/api/admin_retry_job", ("id", job.job_id.to_string()), job.job_id.to_string(), "Retry")}</td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    </ScrollRegion>
                }.into_any()
            }}
        </section>
        <section aria-labelledby="runs" class="space-y-3">
            <h2 id="runs" class="text-2xl font-semibold">"Latest runs"</h2>
            {if record.runs.is_empty() {
                view! { <p class="text-sm text-slate-700">"Nothing has run yet."</p> }.into_any()
            } else {
                view! {
                    <ScrollRegion label="Latest runs">
                        <table class="w-full text-sm">
                            <caption class="sr-only">"The latest 30 attempts, newest first"</caption>
                            <thead><tr>
                                <th scope="col" class=TH>"Started"</th><th scope="col" class=TH>"Kind"</th><th scope="col" class=TH_NUM>"Attempt"</th>
                                <th scope="col" class=TH_NUM>"Took"</th><th scope="col" class=TH>"Outcome"</th><th scope="col" class=TH>"Process"</th>
                            </tr></thead>
                            <tbody>
                                {record.runs.into_iter().map(|run| {
                                    let outcome = run.outcome.clone();
                                    view! {
                                    <tr class="border-t border-slate-100 align-top" data-run-outcome=outcome>
                                        <th scope="row" class="py-2 pr-4 text-left align-top font-normal whitespace-nowrap">{run.started}</th>
                                        <td class="py-2 pr-4"><code>{format!("{} #{}", run.kind, run.job_id)}</code></td>
                                        <td class=TD_NUM>{run.attempt}</td>
                                        <td class=TD_NUM>{run.took}</td>
                                        <td class="py-2 pr-4">{run.outcome}{run.error.map(|error| view! { <span class="block max-w-xs break-words text-red-800">{error}</span> })}</td>
                                        <td class="py-2 pr-4 font-mono text-xs">{run.worker}</td>
                                    </tr>
                                }}).collect_view()}
                            </tbody>
                        </table>
                    </ScrollRegion>
                }.into_any()
            }}
        </section>
    }
}
