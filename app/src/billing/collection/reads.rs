//! What the portal and the console read of an organisation's collection
//! cases: each case with its steps, newest first.

use super::super::domain::collection::{CaseState, CaseView, StepView};
use crate::catalog::money::Money;
use chrono::{DateTime, TimeDelta, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

/// An organisation's cases, newest first (open ones before closed ones).
pub async fn cases_of(
    conn: &mut PgConnection,
    organization_id: Uuid,
    grace_days: u32,
    limit: i64,
) -> Result<Vec<CaseView>, sqlx::Error> {
    // language=PostgreSQL
    let rows = sqlx::query!(
        r#"
        select c.collection_case_id, c.provider_invoice_id, c.state, c.attempt, c.amount_due, c.currency,
               c.next_retry_at as "next_retry_at: DateTime<Utc>", c.hosted_invoice_url,
               c.past_due_since as "past_due_since: DateTime<Utc>",
               coalesce((select jsonb_agg(jsonb_build_object('step', s.step, 'attempt', s.attempt, 'cause', s.cause,
                                                             'occurred_at', s.occurred_at)
                                          order by s.occurred_at, s.collection_step_id)
                         from collection_step s where s.collection_case_id = c.collection_case_id), '[]')
                   as "steps!"
        from collection_case c
        where c.organization_id = $1
        order by c.closed_at is null desc, c.opened_at desc
        limit $2
        "#,
        organization_id,
        limit
    )
    .fetch_all(&mut *conn)
    .await?;
    /// A step as stored, before it is put in words.
    #[derive(serde::Deserialize)]
    struct StoredStep {
        step: CaseState,
        attempt: i32,
        cause: String,
        occurred_at: DateTime<Utc>,
    }
    let grace = TimeDelta::days(i64::from(grace_days));
    let day = |at: DateTime<Utc>| crate::format::long_day(at.date_naive());
    let moment = crate::format::minute;
    Ok(rows
        .into_iter()
        .filter_map(|row| {
            let state = CaseState::parse(&row.state)?;
            let steps: Vec<StoredStep> = serde_json::from_value(row.steps).unwrap_or_default();
            Some(CaseView {
                invoice: row.provider_invoice_id,
                state,
                attempt: row.attempt,
                amount: Money::display_minor(row.amount_due, &row.currency.to_uppercase()),
                next_retry_on: row.next_retry_at.filter(|_| state.is_open()).map(day),
                restricts_on: matches!(state, CaseState::Failing | CaseState::ActionRequired)
                    .then(|| day(row.past_due_since + grace)),
                pay_url: row.hosted_invoice_url,
                past_due_since: moment(row.past_due_since),
                steps: steps
                    .into_iter()
                    .map(|s| StepView {
                        step: s.step,
                        attempt: s.attempt,
                        cause: s.cause,
                        occurred: moment(s.occurred_at),
                    })
                    .collect(),
            })
        })
        .collect())
}

/// The open case of an organisation, if it has one (the newest).
pub async fn open_case_of(
    conn: &mut PgConnection,
    organization_id: Uuid,
    grace_days: u32,
) -> Result<Option<CaseView>, sqlx::Error> {
    Ok(cases_of(conn, organization_id, grace_days, 1)
        .await?
        .into_iter()
        .find(|case| case.state.is_open()))
}
