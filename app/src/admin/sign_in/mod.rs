//! The console's sign-in: a password, then a second factor (a TOTP code,
//! enrolled on the first sign-in, or a recovery code), a device remembered
//! for a while, and the admin session's lifetimes.

pub mod api;
#[cfg(feature = "ssr")]
pub mod db;
pub mod pages;
#[cfg(feature = "ssr")]
pub mod rules;
#[cfg(feature = "ssr")]
pub mod session;
#[cfg(feature = "ssr")]
pub mod totp;
