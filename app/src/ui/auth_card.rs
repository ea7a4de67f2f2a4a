//! The centred card every account form sits in (sign-up, sign-in,
//! recovery, invitations).

use crate::ui::{SiteFooter, SiteHeader};
use leptos::prelude::*;
use leptos_meta::Meta;

/// A centred card for an account form.
#[component]
pub fn AuthCard(
    /// The page heading.
    heading: &'static str,
    /// The card's content.
    children: Children,
) -> impl IntoView {
    view! {
        <Meta name="robots" content="noindex" />
        <SiteHeader />
        <main id="main" class="mx-auto max-w-md px-4 py-16">
            <h1 class="text-3xl font-bold tracking-tight">{heading}</h1>
            <div class="mt-8 space-y-6">{children()}</div>
        </main>
        <SiteFooter />
    }
}

/// The full-width button of an account form.
pub const BUTTON: &str = "w-full rounded-md bg-brand px-4 py-2 font-semibold text-white hover:opacity-90";
