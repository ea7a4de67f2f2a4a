//! Organisations in the console: the dashboard, the searchable list, one
//! organisation in full, the audit log, and the audited actions on an
//! organisation (trial extension, suspension, impersonation, overrides).
//! Other features' tables are read and written through those features'
//! own functions.

pub mod actions;
pub mod api;
#[cfg(feature = "ssr")]
pub mod dashboard;
pub mod pages;
#[cfg(feature = "ssr")]
pub mod queries;
#[cfg(feature = "ssr")]
pub mod rules;
pub mod views;
