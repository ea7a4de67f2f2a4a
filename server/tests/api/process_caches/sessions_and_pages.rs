//! Sessions, users and the portal's cached pages across instances: an end or a change on one instance is refused or shown at once by another.

use super::*;

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn a_session_ended_on_one_instance_is_refused_by_another(pool: PgPool) {
    let a = TestApp::spawn(pool.clone()).await;
    let on_a = a.signed_up("ada@acme.test", "Acme", "starter").await;
    let b = listening_instance(&pool).await;
    let mut on_b = Browser {
        app: &b,
        cookie: on_a.cookie.clone(),
    };
    assert_eq!(on_b.get("/app").await.status, StatusCode::OK);
    assert_eq!(b.state.caches.sessions.len(), 1, "B keeps the session it read");

    // A deletion that sends no notice leaves B's copy, so B answers from memory...
    let mut conn = pool.acquire().await.unwrap();
    sqlx::query("set session_replication_role = replica")
        .execute(&mut *conn)
        .await
        .unwrap();
    sqlx::query("delete from tower_sessions.session")
        .execute(&mut *conn)
        .await
        .unwrap();
    sqlx::query("set session_replication_role = origin")
        .execute(&mut *conn)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(on_b.get("/app").await.status, StatusCode::OK);
    // ...until the notice the trigger sends arrives.
    sqlx::query("select pg_notify('gatehouse_sessions', 'all')")
        .execute(&pool)
        .await
        .unwrap();
    let cookie = on_b.cookie.clone();
    eventually("the notice to end the session on B", || async {
        visitor(&b, &cookie).get("/app").await.status == StatusCode::SEE_OTHER
    })
    .await;

    // Signing out through A ends the session on B.
    let mut on_a = a.browser();
    on_a.sign_in("ada@acme.test").await;
    let mut on_b = Browser {
        app: &b,
        cookie: on_a.cookie.clone(),
    };
    assert_eq!(on_b.get("/app").await.status, StatusCode::OK);
    on_a.submit("/api/logout", &[]).await;
    let cookie = on_b.cookie.clone();
    let took = eventually("the sign-out to reach B", || async {
        visitor(&b, &cookie).get("/app").await.status == StatusCode::SEE_OTHER
    })
    .await;
    println!("sign-out reached the other instance in {took:?}");
    assert_eq!(on_b.get("/app").await.status, StatusCode::SEE_OTHER);
}

/// Seats in use on the team page, as `browser` sees it on its instance.
async fn seats_used(browser: &mut Browser<'_>) -> u64 {
    let team = browser.fetch("/api/team").await;
    assert_eq!(team.status, StatusCode::OK, "{}", team.body);
    let team: Value = serde_json::from_str(&team.body).unwrap();
    team["seats_used"].as_u64().unwrap()
}

