//! The console's audited actions on an organisation: extend its trial,
//! suspend or reactivate it, see its portal as its owner, and grant or
//! remove an entitlement override. Each writes its audit entry in the
//! change's own transaction.

#![allow(missing_docs)]

use crate::error::AppError;
use leptos::prelude::*;

#[cfg(feature = "ssr")]
use {
    super::rules,
    crate::accounts::api::client_ip,
    crate::accounts::session::current_session,
    crate::admin::audited::checked_reason,
    crate::admin::audited::{Audit, AuditEntry, AuditedAction},
    crate::context::app_context,
    serde_json::json,
    uuid::Uuid,
};

/// Extends an organisation's card-free trial by 1–90 days, with a reason.
#[server(prefix = "/api", endpoint = "admin_extend_trial")]
pub async fn extend_trial(organization_id: String, days: String, reason: String) -> Result<(), AppError> {
    let mut action = AuditedAction::begin().await?;
    let id = AppError::parse_id("organization_id", &organization_id)?;
    let days = rules::parse_trial_days(&days).map_err(|e| AppError::field("days", e.to_string()))?;
    let reason = checked_reason(&reason)?;
    let cause = format!(
        "admin:{}:extend_trial:{}",
        action.admin.admin_id,
        action.now.timestamp_micros()
    );
    let extended = crate::flows::trials::extend(action.tx.get().await?, id, days, &cause, action.now).await?;
    let Some(extension) = extended else {
        return Err(AppError::Conflict(
            "this organisation has no card-free trial to extend; a provider's trial is extended at the provider"
                .to_owned(),
        ));
    };
    let audit = Audit::of("trial.extend").on(id).because(reason);
    let audit = audit
        .before(json!({ "status": extension.status_before, "trial_end": extension.trial_end_before }))
        .after(json!({ "status": crate::billing::domain::SubscriptionStatus::Trialing.as_str(), "trial_end": extension.trial_end_after, "days": days }));
    action
        .commit(audit, &format!("/admin/organizations/{id}?done=trial"))
        .await
}

/// Tells the organisation's billing contacts it was suspended (with the
/// reason) or reactivated, in the change's transaction; once per change.
#[cfg(feature = "ssr")]
async fn tell_suspension(
    conn: &mut sqlx::PgConnection,
    context: &crate::context::AppContext,
    organization_id: uuid::Uuid,
    suspended: bool,
    reason: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), AppError> {
    let name = crate::accounts::db::organization_name(&mut *conn, organization_id).await?;
    let brand = &crate::email::templates::brand()?;
    let message = if suspended {
        crate::email::templates::suspended(brand, &name, reason, &format!("{}/app", context.public_url))
    } else {
        crate::email::templates::reactivated(brand, &name, &format!("{}/app", context.public_url))
    };
    let cause = format!(
        "{}:{organization_id}:{}",
        message.template,
        now.timestamp_micros()
    );
    crate::accounts::contacts::email_billing_contacts(conn, organization_id, &message, &cause, now).await?;
    Ok(())
}

/// Suspends an organisation (its portal and API turn read-only), or lifts it.
#[server(prefix = "/api", endpoint = "admin_suspension")]
pub async fn set_suspension(
    organization_id: String,
    suspend: String,
    reason: String,
    confirm: Option<String>,
) -> Result<(), AppError> {
    let mut action = AuditedAction::begin().await?;
    let id = AppError::parse_id("organization_id", &organization_id)?;
    let suspend = crate::input::parse_flag(&suspend)
        .ok_or_else(|| AppError::field("suspend", "say whether to suspend or reactivate"))?;
    // Suspending cuts every member off; reactivating only gives back.
    if suspend {
        crate::ui::danger::confirmed(confirm.as_deref())?;
    }
    let reason = checked_reason(&reason)?;
    let now = action.now;
    let tx = action.tx.get().await?;
    let before = crate::accounts::db::set_suspension(tx, id, suspend.then_some(reason.as_str()), now)
        .await?
        .ok_or(AppError::NotFound)?;
    let (word, already) = match suspend {
        true => ("organization.suspend", "the organisation is already suspended"),
        false => ("organization.reactivate", "the organisation is not suspended"),
    };
    if before == suspend {
        return Err(AppError::Conflict(already.to_owned()));
    }
    crate::outbound::events::subscription_changed(tx, id, now).await?;
    tell_suspension(tx, &action.context, id, suspend, &reason, now).await?;
    let audit = Audit::of(word).on(id).because(reason);
    let audit = audit
        .before(json!({ "suspended": before }))
        .after(json!({ "suspended": suspend }));
    action
        .commit(audit, &format!("/admin/organizations/{id}?done=suspension"))
        .await
}

