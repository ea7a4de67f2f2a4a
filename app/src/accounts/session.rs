//! Who is asking: the signed-in user from the session, and the tenant scope
//! every organisation-owned query takes (server only).

use super::domain::Role;
use super::users::UserCache;
use crate::context::app_context;
use crate::error::AppError;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use tower_sessions::Session;
use uuid::Uuid;

const SESSION_KEY: &str = "gatehouse.auth";
/// A session ends this long after sign-in however active it is.
pub const ABSOLUTE_SESSION_SECS: i64 = 7 * 24 * 3600;

/// What the session stores about its user.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SessionAuth {
    user_id: Uuid,
    organization_id: Option<Uuid>,
    auth_version: i32,
    signed_in_at: i64,
}

/// A signed-in user whose session is still valid.
#[derive(Debug, Clone)]
pub struct SignedIn {
    /// The user.
    pub user_id: Uuid,
    /// Their email.
    pub email: String,
    /// Whether they confirmed their email.
    pub email_verified: bool,
    /// The organisation the session acts in, if any.
    pub organization_id: Option<Uuid>,
    /// Their role there, read with the user; `None` if not a member.
    pub role: Option<Role>,
    /// The platform admin seeing the portal as this user, if one is.
    pub impersonated_by: Option<Impersonation>,
    /// Every organisation the user belongs to (id and name), by name.
    pub organizations: Vec<(Uuid, String)>,
}

impl SignedIn {
    /// Refuses what only the user themselves may do (billing, security)
    /// when an admin is seeing the portal as them.
    pub fn refuse_while_impersonated(&self) -> Result<(), AppError> {
        match self.impersonated_by {
            Some(_) => Err(AppError::Forbidden),
            None => Ok(()),
        }
    }
}

const IMPERSONATION_KEY: &str = "gatehouse.impersonation";
/// An impersonation ends by itself this long after it started.
pub const IMPERSONATION_SECS: i64 = 30 * 60;

/// A platform admin seeing the portal as one organisation's owner. Set by
/// the admin console, which audits its start, every request and its end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Impersonation {
    /// The admin.
    pub admin_id: Uuid,
    /// Their email, for the banner and the audit log.
    pub admin_email: String,
    /// The user seen as.
    pub user_id: Uuid,
    /// Their organisation.
    pub organization_id: Uuid,
    /// When it started.
    pub started_at: DateTime<Utc>,
}

impl Impersonation {
    /// Whether it is still on at `now`.
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        now >= self.started_at && (now - self.started_at).num_seconds() < IMPERSONATION_SECS
    }
}

/// Starts seeing the portal as someone, under a fresh session id.
pub async fn start_impersonation(session: &Session, impersonation: Impersonation) -> Result<(), AppError> {
    session.cycle_id().await.map_err(session_error)?;
    session
        .insert(IMPERSONATION_KEY, impersonation)
        .await
        .map_err(session_error)
}

/// Ends an impersonation; returns it, if there was one.
pub async fn end_impersonation(session: &Session) -> Result<Option<Impersonation>, AppError> {
    let ended = session
        .remove::<Impersonation>(IMPERSONATION_KEY)
        .await
        .map_err(session_error)?;
    if ended.is_some() {
        session.cycle_id().await.map_err(session_error)?;
    }
    Ok(ended)
}

/// The impersonation on in this session at `now`; one past its 30 minutes
/// is ended here and reads as none.
pub async fn impersonation(session: &Session, now: DateTime<Utc>) -> Result<Option<Impersonation>, AppError> {
    let Some(current) = session
        .get::<Impersonation>(IMPERSONATION_KEY)
        .await
        .map_err(session_error)?
    else {
        return Ok(None);
    };
    if current.is_live(now) {
        return Ok(Some(current));
    }
    end_impersonation(session).await?;
    Ok(None)
}

/// The caller's membership in the organisation the session acts in. The
/// only way to obtain one is [`require_member`], so tenant queries cannot be
/// handed an organisation the caller does not belong to.
#[derive(Debug, Clone)]
pub struct TenantScope {
    organization_id: Uuid,
    user_id: Uuid,
    role: Role,
}

