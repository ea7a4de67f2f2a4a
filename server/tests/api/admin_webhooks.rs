//! The console's webhook endpoints, against a real local receiver: added
//! with a secret shown once, bad URLs refused, disabled and enabled again,
//! an event replayed and every attempt shown; each change audited.

use crate::admin_console::enrolled_admin;
use crate::helpers::*;
use crate::outbound::{drain, receiver};
use app::outbound::events::{EventType, record};
use sqlx::PgPool;
use uuid::Uuid;

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn an_endpoint_is_added_disabled_enabled_and_sent_an_event_again_from_the_console(pool: PgPool) {
    sync_shipped_catalog(&pool).await;
    // The local receiver stands in for a public host.
    let app = TestApp::with_settings(pool.clone(), &[("GATEHOUSE_WEBHOOK_PRIVATE_HOSTS", "127.0.0.1")]);
    let (mut admin, _) = enrolled_admin(&app).await;
    for bad in [
        "",
        "hooks.example.com/in",
        "ftp://example.com/in",
        "javascript:alert(1)",
        "file:///etc/passwd",
        "https://",
    ] {
        let refused = admin
            .submit(
                "/api/admin_add_webhook_endpoint",
                &[("url", bad), ("description", "x")],
            )
            .await;
        assert!(
            matches!(form_error(&refused), app::error::AppError::Validation { field, .. } if field == "url"),
            "{bad:?}"
        );
    }
    let too_long = "d".repeat(201);
    let refused = admin
        .submit(
            "/api/admin_add_webhook_endpoint",
            &[
                ("url", "https://example.com/in"),
                ("description", too_long.as_str()),
            ],
        )
        .await;
    assert!(
        matches!(form_error(&refused), app::error::AppError::Validation { field, .. } if field == "description")
    );
    let stored: i64 = sqlx::query_scalar("select count(*) from webhook_endpoint")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(stored, 0, "nothing refused is stored");

    let (url, received) = receiver(0).await;
    let added = admin
        .submit(
            "/api/admin_add_webhook_endpoint",
            &[("url", url.as_str()), ("description", "host product")],
        )
        .await;
    assert_eq!(added.headers["location"], "/admin/webhooks");
    let page = admin.get("/admin/webhooks").await;
    assert!(page.body.contains("data-fresh-secret"), "the secret is shown");
    assert!(page.body.contains(&url));
    assert!(
        !admin
            .get("/admin/webhooks")
            .await
            .body
            .contains("data-fresh-secret"),
        "once"
    );
    let endpoint: Uuid = sqlx::query_scalar("select endpoint_id from webhook_endpoint")
        .fetch_one(&pool)
        .await
        .unwrap();
    let id = endpoint.to_string();

    // Disabled: an event made meanwhile is not sent to it.
    let disabled = admin
        .submit(
            "/api/admin_set_webhook_endpoint",
            &[("id", id.as_str()), ("enabled", "false"), ("confirm", "yes")],
        )
        .await;
    assert_eq!(disabled.headers["location"], format!("/admin/webhooks/{id}"));
    let twice = admin
        .submit(
            "/api/admin_set_webhook_endpoint",
            &[("id", id.as_str()), ("enabled", "false"), ("confirm", "yes")],
        )
        .await;
    assert!(matches!(form_error(&twice), app::error::AppError::Conflict(_)));
    let mut tx = pool.begin().await.unwrap();
    record(
        &mut tx,
        app.state.clock.now(),
        EventType::OrganizationCreated,
        "test:while-disabled",
        None,
        serde_json::json!({ "n": 1 }),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let event_id: String = sqlx::query_scalar("select event_id from outbound_event")
        .fetch_one(&pool)
        .await
        .unwrap();
    drain(&app, 2).await;
    assert!(received.lock().unwrap().requests.is_empty());

    // Replaying needs an event that exists, then queues it even though the
    // endpoint never had a delivery of it; enabling again sends it.
    let unknown = admin
        .submit(
            "/api/admin_replay_webhook_event",
            &[("id", id.as_str()), ("event_id", "evt_nothing")],
        )
        .await;
    assert!(
        matches!(form_error(&unknown), app::error::AppError::Validation { field, .. } if field == "event_id")
    );
    let replayed = admin
        .submit(
            "/api/admin_replay_webhook_event",
            &[("id", id.as_str()), ("event_id", event_id.as_str())],
        )
        .await;
    assert_eq!(
        replayed.headers["location"],
        format!("/admin/webhooks/{id}?replayed=1")
    );
    drain(&app, 1).await;
    assert!(received.lock().unwrap().requests.is_empty(), "not while disabled");
    admin
        .submit(
            "/api/admin_set_webhook_endpoint",
            &[("id", id.as_str()), ("enabled", "true")],
        )
        .await;
    drain(&app, 1).await;
    // Sent again on request, under the same id.
    admin
        .submit(
            "/api/admin_replay_webhook_event",
            &[("id", id.as_str()), ("event_id", event_id.as_str())],
        )
        .await;
    drain(&app, 1).await;
    let ids: Vec<String> = received
        .lock()
        .unwrap()
        .requests
        .iter()
        .map(|r| r.0.clone())
        .collect();
    assert_eq!(ids, vec![event_id.clone(), event_id.clone()]);

    let detail = admin.get(&format!("/admin/webhooks/{id}")).await;
    assert_eq!(detail.status, 200);
    assert!(detail.body.contains(&event_id));
    assert_eq!(
        detail.body.matches("HTTP 200").count(),
        2,
        "both attempts are listed"
    );
    assert_eq!(
        admin
            .get(&format!("/admin/webhooks/{}", Uuid::nil()))
            .await
            .status,
        404
    );
    assert_eq!(admin.get("/admin/webhooks/not-a-uuid").await.status, 404);

    let actions: Vec<String> = sqlx::query_scalar(
        "select action from admin_audit where action like 'webhook%' order by admin_audit_id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        actions,
        [
            "webhook_endpoint.add",
            "webhook_endpoint.disable",
            "webhook_event.replay",
            "webhook_endpoint.enable",
            "webhook_event.replay"
        ]
    );
}
