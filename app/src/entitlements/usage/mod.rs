//! Usage the host product reports: each report carries the host's own id
//! for it, so a retry counts once and a reused id with other content is
//! refused; a batch applies all or nothing. Also the six-hourly snapshots.

use crate::catalog::domain::{Catalog, USERS_METRIC};
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use serde::Deserialize;
use sqlx::PgConnection;
use uuid::Uuid;

/// Most reports in one batch.
pub const MAX_BATCH: usize = 100;
/// Longest report id.
pub const MAX_REPORT_ID: usize = 200;
/// The largest usage value, increment or set a counter takes: far past
/// any real count, and small enough that every figure derived from it
/// (sums, percentages of a limit, a thousand times it) stays inside `i64`.
pub const MAX_USAGE_VALUE: i64 = 1_000_000_000_000_000;

/// How often every organisation's usage is recorded.
pub const SNAPSHOT_EVERY: TimeDelta = TimeDelta::hours(6);

/// One report as sent.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawReport {
    /// The host product's id for this report.
    pub id: Option<String>,
    /// Metric key.
    pub metric: Option<String>,
    /// Add this much (may be negative).
    pub increment: Option<i64>,
    /// Or set the value to this.
    pub set: Option<i64>,
}

/// What a report does to its counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Adds (or with a negative amount, removes).
    Increment(i64),
    /// Sets the value.
    Set(u64),
}

/// A report that passed its checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The host product's id for it.
    pub id: String,
    /// Metric key.
    pub metric: String,
    /// What it does.
    pub change: Change,
}

/// A report that cannot be applied, with the field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ReportProblem {
    /// Such as `reports[3].metric`.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

fn problem(field: String, message: impl Into<String>) -> ReportProblem {
    ReportProblem {
        field,
        message: message.into(),
    }
}

/// Checks a batch: 1 to [`MAX_BATCH`] reports, each with a printable id, a
/// metric of the catalogue the host product reports, and exactly one of
/// `increment` and `set` (`set` at least 0), ids distinct within the batch.
pub fn parse_batch(catalog: &Catalog, raw: Vec<RawReport>) -> Result<Vec<Report>, ReportProblem> {
    if raw.is_empty() {
        return Err(problem("reports".into(), "send at least one report"));
    }
    if raw.len() > MAX_BATCH {
        return Err(problem(
            "reports".into(),
            format!("send at most {MAX_BATCH} reports at once"),
        ));
    }
    let mut seen = std::collections::HashSet::new();
    raw.into_iter()
        .enumerate()
        .map(|(index, report)| {
            let at = |field: &str| format!("reports[{index}].{field}");
            let id = report.id.ok_or_else(|| problem(at("id"), "is required"))?;
            if id.is_empty() || id.chars().count() > MAX_REPORT_ID || id.chars().any(char::is_control) {
                return Err(problem(
                    at("id"),
                    format!("must be 1 to {MAX_REPORT_ID} printable characters"),
                ));
            }
            if !seen.insert(id.clone()) {
                return Err(problem(at("id"), "is used twice in this batch"));
            }
            let metric = report
                .metric
                .ok_or_else(|| problem(at("metric"), "is required"))?;
            match catalog.metric(&metric) {
                None => {
                    let known: Vec<&str> = catalog
                        .metrics
                        .iter()
                        .filter(|m| !m.counted_by_gatehouse())
                        .map(|m| m.key.as_str())
                        .collect();
                    return Err(problem(
                        at("metric"),
                        format!("is not a metric; one of: {}", known.join(", ")),
                    ));
                }
                Some(m) if m.counted_by_gatehouse() => {
                    return Err(problem(
                        at("metric"),
                        format!("{USERS_METRIC} is counted by Gatehouse (members and open invitations)"),
                    ));
                }
                Some(_) => {}
            }
            let change = match (report.increment, report.set) {
                (Some(n), None) if n.unsigned_abs() <= MAX_USAGE_VALUE as u64 => Change::Increment(n),
                (Some(_), None) => {
                    return Err(problem(
                        at("increment"),
                        format!("must be between -{MAX_USAGE_VALUE} and {MAX_USAGE_VALUE}"),
                    ));
                }
                (None, Some(n)) if (0..=MAX_USAGE_VALUE).contains(&n) => Change::Set(n as u64),
                (None, Some(_)) => return Err(problem(at("set"), format!("must be 0 to {MAX_USAGE_VALUE}"))),
                _ => return Err(problem(at("increment"), "give exactly one of increment and set")),
            };
            Ok(Report { id, metric, change })
        })
        .collect()
}

/// What applying a batch came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchOutcome {
    /// Applied (or already applied): each metric's value after the batch.
    Applied {
        /// Reports that counted now.
        applied: usize,
        /// Reports that had been applied before (retries).
        duplicates: usize,
        /// Metric values after the batch.
        values: Vec<(String, u64)>,
    },
    /// A report id was used before with other content; nothing was applied.
    Conflict {
        /// The report's index in the batch.
        index: usize,
    },
    /// A decrement would go below zero; nothing was applied.
    BelowZero {
        /// The report's index in the batch.
        index: usize,
    },
    /// An increment would take the value past [`MAX_USAGE_VALUE`]; nothing
    /// was applied.
    TooLarge {
        /// The report's index in the batch.
        index: usize,
    },
}

