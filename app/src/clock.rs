//! The one source of the current time.
//!
//! Everything that needs "now" (expiry, trials, renewals, retries, the
//! throttle, the ledger's processing time) asks the [`Clock`] it was handed,
//! and binds the answer into SQL rather than calling Postgres's `now()`, so
//! a test can walk a subscription through weeks in milliseconds by moving
//! one clock. Reading the system time anywhere else is refused by clippy
//! (`disallowed-methods` in `clippy.toml`).

use chrono::{DateTime, TimeDelta, Utc};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// The current time: the system's in production, a movable one in tests.
/// Clones share one offset, so moving a test's clock moves it for every part
/// of the server that was handed it.
#[derive(Debug, Clone, Default)]
pub enum Clock {
    /// The machine's wall clock.
    #[default]
    System,
    /// The wall clock moved by an offset that can be advanced (for tests):
    /// time still runs, so rows written one after another keep their order,
    /// and a test can jump weeks ahead.
    Shifted(Arc<Offset>),
}

/// A shifted clock's offset from the wall clock, in microseconds.
#[derive(Debug)]
pub struct Offset(AtomicI64);

#[allow(clippy::disallowed_methods)] // the one place the system time is read
fn system_now() -> DateTime<Utc> {
    Utc::now()
}

impl Clock {
    /// The wall clock, until it is advanced or set.
    pub fn shifted() -> Self {
        Clock::Shifted(Arc::new(Offset(AtomicI64::new(0))))
    }

    /// The current time.
    pub fn now(&self) -> DateTime<Utc> {
        match self {
            Clock::System => system_now(),
            Clock::Shifted(offset) => system_now() + TimeDelta::microseconds(offset.0.load(Ordering::SeqCst)),
        }
    }

    /// The current time in whole seconds since the Unix epoch (the
    /// provider's timestamps are in these).
    pub fn unix(&self) -> i64 {
        self.now().timestamp()
    }

    /// Moves a test clock forward by `by`; the system clock cannot be
    /// moved, so this returns false there.
    pub fn advance(&self, by: TimeDelta) -> bool {
        match self {
            Clock::System => false,
            Clock::Shifted(offset) => {
                offset
                    .0
                    .fetch_add(by.num_microseconds().unwrap_or(i64::MAX), Ordering::SeqCst);
                true
            }
        }
    }

    /// Sets a test clock `ahead` of the wall clock; false for the system
    /// clock.
    pub fn set_ahead(&self, ahead: TimeDelta) -> bool {
        match self {
            Clock::System => false,
            Clock::Shifted(offset) => {
                offset
                    .0
                    .store(ahead.num_microseconds().unwrap_or(i64::MAX), Ordering::SeqCst);
                true
            }
        }
    }

    /// Sets a test clock to `at`, to run on from there; false for the
    /// system clock.
    pub fn set(&self, at: DateTime<Utc>) -> bool {
        match self {
            Clock::System => false,
            Clock::Shifted(offset) => {
                let shift = (at - system_now()).num_microseconds().unwrap_or(i64::MAX);
                offset.0.store(shift, Ordering::SeqCst);
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn a_shifted_clock_runs_from_where_it_was_moved_and_clones_share_it() {
        let clock = Clock::shifted();
        let shared = clock.clone();
        let wall = Clock::System;
        assert!((clock.now() - wall.now()).num_seconds().abs() < 5);
        assert!(clock.advance(TimeDelta::weeks(3)));
        let ahead = shared.now() - wall.now();
        assert!(
            ahead > TimeDelta::days(20) && ahead < TimeDelta::days(22),
            "{ahead}"
        );
        let first = clock.now();
        assert!(clock.now() >= first, "time still runs");
        assert!(shared.set(at("2030-01-01T00:00:00Z")));
        assert!((clock.now() - at("2030-01-01T00:00:00Z")).num_seconds().abs() < 5);
        assert!((clock.unix() - at("2030-01-01T00:00:00Z").timestamp()).abs() < 5);
    }

    #[test]
    fn the_system_clock_cannot_be_moved() {
        let clock = Clock::System;
        let before = clock.now();
        assert!(!clock.advance(TimeDelta::days(1)));
        assert!(!clock.set(at("2000-01-01T00:00:00Z")));
        assert!(clock.now() >= before);
    }
}
