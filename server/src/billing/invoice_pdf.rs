//! `GET /app/billing/invoices/{id}/pdf`: an invoice as a one-page PDF, for
//! the organisation's members only. Written with pdf-writer in the PDF
//! standard Helvetica, so nothing is embedded and files stay a few KB.

use crate::AppState;
use app::accounts::session::{VerifiedSignIn, member_of_session};
use app::billing::InvoiceView;
use app::billing::db;
use app::error::AppError;
use axum::Extension;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use pdf_writer::{Content, Finish, Name, Pdf, Rect, Ref, Str};
use tower_sessions::Session;
use uuid::Uuid;

/// The standard fonts read bytes as Latin text: anything else becomes a
/// close ASCII stand-in.
fn latin(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| match c {
            '×' => 'x',
            '—' | '–' => '-',
            '’' => '\'',
            c if c.is_ascii() => c,
            _ => '?',
        })
        .collect::<String>()
        .into_bytes()
}

/// Renders an invoice as PDF bytes.
pub fn render(invoice: &InvoiceView, seller: &str) -> Vec<u8> {
    let catalog_id = Ref::new(1);
    let page_tree_id = Ref::new(2);
    let page_id = Ref::new(3);
    let regular_id = Ref::new(4);
    let bold_id = Ref::new(5);
    let content_id = Ref::new(6);
    let (regular, bold) = (Name(b"F1"), Name(b"F2"));

    let mut pdf = Pdf::new();
    pdf.catalog(catalog_id).pages(page_tree_id);
    pdf.pages(page_tree_id).kids([page_id]).count(1);
    let mut page = pdf.page(page_id);
    page.media_box(Rect::new(0.0, 0.0, 595.0, 842.0))
        .parent(page_tree_id)
        .contents(content_id);
    page.resources()
        .fonts()
        .pair(regular, regular_id)
        .pair(bold, bold_id);
    page.finish();
    pdf.type1_font(regular_id).base_font(Name(b"Helvetica"));
    pdf.type1_font(bold_id).base_font(Name(b"Helvetica-Bold"));

    let mut content = Content::new();
    let mut text = |font: Name, size: f32, x: f32, y: f32, s: &str| {
        content.begin_text();
        content.set_font(font, size);
        content.next_line(x, y);
        content.show(Str(&latin(s)));
        content.end_text();
    };
    text(bold, 20.0, 50.0, 780.0, seller);
    text(bold, 16.0, 360.0, 780.0, &format!("Invoice {}", invoice.number));
    text(
        regular,
        10.0,
        360.0,
        762.0,
        &format!("Issued {}", invoice.issued_on),
    );
    text(
        regular,
        10.0,
        360.0,
        748.0,
        &format!("Status: {}", invoice.status),
    );
    if let Some(period) = &invoice.period {
        text(regular, 10.0, 360.0, 734.0, &format!("Service period {period}"));
    }
    text(
        regular,
        11.0,
        50.0,
        740.0,
        &format!("Billed to {}", invoice.organization_name),
    );
    let mut y = 680.0;
    text(bold, 11.0, 50.0, y, "Description");
    text(bold, 11.0, 380.0, y, "Qty");
    text(bold, 11.0, 460.0, y, "Amount");
    for (description, quantity, amount) in &invoice.lines {
        y -= 20.0;
        text(regular, 11.0, 50.0, y, description);
        text(regular, 11.0, 380.0, y, &quantity.to_string());
        text(regular, 11.0, 460.0, y, amount);
    }
    y -= 36.0;
    for (label, value, font) in [
        ("Subtotal", &invoice.subtotal, regular),
        ("Total", &invoice.total, bold),
        ("Paid", &invoice.amount_paid, regular),
        ("Amount remaining", &invoice.amount_remaining, regular),
    ] {
        text(font, 11.0, 360.0, y, label);
        text(font, 11.0, 460.0, y, value);
        y -= 18.0;
    }
    pdf.stream(content_id, &content.finish());
    pdf.finish()
}

/// The handler.
pub async fn invoice_pdf(
    State(state): State<AppState>,
    session: Session,
    verified: Option<Extension<VerifiedSignIn>>,
    Path(id): Path<String>,
) -> Response {
    let not_found = || (StatusCode::NOT_FOUND, "no such invoice").into_response();
    let Ok(invoice_id) = Uuid::parse_str(&id) else {
        return not_found();
    };
    let verified = verified.map(|Extension(VerifiedSignIn(user))| user);
    let scope = match member_of_session(
        &session,
        verified,
        &state.pool,
        &state.caches.users,
        state.clock.now(),
    )
    .await
    {
        Ok((_, scope)) => scope,
        Err(AppError::Unauthorized) => return (StatusCode::UNAUTHORIZED, "please sign in").into_response(),
        // Another organisation's invoice looks like no invoice at all.
        Err(AppError::Forbidden) => return not_found(),
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    let (invoices, organization_name) = match tokio::try_join!(
        db::invoices(&state.pool, &scope, Some(invoice_id)),
        app::accounts::db::organization_name(&state.pool, scope.organization_id())
    ) {
        Ok(found) => found,
        Err(error) => {
            tracing::error!(%error, "could not load an invoice");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    let Some(row) = invoices.first() else {
        return not_found();
    };
    let view = InvoiceView::from_row(row, organization_name);
    let bytes = render(&view, &state.site.product.name);
    (
        [
            (header::CONTENT_TYPE, "application/pdf".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!(
                    "inline; filename=\"invoice-{}.pdf\"",
                    view.number.replace(['"', '\\'], "")
                ),
            ),
            (header::CACHE_CONTROL, "private, no-store".to_owned()),
        ],
        bytes,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invoice_renders_as_a_pdf_with_its_figures() {
        let invoice = InvoiceView {
            invoice_id: "x".into(),
            organization_name: "Acme — Plant 2".into(),
            number: "SBX-000001".into(),
            status: "paid".into(),
            issued_on: "2026-11-22".into(),
            period: Some("2026-11-22 to 2026-12-22".into()),
            lines: vec![
                ("Starter plan".into(), 1, "$49.00".into()),
                ("Extra user".into(), 2, "$10.00".into()),
            ],
            subtotal: "$59.00".into(),
            total: "$59.00".into(),
            amount_paid: "$59.00".into(),
            amount_remaining: "$0.00".into(),
            hosted_invoice_url: None,
            invoice_pdf_url: None,
        };
        let bytes = render(&invoice, "Forgeline");
        assert!(bytes.starts_with(b"%PDF-"));
        let text = String::from_utf8_lossy(&bytes);
        assert!(text.contains("(Invoice SBX-000001)"), "{text}");
        assert!(text.contains("($59.00)"));
        assert!(
            text.contains("(Amount remaining)") && text.contains("($0.00)"),
            "a paid invoice owes nothing"
        );
        assert!(text.contains("(Acme - Plant 2)") || text.contains("Billed to Acme - Plant 2"));
        assert!(text.trim_end().ends_with("%%EOF"));
    }
}
