//! A per-process cache of organisations' standings, for the host API and the
//! portal's pages, which read entitlements far more often than they change.
//!
//! Database triggers NOTIFY [`ENTITLEMENTS_CHANGED_CHANNEL`] with the
//! organisation's id whenever anything the entitlement read draws on
//! changes (organisation, subscription and items, overrides, usage,
//! members, invitations), so no writer can forget to. The server's change
//! listener drops the entry, or everything on `*` and whenever its
//! connection is lost; while it is not listening the cache answers nothing
//! and every read goes to the database. An entry also ends by itself at the
//! first instant its answer could change with time alone (a trial, period,
//! override or invitation ending), and with the catalogue it was resolved
//! against.

use super::db::{OrganizationAddress, organization_state};
use super::guard::{Standing, standing_of};
use crate::catalog::domain::Catalog;
use crate::notice_cache::NoticeCache;
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use std::sync::{Arc, OnceLock};
use uuid::Uuid;

/// The channel the triggers of migration `20261205000001` notify: an
/// organisation id, or `*` for all.
pub const ENTITLEMENTS_CHANGED_CHANNEL: &str = "gatehouse_entitlements";

/// Organisations kept before the cache starts again empty: bounded memory
/// (an entry is about a kilobyte) without bookkeeping on every read.
const MAX_ENTRIES: usize = 20_000;

/// One organisation's standing as read at `loaded_at`, and its answer once
/// rendered.
#[derive(Debug)]
pub struct CachedStanding {
    /// The standing.
    pub standing: Standing,
    loaded_at: DateTime<Utc>,
    valid_until: Option<DateTime<Utc>>,
    catalog_generation: u64,
    rendered: OnceLock<Rendered>,
}

/// A response body made from a standing, with its entity tag.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// The body.
    pub body: axum::body::Bytes,
    /// Its `ETag` (quoted).
    pub etag: String,
}

impl CachedStanding {
    /// The body `render` makes of this standing, made once per entry.
    pub fn rendered(&self, render: impl FnOnce(&Standing) -> Rendered) -> &Rendered {
        self.rendered.get_or_init(|| render(&self.standing))
    }

    fn answers_at(&self, now: DateTime<Utc>, catalog_generation: u64) -> bool {
        self.catalog_generation == catalog_generation
            && self.loaded_at <= now
            && self.valid_until.is_none_or(|end| now < end)
    }
}

/// Shared handle to this process's cached standings; clones share it.
#[derive(Clone)]
pub struct StandingCache {
    by_id: NoticeCache<Uuid, Arc<CachedStanding>>,
    // The host product's ids; an entry found through one is checked against
    // the standing's own, so a mapping left behind by a change answers nothing.
    by_external: NoticeCache<String, Uuid>,
}

impl Default for StandingCache {
    fn default() -> Self {
        StandingCache {
            by_id: NoticeCache::new(MAX_ENTRIES),
            by_external: NoticeCache::new(MAX_ENTRIES),
        }
    }
}

impl StandingCache {
    /// The standing of the organisation at `address` at `now`, from the
    /// cache or read (and kept); `None` if there is no such organisation.
    /// `catalog_generation` is the catalogue cache's generation read before
    /// `catalog` was.
    pub async fn standing(
        &self,
        pool: &PgPool,
        catalog: &Catalog,
        catalog_generation: u64,
        address: &OrganizationAddress,
        now: DateTime<Utc>,
    ) -> Result<Option<Arc<CachedStanding>>, sqlx::Error> {
        if let Some(hit) = self.get(address, now, catalog_generation) {
            return Ok(Some(hit));
        }
        let (read_by_id, read_by_external) = (self.by_id.read_started(), self.by_external.read_started());
        let Some(state) = organization_state(pool, address, now).await? else {
            return Ok(None);
        };
        let valid_until = [state.facts.next_change_after(now), state.next_invitation_expiry]
            .into_iter()
            .flatten()
            .min();
        let entry = Arc::new(CachedStanding {
            standing: standing_of(catalog, state, now),
            loaded_at: now,
            valid_until,
            catalog_generation,
            rendered: OnceLock::new(),
        });
        let header = &entry.standing.header;
        if let Some(external) = &header.external_id {
            self.by_external
                .keep(read_by_external, external.clone(), header.id);
        }
        self.by_id.keep(read_by_id, header.id, entry.clone());
        Ok(Some(entry))
    }

    fn get(
        &self,
        address: &OrganizationAddress,
        now: DateTime<Utc>,
        catalog_generation: u64,
    ) -> Option<Arc<CachedStanding>> {
        let (id, external) = match address {
            OrganizationAddress::Id(id) => (*id, None),
            OrganizationAddress::External(external) => {
                (self.by_external.get(external.as_str())?, Some(external))
            }
        };
        self.by_id.get(&id).filter(|entry| {
            entry.answers_at(now, catalog_generation)
                && external
                    .is_none_or(|external| entry.standing.header.external_id.as_ref() == Some(external))
        })
    }

    /// Drops one organisation's entry (a notice arrived, or this process
    /// just changed it).
    pub fn invalidate(&self, organization_id: Uuid) {
        if let Some(entry) = self.by_id.forget(&organization_id)
            && let Some(external) = &entry.standing.header.external_id
        {
            self.by_external
                .forget_if(external.as_str(), |id| *id == organization_id);
        }
    }

    /// Drops every entry.
    pub fn invalidate_all(&self) {
        self.by_id.forget_all();
        self.by_external.forget_all();
    }

    /// Applies one notice from [`ENTITLEMENTS_CHANGED_CHANNEL`].
    pub fn apply_notice(&self, payload: &str) {
        match Uuid::parse_str(payload) {
            Ok(id) => self.invalidate(id),
            Err(_) => self.invalidate_all(),
        }
    }

    /// One heartbeat of the change listener: entries age by one (see
    /// [`crate::notice_cache::MAX_AGE_TICKS`]).
    pub fn tick(&self) {
        self.by_id.tick();
        self.by_external.tick();
    }

    /// Whether notices are being received; the cache answers only then, and
    /// starts empty each time that changes.
    pub fn set_live(&self, live: bool) {
        self.by_id.set_live(live);
        self.by_external.set_live(live);
    }

    /// How many organisations are cached.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// This process's standings, as the server provided them to the request.
#[cfg(feature = "ssr")]
pub fn standing_cache() -> Result<StandingCache, crate::error::AppError> {
    crate::context::provided()
}
