//! What every `/app` page shows above its content: a trial banner coloured
//! by urgency (dismissible until the next day), a past-due or read-only
//! banner saying why and the way out, and the organisation switcher.

// #[server] turns each function's parameters into the fields of a generated
// argument struct; parameters cannot carry doc comments, the functions do.
#![allow(missing_docs)]

use crate::error::AppError;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// The cookie that hides the trial banner, holding the UTC day it was dismissed.
pub const DISMISS_COOKIE: &str = "gatehouse_trial_banner_dismissed";

/// How urgent a trial banner is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Urgency {
    /// More than 7 days left.
    Calm,
    /// 3 to 7 days left.
    Warning,
    /// 2 days or fewer.
    Urgent,
}

impl Urgency {
    /// The urgency of `days_left` whole days.
    pub fn of_days_left(days_left: u32) -> Self {
        match days_left {
            0..=2 => Urgency::Urgent,
            3..=7 => Urgency::Warning,
            _ => Urgency::Calm,
        }
    }

    fn classes(self) -> &'static str {
        match self {
            Urgency::Calm => "border-sky-200 bg-sky-50 text-sky-900",
            Urgency::Warning => "border-amber-300 bg-amber-50 text-amber-900",
            Urgency::Urgent => "border-red-300 bg-red-50 text-red-900",
        }
    }
}

/// The banner to show, if any.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Banner {
    /// In a trial.
    Trial {
        /// Whole days left, a part day counting as one.
        days_left: u32,
        /// Its colour.
        urgency: Urgency,
        /// The tier on trial.
        tier_name: String,
    },
    /// The latest payment failed; the plan is kept.
    PastDue {
        /// The unpaid invoice's collection facts, when a case is open.
        collection: Option<CollectionFacts>,
    },
    /// Reads only, and why.
    ReadOnly {
        /// The reason code.
        code: String,
        /// What the customer reads.
        message: String,
        /// The link to the way out (a plan, a working card), if the
        /// customer has one (a suspension goes through support).
        way_out: Option<String>,
        /// The unpaid invoice's collection facts (an overdue payment).
        collection: Option<CollectionFacts>,
    },
}

/// What the past-due banner says about the unpaid invoice: the same facts
/// the collection emails give.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CollectionFacts {
    /// The amount, with its currency.
    pub amount: String,
    /// Attempts so far.
    pub attempt: i32,
    /// The next attempt's day, if one is scheduled.
    pub next_retry_on: Option<String>,
    /// The day the account turns read-only, if it is not yet.
    pub restricts_on: Option<String>,
    /// The bank asks for authentication.
    pub action_required: bool,
    /// Where to pay or authenticate.
    pub pay_url: String,
}

#[cfg(feature = "ssr")]
impl CollectionFacts {
    fn of(case: &crate::billing::domain::collection::CaseView) -> Self {
        let action_required = case.state == crate::billing::domain::collection::CaseState::ActionRequired;
        CollectionFacts {
            amount: case.amount.clone(),
            attempt: case.attempt,
            next_retry_on: case.next_retry_on.clone(),
            restricts_on: case.restricts_on.clone(),
            action_required,
            pay_url: case
                .pay_url
                .clone()
                .filter(|_| action_required)
                .unwrap_or_else(|| "/app/billing".to_owned()),
        }
    }
}

/// One organisation the user belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrganizationChoice {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// The one this session works in.
    pub current: bool,
}

/// What the portal frame shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortalStatus {
    /// The banner, unless there is none or it was dismissed today.
    pub banner: Option<Banner>,
    /// Every organisation the user belongs to.
    pub organizations: Vec<OrganizationChoice>,
    /// The platform admin seeing this portal as the user, and the minutes left.
    pub impersonated_by: Option<(String, i64)>,
}

/// The read-only banner's link: a plan, a working card, or none (a
/// suspension is lifted through support).
#[cfg(feature = "ssr")]
fn way_out_of(reason: crate::entitlements::domain::ReadOnlyReason) -> Option<&'static str> {
    use crate::entitlements::domain::ReadOnlyReason;
    match reason {
        ReadOnlyReason::Unpaid | ReadOnlyReason::PaymentOverdue => Some("Update your payment method"),
        ReadOnlyReason::Suspended => None,
        ReadOnlyReason::TrialEnded | ReadOnlyReason::Canceled | ReadOnlyReason::NoSubscription => {
            Some("Choose a plan")
        }
    }
}

