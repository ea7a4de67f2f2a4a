//! The plan catalogue: tiers, prices, limits, add-ons and features.

pub mod api;
pub mod domain;
pub mod money;

#[cfg(feature = "ssr")]
pub mod cache;
#[cfg(feature = "ssr")]
pub mod db;
#[cfg(feature = "ssr")]
pub mod source;
