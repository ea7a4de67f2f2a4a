//! What billing's pages and server functions read besides the ground's
//! handles: the payment provider, the sandbox when it is the provider, and
//! this process's cached billing-page reads. The server provides one
//! [`BillingContext`] to every request.

use super::page_cache::BillingPageCache;
use super::provider::SharedProvider;
use super::sandbox::Sandbox;
use super::trials::Notices;
use crate::context::AppContext;
use crate::error::AppError;

/// Billing's own context value.
#[derive(Clone)]
pub struct BillingContext {
    /// The payment provider: Stripe, or the sandbox when no keys are set.
    pub provider: SharedProvider,
    /// The sandbox, when it is the provider (its test-mode pages need it).
    pub sandbox: Option<Sandbox>,
    /// This process's cached billing-page reads (see [`super::page_cache`]).
    pub pages: BillingPageCache,
}

/// The request's [`BillingContext`].
pub fn billing_context() -> Result<BillingContext, AppError> {
    crate::context::provided()
}

impl Notices {
    /// What the request's billing emails are signed with and link to.
    pub fn of_request(context: &AppContext) -> Result<Notices, AppError> {
        Ok(Notices {
            brand: crate::email::templates::brand()?,
            public_url: context.public_url.clone(),
        })
    }
}
