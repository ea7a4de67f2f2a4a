//! The ledger's MRR series (`billing::series_store`): every writer keeps each
//! organisation's series and the platform totals equal to what the whole
//! ledger says, with writers racing on one database and revisions arriving
//! late, twice and out of order.

use crate::analytics::{HEADER, import};
use crate::helpers::sync_shipped_catalog;
use app::analytics::domain::Rollup;
use app::analytics::import::{ImportRow, read_history};
use app::billing::ledger_store::{Revision, record_revision};
use app::billing::series_store::{load_history, load_totals, rebuild};
use chrono::{DateTime, Duration, Utc};
use sqlx::PgPool;
use std::collections::HashMap;
use uuid::Uuid;

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-12-01T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

/// The stored totals are the ledger's rollup, and a rebuild finds nothing to correct.
async fn assert_series_match_the_ledger(pool: &PgPool) -> Rollup {
    let (history, _) = load_history(pool).await.unwrap();
    let expected = Rollup::of(&history);
    assert_eq!(load_totals(pool).await.unwrap(), expected);
    let rebuilt = rebuild(pool, now()).await.unwrap();
    assert_eq!(rebuilt.corrected, 0, "a stored series differed from the ledger");
    assert_eq!(load_totals(pool).await.unwrap(), expected);
    expected
}

/// Twelve changes of each of `subscriptions` subscriptions (two per
/// organisation), each row a full state as the import reads it.
fn changes(subscriptions: usize) -> Vec<ImportRow> {
    let statuses = ["active", "past_due", "active", "paused", "active", "canceled"];
    let mut body = String::new();
    for n in 0..subscriptions {
        for k in 0..12_i64 {
            let at = DateTime::parse_from_rfc3339("2026-01-20T00:00:00Z").unwrap() + Duration::days(k * 9 + n as i64)
                // Some at midnight, some in the day, two on one instant.
                + Duration::seconds(if k % 3 == 0 { 0 } else { 3_600 * k });
            let (plan, interval, amount) = match k % 3 {
                0 => ("starter", "month", 4_900),
                1 => ("professional", "year", 160_900),
                _ => ("professional", "quarter", 44_700),
            };
            body.push_str(&format!(
                "org{},sub{n},{},{},{plan},{interval},{amount},{},1000,{},{},USD\n",
                n / 2,
                at.to_rfc3339(),
                statuses[k as usize % statuses.len()],
                1 + k % 4,
                k % 2,
                [0, 10, 100][k as usize % 3],
            ));
        }
    }
    read_history(format!("{HEADER}\n{body}").as_bytes(), |_| {}).unwrap()
}

#[sqlx::test(migrations = "../migrations")]
async fn writers_racing_late_and_twice_keep_every_series_equal_to_the_ledger(pool: PgPool) {
    sync_shipped_catalog(&pool).await;
    let subscriptions = 8;
    let start: String = (0..subscriptions)
        .map(|n| {
            format!(
                "org{},sub{n},2026-01-0{}T10:00:00Z,trialing,starter,month,4900,1,0,0,0,USD\n",
                n / 2,
                n + 1
            )
        })
        .collect();
    import(&pool, &start).await.unwrap();
    assert_series_match_the_ledger(&pool).await;

    let ids: HashMap<String, (Uuid, Uuid)> = sqlx::query_as::<_, (String, Uuid, Uuid)>(
        "select import_key, subscription_id, organization_id from subscription",
    )
    .fetch_all(&pool)
    .await
    .unwrap()
    .into_iter()
    .map(|(key, sub, org)| (key, (sub, org)))
    .collect();
    // Out of order (a fixed shuffle), every fifth twice.
    let mut rows = changes(subscriptions);
    let mut seed: u64 = 7;
    for i in (1..rows.len()).rev() {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        rows.swap(i, (seed >> 33) as usize % (i + 1));
    }
    let repeats: Vec<ImportRow> = rows.iter().step_by(5).cloned().collect();
    rows.extend(repeats);

    // Four writers, each its own transaction per revision, sharing organisations.
    let workers = 4;
    let mut handles = Vec::new();
    for worker in 0..workers {
        let pool = pool.clone();
        let ids = ids.clone();
        let mine: Vec<ImportRow> = rows.iter().skip(worker).step_by(workers).cloned().collect();
        handles.push(tokio::spawn(async move {
            for row in mine {
                let (subscription_id, organization_id) = ids[&row.subscription_id];
                let cause = format!("test:{}:{}", row.subscription_id, row.at.to_rfc3339());
                let revision = Revision {
                    organization_id,
                    subscription_id,
                    occurred_at: row.at,
                    cause: &cause,
                    state: row.ledger_state(),
                    plan: &row.plan,
                    mrr: row.mrr(),
                    interval: row.interval.as_str(),
                    currency: &row.currency,
                    recorded_at: now(),
                };
                let mut tx = pool.begin().await.unwrap();
                record_revision(&mut tx, &revision).await.unwrap();
                tx.commit().await.unwrap();
            }
        }));
    }
    for handle in handles {
        handle.await.unwrap();
    }
    let totals = assert_series_match_the_ledger(&pool).await;
    let ledger: (DateTime<Utc>, DateTime<Utc>) =
        sqlx::query_as("select min(occurred_at), max(occurred_at) from subscription_revision")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(
        app::billing::series_store::ledger_span(&pool).await.unwrap(),
        Some(ledger)
    );
    // The races changed something worth checking: every movement kind occurred.
    let mut movements = [0_i64; 5];
    for flows in totals.days.values() {
        for (sum, amount) in movements.iter_mut().zip(flows.movements) {
            *sum += amount.abs();
        }
    }
    assert!(movements.iter().all(|m| *m > 0), "{movements:?}");
}

