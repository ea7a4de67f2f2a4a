//! The change listener: one Postgres connection per process that hears
//! every process's change notices and drops what they name from this
//! process's caches, which answer only while it listens.

use crate::AppState;
use crate::host_api::keys::{API_KEYS_CHANGED_CHANNEL, KeyCache};
use crate::session_cache::{CachedSessionStore, SESSIONS_CHANGED_CHANNEL};
use app::accounts::users::{USERS_CHANGED_CHANNEL, UserCache};
use app::billing::page_cache::BillingPageCache;
use app::catalog::cache::CatalogCache;
use app::catalog::db::CATALOG_CHANGED_CHANNEL;
use app::entitlements::cache::{ENTITLEMENTS_CHANGED_CHANNEL, StandingCache};
use app::entitlements::history_cache::SnapshotHistoryCache;
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use std::time::Duration;

/// The caches a notice may name: clones of the state's handles.
struct ProcessCaches {
    catalog: CatalogCache,
    standings: StandingCache,
    keys: KeyCache,
    sessions: CachedSessionStore,
    users: UserCache,
    billing_pages: BillingPageCache,
    snapshot_histories: SnapshotHistoryCache,
}

impl ProcessCaches {
    fn of(state: &AppState) -> Self {
        ProcessCaches {
            catalog: state.catalog.clone(),
            standings: state.standings.clone(),
            keys: state.api_keys.clone(),
            sessions: state.sessions.clone(),
            users: state.users.clone(),
            billing_pages: state.billing_pages.clone(),
            snapshot_histories: state.snapshot_histories.clone(),
        }
    }

    /// Whether notices are being heard: the notice caches answer only then
    /// and start empty each time that changes; the catalogue is read afresh.
    fn set_live(&self, live: bool) {
        self.catalog.invalidate();
        self.standings.set_live(live);
        self.keys.set_live(live);
        self.sessions.set_live(live);
        self.users.set_live(live);
        self.billing_pages.set_live(live);
        self.snapshot_histories.set_live(live);
    }

    fn apply(&self, channel: &str, payload: &str) {
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

/// Keeps this process's caches (catalogue, standings, API keys, sessions,
/// users, billing pages, usage histories) current: listens for every
/// process's change notices and drops what changed. On a lost connection
/// the caches are emptied and stop answering (a notice may be missed) until
/// it listens again.
pub fn spawn_change_listener(pool: PgPool, state: &AppState) {
    let caches = ProcessCaches::of(state);
    let channels = [
        USERS_CHANGED_CHANNEL,
        CATALOG_CHANGED_CHANNEL,
        ENTITLEMENTS_CHANGED_CHANNEL,
        API_KEYS_CHANGED_CHANNEL,
        SESSIONS_CHANGED_CHANNEL,
    ];
    tokio::spawn(async move {
        // Stops when the pool is closed at shutdown.
        while !pool.is_closed() {
            match PgListener::connect_with(&pool).await {
                Ok(mut listener) => {
                    if let Err(error) = listener.listen_all(channels).await {
                        tracing::warn!(%error, "could not listen for changes");
                    } else {
                        caches.set_live(true);
                        while let Ok(notice) = listener.recv().await {
                            caches.apply(notice.channel(), notice.payload());
                        }
                    }
                }
                Err(error) if pool.is_closed() => tracing::debug!(%error, "change listener stopped"),
                Err(error) => tracing::warn!(%error, "change listener could not connect"),
            }
            caches.set_live(false);
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
}
