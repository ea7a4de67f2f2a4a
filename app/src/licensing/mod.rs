//! Licences for self-hosted installs: keys issued to an organisation (the
//! `license` crate's format, derived from the licensing secret and stored
//! hashed), machines activated within a seat limit under a row lock,
//! check-ins answered with a fresh signed file, and the signing keys that
//! rotate. Where a licence stands follows the organisation's billing state
//! ([`domain::standing`]); [`lifecycle`] issues it with the subscription and
//! warns before it ends; the portal's page is `/app/licenses`.

pub mod api;
pub mod console;
pub mod pages;
pub mod view;

#[cfg(feature = "ssr")]
pub mod db;
#[cfg(feature = "ssr")]
pub mod domain;
#[cfg(feature = "ssr")]
pub mod keys;
#[cfg(feature = "ssr")]
pub mod lifecycle;
#[cfg(feature = "ssr")]
pub mod manage;

pub use pages::LicensesPage;
