//! What the invoice page reads. The billing page's own read stands above
//! billing and entitlements, in `portal::billing`.

// #[server] turns each function's parameters into the fields of a generated
// argument struct; parameters cannot carry doc comments, the functions do.
#![allow(missing_docs)]

use super::*;

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
