//! Platform administrators.

use server::admin::create_admin;
use sqlx::PgPool;

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn a_platform_admin_is_created_once_and_its_password_can_be_reset(pool: PgPool) {
    assert!(
        create_admin(&pool, "Root@Gatehouse.test", "correct horse battery")
            .await
            .unwrap()
    );
    assert!(
        !create_admin(&pool, "root@gatehouse.test", "another long passphrase")
            .await
            .unwrap()
    );

    // language=PostgreSQL
    let admin = sqlx::query!("select email, password_hash, auth_version from platform_admin")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(admin.email, "root@gatehouse.test");
    assert!(admin.password_hash.starts_with("$argon2id$"));
    assert_eq!(admin.auth_version, 2, "a password reset ends old admin sessions");
    // language=PostgreSQL
    let members = sqlx::query_scalar!(r#"select count(*) as "n!" from membership"#)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(members, 0, "admins are not organisation members");
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn a_weak_admin_password_or_bad_email_is_refused(pool: PgPool) {
    let weak = create_admin(&pool, "root@gatehouse.test", "short")
        .await
        .unwrap_err();
    assert!(format!("{weak:#}").contains("at least 12 characters"), "{weak:#}");
    let bad = create_admin(&pool, "not an email", "correct horse battery")
        .await
        .unwrap_err();
    assert!(format!("{bad:#}").contains("email"), "{bad:#}");
}
