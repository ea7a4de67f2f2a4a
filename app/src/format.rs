//! How pages write dates, times and money, from one place so the same
//! instant or amount reads the same on every page: `7 Dec 2026`,
//! `7 Dec 2026, 02:45 UTC`, `$1,234.56`. Times are always UTC and say so.

use chrono::{DateTime, NaiveDate, Utc};

/// A day: `7 Dec 2026`.
pub fn day(day: NaiveDate) -> String {
    day.format("%-d %b %Y").to_string()
}

/// A calendar month: `Dec 2026`.
pub fn month(month: crate::billing::domain::series::Month) -> String {
    month.first_day().format("%b %Y").to_string()
}

/// An instant to the minute: `7 Dec 2026, 02:45 UTC`.
pub fn minute(at: DateTime<Utc>) -> String {
    at.format("%-d %b %Y, %H:%M UTC").to_string()
}

/// An amount in minor units of `currency`: `$1,234.56`.
pub fn money(minor: i64, currency: &str) -> String {
    crate::catalog::money::Money::display_minor(minor, currency)
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
        assert_eq!(money(123_456, "USD"), "$1,234.56");
        let december = crate::billing::domain::series::Month::parse("2026-12").unwrap();
        assert_eq!(month(december), "Dec 2026");
    }
}
