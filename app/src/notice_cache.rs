//! A per-process map kept in step with Postgres by notices: the pattern
//! behind every cache a server process keeps (standings, API keys, sessions,
//! signed-in users).
//!
//! Postgres stays the only place the data lives. A trigger notifies a
//! channel when a row the cache draws on changes, and the server's change
//! listener forgets the entries it names, in every process. The cache
//! answers only while the listener is connected ([`NoticeCache::set_live`]):
//! a notice missed while it is not is a change nobody would hear of. A value
//! read from the database is kept only if no invalidation came between the
//! start of that read ([`NoticeCache::read_started`]) and its keeping, so a
//! read racing a change cannot put the old value back.
//!
//! Even while every notice arrives, no entry is answered for longer than
//! [`MAX_AGE_TICKS`] of the listener's heartbeats ([`NoticeCache::tick`]):
//! a bound on how long any cached authorisation can outlive a change whose
//! notice was lost in a way nobody detected.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

/// How many heartbeats of the change listener an entry is answered for,
/// counted from the start of the read that produced it. The listener ticks
/// every few seconds (`server/src/change_listener.rs`: 3 s, so 27–30 s).
pub const MAX_AGE_TICKS: u64 = 10;

/// Where a read from the database began, in the cache's count of
/// invalidations and of heartbeats; see [`NoticeCache::read_started`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadStart {
    epoch: u64,
    tick: u64,
}

#[derive(Debug)]
struct Inner<K, V> {
    live: AtomicBool,
    // Bumped by every invalidation, so a read that began before one is not kept.
    epoch: AtomicU64,
    // Bumped by every heartbeat the listener hears: the entries' clock.
    tick: AtomicU64,
    entries: RwLock<HashMap<K, (V, u64)>>,
    capacity: usize,
}

/// A shared handle to one cache; clones share it.
#[derive(Debug)]
pub struct NoticeCache<K, V> {
    inner: Arc<Inner<K, V>>,
}

impl<K, V> Clone for NoticeCache<K, V> {
    fn clone(&self) -> Self {
        NoticeCache {
            inner: self.inner.clone(),
        }
    }
}

impl<K: Eq + Hash, V: Clone> NoticeCache<K, V> {
    /// An empty cache, not answering until set live, that starts again empty
    /// when it would hold more than `capacity` entries: bounded memory
    /// without bookkeeping on every read.
    pub fn new(capacity: usize) -> Self {
        NoticeCache {
            inner: Arc::new(Inner {
                live: AtomicBool::new(false),
                epoch: AtomicU64::new(0),
                tick: AtomicU64::new(0),
                entries: RwLock::new(HashMap::new()),
                capacity,
            }),
        }
    }

