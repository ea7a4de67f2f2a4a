//! The console's licence section on an organisation's page: its licences
//! with their machines, and the platform team's issue, extend, suspend,
//! reinstate and revoke, each audited with a reason in its own transaction.
//! Keys are never shown here: only the organisation's own owners see them.

// #[server] turns each function's parameters into the fields of a generated
// argument struct; parameters cannot carry doc comments, the functions do.
#![allow(missing_docs)]

use super::view::LicenseView;
use crate::admin::frame::{INPUT, SMALL_BUTTON};
use crate::error::AppError;
use crate::ui::danger::ConfirmDanger;
use leptos::prelude::*;

#[cfg(feature = "ssr")]
use {
    super::manage::{AdminAction, Changed},
    crate::admin::audited::{Audit, AuditedAction, checked_reason},
    crate::admin::sign_in::session::require_admin,
    crate::context::app_context,
    uuid::Uuid,
};

/// The audit entry of a licence action.
#[cfg(feature = "ssr")]
fn audit(action: &'static str, reason: String, changed: Changed) -> Audit {
    Audit::of(action)
        .on(changed.organization_id)
        .because(reason)
        .before(changed.before)
        .after(changed.after)
}

/// An organisation's licences, for the console (no keys).
#[server(prefix = "/api", endpoint = "admin_licenses", input = server_fn::codec::GetUrl)]
pub async fn get_console_licenses(organization_id: String) -> Result<Vec<LicenseView>, AppError> {
    require_admin().await?;
    let context = app_context()?;
    let id = Uuid::parse_str(organization_id.trim()).map_err(|_| AppError::NotFound)?;
    let mut conn = context.pool.acquire().await?;
    Ok(super::manage::licenses_of(&mut conn, id, None, context.clock.now()).await?)
}

/// Issues a licence to an organisation by hand (1–1000 machines,
/// node-locked or floating), with a reason.
#[server(prefix = "/api", endpoint = "admin_issue_license")]
pub async fn issue_license(
    organization_id: String,
    max_activations: String,
    node_locked: Option<String>,
    reason: String,
) -> Result<(), AppError> {
    let mut action = AuditedAction::begin().await?;
    let id = AppError::parse_id("organization_id", &organization_id)?;
    let machines = machines(&max_activations)?;
    let node_locked = node_locked.is_some();
    let reason = checked_reason(&reason)?;
    let keys = signing_keys()?;
    if !crate::accounts::db::organization_exists(&mut **action.tx.get().await?, id).await? {
        return Err(AppError::NotFound);
    }
    let source = super::db::Source::Console;
    let issued = super::db::issue(
        action.tx.get().await?,
        &keys,
        id,
        source,
        machines,
        node_locked,
        action.now,
    );
    let license_id = issued.await?.ok_or(AppError::Internal)?;
    let after = serde_json::json!({
        "license_id": license_id, "max_activations": machines, "node_locked": node_locked
    });
    let audit = Audit::of("license.issue")
        .on(id)
        .because(reason)
        .before(serde_json::Value::Null);
    let back = format!("/admin/organizations/{id}?done=license");
    action.commit(audit.after(after), &back).await
}

/// How many machines a licence may run on: 1 to 1000.
#[cfg(feature = "ssr")]
fn machines(raw: &str) -> Result<i32, AppError> {
    let machines = raw.trim().parse::<i32>().ok().filter(|n| (1..=1000).contains(n));
    machines.ok_or_else(|| {
        AppError::field(
            "max_activations",
            "give a whole number of machines from 1 to 1000",
        )
    })
}

/// The licence signing keys, or why a licence cannot be issued.
#[cfg(feature = "ssr")]
fn signing_keys() -> Result<std::sync::Arc<super::keys::SigningKeys>, AppError> {
    crate::licensing::keys::license_keys()?.ok_or_else(|| {
        AppError::Conflict("licensing is off: this Gatehouse has no licence signing keys".to_owned())
    })
}

/// Extends (`until`, a date), suspends, reinstates or revokes a licence,
/// with a reason.
#[server(prefix = "/api", endpoint = "admin_license_action")]
pub async fn license_action(
    license_id: String,
    action: String,
    until: Option<String>,
    reason: String,
    confirm: Option<String>,
) -> Result<(), AppError> {
    let mut audited = AuditedAction::begin().await?;
    let license_id = AppError::parse_id("license_id", &license_id)?;
    let (action, word) = admin_action(&action, until.as_deref())?;
    // Suspending and revoking stop the customer's installs at their next check-in.
    if matches!(action, AdminAction::Suspend | AdminAction::Revoke) {
        crate::ui::danger::confirmed(confirm.as_deref())?;
    }
    let reason = checked_reason(&reason)?;
    let changed = super::manage::apply_admin_action(audited.tx.get().await?, license_id, action, audited.now)
        .await?
        .ok_or(AppError::NotFound)?
        .map_err(|why| AppError::Conflict(why.to_owned()))?;
    let back = format!("/admin/organizations/{}?done=license", changed.organization_id);
    audited.commit(audit(word, reason, changed), &back).await
}

