//! Analytics on a streaming replica: a private primary and a
//! `pg_basebackup` replica of it (the machine's PostgreSQL binaries), replay
//! paused and resumed, the replica stopped.

use crate::admin_console::enrolled_admin;
use crate::analytics::{HEADER, HISTORY};
use crate::helpers::{Browser, TestApp, sync_shipped_catalog};
use app::read_replica::{ReadReplica, ReplicaLag};
use server::embedded_db::{EmbeddedPostgres, ensure_database};
use sqlx::PgPool;
use std::path::PathBuf;
use std::time::Duration;

/// Stops the clusters below `root` however the test ends (pg_ctl runs them
/// detached, so they would outlive a failed test).
struct Clusters {
    root: PathBuf,
}

impl Drop for Clusters {
    fn drop(&mut self) {
        let _ = std::process::Command::new("pkill")
            .args(["-QUIT", "-f"])
            .arg(format!("{}/", self.root.display()))
            .status();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// A history the provider's events would write: no admin made it.
const LATER_HISTORY: &str = "initech,sub_20,2026-02-01T00:00:00Z,active,starter,month,4900,1,0,0,0,USD\n";

fn between<'a>(body: &'a str, marker: &str) -> &'a str {
    let start = body
        .find(marker)
        .unwrap_or_else(|| panic!("no {marker} in the page"))
        + marker.len();
    let rest = &body[start..];
    let rest = &rest[rest.find('>').unwrap() + 1..];
    &rest[..rest.find("</p>").unwrap()]
}

/// The page's headline and what it says of where its figures come from.
async fn analytics(admin: &mut Browser<'_>) -> (String, String) {
    let page = admin.get("/admin/analytics").await;
    assert_eq!(page.status, 200, "{}", page.body);
    (
        between(&page.body, "data-headline").to_owned(),
        between(&page.body, "data-freshness").to_owned(),
    )
}

async fn export_name(admin: &mut Browser<'_>) -> String {
    let export = admin.get("/admin/analytics/export.json").await;
    assert_eq!(export.status, 200);
    export.headers["content-disposition"].to_str().unwrap().to_owned()
}

async fn caught_up(replica: &ReadReplica, primary: &PgPool) {
    for _ in 0..200 {
        if replica.lag(primary).await.unwrap() == ReplicaLag::CaughtUp {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the replica did not catch up in 10 s");
}

async fn upload(app: &TestApp, admin: &Browser<'_>, body: &str) {
    let body = format!(
        "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"history.csv\"\r\n\
         Content-Type: text/csv\r\n\r\n{HEADER}\n{body}\r\n--XyZ--\r\n"
    );
    let request = axum::http::Request::post("/admin/import")
        .header("origin", crate::helpers::ORIGIN)
        .header("content-type", "multipart/form-data; boundary=XyZ")
        .header("cookie", admin.cookie.clone().unwrap())
        .body(axum::body::Body::from(body))
        .unwrap();
    let response = app.request(request).await;
    assert_eq!(response.status, 303, "{}", response.body);
}

#[tokio::test]
async fn analytics_read_a_replica_say_how_old_its_figures_are_and_show_an_admins_own_change_at_once() {
    let root = std::env::temp_dir().join(format!("gatehouse-replica-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let clusters = Clusters { root: root.clone() };
    let mut primary = EmbeddedPostgres::prepare(&root.join("primary"), None)
        .await
        .expect("PostgreSQL binaries are installed");
    primary.start().await.unwrap();
    ensure_database(&primary.url("postgres"), "gatehouse")
        .await
        .unwrap();
    let pool = PgPool::connect(&primary.url("gatehouse")).await.unwrap();
    server::MIGRATOR.run(&pool).await.unwrap();
    sync_shipped_catalog(&pool).await;
    let mut replica_cluster = primary.replica(&root.join("replica")).await.unwrap();
    replica_cluster.start().await.unwrap();
    let replica_url = replica_cluster.url("gatehouse");

    let app = TestApp::with_settings(pool.clone(), &[("GATEHOUSE_REPLICA_DATABASE_URL", &replica_url)]);
    let replica = app.state.replica.clone().expect("the replica is configured");
    let (mut admin, _) = enrolled_admin(&app).await;
    caught_up(&replica, &pool).await;
    let (headline, freshness) = analytics(&mut admin).await;
    assert_eq!(headline, "No subscription history yet.");
    assert_eq!(
        freshness,
        "Figures read from the replica, up to date with the primary."
    );

    // Replay paused, the provider's history lands on the primary only.
    sqlx::query("select pg_wal_replay_pause()")
        .execute(replica.pool())
        .await
        .unwrap();
    crate::analytics::import(&pool, HISTORY).await.unwrap();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (headline, freshness) = analytics(&mut admin).await;
    assert_eq!(headline, "No subscription history yet.", "the replica's figures");
    let seconds: u64 = freshness
        .strip_prefix("Figures read from the replica, ")
        .and_then(|rest| rest.strip_suffix(" s behind the primary (replay paused)."))
        .unwrap_or_else(|| panic!("{freshness}"))
        .parse()
        .unwrap();
    assert!(seconds >= 2, "{freshness}");
    assert!(
        export_name(&mut admin)
            .await
            .contains("gatehouse-analytics-empty.json"),
        "the downloads read the replica too"
    );

    // The admin's own import shows at once: the page reads the primary
    // until the replica has replayed it.
    upload(&app, &admin, LATER_HISTORY).await;
    let (own_headline, freshness) = analytics(&mut admin).await;
    assert!(own_headline.starts_with("MRR $"), "{own_headline}");
    assert_eq!(
        freshness,
        "Figures read from the primary: the replica has not yet replayed your last change."
    );
    assert!(
        export_name(&mut admin)
            .await
            .contains("gatehouse-analytics-2026-01-to-2026-03.json")
    );

    sqlx::query("select pg_wal_replay_resume()")
        .execute(replica.pool())
        .await
        .unwrap();
    caught_up(&replica, &pool).await;
    let (headline, freshness) = analytics(&mut admin).await;
    assert_eq!(headline, own_headline);
    assert_eq!(
        freshness,
        "Figures read from the replica, up to date with the primary."
    );

    // A replica that stops answering sends the reads back to the primary.
    replica_cluster.stop().await.unwrap();
    let (headline, freshness) = analytics(&mut admin).await;
    assert_eq!(headline, own_headline);
    assert_eq!(
        freshness,
        "Figures read from the primary: the replica did not answer."
    );
    assert!(
        export_name(&mut admin)
            .await
            .contains("gatehouse-analytics-2026-01-to-2026-03.json")
    );

    pool.close().await;
    primary.stop().await.unwrap();
    drop(clusters);
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn a_database_that_is_not_a_standby_is_never_read_as_the_replica(pool: PgPool) {
    // Pointed at a primary by mistake: its figures would look current while
    // nothing keeps them so, so the page reads the primary and says why.
    let options = pool.connect_options();
    let host = options.get_socket().map_or_else(
        || options.get_host().to_owned(),
        |socket| socket.display().to_string(),
    );
    let url = format!(
        "postgres://{}@localhost:{}/{}?host={host}",
        options.get_username(),
        options.get_port(),
        options.get_database().unwrap_or("postgres")
    );
    let app = TestApp::with_settings(pool.clone(), &[("GATEHOUSE_REPLICA_DATABASE_URL", &url)]);
    sync_shipped_catalog(&pool).await;
    let (mut admin, _) = enrolled_admin(&app).await;
    let (_, freshness) = analytics(&mut admin).await;
    assert_eq!(
        freshness,
        "Figures read from the primary: the configured replica is not a standby."
    );
}
