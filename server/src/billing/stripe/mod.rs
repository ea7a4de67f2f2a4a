//! Stripe, through async-stripe: its objects read into Gatehouse's
//! snapshots (`convert`), the provider calls (`provider`), and the
//! catalogue sync (`catalog_sync`).

mod catalog_sync;
mod convert;
mod provider;

pub use convert::{
    billing_event_from_stripe, billing_event_from_stripe_event, invoice_snapshot, scheduled_change,
    subscription_snapshot,
};
pub use provider::{StripeProvider, refusal_words};
