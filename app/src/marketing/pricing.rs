//! `/pricing`: tier cards with the monthly/annual switch, add-ons and the
//! feature matrix, all read from the catalogue through a server function.

use super::home::FaqSection;
use super::seo::{JsonLd, PageMeta};
use super::use_site;
use crate::catalog::api::get_pricing;
use crate::catalog::domain::{BillingCycle, Catalog, Metric, Tier};
use crate::ui::{ErrorNotice, SiteFooter, SiteHeader, product_name};
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use serde::{Deserialize, Serialize};

/// One tier card, with its labels for both cycles already formatted on the
/// server so the browser bundle needs no money formatting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TierCardView {
    /// Tier key, carried into signup.
    pub key: String,
    /// Display name.
    pub name: String,
    /// Who it is for.
    pub tagline: String,
    /// The recommended tier is highlighted.
    pub recommended: bool,
    /// "$49".
    pub monthly_price: String,
    /// "$529".
    pub annual_price: String,
    /// "$44.08".
    pub annual_price_per_month: String,
    /// "Save $59 a year (10 %)" or empty when there is no saving.
    pub annual_saving: String,
    /// "3 users", "1 workspace", "10 GB storage".
    pub limits: Vec<String>,
}

impl TierCardView {
    /// Formats a tier for its card.
    pub fn from_tier(tier: &Tier, metrics: &[Metric]) -> Self {
        let saving = tier.annual_saving();
        TierCardView {
            key: tier.key.clone(),
            name: tier.name.clone(),
            tagline: tier.tagline.clone(),
            recommended: tier.recommended,
            monthly_price: tier.monthly_price.display(),
            annual_price: tier.annual_price.display(),
            annual_price_per_month: tier.annual_price_per_month().display(),
            annual_saving: if saving.amount_minor > 0 {
                format!(
                    "Save {} a year ({} %)",
                    saving.display(),
                    tier.annual_saving_percent()
                )
            } else {
                String::new()
            },
            limits: metrics
                .iter()
                .map(|metric| tier.limits.get(&metric.key).label(metric))
                .collect(),
        }
    }
}

/// `/pricing?cycle=annual|monthly`.
#[component]
pub fn PricingPage() -> impl IntoView {
    let product = product_name();
    let query = use_query_map();
    let cycle = BillingCycle::from_query(query.read_untracked().get("cycle").as_deref());
    let site = use_site();
    let faqs = site.content.faqs.clone();
    let pricing = OnceResource::new(get_pricing());
    view! {
        <PageMeta
            title="Pricing".to_owned()
            description=format!(
                "{} plans and prices: Starter, Professional and Enterprise, billed monthly or annually, with a free trial and no card needed.",
                product,
            )
            path="/pricing"
        />
        <SiteHeader />
        <main id="main" class="mx-auto max-w-6xl px-4 py-16">
            <div class="mx-auto max-w-2xl text-center">
                <h1 class="text-4xl font-bold tracking-tight">"Plans and pricing"</h1>
                <p class="mt-4 text-lg text-slate-600">
                    "Start with a free trial on any plan. No card needed."
                </p>
            </div>
            <Suspense fallback=|| {
                view! { <p class="mt-12 text-center">"Loading prices…"</p> }
            }>
                {Suspend::new(async move {
                    match pricing.await {
                        Ok(catalog) => view! { <PricingContent catalog cycle /> }.into_any(),
                        Err(error) => view! { <ErrorNotice error /> }.into_any(),
                    }
                })}
            </Suspense>
            <FaqSection faqs />
        </main>
        <SiteFooter />
    }
}

/// Schema.org Product with one Offer per tier and cycle.
fn product_json_ld(
    catalog: &Catalog,
    product: &str,
    description: &str,
    public_url: &str,
) -> serde_json::Value {
    let offers: Vec<serde_json::Value> = catalog
        .tiers
        .iter()
        .flat_map(|tier| {
            [BillingCycle::Monthly, BillingCycle::Annual].map(|cycle| {
                let price = tier.price(cycle);
                serde_json::json!({
                    "@type": "Offer",
                    "name": format!("{} ({})", tier.name, cycle.as_str()),
                    "price": format!("{}.{:02}", price.amount_minor / 100, price.amount_minor % 100),
                    "priceCurrency": price.currency.code(),
                    "url": format!("{public_url}/signup?plan={}&cycle={}", tier.key, cycle.as_str()),
                    "availability": "https://schema.org/InStock",
                })
            })
        })
        .collect();
    serde_json::json!({
        "@context": "https://schema.org",
        "@type": "Product",
        "name": product,
        "description": description,
        "brand": { "@type": "Brand", "name": product },
        "offers": offers,
    })
}

