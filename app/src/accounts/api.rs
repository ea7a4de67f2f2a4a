//! Account server functions. Each is a public endpoint: it parses its input
//! into domain types, throttles where guessing is possible, and answers a
//! plain form post with a redirect (errors go back to the form's page).

// #[server] turns each function's parameters into the fields of a generated
// argument struct; parameters cannot carry doc comments, the functions do.
#![allow(missing_docs)]

use crate::error::AppError;
use leptos::prelude::*;

#[cfg(feature = "ssr")]
use {
    super::db::{self, TokenPurpose},
    super::domain::{EmailAddress, Password},
    super::secrets::{hash_password, token_hash, verify_password},
    super::{session, tokens},
    crate::context::app_context,
    crate::error::FormCheck,
    crate::security::{
        db::{clear_throttle, throttle},
        throttle as rates,
    },
};

/// Where a successful sign-in may send the user: a path on this site as a
/// browser would read it (see [`crate::security::local_path`]), else `/app`.
pub fn safe_next(next: Option<&str>) -> String {
    next.and_then(crate::security::local_path::local_path)
        .unwrap_or_else(|| "/app".to_owned())
}

/// Signs in. Wrong email and wrong password get the same message in the same
/// time; attempts are throttled per account and per client address.
#[server(prefix = "/api", endpoint = "login")]
pub async fn log_in(email: String, password: String, next: Option<String>) -> Result<(), AppError> {
    let context = app_context()?;
    let now = context.clock.now();
    let mut form = FormCheck::new();
    form.keep("email", &email);
    if let Some(next) = &next {
        form.keep("next", next);
    }
    let Some(email) = form.check("email", EmailAddress::parse(&email)) else {
        return Err(form.into_error());
    };
    throttle_client(&context, "login", rates::LOGIN_PER_IP).await?;
    throttle_client(
        &context,
        &format!("login:account:{email}"),
        rates::LOGIN_PER_ACCOUNT_AND_IP,
    )
    .await?;
    let failures = login_failures_bucket(email.as_str());
    // Counted before the password is checked (one statement), so that
    // simultaneous guesses spend the budget instead of racing it.
    throttle(&context.pool, now, &failures, rates::LOGIN_FAILURES_PER_ACCOUNT).await?;
    let credentials = db::credentials(&context.pool, &email).await?;
    // Runs against a decoy hash when there is no account: same time either way.
    let password_matches =
        verify_password(&password, credentials.as_ref().map(|c| c.password_hash.clone())).await;
    let Some(credentials) = credentials.filter(|_| password_matches) else {
        form.fail("password", "the email or password is incorrect");
        return Err(form.into_error());
    };
    let organization_id = db::default_organization(&context.pool, credentials.user_id).await?;
    let session = session::current_session().await?;
    let (user_id, auth_version) = (credentials.user_id, credentials.auth_version);
    session::sign_in(&session, user_id, organization_id, auth_version, now).await?;
    crate::security::redirect::redirect(&safe_next(next.as_deref()));
    Ok(())
}

/// Ends the session.
#[server(prefix = "/api", endpoint = "logout")]
pub async fn log_out() -> Result<(), AppError> {
    let session = session::current_session().await?;
    session::sign_out(&session).await?;
    crate::security::redirect::redirect("/");
    Ok(())
}

/// Confirms an email address with the emailed token. A form post, not a
/// GET, so link scanners in mail clients cannot use the token up.
#[server(prefix = "/api", endpoint = "verify_email")]
pub async fn verify_email(token: String) -> Result<(), AppError> {
    const USED: &str =
        "this confirmation link has expired or was already used; sign in and ask for a new one";
    let context = app_context()?;
    let mut tx = context.pool.begin().await?;
    if !tokens::verify_email(&mut tx, &token_hash(&token), context.clock.now()).await? {
        return Err(AppError::field("token", USED));
    }
    tx.commit().await?;
    let back = match session::maybe_user().await? {
        Some(_) => "/app?verified=1",
        None => "/login?verified=1",
    };
    crate::security::redirect::redirect(back);
    Ok(())
}

/// Sends a new confirmation email (throttled).
#[server(prefix = "/api", endpoint = "resend_verification")]
pub async fn resend_verification() -> Result<(), AppError> {
    let context = app_context()?;
    let now = context.clock.now();
    let user = session::require_user().await?;
    if user.email_verified {
        return Err(AppError::Conflict("your email is already confirmed".into()));
    }
    let bucket = format!("verify:user:{}", user.user_id);
    throttle(&context.pool, now, &bucket, rates::RESEND_VERIFICATION).await?;
    let brand = crate::email::templates::brand()?;
    let mut tx = context.pool.begin().await?;
    tokens::send_verification(
        &mut tx,
        (&brand, &context.public_url),
        user.user_id,
        &user.email,
        now,
    )
    .await?;
    tx.commit().await?;
    crate::security::redirect::redirect("/app?resent=1");
    Ok(())
}

/// Emails a reset link if the account exists; answers the same either way.
#[server(prefix = "/api", endpoint = "forgot_password")]
pub async fn forgot_password(email: String) -> Result<(), AppError> {
    let context = app_context()?;
    let now = context.clock.now();
    let mut form = FormCheck::new();
    form.keep("email", &email);
    let Some(email) = form.check("email", EmailAddress::parse(&email)) else {
        return Err(form.into_error());
    };
    throttle_client(&context, "reset", rates::RESET_PER_IP).await?;
    throttle(
        &context.pool,
        now,
        &format!("reset:account:{email}"),
        rates::RESET_PER_ACCOUNT,
    )
    .await?;
    let brand = crate::email::templates::brand()?;
    let mut tx = context.pool.begin().await?;
    tokens::send_reset_link(&mut tx, (&brand, &context.public_url), &email, now).await?;
    tx.commit().await?;
    crate::security::redirect::redirect("/forgot-password?sent=1");
    Ok(())
}

