//! The one billing interface both payment providers implement: Stripe (when
//! keys are configured) and the sandbox (the embedded default).
//!
//! Every call that creates or changes something takes an idempotency key, so
//! a retried request (a double click, a timeout) is applied once.

use super::domain::{ChangeTiming, DesiredItem, ProrationLines, SubscriptionSnapshot};
use std::sync::Arc;

/// Which provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderName {
    /// Stripe, through async-stripe.
    Stripe,
    /// Gatehouse's own test-mode provider.
    Sandbox,
}

impl ProviderName {
    /// The name stored beside provider ids.
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderName::Stripe => "stripe",
            ProviderName::Sandbox => "sandbox",
        }
    }
}

/// Longest provider object id accepted from a request (Stripe's are far shorter).
pub const MAX_OBJECT_ID_LEN: usize = 255;

/// A provider object id (a checkout session, a subscription) as sent in a
/// URL or form, if it looks like one: 1–255 ASCII letters, digits, `_` or `-`.
pub fn parse_object_id(raw: &str) -> Option<&str> {
    let id = raw.trim();
    let plausible = !id.is_empty()
        && id.len() <= MAX_OBJECT_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    plausible.then_some(id)
}

/// Why a provider call failed. The message is safe to show a customer: a
/// provider's own error text is logged, never carried here.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// The provider could not be reached or timed out; nothing was changed here.
    #[error("the payment provider did not answer; nothing was changed, please try again")]
    Unavailable,
    /// The provider refused the request (a declined card, an invalid change).
    #[error("{0}")]
    Refused(String),
    /// The object does not exist at the provider.
    #[error("the payment provider does not know {0}")]
    NotFound(String),
    /// Anything else; details are logged, not shown.
    #[error("the payment provider answered unexpectedly; nothing was changed")]
    Unexpected(String),
}

/// What checkout should sell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckoutRequest {
    /// The provider customer (created before checkout).
    pub customer_id: String,
    /// The tier item first, then add-ons.
    pub items: Vec<DesiredItem>,
    /// The trial end carried over from signup (Unix seconds), if still ahead.
    pub trial_end: Option<i64>,
    /// Where the provider sends the customer after paying; carries
    /// `{CHECKOUT_SESSION_ID}` for the session id.
    pub success_url: String,
    /// Where the provider sends the customer who backs out.
    pub cancel_url: String,
    /// The organisation, recorded on the provider's objects.
    pub organization_id: String,
    /// Makes a repeated request return the same session.
    pub idempotency_key: String,
}

/// A checkout the customer is sent to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckoutRedirect {
    /// The provider's session id.
    pub session_id: String,
    /// Where to send the browser.
    pub url: String,
}

/// A checkout session as the provider reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckoutOutcome {
    /// Whether the customer completed it.
    pub complete: bool,
    /// The customer it belongs to.
    pub customer_id: Option<String>,
    /// The subscription it created, re-read from the provider.
    pub subscription: Option<SubscriptionSnapshot>,
}

/// What a change would cost now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangePreview {
    /// The proration lines and the amount due now.
    pub proration: ProrationLines,
    /// ISO currency code.
    pub currency: String,
}

/// A payment provider.
#[async_trait::async_trait]
pub trait BillingProvider: Send + Sync {
    /// Which one this is.
    fn name(&self) -> ProviderName;

    /// Creates the customer for an organisation.
    async fn create_customer(
        &self,
        organization_id: &str,
        organization_name: &str,
        email: &str,
        idempotency_key: &str,
    ) -> Result<String, ProviderError>;

    /// Starts a subscription-mode checkout.
    async fn create_checkout(&self, request: &CheckoutRequest) -> Result<CheckoutRedirect, ProviderError>;

    /// Reads a checkout session (and its subscription) back from the provider.
    async fn checkout_outcome(&self, session_id: &str) -> Result<CheckoutOutcome, ProviderError>;

    /// Reads a subscription as it stands now.
    async fn fetch_subscription(&self, subscription_id: &str) -> Result<SubscriptionSnapshot, ProviderError>;

    /// What an immediate change to `items` would charge now.
    async fn preview_change(
        &self,
        subscription_id: &str,
        items: &[DesiredItem],
    ) -> Result<ChangePreview, ProviderError>;

    /// Changes the subscription's items, now (prorated, invoiced at once) or
    /// at period end.
    async fn change_items(
        &self,
        subscription_id: &str,
        items: &[DesiredItem],
        timing: ChangeTiming,
        idempotency_key: &str,
    ) -> Result<SubscriptionSnapshot, ProviderError>;

    /// Sets or clears cancel-at-period-end (and drops a scheduled change when cancelling).
    async fn set_cancel_at_period_end(
        &self,
        subscription_id: &str,
        cancel: bool,
        idempotency_key: &str,
    ) -> Result<SubscriptionSnapshot, ProviderError>;

    /// A link where the customer manages payment methods (at Stripe, a new
    /// Billing Portal session, hence the key).
    async fn payment_methods_url(
        &self,
        customer_id: &str,
        return_url: &str,
        idempotency_key: &str,
    ) -> Result<String, ProviderError>;
}

/// The provider a deployment uses, shared by every request.
pub type SharedProvider = Arc<dyn BillingProvider>;

#[cfg(test)]
mod tests {
    use super::parse_object_id;

    #[test]
    fn provider_ids_are_short_plain_words() {
        for good in ["cs_test_a1B2c3", "sub_123", "cs-sandbox-1"] {
            assert_eq!(parse_object_id(good), Some(good));
        }
        let long = "a".repeat(256);
        for bad in [
            "",
            " ",
            "cs_\u{0}",
            "cs_test'--",
            "cs/../x",
            "cs test",
            "cs_é",
            long.as_str(),
            "%00",
        ] {
            assert_eq!(parse_object_id(bad), None, "{bad:?}");
        }
    }
}
