//! The plan catalogue: tiers, prices, limits, add-ons and the feature matrix.
//!
//! An operator writes the catalogue as a file ([`RawCatalog`]); [`Catalog::validate`]
//! turns it into a [`Catalog`] whose invariants the rest of Gatehouse relies on,
//! or names the entry that is wrong. Pure: no I/O, builds for wasm and server.

use super::money::{Currency, Money, MoneyError, div_round_half_even};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::fmt;

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

    /// The word used in URLs and forms (`monthly`, `annual`).
    pub fn as_str(self) -> &'static str {
        match self {
            BillingCycle::Monthly => "monthly",
            BillingCycle::Annual => "annual",
        }
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

/// The quotas of one tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanLimits {
    /// Team members, the seats of the plan.
    pub users: Limit,
    /// Workspaces in the host product.
    pub workspaces: Limit,
    /// Storage in gigabytes.
    pub storage_gb: Limit,
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
    /// Quotas.
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
}

/// A validated catalogue. Tiers are in ascending order: each includes
/// everything the ones before it include.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Catalog {
    /// The operator's version number, raised on every change.
    pub version: u32,
    /// The currency every price is in.
    pub currency: Currency,
    /// Tiers, cheapest first.
    pub tiers: Vec<Tier>,
    /// Add-ons.
    pub add_ons: Vec<AddOn>,
    /// The feature matrix.
    pub feature_groups: Vec<FeatureGroup>,
    /// Trial terms.
    pub trial: TrialTerms,
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

    /// Number of features across all groups.
    pub fn feature_count(&self) -> usize {
        self.feature_groups.iter().map(|g| g.features.len()).sum()
    }
}

/// A catalogue exactly as written in the file, before validation.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCatalog {
    /// See [`Catalog::version`].
    pub version: u32,
    /// ISO 4217 code.
    pub currency: String,
    /// See [`TrialTerms`].
    pub trial: RawTrial,
    /// Tiers, cheapest first.
    #[serde(default)]
    pub tiers: Vec<RawTier>,
    /// Add-ons.
    #[serde(default)]
    pub add_ons: Vec<RawAddOn>,
    /// Feature groups.
    #[serde(default)]
    pub feature_groups: Vec<RawFeatureGroup>,
}

/// Trial terms as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTrial {
    /// Length in days.
    pub days: i64,
    /// Tier key.
    pub default_tier: String,
}

/// A tier as written; prices are decimal strings in major units ("49.00").
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTier {
    /// See [`Tier::key`].
    pub key: String,
    /// See [`Tier::name`].
    pub name: String,
    /// See [`Tier::tagline`].
    #[serde(default)]
    pub tagline: String,
    /// See [`Tier::recommended`].
    #[serde(default)]
    pub recommended: bool,
    /// Decimal amount in major units.
    pub monthly_price: String,
    /// Decimal amount in major units.
    pub annual_price: String,
    /// Quotas.
    pub limits: RawLimits,
}

/// Quotas as written: a whole number or `"unlimited"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLimits {
    /// Seats.
    pub users: RawLimit,
    /// Workspaces.
    pub workspaces: RawLimit,
    /// Storage in GB.
    pub storage_gb: RawLimit,
}

/// One quota as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum RawLimit {
    /// A number.
    Number(i64),
    /// A word, which must be `unlimited`.
    Word(String),
}

/// An add-on as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAddOn {
    /// See [`AddOn::key`].
    pub key: String,
    /// See [`AddOn::name`].
    pub name: String,
    /// See [`AddOn::unit`].
    pub unit: String,
    /// Decimal amount in major units per unit per month.
    pub monthly_unit_price: String,
    /// See [`AddOn::max_quantity`].
    #[serde(default)]
    pub max_quantity: Option<i64>,
}

/// A feature group as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFeatureGroup {
    /// See [`FeatureGroup::key`].
    pub key: String,
    /// See [`FeatureGroup::name`].
    pub name: String,
    /// The features.
    #[serde(default)]
    pub features: Vec<RawFeature>,
}