/// Applies a checked batch to one organisation inside the caller's
/// transaction, which the caller must roll back on anything but
/// [`BatchOutcome::Applied`]: all or nothing. Counters are locked in key order, so concurrent
/// batches for one organisation serialise instead of losing updates.
pub async fn apply_batch(
    conn: &mut PgConnection,
    organization_id: Uuid,
    reports: &[Report],
    now: DateTime<Utc>,
) -> Result<BatchOutcome, sqlx::Error> {
    let mut metrics: Vec<&str> = reports.iter().map(|r| r.metric.as_str()).collect();
    metrics.sort_unstable();
    metrics.dedup();
    for metric in &metrics {
        // language=PostgreSQL
        sqlx::query!(
            r#"
            insert into usage_counter (organization_id, metric_key, value, updated_at) values ($1, $2, 0, $3)
            on conflict (organization_id, metric_key) do nothing
            "#,
            organization_id,
            metric,
            now as _
        )
        .execute(&mut *conn)
        .await?;
        // language=PostgreSQL
        sqlx::query!(
            "select value from usage_counter where organization_id = $1 and metric_key = $2 for update",
            organization_id,
            metric
        )
        .fetch_one(&mut *conn)
        .await?;
    }

    let (mut applied, mut duplicates) = (0, 0);
    for (index, report) in reports.iter().enumerate() {
        let (increment, set_value) = match report.change {
            Change::Increment(n) => (Some(n), None),
            Change::Set(n) => (None, Some(i64::try_from(n).unwrap_or(i64::MAX))),
        };
        // language=PostgreSQL
        let stored = sqlx::query!(
            r#"
            select organization_id, metric_key, increment, set_value from usage_report where report_id = $1
            "#,
            report.id
        )
        .fetch_optional(&mut *conn)
        .await?;
        if let Some(stored) = stored {
            let same = stored.organization_id == organization_id
                && stored.metric_key == report.metric
                && stored.increment == increment
                && stored.set_value == set_value;
            if !same {
                return Ok(BatchOutcome::Conflict { index });
            }
            duplicates += 1;
            continue;
        }
        // language=PostgreSQL
        let value_after = sqlx::query_scalar!(
            r#"
            update usage_counter
               set value = case when $3::bigint is not null then $3 else value + $4 end, updated_at = $5
             where organization_id = $1 and metric_key = $2
               and (case when $3::bigint is not null then $3 else value + $4 end) between 0 and $6
            returning value
            "#,
            organization_id,
            report.metric,
            set_value,
            increment,
            now as _,
            MAX_USAGE_VALUE
        )
        .fetch_optional(&mut *conn)
        .await?;
        let Some(value_after) = value_after else {
            // Values and increments are bounded, so the sum cannot overflow.
            return Ok(if increment.is_some_and(|n| n > 0) {
                BatchOutcome::TooLarge { index }
            } else {
                BatchOutcome::BelowZero { index }
            });
        };
        // A concurrent batch for this organisation waits on the counter lock
        // above and then finds this row; one for another organisation with
        // the same id meets the primary key here, and is a conflict.
        // language=PostgreSQL
        let inserted = sqlx::query!(
            r#"
            insert into usage_report (report_id, organization_id, metric_key, increment, set_value, value_after, received_at)
            values ($1, $2, $3, $4, $5, $6, $7)
            on conflict (report_id) do nothing
            "#,
            report.id,
            organization_id,
            report.metric,
            increment,
            set_value,
            value_after,
            now as _
        )
        .execute(&mut *conn)
        .await?
        .rows_affected();
        if inserted == 0 {
            return Ok(BatchOutcome::Conflict { index });
        }
        applied += 1;
    }
    // language=PostgreSQL
    let values = sqlx::query!(
        r#"
        select metric_key, value from usage_counter where organization_id = $1 and metric_key = any($2)
        order by metric_key
        "#,
        organization_id,
        &metrics.iter().map(|m| (*m).to_owned()).collect::<Vec<_>>()
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|r| (r.metric_key, r.value.max(0) as u64))
    .collect();
    Ok(BatchOutcome::Applied {
        applied,
        duplicates,
        values,
    })
}

/// The snapshot slot `now` falls in.
pub fn snapshot_slot(now: DateTime<Utc>) -> DateTime<Utc> {
    now.duration_trunc(SNAPSHOT_EVERY).unwrap_or(now)
}

