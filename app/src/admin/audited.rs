//! The one preamble and ending of every audited console action: a fully
//! signed-in admin (anyone else is refused before anything is read or
//! parsed), the time, and a transaction in which the change and its audit
//! entry land together or not at all.

use super::db::{AuditEntry, audit};
use super::session::{AdminScope, require_admin};
use crate::context::{AppContext, app_context};
use crate::error::AppError;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

/// An audited action under way.
pub struct AuditedAction {
    /// Who acts.
    pub admin: AdminScope,
    /// The ground's handles.
    pub context: AppContext,
    /// When, by the one clock.
    pub now: DateTime<Utc>,
    /// The change's transaction; [`AuditedAction::commit`] writes the
    /// audit entry in it and commits.
    pub tx: Transaction<'static, Postgres>,
}

impl AuditedAction {
    /// Begins an action for the signed-in admin.
    pub async fn begin() -> Result<Self, AppError> {
        let admin = require_admin().await?;
        let context = app_context()?;
        let now = context.clock.now();
        let tx = context.pool.begin().await?;
        Ok(AuditedAction {
            admin,
            context,
            now,
            tx,
        })
    }

    /// Records `what` beside the change, commits both, and sends the
    /// browser on to `then` (a form post lands on the page that shows it).
    pub async fn commit(mut self, what: Audit, then: &str) -> Result<(), AppError> {
        let client_ip = crate::accounts::api::client_ip();
        let entry = AuditEntry {
            at: self.now,
            admin_id: self.admin.admin_id,
            admin_email: &self.admin.email,
            action: what.action,
            organization_id: what.organization_id,
            reason: what.reason.as_deref(),
            before: what.before,
            after: what.after,
            client_ip: &client_ip,
        };
        audit(&mut *self.tx, &entry).await?;
        self.tx.commit().await?;
        crate::security::redirect::redirect(then);
        Ok(())
    }
}

/// What an audit entry says of an action.
#[derive(Debug, Clone, PartialEq)]
pub struct Audit {
    action: &'static str,
    organization_id: Option<Uuid>,
    reason: Option<String>,
    before: Option<Value>,
    after: Option<Value>,
}

impl Audit {
    /// The action, in the audit log's words (`trial.extend`, `job.retry`, …).
    pub fn of(action: &'static str) -> Self {
        Audit {
            action,
            organization_id: None,
            reason: None,
            before: None,
            after: None,
        }
    }

    /// On which organisation.
    pub fn on(self, organization_id: Uuid) -> Self {
        Audit {
            organization_id: Some(organization_id),
            ..self
        }
    }

    /// Why, as the admin gave it.
    pub fn because(self, reason: String) -> Self {
        Audit {
            reason: Some(reason),
            ..self
        }
    }

    /// The state before.
    pub fn before(self, before: Value) -> Self {
        Audit {
            before: Some(before),
            ..self
        }
    }

    /// The state after.
    pub fn after(self, after: Value) -> Self {
        Audit {
            after: Some(after),
            ..self
        }
    }
}
