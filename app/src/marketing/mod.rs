//! Public pages for prospects: home and pricing.

pub mod content;
#[cfg(feature = "ssr")]
pub mod content_source;
mod home;
mod pricing;
mod seo;

pub use home::HomePage;
pub use pricing::{PricingPage, PricingPlans, TierCardView};
pub use seo::{JsonLd, PageMeta};