#[component]
fn PricingContent(catalog: Catalog, cycle: BillingCycle) -> impl IntoView {
    let tiers: Vec<TierCardView> = catalog
        .tiers
        .iter()
        .map(|tier| TierCardView::from_tier(tier, &catalog.metrics))
        .collect();
    let best_saving_percent = catalog
        .tiers
        .iter()
        .map(Tier::annual_saving_percent)
        .max()
        .unwrap_or(0);
    let trial_days = catalog.trial.days;
    let site = use_site();
    let json_ld = product_json_ld(
        &catalog,
        &site.content.product.name,
        &site.content.product.description,
        &site.public_url,
    );
    view! {
        <JsonLd data=json_ld />
        <PricingPlans tiers initial_cycle=cycle best_saving_percent trial_days />
        <AddOnList catalog=catalog.clone() />
        <FeatureMatrix catalog />
    }
}

/// The cycle switch and the tier cards: the page's one interactive part.
/// Without JavaScript the switch is a pair of links that re-render the page
/// with the other cycle; after hydration it flips prices in place.
#[island]
pub fn PricingPlans(
    tiers: Vec<TierCardView>,
    initial_cycle: BillingCycle,
    best_saving_percent: i64,
    trial_days: u32,
) -> impl IntoView {
    let (cycle, set_cycle) = signal(initial_cycle);
    let switch_link = move |target: BillingCycle, label: &'static str| {
        let active = move || cycle.get() == target;
        view! {
            <a
                href=format!("/pricing?cycle={}#plans", target.as_str())
                aria-current=move || active().then_some("true")
                data-cycle=target.as_str()
                class=move || {
                    if active() {
                        "rounded-full bg-brand px-5 py-2 text-sm font-semibold text-white"
                    } else {
                        "rounded-full px-5 py-2 text-sm font-semibold text-slate-700 hover:text-brand"
                    }
                }
                on:click=move |event| {
                    event.prevent_default();
                    set_cycle.set(target);
                    remember_cycle_in_address(target);
                }
            >
                {label}
            </a>
        }
    };
    view! {
        <section id="plans" aria-labelledby="plans-heading" class="mt-12">
            <h2 id="plans-heading" class="sr-only">
                "Plans"
            </h2>
            <nav aria-label="Billing cycle" class="flex flex-col items-center gap-2">
                <div class="inline-flex rounded-full border border-slate-300 bg-slate-50 p-1">
                    {switch_link(BillingCycle::Monthly, "Monthly")}
                    {switch_link(BillingCycle::Annual, "Annual")}
                </div>
                <p class="text-sm text-emerald-800">
                    {format!("Save up to {best_saving_percent} % with annual billing")}
                </p>
            </nav>
            <ul class="mt-10 grid gap-6 md:grid-cols-3" aria-live="polite">
                {tiers
                    .into_iter()
                    .map(|tier| view! { <TierCard tier cycle trial_days /> })
                    .collect_view()}
            </ul>
        </section>
    }
}

#[component]
fn TierCard(tier: TierCardView, cycle: ReadSignal<BillingCycle>, trial_days: u32) -> impl IntoView {
    let annual = move || cycle.get() == BillingCycle::Annual;
    let TierCardView {
        key,
        name,
        tagline,
        recommended,
        monthly_price,
        annual_price,
        annual_price_per_month,
        annual_saving,
        limits,
    } = tier;
    let price = move || {
        if annual() {
            annual_price.clone()
        } else {
            monthly_price.clone()
        }
    };
    let period = move || if annual() { "/year" } else { "/month" };
    let detail = move || {
        if annual() {
            format!("{annual_price_per_month} a month, billed annually. {annual_saving}")
        } else {
            "Billed monthly. Cancel any time.".to_owned()
        }
    };
    let signup_href = {
        let key = key.clone();
        move || format!("/signup?plan={key}&cycle={}", cycle.get().as_str())
    };
    let card_class = if recommended {
        "relative flex flex-col rounded-2xl border-2 border-brand bg-white p-6 shadow-lg"
    } else {
        "relative flex flex-col rounded-2xl border border-slate-200 bg-white p-6"
    };
    view! {
        <li class=card_class data-tier=key.clone()>
            {recommended
                .then(|| {
                    view! {
                        <p class="absolute -top-3 left-6 rounded-full bg-brand px-3 py-0.5 text-xs font-semibold text-white">
                            "Recommended"
                        </p>
                    }
                })}
            <h3 class="text-xl font-semibold">{name.clone()}</h3>
            <p class="mt-2 min-h-12 text-sm text-slate-600">{tagline}</p>
            <p class="mt-6">
                <span class="text-4xl font-bold tracking-tight" data-price>
                    {price}
                </span>
                <span class="text-slate-600">{period}</span>
            </p>
            <p class="mt-1 min-h-10 text-sm text-slate-600">{detail}</p>
            <ul class="mt-6 space-y-2 text-sm">
                {limits.into_iter().map(|limit| view! { <li>{limit}</li> }).collect_view()}
            </ul>
            <a
                href=signup_href
                class=if recommended {
                    "mt-8 block rounded-md bg-brand px-4 py-2 text-center font-semibold text-white hover:opacity-90"
                } else {
                    "mt-8 block rounded-md border border-brand px-4 py-2 text-center font-semibold text-brand hover:bg-indigo-50"
                }
            >
                {format!("Start {trial_days}-day free trial")}
                <span class="sr-only">{format!(" of {name}")}</span>
            </a>
        </li>
    }
}

