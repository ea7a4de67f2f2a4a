//! What a payment provider says about a subscription, in Gatehouse's terms,
//! and the pure rules applied to it: price lookup keys, which plan and
//! add-ons a set of items means, what kind of change two states differ by,
//! proration, and whether a plan change is allowed.
//!
//! Both providers (Stripe and the sandbox) describe their objects with these
//! types, so everything downstream of a provider is shared.

use super::domain::{Discount, IntervalUnit, RecurringItem, SubscriptionStatus, subscription_mrr};
use crate::catalog::domain::{BillingCycle, Catalog, Limit};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What a provider price stands for, written as its lookup key
/// `gatehouse.tier.<key>.<cycle>` or `gatehouse.add_on.<key>.<cycle>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PriceKey {
    /// A tier or an add-on.
    pub kind: PriceKind,
    /// The catalogue key of the tier or add-on.
    pub key: String,
    /// Billed monthly or annually.
    pub cycle: BillingCycle,
}

/// The two kinds of priced things.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PriceKind {
    /// A plan tier (quantity 1).
    Tier,
    /// A quantity-priced add-on.
    AddOn,
}

impl PriceKey {
    /// The tier price for a cycle.
    pub fn tier(key: &str, cycle: BillingCycle) -> Self {
        PriceKey {
            kind: PriceKind::Tier,
            key: key.to_owned(),
            cycle,
        }
    }

    /// The add-on price for a cycle.
    pub fn add_on(key: &str, cycle: BillingCycle) -> Self {
        PriceKey {
            kind: PriceKind::AddOn,
            key: key.to_owned(),
            cycle,
        }
    }

    /// The lookup key stored on the provider's price.
    pub fn lookup_key(&self) -> String {
        let kind = match self.kind {
            PriceKind::Tier => "tier",
            PriceKind::AddOn => "add_on",
        };
        format!("gatehouse.{kind}.{}.{}", self.key, self.cycle.as_str())
    }

    /// Reads a lookup key; `None` for prices Gatehouse did not create.
    pub fn parse(lookup_key: &str) -> Option<Self> {
        let mut parts = lookup_key.split('.');
        let (Some("gatehouse"), Some(kind), Some(key), Some(cycle), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return None;
        };
        let kind = match kind {
            "tier" => PriceKind::Tier,
            "add_on" => PriceKind::AddOn,
            _ => return None,
        };
        let cycle = match cycle {
            "monthly" => BillingCycle::Monthly,
            "annual" => BillingCycle::Annual,
            _ => return None,
        };
        (!key.is_empty()).then(|| PriceKey {
            kind,
            key: key.to_owned(),
            cycle,
        })
    }

    /// The recurring interval a price of this cycle bills on.
    pub fn interval(&self) -> IntervalUnit {
        match self.cycle {
            BillingCycle::Monthly => IntervalUnit::Month,
            BillingCycle::Annual => IntervalUnit::Year,
        }
    }

    /// The unit price the catalogue sets for this key (annual add-ons are
    /// twelve months of the monthly unit price); `None` if not in the catalogue.
    pub fn catalog_amount(&self, catalog: &Catalog) -> Option<i64> {
        match self.kind {
            PriceKind::Tier => catalog.tier(&self.key).map(|t| t.price(self.cycle).amount_minor),
            PriceKind::AddOn => catalog
                .add_ons
                .iter()
                .find(|a| a.key == self.key)
                .and_then(|a| a.monthly_unit_price.times(self.cycle.months()))
                .map(|m| m.amount_minor),
        }
    }

    /// Every price the catalogue needs at the provider.
    pub fn all_for(catalog: &Catalog) -> Vec<PriceKey> {
        let mut keys = Vec::new();
        for cycle in [BillingCycle::Monthly, BillingCycle::Annual] {
            keys.extend(catalog.tiers.iter().map(|t| PriceKey::tier(&t.key, cycle)));
            keys.extend(catalog.add_ons.iter().map(|a| PriceKey::add_on(&a.key, cycle)));
        }
        keys
    }
}

/// One recurring item of a provider subscription.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotItem {
    /// The price's lookup key (empty when the price has none).
    pub lookup_key: String,
    /// Units.
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
        let items: Vec<RecurringItem> = self.items.iter().map(SnapshotItem::recurring).collect();
        subscription_mrr(self.status, &items, &self.discounts).rounded()
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

