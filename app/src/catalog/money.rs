//! Money as integer minor units with an ISO 4217 currency, and the exact
//! arithmetic the catalogue and pricing pages need. No floats anywhere.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A three-letter ISO 4217 currency code, upper case (`USD`, `EUR`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency([u8; 3]);

impl Currency {
    /// The platform's default reporting currency.
    pub const USD: Currency = Currency(*b"USD");

    /// Parses a code such as `USD`; anything but three ASCII capitals is refused.
    pub fn parse(raw: &str) -> Result<Self, MoneyError> {
        let bytes = raw.as_bytes();
        match bytes {
            [a, b, c] if bytes.iter().all(u8::is_ascii_uppercase) => Ok(Currency([*a, *b, *c])),
            _ => Err(MoneyError::InvalidCurrency(raw.to_owned())),
        }
    }

    /// The code as text.
    pub fn code(&self) -> &str {
        // Only ASCII capitals can be stored, so this never fails.
        std::str::from_utf8(&self.0).unwrap_or("???")
    }

    /// Digits after the decimal point (ISO 4217 minor units) for the
    /// currencies Gatehouse prices in; zero-decimal currencies are explicit.
    pub fn minor_digits(&self) -> u32 {
        match self.code() {
            "JPY" | "KRW" | "VND" | "CLP" | "ISK" => 0,
            _ => 2,
        }
    }

    fn symbol(&self) -> Option<&'static str> {
        match self.code() {
            "USD" => Some("$"),
            "EUR" => Some("€"),
            "GBP" => Some("£"),
            "JPY" => Some("¥"),
            _ => None,
        }
    }
}

impl TryFrom<String> for Currency {
    type Error = MoneyError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Currency::parse(&value)
    }
}

impl From<Currency> for String {
    fn from(value: Currency) -> Self {
        value.code().to_owned()
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Why an amount or currency was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    /// Not a three-letter upper-case code.
    #[error("\"{0}\" is not a three-letter ISO 4217 currency code such as \"USD\"")]
    InvalidCurrency(String),
    /// Not a plain non-negative decimal amount.
    #[error("\"{0}\" is not an amount such as \"49\" or \"0.50\"")]
    InvalidAmount(String),
    /// More decimals than the currency has.
    #[error("\"{amount}\" has more than {digits} decimal places")]
    TooPrecise {
        /// The amount as written.
        amount: String,
        /// The currency's minor digits.
        digits: u32,
    },
    /// Too large to hold.
    #[error("\"{0}\" is too large")]
    Overflow(String),
    /// Arithmetic on two different currencies.
    #[error("cannot combine {0} and {1}")]
    CurrencyMismatch(Currency, Currency),
}

/// An amount of money: an integer count of minor units (cents) in a currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    /// Minor units, such as cents.
    pub amount_minor: i64,
    /// The currency the amount is in.
    pub currency: Currency,
}

impl Money {
    /// An amount in minor units.
    pub const fn new(amount_minor: i64, currency: Currency) -> Self {
        Money {
            amount_minor,
            currency,
        }
    }

    /// Zero in a currency.
    pub const fn zero(currency: Currency) -> Self {
        Money::new(0, currency)
    }

    /// Parses an operator-written decimal amount in major units ("49",
    /// "2149.00", "0.50") exactly into minor units.
    pub fn parse_major(raw: &str, currency: Currency) -> Result<Self, MoneyError> {
        let invalid = || MoneyError::InvalidAmount(raw.to_owned());
        let digits = currency.minor_digits();
        let (whole, fraction) = raw.split_once('.').unwrap_or((raw, ""));
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() || !all_digits(whole) || !all_digits(fraction) {
            return Err(invalid());
        }
        if raw.contains('.') && fraction.is_empty() {
            return Err(invalid());
        }
        if fraction.len() as u32 > digits {
            return Err(MoneyError::TooPrecise {
                amount: raw.to_owned(),
                digits,
            });
        }
        let overflow = || MoneyError::Overflow(raw.to_owned());
        let whole: i64 = whole.parse().map_err(|_| overflow())?;
        let padded = format!("{fraction:0<width$}", width = digits as usize);
        let fraction: i64 = if padded.is_empty() {
            0
        } else {
            padded.parse().map_err(|_| invalid())?
        };
        let amount_minor = whole
            .checked_mul(10_i64.pow(digits))
            .and_then(|w| w.checked_add(fraction))
            .ok_or_else(overflow)?;
        Ok(Money::new(amount_minor, currency))
    }

    /// Multiplies by a whole number, refusing overflow.
    pub fn times(self, factor: i64) -> Option<Money> {
        self.amount_minor
            .checked_mul(factor)
            .map(|amount_minor| Money::new(amount_minor, self.currency))
    }