impl TenantScope {
    /// The organisation every query of this request is confined to.
    pub fn organization_id(&self) -> Uuid {
        self.organization_id
    }

    /// The acting user.
    pub fn user_id(&self) -> Uuid {
        self.user_id
    }

    /// The acting user's role.
    pub fn role(&self) -> Role {
        self.role
    }
}

/// The organisation the session acts in, if any. Not verified against the
/// user's row: for dropping this process's cached reads after a write,
/// never for access.
pub async fn session_organization(session: &Session) -> Option<Uuid> {
    let auth = session.get::<SessionAuth>(SESSION_KEY).await.ok().flatten()?;
    auth.organization_id
}

/// The user the session is signed in as, if any. Not verified against the
/// user's row: for dropping this process's cached reads after a write,
/// never for access.
pub async fn session_user(session: &Session) -> Option<Uuid> {
    let auth = session.get::<SessionAuth>(SESSION_KEY).await.ok().flatten()?;
    Some(auth.user_id)
}

/// The request's session (provided by the session layer).
pub async fn current_session() -> Result<Session, AppError> {
    leptos_axum::extract::<Session>().await.map_err(|error| {
        tracing::error!(%error, "session layer missing");
        AppError::Internal
    })
}

/// Starts a session signed in at `now`, under a fresh id (no fixation).
pub async fn sign_in(
    session: &Session,
    user_id: Uuid,
    organization_id: Option<Uuid>,
    auth_version: i32,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    session.cycle_id().await.map_err(session_error)?;
    let auth = SessionAuth {
        user_id,
        organization_id,
        auth_version,
        signed_in_at: now.timestamp(),
    };
    session.insert(SESSION_KEY, auth).await.map_err(session_error)
}

/// Moves the session to another organisation (after accepting an invitation),
/// under a fresh id since its privileges changed.
pub async fn switch_organization(session: &Session, organization_id: Uuid) -> Result<(), AppError> {
    let mut auth: SessionAuth = session
        .get(SESSION_KEY)
        .await
        .map_err(session_error)?
        .ok_or(AppError::Unauthorized)?;
    auth.organization_id = Some(organization_id);
    session.cycle_id().await.map_err(session_error)?;
    session.insert(SESSION_KEY, auth).await.map_err(session_error)
}

/// Records a new auth version in this session after a password change, so
/// this session survives while the user's others end.
pub async fn refresh_auth_version(session: &Session, auth_version: i32) -> Result<(), AppError> {
    if let Some(mut auth) = session
        .get::<SessionAuth>(SESSION_KEY)
        .await
        .map_err(session_error)?
    {
        auth.auth_version = auth_version;
        session.cycle_id().await.map_err(session_error)?;
        session.insert(SESSION_KEY, auth).await.map_err(session_error)?;
    }
    Ok(())
}

/// Gives an anonymous visitor a session cookie, as a real signup does, so the
/// two signup outcomes look alike on the wire.
pub async fn mark_anonymous_activity(session: &Session) -> Result<(), AppError> {
    session
        .insert("gatehouse.seen", true)
        .await
        .map_err(session_error)
}

/// Ends the session and deletes it from the store.
pub async fn sign_out(session: &Session) -> Result<(), AppError> {
    session.flush().await.map_err(session_error)
}

fn session_error(error: tower_sessions::session::Error) -> AppError {
    tracing::error!(%error, "session store error");
    AppError::Internal
}

