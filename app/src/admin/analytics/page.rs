//! `/admin/analytics?first=&last=&from=&to=`.

use super::{ChartView, TableView, get_analytics};
use crate::admin::frame::{ConsolePage, INPUT, SMALL_BUTTON, TD, TH, admin_outcome};
use crate::ui::form::{FormFeedback, FormSummary};
use crate::ui::table::ScrollRegion;
use crate::ui::{encode_query_value, query_value};
use leptos::prelude::*;

/// Figures line up by their digits.
const FIGURE: &str = "text-right tabular-nums whitespace-nowrap";

fn cards(period: String, cards: Vec<super::CardView>) -> impl IntoView {
    (!cards.is_empty()).then(|| {
        view! {
            <section aria-labelledby="cards-heading" class="space-y-3">
                <h2 id="cards-heading" class="text-xl font-semibold">"At a glance"</h2>
                <p class="text-sm text-slate-700" data-cards-period>{period}</p>
                <dl class="grid grid-cols-1 gap-3 sm:grid-cols-2 lg:grid-cols-5">
                    {cards.into_iter().map(|card| view! {
                        <div class="rounded-lg border border-slate-200 p-3" data-card=card.key.clone()>
                            <dt class="text-sm font-medium text-slate-700">{card.label.clone()}</dt>
                            <dd class="text-2xl font-semibold tabular-nums" data-now>{card.now}</dd>
                            <dd class="text-sm text-slate-700 tabular-nums">
                                <span data-change>{card.change}</span>
                                " · before: "
                                <span data-previous>{card.previous}</span>
                            </dd>
                            <dd class="mt-1 text-xs text-slate-600">{card.meaning}</dd>
                        </div>
                    }).collect_view()}
                </dl>
            </section>
        }
    })
}

/// One of a row of choices, filled when it is the one shown.
fn choice_link(href: String, label: String, current: bool) -> impl IntoView {
    let class = if current {
        "rounded-full bg-slate-900 px-3 py-1 text-white"
    } else {
        "rounded-full border border-slate-300 px-3 py-1 text-slate-800 hover:bg-slate-100"
    };
    view! { <a href=href class=class aria-current=current.then_some("page")>{label}</a> }
}

fn quick_ranges(ranges: Vec<super::QuickRange>) -> impl IntoView {
    view! {
        <nav aria-label="Quick ranges" class="flex flex-wrap gap-2 text-sm">
            {ranges.into_iter().map(|range| {
                choice_link(format!("/admin/analytics?{}", range.query), range.label, range.current)
            }).collect_view()}
        </nav>
    }
}

