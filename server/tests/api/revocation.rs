//! Access ends when it is revoked, on every process, whatever happens to
//! the change listener's connection. Each revocation below is written
//! *quietly* (its trigger's notice suppressed), which is exactly what a
//! notice lost while the listener was cut looks like to a process; the
//! cached answer must then end because the process noticed the cut, because
//! its heartbeat went unheard, or because the entry grew too old, and the
//! process that made a change drops it itself.

use crate::admin_console::enrolled_admin;
use crate::helpers::*;
use crate::host_api::{api_key, call, organization_id};
use axum::http::StatusCode;
use server::change_listener::{LISTENER_APPLICATION_NAME, ListenerSettings, spawn_change_listener_with};
use server::host_api::keys::Scope;
use sqlx::PgPool;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// An instance over `pool` whose caches follow notices, with `heartbeat`.
async fn listening(pool: &PgPool, heartbeat: Duration) -> TestApp {
    listening_through(pool, heartbeat, None).await
}

/// [`listening`] with the listener connecting through `connect_options`.
async fn listening_through(
    pool: &PgPool,
    heartbeat: Duration,
    connect_options: Option<sqlx::postgres::PgConnectOptions>,
) -> TestApp {
    let app = TestApp::without_sync(pool.clone());
    spawn_change_listener_with(
        pool.clone(),
        &app.state,
        ListenerSettings {
            heartbeat,
            connect_options,
        },
    );
    let key = api_key(&app, Scope::Read).await;
    let org: uuid::Uuid = sqlx::query_scalar("select organization_id from organization limit 1")
        .fetch_one(pool)
        .await
        .unwrap();
    let uri = format!("/api/v1/organizations/{org}/entitlements");
    within("the listener to start", Duration::from_secs(5), || async {
        call(&app, Some(&key), "GET", &uri, None).await;
        !app.state.caches.standings.is_empty()
    })
    .await;
    app
}

