//! What "now" means for the headline figures. The dashboard, the analytics
//! page, the forecast's starting point and the export all read MRR, ARR and
//! active customers through [`headline`], so they agree to the cent for the
//! same instant: every change the ledger holds up to that instant's day,
//! which is the state now for a ledger that records only what has happened.

use crate::billing::domain::series::{Month, Rollup};
use chrono::{DateTime, NaiveDate, Utc};

/// MRR, ARR and active customers at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Headline {
    /// The instant the figures are for.
    pub as_of: DateTime<Utc>,
    /// MRR, in cents.
    pub mrr_cents: i64,
    /// Customers with MRR > 0 (`METRICS.md`'s only meaning of "active").
    pub active_customers: i64,
}

impl Headline {
    /// 12 × MRR.
    pub fn arr_cents(&self) -> i64 {
        12 * self.mrr_cents
    }

    /// How pages state the instant: `as of 7 Dec 2026, 02:45 UTC`.
    pub fn as_of_words(&self) -> String {
        as_of_words(self.as_of)
    }
}

/// How pages state an instant the figures are for: `as of 7 Dec 2026, 02:45 UTC`.
pub fn as_of_words(now: DateTime<Utc>) -> String {
    format!("as of {}", crate::format::minute(now))
}

/// The last day whose changes count at `now`: today, so far. A month
/// still running ends there (see [`Rollup::month_states_through`]).
pub fn last_day_counted(now: DateTime<Utc>) -> NaiveDate {
    now.date_naive()
}

/// Whether `month` has ended at `now`; a running month's figures are partial.
pub fn month_is_complete(month: Month, now: DateTime<Utc>) -> bool {
    month < Month::of(now)
}

/// The headline figures at `now`.
pub fn headline(rollup: &Rollup, now: DateTime<Utc>) -> Headline {
    let (mrr_cents, active_customers) = rollup.at_end_of(last_day_counted(now));
    Headline {
        as_of: now,
        mrr_cents,
        active_customers,
    }
}
