//! Time-driven trial work against a real database: the reminder a few days
//! before a trial ends, and the pause of signup trials that end without a
//! subscription — each exactly once, even with two workers at it.

use crate::helpers::TestApp;
use app::billing::trials::{self, TRIAL_EXPIRED_CAUSE};
use server::billing::worker::process_due;
use sqlx::PgPool;
use uuid::Uuid;

async fn organization(pool: &PgPool, name: &str) -> Uuid {
    // language=PostgreSQL
    sqlx::query_scalar!("select organization_id from organization where name = $1", name)
        .fetch_one(pool)
        .await
        .unwrap()
}

/// Moves an organisation's trial so it ends `hours` from now (negative: ended).
async fn trial_ends_in(pool: &PgPool, organization_id: Uuid, hours: i32) {
    // language=PostgreSQL
    sqlx::query!(
        r#"
        update subscription
        set trial_start = now() - interval '30 days', trial_end = now() + make_interval(hours => $2)
        where organization_id = $1
        "#,
        organization_id,
        hours
    )
    .execute(pool)
    .await
    .unwrap();
}

async fn templates_to(app: &TestApp, to: &str, template: &str) -> Vec<String> {
    app.emails_to(to)
        .await
        .into_iter()
        .filter(|(t, _)| t == template)
        .map(|(_, body)| body)
        .collect()
}

/// The organisation's recorded reminders as (days before the end, outcome).
async fn reminders_recorded(pool: &PgPool, organization_id: Uuid) -> Vec<(i32, String)> {
    // language=PostgreSQL
    sqlx::query!(
        "select days_before, outcome from trial_reminder r join subscription s using (subscription_id)
         where s.organization_id = $1 order by days_before",
        organization_id
    )
    .fetch_all(pool)
    .await
    .unwrap()
    .into_iter()
    .map(|r| (r.days_before, r.outcome))
    .collect()
}

