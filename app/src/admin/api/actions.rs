//! The console's audited actions on an organisation: extend its trial,
//! suspend or reactivate it, see its portal as its owner, and grant or
//! remove an entitlement override. Each writes its audit entry in the
//! change's own transaction.

#![allow(missing_docs)]

use super::*;

#[cfg(feature = "ssr")]
fn entry<'a>(
    admin: &'a AdminScope,
    now: chrono::DateTime<chrono::Utc>,
    ip: &'a str,
    action: &'a str,
    organization_id: Uuid,
    reason: &'a str,
) -> AuditEntry<'a> {
    AuditEntry {
        at: now,
        admin_id: admin.admin_id,
        admin_email: &admin.email,
        action,
        organization_id: Some(organization_id),
        reason: Some(reason),
        before: None,
        after: None,
        client_ip: ip,
    }
}

/// Extends an organisation's card-free trial by 1–90 days, with a reason.
#[server(prefix = "/api", endpoint = "admin_extend_trial")]
pub async fn extend_trial(organization_id: String, days: String, reason: String) -> Result<(), AppError> {
    let admin = session::require_admin().await?;
    let context = app_context()?;
    let now = context.clock.now();
    let id = parse_id("organization_id", &organization_id)?;
    let days = domain::parse_trial_days(&days).map_err(|e| AppError::field("days", e.to_string()))?;
    let reason = checked_reason(&reason)?;
    let mut tx = context.pool.begin().await?;
    let cause = format!("admin:{}:extend_trial:{}", admin.admin_id, now.timestamp_micros());
    let Some(extension) = crate::flows::trials::extend(&mut tx, id, days, &cause, now).await? else {
        return Err(AppError::Conflict(
            "this organisation has no card-free trial to extend; a provider's trial is extended at the provider"
                .to_owned(),
        ));
    };
    let ip = client_ip();
    let mut audit = entry(&admin, now, &ip, "trial.extend", id, &reason);
    audit.before = Some(serde_json::json!({
        "status": extension.status_before, "trial_end": extension.trial_end_before
    }));
    audit.after = Some(
        serde_json::json!({ "status": "trialing", "trial_end": extension.trial_end_after, "days": days }),
    );
    db::audit(&mut *tx, &audit).await?;
    tx.commit().await?;
    crate::security::redirect::redirect(&format!("/admin/organizations/{id}?done=trial"));
    Ok(())
}

/// Tells the organisation's billing contacts it was suspended (with the
/// reason) or reactivated, in the change's transaction; once per change.
#[cfg(feature = "ssr")]
async fn tell_suspension(
    conn: &mut sqlx::PgConnection,
    context: &crate::context::AppContext,
    brand: &crate::email::templates::Brand,
    organization_id: uuid::Uuid,
    suspended: bool,
    reason: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), sqlx::Error> {
    // language=PostgreSQL
    let name = sqlx::query_scalar!(
        "select name from organization where organization_id = $1",
        organization_id
    )
    .fetch_one(&mut *conn)
    .await?;
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
    let admin = session::require_admin().await?;
    let context = app_context()?;
    let now = context.clock.now();
    let id = parse_id("organization_id", &organization_id)?;
    let suspend = match suspend.as_str() {
        "true" => true,
        "false" => false,
        _ => return Err(AppError::field("suspend", "say whether to suspend or reactivate")),
    };
    // Suspending cuts every member off; reactivating only gives back.
    if suspend {
        crate::ui::danger::confirmed(confirm.as_deref())?;
    }
    let reason = checked_reason(&reason)?;
    let mut tx = context.pool.begin().await?;
    let before = super::db::set_suspension(&mut tx, id, suspend.then_some(reason.as_str()), now)
        .await?
        .ok_or(AppError::NotFound)?;
    if before == suspend {
        return Err(AppError::Conflict(
            if suspend {
                "the organisation is already suspended"
            } else {
                "the organisation is not suspended"
            }
            .to_owned(),
        ));
    }
    crate::outbound::events::subscription_changed(&mut tx, id, now).await?;
    let brand = crate::email::templates::brand()?;
    tell_suspension(&mut tx, &context, &brand, id, suspend, &reason, now).await?;
    let ip = client_ip();
    let action = if suspend {
        "organization.suspend"
    } else {
        "organization.reactivate"
    };
    let mut audit = entry(&admin, now, &ip, action, id, &reason);
    audit.before = Some(serde_json::json!({ "suspended": before }));
    audit.after = Some(serde_json::json!({ "suspended": suspend }));
    db::audit(&mut *tx, &audit).await?;
    tx.commit().await?;
    crate::security::redirect::redirect(&format!("/admin/organizations/{id}?done=suspension"));
    Ok(())
}

