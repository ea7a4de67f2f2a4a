//! Billing on the server side: the Stripe provider, the event worker that
//! turns inbox events into local state, and invoice PDFs.

pub mod invoice_pdf;
pub mod stripe;
pub mod worker;
