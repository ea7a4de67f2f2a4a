//! The ledger's MRR series in Postgres (`migrations/…_mrr_series.sql`):
//! each organisation's [`Rollup`] and the platform's totals, brought up to
//! date in the transaction of every revision, rebuilt from the ledger by
//! `server rebuild-mrr-series`, and read back by analytics.
//!
//! Writers for one organisation take turns (an advisory lock per
//! organisation), so each recomputes from a ledger that already holds the
//! other's revisions; writers for different organisations touch the totals'
//! rows in one order (sorted keys) and mostly different shards. A rebuild or
//! an import takes the series' lock exclusively, the others share it.

use super::domain::series::{Flows, History, Labels, Rollup, StatePoint};
use super::domain::{ExactMrr, SubscriptionStatus};
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use sqlx::{PgConnection, PgPool};
use std::collections::{BTreeMap, HashMap};
use uuid::Uuid;

mod totals;

use totals::{add_to_totals, widen_span};
pub use totals::{ledger_span, load_totals};

/// How many rows each platform total is spread over.
const SHARDS: u8 = 16;

/// The series' lock: shared by every refresh, exclusive for a rebuild or an import.
const SERIES_LOCK: &str = "gatehouse.mrr_series";

/// The shard of an organisation's share of the totals.
fn shard_of(organization: Uuid) -> i16 {
    i16::from(organization.as_bytes()[15] % SHARDS)
}

/// One revision as the series reads it.
struct PointRow {
    organization_id: Uuid,
    subscription_id: Uuid,
    occurred_at: DateTime<Utc>,
    status: String,
    plan: String,
    interval: String,
    numerator: i64,
    denominator: i64,
}

/// Revisions turned into a history; customers are numbered in first-seen
/// order, and `organizations[i]` is customer `i`.
#[derive(Default)]
struct HistoryBuilder {
    organizations: Vec<Uuid>,
    customers: HashMap<Uuid, u32>,
    subscriptions: HashMap<Uuid, u32>,
    plans: Labels,
    intervals: Labels,
    points: Vec<StatePoint>,
}

impl HistoryBuilder {
    fn push(&mut self, row: PointRow) -> Result<(), sqlx::Error> {
        let status = SubscriptionStatus::parse(&row.status)
            .ok_or_else(|| sqlx::Error::Decode(format!("unknown status {:?}", row.status).into()))?;
        let mrr = ExactMrr::from_parts(i128::from(row.numerator), i128::from(row.denominator))
            .ok_or_else(|| sqlx::Error::Decode("a revision's MRR denominator is not positive".into()))?;
        self.push_state(
            row.organization_id,
            row.subscription_id,
            row.occurred_at,
            status,
            &row.plan,
            &row.interval,
            mrr,
        );
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn push_state(
        &mut self,
        organization_id: Uuid,
        subscription_id: Uuid,
        at: DateTime<Utc>,
        status: SubscriptionStatus,
        plan: &str,
        interval: &str,
        mrr: ExactMrr,
    ) {
        let next = self.customers.len() as u32;
        let customer = *self.customers.entry(organization_id).or_insert_with(|| {
            self.organizations.push(organization_id);
            next
        });
        let next = self.subscriptions.len() as u32;
        let subscription = *self.subscriptions.entry(subscription_id).or_insert(next);
        self.points.push(StatePoint {
            customer,
            subscription,
            at,
            status,
            plan: self.plans.id(plan),
            interval: self.intervals.id(interval),
            mrr,
        });
    }

    fn build(self) -> (History, Vec<Uuid>) {
        (
            History::build(self.points, self.plans, self.intervals),
            self.organizations,
        )
    }
}

/// Whole histories of organisations the ledger holds nothing else of, as
/// they are written (by an import, from the rows it copies in), so their
/// series are computed from memory instead of read back. Each
/// subscription's states are pushed in the ledger's order, and the
/// subscriptions in id order, as [`load_history`] reads them.
#[derive(Default)]
pub struct NewHistories {
    builder: HistoryBuilder,
}

/// The rollups of [`NewHistories`], ready for [`store_new_exclusively`].
pub struct NewRollups {
    rollups: HashMap<Uuid, Rollup>,
    span: Option<(DateTime<Utc>, DateTime<Utc>)>,
}

impl NewHistories {
    /// One state of a subscription, as the ledger stores it: the time is
    /// kept to the microsecond, as Postgres keeps it.
    #[allow(clippy::too_many_arguments)]
    pub fn push(
        &mut self,
        organization_id: Uuid,
        subscription_id: Uuid,
        at: DateTime<Utc>,
        status: SubscriptionStatus,
        plan: &str,
        interval: &str,
        mrr: ExactMrr,
    ) {
        use chrono::SubsecRound;
        self.builder.push_state(
            organization_id,
            subscription_id,
            at.trunc_subsecs(6),
            status,
            plan,
            interval,
            mrr,
        );
    }