    /// The cached value of `key`, if the cache is answering (the read lock
    /// is released before this returns).
    pub fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        if !self.inner.live.load(Ordering::Acquire) {
            return None;
        }
        let entries = self.inner.entries.read().ok()?;
        let (value, read_at) = entries.get(key)?;
        let now = self.inner.tick.load(Ordering::Acquire);
        (now.saturating_sub(*read_at) < MAX_AGE_TICKS).then(|| value.clone())
    }

    /// One heartbeat of the change listener heard: entries age by one.
    pub fn tick(&self) {
        self.inner.tick.fetch_add(1, Ordering::AcqRel);
    }

    /// Marks the start of a read from the database whose result may be
    /// [kept](NoticeCache::keep).
    pub fn read_started(&self) -> ReadStart {
        ReadStart {
            epoch: self.inner.epoch.load(Ordering::Acquire),
            tick: self.inner.tick.load(Ordering::Acquire),
        }
    }

    /// Keeps `value` under `key`, unless the cache stopped answering or an
    /// invalidation came since `read`.
    pub fn keep(&self, read: ReadStart, key: K, value: V) {
        let Ok(mut entries) = self.inner.entries.write() else {
            return;
        };
        // Checked under the lock that invalidations take, so none slips between.
        if !self.inner.live.load(Ordering::Acquire) || self.inner.epoch.load(Ordering::Acquire) != read.epoch
        {
            return;
        }
        if entries.len() >= self.inner.capacity {
            entries.clear();
        }
        entries.insert(key, (value, read.tick));
    }

    /// Forgets `key`, returning what was kept under it.
    pub fn forget<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let mut entries = self.inner.entries.write().ok()?;
        self.inner.epoch.fetch_add(1, Ordering::AcqRel);
        entries.remove(key).map(|(value, _)| value)
    }

    /// Forgets `key` if what is kept under it passes `test`.
    pub fn forget_if<Q>(&self, key: &Q, test: impl FnOnce(&V) -> bool)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let Ok(mut entries) = self.inner.entries.write() else {
            return;
        };
        self.inner.epoch.fetch_add(1, Ordering::AcqRel);
        if entries.get(key).is_some_and(|(value, _)| test(value)) {
            entries.remove(key);
        }
    }

    /// Forgets everything.
    pub fn forget_all(&self) {
        if let Ok(mut entries) = self.inner.entries.write() {
            self.inner.epoch.fetch_add(1, Ordering::AcqRel);
            entries.clear();
        }
    }

    /// Applies one notice: a payload that names a key forgets that key, any
    /// other (`*`, or one too long for a notice) forgets everything, since
    /// it says only that something changed.
    pub fn apply_notice(&self, payload: &str)
    where
        K: FromStr,
    {
        match payload.parse::<K>() {
            Ok(key) => drop(self.forget(&key)),
            Err(_) => self.forget_all(),
        }
    }

    /// Whether notices are being received; the cache answers only then, and
    /// starts empty each time that changes.
    pub fn set_live(&self, live: bool) {
        self.forget_all();
        self.inner.live.store(live, Ordering::Release);
        self.forget_all();
    }

    /// How many entries are kept.
    pub fn len(&self) -> usize {
        self.inner.entries.read().map_or(0, |entries| entries.len())
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Sends `payload` on `channel` through the pool (the change listener's
/// heartbeat: a notice it must hear back to trust its connection).
pub async fn notify(pool: &sqlx::PgPool, channel: &str, payload: &str) -> Result<(), sqlx::Error> {
    // language=PostgreSQL
    sqlx::query("select pg_notify($1, $2)")
        .bind(channel)
        .bind(payload)
        .execute(pool)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live() -> NoticeCache<u32, &'static str> {
        let cache = NoticeCache::new(3);
        cache.set_live(true);
        cache
    }

    #[test]
    fn answers_only_while_live_and_starts_empty_each_time() {
        let cache = NoticeCache::new(3);
        cache.keep(cache.read_started(), 1, "one");
        assert_eq!(cache.get(&1), None, "not live: nothing is kept");
        cache.set_live(true);
        cache.keep(cache.read_started(), 1, "one");
        assert_eq!(cache.get(&1), Some("one"));
        cache.set_live(false);
        assert_eq!(cache.get(&1), None);
        cache.set_live(true);
        assert_eq!(cache.get(&1), None, "live again, but empty");
    }

    #[test]
    fn a_read_that_began_before_an_invalidation_is_not_kept() {
        let cache = live();
        for invalidate in [
            |c: &NoticeCache<u32, &str>| {
                c.forget(&9);
            },
            |c: &NoticeCache<u32, &str>| c.forget_if(&9, |_| false),
            |c: &NoticeCache<u32, &str>| c.forget_all(),
            |c: &NoticeCache<u32, &str>| c.set_live(true),
        ] {
            let read = cache.read_started();
            invalidate(&cache);
            cache.keep(read, 1, "stale");
            assert_eq!(cache.get(&1), None);
        }
    }

    #[test]
    fn forgetting_drops_only_what_it_names() {
        let cache = live();
        cache.keep(cache.read_started(), 1, "one");
        cache.keep(cache.read_started(), 2, "two");
        assert_eq!(cache.forget(&1), Some("one"));
        cache.forget_if(&2, |value| *value == "other");
        assert_eq!((cache.get(&1), cache.get(&2)), (None, Some("two")));
        cache.forget_if(&2, |value| *value == "two");
        assert!(cache.is_empty());
    }

    #[test]
    fn a_notice_naming_a_key_forgets_it_and_any_other_forgets_all() {
        let cache = live();
        for (payload, left) in [
            ("1", vec![2, 3]),
            ("4", vec![1, 2, 3]),
            ("*", vec![]),
            ("", vec![]),
            ("not a key", vec![]),
            ("-1", vec![]),
        ] {
            cache.forget_all();
            for key in 1..=3 {
                cache.keep(cache.read_started(), key, "x");
            }
            cache.apply_notice(payload);
            let kept: Vec<u32> = (1..=3).filter(|key| cache.get(key).is_some()).collect();
            assert_eq!(kept, left, "after the notice {payload:?}");
        }
    }

    #[test]
    fn an_entry_is_answered_for_a_bounded_number_of_heartbeats() {
        let cache = live();
        let early = cache.read_started();
        cache.tick();
        cache.keep(early, 1, "read before the tick");
        cache.keep(cache.read_started(), 2, "read after it");
        for _ in 1..MAX_AGE_TICKS {
            assert_eq!(cache.get(&2), Some("read after it"));
            cache.tick();
        }
        assert_eq!(cache.get(&1), None, "aged from the start of its read");
        assert_eq!(cache.get(&2), Some("read after it"));
        cache.tick();
        assert_eq!(cache.get(&2), None, "too old to answer, though no notice came");
    }

    #[test]
    fn past_its_capacity_it_starts_again_empty() {
        let cache = live();
        for key in 1..=3 {
            cache.keep(cache.read_started(), key, "x");
        }
        assert_eq!(cache.len(), 3);
        cache.keep(cache.read_started(), 4, "y");
        assert_eq!((cache.len(), cache.get(&4)), (1, Some("y")));
    }
}