/// A pool on the same database whose writes fire no triggers (the
/// replication role), so no notice tells any instance of them.
async fn quiet_pool(pool: &PgPool) -> PgPool {
    sqlx::postgres::PgPoolOptions::new()
        .connect_with(
            (*pool.connect_options())
                .clone()
                .options([("session_replication_role", "replica")]),
        )
        .await
        .unwrap()
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn portal_pages_read_the_cache_and_a_post_shows_at_once_on_its_own_instance(pool: PgPool) {
    let a = TestApp::spawn(pool.clone()).await;
    let owner = a.signed_up("ada@acme.test", "Acme", "professional").await;
    // B's own writes fire no triggers (replication role), so no notice tells
    // B of them: only B dropping its own entry can make its pages show them.
    let quiet = quiet_pool(&pool).await;
    let b = listening_instance(&quiet).await;
    let org = organization_id(&pool, "Acme").await;
    let mut on_b = visitor(&b, &owner.cookie);
    assert_eq!(seats_used(&mut on_b).await, 1);

    // An invitation written elsewhere without a notice: B's page still
    // counts from memory...
    let mut conn = pool.acquire().await.unwrap();
    sqlx::query("set session_replication_role = replica")
        .execute(&mut *conn)
        .await
        .unwrap();
    sqlx::query(
        "insert into invitation (organization_id, email, role, token_hash, invited_by, expires_at, created_at)
         select $1, 'quiet@acme.test', 'member', convert_to('quiet-token', 'UTF8'), user_id, now() + interval '7 days', now()
         from app_user where email = 'ada@acme.test'",
    )
    .bind(org)
    .execute(&mut *conn)
    .await
    .unwrap();
    drop(conn);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(seats_used(&mut on_b).await, 1, "answered from the cache");
    // ...until the notice the trigger would have sent arrives.
    sqlx::query("select pg_notify('gatehouse_entitlements', $1)")
        .bind(org.to_string())
        .execute(&pool)
        .await
        .unwrap();
    eventually("the notice to reach B's portal", || async {
        seats_used(&mut visitor(&b, &owner.cookie)).await == 2
    })
    .await;

    // A form posted through B is on B's next page at once.
    let invited = on_b
        .submit(
            "/api/invite_member",
            &[("email", "bob@acme.test"), ("role", "member")],
        )
        .await;
    assert_eq!(invited.headers["location"], "/app/team?invited=1");
    assert_eq!(seats_used(&mut on_b).await, 3);
}

async fn user_id(pool: &PgPool, email: &str) -> Uuid {
    sqlx::query_scalar("select user_id from app_user where email = $1")
        .bind(email)
        .fetch_one(pool)
        .await
        .unwrap()
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn a_password_change_or_a_removal_on_one_instance_ends_access_on_another(pool: PgPool) {
    let a = TestApp::spawn(pool.clone()).await;
    let mut laptop = a.signed_up("ada@acme.test", "Acme", "starter").await;
    let bob_on_a = join(&a, &mut laptop, "bob@acme.test", "member").await;
    let carol_on_a = join(&a, &mut laptop, "carol@acme.test", "member").await;
    let b = listening_instance(&pool).await;
    let mut phone = b.browser();
    phone.sign_in("ada@acme.test").await;
    let (mut bob, mut carol) = (visitor(&b, &bob_on_a.cookie), visitor(&b, &carol_on_a.cookie));
    for browser in [&mut phone, &mut bob, &mut carol] {
        assert_eq!(browser.get("/app").await.status, StatusCode::OK);
    }
    assert_eq!(b.state.caches.users.len(), 3, "B keeps the users it read");

    // A change that sends no notice leaves B's copy, so B answers from memory...
    let bob_id = user_id(&pool, "bob@acme.test").await;
    let mut conn = pool.acquire().await.unwrap();
    for statement in [
        "set session_replication_role = replica",
        "update app_user set auth_version = auth_version + 1 where email = 'bob@acme.test'",
        "set session_replication_role = origin",
    ] {
        sqlx::query(statement).execute(&mut *conn).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(bob.get("/app").await.status, StatusCode::OK);
    // ...until a notice names the user.
    sqlx::query("select pg_notify('gatehouse_users', $1)")
        .bind(bob_id.to_string())
        .execute(&pool)
        .await
        .unwrap();
    let cookie = bob.cookie.clone();
    eventually("the notice naming Bob to reach B", || async {
        visitor(&b, &cookie).get("/app").await.status == StatusCode::SEE_OTHER
    })
    .await;

    // A password changed through A ends the other sessions on B.
    let changed = laptop
        .submit(
            "/api/change_password",
            &[
                ("current_password", PASSWORD),
                ("new_password", "a brand new passphrase"),
            ],
        )
        .await;
    assert_eq!(changed.headers["location"], "/app/account?changed=1");
    let cookie = phone.cookie.clone();
    let took = eventually("the password change to reach B", || async {
        visitor(&b, &cookie).get("/app").await.status == StatusCode::SEE_OTHER
    })
    .await;
    println!("a password change reached the other instance in {took:?}");
    assert_eq!(
        visitor(&b, &laptop.cookie).get("/app").await.status,
        StatusCode::OK
    );

    // A member removed through A is no member on B.
    let carol_id = user_id(&pool, "carol@acme.test").await.to_string();
    let removed = laptop
        .call(
            "/api/remove_member",
            &[("user_id", &carol_id), ("confirm", "yes")],
        )
        .await;
    assert_eq!(removed.status, StatusCode::OK);
    let cookie = carol.cookie.clone();
    eventually("the removal to reach B", || async {
        visitor(&b, &cookie).get("/app").await.status == StatusCode::FORBIDDEN
    })
    .await;
}

/// Inserts an invoice and a usage snapshot for `org` without firing a trigger.
async fn quietly_add_invoice_and_snapshot(pool: &PgPool, org: Uuid, number: &str, hours_ago: i32) {
    let mut conn = pool.acquire().await.unwrap();
    sqlx::query("set session_replication_role = replica")
        .execute(&mut *conn)
        .await
        .unwrap();
    sqlx::query(
        "insert into invoice (organization_id, provider, provider_invoice_id, number, status, currency,
                              subtotal, total, amount_due, amount_paid, issued_at)
         values ($1, 'sandbox', $2, $2, 'paid', 'usd', 4900, 4900, 4900, 4900, now())",
    )
    .bind(org)
    .bind(number)
    .execute(&mut *conn)
    .await
    .unwrap();
    sqlx::query(
        "insert into usage_snapshot (organization_id, metric_key, taken_at, value)
         values ($1, 'workspaces', now() - make_interval(hours => $2), 3)",
    )
    .bind(org)
    .bind(hours_ago)
    .execute(&mut *conn)
    .await
    .unwrap();
    sqlx::query("set session_replication_role = origin")
        .execute(&mut *conn)
        .await
        .unwrap();
}

/// How many invoices the billing page lists, and how many rows its usage history has.
async fn billing_page_counts(browser: &mut Browser<'_>) -> (usize, usize) {
    let billing = browser.fetch("/api/billing").await;
    assert_eq!(billing.status, StatusCode::OK, "{}", billing.body);
    let usage = browser.fetch("/api/usage").await;
    assert_eq!(usage.status, StatusCode::OK, "{}", usage.body);
    let billing: Value = serde_json::from_str(&billing.body).unwrap();
    let usage: Value = serde_json::from_str(&usage.body).unwrap();
    (
        billing["invoices"].as_array().unwrap().len(),
        usage["history"].as_array().unwrap().len(),
    )
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn the_billing_page_reads_from_the_cache_until_a_notice_or_its_own_write(pool: PgPool) {
    let a = TestApp::spawn(pool.clone()).await;
    let owner = a.signed_up("ada@acme.test", "Acme", "starter").await;
    let quiet = quiet_pool(&pool).await;
    let b = listening_instance(&quiet).await;
    let org = organization_id(&pool, "Acme").await;
    let mut on_b = visitor(&b, &owner.cookie);
    // No invoice yet; the history is its header row alone.
    assert_eq!(billing_page_counts(&mut on_b).await, (0, 1));

    quietly_add_invoice_and_snapshot(&pool, org, "in_quiet_1", 2).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        billing_page_counts(&mut on_b).await,
        (0, 1),
        "answered from the cache"
    );
    sqlx::query("select pg_notify('gatehouse_entitlements', $1)")
        .bind(org.to_string())
        .execute(&pool)
        .await
        .unwrap();
    eventually("the notice to reach B's billing page", || async {
        billing_page_counts(&mut visitor(&b, &owner.cookie)).await == (1, 2)
    })
    .await;

    // Any form posted through B drops B's reads of its organisation.
    quietly_add_invoice_and_snapshot(&pool, org, "in_quiet_2", 1).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(billing_page_counts(&mut on_b).await, (1, 2));
    let invited = on_b
        .submit(
            "/api/invite_member",
            &[("email", "bob@acme.test"), ("role", "member")],
        )
        .await;
    assert_eq!(invited.headers["location"], "/app/team?invited=1");
    assert_eq!(billing_page_counts(&mut on_b).await, (2, 3));
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn invoices_cards_and_snapshots_announce_their_organisation(pool: PgPool) {
    let a = TestApp::spawn(pool.clone()).await;
    a.signed_up("ada@acme.test", "Acme", "starter").await;
    let org = organization_id(&pool, "Acme").await;
    let mut listener = sqlx::postgres::PgListener::connect_with(&pool).await.unwrap();
    listener.listen("gatehouse_entitlements").await.unwrap();
    for statement in [
        "insert into invoice (organization_id, provider, provider_invoice_id, status, currency,
                              subtotal, total, amount_due, amount_paid, issued_at)
         values ($1, 'sandbox', 'in_loud', 'open', 'usd', 4900, 4900, 4900, 0, now())",
        "update invoice set status = 'paid', amount_paid = 4900 where organization_id = $1",
        "insert into usage_snapshot (organization_id, metric_key, taken_at, value) values ($1, 'workspaces', now(), 1)",
        "insert into sandbox_customer (customer_id, organization_id) values ('cus_loud', $1)",
        "update sandbox_customer set card_last4 = '4242' where organization_id = $1",
        "delete from invoice where organization_id = $1",
    ] {
        sqlx::query(statement).bind(org).execute(&pool).await.unwrap();
        let notice = tokio::time::timeout(Duration::from_secs(5), listener.recv())
            .await
            .unwrap_or_else(|_| panic!("no notice for: {statement}"))
            .unwrap();
        assert_eq!(notice.payload(), org.to_string(), "{statement}");
    }
}
