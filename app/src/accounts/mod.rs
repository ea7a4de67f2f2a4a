//! Signing up, signing in, email confirmation and password resets.

pub mod api;
#[cfg(feature = "ssr")]
pub mod contacts;
pub mod domain;
pub mod pages;

#[cfg(feature = "ssr")]
pub mod db;
#[cfg(feature = "ssr")]
pub mod organization_reads;
#[cfg(feature = "ssr")]
pub mod secrets;
#[cfg(feature = "ssr")]
pub mod session;
#[cfg(feature = "ssr")]
pub mod tokens;
#[cfg(feature = "ssr")]
pub mod users;
