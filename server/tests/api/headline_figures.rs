//! One "now" for the headline figures: the dashboard, the analytics cards
//! and the forecast's start agree for one instant, and every card's
//! previous-period figure is the export's for that period.

use crate::admin_console::enrolled_admin;
use crate::analytics::HEADER;
use crate::helpers::TestApp;
use app::analytics::domain::Rate;
use app::analytics::tables::{money, percent};
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgPool;

/// Six customers over six months; the last change lands on the morning of "now".
const HISTORY: &str = "\
a,s_a,2026-10-03T00:00:00Z,active,starter,month,4900,1,0,0,0,USD
b,s_b,2026-11-05T00:00:00Z,active,professional,month,14900,1,0,0,0,USD
c,s_c,2026-12-01T00:00:00Z,trialing,starter,month,4900,1,0,0,0,USD
c,s_c,2026-12-15T00:00:00Z,active,starter,month,4900,1,0,0,0,USD
d,s_d,2027-01-10T00:00:00Z,active,professional,year,52900,1,0,0,0,USD
b,s_b,2027-02-10T00:00:00Z,canceled,professional,month,14900,1,0,0,0,USD
e,s_e,2027-02-20T00:00:00Z,active,starter,month,4900,3,0,0,0,USD
a,s_a,2027-03-02T00:00:00Z,active,starter,month,4900,2,0,0,0,USD
f,s_f,2027-03-15T08:00:00Z,active,professional,month,14900,1,0,0,0,USD
";

fn now() -> DateTime<Utc> {
    "2027-03-15T10:30:00Z".parse().unwrap()
}

/// The text of the first element after `marker` that carries `attribute`.
fn text_after(body: &str, marker: &str, attribute: &str) -> String {
    let (_, rest) = body
        .split_once(marker)
        .unwrap_or_else(|| panic!("{marker} on the page"));
    let (_, rest) = rest
        .split_once(attribute)
        .unwrap_or_else(|| panic!("{attribute} after {marker}"));
    let text = rest.split_once('>').unwrap().1.split('<').next().unwrap();
    text.replace("&amp;", "&")
}

/// The text of the paragraph carrying `marker`, tags and hydration markers left out.
fn paragraph(body: &str, marker: &str) -> String {
    let (_, rest) = body
        .split_once(marker)
        .unwrap_or_else(|| panic!("{marker} on the page"));
    let inner = rest.split_once('>').unwrap().1.split("</p>").next().unwrap();
    let mut text = String::new();
    let mut in_tag = false;
    for c in inner.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    text
}

fn card(body: &str, key: &str, part: &str) -> String {
    text_after(body, &format!("data-card=\"{key}\""), part)
}

fn rate(value: &Value) -> Rate {
    Rate::new(
        value["numerator"].as_i64().unwrap(),
        value["denominator"].as_i64().unwrap(),
    )
}

fn cents(value: &Value) -> Option<i64> {
    value.as_i64()
}

