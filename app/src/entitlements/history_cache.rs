//! This process's copy of each organisation's recent usage snapshots, for
//! the usage section's chart. Snapshots are written every six hours and
//! read on every billing page; the insert announces the organisation on the
//! entitlements channel (migration `20261206000002`), so the change
//! listener drops what it replaces.

use super::usage::snapshot_history;
use crate::notice_cache::NoticeCache;
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use std::sync::Arc;
use uuid::Uuid;

/// Organisations kept before the cache starts again empty.
const MAX_ORGANIZATIONS: usize = 20_000;

/// One snapshot: metric, when it was taken, the value.
pub type SnapshotPoint = (String, DateTime<Utc>, u64);

#[derive(Debug)]
struct History {
    since: DateTime<Utc>,
    points: Vec<SnapshotPoint>,
}

/// Shared handle to this process's snapshot histories; clones share it.
#[derive(Debug, Clone)]
pub struct SnapshotHistoryCache {
    histories: NoticeCache<Uuid, Arc<History>>,
}

impl Default for SnapshotHistoryCache {
    fn default() -> Self {
        SnapshotHistoryCache {
            histories: NoticeCache::new(MAX_ORGANIZATIONS),
        }
    }
}

impl SnapshotHistoryCache {
    /// The organisation's snapshots taken at or after `since`, by metric and
    /// time, from the cache when it holds a history reaching back that far.
    pub async fn since(
        &self,
        pool: &PgPool,
        organization_id: Uuid,
        since: DateTime<Utc>,
    ) -> Result<Vec<SnapshotPoint>, sqlx::Error> {
        if let Some(history) = self.histories.get(&organization_id)
            && history.since <= since
        {
            return Ok(history
                .points
                .iter()
                .filter(|(_, at, _)| *at >= since)
                .cloned()
                .collect());
        }
        let read = self.histories.read_started();
        let points = snapshot_history(&mut *pool.acquire().await?, organization_id, since).await?;
        let history = Arc::new(History { since, points });
        self.histories.keep(read, organization_id, history.clone());
        Ok(history.points.clone())
    }

    /// Drops one organisation's history.
    pub fn invalidate(&self, organization_id: Uuid) {
        self.histories.forget(&organization_id);
    }

    /// Applies one notice from the entitlements channel.
    pub fn apply_notice(&self, payload: &str) {
        self.histories.apply_notice(payload);
    }

    /// Drops every entry (a change this process made, whose reach it does
    /// not know, such as a console action).
    pub fn forget_all(&self) {
        self.histories.forget_all();
    }

    /// One heartbeat of the change listener: entries age by one (see
    /// [`crate::notice_cache::MAX_AGE_TICKS`]).
    pub fn tick(&self) {
        self.histories.tick();
    }

    /// Whether notices are being received; the cache answers only then.
    pub fn set_live(&self, live: bool) {
        self.histories.set_live(live);
    }
}

/// This process's snapshot histories, as the server provided them to the
/// request.
#[cfg(feature = "ssr")]
pub fn snapshot_history_cache() -> Result<SnapshotHistoryCache, crate::error::AppError> {
    crate::context::provided()
}
