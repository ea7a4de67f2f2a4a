//! The billing page's usage section: each limit as a bar (warning from
//! 80 %, full at 100 %) and the six-hourly history as a server-rendered
//! charts-rs SVG with a table as its text alternative.

// #[server] turns each function's parameters into the fields of a generated
// argument struct; parameters cannot carry doc comments, the functions do.
#![allow(missing_docs)]

use crate::error::AppError;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// One limit's bar.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageBar {
    /// Metric key.
    pub metric: String,
    /// Display name.
    pub name: String,
    /// "3 of 5 workspaces", "40 GB storage (unlimited)".
    pub label: String,
    /// Percent used, capped at 100 (`None`: unlimited).
    pub percent: Option<u64>,
    /// `calm`, `warning` or `at_limit`.
    pub level: String,
}

/// The usage section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageView {
    /// One bar per metric, in catalogue order.
    pub bars: Vec<UsageBar>,
    /// The history chart as SVG, when there is history.
    pub chart_svg: Option<String>,
    /// The history as a table: the column heads, then one row per snapshot.
    pub history: Vec<Vec<String>>,
}

/// The history chart: one line per metric over the snapshots' times.
#[cfg(feature = "ssr")]
pub fn history_chart(series: &[(String, Vec<f32>)], times: &[String]) -> Option<String> {
    use charts_rs::{LineChart, Series};
    if times.len() < 2 {
        return None;
    }
    let mut chart = LineChart::new(
        series
            .iter()
            .map(|(name, values)| Series::new(name.clone(), values.clone()))
            .collect(),
        times.to_vec(),
    );
    chart.width = 640.0;
    chart.height = 260.0;
    chart.title_text = String::new();
    chart.svg().ok()
}

/// Usage against each limit, and its recorded history (last 30 days).
#[server(prefix = "/api", endpoint = "usage", input = server_fn::codec::GetUrl)]
pub async fn get_usage_view() -> Result<UsageView, AppError> {
    let (_, scope) = crate::accounts::session::require_member().await?;
    let context = crate::context::app_context()?;
    let now = context.clock.now();
    let (catalog, standing) = super::guard::page_standing(&context, &scope, now).await?;
    let standing = standing.ok_or(AppError::NotFound)?;
    let since = now - chrono::TimeDelta::days(30);
    let history_cache = super::history_cache::snapshot_history_cache()?;
    let points = history_cache
        .since(&context.pool, scope.organization_id(), since)
        .await?;
    Ok(usage_view(&catalog, &standing.standing, &points))
}

/// The section drawn from a standing and its snapshots (metric, time, value).
#[cfg(feature = "ssr")]
pub fn usage_view(
    catalog: &crate::catalog::domain::Catalog,
    standing: &super::guard::Standing,
    points: &[super::history_cache::SnapshotPoint],
) -> UsageView {
    let bars = standing
        .allowances(catalog)
        .filter_map(|(key, allowance)| Some(usage_bar(key, catalog.metric(key)?, &allowance)))
        .collect();
    let mut times: Vec<chrono::DateTime<chrono::Utc>> = points.iter().map(|(_, at, _)| *at).collect();
    times.sort();
    times.dedup();
    let value_at = |key: &str, time: &chrono::DateTime<chrono::Utc>| {
        points
            .iter()
            .find(|(k, at, _)| k == key && at == time)
            .map_or(0.0, |(_, _, v)| *v as f32)
    };
    let series: Vec<(String, Vec<f32>)> = catalog
        .metrics
        .iter()
        .map(|m| {
            (
                m.name.clone(),
                times.iter().map(|t| value_at(&m.key, t)).collect(),
            )
        })
        .collect();
    let labels: Vec<String> = times.iter().map(|t| crate::format::axis_minute(*t)).collect();
    let head =
        std::iter::once("Recorded (UTC)".to_owned()).chain(series.iter().map(|(name, _)| name.clone()));
    let mut history = vec![head.collect::<Vec<_>>()];
    for (index, label) in labels.iter().enumerate() {
        let values = series.iter().map(|(_, values)| format!("{}", values[index]));
        history.push(std::iter::once(label.clone()).chain(values).collect());
    }
    UsageView {
        bars,
        chart_svg: history_chart(&series, &labels),
        history,
    }
}