/// Keeps the address bar in step with the switch, so a reload or a shared
/// link shows the same cycle.
fn remember_cycle_in_address(cycle: BillingCycle) {
    #[cfg(feature = "hydrate")]
    if let Some(history) = web_sys::window().and_then(|w| w.history().ok()) {
        let url = format!("/pricing?cycle={}#plans", cycle.as_str());
        let _ = history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&url));
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = cycle;
}

#[component]
fn AddOnList(catalog: Catalog) -> impl IntoView {
    view! {
        <section aria-labelledby="add-ons-heading" class="mx-auto mt-20 max-w-3xl">
            <h2 id="add-ons-heading" class="text-2xl font-bold tracking-tight">
                "Add-ons"
            </h2>
            <p class="mt-2 text-slate-600">
                "Need a little more than your plan includes? Add it to any plan."
            </p>
            <ul class="mt-6 divide-y divide-slate-200 rounded-xl border border-slate-200">
                {catalog
                    .add_ons
                    .into_iter()
                    .map(|add_on| {
                        view! {
                            <li class="flex items-center justify-between gap-4 p-4" data-add-on=add_on.key>
                                <span class="font-medium">{add_on.name}</span>
                                <span class="text-slate-700">
                                    {format!(
                                        "{} per {} per month",
                                        add_on.monthly_unit_price.display(),
                                        add_on.unit,
                                    )}
                                </span>
                            </li>
                        }
                    })
                    .collect_view()}
            </ul>
        </section>
    }
}

#[component]
fn FeatureMatrix(catalog: Catalog) -> impl IntoView {
    let tier_names: Vec<(String, String)> = catalog
        .tiers
        .iter()
        .map(|t| (t.key.clone(), t.name.clone()))
        .collect();
    let column_count = tier_names.len() + 1;
    let groups = catalog.feature_groups.clone();
    view! {
        <section aria-labelledby="compare-heading" class="mt-20">
            <h2 id="compare-heading" class="text-center text-2xl font-bold tracking-tight">
                "Compare every feature"
            </h2>
            <div class="relative mt-8 overflow-x-auto md:overflow-visible">
                <table class="w-full min-w-[36rem] border-collapse text-left text-sm">
                    <caption class="sr-only">"Features included in each plan"</caption>
                    <thead class="sticky top-0 bg-white">
                        <tr class="border-b border-slate-300">
                            <th scope="col" class="py-3 pr-4 font-semibold">
                                "Feature"
                            </th>
                            {tier_names
                                .iter()
                                .map(|(_, name)| {
                                    view! {
                                        <th scope="col" class="px-4 py-3 text-center font-semibold">
                                            {name.clone()}
                                        </th>
                                    }
                                })
                                .collect_view()}
                        </tr>
                    </thead>
                    {groups
                        .into_iter()
                        .map(|group| {
                            let rows = group
                                .features
                                .iter()
                                .map(|feature| {
                                    let cells = tier_names
                                        .iter()
                                        .map(|(tier_key, _)| {
                                            let included = catalog.tier_includes(tier_key, feature);
                                            view! {
                                                <td class="px-4 py-2 text-center">
                                                    <span aria-hidden="true" class=if included { "text-emerald-700" } else { "text-slate-400" }>
                                                        {if included { "✓" } else { "–" }}
                                                    </span>
                                                    <span class="sr-only">
                                                        {if included { "Included" } else { "Not included" }}
                                                    </span>
                                                </td>
                                            }
                                        })
                                        .collect_view();
                                    view! {
                                        <tr class="border-b border-slate-100" data-feature=feature.key.clone()>
                                            <th scope="row" class="py-2 pr-4 font-normal">
                                                {feature.name.clone()}
                                            </th>
                                            {cells}
                                        </tr>
                                    }
                                })
                                .collect_view();
                            view! {
                                <tbody>
                                    <tr class="bg-slate-50">
                                        <th scope="rowgroup" colspan=column_count class="py-2 pl-2 font-semibold">
                                            {group.name}
                                        </th>
                                    </tr>
                                    {rows}
                                </tbody>
                            }
                        })
                        .collect_view()}
                </table>
            </div>
        </section>
    }
}
