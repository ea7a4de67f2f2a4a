//! The console's pages.

pub mod console;
pub mod frame;
pub mod import;
pub mod sign_in;

pub use super::analytics::movers_page::AdminMoversPage;
pub use super::analytics::page::AdminAnalyticsPage;
pub use super::operations::pages::{
    AdminApiKeysPage, AdminEmailsPage, AdminEventPage, AdminEventsPage, AdminHealthPage, AdminWorkPage,
};
pub use super::operations::webhooks_pages::{AdminWebhookPage, AdminWebhooksPage};
pub use console::{AdminAuditPage, AdminDashboardPage, AdminOrganizationPage, AdminOrganizationsPage};
pub use import::AdminImportPage;
pub use sign_in::{AdminEnrollPage, AdminLoginPage, AdminRecoveryCodesPage, AdminVerifyPage};
