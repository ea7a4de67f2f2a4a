//! Who is at the console: the admin's sign-in, kept in the request's
//! session (in Postgres, like every session) under its own key, apart from
//! any customer sign-in, with its own shorter lifetimes
//! ([`super::rules::AdminSessionTimes`]).

use super::rules::{AdminSessionTimes, AdminStage};
use crate::accounts::session::current_session;
use crate::context::app_context;
use crate::error::AppError;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use tower_sessions::Session;
use uuid::Uuid;

const ADMIN_KEY: &str = "gatehouse.admin";
/// Recovery codes made at enrolment, shown once on the next page.
const FRESH_CODES_KEY: &str = "gatehouse.admin.fresh_recovery_codes";

/// What the session stores about its admin.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct AdminAuth {
    admin_id: Uuid,
    auth_version: i32,
    stage: AdminStage,
    signed_in_at: DateTime<Utc>,
    last_seen_at: DateTime<Utc>,
}

/// An admin who has passed both factors, for this request.
#[derive(Debug, Clone)]
pub struct AdminScope {
    /// The admin.
    pub admin_id: Uuid,
    /// Their email, as the audit log records it.
    pub email: String,
}

/// An admin half-way through signing in (password given).
#[derive(Debug, Clone)]
pub struct PendingAdmin {
    /// The admin.
    pub admin_id: Uuid,
    /// Their email.
    pub email: String,
    /// Whether a second factor is enrolled (else enrolment comes next).
    pub enrolled: bool,
}

fn session_error(error: tower_sessions::session::Error) -> AppError {
    tracing::error!(%error, "session store error");
    AppError::Internal
}

/// Records the password step, under a fresh session id.
pub async fn start(
    session: &Session,
    admin_id: Uuid,
    auth_version: i32,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    session.cycle_id().await.map_err(session_error)?;
    let auth = AdminAuth {
        admin_id,
        auth_version,
        stage: AdminStage::PasswordOnly,
        signed_in_at: now,
        last_seen_at: now,
    };
    session.insert(ADMIN_KEY, auth).await.map_err(session_error)
}

/// Opens the console after the second factor, under a fresh session id.
pub async fn complete(session: &Session, now: DateTime<Utc>) -> Result<(), AppError> {
    let mut auth: AdminAuth = session
        .get(ADMIN_KEY)
        .await
        .map_err(session_error)?
        .ok_or(AppError::Unauthorized)?;
    auth.stage = AdminStage::Full;
    auth.signed_in_at = now;
    auth.last_seen_at = now;
    session.cycle_id().await.map_err(session_error)?;
    session.insert(ADMIN_KEY, auth).await.map_err(session_error)
}

/// Ends the admin's sign-in, and any impersonation with it; a customer
/// sign-in in the same browser stays.
pub async fn end(session: &Session) -> Result<(), AppError> {
    crate::accounts::session::end_impersonation(session).await?;
    session
        .remove::<AdminAuth>(ADMIN_KEY)
        .await
        .map_err(session_error)?;
    session
        .remove::<Vec<String>>(FRESH_CODES_KEY)
        .await
        .map_err(session_error)?;
    session.cycle_id().await.map_err(session_error)
}

/// Keeps freshly made recovery codes for the one page that shows them.
pub async fn keep_fresh_codes(session: &Session, codes: Vec<String>) -> Result<(), AppError> {
    shown_once::keep(session, FRESH_CODES_KEY, &codes.join("\n")).await
}

/// Takes the freshly made recovery codes (they are shown once).
pub async fn take_fresh_codes(session: &Session) -> Result<Vec<String>, AppError> {
    Ok(shown_once::take(session, FRESH_CODES_KEY)
        .await?
        .map(|codes| codes.lines().map(str::to_owned).collect())
        .unwrap_or_default())
}