/// The signed-in user, if the session is valid at `now`: not past its
/// absolute lifetime and not from before a password change.
pub async fn signed_in(
    session: &Session,
    pool: &PgPool,
    users: &UserCache,
    now: DateTime<Utc>,
) -> Result<Option<SignedIn>, AppError> {
    if let Some(seen_as) = impersonation(session, now).await? {
        let Some(user) = users
            .session_user(pool, seen_as.user_id, Some(seen_as.organization_id))
            .await?
        else {
            end_impersonation(session).await?;
            return Ok(None);
        };
        return Ok(Some(SignedIn {
            user_id: seen_as.user_id,
            email: user.email,
            email_verified: user.email_verified,
            organization_id: Some(seen_as.organization_id),
            role: user.role,
            impersonated_by: Some(seen_as),
            organizations: user.organizations,
        }));
    }
    let Some(auth) = session
        .get::<SessionAuth>(SESSION_KEY)
        .await
        .map_err(session_error)?
    else {
        return Ok(None);
    };
    if now.timestamp() - auth.signed_in_at > ABSOLUTE_SESSION_SECS {
        sign_out(session).await?;
        return Ok(None);
    }
    let Some(user) = users
        .session_user(pool, auth.user_id, auth.organization_id)
        .await?
    else {
        sign_out(session).await?;
        return Ok(None);
    };
    if user.auth_version != auth.auth_version {
        sign_out(session).await?;
        return Ok(None);
    }
    Ok(Some(SignedIn {
        user_id: auth.user_id,
        email: user.email,
        email_verified: user.email_verified,
        organization_id: auth.organization_id,
        role: user.role,
        impersonated_by: None,
        organizations: user.organizations,
    }))
}

/// A sign-in already checked for this request (by the portal pages' guard,
/// which puts it in the request's extensions), so the page's server
/// functions do not read the user again.
#[derive(Debug, Clone)]
pub struct VerifiedSignIn(pub SignedIn);

/// The sign-in the guard checked for this request, if it did.
fn verified_for_this_request() -> Option<SignedIn> {
    crate::context::with_context_held(|parts: &http::request::Parts| {
        parts
            .extensions
            .get::<VerifiedSignIn>()
            .map(|verified| verified.0.clone())
    })
    .flatten()
}

/// The request's signed-in user, if any (a page anyone may open that
/// answers differently to a signed-in user).
pub async fn maybe_user() -> Result<Option<SignedIn>, AppError> {
    if let Some(user) = verified_for_this_request() {
        return Ok(Some(user));
    }
    let context = app_context()?;
    let session = current_session().await?;
    let users = crate::accounts::users::user_cache()?;
    signed_in(&session, &context.pool, &users, context.clock.now()).await
}

/// The signed-in user, or [`AppError::Unauthorized`].
pub async fn require_user() -> Result<SignedIn, AppError> {
    maybe_user().await?.ok_or(AppError::Unauthorized)
}

/// The caller's membership in the session's organisation, or
/// [`AppError::Unauthorized`] / [`AppError::Forbidden`].
pub async fn require_member() -> Result<(SignedIn, TenantScope), AppError> {
    let context = app_context()?;
    let user = match verified_for_this_request() {
        Some(user) => user,
        None => {
            let session = current_session().await?;
            signed_in(
                &session,
                &context.pool,
                &crate::accounts::users::user_cache()?,
                context.clock.now(),
            )
            .await?
            .ok_or(AppError::Unauthorized)?
        }
    };
    membership(user)
}

/// [`require_member`] for a session at hand, in handlers outside Leptos
/// (such as file downloads): the sign-in the portal guard already checked
/// for this request is used when there is one.
pub async fn member_of_session(
    session: &Session,
    verified: Option<SignedIn>,
    pool: &PgPool,
    users: &UserCache,
    now: DateTime<Utc>,
) -> Result<(SignedIn, TenantScope), AppError> {
    let user = match verified {
        Some(user) => user,
        None => signed_in(session, pool, users, now)
            .await?
            .ok_or(AppError::Unauthorized)?,
    };
    membership(user)
}

/// The user's membership in the organisation the session acts in.
fn membership(user: SignedIn) -> Result<(SignedIn, TenantScope), AppError> {
    let organization_id = user.organization_id.ok_or(AppError::Forbidden)?;
    let role = user.role.ok_or(AppError::Forbidden)?;
    let scope = TenantScope {
        organization_id,
        user_id: user.user_id,
        role,
    };
    Ok((user, scope))
}
