//! Tests of `usage`.

use super::*;
use crate::catalog::domain::fixtures::valid;
use chrono::TimeZone;

fn report(id: &str, metric: &str, increment: Option<i64>, set: Option<i64>) -> RawReport {
    RawReport {
        id: Some(id.into()),
        metric: Some(metric.into()),
        increment,
        set,
    }
}

#[test]
fn a_good_batch_reads_as_its_changes() {
    let batch = parse_batch(
        &valid(),
        vec![
            report("a", "workspaces", Some(2), None),
            report("b", "storage_gb", None, Some(40)),
            report("c", "workspaces", Some(-1), None),
        ],
    )
    .unwrap();
    assert_eq!(batch[0].change, Change::Increment(2));
    assert_eq!(batch[1].change, Change::Set(40));
    assert_eq!(batch[2].change, Change::Increment(-1));
}

#[test]
fn every_bad_report_names_its_field() {
    let long = "x".repeat(MAX_REPORT_ID + 1);
    let cases: Vec<(Vec<RawReport>, &str, &str)> = vec![
        (vec![], "reports", "at least one"),
        (
            (0..101)
                .map(|i| report(&i.to_string(), "workspaces", Some(1), None))
                .collect(),
            "reports",
            "at most 100",
        ),
        (
            vec![RawReport {
                id: None,
                metric: Some("workspaces".into()),
                increment: Some(1),
                set: None,
            }],
            "reports[0].id",
            "required",
        ),
        (
            vec![report("", "workspaces", Some(1), None)],
            "reports[0].id",
            "printable",
        ),
        (
            vec![report(&long, "workspaces", Some(1), None)],
            "reports[0].id",
            "printable",
        ),
        (
            vec![report("a\nb", "workspaces", Some(1), None)],
            "reports[0].id",
            "printable",
        ),
        (
            vec![
                report("a", "workspaces", Some(1), None),
                report("a", "storage_gb", Some(1), None),
            ],
            "reports[1].id",
            "twice",
        ),
        (
            vec![RawReport {
                id: Some("a".into()),
                metric: None,
                increment: Some(1),
                set: None,
            }],
            "reports[0].metric",
            "required",
        ),
        (
            vec![report("a", "seats", Some(1), None)],
            "reports[0].metric",
            "one of: workspaces, storage_gb",
        ),
        (
            vec![report("a", "users", Some(1), None)],
            "reports[0].metric",
            "counted by Gatehouse",
        ),
        (
            vec![report("a", "workspaces", None, None)],
            "reports[0].increment",
            "exactly one",
        ),
        (
            vec![report("a", "workspaces", Some(1), Some(1))],
            "reports[0].increment",
            "exactly one",
        ),
        (
            vec![report("a", "workspaces", None, Some(-1))],
            "reports[0].set",
            "must be 0 to",
        ),
        (
            vec![report("a", "workspaces", None, Some(i64::MAX))],
            "reports[0].set",
            "must be 0 to",
        ),
        (
            vec![report("a", "workspaces", None, Some(MAX_USAGE_VALUE + 1))],
            "reports[0].set",
            "must be 0 to",
        ),
        (
            vec![report("a", "workspaces", Some(i64::MIN), None)],
            "reports[0].increment",
            "must be between",
        ),
        (
            vec![report("a", "workspaces", Some(MAX_USAGE_VALUE + 1), None)],
            "reports[0].increment",
            "must be between",
        ),
    ];
    for (batch, field, message) in cases {
        let error = parse_batch(&valid(), batch).unwrap_err();
        assert_eq!(error.field, field);
        assert!(error.message.contains(message), "{field}: {}", error.message);
    }
}

#[test]
fn snapshots_fall_in_six_hour_slots() {
    let at = |h, m| Utc.with_ymd_and_hms(2026, 12, 1, h, m, 0).unwrap();
    assert_eq!(snapshot_slot(at(0, 0)), at(0, 0));
    assert_eq!(snapshot_slot(at(5, 59)), at(0, 0));
    assert_eq!(snapshot_slot(at(6, 0)), at(6, 0));
    assert_eq!(snapshot_slot(at(23, 59)), at(18, 0));
}
