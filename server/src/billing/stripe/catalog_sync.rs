//! The catalogue at Stripe: products and prices created or updated by
//! lookup key, and where Stripe differs from the catalogue.

use app::billing::domain::IntervalUnit;
use app::billing::domain::{PriceKey, PriceKind};
use app::billing::provider::ProviderError;
use app::catalog::domain::Catalog;
use std::collections::HashMap;
use stripe::{StripeError, StripeRequest};
use stripe_product::price::{
    CreatePrice, CreatePriceRecurring, CreatePriceRecurringInterval, ListPrice, UpdatePrice,
};
use stripe_product::product::{CreateProduct, RetrieveProduct};
use stripe_types::Currency;

use super::convert::interval;
use super::provider::{StripeProvider, idempotent, provider_error};

impl StripeProvider {
    /// Creates or updates Stripe's products and prices so every catalogue
    /// price exists under its lookup key with the catalogue's amount. Prices
    /// cannot change amount at Stripe: a changed amount gets a new price that
    /// takes the lookup key over. Returns one line per change made.
    pub async fn sync_catalog(&self, catalog: &Catalog) -> Result<Vec<String>, ProviderError> {
        let mut changes = Vec::new();
        let keys = PriceKey::all_for(catalog);
        let existing = self.prices_by_lookup_key(&keys).await?;
        for key in &keys {
            let Some(amount) = key.catalog_amount(catalog) else {
                continue;
            };
            let product_id = format!("gatehouse_{}_{}", kind_word(key.kind), key.key);
            let lookup_key = key.lookup_key();
            let currency = catalog.currency.code().to_lowercase();
            if let Some(price) = existing.get(&lookup_key)
                && price.unit_amount == Some(amount)
                && price.currency.to_string() == currency
                && price
                    .recurring
                    .as_ref()
                    .is_some_and(|r| interval(&r.interval) == key.interval())
            {
                self.record_price(&lookup_key, price.id.as_str(), &product_id, amount, &currency)
                    .await?;
                if !price.active {
                    UpdatePrice::new(price.id.clone())
                        .active(true)
                        .send(&self.client)
                        .await
                        .map_err(provider_error)?;
                    changes.push(format!("{lookup_key}: reactivated"));
                }
                continue;
            }
            self.ensure_product(&product_id, &product_name(catalog, key))
                .await?;
            let recurring_interval = match key.interval() {
                IntervalUnit::Year => CreatePriceRecurringInterval::Year,
                _ => CreatePriceRecurringInterval::Month,
            };
            // Stripe's currency list takes any code (unknown ones too).
            let Ok(stripe_currency) = currency.parse::<Currency>();
            let created = CreatePrice::new(stripe_currency)
                .product(product_id.clone())
                .unit_amount(amount)
                .lookup_key(lookup_key.clone())
                .transfer_lookup_key(true)
                .recurring(CreatePriceRecurring::new(recurring_interval))
                .customize()
                .request_strategy(idempotent(&format!("price:{lookup_key}:{amount}:{currency}"))?)
                .send(&self.client)
                .await
                .map_err(provider_error)?;
            self.record_price(&lookup_key, created.id.as_str(), &product_id, amount, &currency)
                .await?;
            changes.push(match existing.get(&lookup_key) {
                Some(old) => format!(
                    "{lookup_key}: new price {} ({amount}) replaces {} ({})",
                    created.id,
                    old.id,
                    old.unit_amount.unwrap_or_default()
                ),
                None => format!("{lookup_key}: created price {} ({amount})", created.id),
            });
        }
        Ok(changes)
    }

    /// What differs between the catalogue and Stripe, one line each; empty
    /// when they match.
    pub async fn catalog_differences(&self, catalog: &Catalog) -> Result<Vec<String>, ProviderError> {
        let keys = PriceKey::all_for(catalog);
        let existing = self.prices_by_lookup_key(&keys).await?;
        let mut differences = Vec::new();
        for key in &keys {
            let lookup_key = key.lookup_key();
            let Some(amount) = key.catalog_amount(catalog) else {
                continue;
            };
            match existing.get(&lookup_key) {
                None => differences.push(format!("{lookup_key}: missing at Stripe (catalogue: {amount})")),
                Some(price) if price.unit_amount != Some(amount) => differences.push(format!(
                    "{lookup_key}: Stripe has {}, the catalogue {amount}",
                    price.unit_amount.unwrap_or_default()
                )),
                Some(price) if !price.active => differences.push(format!("{lookup_key}: inactive at Stripe")),
                Some(_) => {}
            }
        }
        Ok(differences)
    }

    async fn prices_by_lookup_key(
        &self,
        keys: &[PriceKey],
    ) -> Result<HashMap<String, stripe_shared::Price>, ProviderError> {
        let mut found = HashMap::new();
        // Stripe takes at most ten lookup keys per list call.
        for chunk in keys.chunks(10) {
            let lookup_keys: Vec<String> = chunk.iter().map(PriceKey::lookup_key).collect();
            let page = ListPrice::new()
                .lookup_keys(lookup_keys)
                .limit(100)
                .send(&self.client)
                .await
                .map_err(provider_error)?;
            for price in page.data {
                if let Some(key) = price.lookup_key.clone() {
                    found.insert(key, price);
                }
            }
        }
        Ok(found)
    }

    async fn ensure_product(&self, product_id: &str, name: &str) -> Result<(), ProviderError> {
        match RetrieveProduct::new(product_id).send(&self.client).await {
            Ok(_) => Ok(()),
            Err(StripeError::Stripe(_, 404)) => CreateProduct::new(name)
                .id(product_id)
                .customize()
                .request_strategy(idempotent(&format!("product:{product_id}"))?)
                .send(&self.client)
                .await
                .map(|_| ())
                .map_err(provider_error),
            Err(error) => Err(provider_error(error)),
        }
    }

    async fn record_price(
        &self,
        lookup_key: &str,
        price_id: &str,
        product_id: &str,
        amount: i64,
        currency: &str,
    ) -> Result<(), ProviderError> {
        let price = app::billing::db::prices::ProviderPrice {
            lookup_key,
            price_id,
            product_id,
            amount,
            currency,
        };
        app::billing::db::prices::record_price(
            &self.pool,
            app::billing::provider::ProviderName::Stripe,
            price,
        )
        .await
        .map_err(|e| ProviderError::Unexpected(e.to_string()))?;
        Ok(())
    }
}

fn kind_word(kind: PriceKind) -> &'static str {
    match kind {
        PriceKind::Tier => "tier",
        PriceKind::AddOn => "add_on",
    }
}

fn product_name(catalog: &Catalog, key: &PriceKey) -> String {
    match key.kind {
        PriceKind::Tier => catalog
            .tier(&key.key)
            .map_or(key.key.clone(), |t| format!("{} plan", t.name)),
        PriceKind::AddOn => catalog
            .add_ons
            .iter()
            .find(|a| a.key == key.key)
            .map_or(key.key.clone(), |a| a.name.clone()),
    }
}
