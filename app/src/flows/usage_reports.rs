//! A host product's usage report: the batch applied to the organisation's
//! counters (all of it or none), then, in the same transaction, the billing
//! contacts warned when a metric crosses 80 % of its limit and the host
//! product told (`usage.limit_reached`) when one reaches it.

use crate::billing::trials::Notices;
use crate::catalog::domain::{Catalog, Limit};
use crate::entitlements::domain::Allowance;
use crate::entitlements::guard::Standing;
use crate::entitlements::usage::{self, BatchOutcome, Report};
use crate::outbound::events::{EventType, record};
use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::PgConnection;

/// Applies `reports` to the organisation whose standing before the batch is
/// `before`, and tells who must hear of a limit crossed. On anything but
/// [`BatchOutcome::Applied`] nothing was warned or told and the caller rolls
/// the transaction back.
pub async fn report(
    conn: &mut PgConnection,
    catalog: &Catalog,
    notices: &Notices,
    before: &Standing,
    reports: &[Report],
    now: DateTime<Utc>,
) -> Result<BatchOutcome, sqlx::Error> {
    let organization_id = before.header.id;
    let outcome = usage::apply_batch(conn, organization_id, reports, now).await?;
    let BatchOutcome::Applied { values, .. } = &outcome else {
        return Ok(outcome);
    };
    for (metric, value) in values {
        let Some(Limit::Limited(limit)) = before.entitlements.limit(metric) else {
            continue;
        };
        let used_before = before.used(metric);
        usage::warn_near_limit(
            conn,
            catalog,
            organization_id,
            &before.header.name,
            metric,
            (used_before, *value, limit),
            notices,
            now,
        )
        .await?;
        if *value >= limit && used_before < limit {
            let data = json!({
                "organization": {"id": organization_id, "external_id": before.header.external_id, "name": before.header.name},
                "metric": metric, "limit": limit, "used": value,
            });
            let cause = limit_cause(reports, metric);
            record(
                conn,
                now,
                EventType::UsageLimitReached,
                cause,
                Some(organization_id),
                data,
            )
            .await?;
        }
    }
    Ok(outcome)
}

/// The last report of the batch on `metric` is the cause of its limit
/// being reached (so a retried batch records the event once).
fn limit_cause<'a>(reports: &'a [Report], metric: &str) -> &'a str {
    reports
        .iter()
        .rev()
        .find(|r| r.metric == metric)
        .map_or("", |r| r.id.as_str())
}

/// Each metric the batch touched, with its allowance after it.
pub fn allowances_after(before: &Standing, values: &[(String, u64)]) -> Vec<(String, Allowance)> {
    values
        .iter()
        .map(|(metric, value)| {
            let limit = before.entitlements.limit(metric).unwrap_or(Limit::Unlimited);
            (metric.clone(), Allowance::of(limit, *value))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::limit_cause;
    use crate::entitlements::usage::{Change, Report};

    fn report(id: &str, metric: &str) -> Report {
        Report {
            id: id.to_owned(),
            metric: metric.to_owned(),
            change: Change::Increment(1),
        }
    }

    #[test]
    fn the_last_report_on_the_metric_is_the_cause() {
        let batch = [
            report("a", "seats"),
            report("b", "api_calls"),
            report("c", "seats"),
            report("d", "api_calls"),
        ];
        for (metric, cause) in [("seats", "c"), ("api_calls", "d"), ("storage", "")] {
            assert_eq!(limit_cause(&batch, metric), cause, "{metric}");
        }
    }
}
