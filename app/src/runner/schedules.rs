//! Gatehouse's named schedules: what runs by the clock, how often, what
//! downtime means for it, and what it does in words (the console and the
//! command line list them from here; the server attaches their handlers).

use super::domain::{CatchUp, Schedule};
use chrono::TimeDelta;

/// A schedule and what it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scheduled {
    /// Its name, period and catch-up.
    pub schedule: Schedule,
    /// What it does, for operators.
    pub does: &'static str,
}

const fn every(name: &'static str, every: TimeDelta, catch_up: CatchUp) -> Schedule {
    Schedule {
        name,
        every,
        catch_up,
    }
}

/// The sandbox's renewals, payment retries and trial notices.
pub const SANDBOX_RENEW: Schedule = every("sandbox.renew", TimeDelta::minutes(1), CatchUp::Latest);
/// Trial reminders at the catalogue's offsets (7, 3 and 1 days).
pub const TRIALS_REMIND: Schedule = every("trials.remind", TimeDelta::minutes(15), CatchUp::Latest);
/// Card-free trials that ended are paused.
pub const TRIALS_EXPIRE: Schedule = every("trials.expire", TimeDelta::minutes(5), CatchUp::Latest);
/// Unpaid invoices past their grace period restrict their organisation.
pub const COLLECTION_RESTRICT: Schedule =
    every("collection.restrict", TimeDelta::minutes(15), CatchUp::Latest);
/// Usage snapshots for the history charts, in six-hour slots.
pub const USAGE_SNAPSHOTS: Schedule = every("usage.snapshots", TimeDelta::hours(6), CatchUp::Latest);
/// `entitlements.updated` events that time alone causes.
pub const ENTITLEMENTS_TIME_EVENTS: Schedule =
    every("entitlements.time_events", TimeDelta::minutes(5), CatchUp::Latest);
/// The queue gauges of `/metrics`.
pub const QUEUE_GAUGES: Schedule = every("queues.gauges", TimeDelta::minutes(1), CatchUp::None);
/// Runner history older than its retention is removed.
pub const RETENTION_CLEANUP: Schedule = every("retention.cleanup", TimeDelta::days(1), CatchUp::Latest);
/// Licences owed to subscriptions that turned active without an event this
/// process applied (the event's own transaction issues it first).
pub const LICENCES_ISSUE_DUE: Schedule = every("licences.issue_due", TimeDelta::minutes(10), CatchUp::Latest);
/// The 30- and 7-day licence expiry alerts.
pub const LICENCES_EXPIRY_ALERTS: Schedule =
    every("licences.expiry_alerts", TimeDelta::hours(1), CatchUp::Latest);

/// Expired sessions are removed.
pub const SESSIONS_CLEANUP: Schedule = every("sessions.cleanup", TimeDelta::hours(1), CatchUp::Latest);

/// Every schedule, in the order the console lists them.
pub const ALL: [Scheduled; 11] = [
    Scheduled {
        schedule: SANDBOX_RENEW,
        does: "Test mode only: renews sandbox subscriptions whose period ended, retries unpaid invoices (3, 5 and 7 days apart) and announces trials ending in 3 days.",
    },
    Scheduled {
        schedule: TRIALS_REMIND,
        does: "Emails trial reminders at the catalogue's offsets before each trial ends; after downtime only the latest due one.",
    },
    Scheduled {
        schedule: TRIALS_EXPIRE,
        does: "Pauses card-free trials that ran out, with their ledger row and the owners told.",
    },
    Scheduled {
        schedule: COLLECTION_RESTRICT,
        does: "Makes organisations read-only when an invoice stays unpaid past the grace period.",
    },
    Scheduled {
        schedule: USAGE_SNAPSHOTS,
        does: "Takes the six-hourly usage snapshot the portal's history charts draw.",
    },
    Scheduled {
        schedule: ENTITLEMENTS_TIME_EVENTS,
        does: "Tells the host product when time alone changed what an organisation may do (a trial or override ran out).",
    },
    Scheduled {
        schedule: QUEUE_GAUGES,
        does: "Updates the queue depth gauges of /metrics.",
    },
    Scheduled {
        schedule: RETENTION_CLEANUP,
        does: "Removes finished jobs and their runs after 30 days; dead jobs stay until retried.",
    },
    Scheduled {
        schedule: LICENCES_ISSUE_DUE,
        does: "Issues self-hosted licences owed to subscriptions that became active.",
    },
    Scheduled {
        schedule: LICENCES_EXPIRY_ALERTS,
        does: "Emails the 30- and 7-day alerts before self-hosted licences end.",
    },
    Scheduled {
        schedule: SESSIONS_CLEANUP,
        does: "Removes sessions past their expiry (signed-out and idle ones).",
    },
];

/// The schedule named `name`.
pub fn find(name: &str) -> Option<&'static Scheduled> {
    ALL.iter().find(|scheduled| scheduled.schedule.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_names_are_unique_job_kinds() {
        let mut names: Vec<&str> = ALL.iter().map(|s| s.schedule.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ALL.len());
        for name in names {
            // The job table's kind check.
            assert!(
                name.chars().next().is_some_and(|c| c.is_ascii_lowercase()),
                "{name}"
            );
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_.-".contains(c)),
                "{name}"
            );
            assert_eq!(find(name).map(|s| s.schedule.name), Some(name));
        }
        assert!(find("trials.unknown").is_none());
    }
}
