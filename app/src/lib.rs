//! Gatehouse's pages, server functions and pure domain code.
//!
//! Built twice: with `ssr` into the server (pages render there and server
//! functions run there) and with `hydrate` into the browser bundle, where only
//! the `#[island]` components wake up.

#![recursion_limit = "256"]

pub mod accounts;
pub mod admin;
#[cfg(feature = "ssr")]
pub mod analytics;
#[cfg(feature = "ssr")]
pub mod api_keys;
pub mod billing;
pub mod catalog;
#[cfg(feature = "ssr")]
pub mod clock;
pub mod email;
pub mod entitlements;
pub mod error;
#[cfg(feature = "ssr")]
pub mod flows;
#[cfg(feature = "ssr")]
pub mod format;
#[cfg(feature = "ssr")]
pub mod input;
pub mod licensing;
pub mod marketing;
#[cfg(feature = "ssr")]
pub mod notice_cache;
pub mod outbound;
pub mod portal;
#[cfg(feature = "ssr")]
pub mod read_replica;
#[cfg(feature = "ssr")]
pub mod runner;
pub mod security;
pub mod signup;
pub mod stored;
pub mod ui;

#[cfg(feature = "ssr")]
pub mod context;

use leptos::prelude::*;
use leptos_meta::{MetaTags, provide_meta_context};
use leptos_router::{
    SsrMode,
    components::{ParentRoute, Route, Router, Routes},
    path,
};

/// Asset URLs that carry content hashes, read from the build's manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteAssets {
    /// The stylesheet's URL, such as `/pkg/gatehouse-1a2b3c.css`.
    pub stylesheet: String,
}

/// The HTML document around every page.
pub fn shell(options: LeptosOptions, assets: SiteAssets) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <link rel="stylesheet" href=assets.stylesheet />
                <link rel="stylesheet" href="/brand.css" />
                <link rel="icon" href="/favicon.svg" type="image/svg+xml" />
                <HydrationScripts options islands=true />
                <MetaTags />
            </head>
            <body class="min-h-screen bg-white text-slate-900 antialiased">
                <App />
            </body>
        </html>
    }
}

/// The route table. Every route renders fully on the server before the
/// response is sent (`SsrMode::Async`), so pages work without JavaScript.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Router>
            <Routes fallback=ui::NotFoundPage>
                <Route path=path!("/") view=marketing::HomePage ssr=SsrMode::Async />
                <Route path=path!("/pricing") view=marketing::PricingPage ssr=SsrMode::Async />
                <Route path=path!("/signup") view=signup::SignupPage ssr=SsrMode::Async />
                <Route path=path!("/signup/check-email") view=signup::CheckEmailPage ssr=SsrMode::Async />
                <Route path=path!("/login") view=accounts::pages::LoginPage ssr=SsrMode::Async />
                <Route path=path!("/logout") view=accounts::pages::LogoutPage ssr=SsrMode::Async />
                <Route path=path!("/verify") view=accounts::pages::VerifyPage ssr=SsrMode::Async />
                <Route path=path!("/forgot-password") view=accounts::pages::ForgotPasswordPage ssr=SsrMode::Async />
                <Route path=path!("/reset-password") view=accounts::pages::ResetPasswordPage ssr=SsrMode::Async />
                <Route path=path!("/invite") view=portal::invite::InvitePage ssr=SsrMode::Async />
                // Before the portal's parent route: the invoice is a document without the portal's frame.
                <Route path=path!("/app/billing/invoices/:id") view=billing::InvoicePage ssr=SsrMode::Async />
                <ParentRoute path=path!("/app") view=portal::frame::PortalFrame ssr=SsrMode::Async>
                    <Route path=path!("") view=portal::PortalHome ssr=SsrMode::Async />
                    <Route path=path!("team") view=portal::TeamPage ssr=SsrMode::Async />
                    <Route path=path!("billing") view=portal::billing::BillingPage ssr=SsrMode::Async />
                    <Route path=path!("billing/change") view=billing::ChangePlanPage ssr=SsrMode::Async />
                    <Route path=path!("billing/success") view=billing::CheckoutSuccessPage ssr=SsrMode::Async />
                    <Route path=path!("billing/card") view=billing::SandboxCardPage ssr=SsrMode::Async />
                    <Route path=path!("account") view=portal::AccountPage ssr=SsrMode::Async />
                    <Route path=path!("licenses") view=licensing::LicensesPage ssr=SsrMode::Async />
                </ParentRoute>
                <Route path=path!("/billing/sandbox/checkout/:id") view=billing::SandboxCheckoutPage ssr=SsrMode::Async />
                <Route path=path!("/admin") view=admin::pages::AdminDashboardPage ssr=SsrMode::Async />
                <Route path=path!("/admin/login") view=admin::pages::AdminLoginPage ssr=SsrMode::Async />
                <Route path=path!("/admin/enroll") view=admin::pages::AdminEnrollPage ssr=SsrMode::Async />
                <Route path=path!("/admin/verify") view=admin::pages::AdminVerifyPage ssr=SsrMode::Async />
                <Route path=path!("/admin/recovery-codes") view=admin::pages::AdminRecoveryCodesPage ssr=SsrMode::Async />
                <Route path=path!("/admin/organizations") view=admin::pages::AdminOrganizationsPage ssr=SsrMode::Async />
                <Route path=path!("/admin/organizations/:id") view=admin::pages::AdminOrganizationPage ssr=SsrMode::Async />
                <Route path=path!("/admin/analytics") view=admin::pages::AdminAnalyticsPage ssr=SsrMode::Async />
                <Route path=path!("/admin/movements") view=admin::pages::AdminMoversPage ssr=SsrMode::Async />
                <Route path=path!("/admin/events") view=admin::pages::AdminEventsPage ssr=SsrMode::Async />
                <Route path=path!("/admin/events/:id") view=admin::pages::AdminEventPage ssr=SsrMode::Async />
                <Route path=path!("/admin/emails") view=admin::pages::AdminEmailsPage ssr=SsrMode::Async />
                <Route path=path!("/admin/health") view=admin::pages::AdminHealthPage ssr=SsrMode::Async />
                <Route path=path!("/admin/import") view=admin::pages::AdminImportPage ssr=SsrMode::Async />
                <Route path=path!("/admin/api-keys") view=admin::pages::AdminApiKeysPage ssr=SsrMode::Async />
                <Route path=path!("/admin/work") view=admin::pages::AdminWorkPage ssr=SsrMode::Async />
                <Route path=path!("/admin/webhooks") view=admin::pages::AdminWebhooksPage ssr=SsrMode::Async />
                <Route path=path!("/admin/webhooks/:id") view=admin::pages::AdminWebhookPage ssr=SsrMode::Async />
                <Route path=path!("/admin/audit") view=admin::pages::AdminAuditPage ssr=SsrMode::Async />
                <Route path=path!("/dev/mailbox") view=accounts::pages::DevMailboxPage ssr=SsrMode::Async />
            </Routes>
        </Router>
    }
}
