//! A busy key's next requests, leased by this process in one round trip.
//!
//! Counting every request in Postgres costs a write per request. Instead a
//! process takes a lease of its next few requests from the key's bucket (the
//! bucket is still the one state every process shares, and a lease is
//! counted there exactly as that many requests would have been), serves
//! them from memory, and tops the lease up when a quarter is left (one
//! request waits for that; the others go on spending). Leased requests
//! left unused expire with the lease, so a process never holds budget for
//! long; the only cost of leasing is that another process may be refused
//! a moment early while one still holds a few. Quiet keys (a lease of one)
//! are counted request by request, as before.

use super::db;
use super::throttle::{Rate, emission_interval_us};
use crate::error::AppError;
use chrono::{DateTime, TimeDelta, Utc};
use sqlx::PgPool;
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU32, Ordering};
use std::sync::{Arc, RwLock};
use tokio::sync::Mutex;

/// How many requests one lease asks for: a fiftieth of the burst, between 1
/// and 5,000, so a key limited to 6,000 a minute goes to the database about
/// once in 120 requests and one of 3 a minute on every request. The top-up
/// starts with a quarter left, and that quarter must outlast its round trip:
/// with 500 at 20,000 requests a second it lasted 6 ms, less than a round
/// trip to a Postgres busy on the same cores, and the requests that found the
/// lease spent queued behind it (p99 three times the median).
pub fn lease_size(rate: Rate) -> u32 {
    (rate.requests / 50).clamp(1, 5_000)
}

/// How long a lease of `granted` requests lasts: the time the bucket takes
/// to refill them, and at least a second.
fn lease_lifetime(rate: Rate, granted: u32) -> TimeDelta {
    let refill_us = emission_interval_us(rate) * i64::from(granted);
    TimeDelta::microseconds(refill_us.max(1_000_000))
}

/// Buckets this process keeps leases for before it forgets them all.
const MAX_BUCKETS: usize = 10_000;

/// This process's leases, one per bucket; clones share them.
#[derive(Clone, Default)]
pub struct LeasedThrottle {
    leases: Arc<RwLock<HashMap<String, Arc<Lease>>>>,
}

/// One bucket's lease: spent without a lock (an atomic count), renewed by
/// one request at a time while the others wait.
#[derive(Default)]
struct Lease {
    remaining: AtomicU32,
    // The lease's span in microseconds since the epoch; 0 when none.
    granted_at_us: AtomicI64,
    expires_at_us: AtomicI64,
    renewing: Mutex<()>,
}

impl Lease {
    /// Takes one leased request, if the lease is current at `now` and not spent.
    fn take(&self, now: DateTime<Utc>) -> bool {
        let now_us = now.timestamp_micros();
        // Times first: a renewal writes them before the count it publishes.
        let current = self.granted_at_us.load(Ordering::Acquire) <= now_us
            && now_us < self.expires_at_us.load(Ordering::Acquire);
        current
            && self
                .remaining
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |left| left.checked_sub(1))
                .is_ok()
    }

    /// Adds `granted` requests taken while the lease was still running, and
    /// lets the lease run as long as the new ones take to refill.
    fn top_up(&self, now: DateTime<Utc>, lifetime: TimeDelta, granted: u32) {
        self.expires_at_us
            .fetch_max((now + lifetime).timestamp_micros(), Ordering::AcqRel);
        self.remaining.fetch_add(granted, Ordering::AcqRel);
    }

    fn renew(&self, now: DateTime<Utc>, lifetime: TimeDelta, unused: u32) {
        self.remaining.store(0, Ordering::Release);
        self.granted_at_us
            .store(now.timestamp_micros(), Ordering::Release);
        self.expires_at_us
            .store((now + lifetime).timestamp_micros(), Ordering::Release);
        self.remaining.store(unused, Ordering::Release);
    }
}

impl LeasedThrottle {
    /// Counts one request at `now` against `bucket`, refusing with
    /// [`AppError::TooManyRequests`] when over `rate`.
    pub async fn admit(
        &self,
        pool: &PgPool,
        now: DateTime<Utc>,
        bucket: &str,
        rate: Rate,
    ) -> Result<(), AppError> {
        let lease = self.lease(bucket);
        if lease.take(now) {
            // Running low: this request tops the lease up while the others
            // spend what is left, so none of them waits for the database.
            if lease.remaining.load(Ordering::Acquire) < lease_size(rate) / 4
                && let Ok(_renewing) = lease.renewing.try_lock()
                && let Ok(granted) = db::lease(pool, now, bucket, rate, lease_size(rate)).await
            {
                lease.top_up(now, lease_lifetime(rate, granted), granted);
            }
            // A refusal of the top-up is not this request's: it was admitted.
            return Ok(());
        }
        let _renewing = lease.renewing.lock().await;
        // Another request may have renewed it while this one waited.
        if lease.take(now) {
            return Ok(());
        }
        lease.remaining.store(0, Ordering::Release);
        let granted = db::lease(pool, now, bucket, rate, lease_size(rate)).await?;
        lease.renew(now, lease_lifetime(rate, granted), granted - 1);
        Ok(())
    }

    fn lease(&self, bucket: &str) -> Arc<Lease> {
        if let Some(lease) = self.leases.read().ok().and_then(|map| map.get(bucket).cloned()) {
            return lease;
        }
        let Ok(mut map) = self.leases.write() else {
            return Arc::default();
        };
        if map.len() >= MAX_BUCKETS {
            map.clear();
        }
        map.entry(bucket.to_owned()).or_default().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quiet_keys_are_counted_one_by_one_and_busy_ones_in_batches() {
        let rate = |requests| Rate {
            requests,
            per_seconds: 60,
        };
        assert_eq!(lease_size(rate(3)), 1);
        assert_eq!(lease_size(rate(99)), 1);
        assert_eq!(lease_size(rate(100)), 2);
        assert_eq!(lease_size(rate(6_000)), 120);
        assert_eq!(lease_size(rate(60_000)), 1_200);
        assert_eq!(lease_size(rate(250_000)), 5_000);
        assert_eq!(lease_size(rate(6_000_000)), 5_000);
    }

    #[test]
    fn a_lease_lasts_while_its_requests_refill_and_at_least_a_second() {
        let rate = Rate {
            requests: 6_000,
            per_seconds: 60,
        };
        assert_eq!(lease_lifetime(rate, 120), TimeDelta::milliseconds(1_200));
        assert_eq!(lease_lifetime(rate, 1), TimeDelta::seconds(1));
    }

    #[test]
    fn a_lease_is_spent_only_while_it_lasts() {
        let at = DateTime::from_timestamp(1_000_000, 0).unwrap();
        let lease = Lease::default();
        assert!(!lease.take(at), "no lease yet");
        lease.renew(at, TimeDelta::seconds(1), 2);
        assert!(!lease.take(at - TimeDelta::milliseconds(1)), "a clock set back");
        assert!(lease.take(at));
        assert!(!lease.take(at + TimeDelta::seconds(1)), "expired");
        assert!(lease.take(at + TimeDelta::milliseconds(999)));
        assert!(!lease.take(at), "spent");
        lease.top_up(at, TimeDelta::seconds(2), 1);
        assert!(
            lease.take(at + TimeDelta::milliseconds(1_500)),
            "topped up and lasting longer"
        );
        assert!(!lease.take(at + TimeDelta::milliseconds(1_500)));
    }
}
