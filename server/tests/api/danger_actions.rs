//! Every action that is hard to undo is refused without its ticked box, by
//! the server and not only by the browser: a hand-built form, an old page or
//! a script that leaves the box out changes nothing.

use crate::admin_console::enrolled_admin;
use crate::helpers::{TestApp, form_error, join};
use crate::licensing::{issued, licensing_app};
use app::error::AppError;
use sqlx::PgPool;
use uuid::Uuid;

/// What a missing, unticked or forged box sends (`on` is what a box
/// without a value sends; only the form's own value confirms).
const NOT_CONFIRMED: [Option<&str>; 6] = [None, Some(""), Some("on"), Some("no"), Some("true"), Some("YES")];

/// Everything these actions would change, read whole, to compare before
/// and after the refused attempts.
async fn state(pool: &PgPool) -> String {
    let row: (String,) = sqlx::query_as(
        r#"select concat_ws(' | ',
             (select string_agg(organization_id::text || coalesce(suspended_at::text, '-'), ',' order by organization_id) from organization),
             (select string_agg(user_id::text || role, ',' order by user_id) from membership),
             (select string_agg(prefix || coalesce(revoked_at::text, '-'), ',' order by prefix) from api_key),
             (select string_agg(endpoint_id::text || coalesce(disabled_at::text, '-'), ',' order by endpoint_id) from webhook_endpoint),
             (select string_agg(override_id::text || coalesce(removed_at::text, '-'), ',' order by override_id) from entitlement_override),
             (select string_agg(license_id::text || coalesce(revoked_at::text, '-') || coalesce(suspended_at::text, '-'), ',' order by license_id) from license),
             (select count(*)::text from admin_audit))"#,
    )
    .fetch_one(pool)
    .await
    .unwrap();
    row.0
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn every_action_that_is_hard_to_undo_is_refused_without_its_ticked_box(pool: PgPool) {
    let app = licensing_app(&pool).await;
    let mut owner = app.signed_up("ada@acme.test", "Acme", "enterprise").await;
    let member = join(&app, &mut owner, "bob@acme.test", "member").await;
    drop(member);
    let (mut admin, _) = enrolled_admin(&app).await;
    let org: Uuid = app.only_organization().await;
    let org_text = org.to_string();
    let (license_id, _) = issued(&app, org, 2).await;
    let license_text = license_id.to_string();
    admin
        .submit(
            "/api/admin_create_api_key",
            &[("name", "backend"), ("scope", "read")],
        )
        .await;
    admin
        .submit(
            "/api/admin_add_webhook_endpoint",
            &[
                ("url", "https://hooks.example.com/in"),
                ("description", "receiver"),
            ],
        )
        .await;
    admin
        .submit(
            "/api/admin_add_override",
            &[
                ("organization_id", &org_text),
                ("kind", "feature"),
                ("key", "oee_dashboard"),
                ("value", "on"),
                ("expires", ""),
                ("reason", "Pilot"),
            ],
        )
        .await;
    let ids = |sql: &'static str| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, String>(sql)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    let prefix = ids("select prefix from api_key").await;
    let endpoint = ids("select endpoint_id::text from webhook_endpoint").await;
    let override_id = ids("select override_id::text from entitlement_override").await;
    let bob = ids("select user_id::text from app_user where email = 'bob@acme.test'").await;
    let before = state(&pool).await;

    // The admin's danger actions, each with every other field right.
    let console: Vec<(&str, Vec<(&str, &str)>)> = vec![
        (
            "/api/admin_suspension",
            vec![
                ("organization_id", &org_text),
                ("suspend", "true"),
                ("reason", "Chargeback"),
            ],
        ),
        (
            "/api/admin_remove_override",
            vec![
                ("organization_id", &org_text),
                ("override_id", &override_id),
                ("reason", "Over"),
            ],
        ),
        ("/api/admin_revoke_api_key", vec![("prefix", &prefix)]),
        (
            "/api/admin_set_webhook_endpoint",
            vec![("id", &endpoint), ("enabled", "false")],
        ),
        (
            "/api/admin_license_action",
            vec![
                ("license_id", &license_text),
                ("action", "suspend"),
                ("until", ""),
                ("reason", "Unpaid"),
            ],
        ),
        (
            "/api/admin_license_action",
            vec![
                ("license_id", &license_text),
                ("action", "revoke"),
                ("until", ""),
                ("reason", "Fraud"),
            ],
        ),
    ];
    // The customer's: removing a teammate, leaving.
    let portal: Vec<(&str, Vec<(&str, &str)>)> = vec![
        ("/api/remove_member", vec![("user_id", &bob)]),
        ("/api/leave_organization", vec![]),
    ];
    for (who, actions) in [(&mut admin, &console), (&mut owner, &portal)] {
        for (path, fields) in actions {
            for confirm in NOT_CONFIRMED {
                let mut sent = fields.clone();
                if let Some(value) = confirm {
                    sent.push(("confirm", value));
                }
                let script = who.call(path, &sent).await;
                assert_eq!(script.status, 422, "{path} with {confirm:?}: {}", script.body);
                let form = who.submit(path, &sent).await;
                assert!(
                    matches!(form_error(&form), AppError::Validation { ref field, .. } if field == "confirm"),
                    "{path} with {confirm:?}"
                );
            }
        }
    }
    assert_eq!(state(&pool).await, before, "nothing changed");

    // Ticked, each goes through (the rest of each action's rules are tested
    // with its feature).
    for (path, fields) in &console[..5] {
        let mut sent = fields.clone();
        sent.push(("confirm", "yes"));
        let done = admin.call(path, &sent).await;
        assert_eq!(done.status, 200, "{path}: {}", done.body);
    }
    let removed = owner
        .call("/api/remove_member", &[("user_id", &bob), ("confirm", "yes")])
        .await;
    assert_eq!(removed.status, 200, "{}", removed.body);
    assert_ne!(state(&pool).await, before);
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn lifting_what_a_danger_action_did_needs_no_box(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    app.signed_up("ada@acme.test", "Acme", "starter").await;
    let (mut admin, _) = enrolled_admin(&app).await;
    let org = app.only_organization().await.to_string();
    let suspend = |suspend: &'static str, confirm: &'static str| {
        vec![
            ("organization_id", org.clone()),
            ("suspend", suspend.to_owned()),
            ("reason", "Chargeback".to_owned()),
            ("confirm", confirm.to_owned()),
        ]
    };
    let send = |fields: &Vec<(&'static str, String)>| -> Vec<(&'static str, String)> { fields.clone() };
    for (fields, status) in [(suspend("true", "yes"), 200), (suspend("false", ""), 200)] {
        let fields = send(&fields);
        let refs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        assert_eq!(admin.call("/api/admin_suspension", &refs).await.status, status);
    }
    let suspended: bool = sqlx::query_scalar("select suspended_at is not null from organization")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(!suspended, "reactivated without a box");
}