/// Sees the portal as the organisation's owner, with a reason; every request
/// until the exit (or 30 minutes) is audited, and billing and security
/// actions are refused meanwhile.
#[server(prefix = "/api", endpoint = "admin_impersonate")]
pub async fn impersonate(organization_id: String, reason: String) -> Result<(), AppError> {
    let admin = session::require_admin().await?;
    let context = app_context()?;
    let now = context.clock.now();
    let id = parse_id("organization_id", &organization_id)?;
    let reason = checked_reason(&reason)?;
    let owner = db::owner_of(&context.pool, id).await?.ok_or_else(|| {
        AppError::Conflict("this organisation has no owner to see the portal as".to_owned())
    })?;
    let ip = client_ip();
    let mut audit = entry(&admin, now, &ip, "impersonation.start", id, &reason);
    audit.after = Some(serde_json::json!({ "as_user": owner.to_string() }));
    db::audit(&context.pool, &audit).await?;
    let session = current_session().await?;
    crate::accounts::session::start_impersonation(
        &session,
        crate::accounts::session::Impersonation {
            admin_id: admin.admin_id,
            admin_email: admin.email.clone(),
            user_id: owner,
            organization_id: id,
            started_at: now,
        },
    )
    .await?;
    crate::security::redirect::redirect("/app");
    Ok(())
}

/// Ends an impersonation and returns to the organisation in the console.
#[server(prefix = "/api", endpoint = "admin_stop_impersonating")]
pub async fn stop_impersonating() -> Result<(), AppError> {
    let context = app_context()?;
    let now = context.clock.now();
    let session = current_session().await?;
    let Some(ended) = crate::accounts::session::end_impersonation(&session).await? else {
        crate::security::redirect::redirect("/admin");
        return Ok(());
    };
    db::audit(
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
    let admin = session::require_admin().await?;
    let context = app_context()?;
    let catalog_cache = crate::catalog::cache::catalog_cache()?;
    let now = context.clock.now();
    let id = parse_id("organization_id", &organization_id)?;
    let reason = checked_reason(&reason)?;
    let catalog = catalog_cache.get(&context.pool).await?;
    let known = domain::KnownKeys {
        features: catalog.features().map(|f| f.key.as_str()).collect(),
        metrics: catalog.metrics.iter().map(|m| m.key.as_str()).collect(),
        tiers: catalog.tiers.iter().map(|t| t.key.as_str()).collect(),
    };
    let input = domain::parse_override(&kind, &key, &value, &known).map_err(|e| {
        let field = match e {
            domain::OverrideError::Kind => "kind",
            domain::OverrideError::UnknownKey(_) => "key",
            _ => "value",
        };
        AppError::field(field, e.to_string())
    })?;
    let expires_at =
        domain::parse_expiry(&expires, now).map_err(|e| AppError::field("expires", e.to_string()))?;
    let mut tx = context.pool.begin().await?;
    let override_id = db::add_override(&mut tx, id, &input, expires_at, &reason, &admin.email, now)
        .await?
        .ok_or(AppError::NotFound)?;
    crate::outbound::events::subscription_changed(&mut tx, id, now).await?;
    let ip = client_ip();
    let mut audit = entry(&admin, now, &ip, "override.add", id, &reason);
    audit.after = Some(serde_json::json!({
        "override": override_id.to_string(), "kind": kind, "key": key.trim(), "value": value.trim(),
        "expires_at": expires_at,
    }));
    db::audit(&mut *tx, &audit).await?;
    tx.commit().await?;
    crate::security::redirect::redirect(&format!("/admin/organizations/{id}?done=override"));
    Ok(())
}

/// Ends an override early, with a reason (the row stays, marked removed).
#[server(prefix = "/api", endpoint = "admin_remove_override")]
pub async fn remove_override(
    organization_id: String,
    override_id: String,
    reason: String,
    confirm: Option<String>,
) -> Result<(), AppError> {
    let admin = session::require_admin().await?;
    crate::ui::danger::confirmed(confirm.as_deref())?;
    let context = app_context()?;
    let now = context.clock.now();
    let id = parse_id("organization_id", &organization_id)?;
    let override_id = Uuid::parse_str(override_id.trim()).map_err(|_| AppError::NotFound)?;
    let reason = checked_reason(&reason)?;
    let mut tx = context.pool.begin().await?;
    let removed = db::remove_override(&mut tx, id, override_id, now)
        .await?
        .ok_or(AppError::NotFound)?;
    crate::outbound::events::subscription_changed(&mut tx, id, now).await?;
    let ip = client_ip();
    let mut audit = entry(&admin, now, &ip, "override.remove", id, &reason);
    audit.before = Some(removed);
    db::audit(&mut *tx, &audit).await?;
    tx.commit().await?;
    crate::security::redirect::redirect(&format!("/admin/organizations/{id}?done=override"));
    Ok(())
}
