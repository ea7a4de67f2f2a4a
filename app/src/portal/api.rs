//! Portal server functions: the organisation overview and the team.

// #[server] turns each function's parameters into the fields of a generated
// argument struct; parameters cannot carry doc comments, the functions do.
#![allow(missing_docs)]

use super::{InvitationPreview, OrgOverview, TeamView};
use crate::error::AppError;
use leptos::prelude::*;

#[cfg(feature = "ssr")]
use {
    super::{db, team},
    crate::accounts::db as accounts_db,
    crate::accounts::domain::{
        EmailAddress, Password, Role, TeamError, check_invite, check_leave, check_removal, check_role_change,
    },
    crate::accounts::secrets::{hash_password, token_hash},
    crate::accounts::session::{self, require_member},
    crate::context::app_context,
    crate::entitlements::guard::{page_standing, seats},
    crate::error::FormCheck,
    crate::security::throttle as rates,
};

#[cfg(feature = "ssr")]
fn team_error(error: TeamError) -> AppError {
    match error {
        TeamError::NotAllowed | TeamError::OwnersOnly => AppError::Forbidden,
        other => AppError::Conflict(other.to_string()),
    }
}

#[cfg(feature = "ssr")]
fn checked_password(raw: &str) -> Result<Password, AppError> {
    let mut form = FormCheck::new();
    form.check("password", Password::parse(raw))
        .ok_or_else(|| form.into_error())
}

/// The portal's home: organisation, user, plan and trial.
#[server(prefix = "/api", endpoint = "overview", input = server_fn::codec::GetUrl)]
pub async fn get_overview() -> Result<OrgOverview, AppError> {
    let (user, scope) = require_member().await?;
    let context = app_context()?;
    let now = context.clock.now();
    let (_, standing) = page_standing(&context, &scope, now).await?;
    let standing = standing.ok_or(AppError::NotFound)?;
    Ok(db::overview(
        &scope,
        &user.email,
        user.email_verified,
        &standing.standing,
        now,
    ))
}

/// Members, open invitations and seats. Any member may look.
#[server(prefix = "/api", endpoint = "team", input = server_fn::codec::GetUrl)]
pub async fn get_team() -> Result<TeamView, AppError> {
    let (_, scope) = require_member().await?;
    let context = app_context()?;
    let now = context.clock.now();
    let (_, standing) = page_standing(&context, &scope, now).await?;
    let seats = seats(standing.as_ref().map(|s| &s.standing));
    let team = db::team(&context.pool, &scope, seats, now).await?;
    Ok(TeamView {
        your_user_id: scope.user_id().to_string(),
        your_role: scope.role(),
        members: team.members,
        invitations: team.invitations,
        seats_used: team.seats_used,
        seat_limit: team.seat_limit,
    })
}

/// Invites someone by email. Refused past the plan's seat limit; the
/// organisation row is locked while seats are counted, so concurrent
/// invitations cannot overshoot it.
#[server(prefix = "/api", endpoint = "invite_member")]
pub async fn invite_member(email: String, role: String) -> Result<(), AppError> {
    let (user, scope) = require_member().await?;
    let context = app_context()?;
    let mut form = FormCheck::new();
    form.keep("email", &email).keep("role", &role);
    let email = form.check("email", EmailAddress::parse(&email));
    let role = form.check("role", Role::parse(&role));
    let (Some(email), Some(role)) = (email, role) else {
        return Err(form.into_error());
    };
    check_invite(scope.role(), role).map_err(team_error)?;
    let catalog = crate::catalog::cache::catalog_cache()?.get(&context.pool).await?;
    let brand = crate::email::templates::brand()?;
    let (site, now) = ((&brand, context.public_url.as_str()), context.clock.now());
    let mut tx = context.pool.begin().await?;
    if let Err(why) = team::invite(&mut tx, &catalog, site, &scope, &user.email, &email, role, now).await? {
        form.fail("email", why);
        return Err(form.into_error());
    }
    tx.commit().await?;
    crate::security::redirect::redirect("/app/team?invited=1");
    Ok(())
}

/// Withdraws an open invitation.
#[server(prefix = "/api", endpoint = "revoke_invitation")]
pub async fn revoke_invitation(invitation_id: String) -> Result<(), AppError> {
    let (_, scope) = require_member().await?;
    if !scope.role().manages_team() {
        return Err(AppError::Forbidden);
    }
    let invitation_id = AppError::parse_id("invitation_id", &invitation_id)?;
    let context = app_context()?;
    let now = context.clock.now();
    if !db::revoke_invitation(&context.pool, &scope, invitation_id, now).await? {
        return Err(AppError::NotFound);
    }
    crate::security::redirect::redirect("/app/team");
    Ok(())
}

/// Removes another member.
#[server(prefix = "/api", endpoint = "remove_member")]
pub async fn remove_member(user_id: String, confirm: Option<String>) -> Result<(), AppError> {
    let (_, scope) = require_member().await?;
    crate::ui::danger::confirmed(confirm.as_deref())?;
    let target = AppError::parse_id("user_id", &user_id)?;
    if target == scope.user_id() {
        return Err(AppError::Conflict(
            "to remove yourself, leave the organisation".into(),
        ));
    }
    let context = app_context()?;
    let mut tx = context.pool.begin().await?;
    db::lock_organization(&mut tx, &scope).await?;
    let role = db::member_role(&mut *tx, &scope, target)
        .await?
        .ok_or(AppError::NotFound)?;
    check_removal(scope.role(), role, db::owner_count(&mut *tx, &scope).await?).map_err(team_error)?;
    db::delete_membership(&mut *tx, &scope, target).await?;
    tx.commit().await?;
    crate::security::redirect::redirect("/app/team");
    Ok(())
}