    /// Adds two amounts of the same currency.
    pub fn plus(self, other: Money) -> Result<Money, MoneyError> {
        if self.currency != other.currency {
            return Err(MoneyError::CurrencyMismatch(self.currency, other.currency));
        }
        self.amount_minor
            .checked_add(other.amount_minor)
            .map(|amount_minor| Money::new(amount_minor, self.currency))
            .ok_or_else(|| MoneyError::Overflow(format!("{self} + {other}")))
    }

    /// Formats for display: `$49`, `$2,149`, `$0.50`, `$44.08`. Whole amounts
    /// drop their decimals, as price tags do.
    pub fn display(&self) -> String {
        self.render(false)
    }

    /// Formats minor units in the currency with this code, in any case (a
    /// provider's `usd` too): `$49.00`. An unknown code is shown beside the number.
    pub fn display_minor(amount_minor: i64, code: &str) -> String {
        match Currency::parse(&code.to_uppercase()) {
            Ok(currency) => Money::new(amount_minor, currency).display_exact(),
            Err(_) => format!("{amount_minor} {code}"),
        }
    }

    /// Formats always with the currency's decimals: `$49.00`.
    pub fn display_exact(&self) -> String {
        self.render(true)
    }

    fn render(&self, always_decimals: bool) -> String {
        let digits = self.currency.minor_digits();
        let scale = 10_i64.pow(digits);
        let sign = if self.amount_minor < 0 { "-" } else { "" };
        let abs = self.amount_minor.unsigned_abs();
        let whole = abs / scale as u64;
        let fraction = abs % scale as u64;
        let mut text = String::from(sign);
        match self.currency.symbol() {
            Some(symbol) => text.push_str(symbol),
            None => {
                text.push_str(self.currency.code());
                text.push(' ');
            }
        }
        text.push_str(&group_thousands(whole));
        if digits > 0 && (always_decimals || fraction != 0) {
            text.push('.');
            text.push_str(&format!("{fraction:0width$}", width = digits as usize));
        }
        text
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display_exact())
    }
}

fn group_thousands(value: u64) -> String {
    let digits = value.to_string();
    let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    grouped
}

/// Integer division rounded half to even (banker's rounding), the rounding
/// rule every displayed Gatehouse figure uses. `denominator` must be positive.
pub fn div_round_half_even(numerator: i64, denominator: i64) -> i64 {
    assert!(denominator > 0, "denominator must be positive");
    // The quotient of two i64 with a positive denominator fits an i64.
    div_round_half_even_wide(i128::from(numerator), i128::from(denominator)) as i64
}

