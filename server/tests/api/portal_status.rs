//! The portal frame: trial banners by urgency, dismissed until the next
//! day, past-due and read-only banners, read-only enforced by the server,
//! usage bars, and switching organisations.

use crate::helpers::*;
use crate::host_api::{api_key, call, organization_id};
use chrono::TimeDelta;
use serde_json::json;
use server::host_api::keys::Scope;
use sqlx::PgPool;

fn banner(body: &str) -> Option<(String, String)> {
    let start = body.find("data-banner=\"")? + "data-banner=\"".len();
    let kind = body[start..].split('"').next()?.to_owned();
    let detail = match kind.as_str() {
        "trial" => {
            let at = body.find("data-urgency=\"")? + "data-urgency=\"".len();
            body[at..].split('"').next()?.to_owned()
        }
        "read_only" => {
            let at = body.find("data-reason=\"")? + "data-reason=\"".len();
            body[at..].split('"').next()?.to_owned()
        }
        _ => String::new(),
    };
    Some((kind, detail))
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn the_trial_banner_grows_urgent_and_a_dismissal_lasts_the_day(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let mut owner = app.signed_up("ada@acme.test", "Acme", "starter").await;
    // Whole days left, a part day counting as one: 14, 10, 8, 7, 5, 3, 2, 1.
    let steps = [
        (0, "calm", "14 days"),
        (4, "calm", "10 days"),
        (2, "calm", "8 days"),
        (1, "warning", "7 days"),
        (2, "warning", "5 days"),
        (2, "warning", "3 days"),
        (1, "urgent", "2 days"),
        (1, "urgent", "1 day"),
    ];
    for (days, urgency, left) in steps {
        app.state.clock.advance(TimeDelta::days(days));
        owner.sign_in("ada@acme.test").await;
        for page in ["/app", "/app/billing", "/app/team", "/app/account"] {
            let body = owner.get(page).await.body;
            assert_eq!(
                banner(&body),
                Some(("trial".into(), urgency.into())),
                "{page} with {left} left"
            );
            assert!(body.contains(&format!("{left} left")), "{page}: {left}");
        }
    }
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn a_dismissed_trial_banner_stays_hidden_that_day_and_returns_the_next(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    // Start the day at 08:00 so the trial spans whole days clearly.
    let morning = (app.state.clock.now() + TimeDelta::days(1))
        .date_naive()
        .and_hms_opt(8, 0, 0)
        .unwrap()
        .and_utc();
    app.state.clock.set(morning);
    let mut owner = app.signed_up("ada@acme.test", "Acme", "starter").await;
    let dismissed = owner
        .submit("/api/dismiss_trial_banner", &[("back_to", "/app/team")])
        .await;
    assert_eq!(dismissed.headers["location"], "/app/team");
    let cookie = dismissed.headers["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let session = owner.cookie.clone().unwrap();
    owner.cookie = Some(format!("{session}; {cookie}"));
    for page in ["/app", "/app/billing", "/app/team"] {
        assert_eq!(
            banner(&owner.get(page).await.body),
            None,
            "{page}: hidden for the rest of the day"
        );
    }
    app.state
        .clock
        .advance(TimeDelta::hours(15) + TimeDelta::minutes(59));
    assert_eq!(
        banner(&owner.get("/app").await.body),
        None,
        "still hidden at 23:59 UTC"
    );
    app.state.clock.advance(TimeDelta::minutes(2));
    assert_eq!(
        banner(&owner.get("/app").await.body),
        Some(("trial".into(), "calm".into())),
        "back the next day with the same cookie"
    );
    // An outside address is never followed.
    let outside = owner
        .submit("/api/dismiss_trial_banner", &[("back_to", "//evil.test/app")])
        .await;
    assert_eq!(outside.headers["location"], "/app");
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn an_ended_trial_is_read_only_in_the_portal_whatever_the_browser_sends(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let mut owner = app.signed_up("ada@acme.test", "Acme", "starter").await;
    app.state.clock.advance(TimeDelta::days(15));
    owner.sign_in("ada@acme.test").await;
    for page in ["/app", "/app/billing", "/app/team"] {
        let body = owner.get(page).await.body;
        assert_eq!(
            banner(&body),
            Some(("read_only".into(), "trial_ended".into())),
            "{page}"
        );
        assert!(body.contains("Your free trial has ended"));
        assert!(body.contains("href=\"/app/billing\""), "offers the way out");
    }
    let refused = owner
        .submit(
            "/api/invite_member",
            &[("email", "bob@acme.test"), ("role", "member")],
        )
        .await;
    let app::error::AppError::InvalidForm { errors, .. } = form_error(&refused) else {
        panic!("{:?}", refused.headers)
    };
    assert!(
        errors[0].message.contains("trial has ended"),
        "{}",
        errors[0].message
    );
    assert!(app.emails_to("bob@acme.test").await.is_empty());
    // Reads still work.
    assert_eq!(owner.get("/app/team").await.status, axum::http::StatusCode::OK);
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn past_due_and_suspended_organisations_see_why(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let mut owner = app.signed_up("ada@acme.test", "Acme", "starter").await;
    let org = organization_id(&pool, "Acme").await;
    sqlx::query("update subscription set status = 'past_due' where organization_id = $1")
        .bind(org)
        .execute(&pool)
        .await
        .unwrap();
    let body = owner.get("/app").await.body;
    assert_eq!(banner(&body), Some(("past_due".into(), String::new())));
    assert!(body.contains("Fix your payment method"));
    // Past due keeps the plan: writes still work.
    join(&app, &mut owner, "bob@acme.test", "member").await;

    sqlx::query("update organization set suspended_at = now(), suspension_reason = 'chargeback' where organization_id = $1")
        .bind(org)
        .execute(&pool)
        .await
        .unwrap();
    let body = owner.get("/app").await.body;
    assert_eq!(banner(&body), Some(("read_only".into(), "suspended".into())));
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn usage_shows_as_bars_warning_from_eighty_percent(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let mut owner = app.signed_up("ada@acme.test", "Acme", "professional").await;
    let org = organization_id(&pool, "Acme").await;
    let key = api_key(&app, Scope::Write).await;
    let report = json!({"reports": [
        {"id": "w", "metric": "workspaces", "set": 4},
        {"id": "s", "metric": "storage_gb", "set": 100},
    ]});
    call(
        &app,
        Some(&key),
        "POST",
        &format!("/api/v1/organizations/{org}/usage"),
        Some(report),
    )
    .await;
    // Two snapshots six hours apart make a history to chart.
    app.run_due_work().await;
    app.state.clock.advance(TimeDelta::hours(6));
    app.run_due_work().await;
    owner.sign_in("ada@acme.test").await;

    let body = owner.get("/app/billing").await.body;
    for (metric, level, label) in [
        ("users", "calm", "1 of 25 users"),
        ("workspaces", "warning", "4 of 5 workspaces"),
        ("storage_gb", "at_limit", "100 of 100 GB storage"),
    ] {
        assert!(
            body.contains(&format!("data-usage=\"{metric}\" data-level=\"{level}\"")),
            "{metric} is {level}"
        );
        assert!(body.contains(label), "{label}");
    }
    assert!(body.contains("<meter"), "bars are meters");
    assert!(body.contains("<svg"), "the history is charted");
    assert!(
        body.contains("Usage history as a table"),
        "with a text alternative"
    );
    let snapshots: i64 = sqlx::query_scalar("select count(*) from usage_snapshot")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(
        snapshots, 6,
        "three metrics, two slots, one row each however often the work runs"
    );
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn a_member_of_two_organisations_switches_between_them(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let mut ada = app.signed_up("ada@acme.test", "Acme", "starter").await;
    let mut bob = join(&app, &mut ada, "bob@acme.test", "member").await;
    assert!(
        !bob.get("/app").await.body.contains("data-org-switcher"),
        "one organisation: no switcher"
    );
    // Bob's own organisation invites... Bob signs up a second one by invitation from Cy.
    let mut cy = app.signed_up("cy@beta.test", "Beta", "starter").await;
    cy.submit(
        "/api/invite_member",
        &[("email", "bob@acme.test"), ("role", "member")],
    )
    .await;
    let link = app.link_in_email("bob@acme.test", "invitation").await;
    let token = link.split("token=").nth(1).unwrap().to_owned();
    let accepted = bob.submit("/api/accept_invitation", &[("token", &token)]).await;
    assert_eq!(accepted.headers["location"], "/app?joined=1");
    let body = bob.get("/app").await.body;
    assert!(body.contains("data-org-switcher"));
    assert!(body.contains("Beta"));

    let acme = organization_id(&pool, "Acme").await;
    let switched = bob
        .submit(
            "/api/switch_organization",
            &[("organization_id", &acme.to_string())],
        )
        .await;
    assert_eq!(switched.headers["location"], "/app");
    assert!(
        bob.get("/app")
            .await
            .body
            .contains("<option value=\"".to_owned().as_str())
    );
    let overview = bob.get("/app").await.body;
    assert!(
        overview.contains(&format!("<option value=\"{acme}\" selected")),
        "Acme is current"
    );

    // Not a member: 404, and the session stays where it was.
    let stranger = organization_id(&pool, "Beta").await;
    let mut ada_again = ada;
    let refused = ada_again
        .call(
            "/api/switch_organization",
            &[("organization_id", &stranger.to_string())],
        )
        .await;
    assert_eq!(refused.status, axum::http::StatusCode::NOT_FOUND);
    let refused = ada_again
        .call("/api/switch_organization", &[("organization_id", "nonsense")])
        .await;
    assert_eq!(refused.status, axum::http::StatusCode::UNPROCESSABLE_ENTITY);
}

/// The text of the element carrying `attribute`.
fn text_of(body: &str, attribute: &str) -> String {
    let after = body
        .split_once(attribute)
        .map(|(_, rest)| rest)
        .unwrap_or_default();
    let inner = after.split_once('>').map(|(_, rest)| rest).unwrap_or_default();
    // The note wraps its sentence in a <p>: read the first text run.
    inner
        .trim_start_matches("<p>")
        .split('<')
        .next()
        .unwrap_or_default()
        .to_owned()
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn the_portal_says_where_the_customer_stands_before_and_after_checkout(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let mut owner = app.signed_up("ada@acme.test", "Acme", "starter").await;
    let mut member = join(&app, &mut owner, "bo@acme.test", "member").await;

    // A signup trial: when it ends, what happens then, and the one step.
    let billing = owner.get("/app/billing").await.body;
    let stand = text_of(&billing, "data-where-you-stand");
    assert!(stand.starts_with("Your trial ends on "), "{stand}");
    assert!(
        stand.contains("the account pauses until you choose a plan"),
        "{stand}"
    );
    let step = billing
        .split_once("data-next-step")
        .map(|(_, rest)| rest.split_once("</a>").unwrap().0);
    assert!(
        step.is_some_and(|s| s.ends_with(">Choose a plan")),
        "the step: {step:?}"
    );
    assert_eq!(
        banner(&owner.get("/app").await.body).map(|b| b.0).as_deref(),
        Some("trial")
    );
    // A member reads the same words without a button that leads nowhere.
    let seen_by_member = member.get("/app/billing").await.body;
    assert_eq!(text_of(&seen_by_member, "data-where-you-stand"), stand);
    assert!(!seen_by_member.contains("data-next-step"));

    // Checked out during the trial: the first charge with its amount, day and
    // card; no call to action, no trial banner on any page.
    let session = start_sandbox_checkout(&mut owner, "starter").await;
    let paid = owner
        .submit(
            "/api/sandbox_pay",
            &[("session_id", &session), ("card_number", "4242 4242 4242 4242")],
        )
        .await;
    assert!(paid.headers.contains_key("location"), "{}", paid.body);
    crate::billing_events::drain(&app).await;
    let billing = owner.get("/app/billing").await.body;
    let stand = text_of(&billing, "data-where-you-stand");
    assert!(stand.starts_with("Your trial ends on "), "{stand}");
    assert!(stand.contains("First charge: $"), "{stand}");
    assert!(stand.contains("4242"), "the card: {stand}");
    assert!(stand.ends_with("then every month."), "{stand}");
    assert!(!billing.contains("data-next-step"), "nothing to do");
    for page in ["/app", "/app/billing", "/app/team"] {
        let body = owner.get(page).await.body;
        assert_eq!(banner(&body), None, "no trial banner on {page}");
        assert!(!body.contains("Choose a plan"), "no plan to choose on {page}");
    }
    assert!(
        owner
            .get("/app")
            .await
            .body
            .contains("your subscription starts then")
    );

    // The trial ends and the first invoice is paid: the next renewal.
    let ended = owner.submit("/api/sandbox_end_period", &[]).await;
    assert_eq!(ended.headers["location"], "/app/billing?period_ended=1");
    crate::billing_events::drain(&app).await;
    let stand = text_of(&owner.get("/app/billing").await.body, "data-where-you-stand");
    assert!(stand.starts_with("Next charge: $"), "{stand}");
    assert!(stand.contains(" on "), "a day: {stand}");
}
