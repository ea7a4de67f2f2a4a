//! The console's sign-in steps: password, second-factor enrolment and
//! verification (a remembered device skips it), sign-out, and the recovery
//! codes shown once.

#![allow(missing_docs)]

use crate::error::AppError;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
use {
    super::rules::{self, RECOVERY_CODES},
    super::{db, session, session::known_device, totp},
    crate::accounts::api::{client_ip, throttle_client},
    crate::accounts::secrets::{token_hash, verify_password},
    crate::accounts::session::current_session,
    crate::admin::audited::{AuditEntry, audit},
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
    throttle_client(&context, "admin_login", rates::LOGIN_PER_IP).await?;
    throttle_client(
        &context,
        &format!("admin_login:account:{email}"),
        rates::LOGIN_PER_ACCOUNT_AND_IP,
    )
    .await?;
    let credentials = db::admin_credentials(&context.pool, &email).await?;
    // The account-wide budget, which a campaign from many addresses can
    // spend, is not asked of a device the admin proved the second factor on.
    if !on_known_device(&context, credentials.as_ref().map(|c| c.admin_id)).await? {
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
    let admin = db::admin_by_id(&context.pool, credentials.admin_id).await?;
    let enrolled = admin.is_some_and(|a| a.enrolled);
    crate::security::redirect::redirect(if enrolled {
        "/admin/verify"
    } else {
        "/admin/enroll"
    });
    Ok(())
}

/// Whether this browser carries a device token `admin_id` proved the second
/// factor on within its lifetime.
#[cfg(feature = "ssr")]
async fn on_known_device(
    context: &crate::context::AppContext,
    admin_id: Option<Uuid>,
) -> Result<bool, AppError> {
    let (Some(admin_id), Some(token)) = (admin_id, known_device::token()) else {
        return Ok(false);
    };
    let since = context.clock.now() - known_device::LIFETIME;
    Ok(db::is_known_device(&context.pool, admin_id, &token_hash(&token), since).await?)
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
    let attempts = format!("admin_code:{}", pending.admin_id);
    throttle(&context.pool, now, &attempts, rates::LOGIN_FAILURES_PER_ACCOUNT).await?;
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
    let (codes, hashes) = fresh_recovery_codes();
    let mut tx = context.pool.begin().await?;
    if !db::use_totp_step(&mut tx, pending.admin_id, step).await?
        || !db::confirm_enrolment(&mut tx, pending.admin_id, &hashes, now).await?
    {
        return Err(AppError::field(
            "code",
            "that code was already used; wait for the next one",
        ));
    }
    second_factor_proved(tx, &context, &pending, "admin.enrol_second_factor", None).await?;
    session::keep_fresh_codes(&current_session().await?, codes).await?;
    crate::security::redirect::redirect("/admin/recovery-codes");
    Ok(())
}

/// New recovery codes, as shown once, and their hashes, as stored.
#[cfg(feature = "ssr")]
fn fresh_recovery_codes() -> (Vec<String>, Vec<Vec<u8>>) {
    let codes: Vec<String> = (0..RECOVERY_CODES)
        .map(|_| {
            let mut random = [0u8; 10];
            rand::RngCore::fill_bytes(&mut rand::rng(), &mut random);
            rules::format_recovery_code(&random)
        })
        .collect();
    let hashes = codes
        .iter()
        .map(|c| token_hash(&rules::normalise_code(c)))
        .collect();
    (codes, hashes)
}

/// The end of a second-factor step: its audit entry committed with what
/// the step wrote in `tx`, this browser remembered, the session complete.
#[cfg(feature = "ssr")]
async fn second_factor_proved(
    mut tx: sqlx::Transaction<'static, sqlx::Postgres>,
    context: &crate::context::AppContext,
    pending: &session::PendingAdmin,
    action: &str,
    after: Option<serde_json::Value>,
) -> Result<(), AppError> {
    let now = context.clock.now();
    let client_ip = client_ip();
    let entry = AuditEntry {
        at: now,
        admin_id: pending.admin_id,
        admin_email: &pending.email,
        action,
        organization_id: None,
        reason: None,
        before: None,
        after,
        client_ip: &client_ip,
    };
    audit(&mut *tx, &entry).await?;
    tx.commit().await?;
    remember_this_device(context, pending.admin_id, now).await?;
    session::complete(&current_session().await?, now).await?;
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
    let Some(method) = use_second_factor(&mut tx, &pending, &secret, &code, now).await? else {
        return Err(AppError::field(
            "code",
            "that code is not valid (a code works once)",
        ));
    };
    let after = serde_json::json!({ "second_factor": method });
    second_factor_proved(tx, &context, &pending, "admin.sign_in", Some(after)).await?;
    crate::security::redirect::redirect("/admin");
    Ok(())
}

/// Uses `code` up, a code from the app or a recovery code, and says which;
/// `None` when it is neither (or was used before).
#[cfg(feature = "ssr")]
async fn use_second_factor(
    conn: &mut sqlx::PgConnection,
    pending: &session::PendingAdmin,
    secret: &[u8],
    code: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Option<&'static str>, AppError> {
    if rules::looks_like_totp(code) {
        let step = totp::accepted_step(secret, &pending.email, code, now, None);
        let used = match step {
            Some(step) => db::use_totp_step(conn, pending.admin_id, step).await?,
            None => false,
        };
        return Ok(used.then_some("authenticator app"));
    }
    let hash = token_hash(&rules::normalise_code(code));
    let used = db::use_recovery_code(conn, pending.admin_id, &hash, now).await?;
    Ok(used.then_some("recovery code"))
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
