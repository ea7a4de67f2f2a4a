//! Every console page, for the router.

pub use super::analytics::movers_page::AdminMoversPage;
pub use super::analytics::page::AdminAnalyticsPage;
pub use super::import_page::AdminImportPage;
pub use super::operations::pages::{
    AdminApiKeysPage, AdminEmailsPage, AdminEventPage, AdminEventsPage, AdminHealthPage, AdminWorkPage,
};
pub use super::operations::webhooks_pages::{AdminWebhookPage, AdminWebhooksPage};
pub use super::organizations::pages::{
    AdminAuditPage, AdminDashboardPage, AdminOrganizationPage, AdminOrganizationsPage,
};
pub use super::sign_in::pages::{AdminEnrollPage, AdminLoginPage, AdminRecoveryCodesPage, AdminVerifyPage};
