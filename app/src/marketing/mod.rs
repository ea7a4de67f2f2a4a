//! Public pages for prospects: home and pricing.

mod home;
mod pricing;

pub use home::HomePage;
pub use pricing::{PricingPage, PricingPlans, TierCardView};
