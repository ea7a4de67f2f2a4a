//! Stores a checked import in one transaction: organisations by external
//! id, one local subscription per file subscription, and its states as
//! ledger revisions with the rows the ledger's own rule makes of them.
//!
//! A subscription new to Gatehouse gets its whole history written in bulk
//! (its states arrive in order, so each ledger row is the change from the
//! state before, exactly what [`record_revision`] would append). One already
//! imported goes through [`record_revision`] state by state, so importing a
//! file twice changes nothing and a late row lands where it belongs.
//!
//! Imported subscriptions are history, not live state: they are stored with
//! `live` false, so no organisation's entitlements, billing page or trial
//! change. Only [`make_live`], the operator's explicit and audited
//! migration, turns them into what an organisation may do.

use super::import::{ImportRejected, ImportRow};
use crate::billing::ledger_store::{Revision, record_revision};
use crate::billing::series_store::{self, NewHistories};
use chrono::{DateTime, Utc};
use copy::{ReferenceChecks, write_new_events, write_new_revisions};
use sqlx::{PgConnection, PgPool};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use uuid::Uuid;

mod copy;

/// Rows written per bulk statement.
const CHUNK: usize = 5_000;

/// What an import did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportSummary {
    /// Rows in the file.
    pub rows: u64,
    /// Organisations created (the rest existed under their external id).
    pub organizations_created: u64,
    /// Subscriptions created.
    pub subscriptions_created: u64,
    /// States stored as new revisions (a repeat of a stored one is skipped).
    pub revisions_added: u64,
}

/// Why an import stored nothing.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file names what cannot be imported.
    #[error(transparent)]
    Rejected(#[from] ImportRejected),
    /// The database failed; the transaction was rolled back.
    #[error("the database failed: {0}")]
    Database(#[from] sqlx::Error),
    /// Computing the new organisations' series failed (a panic, reported
    /// instead of taking the process down); the transaction was rolled back.
    #[error("computing the MRR series failed: {0}")]
    Computation(String),
}

/// The revision cause of a row: its time and its place among the
/// subscription's rows of that same time, so the ledger orders ties as the
/// file did and a second import of the same file finds every row stored.
fn cause(row: &ImportRow, same_instant_index: usize) -> String {
    format!(
        "import:{}:{same_instant_index:06}",
        row.at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
    )
}

/// Stores `rows` (as [`super::import::read_history`] returns them) in one
/// transaction, recorded at `now`.
pub async fn store_history(
    pool: &PgPool,
    rows: &[ImportRow],
    now: DateTime<Utc>,
) -> Result<ImportSummary, ImportError> {
    let mut tx = pool.begin().await?;
    let summary = store_history_in(&mut tx, rows, now).await?;
    tx.commit().await?;
    Ok(summary)
}

/// [`store_history`] inside the caller's transaction (which it must be: the
/// import's locks are held until it ends), so what the caller records of
/// the import (its audit entry) commits with it or not at all.
pub async fn store_history_in(
    conn: &mut PgConnection,
    rows: &[ImportRow],
    now: DateTime<Utc>,
) -> Result<ImportSummary, ImportError> {
    // Imports run one at a time, across processes: a second import of the
    // same file then finds every subscription and revision stored.
    // language=PostgreSQL
    sqlx::query!("select pg_advisory_xact_lock(hashtextextended('import-history', 0))")
        .execute(&mut *conn)
        .await?;
    // Before any revision: a live refresh holding the series' lock shared may
    // be waiting for an organisation this import locks.
    crate::billing::series_store::lock_exclusively(conn).await?;
    store(conn, rows, now).await
}

async fn store(
    conn: &mut PgConnection,
    rows: &[ImportRow],
    now: DateTime<Utc>,
) -> Result<ImportSummary, ImportError> {
    let mut summary = ImportSummary {
        rows: rows.len() as u64,
        ..ImportSummary::default()
    };
    // Instant::now times the stages for the log; it decides nothing.
    let started = std::time::Instant::now();
    let stage = |name: &str| {
        tracing::info!(
            stage = name,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "import"
        )
    };
    let plan_ids = plan_ids(conn, rows).await?;
    let (organizations, created_organizations) = organizations(conn, rows, &mut summary).await?;
    stage("organisations");

    // Each subscription's rows, and its last row (its present state).
    let mut groups: Vec<&[ImportRow]> = Vec::new();
    let mut start = 0;
    while start < rows.len() {
        let id = &rows[start].subscription_id;
        let end = start + rows[start..].partition_point(|r| &r.subscription_id == id);
        groups.push(&rows[start..end]);
        start = end;
    }
    let keys: Vec<String> = groups.iter().map(|g| g[0].subscription_id.clone()).collect();
    // language=PostgreSQL
    let existing: HashMap<String, (Uuid, Uuid)> = sqlx::query!(
        "select import_key as \"import_key!\", subscription_id, organization_id from subscription
         where import_key = any($1)",
        &keys
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|r| (r.import_key, (r.subscription_id, r.organization_id)))
    .collect();
    let mut rejected = Vec::new();
    for group in &groups {
        if let Some((_, organization)) = existing.get(&group[0].subscription_id)
            && *organization != organizations[&group[0].org_id]
        {
            rejected.push((
                group[0].line,
                format!(
                    "subscription {:?} was imported before for another organisation",
                    group[0].subscription_id
                ),
            ));
        }
    }
    if !rejected.is_empty() {
        return Err(ImportRejected {
            errors: rejected,
            more: 0,
        }
        .into());
    }

    let fresh: Vec<&[ImportRow]> = groups
        .iter()
        .copied()
        .filter(|g| !existing.contains_key(&g[0].subscription_id))
        .collect();
    let created = create_subscriptions(conn, &fresh, &organizations, &plan_ids).await?;
    stage("subscriptions");
    summary.subscriptions_created = created.len() as u64;
    // In the order of the new ids, so every index on them is written front
    // to back instead of at random.
    let mut fresh = fresh;
    fresh.sort_by_key(|group| created[&group[0].subscription_id]);
    // The organisations this import created have no ledger but what it
    // writes now: their series are computed from the rows as they are
    // copied in, on a blocking thread while Postgres takes the ledger rows,
    // instead of being read back afterwards.
    let mut new_series = NewHistories::default();
    let checks = ReferenceChecks::lift(conn).await?;
    summary.revisions_added += write_new_revisions(
        conn,
        &fresh,
        &created,
        &organizations,
        now,
        &created_organizations,
        &mut new_series,
    )
    .await?;
    let computing = tokio::task::spawn_blocking(move || new_series.rollups());
    write_new_events(conn, &fresh, &created, &organizations, now).await?;
    checks.restore(conn).await?;
    stage("new histories");
    for group in groups
        .iter()
        .filter(|g| existing.contains_key(&g[0].subscription_id))
    {
        let (subscription_id, organization_id) = existing[&group[0].subscription_id];
        for (row, cause) in group.iter().zip(causes(group)) {
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
                recorded_at: now,
            };
            let before: i64 = revision_count(conn, subscription_id).await?;
            record_revision(conn, &revision).await?;
            summary.revisions_added += (revision_count(conn, subscription_id).await? - before) as u64;
        }
    }
    stage("stored histories");
    let new_rollups = computing
        .await
        .map_err(|error| ImportError::Computation(error.to_string()))?;
    series_store::store_new_exclusively(conn, new_rollups, now).await?;
    let touched: Vec<Uuid> = organizations
        .values()
        .filter(|organization| !created_organizations.contains(organization))
        .copied()
        .collect();
    series_store::refresh_exclusively(conn, &touched, now).await?;
    stage("MRR series");
    Ok(summary)
}

