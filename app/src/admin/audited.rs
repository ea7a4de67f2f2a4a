//! The one preamble and ending of every audited console action: a fully
//! signed-in admin (anyone else is refused before anything is read or
//! parsed), the time, and a transaction in which the change and its audit
//! entry land together or not at all.

use super::sign_in::session::{AdminScope, require_admin};
use crate::context::{AppContext, app_context};
use crate::error::AppError;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgExecutor, PgPool, Postgres, Transaction};
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
    pub tx: ChangeTransaction,
}

impl AuditedAction {
    /// Begins an action for the signed-in admin. Its transaction begins at
    /// its first use, so the action parses and checks its input (and reads
    /// what it needs to) before it holds one.
    pub async fn begin() -> Result<Self, AppError> {
        let admin = require_admin().await?;
        let context = app_context()?;
        let now = context.clock.now();
        let tx = ChangeTransaction {
            pool: context.pool.clone(),
            open: None,
        };
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
        let tx = self.tx.get().await?;
        audit(&mut **tx, &entry).await?;
        if let Some(tx) = self.tx.open.take() {
            tx.commit().await?;
        }
        crate::security::redirect::redirect(then);
        Ok(())
    }
}

/// The reason an admin gave, checked for the audit log: trimmed, 1–500
/// characters, no control characters other than line breaks and tabs.
pub fn checked_reason(raw: &str) -> Result<String, AppError> {
    parse_reason(raw).ok_or_else(|| {
        AppError::field(
            "reason",
            "give a reason of 1–500 characters; it goes into the audit log",
        )
    })
}

/// Why an admin did something: trimmed, 1–500 characters, no control
/// characters other than line breaks and tabs.
fn parse_reason(raw: &str) -> Option<String> {
    let reason = raw.trim();
    let printable = reason
        .chars()
        .all(|c| !c.is_control() || c == '\n' || c == '\r' || c == '\t');
    (!reason.is_empty() && reason.chars().count() <= 500 && printable).then(|| reason.to_owned())
}

/// An action's transaction, begun when the action first writes.
pub struct ChangeTransaction {
    pool: PgPool,
    open: Option<Transaction<'static, Postgres>>,
}

impl ChangeTransaction {
    /// The transaction, begun now if it has not been.
    pub async fn get(&mut self) -> Result<&mut Transaction<'static, Postgres>, sqlx::Error> {
        if let Some(tx) = self.open.take() {
            return Ok(self.open.insert(tx));
        }
        let tx = self.pool.begin().await?;
        Ok(self.open.insert(tx))
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

/// One audit log entry to write.
pub struct AuditEntry<'a> {
    /// When.
    pub at: DateTime<Utc>,
    /// Who.
    pub admin_id: Uuid,
    /// Their email then.
    pub admin_email: &'a str,
    /// What: `trial.extend`, `organization.suspend`, `admin.sign_in`, …
    pub action: &'a str,
    /// On which organisation.
    pub organization_id: Option<Uuid>,
    /// Why, as the admin gave it.
    pub reason: Option<&'a str>,
    /// The state before.
    pub before: Option<Value>,
    /// The state after.
    pub after: Option<Value>,
    /// From where.
    pub client_ip: &'a str,
}

/// Appends an entry, in the caller's transaction (with the change it records).
pub async fn audit(executor: impl PgExecutor<'_>, entry: &AuditEntry<'_>) -> Result<(), sqlx::Error> {
    // language=PostgreSQL
    sqlx::query!(
        "insert into admin_audit (occurred_at, platform_admin_id, admin_email, action, organization_id, reason,
                                  before, after, client_ip)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        entry.at as _,
        entry.admin_id,
        entry.admin_email,
        entry.action,
        entry.organization_id,
        entry.reason,
        entry.before,
        entry.after,
        entry.client_ip
    )
    .execute(executor)
    .await?;
    Ok(())
}

/// The admin's newest audit entry (every change an admin makes writes one
/// in its own transaction), as far as this database has it: a replica whose
/// answer equals the primary's has every change that admin made.
pub async fn last_audit_entry(
    executor: impl PgExecutor<'_>,
    admin_id: Uuid,
) -> Result<Option<i64>, sqlx::Error> {
    // language=PostgreSQL
    sqlx::query_scalar!(
        "select max(admin_audit_id) from admin_audit where platform_admin_id = $1",
        admin_id
    )
    .fetch_one(executor)
    .await
}

#[cfg(test)]
mod tests {
    use super::parse_reason;

    #[test]
    fn a_reason_is_trimmed_printable_and_at_most_500_characters() {
        assert_eq!(
            parse_reason("  customer asked for more time \n").as_deref(),
            Some("customer asked for more time")
        );
        assert_eq!(
            parse_reason("line one\nline two\tend").as_deref(),
            Some("line one\nline two\tend")
        );
        for bad in [
            "",
            "   ",
            "\n\t",
            "\u{7}beep",
            "nul\u{0}inside",
            "esc\u{1b}[31m",
            &"x".repeat(501),
        ] {
            assert_eq!(parse_reason(bad), None, "{bad:?}");
        }
        assert!(
            parse_reason(&"é".repeat(500)).is_some(),
            "500 characters, not bytes"
        );
        assert!(parse_reason(&"é".repeat(501)).is_none());
    }
}
