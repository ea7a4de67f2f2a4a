//! Public pages for prospects: home and pricing.

pub mod content;
#[cfg(feature = "ssr")]
pub mod content_source;
mod home;
mod pricing;
mod seo;

/// The site's copy and address, provided to every render by the server.
#[derive(Debug, Clone)]
pub struct Site {
    /// The validated marketing content.
    pub content: std::sync::Arc<content::SiteContent>,
    /// The public origin, for canonical and social links.
    pub public_url: String,
}

/// The site of the current render.
pub fn use_site() -> Site {
    // On the server a render may outlive its request (see `with_context_held`).
    #[cfg(feature = "ssr")]
    let site = crate::context::handed_over::<Site>();
    #[cfg(not(feature = "ssr"))]
    let site = leptos::prelude::use_context::<Site>();
    site.expect("the server provides the site to every render")
}

pub use home::HomePage;
pub use pricing::{PricingPage, PricingPlans, TierCardView};
pub use seo::{JsonLd, PageMeta};
