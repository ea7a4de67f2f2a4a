//! Throttling shared by every process through Postgres.

pub mod throttle;

#[cfg(feature = "ssr")]
pub mod db;
