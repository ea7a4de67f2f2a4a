//! The admin console (`/admin`): platform admins sign in with a password
//! and a second factor, find organisations, act on them with a reason the
//! audit log keeps, and read the business's figures.
//!
//! By section: sign-in and the second factor (`api::sign_in`, [`session`],
//! [`totp`], `pages::sign_in`); organisations and their audited actions
//! (`api`, [`audited`], [`queries`], [`db`], [`dashboard`], `pages::console`);
//! [`operations`] (events, emails, work, webhooks, API keys, health); and
//! [`analytics`] (figures, movers, the forecast, each with its reads and
//! pages).

pub mod analytics;
pub mod api;
#[cfg(feature = "ssr")]
pub mod audited;
#[cfg(feature = "ssr")]
pub mod dashboard;
#[cfg(feature = "ssr")]
pub mod db;
#[cfg(feature = "ssr")]
pub mod domain;
pub mod import_outcome;
pub mod operations;
pub mod pages;
#[cfg(feature = "ssr")]
pub mod queries;
#[cfg(feature = "ssr")]
pub mod session;
#[cfg(feature = "ssr")]
pub mod totp;
pub mod views;
pub mod words;
