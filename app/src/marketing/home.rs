//! The landing page, from `content/site.toml` and the catalogue.

use super::content::Faq;
use super::seo::{JsonLd, PageMeta};
use super::use_site;
use crate::catalog::api::get_pricing;
use crate::ui::{SiteFooter, SiteHeader};
use leptos::prelude::*;

/// `/`: hero, personas, benefits, social proof, highlights, a pricing teaser,
/// FAQ and footer.
#[component]
pub fn HomePage() -> impl IntoView {
    let site = use_site();
    let content = site.content.clone();
    let organization = serde_json::json!({
        "@context": "https://schema.org",
        "@type": "Organization",
        "name": content.product.name,
        "url": site.public_url,
        "logo": format!("{}/favicon.svg", site.public_url),
        "description": content.product.description,
    });
    let hero = content.hero.clone();
    view! {
        <PageMeta title=String::new() description=content.product.description.clone() path="/" />
        <JsonLd data=organization />
        <SiteHeader />
        <main id="main">
            <section class="bg-gradient-to-b from-slate-50 to-white">
                <div class="mx-auto max-w-4xl px-4 py-16 text-center sm:py-24">
                    <p class="text-sm font-semibold uppercase tracking-wide text-brand">
                        {content.product.tagline.clone()}
                    </p>
                    <h1 class="mt-4 text-4xl font-bold tracking-tight text-balance sm:text-5xl">{hero.headline}</h1>
                    <p class="mx-auto mt-6 max-w-2xl text-lg text-slate-700">{hero.subheadline}</p>
                    <div class="mt-10 flex flex-col items-center justify-center gap-4 sm:flex-row">
                        <a
                            href="/signup"
                            data-cta="hero"
                            class="w-full rounded-md bg-brand px-6 py-3 font-semibold text-white hover:opacity-90 sm:w-auto"
                        >
                            {hero.call_to_action}
                        </a>
                        <a href="/pricing" class="font-semibold text-brand underline-offset-4 hover:underline">
                            "See plans and pricing"
                        </a>
                    </div>
                </div>
            </section>

            <section aria-labelledby="benefits-heading" class="mx-auto max-w-6xl px-4 py-12">
                <h2 id="benefits-heading" class="sr-only">"Results"</h2>
                <dl class="grid grid-cols-2 gap-6 lg:grid-cols-4">
                    {content
                        .benefits
                        .iter()
                        .map(|benefit| {
                            view! {
                                // The figure reads first on screen; the label stays first for screen readers.
                                <div class="flex flex-col-reverse rounded-xl border border-slate-200 p-5 text-center">
                                    <dt class="mt-1 text-sm text-slate-700">{benefit.label.clone()}</dt>
                                    <dd class="text-3xl font-bold text-brand">{benefit.figure.clone()}</dd>
                                </div>
                            }
                        })
                        .collect_view()}
                </dl>
            </section>

            <section aria-labelledby="customers-heading" class="mx-auto max-w-6xl px-4 py-8">
                <h2 id="customers-heading" class="text-center text-sm font-semibold uppercase tracking-wide text-slate-600">
                    "Trusted on the shop floor at"
                </h2>
                <ul class="mt-6 flex flex-wrap items-center justify-center gap-x-10 gap-y-4 text-lg font-semibold text-slate-600">
                    {content.logos.iter().map(|name| view! { <li>{name.clone()}</li> }).collect_view()}
                </ul>
            </section>

            <section aria-labelledby="personas-heading" class="mx-auto max-w-6xl px-4 py-16">
                <h2 id="personas-heading" class="text-center text-3xl font-bold tracking-tight">
                    "Built for everyone who keeps the plant running"
                </h2>
                <div class="mt-10 grid gap-6 md:grid-cols-2">
                    {content
                        .personas
                        .iter()
                        .map(|persona| {
                            view! {
                                <article class="rounded-2xl border border-slate-200 p-6">
                                    <p class="text-sm font-semibold text-brand">{persona.audience.clone()}</p>
                                    <h3 class="mt-2 text-xl font-semibold">{persona.headline.clone()}</h3>
                                    <p class="mt-3 text-slate-700">{persona.body.clone()}</p>
                                </article>
                            }
                        })
                        .collect_view()}
                </div>
            </section>

            <section aria-labelledby="highlights-heading" class="bg-slate-50">
                <div class="mx-auto max-w-6xl px-4 py-16">
                    <h2 id="highlights-heading" class="text-center text-3xl font-bold tracking-tight">
                        "Everything your operation needs"
                    </h2>
                    <ul class="mt-10 grid gap-6 sm:grid-cols-2 lg:grid-cols-3">
                        {content
                            .highlights
                            .iter()
                            .map(|highlight| {
                                view! {
                                    <li class="rounded-xl bg-white p-6 shadow-sm">
                                        <h3 class="font-semibold">{highlight.title.clone()}</h3>
                                        <p class="mt-2 text-sm text-slate-700">{highlight.body.clone()}</p>
                                    </li>
                                }
                            })
                            .collect_view()}
                    </ul>
                </div>
            </section>

            <PricingTeaser />

            <section aria-labelledby="testimonials-heading" class="mx-auto max-w-6xl px-4 py-16">
                <h2 id="testimonials-heading" class="text-center text-3xl font-bold tracking-tight">
                    "What our customers say"
                </h2>
                <div class="mt-10 grid gap-6 lg:grid-cols-3">
                    {content
                        .testimonials
                        .iter()
                        .map(|testimonial| {
                            view! {
                                <figure class="rounded-2xl border border-slate-200 p-6">
                                    <blockquote class="text-slate-800">
                                        <p>{format!("“{}”", testimonial.quote)}</p>
                                    </blockquote>
                                    <figcaption class="mt-4 text-sm">
                                        <span class="font-semibold">{testimonial.name.clone()}</span>
                                        <span class="text-slate-600">
                                            {format!(", {}, {}", testimonial.role, testimonial.company)}
                                        </span>
                                    </figcaption>
                                </figure>
                            }
                        })
                        .collect_view()}
                </div>
            </section>

            <FaqSection faqs=content.faqs.clone() />

            <section class="bg-brand">
                <div class="mx-auto max-w-4xl px-4 py-16 text-center text-white">
                    <h2 class="text-3xl font-bold tracking-tight">"Ready to see your plant live?"</h2>
                    <p class="mt-4">"Start a free trial in two minutes. No card needed."</p>
                    <a
                        href="/signup"
                        data-cta="footer"
                        class="mt-8 inline-block rounded-md bg-white px-6 py-3 font-semibold text-brand hover:bg-slate-100"
                    >
                        {content.hero.call_to_action.clone()}
                    </a>
                </div>
            </section>
        </main>
        <SiteFooter />
    }
}

