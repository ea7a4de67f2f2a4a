//! The frame every `/app` page shares, drawn once by the portal's parent
//! route: its navigation and status bar around the page; and how a page
//! turns its data or its error into a view and a status.

use crate::error::AppError;
use crate::ui::nav::{NavBar, NavLink};
use crate::ui::{SignInRedirect, product_name};
use leptos::prelude::*;

/// The parent route of the portal's pages: the navigation (its section
/// marked) and the status bar, then the page the path names.
#[component]
pub fn PortalFrame() -> impl IntoView {
    let current = section_of(&leptos_router::hooks::use_location().pathname.get_untracked());
    view! {
        <PortalNav current />
        <leptos_router::components::Outlet />
    }
}

/// The portal section a path stands in (the navigation's entry, and where
/// dismissing a banner comes back to).
pub fn section_of(path: &str) -> &'static str {
    ["/app/billing", "/app/team", "/app/licenses", "/app/account"]
        .into_iter()
        .find(|section| {
            path.strip_prefix(section)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        })
        .unwrap_or("/app")
}

/// Navigation inside the portal.
#[component]
pub fn PortalNav(
    /// The current page's path.
    current: &'static str,
) -> impl IntoView {
    let product = product_name();
    view! {
        <header class="border-b border-slate-200 bg-white">
            <nav aria-label="Account" class="mx-auto flex max-w-5xl flex-wrap items-center justify-between gap-4 px-4 py-4">
                <a href="/app" class="text-xl font-bold tracking-tight">{product.clone()}</a>
                <div class="flex flex-wrap items-center gap-5 text-sm">
                    <NavLink href="/app" label="Overview" current bar=NavBar::Light />
                    <NavLink href="/app/billing" label="Billing" current bar=NavBar::Light />
                    <NavLink href="/app/team" label="Team" current bar=NavBar::Light />
                    <NavLink href="/app/licenses" label="Licences" current bar=NavBar::Light />
                    <NavLink href="/app/account" label="Account" current bar=NavBar::Light />
                    <form method="post" action="/api/logout">
                        <button type="submit" class="text-slate-700 underline hover:text-brand">
                            "Sign out"
                        </button>
                    </form>
                </div>
            </nav>
        </header>
        <super::status_bar::PortalStatusBar current />
    }
}

/// Renders a portal page's data, or sends an anonymous visitor to sign in.
/// Any other error is shown, and the page answers with the error's status
/// (another organisation's invoice is a 404, not a 200 saying so).
pub fn portal_outcome<T, V: IntoView + 'static>(
    result: Result<T, AppError>,
    here: &'static str,
    render: impl FnOnce(T) -> V,
) -> AnyView {
    match result {
        Ok(data) => render(data).into_any(),
        Err(AppError::Unauthorized) => view! { <SignInRedirect next=here.to_owned() /> }.into_any(),
        Err(error) => crate::ui::failed_load(error),
    }
}

#[cfg(test)]
mod tests {
    use super::section_of;

    #[test]
    fn every_portal_path_stands_in_its_section() {
        for (path, section) in [
            ("/app", "/app"),
            ("/app/", "/app"),
            ("/app/billing", "/app/billing"),
            ("/app/billing/change", "/app/billing"),
            ("/app/billing/card", "/app/billing"),
            ("/app/billing/success", "/app/billing"),
            ("/app/team", "/app/team"),
            ("/app/licenses", "/app/licenses"),
            ("/app/account", "/app/account"),
            ("/app/billingx", "/app"),
            ("/app/teams", "/app"),
        ] {
            assert_eq!(section_of(path), section, "{path}");
        }
    }
}
