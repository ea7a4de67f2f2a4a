//! The analytics export: every monthly figure, cohort and forecast month as
//! one JSON document (`server export-analytics`, and the admin download).

use super::domain::{AnalyticsReport, Month, Window, report};
use crate::billing::series_store::{ledger_span, load_totals};
use chrono::{DateTime, Utc};
use sqlx::PgPool;

/// Why an export could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The months asked for run backwards.
    #[error("the first month ({first}) is after the last ({last})")]
    Backwards {
        /// First month asked for.
        first: Month,
        /// Last month asked for.
        last: Month,
    },
    /// The database failed.
    #[error("the database failed: {0}")]
    Database(#[from] sqlx::Error),
}

/// The report from `first` to `last`; either defaults to the month of the
/// earliest (latest) ledger revision. With no ledger and no months given,
/// an empty report.
pub async fn export(
    pool: &PgPool,
    first: Option<Month>,
    last: Option<Month>,
    now: DateTime<Utc>,
) -> Result<AnalyticsReport, ExportError> {
    let default = ledger_span(pool).await?.map(Window::spanning);
    let first = first.or(default.map(|w| w.first)).or(last);
    let last = last.or(default.map(|w| w.last)).or(first);
    let (Some(first), Some(last)) = (first, last) else {
        return Ok(AnalyticsReport::empty());
    };
    if first > last {
        return Err(ExportError::Backwards { first, last });
    }
    Ok(report(&load_totals(pool).await?, Window { first, last }, now))
}