/// Sets a new password with an emailed token, ends every other session and
/// signs in. The token is checked before the (deliberately slow) password
/// hash, and attempts are throttled per client address, so bogus tokens
/// cost nothing.
#[server(prefix = "/api", endpoint = "reset_password")]
pub async fn reset_password(token: String, password: String) -> Result<(), AppError> {
    let context = app_context()?;
    let now = context.clock.now();
    throttle_client(&context, "password-token", rates::PASSWORD_TOKEN_PER_IP).await?;
    let mut form = FormCheck::new();
    let Some(password) = form.check("password", Password::parse(&password)) else {
        return Err(form.into_error());
    };
    let token_hash = token_hash(&token);
    let expired = || {
        AppError::field(
            "token",
            "this reset link has expired or was already used; ask for a new one",
        )
    };
    if !db::token_is_open(&context.pool, TokenPurpose::ResetPassword, &token_hash, now).await? {
        return Err(expired());
    }
    let password_hash = hash_password(&password).await?;
    let mut tx = context.pool.begin().await?;
    let reset = tokens::reset_password(&mut tx, &token_hash, &password_hash, now).await?;
    let reset = reset.ok_or_else(expired)?;
    tx.commit().await?;
    // The owner proved themselves: failed guesses by others stop counting.
    if let Some(email) = &reset.email {
        clear_throttle(&context.pool, &login_failures_bucket(email)).await?;
    }
    let session = session::current_session().await?;
    session::sign_in(
        &session,
        reset.user_id,
        reset.organization_id,
        reset.auth_version,
        now,
    )
    .await?;
    crate::security::redirect::redirect("/app?password_reset=1");
    Ok(())
}

/// The bucket of an account's failed sign-ins from every address.
#[cfg(feature = "ssr")]
fn login_failures_bucket(email: &str) -> String {
    format!("login-failures:account:{email}")
}

/// Changes the password; every other session of the user ends.
#[server(prefix = "/api", endpoint = "change_password")]
pub async fn change_password(current_password: String, new_password: String) -> Result<(), AppError> {
    let context = app_context()?;
    let now = context.clock.now();
    let user = session::require_user().await?;
    user.refuse_while_impersonated()?;
    let bucket = format!("password-change:user:{}", user.user_id);
    throttle(&context.pool, now, &bucket, rates::PASSWORD_CHANGE_PER_USER).await?;
    let mut form = FormCheck::new();
    let new_password = form.check("new_password", Password::parse(&new_password));
    let email = EmailAddress::parse(&user.email).map_err(|_| AppError::Internal)?;
    let stored = db::credentials(&context.pool, &email)
        .await?
        .map(|c| c.password_hash);
    let current_matches = verify_password(&current_password, stored).await;
    if !current_matches {
        form.fail("current_password", "that is not your current password");
    }
    let (Some(new_password), true) = (new_password, current_matches) else {
        return Err(form.into_error());
    };
    let password_hash = hash_password(&new_password).await?;
    let mut tx = context.pool.begin().await?;
    let auth_version = db::set_password(&mut tx, user.user_id, &password_hash, now).await?;
    tx.commit().await?;
    let session = session::current_session().await?;
    session::refresh_auth_version(&session, auth_version).await?;
    crate::security::redirect::redirect("/app/account?changed=1");
    Ok(())
}

/// Counts one request against the caller's address in the `what` bucket
/// (`{what}:ip:{address}`), or refuses with [`AppError::TooManyRequests`].
#[cfg(feature = "ssr")]
pub async fn throttle_client(
    context: &crate::context::AppContext,
    what: &str,
    rate: crate::security::throttle::Rate,
) -> Result<(), AppError> {
    let bucket = format!("{what}:ip:{}", client_ip());
    crate::security::db::throttle(&context.pool, context.clock.now(), &bucket, rate).await
}

/// The caller's address, for per-client throttles. Behind a proxy that sets
/// `X-Forwarded-For`, that header is trusted only when configured to be.
#[cfg(feature = "ssr")]
pub fn client_ip() -> String {
    use std::net::SocketAddr;
    let trust_proxy = app_context().map(|c| c.trust_forwarded_for).unwrap_or(false);
    crate::context::with_context_held(|parts: &http::request::Parts| {
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<SocketAddr>>()
            .map(|info| info.0.ip());
        crate::security::client::client_address(&parts.headers, peer, trust_proxy)
    })
    .unwrap_or_else(|| "unknown".into())
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn only_local_paths_are_followed_after_sign_in() {
        assert_eq!(safe_next(Some("/app/team")), "/app/team");
        assert_eq!(safe_next(Some("/invite?token=x")), "/invite?token=x");
        for hostile in [
            "https://evil.test",
            "//evil.test",
            "/\\evil.test",
            "/\t/evil.test",
            "/\r/x",
            "/\u{7f}",
            "/\u{0}x",
            "javascript:alert(1)",
            "",
        ] {
            assert_eq!(safe_next(Some(hostile)), "/app", "{hostile:?}");
        }
        assert_eq!(safe_next(None), "/app");
    }
}
