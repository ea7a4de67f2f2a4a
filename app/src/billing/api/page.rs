//! What the billing pages read: the billing page itself and one invoice.

// #[server] turns each function's parameters into the fields of a generated
// argument struct; parameters cannot carry doc comments, the functions do.
#![allow(missing_docs)]

use super::*;
#[cfg(feature = "ssr")]
use crate::billing::view::{BillingFacts, billing_view, describe_test_card};
#[cfg(feature = "ssr")]
use crate::entitlements::guard::{page_standing, seats};

/// Everything the billing page shows.
#[server(prefix = "/api", endpoint = "billing", input = server_fn::codec::GetUrl)]
pub async fn get_billing() -> Result<BillingView, AppError> {
    let (_, scope) = require_member().await?;
    let context = app_context()?;
    let catalog_generation = context.catalog.generation();
    let catalog = context.catalog.get(&context.pool).await?;
    let reads = context
        .billing_pages
        .reads(
            &context.pool,
            context.sandbox.as_ref(),
            &scope,
            catalog_generation,
        )
        .await?;
    // The banner and the usage bars read the same cached standing.
    let (_, standing) = page_standing(&context, &scope, context.clock.now()).await?;
    let (users_counted, _) = seats(standing.as_ref().map(|cached| &cached.standing));
    let card = reads
        .card
        .as_ref()
        .map(|(last4, fails)| describe_test_card(last4, *fails));
    Ok(billing_view(BillingFacts {
        catalog: &catalog,
        row: reads.row.as_ref(),
        invoices: reads.invoices.clone(),
        users_counted,
        card,
        can_manage: scope.role().manages_team(),
        provider: context.billing.name(),
        test_mode: context.sandbox.is_some(),
        request_id: Uuid::new_v4(),
    }))
}

/// One invoice of the caller's organisation.
#[server(prefix = "/api", endpoint = "invoice", input = server_fn::codec::GetUrl)]
pub async fn get_invoice(invoice_id: String) -> Result<crate::billing::InvoiceView, AppError> {
    let (_, scope) = require_member().await?;
    let context = app_context()?;
    let invoice_id = Uuid::parse_str(invoice_id.trim()).map_err(|_| AppError::NotFound)?;
    let organization_name =
        crate::accounts::db::organization_name(&context.pool, scope.organization_id()).await?;
    let invoice = db::invoices(&context.pool, &scope, Some(invoice_id))
        .await?
        .into_iter()
        .next()
        .ok_or(AppError::NotFound)?;
    Ok(crate::billing::InvoiceView::from_row(&invoice, organization_name))
}