/// Records every organisation's usage of every metric for the slot `now`
/// falls in; a second run in the same slot (another process, a retry)
/// records nothing. Returns the rows written.
pub async fn take_snapshots(
    conn: &mut PgConnection,
    catalog: &Catalog,
    now: DateTime<Utc>,
) -> Result<u64, sqlx::Error> {
    let slot = snapshot_slot(now);
    // The timed work runs every 30 s on every process: once a slot is taken,
    // later runs stop here instead of re-offering every organisation's rows.
    // language=PostgreSQL
    let taken = sqlx::query_scalar!(
        r#"select exists(select 1 from usage_snapshot where taken_at = $1) as "taken!""#,
        slot as _
    )
    .fetch_one(&mut *conn)
    .await?;
    if taken {
        return Ok(0);
    }
    let reported: Vec<String> = catalog
        .metrics
        .iter()
        .filter(|m| !m.counted_by_gatehouse())
        .map(|m| m.key.clone())
        .collect();
    // language=PostgreSQL
    let users = sqlx::query!(
        r#"
        insert into usage_snapshot (organization_id, metric_key, taken_at, value)
        select o.organization_id, $1, $2, counted_users(o.organization_id, $3)
        from organization o
        on conflict do nothing
        "#,
        USERS_METRIC,
        slot as _,
        now as _
    )
    .execute(&mut *conn)
    .await?
    .rows_affected();
    // language=PostgreSQL
    let others = sqlx::query!(
        r#"
        insert into usage_snapshot (organization_id, metric_key, taken_at, value)
        select o.organization_id, k.metric_key, $2, coalesce(c.value, 0)
        from organization o
        cross join unnest($1::text[]) as k(metric_key)
        left join usage_counter c on c.organization_id = o.organization_id and c.metric_key = k.metric_key
        on conflict do nothing
        "#,
        &reported,
        slot as _
    )
    .execute(&mut *conn)
    .await?
    .rows_affected();
    Ok(users + others)
}

/// One metric's recorded history for one organisation, oldest first.
pub async fn snapshot_history(
    conn: &mut PgConnection,
    organization_id: Uuid,
    since: DateTime<Utc>,
) -> Result<Vec<(String, DateTime<Utc>, u64)>, sqlx::Error> {
    // language=PostgreSQL
    Ok(sqlx::query!(
        r#"
        select metric_key, taken_at as "taken_at: DateTime<Utc>", value from usage_snapshot
        where organization_id = $1 and taken_at >= $2
        order by metric_key, taken_at
        "#,
        organization_id,
        since as _
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|r| (r.metric_key, r.taken_at, r.value.max(0) as u64))
    .collect())
}

#[cfg(test)]
mod tests;

/// The share of a limit at which the billing contacts are warned, in percent.
pub const WARN_AT_PERCENT: u64 = 80;

/// Whether going from `before` to `after` crosses [`WARN_AT_PERCENT`] of
/// `limit` upwards (a limit of 0 has no warning: it is always reached).
pub fn crosses_warning(before: u64, after: u64, limit: u64) -> bool {
    let threshold = |used: u64| u128::from(used) * 100 >= u128::from(limit) * u128::from(WARN_AT_PERCENT);
    limit > 0 && threshold(after) && !threshold(before)
}

/// Emails the billing contacts once when a report takes `metric` to 80 %
/// of its `limit`, in the report's transaction (once per organisation,
/// metric and limit: a second crossing of the same limit stays quiet).
#[allow(clippy::too_many_arguments)]
pub async fn warn_near_limit(
    conn: &mut PgConnection,
    catalog: &Catalog,
    organization_id: Uuid,
    organization: &str,
    metric: &str,
    (before, after, limit): (u64, u64, u64),
    notices: &crate::billing::trials::Notices,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    if !crosses_warning(before, after, limit) {
        return Ok(false);
    }
    let label = catalog
        .metrics
        .iter()
        .find(|m| m.key == metric)
        .map_or_else(|| metric.to_owned(), |m| m.units.clone());
    let message = crate::email::templates::usage_warning(
        &notices.brand,
        organization,
        &label,
        after,
        limit,
        &format!("{}/app/billing", notices.public_url),
    );
    let cause = format!("usage_warning:{organization_id}:{metric}:{limit}");
    crate::accounts::contacts::email_billing_contacts(conn, organization_id, &message, &cause, now).await?;
    Ok(true)
}

#[cfg(test)]
mod warning_tests {
    use super::crosses_warning;

    #[test]
    fn the_warning_fires_on_the_report_that_crosses_eighty_percent() {
        for (before, after, limit, fires) in [
            (0, 79, 100, false),
            (0, 80, 100, true),
            (79, 80, 100, true),
            (80, 81, 100, false),
            (50, 100, 100, true),
            (90, 70, 100, false),
            (0, 4, 5, true),
            (0, 3, 5, false),
            (0, 1, 0, false),
            (0, u64::MAX, u64::MAX, true),
            (u64::MAX - 1, u64::MAX, u64::MAX, false),
        ] {
            assert_eq!(
                crosses_warning(before, after, limit),
                fires,
                "{before} → {after} of {limit}"
            );
        }
    }
}