/// The admin whose sign-in is at `stage` and alive at `now`, with their
/// email; a dead or stale one is removed. A full session's idle clock restarts.
async fn admin_at(
    session: &Session,
    pool: &PgPool,
    stage: AdminStage,
    now: DateTime<Utc>,
) -> Result<Option<(AdminAuth, String, bool)>, AppError> {
    let Some(mut auth) = session.get::<AdminAuth>(ADMIN_KEY).await.map_err(session_error)? else {
        return Ok(None);
    };
    let times = AdminSessionTimes {
        signed_in_at: auth.signed_in_at,
        last_seen_at: auth.last_seen_at,
    };
    if auth.stage != stage || !times.is_live(stage, now) {
        if !times.is_live(auth.stage, now) {
            end(session).await?;
        }
        return Ok(None);
    }
    let Some(admin) = super::db::admin_by_id(pool, auth.admin_id).await? else {
        end(session).await?;
        return Ok(None);
    };
    if admin.auth_version != auth.auth_version {
        end(session).await?;
        return Ok(None);
    }
    if stage == AdminStage::Full {
        auth.last_seen_at = now;
        session
            .insert(ADMIN_KEY, auth.clone())
            .await
            .map_err(session_error)?;
    }
    Ok(Some((auth, admin.email, admin.enrolled)))
}

/// The fully signed-in admin at `now`, if any.
pub async fn signed_in_admin(
    session: &Session,
    pool: &PgPool,
    now: DateTime<Utc>,
) -> Result<Option<AdminScope>, AppError> {
    Ok(admin_at(session, pool, AdminStage::Full, now)
        .await?
        .map(|(auth, email, _)| AdminScope {
            admin_id: auth.admin_id,
            email,
        }))
}

/// The fully signed-in admin, or [`AppError::Unauthorized`]; an admin
/// who is impersonating an organisation gets [`AppError::Forbidden`] until
/// they exit (the console is not used from inside someone's portal).
pub async fn require_admin() -> Result<AdminScope, AppError> {
    let context = app_context()?;
    let session = current_session().await?;
    let now = context.clock.now();
    if crate::accounts::session::impersonation(&session, now)
        .await?
        .is_some()
    {
        return Err(AppError::Forbidden);
    }
    signed_in_admin(&session, &context.pool, now)
        .await?
        .ok_or(AppError::Unauthorized)
}

/// The admin who gave a password and owes the second factor, or
/// [`AppError::Unauthorized`].
pub async fn require_pending() -> Result<PendingAdmin, AppError> {
    let context = app_context()?;
    let session = current_session().await?;
    admin_at(
        &session,
        &context.pool,
        AdminStage::PasswordOnly,
        context.clock.now(),
    )
    .await?
    .map(|(auth, email, enrolled)| PendingAdmin {
        admin_id: auth.admin_id,
        email,
        enrolled,
    })
    .ok_or(AppError::Unauthorized)
}

/// A key made by the console, shown once on the next page.
const FRESH_API_KEY: &str = "gatehouse.admin.fresh_api_key";
/// A webhook endpoint's signing secret, shown once on the next page.
const FRESH_ENDPOINT_SECRET: &str = "gatehouse.admin.fresh_endpoint_secret";

/// Keeps a freshly made API key for the one page that shows it.
pub async fn keep_fresh_api_key(session: &Session, key: String) -> Result<(), AppError> {
    shown_once::keep(session, FRESH_API_KEY, &key).await
}

/// Takes the freshly made API key (it is shown once).
pub async fn take_fresh_api_key(session: &Session) -> Result<Option<String>, AppError> {
    shown_once::take(session, FRESH_API_KEY).await
}

/// Keeps a new endpoint's signing secret for the one page that shows it.
pub async fn keep_fresh_endpoint_secret(session: &Session, secret: String) -> Result<(), AppError> {
    shown_once::keep(session, FRESH_ENDPOINT_SECRET, &secret).await
}

/// Takes a new endpoint's signing secret (it is shown once).
pub async fn take_fresh_endpoint_secret(session: &Session) -> Result<Option<String>, AppError> {
    shown_once::take(session, FRESH_ENDPOINT_SECRET).await
}

