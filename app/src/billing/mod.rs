//! Billing: subscription states and revenue rules, the provider interface
//! (Stripe or the sandbox), applying provider events to local state, and the
//! customer's billing pages.

pub mod api;
#[cfg(feature = "ssr")]
pub mod collection;
#[cfg(feature = "ssr")]
pub mod console_reads;
#[cfg(feature = "ssr")]
pub mod context;
pub mod domain;
pub mod pages;

#[cfg(feature = "ssr")]
pub mod db;
#[cfg(feature = "ssr")]
pub mod inbox;
#[cfg(feature = "ssr")]
pub mod inbox_reads;
#[cfg(feature = "ssr")]
pub mod ledger_store;
#[cfg(feature = "ssr")]
pub mod notices;
#[cfg(feature = "ssr")]
pub mod page_cache;
#[cfg(feature = "ssr")]
pub mod provider;
#[cfg(feature = "ssr")]
pub mod sandbox;
#[cfg(feature = "ssr")]
pub mod series_store;
#[cfg(feature = "ssr")]
pub mod trials;
#[cfg(feature = "ssr")]
pub mod view;
pub mod where_you_stand;

pub use pages::{
    BillingPanels, ChangePlanPage, CheckoutSuccessPage, InvoicePage, SandboxCardPage, SandboxCheckoutPage,
};

use domain::SubscriptionStatus;
use serde::{Deserialize, Serialize};

/// A tier to choose on the billing page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TierOption {
    /// Catalogue key.
    pub key: String,
    /// The tier's name, as the catalogue spells it.
    pub name: String,
    /// Monthly price, formatted.
    pub monthly_price: String,
    /// Annual price, formatted.
    pub annual_price: String,
}

/// An add-on with the quantity the subscription has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddOnLine {
    /// Catalogue key.
    pub key: String,
    /// The add-on's name, as the catalogue spells it.
    pub name: String,
    /// Unit, singular.
    pub unit: String,
    /// Price of one unit per month, formatted.
    pub monthly_unit_price: String,
    /// The most a subscription may have, if capped.
    pub max_quantity: Option<u32>,
    /// Current quantity.
    pub quantity: u32,
}

/// One invoice in the list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceSummary {
    /// Local id.
    pub invoice_id: String,
    /// The provider's invoice number (`Draft` before it has one).
    pub number: String,
    /// Issued, formatted.
    pub issued_on: String,
    /// Status word.
    pub status: String,
    /// Total, formatted.
    pub total: String,
    /// The provider's hosted page, if any.
    pub hosted_invoice_url: Option<String>,
}

/// The billing page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillingView {
    /// Owners and admins may change billing.
    pub can_manage: bool,
    /// `stripe` or `sandbox`.
    pub provider: String,
    /// The sandbox is the provider: show the test-mode tools.
    pub test_mode: bool,
    /// A live provider subscription exists (else: subscribe).
    pub linked: bool,
    /// Tier key.
    pub plan_key: String,
    /// Tier name.
    pub plan_name: String,
    /// `monthly` or `annual`.
    pub cycle: String,
    /// The subscription's state; `None` before there is one.
    pub status: Option<SubscriptionStatus>,
    /// The status in words, what happens next with money, and the one step to take.
    pub where_you_stand: where_you_stand::WhereYouStand,
    /// Trial end, formatted, while trialing.
    pub trial_ends_on: Option<String>,
    /// When a signup trial ended without a subscription (the account is
    /// paused until one is chosen), formatted.
    pub trial_ended_on: Option<String>,
    /// Current period end, formatted.
    pub period_ends_on: Option<String>,
    /// Ends at period end.
    pub cancel_at_period_end: bool,
    /// A pending downgrade, described.
    pub scheduled_change: Option<String>,
    /// The card on file (sandbox).
    pub card: Option<String>,
    /// Add-ons with current quantities.
    pub add_ons: Vec<AddOnLine>,
    /// Tiers to choose from.
    pub tiers: Vec<TierOption>,
    /// Users counted now.
    pub users_counted: u64,
    /// Users allowed by the current plan; `None` = unlimited.
    pub users_allowed: Option<u64>,
    /// Invoices, newest first.
    pub invoices: Vec<InvoiceSummary>,
    /// A fresh idempotency token for the page's forms.
    pub request_id: String,
}

/// What confirming a plan change would do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangePreviewView {
    /// Target tier key.
    pub tier: String,
    /// Target cycle.
    pub cycle: String,
    /// Target add-ons.
    pub add_ons: Vec<(String, u32)>,
    /// The current plan, described.
    pub from: String,
    /// The target plan, described.
    pub to: String,
    /// Now (true) or at period end.
    pub immediate: bool,
    /// Due now, formatted.
    pub amount_due: String,
    /// Credit for unused time, formatted.
    pub credit: String,
    /// Charge for the rest of the period, formatted.
    pub charge: String,
    /// The new plan's price per period, formatted.
    pub new_period_price: String,
    /// When it takes effect.
    pub effective_on: String,
    /// Idempotency token for the confirm form.
    pub request_id: String,
}

/// What the checkout success page found at the provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckoutResultView {
    /// The session completed.
    pub complete: bool,
    /// The plan subscribed to.
    pub plan_name: String,
    /// The subscription's state, once checkout completed.
    pub status: Option<SubscriptionStatus>,
}

/// The sandbox checkout page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxCheckoutView {
    /// Session id.
    pub session_id: String,
    /// Still payable.
    pub open: bool,
    /// (description, quantity, amount) per line.
    pub lines: Vec<(String, u32, String)>,
    /// Total per period.
    pub total: String,
    /// `monthly` or `annual`.
    pub cycle: String,
    /// Trial end if the trial carries over.
    pub trial_ends_on: Option<String>,
    /// Back to pricing.
    pub cancel_url: String,
}

/// An invoice page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceView {
    /// Local id.
    pub invoice_id: String,
    /// Billed organisation.
    pub organization_name: String,
    /// The provider's invoice number (`Draft` before it has one).
    pub number: String,
    /// Status word.
    pub status: String,
    /// When it was issued, formatted.
    pub issued_on: String,
    /// Service period.
    pub period: Option<String>,
    /// (description, quantity, amount) lines, formatted.
    pub lines: Vec<(String, u32, String)>,
    /// Subtotal, formatted.
    pub subtotal: String,
    /// Total, formatted.
    pub total: String,
    /// Paid, formatted.
    pub amount_paid: String,
    /// What is still to pay (what was due less what was paid), formatted:
    /// a paid invoice shows nothing owed, as Stripe's hosted invoice does.
    pub amount_remaining: String,
    /// Provider's hosted page.
    pub hosted_invoice_url: Option<String>,
    /// Provider's PDF.
    pub invoice_pdf_url: Option<String>,
}
