//! The provider's prices, as the catalogue sync recorded them: each of the
//! catalogue's lookup keys and the provider's price id for it.

use super::super::provider::ProviderName;
use sqlx::PgPool;
use std::collections::HashMap;

/// The provider's price id of each of `lookup_keys` that has one.
pub async fn price_ids(
    pool: &PgPool,
    provider: ProviderName,
    lookup_keys: &[String],
) -> Result<HashMap<String, String>, sqlx::Error> {
    // language=PostgreSQL
    let rows = sqlx::query!(
        "select lookup_key, provider_price_id from provider_price where provider = $1 and lookup_key = any($2)",
        provider.as_str(),
        lookup_keys
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.lookup_key, r.provider_price_id))
        .collect())
}

/// One price the provider holds for a lookup key.
#[derive(Debug, Clone, Copy)]
pub struct ProviderPrice<'a> {
    /// The catalogue's lookup key.
    pub lookup_key: &'a str,
    /// The provider's price id.
    pub price_id: &'a str,
    /// The provider's product id.
    pub product_id: &'a str,
    /// Its amount, in minor units.
    pub amount: i64,
    /// Its currency.
    pub currency: &'a str,
}

/// Records (or replaces) the provider's price for its lookup key.
pub async fn record_price(
    pool: &PgPool,
    provider: ProviderName,
    price: ProviderPrice<'_>,
) -> Result<(), sqlx::Error> {
    // language=PostgreSQL
    sqlx::query!(
        r#"
        insert into provider_price (provider, lookup_key, provider_price_id, provider_product_id, unit_amount, currency)
        values ($1, $2, $3, $4, $5, upper($6))
        on conflict (provider, lookup_key) do update
            set provider_price_id = excluded.provider_price_id, provider_product_id = excluded.provider_product_id,
                unit_amount = excluded.unit_amount, currency = excluded.currency, synced_at = now()
        "#,
        provider.as_str(),
        price.lookup_key,
        price.price_id,
        price.product_id,
        price.amount,
        price.currency
    )
    .execute(pool)
    .await?;
    Ok(())
}
