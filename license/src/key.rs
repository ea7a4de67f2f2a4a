//! Licence keys as people type them: `YYYY-XXXX-XXXX-XXXX`, the issue year
//! then eleven Crockford base32 symbols and a check symbol (Crockford's
//! mod-37), so a mistyped key is caught before any network call.
//!
//! The check symbol is the value of every symbol before it (the year's
//! digits included, each read as a base32 digit) modulo 37. Because 37 is
//! prime and neither 32 nor 31 is a multiple of it, every single-symbol
//! substitution and every transposition of two adjacent different symbols
//! changes that value and is detected.

use std::fmt;

/// The 32 data symbols, in value order (no I, L, O or U).
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// The five further check symbols, for values 32 to 36.
const CHECK_ONLY: &[u8; 5] = b"*~$=U";
/// Symbols in a key: four of year, eleven of data, one check.
const SYMBOLS: usize = 16;

/// A well-formed licence key with a correct check symbol, in its canonical
/// spelling.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct LicenseKey(String);

/// Why a text is not a licence key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyError {
    /// Not `YYYY-XXXX-XXXX-XXXX` with base32 symbols.
    Format,
    /// The year is not one a key is issued in (2000 to 2999).
    Year,
    /// The check symbol does not match: a symbol was mistyped or two swapped.
    Check,
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyError::Format => "a licence key reads YYYY-XXXX-XXXX-XXXX",
            KeyError::Year => "a licence key starts with the year it was issued",
            KeyError::Check => "this licence key has a typo: check each character",
        })
    }
}

impl std::error::Error for KeyError {}

/// The value of a data symbol, reading Crockford's look-alikes (`I`, `L`
/// as 1, `O` as 0) and lower case.
fn data_value(symbol: u8) -> Option<u8> {
    let symbol = match symbol.to_ascii_uppercase() {
        b'I' | b'L' => b'1',
        b'O' => b'0',
        other => other,
    };
    ALPHABET.iter().position(|s| *s == symbol).map(|v| v as u8)
}

/// The value of a check symbol (a data symbol or one of `*~$=U`).
fn check_value(symbol: u8) -> Option<u8> {
    data_value(symbol).or_else(|| {
        CHECK_ONLY
            .iter()
            .position(|s| *s == symbol.to_ascii_uppercase())
            .map(|v| 32 + v as u8)
    })
}

/// The check symbol of `values` (base32 digits, most significant first).
fn check_symbol(values: &[u8]) -> u8 {
    let remainder = values
        .iter()
        .fold(0u32, |sum, value| (sum * 32 + u32::from(*value)) % 37);
    match remainder {
        0..=31 => ALPHABET[remainder as usize],
        _ => CHECK_ONLY[remainder as usize - 32],
    }
}

impl LicenseKey {
    /// Reads a key as a person might type it: any case, with or without
    /// dashes and spaces, `I`/`L` for 1 and `O` for 0.
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let symbols: Vec<u8> = text
            .trim()
            .bytes()
            .filter(|b| !matches!(b, b'-' | b' '))
            .collect();
        if symbols.len() != SYMBOLS {
            return Err(KeyError::Format);
        }
        let (data, check) = symbols.split_at(SYMBOLS - 1);
        let values: Option<Vec<u8>> = data.iter().map(|s| data_value(*s)).collect();
        let values = values.ok_or(KeyError::Format)?;
        let check = check_value(check[0]).ok_or(KeyError::Format)?;
        if !values[..4].iter().all(|v| *v < 10) {
            return Err(KeyError::Format);
        }
        if check_symbol(&values) != canonical_check(check) {
            return Err(KeyError::Check);
        }
        let year: u32 = values[..4].iter().fold(0, |y, d| y * 10 + u32::from(*d));
        if !(2000..=2999).contains(&year) {
            return Err(KeyError::Year);
        }
        Ok(Self::from_values(&values))
    }

    /// The key of `year` whose eleven data symbols are the low 55 bits of
    /// `random` (taken from a secure source by the caller).
    pub fn new(year: u16, random: u64) -> Result<Self, KeyError> {
        if !(2000..=2999).contains(&year) {
            return Err(KeyError::Year);
        }
        let mut values: Vec<u8> = year.to_string().bytes().map(|digit| digit - b'0').collect();
        values.extend((0..11).rev().map(|i| ((random >> (5 * i)) & 31) as u8));
        Ok(Self::from_values(&values))
    }

    fn from_values(values: &[u8]) -> Self {
        let mut text = String::with_capacity(19);
        for (i, value) in values.iter().enumerate() {
            if i > 0 && i % 4 == 0 {
                text.push('-');
            }
            text.push(char::from(ALPHABET[usize::from(*value)]));
        }
        text.push(char::from(check_symbol(values)));
        LicenseKey(text)
    }

    /// The canonical spelling.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The year it was issued.
    pub fn year(&self) -> u16 {
        self.0[..4].parse().unwrap_or_default()
    }
}

