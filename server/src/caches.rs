//! The cache registry: every cache a process holds, in one list
//! ([`ProcessCaches`]), and what empties each. A cache answers only while
//! its process provably hears every notice (`app/src/notice_cache.rs`); the
//! change listener (`change_listener.rs`) hears the notices and hands each
//! to `ProcessCaches::apply`, and the process that writes drops what it
//! changed before it answers (`own_writes.rs`).
//!
//! Every trigger that sends a notice is made by one SQL function,
//! `notify_on_change(table, channel, …)` (migration `20261216000001`, where
//! each table's call stands):
//!
//! | table | channel (payload) | caches the notice drops |
//! |---|---|---|
//! | `plan`, `add_on`, `feature`… (the catalogue sync's own `NOTIFY`) | `gatehouse_catalog_changed` | catalogue |
//! | `organization`, `subscription`, `subscription_item`, `entitlement_override`, `usage_counter`, `membership`, `invitation`, `invoice`, `sandbox_customer`, `usage_snapshot` | `gatehouse_entitlements` (an organisation's id, or `*`) | standings, billing pages and snapshot histories of that organisation |
//! | `tower_sessions.session` (updated or deleted) | `gatehouse_sessions` (a session id, or `*`) | that session |
//! | `app_user`, `membership`, `organization` (renamed) | `gatehouse_users` (a user's id, or `*`) | that user |
//! | `api_key` (scope, hash or revocation changed; deleted) | `gatehouse_api_keys` | every API key |
//!
//! A lost listener connection empties them all (`ProcessCaches::set_live`);
//! each heartbeat heard ages every entry (`ProcessCaches::tick`), so none
//! answers for more than ten heartbeats.

use crate::host_api::keys::{API_KEYS_CHANGED_CHANNEL, KeyCache};
use crate::session_cache::{CachedSessionStore, SESSIONS_CHANGED_CHANNEL};
use app::accounts::users::{USERS_CHANGED_CHANNEL, UserCache};
use app::billing::page_cache::BillingPageCache;
use app::catalog::cache::CatalogCache;
use app::catalog::db::CATALOG_CHANGED_CHANNEL;
use app::entitlements::cache::{ENTITLEMENTS_CHANGED_CHANNEL, StandingCache};
use app::entitlements::history_cache::SnapshotHistoryCache;
use sqlx::PgPool;
use tower_sessions_sqlx_store::PostgresStore;

/// Every process cache: the one list, whose clones share the caches.
#[derive(Clone)]
pub struct ProcessCaches {
    /// The catalogue.
    pub catalog: CatalogCache,
    /// Organisations' standings (and the host API's rendered answers).
    pub standings: StandingCache,
    /// API keys.
    pub keys: KeyCache,
    /// The session store, with this process's sessions in front.
    pub sessions: CachedSessionStore,
    /// Users behind sessions.
    pub users: UserCache,
    /// Billing-page reads.
    pub billing_pages: BillingPageCache,
    /// Usage snapshot histories.
    pub snapshot_histories: SnapshotHistoryCache,
}

impl ProcessCaches {
    /// The channels whose notices drop entries (the table above).
    pub const CHANNELS: [&'static str; 5] = [
        USERS_CHANGED_CHANNEL,
        CATALOG_CHANGED_CHANNEL,
        ENTITLEMENTS_CHANGED_CHANNEL,
        API_KEYS_CHANGED_CHANNEL,
        SESSIONS_CHANGED_CHANNEL,
    ];

    /// Empty caches, with the session store in front of `pool`.
    pub fn new(pool: &PgPool, clock: &app::clock::Clock) -> Self {
        ProcessCaches {
            catalog: CatalogCache::default(),
            standings: StandingCache::default(),
            keys: KeyCache::default(),
            sessions: CachedSessionStore::new(PostgresStore::new(pool.clone()), pool.clone(), clock.clone()),
            users: UserCache::default(),
            billing_pages: BillingPageCache::default(),
            snapshot_histories: SnapshotHistoryCache::default(),
        }
    }

    /// The caches of `state`.
    pub fn of(state: &crate::AppState) -> Self {
        state.caches.clone()
    }

    /// Whether notices are being heard: the notice caches answer only then
    /// and start empty each time that changes; the catalogue is read afresh.
    pub(crate) fn set_live(&self, live: bool) {
        self.catalog.invalidate();
        self.standings.set_live(live);
        self.keys.set_live(live);
        self.sessions.set_live(live);
        self.users.set_live(live);
        self.billing_pages.set_live(live);
        self.snapshot_histories.set_live(live);
    }

    /// One heartbeat heard: every entry ages by one.
    pub(crate) fn tick(&self) {
        self.standings.tick();
        self.keys.tick();
        self.sessions.tick();
        self.users.tick();
        self.billing_pages.tick();
        self.snapshot_histories.tick();
    }

    /// Drops every entry (the console changed something anywhere).
    pub fn forget_all(&self) {
        self.catalog.invalidate();
        self.standings.invalidate_all();
        self.keys.invalidate_all();
        self.sessions.forget_all();
        self.users.forget_all();
        self.billing_pages.forget_all();
        self.snapshot_histories.forget_all();
    }

    /// Drops what this process holds about one organisation.
    pub fn forget_organization(&self, organization_id: uuid::Uuid) {
        self.standings.invalidate(organization_id);
        self.billing_pages.invalidate(organization_id);
        self.snapshot_histories.invalidate(organization_id);
    }

    /// Drops every cached user.
    pub fn forget_users(&self) {
        self.users.forget_all();
    }

    pub(crate) fn apply(&self, channel: &str, payload: &str) {
        match channel {
            CATALOG_CHANGED_CHANNEL => self.catalog.invalidate(),
            ENTITLEMENTS_CHANGED_CHANNEL => {
                self.standings.apply_notice(payload);
                self.billing_pages.apply_notice(payload);
                self.snapshot_histories.apply_notice(payload);
            }
            SESSIONS_CHANGED_CHANNEL => self.sessions.apply_notice(payload),
            USERS_CHANGED_CHANNEL => self.users.apply_notice(payload),
            _ => self.keys.invalidate_all(),
        }
    }
}
