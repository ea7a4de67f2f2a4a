//! Provider events as production delivers them: validly signed but hostile
//! bodies, two transactions racing to insert the same invoice, three server
//! processes sharing one database and one shuffled, duplicated history, and
//! a backlog processed long after the fact.

use crate::billing_events::{
    StripeState, after_signup, customer_org, drain, history, invoice, ledgers, local_state, shuffle,
    start_server_on, stripe_mock, subscription, test_database_url, wait_for,
};
use crate::helpers::{WEBHOOK_SECRET, deliver_signed, deliver_webhook, stripe_app, stripe_event};
use app::billing::db::apply_invoice;
use app::billing::domain::{InvoiceSnapshot, InvoiceStatus};
use app::billing::provider::ProviderName;
use serde_json::{Value, json};
use sqlx::PgPool;
use std::collections::HashMap;
use stripe_webhook::Webhook;

/// How a hostile event must end: stored to be processed, or kept as rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kept {
    Pending,
    Rejected,
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn validly_signed_hostile_events_are_acknowledged_and_kept_never_answered_5xx(pool: PgPool) {
    let (mock, stripe) = stripe_mock().await;
    let app = stripe_app(pool.clone(), &mock.uri()).await;
    customer_org(&pool, "cus_hostile").await;
    let object = subscription(
        "sub_hostile",
        "cus_hostile",
        "active",
        "starter",
        "monthly",
        0,
        false,
    );
    stripe.set("sub_hostile", object.clone());
    let event = |id: &str, created: i64, object: &Value| {
        stripe_event(id, "customer.subscription.updated", created, object.clone())
    };
    let with_metadata = |value: &str| {
        let mut object = object.clone();
        object["metadata"] = json!({ "note": value });
        object
    };
    let mut nested = json!("deep");
    for _ in 0..2_000 {
        nested = json!({ "a": nested });
    }
    let mut deep = object.clone();
    deep["metadata"] = json!({});
    deep["description"] = json!(null);
    let deep_event = {
        let mut event: Value = serde_json::from_str(&event("evt_deep", after_signup(7), &deep)).unwrap();
        event["data"]["previous_attributes"] = nested;
        event.to_string()
    };
    let mut foreign_nul = object.clone();
    foreign_nul["customer"] = json!("cus_\u{0}nul");
    let cases: Vec<(&str, String, Kept)> = vec![
        (
            "a NUL in a string",
            event("evt_nul", after_signup(1), &with_metadata("a\u{0}b")),
            Kept::Pending,
        ),
        (
            "a NUL in a key",
            {
                let mut object = object.clone();
                object["metadata"] = json!({ "k\u{0}": "v" });
                event("evt_nul_key", after_signup(2), &object)
            },
            Kept::Pending,
        ),
        (
            "a NUL in the customer id",
            event("evt_nul_customer", after_signup(3), &foreign_nul),
            Kept::Pending,
        ),
        (
            "created = 2^62",
            event("evt_far", 1 << 62, &object),
            Kept::Rejected,
        ),
        (
            "created = -2^62",
            event("evt_past", -(1 << 62), &object),
            Kept::Rejected,
        ),
        (
            "created = i64::MAX",
            event("evt_max", i64::MAX, &object),
            Kept::Rejected,
        ),
        (
            "a NUL in the id",
            event("evt_\u{0}", after_signup(4), &object),
            Kept::Rejected,
        ),
        ("an empty id", event("", after_signup(4), &object), Kept::Rejected),
        (
            "a 300-character id",
            event(&"e".repeat(300), after_signup(4), &object),
            Kept::Rejected,
        ),
        (
            "a NUL in the type",
            stripe_event("evt_type", "customer.\u{0}", after_signup(5), object.clone()),
            Kept::Rejected,
        ),
        ("not JSON", "not json at all".into(), Kept::Rejected),
        ("a JSON array", "[1, 2, 3]".into(), Kept::Rejected),
        (
            "JSON without an id",
            r#"{"object":"event"}"#.into(),
            Kept::Rejected,
        ),
        ("deeply nested", deep_event, Kept::Pending),
        (
            "a 600 KB description",
            event("evt_big", after_signup(8), &with_metadata(&"x".repeat(600_000))),
            Kept::Pending,
        ),
    ];
    for (case, payload, kept) in &cases {
        for delivery in ["first", "again"] {
            let response = deliver_signed(&app, payload).await;
            assert_eq!(response.status, 200, "{case} ({delivery}): {}", response.body);
            let rejected = response.body.contains("\"rejected\"");
            assert_eq!(rejected, *kept == Kept::Rejected, "{case}: {}", response.body);
            assert_eq!(
                response.body.contains("\"duplicate\":true"),
                delivery == "again",
                "{case}: {}",
                response.body
            );
        }
    }
    // Each stored once; the rejected with their reason and raw body.
    // language=PostgreSQL
    let rows = sqlx::query!(
        r#"select status, count(*) as "count!", count(raw_body) as "raw!", count(last_error) as "reasons!"
           from webhook_event group by status order by status"#
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let by_status: HashMap<String, (i64, i64, i64)> = rows
        .into_iter()
        .map(|r| (r.status, (r.count, r.raw, r.reasons)))
        .collect();
    let expected = |k: Kept| cases.iter().filter(|(_, _, kept)| *kept == k).count() as i64;
    assert_eq!(
        by_status["rejected"],
        (
            expected(Kept::Rejected),
            expected(Kept::Rejected),
            expected(Kept::Rejected)
        )
    );
    assert_eq!(by_status["pending"].0, expected(Kept::Pending));
    assert_eq!(
        by_status["pending"].1, 3,
        "the bodies that had to change are kept as received"
    );

    // The worker takes them without a 5xx or a panic: the readable ones are
    // applied, the foreign customer is unmatched.
    let pass = drain(&app).await;
    assert_eq!(pass.failed, 0, "{pass:?}");
    // language=PostgreSQL
    let left =
        sqlx::query_scalar!(r#"select count(*) as "count!" from webhook_event where status = 'pending'"#)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(left, 0);
    assert_eq!(local_state(&pool, "sub_hostile").await.0, "active");
    // The gauge operators alert on counts the rejected.
    server::telemetry::record_queue_depths(&pool).await.unwrap();
    let metrics = app.get("/metrics").await.body;
    assert!(
        metrics.contains(&format!(
            "gatehouse_provider_events{{status=\"rejected\"}} {}",
            expected(Kept::Rejected)
        )),
        "{metrics}"
    );
    // Over the body limit is refused before anything reads it.
    let huge = event(
        "evt_huge",
        after_signup(9),
        &with_metadata(&"x".repeat(1_100_000)),
    );
    assert_eq!(deliver_signed(&app, &huge).await.status, 413);
    // A forged body is still refused, and nothing of it kept.
    let forged = deliver_webhook(
        &app,
        "[1]",
        Some(Webhook::generate_test_header("[1]", "whsec_wrong", None)),
    )
    .await;
    assert_eq!(forged.status, 400);
}

fn invoice_snapshot(id: &str, status: InvoiceStatus) -> InvoiceSnapshot {
    let mut value = invoice(id, "cus_race", "sub_race", status.as_str(), after_signup(0));
    if status == InvoiceStatus::Paid {
        value["amount_paid"] = json!(4900);
    }
    let stripe: stripe_shared::Invoice = serde_json::from_value(value).unwrap();
    server::billing::stripe::invoice_snapshot(&stripe).unwrap()
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn two_first_inserts_of_one_invoice_racing_never_move_it_backwards(pool: PgPool) {
    crate::helpers::sync_shipped_catalog(&pool).await;
    customer_org(&pool, "cus_race").await;
    // Both orders, many times: the earlier transaction inserts and holds
    // its row; the later one's insert waits on it, then re-checks.
    for n in 0..20 {
        let id = format!("in_race_{n}");
        let (first, second) = if n % 2 == 0 {
            (InvoiceStatus::Paid, InvoiceStatus::Open)
        } else {
            (InvoiceStatus::Open, InvoiceStatus::Paid)
        };
        let at = chrono::DateTime::from_timestamp(after_signup(0), 0).unwrap();
        let (first_at, second_at) = if n % 4 < 2 {
            (at, at)
        } else {
            (at + chrono::Duration::seconds(1), at)
        };
        let mut early = pool.begin().await.unwrap();
        apply_invoice(
            &mut early,
            ProviderName::Stripe,
            &invoice_snapshot(&id, first),
            first_at,
        )
        .await
        .unwrap();
        let late = {
            let pool = pool.clone();
            let snapshot = invoice_snapshot(&id, second);
            tokio::spawn(async move {
                let mut tx = pool.begin().await.unwrap();
                apply_invoice(&mut tx, ProviderName::Stripe, &snapshot, second_at)
                    .await
                    .unwrap();
                tx.commit().await.unwrap();
            })
        };
        // The late insert is now waiting on the early row.
        tokio::time::sleep(std::time::Duration::from_millis(30)).await;
        early.commit().await.unwrap();
        late.await.unwrap();
        // language=PostgreSQL
        let stored = sqlx::query!(
            "select status, amount_paid from invoice where provider_invoice_id = $1",
            id
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(
            (stored.status.as_str(), stored.amount_paid),
            ("paid", 4900),
            "race {n}: {first:?} then {second:?}"
        );
    }
}

/// Delivers each payload to one of `ports` (round robin), `concurrency` at a time.
async fn deliver_to_processes(ports: &[u16], payloads: &[String], concurrency: usize) {
    use futures::StreamExt;
    futures::stream::iter(payloads.iter().enumerate())
        .for_each_concurrent(concurrency, |(n, payload)| {
            let port = ports[n % ports.len()];
            async move {
                let signature = Webhook::generate_test_header(payload, WEBHOOK_SECRET, None);
                let status = post(port, payload, &signature).await;
                assert_eq!(status, 200, "delivery {n} to port {port}");
            }
        })
        .await;
}

/// A minimal HTTP/1.1 POST over a TCP stream (the tests have no HTTP client).
async fn post(port: u16, body: &str, signature: &str) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    for _ in 0..100 {
        let Ok(mut stream) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            continue;
        };
        let request = format!(
            "POST /webhooks/stripe HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\nstripe-signature: {signature}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await.unwrap();
        let text = String::from_utf8_lossy(&answer);
        return text
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
    }
    panic!("the server on port {port} never answered");
}

/// Everything local about a run's subscriptions and invoices, for comparing runs.
async fn local_states(pool: &PgPool, run: &str) -> Vec<String> {
    let mut states = Vec::new();
    for n in 0..20 {
        states.push(format!(
            "{:?}",
            local_state(pool, &format!("sub_{run}_{n}")).await
        ));
    }
    // language=PostgreSQL
    let invoices = sqlx::query!(
        r#"select replace(provider_invoice_id, $1, 'run') as "id!", status, amount_paid, amount_due,
                  replace(provider_subscription_id, $1, 'run') as subscription
           from invoice where provider_invoice_id like 'in_' || $1 || '_%' order by 1"#,
        run
    )
    .fetch_all(pool)
    .await
    .unwrap();
    states.extend(invoices.into_iter().map(|i| {
        format!(
            "{} {} {} {} {:?}",
            i.id, i.status, i.amount_paid, i.amount_due, i.subscription
        )
    }));
    states
}

/// The history for `run` set up: organisations, and Stripe's final states.
async fn prepare(pool: &PgPool, stripe: &StripeState, run: &str) -> Vec<String> {
    let (events, finals) = history(run);
    for n in 0..20 {
        customer_org(pool, &format!("cus_{run}_{n}")).await;
    }
    stripe.subscriptions.lock().unwrap().extend(finals);
    events
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn three_server_processes_on_one_database_end_in_the_state_of_in_order_delivery(pool: PgPool) {
    let (mock, stripe) = stripe_mock().await;
    let app = stripe_app(pool.clone(), &mock.uri()).await;
    // The reference: the same history delivered in order, one event at a time.
    for payload in prepare(&pool, &stripe, "inorder").await {
        deliver_signed(&app, &payload).await;
        drain(&app).await;
    }
    // The race: shuffled, three in ten delivered twice, spread over three
    // processes that each run their own workers on this one database.
    let mut racing = prepare(&pool, &stripe, "racing").await;
    let duplicates: Vec<String> = racing.iter().step_by(3).cloned().collect();
    racing.extend(duplicates);
    shuffle(&mut racing, 0xfeed);
    let database_url = test_database_url(&pool);
    let mut processes: Vec<(std::process::Child, u16)> =
        (0..3).map(|_| start_server_on(&database_url, &mock)).collect();
    let ports: Vec<u16> = processes.iter().map(|(_, port)| *port).collect();
    deliver_to_processes(&ports, &racing, 12).await;
    let done = wait_for(
        &pool,
        "select count(*) from webhook_event where provider_event_id like 'evt_racing_%' and status <> 'processed'",
        |left| left == 0,
        120,
    )
    .await;
    for (process, _) in &mut processes {
        process.kill().unwrap();
        process.wait().unwrap();
    }
    assert_eq!(done, 0, "every event processed");
    // language=PostgreSQL
    let stored = sqlx::query_scalar!(
        r#"select count(*) as "count!" from webhook_event where provider_event_id like 'evt_racing_%' and attempts = 1"#
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(stored, 200, "each event stored once and processed once");

    assert_eq!(
        local_states(&pool, "racing").await,
        local_states(&pool, "inorder").await
    );
    assert_eq!(ledgers(&pool, "racing").await, ledgers(&pool, "inorder").await);
    let finals = local_states(&pool, "inorder").await;
    let paid_and_linked = finals
        .iter()
        .filter(|s| s.contains(" paid 4900 ") && s.contains("Some(\"sub_run_"))
        .count();
    assert_eq!(paid_and_linked, 20, "{finals:#?}");
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn a_backlog_processed_late_gives_the_ledger_and_daily_mrr_of_processing_on_time(pool: PgPool) {
    let (mock, stripe) = stripe_mock().await;
    let app = stripe_app(pool.clone(), &mock.uri()).await;
    // On time: each event processed as it arrives.
    for payload in prepare(&pool, &stripe, "ontime").await {
        deliver_signed(&app, &payload).await;
        drain(&app).await;
    }
    // A backlog: everything arrives (shuffled, as retries do) while no
    // worker runs, and is processed long after. Stripe's re-read then says
    // only how things are now.
    let mut backlog = prepare(&pool, &stripe, "backlog").await;
    shuffle(&mut backlog, 0xbac);
    for payload in &backlog {
        assert_eq!(deliver_signed(&app, payload).await.status, 200);
    }
    let pass = drain(&app).await;
    assert_eq!((pass.processed, pass.failed), (200, 0));

    let on_time = ledgers(&pool, "ontime").await;
    assert_eq!(ledgers(&pool, "backlog").await, on_time);
    // Every row is dated when its event happened at Stripe, not when it was processed.
    // language=PostgreSQL
    let rows = sqlx::query!(
        r#"
        select e.occurred_at as "occurred_at: chrono::DateTime<chrono::Utc>", w.provider_created_at as "created: chrono::DateTime<chrono::Utc>"
        from subscription_event e
        join webhook_event w on e.cause = 'stripe:' || w.provider_event_id
        where e.superseded_at is null and w.provider_event_id like 'evt_backlog_%'
        "#
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(rows.len(), on_time.iter().map(Vec::len).sum::<usize>());
    assert!(rows.iter().all(|r| r.occurred_at == r.created));

    // The same daily MRR per organisation: the last live row of each day.
    let daily = |run: &'static str| {
        let pool = pool.clone();
        async move {
            // language=PostgreSQL
            sqlx::query!(
                r#"
                select replace(o.name, $1, 'run') as "organization!", (e.occurred_at at time zone 'UTC')::date as "day!",
                       (array_agg(e.mrr_after order by e.occurred_at desc, e.cause desc))[1] as "mrr!"
                from subscription_event e join organization o using (organization_id)
                where e.superseded_at is null and o.name like 'cus_' || $1 || '_%'
                group by 1, 2 order by 1, 2
                "#,
                run
            )
            .fetch_all(&pool)
            .await
            .unwrap()
            .into_iter()
            .map(|r| (r.organization, r.day, r.mrr))
            .collect::<Vec<_>>()
        }
    };
    let on_time_mrr = daily("ontime").await;
    assert!(!on_time_mrr.is_empty());
    assert_eq!(daily("backlog").await, on_time_mrr);
}
