//! The sandbox provider: Gatehouse's own test-mode payment provider, used
//! when no Stripe keys are set. It keeps its customers, subscriptions and
//! invoices in its own tables (playing Stripe's side), charges test cards,
//! numbers invoices, renews at period end, and reports every change as an
//! event in the same inbox Stripe's webhooks fill, so everything downstream
//! runs the same code for both.
//!
//! Test cards: `4242 4242 4242 4242` pays; `4000 0000 0000 0341` is accepted
//! at checkout but every later charge fails; `4000 0000 0000 0002` is declined.

mod cards;
mod checkout;
mod periods;
mod prices;
mod provider;
mod store;

pub use cards::{CARD_DECLINED, CARD_FAILS_LATER, CARD_SUCCEEDS, TestCard, test_card};
pub use checkout::SandboxCheckout;

use crate::billing::provider::ProviderError;
use crate::clock::Clock;
use sqlx::PgPool;

/// The sandbox, bound to the database, the site's public URL and the clock
/// its periods run on.
#[derive(Clone)]
pub struct Sandbox {
    pool: PgPool,
    public_url: String,
    clock: Clock,
}

fn new_id(prefix: &str) -> String {
    format!("{prefix}_sbx_{}", uuid::Uuid::new_v4().simple())
}

fn db_error(error: sqlx::Error) -> ProviderError {
    tracing::error!(%error, "sandbox provider database error");
    ProviderError::Unexpected(error.to_string())
}

impl Sandbox {
    /// The sandbox over a database; `public_url` makes its checkout links
    /// absolute; `clock` says when periods and trials end.
    pub fn new(pool: PgPool, public_url: &str, clock: Clock) -> Self {
        Sandbox {
            pool,
            public_url: public_url.trim_end_matches('/').to_owned(),
            clock,
        }
    }
}
