//! The session store: tower-sessions' Postgres store behind a per-process
//! cache, so a signed-in page does not read its session from the database
//! on every request.
//!
//! Postgres stays the only place a session lives: every create, save and
//! delete is written through to it first. A trigger (migration
//! `20261205000002`) notifies [`SESSIONS_CHANGED_CHANNEL`] with the id of
//! every session row updated or deleted, and the change listener drops that
//! id in every process; while the listener is not connected, the cache
//! answers nothing. A session signed out on one process is refused by the
//! others once the notice arrives (milliseconds); what ends sessions for
//! security (a password change) is checked against the user's row on every
//! request, not through this cache.

use app::clock::Clock;
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use tower_sessions::cookie::time::OffsetDateTime;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, SessionStore};
use tower_sessions_sqlx_store::PostgresStore;

/// The channel the session table's trigger notifies with a session's id.
pub const SESSIONS_CHANGED_CHANNEL: &str = "gatehouse_sessions";

/// Sessions kept before the cache starts again empty.
const MAX_SESSIONS: usize = 50_000;

#[derive(Debug, Default)]
struct Cached {
    live: AtomicBool,
    // Bumped by every invalidation, so a read that began before one is not stored.
    epoch: AtomicU64,
    records: RwLock<HashMap<Id, Record>>,
}

/// The Postgres session store with this process's cache in front.
#[derive(Debug, Clone)]
pub struct CachedSessionStore {
    store: PostgresStore,
    cached: Arc<Cached>,
    clock: Clock,
}

impl CachedSessionStore {
    /// The store over `store`, judging expiry by `clock`.
    pub fn new(store: PostgresStore, clock: Clock) -> Self {
        CachedSessionStore {
            store,
            cached: Arc::default(),
            clock,
        }
    }

    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(self.clock.now().timestamp())
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    /// The cached record, if the cache is answering (the read lock is
    /// released before this returns).
    fn cached(&self, id: &Id) -> Option<Record> {
        if !self.cached.live.load(Ordering::Acquire) {
            return None;
        }
        let records = self.cached.records.read().ok()?;
        records.get(id).cloned()
    }

    fn keep(&self, epoch: u64, record: &Record) {
        let Ok(mut records) = self.cached.records.write() else {
            return;
        };
        if !self.cached.live.load(Ordering::Acquire) || self.cached.epoch.load(Ordering::Acquire) != epoch {
            return;
        }
        if records.len() >= MAX_SESSIONS {
            records.clear();
        }
        records.insert(record.id, record.clone());
    }

    fn forget(&self, id: &Id) {
        if let Ok(mut records) = self.cached.records.write() {
            self.cached.epoch.fetch_add(1, Ordering::AcqRel);
            records.remove(id);
        }
    }

    /// Applies one notice from [`SESSIONS_CHANGED_CHANNEL`].
    pub fn apply_notice(&self, payload: &str) {
        match payload.parse::<Id>() {
            Ok(id) => self.forget(&id),
            Err(_) => self.invalidate_all(),
        }
    }

    /// Drops every cached session.
    pub fn invalidate_all(&self) {
        if let Ok(mut records) = self.cached.records.write() {
            self.cached.epoch.fetch_add(1, Ordering::AcqRel);
            records.clear();
        }
    }

    /// Whether notices are being received; the cache answers only then.
    pub fn set_live(&self, live: bool) {
        self.invalidate_all();
        self.cached.live.store(live, Ordering::Release);
        self.invalidate_all();
    }

    /// How many sessions this process holds.
    pub fn len(&self) -> usize {
        self.cached.records.read().map_or(0, |r| r.len())
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[async_trait]
impl SessionStore for CachedSessionStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        self.store.create(record).await
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        // The row's trigger will drop this id everywhere; until then this
        // process must not answer with the old record.
        self.forget(&record.id);
        self.store.save(record).await
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        if let Some(record) = self.cached(id) {
            if record.expiry_date > self.now() {
                return Ok(Some(record));
            }
            self.forget(id);
        }
        let epoch = self.cached.epoch.load(Ordering::Acquire);
        let record = self.store.load(id).await?;
        if let Some(record) = &record {
            self.keep(epoch, record);
        }
        Ok(record)
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        self.forget(id);
        self.store.delete(id).await
    }
}
