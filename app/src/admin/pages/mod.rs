//! The console's pages.

pub mod analytics;
pub mod console;
pub mod frame;
pub mod import;
pub mod movers;
pub mod ops;
pub mod sign_in;
pub mod webhooks;

pub use analytics::AdminAnalyticsPage;
pub use console::{AdminAuditPage, AdminDashboardPage, AdminOrganizationPage, AdminOrganizationsPage};
pub use import::AdminImportPage;
pub use movers::AdminMoversPage;
pub use ops::{
    AdminApiKeysPage, AdminEmailsPage, AdminEventPage, AdminEventsPage, AdminHealthPage, AdminWorkPage,
};
pub use sign_in::{AdminEnrollPage, AdminLoginPage, AdminRecoveryCodesPage, AdminVerifyPage};
pub use webhooks::{AdminWebhookPage, AdminWebhooksPage};