/// A wanted item: a price and a quantity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DesiredItem {
    /// The price's lookup key.
    pub lookup_key: String,
    /// Units (≥ 1).
    pub quantity: u32,
}

/// A whole plan choice: tier, cycle and add-on quantities.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanChoice {
    /// Tier key.
    pub tier: String,
    /// Cycle.
    pub cycle: BillingCycle,
    /// Add-on keys and quantities (zero means none).
    pub add_ons: BTreeMap<String, u32>,
}

impl PlanChoice {
    /// The items a provider subscription needs for this choice (tier first).
    pub fn items(&self) -> Vec<DesiredItem> {
        let mut items = vec![DesiredItem {
            lookup_key: PriceKey::tier(&self.tier, self.cycle).lookup_key(),
            quantity: 1,
        }];
        items.extend(
            self.add_ons
                .iter()
                .filter(|(_, q)| **q > 0)
                .map(|(key, q)| DesiredItem {
                    lookup_key: PriceKey::add_on(key, self.cycle).lookup_key(),
                    quantity: *q,
                }),
        );
        items
    }

    /// The choice a current plan stands for.
    pub fn from_plan(plan: &PlanOfItems) -> Self {
        PlanChoice {
            tier: plan.tier.clone(),
            cycle: plan.cycle,
            add_ons: plan.add_ons.clone(),
        }
    }

    /// The tier's name in the catalogue (its key if the catalogue lacks it).
    pub fn tier_name(&self, catalog: &Catalog) -> String {
        catalog
            .tier(&self.tier)
            .map_or_else(|| self.tier.clone(), |t| t.name.clone())
    }

    /// The add-ons as "2 × Extra user", in key order; empty without any.
    pub fn add_on_names(&self, catalog: &Catalog) -> Vec<String> {
        self.add_ons
            .iter()
            .map(|(key, quantity)| {
                let name = catalog
                    .add_ons
                    .iter()
                    .find(|a| &a.key == key)
                    .map_or(key.as_str(), |a| a.name.as_str());
                format!("{quantity} × {name}")
            })
            .collect()
    }

    /// The price of one period in minor units, from the catalogue.
    pub fn period_amount(&self, catalog: &Catalog) -> Option<i64> {
        self.items().iter().try_fold(0_i64, |sum, item| {
            let key = PriceKey::parse(&item.lookup_key)?;
            let amount = key
                .catalog_amount(catalog)?
                .checked_mul(i64::from(item.quantity))?;
            sum.checked_add(amount)
        })
    }
}

/// When a plan change takes effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeTiming {
    /// Now, with the difference prorated and charged at once.
    Immediately,
    /// At the end of the current period, with nothing charged now.
    AtPeriodEnd,
}

/// Why a plan change is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanChangeError {
    /// Nothing would change.
    #[error("that is already your plan")]
    Unchanged,
    /// Not in the catalogue.
    #[error("there is no plan called \"{0}\"")]
    UnknownTier(String),
    /// Not in the catalogue.
    #[error("there is no add-on called \"{0}\"")]
    UnknownAddOn(String),
    /// Over an add-on's cap.
    #[error("at most {max} of {name} can be added")]
    TooMany {
        /// The add-on's name.
        name: String,
        /// The cap.
        max: u32,
    },
    /// Usage above what the target plan allows.
    #[error(
        "your organisation has {used} users (members and open invitations), but {plan} with {extra} extra users allows {allowed}; remove users or add extra users first"
    )]
    TooManyUsers {
        /// Users counted now.
        used: u64,
        /// Allowed by the target.
        allowed: u64,
        /// The target tier's name.
        plan: String,
        /// Extra-user add-ons in the target.
        extra: u32,
    },
}

/// The catalogue key of the add-on that raises the user limit.
pub const EXTRA_USER_ADD_ON: &str = "extra_user";

