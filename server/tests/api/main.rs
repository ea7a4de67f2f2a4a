//! Integration tests: the real router against a fresh PostgreSQL database per test.

// Helpers outside #[test] fns fail loudly too; that is what a test wants.
#![allow(clippy::unwrap_used)]

mod accounts;
mod admin;
mod admin_console;
mod admin_webhooks;
mod analytics;
mod billing_events;
mod billing_tenancy;
mod catalog;
mod collection;
mod current_subscription;
mod danger_actions;
mod email;
mod embedded_db;
mod event_races;
mod headline_figures;
mod health;
mod helpers;
mod host_api;
mod hostile;
mod hostile_two;
mod licensing;
mod licensing_lifecycle;
mod marketing;
mod mrr_series;
mod openapi;
mod outbound;
mod page_loads;
mod pages;
mod portal_status;
mod process_caches;
mod replica;
mod revocation;
mod runner;
mod security;
mod shutdown;
mod status_checks;
mod stripe_provider;
mod team;
mod trials;
mod webhooks;
mod week;