/// A feature as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFeature {
    /// See [`Feature::key`].
    pub key: String,
    /// See [`Feature::name`].
    pub name: String,
    /// Tier key.
    pub included_from: String,
}

/// A catalogue entry that is wrong, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{entry}: {problem}")]
pub struct CatalogError {
    /// Where in the file, such as `tiers[1] "professional".annual_price`.
    pub entry: String,
    /// What is wrong, in words an operator can act on.
    pub problem: String,
}

impl CatalogError {
    fn new(entry: impl fmt::Display, problem: impl fmt::Display) -> Self {
        CatalogError {
            entry: entry.to_string(),
            problem: problem.to_string(),
        }
    }
}

/// The longest trial an operator may offer.
pub const MAX_TRIAL_DAYS: i64 = 90;

fn check_key(entry: &str, key: &str) -> Result<(), CatalogError> {
    let valid = !key.is_empty()
        && key.len() <= 40
        && key
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        && key.as_bytes()[0].is_ascii_lowercase();
    if valid {
        Ok(())
    } else {
        Err(CatalogError::new(
            format!("{entry}.key"),
            format!("\"{key}\" must be 1–40 characters of a-z, 0-9, '-' or '_', starting with a letter"),
        ))
    }
}

fn check_name(entry: &str, field: &str, value: &str) -> Result<(), CatalogError> {
    let trimmed = value.trim();
    if trimmed.is_empty() || trimmed.chars().count() > 80 {
        Err(CatalogError::new(
            format!("{entry}.{field}"),
            "must be between 1 and 80 characters",
        ))
    } else {
        Ok(())
    }
}

fn check_unique<'a>(seen: &mut HashSet<&'a str>, entry: &str, key: &'a str) -> Result<(), CatalogError> {
    if seen.insert(key) {
        Ok(())
    } else {
        Err(CatalogError::new(
            format!("{entry}.key"),
            format!("\"{key}\" is used twice"),
        ))
    }
}

fn parse_price(entry: &str, field: &str, raw: &str, currency: Currency) -> Result<Money, CatalogError> {
    Money::parse_major(raw, currency)
        .map_err(|e: MoneyError| CatalogError::new(format!("{entry}.{field}"), e))
}

fn parse_limit(entry: &str, field: &str, raw: &RawLimit) -> Result<Limit, CatalogError> {
    let wrong = || {
        CatalogError::new(
            format!("{entry}.limits.{field}"),
            "must be a whole number of at least 1 or \"unlimited\"",
        )
    };
    match raw {
        RawLimit::Number(n) if *n >= 1 => Ok(Limit::Limited(*n as u64)),
        RawLimit::Word(word) if word == "unlimited" => Ok(Limit::Unlimited),
        _ => Err(wrong()),
    }
}

