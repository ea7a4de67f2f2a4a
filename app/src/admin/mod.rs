//! The admin console (`/admin`): platform admins sign in with a password
//! and a second factor, find organisations, act on them with a reason the
//! audit log keeps, and read the business's figures.
//!
//! By section, each with its reads, server functions and pages:
//! [`sign_in`] (the password, the second factor, the admin session);
//! [`organizations`] (the dashboard, the list, one organisation, the audit
//! log and the audited actions); [`operations`] (events, emails, work,
//! webhooks, API keys, health); and [`analytics`] (figures, movers, the
//! forecast). Shared by every section: [`audited`] (the one preamble of an
//! audited action, and the audit log's writes), [`frame`] (the console's
//! navigation and styles) and [`words`] (stored values in words); [`pages`]
//! lists every page for the router.

pub mod analytics;
#[cfg(feature = "ssr")]
pub mod audited;
pub mod frame;
pub mod import_outcome;
pub mod import_page;
pub mod operations;
pub mod organizations;
pub mod pages;
pub mod sign_in;
pub mod words;
