//! The plan catalogue: tiers, prices, limits, add-ons and the feature matrix.
//!
//! An operator writes the catalogue as a file ([`RawCatalog`]); [`Catalog::validate`]
//! turns it into a [`Catalog`] whose invariants the rest of Gatehouse relies on,
//! or names the entry that is wrong. Pure: no I/O, builds for wasm and server.

//!
//! Split by what each part does: the catalogue's types and lookups here,
//! the file's shape in `raw`, its rules in `validate`, prices in `quote`.

mod quote;
mod raw;
mod validate;

pub use quote::{Quote, QuoteError, QuoteLine};
pub use raw::*;
pub use validate::{CatalogError, MAX_TRIAL_DAYS};

use super::money::{Currency, Money, MoneyError, div_round_half_even};
use serde::{Deserialize, Serialize};

/// How often a plan is billed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum BillingCycle {
    /// Billed every month.
    #[default]
    Monthly,
    /// Billed once a year.
    Annual,
}

impl BillingCycle {
    /// Months covered by one billing period.
    pub fn months(self) -> i64 {
        match self {
            BillingCycle::Monthly => 1,
            BillingCycle::Annual => 12,
        }
    }

    /// The billing interval analytics report it under (`month`, `year`).
    pub fn interval(self) -> &'static str {
        match self {
            BillingCycle::Monthly => "month",
            BillingCycle::Annual => "year",
        }
    }

    /// The word used in URLs and forms (`monthly`, `annual`).
    pub fn as_str(self) -> &'static str {
        match self {
            BillingCycle::Monthly => "monthly",
            BillingCycle::Annual => "annual",
        }
    }

    /// Reads the exact word [`BillingCycle::as_str`] writes (forms, price
    /// keys, stored rows); anything else is `None`.
    pub fn parse(raw: &str) -> Option<Self> {
        [BillingCycle::Monthly, BillingCycle::Annual]
            .into_iter()
            .find(|cycle| cycle.as_str() == raw)
    }

    /// Reads a URL or form value; anything unknown falls back to monthly,
    /// since a stale or hand-edited link should still show prices.
    pub fn from_query(raw: Option<&str>) -> Self {
        match raw {
            Some("annual") | Some("yearly") | Some("year") => BillingCycle::Annual,
            _ => BillingCycle::Monthly,
        }
    }

    /// The other cycle.
    pub fn other(self) -> Self {
        match self {
            BillingCycle::Monthly => BillingCycle::Annual,
            BillingCycle::Annual => BillingCycle::Monthly,
        }
    }
}

/// A quota a plan grants: a whole number or no limit at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Limit {
    /// At most this many.
    Limited(u64),
    /// No limit.
    Unlimited,
}

impl Limit {
    /// Whether `self` grants at least as much as `other`.
    pub fn covers(self, other: Limit) -> bool {
        match (self, other) {
            (Limit::Unlimited, _) => true,
            (Limit::Limited(_), Limit::Unlimited) => false,
            (Limit::Limited(a), Limit::Limited(b)) => a >= b,
        }
    }

    /// The limit as nullable storage (`None` = unlimited).
    pub fn as_option(self) -> Option<u64> {
        match self {
            Limit::Limited(n) => Some(n),
            Limit::Unlimited => None,
        }
    }

    /// The inverse of [`Limit::as_option`].
    pub fn from_option(value: Option<u64>) -> Self {
        value.map_or(Limit::Unlimited, Limit::Limited)
    }
}

impl Limit {
    /// This limit raised by `extra` (unlimited stays unlimited; saturating).
    pub fn raised_by(self, extra: u64) -> Limit {
        match self {
            Limit::Limited(n) => Limit::Limited(n.saturating_add(extra)),
            Limit::Unlimited => Limit::Unlimited,
        }
    }

    /// Whether `used` fits within this limit.
    pub fn allows(self, used: u64) -> bool {
        match self {
            Limit::Limited(n) => used <= n,
            Limit::Unlimited => true,
        }
    }

    /// A count for a pricing card: "1 workspace", "25 users", "Unlimited storage".
    pub fn label(self, metric: &Metric) -> String {
        match self {
            Limit::Unlimited => format!("Unlimited {}", metric.name.to_lowercase()),
            Limit::Limited(1) => format!("1 {}", metric.unit),
            Limit::Limited(n) => format!("{n} {}", metric.units),
        }
    }
}

/// The metric Gatehouse counts itself: members plus open invitations.
pub const USERS_METRIC: &str = "users";

/// A metered quantity a tier limits, such as users, workspaces or storage.
/// Adding one to the catalogue is all it takes to meter it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metric {
    /// Stable identifier, also the key the host product reports usage under.
    pub key: String,
    /// Display name ("Workspaces").
    pub name: String,
    /// One unit, as counted ("workspace", "GB").
    pub unit: String,
    /// Several units ("workspaces", "GB storage").
    pub units: String,
}

