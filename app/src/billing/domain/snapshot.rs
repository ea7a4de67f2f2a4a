//! What a payment provider says, in Gatehouse's terms: subscriptions and
//! their items, invoices, and the events that report changes to them. Both
//! providers (Stripe and the sandbox) describe their objects with these
//! types, so everything downstream of a provider is shared.

use super::mrr::{Discount, ExactMrr, RecurringItem, subscription_mrr};
use super::plan_change::DesiredItem;
use super::price_key::{PriceKey, PriceKind};
use super::status::{IntervalUnit, SubscriptionStatus};
use crate::catalog::domain::BillingCycle;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One recurring item of a provider subscription.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotItem {
    /// The price's lookup key (empty when the price has none).
    pub lookup_key: String,
    /// How many units of the price.
    pub quantity: u32,
    /// Price per unit per period, in minor units.
    pub unit_amount: i64,
    /// ISO currency code, lower or upper case.
    pub currency: String,
    /// Interval unit.
    pub interval: IntervalUnit,
    /// Intervals per period.
    pub interval_count: u32,
}

impl SnapshotItem {
    /// The item as the MRR rules read it.
    pub fn recurring(&self) -> RecurringItem {
        RecurringItem {
            unit_amount: self.unit_amount,
            quantity: self.quantity,
            interval: self.interval,
            interval_count: self.interval_count,
        }
    }
}

/// A change the provider will make at the end of the current period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduledChange {
    /// The items from then on.
    pub items: Vec<DesiredItem>,
    /// When, as Unix seconds.
    pub effective_at: i64,
}

/// A provider subscription as it stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionSnapshot {
    /// The provider's subscription id.
    pub id: String,
    /// The provider's customer id.
    pub customer_id: String,
    /// Its state.
    pub status: SubscriptionStatus,
    /// Recurring items.
    pub items: Vec<SnapshotItem>,
    /// Discounts on the whole subscription.
    pub discounts: Vec<Discount>,
    /// Current period, Unix seconds.
    pub current_period_start: i64,
    /// End of the current period, Unix seconds.
    pub current_period_end: i64,
    /// Trial start, Unix seconds.
    pub trial_start: Option<i64>,
    /// Trial end, Unix seconds.
    pub trial_end: Option<i64>,
    /// Ends at the period's end.
    pub cancel_at_period_end: bool,
    /// A pending change (a downgrade) at period end.
    pub scheduled_change: Option<ScheduledChange>,
}

/// The plan a set of items amounts to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanOfItems {
    /// The tier's catalogue key.
    pub tier: String,
    /// The billing cycle.
    pub cycle: BillingCycle,
    /// Add-on keys and quantities.
    pub add_ons: BTreeMap<String, u32>,
}

/// Why a subscription's items are not a Gatehouse plan.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanOfItemsError {
    /// No item is a Gatehouse tier price.
    #[error("the subscription has no Gatehouse plan price")]
    NoTier,
    /// More than one tier price.
    #[error("the subscription has more than one plan price")]
    SeveralTiers,
}

impl SubscriptionSnapshot {
    /// Reads which tier, cycle and add-ons the items stand for. Items with
    /// foreign prices are left out (they still count towards MRR).
    pub fn plan(&self) -> Result<PlanOfItems, PlanOfItemsError> {
        plan_of_items(self.items.iter().map(|i| (i.lookup_key.as_str(), i.quantity)))
    }

    /// The subscription's exact MRR, rounded half-even (one subscription per
    /// customer, so this is the customer's rounding).
    pub fn mrr(&self) -> i64 {
        self.exact_mrr().rounded()
    }

    /// The subscription's exact MRR.
    pub fn exact_mrr(&self) -> ExactMrr {
        let items: Vec<RecurringItem> = self.items.iter().map(SnapshotItem::recurring).collect();
        subscription_mrr(self.status, &items, &self.discounts)
    }
}

/// Reads which tier, cycle and add-ons a list of (lookup key, quantity) means.
pub fn plan_of_items<'a>(
    items: impl IntoIterator<Item = (&'a str, u32)>,
) -> Result<PlanOfItems, PlanOfItemsError> {
    let mut tier = None;
    let mut add_ons = BTreeMap::new();
    for (lookup_key, quantity) in items {
        match PriceKey::parse(lookup_key) {
            Some(key) if key.kind == PriceKind::Tier && tier.is_some() => {
                return Err(PlanOfItemsError::SeveralTiers);
            }
            Some(key) if key.kind == PriceKind::Tier => tier = Some((key.key, key.cycle)),
            Some(key) => {
                add_ons.insert(key.key, quantity);
            }
            None => {}
        }
    }
    let (tier, cycle) = tier.ok_or(PlanOfItemsError::NoTier)?;
    Ok(PlanOfItems { tier, cycle, add_ons })
}

/// One line of an invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceLine {
    /// What is charged.
    pub description: String,
    /// How many units the line bills.
    pub quantity: u32,
    /// Amount in minor units (negative for credits).
    pub amount: i64,
}

crate::stored_words! {
    /// Invoice states, as Stripe names them (`invoice.status`).
    #[derive(Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum InvoiceStatus {
        /// Being prepared.
        Draft => "draft",
        /// Finalised and awaiting payment.
        Open => "open",
        /// Paid in full.
        Paid => "paid",
        /// Given up on.
        Uncollectible => "uncollectible",
        /// Cancelled before payment; nothing is owed.
        Void => "void",
    }
}

