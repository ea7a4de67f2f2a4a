//! Checks every feature applies to text and dates a request sends, so that
//! no value that reaches the database or date arithmetic can make it fail:
//! one rule each, unit- and property-tested here.

use chrono::NaiveDate;

/// The earliest day a request may name.
pub const FIRST_DAY: NaiveDate = match NaiveDate::from_ymd_opt(1970, 1, 1) {
    Some(day) => day,
    None => NaiveDate::MIN,
};
/// The last day a request may name: every day after it that code derives
/// (the next midnight, a month on) stays far inside what chrono and
/// Postgres hold.
pub const LAST_DAY: NaiveDate = match NaiveDate::from_ymd_opt(9999, 12, 31) {
    Some(day) => day,
    None => NaiveDate::MAX,
};

/// A day written `YYYY-MM-DD` (four-digit year, no sign), between
/// [`FIRST_DAY`] and [`LAST_DAY`]; `None` for anything else.
pub fn parse_day(raw: &str) -> Option<NaiveDate> {
    let raw = raw.trim();
    let shape = raw.len() == 10
        && raw.bytes().enumerate().all(|(at, byte)| match at {
            4 | 7 => byte == b'-',
            _ => byte.is_ascii_digit(),
        });
    if !shape {
        return None;
    }
    NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .ok()
        .filter(|day| (FIRST_DAY..=LAST_DAY).contains(day))
}

/// A form's yes-or-no field, written `true` or `false` (as the console's
/// hidden inputs send it); `None` for anything else.
pub fn parse_flag(raw: &str) -> Option<bool> {
    match raw.trim() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

/// Whether `text` holds a character no text field of ours accepts: NUL
/// (which Postgres cannot store) or another control character, save tab,
/// line feed and carriage return, which multi-line fields may hold.
pub fn has_forbidden_control(text: &str) -> bool {
    text.chars()
        .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_flag_is_true_or_false_and_nothing_else() {
        for (raw, flag) in [
            ("true", Some(true)),
            ("false", Some(false)),
            (" true\n", Some(true)),
            ("TRUE", None),
            ("1", None),
            ("yes", None),
            ("", None),
            ("truefalse", None),
        ] {
            assert_eq!(parse_flag(raw), flag, "{raw:?}");
        }
    }

    proptest! {
        #[test]
        fn no_other_text_is_a_flag(raw in "\\PC{0,12}") {
            prop_assume!(!matches!(raw.trim(), "true" | "false"));
            prop_assert_eq!(parse_flag(&raw), None);
        }
    }

    #[test]
    fn days_in_range_parse_and_nothing_else_does() {
        for good in [
            "2026-12-06",
            " 2026-01-31 ",
            "1970-01-01",
            "9999-12-31",
            "2024-02-29",
        ] {
            assert!(parse_day(good).is_some(), "{good}");
        }
        for bad in [
            "+262142-12-31",
            "262142-12-31",
            "-0001-01-01",
            "1969-12-31",
            "2025-02-29",
            "2026-13-01",
            "2026-12-32",
            "2026-1-1",
            "20261206",
            "2026-12-06T00:00:00Z",
            "",
            "\u{0}",
            "2026-12-0\u{0}",
            "２０２６-12-06",
        ] {
            assert_eq!(parse_day(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_day_after_any_accepted_day_exists() {
        assert!(LAST_DAY.succ_opt().is_some());
        assert!(FIRST_DAY.pred_opt().is_some());
    }

    #[test]
    fn control_characters_are_found_and_text_passes() {
        for bad in [
            "\u{0}",
            "a\u{0}b",
            "ext:\u{0}",
            "\u{7}",
            "\u{1b}[31m",
            "\u{7f}",
            "\u{85}",
        ] {
            assert!(has_forbidden_control(bad), "{bad:?}");
        }
        for good in [
            "",
            "acme",
            "line one\nline two",
            "tab\there",
            "crlf\r\n",
            "é ünïcode 漢字 🙂",
        ] {
            assert!(!has_forbidden_control(good), "{good:?}");
        }
    }

    proptest! {
        #[test]
        fn parse_day_never_panics_and_round_trips(raw in ".{0,24}") {
            if let Some(day) = parse_day(&raw) {
                prop_assert_eq!(parse_day(&day.format("%Y-%m-%d").to_string()), Some(day));
                prop_assert!(day.succ_opt().is_some());
            }
        }

        #[test]
        fn any_day_in_range_parses(offset in 0i64..2_932_896) {
            let day = FIRST_DAY + chrono::Days::new(offset as u64);
            prop_assume!(day <= LAST_DAY);
            prop_assert_eq!(parse_day(&day.format("%Y-%m-%d").to_string()), Some(day));
        }
    }
}