/// The console's licence action and its audit word, from the form.
#[cfg(feature = "ssr")]
fn admin_action(action: &str, until: Option<&str>) -> Result<(AdminAction, &'static str), AppError> {
    match action {
        "extend" => {
            let bad_day = || AppError::field("until", "give a date as YYYY-MM-DD");
            let day = crate::input::parse_day(until.unwrap_or_default()).ok_or_else(bad_day)?;
            let until = day
                .and_hms_opt(23, 59, 59)
                .map(|t| t.and_utc())
                .ok_or_else(bad_day)?;
            Ok((AdminAction::Extend(until), "license.extend"))
        }
        "suspend" => Ok((AdminAction::Suspend, "license.suspend")),
        "reinstate" => Ok((AdminAction::Reinstate, "license.reinstate")),
        "revoke" => Ok((AdminAction::Revoke, "license.revoke")),
        _ => Err(AppError::field(
            "action",
            "choose extend, suspend, reinstate or revoke",
        )),
    }
}

/// The licence section of the console's organisation page.
#[component]
pub fn ConsoleLicenses(
    /// The organisation's id.
    organization_id: String,
) -> impl IntoView {
    let licenses = OnceResource::new(get_console_licenses(organization_id.clone()));
    view! {
        <section aria-labelledby="licenses" class="space-y-4">
            <h2 id="licenses" class="text-xl font-semibold">"Self-hosted licences"</h2>
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {Suspend::new(async move {
                    match licenses.await {
                        Ok(list) if list.is_empty() => {
                            view! { <p class="text-sm text-slate-700">"No licences. One is issued with an Enterprise subscription, or by hand below."</p> }
                                .into_any()
                        }
                        Ok(list) => list.into_iter().map(|license| view! { <ConsoleLicense license /> }).collect_view().into_any(),
                        Err(error) => view! { <p role="alert">{error.to_string()}</p> }.into_any(),
                    }
                })}
            </Suspense>
            <form method="post" action="/api/admin_issue_license" class="space-y-3 rounded-lg border border-slate-200 p-4" aria-labelledby="issue-license-heading">
                <h3 id="issue-license-heading" class="font-semibold">"Issue a licence"</h3>
                <input type="hidden" name="organization_id" value=organization_id />
                <label for="max-activations" class="block text-sm font-medium">"Machines (1–1000)"</label>
                <input id="max-activations" name="max_activations" type="number" min="1" max="1000" value="3" required class=INPUT />
                <label class="flex items-center gap-2 text-sm">
                    <input type="checkbox" name="node_locked" value="on" checked />
                    "Bind each file to its machine's fingerprint"
                </label>
                <label for="issue-license-reason" class="block text-sm font-medium">"Reason (kept in the audit log)"</label>
                <textarea id="issue-license-reason" name="reason" required maxlength="500" class=INPUT></textarea>
                <button type="submit" class=SMALL_BUTTON>"Issue the licence"</button>
            </form>
        </section>
    }
}

#[component]
fn ConsoleLicense(license: LicenseView) -> impl IntoView {
    let id = license.id.clone();
    let revoked = license.revoked;
    let suspended_by_hand = license.suspended_by_hand;
    let hint = license.key_hint.clone();
    // A danger action carries the consequence its tick box states.
    let action_form = move |action: &'static str, label: &'static str, danger: Option<&'static str>| {
        let form_id = format!("{action}-{id}");
        let reason_id = format!("{form_id}-reason");
        let until_id = format!("{form_id}-until");
        view! {
            <form method="post" action="/api/admin_license_action" class="space-y-2 rounded-md border border-slate-200 p-3" aria-label=format!("{label} licence {hint}")>
                <input type="hidden" name="license_id" value=id.clone() />
                <input type="hidden" name="action" value=action />
                {(action == "extend").then(|| view! {
                    <label for=until_id.clone() class="block text-sm font-medium">"Valid at least until"</label>
                    <input id=until_id.clone() name="until" type="date" required class=INPUT />
                })}
                <label for=reason_id.clone() class="block text-sm font-medium">"Reason (kept in the audit log)"</label>
                <textarea id=reason_id name="reason" required maxlength="500" class=INPUT></textarea>
                {match danger {
                    Some(consequence) => view! {
                        <ConfirmDanger id=format!("{form_id}-confirm") consequence=consequence.to_owned() button=label.to_owned() />
                    }.into_any(),
                    None => view! { <button type="submit" class=SMALL_BUTTON>{label}</button> }.into_any(),
                }}
            </form>
        }
    };
    let machines = license
        .activations
        .iter()
        .map(|m| view! { <li>{format!("{} ({}), last check-in {}", m.hostname, m.fingerprint, m.last_check_in_at)}</li> })
        .collect_view();
    view! {
        <article class="space-y-3 rounded-lg border border-slate-200 p-4" data-license=license.id.clone()>
            <h3 class="font-semibold">{format!("Licence {} — {}", license.key_hint, license.status)}</h3>
            <p class="text-sm text-slate-700">
                {format!(
                    "Issued {} ({}); expires {}; {} of {} machines; {}.",
                    license.issued_on,
                    license.source.to_lowercase(),
                    license.expires_on,
                    license.activations.len(),
                    license.max_activations,
                    if license.node_locked { "node-locked" } else { "floating" },
                )}
            </p>
            <ul class="text-sm">{machines}</ul>
            {(!revoked).then(|| view! {
                <div class="grid grid-cols-1 gap-3 lg:grid-cols-2">
                    {action_form("extend", "Extend", None)}
                    {if suspended_by_hand {
                        action_form("reinstate", "Reinstate", None)
                    } else {
                        action_form("suspend", "Suspend", Some("Its machines stop validating at their next check-in, until it is reinstated."))
                    }}
                    {action_form("revoke", "Revoke for good", Some("Its machines stop validating at their next check-in, for good: a revoked licence cannot be reinstated."))}
                </div>
            })}
        </article>
    }
}
