//! The team's two flows that span features: inviting someone (a seat the
//! plan allows, counted under the organisation's lock, and the invitation
//! email) and joining through an invitation (as the signed-in user it is
//! for, or as a new account the link's email proves).

use super::db::{self, InvitationByToken};
use crate::accounts::db as accounts_db;
use crate::accounts::domain::{EmailAddress, Role};
use crate::accounts::secrets::{new_token, token_hash};
use crate::accounts::session::{SignedIn, TenantScope};
use crate::catalog::domain::{Catalog, USERS_METRIC};
use crate::email::templates::Brand;
use crate::email::{outbox, templates};
use crate::entitlements::db::OrganizationAddress;
use crate::entitlements::guard::{explain, standing};
use crate::error::AppError;
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

/// Invites `email` as `role` to the scope's organisation, inside the
/// caller's transaction; `Err` says why not, about the email field.
#[allow(clippy::too_many_arguments)] // each is a different fact of the invitation
pub async fn invite(
    conn: &mut PgConnection,
    catalog: &Catalog,
    (brand, public_url): (&Brand, &str),
    scope: &TenantScope,
    inviter: &str,
    email: &EmailAddress,
    role: Role,
    now: DateTime<Utc>,
) -> Result<Result<(), String>, AppError> {
    let organization_name = db::lock_organization(conn, scope).await?;
    if db::is_member(&mut *conn, scope, email).await? {
        return Ok(Err(format!("{email} is already a member")));
    }
    // The organisation row is locked, so the users counted here stay true
    // until this transaction commits.
    let address = OrganizationAddress::Id(scope.organization_id());
    let standing = standing(&mut *conn, catalog, &address, now)
        .await?
        .ok_or(AppError::NotFound)?;
    if let Some(Err(refusal)) = standing.check_room(catalog, USERS_METRIC, 1) {
        return Ok(Err(explain(catalog, &refusal)));
    }
    let token = new_token();
    if db::insert_invitation(conn, scope, email, role, &token_hash(&token), now)
        .await?
        .is_none()
    {
        return Ok(Err(format!("{email} already has an open invitation")));
    }
    let link = format!("{public_url}/invite?token={token}");
    let message = templates::invitation(brand, &organization_name, inviter, role.as_str(), &link);
    outbox::enqueue(conn, now, email.as_str(), &message).await?;
    Ok(Ok(()))
}

/// Who joins through `invitation`, inside the caller's transaction: the
/// signed-in user it is for, or a new account with `new_password_hash`
/// (then with its first auth version, to sign it in).
pub async fn joining_user(
    conn: &mut PgConnection,
    signed_in: Option<&SignedIn>,
    invitation: &InvitationByToken,
    new_password_hash: Option<String>,
    now: DateTime<Utc>,
) -> Result<(Uuid, Option<i32>), AppError> {
    let invited = &invitation.email;
    match (signed_in, invitation.account_exists) {
        (Some(user), _) if &user.email == invited => Ok((user.user_id, None)),
        (Some(_), _) => Err(AppError::Conflict(format!(
            "this invitation is for {invited}; sign out and sign in as that address to accept it"
        ))),
        (None, true) => Err(AppError::Conflict(format!(
            "{invited} already has an account; sign in to accept the invitation"
        ))),
        (None, false) => {
            let hash = new_password_hash.ok_or_else(|| AppError::field("password", "choose a password"))?;
            let email = EmailAddress::parse(invited).map_err(|_| AppError::Internal)?;
            let user_id = accounts_db::insert_user(conn, &email, &hash, Some(now))
                .await?
                .ok_or_else(|| {
                    AppError::Conflict("an account with this email was just created; sign in".into())
                })?;
            Ok((user_id, Some(1)))
        }
    }
}