/// The banner for a standing at `now`; a trial banner is hidden on the UTC
/// day it was dismissed (`dismissed_on`, `YYYY-MM-DD`).
#[cfg(feature = "ssr")]
pub fn banner_for(
    catalog: &crate::catalog::domain::Catalog,
    standing: &crate::entitlements::guard::Standing,
    now: chrono::DateTime<chrono::Utc>,
    dismissed_on: Option<&str>,
) -> Option<Banner> {
    use crate::entitlements::domain::Access;
    match standing.entitlements.access {
        Access::ReadOnly(reason) => Some(Banner::ReadOnly {
            code: reason.code().to_owned(),
            message: reason.explain().to_owned(),
            way_out: way_out_of(reason).map(str::to_owned),
            collection: None,
        }),
        Access::PastDue => Some(Banner::PastDue { collection: None }),
        Access::Full => {
            let trial_end = standing.trial_end?;
            // A trial with a plan checked out needs nothing from the customer:
            // the billing page says when the first charge comes.
            if standing.plan.as_ref().is_some_and(|plan| plan.checked_out) {
                return None;
            }
            let today = now.format("%Y-%m-%d").to_string();
            if dismissed_on == Some(today.as_str()) {
                return None;
            }
            let days_left = crate::billing::trials::days_left(now, trial_end);
            let tier = standing.entitlements.tier.as_deref().unwrap_or_default();
            Some(Banner::Trial {
                days_left,
                urgency: Urgency::of_days_left(days_left),
                tier_name: catalog
                    .tier(tier)
                    .map_or_else(|| tier.to_owned(), |t| t.name.clone()),
            })
        }
    }
}

/// The banner and the organisations of the signed-in user.
#[server(prefix = "/api", endpoint = "portal_status", input = server_fn::codec::GetUrl)]
pub async fn get_portal_status() -> Result<PortalStatus, AppError> {
    let (user, scope) = crate::accounts::session::require_member().await?;
    let context = crate::context::app_context()?;
    let now = context.clock.now();
    let (catalog, standing) = crate::entitlements::guard::page_standing(&context, &scope, now).await?;
    let dismissed = crate::security::cookies::request_cookie(DISMISS_COOKIE);
    let mut banner = standing.and_then(|s| banner_for(&catalog, &s.standing, now, dismissed.as_deref()));
    // A banner about money owed says how much, and what happens next.
    if let Some(Banner::PastDue { collection } | Banner::ReadOnly { collection, .. }) = banner.as_mut() {
        let mut conn = context.pool.acquire().await?;
        let grace_days = catalog.collection.grace_days;
        let case =
            crate::billing::collection::open_case_of(&mut conn, scope.organization_id(), grace_days).await?;
        *collection = case.as_ref().map(CollectionFacts::of);
    }
    Ok(PortalStatus {
        banner,
        organizations: organization_choices(&user.organizations, scope.organization_id()),
        impersonated_by: user.impersonated_by.as_ref().map(|seen_as| {
            let left =
                crate::accounts::session::IMPERSONATION_SECS - (now - seen_as.started_at).num_seconds();
            (seen_as.admin_email.clone(), (left + 59) / 60)
        }),
    })
}

/// The organisation switcher's choices, the current one marked.
#[cfg(feature = "ssr")]
fn organization_choices(
    organizations: &[(uuid::Uuid, String)],
    current: uuid::Uuid,
) -> Vec<OrganizationChoice> {
    organizations
        .iter()
        .map(|(id, name)| OrganizationChoice {
            current: *id == current,
            id: id.to_string(),
            name: name.clone(),
        })
        .collect()
}

/// Hides the trial banner for the rest of the UTC day.
#[server(prefix = "/api", endpoint = "dismiss_trial_banner")]
pub async fn dismiss_trial_banner(back_to: Option<String>) -> Result<(), AppError> {
    crate::accounts::session::require_member().await?;
    let context = crate::context::app_context()?;
    let today = context.clock.now().format("%Y-%m-%d");
    if let Some(response) = crate::context::use_context_held::<leptos_axum::ResponseOptions>()
        && let Ok(value) = http::HeaderValue::from_str(&format!(
            "{DISMISS_COOKIE}={today}; Path=/; Max-Age=172800; SameSite=Lax; HttpOnly"
        ))
    {
        response.append_header(http::header::SET_COOKIE, value);
    }
    let back = back_to
        .as_deref()
        .and_then(crate::security::local_path::local_path)
        .filter(|path| path == "/app" || path.starts_with("/app/"))
        .unwrap_or_else(|| "/app".to_owned());
    crate::security::redirect::redirect(&back);
    Ok(())
}

/// Moves this session to another organisation the user belongs to.
#[server(prefix = "/api", endpoint = "switch_organization")]
pub async fn switch_organization(organization_id: String) -> Result<(), AppError> {
    let (user, _) = crate::accounts::session::require_member().await?;
    let context = crate::context::app_context()?;
    let id = AppError::parse_id("organization_id", &organization_id)?;
    let role = crate::accounts::db::membership_role(&context.pool, id, user.user_id).await?;
    if role.is_none() {
        return Err(AppError::NotFound);
    }
    let session = crate::accounts::session::current_session().await?;
    crate::accounts::session::switch_organization(&session, id).await?;
    crate::security::redirect::redirect("/app");
    Ok(())
}

/// The banner and the organisation switcher, under the portal's navigation.
#[component]
pub fn PortalStatusBar(
    /// The current page's path, to come back to after dismissing.
    current: &'static str,
) -> impl IntoView {
    let status = OnceResource::new(get_portal_status());
    view! {
        <Suspense fallback=|| ()>
            {Suspend::new(async move {
                status.await.ok().map(|status| view! { <StatusBar status current /> })
            })}
        </Suspense>
    }
}