    /// Every organisation's rollup: pure computation, for a blocking thread.
    pub fn rollups(self) -> NewRollups {
        let (history, organizations) = self.builder.build();
        let rollups = organizations
            .into_iter()
            .zip(Rollup::per_customer(&history))
            .collect();
        NewRollups {
            rollups,
            span: history.span,
        }
    }
}

/// Every revision of every subscription, as one history, with the
/// organisation of each customer.
pub async fn load_history(pool: &PgPool) -> Result<(History, Vec<Uuid>), sqlx::Error> {
    let mut conn = pool.acquire().await?;
    load(&mut conn, None).await
}

/// The revisions of `organizations` (all of them with `None`), in the
/// ledger's order (effective time, then cause).
async fn load(
    conn: &mut PgConnection,
    organizations: Option<&[Uuid]>,
) -> Result<(History, Vec<Uuid>), sqlx::Error> {
    let mut builder = HistoryBuilder::default();
    // Two statements, so that one organisation's read uses its index.
    match organizations {
        Some(organizations) => {
            // language=PostgreSQL
            let mut rows = sqlx::query_as!(
                PointRow,
                r#"
                select s.organization_id, r.subscription_id, r.occurred_at as "occurred_at: DateTime<Utc>",
                       r.state ->> 'status' as "status!", r.plan,
                       coalesce(r.billing_interval,
                                case s.billing_cycle when 'annual' then 'year' else 'month' end) as "interval!",
                       coalesce(r.mrr_numerator, r.mrr) as "numerator!", coalesce(r.mrr_denominator, 1) as "denominator!"
                from subscription s
                join subscription_revision r using (subscription_id)
                where s.organization_id = any($1)
                order by r.subscription_id, r.occurred_at, r.cause
                "#,
                organizations
            )
            .fetch(&mut *conn);
            while let Some(row) = rows.try_next().await? {
                builder.push(row)?;
            }
        }
        None => {
            // language=PostgreSQL
            let mut rows = sqlx::query_as!(
                PointRow,
                r#"
                select s.organization_id, r.subscription_id, r.occurred_at as "occurred_at: DateTime<Utc>",
                       r.state ->> 'status' as "status!", r.plan,
                       coalesce(r.billing_interval,
                                case s.billing_cycle when 'annual' then 'year' else 'month' end) as "interval!",
                       coalesce(r.mrr_numerator, r.mrr) as "numerator!", coalesce(r.mrr_denominator, 1) as "denominator!"
                from subscription_revision r
                join subscription s using (subscription_id)
                order by r.subscription_id, r.occurred_at, r.cause
                "#
            )
            .fetch(&mut *conn);
            while let Some(row) = rows.try_next().await? {
                builder.push(row)?;
            }
        }
    }
    Ok(builder.build())
}

/// Brings the series of `organizations` up to date with the ledger as this
/// transaction sees it. The ledger calls it after every revision it records.
pub async fn refresh(
    conn: &mut PgConnection,
    organizations: &[Uuid],
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let mut organizations = organizations.to_vec();
    organizations.sort_unstable();
    organizations.dedup();
    // language=PostgreSQL
    sqlx::query!(
        "select pg_advisory_xact_lock_shared(hashtextextended($1, 0))",
        SERIES_LOCK
    )
    .execute(&mut *conn)
    .await?;
    for organization in &organizations {
        // language=PostgreSQL
        sqlx::query!(
            "select pg_advisory_xact_lock(hashtextextended('mrr-series:' || $1::uuid::text, 0))",
            organization
        )
        .execute(&mut *conn)
        .await?;
    }
    rewrite(conn, &organizations, now).await
}

/// Brings the series of `organizations` up to date while holding the
/// series' lock exclusively: for an import, which may touch thousands.
pub async fn refresh_exclusively(
    conn: &mut PgConnection,
    organizations: &[Uuid],
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    lock_exclusively(conn).await?;
    let mut organizations = organizations.to_vec();
    organizations.sort_unstable();
    organizations.dedup();
    rewrite(conn, &organizations, now).await
}

/// Stores the series of organisations whose whole history is in `new`,
/// while holding the series' lock exclusively (an import, for the
/// organisations it created).
pub async fn store_new_exclusively(
    conn: &mut PgConnection,
    new: NewRollups,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    lock_exclusively(conn).await?;
    let mut organizations: Vec<Uuid> = new.rollups.keys().copied().collect();
    organizations.sort_unstable();
    store_recomputed(conn, &organizations, new.rollups, new.span, now).await
}

/// Takes the series' lock exclusively for the rest of the transaction: live
/// refreshes wait until it ends.
pub async fn lock_exclusively(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    // language=PostgreSQL
    sqlx::query!(
        "select pg_advisory_xact_lock(hashtextextended($1, 0))",
        SERIES_LOCK
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// What a rebuild did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rebuilt {
    /// Organisations with a ledger.
    pub organizations: usize,
    /// Of those, the ones whose stored series was wrong or missing.
    pub corrected: usize,
}

/// Recomputes every organisation's series and the totals from the whole
/// ledger, in one transaction; says how many stored series were wrong.
pub async fn rebuild(pool: &PgPool, now: DateTime<Utc>) -> Result<Rebuilt, sqlx::Error> {
    let mut tx = pool.begin().await?;
    lock_exclusively(&mut tx).await?;
    let (history, organizations) = load(&mut tx, None).await?;
    let rollups = Rollup::per_customer(&history);
    let stored = stored_rollups(&mut tx, None).await?;
    let corrected = organizations
        .iter()
        .zip(&rollups)
        .filter(|(organization, rollup)| stored.get(organization) != Some(rollup))
        .count()
        + stored.keys().filter(|o| !organizations.contains(o)).count();
    // language=PostgreSQL
    sqlx::query!(
        "truncate mrr_series_customer, mrr_series_day, mrr_series_month, mrr_series_split, mrr_series_cohort,
                  mrr_series_span"
    )
    .execute(&mut *tx)
    .await?;
    widen_span(&mut tx, 0, history.span).await?;
    let mut totals: BTreeMap<i16, Rollup> = BTreeMap::new();
    for (organization, rollup) in organizations.iter().zip(&rollups) {
        totals
            .entry(shard_of(*organization))
            .or_default()
            .add_signed(rollup, 1);
    }
    store_customers(&mut tx, &organizations, &rollups, now).await?;
    add_to_totals(&mut tx, &totals).await?;
    tx.commit().await?;
    Ok(Rebuilt {
        organizations: organizations.len(),
        corrected,
    })
}

/// Organisations with revisions but no stored series (a ledger older than
/// the series): brought up to date, so an upgraded database reports right
/// without waiting for a rebuild.
pub async fn catch_up(pool: &PgPool, now: DateTime<Utc>) -> Result<usize, sqlx::Error> {
    // language=PostgreSQL
    let missing = sqlx::query_scalar!(
        r#"
        select distinct s.organization_id as "organization_id!"
        from subscription s
        where exists (select from subscription_revision r where r.subscription_id = s.subscription_id)
          and not exists (select from mrr_series_customer c where c.organization_id = s.organization_id)
        "#
    )
    .fetch_all(pool)
    .await?;
    if !missing.is_empty() {
        let mut tx = pool.begin().await?;
        refresh_exclusively(&mut tx, &missing, now).await?;
        tx.commit().await?;
    }
    Ok(missing.len())
}

/// The stored rollups of `organizations` (all with `None`).
async fn stored_rollups(
    conn: &mut PgConnection,
    organizations: Option<&[Uuid]>,
) -> Result<HashMap<Uuid, Rollup>, sqlx::Error> {
    let rows: Vec<(Uuid, Vec<u8>)> = match organizations {
        // language=PostgreSQL
        Some(organizations) => sqlx::query!(
            "select organization_id, rollup from mrr_series_customer where organization_id = any($1)",
            organizations
        )
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .map(|row| (row.organization_id, row.rollup))
        .collect(),
        // language=PostgreSQL
        None => sqlx::query!("select organization_id, rollup from mrr_series_customer")
            .fetch_all(&mut *conn)
            .await?
            .into_iter()
            .map(|row| (row.organization_id, row.rollup))
            .collect(),
    };
    rows.into_iter()
        .map(|(organization, rollup)| {
            let rollup = serde_json::from_slice(&rollup).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
            Ok((organization, rollup))
        })
        .collect()
}

/// Recomputes `organizations` (sorted, distinct, locked) and moves the
/// totals by what changed.
async fn rewrite(
    conn: &mut PgConnection,
    organizations: &[Uuid],
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    if organizations.is_empty() {
        return Ok(());
    }
    // Instant::now times the steps for the log; it decides nothing.
    let started = std::time::Instant::now();
    let (history, loaded) = load(conn, Some(organizations)).await?;
    let fresh: HashMap<Uuid, Rollup> = loaded.into_iter().zip(Rollup::per_customer(&history)).collect();
    let span = history.span;
    drop(history);
    tracing::debug!(
        organizations = organizations.len(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "series recomputed"
    );
    store_recomputed(conn, organizations, fresh, span, now).await
}

/// Stores `fresh`, the recomputed rollups of `organizations` (sorted,
/// distinct, locked; one missing from `fresh` has no ledger), and moves the
/// totals by what changed.
async fn store_recomputed(
    conn: &mut PgConnection,
    organizations: &[Uuid],
    mut fresh: HashMap<Uuid, Rollup>,
    span: Option<(DateTime<Utc>, DateTime<Utc>)>,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let Some(first) = organizations.first() else {
        return Ok(());
    };
    // Which shard's row holds a bound does not matter: readers take the extremes.
    widen_span(conn, shard_of(*first), span).await?;
    let mut stored = stored_rollups(conn, Some(organizations)).await?;
    let mut changes: BTreeMap<i16, Rollup> = BTreeMap::new();
    let mut rewritten = (Vec::new(), Vec::new());
    for organization in organizations {
        let new = fresh.remove(organization).unwrap_or_default();
        let old = stored.remove(organization).unwrap_or_default();
        let mut change = new.clone();
        change.add_signed(&old, -1);
        if !change.is_nothing() {
            changes
                .entry(shard_of(*organization))
                .or_default()
                .add_signed(&change, 1);
        }
        rewritten.0.push(*organization);
        rewritten.1.push(new);
    }
    store_customers(conn, &rewritten.0, &rewritten.1, now).await?;
    add_to_totals(conn, &changes).await
}

/// Writes organisations' rollups, replacing what was there.
async fn store_customers(
    conn: &mut PgConnection,
    organizations: &[Uuid],
    rollups: &[Rollup],
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    const CHUNK: usize = 5_000;
    for (organizations, rollups) in organizations.chunks(CHUNK).zip(rollups.chunks(CHUNK)) {
        let json: Vec<Vec<u8>> = rollups
            .iter()
            .map(serde_json::to_vec)
            .collect::<Result<_, _>>()
            .map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
        // language=PostgreSQL
        sqlx::query!(
            r#"
            insert into mrr_series_customer (organization_id, rollup, refreshed_at)
            select organization_id, rollup, $3
            from unnest($1::uuid[], $2::bytea[]) as t (organization_id, rollup)
            on conflict (organization_id) do update set rollup = excluded.rollup, refreshed_at = excluded.refreshed_at
            "#,
            organizations,
            &json,
            now as _,
        )
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// How far the MRR series cover the ledger, for the console's work page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coverage {
    /// Organisations with a series.
    pub organizations: i64,
    /// When a series was last written.
    pub last: Option<DateTime<Utc>>,
    /// Organisations with a ledger but no series.
    pub missing: i64,
}

/// The series' [`Coverage`].
pub async fn coverage(pool: &PgPool) -> Result<Coverage, sqlx::Error> {
    // language=PostgreSQL
    let row = sqlx::query!(
        r#"
        select (select count(*) from mrr_series_customer) as "organizations!",
               (select max(refreshed_at) from mrr_series_customer) as "last: DateTime<Utc>",
               (select count(distinct s.organization_id) from subscription s
                where exists (select from subscription_revision r where r.subscription_id = s.subscription_id)
                  and not exists (select from mrr_series_customer c where c.organization_id = s.organization_id))
                   as "missing!"
        "#
    )
    .fetch_one(pool)
    .await?;
    Ok(Coverage {
        organizations: row.organizations,
        last: row.last,
        missing: row.missing,
    })
}
