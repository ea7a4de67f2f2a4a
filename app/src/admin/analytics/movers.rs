//! `/admin/movements?month=YYYY-MM`: the organisations behind one month's
//! MRR movements, reached from the analytics page's months.

// #[server] turns each function's parameters into the fields of a generated
// argument struct; parameters cannot carry doc comments, the functions do.
#![allow(missing_docs)]

use crate::error::AppError;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// One organisation's movements in the month.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MoverRow {
    /// Its id.
    pub organization_id: String,
    /// Its name.
    pub name: String,
    /// Each kind that moved, in words with its amount.
    pub changes: String,
    /// The net change, signed.
    pub net: String,
}

/// The month and who moved in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MoversView {
    /// `YYYY-MM`.
    pub month: String,
    /// `Nov 2026`.
    pub month_words: String,
    /// Largest net change first.
    pub rows: Vec<MoverRow>,
}

#[cfg(feature = "ssr")]
fn signed(cents: i64) -> String {
    let money = crate::analytics::tables::money(Some(cents.abs()));
    if cents < 0 {
        format!("−{money}")
    } else {
        format!("+{money}")
    }
}

/// The organisations whose MRR moved in `month`.
#[server(prefix = "/api", endpoint = "admin_analytics_movers", input = server_fn::codec::GetUrl)]
pub async fn get_movers(month: Option<String>) -> Result<MoversView, AppError> {
    use crate::analytics::domain::{Month, movers};
    // Optional in the signature so that a caller who is not an admin hears
    // "sign in" before anything about the month.
    let admin = crate::admin::sign_in::session::require_admin().await?;
    let context = crate::context::app_context()?;
    let month = Month::parse(month.unwrap_or_default().trim())
        .map_err(|e| AppError::field("month", e.to_string()))?;
    let reads = super::reads::analytics_reads(&context.pool, context.replica.as_ref(), admin.admin_id).await;
    let (history, organizations) = crate::billing::series_store::load_history(&reads.pool).await?;
    let moved = movers(&history, month);
    let ids: Vec<uuid::Uuid> = moved
        .iter()
        .filter_map(|m| organizations.get(m.customer).copied())
        .collect();
    let names = crate::analytics::db::organization_names(&reads.pool, &ids).await?;
    Ok(MoversView {
        month: month.to_string(),
        month_words: crate::format::month_of(month.first_day()),
        rows: moved
            .iter()
            .filter_map(|m| mover_row(m, &organizations, &names))
            .collect(),
    })
}

/// A mover as the drill-down lists it: its organisation, each kind of
/// change with its amount, and the net.
#[cfg(feature = "ssr")]
fn mover_row(
    mover: &crate::analytics::domain::Mover,
    organizations: &[uuid::Uuid],
    names: &std::collections::HashMap<uuid::Uuid, String>,
) -> Option<MoverRow> {
    let id = *organizations.get(mover.customer)?;
    let changes = mover
        .kinds()
        .map(|(kind, amount)| format!("{} {}", super::super::words::words(kind.key()), signed(amount)))
        .collect::<Vec<_>>()
        .join("; ");
    Some(MoverRow {
        organization_id: id.to_string(),
        name: names.get(&id).cloned().unwrap_or_else(|| id.to_string()),
        changes,
        net: signed(mover.net()),
    })
}
