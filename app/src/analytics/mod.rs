//! Revenue analytics: MRR, movements, churn, trials, cohorts, LTV and the
//! forecast, computed from the subscription ledger's revisions.

pub mod domain;
