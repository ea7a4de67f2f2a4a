//! Billing's SQL, one file per table or aggregate: provider customers,
//! subscriptions (the present state from the provider, and the state each
//! event carried into the ledger), invoices, and what the billing page reads.

mod customers;
mod invoices;
mod page;
pub mod prices;
mod subscriptions;

pub use customers::{customer_of, link_customer, update_customer_email};
pub use invoices::apply_invoice;
pub use page::{BillingRow, InvoiceRow, billing_row, invoices, users_counted};
pub use subscriptions::{
    LocalSubscription, Present, apply_present, linked_subscription_id, local_subscription, lock_customer,
    record_event_state,
};

use crate::billing::domain::ChangeKind;

/// What applying a provider object did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// Local state changed; the ledger got a row of this kind (or none when
    /// only periods or flags moved).
    Changed(Option<ChangeKind>),
    /// Nothing differed (or the object was older than what is stored).
    Unchanged,
    /// Not Gatehouse's: kept for admins, never retried.
    Unmatched(String),
}
