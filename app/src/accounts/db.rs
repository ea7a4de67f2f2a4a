//! Accounts storage: users, organisations, memberships, the trial and tokens.

use super::domain::{EmailAddress, Role};
use crate::billing::domain::SubscriptionStatus;
use crate::billing::ledger_store::{Revision, plan_state, record_revision};
use crate::catalog::domain::BillingCycle;
use sqlx::{PgConnection, PgExecutor, PgPool};
use uuid::Uuid;

/// What a session needs to know about its user on every request.
#[derive(Debug, Clone)]
pub struct SessionUser {
    /// Email address.
    pub email: String,
    /// Confirmed?
    pub email_verified: bool,
    /// Current auth version; sessions from another version are over.
    pub auth_version: i32,
}

/// Loads the user behind a session.
pub async fn user_for_session(pool: &PgPool, user_id: Uuid) -> Result<Option<SessionUser>, sqlx::Error> {
    // language=PostgreSQL
    let row = sqlx::query!(
        "select email, email_verified_at is not null as \"verified!\", auth_version from app_user where user_id = $1",
        user_id
    )
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| SessionUser {
        email: r.email,
        email_verified: r.verified,
        auth_version: r.auth_version,
    }))
}

/// The user's role in an organisation, if a member.
pub async fn membership_role(
    executor: impl PgExecutor<'_>,
    organization_id: Uuid,
    user_id: Uuid,
) -> Result<Option<Role>, sqlx::Error> {
    // language=PostgreSQL
    let role = sqlx::query_scalar!(
        "select role from membership where organization_id = $1 and user_id = $2",
        organization_id,
        user_id
    )
    .fetch_optional(executor)
    .await?;
    Ok(role.and_then(|r| Role::parse(&r).ok()))
}

/// Sign-in data for an email.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// The user.
    pub user_id: Uuid,
    /// The stored argon2 hash.
    pub password_hash: String,
    /// Current auth version.
    pub auth_version: i32,
}

/// Looks a user up by (normalised) email.
pub async fn credentials(
    executor: impl PgExecutor<'_>,
    email: &EmailAddress,
) -> Result<Option<Credentials>, sqlx::Error> {
    // language=PostgreSQL
    let row = sqlx::query!(
        "select user_id, password_hash, auth_version from app_user where email = $1",
        email.as_str()
    )
    .fetch_optional(executor)
    .await?;
    Ok(row.map(|r| Credentials {
        user_id: r.user_id,
        password_hash: r.password_hash,
        auth_version: r.auth_version,
    }))
}

/// Creates a user; `None` when the email is taken.
pub async fn insert_user(
    conn: &mut PgConnection,
    email: &EmailAddress,
    password_hash: &str,
    verified: bool,
) -> Result<Option<Uuid>, sqlx::Error> {
    // language=PostgreSQL
    sqlx::query_scalar!(
        r#"
        insert into app_user (email, password_hash, email_verified_at)
        values ($1, $2, case when $3 then now() end)
        on conflict (email) do nothing
        returning user_id
        "#,
        email.as_str(),
        password_hash,
        verified
    )
    .fetch_optional(&mut *conn)
    .await
}

/// Creates an organisation with `owner` as its owner.
pub async fn insert_organization(
    conn: &mut PgConnection,
    name: &str,
    owner: Uuid,
) -> Result<Uuid, sqlx::Error> {
    // language=PostgreSQL
    let organization_id = sqlx::query_scalar!(
        "insert into organization (name) values ($1) returning organization_id",
        name
    )
    .fetch_one(&mut *conn)
    .await?;
    insert_membership(conn, organization_id, owner, Role::Owner).await?;
    Ok(organization_id)
}