/// The users a plan choice allows: the tier's limit plus extra-user add-ons.
pub fn allowed_users(catalog: &Catalog, choice: &PlanChoice) -> Limit {
    let extra = u64::from(choice.add_ons.get(EXTRA_USER_ADD_ON).copied().unwrap_or(0));
    match catalog.tier(&choice.tier).map(|t| t.limits.users) {
        Some(Limit::Limited(n)) => Limit::Limited(n.saturating_add(extra)),
        Some(Limit::Unlimited) | None => Limit::Unlimited,
    }
}

/// Decides how a change from `current` to `target` happens, or refuses it:
/// anything that lowers the price per period waits for the period's end;
/// anything else (an upgrade, more add-ons, a switch of cycle) is immediate.
/// A change is refused when the users counted now exceed what the target
/// allows.
pub fn plan_change(
    catalog: &Catalog,
    current: &PlanChoice,
    target: &PlanChoice,
    users_now: u64,
) -> Result<ChangeTiming, PlanChangeError> {
    let tier = catalog
        .tier(&target.tier)
        .ok_or_else(|| PlanChangeError::UnknownTier(target.tier.clone()))?;
    for (key, quantity) in &target.add_ons {
        let add_on = catalog
            .add_ons
            .iter()
            .find(|a| &a.key == key)
            .ok_or_else(|| PlanChangeError::UnknownAddOn(key.clone()))?;
        if let Some(max) = add_on.max_quantity
            && *quantity > max
        {
            return Err(PlanChangeError::TooMany {
                name: add_on.name.clone(),
                max,
            });
        }
    }
    if current.items() == target.items() {
        return Err(PlanChangeError::Unchanged);
    }
    if let Limit::Limited(allowed) = allowed_users(catalog, target)
        && users_now > allowed
    {
        return Err(PlanChangeError::TooManyUsers {
            used: users_now,
            allowed,
            plan: tier.name.clone(),
            extra: target.add_ons.get(EXTRA_USER_ADD_ON).copied().unwrap_or(0),
        });
    }
    // Same cycle: compare per period. A switch of cycle is immediate (the
    // provider starts a new period), as Stripe does.
    if current.cycle == target.cycle && target.period_amount(catalog) < current.period_amount(catalog) {
        Ok(ChangeTiming::AtPeriodEnd)
    } else {
        Ok(ChangeTiming::Immediately)
    }
}

/// The amount due now for moving, at `now`, from a period price of
/// `old_amount` to `new_amount` within [`period_start`, `period_end`):
/// the unused part of the old price is credited, the remaining part of the new
/// one charged, each rounded half-even to whole minor units (as Stripe does per
/// line). Times are Unix seconds. Never below zero: a net credit would go to
/// the customer's balance, which the sandbox does not keep.
pub fn prorated_amount_due(
    old_amount: i64,
    new_amount: i64,
    period_start: i64,
    period_end: i64,
    now: i64,
) -> ProrationLines {
    let length = (period_end - period_start).max(1);
    let remaining = (period_end - now).clamp(0, length);
    let part = |amount: i64| {
        crate::catalog::money::div_round_half_even(
            i64::try_from(i128::from(amount) * i128::from(remaining)).unwrap_or(i64::MAX),
            length,
        )
    };
    let credit = part(old_amount);
    let charge = part(new_amount);
    ProrationLines {
        credit,
        charge,
        amount_due: (charge - credit).max(0),
    }
}

/// The two proration lines and what is due now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProrationLines {
    /// Credit for the unused time on the old price.
    pub credit: i64,
    /// Charge for the remaining time on the new price.
    pub charge: i64,
    /// `charge − credit`, at least zero.
    pub amount_due: i64,
}

/// What kind of ledger entry separates two states of a subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// A trial began (the first state of a subscription that starts trialing).
    TrialStarted,
    /// First seen, not as a trial.
    Created,
    /// Status changed (activation, past due, cancel, …).
    StatusChanged,
    /// Tier or cycle changed.
    PlanChanged,
    /// Quantities (add-ons) changed.
    QuantityChanged,
    /// Discount changed.
    DiscountChanged,
}

impl ChangeKind {
    /// The ledger's word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::TrialStarted => "trial_started",
            ChangeKind::Created => "created",
            ChangeKind::StatusChanged => "status_changed",
            ChangeKind::PlanChanged => "plan_changed",
            ChangeKind::QuantityChanged => "quantity_changed",
            ChangeKind::DiscountChanged => "discount_changed",
        }
    }
}