/// A secret shown once (a new API key, a signing secret, recovery codes)
/// waits for its page split in two: the session row holds it XORed with a
/// random pad of its length, and only the browser holds the pad, in an
/// HttpOnly cookie the page clears. Neither the session table nor the
/// cookie alone reveals anything of it.
pub mod shown_once {
    use crate::error::AppError;
    use crate::security::cookies::{request_cookie, set_cookie};
    use tower_sessions::Session;

    fn cookie_name(key: &str) -> String {
        let slot: String = key
            .rsplit('.')
            .next()
            .unwrap_or(key)
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        format!("gatehouse_reveal_{slot}")
    }

    /// XORs `bytes` with `pad` (of the same length).
    pub fn xor(bytes: &[u8], pad: &[u8]) -> Vec<u8> {
        bytes.iter().zip(pad).map(|(b, p)| b ^ p).collect()
    }

    /// Keeps `secret` under `key`: the sealed half in the session, the pad in
    /// the answer's cookie.
    pub async fn keep(session: &Session, key: &str, secret: &str) -> Result<(), AppError> {
        let mut pad = vec![0u8; secret.len()];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut pad);
        let sealed = hex::encode(xor(secret.as_bytes(), &pad));
        set_cookie(&cookie_name(key), &hex::encode(&pad), "/", 600);
        session.insert(key, sealed).await.map_err(|_| AppError::Internal)
    }

    /// Takes the secret kept under `key`, if both halves are here; either way
    /// the session's half is removed and the cookie cleared.
    pub async fn take(session: &Session, key: &str) -> Result<Option<String>, AppError> {
        let sealed = session
            .remove::<String>(key)
            .await
            .map_err(|_| AppError::Internal)?;
        let name = cookie_name(key);
        let pad = request_cookie(&name);
        if pad.is_some() {
            set_cookie(&name, "", "/", 0);
        }
        let (Some(sealed), Some(pad)) = (sealed, pad) else {
            return Ok(None);
        };
        let (Ok(sealed), Ok(pad)) = (hex::decode(sealed), hex::decode(pad)) else {
            return Ok(None);
        };
        if sealed.len() != pad.len() {
            return Ok(None);
        }
        Ok(String::from_utf8(xor(&sealed, &pad)).ok())
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn sealing_is_undone_only_by_the_same_pad() {
            let secret = b"gk_0123abcd_secretsecret";
            let pad: Vec<u8> = (0..secret.len() as u8)
                .map(|i| i.wrapping_mul(37).wrapping_add(11))
                .collect();
            let sealed = xor(secret, &pad);
            assert_ne!(sealed, secret.to_vec());
            assert_eq!(xor(&sealed, &pad), secret.to_vec());
            assert_eq!(
                cookie_name("gatehouse.admin.fresh_api_key"),
                "gatehouse_reveal_fresh_api_key"
            );
        }
    }
}

/// The cookie that marks a browser on which an admin proved the second
/// factor; only its hash is stored (`admin_known_device`).
pub mod known_device {
    use chrono::TimeDelta;

    /// The cookie's name.
    pub const COOKIE: &str = "gatehouse_admin_device";
    /// How long a device stays known after its last second factor.
    pub const LIFETIME: TimeDelta = TimeDelta::days(90);

    /// A new random device token.
    pub fn new_token() -> String {
        crate::accounts::secrets::new_token()
    }

    /// The device token the request carries, if any.
    pub fn token() -> Option<String> {
        crate::security::cookies::request_cookie(COOKIE)
            .filter(|value| !value.is_empty() && value.len() <= 128)
    }

    /// Sets the device cookie on the answer: for every path, since the
    /// sign-in posts to `/api/admin_login`.
    pub fn set_cookie(token: &str) {
        crate::security::cookies::set_cookie(COOKIE, token, "/", LIFETIME.num_seconds());
    }
}
