//! Revenue analytics over the real ledger: CSV imports (all or nothing,
//! idempotent, racing, late rows) and the export built from them.

use crate::helpers::{TestApp, sync_shipped_catalog};
use app::analytics::domain::{AnalyticsReport, Month};
use app::analytics::export::{ExportError, export};
use app::analytics::import::read_history;
use app::analytics::import_store::{ImportError, store_history};
use chrono::{DateTime, Utc};
use sqlx::PgPool;

pub const HEADER: &str = "org_id,subscription_id,at,status,plan,interval,unit_amount_cents,quantity,addon_unit_amount_cents,addon_quantity,discount_percent_forever,currency";

pub const HISTORY: &str = "\
acme,sub_1,2026-01-05T00:00:00Z,trialing,starter,month,4900,1,0,0,0,USD
acme,sub_1,2026-01-19T00:00:00Z,active,starter,month,4900,1,0,0,0,USD
acme,sub_2,2026-01-10T00:00:00Z,active,professional,year,52900,1,0,0,0,USD
acme,sub_3,2026-01-10T00:00:00Z,active,professional,year,52900,1,0,0,0,USD
globex,sub_9,2026-03-15T00:00:00+01:00,canceled,professional,quarter,30000,1,1000,2,10,USD
globex,sub_9,2026-02-01T00:00:00Z,active,professional,quarter,30000,1,1000,2,10,USD
";

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-12-01T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn month(text: &str) -> Option<Month> {
    Some(Month::parse(text).unwrap())
}

pub async fn import(
    pool: &PgPool,
    body: &str,
) -> Result<app::analytics::import_store::ImportSummary, ImportError> {
    let rows = read_history(format!("{HEADER}\n{body}").as_bytes(), |_| {})?;
    store_history(pool, &rows, now()).await
}

async fn report(pool: &PgPool, first: &str, last: &str) -> AnalyticsReport {
    export(pool, month(first), month(last), now()).await.unwrap()
}

/// Rows in the tables an import writes.
async fn counts(pool: &PgPool) -> (i64, i64, i64, i64) {
    sqlx::query_as(
        "select (select count(*) from organization), (select count(*) from subscription),
                (select count(*) from subscription_revision), (select count(*) from subscription_event)",
    )
    .fetch_one(pool)
    .await
    .unwrap()
}

