//! The console sign-in's storage: admins, their second factor, recovery
//! codes and remembered devices.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
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
