//! Prices for a choice of tier, cycle and add-ons, line by line.

use super::{BillingCycle, Catalog, QuantityError};
use crate::catalog::money::Money;
use serde::{Deserialize, Serialize};

/// One priced line of a [`Quote`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuoteLine {
    /// What is charged for.
    pub description: String,
    /// How many units the line prices (1 for the tier).
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
        /// Why the quantity cannot be priced.
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
    use crate::catalog::domain::fixtures::valid;
    use claims::assert_err;

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
}