/// Adds a member.
pub async fn insert_membership(
    conn: &mut PgConnection,
    organization_id: Uuid,
    user_id: Uuid,
    role: Role,
) -> Result<(), sqlx::Error> {
    // language=PostgreSQL
    sqlx::query!(
        "insert into membership (organization_id, user_id, role) values ($1, $2, $3)",
        organization_id,
        user_id,
        role.as_str()
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Starts a card-free trial on `plan_key` and records it in the ledger. A
/// trial carries no MRR, so the ledger row is 0 → 0.
pub async fn start_trial(
    conn: &mut PgConnection,
    organization_id: Uuid,
    plan_key: &str,
    cycle: BillingCycle,
    trial_days: u32,
    currency: &str,
) -> Result<Uuid, sqlx::Error> {
    // language=PostgreSQL
    let subscription = sqlx::query!(
        r#"
        insert into subscription (organization_id, plan_id, billing_cycle, status, trial_start, trial_end)
        select $1, plan_id, $3, 'trialing', now(), now() + make_interval(days => $4)
        from plan where plan_key = $2 and not retired
        returning subscription_id, trial_start as "trial_start!: chrono::DateTime<chrono::Utc>"
        "#,
        organization_id,
        plan_key,
        cycle.as_str(),
        trial_days as i32,
    )
    .fetch_one(&mut *conn)
    .await?;
    record_revision(
        conn,
        &Revision {
            organization_id,
            subscription_id: subscription.subscription_id,
            occurred_at: subscription.trial_start,
            cause: "signup",
            state: plan_state(SubscriptionStatus::Trialing, plan_key, cycle),
            plan: plan_key,
            // A trial carries no MRR.
            mrr: 0,
            currency,
        },
    )
    .await?;
    Ok(subscription.subscription_id)
}

/// The first organisation the user belongs to (owner first), for sign-in.
pub async fn default_organization(
    executor: impl PgExecutor<'_>,
    user_id: Uuid,
) -> Result<Option<Uuid>, sqlx::Error> {
    // language=PostgreSQL
    sqlx::query_scalar!(
        r#"
        select organization_id from membership where user_id = $1
        order by case role when 'owner' then 0 when 'admin' then 1 else 2 end, created_at
        limit 1
        "#,
        user_id
    )
    .fetch_optional(executor)
    .await
}

/// What a single-use emailed token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenPurpose {
    /// Confirms an email address (24 hours).
    VerifyEmail,
    /// Resets a password (1 hour).
    ResetPassword,
}

impl TokenPurpose {
    fn as_str(self) -> &'static str {
        match self {
            TokenPurpose::VerifyEmail => "verify_email",
            TokenPurpose::ResetPassword => "reset_password",
        }
    }

    fn lifetime_secs(self) -> i64 {
        match self {
            TokenPurpose::VerifyEmail => 24 * 3600,
            TokenPurpose::ResetPassword => 3600,
        }
    }
}

/// Stores a token's hash for `user_id`.
pub async fn insert_token(
    conn: &mut PgConnection,
    user_id: Uuid,
    purpose: TokenPurpose,
    token_hash: &[u8],
) -> Result<(), sqlx::Error> {
    // language=PostgreSQL
    sqlx::query!(
        r#"
        insert into email_token (user_id, purpose, token_hash, expires_at)
        values ($1, $2, $3, now() + make_interval(secs => $4))
        "#,
        user_id,
        purpose.as_str(),
        token_hash,
        purpose.lifetime_secs() as f64,
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Uses a token once: returns its user if it exists, has this purpose, is
/// unused and unexpired, and marks it used in the same statement.
pub async fn consume_token(
    conn: &mut PgConnection,
    purpose: TokenPurpose,
    token_hash: &[u8],
) -> Result<Option<Uuid>, sqlx::Error> {
    // language=PostgreSQL
    sqlx::query_scalar!(
        r#"
        update email_token set used_at = now()
        where token_hash = $1 and purpose = $2 and used_at is null and expires_at > now()
        returning user_id
        "#,
        token_hash,
        purpose.as_str()
    )
    .fetch_optional(&mut *conn)
    .await
}

/// Whether an emailed token is unused and unexpired (without using it up).
pub async fn token_is_open(
    pool: &PgPool,
    purpose: TokenPurpose,
    token_hash: &[u8],
) -> Result<bool, sqlx::Error> {
    // language=PostgreSQL
    sqlx::query_scalar!(
        r#"
        select exists(select 1 from email_token
                      where token_hash = $1 and purpose = $2 and used_at is null and expires_at > now()) as "open!"
        "#,
        token_hash,
        purpose.as_str()
    )
    .fetch_one(pool)
    .await
}

/// A user's email address.
pub async fn user_email(
    executor: impl sqlx::PgExecutor<'_>,
    user_id: Uuid,
) -> Result<Option<String>, sqlx::Error> {
    // language=PostgreSQL
    sqlx::query_scalar!("select email from app_user where user_id = $1", user_id)
        .fetch_optional(executor)
        .await
}

/// Marks the user's email confirmed.
pub async fn mark_email_verified(conn: &mut PgConnection, user_id: Uuid) -> Result<(), sqlx::Error> {
    // language=PostgreSQL
    sqlx::query!(
        "update app_user set email_verified_at = coalesce(email_verified_at, now()) where user_id = $1",
        user_id
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Replaces the password and raises the auth version, ending every session
/// signed in under the old one. Returns the new version.
pub async fn set_password(
    conn: &mut PgConnection,
    user_id: Uuid,
    password_hash: &str,
) -> Result<i32, sqlx::Error> {
    // language=PostgreSQL
    let version = sqlx::query_scalar!(
        r#"
        update app_user set password_hash = $2, auth_version = auth_version + 1
        where user_id = $1 returning auth_version
        "#,
        user_id,
        password_hash
    )
    .fetch_one(&mut *conn)
    .await?;
    // Outstanding reset links die with the old password.
    // language=PostgreSQL
    sqlx::query!(
        "update email_token set used_at = now() where user_id = $1 and purpose = 'reset_password' and used_at is null",
        user_id
    )
    .execute(&mut *conn)
    .await?;
    Ok(version)
}

/// An organisation's name.
pub async fn organization_name(pool: &PgPool, organization_id: Uuid) -> Result<String, sqlx::Error> {
    // language=PostgreSQL
    sqlx::query_scalar!(
        "select name from organization where organization_id = $1",
        organization_id
    )
    .fetch_one(pool)
    .await
}
