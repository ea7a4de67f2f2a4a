//! Reading `content/site.toml` (server only).

use super::content::SiteContent;
use std::path::Path;

/// Reads, parses and validates the site content; errors name the file and entry.
pub fn load_site_content(path: &Path) -> Result<SiteContent, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read the content file: {e}", path.display()))?;
    let content: SiteContent = toml::from_str(&text).map_err(|e| {
        let place = e
            .span()
            .map(|s| format!(" (at byte {}..{})", s.start, s.end))
            .unwrap_or_default();
        format!("{}: {}{place}", path.display(), e.message().trim())
    })?;
    content.validate().map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_content_is_valid_and_complete() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../content/site.toml");
        let content = load_site_content(&path).expect("shipped content is valid");
        assert_eq!(content.product.name, "Forgeline");
        assert_eq!(content.personas.len(), 4);
        assert_eq!(content.faqs.len(), 10);
        assert!(content.testimonials.iter().all(|t| !t.company.is_empty()));
    }

    #[test]
    fn a_broken_file_names_itself_and_the_entry() {
        let dir = std::env::temp_dir().join(format!("gatehouse-content-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("site.toml");
        let shipped =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../content/site.toml"))
                .unwrap();
        std::fs::write(&path, shipped.replace("#4338ca", "#fde047")).unwrap();
        let message = load_site_content(&path).unwrap_err();
        assert!(
            message.contains("site.toml: product.brand_colour: white text on #fde047"),
            "{message}"
        );
        std::fs::write(&path, "[product]\nname = 1").unwrap();
        assert!(
            load_site_content(&path)
                .unwrap_err()
                .contains("site.toml: invalid type")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
