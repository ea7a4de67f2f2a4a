//! Calendar months in UTC, the unit of every monthly report.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use std::fmt;

/// A calendar month, `YYYY-MM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Month {
    /// Months since year 0: `year × 12 + (month − 1)`.
    index: i32,
}

/// Why a month did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("“{0}” is not a month: expected YYYY-MM, such as 2026-10")]
pub struct MonthParseError(pub String);

impl Month {
    /// The month of `year` and `month` (1–12).
    pub fn new(year: i32, month: u32) -> Option<Month> {
        (1..=12).contains(&month).then(|| Month {
            index: year * 12 + month as i32 - 1,
        })
    }

    /// Parses `YYYY-MM` (four-digit year from 1970 to 9999).
    pub fn parse(text: &str) -> Result<Month, MonthParseError> {
        let error = || MonthParseError(text.to_owned());
        let (year, month) = text.split_once('-').ok_or_else(error)?;
        if year.len() != 4
            || month.len() != 2
            || !(year.bytes().chain(month.bytes())).all(|b| b.is_ascii_digit())
        {
            return Err(error());
        }
        let year: i32 = year.parse().map_err(|_| error())?;
        let month: u32 = month.parse().map_err(|_| error())?;
        if year < 1970 {
            return Err(error());
        }
        Month::new(year, month).ok_or_else(error)
    }

    /// The month `instant` falls in.
    pub fn of(instant: DateTime<Utc>) -> Month {
        Month::of_day(instant.date_naive())
    }

    /// The month `day` falls in.
    pub fn of_day(day: NaiveDate) -> Month {
        Month {
            index: day.year() * 12 + day.month0() as i32,
        }
    }

    /// Its year.
    pub fn year(self) -> i32 {
        self.index.div_euclid(12)
    }

    /// Its month number, 1–12.
    pub fn number(self) -> u32 {
        self.index.rem_euclid(12) as u32 + 1
    }

    /// Its first day.
    pub fn first_day(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year(), self.number(), 1).unwrap_or(NaiveDate::MIN)
    }

    /// Its last day.
    pub fn last_day(self) -> NaiveDate {
        self.plus(1).first_day().pred_opt().unwrap_or(NaiveDate::MIN)
    }

    /// The month `months` later (earlier when negative).
    pub fn plus(self, months: i32) -> Month {
        Month {
            index: self.index + months,
        }
    }

    /// How many months `self` is after `earlier`.
    pub fn since(self, earlier: Month) -> i32 {
        self.index - earlier.index
    }

    /// The months from `first` to `last`, both included.
    pub fn range(first: Month, last: Month) -> impl Iterator<Item = Month> {
        (first.index..=last.index).map(|index| Month { index })
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year(), self.number())
    }
}

impl serde::Serialize for Month {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Month {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Month, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Month::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_parse_only_in_their_one_spelling() {
        assert_eq!(
            Month::parse("2026-10").map(|m| m.to_string()),
            Ok("2026-10".to_owned())
        );
        assert_eq!(
            Month::parse("2026-01").map(|m| (m.year(), m.number())),
            Ok((2026, 1))
        );
        for bad in [
            "2026-13",
            "2026-00",
            "2026-1",
            "26-10",
            "2026/10",
            "",
            "2026-10-01",
            "１９７０-01",
            "1969-12",
            "+202-10",
            "2026--1",
        ] {
            assert!(Month::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn month_arithmetic_crosses_years() {
        let december = Month::parse("2025-12").unwrap();
        assert_eq!(december.plus(1).to_string(), "2026-01");
        assert_eq!(december.plus(-12).to_string(), "2024-12");
        assert_eq!(december.plus(14).since(december), 14);
        assert_eq!(
            december.last_day(),
            NaiveDate::from_ymd_opt(2025, 12, 31).unwrap()
        );
        assert_eq!(
            Month::parse("2024-02").unwrap().last_day().to_string(),
            "2024-02-29"
        );
        assert_eq!(Month::range(december, december.plus(2)).count(), 3);
    }
}