impl Metric {
    /// Whether Gatehouse counts this metric itself rather than the host product.
    pub fn counted_by_gatehouse(&self) -> bool {
        self.key == USERS_METRIC
    }
}

/// The quotas of one tier, one per metric of the catalogue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct PlanLimits(pub std::collections::BTreeMap<String, Limit>);

impl PlanLimits {
    /// The limit on `metric`; a metric the tier does not name allows nothing
    /// (validation makes every tier name every metric).
    pub fn get(&self, metric: &str) -> Limit {
        self.0.get(metric).copied().unwrap_or(Limit::Limited(0))
    }

    /// Team members, the seats of the plan.
    pub fn users(&self) -> Limit {
        self.get(USERS_METRIC)
    }
}

/// One priced tier, such as Starter or Professional.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tier {
    /// Stable identifier used in URLs, the database and Stripe lookup keys.
    pub key: String,
    /// Display name.
    pub name: String,
    /// One line saying who the tier is for.
    pub tagline: String,
    /// Marked as the recommended choice on the pricing page.
    pub recommended: bool,
    /// Price of one month on monthly billing.
    pub monthly_price: Money,
    /// Price of one year on annual billing.
    pub annual_price: Money,
    /// What the tier allows: users, workspaces, storage.
    pub limits: PlanLimits,
}

impl Tier {
    /// The price of one billing period of `cycle`.
    pub fn price(&self, cycle: BillingCycle) -> Money {
        match cycle {
            BillingCycle::Monthly => self.monthly_price,
            BillingCycle::Annual => self.annual_price,
        }
    }

    /// What a year on annual billing saves against twelve monthly payments.
    pub fn annual_saving(&self) -> Money {
        let twelve_months = self.monthly_price.amount_minor * 12;
        Money::new(
            (twelve_months - self.annual_price.amount_minor).max(0),
            self.monthly_price.currency,
        )
    }

    /// The annual saving as a whole percentage of twelve monthly payments,
    /// rounded half-even; 0 for a free tier.
    pub fn annual_saving_percent(&self) -> i64 {
        let twelve_months = self.monthly_price.amount_minor * 12;
        if twelve_months == 0 {
            return 0;
        }
        div_round_half_even(self.annual_saving().amount_minor * 100, twelve_months)
    }

    /// The annual price spread over twelve months, rounded half-even to the cent.
    pub fn annual_price_per_month(&self) -> Money {
        Money::new(
            div_round_half_even(self.annual_price.amount_minor, 12),
            self.annual_price.currency,
        )
    }
}

/// A quantity-priced extra bought on top of a tier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddOn {
    /// Stable identifier.
    pub key: String,
    /// Display name.
    pub name: String,
    /// What one unit is, in the singular ("user", "GB").
    pub unit: String,
    /// Price of one unit for one month.
    pub monthly_unit_price: Money,
    /// The most units one organisation may buy, if capped.
    pub max_quantity: Option<u32>,
    /// The metric whose limit each unit raises, if any.
    pub raises: Option<String>,
    /// How much one unit raises that limit.
    pub per_unit: u64,
}

/// Why an add-on quantity was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    /// Over the add-on's cap.
    #[error("at most {max} {unit} can be added")]
    OverMaximum {
        /// The cap.
        max: u32,
        /// The unit name.
        unit: String,
    },
    /// The total does not fit in the money type.
    #[error("that quantity is too large")]
    Overflow,
}

impl AddOn {
    /// The price of `quantity` units over one billing period of `cycle`.
    /// Add-ons are priced monthly; an annual period is twelve months of it.
    pub fn total(&self, quantity: u32, cycle: BillingCycle) -> Result<Money, QuantityError> {
        if let Some(max) = self.max_quantity
            && quantity > max
        {
            return Err(QuantityError::OverMaximum {
                max,
                unit: self.unit.clone(),
            });
        }
        self.monthly_unit_price
            .times(i64::from(quantity))
            .and_then(|m| m.times(cycle.months()))
            .ok_or(QuantityError::Overflow)
    }
}

/// A named capability shown in the feature matrix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Feature {
    /// Stable identifier, also the entitlement key the host product checks.
    pub key: String,
    /// Display name.
    pub name: String,
    /// The lowest tier that includes it; every higher tier includes it too.
    pub included_from: String,
}

/// Features grouped under one theme.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeatureGroup {
    /// Stable identifier.
    pub key: String,
    /// Display name of the theme.
    pub name: String,
    /// The features, in display order.
    pub features: Vec<Feature>,
}

