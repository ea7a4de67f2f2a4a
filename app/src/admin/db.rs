//! The admin console's database access: admins and their second factor,
//! the audit log, and the reads the console's pages make.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgConnection, PgExecutor, PgPool};
use uuid::Uuid;

/// An admin's sign-in facts.
pub struct AdminCredentials {
    /// The admin.
    pub admin_id: Uuid,
    /// The argon2 hash.
    pub password_hash: String,
    /// Bumped when the password changes: older sessions end.
    pub auth_version: i32,
}

/// An admin as a session sees it.
pub struct AdminRecord {
    /// Their email.
    pub email: String,
    /// See [`AdminCredentials::auth_version`].
    pub auth_version: i32,
    /// Whether a second factor is confirmed.
    pub enrolled: bool,
}

/// Creates the platform admin `email` with `password_hash`, or sets the
/// password of an existing one (ending its sessions). Returns whether the
/// admin is new.
pub async fn save_admin(pool: &PgPool, email: &str, password_hash: &str) -> Result<bool, sqlx::Error> {
    // language=PostgreSQL
    sqlx::query_scalar!(
        r#"
        insert into platform_admin (email, password_hash) values ($1, $2)
        on conflict (email) do update set password_hash = excluded.password_hash,
                                          auth_version = platform_admin.auth_version + 1
        returning (xmax = 0) as "inserted!"
        "#,
        email,
        password_hash
    )
    .fetch_one(pool)
    .await
}

/// Whether any platform admin exists.
pub async fn any_admin(pool: &PgPool) -> Result<bool, sqlx::Error> {
    // language=PostgreSQL
    sqlx::query_scalar!(r#"select exists(select 1 from platform_admin) as "exists!""#)
        .fetch_one(pool)
        .await
}

/// The database server's version, as the health page shows it.
pub async fn database_version(pool: &PgPool) -> Result<String, sqlx::Error> {
    // language=PostgreSQL
    sqlx::query_scalar!(r#"select current_setting('server_version') as "version!""#)
        .fetch_one(pool)
        .await
}

/// The admin with this email, if any.
pub async fn admin_credentials(pool: &PgPool, email: &str) -> Result<Option<AdminCredentials>, sqlx::Error> {
    // language=PostgreSQL
    let row = sqlx::query!(
        "select platform_admin_id, password_hash, auth_version from platform_admin where email = $1",
        email
    )
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| AdminCredentials {
        admin_id: r.platform_admin_id,
        password_hash: r.password_hash,
        auth_version: r.auth_version,
    }))
}

/// The admin with this id, if any.
pub async fn admin_by_id(pool: &PgPool, admin_id: Uuid) -> Result<Option<AdminRecord>, sqlx::Error> {
    // language=PostgreSQL
    let row = sqlx::query!(
        r#"select email, auth_version, totp_confirmed_at is not null as "enrolled!"
           from platform_admin where platform_admin_id = $1"#,
        admin_id
    )
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| AdminRecord {
        email: r.email,
        auth_version: r.auth_version,
        enrolled: r.enrolled,
    }))
}

/// The secret being enrolled: the one already offered if enrolment is under
/// way (a reload shows the same QR code), else `fresh`. `None` once enrolled.
pub async fn enrolment_secret(
    pool: &PgPool,
    admin_id: Uuid,
    fresh: &[u8],
) -> Result<Option<Vec<u8>>, sqlx::Error> {
    // language=PostgreSQL
    sqlx::query_scalar!(
        r#"update platform_admin set totp_secret = coalesce(totp_secret, $2)
           where platform_admin_id = $1 and totp_confirmed_at is null
           returning totp_secret as "secret!""#,
        admin_id,
        fresh
    )
    .fetch_optional(pool)
    .await
}

/// The admin's TOTP secret and whether it is confirmed.
pub async fn totp_secret(pool: &PgPool, admin_id: Uuid) -> Result<Option<(Vec<u8>, bool)>, sqlx::Error> {
    // language=PostgreSQL
    let row = sqlx::query!(
        r#"select totp_secret as "secret?", totp_confirmed_at is not null as "confirmed!"
           from platform_admin where platform_admin_id = $1"#,
        admin_id
    )
    .fetch_optional(pool)
    .await?;
    Ok(row.and_then(|r| r.secret.map(|s| (s, r.confirmed))))
}

/// Records `step` as used, if it is newer than the last used one; false
/// means the code was already used (or a newer one was), here or in a
/// racing request.
pub async fn use_totp_step(conn: &mut PgConnection, admin_id: Uuid, step: i64) -> Result<bool, sqlx::Error> {
    // language=PostgreSQL
    let updated = sqlx::query!(
        "update platform_admin set totp_last_step = $2
         where platform_admin_id = $1 and (totp_last_step is null or totp_last_step < $2)",
        admin_id,
        step
    )
    .execute(conn)
    .await?;
    Ok(updated.rows_affected() == 1)
}

/// Confirms enrolment and stores the recovery codes' hashes, replacing any.
pub async fn confirm_enrolment(
    conn: &mut PgConnection,
    admin_id: Uuid,
    code_hashes: &[Vec<u8>],
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    // language=PostgreSQL
    let confirmed = sqlx::query!(
        "update platform_admin set totp_confirmed_at = $2
         where platform_admin_id = $1 and totp_confirmed_at is null and totp_secret is not null",
        admin_id,
        now as _
    )
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1;
    if !confirmed {
        return Ok(false);
    }
    // language=PostgreSQL
    sqlx::query!(
        "delete from admin_recovery_code where platform_admin_id = $1",
        admin_id
    )
    .execute(&mut *conn)
    .await?;
    // language=PostgreSQL
    sqlx::query!(
        "insert into admin_recovery_code (platform_admin_id, code_hash, created_at)
         select $1, hash, $3 from unnest($2::bytea[]) as hash",
        admin_id,
        code_hashes,
        now as _
    )
    .execute(&mut *conn)
    .await?;
    Ok(true)
}