impl Catalog {
    /// Checks every rule of a catalogue file and builds the catalogue, or
    /// names the first entry that breaks one.
    pub fn validate(raw: RawCatalog) -> Result<Catalog, CatalogError> {
        if raw.version == 0 {
            return Err(CatalogError::new("version", "must be 1 or more"));
        }
        let currency = Currency::parse(&raw.currency).map_err(|e| CatalogError::new("currency", e))?;
        if raw.tiers.is_empty() {
            return Err(CatalogError::new("tiers", "at least one tier is needed"));
        }

        let mut tier_keys = HashSet::new();
        let mut tiers: Vec<Tier> = Vec::with_capacity(raw.tiers.len());
        for (index, tier) in raw.tiers.iter().enumerate() {
            let entry = format!("tiers[{index}] \"{}\"", tier.key);
            check_key(&entry, &tier.key)?;
            check_unique(&mut tier_keys, &entry, &tier.key)?;
            check_name(&entry, "name", &tier.name)?;
            let monthly_price = parse_price(&entry, "monthly_price", &tier.monthly_price, currency)?;
            let annual_price = parse_price(&entry, "annual_price", &tier.annual_price, currency)?;
            if annual_price.amount_minor > monthly_price.amount_minor * 12 {
                return Err(CatalogError::new(
                    format!("{entry}.annual_price"),
                    format!(
                        "{} costs more than twelve monthly payments ({})",
                        annual_price.display(),
                        Money::new(monthly_price.amount_minor * 12, currency).display()
                    ),
                ));
            }
            let limits = PlanLimits {
                users: parse_limit(&entry, "users", &tier.limits.users)?,
                workspaces: parse_limit(&entry, "workspaces", &tier.limits.workspaces)?,
                storage_gb: parse_limit(&entry, "storage_gb", &tier.limits.storage_gb)?,
            };
            if let Some(previous) = tiers.last() {
                if monthly_price.amount_minor < previous.monthly_price.amount_minor {
                    return Err(CatalogError::new(
                        format!("{entry}.monthly_price"),
                        format!(
                            "tiers go cheapest first, but this costs less than \"{}\"",
                            previous.key
                        ),
                    ));
                }
                let quotas = [
                    ("users", limits.users, previous.limits.users),
                    ("workspaces", limits.workspaces, previous.limits.workspaces),
                    ("storage_gb", limits.storage_gb, previous.limits.storage_gb),
                ];
                for (field, this, before) in quotas {
                    if !this.covers(before) {
                        return Err(CatalogError::new(
                            format!("{entry}.limits.{field}"),
                            format!("is lower than in the cheaper tier \"{}\"", previous.key),
                        ));
                    }
                }
            }
            tiers.push(Tier {
                key: tier.key.clone(),
                name: tier.name.trim().to_owned(),
                tagline: tier.tagline.trim().to_owned(),
                recommended: tier.recommended,
                monthly_price,
                annual_price,
                limits,
            });
        }
        if tiers.iter().filter(|t| t.recommended).count() > 1 {
            return Err(CatalogError::new("tiers", "at most one tier can be recommended"));
        }

        let mut add_on_keys = HashSet::new();
        let mut add_ons = Vec::with_capacity(raw.add_ons.len());
        for (index, add_on) in raw.add_ons.iter().enumerate() {
            let entry = format!("add_ons[{index}] \"{}\"", add_on.key);
            check_key(&entry, &add_on.key)?;
            check_unique(&mut add_on_keys, &entry, &add_on.key)?;
            check_name(&entry, "name", &add_on.name)?;
            check_name(&entry, "unit", &add_on.unit)?;
            let monthly_unit_price =
                parse_price(&entry, "monthly_unit_price", &add_on.monthly_unit_price, currency)?;
            if monthly_unit_price.amount_minor == 0 {
                return Err(CatalogError::new(
                    format!("{entry}.monthly_unit_price"),
                    "an add-on must cost something",
                ));
            }
            let max_quantity = match add_on.max_quantity {
                None => None,
                Some(n) if (1..=i64::from(u32::MAX)).contains(&n) => Some(n as u32),
                Some(_) => {
                    return Err(CatalogError::new(
                        format!("{entry}.max_quantity"),
                        "must be a whole number of at least 1",
                    ));
                }
            };
            add_ons.push(AddOn {
                key: add_on.key.clone(),
                name: add_on.name.trim().to_owned(),
                unit: add_on.unit.trim().to_owned(),
                monthly_unit_price,
                max_quantity,
            });
        }

        if raw.feature_groups.is_empty() {
            return Err(CatalogError::new(
                "feature_groups",
                "at least one feature group is needed",
            ));
        }
        let mut group_keys = HashSet::new();
        let mut feature_keys = HashSet::new();
        let mut feature_groups = Vec::with_capacity(raw.feature_groups.len());
        for (group_index, group) in raw.feature_groups.iter().enumerate() {
            let group_entry = format!("feature_groups[{group_index}] \"{}\"", group.key);
            check_key(&group_entry, &group.key)?;
            check_unique(&mut group_keys, &group_entry, &group.key)?;
            check_name(&group_entry, "name", &group.name)?;
            if group.features.is_empty() {
                return Err(CatalogError::new(
                    format!("{group_entry}.features"),
                    "a group needs at least one feature",
                ));
            }
            let mut features = Vec::with_capacity(group.features.len());
            for (index, feature) in group.features.iter().enumerate() {
                let entry = format!("{group_entry}.features[{index}] \"{}\"", feature.key);
                check_key(&entry, &feature.key)?;
                check_unique(&mut feature_keys, &entry, &feature.key)?;
                check_name(&entry, "name", &feature.name)?;
                if !tier_keys.contains(feature.included_from.as_str()) {
                    return Err(CatalogError::new(
                        format!("{entry}.included_from"),
                        format!("\"{}\" is not a tier of this catalogue", feature.included_from),
                    ));
                }
                features.push(Feature {
                    key: feature.key.clone(),
                    name: feature.name.trim().to_owned(),
                    included_from: feature.included_from.clone(),
                });
            }
            feature_groups.push(FeatureGroup {
                key: group.key.clone(),
                name: group.name.trim().to_owned(),
                features,
            });
        }

        if !(1..=MAX_TRIAL_DAYS).contains(&raw.trial.days) {
            return Err(CatalogError::new(
                "trial.days",
                format!("must be between 1 and {MAX_TRIAL_DAYS}"),
            ));
        }
        if !tier_keys.contains(raw.trial.default_tier.as_str()) {
            return Err(CatalogError::new(
                "trial.default_tier",
                format!("\"{}\" is not a tier of this catalogue", raw.trial.default_tier),
            ));
        }

        Ok(Catalog {
            version: raw.version,
            currency,
            tiers,
            add_ons,
            feature_groups,
            trial: TrialTerms {
                days: raw.trial.days as u32,
                default_tier: raw.trial.default_tier,
            },
        })
    }
}

