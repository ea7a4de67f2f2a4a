//! Server functions of the catalogue.

use super::domain::Catalog;
use crate::error::AppError;
use leptos::prelude::*;
use leptos::server_fn::codec::GetUrl;

/// The live catalogue, as the pricing page shows it. Public: no sign-in.
#[server(prefix = "/api", endpoint = "pricing", input = GetUrl)]
pub async fn get_pricing() -> Result<Catalog, AppError> {
    let context = crate::context::app_context()?;
    let catalog_cache = crate::catalog::cache::catalog_cache()?;
    let catalog = catalog_cache.get(&context.pool).await?;
    Ok((*catalog).clone())
}
