//! How pages write dates and times, from one place so the same instant
//! reads the same on every page: `7 Dec 2026`, `Dec 2026`,
//! `7 Dec 2026, 02:45 UTC`. Times are always UTC and say so. (Money is
//! written by the catalogue's `Money`, which knows each currency's digits.)

use chrono::{DateTime, NaiveDate, Utc};

/// A day: `7 Dec 2026`.
pub fn day(day: NaiveDate) -> String {
    day.format("%-d %b %Y").to_string()
}

/// The calendar month of `day`: `Dec 2026`.
pub fn month_of(day: NaiveDate) -> String {
    day.format("%b %Y").to_string()
}

/// An instant to the minute: `7 Dec 2026, 02:45 UTC`.
pub fn minute(at: DateTime<Utc>) -> String {
    at.format("%-d %b %Y, %H:%M UTC").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn days_and_minutes_read_the_same_way_everywhere() {
        let cases = [
            ((2026, 12, 7, 2, 45), "7 Dec 2026", "7 Dec 2026, 02:45 UTC"),
            ((2027, 1, 31, 23, 59), "31 Jan 2027", "31 Jan 2027, 23:59 UTC"),
            ((2024, 2, 29, 0, 0), "29 Feb 2024", "29 Feb 2024, 00:00 UTC"),
        ];
        for ((y, mo, d, h, mi), want_day, want_minute) in cases {
            let at = Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap();
            assert_eq!(day(at.date_naive()), want_day);
            assert_eq!(minute(at), want_minute);
        }
        assert_eq!(
            month_of(Utc.with_ymd_and_hms(2026, 12, 31, 0, 0, 0).unwrap().date_naive()),
            "Dec 2026"
        );
    }
}
