//! What the console's pages show, as the server functions return it.

use serde::{Deserialize, Serialize};

/// A figure now and 30 days ago.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trend {
    /// What it is.
    pub label: String,
    /// Its value now, formatted.
    pub now: String,
    /// The change since 30 days ago, formatted with its sign (`+3`, `−$49.00`).
    pub change: String,
}

/// Something that needs an admin's attention, with where to see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attention {
    /// What it is.
    pub label: String,
    /// How many.
    pub count: i64,
    /// Where to look, once the console has a page for it.
    pub href: Option<String>,
}

/// The dashboard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DashboardView {
    /// The signed-in admin.
    pub admin_email: String,
    /// The instant the figures are for, and what "active" means, in words.
    pub as_of: String,
    /// Organisations, MRR, ARR, active customers, trials, past due.
    pub figures: Vec<Trend>,
    /// Failed and unmatched events, dead emails, failing endpoints.
    pub attention: Vec<Attention>,
}

/// One organisation in the list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrganizationRow {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// The host product's id for it.
    pub external_id: Option<String>,
    /// Its tier.
    pub tier: Option<String>,
    /// Its subscription's status.
    pub status: Option<String>,
    /// When it was created (UTC date).
    pub created: String,
    /// Whether an admin suspended it.
    pub suspended: bool,
}

/// A page of the organisation list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrganizationList {
    /// Up to 20 rows.
    pub rows: Vec<OrganizationRow>,
    /// The cursor of the next page, if there is one.
    pub next_after: Option<String>,
    /// The tiers to filter by.
    pub tiers: Vec<String>,
}

/// A member of an organisation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemberRow {
    /// Their email.
    pub email: String,
    /// Their role.
    pub role: String,
}

/// A ledger row of an organisation's subscription.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LedgerRow {
    /// When it happened at the provider.
    pub occurred_at: String,
    /// The change kind.
    pub kind: String,
    /// Status before → after.
    pub status: String,
    /// Plan after.
    pub plan: String,
    /// MRR before → after, formatted (for a collection step: the amount due).
    pub mrr: String,
    /// What caused it: a provider event, a runner job, a user or an admin.
    pub cause: String,
}

/// An audit log entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRow {
    /// When.
    pub at: String,
    /// Who.
    pub admin_email: String,
    /// What.
    pub action: String,
    /// On which organisation (id), if any.
    pub organization_id: Option<String>,
    /// Its name, if it still exists.
    pub organization_name: Option<String>,
    /// Why.
    pub reason: Option<String>,
    /// Before, as JSON.
    pub before: Option<String>,
    /// After, as JSON.
    pub after: Option<String>,
}

/// An organisation in full.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrganizationDetail {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// The host product's id for it.
    pub external_id: Option<String>,
    /// When it was created.
    pub created: String,
    /// Why it is suspended, if it is.
    pub suspension: Option<String>,
    /// Members.
    pub members: Vec<MemberRow>,
    /// Its subscription, in words.
    pub subscription: Option<Vec<(String, String)>>,
    /// Whether it has a card-free trial an admin can extend here.
    pub trial_extendable: bool,
    /// The ledger, newest first.
    pub ledger: Vec<LedgerRow>,
    /// Invoices: number, status, total, date.
    pub invoices: Vec<(String, String, String, String)>,
    /// Live entitlement overrides: id, and what it sets in words.
    pub overrides: Vec<(String, String)>,
    /// Its collection cases (unpaid invoices), open ones first, with their
    /// history.
    pub collection: Vec<crate::billing::domain::collection::CaseView>,
    /// Audit entries about it, newest first.
    pub audit: Vec<AuditRow>,
    /// The latest 20 emails to its members, newest first.
    pub emails: Vec<crate::admin::operations::EmailRow>,
}

/// A page of the audit log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditList {
    /// Up to 50 entries.
    pub rows: Vec<AuditRow>,
    /// The cursor of the next page.
    pub next_before: Option<i64>,
}
