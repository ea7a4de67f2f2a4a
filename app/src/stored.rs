//! Words stored in text columns the database checks (`status`, `state`,
//! `kind`): each column has one Rust enum declared with [`crate::stored_words!`],
//! whose `ALL` lists exactly the words the column's CHECK allows
//! (`server/tests/api/status_checks.rs` compares them), so a filter, a label
//! or a query reads the type, never a loose literal.

/// Declares an enum of the words a checked text column holds, with `ALL`,
/// `as_str`, `parse` and `words_where` (the words of the values a rule
/// picks, bound as a query's `column = any($n)`). Attributes before the enum
/// (docs, further derives such as serde's) pass through.
#[macro_export]
macro_rules! stored_words {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$variant_meta:meta])* $variant:ident => $word:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$variant_meta])* $variant ),+
        }

        impl $name {
            /// Every word the column allows, in the order pages list them.
            pub const ALL: [$name; [$($word),+].len()] = [$($name::$variant),+];

            /// The column's word.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $word ),+
                }
            }

            /// The value a stored or submitted word names.
            pub fn parse(word: &str) -> Option<Self> {
                Self::ALL.into_iter().find(|value| value.as_str() == word)
            }

            /// The words of the values `keep` holds, for a query's
            /// `column = any($n)`: the rule stays in Rust, the query binds
            /// its words.
            pub fn words_where(keep: impl Fn($name) -> bool) -> Vec<&'static str> {
                Self::ALL
                    .into_iter()
                    .filter(|value| keep(*value))
                    .map(Self::as_str)
                    .collect()
            }
        }
    };
}

#[cfg(test)]
mod tests {
    stored_words! {
        /// A test column.
        pub enum Light {
            /// Stop.
            Red => "red",
            /// Go.
            Green => "green",
        }
    }

    #[test]
    fn every_word_parses_back_to_its_value_and_nothing_else_does() {
        for light in Light::ALL {
            assert_eq!(Light::parse(light.as_str()), Some(light));
        }
        for stranger in ["", "RED", "red ", "amber", "gre"] {
            assert_eq!(Light::parse(stranger), None, "{stranger:?}");
        }
    }

    #[test]
    fn the_words_where_a_rule_holds_are_those_of_its_values_in_order() {
        assert_eq!(Light::words_where(|_| true), ["red", "green"]);
        assert_eq!(Light::words_where(|light| light == Light::Green), ["green"]);
        assert!(Light::words_where(|_| false).is_empty());
    }
}