/// The parts of a subscription the ledger tracks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerState {
    /// Status.
    pub status: SubscriptionStatus,
    /// Items as (lookup key, quantity), sorted.
    pub items: Vec<(String, u32)>,
    /// Discounts.
    pub discounts: Vec<Discount>,
}

/// The ledger entry kind between two states; `None` if the ledger does not
/// care (only periods or flags moved). The most telling change names the row:
/// status, then plan, then quantity, then discount.
pub fn classify_change(before: Option<&LedgerState>, after: &LedgerState) -> Option<ChangeKind> {
    let Some(before) = before else {
        return Some(if after.status == SubscriptionStatus::Trialing {
            ChangeKind::TrialStarted
        } else {
            ChangeKind::Created
        });
    };
    let plan = |s: &LedgerState| plan_of_items(s.items.iter().map(|(k, q)| (k.as_str(), *q)));
    if before.status != after.status {
        Some(ChangeKind::StatusChanged)
    } else if plan(before).map(|p| (p.tier, p.cycle)) != plan(after).map(|p| (p.tier, p.cycle)) {
        Some(ChangeKind::PlanChanged)
    } else if before.items != after.items {
        Some(ChangeKind::QuantityChanged)
    } else if before.discounts != after.discounts {
        Some(ChangeKind::DiscountChanged)
    } else {
        None
    }
}

/// One line of an invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceLine {
    /// What is charged.
    pub description: String,
    /// Units.
    pub quantity: u32,
    /// Amount in minor units (negative for credits).
    pub amount: i64,
}

/// Invoice states, as Stripe names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InvoiceStatus {
    /// Being prepared.
    Draft,
    /// Finalised and awaiting payment.
    Open,
    /// Paid.
    Paid,
    /// Given up on.
    Uncollectible,
    /// Cancelled.
    Void,
}

