//! The home page.

use crate::ui::{PRODUCT_NAME, SiteFooter, SiteHeader};
use leptos::prelude::*;
use leptos_meta::{Meta, Title};

/// `/`: the product in one line and the way to pricing.
#[component]
pub fn HomePage() -> impl IntoView {
    let description = "Plan, run and improve your production lines in one place: work orders, OEE, quality and maintenance for modern manufacturers.";
    view! {
        <Title text=format!("{PRODUCT_NAME} — manufacturing operations, in one place") />
        <Meta name="description" content=description />
        <SiteHeader />
        <main id="main" class="mx-auto max-w-4xl px-4 py-24 text-center">
            <h1 class="text-4xl font-bold tracking-tight sm:text-5xl">{PRODUCT_NAME}</h1>
            <p class="mx-auto mt-6 max-w-2xl text-lg text-slate-600">{description}</p>
            <p class="mt-10 flex flex-wrap justify-center gap-4">
                <a
                    href="/pricing"
                    class="rounded-md bg-indigo-700 px-6 py-3 font-semibold text-white hover:bg-indigo-800"
                >
                    "See plans and pricing"
                </a>
            </p>
        </main>
        <SiteFooter />
    }
}