impl InvoiceStatus {
    /// How far along an invoice is: a status never moves to a lower rank,
    /// whatever order events arrive in.
    pub fn rank(self) -> u8 {
        match self {
            InvoiceStatus::Draft => 0,
            InvoiceStatus::Open => 1,
            InvoiceStatus::Uncollectible => 2,
            InvoiceStatus::Paid | InvoiceStatus::Void => 3,
        }
    }
}

/// A provider invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceSnapshot {
    /// The provider's invoice id.
    pub id: String,
    /// The provider's customer id.
    pub customer_id: String,
    /// The subscription it bills, if any.
    pub subscription_id: Option<String>,
    /// The invoice number (set once finalised).
    pub number: Option<String>,
    /// Where the invoice stands.
    pub status: InvoiceStatus,
    /// ISO currency code.
    pub currency: String,
    /// Before discounts and tax.
    pub subtotal: i64,
    /// After discounts and tax.
    pub total: i64,
    /// Still to pay.
    pub amount_due: i64,
    /// What has been paid, minor units.
    pub amount_paid: i64,
    /// Service period, Unix seconds.
    pub period_start: Option<i64>,
    /// Service period end, Unix seconds.
    pub period_end: Option<i64>,
    /// Its lines, as the provider itemised them.
    pub lines: Vec<InvoiceLine>,
    /// The provider's hosted page, if it has one.
    pub hosted_invoice_url: Option<String>,
    /// The provider's PDF, if it has one.
    pub invoice_pdf_url: Option<String>,
    /// When it was issued, Unix seconds.
    pub created: i64,
    /// Attempts made to charge it so far.
    #[serde(default)]
    pub attempt_count: u32,
    /// When the provider will try to charge it next, Unix seconds (`None`:
    /// no retry is scheduled).
    #[serde(default)]
    pub next_payment_attempt: Option<i64>,
}

/// A provider event, reduced to what Gatehouse acts on. Stripe's events are
/// read into this; the sandbox writes it directly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum BillingEvent {
    /// A checkout finished: the session's subscription is re-read.
    CheckoutCompleted {
        /// The provider's customer id.
        customer_id: Option<String>,
        /// The subscription it created.
        subscription_id: Option<String>,
    },
    /// Something about a subscription changed: it is re-read from the
    /// provider before anything is written.
    SubscriptionChanged {
        /// The provider's subscription id.
        subscription_id: String,
        /// The provider's customer id.
        customer_id: String,
        /// Whether this is `customer.subscription.trial_will_end`.
        trial_will_end: bool,
        /// The subscription as it was when the event happened (the ledger
        /// records this at the event's time; the re-read gives the present).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        state: Option<Box<SubscriptionSnapshot>>,
    },
    /// An invoice changed: mirrored as carried, never moved backwards.
    InvoiceChanged {
        /// The invoice.
        invoice: Box<InvoiceSnapshot>,
    },
    /// The customer's details changed.
    CustomerUpdated {
        /// The provider's customer id.
        customer_id: String,
        /// Its email now.
        email: Option<String>,
    },
    /// A type Gatehouse does not act on: stored and acknowledged only.
    Ignored,
}

impl BillingEvent {
    /// Whose events must be applied one at a time: the provider customer the
    /// event concerns (`None` for events Gatehouse ignores).
    pub fn subject(&self) -> Option<&str> {
        match self {
            BillingEvent::CheckoutCompleted { customer_id, .. } => customer_id.as_deref(),
            BillingEvent::SubscriptionChanged { customer_id, .. }
            | BillingEvent::CustomerUpdated { customer_id, .. } => Some(customer_id),
            BillingEvent::InvoiceChanged { invoice } => Some(&invoice.customer_id),
            BillingEvent::Ignored => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use claims::{assert_none, assert_some_eq};

    #[test]
    fn items_read_as_a_plan_ignoring_foreign_prices() {
        let plan = plan_of_items([
            ("gatehouse.tier.professional.annual", 1),
            ("gatehouse.add_on.extra_user.annual", 4),
            ("someone_elses_price", 2),
        ])
        .expect("a plan");
        assert_eq!(plan.tier, "professional");
        assert_eq!(plan.cycle, BillingCycle::Annual);
        assert_eq!(plan.add_ons.get("extra_user"), Some(&4));
        assert_eq!(plan_of_items([("x", 1)]), Err(PlanOfItemsError::NoTier));
        assert_eq!(
            plan_of_items([("gatehouse.tier.a.monthly", 1), ("gatehouse.tier.b.monthly", 1)]),
            Err(PlanOfItemsError::SeveralTiers)
        );
    }

    #[test]
    fn invoice_status_ranks_never_go_back() {
        assert!(InvoiceStatus::Paid.rank() > InvoiceStatus::Open.rank());
        assert!(InvoiceStatus::Open.rank() > InvoiceStatus::Draft.rank());
        assert_some_eq!(
            InvoiceStatus::parse("uncollectible"),
            InvoiceStatus::Uncollectible
        );
        assert_none!(InvoiceStatus::parse("paid "));
    }
}
