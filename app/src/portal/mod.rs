//! The customer portal: `/app` (organisation, plan, trial), `/app/billing`
//! (with the usage beside it), `/app/team` and `/app/account`.

pub mod api;
pub mod billing;
pub mod frame;
pub mod invite;
pub mod status_bar;

#[cfg(feature = "ssr")]
pub mod db;
#[cfg(feature = "ssr")]
pub mod team;

use crate::accounts::domain::Role;
use crate::portal::frame::portal_outcome;
use crate::ui::danger::{ConfirmDanger, RowDangerAction};
use crate::ui::form::{FormFeedback, FormSummary, Notice, TextField};
use crate::ui::product_name;
use api::{get_overview, get_team};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;
use serde::{Deserialize, Serialize};

/// The portal home's figures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgOverview {
    /// Organisation name.
    pub organization_name: String,
    /// The signed-in user's email.
    pub user_email: String,
    /// Whether that email is confirmed.
    pub email_verified: bool,
    /// The user's role.
    pub role: Role,
    /// Current plan's name.
    pub plan_name: Option<String>,
    /// Current plan's key.
    pub plan_key: Option<String>,
    /// `monthly` or `annual`.
    pub billing_cycle: Option<String>,
    /// The subscription's state, if there is one.
    pub status: Option<crate::billing::domain::SubscriptionStatus>,
    /// Whole days left in the trial, while trialing.
    pub trial_days_left: Option<i64>,
    /// The trial's last day, while trialing.
    pub trial_ends_on: Option<String>,
    /// A plan is checked out (the trial turns into it), as opposed to a signup trial.
    pub checked_out: bool,
    /// Members plus open invitations.
    pub seats_used: u64,
    /// The plan's seat limit; `None` is unlimited.
    pub seat_limit: Option<u64>,
}

/// One member on the team page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberView {
    /// User id.
    pub user_id: String,
    /// The member's email address.
    pub email: String,
    /// What the member may do in the organisation.
    pub role: Role,
    /// Date joined.
    pub joined_on: String,
}

/// One open invitation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvitationView {
    /// Invitation id.
    pub invitation_id: String,
    /// Invited email.
    pub email: String,
    /// Role on joining.
    pub role: Role,
    /// Last valid day.
    pub expires_on: String,
}

/// The team page's data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TeamView {
    /// The caller.
    pub your_user_id: String,
    /// The caller's role.
    pub your_role: Role,
    /// Members, owners first.
    pub members: Vec<MemberView>,
    /// Open invitations.
    pub invitations: Vec<InvitationView>,
    /// Seats used (members + open invitations).
    pub seats_used: u64,
    /// The plan's seat limit.
    pub seat_limit: Option<u64>,
}

/// What an invitation link offers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvitationPreview {
    /// Inviting organisation.
    pub organization_name: String,
    /// Invited email.
    pub email: String,
    /// Role on joining.
    pub role: Role,
    /// Whether the invited email already has an account.
    pub account_exists: bool,
    /// Who is signed in on this browser, if anyone.
    pub signed_in_as: Option<String>,
}

fn seats_label(used: u64, limit: Option<u64>) -> String {
    match limit {
        Some(limit) => format!("{used} of {limit} seats used"),
        None => format!("{used} seats used (unlimited)"),
    }
}

/// `/app`: the organisation, the user and the trial.
#[component]
pub fn PortalHome() -> impl IntoView {
    let product = product_name();
    let query = use_query_map();
    let notice = query.with_untracked(|q| {
        if q.get("verified").is_some() {
            Some("Thanks, your email is confirmed.")
        } else if q.get("resent").is_some() {
            Some("We sent you a new confirmation email.")
        } else if q.get("joined").is_some() {
            Some("Welcome to the team!")
        } else if q.get("password_reset").is_some() {
            Some("Your password was changed and your other sessions were signed out.")
        } else {
            None
        }
    });
    let overview = OnceResource::new(get_overview());
    view! {
        <Title text=format!("Overview — {product}") />
        <main id="main" class="mx-auto max-w-5xl space-y-6 px-4 py-10">
            {notice.map(|message| view! { <Notice message=message.to_owned() /> })}
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {Suspend::new(async move {
                    portal_outcome(overview.await, "/app", |overview| view! { <OverviewPanels overview /> })
                })}
            </Suspense>
        </main>
    }
}

