//! Layout pieces shared by every page.

pub mod auth_card;
pub mod danger;
pub mod form;
pub mod nav;
pub mod table;

use crate::error::AppError;
use leptos::prelude::*;
use leptos_meta::{Meta, Title};

/// A query parameter of the current page, read once (not tracked).
pub fn query_value(name: &str) -> Option<String> {
    leptos_router::hooks::use_query_map().with_untracked(|q| q.get(name))
}

/// A segment the current route names (`:id`), read once (not tracked);
/// empty when the route has none, which the page's lookup then refuses.
pub fn path_value(name: &str) -> String {
    leptos_router::hooks::use_params_map()
        .with_untracked(|p| p.get(name))
        .unwrap_or_default()
}

/// What the frame of every page shows: the product's name and tagline and
/// the footer's links. The server provides it to every render, filled from
/// the marketing content, so the frame itself knows no feature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteChrome {
    /// The product's name.
    pub product_name: String,
    /// Its one-line description.
    pub tagline: String,
    /// The footer's links.
    pub footer_links: Vec<ChromeLink>,
}

/// A link of the site's frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChromeLink {
    /// The text.
    pub label: String,
    /// Where it goes.
    pub href: String,
}

/// The frame of the current render (shared: every render reads the one
/// the server built at start).
pub fn use_chrome() -> std::sync::Arc<SiteChrome> {
    // On the server a render may outlive its request (see `with_context_held`).
    #[cfg(feature = "ssr")]
    let chrome = crate::context::handed_over::<std::sync::Arc<SiteChrome>>();
    #[cfg(not(feature = "ssr"))]
    let chrome = use_context::<std::sync::Arc<SiteChrome>>();
    chrome.expect("the server provides the site's frame to every render")
}

/// The product's name.
pub fn product_name() -> String {
    use_chrome().product_name.clone()
}

/// The first stop of the keyboard on every page: a link past the navigation
/// to the page's `<main id="main">`, shown when it has focus.
#[component]
pub fn SkipLink() -> impl IntoView {
    view! {
        <a
            href="#main"
            class="sr-only focus:not-sr-only focus:absolute focus:left-4 focus:top-4 focus:z-50 focus:rounded focus:bg-white focus:px-4 focus:py-2 focus:text-slate-900 focus:shadow"
        >
            "Skip to content"
        </a>
    }
}

/// Top bar with the product name and the main links, plus a skip link.
#[component]
pub fn SiteHeader() -> impl IntoView {
    let product = product_name();
    view! {
        <SkipLink />
        <header class="border-b border-slate-200 bg-white">
            <nav
                aria-label="Main"
                class="mx-auto flex max-w-6xl flex-wrap items-center justify-between gap-4 px-4 py-4"
            >
                <a href="/" class="text-xl font-bold tracking-tight text-slate-900">
                    {product.clone()}
                </a>
                <ul class="flex items-center gap-6 text-sm font-medium">
                    <li>
                        <a href="/pricing" class="text-slate-700 hover:text-brand">
                            "Pricing"
                        </a>
                    </li>
                    <li>
                        <a
                            href="/signup"
                            class="rounded-md bg-brand px-4 py-2 text-white hover:opacity-90"
                        >
                            "Start free trial"
                        </a>
                    </li>
                </ul>
            </nav>
        </header>
    }
}

/// Bottom bar with the content file's links.
#[component]
pub fn SiteFooter() -> impl IntoView {
    let chrome = use_chrome();
    let (product, tagline, links) = (
        chrome.product_name.clone(),
        chrome.tagline.clone(),
        chrome.footer_links.clone(),
    );
    view! {
        <footer class="border-t border-slate-200 bg-slate-50">
            <div class="mx-auto flex max-w-6xl flex-col gap-6 px-4 py-10 text-sm text-slate-700 sm:flex-row sm:justify-between">
                <div>
                    <p class="font-semibold text-slate-900">{product.clone()}</p>
                    <p class="mt-1">{tagline}</p>
                </div>
                <nav aria-label="Footer">
                    <ul class="flex flex-wrap gap-x-6 gap-y-2">
                        {links
                            .into_iter()
                            .map(|link| view! { <li><a href=link.href class="hover:text-brand hover:underline">{link.label}</a></li> })
                            .collect_view()}
                    </ul>
                </nav>
            </div>
            <p class="mx-auto max-w-6xl px-4 pb-8 text-xs text-slate-600">
                {format!("© 2026 {product}. Billing and accounts by Gatehouse.")}
            </p>
        </footer>
    }
}

/// A server error shown in place of the content that failed.
#[component]
pub fn ErrorNotice(
    /// The error to explain.
    error: AppError,
) -> impl IntoView {
    view! {
        <div role="alert" class="mx-auto my-12 max-w-xl rounded-md border border-red-200 bg-red-50 p-4 text-red-800">
            <p class="font-semibold">"This page could not be loaded."</p>
            <p>{error.to_string()}</p>
        </div>
    }
}

/// A page whose data failed to load: the error explained in its place, and
/// the request answered with the error's status (another organisation's
/// invoice is a 404, not a 200 saying so).
pub fn failed_load(error: AppError) -> AnyView {
    answer_with_status(error.status_code());
    view! { <ErrorNotice error /> }.into_any()
}

/// Sets the status the server answers the current render with (nothing in
/// the browser).
pub fn answer_with_status(status: u16) {
    #[cfg(feature = "ssr")]
    if let Some(response) = crate::context::use_context_held::<leptos_axum::ResponseOptions>() {
        response.set_status(
            http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR),
        );
    }
    #[cfg(not(feature = "ssr"))]
    let _ = status;
}

/// The page for unknown addresses; answers with status 404.
#[component]
pub fn NotFoundPage() -> impl IntoView {
    let product = product_name();
    answer_with_status(404);
    view! {
        <Title text=format!("Page not found — {product}") />
        <Meta name="robots" content="noindex" />
        <SiteHeader />
        <main id="main" class="mx-auto max-w-2xl px-4 py-24 text-center">
            <p class="text-sm font-semibold text-brand">"404"</p>
            <h1 class="mt-2 text-3xl font-bold tracking-tight">"We can't find that page"</h1>
            <p class="mt-4 text-slate-600">"The address may be mistyped, or the page has moved."</p>
            <p class="mt-8">
                <a href="/" class="font-medium text-brand underline">
                    "Go to the home page"
                </a>
            </p>
        </main>
        <SiteFooter />
    }
}

/// Percent-encodes a value for a query string.
pub fn encode_query_value(value: &str) -> String {
    let mut encoded = String::with_capacity(value.len());
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                encoded.push(byte as char)
            }
            _ => encoded.push_str(&format!("%{byte:02X}")),
        }
    }
    encoded
}

/// Sends an anonymous visitor to sign in, returning here afterwards.
#[component]
pub fn SignInRedirect(
    /// The path to come back to.
    next: String,
) -> impl IntoView {
    let target = format!("/login?next={}", encode_query_value(&next));
    #[cfg(feature = "ssr")]
    crate::security::redirect::redirect(&target);
    view! {
        <p class="mx-auto my-12 max-w-xl">
            "Please "
            <a href=target class="underline">"sign in"</a>
            " to continue."
        </p>
    }
}

#[cfg(test)]
mod tests {
    use super::encode_query_value;

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(encode_query_value("/app/team"), "/app/team");
        assert_eq!(encode_query_value("/invite?token=a&b"), "/invite%3Ftoken%3Da%26b");
        assert_eq!(encode_query_value("é"), "%C3%A9");
    }
}
