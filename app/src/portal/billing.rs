//! `/app/billing` put together: the billing floor's panels (plan, trial,
//! add-ons, card, invoices and their forms) and the entitlements floor's
//! usage. The page and its read stand here, above both floors, because the
//! panels count users as the entitlement guard does.

// #[server] turns each function's parameters into the fields of a generated
// argument struct; parameters cannot carry doc comments, the functions do.
#![allow(missing_docs)]

use crate::billing::{BillingPanels, BillingView};
use crate::entitlements::usage_view::UsageSection;
use crate::error::AppError;
use crate::portal::frame::portal_outcome;
use crate::ui::form::{FormFeedback, FormSummary, Notice};
use crate::ui::product_name;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

#[cfg(feature = "ssr")]
use {
    crate::accounts::session::require_member,
    crate::billing::view::{BillingFacts, billing_view, describe_test_card},
    crate::context::app_context,
    crate::entitlements::guard::{page_standing, seats},
    uuid::Uuid,
};

/// Everything the billing page shows.
#[server(prefix = "/api", endpoint = "billing", input = server_fn::codec::GetUrl)]
pub async fn get_billing() -> Result<BillingView, AppError> {
    let (_, scope) = require_member().await?;
    let context = app_context()?;
    let billing = crate::billing::context::billing_context()?;
    let catalog_cache = crate::catalog::cache::catalog_cache()?;
    let catalog_generation = catalog_cache.generation();
    let catalog = catalog_cache.get(&context.pool).await?;
    let reads = billing
        .pages
        .reads(
            &context.pool,
            billing.sandbox.as_ref(),
            &scope,
            catalog_generation,
        )
        .await?;
    // The banner and the usage bars read the same cached standing.
    let (_, standing) = page_standing(&context, &scope, context.clock.now()).await?;
    let (users_counted, _) = seats(standing.as_ref().map(|cached| &cached.standing));
    let card = reads
        .card
        .as_ref()
        .map(|(last4, fails)| describe_test_card(last4, *fails));
    Ok(billing_view(BillingFacts {
        catalog: &catalog,
        row: reads.row.as_ref(),
        invoices: reads.invoices.clone(),
        users_counted,
        card,
        can_manage: scope.role().manages_team(),
        provider: billing.provider.name(),
        test_mode: billing.sandbox.is_some(),
        request_id: Uuid::new_v4(),
    }))
}

/// `/app/billing`.
#[component]
pub fn BillingPage() -> impl IntoView {
    let product = product_name();
    let feedback = FormFeedback::from_address();
    let notice = use_query_map().with_untracked(|q| {
        [
            ("changed", "now", "Your plan was changed."),
            (
                "changed",
                "later",
                "Your plan will change at the end of the current period.",
            ),
            (
                "canceled",
                "1",
                "Your subscription will end at the end of the current period.",
            ),
            ("resumed", "1", "Your subscription will continue."),
            ("card", "1", "Your card was updated."),
            ("period_ended", "1", "Test mode: the current period has ended."),
        ]
        .into_iter()
        .find(|(key, value, _)| q.get(key).as_deref() == Some(*value))
        .map(|(_, _, message)| message)
    });
    // A resource runs as its own task: see `server/tests/api/page_loads.rs`.
    let billing = OnceResource::new(get_billing());
    view! {
        <Title text=format!("Billing — {product}") />
        <main id="main" class="mx-auto max-w-5xl space-y-8 px-4 py-10">
            <h1 class="text-3xl font-bold tracking-tight">"Billing"</h1>
            {notice.map(|message| view! { <Notice message=message.to_owned() /> })}
            <FormSummary feedback=feedback.clone() />
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {Suspend::new(async move {
                    let feedback = feedback.clone();
                    portal_outcome(billing.await, "/app/billing", move |view| view! { <BillingPanels view feedback /> })
                })}
            </Suspense>
            <UsageSection />
        </main>
    }
}