/// Waits up to `bound` for `done`; returns how long it took.
async fn within<F, Fut>(what: &str, bound: Duration, mut done: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    while !done().await {
        assert!(start.elapsed() < bound, "waited {bound:?} for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    start.elapsed()
}

/// Runs `statements` on one connection whose writes fire no triggers.
async fn quietly(pool: &PgPool, statements: &[&str]) {
    let mut conn = pool.acquire().await.unwrap();
    sqlx::query("set session_replication_role = replica")
        .execute(&mut *conn)
        .await
        .unwrap();
    for statement in statements {
        sqlx::query(statement).execute(&mut *conn).await.unwrap();
    }
    sqlx::query("set session_replication_role = origin")
        .execute(&mut *conn)
        .await
        .unwrap();
}

/// The backend pids of this database's change listeners.
async fn listener_backends(pool: &PgPool) -> Vec<i32> {
    sqlx::query_scalar(
        "select pid from pg_stat_activity where application_name = $1 and datname = current_database()",
    )
    .bind(LISTENER_APPLICATION_NAME)
    .fetch_all(pool)
    .await
    .unwrap()
}

/// Five kinds of access, each to be cached on B and then revoked quietly: an
/// API key, a session (signed out), a user's sessions (password changed), a
/// membership (removed) and an organisation's standing (suspended).
struct Accesses {
    key: String,
    org: uuid::Uuid,
    signed_out: Option<String>,
    password_changed: Option<String>,
    removed: Option<String>,
}

/// The people and key, made through A before B starts.
async fn accesses(a: &TestApp) -> Accesses {
    let mut owner = a.signed_up("ada@acme.test", "Acme", "professional").await;
    let bob = join(a, &mut owner, "bob@acme.test", "member").await;
    let carol = join(a, &mut owner, "carol@acme.test", "member").await;
    let dan = join(a, &mut owner, "dan@acme.test", "member").await;
    Accesses {
        key: api_key(a, Scope::Read).await,
        org: organization_id(&a.state.pool, "Acme").await,
        signed_out: bob.cookie.clone(),
        password_changed: carol.cookie.clone(),
        removed: dan.cookie.clone(),
    }
}

/// Each access used once on B, so B holds it in its caches.
async fn cache_on(b: &TestApp, accesses: &Accesses) {
    for cookie in [
        &accesses.signed_out,
        &accesses.password_changed,
        &accesses.removed,
    ] {
        let page = Browser {
            app: b,
            cookie: cookie.clone(),
        }
        .get("/app")
        .await;
        assert_eq!(page.status, StatusCode::OK);
    }
    let (status, body) = crate::host_api::entitlements_of(b, &accesses.key, accesses.org).await;
    assert_eq!(
        (status, body["read_only"].clone()),
        (StatusCode::OK, false.into())
    );
}

/// The session id a browser's cookie carries.
fn session_id(cookie: &Option<String>) -> String {
    cookie
        .as_deref()
        .unwrap()
        .split(';')
        .find_map(|pair| pair.trim().strip_prefix("gatehouse_session="))
        .unwrap()
        .to_owned()
}

/// Revokes every access in the database without a notice.
async fn revoke_quietly(pool: &PgPool, accesses: &Accesses) {
    let org = accesses.org;
    let signed_out = session_id(&accesses.signed_out);
    quietly(
        pool,
        &[
            "update api_key set revoked_at = now() where revoked_at is null",
            &format!("delete from tower_sessions.session where id = '{signed_out}'"),
            "update app_user set auth_version = auth_version + 1 where email = 'carol@acme.test'",
            "delete from membership where user_id = (select user_id from app_user where email = 'dan@acme.test')",
            &format!("update organization set suspended_at = now() where organization_id = '{org}'"),
        ],
    )
    .await;
}

/// Whether every access is refused on `app`.
async fn all_refused(app: &TestApp, accesses: &Accesses) -> bool {
    let key_refused = crate::host_api::entitlements_of(app, &accesses.key, accesses.org)
        .await
        .0
        == StatusCode::UNAUTHORIZED;
    let signed_out = Browser {
        app,
        cookie: accesses.signed_out.clone(),
    }
    .get("/app")
    .await
    .status
        != StatusCode::OK;
    let password_changed = Browser {
        app,
        cookie: accesses.password_changed.clone(),
    }
    .get("/app")
    .await
    .status
        != StatusCode::OK;
    let removed = Browser {
        app,
        cookie: accesses.removed.clone(),
    }
    .get("/app")
    .await
    .status
        != StatusCode::OK;
    key_refused && signed_out && password_changed && removed
}

/// Whether B still answers from its caches (each access allowed).
async fn none_refused(app: &TestApp, accesses: &Accesses) -> bool {
    crate::host_api::entitlements_of(app, &accesses.key, accesses.org)
        .await
        .0
        == StatusCode::OK
        && Browser {
            app,
            cookie: accesses.signed_out.clone(),
        }
        .get("/app")
        .await
        .status
            == StatusCode::OK
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn a_cut_listener_connection_drops_every_cache_before_it_answers_again(pool: PgPool) {
    let a = TestApp::spawn(pool.clone()).await;
    let accesses = accesses(&a).await;
    // A long heartbeat, so only the detected cut can end the cached answers.
    let b = listening(&pool, Duration::from_secs(600)).await;
    cache_on(&b, &accesses).await;
    revoke_quietly(&pool, &accesses).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        none_refused(&b, &accesses).await,
        "the test means something: B answers from memory while nothing tells it"
    );
    let backends = listener_backends(&pool).await;
    assert_eq!(backends.len(), 1, "B's listener is found by its name");
    sqlx::query("select pg_terminate_backend($1)")
        .bind(backends[0])
        .execute(&pool)
        .await
        .unwrap();
    let took = within(
        "every access to end on B after the cut",
        Duration::from_secs(5),
        || all_refused(&b, &accesses),
    )
    .await;
    println!("a cut listener ended every cached access in {took:?}");
    let entitlements =
        crate::host_api::entitlements_of(&b, &api_key(&a, Scope::Read).await, accesses.org).await;
    assert_eq!(
        entitlements.1["read_only_reason"], "suspended",
        "{}",
        entitlements.1
    );
    // It listens again, on a new connection, and caches again.
    within("the listener to come back", Duration::from_secs(5), || async {
        listener_backends(&pool)
            .await
            .first()
            .is_some_and(|pid| *pid != backends[0])
    })
    .await;
}

/// A TCP relay to the database that can go silent: once `silent` is set it
/// stops passing bytes either way but keeps both sockets open, as a
/// connection through a dead route or a stalled pooler looks to its ends.
async fn silenceable_relay(pool: &PgPool) -> (sqlx::postgres::PgConnectOptions, Arc<AtomicBool>) {
    let target = (*pool.connect_options()).clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let silent = Arc::new(AtomicBool::new(false));
    let relay_silent = silent.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let server: Box<dyn Stream> = match target.get_socket() {
                Some(dir) => Box::new(
                    tokio::net::UnixStream::connect(dir.join(format!(".s.PGSQL.{}", target.get_port())))
                        .await
                        .unwrap(),
                ),
                None => Box::new(
                    tokio::net::TcpStream::connect((target.get_host(), target.get_port()))
                        .await
                        .unwrap(),
                ),
            };
            let (client_read, client_write) = tokio::io::split(client);
            let (server_read, server_write) = tokio::io::split(server);
            tokio::spawn(pass(client_read, server_write, relay_silent.clone()));
            tokio::spawn(pass(server_read, client_write, relay_silent.clone()));
        }
    });
    let database = pool.connect_options().get_database().unwrap().to_owned();
    let options = sqlx::postgres::PgConnectOptions::new_without_pgpass()
        .host("127.0.0.1")
        .port(port)
        .username(pool.connect_options().get_username())
        .database(&database)
        .ssl_mode(sqlx::postgres::PgSslMode::Disable);
    (options, silent)
}

