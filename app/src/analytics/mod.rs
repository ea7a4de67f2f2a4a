//! Revenue analytics: MRR, movements, churn, trials, cohorts, LTV and the
//! forecast, computed from the subscription ledger's revisions.

pub mod cards;
pub mod db;
pub mod domain;
pub mod export;
pub mod import;
pub mod import_store;
pub mod seed;
pub mod tables;
