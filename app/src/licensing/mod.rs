//! Licences for self-hosted installs: keys issued to an organisation (the
//! `license` crate's format, stored hashed), machines activated within a
//! seat limit under a row lock, check-ins answered with a fresh signed
//! file, and the signing keys that rotate. Where a licence stands follows
//! the organisation's billing state ([`domain::standing`]).

pub mod db;
pub mod domain;
pub mod keys;
