//! The extractors every `/api/v1` route starts from: the caller its key
//! names (authenticated and throttled), and the organisation its `{id}`
//! names with that organisation's standing. Each refuses in the API's
//! envelope, in this order: no or bad key (401), over budget (429), a read
//! key asked to write (403), no such organisation (404).

use super::error::ApiError;
use super::keys::{Authenticator, Caller, authenticate};
use crate::AppState;
use app::catalog::domain::Catalog;
use app::entitlements::cache::CachedStanding;
use app::entitlements::db::OrganizationAddress;
use app::security::throttle::Rate;
use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use std::sync::Arc;
use uuid::Uuid;

/// The key that authenticated the request (any scope).
pub struct Reader(pub Caller);

impl FromRequestParts<AppState> for Reader {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let authenticator = Authenticator {
            pool: &state.pool,
            throttle_pool: &state.throttle_pool,
            keys: &state.caches.keys,
            throttle: &state.api_throttle,
            rate: Rate {
                requests: state.settings.api_requests_per_minute,
                per_seconds: 60,
            },
        };
        authenticate(&authenticator, &parts.headers, state.clock.now())
            .await
            .map(Reader)
    }
}

/// A key with the write scope.
pub struct Writer;

impl FromRequestParts<AppState> for Writer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Reader(caller) = Reader::from_request_parts(parts, state).await?;
        caller.require_write()?;
        Ok(Writer)
    }
}

/// The organisation a write route's `{id}` names, asked by a write key;
/// not yet read: a write reads it inside its own transaction.
pub struct Addressed {
    /// Gatehouse's id or the host product's.
    pub address: OrganizationAddress,
}

impl FromRequestParts<AppState> for Addressed {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Writer::from_request_parts(parts, state).await?;
        let address = address_in_path(parts, state).await?;
        Ok(Addressed { address })
    }
}

/// The organisation a read route's `{id}` names, asked by any key, with its
/// standing (from this process's cache when it holds a current one) and the
/// catalogue it was resolved against.
pub struct Organization {
    /// The catalogue the standing was resolved against.
    pub catalog: Arc<Catalog>,
    /// The organisation's standing now.
    pub cached: Arc<CachedStanding>,
}

impl FromRequestParts<AppState> for Organization {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Reader::from_request_parts(parts, state).await?;
        let address = address_in_path(parts, state).await?;
        // The generation is read before the catalogue: a standing is stored
        // under the catalogue it was resolved against.
        let generation = state.caches.catalog.generation();
        let catalog = catalog(state).await?;
        let cached = state
            .caches
            .standings
            .standing(&state.pool, &catalog, generation, &address, state.clock.now())
            .await?
            .ok_or_else(ApiError::no_organization)?;
        Ok(Organization { catalog, cached })
    }
}

/// The catalogue, from this process's cache (the licence routes read it
/// too).
pub async fn catalog(state: &AppState) -> Result<Arc<Catalog>, ApiError> {
    state
        .caches
        .catalog
        .get(&state.pool)
        .await
        .map_err(|e| ApiError::internal("loading the catalogue", e))
}

async fn address_in_path(parts: &mut Parts, state: &AppState) -> Result<OrganizationAddress, ApiError> {
    let Path(raw) = Path::<String>::from_request_parts(parts, state)
        .await
        .map_err(|_| ApiError::no_organization())?;
    address(&raw)
}

/// `{id}` is Gatehouse's id; `ext:{external_id}` is the host product's.
fn address(raw: &str) -> Result<OrganizationAddress, ApiError> {
    match raw.strip_prefix("ext:") {
        Some(external) if !external.is_empty() && external.len() <= 200 => {
            Ok(OrganizationAddress::External(external.to_owned()))
        }
        Some(_) => Err(ApiError::no_organization()),
        None => Uuid::parse_str(raw)
            .map(OrganizationAddress::Id)
            .map_err(|_| ApiError::no_organization()),
    }
}

#[cfg(test)]
mod tests {
    use super::address;
    use app::entitlements::db::OrganizationAddress;

    #[test]
    fn an_id_is_a_uuid_or_ext_and_one_to_two_hundred_bytes() {
        let id = "0b8a3f52-3c55-4d8e-9a51-4f4f0d3c2a10";
        assert!(matches!(address(id), Ok(OrganizationAddress::Id(_))));
        for external in ["ext:a", "ext:acme-42", &format!("ext:{}", "x".repeat(200))] {
            assert!(
                matches!(address(external), Ok(OrganizationAddress::External(_))),
                "{external}"
            );
        }
        for bad in [
            "",
            "ext:",
            "42",
            "not-a-uuid",
            &format!("ext:{}", "x".repeat(201)),
            "EXT:acme",
        ] {
            assert!(address(bad).is_err(), "{bad:?}");
        }
    }
}
