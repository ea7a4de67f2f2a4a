//! The built site's asset names, which carry content hashes.

use app::SiteAssets;
use serde::Deserialize;
use std::path::Path;

/// `asset-manifest.json`, written by `scripts/build-site` into the site root.
#[derive(Debug, Deserialize)]
struct AssetManifest {
    output_name: String,
    stylesheet: String,
}

/// The bundle's base name (for Leptos's loader) and the stylesheet URL.
/// Without a manifest (a site built some other way) the unhashed names are used.
pub fn load(site_root: &Path) -> (String, SiteAssets) {
    let path = site_root.join("asset-manifest.json");
    match std::fs::read_to_string(&path).map(|text| serde_json::from_str::<AssetManifest>(&text)) {
        Ok(Ok(manifest)) => (
            manifest.output_name,
            SiteAssets {
                stylesheet: manifest.stylesheet,
            },
        ),
        Ok(Err(error)) => {
            tracing::warn!(path = %path.display(), %error, "unreadable asset manifest; using unhashed names");
            unhashed()
        }
        Err(_) => {
            tracing::warn!(path = %path.display(), "no asset manifest (run scripts/build-site); using unhashed names");
            unhashed()
        }
    }
}

fn unhashed() -> (String, SiteAssets) {
    (
        "gatehouse".to_owned(),
        SiteAssets {
            stylesheet: "/pkg/gatehouse.css".to_owned(),
        },
    )
}
