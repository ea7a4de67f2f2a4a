//! Billing on the server side: the Stripe provider, the event worker that
//! turns inbox events into local state, and invoice PDFs.

pub mod invoice_pdf;
pub mod stripe;
pub mod worker;

use crate::config::Settings;
use app::billing::provider::SharedProvider;
use app::billing::sandbox::Sandbox;
use app::clock::Clock;
use secrecy::ExposeSecret;
use sqlx::PgPool;
use std::sync::Arc;

/// The payment provider of a deployment.
#[derive(Clone)]
pub enum Payments {
    /// `GATEHOUSE_STRIPE_SECRET_KEY` is set.
    Stripe(Arc<stripe::StripeProvider>),
    /// No Stripe key: the built-in test-mode provider.
    Sandbox(Sandbox),
}

impl Payments {
    /// Stripe when a secret key is configured, else the sandbox. Settings
    /// that cannot make a Stripe client are an error, never a quiet fallback
    /// to test mode.
    pub fn from_settings(
        pool: &PgPool,
        settings: &Settings,
        clock: &Clock,
    ) -> Result<Self, ::stripe::StripeError> {
        Ok(match &settings.stripe_secret_key {
            Some(key) => Payments::Stripe(Arc::new(stripe::StripeProvider::new(
                pool.clone(),
                key.expose_secret(),
                settings.stripe_api_base.as_deref(),
            )?)),
            None => Payments::Sandbox(Sandbox::new(pool.clone(), &settings.public_url, clock.clone())),
        })
    }

    /// The provider, as server functions and the worker call it.
    pub fn provider(&self) -> SharedProvider {
        match self {
            Payments::Stripe(stripe) => stripe.clone(),
            Payments::Sandbox(sandbox) => Arc::new(sandbox.clone()),
        }
    }

    /// The sandbox, when it is the provider (its test-mode pages need it).
    pub fn sandbox(&self) -> Option<Sandbox> {
        match self {
            Payments::Sandbox(sandbox) => Some(sandbox.clone()),
            Payments::Stripe(_) => None,
        }
    }
}
