//! Logs, request ids and Prometheus metrics.

use crate::config::LogFormat;
use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Instant;
use tracing_subscriber::EnvFilter;

/// What is logged unless `RUST_LOG` says otherwise. async-stripe warns on
/// every checkout session because Stripe reports `ui_mode: "hosted"`, a
/// name its enum lacks (it reads it as an unknown value, which Gatehouse
/// never uses): that module logs errors only.
const DEFAULT_LOG_FILTER: &str =
    "info,sqlx=warn,tower_http=info,leptos=warn,stripe_shared::checkout_session=error";

/// Installs the global log subscriber. `RUST_LOG` overrides the default filter.
pub fn init_tracing(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_LOG_FILTER));
    // Logs go to stderr so that commands can print results on stdout.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(std::io::stderr);
    let result = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    // A second init (tests, subcommands) keeps the first subscriber.
    let _ = result;
}

/// The process-wide Prometheus recorder, installed on first use.
pub fn prometheus() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full("http_request_duration_seconds".into()),
                    &[
                        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                    ],
                )
                .unwrap_or_else(|_| PrometheusBuilder::new());
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was already installed");
            }
            spawn_upkeep(handle.clone());
            handle
        })
        .clone()
}

/// Histograms keep raw samples until they are folded into buckets; without
/// the exporter's own HTTP listener nothing does that unless asked, and memory
/// grows with every request between scrapes.
fn spawn_upkeep(handle: PrometheusHandle) {
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        runtime.spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
            loop {
                tick.tick().await;
                handle.run_upkeep();
            }
        });
    }
}

/// Counts every request and records its latency, labelled by the matched
/// route (never the raw path, which would explode the label space).
pub async fn track_requests(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let path = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = method_label(request.method());
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    let labels = [("method", method.to_owned()), ("path", path), ("status", status)];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels).record(started.elapsed().as_secs_f64());
    response
}

/// A request method as a label from a fixed set: any method a client makes
/// up is `other`, so requests cannot add series to `/metrics`.
pub fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

/// Sets the queue gauges from the database: provider events waiting,
/// unmatched (not Gatehouse's objects) or failed (out of retries), and
/// emails queued or dead. The counts are global, so every instance reports
/// the same figures; alert on `max`.
pub async fn record_queue_depths(pool: &sqlx::PgPool) -> Result<(), sqlx::Error> {
    for (status, count) in app::billing::inbox::depths(pool).await?.by_status() {
        metrics::gauge!("gatehouse_provider_events", "status" => status.as_str()).set(count as f64);
    }
    for (status, count) in app::email::outbox::depths(pool).await?.by_status() {
        metrics::gauge!("gatehouse_email_outbox", "status" => status.as_str()).set(count as f64);
    }
    Ok(())
}

#[cfg(test)]
mod method_tests {
    use super::method_label;
    use axum::http::Method;

    #[test]
    fn made_up_methods_share_one_label() {
        for made_up in ["FOO", "PROPFIND", "get", "X-1", "BREW"] {
            let method = Method::from_bytes(made_up.as_bytes()).expect("a token");
            assert_eq!(method_label(&method), "other", "{made_up}");
        }
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::PATCH), "PATCH");
    }
}