/// What each card must show for a one-month window, from that month in the export.
fn expected_cards(month: &Value) -> Vec<(&'static str, String)> {
    let movements = &month["movements_cents"];
    let movement = |name: &str| movements[name].as_i64().unwrap();
    let gained = movement("new_business") + movement("reactivation") + movement("expansion");
    let lost = movement("contraction") + movement("churn");
    let gross = rate(&month["gross_mrr_churn_rate"]);
    let net = rate(&month["net_mrr_churn_rate"]);
    let retention = |churn: Rate| Rate::new(churn.denominator - churn.numerator, churn.denominator);
    let quick = Rate::new(gained, -lost);
    vec![
        ("mrr", money(cents(&month["mrr_cents"]))),
        ("arr", money(cents(&month["arr_cents"]))),
        ("net_new_mrr", {
            let net_new = gained + lost;
            match net_new {
                0 => "$0.00".to_owned(),
                _ => money(Some(net_new)),
            }
        }),
        ("net_revenue_retention", percent(&retention(net))),
        ("gross_revenue_retention", percent(&retention(gross))),
        ("customer_churn", percent(&rate(&month["customer_churn_rate"]))),
        ("arpa", money(cents(&month["arpa_cents"]))),
        ("ltv", money(cents(&month["ltv"]["ltv_cents"]))),
        (
            "trial_conversion",
            percent(&rate(&month["trials"]["conversion_rate"])),
        ),
        (
            "quick_ratio",
            Rate::millionths(quick.numerator, quick.denominator).map_or("—".to_owned(), |m| {
                let h = app::catalog::money::div_round_half_even(m, 10_000);
                format!("{}.{:02}", h / 100, h % 100)
            }),
        ),
    ]
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn the_dashboard_the_cards_and_the_forecast_start_from_one_figure_and_cards_match_the_export(
    pool: PgPool,
) {
    let app = TestApp::spawn(pool.clone()).await;
    assert!(app.state.clock.set(now()));
    let rows =
        app::analytics::import::read_history(format!("{HEADER}\n{HISTORY}").as_bytes(), |_| {}).unwrap();
    app::analytics::import_store::store_history(&pool, &rows, app.state.clock.now())
        .await
        .unwrap();
    let (mut admin, _) = enrolled_admin(&app).await;

    // a 2×49 + c 49 + d 529/12 + e 3×49 + f 149 = 98 + 49 + 44.08 + 147 + 149.
    let mrr_now = "$487.08";
    let dashboard = admin.get("/admin").await.body;
    assert_eq!(text_after(&dashboard, "data-figure=\"mrr\"", "data-now"), mrr_now);
    assert_eq!(
        text_after(&dashboard, "data-figure=\"active customers\"", "data-now"),
        "5"
    );
    assert!(
        dashboard.contains("as of 15 Mar 2027, 10:30 UTC"),
        "the dashboard says when"
    );

    let analytics = admin
        .get("/admin/analytics?first=2027-03&last=2027-03")
        .await
        .body;
    assert_eq!(card(&analytics, "mrr", "data-now"), mrr_now);
    assert!(
        text_after(&analytics, "data-headline", "").contains(&format!("MRR {mrr_now} ")),
        "the headline sentence"
    );
    assert!(
        text_after(&analytics, "data-forecast-sentence", "").contains(&format!("from {mrr_now} now")),
        "the forecast starts from the same figure"
    );
    assert!(
        analytics.contains("2027-03 (so far)"),
        "the running month is marked partial"
    );
    let export: Value = serde_json::from_str(
        &admin
            .get("/admin/analytics/export.json?first=2027-03&last=2027-03")
            .await
            .body,
    )
    .unwrap();
    assert_eq!(export["forecast"]["start_cents"], 48_708);
    assert_eq!(export["months"][0]["mrr_cents"], 48_708);

    // One month against the month before: every card's "before" is February's export.
    let february: Value = serde_json::from_str(
        &admin
            .get("/admin/analytics/export.json?first=2027-02&last=2027-02")
            .await
            .body,
    )
    .unwrap();
    for (key, want) in expected_cards(&february["months"][0]) {
        assert_eq!(card(&analytics, key, "data-previous"), want, "{key} before");
    }
    // And February shown on its own has those same figures as its own.
    let february_page = admin
        .get("/admin/analytics?first=2027-02&last=2027-02")
        .await
        .body;
    for (key, want) in expected_cards(&february["months"][0]) {
        assert_eq!(card(&february_page, key, "data-now"), want, "{key} now");
    }

    // A quarter against the quarter before: the stock figures at its end
    // are the export's last month of that quarter.
    let quarter = admin
        .get("/admin/analytics?first=2027-01&last=2027-03")
        .await
        .body;
    let previous_quarter: Value = serde_json::from_str(
        &admin
            .get("/admin/analytics/export.json?first=2026-10&last=2026-12")
            .await
            .body,
    )
    .unwrap();
    let december = &previous_quarter["months"][2];
    assert_eq!(card(&quarter, "mrr", "data-now"), mrr_now);
    assert_eq!(
        card(&quarter, "mrr", "data-previous"),
        money(cents(&december["mrr_cents"]))
    );
    assert_eq!(
        card(&quarter, "arpa", "data-previous"),
        money(cents(&december["arpa_cents"]))
    );
    assert_eq!(
        card(&quarter, "ltv", "data-previous"),
        money(cents(&december["ltv"]["ltv_cents"]))
    );
    // Net new MRR over a quarter is the sum of its months' movements.
    let quarter_sum: i64 = previous_quarter["months"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|m| {
            m["movements_cents"]
                .as_object()
                .unwrap()
                .values()
                .map(|v| v.as_i64().unwrap())
        })
        .sum();
    assert_eq!(
        card(&quarter, "net_new_mrr", "data-previous"),
        money(Some(quarter_sum))
    );
    assert!(
        quarter.contains("Jan 2027 – Mar 2027"),
        "the cards name their window"
    );
    assert!(
        quarter.contains("Oct 2026 – Dec 2026"),
        "and the one they compare with"
    );

    // From a month's row to the organisations behind its movements.
    assert!(
        analytics.contains("href=\"/admin/movements?month=2027-03\""),
        "the month links to its movers"
    );
    let movers = admin.get("/admin/movements?month=2027-03").await.body;
    assert!(movers.contains("Who moved MRR in Mar 2027"));
    assert!(movers.contains("New business +$149.00"), "f arrived");
    assert!(movers.contains("Expansion +$49.00"), "a took a second seat");
    let february = admin.get("/admin/movements?month=2027-02").await.body;
    assert!(february.contains("Churn −$149.00"), "b left");
    let quiet = admin.get("/admin/movements?month=2025-01").await.body;
    assert!(quiet.contains("data-movers-empty"), "an empty month says so");
    let refused = admin.fetch("/api/admin_analytics_movers?month=2027-13").await;
    assert_eq!(refused.status, 422);
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn the_analytics_page_names_the_money_at_risk_in_past_due_accounts(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    assert!(app.state.clock.set(now()));
    let (mut admin, _) = enrolled_admin(&app).await;
    let calm = admin.get("/admin/analytics").await.body;
    assert!(paragraph(&calm, "data-at-risk").contains("No account is past due."));
    let history = format!(
        "{HEADER}\n{HISTORY}\
         g,s_g,2027-03-01T00:00:00Z,active,professional,month,14900,1,0,0,0,USD\n\
         g,s_g,2027-03-12T00:00:00Z,past_due,professional,month,14900,1,0,0,0,USD\n\
         h,s_h,2027-03-01T00:00:00Z,active,starter,month,4900,2,0,0,0,USD\n\
         h,s_h,2027-03-13T00:00:00Z,past_due,starter,month,4900,2,0,0,0,USD\n"
    );
    let rows = app::analytics::import::read_history(history.as_bytes(), |_| {}).unwrap();
    app::analytics::import_store::store_history(&pool, &rows, app.state.clock.now())
        .await
        .unwrap();
    let page = admin.get("/admin/analytics").await.body;
    // Past due keeps its MRR: 149 + 2 × 49.
    let at_risk = paragraph(&page, "data-at-risk");
    assert!(
        at_risk.contains("$247.00 of MRR in 2 past-due accounts"),
        "{at_risk}"
    );

    // The cohort heatmap by customers (the default) or by revenue; nothing else.
    assert!(page.contains("Customer retention") && !page.contains("Net MRR retention"));
    let by_revenue = admin.get("/admin/analytics?cohorts=revenue").await.body;
    assert!(by_revenue.contains("Net MRR retention"), "the revenue heatmap");
    assert!(by_revenue.contains("150 % or more"), "its legend");
    let refused = admin.fetch("/api/admin_analytics?cohorts=sideways").await;
    assert_eq!(refused.status, 422);
    assert!(refused.body.contains("show cohorts by customers or by revenue"));
}
