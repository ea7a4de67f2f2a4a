//! How pages and emails write dates and times, from one place so the same
//! instant reads the same everywhere: the console's `7 Dec 2026`,
//! `Dec 2026`, `7 Dec 2026, 02:45 UTC` (and to the second where operations
//! need it), the customer's `7 December 2026` in the portal and emails, and
//! a chart axis's `Dec 07 02:45`. Times are always UTC and say so. (Money is
//! written by the catalogue's `Money`, which knows each currency's digits.)

use chrono::{DateTime, NaiveDate, Utc};

/// A day: `7 Dec 2026`.
pub fn day(day: NaiveDate) -> String {
    day.format("%-d %b %Y").to_string()
}

/// A day as customers read it, in the portal and in emails: `7 December 2026`.
pub fn long_day(day: NaiveDate) -> String {
    day.format("%-d %B %Y").to_string()
}

/// The calendar month of `day`: `Dec 2026`.
pub fn month_of(day: NaiveDate) -> String {
    day.format("%b %Y").to_string()
}

/// An instant to the minute: `7 Dec 2026, 02:45 UTC`.
pub fn minute(at: DateTime<Utc>) -> String {
    at.format("%-d %b %Y, %H:%M UTC").to_string()
}

/// An instant to the second, for operations (runs, attempts, events):
/// `7 Dec 2026, 02:45:07 UTC`.
pub fn second(at: DateTime<Utc>) -> String {
    at.format("%-d %b %Y, %H:%M:%S UTC").to_string()
}

/// A chart axis's instant, short enough for a tick (UTC, as the axis says):
/// `Dec 07 02:45`.
pub fn axis_minute(at: DateTime<Utc>) -> String {
    at.format("%b %d %H:%M").to_string()
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
        let at = Utc.with_ymd_and_hms(2026, 12, 7, 2, 45, 7).unwrap();
        assert_eq!(long_day(at.date_naive()), "7 December 2026");
        assert_eq!(second(at), "7 Dec 2026, 02:45:07 UTC");
        assert_eq!(axis_minute(at), "Dec 07 02:45");
        assert_eq!(
            month_of(Utc.with_ymd_and_hms(2026, 12, 31, 0, 0, 0).unwrap().date_naive()),
            "Dec 2026"
        );
    }
}