impl InvoiceStatus {
    /// Stripe's word.
    pub fn as_str(self) -> &'static str {
        match self {
            InvoiceStatus::Draft => "draft",
            InvoiceStatus::Open => "open",
            InvoiceStatus::Paid => "paid",
            InvoiceStatus::Uncollectible => "uncollectible",
            InvoiceStatus::Void => "void",
        }
    }

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

    /// Reads Stripe's word.
    pub fn parse(raw: &str) -> Option<Self> {
        [
            InvoiceStatus::Draft,
            InvoiceStatus::Open,
            InvoiceStatus::Paid,
            InvoiceStatus::Uncollectible,
            InvoiceStatus::Void,
        ]
        .into_iter()
        .find(|s| s.as_str() == raw)
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
    /// State.
    pub status: InvoiceStatus,
    /// ISO currency code.
    pub currency: String,
    /// Before discounts and tax.
    pub subtotal: i64,
    /// After discounts and tax.
    pub total: i64,
    /// Still to pay.
    pub amount_due: i64,
    /// Paid.
    pub amount_paid: i64,
    /// Service period, Unix seconds.
    pub period_start: Option<i64>,
    /// Service period end, Unix seconds.
    pub period_end: Option<i64>,
    /// Lines.
    pub lines: Vec<InvoiceLine>,
    /// The provider's hosted page, if it has one.
    pub hosted_invoice_url: Option<String>,
    /// The provider's PDF, if it has one.
    pub invoice_pdf_url: Option<String>,
    /// When it was issued, Unix seconds.
    pub created: i64,
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
    use crate::billing::domain::DiscountDuration;
    use crate::catalog::domain::Catalog;
    use claims::{assert_err, assert_none, assert_some_eq};

    fn catalog() -> Catalog {
        crate::catalog::source::parse_catalog(include_str!("../../../catalog/catalog.toml"))
            .expect("the shipped catalogue is valid")
            .catalog
    }

    fn choice(tier: &str, cycle: BillingCycle, add_ons: &[(&str, u32)]) -> PlanChoice {
        PlanChoice {
            tier: tier.into(),
            cycle,
            add_ons: add_ons.iter().map(|(k, q)| ((*k).to_owned(), *q)).collect(),
        }
    }

    #[test]
    fn lookup_keys_round_trip_and_foreign_keys_are_not_ours() {
        for key in PriceKey::all_for(&catalog()) {
            assert_some_eq!(PriceKey::parse(&key.lookup_key()), key);
        }
        assert_eq!(
            PriceKey::tier("starter", BillingCycle::Annual).lookup_key(),
            "gatehouse.tier.starter.annual"
        );
        for foreign in [
            "",
            "starter",
            "gatehouse.tier.starter",
            "gatehouse.tier.starter.weekly",
            "gatehouse.plan.starter.monthly",
            "gatehouse.tier..monthly",
            "gatehouse.tier.starter.monthly.extra",
            "other.tier.starter.monthly",
        ] {
            assert_none!(PriceKey::parse(foreign), "{foreign}");
        }
    }

    #[test]
    fn catalogue_amounts_price_annual_add_ons_as_twelve_months() {
        let catalog = catalog();
        assert_some_eq!(
            PriceKey::tier("starter", BillingCycle::Monthly).catalog_amount(&catalog),
            4900
        );
        assert_some_eq!(
            PriceKey::tier("starter", BillingCycle::Annual).catalog_amount(&catalog),
            52900
        );
        assert_some_eq!(
            PriceKey::add_on("extra_user", BillingCycle::Annual).catalog_amount(&catalog),
            6000
        );
        assert_none!(PriceKey::tier("gold", BillingCycle::Annual).catalog_amount(&catalog));
        assert_eq!(PriceKey::all_for(&catalog).len(), 2 * (3 + catalog.add_ons.len()));
    }

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
    fn choices_are_named_from_the_catalogue() {
        let catalog = catalog();
        let pro = choice(
            "professional",
            BillingCycle::Annual,
            &[("extra_user", 2), ("extra_storage", 10)],
        );
        assert_eq!(pro.tier_name(&catalog), "Professional");
        assert_eq!(
            pro.add_on_names(&catalog),
            ["10 × Extra storage", "2 × Extra user"]
        );
        let unknown = choice("gold", BillingCycle::Monthly, &[("gold_bars", 1)]);
        assert_eq!(unknown.tier_name(&catalog), "gold");
        assert_eq!(unknown.add_on_names(&catalog), ["1 × gold_bars"]);
    }

    #[test]
    fn upgrades_are_immediate_and_downgrades_wait_for_period_end() {
        let catalog = catalog();
        let starter = choice("starter", BillingCycle::Monthly, &[]);
        let pro = choice("professional", BillingCycle::Monthly, &[]);
        assert_eq!(
            plan_change(&catalog, &starter, &pro, 1),
            Ok(ChangeTiming::Immediately)
        );
        assert_eq!(
            plan_change(&catalog, &pro, &starter, 1),
            Ok(ChangeTiming::AtPeriodEnd)
        );
        // More add-ons: immediate; fewer: at period end.
        let pro_seats = choice("professional", BillingCycle::Monthly, &[("extra_user", 2)]);
        assert_eq!(
            plan_change(&catalog, &pro, &pro_seats, 1),
            Ok(ChangeTiming::Immediately)
        );
        assert_eq!(
            plan_change(&catalog, &pro_seats, &pro, 1),
            Ok(ChangeTiming::AtPeriodEnd)
        );
        // A switch of cycle is immediate either way.
        let pro_annual = choice("professional", BillingCycle::Annual, &[]);
        assert_eq!(
            plan_change(&catalog, &pro, &pro_annual, 1),
            Ok(ChangeTiming::Immediately)
        );
        assert_eq!(
            plan_change(&catalog, &pro_annual, &pro, 1),
            Ok(ChangeTiming::Immediately)
        );
        assert_eq!(
            plan_change(&catalog, &pro, &pro, 1),
            Err(PlanChangeError::Unchanged)
        );
        // A zero quantity is the same as none.
        let pro_zero = choice("professional", BillingCycle::Monthly, &[("extra_user", 0)]);
        assert_eq!(
            plan_change(&catalog, &pro, &pro_zero, 1),
            Err(PlanChangeError::Unchanged)
        );
    }

    #[test]
    fn a_downgrade_below_current_usage_is_refused_with_the_numbers() {
        let catalog = catalog();
        let pro = choice("professional", BillingCycle::Monthly, &[]);
        let starter = choice("starter", BillingCycle::Monthly, &[]);
        let error = plan_change(&catalog, &pro, &starter, 5).expect_err("5 users do not fit Starter's 3");
        assert_eq!(
            error,
            PlanChangeError::TooManyUsers {
                used: 5,
                allowed: 3,
                plan: "Starter".into(),
                extra: 0
            }
        );
        assert!(error.to_string().contains("has 5 users"), "{error}");
        // Two extra users make room.
        let starter_plus = choice("starter", BillingCycle::Monthly, &[("extra_user", 2)]);
        assert_eq!(
            plan_change(&catalog, &pro, &starter_plus, 5),
            Ok(ChangeTiming::AtPeriodEnd)
        );
        assert_err!(plan_change(
            &catalog,
            &pro,
            &choice("gold", BillingCycle::Monthly, &[]),
            1
        ));
        assert_err!(plan_change(
            &catalog,
            &pro,
            &choice("starter", BillingCycle::Monthly, &[("extra_user", 501)]),
            1
        ));
        assert_err!(plan_change(
            &catalog,
            &pro,
            &choice("starter", BillingCycle::Monthly, &[("gold_bars", 1)]),
            1
        ));
    }

    #[test]
    fn proration_credits_unused_time_and_charges_the_rest() {
        // Half-way through a 30-day period from $49 to $199: 99.50 − 24.50 = 75.00.
        let day = 86_400;
        let lines = prorated_amount_due(4900, 19900, 0, 30 * day, 15 * day);
        assert_eq!(
            lines,
            ProrationLines {
                credit: 2450,
                charge: 9950,
                amount_due: 7500
            }
        );
        // At the start: the full difference; at the end: nothing.
        assert_eq!(prorated_amount_due(4900, 19900, 0, 30 * day, 0).amount_due, 15000);
        assert_eq!(
            prorated_amount_due(4900, 19900, 0, 30 * day, 30 * day).amount_due,
            0
        );
        // A net credit is never a negative charge.
        assert_eq!(prorated_amount_due(19900, 4900, 0, 30 * day, 0).amount_due, 0);
        // Rounding: one third of $1.00 is 33 cents; half-even on exact halves.
        assert_eq!(prorated_amount_due(0, 100, 0, 3, 2).charge, 33);
        assert_eq!(prorated_amount_due(0, 1, 0, 2, 1).charge, 0);
        assert_eq!(prorated_amount_due(0, 3, 0, 2, 1).charge, 2);
    }

    #[test]
    fn changes_are_classified_by_their_most_telling_part() {
        let state = |status, items: &[(&str, u32)], discounts: Vec<Discount>| LedgerState {
            status,
            items: items.iter().map(|(k, q)| ((*k).to_owned(), *q)).collect(),
            discounts,
        };
        let base = state(
            SubscriptionStatus::Active,
            &[("gatehouse.tier.starter.monthly", 1)],
            vec![],
        );
        assert_some_eq!(classify_change(None, &base), ChangeKind::Created);
        assert_none!(classify_change(Some(&base), &base));
        let past_due = state(
            SubscriptionStatus::PastDue,
            &[("gatehouse.tier.pro.monthly", 1)],
            vec![],
        );
        assert_some_eq!(classify_change(Some(&base), &past_due), ChangeKind::StatusChanged);
        let annual = state(
            SubscriptionStatus::Active,
            &[("gatehouse.tier.starter.annual", 1)],
            vec![],
        );
        assert_some_eq!(classify_change(Some(&base), &annual), ChangeKind::PlanChanged);
        let seats = state(
            SubscriptionStatus::Active,
            &[
                ("gatehouse.add_on.extra_user.monthly", 2),
                ("gatehouse.tier.starter.monthly", 1),
            ],
            vec![],
        );
        assert_some_eq!(classify_change(Some(&base), &seats), ChangeKind::QuantityChanged);
        let discounted = state(
            SubscriptionStatus::Active,
            &[("gatehouse.tier.starter.monthly", 1)],
            vec![Discount::PercentOff {
                basis_points: 1000,
                duration: DiscountDuration::Forever,
            }],
        );
        assert_some_eq!(
            classify_change(Some(&base), &discounted),
            ChangeKind::DiscountChanged
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
