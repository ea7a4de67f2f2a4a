//! The console's server functions. Every one but the sign-in steps asks
//! for a fully signed-in admin first; every change writes its audit entry
//! in the change's own transaction.

// #[server] turns each function's parameters into the fields of a generated
// argument struct; parameters cannot carry doc comments, the functions do.
#![allow(missing_docs)]

use super::views::{AuditList, DashboardView, OrganizationDetail, OrganizationList};
use crate::error::AppError;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
use {
    super::db::{self, AuditEntry},
    super::domain::{self, RECOVERY_CODES},
    super::queries,
    super::session::{self, AdminScope, known_device},
    super::totp,
    crate::accounts::api::client_ip,
    crate::accounts::secrets::{token_hash, verify_password},
    crate::accounts::session::current_session,
    crate::context::app_context,
    crate::error::FormCheck,
    crate::security::{db::throttle, throttle as rates},
    uuid::Uuid,
};

/// What the enrolment page shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enrolment {
    /// The admin's email.
    pub email: String,
    /// The QR code, an SVG document.
    pub qr_svg: String,
    /// The secret in base32, to type in by hand.
    pub secret: String,
}

/// The password step of the admin sign-in. Wrong email and wrong password
/// get the same message; attempts are throttled per address and account.
#[server(prefix = "/api", endpoint = "admin_login")]
pub async fn admin_log_in(email: String, password: String) -> Result<(), AppError> {
    let context = app_context()?;
    let now = context.clock.now();
    let mut form = FormCheck::new();
    form.keep("email", &email);
    let email = email.trim().to_lowercase();
    // Every attempt is counted before it is checked (one statement each), so
    // simultaneous guesses spend the budgets instead of racing them.
    let ip = client_ip();
    throttle(
        &context.pool,
        now,
        &format!("admin_login:ip:{ip}"),
        rates::LOGIN_PER_IP,
    )
    .await?;
    throttle(
        &context.pool,
        now,
        &format!("admin_login:account:{email}:ip:{ip}"),
        rates::LOGIN_PER_ACCOUNT_AND_IP,
    )
    .await?;
    let credentials = db::admin_credentials(&context.pool, &email).await?;
    // The account-wide budget, which a campaign from many addresses can
    // spend, is not asked of a device the admin proved the second factor on.
    let known_device = match (&credentials, known_device::token()) {
        (Some(credentials), Some(token)) => {
            db::is_known_device(
                &context.pool,
                credentials.admin_id,
                &token_hash(&token),
                now - known_device::LIFETIME,
            )
            .await?
        }
        _ => false,
    };
    if !known_device {
        let failures = format!("admin_login:failures:{email}");
        throttle(&context.pool, now, &failures, rates::LOGIN_FAILURES_PER_ACCOUNT).await?;
    }
    let matches = verify_password(&password, credentials.as_ref().map(|c| c.password_hash.clone())).await;
    let Some(credentials) = credentials.filter(|_| matches) else {
        form.fail("password", "the email or password is incorrect");
        return Err(form.into_error());
    };
    let session = current_session().await?;
    session::start(&session, credentials.admin_id, credentials.auth_version, now).await?;
    let enrolled = db::admin_by_id(&context.pool, credentials.admin_id)
        .await?
        .is_some_and(|a| a.enrolled);
    crate::security::redirect::redirect(if enrolled {
        "/admin/verify"
    } else {
        "/admin/enroll"
    });
    Ok(())
}

/// The secret to enrol, as a QR code (the same one until confirmed).
#[server(prefix = "/api", endpoint = "admin_enrolment")]
pub async fn get_enrolment() -> Result<Enrolment, AppError> {
    let context = app_context()?;
    let pending = session::require_pending().await?;
    let secret = db::enrolment_secret(&context.pool, pending.admin_id, &totp::new_secret())
        .await?
        .ok_or_else(|| {
            AppError::Conflict("a second factor is already enrolled; sign in with it".to_owned())
        })?;
    let url = totp::otpauth_url(&secret, &pending.email).ok_or(AppError::Internal)?;
    Ok(Enrolment {
        email: pending.email,
        qr_svg: totp::qr_svg(&url).ok_or(AppError::Internal)?,
        secret: totp::secret_text(&secret),
    })
}