#[component]
fn StatusBar(status: PortalStatus, current: &'static str) -> impl IntoView {
    let impersonation = status.impersonated_by.clone().map(|(admin, minutes)| {
        view! {
            <div role="status" data-banner="impersonation" class="bg-amber-300 text-slate-900">
                <form method="post" action="/api/admin_stop_impersonating" class="mx-auto flex max-w-5xl flex-wrap items-center justify-between gap-3 px-4 py-2 text-sm">
                    <p>
                        <strong>"Admin view: "</strong>
                        {format!("{admin} is seeing this portal as its owner ({minutes} min left). Billing and security actions are refused.")}
                    </p>
                    <button type="submit" class="rounded-md bg-slate-900 px-3 py-1 font-semibold text-white">"Exit impersonation"</button>
                </form>
            </div>
        }
    });
    let switcher = (status.organizations.len() > 1).then(|| {
        let options = status
            .organizations
            .iter()
            .map(|o| view! { <option value=o.id.clone() selected=o.current>{o.name.clone()}</option> })
            .collect_view();
        view! {
            <form method="post" action="/api/switch_organization" class="mx-auto flex max-w-5xl items-center justify-end gap-2 px-4 pt-3 text-sm" data-org-switcher>
                <label for="organization_id" class="text-slate-700">"Organisation"</label>
                <select id="organization_id" name="organization_id" class="rounded-md border border-slate-300 px-2 py-1">
                    {options}
                </select>
                <button type="submit" class="rounded-md border border-slate-300 px-3 py-1 hover:bg-slate-50">"Switch"</button>
            </form>
        }
    });
    let banner = status.banner.map(|banner| match banner {
        Banner::Trial {
            days_left,
            urgency,
            tier_name,
        } => {
            let days = if days_left == 1 { "1 day".to_owned() } else { format!("{days_left} days") };
            let urgency_word = match urgency {
                Urgency::Calm => "calm",
                Urgency::Warning => "warning",
                Urgency::Urgent => "urgent",
            };
            view! {
                <div role="status" data-banner="trial" data-urgency=urgency_word class=format!("mx-auto mt-3 flex max-w-5xl flex-wrap items-center justify-between gap-3 rounded-md border px-4 py-3 text-sm {}", urgency.classes())>
                    <p>
                        <strong>{format!("{days} left")}</strong>
                        {format!(" in your free trial of {tier_name}. ")}
                        <a href="/app/billing" class="font-semibold underline">"Choose a plan"</a>
                    </p>
                    <form method="post" action="/api/dismiss_trial_banner">
                        <input type="hidden" name="back_to" value=current />
                        <button type="submit" class="underline">"Dismiss for today"</button>
                    </form>
                </div>
            }
            .into_any()
        }
        Banner::PastDue { collection } => {
            let (headline, detail, link, label) = match &collection {
                Some(facts) if facts.action_required => (
                    format!("Your bank needs you to confirm the payment of {}. ", facts.amount),
                    facts.restricts_on.as_ref().map(|day| format!("Confirm it before {day} to keep full access. ")).unwrap_or_default(),
                    facts.pay_url.clone(),
                    "Confirm the payment",
                ),
                Some(facts) => (
                    format!("Payment of {} failed (attempt {}). ", facts.amount, facts.attempt),
                    [
                        facts.next_retry_on.as_ref().map(|day| format!("We retry on {day}. ")),
                        facts.restricts_on.as_ref().map(|day| format!("The account turns read-only on {day} if it stays unpaid. ")),
                    ]
                    .into_iter()
                    .flatten()
                    .collect::<String>(),
                    facts.pay_url.clone(),
                    "Update your payment method",
                ),
                None => (
                    "Your latest payment failed. ".to_owned(),
                    "Your plan stays on while we retry. ".to_owned(),
                    "/app/billing".to_owned(),
                    "Fix your payment method",
                ),
            };
            view! {
                <div role="status" data-banner="past_due" class="mx-auto mt-3 max-w-5xl rounded-md border border-amber-300 bg-amber-50 px-4 py-3 text-sm text-amber-900">
                    <p>
                        <strong>{headline}</strong>
                        {detail}
                        <a href=link class="font-semibold underline">{label}</a>
                    </p>
                </div>
            }
            .into_any()
        }
        Banner::ReadOnly { code, message, way_out, collection } => {
            let owed = collection.map(|facts| format!(" {} is due.", facts.amount));
            view! {
                <div role="status" data-banner="read_only" data-reason=code class="mx-auto mt-3 max-w-5xl rounded-md border border-red-300 bg-red-50 px-4 py-3 text-sm text-red-900">
                    <p>
                        <strong>"Read-only. "</strong>
                        {message}
                        {owed}
                        " "
                        {way_out.map(|label| view! { <a href="/app/billing" class="font-semibold underline">{label}</a> })}
                    </p>
                </div>
            }
            .into_any()
        }
    });
    view! {
        {impersonation}
        {switcher}
        {banner}
    }
}