/// Uses a recovery code once; false if it is not one of the admin's unused codes.
pub async fn use_recovery_code(
    conn: &mut PgConnection,
    admin_id: Uuid,
    code_hash: &[u8],
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    // language=PostgreSQL
    let used = sqlx::query!(
        "update admin_recovery_code set used_at = $3
         where platform_admin_id = $1 and code_hash = $2 and used_at is null",
        admin_id,
        code_hash,
        now as _
    )
    .execute(conn)
    .await?;
    Ok(used.rows_affected() == 1)
}

/// One audit log entry to write.
pub struct AuditEntry<'a> {
    /// When.
    pub at: DateTime<Utc>,
    /// Who.
    pub admin_id: Uuid,
    /// Their email then.
    pub admin_email: &'a str,
    /// What: `trial.extend`, `organization.suspend`, `admin.sign_in`, …
    pub action: &'a str,
    /// On which organisation.
    pub organization_id: Option<Uuid>,
    /// Why, as the admin gave it.
    pub reason: Option<&'a str>,
    /// The state before.
    pub before: Option<Value>,
    /// The state after.
    pub after: Option<Value>,
    /// From where.
    pub client_ip: &'a str,
}

/// Appends an entry, in the caller's transaction (with the change it records).
pub async fn audit(executor: impl PgExecutor<'_>, entry: &AuditEntry<'_>) -> Result<(), sqlx::Error> {
    // language=PostgreSQL
    sqlx::query!(
        "insert into admin_audit (occurred_at, platform_admin_id, admin_email, action, organization_id, reason,
                                  before, after, client_ip)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        entry.at as _,
        entry.admin_id,
        entry.admin_email,
        entry.action,
        entry.organization_id,
        entry.reason,
        entry.before,
        entry.after,
        entry.client_ip
    )
    .execute(executor)
    .await?;
    Ok(())
}

/// The admin's newest audit entry (every change an admin makes writes one
/// in its own transaction), as far as this database has it: a replica whose
/// answer equals the primary's has every change that admin made.
pub async fn last_audit_entry(
    executor: impl PgExecutor<'_>,
    admin_id: Uuid,
) -> Result<Option<i64>, sqlx::Error> {
    // language=PostgreSQL
    sqlx::query_scalar!(
        "select max(admin_audit_id) from admin_audit where platform_admin_id = $1",
        admin_id
    )
    .fetch_one(executor)
    .await
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

/// Writes an override for an existing organisation; `None` if there is none.
pub async fn add_override(
    conn: &mut PgConnection,
    organization_id: Uuid,
    input: &super::domain::OverrideInput,
    expires_at: Option<DateTime<Utc>>,
    reason: &str,
    admin_email: &str,
    now: DateTime<Utc>,
) -> Result<Option<Uuid>, sqlx::Error> {
    use super::domain::OverrideInput;
    let (kind, key, enabled, limit) = match input {
        OverrideInput::Feature { key, enabled } => ("feature", key, Some(*enabled), None),
        OverrideInput::Limit { key, limit } => ("limit", key, None, *limit),
        OverrideInput::Tier { key } => ("tier", key, None, None),
    };
    // language=PostgreSQL
    sqlx::query_scalar!(
        "insert into entitlement_override (organization_id, kind, key, enabled, limit_value, expires_at, reason,
                                           created_by, created_at)
         select organization_id, $2, $3, $4, $5, $6, $7, $8, $9 from organization where organization_id = $1
         returning override_id",
        organization_id,
        kind,
        key,
        enabled,
        limit,
        expires_at as _,
        reason,
        format!("admin:{admin_email}"),
        now as _
    )
    .fetch_optional(conn)
    .await
}

/// Marks an organisation's live override removed; returns what it was.
pub async fn remove_override(
    conn: &mut PgConnection,
    organization_id: Uuid,
    override_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Option<Value>, sqlx::Error> {
    // language=PostgreSQL
    sqlx::query_scalar!(
        r#"update entitlement_override set removed_at = $3
           where override_id = $2 and organization_id = $1 and removed_at is null
           returning jsonb_build_object('override', override_id, 'kind', kind, 'key', key, 'enabled', enabled,
                                        'limit', limit_value, 'expires_at', expires_at) as "before!""#,
        organization_id,
        override_id,
        now as _
    )
    .fetch_optional(conn)
    .await
}

/// Remembers a device the admin completed the second factor on.
pub async fn remember_device(
    pool: &PgPool,
    admin_id: Uuid,
    token_hash: &[u8],
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    // language=PostgreSQL
    sqlx::query!(
        "insert into admin_known_device (token_hash, platform_admin_id, created_at, last_seen_at)
         values ($1, $2, $3, $3) on conflict (token_hash) do update set last_seen_at = $3",
        token_hash,
        admin_id,
        now as _
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Whether the device with this token is one `admin_id` proved the second
/// factor on within `max_age` before `now`.
pub async fn is_known_device(
    pool: &PgPool,
    admin_id: Uuid,
    token_hash: &[u8],
    since: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    // language=PostgreSQL
    sqlx::query_scalar!(
        r#"select exists (select 1 from admin_known_device
            where token_hash = $1 and platform_admin_id = $2 and last_seen_at >= $3) as "known!""#,
        token_hash,
        admin_id,
        since as _
    )
    .fetch_one(pool)
    .await
}