/// An organisation whose imported subscriptions were made live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MadeLive {
    /// The organisation.
    pub organization_id: Uuid,
    /// Its external id, as the file named it.
    pub external_id: String,
    /// The subscriptions made live, by their import key.
    pub subscriptions: Vec<String>,
}

/// The operator's explicit migration of live subscriptions: makes the
/// subscriptions `rows` name (already imported) live, so they decide what
/// their organisations may do, inside the caller's transaction, and
/// announces each organisation's change to the host product. Returns each
/// organisation changed, for the caller to audit in the same transaction.
pub async fn make_live(
    conn: &mut PgConnection,
    rows: &[ImportRow],
    now: DateTime<Utc>,
) -> Result<Vec<MadeLive>, sqlx::Error> {
    let keys: Vec<String> = rows
        .iter()
        .map(|r| r.subscription_id.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    // language=PostgreSQL
    let changed = sqlx::query!(
        r#"
        update subscription s set live = true
        from organization o
        where s.import_key = any($1) and not s.live and o.organization_id = s.organization_id
        returning s.organization_id, o.external_id as "external_id!", s.import_key as "import_key!"
        "#,
        &keys
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut made: Vec<MadeLive> = Vec::new();
    for row in changed {
        match made.iter_mut().find(|m| m.organization_id == row.organization_id) {
            Some(entry) => entry.subscriptions.push(row.import_key),
            None => made.push(MadeLive {
                organization_id: row.organization_id,
                external_id: row.external_id,
                subscriptions: vec![row.import_key],
            }),
        }
    }
    made.sort_by(|a, b| a.external_id.cmp(&b.external_id));
    for organization in &mut made {
        organization.subscriptions.sort();
        crate::outbound::events::subscription_changed(conn, organization.organization_id, now).await?;
    }
    Ok(made)
}

async fn revision_count(conn: &mut PgConnection, subscription_id: Uuid) -> Result<i64, sqlx::Error> {
    // language=PostgreSQL
    sqlx::query_scalar!(
        r#"select count(*) as "count!" from subscription_revision where subscription_id = $1"#,
        subscription_id
    )
    .fetch_one(conn)
    .await
}

/// Each row's cause, in the group's order.
fn causes(group: &[ImportRow]) -> Vec<String> {
    let mut index = 0;
    group
        .iter()
        .enumerate()
        .map(|(i, row)| {
            index = if i > 0 && group[i - 1].at == row.at {
                index + 1
            } else {
                0
            };
            cause(row, index)
        })
        .collect()
}

/// The catalogue's plan ids by key; a row naming another plan rejects the file.
async fn plan_ids(conn: &mut PgConnection, rows: &[ImportRow]) -> Result<HashMap<String, Uuid>, ImportError> {
    let keys: Vec<String> = rows
        .iter()
        .map(|r| r.plan.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    // language=PostgreSQL
    let known: HashMap<String, Uuid> = sqlx::query!(
        "select plan_key, plan_id from plan where plan_key = any($1)",
        &keys
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|r| (r.plan_key, r.plan_id))
    .collect();
    let mut problems = super::import::ImportRejected {
        errors: Vec::new(),
        more: 0,
    };
    let mut unknown: Vec<&ImportRow> = rows.iter().filter(|r| !known.contains_key(&r.plan)).collect();
    unknown.sort_by_key(|r| r.line);
    for row in unknown {
        if problems.errors.len() < 50 {
            problems.errors.push((
                row.line,
                format!("plan {:?} is not a tier of the catalogue", row.plan),
            ));
        } else {
            problems.more += 1;
        }
    }
    if problems.errors.is_empty() {
        Ok(known)
    } else {
        Err(problems.into())
    }
}

/// Organisation ids by external id, creating the ones not known; and the
/// ids of those created.
async fn organizations(
    conn: &mut PgConnection,
    rows: &[ImportRow],
    summary: &mut ImportSummary,
) -> Result<(HashMap<String, Uuid>, HashSet<Uuid>), sqlx::Error> {
    // Each organisation dates from its first history row: the customer
    // existed then, whenever the file was imported (and by no clock here).
    let mut first_seen: BTreeMap<&str, DateTime<Utc>> = BTreeMap::new();
    for row in rows {
        first_seen
            .entry(row.org_id.as_str())
            .and_modify(|at| *at = (*at).min(row.at))
            .or_insert(row.at);
    }
    let ids: Vec<String> = first_seen.keys().map(|id| (*id).to_owned()).collect();
    let firsts: Vec<DateTime<Utc>> = first_seen.values().copied().collect();
    // language=PostgreSQL
    let created = sqlx::query!(
        r#"
        insert into organization (name, external_id, created_at)
        select left(id, 100), id, first from unnest($1::text[], $2::timestamptz[]) as t (id, first)
        on conflict (external_id) do update set created_at = least(organization.created_at, excluded.created_at)
            where excluded.created_at < organization.created_at
        returning organization_id, (xmax = 0) as "created!"
        "#,
        &ids,
        &firsts as _
    )
    .fetch_all(&mut *conn)
    .await?;
    let created: Vec<Uuid> = created
        .into_iter()
        .filter(|row| row.created)
        .map(|row| row.organization_id)
        .collect();
    summary.organizations_created = created.len() as u64;
    // language=PostgreSQL
    let found = sqlx::query!(
        r#"select external_id as "external_id!", organization_id from organization where external_id = any($1)"#,
        &ids
    )
    .fetch_all(&mut *conn)
    .await?;
    let found = found
        .into_iter()
        .map(|r| (r.external_id, r.organization_id))
        .collect();
    Ok((found, created.into_iter().collect()))
}

/// Creates one local subscription per new group, in its present (last) state.
async fn create_subscriptions(
    conn: &mut PgConnection,
    groups: &[&[ImportRow]],
    organizations: &HashMap<String, Uuid>,
    plan_ids: &HashMap<String, Uuid>,
) -> Result<HashMap<String, Uuid>, sqlx::Error> {
    let mut created = HashMap::new();
    for chunk in groups.chunks(CHUNK) {
        let (mut keys, mut orgs, mut plans, mut cycles, mut statuses) =
            (vec![], vec![], vec![], vec![], vec![]);
        for group in chunk {
            let present = group.last().expect("a group has rows");
            keys.push(present.subscription_id.clone());
            orgs.push(organizations[&present.org_id]);
            plans.push(plan_ids[&present.plan]);
            cycles.push(
                if present.interval.as_str() == "year" {
                    "annual"
                } else {
                    "monthly"
                }
                .to_owned(),
            );
            statuses.push(present.status.as_str().to_owned());
        }
        // language=PostgreSQL
        let rows = sqlx::query!(
            r#"
            insert into subscription (import_key, organization_id, plan_id, billing_cycle, status, live)
            select *, false from unnest($1::text[], $2::uuid[], $3::uuid[], $4::text[], $5::text[])
            returning import_key as "import_key!", subscription_id
            "#,
            &keys,
            &orgs,
            &plans,
            &cycles,
            &statuses,
        )
        .fetch_all(&mut *conn)
        .await?;
        created.extend(rows.into_iter().map(|r| (r.import_key, r.subscription_id)));
    }
    Ok(created)
}