/// [`div_round_half_even`] on 128-bit integers, for sums and products of
/// figures that may not fit 64 bits. `denominator` must be positive.
pub fn div_round_half_even_wide(numerator: i128, denominator: i128) -> i128 {
    let quotient = numerator.div_euclid(denominator);
    let remainder = numerator.rem_euclid(denominator);
    match (2 * remainder).cmp(&denominator) {
        std::cmp::Ordering::Less => quotient,
        std::cmp::Ordering::Greater => quotient + 1,
        std::cmp::Ordering::Equal if quotient.rem_euclid(2) == 0 => quotient,
        std::cmp::Ordering::Equal => quotient + 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use claims::{assert_err, assert_ok_eq};

    fn usd(cents: i64) -> Money {
        Money::new(cents, Currency::USD)
    }

    #[test]
    fn major_amounts_parse_exactly_into_cents() {
        let cases = [
            ("49", 4900),
            ("49.00", 4900),
            ("2149", 214900),
            ("0.50", 50),
            ("0.5", 50),
            ("10789", 1078900),
            ("0", 0),
        ];
        for (raw, cents) in cases {
            assert_ok_eq!(Money::parse_major(raw, Currency::USD), usd(cents), "{raw}");
        }
    }

    #[test]
    fn malformed_amounts_are_refused_with_the_reason() {
        let cases = [
            ("", "is not an amount"),
            ("-1", "is not an amount"),
            ("1e3", "is not an amount"),
            ("49.", "is not an amount"),
            (".5", "is not an amount"),
            ("4 9", "is not an amount"),
            ("49.001", "more than 2 decimal places"),
            ("99999999999999999999", "too large"),
        ];
        for (raw, message) in cases {
            let error = assert_err!(Money::parse_major(raw, Currency::USD), "{raw}");
            assert!(error.to_string().contains(message), "{raw}: {error}");
        }
    }

    #[test]
    fn zero_decimal_currencies_take_no_fraction() {
        let yen = Currency::parse("JPY").unwrap();
        assert_ok_eq!(Money::parse_major("500", yen), Money::new(500, yen));
        assert_err!(Money::parse_major("500.5", yen));
        assert_eq!(Money::new(1500, yen).display(), "¥1,500");
    }

    #[test]
    fn currency_codes_must_be_three_capitals() {
        for bad in ["usd", "US", "USDX", "U$D", ""] {
            assert_err!(Currency::parse(bad), "{bad}");
        }
        assert_eq!(Currency::parse("EUR").unwrap().code(), "EUR");
    }

    #[test]
    fn display_groups_thousands_and_drops_whole_cents() {
        assert_eq!(usd(4900).display(), "$49");
        assert_eq!(usd(214900).display(), "$2,149");
        assert_eq!(usd(1078900).display(), "$10,789");
        assert_eq!(usd(50).display(), "$0.50");
        assert_eq!(usd(4408).display(), "$44.08");
        assert_eq!(usd(-5900).display(), "-$59");
        assert_eq!(usd(4900).display_exact(), "$49.00");
        assert_eq!(Money::display_minor(4900, "usd"), "$49.00");
        assert_eq!(Money::display_minor(-2450, "USD"), "-$24.50");
        assert_eq!(Money::display_minor(4900, "us dollars"), "4900 us dollars");
        let chf = Currency::parse("CHF").unwrap();
        assert_eq!(Money::new(123456789, chf).display(), "CHF 1,234,567.89");
    }

    #[test]
    fn adding_different_currencies_is_refused() {
        let eur = Currency::parse("EUR").unwrap();
        assert_err!(usd(1).plus(Money::new(1, eur)));
        assert_ok_eq!(usd(1).plus(usd(2)), usd(3));
    }

    #[test]
    fn half_even_rounding_goes_to_the_even_neighbour_on_ties() {
        assert_eq!(div_round_half_even(5, 2), 2);
        assert_eq!(div_round_half_even(7, 2), 4);
        assert_eq!(div_round_half_even(10, 4), 2);
        assert_eq!(div_round_half_even(11, 4), 3);
        assert_eq!(div_round_half_even(-5, 2), -2);
        assert_eq!(div_round_half_even(-7, 2), -4);
        assert_eq!(div_round_half_even(52900, 12), 4408);
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// The amount a decimal text stands for, computed apart from the parser.
        fn expected_minor(whole: &str, fraction: &str, digits: u32) -> Option<i64> {
            let whole: i128 = whole.parse().ok()?;
            let padded = format!("{fraction:0<width$}", width = digits as usize);
            let fraction: i128 = if padded.is_empty() {
                0
            } else {
                padded.parse().ok()?
            };
            i64::try_from(whole * 10_i128.pow(digits) + fraction).ok()
        }

        proptest! {
            #[test]
            fn every_decimal_within_the_currency_s_digits_parses_exactly(
                whole in "[0-9]{1,20}",
                fraction in "[0-9]{0,3}",
                with_point in any::<bool>(),
                code in prop::sample::select(vec!["USD", "EUR", "JPY", "CHF"]),
            ) {
                let currency = Currency::parse(code).unwrap();
                let digits = currency.minor_digits();
                let raw = if with_point { format!("{whole}.{fraction}") } else { whole.clone() };
                let fraction = if with_point { fraction } else { String::new() };
                match Money::parse_major(&raw, currency) {
                    Ok(money) => {
                        prop_assert!(!(with_point && fraction.is_empty()));
                        prop_assert!(fraction.len() as u32 <= digits);
                        prop_assert_eq!(Some(money.amount_minor), expected_minor(&whole, &fraction, digits));
                        // Shown with every decimal, it reads back as itself.
                        let shown = money.display_exact().replace([',', '$', '€', '¥'], "");
                        let shown = shown.trim_start_matches(code).trim();
                        prop_assert_eq!(Money::parse_major(shown, currency), Ok(money));
                    }
                    Err(MoneyError::TooPrecise { .. }) => prop_assert!(fraction.len() as u32 > digits),
                    Err(MoneyError::Overflow(_)) => prop_assert_eq!(expected_minor(&whole, &fraction, digits), None),
                    Err(MoneyError::InvalidAmount(_)) => prop_assert!(with_point && fraction.is_empty()),
                    Err(other) => prop_assert!(false, "{other:?}"),
                }
            }

            #[test]
            fn any_other_text_is_refused_and_never_panics(raw in ".{0,24}") {
                let well_formed = !raw.is_empty()
                    && raw.split_once('.').map_or(raw.bytes().all(|b| b.is_ascii_digit()), |(w, f)| {
                        !w.is_empty() && !f.is_empty() && (w.to_owned() + f).bytes().all(|b| b.is_ascii_digit())
                    });
                if !well_formed {
                    prop_assert!(Money::parse_major(&raw, Currency::USD).is_err());
                }
            }

            #[test]
            fn half_even_division_is_the_nearest_integer_ties_to_even(
                numerator in any::<i64>(),
                denominator in 1..=i64::MAX,
            ) {
                let quotient = i128::from(div_round_half_even(numerator, denominator));
                let (n, d) = (i128::from(numerator), i128::from(denominator));
                let distance = (n - quotient * d).abs() * 2;
                prop_assert!(distance <= d, "{quotient} is not nearest");
                if distance == d {
                    prop_assert_eq!(quotient.rem_euclid(2), 0, "a tie goes to the even neighbour");
                }
            }
        }
    }
}