/// Changes another member's role between member and admin (owners also
/// between owner and the rest).
#[server(prefix = "/api", endpoint = "change_role")]
pub async fn change_role(user_id: String, role: String) -> Result<(), AppError> {
    let (_, scope) = require_member().await?;
    let target = AppError::parse_id("user_id", &user_id)?;
    let new_role = Role::parse(&role).map_err(|e| AppError::field("role", e.to_string()))?;
    let context = app_context()?;
    let mut tx = context.pool.begin().await?;
    db::lock_organization(&mut tx, &scope).await?;
    let current = db::member_role(&mut *tx, &scope, target)
        .await?
        .ok_or(AppError::NotFound)?;
    let owners = db::owner_count(&mut *tx, &scope).await?;
    check_role_change(scope.role(), current, new_role, owners).map_err(team_error)?;
    db::set_role(&mut *tx, &scope, target, new_role).await?;
    tx.commit().await?;
    crate::security::redirect::redirect("/app/team");
    Ok(())
}

/// Hands ownership to another member; the current owner becomes an admin.
#[server(prefix = "/api", endpoint = "transfer_ownership")]
pub async fn transfer_ownership(user_id: String) -> Result<(), AppError> {
    let (_, scope) = require_member().await?;
    if scope.role() != Role::Owner {
        return Err(AppError::Forbidden);
    }
    let target = AppError::parse_id("user_id", &user_id)?;
    if target == scope.user_id() {
        return Err(AppError::Conflict("you already own this organisation".into()));
    }
    let context = app_context()?;
    let mut tx = context.pool.begin().await?;
    db::lock_organization(&mut tx, &scope).await?;
    db::member_role(&mut *tx, &scope, target)
        .await?
        .ok_or(AppError::NotFound)?;
    db::set_role(&mut *tx, &scope, target, Role::Owner).await?;
    db::set_role(&mut *tx, &scope, scope.user_id(), Role::Admin).await?;
    tx.commit().await?;
    // The caller's privileges dropped: a fresh session id marks the change.
    let session = session::current_session().await?;
    session::switch_organization(&session, scope.organization_id()).await?;
    crate::security::redirect::redirect("/app/team");
    Ok(())
}

/// Leaves the organisation (not as its last owner).
#[server(prefix = "/api", endpoint = "leave_organization")]
pub async fn leave_organization(confirm: Option<String>) -> Result<(), AppError> {
    let (user, scope) = require_member().await?;
    crate::ui::danger::confirmed(confirm.as_deref())?;
    let context = app_context()?;
    let mut tx = context.pool.begin().await?;
    db::lock_organization(&mut tx, &scope).await?;
    let owners = db::owner_count(&mut *tx, &scope).await?;
    check_leave(scope.role(), owners).map_err(team_error)?;
    db::delete_membership(&mut *tx, &scope, scope.user_id()).await?;
    let next = accounts_db::default_organization(&mut *tx, user.user_id).await?;
    tx.commit().await?;
    let session = session::current_session().await?;
    match next {
        Some(organization_id) => session::switch_organization(&session, organization_id).await?,
        None => session::sign_out(&session).await?,
    }
    crate::security::redirect::redirect("/");
    Ok(())
}

/// What an invitation link offers, for the page that accepts it.
#[server(prefix = "/api", endpoint = "invitation", input = server_fn::codec::GetUrl)]
pub async fn get_invitation(token: String) -> Result<InvitationPreview, AppError> {
    let context = app_context()?;
    let now = context.clock.now();
    // The connection is given back before the session is read (through the pool).
    let invitation = db::open_invitation(&mut *context.pool.acquire().await?, &token_hash(&token), now)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(InvitationPreview {
        organization_name: invitation.organization_name,
        email: invitation.email,
        role: invitation.role,
        account_exists: invitation.account_exists,
        signed_in_as: session::maybe_user().await?.map(|u| u.email),
    })
}

/// Joins the organisation of an invitation. Someone new sets a password and
/// gets an account (the link proves the email); someone with an account
/// must be signed in as the invited address.
#[server(prefix = "/api", endpoint = "accept_invitation")]
pub async fn accept_invitation(token: String, password: Option<String>) -> Result<(), AppError> {
    let context = app_context()?;
    let now = context.clock.now();
    crate::accounts::api::throttle_client(&context, "password-token", rates::PASSWORD_TOKEN_PER_IP).await?;
    let signed_in = session::maybe_user().await?;
    let invalid_token = || {
        AppError::field(
            "token",
            "this invitation has expired, was withdrawn or was already used",
        )
    };
    // The token is checked before the (deliberately slow) password hash, and
    // the hash is made only when a new account needs it.
    let token_hash = token_hash(&token);
    let preview = db::open_invitation(&mut *context.pool.acquire().await?, &token_hash, now).await?;
    let needs_password = signed_in.is_none() && !preview.ok_or_else(invalid_token)?.account_exists;
    let new_password = match password.as_deref().filter(|_| needs_password) {
        Some(raw) => Some(hash_password(&checked_password(raw)?).await?),
        None => None,
    };
    let mut tx = context.pool.begin().await?;
    let invitation = db::open_invitation(&mut tx, &token_hash, now)
        .await?
        .ok_or_else(invalid_token)?;
    let (user_id, auth_version) =
        team::joining_user(&mut tx, signed_in.as_ref(), &invitation, new_password, now).await?;
    db::accept_invitation(&mut tx, &invitation, user_id, now).await?;
    tx.commit().await?;
    let (session, organization_id) = (session::current_session().await?, invitation.organization_id);
    match auth_version {
        Some(version) => session::sign_in(&session, user_id, Some(organization_id), version, now).await?,
        None => session::switch_organization(&session, organization_id).await?,
    }
    crate::security::redirect::redirect("/app?joined=1");
    Ok(())
}