fn data_table(id: &'static str, caption: String, table: TableView) -> impl IntoView {
    let link_rows = id == "months";
    view! {
        <ScrollRegion label=caption.clone()>
            <table class="w-full text-sm" data-table=id>
                <caption class="text-left font-semibold">{caption}</caption>
                <thead><tr>{table.head.into_iter().enumerate().map(|(i, h)| {
                    // Every column after the first holds figures: right-aligned, tabular digits.
                    let class = if i == 0 { TH.to_owned() } else { format!("{TH} {FIGURE}") };
                    view! { <th scope="col" class=class>{h}</th> }
                }).collect_view()}</tr></thead>
                <tbody>
                    {table.rows.into_iter().map(|row| {
                        let mut cells = row.into_iter();
                        let first = cells.next().unwrap_or_default();
                        view! {
                            <tr class="border-t border-slate-100">
                                <th scope="row" class="py-2 pr-4 text-left align-top font-normal whitespace-nowrap">
                                    {match link_rows.then(|| first.get(..7).unwrap_or_default().to_owned()) {
                                        // A month's row leads to the organisations behind its movements.
                                        Some(month) => view! { <a href=format!("/admin/movements?month={month}") class="underline">{first}</a> }.into_any(),
                                        None => first.into_any(),
                                    }}
                                </th>
                                {cells.map(|c| view! { <td class=format!("{TD} {FIGURE}")>{c}</td> }).collect_view()}
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </ScrollRegion>
    }
}

fn chart(title: &'static str, chart: Option<ChartView>) -> impl IntoView {
    chart_with_legend(title, chart, None::<()>)
}

/// A chart, its sentence and an optional legend. Under the `sm` width the
/// drawing (720 px wide, its text too small once shrunk) gives way to a
/// pointer to the table beside it, which holds the same figures.
fn chart_with_legend(
    title: &'static str,
    chart: Option<ChartView>,
    legend: Option<impl IntoView>,
) -> impl IntoView {
    chart.map(|chart| {
        view! {
            <figure class="space-y-2">
                // The SVG is made on the server by charts-rs from figures, not from user input.
                <div class="hidden sm:block [&_svg]:h-auto [&_svg]:max-w-full" aria-hidden="true" inner_html=chart.svg></div>
                <p class="text-sm text-slate-600 sm:hidden" aria-hidden="true">"The chart needs a wider screen; the table below has its figures."</p>
                {legend}
                <figcaption class="text-sm text-slate-700"><strong>{title} ": "</strong>{chart.summary}</figcaption>
            </figure>
        }
    })
}

/// The cohort heatmap's scale, light to dark.
fn retention_legend(by_revenue: bool) -> impl IntoView {
    let (low, high) = match by_revenue {
        true => ("0 % of month 0's MRR", "150 % or more"),
        false => ("0 % still paying", "100 %"),
    };
    view! {
        <div class="hidden items-center gap-2 text-xs text-slate-700 sm:flex" data-legend="cohorts">
            <span>{low}</span>
            <span class="h-3 w-40 rounded bg-gradient-to-r from-[#eff6ff] to-[#1e3a8a]" aria-hidden="true"></span>
            <span>{high}</span>
        </div>
    }
}

/// Customers or revenue for the cohort heatmap, as two links keeping the window.
fn cohort_switch(window: String, by_revenue: bool) -> impl IntoView {
    let link = |measure: &str, label: &str, current: bool| {
        choice_link(
            format!("/admin/analytics?{window}&cohorts={measure}#cohort-heading"),
            label.to_owned(),
            current,
        )
    };
    view! {
        <nav aria-label="Cohorts by" class="flex flex-wrap gap-2 text-sm" data-cohort-switch>
            {link("customers", "Customers", !by_revenue)}
            {link("revenue", "Revenue", by_revenue)}
        </nav>
    }
}

/// The analytics page.
#[component]
pub fn AdminAnalyticsPage() -> impl IntoView {
    let feedback = FormFeedback::from_address();
    let [first, last, from, to] = ["first", "last", "from", "to"].map(query_value);
    let (fr2, t2) = (from.clone(), to.clone());
    let analytics = OnceResource::new(get_analytics(first, last, from, to, query_value("cohorts")));
    view! {
        <ConsolePage title="Analytics" section="/admin/analytics" heading="Analytics">
            <FormSummary feedback=feedback />
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {Suspend::new(async move {
                    let result = analytics.await;
                    let (from, to) = (fr2.clone(), t2.clone());
                    admin_outcome(result, move |view| {
                        let window = format!("first={}&last={}", encode_query_value(&view.first), encode_query_value(&view.last));
                        let download = |table: &str| format!("/admin/analytics/{table}.csv?{window}");
                        view! {
                            <p class="text-lg" data-headline>{view.headline.clone()}</p>
                            {quick_ranges(view.quick_ranges.clone())}
                            {cards(view.cards_period.clone(), view.cards.clone())}
                            {view.freshness.clone().map(|freshness| view! { <p class="text-sm text-slate-700" data-freshness>{freshness}</p> })}
                            <p class="text-slate-700">"Scheduled churn (MRR of subscriptions set to cancel at period end): " {view.scheduled_churn.clone()}</p>
                            <p class="text-slate-700" data-at-risk>"Money at risk: " {view.at_risk.clone()} " "
                                <a href="/admin/organizations?status=past_due" class="underline">"See them"</a></p>
                            <form method="get" action="/admin/analytics" class="grid grid-cols-1 gap-3 sm:grid-cols-5" aria-label="Date range">
                                <div><label for="first" class="block text-sm font-medium">"First month"</label>
                                    <input id="first" name="first" type="month" value=view.first.clone() class=INPUT /></div>
                                <div><label for="last" class="block text-sm font-medium">"Last month"</label>
                                    <input id="last" name="last" type="month" value=view.last.clone() class=INPUT /></div>
                                <div><label for="from" class="block text-sm font-medium">"Range from"</label>
                                    <input id="from" name="from" type="date" value=from.clone() class=INPUT /></div>
                                <div><label for="to" class="block text-sm font-medium">"Range to"</label>
                                    <input id="to" name="to" type="date" value=to.clone() class=INPUT /></div>
                                <div class="flex items-end"><button type="submit" class=SMALL_BUTTON>"Show"</button></div>
                            </form>
                            <p class="flex flex-wrap gap-4 text-sm">
                                <a href=download("months") class="underline" download>"Months (CSV)"</a>
                                <a href=download("cohorts") class="underline" download>"Cohorts (CSV)"</a>
                                <a href=download("splits") class="underline" download>"MRR by plan and interval (CSV)"</a>
                                <a href=download("forecast") class="underline" download>"Forecast (CSV)"</a>
                                <a href=format!("/admin/analytics/export.json?{window}") class="underline" download>"Every figure (JSON)"</a>
                            </p>
                            {view.range.clone().map(|(label, table)| data_table("range", format!("From {label}"), table))}
                            <section aria-labelledby="mrr-heading" class="space-y-4">
                                <h2 id="mrr-heading" class="text-xl font-semibold">"MRR and movements"</h2>
                                {chart("MRR, in all and by plan", view.mrr_chart.clone())}
                                {chart("Movements", view.movements_chart.clone())}
                                {data_table("months", "Each month".to_owned(), view.months.clone())}
                                {data_table("splits", "MRR at the window's end by plan and by billing interval".to_owned(), view.splits.clone())}
                            </section>
                            <section aria-labelledby="cohort-heading" class="space-y-4">
                                <h2 id="cohort-heading" class="text-xl font-semibold">"Cohort retention"</h2>
                                {cohort_switch(window.clone(), view.cohorts_by_revenue)}
                                {chart_with_legend(
                                    if view.cohorts_by_revenue { "Net MRR retention" } else { "Customer retention" },
                                    view.cohort_chart.clone(),
                                    Some(retention_legend(view.cohorts_by_revenue)),
                                )}
                                {data_table("cohorts", "Customer and net MRR retention by cohort".to_owned(), view.cohorts.clone())}
                            </section>
                            <section aria-labelledby="forecast-heading" class="space-y-4">
                                <h2 id="forecast-heading" class="text-xl font-semibold">"Forecast"</h2>
                                <p class="text-slate-800" data-forecast-sentence>{view.forecast_sentence.clone()}</p>
                                <details class="text-sm text-slate-700">
                                    <summary class="cursor-pointer">"How the forecast is made"</summary>
                                    <p class="mt-2" data-method>{view.forecast_method.clone()}</p>
                                </details>
                                {chart("Forecast", view.forecast_chart.clone())}
                                {data_table("forecast", "The next 12 months".to_owned(), view.forecast.clone())}
                            </section>
                        }
                    })
                })}
            </Suspense>
        </ConsolePage>
    }
}