/// Confirms enrolment with a first code; makes the recovery codes, shown once.
#[server(prefix = "/api", endpoint = "admin_enrol")]
pub async fn admin_confirm_enrolment(code: String) -> Result<(), AppError> {
    let context = app_context()?;
    let now = context.clock.now();
    let pending = session::require_pending().await?;
    throttle(
        &context.pool,
        now,
        &format!("admin_code:{}", pending.admin_id),
        rates::LOGIN_FAILURES_PER_ACCOUNT,
    )
    .await?;
    let Some((secret, false)) = db::totp_secret(&context.pool, pending.admin_id).await? else {
        return Err(AppError::Conflict(
            "a second factor is already enrolled; sign in with it".to_owned(),
        ));
    };
    let Some(step) = totp::accepted_step(&secret, &pending.email, &code, now, None) else {
        return Err(AppError::field(
            "code",
            "that code is not the one your app shows now",
        ));
    };
    let codes: Vec<String> = (0..RECOVERY_CODES)
        .map(|_| {
            let mut random = [0u8; 10];
            rand::RngCore::fill_bytes(&mut rand::rng(), &mut random);
            domain::format_recovery_code(&random)
        })
        .collect();
    let hashes: Vec<Vec<u8>> = codes
        .iter()
        .map(|c| token_hash(&domain::normalise_code(c)))
        .collect();
    let mut tx = context.pool.begin().await?;
    if !db::use_totp_step(&mut tx, pending.admin_id, step).await?
        || !db::confirm_enrolment(&mut tx, pending.admin_id, &hashes, now).await?
    {
        return Err(AppError::field(
            "code",
            "that code was already used; wait for the next one",
        ));
    }
    db::audit(
        &mut *tx,
        &AuditEntry {
            at: now,
            admin_id: pending.admin_id,
            admin_email: &pending.email,
            action: "admin.enrol_second_factor",
            organization_id: None,
            reason: None,
            before: None,
            after: None,
            client_ip: &client_ip(),
        },
    )
    .await?;
    tx.commit().await?;
    remember_this_device(&context, pending.admin_id, now).await?;
    let session = current_session().await?;
    session::complete(&session, now).await?;
    session::keep_fresh_codes(&session, codes).await?;
    crate::security::redirect::redirect("/admin/recovery-codes");
    Ok(())
}

/// The second step of sign-in: a code from the app, or a recovery code.
#[server(prefix = "/api", endpoint = "admin_verify")]
pub async fn admin_verify(code: String) -> Result<(), AppError> {
    let context = app_context()?;
    let now = context.clock.now();
    let pending = session::require_pending().await?;
    // Counted before it is checked, in one statement: simultaneous guesses
    // spend the budget instead of all being checked against it.
    let attempts = format!("admin_code:{}", pending.admin_id);
    throttle(&context.pool, now, &attempts, rates::LOGIN_FAILURES_PER_ACCOUNT).await?;
    let Some((secret, true)) = db::totp_secret(&context.pool, pending.admin_id).await? else {
        crate::security::redirect::redirect("/admin/enroll");
        return Ok(());
    };
    let mut tx = context.pool.begin().await?;
    let method = if domain::looks_like_totp(&code) {
        let step = totp::accepted_step(&secret, &pending.email, &code, now, None);
        match step {
            Some(step) if db::use_totp_step(&mut tx, pending.admin_id, step).await? => "authenticator app",
            _ => "",
        }
    } else {
        let hash = token_hash(&domain::normalise_code(&code));
        if db::use_recovery_code(&mut tx, pending.admin_id, &hash, now).await? {
            "recovery code"
        } else {
            ""
        }
    };
    if method.is_empty() {
        drop(tx);
        return Err(AppError::field(
            "code",
            "that code is not valid (a code works once)",
        ));
    }
    db::audit(
        &mut *tx,
        &AuditEntry {
            at: now,
            admin_id: pending.admin_id,
            admin_email: &pending.email,
            action: "admin.sign_in",
            organization_id: None,
            reason: None,
            before: None,
            after: Some(serde_json::json!({ "second_factor": method })),
            client_ip: &client_ip(),
        },
    )
    .await?;
    tx.commit().await?;
    remember_this_device(&context, pending.admin_id, now).await?;
    let session = current_session().await?;
    session::complete(&session, now).await?;
    crate::security::redirect::redirect("/admin");
    Ok(())
}

/// Marks this browser as a device the admin proved the second factor on.
#[cfg(feature = "ssr")]
async fn remember_this_device(
    context: &crate::context::AppContext,
    admin_id: Uuid,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), AppError> {
    let token = known_device::new_token();
    db::remember_device(&context.pool, admin_id, &token_hash(&token), now).await?;
    known_device::set_cookie(&token);
    Ok(())
}