/// The free trial every signup starts with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrialTerms {
    /// Length in days.
    pub days: u32,
    /// The tier a signup without a chosen plan trials.
    pub default_tier: String,
    /// Days before the trial's end each reminder goes out, longest lead
    /// first (distinct, each shorter than the trial).
    #[serde(default = "default_reminder_days")]
    pub reminder_days: Vec<u32>,
}

/// The reminders a catalogue without `reminder_days` sends.
pub const DEFAULT_REMINDER_DAYS: [u32; 3] = [7, 3, 1];

fn default_reminder_days() -> Vec<u32> {
    DEFAULT_REMINDER_DAYS.to_vec()
}

/// What Gatehouse does about an invoice that stays unpaid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CollectionTerms {
    /// Days past due after which the organisation is restricted (read-only).
    pub grace_days: u32,
}

impl Default for CollectionTerms {
    fn default() -> Self {
        CollectionTerms { grace_days: 14 }
    }
}

/// A validated catalogue. Tiers are in ascending order: each includes
/// everything the ones before it include.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Catalog {
    /// The operator's version number, raised on every change.
    pub version: u32,
    /// The currency every price is in.
    pub currency: Currency,
    /// What the tiers limit, in display order.
    pub metrics: Vec<Metric>,
    /// Tiers, cheapest first.
    pub tiers: Vec<Tier>,
    /// Add-ons any tier can buy on top, in the file's order.
    pub add_ons: Vec<AddOn>,
    /// The feature matrix.
    pub feature_groups: Vec<FeatureGroup>,
    /// Trial terms.
    pub trial: TrialTerms,
    /// Collection terms.
    #[serde(default)]
    pub collection: CollectionTerms,
}

impl Catalog {
    /// The tier with this key.
    pub fn tier(&self, key: &str) -> Option<&Tier> {
        self.tiers.iter().find(|t| t.key == key)
    }

    /// Position of a tier in ascending order.
    pub fn tier_rank(&self, key: &str) -> Option<usize> {
        self.tiers.iter().position(|t| t.key == key)
    }

    /// Whether `tier_key` includes `feature`.
    pub fn tier_includes(&self, tier_key: &str, feature: &Feature) -> bool {
        match (self.tier_rank(tier_key), self.tier_rank(&feature.included_from)) {
            (Some(tier), Some(from)) => tier >= from,
            _ => false,
        }
    }

    /// The metric with this key.
    pub fn metric(&self, key: &str) -> Option<&Metric> {
        self.metrics.iter().find(|m| m.key == key)
    }

    /// The add-on with this key.
    pub fn add_on(&self, key: &str) -> Option<&AddOn> {
        self.add_ons.iter().find(|a| a.key == key)
    }

    /// Every feature, in display order.
    pub fn features(&self) -> impl Iterator<Item = &Feature> {
        self.feature_groups.iter().flat_map(|g| g.features.iter())
    }

    /// The feature with this key.
    pub fn feature(&self, key: &str) -> Option<&Feature> {
        self.features().find(|f| f.key == key)
    }

    /// What a tier with these add-ons allows of `metric`: the tier's limit
    /// raised by every add-on that raises it. An unknown tier allows
    /// anything, so a retired plan never locks its customers out.
    pub fn plan_limit(
        &self,
        tier_key: &str,
        add_ons: &std::collections::BTreeMap<String, u32>,
        metric: &str,
    ) -> Limit {
        let Some(tier) = self.tier(tier_key) else {
            return Limit::Unlimited;
        };
        let raised = add_ons
            .iter()
            .filter_map(|(key, quantity)| {
                let add_on = self.add_on(key)?;
                (add_on.raises.as_deref() == Some(metric))
                    .then(|| u64::from(*quantity).saturating_mul(add_on.per_unit))
            })
            .fold(0u64, u64::saturating_add);
        tier.limits.get(metric).raised_by(raised)
    }

    /// Units bought of the add-ons that raise `metric`.
    pub fn add_on_units_raising(
        &self,
        add_ons: &std::collections::BTreeMap<String, u32>,
        metric: &str,
    ) -> u32 {
        add_ons
            .iter()
            .filter(|(key, _)| {
                self.add_on(key)
                    .is_some_and(|a| a.raises.as_deref() == Some(metric))
            })
            .map(|(_, quantity)| *quantity)
            .fold(0u32, u32::saturating_add)
    }

    /// The cheapest tier whose limit on `metric` allows `used`, if any.
    pub fn cheapest_tier_allowing(&self, metric: &str, used: u64) -> Option<&Tier> {
        self.tiers.iter().find(|t| t.limits.get(metric).allows(used))
    }

