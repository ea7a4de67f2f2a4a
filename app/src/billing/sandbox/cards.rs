//! The sandbox's test cards: which numbers pay, fail later or are declined.

use crate::billing::provider::ProviderError;

/// The card that always pays.
pub const CARD_SUCCEEDS: &str = "4242424242424242";
/// The card accepted at checkout whose later charges fail.
pub const CARD_FAILS_LATER: &str = "4000000000000341";
/// The card declined outright.
pub const CARD_DECLINED: &str = "4000000000000002";

/// What a test card does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestCard {
    /// Pays every charge.
    Succeeds,
    /// Attaches; charges fail.
    FailsLater,
}

impl TestCard {
    /// The last four digits kept on file.
    pub fn last4(self) -> &'static str {
        let number = match self {
            TestCard::Succeeds => CARD_SUCCEEDS,
            TestCard::FailsLater => CARD_FAILS_LATER,
        };
        &number[number.len() - 4..]
    }
}

/// Reads a test card number (spaces and dashes allowed).
pub fn test_card(number: &str) -> Result<TestCard, ProviderError> {
    let digits: String = number.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
    match digits.as_str() {
        CARD_SUCCEEDS => Ok(TestCard::Succeeds),
        CARD_FAILS_LATER => Ok(TestCard::FailsLater),
        CARD_DECLINED => Err(ProviderError::Refused(
            "Your card was declined (test card 4000 0000 0000 0002).".into(),
        )),
        _ => Err(ProviderError::Refused(
            "Test mode takes test cards only: 4242 4242 4242 4242 pays, 4000 0000 0000 0341 fails later, 4000 0000 0000 0002 is declined."
                .into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_cards_are_read_with_spaces_and_others_refused() {
        assert_eq!(test_card("4242 4242 4242 4242"), Ok(TestCard::Succeeds));
        assert_eq!(test_card("4000-0000-0000-0341"), Ok(TestCard::FailsLater));
        assert_eq!(
            (TestCard::Succeeds.last4(), TestCard::FailsLater.last4()),
            ("4242", "0341")
        );
        assert!(matches!(test_card(CARD_DECLINED), Err(ProviderError::Refused(m)) if m.contains("declined")));
        assert!(
            matches!(test_card("5555555555554444"), Err(ProviderError::Refused(m)) if m.contains("test cards"))
        );
        assert!(test_card("").is_err());
    }
}