/// Sees the portal as the organisation's owner, with a reason; every request
/// until the exit (or 30 minutes) is audited, and billing and security
/// actions are refused meanwhile.
#[server(prefix = "/api", endpoint = "admin_impersonate")]
pub async fn impersonate(organization_id: String, reason: String) -> Result<(), AppError> {
    let mut action = AuditedAction::begin().await?;
    let id = AppError::parse_id("organization_id", &organization_id)?;
    let reason = checked_reason(&reason)?;
    let owner = crate::accounts::db::owner_of(&mut **action.tx.get().await?, id)
        .await?
        .ok_or_else(|| {
            AppError::Conflict("this organisation has no owner to see the portal as".to_owned())
        })?;
    let impersonation = crate::accounts::session::Impersonation {
        admin_id: action.admin.admin_id,
        admin_email: action.admin.email.clone(),
        user_id: owner,
        organization_id: id,
        started_at: action.now,
    };
    let audit = Audit::of("impersonation.start").on(id).because(reason);
    action
        .commit(audit.after(json!({ "as_user": owner.to_string() })), "/app")
        .await?;
    crate::accounts::session::start_impersonation(&current_session().await?, impersonation).await?;
    Ok(())
}

/// Ends an impersonation and returns to the organisation in the console.
/// Not an `AuditedAction`: the session is the organisation's owner's
/// until this ends it, and the entry names the admin the impersonation
/// recorded.
#[server(prefix = "/api", endpoint = "admin_stop_impersonating")]
pub async fn stop_impersonating() -> Result<(), AppError> {
    let context = app_context()?;
    let now = context.clock.now();
    let session = current_session().await?;
    let Some(ended) = crate::accounts::session::end_impersonation(&session).await? else {
        crate::security::redirect::redirect("/admin");
        return Ok(());
    };
    crate::admin::audited::audit(
        &context.pool,
        &AuditEntry {
            at: now,
            admin_id: ended.admin_id,
            admin_email: &ended.admin_email,
            action: "impersonation.end",
            organization_id: Some(ended.organization_id),
            reason: None,
            before: None,
            after: Some(serde_json::json!({ "minutes": (now - ended.started_at).num_minutes() })),
            client_ip: &client_ip(),
        },
    )
    .await?;
    crate::security::redirect::redirect(&format!("/admin/organizations/{}", ended.organization_id));
    Ok(())
}

/// Adds an entitlement override (a feature on or off, a limit, or the
/// tier), with an optional expiry and a reason; the host product hears of
/// the change as `entitlements.updated`.
#[server(prefix = "/api", endpoint = "admin_add_override")]
pub async fn add_override(
    organization_id: String,
    kind: String,
    key: String,
    value: String,
    expires: String,
    reason: String,
) -> Result<(), AppError> {
    let mut action = AuditedAction::begin().await?;
    let now = action.now;
    let id = AppError::parse_id("organization_id", &organization_id)?;
    let reason = checked_reason(&reason)?;
    let catalog = crate::catalog::cache::catalog_cache()?
        .get(&action.context.pool)
        .await?;
    let input = rules::parse_override(&kind, &key, &value, &rules::KnownKeys::of(&catalog))
        .map_err(|e| AppError::field(e.field(), e.to_string()))?;
    let expires_at =
        rules::parse_expiry(&expires, now).map_err(|e| AppError::field("expires", e.to_string()))?;
    let added = crate::entitlements::overrides::add_override(
        action.tx.get().await?,
        id,
        &input,
        expires_at,
        &reason,
        &action.admin.email,
        now,
    );
    let override_id = added.await?.ok_or(AppError::NotFound)?;
    crate::outbound::events::subscription_changed(action.tx.get().await?, id, now).await?;
    let audit = Audit::of("override.add").on(id).because(reason).after(json!({
        "override": override_id.to_string(), "kind": kind, "key": key.trim(), "value": value.trim(),
        "expires_at": expires_at,
    }));
    action
        .commit(audit, &format!("/admin/organizations/{id}?done=override"))
        .await
}

/// Ends an override early, with a reason (the row stays, marked removed).
#[server(prefix = "/api", endpoint = "admin_remove_override")]
pub async fn remove_override(
    organization_id: String,
    override_id: String,
    reason: String,
    confirm: Option<String>,
) -> Result<(), AppError> {
    let mut action = AuditedAction::begin().await?;
    crate::ui::danger::confirmed(confirm.as_deref())?;
    let id = AppError::parse_id("organization_id", &organization_id)?;
    let override_id = Uuid::parse_str(override_id.trim()).map_err(|_| AppError::NotFound)?;
    let reason = checked_reason(&reason)?;
    let removed =
        crate::entitlements::overrides::remove_override(action.tx.get().await?, id, override_id, action.now)
            .await?
            .ok_or(AppError::NotFound)?;
    crate::outbound::events::subscription_changed(action.tx.get().await?, id, action.now).await?;
    let audit = Audit::of("override.remove")
        .on(id)
        .because(reason)
        .before(removed);
    action
        .commit(audit, &format!("/admin/organizations/{id}?done=override"))
        .await
}
