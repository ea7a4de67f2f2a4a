//! Organisation-owned data. Every query here takes a [`TenantScope`] and is
//! confined to its organisation; there is no other way in.

use super::{InvitationView, MemberView, OrgOverview};
use crate::accounts::domain::{EmailAddress, Role, trial_days_left};
use crate::accounts::session::TenantScope;
use crate::catalog::domain::USERS_METRIC;
use crate::entitlements::guard::Standing;
use chrono::{DateTime, TimeDelta, Utc};
use sqlx::{PgConnection, PgExecutor, PgPool};
use uuid::Uuid;

/// How long an invitation stays open.
const INVITATION_DAYS: i64 = 7;

/// The team page's data: members, open invitations and seats.
#[derive(Debug, Clone)]
pub struct Team {
    /// Members, owners first.
    pub members: Vec<MemberView>,
    /// Open invitations, oldest first.
    pub invitations: Vec<InvitationView>,
    /// Seats in use (members plus open invitations).
    pub seats_used: u64,
    /// The seat limit; `None` for unlimited.
    pub seat_limit: Option<u64>,
}

/// The portal's home figures, from the organisation's standing.
pub fn overview(
    scope: &TenantScope,
    user_email: &str,
    email_verified: bool,
    standing: &Standing,
    now: DateTime<Utc>,
) -> OrgOverview {
    let seat_limit = standing
        .entitlements
        .limit(USERS_METRIC)
        .and_then(|limit| limit.as_option());
    let plan = standing.plan.as_ref();
    OrgOverview {
        organization_name: standing.header.name.clone(),
        user_email: user_email.to_owned(),
        email_verified,
        role: scope.role(),
        plan_name: plan.map(|p| p.name.clone()),
        plan_key: plan.map(|p| p.key.clone()),
        billing_cycle: plan.map(|p| p.billing_cycle.clone()),
        status: standing.entitlements.status,
        trial_days_left: standing
            .trial_end
            .map(|end| trial_days_left(now.timestamp(), end.timestamp())),
        trial_ends_on: standing.trial_end.map(|end| crate::format::day(end.date_naive())),
        checked_out: plan.is_some_and(|p| p.checked_out),
        seats_used: standing.used(USERS_METRIC),
        seat_limit,
    }
}

/// Members and open invitations, with the seats (used, limit) the guard counts.
pub async fn team(
    pool: &PgPool,
    scope: &TenantScope,
    (seats_used, seat_limit): (u64, Option<u64>),
    now: DateTime<Utc>,
) -> Result<Team, sqlx::Error> {
    // language=PostgreSQL
    let members = sqlx::query!(
        r#"
        select u.user_id, u.email, m.role, to_char(m.created_at at time zone 'UTC', 'FMDD Mon YYYY') as "joined_on!"
        from membership m join app_user u using (user_id)
        where m.organization_id = $1
        order by case m.role when 'owner' then 0 when 'admin' then 1 else 2 end, u.email
        "#,
        scope.organization_id()
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|r| MemberView {
        user_id: r.user_id.to_string(),
        email: r.email,
        role: Role::parse(&r.role).unwrap_or(Role::Member),
        joined_on: r.joined_on,
    })
    .collect();
    // language=PostgreSQL
    let invitations = sqlx::query!(
        r#"
        select invitation_id, email, role, to_char(expires_at at time zone 'UTC', 'FMDD Mon YYYY') as "expires_on!"
        from invitation
        where organization_id = $1 and accepted_at is null and revoked_at is null and expires_at > $2
        order by created_at
        "#,
        scope.organization_id(),
        now as _
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|r| InvitationView {
        invitation_id: r.invitation_id.to_string(),
        email: r.email,
        role: Role::parse(&r.role).unwrap_or(Role::Member),
        expires_on: r.expires_on,
    })
    .collect();
    Ok(Team {
        members,
        invitations,
        seats_used,
        seat_limit,
    })
}

/// Locks the organisation's row for the rest of the transaction, so seat
/// checks and the writes that follow them cannot interleave across requests.
pub async fn lock_organization(conn: &mut PgConnection, scope: &TenantScope) -> Result<String, sqlx::Error> {
    // language=PostgreSQL
    sqlx::query_scalar!(
        "select name from organization where organization_id = $1 for update",
        scope.organization_id()
    )
    .fetch_one(&mut *conn)
    .await
}

/// Whether `email` already belongs to a member.
pub async fn is_member(
    executor: impl PgExecutor<'_>,
    scope: &TenantScope,
    email: &EmailAddress,
) -> Result<bool, sqlx::Error> {
    // language=PostgreSQL
    sqlx::query_scalar!(
        r#"
        select exists(select 1 from membership m join app_user u using (user_id)
                      where m.organization_id = $1 and u.email = $2) as "exists!"
        "#,
        scope.organization_id(),
        email.as_str()
    )
    .fetch_one(executor)
    .await
}

