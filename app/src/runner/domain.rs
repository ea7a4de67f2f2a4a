//! The runner's pure rules: how long a failed job waits (from the failure,
//! never from its creation), and which periods of a schedule are due.

use chrono::{DateTime, TimeDelta, Utc};

/// The one retry rule of every queue: the first wait, doubling after each
/// failure up to a cap, counted from the failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The wait after the first failure.
    pub first: TimeDelta,
    /// The longest wait.
    pub max: TimeDelta,
}

impl Backoff {
    /// The wait after the `attempt`-th attempt (1-based) failed.
    pub fn after(self, attempt: i32) -> TimeDelta {
        let doublings = attempt.clamp(1, 20) - 1;
        let seconds = self.first.num_seconds().saturating_mul(1_i64 << doublings);
        TimeDelta::seconds(seconds).min(self.max)
    }
}

/// The runner's jobs: 10 s doubling to an hour.
pub const JOB_BACKOFF: Backoff = Backoff {
    first: TimeDelta::seconds(10),
    max: TimeDelta::hours(1),
};

/// Emails and provider events: 30 s doubling to an hour.
pub const DELIVERY_BACKOFF: Backoff = Backoff {
    first: TimeDelta::seconds(30),
    max: TimeDelta::hours(1),
};

/// Outbound webhooks, which never give up: 30 s doubling to six hours.
pub const WEBHOOK_BACKOFF: Backoff = Backoff {
    first: TimeDelta::seconds(30),
    max: TimeDelta::hours(6),
};

/// The first retry's wait of a job.
pub const FIRST_BACKOFF: TimeDelta = JOB_BACKOFF.first;
/// The longest a failed job waits before its next attempt.
pub const MAX_BACKOFF: TimeDelta = JOB_BACKOFF.max;

/// The wait after a job's `attempt`-th attempt (1-based) failed.
pub fn backoff(attempt: i32) -> TimeDelta {
    JOB_BACKOFF.after(attempt)
}

crate::stored_words! {
    /// Where a job stands (the `job.state` column).
    pub enum JobState {
        /// Waiting for its time or a worker.
        Queued => "queued",
        /// Held by a worker under a lease.
        Running => "running",
        /// Done.
        Succeeded => "succeeded",
        /// Failed its last attempt; kept until retried.
        Dead => "dead",
        /// Withdrawn.
        Cancelled => "cancelled",
    }
}

impl JobState {
    /// Whether the job is finished and wants nobody's attention (done or
    /// withdrawn): what retention may delete, what the work page hides.
    pub fn is_settled(self) -> bool {
        matches!(self, JobState::Succeeded | JobState::Cancelled)
    }

    /// Whether the job may still run (waiting or under a lease): a schedule
    /// makes no second job of a kind while one is.
    pub fn is_unfinished(self) -> bool {
        matches!(self, JobState::Queued | JobState::Running)
    }
}

crate::stored_words! {
    /// How one attempt of a job ended (the `job_run.outcome` column; a
    /// running attempt has none yet).
    pub enum RunOutcome {
        /// It did its work.
        Succeeded => "succeeded",
        /// It failed and the job will be tried again.
        Failed => "failed",
        /// Its worker lost the lease before it finished.
        LeaseLost => "lease_lost",
        /// It failed its last attempt.
        Dead => "dead",
    }
}

impl RunOutcome {
    /// Whether the attempt did not do its work (what the failed-runs filter
    /// shows).
    pub fn is_failure(self) -> bool {
        self != RunOutcome::Succeeded
    }
}

/// What a schedule does with periods that passed while no process ran it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CatchUp {
    /// Each missed period runs, oldest first, the most recent `cap` of them.
    All {
        /// At most this many periods are run after downtime.
        cap: usize,
    },
    /// Only the current period runs; the missed ones are recorded as skipped.
    Latest,
    /// Only the current period runs; the missed ones are forgotten.
    None,
}

/// A named schedule: one job per period, across every process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    /// Its name, which is also the kind of job it makes.
    pub name: &'static str,
    /// How often.
    pub every: TimeDelta,
    /// What downtime means for it.
    pub catch_up: CatchUp,
}

/// The start of the period `at` falls in: periods are aligned to the Unix
/// epoch, so every process computes the same ones whatever its start time.
pub fn period_start(every: TimeDelta, at: DateTime<Utc>) -> DateTime<Utc> {
    let every_us = every.num_microseconds().unwrap_or(i64::MAX).max(1);
    let at_us = at.timestamp_micros();
    let start = at_us - at_us.rem_euclid(every_us);
    DateTime::from_timestamp_micros(start).unwrap_or(at)
}

/// What a tick of `schedule` at `now` should record, given the latest
/// period already ticked: the periods to run (oldest first) and the ones to
/// record as skipped.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Due {
    /// Periods that get a job.
    pub run: Vec<DateTime<Utc>>,
    /// Missed periods recorded without a job.
    pub skipped: Vec<DateTime<Utc>>,
}

/// Most missed periods a tick looks back over (a schedule of one minute
/// down for a month would otherwise list 43,200).
const LOOK_BACK: i64 = 1_000;

