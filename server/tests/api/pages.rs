//! Server-rendered pages, as a browser without JavaScript receives them.

use crate::helpers::TestApp;
use axum::body::Body;
use axum::http::Request;
use sqlx::PgPool;

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn the_pricing_page_renders_three_tiers_with_monthly_prices(pool: PgPool) {
    let page = TestApp::spawn(pool).await.get("/pricing").await;

    assert_eq!(page.status, 200);
    for tier in ["starter", "professional", "enterprise"] {
        assert!(
            page.body.contains(&format!("data-tier=\"{tier}\"")),
            "tier {tier}"
        );
    }
    for price in ["$49", "$199", "$999"] {
        assert!(page.body.contains(price), "price {price}");
    }
    assert!(page.body.contains("<title>Pricing"));
    assert!(page.body.contains("Save up to 10 % with annual billing"));
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn the_annual_link_renders_annual_prices_and_savings_without_javascript(pool: PgPool) {
    let page = TestApp::spawn(pool).await.get("/pricing?cycle=annual").await;

    assert_eq!(page.status, 200);
    for text in [
        "$529",
        "$2,149",
        "$10,789",
        "Save $59 a year (10 %)",
        "$44.08 a month, billed annually",
    ] {
        assert!(page.body.contains(text), "{text}");
    }
    assert!(page.body.contains("/signup?plan=professional&amp;cycle=annual"));
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn an_unknown_cycle_falls_back_to_monthly(pool: PgPool) {
    let page = TestApp::spawn(pool)
        .await
        .get("/pricing?cycle=%3Cscript%3E")
        .await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("/signup?plan=starter&amp;cycle=monthly"));
    assert!(!page.body.contains("<script>"), "input is never echoed");
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn the_pricing_page_lists_every_feature_and_add_on(pool: PgPool) {
    let page = TestApp::spawn(pool).await.get("/pricing").await;
    let catalog = crate::helpers::shipped_catalog().catalog;
    for feature in catalog.feature_groups.iter().flat_map(|g| &g.features) {
        assert!(
            page.body.contains(&format!("data-feature=\"{}\"", feature.key)),
            "{}",
            feature.key
        );
    }
    assert!(page.body.contains("$0.50 per GB per month"));
    assert!(page.body.contains("$5 per user per month"));
    assert!(page.body.contains("$25 per workspace per month"));
    assert!(page.body.contains("<span class=\"sr-only\">Not included</span>"));
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn the_home_page_links_to_pricing(pool: PgPool) {
    let page = TestApp::spawn(pool).await.get("/").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("href=\"/pricing\""));
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn an_unknown_address_answers_404_with_a_page(pool: PgPool) {
    let page = TestApp::spawn(pool).await.get("/no-such-page").await;
    assert_eq!(page.status, 404);
    assert!(page.body.contains("We can't find that page"));
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn pages_are_compressed_for_browsers_that_accept_it(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let request = Request::get("/pricing")
        .header("accept-encoding", "br, gzip")
        .body(Body::empty())
        .unwrap();
    let response = app.request(request).await;
    assert_eq!(response.headers["content-encoding"], "br");
}