/// Ends the admin sign-in.
#[server(prefix = "/api", endpoint = "admin_logout")]
pub async fn admin_log_out() -> Result<(), AppError> {
    let session = current_session().await?;
    session::end(&session).await?;
    crate::security::redirect::redirect("/admin/login");
    Ok(())
}

/// The recovery codes just made, once.
#[server(prefix = "/api", endpoint = "admin_fresh_codes")]
pub async fn get_fresh_recovery_codes() -> Result<Vec<String>, AppError> {
    session::require_admin().await?;
    let session = current_session().await?;
    session::take_fresh_codes(&session).await
}

/// The dashboard.
#[server(prefix = "/api", endpoint = "admin_dashboard", input = server_fn::codec::GetUrl)]
pub async fn get_dashboard() -> Result<DashboardView, AppError> {
    let admin = session::require_admin().await?;
    let context = app_context()?;
    Ok(super::dashboard::dashboard(&context.pool, admin.email, context.clock.now()).await?)
}

#[cfg(feature = "ssr")]
fn optional(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

#[cfg(feature = "ssr")]
fn parse_id(field: &str, raw: &str) -> Result<Uuid, AppError> {
    Uuid::parse_str(raw.trim()).map_err(|_| AppError::field(field, "that is not an organisation id"))
}

/// A page of organisations.
#[server(prefix = "/api", endpoint = "admin_organizations", input = server_fn::codec::GetUrl)]
pub async fn list_organizations(
    q: Option<String>,
    tier: Option<String>,
    status: Option<String>,
    sort: Option<String>,
    after: Option<String>,
) -> Result<OrganizationList, AppError> {
    session::require_admin().await?;
    let context = app_context()?;
    let after = optional(after).map(|a| parse_id("after", &a)).transpose()?;
    let status = optional(status);
    if let Some(status) = &status
        && crate::billing::domain::SubscriptionStatus::parse(status).is_none()
    {
        return Err(AppError::field("status", "that is not a subscription status"));
    }
    let filter = queries::OrganizationFilter {
        search: optional(q).map(|q| q.chars().take(200).collect()),
        tier: optional(tier),
        status,
    };
    let order = queries::OrganizationOrder::parse(sort.as_deref());
    Ok(queries::organizations(&context.pool, &filter, order, after).await?)
}

/// One organisation in full.
#[server(prefix = "/api", endpoint = "admin_organization", input = server_fn::codec::GetUrl)]
pub async fn get_organization(id: String) -> Result<OrganizationDetail, AppError> {
    session::require_admin().await?;
    let context = app_context()?;
    let id = Uuid::parse_str(id.trim()).map_err(|_| AppError::NotFound)?;
    queries::organization_detail(&context.pool, id)
        .await?
        .ok_or(AppError::NotFound)
}

#[cfg(feature = "ssr")]
pub(super) fn checked_reason(raw: &str) -> Result<String, AppError> {
    domain::parse_reason(raw).map_err(|e| AppError::field("reason", e.to_string()))
}

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

/// The audit log, filtered.
#[server(prefix = "/api", endpoint = "admin_audit", input = server_fn::codec::GetUrl)]
pub async fn list_audit(
    admin: Option<String>,
    organization: Option<String>,
    action: Option<String>,
    from: Option<String>,
    to: Option<String>,
    before: Option<String>,
) -> Result<AuditList, AppError> {
    session::require_admin().await?;
    let context = app_context()?;
    let day = |field: &str, raw: Option<String>| -> Result<Option<chrono::DateTime<chrono::Utc>>, AppError> {
        optional(raw)
            .map(|raw| {
                crate::input::parse_day(&raw)
                    .map(|d| d.and_time(chrono::NaiveTime::MIN).and_utc())
                    .ok_or_else(|| AppError::field(field, "give a date as YYYY-MM-DD, from 1970 to 9999"))
            })
            .transpose()
    };
    let filter = queries::AuditFilter {
        admin_email: optional(admin),
        organization_id: optional(organization)
            .map(|o| parse_id("organization", &o))
            .transpose()?,
        action: optional(action),
        from: day("from", from)?,
        // The `to` day is included: entries before the next midnight.
        to: day("to", to)?.map(|t| t + chrono::TimeDelta::days(1)),
        before: optional(before)
            .map(|b| {
                b.parse::<i64>()
                    .map_err(|_| AppError::field("before", "not a page of the audit log"))
            })
            .transpose()?,
        limit: 50,
    };
    Ok(queries::audit_entries(&context.pool, &filter).await?)
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
