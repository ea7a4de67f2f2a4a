//! Found by trying to break it, round two, each finding as the class it is:
//! simultaneous guesses spend the budget, a signed-out session stays signed
//! out, a stranger cannot lock an admin out of a proven device, secrets
//! shown once never sit whole in the session table, webhooks reach no
//! private address and no slow receiver holds up another, and no input
//! reaches a 500, a panic or the console's mouth.

use crate::admin_console::enrolled_admin;
use crate::helpers::*;
use crate::host_api::{api_key, call, organization_id};
use crate::hostile::post_from;
use crate::outbound::receiver;
use app::admin::sign_in::totp::code_at;
use app::outbound::address::PrivateHosts;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use server::host_api::keys::Scope;
use server::outbound::{Sender, resolve_reachable};
use sqlx::PgPool;
use std::time::{Duration, Instant};

const ADMIN: &str = "root@gatehouse.test";

/// The error a server function answered a script (JSON) with.
fn json_error(response: &TestResponse) -> app::error::AppError {
    serde_json::from_str(&response.body).unwrap_or_else(|_| panic!("not an error: {}", response.body))
}

fn throttled(response: &TestResponse) -> bool {
    response.status == StatusCode::TOO_MANY_REQUESTS
        || matches!(form_error(response), app::error::AppError::TooManyRequests { .. })
}

/// An admin past the password step only (the second factor pending).
async fn pending_admin(app: &TestApp) -> Browser<'_> {
    let mut browser = app.browser();
    let login = browser
        .submit("/api/admin_login", &[("email", ADMIN), ("password", PASSWORD)])
        .await;
    assert_eq!(login.headers["location"], "/admin/verify");
    browser
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn simultaneous_wrong_codes_spend_the_second_factor_budget_instead_of_racing_it(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    enrolled_admin(&app).await;
    let pending = pending_admin(&app).await;
    let cookie = pending.cookie.clone();
    // 200 at once: half look like app codes, half like recovery codes.
    let guesses = (0..200).map(|n| {
        let code = if n % 2 == 0 {
            format!("{:06}", (n * 7919) % 1_000_000)
        } else {
            format!("ABCDE-{n:05}")
        };
        let cookie = cookie.clone();
        let app = &app;
        async move {
            let mut browser = Browser { app, cookie };
            browser.submit("/api/admin_verify", &[("code", &code)]).await
        }
    });
    let answers = futures::future::join_all(guesses).await;
    let refused = answers.iter().filter(|a| throttled(a)).count();
    let evaluated = answers
        .iter()
        .filter(|a| matches!(form_error(a), app::error::AppError::Validation { ref field, .. } if field == "code"))
        .count();
    assert_eq!(refused + evaluated, 200, "every guess is answered, none with 5xx");
    // The budget is 50 an hour, and enrolment spent one of it.
    assert!(
        evaluated <= 50,
        "{evaluated} guesses were checked against a budget of 50"
    );
    assert!(refused >= 150);
    // The right code waits too now: the budget is spent.
    let secret: Vec<u8> = sqlx::query_scalar("select totp_secret from platform_admin")
        .fetch_one(&pool)
        .await
        .unwrap();
    let code = code_at(&secret, ADMIN, app.state.clock.now()).unwrap();
    let mut browser = Browser {
        app: &app,
        cookie: cookie.clone(),
    };
    assert!(throttled(
        &browser.submit("/api/admin_verify", &[("code", &code)]).await
    ));
}

