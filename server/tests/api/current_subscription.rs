//! One rule for an organisation's current subscription
//! (`current_subscription(org)`, migration `20261215000001`): its newest
//! live row. Every reader of an organisation's plan or status goes through
//! it, so it must pick the right row and cost what the lateral subquery it
//! replaced cost.

use crate::helpers::sync_shipped_catalog;
use sqlx::PgPool;
use uuid::Uuid;

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn the_current_subscription_is_the_newest_live_row_and_is_planned_inline(pool: PgPool) {
    sync_shipped_catalog(&pool).await;
    let org: Uuid =
        sqlx::query_scalar("insert into organization (name) values ('Acme') returning organization_id")
            .fetch_one(&pool)
            .await
            .unwrap();
    let none: Option<String> = sqlx::query_scalar("select status from current_subscription($1)")
        .bind(org)
        .fetch_optional(&pool)
        .await
        .unwrap();
    assert_eq!(none, None, "no subscription, no row");
    // (created days ago, status, live): the newest row is an imported history, not live.
    for (days_ago, status, live) in [
        (30, "canceled", true),
        (10, "active", true),
        (20, "past_due", true),
        (1, "trialing", false),
    ] {
        sqlx::query(
            "insert into subscription (organization_id, plan_id, billing_cycle, status, created_at, live)
             select $1, plan_id, 'monthly', $2, now() - make_interval(days => $3), $4 from plan limit 1",
        )
        .bind(org)
        .bind(status)
        .bind(days_ago)
        .bind(live)
        .execute(&pool)
        .await
        .unwrap();
    }
    let current: Vec<String> = sqlx::query_scalar("select status from current_subscription($1)")
        .bind(org)
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(current, ["active"], "the newest live row, and only one");

    // Inlined: the planner reads the index, as the lateral subquery did; a
    // function scan would run the function once per organisation, unplanned.
    let plan: Vec<String> = sqlx::query_scalar(
        "explain select o.organization_id, s.status from organization o
         left join lateral current_subscription(o.organization_id) s on true",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let plan = plan.join("\n");
    assert!(!plan.contains("Function Scan"), "{plan}");
    assert!(plan.contains("subscription"), "{plan}");
}
