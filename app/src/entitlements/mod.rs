//! Entitlements: what each organisation may do (its plan's features and
//! limits, add-ons, admin overrides and subscription state), the usage it
//! has, and the one guard every gated server function and API route uses.

#[cfg(feature = "ssr")]
pub mod cache;
#[cfg(feature = "ssr")]
pub mod db;
#[cfg(feature = "ssr")]
pub mod domain;
#[cfg(feature = "ssr")]
pub mod guard;
#[cfg(feature = "ssr")]
pub mod history_cache;
#[cfg(feature = "ssr")]
pub mod organizations;
#[cfg(feature = "ssr")]
pub mod overrides;
#[cfg(feature = "ssr")]
pub mod usage;
pub mod usage_view;