trait Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin> Stream for T {}

/// Copies `from` to `to` until `silent`, then holds both open and idle.
async fn pass(
    mut from: impl tokio::io::AsyncRead + Unpin,
    mut to: impl tokio::io::AsyncWrite + Unpin,
    silent: Arc<AtomicBool>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let read = match tokio::time::timeout(Duration::from_millis(20), from.read(&mut buffer)).await {
            Err(_) if silent.load(Ordering::SeqCst) => break,
            Err(_) => continue,
            Ok(Ok(0) | Err(_)) => return,
            Ok(Ok(read)) => read,
        };
        if silent.load(Ordering::SeqCst) {
            break;
        }
        if to.write_all(&buffer[..read]).await.is_err() {
            return;
        }
    }
    // Silent: the bytes stop, the sockets stay.
    let _held = (from, to);
    tokio::time::sleep(Duration::from_secs(3600)).await;
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn a_half_open_listener_is_noticed_by_its_missing_heartbeat(pool: PgPool) {
    let a = TestApp::spawn(pool.clone()).await;
    let accesses = accesses(&a).await;
    let (through_relay, silent) = silenceable_relay(&pool).await;
    let b = listening_through(&pool, Duration::from_millis(250), Some(through_relay)).await;
    cache_on(&b, &accesses).await;
    // The listener's connection goes quiet without closing.
    silent.store(true, Ordering::SeqCst);
    revoke_quietly(&pool, &accesses).await;
    let took = within(
        "every access to end on B with its listener silent",
        Duration::from_secs(5),
        || all_refused(&b, &accesses),
    )
    .await;
    println!("a silent listener ended every cached access in {took:?}");
    // The silenced backend would sit in this database until the test's end:
    // end it now, so nothing of this test outlives it.
    sqlx::query(
        "select pg_terminate_backend(pid) from pg_stat_activity
         where application_name = $1 and datname = current_database()",
    )
    .bind(LISTENER_APPLICATION_NAME)
    .execute(&pool)
    .await
    .unwrap();
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn no_cached_authorisation_outlives_its_age_bound_even_when_every_notice_arrives(pool: PgPool) {
    let a = TestApp::spawn(pool.clone()).await;
    let accesses = accesses(&a).await;
    // Ten heartbeats of 100 ms: nothing is answered from memory after 1 s.
    let b = listening(&pool, Duration::from_millis(100)).await;
    cache_on(&b, &accesses).await;
    revoke_quietly(&pool, &accesses).await;
    let took = within(
        "every access to end on B by age alone",
        Duration::from_secs(5),
        || all_refused(&b, &accesses),
    )
    .await;
    assert!(
        !listener_backends(&pool).await.is_empty(),
        "the listener stayed connected throughout"
    );
    println!("the age bound ended every cached access in {took:?}");
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn the_process_that_revokes_refuses_at_once_without_waiting_for_its_notice(pool: PgPool) {
    sync_shipped_catalog(&pool).await;
    // B's own writes fire no triggers, so no notice reaches B: only B
    // dropping what it changed can make B refuse.
    let quiet = sqlx::postgres::PgPoolOptions::new()
        .connect_with(
            (*pool.connect_options())
                .clone()
                .options([("session_replication_role", "replica")]),
        )
        .await
        .unwrap();
    let a = TestApp::spawn(pool.clone()).await;
    let mut owner = a.signed_up("ada@acme.test", "Acme", "starter").await;
    let member = join(&a, &mut owner, "bob@acme.test", "member").await;
    let b = listening(&quiet, Duration::from_secs(600)).await;
    let org = organization_id(&pool, "Acme").await;
    let (mut admin, _) = enrolled_admin(&b).await;
    admin
        .submit(
            "/api/admin_create_api_key",
            &[("name", "host"), ("scope", "read")],
        )
        .await;
    let key = admin
        .get("/admin/api-keys")
        .await
        .body
        .split("data-fresh-key")
        .nth(1)
        .and_then(|rest| rest.split('>').nth(1))
        .and_then(|rest| rest.split('<').next())
        .map(str::to_owned)
        .expect("the new key is shown once");
    let (status, body) = crate::host_api::entitlements_of(&b, &key, org).await;
    assert_eq!(
        (status, body["read_only"].clone()),
        (StatusCode::OK, false.into())
    );
    let mut member_on_b = Browser {
        app: &b,
        cookie: member.cookie.clone(),
    };
    assert_eq!(member_on_b.get("/app").await.status, StatusCode::OK);

    // Suspended through B's console: B's own next answer says so.
    let org_text = org.to_string();
    admin
        .submit(
            "/api/admin_suspension",
            &[
                ("organization_id", &org_text),
                ("suspend", "true"),
                ("reason", "Chargeback"),
                ("confirm", "yes"),
            ],
        )
        .await;
    let (_, body) = crate::host_api::entitlements_of(&b, &key, org).await;
    assert_eq!(body["read_only_reason"], "suspended", "{body}");

    // The key revoked through B's console is refused by B at once.
    let prefix: String = sqlx::query_scalar("select prefix from api_key where name = 'host'")
        .fetch_one(&pool)
        .await
        .unwrap();
    admin
        .submit(
            "/api/admin_revoke_api_key",
            &[("prefix", &prefix), ("confirm", "yes")],
        )
        .await;
    assert_eq!(
        crate::host_api::entitlements_of(&b, &key, org).await.0,
        StatusCode::UNAUTHORIZED
    );

    // A member removed through B (by the owner, on B) is refused by B at once.
    let mut owner_on_b = Browser {
        app: &b,
        cookie: owner.cookie.clone(),
    };
    let bob: uuid::Uuid = sqlx::query_scalar("select user_id from app_user where email = 'bob@acme.test'")
        .fetch_one(&pool)
        .await
        .unwrap();
    let removed = owner_on_b
        .call(
            "/api/remove_member",
            &[("user_id", &bob.to_string()), ("confirm", "yes")],
        )
        .await;
    assert_eq!(removed.status, StatusCode::OK, "{}", removed.body);
    assert_ne!(member_on_b.get("/app").await.status, StatusCode::OK);
}
