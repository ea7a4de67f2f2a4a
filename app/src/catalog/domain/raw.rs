//! The catalogue file's shape, as an operator writes it (TOML, read through
//! serde); nothing here is checked yet: see [`super::Catalog::validate`].

use serde::Deserialize;

/// A catalogue exactly as written in the file, before validation.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCatalog {
    /// See [`Catalog::version`](super::Catalog::version).
    pub version: u32,
    /// ISO 4217 code.
    pub currency: String,
    /// See [`TrialTerms`](super::TrialTerms).
    pub trial: RawTrial,
    /// See [`CollectionTerms`](super::CollectionTerms); defaults when left out.
    #[serde(default)]
    pub collection: Option<RawCollection>,
    /// What the tiers' limits measure; a tier gives a limit for each.
    #[serde(default)]
    pub metrics: Vec<RawMetric>,
    /// Tiers, cheapest first.
    #[serde(default)]
    pub tiers: Vec<RawTier>,
    /// Add-ons any tier can buy on top (none if left out).
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
    /// Days before the end each reminder goes out (default 7, 3 and 1).
    #[serde(default)]
    pub reminder_days: Option<Vec<i64>>,
}

/// What happens to unpaid invoices, as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCollection {
    /// Days past due before an organisation is restricted.
    pub grace_days: i64,
}

/// A tier as written; prices are decimal strings in major units ("49.00").
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTier {
    /// See [`Tier::key`](super::Tier::key).
    pub key: String,
    /// See [`Tier::name`](super::Tier::name).
    pub name: String,
    /// See [`Tier::tagline`](super::Tier::tagline).
    #[serde(default)]
    pub tagline: String,
    /// See [`Tier::recommended`](super::Tier::recommended).
    #[serde(default)]
    pub recommended: bool,
    /// Decimal amount in major units.
    pub monthly_price: String,
    /// Decimal amount in major units.
    pub annual_price: String,
    /// What the tier allows.
    pub limits: RawLimits,
}

/// Quotas as written: one per metric key, each a whole number or `"unlimited"`.
pub type RawLimits = std::collections::BTreeMap<String, RawLimit>;

/// A metered quantity as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMetric {
    /// See [`Metric::key`](super::Metric::key).
    pub key: String,
    /// See [`Metric::name`](super::Metric::name).
    pub name: String,
    /// See [`Metric::unit`](super::Metric::unit).
    pub unit: String,
    /// See [`Metric::units`](super::Metric::units).
    pub units: String,
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
    /// See [`AddOn::key`](super::AddOn::key).
    pub key: String,
    /// See [`AddOn::name`](super::AddOn::name).
    pub name: String,
    /// See [`AddOn::unit`](super::AddOn::unit).
    pub unit: String,
    /// Decimal amount in major units per unit per month.
    pub monthly_unit_price: String,
    /// See [`AddOn::max_quantity`](super::AddOn::max_quantity).
    #[serde(default)]
    pub max_quantity: Option<i64>,
    /// See [`AddOn::raises`](super::AddOn::raises): a metric key.
    #[serde(default)]
    pub raises: Option<String>,
    /// How much one unit raises that metric's limit (1 if left out).
    #[serde(default)]
    pub per_unit: Option<i64>,
}

/// A feature group as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFeatureGroup {
    /// See [`FeatureGroup::key`](super::FeatureGroup::key).
    pub key: String,
    /// See [`FeatureGroup::name`](super::FeatureGroup::name).
    pub name: String,
    /// The features.
    #[serde(default)]
    pub features: Vec<RawFeature>,
}

/// A feature as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFeature {
    /// See [`Feature::key`](super::Feature::key).
    pub key: String,
    /// See [`Feature::name`](super::Feature::name).
    pub name: String,
    /// Tier key.
    pub included_from: String,
}