#[component]
fn OverviewPanels(overview: OrgOverview) -> impl IntoView {
    let trial = overview.trial_days_left.map(|days| {
        let ends = overview.trial_ends_on.clone().unwrap_or_default();
        let plan = overview.plan_name.clone().unwrap_or_default();
        view! {
            <section aria-labelledby="trial-heading" class="rounded-xl border border-indigo-200 bg-indigo-50 p-6">
                <h2 id="trial-heading" class="text-lg font-semibold">
                    <span data-trial-days>{days}</span>
                    {if days == 1 { " day left in your trial" } else { " days left in your trial" }}
                </h2>
                {if overview.checked_out {
                    view! {
                        <p class="mt-1 text-slate-700">
                            {format!("Your trial of {plan} ends on {ends}, and your subscription starts then. ")}
                            <a href="/app/billing" class="font-medium underline">"See the first charge"</a>
                        </p>
                    }.into_any()
                } else {
                    view! {
                        <p class="mt-1 text-slate-700">
                            {format!("Your free trial of {plan} ends on {ends}. ")}
                            <a href="/app/billing" class="font-medium underline">"Choose a plan"</a>
                            " to keep working without a pause."
                        </p>
                    }.into_any()
                }}
            </section>
        }
    });
    let reminder = (!overview.email_verified).then(|| {
        view! {
            <section role="status" class="rounded-xl border border-amber-300 bg-amber-50 p-4 text-amber-900">
                <p>{format!("Please confirm your email address: we sent a link to {}.", overview.user_email)}</p>
                <form method="post" action="/api/resend_verification" class="mt-2">
                    <button type="submit" class="font-medium underline">
                        "Send the link again"
                    </button>
                </form>
            </section>
        }
    });
    view! {
        {reminder}
        <h1 class="text-3xl font-bold tracking-tight" data-organization>
            {overview.organization_name.clone()}
        </h1>
        <p class="text-slate-600">
            {format!("Signed in as {} ({})", overview.user_email, overview.role.as_str())}
        </p>
        {trial}
        <dl class="grid gap-4 sm:grid-cols-3">
            <div class="rounded-xl border border-slate-200 p-4">
                <dt class="text-sm text-slate-600">"Plan"</dt>
                <dd class="mt-1 text-lg font-semibold" data-plan>
                    {overview.plan_name.clone().unwrap_or_else(|| "None".into())}
                </dd>
            </div>
            <div class="rounded-xl border border-slate-200 p-4">
                <dt class="text-sm text-slate-600">"Status"</dt>
                <dd class="mt-1 text-lg font-semibold">{overview.status.map_or("—", |status| status.label())}</dd>
            </div>
            <div class="rounded-xl border border-slate-200 p-4">
                <dt class="text-sm text-slate-600">"Seats"</dt>
                <dd class="mt-1 text-lg font-semibold">{seats_label(overview.seats_used, overview.seat_limit)}</dd>
            </div>
        </dl>
    }
}

/// `/app/team`: members, invitations and seats.
#[component]
pub fn TeamPage() -> impl IntoView {
    let product = product_name();
    let feedback = FormFeedback::from_address();
    let invited = use_query_map().with_untracked(|q| q.get("invited").is_some());
    let team = OnceResource::new(get_team());
    view! {
        <Title text=format!("Team — {product}") />
        <main id="main" class="mx-auto max-w-5xl space-y-8 px-4 py-10">
            <h1 class="text-3xl font-bold tracking-tight">"Team"</h1>
            {invited.then(|| view! { <Notice message="Invitation sent.".to_owned() /> })}
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {Suspend::new(async move {
                    let feedback = feedback.clone();
                    portal_outcome(team.await, "/app/team", move |team| view! { <TeamPanels team feedback /> })
                })}
            </Suspense>
        </main>
    }
}

