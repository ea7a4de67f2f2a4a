//! Tests of `trials`.

use super::*;
use chrono::TimeZone;

const OFFSETS: [u32; 3] = [7, 3, 1];

fn end() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 20, 9, 30, 0).unwrap()
}

fn days_before(days: i64, hours_after: i64) -> DateTime<Utc> {
    end() - chrono::Duration::days(days) + chrono::Duration::hours(hours_after)
}

#[test]
fn the_most_urgent_due_reminder_is_sent_and_the_passed_ones_skipped() {
    let due = |now, recorded: &[u32]| due_reminders(&OFFSETS, end(), now, recorded);
    let send = |days: u32, skip: &[u32]| DueReminders {
        send: Some(days),
        skip: skip.to_vec(),
    };
    let cases: Vec<(DateTime<Utc>, Vec<u32>, DueReminders)> = vec![
        (days_before(8, 0), vec![], DueReminders::default()),
        (days_before(7, -1), vec![], DueReminders::default()),
        (days_before(7, 0), vec![], send(7, &[])),
        (days_before(6, 0), vec![7], DueReminders::default()),
        (days_before(3, 0), vec![7], send(3, &[])),
        (days_before(1, 0), vec![7, 3], send(1, &[])),
        (days_before(0, -1), vec![7, 3, 1], DueReminders::default()),
        // Down from before the 7-day moment to after the 1-day one.
        (days_before(1, 2), vec![], send(1, &[3, 7])),
        (days_before(2, 0), vec![], send(3, &[7])),
        // The provider's notice took the 3-day slot: the 7-day is moot.
        (
            days_before(2, 0),
            vec![3],
            DueReminders {
                send: None,
                skip: vec![7],
            },
        ),
        // Ended: nothing more.
        (end(), vec![], DueReminders::default()),
        (days_before(-1, 0), vec![7], DueReminders::default()),
    ];
    for (now, recorded, expected) in cases {
        assert_eq!(due(now, &recorded), expected, "at {now} with {recorded:?}");
    }
}

proptest::proptest! {
    /// However often and whenever the sweep runs, each offset is
    /// recorded at most once, at most one reminder goes out per run,
    /// sends come in order of urgency, and the last moment passed is
    /// never skipped.
    #[test]
    fn sweeps_at_any_moments_send_each_reminder_at_most_once(
        mut hours in proptest::collection::vec(0_i64..(15 * 24), 1..30)
    ) {
        hours.sort_unstable();
        let start = end() - chrono::Duration::days(15);
        let mut recorded: Vec<u32> = vec![];
        let mut sent: Vec<u32> = vec![];
        for hour in &hours {
            let now = start + chrono::Duration::hours(*hour);
            let due = due_reminders(&OFFSETS, end(), now, &recorded);
            for days in due.skip.iter().chain(due.send.iter()) {
                proptest::prop_assert!(!recorded.contains(days));
                recorded.push(*days);
            }
            if let Some(days) = due.send {
                proptest::prop_assert!(sent.last().is_none_or(|last| days < *last));
                sent.push(days);
            }
        }
        let last = start + chrono::Duration::hours(*hours.last().unwrap());
        let most_urgent_passed = OFFSETS.iter().copied()
            .filter(|d| end() - chrono::Duration::days(i64::from(*d)) <= last).min();
        if last < end() {
            proptest::prop_assert_eq!(sent.last().copied(), most_urgent_passed);
        }
    }
}

#[test]
fn a_started_day_counts_as_a_day_left() {
    let now = Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap();
    let days = |hours: i64| days_left(now, now + chrono::Duration::hours(hours));
    assert_eq!(days(72), 3);
    assert_eq!(days(71), 3);
    assert_eq!(days(49), 3);
    assert_eq!(days(48), 2);
    assert_eq!(days(1), 1);
    assert_eq!(days(-5), 0, "an ended trial has none");
}