#[sqlx::test(migrations = "../migrations")]
async fn an_imported_history_is_reported_to_the_cent_and_a_second_import_changes_nothing(pool: PgPool) {
    sync_shipped_catalog(&pool).await;
    let first = import(&pool, HISTORY).await.unwrap();
    assert_eq!(
        (
            first.rows,
            first.revisions_added,
            first.subscriptions_created,
            first.organizations_created
        ),
        (6, 6, 4, 2)
    );
    let stored = counts(&pool).await;
    let again = import(&pool, HISTORY).await.unwrap();
    assert_eq!(
        (
            again.revisions_added,
            again.subscriptions_created,
            again.organizations_created
        ),
        (0, 0, 0)
    );
    assert_eq!(
        counts(&pool).await,
        stored,
        "a second import of the same file stores nothing"
    );

    let report = report(&pool, "2026-01", "2026-03").await;
    let figures: Vec<(i64, i64)> = report
        .months
        .iter()
        .map(|m| (m.mrr_start_cents, m.mrr_cents))
        .collect();
    // acme: two annual 529s round once (8,817) + starter 4,900; globex: (30,000 + 2 × 1,000) ÷ 3 less 10 % = 9,600.
    assert_eq!(figures, [(0, 13_717), (13_717, 23_317), (23_317, 13_717)]);
    let january = &report.months[0];
    assert_eq!(january.movements_cents.new_business, 8_817);
    assert_eq!(
        january.movements_cents.expansion, 4_900,
        "the trial converting adds to a paying customer"
    );
    assert_eq!((january.trials.ended, january.trials.converted), (1, 1));
    assert_eq!(january.trials.avg_days_to_convert.as_deref(), Some("14.0"));
    assert_eq!(january.mrr_by_interval_cents["year"], 8_817);
    assert_eq!(report.months[1].mrr_by_interval_cents["quarter"], 9_600);
    let march = &report.months[2];
    assert_eq!(march.movements_cents.churn, -9_600, "14 March 23:00 UTC is March");
    assert_eq!(march.customer_churn_rate.value, Some(0.5));
    assert_eq!(march.arpa_cents, Some(13_717));
    assert_eq!(report.cohorts.len(), 2);

    // The ledger rows the import made are the ledger's own kinds.
    let kinds: Vec<String> =
        sqlx::query_scalar("select kind from subscription_event order by occurred_at, subscription_event_id")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(
        kinds,
        [
            "trial_started",
            "created",
            "created",
            "status_changed",
            "created",
            "status_changed"
        ]
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn a_file_naming_an_unknown_plan_or_moving_a_subscription_stores_nothing(pool: PgPool) {
    sync_shipped_catalog(&pool).await;
    import(&pool, HISTORY).await.unwrap();
    let stored = counts(&pool).await;
    let unknown_plan = "newco,sub_20,2026-04-01T00:00:00Z,active,starter,month,4900,1,0,0,0,USD\n\
                        newco,sub_21,2026-04-01T00:00:00Z,active,platinum,month,9900,1,0,0,0,USD\n";
    let Err(ImportError::Rejected(rejected)) = import(&pool, unknown_plan).await else {
        panic!("an unknown plan rejects the file");
    };
    assert_eq!(
        rejected.errors,
        [(3, "plan \"platinum\" is not a tier of the catalogue".to_owned())]
    );
    let moved = "newco,sub_30,2026-04-01T00:00:00Z,active,starter,month,4900,1,0,0,0,USD\n\
                 initech,sub_1,2026-04-01T00:00:00Z,active,starter,month,4900,1,0,0,0,USD\n";
    let Err(ImportError::Rejected(rejected)) = import(&pool, moved).await else {
        panic!("a subscription cannot move to another organisation");
    };
    assert_eq!(rejected.errors[0].0, 3);
    assert_eq!(counts(&pool).await, stored, "nothing of either file was stored");
}

#[sqlx::test(migrations = "../migrations")]
async fn two_imports_racing_on_one_database_store_one_history(pool: PgPool) {
    sync_shipped_catalog(&pool).await;
    let (one, two) = tokio::join!(import(&pool, HISTORY), import(&pool, HISTORY));
    let (one, two) = (one.unwrap(), two.unwrap());
    assert_eq!(one.revisions_added + two.revisions_added, 6, "{one:?} {two:?}");
    assert_eq!(one.subscriptions_created + two.subscriptions_created, 4);
    assert_eq!(counts(&pool).await, (2, 4, 6, 6));
}

#[sqlx::test(migrations = "../migrations")]
async fn a_late_row_in_a_later_file_lands_in_its_place(pool: PgPool) {
    sync_shipped_catalog(&pool).await;
    import(
        &pool,
        "acme,sub_1,2026-01-05T00:00:00Z,active,starter,month,4900,1,0,0,0,USD\n\
         acme,sub_1,2026-03-01T00:00:00Z,canceled,starter,month,4900,1,0,0,0,USD\n",
    )
    .await
    .unwrap();
    // February's upgrade to two seats arrives in a second file, after March's cancellation.
    let late = import(
        &pool,
        "acme,sub_1,2026-02-01T00:00:00Z,active,starter,month,4900,2,0,0,0,USD\n",
    )
    .await
    .unwrap();
    assert_eq!(late.revisions_added, 1);
    let report = report(&pool, "2026-01", "2026-03").await;
    assert_eq!(report.months[1].movements_cents.expansion, 4_900);
    assert_eq!(
        report.months[2].movements_cents.churn, -9_800,
        "the churn is of the upgraded MRR"
    );
    // The live ledger says the same: the cancellation's row now starts from two seats.
    let live: Vec<(String, i64, i64)> = sqlx::query_as(
        "select kind, mrr_before, mrr_after from subscription_event where superseded_at is null
         order by occurred_at",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        live,
        [
            ("created".to_owned(), 0, 4_900),
            ("quantity_changed".to_owned(), 4_900, 9_800),
            ("status_changed".to_owned(), 9_800, 0)
        ]
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn an_imported_organisation_dates_from_its_first_history_row_in_any_file(pool: PgPool) {
    sync_shipped_catalog(&pool).await;
    let created_at = || async {
        sqlx::query_as::<_, (String, DateTime<Utc>)>(
            "select external_id, created_at from organization order by external_id",
        )
        .fetch_all(&pool)
        .await
        .unwrap()
    };
    let at = |text: &str| DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc);
    import(&pool, HISTORY).await.unwrap();
    // Rows in any order within the file: the earliest counts (globex's March
    // row comes first in the file, with another offset).
    assert_eq!(
        created_at().await,
        [
            ("acme".to_owned(), at("2026-01-05T00:00:00Z")),
            ("globex".to_owned(), at("2026-02-01T00:00:00Z"))
        ]
    );
    // A later file with an earlier row moves the date back; a later row never forward.
    import(
        &pool,
        "acme,sub_0,2025-11-20T09:30:00Z,active,starter,month,4900,1,0,0,0,USD
         globex,sub_8,2026-06-01T00:00:00Z,active,starter,month,4900,1,0,0,0,USD
",
    )
    .await
    .unwrap();
    assert_eq!(
        created_at().await,
        [
            ("acme".to_owned(), at("2025-11-20T09:30:00Z")),
            ("globex".to_owned(), at("2026-02-01T00:00:00Z"))
        ]
    );
    let (organizations, ..) = counts(&pool).await;
    assert_eq!(organizations, 2, "dated, not created again");
}

#[sqlx::test(migrations = "../migrations")]
async fn live_signups_feed_the_same_report_and_bad_windows_are_refused(pool: PgPool) {
    let empty = export(&pool, None, None, now()).await.unwrap();
    assert!(empty.months.is_empty() && empty.cohorts.is_empty());
    let app = TestApp::spawn(pool.clone()).await;
    app.signed_up("owner@acme.test", "Acme", "starter").await;
    let (interval, numerator, denominator): (String, i64, i64) =
        sqlx::query_as("select billing_interval, mrr_numerator, mrr_denominator from subscription_revision")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!((interval.as_str(), numerator, denominator), ("month", 0, 1));
    let report = export(&pool, None, None, now()).await.unwrap();
    assert_eq!(
        report.months.len(),
        1,
        "the window defaults to the ledger's months"
    );
    assert_eq!(report.months[0].mrr_cents, 0, "a trial carries no MRR");
    let backwards = export(&pool, month("2026-05"), month("2026-04"), now()).await;
    assert!(matches!(backwards, Err(ExportError::Backwards { .. })));
}

/// A pool whose connections act as a role that may write every table but,
/// not being a superuser, may not turn the ledger's reference checks off.
async fn as_ordinary_role(pool: &PgPool) -> PgPool {
    // Roles are the cluster's, shared by the tests running beside this one.
    sqlx::raw_sql(
        "do $$ begin create role gatehouse_ordinary_importer;
         exception when duplicate_object or unique_violation then null; end $$;
         grant usage on schema public to gatehouse_ordinary_importer;
         grant select, insert, update, delete on all tables in schema public to gatehouse_ordinary_importer;
         grant usage, select on all sequences in schema public to gatehouse_ordinary_importer;",
    )
    .execute(pool)
    .await
    .unwrap();
    let options = (*pool.connect_options()).clone();
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .after_connect(|conn, _| {
            Box::pin(async move {
                sqlx::query("set role gatehouse_ordinary_importer")
                    .execute(conn)
                    .await?;
                Ok(())
            })
        })
        .connect_with(options)
        .await
        .unwrap()
}

#[sqlx::test(migrations = "../migrations")]
async fn a_role_that_may_not_lift_the_reference_checks_imports_the_same_history(pool: PgPool) {
    sync_shipped_catalog(&pool).await;
    let ordinary = as_ordinary_role(&pool).await;
    let refused = sqlx::raw_sql("set session_replication_role = replica")
        .execute(&ordinary)
        .await;
    assert!(refused.is_err(), "the role may not lift the checks");

    let summary = import(&ordinary, HISTORY).await.unwrap();
    assert_eq!((summary.revisions_added, summary.subscriptions_created), (6, 4));
    assert_eq!(counts(&pool).await, (2, 4, 6, 6));
    let late = "acme,sub_1,2026-02-01T00:00:00Z,past_due,starter,month,4900,1,0,0,0,USD\n";
    assert_eq!(import(&ordinary, late).await.unwrap().revisions_added, 1);
    let report = report(&pool, "2026-01", "2026-03").await;
    let mrr: Vec<i64> = report.months.iter().map(|m| m.mrr_cents).collect();
    assert_eq!(mrr, [13_717, 23_317, 13_717], "past due still counts");
}
