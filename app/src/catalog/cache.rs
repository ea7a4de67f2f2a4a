//! A per-process read cache of the stored catalogue.
//!
//! The catalogue changes only through a sync, which announces itself with a
//! Postgres NOTIFY; every process listens and drops its copy. The cache is a
//! copy of Postgres state, never the source of it, so any number of processes
//! stay consistent.

use super::db::{LoadCatalogError, load_catalog};
use super::domain::Catalog;
use sqlx::PgPool;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

/// Shared handle to the cached catalogue.
#[derive(Clone, Default)]
pub struct CatalogCache {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    current: RwLock<Option<Arc<Catalog>>>,
    // Bumped on every invalidation, so a load that started before one is not stored.
    generation: AtomicU64,
}

impl CatalogCache {
    /// The catalogue, from the cache or read from the database.
    pub async fn get(&self, pool: &PgPool) -> Result<Arc<Catalog>, LoadCatalogError> {
        if let Some(catalog) = self.read() {
            return Ok(catalog);
        }
        let generation = self.inner.generation.load(Ordering::Acquire);
        let mut conn = pool.acquire().await?;
        let catalog = Arc::new(load_catalog(&mut conn).await?);
        if let Ok(mut slot) = self.inner.current.write()
            && self.inner.generation.load(Ordering::Acquire) == generation
        {
            *slot = Some(catalog.clone());
        }
        Ok(catalog)
    }

    /// Drops the cached copy; the next read goes to the database.
    pub fn invalidate(&self) {
        self.inner.generation.fetch_add(1, Ordering::AcqRel);
        if let Ok(mut slot) = self.inner.current.write() {
            *slot = None;
        }
    }

    /// Changes whenever the cached catalogue is dropped; pages derived from
    /// the catalogue are stale once it moves.
    pub fn generation(&self) -> u64 {
        self.inner.generation.load(Ordering::Acquire)
    }

    fn read(&self) -> Option<Arc<Catalog>> {
        self.inner.current.read().ok().and_then(|slot| slot.clone())
    }
}

/// This process's catalogue cache, as the server provided it to the request.
#[cfg(feature = "ssr")]
pub fn catalog_cache() -> Result<CatalogCache, crate::error::AppError> {
    crate::context::provided()
}
