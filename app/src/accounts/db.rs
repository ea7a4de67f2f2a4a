//! Accounts storage: users, organisations, memberships and tokens.

use super::domain::{EmailAddress, Role};
use chrono::{DateTime, TimeDelta, Utc};
use sqlx::{PgConnection, PgExecutor, PgPool};
use uuid::Uuid;

/// What a session needs to know about its user: everything the sign-in
/// check and the portal's organisation switcher read, for every
/// organisation at once so one record serves whichever the session acts in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// Email address.
    pub email: String,
    /// Whether the address is confirmed.
    pub email_verified: bool,
    /// Current auth version; sessions from another version are over.
    pub auth_version: i32,
    /// Every organisation they belong to (id, name and their role), by name.
    pub memberships: Vec<(Uuid, String, Role)>,
}

/// Loads the user behind a session with all their memberships, in one
/// round trip; `None` if there is no such user.
pub async fn user_record(pool: &PgPool, user_id: Uuid) -> Result<Option<UserRecord>, sqlx::Error> {
    // language=PostgreSQL
    let row = sqlx::query!(
        r#"
        select u.email, u.email_verified_at is not null as "verified!", u.auth_version,
               array(select o.organization_id from membership a join organization o using (organization_id)
                     where a.user_id = u.user_id order by o.name, o.organization_id) as "organization_ids!",
               array(select o.name from membership a join organization o using (organization_id)
                     where a.user_id = u.user_id order by o.name, o.organization_id) as "organization_names!",
               array(select a.role from membership a join organization o using (organization_id)
                     where a.user_id = u.user_id order by o.name, o.organization_id) as "roles!"
        from app_user u
        where u.user_id = $1
        "#,
        user_id
    )
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| UserRecord {
        email: r.email,
        email_verified: r.verified,
        auth_version: r.auth_version,
        memberships: r
            .organization_ids
            .into_iter()
            .zip(r.organization_names)
            .zip(r.roles)
            .filter_map(|((id, name), role): ((Uuid, String), String)| {
                Some((id, name, Role::parse(&role).ok()?))
            })
            .collect(),
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

/// Creates a user, with its email confirmed at `verified_at` if given;
/// `None` when the email is taken.
pub async fn insert_user(
    conn: &mut PgConnection,
    email: &EmailAddress,
    password_hash: &str,
    verified_at: Option<DateTime<Utc>>,
) -> Result<Option<Uuid>, sqlx::Error> {
    // language=PostgreSQL
    sqlx::query_scalar!(
        r#"
        insert into app_user (email, password_hash, email_verified_at)
        values ($1, $2, $3)
        on conflict (email) do nothing
        returning user_id
        "#,
        email.as_str(),
        password_hash,
        verified_at as _
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

/// Stores a token's hash for `user_id`, issued at `now`.
pub async fn insert_token(
    conn: &mut PgConnection,
    user_id: Uuid,
    purpose: TokenPurpose,
    token_hash: &[u8],
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let expires_at = now + TimeDelta::seconds(purpose.lifetime_secs());
    // language=PostgreSQL
    sqlx::query!(
        r#"
        insert into email_token (user_id, purpose, token_hash, created_at, expires_at)
        values ($1, $2, $3, $4, $5)
        "#,
        user_id,
        purpose.as_str(),
        token_hash,
        now as _,
        expires_at as _,
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Uses a token once: returns its user if it exists, has this purpose, is
/// unused and unexpired at `now`, and marks it used in the same statement.
pub async fn consume_token(
    conn: &mut PgConnection,
    purpose: TokenPurpose,
    token_hash: &[u8],
    now: DateTime<Utc>,
) -> Result<Option<Uuid>, sqlx::Error> {
    // language=PostgreSQL
    sqlx::query_scalar!(
        r#"
        update email_token set used_at = $3
        where token_hash = $1 and purpose = $2 and used_at is null and expires_at > $3
        returning user_id
        "#,
        token_hash,
        purpose.as_str(),
        now as _
    )
    .fetch_optional(&mut *conn)
    .await
}

/// Whether an emailed token is unused and unexpired at `now` (without
/// using it up).
pub async fn token_is_open(
    pool: &PgPool,
    purpose: TokenPurpose,
    token_hash: &[u8],
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    // language=PostgreSQL
    sqlx::query_scalar!(
        r#"
        select exists(select 1 from email_token
                      where token_hash = $1 and purpose = $2 and used_at is null and expires_at > $3) as "open!"
        "#,
        token_hash,
        purpose.as_str(),
        now as _
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

/// Marks the user's email confirmed at `now` (the first confirmation stands).
pub async fn mark_email_verified(
    conn: &mut PgConnection,
    user_id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    // language=PostgreSQL
    sqlx::query!(
        "update app_user set email_verified_at = coalesce(email_verified_at, $2) where user_id = $1",
        user_id,
        now as _
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Replaces the password and raises the auth version, ending every session
/// signed in under the old one, and spends outstanding reset links at `now`.
/// Returns the new version.
pub async fn set_password(
    conn: &mut PgConnection,
    user_id: Uuid,
    password_hash: &str,
    now: DateTime<Utc>,
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
        "update email_token set used_at = $2 where user_id = $1 and purpose = 'reset_password' and used_at is null",
        user_id,
        now as _
    )
    .execute(&mut *conn)
    .await?;
    Ok(version)
}

/// Whether the organisation exists.
pub async fn organization_exists(
    executor: impl PgExecutor<'_>,
    organization_id: Uuid,
) -> Result<bool, sqlx::Error> {
    // language=PostgreSQL
    sqlx::query_scalar!(
        r#"select exists (select 1 from organization where organization_id = $1) as "exists!""#,
        organization_id
    )
    .fetch_one(executor)
    .await
}

/// An organisation's name.
pub async fn organization_name(
    executor: impl PgExecutor<'_>,
    organization_id: Uuid,
) -> Result<String, sqlx::Error> {
    // language=PostgreSQL
    sqlx::query_scalar!(
        "select name from organization where organization_id = $1",
        organization_id
    )
    .fetch_one(executor)
    .await
}

/// Removes up to `limit` sessions that expired before `now` (each process's
/// cache hears of it through the sessions' change trigger); returns how
/// Rewrites a stored session's data and expiry by update only (a session
/// deleted meanwhile, signed out or cycled, stays deleted). `id` is the
/// session's id as tower-sessions writes it.
pub async fn update_session(
    pool: &PgPool,
    id: &str,
    data: &[u8],
    expiry: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    // language=PostgreSQL
    sqlx::query("update tower_sessions.session set data = $2, expiry_date = $3 where id = $1")
        .bind(id)
        .bind(data)
        .bind(expiry)
        .execute(pool)
        .await?;
    Ok(())
}

/// many went.
pub async fn remove_expired_sessions(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<u64, sqlx::Error> {
    // language=PostgreSQL
    let removed = sqlx::query!(
        "delete from tower_sessions.session where id in
             (select id from tower_sessions.session where expiry_date < $1 limit $2 for update skip locked)",
        now as _,
        limit
    )
    .execute(&mut *conn)
    .await?
    .rows_affected();
    Ok(removed)
}

/// How many organisations existed at each of two instants (the console's
/// dashboard: now and 30 days before).
pub async fn organizations_created_before(
    pool: &PgPool,
    [first, second]: [DateTime<Utc>; 2],
) -> Result<(i64, i64), sqlx::Error> {
    // language=PostgreSQL
    let row = sqlx::query!(
        r#"select count(*) filter (where created_at < $1) as "first!", count(*) filter (where created_at < $2) as "second!"
           from organization"#,
        first as _,
        second as _
    )
    .fetch_one(pool)
    .await?;
    Ok((row.first, row.second))
}

/// Suspends (with a reason) or reactivates an organisation; returns whether
/// it was suspended before, or `None` if there is no such organisation.
pub async fn set_suspension(
    conn: &mut PgConnection,
    organization_id: Uuid,
    reason: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Option<bool>, sqlx::Error> {
    // language=PostgreSQL
    let before = sqlx::query_scalar!(
        r#"select suspended_at is not null as "suspended!" from organization where organization_id = $1 for update"#,
        organization_id
    )
    .fetch_optional(&mut *conn)
    .await?;
    let Some(before) = before else { return Ok(None) };
    if before != reason.is_some() {
        // language=PostgreSQL
        sqlx::query!(
            "update organization set suspended_at = case when $2::text is null then null else $3::timestamptz end,
                                     suspension_reason = $2
             where organization_id = $1",
            organization_id,
            reason,
            now as _
        )
        .execute(&mut *conn)
        .await?;
    }
    Ok(Some(before))
}

/// The organisation's owner (the earliest, if several).
pub async fn owner_of(
    executor: impl PgExecutor<'_>,
    organization_id: Uuid,
) -> Result<Option<Uuid>, sqlx::Error> {
    // language=PostgreSQL
    sqlx::query_scalar!(
        "select user_id from membership where organization_id = $1 and role = 'owner' order by created_at limit 1",
        organization_id
    )
    .fetch_optional(executor)
    .await
}
