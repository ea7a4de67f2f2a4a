//! Words stored in text columns the database checks (`status`, `state`,
//! `kind`): each column has one Rust enum declared with [`crate::stored_words!`],
//! whose `ALL` lists exactly the words the column's CHECK allows
//! (`server/tests/api/status_checks.rs` compares them), so a filter, a label
//! or a query reads the type, never a loose literal.

/// Declares an enum of the words a checked text column holds, with `ALL`,
/// `as_str` and `parse`.
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
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The column's word.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $word ),+
                }
            }

            /// The value a stored or submitted word names.
            pub fn parse(word: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|value| value.as_str() == word)
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
            assert_eq!(Light::parse(light.as_str()), Some(*light));
        }
        for stranger in ["", "RED", "red ", "amber", "gre"] {
            assert_eq!(Light::parse(stranger), None, "{stranger:?}");
        }
    }
}
