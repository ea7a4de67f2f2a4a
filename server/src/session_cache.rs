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
//! security (a password change) is checked against the user's row, cached
//! the same way (`app::accounts::users`), on every request.

use app::clock::Clock;
use app::notice_cache::NoticeCache;
use async_trait::async_trait;
use tower_sessions::cookie::time::OffsetDateTime;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, SessionStore};
use tower_sessions_sqlx_store::PostgresStore;

/// The channel the session table's trigger notifies with a session's id.
pub const SESSIONS_CHANGED_CHANNEL: &str = "gatehouse_sessions";

/// Sessions kept before the cache starts again empty.
const MAX_SESSIONS: usize = 50_000;

/// The Postgres session store with this process's cache in front.
#[derive(Debug, Clone)]
pub struct CachedSessionStore {
    store: PostgresStore,
    pool: sqlx::PgPool,
    cached: NoticeCache<Id, Record>,
    clock: Clock,
}

impl CachedSessionStore {
    /// The store over `store`, judging expiry by `clock`.
    pub fn new(store: PostgresStore, pool: sqlx::PgPool, clock: Clock) -> Self {
        CachedSessionStore {
            store,
            pool,
            cached: NoticeCache::new(MAX_SESSIONS),
            clock,
        }
    }

    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(self.clock.now().timestamp())
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    /// Applies one notice from [`SESSIONS_CHANGED_CHANNEL`].
    pub fn apply_notice(&self, payload: &str) {
        self.cached.apply_notice(payload);
    }

    /// Drops every entry (a change this process made, whose reach it does
    /// not know, such as a console action).
    pub fn forget_all(&self) {
        self.cached.forget_all();
    }

    /// One heartbeat of the change listener: entries age by one (see
    /// [`app::notice_cache::MAX_AGE_TICKS`]).
    pub fn tick(&self) {
        self.cached.tick();
    }

    /// Whether notices are being received; the cache answers only then.
    pub fn set_live(&self, live: bool) {
        self.cached.set_live(live);
    }

    /// How many sessions this process holds.
    pub fn len(&self) -> usize {
        self.cached.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.cached.is_empty()
    }
}

#[async_trait]
impl SessionStore for CachedSessionStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        self.store.create(record).await
    }

    /// Saves an existing session by update only, never by upsert: a request
    /// still in flight when its session was deleted (signed out, cycled at
    /// sign-in) must not write it back. New sessions come through `create`.
    async fn save(&self, record: &Record) -> session_store::Result<()> {
        // The row's trigger will drop this id everywhere; until then this
        // process must not answer with the old record.
        self.cached.forget(&record.id);
        let data =
            rmp_serde::to_vec(record).map_err(|error| session_store::Error::Encode(error.to_string()))?;
        let expiry = record.expiry_date;
        let expiry = chrono::DateTime::from_timestamp(expiry.unix_timestamp(), expiry.nanosecond())
            .ok_or_else(|| session_store::Error::Encode("the expiry is out of range".to_owned()))?;
        app::accounts::db::update_session(&self.pool, &record.id.to_string(), &data, expiry)
            .await
            .map_err(|error| session_store::Error::Backend(error.to_string()))?;
        self.cached.forget(&record.id);
        Ok(())
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        if let Some(record) = self.cached.get(id) {
            if record.expiry_date > self.now() {
                return Ok(Some(record));
            }
            self.cached.forget(id);
        }
        let read = self.cached.read_started();
        let record = self.store.load(id).await?;
        if let Some(record) = &record {
            self.cached.keep(read, record.id, record.clone());
        }
        Ok(record)
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        self.cached.forget(id);
        self.store.delete(id).await
    }
}
