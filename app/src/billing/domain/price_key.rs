//! Price lookup keys: how a provider's price names the tier or add-on and
//! the cycle it bills, `gatehouse.tier.<key>.<cycle>` or
//! `gatehouse.add_on.<key>.<cycle>`; the one place that format is written.

use super::status::IntervalUnit;
use crate::catalog::domain::{BillingCycle, Catalog};
use serde::{Deserialize, Serialize};

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
        let cycle = BillingCycle::parse(cycle)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use claims::{assert_none, assert_some_eq};
    fn catalog() -> Catalog {
        crate::catalog::source::parse_catalog(include_str!("../../../../catalog/catalog.toml"))
            .expect("the shipped catalogue is valid")
            .catalog
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

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn cycles() -> impl Strategy<Value = BillingCycle> {
            prop::sample::select(vec![BillingCycle::Monthly, BillingCycle::Annual])
        }

        proptest! {
            #[test]
            fn every_key_reads_back_as_itself(
                key in "[a-z][a-z0-9_]{0,30}",
                add_on in any::<bool>(),
                cycle in cycles(),
            ) {
                let price = if add_on { PriceKey::add_on(&key, cycle) } else { PriceKey::tier(&key, cycle) };
                prop_assert_eq!(PriceKey::parse(&price.lookup_key()), Some(price));
            }

            #[test]
            fn whatever_reads_as_a_key_is_written_back_the_same(raw in "(gatehouse\\.)?(tier|add_on|x)?\\.?[a-z.]{0,12}\\.?(monthly|annual|weekly)?") {
                if let Some(price) = PriceKey::parse(&raw) {
                    prop_assert_eq!(price.lookup_key(), raw);
                }
            }

            #[test]
            fn foreign_lookup_keys_never_read_as_gatehouse_s(raw in ".{0,40}") {
                if let Some(price) = PriceKey::parse(&raw) {
                    prop_assert!(raw.starts_with("gatehouse."));
                    prop_assert_eq!(price.lookup_key(), raw);
                }
            }
        }
    }
}
