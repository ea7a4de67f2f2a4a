//! What the last history upload did, kept in the admin's session for the
//! import page to show once (never carried in the page's address).

#![allow(missing_docs)]

use crate::error::AppError;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// The session key the outcome is kept under.
pub const IMPORT_OUTCOME_KEY: &str = "gatehouse.admin.import_outcome";

/// What an upload came to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ImportOutcome {
    /// Stored.
    Imported {
        /// Rows read.
        rows: u64,
        /// New revisions.
        revisions_added: u64,
        /// Subscriptions created.
        subscriptions_created: u64,
        /// Organisations created.
        organizations_created: u64,
        /// Organisations whose imported subscriptions were made live.
        organizations_made_live: u64,
    },
    /// Refused whole, with the reasons (lines named).
    Refused(String),
}

impl ImportOutcome {
    /// The notice for a successful import, in words this code chose.
    pub fn summary(&self) -> Option<String> {
        match self {
            ImportOutcome::Imported {
                rows,
                revisions_added,
                subscriptions_created,
                organizations_created,
                organizations_made_live,
            } => Some(format!(
                "Imported {rows} rows: {revisions_added} new revisions, {subscriptions_created} subscriptions and {organizations_created} organisations created. {}",
                match organizations_made_live {
                    0 => "No organisation's live subscription changed (history only).".to_owned(),
                    1 => "1 organisation's subscriptions were made live, audited and announced.".to_owned(),
                    n => format!("{n} organisations' subscriptions were made live, audited and announced."),
                }
            )),
            ImportOutcome::Refused(_) => None,
        }
    }
}

/// Takes the outcome of this admin's last upload, if one is waiting.
#[server(prefix = "/api", endpoint = "admin_import_outcome")]
pub async fn take_import_outcome() -> Result<Option<ImportOutcome>, AppError> {
    crate::admin::sign_in::session::require_admin().await?;
    let session = crate::accounts::session::current_session().await?;
    session
        .remove::<ImportOutcome>(IMPORT_OUTCOME_KEY)
        .await
        .map_err(|_| AppError::Internal)
}
