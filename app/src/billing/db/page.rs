//! What the billing page reads: the organisation's subscription, its
//! invoices, and its seats (used and allowed).

use crate::accounts::session::TenantScope;
use crate::billing::domain::InvoiceLine;
use crate::billing::domain::SubscriptionStatus;
use chrono::{DateTime, Utc};
use sqlx::{PgExecutor, PgPool};
use uuid::Uuid;

/// An organisation's subscription as the billing page shows it.
#[derive(Debug, Clone)]
pub struct BillingRow {
    /// Local id.
    pub subscription_id: Uuid,
    /// Provider and its subscription id, once checkout completed.
    pub provider_subscription: Option<(String, String)>,
    /// Tier key.
    pub plan_key: String,
    /// Tier name.
    pub plan_name: String,
    /// `monthly` or `annual`.
    pub billing_cycle: String,
    /// Its state.
    pub status: SubscriptionStatus,
    /// Trial end, Unix seconds.
    pub trial_end: Option<i64>,
    /// Period start, Unix seconds.
    pub current_period_start: Option<i64>,
    /// Period end, Unix seconds.
    pub current_period_end: Option<i64>,
    /// Set to end at period end.
    pub cancel_at_period_end: bool,
    /// A change waiting for period end.
    pub scheduled_change: Option<serde_json::Value>,
    /// Items (lookup key, quantity).
    pub items: Vec<(String, u32)>,
}

impl BillingRow {
    /// Whether a provider subscription is running (not ended): the billing
    /// page offers plan changes, and a second checkout is refused.
    pub fn has_live_subscription(&self) -> bool {
        self.provider_subscription.is_some() && !self.status.has_ended()
    }
}

fn unknown_status(raw: &str) -> sqlx::Error {
    sqlx::Error::Decode(format!("subscription status {raw:?} is not one Gatehouse writes").into())
}

/// The organisation's newest subscription with its items, in one round trip.
pub async fn billing_row(pool: &PgPool, scope: &TenantScope) -> Result<Option<BillingRow>, sqlx::Error> {
    // language=PostgreSQL
    let Some(row) = sqlx::query!(
        r#"
        select s.subscription_id as "subscription_id!", s.provider, s.provider_subscription_id, p.plan_key,
               p.name as plan_name, s.billing_cycle as "billing_cycle!", s.status as "status!",
               s.cancel_at_period_end as "cancel_at_period_end!", s.scheduled_change,
               floor(extract(epoch from s.trial_end))::bigint as trial_end,
               floor(extract(epoch from s.current_period_start))::bigint as current_period_start,
               floor(extract(epoch from s.current_period_end))::bigint as current_period_end,
               array(select i.lookup_key from subscription_item i where i.subscription_id = s.subscription_id
                     order by i.lookup_key) as "item_keys!",
               array(select i.quantity from subscription_item i where i.subscription_id = s.subscription_id
                     order by i.lookup_key) as "item_quantities!"
        from current_subscription($1) s join plan p using (plan_id)
        "#,
        scope.organization_id()
    )
    .fetch_optional(pool)
    .await?
    else {
        return Ok(None);
    };
    let items = row
        .item_keys
        .into_iter()
        .zip(row.item_quantities.into_iter().map(|q| q.max(0) as u32))
        .collect();
    Ok(Some(BillingRow {
        subscription_id: row.subscription_id,
        provider_subscription: row.provider.zip(row.provider_subscription_id),
        plan_key: row.plan_key,
        plan_name: row.plan_name,
        billing_cycle: row.billing_cycle,
        status: SubscriptionStatus::parse(&row.status).ok_or_else(|| unknown_status(&row.status))?,
        trial_end: row.trial_end,
        current_period_start: row.current_period_start,
        current_period_end: row.current_period_end,
        cancel_at_period_end: row.cancel_at_period_end,
        scheduled_change: row.scheduled_change,
        items,
    }))
}

/// One invoice as listed and shown to its organisation.
#[derive(Debug, Clone)]
pub struct InvoiceRow {
    /// Local id (in URLs).
    pub invoice_id: Uuid,
    /// The provider's invoice number, once finalised.
    pub number: Option<String>,
    /// Status word.
    pub status: String,
    /// The ISO code every amount is in.
    pub currency: String,
    /// Before discounts and tax, minor units.
    pub subtotal: i64,
    /// What the invoice comes to, minor units.
    pub total: i64,
    /// What was asked to be paid, minor units.
    pub amount_due: i64,
    /// What has been paid, minor units.
    pub amount_paid: i64,
    /// Issued, `YYYY-MM-DD`.
    pub issued_on: String,
    /// Period, `YYYY-MM-DD`.
    pub period: Option<(String, String)>,
    /// Its lines, as the provider itemised them.
    pub lines: Vec<InvoiceLine>,
    /// Provider's hosted page.
    pub hosted_invoice_url: Option<String>,
    /// Provider's PDF.
    pub invoice_pdf_url: Option<String>,
}

/// An organisation's invoices, newest first (or one of them).
pub async fn invoices(
    pool: &PgPool,
    scope: &TenantScope,
    only: Option<Uuid>,
) -> Result<Vec<InvoiceRow>, sqlx::Error> {
    // language=PostgreSQL
    let rows = sqlx::query!(
        r#"
        select invoice_id, number, status, currency, subtotal, total, amount_due, amount_paid, lines,
               hosted_invoice_url, invoice_pdf_url,
               to_char(issued_at at time zone 'UTC', 'YYYY-MM-DD') as "issued_on!",
               to_char(period_start at time zone 'UTC', 'YYYY-MM-DD') as period_start,
               to_char(period_end at time zone 'UTC', 'YYYY-MM-DD') as period_end
        from invoice
        where organization_id = $1 and ($2::uuid is null or invoice_id = $2)
        order by issued_at desc, number desc
        limit 100
        "#,
        scope.organization_id(),
        only
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| InvoiceRow {
            invoice_id: r.invoice_id,
            number: r.number,
            status: r.status,
            currency: r.currency,
            subtotal: r.subtotal,
            total: r.total,
            amount_due: r.amount_due,
            amount_paid: r.amount_paid,
            issued_on: r.issued_on,
            period: r.period_start.zip(r.period_end),
            lines: serde_json::from_value(r.lines).unwrap_or_default(),
            hosted_invoice_url: r.hosted_invoice_url,
            invoice_pdf_url: r.invoice_pdf_url,
        })
        .collect())
}

/// Users counted against the seat limit at `now`: members plus open
/// invitations.
pub async fn users_counted(
    executor: impl PgExecutor<'_>,
    scope: &TenantScope,
    now: DateTime<Utc>,
) -> Result<u64, sqlx::Error> {
    // language=PostgreSQL
    let count = sqlx::query_scalar!(
        r#"
        select counted_users($1, $2) as "count!"
        "#,
        scope.organization_id(),
        now as _
    )
    .fetch_one(executor)
    .await?;
    Ok(count.max(0) as u64)
}
