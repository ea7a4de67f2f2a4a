//! Stores a checked import in one transaction: organisations by external
//! id, one local subscription per file subscription, and its states as
//! ledger revisions with the rows the ledger's own rule makes of them.
//!
//! A subscription new to Gatehouse gets its whole history written in bulk
//! (its states arrive in order, so each ledger row is the change from the
//! state before, exactly what [`record_revision`] would append). One already
//! imported goes through [`record_revision`] state by state, so importing a
//! file twice changes nothing and a late row lands where it belongs.

use super::import::{ImportRejected, ImportRow};
use crate::billing::domain::classify_change;
use crate::billing::ledger_store::{Revision, exact_columns, record_revision};
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use std::collections::{BTreeSet, HashMap};
use uuid::Uuid;

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
    // Imports run one at a time, across processes: a second import of the
    // same file then finds every subscription and revision stored.
    // language=PostgreSQL
    sqlx::query!("select pg_advisory_xact_lock(hashtextextended('import-history', 0))")
        .execute(&mut *tx)
        .await?;
    // Before any revision: a live refresh holding the series' lock shared may
    // be waiting for an organisation this import locks.
    crate::billing::series_store::lock_exclusively(&mut tx).await?;
    let summary = store(&mut tx, rows, now).await?;
    tx.commit().await?;
    Ok(summary)
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
    let plan_ids = plan_ids(conn, rows).await?;
    let organizations = organizations(conn, rows, &mut summary).await?;

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
    summary.subscriptions_created = created.len() as u64;
    for chunk in fresh.chunks(CHUNK / 4) {
        summary.revisions_added += write_new_histories(conn, chunk, &created, &organizations, now).await?;
    }
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
    let touched: Vec<Uuid> = organizations.values().copied().collect();
    crate::billing::series_store::refresh_exclusively(conn, &touched, now).await?;
    Ok(summary)
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