/// The tiers' monthly prices, read from the catalogue.
#[component]
fn PricingTeaser() -> impl IntoView {
    let pricing = OnceResource::new(get_pricing());
    view! {
        <section aria-labelledby="pricing-teaser-heading" class="mx-auto max-w-6xl px-4 py-16">
            <h2 id="pricing-teaser-heading" class="text-center text-3xl font-bold tracking-tight">
                "Simple pricing that grows with you"
            </h2>
            <Suspense fallback=|| ()>
                {Suspend::new(async move {
                    pricing
                        .await
                        .ok()
                        .map(|catalog| {
                            let trial_days = catalog.trial.days;
                            view! {
                                <ul class="mt-10 grid gap-6 md:grid-cols-3">
                                    {catalog
                                        .tiers
                                        .iter()
                                        .map(|tier| {
                                            view! {
                                                <li class="rounded-2xl border border-slate-200 p-6 text-center" data-teaser-tier=tier.key.clone()>
                                                    <h3 class="text-lg font-semibold">{tier.name.clone()}</h3>
                                                    <p class="mt-2">
                                                        <span class="text-3xl font-bold">{tier.monthly_price.display()}</span>
                                                        <span class="text-slate-600">"/month"</span>
                                                    </p>
                                                    <a
                                                        href=format!("/signup?plan={}&cycle=monthly", tier.key)
                                                        data-cta="teaser"
                                                        class="mt-4 inline-block font-semibold text-brand underline"
                                                    >
                                                        {format!("Try {} free for {trial_days} days", tier.name)}
                                                    </a>
                                                </li>
                                            }
                                        })
                                        .collect_view()}
                                </ul>
                                <p class="mt-6 text-center">
                                    <a href="/pricing" class="font-semibold text-brand underline">"Compare all plans and features"</a>
                                </p>
                            }
                        })
                })}
            </Suspense>
        </section>
    }
}

/// Questions and answers as disclosure widgets (no script needed).
#[component]
pub fn FaqSection(
    /// The questions.
    faqs: Vec<Faq>,
) -> impl IntoView {
    view! {
        <section aria-labelledby="faq-heading" class="mx-auto max-w-3xl px-4 py-16">
            <h2 id="faq-heading" class="text-center text-3xl font-bold tracking-tight">"Frequently asked questions"</h2>
            <div class="mt-8 divide-y divide-slate-200 border-y border-slate-200">
                {faqs
                    .into_iter()
                    .map(|faq| {
                        view! {
                            <details class="group py-4">
                                <summary class="cursor-pointer list-none font-semibold marker:hidden">
                                    {faq.question}
                                </summary>
                                <p class="mt-3 text-slate-700">{faq.answer}</p>
                            </details>
                        }
                    })
                    .collect_view()}
            </div>
        </section>
    }
}