/// One priced line of a [`Quote`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuoteLine {
    /// What is charged for.
    pub description: String,
    /// Units.
    pub quantity: u32,
    /// Price of the line for one billing period.
    pub amount: Money,
}

/// What a tier plus add-ons costs per billing period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quote {
    /// The cycle quoted.
    pub cycle: BillingCycle,
    /// The tier first, then add-ons.
    pub lines: Vec<QuoteLine>,
    /// Sum of the lines.
    pub total: Money,
}

/// Why a quote could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuoteError {
    /// Unknown tier key.
    #[error("there is no plan called \"{0}\"")]
    UnknownTier(String),
    /// Unknown add-on key.
    #[error("there is no add-on called \"{0}\"")]
    UnknownAddOn(String),
    /// A bad quantity.
    #[error("{add_on}: {source}")]
    Quantity {
        /// The add-on's name.
        add_on: String,
        /// Why.
        source: QuantityError,
    },
}

impl Catalog {
    /// Prices a tier with add-ons (key and quantity; zero quantities are left out).
    pub fn quote(
        &self,
        tier_key: &str,
        cycle: BillingCycle,
        add_ons: &[(&str, u32)],
    ) -> Result<Quote, QuoteError> {
        let tier = self
            .tier(tier_key)
            .ok_or_else(|| QuoteError::UnknownTier(tier_key.to_owned()))?;
        let mut lines = vec![QuoteLine {
            description: format!("{} plan", tier.name),
            quantity: 1,
            amount: tier.price(cycle),
        }];
        for (key, quantity) in add_ons.iter().filter(|(_, q)| *q > 0) {
            let add_on = self
                .add_ons
                .iter()
                .find(|a| a.key == *key)
                .ok_or_else(|| QuoteError::UnknownAddOn((*key).to_owned()))?;
            let amount = add_on
                .total(*quantity, cycle)
                .map_err(|source| QuoteError::Quantity {
                    add_on: add_on.name.clone(),
                    source,
                })?;
            lines.push(QuoteLine {
                description: add_on.name.clone(),
                quantity: *quantity,
                amount,
            });
        }
        let total = lines
            .iter()
            .try_fold(Money::zero(self.currency), |sum, line| sum.plus(line.amount))
            .map_err(|_| QuoteError::Quantity {
                add_on: "total".into(),
                source: QuantityError::Overflow,
            })?;
        Ok(Quote { cycle, lines, total })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use claims::{assert_err, assert_ok};

    /// A small valid catalogue in the file's own syntax, parsed through serde
    /// so the tests exercise the same shape operators write.
    fn raw(tiers_extra: &str) -> RawCatalog {
        let text = format!(
            r#"{{
            "version": 1, "currency": "USD",
            "trial": {{"days": 14, "default_tier": "pro"}},
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
              {{"key": "extra_user", "name": "Extra user", "unit": "user", "monthly_unit_price": "5", "max_quantity": 100}},
              {{"key": "storage", "name": "Storage", "unit": "GB", "monthly_unit_price": "0.50"}}
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

    fn valid() -> Catalog {
        Catalog::validate(raw("")).expect("valid")
    }

    #[test]
    fn a_valid_catalogue_keeps_prices_in_cents() {
        let catalog = valid();
        let starter = catalog.tier("starter").unwrap();
        assert_eq!(starter.monthly_price.amount_minor, 4900);
        assert_eq!(starter.annual_price.amount_minor, 52900);
        assert_eq!(catalog.tier("enterprise").unwrap().limits.users, Limit::Unlimited);
        assert_eq!(catalog.add_ons[1].monthly_unit_price.amount_minor, 50);
        assert_eq!(catalog.trial.days, 14);
    }

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
    fn a_quote_sums_the_tier_and_its_add_ons() {
        let catalog = valid();
        let quote = catalog
            .quote("pro", BillingCycle::Annual, &[("extra_user", 2), ("storage", 0)])
            .unwrap();
        assert_eq!(quote.lines.len(), 2);
        assert_eq!(quote.total.amount_minor, 214900 + 2 * 500 * 12);
        assert_err!(catalog.quote("gold", BillingCycle::Monthly, &[]));
        assert_err!(catalog.quote("pro", BillingCycle::Monthly, &[("parking", 1)]));
        assert_err!(catalog.quote("pro", BillingCycle::Monthly, &[("extra_user", 500)]));
    }

    #[test]
    fn billing_cycle_reads_from_links_leniently() {
        assert_eq!(BillingCycle::from_query(Some("annual")), BillingCycle::Annual);
        assert_eq!(BillingCycle::from_query(Some("monthly")), BillingCycle::Monthly);
        assert_eq!(BillingCycle::from_query(Some("<script>")), BillingCycle::Monthly);
        assert_eq!(BillingCycle::from_query(None), BillingCycle::Monthly);
    }

    /// Each case edits the valid catalogue one way and names the message the
    /// operator must see.
    #[test]
    fn invalid_catalogues_name_the_entry_and_the_problem() {
        type Edit = fn(&mut RawCatalog);
        let cases: Vec<(&str, Edit, &str)> = vec![
            ("version zero", |c| c.version = 0, "version: must be 1 or more"),
            (
                "bad currency",
                |c| c.currency = "dollars".into(),
                "currency: \"dollars\" is not a three-letter",
            ),
            (
                "no tiers",
                |c| c.tiers.clear(),
                "tiers: at least one tier is needed",
            ),
            (
                "bad key",
                |c| c.tiers[0].key = "Starter Plan".into(),
                "tiers[0] \"Starter Plan\".key: \"Starter Plan\" must be 1–40",
            ),
            (
                "duplicate key",
                |c| c.tiers[1].key = "starter".into(),
                "tiers[1] \"starter\".key: \"starter\" is used twice",
            ),
            (
                "empty name",
                |c| c.tiers[0].name = "  ".into(),
                "tiers[0] \"starter\".name: must be between 1 and 80",
            ),
            (
                "bad price",
                |c| c.tiers[0].monthly_price = "forty-nine".into(),
                "tiers[0] \"starter\".monthly_price: \"forty-nine\" is not an amount",
            ),
            (
                "sub-cent price",
                |c| c.tiers[0].monthly_price = "49.999".into(),
                "more than 2 decimal places",
            ),
            (
                "annual dearer",
                |c| c.tiers[0].annual_price = "600".into(),
                "tiers[0] \"starter\".annual_price: $600 costs more than twelve monthly payments ($588)",
            ),
            (
                "not ascending",
                |c| {
                    c.tiers[1].monthly_price = "9".into();
                    c.tiers[1].annual_price = "99".into();
                },
                "tiers[1] \"pro\".monthly_price: tiers go cheapest first",
            ),
            (
                "zero limit",
                |c| c.tiers[0].limits.users = RawLimit::Number(0),
                "tiers[0] \"starter\".limits.users: must be a whole number of at least 1 or \"unlimited\"",
            ),
            (
                "word limit",
                |c| c.tiers[0].limits.storage_gb = RawLimit::Word("lots".into()),
                "limits.storage_gb: must be a whole number",
            ),
            (
                "shrinking limit",
                |c| c.tiers[1].limits.users = RawLimit::Number(2),
                "tiers[1] \"pro\".limits.users: is lower than in the cheaper tier \"starter\"",
            ),
            (
                "two recommended",
                |c| c.tiers[0].recommended = true,
                "tiers: at most one tier can be recommended",
            ),
            (
                "free add-on",
                |c| c.add_ons[0].monthly_unit_price = "0".into(),
                "add_ons[0] \"extra_user\".monthly_unit_price: an add-on must cost something",
            ),
            (
                "zero cap",
                |c| c.add_ons[0].max_quantity = Some(0),
                "add_ons[0] \"extra_user\".max_quantity: must be a whole number of at least 1",
            ),
            (
                "duplicate add-on",
                |c| c.add_ons[1].key = "extra_user".into(),
                "add_ons[1] \"extra_user\".key: \"extra_user\" is used twice",
            ),
            (
                "no groups",
                |c| c.feature_groups.clear(),
                "feature_groups: at least one feature group is needed",
            ),
            (
                "empty group",
                |c| c.feature_groups[0].features.clear(),
                "feature_groups[0] \"core\".features: a group needs at least one feature",
            ),
            (
                "unknown tier",
                |c| c.feature_groups[0].features[0].included_from = "gold".into(),
                "feature_groups[0] \"core\".features[0] \"sso\".included_from: \"gold\" is not a tier",
            ),
            (
                "duplicate feature",
                |c| c.feature_groups[0].features[1].key = "sso".into(),
                "features[1] \"sso\".key: \"sso\" is used twice",
            ),
            (
                "long trial",
                |c| c.trial.days = 365,
                "trial.days: must be between 1 and 90",
            ),
            (
                "no trial",
                |c| c.trial.days = 0,
                "trial.days: must be between 1 and 90",
            ),
            (
                "trial tier",
                |c| c.trial.default_tier = "gold".into(),
                "trial.default_tier: \"gold\" is not a tier",
            ),
        ];
        for (case, edit, message) in cases {
            let mut catalog = raw("");
            edit(&mut catalog);
            let error = assert_err!(Catalog::validate(catalog), "case {case} should fail");
            assert!(
                error.to_string().contains(message),
                "case {case}: expected {message:?} in {:?}",
                error.to_string()
            );
        }
    }

    #[test]
    fn a_catalogue_can_grow_a_fourth_tier() {
        let extra = r#", {"key": "ultimate", "name": "Ultimate", "monthly_price": "1999", "annual_price": "19999",
            "limits": {"users": "unlimited", "workspaces": "unlimited", "storage_gb": "unlimited"}}"#;
        let catalog = assert_ok!(Catalog::validate(raw(extra)));
        assert_eq!(catalog.tiers.len(), 4);
    }
}