/// A check symbol's value as [`check_symbol`] spells it.
fn canonical_check(value: u8) -> u8 {
    match value {
        0..=31 => ALPHABET[usize::from(value)],
        _ => CHECK_ONLY[usize::from(value) - 32],
    }
}

impl fmt::Display for LicenseKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for LicenseKey {
    /// Only the year and the last group: a key in a log is half a secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LicenseKey({}-****-****-{})", &self.0[..4], &self.0[15..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_key_reads_year_then_three_groups_with_a_check_symbol() {
        let key = LicenseKey::new(2026, 0x1234_5678_9abc).unwrap();
        assert_eq!(key.as_str().len(), 19);
        assert_eq!(&key.as_str()[..5], "2026-");
        assert_eq!(key.year(), 2026);
        assert_eq!(LicenseKey::parse(key.as_str()), Ok(key.clone()));
        assert!(
            !format!("{key:?}").contains(&key.as_str()[5..14]),
            "debug hides the middle"
        );
    }

    #[test]
    fn typing_slips_that_crockford_forgives_are_read_as_meant() {
        let key = LicenseKey::new(2026, 0).unwrap();
        assert_eq!(
            key.as_str(),
            format!("2026-0000-0000-000{}", key.as_str().chars().last().unwrap())
        );
        let typed = key.as_str().replace('0', "o").replace('-', " ");
        assert_eq!(LicenseKey::parse(&typed), Ok(key.clone()));
        let ones = LicenseKey::new(2026, u64::MAX >> 9).unwrap();
        let typed = ones.as_str().to_lowercase();
        assert_eq!(LicenseKey::parse(&typed), Ok(ones));
    }

    #[test]
    fn malformed_keys_say_what_is_wrong() {
        for (text, error) in [
            ("", KeyError::Format),
            ("2026-ABCD-EFGH", KeyError::Format),
            ("2026-ABCD-EFGH-JKMN-P", KeyError::Format),
            ("20X6-ABCD-EFGH-JKMN", KeyError::Format),
            ("2026-ABCD-EFGH-JKU0", KeyError::Format),
            ("2026-AB#D-EFGH-JKMN", KeyError::Format),
        ] {
            assert_eq!(LicenseKey::parse(text), Err(error), "{text:?}");
        }
        assert_eq!(LicenseKey::new(1999, 1), Err(KeyError::Year));
        let old = LicenseKey::from_values(&[1, 9, 9, 9, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
        assert_eq!(LicenseKey::parse(old.as_str()), Err(KeyError::Year));
    }

    /// Every position's symbols, dashes dropped, for mutation.
    fn symbols(key: &LicenseKey) -> Vec<u8> {
        key.as_str().bytes().filter(|b| *b != b'-').collect()
    }

    proptest! {
        #[test]
        fn every_generated_key_parses_back(year in 2000u16..=2999, random in any::<u64>()) {
            let key = LicenseKey::new(year, random).unwrap();
            prop_assert_eq!(LicenseKey::parse(key.as_str()), Ok(key));
        }

        #[test]
        fn every_single_symbol_substitution_is_detected(random in any::<u64>(), at in 0usize..16, by in 0usize..37) {
            let key = LicenseKey::new(2026, random).unwrap();
            let mut typed = symbols(&key);
            let replacement = if at == 15 { canonical_check(by as u8) } else { ALPHABET[by % 32] };
            prop_assume!(typed[at] != replacement);
            typed[at] = replacement;
            let typed = String::from_utf8(typed).unwrap();
            prop_assert!(LicenseKey::parse(&typed).is_err(), "{} accepted as {}", typed, key);
        }

        #[test]
        fn every_adjacent_transposition_is_detected(random in any::<u64>(), at in 0usize..15) {
            let key = LicenseKey::new(2026, random).unwrap();
            let mut typed = symbols(&key);
            prop_assume!(typed[at] != typed[at + 1]);
            typed.swap(at, at + 1);
            let typed = String::from_utf8(typed).unwrap();
            prop_assert!(LicenseKey::parse(&typed).is_err(), "{} accepted as {}", typed, key);
        }

        #[test]
        fn parsing_any_text_never_panics(text in ".{0,40}") {
            let _ = LicenseKey::parse(&text);
        }
    }
}
