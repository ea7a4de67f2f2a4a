//! Billing: subscription states and revenue rules (the Stripe integration,
//! checkout and the billing portal build on these).

pub mod domain;
