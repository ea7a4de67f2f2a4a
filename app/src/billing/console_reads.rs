//! An organisation's billing as the console reads it: its current
//! subscription, its ledger's live rows, its collection steps and its
//! invoices.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

/// The current subscription's facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrentSubscription {
    /// Its status word.
    pub status: String,
    /// Its tier.
    pub plan_key: String,
    /// `monthly` or `annual`.
    pub billing_cycle: String,
    /// The provider billing it (none: a card-free trial or an import).
    pub provider: Option<String>,
    /// The import it came from, if it was imported.
    pub import_key: Option<String>,
    /// When its trial ends.
    pub trial_end: Option<DateTime<Utc>>,
    /// When its period ends.
    pub current_period_end: Option<DateTime<Utc>>,
    /// Whether it ends with its period.
    pub cancel_at_period_end: bool,
}

/// The organisation's current subscription (`current_subscription(org)`).
pub async fn current_subscription(
    pool: &PgPool,
    organization_id: Uuid,
) -> Result<Option<CurrentSubscription>, sqlx::Error> {
    // language=PostgreSQL
    sqlx::query_as!(
        CurrentSubscription,
        r#"select s.status as "status!", p.plan_key, s.billing_cycle as "billing_cycle!", s.provider, s.import_key,
                  s.trial_end as "trial_end: DateTime<Utc>",
                  s.current_period_end as "current_period_end: DateTime<Utc>",
                  s.cancel_at_period_end as "cancel_at_period_end!"
           from current_subscription($1) s join plan p using (plan_id)"#,
        organization_id
    )
    .fetch_optional(pool)
    .await
}

/// A live row of the subscription ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntry {
    /// When the change happened at the provider.
    pub occurred_at: DateTime<Utc>,
    /// What kind of change.
    pub kind: String,
    /// The status before (none for a first row).
    pub status_before: Option<String>,
    /// The status after.
    pub status_after: String,
    /// The plan after.
    pub plan_after: String,
    /// MRR before, in minor units.
    pub mrr_before: i64,
    /// MRR after, in minor units.
    pub mrr_after: i64,
    /// Their currency.
    pub currency: String,
    /// The provider event or action that caused it.
    pub cause: String,
}

/// The organisation's newest `limit` live ledger rows.
pub async fn ledger(
    pool: &PgPool,
    organization_id: Uuid,
    limit: i64,
) -> Result<Vec<LedgerEntry>, sqlx::Error> {
    // language=PostgreSQL
    sqlx::query_as!(
        LedgerEntry,
        r#"select occurred_at as "occurred_at: DateTime<Utc>", kind, status_before, status_after, plan_after,
                  mrr_before, mrr_after, currency, cause
           from subscription_event
           -- Through the organisation's subscriptions, so each is read by the
           -- live rows' index instead of scanning the whole ledger.
           where subscription_id in (select subscription_id from subscription where organization_id = $1)
             and superseded_at is null
           order by occurred_at desc, subscription_event_id desc limit $2"#,
        organization_id,
        limit
    )
    .fetch_all(pool)
    .await
}

/// A step of one of the organisation's collection cases.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectionEntry {
    /// When it happened at the provider.
    pub occurred_at: DateTime<Utc>,
    /// The step's word (the case's state it moved to).
    pub step: String,
    /// The payment attempt it followed (0: none).
    pub attempt: i32,
    /// Its cause.
    pub cause: String,
    /// The unpaid invoice.
    pub provider_invoice_id: String,
    /// What it owes, in minor units.
    pub amount_due: i64,
    /// Its currency.
    pub currency: String,
}

/// The organisation's newest `limit` collection steps.
pub async fn collection_steps(
    pool: &PgPool,
    organization_id: Uuid,
    limit: i64,
) -> Result<Vec<CollectionEntry>, sqlx::Error> {
    // language=PostgreSQL
    sqlx::query_as!(
        CollectionEntry,
        r#"select s.occurred_at as "occurred_at: DateTime<Utc>", s.step, s.attempt, s.cause,
                  c.provider_invoice_id, c.amount_due, c.currency
           from collection_step s join collection_case c using (collection_case_id)
           where c.organization_id = $1
           order by s.occurred_at desc, s.collection_step_id desc limit $2"#,
        organization_id,
        limit
    )
    .fetch_all(pool)
    .await
}

/// An invoice as the console lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceEntry {
    /// Its number, once finalised.
    pub number: Option<String>,
    /// Its status word.
    pub status: String,
    /// Its total, in minor units.
    pub total: i64,
    /// Its currency.
    pub currency: String,
    /// When it was issued.
    pub issued_at: DateTime<Utc>,
}

/// The organisation's newest `limit` invoices.
pub async fn invoices(
    pool: &PgPool,
    organization_id: Uuid,
    limit: i64,
) -> Result<Vec<InvoiceEntry>, sqlx::Error> {
    // language=PostgreSQL
    sqlx::query_as!(
        InvoiceEntry,
        r#"select number, status, total, currency, issued_at as "issued_at: DateTime<Utc>"
           from invoice where organization_id = $1 order by issued_at desc limit $2"#,
        organization_id,
        limit
    )
    .fetch_all(pool)
    .await
}