/// The periods due at `now` after `last` (the latest period ticked, if any).
pub fn due(schedule: &Schedule, last: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Due {
    let current = period_start(schedule.every, now);
    let Some(last) = last else {
        return Due {
            run: vec![current],
            skipped: vec![],
        };
    };
    if last >= current {
        return Due::default();
    }
    // Every period after `last` up to the current one, oldest first.
    let missed_count = ((current - last).num_microseconds().unwrap_or(i64::MAX)
        / schedule.every.num_microseconds().unwrap_or(i64::MAX).max(1))
    .clamp(1, LOOK_BACK);
    let periods: Vec<DateTime<Utc>> = (0..missed_count)
        .rev()
        .map(|back| current - schedule.every * i32::try_from(back).unwrap_or(0))
        .collect();
    match schedule.catch_up {
        CatchUp::All { cap } => {
            let keep = periods.len().saturating_sub(cap.max(1));
            Due {
                run: periods[keep..].to_vec(),
                skipped: vec![],
            }
        }
        CatchUp::Latest => {
            let (skipped, run) = periods.split_at(periods.len() - 1);
            Due {
                run: run.to_vec(),
                skipped: skipped.to_vec(),
            }
        }
        CatchUp::None => Due {
            run: vec![current],
            skipped: vec![],
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_job_state_is_either_settled_unfinished_or_dead_and_the_queries_read_those_words() {
        for state in JobState::ALL {
            let kinds = [state.is_settled(), state.is_unfinished(), state == JobState::Dead];
            assert_eq!(kinds.iter().filter(|k| **k).count(), 1, "{state:?}");
        }
        assert_eq!(
            JobState::words_where(JobState::is_settled),
            ["succeeded", "cancelled"]
        );
        assert_eq!(
            JobState::words_where(JobState::is_unfinished),
            ["queued", "running"]
        );
        assert_eq!(
            JobState::words_where(|state| !state.is_settled()),
            ["queued", "running", "dead"]
        );
        assert_eq!(
            RunOutcome::words_where(RunOutcome::is_failure),
            ["failed", "lease_lost", "dead"]
        );
    }

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_790_000_000 + seconds, 0).unwrap()
    }

    const HOURLY: Schedule = Schedule {
        name: "test.hourly",
        every: TimeDelta::hours(1),
        catch_up: CatchUp::All { cap: 3 },
    };

    #[test]
    fn retries_wait_longer_from_the_failure_up_to_an_hour() {
        let waits: Vec<i64> = (1..=12).map(|n| backoff(n).num_seconds()).collect();
        assert_eq!(
            waits,
            [10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600, 3600, 3600]
        );
        assert_eq!(backoff(i32::MAX), MAX_BACKOFF);
        assert_eq!(backoff(0), FIRST_BACKOFF);
    }

    #[test]
    fn periods_are_aligned_to_the_epoch() {
        let start = period_start(TimeDelta::hours(1), at(1234));
        assert_eq!(start.timestamp() % 3600, 0);
        assert!(start <= at(1234) && at(1234) - start < TimeDelta::hours(1));
        assert_eq!(period_start(TimeDelta::hours(1), start), start);
    }

    #[test]
    fn downtime_is_caught_up_as_each_schedule_says() {
        let now = at(10 * 3600 + 5);
        let current = period_start(HOURLY.every, now);
        let last = current - TimeDelta::hours(10);
        let all = due(&HOURLY, Some(last), now);
        assert_eq!(
            all.run,
            [
                current - TimeDelta::hours(2),
                current - TimeDelta::hours(1),
                current
            ]
        );
        let latest = due(
            &Schedule {
                catch_up: CatchUp::Latest,
                ..HOURLY
            },
            Some(last),
            now,
        );
        assert_eq!(latest.run, [current]);
        assert_eq!(latest.skipped.len(), 9);
        assert_eq!(latest.skipped[0], last + TimeDelta::hours(1));
        let none = due(
            &Schedule {
                catch_up: CatchUp::None,
                ..HOURLY
            },
            Some(last),
            now,
        );
        assert_eq!((none.run, none.skipped), (vec![current], vec![]));
        // Already ticked, or never ticked.
        assert_eq!(due(&HOURLY, Some(current), now), Due::default());
        assert_eq!(due(&HOURLY, None, now).run, [current]);
    }

    proptest! {
        #[test]
        fn a_tick_never_runs_a_period_twice_or_one_in_the_future(
            last_offset in 0i64..200_000,
            elapsed in 0i64..400_000,
            every_minutes in 1i64..180,
            cap in 1usize..20,
            policy in 0u8..3,
        ) {
            let schedule = Schedule {
                name: "p",
                every: TimeDelta::minutes(every_minutes),
                catch_up: match policy { 0 => CatchUp::All { cap }, 1 => CatchUp::Latest, _ => CatchUp::None },
            };
            let last = period_start(schedule.every, at(last_offset));
            let now = at(last_offset + elapsed);
            let due = due(&schedule, Some(last), now);
            for period in due.run.iter().chain(&due.skipped) {
                prop_assert!(*period > last && *period <= now);
                prop_assert_eq!(period_start(schedule.every, *period), *period);
            }
            let mut all: Vec<_> = due.run.iter().chain(&due.skipped).collect();
            all.sort();
            let count = all.len();
            all.dedup();
            prop_assert_eq!(all.len(), count);
            if let CatchUp::All { cap } = schedule.catch_up {
                prop_assert!(due.run.len() <= cap);
            } else {
                prop_assert!(due.run.len() <= 1);
            }
            // The current period always runs when it was not ticked yet.
            let current = period_start(schedule.every, now);
            prop_assert_eq!(due.run.last().copied(), (current > last).then_some(current));
        }
    }
}
