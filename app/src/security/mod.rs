//! Defences shared by every feature: throttling whose state lives in
//! Postgres (so every process sees it; busy keys lease their next requests
//! in batches), and the rule for where a redirect
//! may send a user.

pub mod local_path;
pub mod throttle;

#[cfg(feature = "ssr")]
pub mod client;
#[cfg(feature = "ssr")]
pub mod cookies;
#[cfg(feature = "ssr")]
pub mod db;
#[cfg(feature = "ssr")]
pub mod lease;
#[cfg(feature = "ssr")]
pub mod redirect;