/// An import computes the series of the organisations it creates from the
/// rows it copies in, and reads the others back from the ledger: both must
/// store what the whole ledger says. The second import here creates
/// organisations (some with times finer than the microseconds Postgres
/// keeps), gives a known one new subscriptions and continues its stored ones.
#[sqlx::test(migrations = "../migrations")]
async fn an_imports_new_organisations_get_the_series_the_ledger_gives_beside_known_ones(pool: PgPool) {
    sync_shipped_catalog(&pool).await;
    let mut rows = changes(12);
    for row in rows
        .iter_mut()
        .filter(|row| row.org_id == "org3" || row.org_id == "org5")
    {
        row.at += Duration::nanoseconds(999);
    }
    let known: Vec<ImportRow> = rows
        .iter()
        .filter(|row| row.subscription_id == "sub0" && row.at < rows[6].at)
        .cloned()
        .collect();
    assert_eq!(known.len(), 6);
    let first = app::analytics::import_store::store_history(&pool, &known, now())
        .await
        .unwrap();
    assert_eq!(first.organizations_created, 1);
    assert_series_match_the_ledger(&pool).await;

    let second = app::analytics::import_store::store_history(&pool, &rows, now())
        .await
        .unwrap();
    assert_eq!(
        (second.organizations_created, second.subscriptions_created),
        (5, 11),
        "org0 was known, with sub0"
    );
    assert_eq!(second.revisions_added, 12 * 12 - 6);
    assert_series_match_the_ledger(&pool).await;
}

#[sqlx::test(migrations = "../migrations")]
async fn a_rebuild_repairs_a_damaged_series_and_a_missing_one_is_caught_up(pool: PgPool) {
    sync_shipped_catalog(&pool).await;
    import(&pool, crate::analytics::HISTORY).await.unwrap();
    let expected = assert_series_match_the_ledger(&pool).await;
    // Damage: one organisation's series emptied, a total shifted.
    sqlx::query("update mrr_series_customer set rollup = convert_to('{\"days\":{},\"months\":{},\"cohorts\":{}}', 'UTF8') where organization_id = (select min(organization_id::text)::uuid from mrr_series_customer)")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query(
        "update mrr_series_day set churn = churn - 1 where day = (select min(day) from mrr_series_day)",
    )
    .execute(&pool)
    .await
    .unwrap();
    assert_ne!(load_totals(&pool).await.unwrap(), expected);
    let rebuilt = rebuild(&pool, now()).await.unwrap();
    assert_eq!((rebuilt.organizations, rebuilt.corrected), (2, 1));
    assert_eq!(load_totals(&pool).await.unwrap(), expected);

    // A ledger older than the series: its organisations are caught up once.
    sqlx::query(
        "truncate mrr_series_customer, mrr_series_day, mrr_series_month, mrr_series_split, mrr_series_cohort",
    )
    .execute(&pool)
    .await
    .unwrap();
    let now = now();
    assert_eq!(app::billing::series_store::catch_up(&pool, now).await.unwrap(), 2);
    assert_eq!(app::billing::series_store::catch_up(&pool, now).await.unwrap(), 0);
    assert_eq!(load_totals(&pool).await.unwrap(), expected);
    let span = app::billing::series_store::ledger_span(&pool).await.unwrap();
    let ledger: (DateTime<Utc>, DateTime<Utc>) =
        sqlx::query_as("select min(occurred_at), max(occurred_at) from subscription_revision")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(span, Some(ledger), "the window's default is the ledger's span");
}

#[sqlx::test(migrations = "../migrations")]
async fn the_seeded_demo_history_lands_once_in_the_ledger_and_its_series(pool: PgPool) {
    sync_shipped_catalog(&pool).await;
    let catalog = app::catalog::source::parse_catalog(include_str!("../../../catalog/catalog.toml"))
        .unwrap()
        .catalog;
    let size = app::analytics::seed::SeedSize {
        organizations: 60,
        months: 6,
        seed: 3,
    };
    let rows = app::analytics::seed::generate(&catalog, size, now());
    let first = app::analytics::import_store::store_history(&pool, &rows, now())
        .await
        .unwrap();
    assert_eq!(first.organizations_created, 60);
    assert!(first.revisions_added as usize == rows.len());
    let again = app::analytics::import_store::store_history(&pool, &rows, now())
        .await
        .unwrap();
    assert_eq!((again.revisions_added, again.subscriptions_created), (0, 0));
    let totals = assert_series_match_the_ledger(&pool).await;
    assert!(totals.at_end_of(now().date_naive()).0 > 0, "the business has MRR");
}
