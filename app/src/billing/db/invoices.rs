//! Invoices as the provider reports them.

use super::Applied;
use crate::billing::domain::InvoiceSnapshot;
use crate::billing::provider::ProviderName;
use chrono::{DateTime, Utc};
use sqlx::PgConnection;

/// Mirrors a provider invoice as an event carried it. A status never moves
/// backwards (paid → open), whatever the events' times; within one status
/// an older event than the stored one changes nothing. Both rules sit inside
/// the upsert itself, so they hold when two workers insert the same new
/// invoice at once (the later insert re-checks them against the row the
/// earlier one wrote).
pub async fn apply_invoice(
    conn: &mut PgConnection,
    provider: ProviderName,
    invoice: &InvoiceSnapshot,
    event_at: DateTime<Utc>,
) -> Result<Applied, sqlx::Error> {
    // language=PostgreSQL
    let Some(organization_id) = sqlx::query_scalar!(
        "select organization_id from billing_customer where provider = $1 and provider_customer_id = $2",
        provider.as_str(),
        invoice.customer_id
    )
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(Applied::Unmatched(format!(
            "customer {} of invoice {} is not a Gatehouse customer",
            invoice.customer_id, invoice.id
        )));
    };
    let lines = serde_json::to_value(&invoice.lines).unwrap_or_default();
    // language=PostgreSQL
    let changed = sqlx::query!(
        r#"
        insert into invoice (organization_id, provider, provider_invoice_id, provider_subscription_id, number, status,
                             currency, subtotal, total, amount_due, amount_paid, period_start, period_end, lines,
                             hosted_invoice_url, invoice_pdf_url, issued_at, last_event_at)
        values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, to_timestamp($12), to_timestamp($13), $14, $15, $16,
                to_timestamp($17), $18)
        on conflict (provider, provider_invoice_id) do update
            set number = excluded.number, status = excluded.status, subtotal = excluded.subtotal,
                total = excluded.total, amount_due = excluded.amount_due, amount_paid = excluded.amount_paid,
                period_start = excluded.period_start, period_end = excluded.period_end, lines = excluded.lines,
                hosted_invoice_url = excluded.hosted_invoice_url, invoice_pdf_url = excluded.invoice_pdf_url,
                provider_subscription_id = coalesce(excluded.provider_subscription_id, invoice.provider_subscription_id),
                last_event_at = greatest(invoice.last_event_at, excluded.last_event_at)
            where (invoice_status_rank(excluded.status) > invoice_status_rank(invoice.status)
                   or (invoice_status_rank(excluded.status) = invoice_status_rank(invoice.status)
                       and (invoice.last_event_at is null or excluded.last_event_at >= invoice.last_event_at)))
              and (invoice.number, invoice.status, invoice.total, invoice.amount_due, invoice.amount_paid,
                   invoice.lines, invoice.hosted_invoice_url, invoice.invoice_pdf_url, invoice.provider_subscription_id)
                  is distinct from
                  (excluded.number, excluded.status, excluded.total, excluded.amount_due, excluded.amount_paid,
                   excluded.lines, excluded.hosted_invoice_url, excluded.invoice_pdf_url,
                   coalesce(excluded.provider_subscription_id, invoice.provider_subscription_id))
        "#,
        organization_id,
        provider.as_str(),
        invoice.id,
        invoice.subscription_id,
        invoice.number,
        invoice.status.as_str(),
        invoice.currency.to_uppercase(),
        invoice.subtotal,
        invoice.total,
        invoice.amount_due.max(0),
        invoice.amount_paid.max(0),
        invoice.period_start.map(|t| t as f64),
        invoice.period_end.map(|t| t as f64),
        lines,
        invoice.hosted_invoice_url,
        invoice.invoice_pdf_url,
        invoice.created as f64,
        event_at as _,
    )
    .execute(&mut *conn)
    .await?
    .rows_affected()
        > 0;
    Ok(if changed {
        Applied::Changed(None)
    } else {
        Applied::Unchanged
    })
}
