//! Reading the catalogue file from disk (server only).

use super::domain::{Catalog, CatalogError, RawCatalog};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// A validated catalogue and the digest of the file it came from.
#[derive(Debug, Clone)]
pub struct LoadedCatalog {
    /// The validated catalogue.
    pub catalog: Catalog,
    /// SHA-256 of the file's bytes, stored with each sync.
    pub content_sha256: String,
}

/// Why the catalogue file could not be used. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum CatalogFileError {
    /// The file could not be read.
    #[error("{path}: cannot read the catalogue file: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Not valid TOML, or not the catalogue's shape.
    #[error("{path}: {message}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The parser's message, with line and column.
        message: String,
    },
    /// Well-formed but breaks a catalogue rule.
    #[error("{path}: {source}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The entry and the rule.
        source: CatalogError,
    },
}

/// Reads, parses and validates a catalogue file.
pub fn load_catalog_file(path: &Path) -> Result<LoadedCatalog, CatalogFileError> {
    let text = std::fs::read_to_string(path).map_err(|source| CatalogFileError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse_catalog(&text).map_err(|error| match error {
        ParseError::Syntax(message) => CatalogFileError::Syntax {
            path: path.to_owned(),
            message,
        },
        ParseError::Invalid(source) => CatalogFileError::Invalid {
            path: path.to_owned(),
            source,
        },
    })
}

/// Why catalogue text was refused.
#[derive(Debug)]
pub enum ParseError {
    /// TOML syntax or shape, with the parser's own location.
    Syntax(String),
    /// A catalogue rule.
    Invalid(CatalogError),
}

/// Parses and validates catalogue text.
pub fn parse_catalog(text: &str) -> Result<LoadedCatalog, ParseError> {
    let raw: RawCatalog = toml::from_str(text).map_err(|e| ParseError::Syntax(flatten_toml_error(&e)))?;
    let catalog = Catalog::validate(raw).map_err(ParseError::Invalid)?;
    Ok(LoadedCatalog {
        catalog,
        content_sha256: hex::encode(Sha256::digest(text.as_bytes())),
    })
}

/// toml's messages span several lines with a source excerpt; one line reads
/// better in a start-up log.
fn flatten_toml_error(error: &toml::de::Error) -> String {
    let message = error.message().trim();
    match error.span() {
        Some(span) => format!("{message} (at byte {}..{})", span.start, span.end),
        None => message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHIPPED: &str = include_str!("../../../catalog/catalog.toml");

    #[test]
    fn the_shipped_catalogue_is_valid_and_has_the_agreed_prices() {
        let loaded = parse_catalog(SHIPPED).expect("shipped catalogue is valid");
        let catalog = loaded.catalog;
        let prices: Vec<_> = catalog
            .tiers
            .iter()
            .map(|t| {
                (
                    t.key.as_str(),
                    t.monthly_price.amount_minor,
                    t.annual_price.amount_minor,
                )
            })
            .collect();
        assert_eq!(
            prices,
            [
                ("starter", 4900, 52900),
                ("professional", 19900, 214900),
                ("enterprise", 99900, 1078900)
            ]
        );
        assert!(catalog.feature_count() >= 20, "at least 20 features");
        assert_eq!(catalog.trial.days, 14);
        assert_eq!(catalog.trial.default_tier, "professional");
        let add_on_prices: Vec<_> = catalog
            .add_ons
            .iter()
            .map(|a| a.monthly_unit_price.amount_minor)
            .collect();
        assert_eq!(add_on_prices, [500, 2500, 50]);
        assert_eq!(loaded.content_sha256.len(), 64);
    }

    #[test]
    fn syntax_errors_and_unknown_fields_are_reported_with_their_place() {
        let cases = [
            ("version = ", "string values"),
            (
                "version = 1\ncurrency = \"USD\"\ncolour = \"red\"\n[trial]\ndays = 1\ndefault_tier = \"a\"",
                "unknown field `colour`",
            ),
            ("version = \"one\"", "invalid type"),
        ];
        for (text, expected) in cases {
            match parse_catalog(text) {
                Err(ParseError::Syntax(message)) => {
                    assert!(message.contains(expected), "{text:?}: {message}");
                    assert!(message.contains("at byte"), "{text:?}: {message}");
                }
                other => panic!("{text:?} should be a syntax error, got {other:?}"),
            }
        }
    }

    #[test]
    fn a_missing_file_names_the_path() {
        let error = load_catalog_file(Path::new("/nonexistent/catalog.toml")).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("/nonexistent/catalog.toml: cannot read"),
            "{error}"
        );
    }

    #[test]
    fn a_rule_violation_names_the_file_and_entry() {
        let broken = SHIPPED.replace("annual_price = \"529\"", "annual_price = \"5290\"");
        let dir = std::env::temp_dir().join(format!("gatehouse-catalog-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("catalog.toml");
        std::fs::write(&path, broken).unwrap();
        let error = load_catalog_file(&path).unwrap_err().to_string();
        assert!(
            error.contains("catalog.toml: tiers[0] \"starter\".annual_price"),
            "{error}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
