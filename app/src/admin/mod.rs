//! The admin console (`/admin`): platform admins sign in with a password
//! and a second factor, find organisations, act on them with a reason the
//! audit log keeps, and read the business's figures.

pub mod analytics;
#[cfg(feature = "ssr")]
pub mod analytics_charts;
#[cfg(feature = "ssr")]
pub mod analytics_forecast_chart;
pub mod analytics_movers;
#[cfg(feature = "ssr")]
pub mod analytics_reads;
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
pub mod ops;
pub mod pages;
#[cfg(feature = "ssr")]
pub mod queries;
#[cfg(feature = "ssr")]
pub mod session;
#[cfg(feature = "ssr")]
pub mod totp;
pub mod views;
pub mod webhooks;
pub mod words;
pub mod work;