#[component]
fn TeamPanels(team: TeamView, feedback: FormFeedback) -> impl IntoView {
    let manages = team.your_role.manages_team();
    let is_owner = team.your_role == Role::Owner;
    let at_limit = team.seat_limit.is_some_and(|limit| team.seats_used >= limit);
    let you = team.your_user_id.clone();
    // The only owner cannot leave (the server refuses it too): hand over ownership first.
    let only_owner = is_owner && team.members.iter().filter(|m| m.role == Role::Owner).count() == 1;
    let members = team
        .members
        .into_iter()
        .map(|member| {
            let is_you = member.user_id == you;
            let can_edit = manages && !is_you && (is_owner || member.role != Role::Owner);
            let id = member.user_id.clone();
            let email = member.email.clone();
            view! {
                <tr class="border-b border-slate-100 align-top" data-member=member.email.clone()>
                    <th scope="row" class="py-3 pr-4 text-left font-normal">
                        {member.email.clone()}
                        {is_you.then_some(" (you)")}
                    </th>
                    <td class="py-3 pr-4">{member.role.as_str()}</td>
                    <td class="py-3 pr-4">{member.joined_on}</td>
                    <td class="py-3">
                        {can_edit
                            .then(|| {
                                let new_role = if member.role == Role::Member { "admin" } else { "member" };
                                let id_role = id.clone();
                                let id_owner = id.clone();
                                view! {
                                    <div class="flex flex-wrap gap-3 text-sm">
                                        <form method="post" action="/api/change_role">
                                            <input type="hidden" name="user_id" value=id_role />
                                            <input type="hidden" name="role" value=new_role />
                                            <button type="submit" class="underline">
                                                {format!("Make {new_role}")}
                                                <span class="sr-only">{format!(" ({email})")}</span>
                                            </button>
                                        </form>
                                        {is_owner
                                            .then(|| {
                                                view! {
                                                    <form method="post" action="/api/transfer_ownership">
                                                        <input type="hidden" name="user_id" value=id_owner />
                                                        <button type="submit" class="underline">
                                                            "Make owner"
                                                        </button>
                                                    </form>
                                                }
                                            })}
                                        <RowDangerAction
                                            action="/api/remove_member"
                                            fields=vec![("user_id", id.clone())]
                                            label="Remove"
                                            target=format!("({email})")
                                            consequence=format!(
                                                "{email} loses access to this organisation at once; invite them again to bring them back.",
                                            )
                                            button="Remove from the team".to_owned()
                                            id=format!("remove-{id}")
                                        />
                                    </div>
                                }
                            })}
                    </td>
                </tr>
            }
        })
        .collect_view();
    let invitations = team
        .invitations
        .into_iter()
        .map(|invitation| {
            view! {
                <li class="flex flex-wrap items-center justify-between gap-2 py-2" data-invitation=invitation.email.clone()>
                    <span>
                        {format!("{} — {} — expires {}", invitation.email, invitation.role.as_str(), invitation.expires_on)}
                    </span>
                    {manages
                        .then(|| {
                            view! {
                                <form method="post" action="/api/revoke_invitation">
                                    <input type="hidden" name="invitation_id" value=invitation.invitation_id />
                                    <button type="submit" class="text-sm underline">
                                        "Withdraw"
                                    </button>
                                </form>
                            }
                        })}
                </li>
            }
        })
        .collect_view();
    view! {
        <p class="text-slate-700" data-seats>{seats_label(team.seats_used, team.seat_limit)}</p>
        <table class="w-full text-sm">
            <caption class="sr-only">"Members"</caption>
            <thead>
                <tr class="border-b border-slate-300 text-left">
                    <th scope="col" class="py-2">"Member"</th>
                    <th scope="col" class="py-2">"Role"</th>
                    <th scope="col" class="py-2">"Joined"</th>
                    <th scope="col" class="py-2"><span class="sr-only">"Actions"</span></th>
                </tr>
            </thead>
            <tbody>{members}</tbody>
        </table>
        <section aria-labelledby="invitations-heading">
            <h2 id="invitations-heading" class="text-xl font-semibold">"Open invitations"</h2>
            <ul class="mt-2 divide-y divide-slate-100">{invitations}</ul>
        </section>
        {manages
            .then(|| {
                view! {
                    <section aria-labelledby="invite-heading" class="max-w-md space-y-4">
                        <h2 id="invite-heading" class="text-xl font-semibold">"Invite a teammate"</h2>
                        {at_limit
                            .then(|| {
                                view! {
                                    <p class="text-sm text-amber-900">
                                        "All seats of your plan are taken. "
                                        <a href="/pricing" class="underline">"Upgrade your plan"</a>
                                        " to invite more people."
                                    </p>
                                }
                            })}
                        <form method="post" action="/api/invite_member" class="space-y-4" novalidate>
                            <FormSummary feedback=feedback.clone() />
                            <TextField name="email" label="Email address" input_type="email" autocomplete="off" feedback=feedback.clone() />
                            <div class="space-y-1">
                                <label for="role" class="block text-sm font-medium">"Role"</label>
                                <select id="role" name="role" class="block w-full rounded-md border border-slate-300 px-3 py-2">
                                    <option value="member">"Member"</option>
                                    <option value="admin">"Admin"</option>
                                </select>
                            </div>
                            <button type="submit" class="rounded-md bg-brand px-4 py-2 font-semibold text-white hover:opacity-90">
                                "Send invitation"
                            </button>
                        </form>
                    </section>
                }
            })}
        <section aria-labelledby="leave-heading" class="border-t border-slate-200 pt-6">
            <h2 id="leave-heading" class="text-lg font-semibold">"Leave organisation"</h2>
            {if only_owner {
                view! {
                    <p class="mt-2 text-sm text-slate-700" data-leave-blocked>
                        "You are its only owner. Make another member an owner before you leave."
                    </p>
                }.into_any()
            } else {
                view! {
                    <form method="post" action="/api/leave_organization" class="mt-2 space-y-2">
                        <ConfirmDanger
                            id="leave-confirm".to_owned()
                            consequence="I understand I lose access to this organisation until someone invites me again.".to_owned()
                            button="Leave this organisation".to_owned()
                        />
                    </form>
                }.into_any()
            }}
        </section>
    }
}

