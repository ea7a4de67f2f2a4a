//! The emailed single-use links: confirming an address and resetting a
//! password. Each is a token whose hash alone is stored, made and emailed
//! in the caller's transaction, and consumed once.

use super::db::{self, TokenPurpose};
use super::domain::EmailAddress;
use super::secrets::{new_token, token_hash};
use crate::email::templates::Brand;
use crate::email::{outbox, templates};
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

/// Emails `email` a link that confirms it for `user_id`.
pub async fn send_verification(
    conn: &mut PgConnection,
    (brand, public_url): (&Brand, &str),
    user_id: Uuid,
    email: &str,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let token = new_token();
    db::insert_token(conn, user_id, TokenPurpose::VerifyEmail, &token_hash(&token), now).await?;
    let link = format!("{public_url}/verify?token={token}");
    outbox::enqueue(conn, now, email, &templates::verify_email(brand, &link)).await
}

/// Confirms the address of the user whose verification token is
/// `token_hash`, using the token up; `false` when it is expired, used or
/// unknown.
pub async fn verify_email(
    conn: &mut PgConnection,
    token_hash: &[u8],
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let Some(user_id) = db::consume_token(conn, TokenPurpose::VerifyEmail, token_hash, now).await? else {
        return Ok(false);
    };
    db::mark_email_verified(conn, user_id, now).await?;
    Ok(true)
}

/// Emails a password reset link to `email` if it has an account (nothing
/// otherwise: the page answers the same either way).
pub async fn send_reset_link(
    conn: &mut PgConnection,
    (brand, public_url): (&Brand, &str),
    email: &EmailAddress,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let Some(credentials) = db::credentials(&mut *conn, email).await? else {
        return Ok(());
    };
    let token = new_token();
    let hash = token_hash(&token);
    db::insert_token(conn, credentials.user_id, TokenPurpose::ResetPassword, &hash, now).await?;
    let link = format!("{public_url}/reset-password?token={token}");
    outbox::enqueue(
        conn,
        now,
        email.as_str(),
        &templates::reset_password(brand, &link),
    )
    .await
}

/// A password set through a reset link.
pub struct Reset {
    /// Whose.
    pub user_id: Uuid,
    /// Their sessions' new auth version (every other session ends).
    pub auth_version: i32,
    /// The organisation to sign in to.
    pub organization_id: Option<Uuid>,
    /// Their email.
    pub email: Option<String>,
}

/// Consumes the reset token `token_hash` and sets the password; `None` when
/// the token is expired, used or unknown (of two concurrent uses, one wins).
/// Following the emailed link proves the address.
pub async fn reset_password(
    conn: &mut PgConnection,
    token_hash: &[u8],
    password_hash: &str,
    now: DateTime<Utc>,
) -> Result<Option<Reset>, sqlx::Error> {
    let Some(user_id) = db::consume_token(conn, TokenPurpose::ResetPassword, token_hash, now).await? else {
        return Ok(None);
    };
    let auth_version = db::set_password(conn, user_id, password_hash, now).await?;
    db::mark_email_verified(conn, user_id, now).await?;
    Ok(Some(Reset {
        user_id,
        auth_version,
        organization_id: db::default_organization(&mut *conn, user_id).await?,
        email: db::user_email(&mut *conn, user_id).await?,
    }))
}