/// A metric's bar: "3 of 5 workspaces", its share and its level.
#[cfg(feature = "ssr")]
fn usage_bar(
    key: &str,
    metric: &crate::catalog::domain::Metric,
    allowance: &super::domain::Allowance,
) -> UsageBar {
    use super::domain::UsageLevel;
    let label = match allowance.limit {
        Some(limit) => format!("{} of {limit} {}", allowance.used, metric.units),
        None => format!("{} {} (unlimited)", allowance.used, metric.units),
    };
    let level = match allowance.level() {
        UsageLevel::Calm => "calm",
        UsageLevel::Warning => "warning",
        UsageLevel::AtLimit => "at_limit",
    };
    UsageBar {
        metric: key.to_owned(),
        name: metric.name.clone(),
        label,
        percent: allowance.percent(),
        level: level.to_owned(),
    }
}

/// The usage section of the billing page.
#[component]
pub fn UsageSection() -> impl IntoView {
    let usage = OnceResource::new(get_usage_view());
    view! {
        <Suspense fallback=|| ()>
            {Suspend::new(async move { usage.await.ok().map(|usage| view! { <UsagePanel usage /> }) })}
        </Suspense>
    }
}

#[component]
fn UsagePanel(usage: UsageView) -> impl IntoView {
    let bars = usage
        .bars
        .into_iter()
        .map(|bar| {
            view! {
                <li class="space-y-1" data-usage=bar.metric.clone() data-level=bar.level.clone()>
                    <div class="flex justify-between text-sm">
                        <span class="font-medium">{bar.name.clone()}</span>
                        <span class="text-slate-700">{bar.label.clone()}</span>
                    </div>
                    {match bar.percent {
                        // A meter needs no inline style (the CSP allows none):
                        // the browser colours it calm below 80 %, warning from
                        // 80 % and alarm at 100 %.
                        Some(percent) => view! {
                            <meter
                                class="h-3 w-full"
                                min="0"
                                max="100"
                                low="79"
                                high="99"
                                optimum="0"
                                value=percent.to_string()
                                aria-label=bar.name.clone()
                                aria-valuetext=bar.label.clone()
                            >
                                {format!("{percent} %")}
                            </meter>
                        }
                        .into_any(),
                        None => view! { <p class="text-xs text-slate-600">"No limit on your plan."</p> }.into_any(),
                    }}
                </li>
            }
        })
        .collect_view();
    let head = usage.history.first().cloned().unwrap_or_default();
    let rows = usage.history.into_iter().skip(1).collect::<Vec<_>>();
    let chart = usage.chart_svg.map(|svg| {
        view! {
            <figure class="space-y-2">
                <div role="img" aria-label="Usage over the last 30 days; the table below gives the same figures" class="relative overflow-x-auto" inner_html=svg></div>
                <figcaption class="text-sm text-slate-600">"Usage recorded every six hours over the last 30 days."</figcaption>
            </figure>
        }
    });
    let table = (!rows.is_empty()).then(|| {
        view! {
            <details class="text-sm">
                <summary class="cursor-pointer">"Usage history as a table"</summary>
                <table class="mt-2 w-full">
                    <thead>
                        <tr>{head.into_iter().map(|h| view! { <th scope="col" class="text-left">{h}</th> }).collect_view()}</tr>
                    </thead>
                    <tbody>
                        {rows
                            .into_iter()
                            .map(|row| view! { <tr>{row.into_iter().map(|c| view! { <td>{c}</td> }).collect_view()}</tr> })
                            .collect_view()}
                    </tbody>
                </table>
            </details>
        }
    });
    view! {
        <section aria-labelledby="usage-heading" class="space-y-4 rounded-xl border border-slate-200 p-6">
            <h2 id="usage-heading" class="text-xl font-semibold">"Usage"</h2>
            <ul class="space-y-4">{bars}</ul>
            {chart}
            {table}
        </section>
    }
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use super::*;

    #[test]
    fn the_history_chart_is_an_svg_once_there_are_two_points() {
        let series = vec![("Workspaces".to_owned(), vec![1.0, 3.0, 2.0])];
        let times = vec!["a".to_owned(), "b".to_owned(), "c".to_owned()];
        let svg = history_chart(&series, &times).expect("a chart");
        assert!(svg.starts_with("<svg"), "{}", &svg[..40.min(svg.len())]);
        assert!(svg.contains("Workspaces"));
        assert_eq!(history_chart(&series, &times[..1]), None);
    }
}