/// Records an invitation; `None` when one is already open for that email.
pub async fn insert_invitation(
    conn: &mut PgConnection,
    scope: &TenantScope,
    email: &EmailAddress,
    role: Role,
    token_hash: &[u8],
    now: DateTime<Utc>,
) -> Result<Option<Uuid>, sqlx::Error> {
    let expires_at = now + TimeDelta::days(INVITATION_DAYS);
    // Expired invitations stop holding the email (and a seat).
    // language=PostgreSQL
    sqlx::query!(
        r#"
        update invitation set revoked_at = $3
        where organization_id = $1 and email = $2 and accepted_at is null and revoked_at is null
          and expires_at <= $3
        "#,
        scope.organization_id(),
        email.as_str(),
        now as _
    )
    .execute(&mut *conn)
    .await?;
    // language=PostgreSQL
    sqlx::query_scalar!(
        r#"
        insert into invitation (organization_id, email, role, token_hash, invited_by, created_at, expires_at)
        values ($1, $2, $3, $4, $5, $6, $7)
        on conflict (organization_id, email) where accepted_at is null and revoked_at is null do nothing
        returning invitation_id
        "#,
        scope.organization_id(),
        email.as_str(),
        role.as_str(),
        token_hash,
        scope.user_id(),
        now as _,
        expires_at as _
    )
    .fetch_optional(&mut *conn)
    .await
}

/// Revokes an open invitation of this organisation.
pub async fn revoke_invitation(
    executor: impl PgExecutor<'_>,
    scope: &TenantScope,
    invitation_id: Uuid,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    // language=PostgreSQL
    let result = sqlx::query!(
        r#"
        update invitation set revoked_at = $3
        where invitation_id = $1 and organization_id = $2 and accepted_at is null and revoked_at is null
        "#,
        invitation_id,
        scope.organization_id(),
        now as _
    )
    .execute(executor)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// A member's role in this organisation.
pub async fn member_role(
    executor: impl PgExecutor<'_>,
    scope: &TenantScope,
    user_id: Uuid,
) -> Result<Option<Role>, sqlx::Error> {
    crate::accounts::db::membership_role(executor, scope.organization_id(), user_id).await
}

/// Owners of this organisation.
pub async fn owner_count(executor: impl PgExecutor<'_>, scope: &TenantScope) -> Result<usize, sqlx::Error> {
    // language=PostgreSQL
    let count = sqlx::query_scalar!(
        r#"select count(*) as "count!" from membership where organization_id = $1 and role = 'owner'"#,
        scope.organization_id()
    )
    .fetch_one(executor)
    .await?;
    Ok(count.max(0) as usize)
}

/// Sets a member's role.
pub async fn set_role(
    executor: impl PgExecutor<'_>,
    scope: &TenantScope,
    user_id: Uuid,
    role: Role,
) -> Result<bool, sqlx::Error> {
    // language=PostgreSQL
    let result = sqlx::query!(
        "update membership set role = $3 where organization_id = $1 and user_id = $2",
        scope.organization_id(),
        user_id,
        role.as_str()
    )
    .execute(executor)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Removes a member.
pub async fn delete_membership(
    executor: impl PgExecutor<'_>,
    scope: &TenantScope,
    user_id: Uuid,
) -> Result<bool, sqlx::Error> {
    // language=PostgreSQL
    let result = sqlx::query!(
        "delete from membership where organization_id = $1 and user_id = $2",
        scope.organization_id(),
        user_id
    )
    .execute(executor)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// An invitation found by its token, whichever organisation it is for: the
/// token itself is the proof of access.
#[derive(Debug, Clone)]
pub struct InvitationByToken {
    /// The invitation.
    pub invitation_id: Uuid,
    /// Its organisation.
    pub organization_id: Uuid,
    /// Organisation name.
    pub organization_name: String,
    /// Invited address.
    pub email: String,
    /// Role on joining.
    pub role: Role,
    /// Whether the invited address already has an account.
    pub account_exists: bool,
}

/// The invitation with this token hash if it is open and unexpired at
/// `now`, locked for the rest of the transaction.
pub async fn open_invitation(
    conn: &mut PgConnection,
    token_hash: &[u8],
    now: DateTime<Utc>,
) -> Result<Option<InvitationByToken>, sqlx::Error> {
    // language=PostgreSQL
    let row = sqlx::query!(
        r#"
        select i.invitation_id, i.organization_id, o.name as organization_name, i.email, i.role,
               exists(select 1 from app_user u where u.email = i.email) as "account_exists!"
        from invitation i join organization o using (organization_id)
        where i.token_hash = $1 and i.accepted_at is null and i.revoked_at is null and i.expires_at > $2
        for update of i
        "#,
        token_hash,
        now as _
    )
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.map(|r| InvitationByToken {
        invitation_id: r.invitation_id,
        organization_id: r.organization_id,
        organization_name: r.organization_name,
        email: r.email,
        role: Role::parse(&r.role).unwrap_or(Role::Member),
        account_exists: r.account_exists,
    }))
}

/// Marks an invitation accepted and adds the member (idempotent if already one).
pub async fn accept_invitation(
    conn: &mut PgConnection,
    invitation: &InvitationByToken,
    user_id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    // language=PostgreSQL
    sqlx::query!(
        "update invitation set accepted_at = $2 where invitation_id = $1",
        invitation.invitation_id,
        now as _
    )
    .execute(&mut *conn)
    .await?;
    // language=PostgreSQL
    sqlx::query!(
        r#"
        insert into membership (organization_id, user_id, role) values ($1, $2, $3)
        on conflict (organization_id, user_id) do nothing
        "#,
        invitation.organization_id,
        user_id,
        invitation.role.as_str()
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}