    /// Number of features across all groups.
    pub fn feature_count(&self) -> usize {
        self.feature_groups.iter().map(|g| g.features.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::domain::fixtures::valid;
    use claims::assert_err;
    #[test]
    fn annual_saving_is_twelve_months_minus_the_annual_price() {
        let catalog = valid();
        let cases = [
            ("starter", 5900, 10, 4408),
            ("pro", 23900, 10, 17908),
            ("enterprise", 119900, 10, 89908),
        ];
        for (key, saving, percent, per_month) in cases {
            let tier = catalog.tier(key).unwrap();
            assert_eq!(tier.annual_saving().amount_minor, saving, "{key}");
            assert_eq!(tier.annual_saving_percent(), percent, "{key}");
            assert_eq!(tier.annual_price_per_month().amount_minor, per_month, "{key}");
        }
    }

    #[test]
    fn features_are_included_from_their_tier_upwards() {
        let catalog = valid();
        let sso = &catalog.feature_groups[0].features[0];
        let reports = &catalog.feature_groups[0].features[1];
        assert!(!catalog.tier_includes("starter", sso));
        assert!(!catalog.tier_includes("pro", sso));
        assert!(catalog.tier_includes("enterprise", sso));
        assert!(catalog.tier_includes("starter", reports));
        assert!(!catalog.tier_includes("nonexistent", reports));
    }

    #[test]
    fn add_on_totals_multiply_units_and_months() {
        let catalog = valid();
        let users = &catalog.add_ons[0];
        let storage = &catalog.add_ons[1];
        assert_eq!(users.total(3, BillingCycle::Monthly).unwrap().amount_minor, 1500);
        assert_eq!(users.total(3, BillingCycle::Annual).unwrap().amount_minor, 18000);
        assert_eq!(
            storage.total(25, BillingCycle::Monthly).unwrap().amount_minor,
            1250
        );
        assert_eq!(users.total(0, BillingCycle::Monthly).unwrap().amount_minor, 0);
        let over = assert_err!(users.total(101, BillingCycle::Monthly));
        assert_eq!(over.to_string(), "at most 100 user can be added");
        assert_eq!(
            storage
                .total(u32::MAX, BillingCycle::Annual)
                .unwrap()
                .amount_minor,
            50 * 12 * i64::from(u32::MAX)
        );
    }

    #[test]
    fn billing_cycle_reads_from_links_leniently() {
        assert_eq!(BillingCycle::from_query(Some("annual")), BillingCycle::Annual);
        assert_eq!(BillingCycle::from_query(Some("monthly")), BillingCycle::Monthly);
        assert_eq!(BillingCycle::from_query(Some("<script>")), BillingCycle::Monthly);
        assert_eq!(BillingCycle::from_query(None), BillingCycle::Monthly);
    }
}

/// Catalogues for the tests of every part.
#[cfg(test)]
pub(crate) mod fixtures {
    use super::*;

    /// A small valid catalogue in the file's own syntax, parsed through serde
    /// so the tests exercise the same shape operators write.
    pub fn raw(tiers_extra: &str) -> RawCatalog {
        let text = format!(
            r#"{{
            "version": 1, "currency": "USD",
            "trial": {{"days": 14, "default_tier": "pro"}},
            "metrics": [
              {{"key": "users", "name": "Users", "unit": "user", "units": "users"}},
              {{"key": "workspaces", "name": "Workspaces", "unit": "workspace", "units": "workspaces"}},
              {{"key": "storage_gb", "name": "Storage", "unit": "GB storage", "units": "GB storage"}}
            ],
            "tiers": [
              {{"key": "starter", "name": "Starter", "monthly_price": "49", "annual_price": "529",
                "limits": {{"users": 3, "workspaces": 1, "storage_gb": 10}}}},
              {{"key": "pro", "name": "Pro", "recommended": true, "monthly_price": "199", "annual_price": "2149",
                "limits": {{"users": 25, "workspaces": 5, "storage_gb": 100}}}},
              {{"key": "enterprise", "name": "Enterprise", "monthly_price": "999", "annual_price": "10789",
                "limits": {{"users": "unlimited", "workspaces": "unlimited", "storage_gb": "unlimited"}}}}
              {tiers_extra}
            ],
            "add_ons": [
              {{"key": "extra_user", "name": "Extra user", "unit": "user", "monthly_unit_price": "5", "max_quantity": 100, "raises": "users"}},
              {{"key": "storage", "name": "Storage", "unit": "GB", "monthly_unit_price": "0.50", "raises": "storage_gb", "per_unit": 1}}
            ],
            "feature_groups": [
              {{"key": "core", "name": "Core", "features": [
                {{"key": "sso", "name": "Single sign-on", "included_from": "enterprise"}},
                {{"key": "reports", "name": "Reports", "included_from": "starter"}}
              ]}}
            ]}}"#
        );
        serde_json::from_str(&text).expect("test catalogue parses")
    }

    pub fn valid() -> Catalog {
        Catalog::validate(raw("")).expect("valid")
    }
}
