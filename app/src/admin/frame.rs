//! What every console page shares: its navigation, and how a page turns its
//! data or its error into a view.

use crate::error::AppError;
use crate::ui::nav::{NavBar, NavLink};
use leptos::prelude::*;
use leptos_meta::{Meta, Title};

/// The frame of every console page: the tab's title, the navigation with
/// the page's section marked, and the main landmark, headed by `heading`
/// when the page knows it before its data (a detail page writes its own
/// from the data it loads).
#[component]
pub fn ConsolePage(
    /// What the page is, as the browser's tab shows it.
    title: &'static str,
    /// The path of the section the navigation marks as current.
    section: &'static str,
    /// The page's heading, when it does not depend on the data.
    #[prop(optional)]
    heading: Option<&'static str>,
    /// The page.
    children: Children,
) -> impl IntoView {
    view! {
        <Title text=format!("{title} — Gatehouse admin") />
        <AdminNav current=section />
        <main id="main" class="mx-auto max-w-6xl space-y-8 px-4 py-10">
            {heading.map(|heading| view! { <h1 class="text-3xl font-bold tracking-tight">{heading}</h1> })}
            {children()}
        </main>
    }
}

/// The console's navigation, with the sign-out button.
#[component]
fn AdminNav(
    /// The current section's path.
    current: &'static str,
) -> impl IntoView {
    view! {
        <Meta name="robots" content="noindex" />
        <crate::ui::SkipLink />
        // On the dark bar the brand-coloured ring would fall under 3:1; `on-dark` makes it light.
        <header class="on-dark bg-slate-900">
            <nav aria-label="Admin console" class="mx-auto flex max-w-6xl flex-wrap items-center justify-between gap-4 px-4 py-4">
                <a href="/admin" class="text-lg font-bold tracking-tight text-white">"Gatehouse admin"</a>
                <div class="flex flex-wrap items-center gap-5 text-sm">
                    <NavLink href="/admin" label="Dashboard" current bar=NavBar::Dark />
                    <NavLink href="/admin/organizations" label="Organisations" current bar=NavBar::Dark />
                    <NavLink href="/admin/analytics" label="Analytics" current bar=NavBar::Dark />
                    <NavLink href="/admin/import" label="Import" current bar=NavBar::Dark />
                    <NavLink href="/admin/events" label="Events" current bar=NavBar::Dark />
                    <NavLink href="/admin/emails" label="Emails" current bar=NavBar::Dark />
                    <NavLink href="/admin/work" label="Background work" current bar=NavBar::Dark />
                    <NavLink href="/admin/api-keys" label="API keys" current bar=NavBar::Dark />
                    <NavLink href="/admin/webhooks" label="Webhooks" current bar=NavBar::Dark />
                    <NavLink href="/admin/health" label="Health" current bar=NavBar::Dark />
                    <NavLink href="/admin/audit" label="Audit log" current bar=NavBar::Dark />
                    <form method="post" action="/api/admin_logout">
                        <button type="submit" class="text-slate-200 underline hover:text-white">"Sign out"</button>
                    </form>
                </div>
            </nav>
        </header>
        {refused_input_notice()}
    }
}

/// The console's notice for a filter or search the server refused before
/// running it (`?refused=control_character&field=NAME`): the words are this
/// code's, and the field is shown only when it is a plain field name.
fn refused_input_notice() -> Option<impl IntoView> {
    (crate::ui::query_value("refused").as_deref() == Some("control_character")).then(|| {
        let field = crate::ui::query_value("field").filter(|f| crate::error::is_plain_field_name(f));
        let message = match field {
            Some(field) => format!(
                "The {field} field held a control character (such as NUL), which no field accepts; nothing was searched."
            ),
            None => "A field held a control character (such as NUL), which no field accepts; nothing was searched.".to_owned(),
        };
        view! {
            <div role="alert" class="mx-auto mt-4 max-w-6xl px-4">
                <p class="rounded-md border border-red-200 bg-red-50 p-3 text-sm text-red-800" data-refused-input>{message}</p>
            </div>
        }
    })
}

/// Renders a console page's data; an admin who is not signed in is sent to
/// the console's sign-in, and any other error is shown with its status.
pub fn admin_outcome<T, V: IntoView + 'static>(
    result: Result<T, AppError>,
    render: impl FnOnce(T) -> V,
) -> AnyView {
    match result {
        Ok(data) => render(data).into_any(),
        Err(AppError::Unauthorized) => {
            #[cfg(feature = "ssr")]
            crate::security::redirect::redirect("/admin/login");
            view! {
                <p class="mx-auto my-12 max-w-xl">
                    "Please " <a href="/admin/login" class="underline">"sign in to the console"</a> "."
                </p>
            }
            .into_any()
        }
        Err(error) => crate::ui::failed_load(error),
    }
}

pub use crate::ui::table::{ROW_TH, TD, TD_NUM, TH, TH_NUM};
/// A small primary button.
pub const SMALL_BUTTON: &str =
    "rounded-md bg-brand px-3 py-2 text-sm font-semibold text-white hover:opacity-90";
/// A text input.
pub const INPUT: &str = "block w-full rounded-md border border-slate-300 px-3 py-2 text-slate-900";