/// The reminder sweep once, at the clock's now, in its own transaction.
async fn remind(app: &TestApp) -> usize {
    let mut tx = app.state.pool.begin().await.unwrap();
    let sent = trials::send_due_reminders(
        &mut tx,
        &[7, 3, 1],
        "test:sweep",
        &app.state.notices(),
        app.state.clock.now(),
        100,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    sent
}

/// The expiry sweep once, at the clock's now, in its own transaction.
async fn expire(app: &TestApp) -> usize {
    let mut tx = app.state.pool.begin().await.unwrap();
    let paused = app::flows::sweeps::expire_trials(&mut tx, &app.state.notices(), app.state.clock.now(), 100)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    paused
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn owners_are_reminded_once_per_trial_end_a_few_days_before_it(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let mut owner = app
        .signed_up("ada@acme.test", "Acme Metals", "professional")
        .await;
    app.signed_up("bo@later.test", "Later Works", "starter").await;
    let acme = organization(&pool, "Acme Metals").await;
    // A member who is not an owner gets no billing notice.
    // language=PostgreSQL
    sqlx::query!(
        r#"
        with member as (insert into app_user (email, password_hash) values ('cy@acme.test', 'x') returning user_id)
        insert into membership (organization_id, user_id, role) select $1, user_id, 'member' from member
        "#,
        acme
    )
    .execute(&pool)
    .await
    .unwrap();

    // Later Works' trial is 14 days out: nothing is due.
    assert_eq!(remind(&app).await, 0);

    // Two days left: the 3-day reminder goes out, the missed 7-day one is
    // recorded as skipped, not mailed.
    trial_ends_in(&pool, acme, 47).await;
    assert_eq!(remind(&app).await, 1);
    assert_eq!(remind(&app).await, 0, "a reminder is sent once");
    let reminders = templates_to(&app, "ada@acme.test", "trial_ending").await;
    assert_eq!(reminders.len(), 1);
    assert!(reminders[0].contains("ends in 2 days"), "{}", reminders[0]);
    assert!(reminders[0].contains("Choose a plan: http://127.0.0.1:3000/app/billing"));
    assert!(
        templates_to(&app, "cy@acme.test", "trial_ending")
            .await
            .is_empty()
    );
    assert!(
        templates_to(&app, "bo@later.test", "trial_ending")
            .await
            .is_empty()
    );

    assert_eq!(
        reminders_recorded(&pool, acme).await,
        [(3, "sent".to_owned()), (7, "skipped".to_owned())]
    );

    // A different trial end (an extension) earns its own reminder.
    trial_ends_in(&pool, acme, 20).await;
    assert_eq!(remind(&app).await, 1);
    let reminders = templates_to(&app, "ada@acme.test", "trial_ending").await;
    assert_eq!(reminders.len(), 2);
    assert!(reminders[0].contains("ends tomorrow"), "{}", reminders[0]);
    // The billing page still shows the running trial.
    let page = owner.get("/app/billing").await;
    assert!(page.body.contains("Your trial ends on"), "{}", page.body);
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn an_ended_signup_trial_is_paused_once_with_its_ledger_row_and_notice(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let mut owner = app
        .signed_up("ada@acme.test", "Acme Metals", "professional")
        .await;
    app.signed_up("bo@linked.test", "Linked Works", "starter").await;
    let acme = organization(&pool, "Acme Metals").await;
    let linked = organization(&pool, "Linked Works").await;
    trial_ends_in(&pool, acme, -1).await;
    // A provider's trial ends at the provider, never here.
    trial_ends_in(&pool, linked, -1).await;
    // language=PostgreSQL
    sqlx::query!(
        "update subscription set provider = 'stripe', provider_subscription_id = 'sub_linked' where organization_id = $1",
        linked
    )
    .execute(&pool)
    .await
    .unwrap();

    // Two workers at once pause it once.
    let (first, second) = tokio::join!(expire(&app), expire(&app));
    assert_eq!(first + second, 1);
    assert_eq!(expire(&app).await, 0);

    // language=PostgreSQL
    let statuses = sqlx::query!(
        "select organization_id as id, status from subscription where organization_id = any($1)",
        &[acme, linked]
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    for row in statuses {
        let expected = if row.id == acme { "paused" } else { "trialing" };
        assert_eq!(row.status, expected);
    }
    // language=PostgreSQL
    let ledger = sqlx::query!(
        r#"
        select kind, status_before, status_after, plan_before, plan_after, mrr_before, mrr_after, cause
        from subscription_event where organization_id = $1 order by subscription_event_id
        "#,
        acme
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(ledger.len(), 2, "signup, then the expiry");
    let expiry = &ledger[1];
    assert_eq!(expiry.kind, "status_changed");
    assert_eq!(
        (expiry.status_before.as_deref(), expiry.status_after.as_str()),
        (Some("trialing"), "paused")
    );
    assert_eq!(
        (expiry.plan_before.as_deref(), expiry.plan_after.as_str()),
        (Some("professional"), "professional")
    );
    assert_eq!((expiry.mrr_before, expiry.mrr_after), (0, 0));
    assert_eq!(expiry.cause, TRIAL_EXPIRED_CAUSE);
    let notices = templates_to(&app, "ada@acme.test", "trial_ended").await;
    assert_eq!(notices.len(), 1);
    assert!(notices[0].contains("account is paused"));
    // Ended trials get no "ends soon" reminder.
    assert_eq!(remind(&app).await, 0);

    // The billing page says so and still offers checkout.
    let page = owner.get("/app/billing").await;
    assert!(page.body.contains("Your trial ended on"), "{}", page.body);
    assert!(page.body.contains("/api/start_checkout"));
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn the_sandbox_announces_a_subscribed_trial_ending_once_through_the_inbox(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let sandbox = app.state.payments.sandbox().expect("the sandbox is the default");
    let announce = || async {
        let mut tx = app.state.pool.begin().await.unwrap();
        let announced = sandbox.announce_trials_ending(&mut tx).await.unwrap();
        tx.commit().await.unwrap();
        announced
    };
    let drain = || async {
        process_due(
            &app.state.pool,
            app.state.payments.provider(),
            &app.state.flow_context(),
            &app.state.clock,
            1000,
        )
        .await
        .unwrap()
    };
    let mut owner = app.signed_up("ada@acme.test", "Acme Metals", "starter").await;
    let request_id = Uuid::new_v4().to_string();
    let checkout = owner
        .submit(
            "/api/start_checkout",
            &[
                ("tier", "starter"),
                ("cycle", "monthly"),
                ("request_id", &request_id),
            ],
        )
        .await;
    let location = checkout.headers["location"].to_str().unwrap().to_owned();
    let session_id = location.rsplit('/').next().unwrap();
    let paid = owner
        .submit(
            "/api/sandbox_pay",
            &[("session_id", session_id), ("card_number", "4242 4242 4242 4242")],
        )
        .await;
    assert!(paid.headers.contains_key("location"), "{}", paid.body);
    drain().await;
    assert_eq!(announce().await, 0, "14 days out");

    // The sandbox's clock: the carried-over trial now ends in two days.
    // language=PostgreSQL
    sqlx::query!(
        r#"
        update sandbox_subscription
        set snapshot = jsonb_set(snapshot, '{trial_end}', to_jsonb(extract(epoch from now())::bigint + 2 * 86400))
        "#
    )
    .execute(&pool)
    .await
    .unwrap();
    assert_eq!(announce().await, 1);
    assert_eq!(announce().await, 0, "announced once");
    assert!(drain().await.processed >= 1);

    let reminders = templates_to(&app, "ada@acme.test", "trial_ending").await;
    assert_eq!(reminders.len(), 1);
    assert!(reminders[0].contains("ends in 2 days"), "{}", reminders[0]);
    assert!(
        reminders[0].contains("card on file is charged $49.00 on"),
        "the charge and its day: {}",
        reminders[0]
    );
    // language=PostgreSQL
    let event_types = sqlx::query_scalar!(
        "select event_type from webhook_event where provider = 'sandbox' and event_type like '%trial_will_end'"
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(event_types, ["customer.subscription.trial_will_end"]);
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn test_mode_ends_a_signup_trial_now_once(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let mut owner = app
        .signed_up("ada@acme.test", "Acme Metals", "professional")
        .await;
    let page = owner.get("/app/billing").await;
    assert!(page.body.contains("End the trial now"), "{}", page.body);

    let ended = owner.submit("/api/sandbox_end_trial", &[]).await;
    assert_eq!(ended.headers["location"], "/app/billing?trial_ended=1");
    let acme = organization(&pool, "Acme Metals").await;
    // language=PostgreSQL
    let status = sqlx::query_scalar!("select status from subscription where organization_id = $1", acme)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(status, "paused");
    assert_eq!(templates_to(&app, "ada@acme.test", "trial_ended").await.len(), 1);
    let page = owner.get("/app/billing").await;
    assert!(!page.body.contains("End the trial now"));

    let again = owner.call("/api/sandbox_end_trial", &[]).await;
    assert_eq!(again.status, 409, "{}", again.body);
    assert!(again.body.contains("no running trial"), "{}", again.body);
}

/// The ledger rows of an organisation as (kind, status after, occurred, recorded).
async fn ledger_times(
    pool: &PgPool,
    organization_id: Uuid,
) -> Vec<(
    String,
    String,
    chrono::DateTime<chrono::Utc>,
    chrono::DateTime<chrono::Utc>,
)> {
    // language=PostgreSQL
    sqlx::query!(
        r#"
        select kind, status_after, occurred_at as "occurred_at: chrono::DateTime<chrono::Utc>",
               recorded_at as "recorded_at: chrono::DateTime<chrono::Utc>"
        from subscription_event where organization_id = $1 order by subscription_event_id
        "#,
        organization_id
    )
    .fetch_all(pool)
    .await
    .unwrap()
    .into_iter()
    .map(|r| (r.kind, r.status_after, r.occurred_at, r.recorded_at))
    .collect()
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn a_signup_trial_runs_its_course_by_the_clock_alone(pool: PgPool) {
    use chrono::TimeDelta;

    let app = TestApp::spawn(pool.clone()).await;
    let clock = &app.state.clock;
    let mut owner = app
        .signed_up("ada@acme.test", "Acme Metals", "professional")
        .await;
    let acme = organization(&pool, "Acme Metals").await;
    let signed_up_at = ledger_times(&pool, acme).await[0].2;

    // Six-hourly through the fortnight, as the schedules would see it:
    // the reminders go out on days 7, 11 and 13, each once, then the
    // trial is paused once, dated at its end.
    let mut sent_on: Vec<(i64, String)> = Vec::new();
    for step in 0..=(14 * 4) {
        app.run_due_work().await;
        let reminders = templates_to(&app, "ada@acme.test", "trial_ending").await;
        if reminders.len() > sent_on.len() {
            assert_eq!(reminders.len(), sent_on.len() + 1, "one at a time");
            sent_on.push((
                step / 4,
                reminders[0].lines().next().unwrap_or_default().to_owned(),
            ));
        }
        if step == 7 * 4 + 1 {
            // Past the week-long session lifetime, the portal asks to sign in again.
            let page = owner.get("/app").await;
            assert_eq!(page.status, 303, "{}", page.body);
            owner.sign_in("ada@acme.test").await;
        }
        assert!(clock.advance(TimeDelta::hours(6)));
    }
    let days: Vec<i64> = sent_on.iter().map(|(day, _)| *day).collect();
    assert_eq!(days, [7, 11, 13], "{sent_on:?}");
    assert!(sent_on[0].1.contains("ends in 7 days"), "{sent_on:?}");
    assert!(sent_on[1].1.contains("ends in 3 days"), "{sent_on:?}");
    assert!(sent_on[2].1.contains("ends tomorrow"), "{sent_on:?}");
    let subjects: Vec<String> = sqlx::query_scalar(
        "select subject from email_outbox where template = 'trial_ending' order by created_at",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(subjects[1].starts_with("Action needed"), "{subjects:?}");
    assert!(subjects[2].starts_with("Last day"), "{subjects:?}");

    assert_eq!(templates_to(&app, "ada@acme.test", "trial_ended").await.len(), 1);
    let ledger = ledger_times(&pool, acme).await;
    assert_eq!(ledger.len(), 2, "{ledger:?}");
    let (kind, status, occurred, recorded) = &ledger[1];
    assert_eq!((kind.as_str(), status.as_str()), ("status_changed", "paused"));
    assert_eq!(
        *occurred,
        signed_up_at + TimeDelta::days(14),
        "when the trial ended"
    );
    assert!(
        *recorded >= *occurred && *recorded - *occurred <= TimeDelta::hours(6),
        "recorded when the clock said, not the wall's time: {recorded}"
    );
    owner.sign_in("ada@acme.test").await;
    let page = owner.get("/app/billing").await;
    assert!(page.body.contains("Your trial ended on"), "{}", page.body);
    // Every period of the reminder schedule ran once, whatever the passes.
    // language=PostgreSQL
    let doubled = sqlx::query_scalar!(
        r#"select count(*) as "n!" from (select period_start from schedule_tick
           where schedule = 'trials.remind' group by period_start having count(*) > 1) d"#
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(doubled, 0);
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn an_extended_trial_is_reminded_again_for_its_new_end(pool: PgPool) {
    use chrono::TimeDelta;
    let app = TestApp::spawn(pool.clone()).await;
    let clock = &app.state.clock;
    app.signed_up("ada@acme.test", "Acme Metals", "professional")
        .await;
    let acme = organization(&pool, "Acme Metals").await;
    // Day 12: the 7- and 3-day reminders are out.
    for _ in 0..2 {
        app.run_due_work().await;
    }
    assert!(clock.advance(TimeDelta::days(7)));
    app.run_due_work().await;
    assert!(clock.advance(TimeDelta::days(5)));
    app.run_due_work().await;
    assert_eq!(templates_to(&app, "ada@acme.test", "trial_ending").await.len(), 2);

    // An admin extends it by 10 days: the trial now ends on day 24.
    let mut tx = pool.begin().await.unwrap();
    trials::extend_signup_trial(&mut tx, acme, 10, "admin:test", clock.now())
        .await
        .unwrap()
        .expect("a trial to extend");
    tx.commit().await.unwrap();
    app.run_due_work().await;
    assert_eq!(
        templates_to(&app, "ada@acme.test", "trial_ending").await.len(),
        2,
        "twelve days left: nothing due for the new end yet"
    );
    // Day 17: the new end's 7-day reminder; day 21: its 3-day; day 23: its 1-day.
    let mut lines = Vec::new();
    for days in [5, 4, 2] {
        assert!(clock.advance(TimeDelta::days(days)));
        app.run_due_work().await;
        app.run_due_work().await;
        let reminders = templates_to(&app, "ada@acme.test", "trial_ending").await;
        lines.push(reminders[0].lines().next().unwrap_or_default().to_owned());
        assert_eq!(reminders.len(), 2 + lines.len(), "{lines:?}");
    }
    assert!(
        lines[0].contains("in 7 days") && lines[1].contains("in 3 days") && lines[2].contains("tomorrow"),
        "{lines:?}"
    );
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn after_three_days_down_only_the_latest_reminder_goes_out(pool: PgPool) {
    use chrono::TimeDelta;
    let app = TestApp::spawn(pool.clone()).await;
    let clock = &app.state.clock;
    app.signed_up("ada@acme.test", "Acme Metals", "professional")
        .await;
    let acme = organization(&pool, "Acme Metals").await;
    assert!(clock.advance(TimeDelta::days(6)));
    app.run_due_work().await;
    assert!(
        templates_to(&app, "ada@acme.test", "trial_ending")
            .await
            .is_empty()
    );
    // Down from day 6 to day 12 and a bit: the 7- and 3-day moments passed.
    assert!(clock.advance(TimeDelta::days(6) + TimeDelta::hours(3)));
    app.run_due_work().await;
    app.run_due_work().await;
    let reminders = templates_to(&app, "ada@acme.test", "trial_ending").await;
    assert_eq!(reminders.len(), 1, "one catch-up reminder, not two");
    assert!(reminders[0].contains("ends in 2 days"), "{}", reminders[0]);
    assert_eq!(
        reminders_recorded(&pool, acme).await,
        [(3, "sent".to_owned()), (7, "skipped".to_owned())]
    );
    // The missed periods of the schedule were recorded as skipped, not run.
    // language=PostgreSQL
    let skipped = sqlx::query_scalar!(
        r#"select count(*) as "n!" from schedule_tick where schedule = 'trials.remind' and job_id is null"#
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(skipped > 500, "six days of 15-minute periods: {skipped}");
}