/// Organisation ids by external id, creating the ones not known.
async fn organizations(
    conn: &mut PgConnection,
    rows: &[ImportRow],
    summary: &mut ImportSummary,
) -> Result<HashMap<String, Uuid>, sqlx::Error> {
    let ids: Vec<String> = rows
        .iter()
        .map(|r| r.org_id.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    // language=PostgreSQL
    let created = sqlx::query_scalar!(
        r#"
        insert into organization (name, external_id)
        select left(id, 100), id from unnest($1::text[]) as id
        on conflict (external_id) do nothing
        returning organization_id
        "#,
        &ids
    )
    .fetch_all(&mut *conn)
    .await?;
    summary.organizations_created = created.len() as u64;
    // language=PostgreSQL
    let found = sqlx::query!(
        r#"select external_id as "external_id!", organization_id from organization where external_id = any($1)"#,
        &ids
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(found
        .into_iter()
        .map(|r| (r.external_id, r.organization_id))
        .collect())
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
            insert into subscription (import_key, organization_id, plan_id, billing_cycle, status)
            select * from unnest($1::text[], $2::uuid[], $3::uuid[], $4::text[], $5::text[])
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

/// The revisions and ledger rows of subscriptions with no stored history.
async fn write_new_histories(
    conn: &mut PgConnection,
    groups: &[&[ImportRow]],
    created: &HashMap<String, Uuid>,
    organizations: &HashMap<String, Uuid>,
    now: DateTime<Utc>,
) -> Result<u64, sqlx::Error> {
    let mut revisions = RevisionColumns::default();
    let mut events = EventColumns::default();
    for group in groups {
        let subscription_id = created[&group[0].subscription_id];
        let organization_id = organizations[&group[0].org_id];
        let mut previous: Option<(&ImportRow, crate::billing::domain::LedgerState, String)> = None;
        for (row, cause) in group.iter().zip(causes(group)) {
            let state = row.ledger_state();
            let (numerator, denominator) = exact_columns(row.mrr());
            revisions.subscription_id.push(subscription_id);
            revisions.occurred_at.push(row.at);
            revisions.cause.push(cause.clone());
            revisions
                .state
                .push(serde_json::to_value(&state).map_err(|e| sqlx::Error::Encode(Box::new(e)))?);
            revisions.plan.push(row.plan.clone());
            revisions.mrr.push(row.mrr().rounded());
            revisions.currency.push(row.currency.clone());
            revisions.numerator.push(numerator);
            revisions.denominator.push(denominator);
            revisions.interval.push(row.interval.as_str().to_owned());
            if let Some(kind) = classify_change(previous.as_ref().map(|p| &p.1), &state) {
                let before = previous.as_ref().map(|p| p.0);
                events.organization_id.push(organization_id);
                events.subscription_id.push(subscription_id);
                events.occurred_at.push(row.at);
                events.kind.push(kind.as_str().to_owned());
                events
                    .status_before
                    .push(before.map(|b| b.status.as_str().to_owned()));
                events.status_after.push(row.status.as_str().to_owned());
                events.plan_before.push(before.map(|b| b.plan.clone()));
                events.plan_after.push(row.plan.clone());
                events.mrr_before.push(before.map_or(0, |b| b.mrr().rounded()));
                events.mrr_after.push(row.mrr().rounded());
                events.currency.push(row.currency.clone());
                events.cause.push(cause.clone());
            }
            previous = Some((row, state, cause));
        }
    }
    let written = revisions.cause.len() as u64;
    // language=PostgreSQL
    sqlx::query!(
        r#"
        insert into subscription_revision (subscription_id, occurred_at, cause, state, plan, mrr, currency,
                                           mrr_numerator, mrr_denominator, billing_interval, recorded_at)
        select *, $11::timestamptz
        from unnest($1::uuid[], $2::timestamptz[], $3::text[], $4::jsonb[], $5::text[], $6::bigint[], $7::text[],
                    $8::bigint[], $9::bigint[], $10::text[])
        "#,
        &revisions.subscription_id,
        &revisions.occurred_at as _,
        &revisions.cause,
        &revisions.state,
        &revisions.plan,
        &revisions.mrr,
        &revisions.currency,
        &revisions.numerator,
        &revisions.denominator,
        &revisions.interval,
        now as _,
    )
    .execute(&mut *conn)
    .await?;
    // language=PostgreSQL
    sqlx::query!(
        r#"
        insert into subscription_event (organization_id, subscription_id, occurred_at, kind, status_before,
                                        status_after, plan_before, plan_after, mrr_before, mrr_after, currency,
                                        cause, recorded_at)
        select *, $13::timestamptz
        from unnest($1::uuid[], $2::uuid[], $3::timestamptz[], $4::text[], $5::text[], $6::text[], $7::text[],
                    $8::text[], $9::bigint[], $10::bigint[], $11::text[], $12::text[])
        "#,
        &events.organization_id,
        &events.subscription_id,
        &events.occurred_at as _,
        &events.kind,
        &events.status_before as _,
        &events.status_after,
        &events.plan_before as _,
        &events.plan_after,
        &events.mrr_before,
        &events.mrr_after,
        &events.currency,
        &events.cause,
        now as _,
    )
    .execute(&mut *conn)
    .await?;
    Ok(written)
}

#[derive(Default)]
struct RevisionColumns {
    subscription_id: Vec<Uuid>,
    occurred_at: Vec<DateTime<Utc>>,
    cause: Vec<String>,
    state: Vec<serde_json::Value>,
    plan: Vec<String>,
    mrr: Vec<i64>,
    currency: Vec<String>,
    numerator: Vec<i64>,
    denominator: Vec<i64>,
    interval: Vec<String>,
}

#[derive(Default)]
struct EventColumns {
    organization_id: Vec<Uuid>,
    subscription_id: Vec<Uuid>,
    occurred_at: Vec<DateTime<Utc>>,
    kind: Vec<String>,
    status_before: Vec<Option<String>>,
    status_after: Vec<String>,
    plan_before: Vec<Option<String>>,
    plan_after: Vec<String>,
    mrr_before: Vec<i64>,
    mrr_after: Vec<i64>,
    currency: Vec<String>,
    cause: Vec<String>,
}
