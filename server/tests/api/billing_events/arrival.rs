//! Events that arrive foreign, shuffled, while the server is killed, or twice over: each is applied once and the end state is the in-order one.

use super::*;

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn foreign_customers_are_unmatched_unknown_types_acknowledged_and_outages_retried(pool: PgPool) {
    let (mock, stripe) = stripe_mock().await;
    let app = stripe_app(pool.clone(), &mock.uri()).await;
    let foreign = subscription(
        "sub_foreign",
        "cus_not_ours",
        "active",
        "starter",
        "monthly",
        0,
        false,
    );
    stripe.set("sub_foreign", foreign.clone());
    deliver_signed(
        &app,
        &stripe_event("evt_foreign", "customer.subscription.created", 10, foreign),
    )
    .await;
    let other = deliver_signed(
        &app,
        &stripe_event(
            "evt_other",
            "billing.future_event",
            11,
            json!({"id": "fe_1", "object": "future"}),
        ),
    )
    .await;
    assert_eq!(other.status, 200, "{}", other.body);
    deliver_signed(
        &app,
        &stripe_event(
            "evt_gone",
            "customer.subscription.deleted",
            12,
            subscription(
                "sub_gone",
                "cus_not_ours",
                "canceled",
                "starter",
                "monthly",
                0,
                false,
            ),
        ),
    )
    .await;
    // A subscription of ours whose re-read fails: Stripe answers 500.
    customer_org(&pool, "cus_ours").await;
    Mock::given(method("GET"))
        .and(path_regex(r"^/v1/subscriptions/sub_flaky$"))
        .respond_with(
            ResponseTemplate::new(500)
                .set_body_json(json!({"error": {"type": "api_error", "message": "boom"}})),
        )
        .with_priority(1)
        .mount(&mock)
        .await;
    deliver_signed(
        &app,
        &stripe_event(
            "evt_flaky",
            "customer.subscription.updated",
            13,
            subscription("sub_flaky", "cus_ours", "active", "starter", "monthly", 0, false),
        ),
    )
    .await;

    let pass = drain(&app).await;
    assert_eq!(
        pass,
        Pass {
            processed: 1,
            unmatched: 2,
            failed: 1
        }
    );
    // language=PostgreSQL
    let rows = sqlx::query!(
        "select provider_event_id, status, attempts, last_error from webhook_event order by provider_event_id"
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let by_id: HashMap<String, (String, i32, Option<String>)> = rows
        .into_iter()
        .map(|r| (r.provider_event_id, (r.status, r.attempts, r.last_error)))
        .collect();
    assert_eq!(by_id["evt_foreign"].0, "unmatched");
    assert!(
        by_id["evt_foreign"]
            .2
            .as_deref()
            .unwrap()
            .contains("cus_not_ours")
    );
    assert_eq!(by_id["evt_gone"].0, "unmatched");
    assert_eq!(by_id["evt_other"].0, "processed");
    assert_eq!(
        (by_id["evt_flaky"].0.as_str(), by_id["evt_flaky"].1),
        ("pending", 1)
    );
    // Nothing of the failed attempt was written.
    // language=PostgreSQL
    let linked =
        sqlx::query_scalar!("select count(*) from subscription where provider_subscription_id = 'sub_flaky'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(linked, Some(0));

    // Stripe keeps failing: the event's job is retried, every attempt a run
    // of its job, until the event is parked and its job dead, kept and shown.
    for _ in 0..20 {
        assert!(app.state.clock.advance(chrono::TimeDelta::hours(2)));
        drain(&app).await;
    }
    // language=PostgreSQL
    let flaky =
        sqlx::query!("select status, attempts from webhook_event where provider_event_id = 'evt_flaky'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(
        (flaky.status.as_str(), flaky.attempts),
        ("failed", server::billing::worker::MAX_ATTEMPTS)
    );
    let dead = app::runner::db::dead_jobs(&pool, 10).await.unwrap();
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0].kind, "provider_event.apply");
    assert!(
        dead[0]
            .last_error
            .as_deref()
            .unwrap_or_default()
            .contains("provider"),
        "{dead:?}"
    );
    let runs = app::runner::db::recent_runs(&pool, true, 50).await.unwrap();
    let failed_runs = runs.iter().filter(|r| r.job_id == dead[0].job_id).count();
    assert_eq!(
        failed_runs,
        server::billing::worker::MAX_ATTEMPTS as usize,
        "{runs:?}"
    );

    // Retrying the dead job puts the event back in the queue: one more attempt.
    let mut conn = pool.acquire().await.unwrap();
    app::admin::operations::work::retry_dead_job(&mut conn, dead[0].job_id, app.state.clock.now())
        .await
        .unwrap()
        .unwrap();
    drop(conn);
    assert_eq!(drain(&app).await.failed, 1, "tried again at once");
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn a_shuffled_sequence_of_200_events_ends_in_the_state_of_in_order_delivery(pool: PgPool) {
    let (mock, stripe) = stripe_mock().await;
    let app = stripe_app(pool.clone(), &mock.uri()).await;
    for (prefix, shuffled) in [("inorder", false), ("shuffled", true)] {
        let (mut events, finals) = history(prefix);
        assert_eq!(events.len(), 200);
        for n in 0..20 {
            customer_org(&pool, &format!("cus_{prefix}_{n}")).await;
        }
        stripe.subscriptions.lock().unwrap().extend(finals);
        if shuffled {
            shuffle(&mut events, 0x5eed);
            // Delivered in a random order and processed in small batches as they arrive.
            for chunk in events.chunks(17) {
                for payload in chunk {
                    let response = deliver_signed(&app, payload).await;
                    assert_eq!(response.status, 200);
                }
                drain(&app).await;
            }
        } else {
            for payload in &events {
                deliver_signed(&app, payload).await;
                drain(&app).await;
            }
        }
    }
    for n in 0..20 {
        let in_order = local_state(&pool, &format!("sub_inorder_{n}")).await;
        let shuffled = local_state(&pool, &format!("sub_shuffled_{n}")).await;
        assert_eq!(in_order, shuffled, "subscription {n}");
        assert_eq!(in_order.0, if n % 5 == 0 { "canceled" } else { "active" });
    }
    // Every invoice ends paid whatever order its events came in.
    // language=PostgreSQL
    let invoices = sqlx::query!("select status, count(*) as \"count!\" from invoice group by status")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(invoices.len(), 1);
    assert_eq!((invoices[0].status.as_str(), invoices[0].count), ("paid", 40));
    // Each linked to its subscription (read from `parent.subscription_details`).
    // language=PostgreSQL
    let unlinked = sqlx::query_scalar!(
        r#"select count(*) as "count!" from invoice where provider_subscription_id is distinct from 'sub_' || substr(provider_invoice_id, 4)"#
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(unlinked, 0, "every invoice names its subscription");
    // All 400 events processed once; ledger rows never repeat a cause, and
    // both orders wrote the same ledger.
    // language=PostgreSQL
    let statuses =
        sqlx::query!("select status, attempts, count(*) as \"count!\" from webhook_event group by 1, 2")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(statuses.len(), 1);
    assert_eq!(
        (
            statuses[0].status.as_str(),
            statuses[0].attempts,
            statuses[0].count
        ),
        ("processed", 1, 400)
    );
    // Both orders wrote the same live ledger: each change once, at the time
    // it happened at Stripe, with the state before it.
    let (in_order, shuffled) = (ledgers(&pool, "inorder").await, ledgers(&pool, "shuffled").await);
    assert_eq!(in_order, shuffled);
    for (n, ledger) in in_order.iter().enumerate() {
        // active, professional, extra users (unless none), past due, active,
        // annual, canceled (every fifth): each a row.
        let expected = 5 + usize::from(n % 4 != 0) + usize::from(n % 5 == 0);
        assert_eq!(ledger.len(), expected, "subscription {n}: {ledger:#?}");
    }
    assert_eq!(in_order.iter().map(Vec::len).sum::<usize>(), 5 * 20 + 15 + 4);
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn events_stored_when_the_server_is_killed_are_each_processed_once_after_restart(pool: PgPool) {
    // Stripe answers slowly, so the kill lands in the middle of the work.
    let mock = MockServer::start().await;
    let stripe = StripeState::default();
    Mock::given(method("GET"))
        .and(path_regex(r"^/v1/subscriptions/[^/]+$"))
        .respond_with(SlowStripe(stripe.clone()))
        .mount(&mock)
        .await;
    server::sync_catalog_file(&pool, &shipped_catalog())
        .await
        .unwrap();
    let mut conn = pool.acquire().await.unwrap();
    for n in 0..60 {
        let (sub, cus) = (format!("sub_crash_{n}"), format!("cus_crash_{n}"));
        customer_org(&pool, &cus).await;
        let current = subscription(&sub, &cus, "active", "professional", "monthly", n % 3, false);
        stripe.set(&sub, current.clone());
        for k in 0..5 {
            let id = format!("evt_crash_{n}_{k}");
            let payload = stripe_event(
                &id,
                "customer.subscription.updated",
                after_signup(k),
                current.clone(),
            );
            let event = stripe_webhook::Webhook::insecure(&payload).unwrap();
            app::billing::inbox::store_event(
                &mut conn,
                app::clock::Clock::System.now(),
                &app::billing::inbox::IncomingEvent {
                    provider: ProviderName::Stripe,
                    provider_event_id: &id,
                    event_type: "customer.subscription.updated",
                    livemode: false,
                    created: chrono::DateTime::from_timestamp(after_signup(k), 0).unwrap(),
                    payload: &payload,
                    decoded: &server::billing::stripe::billing_event_from_stripe_event(&event),
                    raw_body: None,
                },
            )
            .await
            .unwrap();
        }
    }
    drop(conn);
    let database_url = test_database_url(&pool);
    const DONE: &str = "select count(*) from webhook_event where status <> 'pending'";

    let mut first = start_server(&database_url, &mock);
    let before_kill = wait_for(&pool, DONE, |n| n >= 60, 60).await;
    first.kill().unwrap(); // SIGKILL: no graceful shutdown
    first.wait().unwrap();
    let at_kill = wait_for(&pool, DONE, |_| true, 0).await;
    assert!(
        (60..300).contains(&at_kill),
        "killed mid-way ({before_kill} → {at_kill} of 300 done)"
    );

    let mut second = start_server(&database_url, &mock);
    let finished = wait_for(&pool, DONE, |n| n == 300, 120).await;
    second.kill().unwrap();
    second.wait().unwrap();
    assert_eq!(finished, 300, "every stored event is processed after the restart");

    // Exactly once: each event was marked done once (the mark commits with its
    // effects), and each subscription got exactly one ledger row.
    let attempts: Vec<(String, i32)> = sqlx::query_as(
        "select status, attempts from webhook_event where attempts <> 1 or status <> 'processed'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(attempts, [], "no event processed twice or left over");
    let ledger: Vec<(Option<String>, i64)> = sqlx::query_as(
        "select s.provider_subscription_id, count(e.*) from subscription s left join subscription_event e
             on e.subscription_id = s.subscription_id and e.superseded_at is null and e.cause <> 'signup'
         group by 1 having count(e.*) <> 1",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(ledger, [], "one ledger row per subscription");
}

/// Stripe's state, answered after 40 ms.
struct SlowStripe(StripeState);

impl Respond for SlowStripe {
    fn respond(&self, request: &MockRequest) -> ResponseTemplate {
        self.0
            .respond(request)
            .set_delay(std::time::Duration::from_millis(40))
    }
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn trial_will_end_reminds_the_owners_once_and_the_sweep_does_not_repeat_it(pool: PgPool) {
    let (mock, stripe) = stripe_mock().await;
    let app = stripe_app(pool.clone(), &mock.uri()).await;
    app.signed_up("ada@acme.test", "Acme Metals", "starter").await;
    link_stripe_customer(&pool, "Acme Metals", "cus_gh_acme_001").await;
    let now = app::clock::Clock::System.unix();
    let mut trialing = subscription(
        "sub_gh_starter_001",
        "cus_gh_acme_001",
        "trialing",
        "starter",
        "monthly",
        0,
        false,
    );
    trialing["trial_end"] = json!(now + 3 * 86_400);
    stripe.set("sub_gh_starter_001", trialing.clone());
    let warning = stripe_event(
        "evt_trial_will_end",
        "customer.subscription.trial_will_end",
        now,
        trialing.clone(),
    );
    let update = stripe_event("evt_updated", "customer.subscription.updated", now + 1, trialing);
    for payload in [&warning, &warning, &update] {
        assert_eq!(deliver_signed(&app, payload).await.status, 200);
    }
    let pass = drain(&app).await;
    let errors: Vec<(String, Option<String>)> =
        sqlx::query_as("select status, last_error from webhook_event")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(pass.processed, 2, "{pass:?} {errors:?}");

    let reminders: Vec<String> = app
        .emails_to("ada@acme.test")
        .await
        .into_iter()
        .filter(|(template, _)| template == "trial_ending")
        .map(|(_, body)| body)
        .collect();
    assert_eq!(reminders.len(), 1, "one reminder for a duplicate delivery");
    assert!(reminders[0].contains("ends in 3 days"), "{}", reminders[0]);
    assert!(
        reminders[0].contains("card on file is charged"),
        "a subscribed trial is told it turns into the subscription: {}",
        reminders[0]
    );
    assert_eq!(
        app::billing::trials::send_due_reminders(
            &mut pool.acquire().await.unwrap(),
            &[7, 3, 1],
            "test:sweep",
            &app.state.notices(),
            app.state.clock.now(),
            100
        )
        .await
        .unwrap(),
        0,
        "the sweep knows the event already reminded"
    );
}
