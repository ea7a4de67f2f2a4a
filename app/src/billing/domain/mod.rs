//! Billing's pure rules: no I/O, built for the server and the browser alike,
//! each tested beside it. Split by concern; everything is re-exported here.

pub mod collection;
mod ledger;
mod mrr;
mod plan_change;
mod price_key;
#[cfg(feature = "ssr")]
pub mod series;
mod snapshot;
mod status;

pub use ledger::*;
pub use mrr::*;
pub use plan_change::*;
pub use price_key::*;
pub use snapshot::*;
pub use status::*;