/// The number of session rows with `id`.
async fn session_rows(pool: &PgPool, browser: &Browser<'_>) -> i64 {
    let id = browser
        .cookie
        .as_deref()
        .unwrap()
        .split(';')
        .find_map(|pair| pair.trim().strip_prefix("gatehouse_session="))
        .unwrap()
        .to_owned();
    sqlx::query_scalar("select count(*) from tower_sessions.session where id = $1")
        .bind(id)
        .fetch_one(pool)
        .await
        .unwrap()
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn a_session_signed_out_while_its_requests_are_in_flight_stays_signed_out(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    // The console: every request of a full admin session restarts its idle
    // clock, so every one in flight writes its session back.
    let (admin, _) = enrolled_admin(&app).await;
    let cookie = admin.cookie.clone();
    let in_flight = (0..50).map(|_| {
        let cookie = cookie.clone();
        let app = &app;
        async move { Browser { app, cookie }.get("/admin").await.status }
    });
    let sign_out = async {
        tokio::time::sleep(Duration::from_millis(5)).await;
        let mut browser = Browser {
            app: &app,
            cookie: cookie.clone(),
        };
        browser.submit("/api/admin_logout", &[]).await
    };
    let (statuses, signed_out) = tokio::join!(futures::future::join_all(in_flight), sign_out);
    assert_eq!(signed_out.headers["location"], "/admin/login");
    assert!(statuses.iter().all(|s| s.as_u16() < 500));
    let browser = Browser {
        app: &app,
        cookie: cookie.clone(),
    };
    assert_eq!(session_rows(&pool, &browser).await, 0, "no request wrote it back");
    for _ in 0..5 {
        let mut browser = Browser {
            app: &app,
            cookie: cookie.clone(),
        };
        let page = browser.get("/admin").await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "the stolen cookie is dead");
    }

    // The portal's sessions likewise: switching organisation writes the session.
    let owner = app.signed_up("ada@acme.test", "Acme", "starter").await;
    let org = organization_id(&pool, "Acme").await.to_string();
    let cookie = owner.cookie.clone();
    let in_flight = (0..50).map(|_| {
        let (cookie, org) = (cookie.clone(), org.clone());
        let app = &app;
        async move {
            let mut browser = Browser { app, cookie };
            browser
                .submit("/api/switch_organization", &[("organization_id", &org)])
                .await
                .status
        }
    });
    let sign_out = async {
        tokio::time::sleep(Duration::from_millis(5)).await;
        Browser {
            app: &app,
            cookie: cookie.clone(),
        }
        .submit("/api/logout", &[])
        .await
    };
    let (statuses, _) = tokio::join!(futures::future::join_all(in_flight), sign_out);
    assert!(statuses.iter().all(|s| s.as_u16() < 500));
    let browser = Browser {
        app: &app,
        cookie: cookie.clone(),
    };
    assert_eq!(session_rows(&pool, &browser).await, 0);
    let page = Browser {
        app: &app,
        cookie: cookie.clone(),
    }
    .get("/app")
    .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn strangers_guessing_from_many_addresses_slow_themselves_not_the_admin_on_a_proven_device(
    pool: PgPool,
) {
    let app = TestApp::with_settings(pool.clone(), &[("GATEHOUSE_TRUST_FORWARDED_FOR", "true")]);
    sync_shipped_catalog(&pool).await;
    // Enrolment proves the second factor: this browser is a known device.
    let (mut owner, _) = enrolled_admin(&app).await;
    assert!(
        owner
            .cookie
            .as_deref()
            .unwrap()
            .contains("gatehouse_admin_device="),
        "{:?}",
        owner.cookie
    );
    owner.submit("/api/admin_logout", &[]).await;
    let wrong = [("email", ADMIN), ("password", "wrong guess")];
    let right = [("email", ADMIN), ("password", PASSWORD)];
    // One address: throttled after five guesses at this account.
    let mut stranger = app.browser();
    let mut refusals = 0;
    for _ in 0..8 {
        refusals += usize::from(throttled(
            &post_from(&mut stranger, "203.0.113.9", "/api/admin_login", &wrong).await,
        ));
    }
    assert_eq!(refusals, 3, "the sixth guess from one address and later wait");
    // Many addresses: the account's budget for unknown devices is spent...
    for n in 0..60 {
        post_from(
            &mut app.browser(),
            &format!("192.0.2.{n}"),
            "/api/admin_login",
            &wrong,
        )
        .await;
    }
    let unknown = post_from(&mut app.browser(), "198.51.100.8", "/api/admin_login", &right).await;
    assert!(
        throttled(&unknown),
        "an unknown device waits: {:?}",
        form_error(&unknown)
    );
    // ...while the owner's proven device still signs in, and finishes with the app's code.
    let on_device = post_from(&mut owner, "198.51.100.7", "/api/admin_login", &right).await;
    assert_eq!(
        on_device.headers["location"], "/admin/verify",
        "{}",
        on_device.body
    );
    // A forged device cookie is no proven device.
    let mut forger = Browser {
        app: &app,
        cookie: Some("gatehouse_admin_device=forged-token-value".to_owned()),
    };
    let forged = post_from(&mut forger, "198.51.100.9", "/api/admin_login", &right).await;
    assert!(throttled(&forged));
}

/// Every session row's data, as bytes.
async fn session_bytes(pool: &PgPool) -> Vec<Vec<u8>> {
    sqlx::query_scalar("select data from tower_sessions.session")
        .fetch_all(pool)
        .await
        .unwrap()
}

fn holds(rows: &[Vec<u8>], secret: &str) -> bool {
    rows.iter().any(|row| {
        row.windows(secret.len())
            .any(|window| window == secret.as_bytes())
    })
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn secrets_shown_once_never_sit_whole_in_the_session_table(pool: PgPool) {
    let app = TestApp::with_settings(pool.clone(), &[("GATEHOUSE_WEBHOOK_PRIVATE_HOSTS", "127.0.0.1")]);
    sync_shipped_catalog(&pool).await;
    let (mut admin, codes) = enrolled_admin(&app).await;
    // The recovery codes were shown (enrolled_admin read them); none stays.
    for code in &codes {
        assert!(!holds(&session_bytes(&pool).await, code));
    }

    admin
        .submit(
            "/api/admin_create_api_key",
            &[("name", "host"), ("scope", "read")],
        )
        .await;
    let prefix: String = sqlx::query_scalar("select prefix from api_key where name = 'host'")
        .fetch_one(&pool)
        .await
        .unwrap();
    let waiting = session_bytes(&pool).await;
    assert!(
        !holds(&waiting, &format!("{prefix}_")),
        "the key is not in the session table"
    );
    let page = admin.get("/admin/api-keys").await;
    let key = page
        .body
        .split("data-fresh-key")
        .nth(1)
        .and_then(|rest| rest.split('>').nth(1))
        .and_then(|rest| rest.split('<').next())
        .expect("the page shows the key")
        .to_owned();
    assert!(key.starts_with(&format!("{prefix}_")));
    let org_less = call(&app, Some(&key), "GET", "/api/v1/organizations", None).await;
    assert_eq!(org_less.0, StatusCode::OK, "the key shown is the key made");
    assert!(
        !admin.get("/admin/api-keys").await.body.contains("data-fresh-key"),
        "once"
    );
    // The session half alone (a stolen database) or the cookie alone (a
    // stolen cookie, another browser) reveals nothing.
    admin
        .submit(
            "/api/admin_create_api_key",
            &[("name", "second"), ("scope", "read")],
        )
        .await;
    let pad_less = Browser {
        app: &app,
        cookie: admin.cookie.as_deref().map(|c| {
            c.split(';')
                .filter(|p| !p.contains("gatehouse_reveal_"))
                .collect::<Vec<_>>()
                .join(";")
        }),
    }
    .get("/admin/api-keys")
    .await;
    assert!(!pad_less.body.contains("data-fresh-key"));

    let (url, _) = receiver(0).await;
    admin
        .submit(
            "/api/admin_add_webhook_endpoint",
            &[("url", url.as_str()), ("description", "host")],
        )
        .await;
    let secret: String = sqlx::query_scalar("select secret from webhook_endpoint")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(!holds(&session_bytes(&pool).await, &secret));
    assert!(!holds(
        &session_bytes(&pool).await,
        secret.trim_start_matches("whsec_")
    ));
    let page = admin.get("/admin/webhooks").await;
    assert!(
        page.body.contains(&secret),
        "shown to the browser holding the pad"
    );
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn webhook_endpoints_at_private_addresses_are_refused_at_entry_and_at_connect_time(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let (mut admin, _) = enrolled_admin(&app).await;
    for private in [
        "http://127.0.0.1:9000/hooks",
        "http://localhost/hooks",
        "http://0.0.0.0/",
        "http://[::1]/",
        "http://2130706433/",
        "http://0x7f.1/",
        "http://127.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.1.2.3/",
        "http://172.20.0.1/",
        "http://192.168.0.10/",
        "http://[fd12:3456::1]/",
        "http://[::ffff:10.0.0.1]/",
    ] {
        let refused = admin
            .submit(
                "/api/admin_add_webhook_endpoint",
                &[("url", private), ("description", "x")],
            )
            .await;
        assert!(
            matches!(form_error(&refused), app::error::AppError::Validation { ref field, .. } if field == "url"),
            "{private}: {:?}",
            form_error(&refused)
        );
    }
    let stored: i64 = sqlx::query_scalar("select count(*) from webhook_endpoint")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(stored, 0);

    // At connect time: a name is judged by every address it resolves to.
    let refused = resolve_reachable("localhost", &PrivateHosts::none()).await;
    assert!(refused.is_err_and(|e| e.to_string().contains("private")));
    assert!(
        !resolve_reachable("localhost", &PrivateHosts::parse("localhost"))
            .await
            .unwrap()
            .is_empty()
    );

    // An endpoint stored before these checks (or by hand) is not posted to.
    let (url, received) = receiver(0).await;
    sqlx::query(
        "insert into webhook_endpoint (url, description, secret, created_at) values ($1, 'old', $2, now())",
    )
    .bind(&url)
    .bind(server::outbound::new_secret())
    .execute(&pool)
    .await
    .unwrap();
    let mut tx = pool.begin().await.unwrap();
    app::outbound::events::record(
        &mut tx,
        app.state.clock.now(),
        app::outbound::events::EventType::EntitlementsUpdated,
        "probe",
        None,
        json!({ "n": 1 }),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    crate::outbound::deliver_due(&app, &Sender::default()).await;
    assert!(
        received.lock().unwrap().requests.is_empty(),
        "nothing reached the private address"
    );
    let error: Option<String> = sqlx::query_scalar("select error from outbound_attempt")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(
        error.unwrap().contains("private"),
        "the attempt says why, not what is there"
    );
}

/// A receiver that answers 200 at once, then streams its body for `seconds`.
async fn slow_receiver(seconds: u64) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = hits.clone();
    let app = axum::Router::new().route(
        "/hooks",
        axum::routing::post(move || {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async move {
                let chunks = futures::stream::unfold(0u64, move |sent| async move {
                    if sent >= seconds * 10 {
                        return None;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    Some((Ok::<_, std::io::Error>(vec![b'x'; 4096]), sent + 1))
                });
                axum::body::Body::from_stream(chunks)
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{address}/hooks"), hits)
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn a_slow_receiver_holds_up_no_other_endpoint(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let loopback = PrivateHosts::parse("127.0.0.1");
    let (slow, slow_hits) = slow_receiver(10).await;
    let (healthy, received) = receiver(0).await;
    for (url, name) in [(&slow, "slow"), (&healthy, "healthy")] {
        server::outbound::add_endpoint(&pool, url, name, &app.state.clock, &loopback)
            .await
            .unwrap();
    }
    let mut context = app.state.job_context();
    context.sender = Sender::new(loopback);
    server::runner::spawn(
        server::runner::Runner::gatehouse_kind("webhooks", app::outbound::events::DELIVER_KIND),
        context,
        tokio_util::sync::CancellationToken::new(),
    );
    for n in 0..3 {
        let started = Instant::now();
        let mut tx = pool.begin().await.unwrap();
        app::outbound::events::record(
            &mut tx,
            app.state.clock.now(),
            app::outbound::events::EventType::EntitlementsUpdated,
            &format!("event-{n}"),
            None,
            json!({ "n": n }),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        loop {
            if received.lock().unwrap().requests.len() > n {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(1),
                "event {n} reached the healthy endpoint within a second"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        println!(
            "event {n} reached the healthy endpoint in {:?}",
            started.elapsed()
        );
    }
    assert!(
        slow_hits.load(std::sync::atomic::Ordering::SeqCst) >= 1,
        "the slow one was tried too"
    );
    // The slow answer is read only up to its cap, well before it would end.
    let started = Instant::now();
    loop {
        let recorded: i64 = sqlx::query_scalar(
            "select count(*) from outbound_attempt a join outbound_delivery d using (delivery_id)
             join webhook_endpoint w using (endpoint_id) where w.description = 'slow'",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        if recorded > 0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(9),
            "the slow attempt ended at the read cap"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn the_proven_device_cookie_reaches_the_sign_in_it_is_for(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let (mut admin, _) = enrolled_admin(&app).await;
    admin.submit("/api/admin_logout", &[]).await;
    let mut browser = pending_admin(&app).await;
    let secret: Vec<u8> = sqlx::query_scalar("select totp_secret from platform_admin")
        .fetch_one(&pool)
        .await
        .unwrap();
    // The enrolment's code works once: the next one.
    app.state.clock.advance(chrono::TimeDelta::seconds(31));
    let code = code_at(&secret, ADMIN, app.state.clock.now()).unwrap();
    let verified = browser.submit("/api/admin_verify", &[("code", &code)]).await;
    assert_eq!(verified.headers["location"], "/admin");
    let device = verified
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|v| v.starts_with("gatehouse_admin_device="))
        .expect("the device is remembered");
    // The password step posts to /api/admin_login: a narrower path would
    // keep the cookie from the very request it is for.
    for attribute in ["Path=/;", "HttpOnly", "SameSite=Strict"] {
        assert!(device.contains(attribute), "{device}");
    }
    let stored: i64 = sqlx::query_scalar("select count(*) from admin_known_device")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(stored, 2, "one for enrolment, one for this sign-in; hashes only");
}

mod input_bounds;