/// `/app/account`: change password.
#[component]
pub fn AccountPage() -> impl IntoView {
    let product = product_name();
    let feedback = FormFeedback::from_address();
    let changed = use_query_map().with_untracked(|q| q.get("changed").is_some());
    let overview = OnceResource::new(get_overview());
    view! {
        <Title text=format!("Account — {product}") />
        <main id="main" class="mx-auto max-w-md space-y-6 px-4 py-10">
            <h1 class="text-3xl font-bold tracking-tight">"Account"</h1>
            {changed
                .then(|| {
                    view! {
                        <Notice message="Password changed. Your other sessions were signed out.".to_owned() />
                    }
                })}
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {Suspend::new(async move {
                    let feedback = feedback.clone();
                    portal_outcome(overview.await, "/app/account", move |overview| {
                        view! {
                            <p class="text-slate-700">{format!("Signed in as {}", overview.user_email)}</p>
                            <form method="post" action="/api/change_password" class="space-y-4" novalidate>
                                <h2 class="text-xl font-semibold">"Change password"</h2>
                                <FormSummary feedback=feedback.clone() />
                                <TextField name="current_password" label="Current password" input_type="password" autocomplete="current-password" feedback=feedback.clone() />
                                <TextField name="new_password" label="New password" input_type="password" autocomplete="new-password" hint="At least 12 characters." feedback=feedback.clone() />
                                <button type="submit" class="rounded-md bg-brand px-4 py-2 font-semibold text-white hover:opacity-90">
                                    "Change password"
                                </button>
                            </form>
                        }
                    })
                })}
            </Suspense>
        </main>
    }
}
