//! Delivers the outbound webhook outbox: each pending delivery is POSTed to
//! its endpoint, signed per the Standard Webhooks specification
//! (`webhook-id`, `webhook-timestamp`, `webhook-signature`, via the
//! `standardwebhooks` crate), and every attempt is recorded. A 2xx answer
//! delivers it; anything else (5xx, a timeout, a refused connection) is
//! retried with backoff for as long as it takes. An endpoint that keeps
//! failing is marked failing, never dropped, and clears on its next success.
//!
//! Only public addresses are reached (checked on the URL and again on every
//! address a name resolves to), unless the operator names a private host;
//! each delivery is a runner job (leased and fenced there), sent outside
//! any transaction with a deadline and a cap on what is read.

use crate::runner::{Attempt, HandlerFuture, JobContext, Recorded};
use anyhow::{Context, Result};
use app::outbound::address::{PrivateHosts, is_public, refusal};
use app::outbound::deliveries;
use app::runner::db::Claimed;
use chrono::{DateTime, Utc};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::rt::TokioExecutor;
use sqlx::PgConnection;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// How long a receiver has to answer, body included.
pub const RECEIVER_TIMEOUT: Duration = Duration::from_secs(10);
/// How much of a receiver's answer is read: the status is what counts.
pub const MAX_ANSWER_BYTES: usize = 16 * 1024;
pub use app::outbound::deliveries::FAILING_AFTER;
/// The longest wait between two attempts.
pub const MAX_BACKOFF_SECS: i64 = 6 * 3600;

/// Seconds to wait after the `attempts`-th failure: 30 s doubling, at most
/// six hours (the one backoff rule, with webhooks' cap). The delivery is
/// never given up.
pub fn backoff_secs(attempts: i32) -> i64 {
    app::runner::domain::WEBHOOK_BACKOFF.after(attempts).num_seconds()
}

/// Resolves names for webhook connections and keeps only the addresses
/// they may reach, so a name that resolves (or is rebound) to a private
/// address is refused at connect time.
#[derive(Clone)]
struct GuardedResolver {
    allowed: Arc<PrivateHosts>,
}

impl tower::Service<Name> for GuardedResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let allowed = self.allowed.clone();
        Box::pin(async move { Ok(resolve_reachable(name.as_str(), &allowed).await?.into_iter()) })
    }
}

/// The addresses `host` resolves to that a webhook may reach: all of them
/// for a host the operator allowed, else only public ones (an error when
/// none is).
pub async fn resolve_reachable(host: &str, allowed: &PrivateHosts) -> std::io::Result<Vec<SocketAddr>> {
    let resolved: Vec<SocketAddr> = tokio::net::lookup_host((host, 0)).await?.collect();
    if allowed.allows(host) {
        return Ok(resolved);
    }
    let public: Vec<SocketAddr> = resolved.into_iter().filter(|a| is_public(a.ip())).collect();
    if public.is_empty() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            format!("{host} resolves only to private addresses; webhooks go to public addresses"),
        ));
    }
    Ok(public)
}

/// The HTTP client deliveries go through (HTTP and HTTPS), refusing
/// private addresses unless the operator allowed them.
#[derive(Clone)]
pub struct Sender {
    client: Client<hyper_rustls::HttpsConnector<HttpConnector<GuardedResolver>>, Full<Bytes>>,
    allowed: Arc<PrivateHosts>,
}

impl Default for Sender {
    /// A sender to public addresses only.
    fn default() -> Self {
        Sender::new(PrivateHosts::none())
    }
}

/// What one attempt came to.
#[derive(Debug)]
enum Answer {
    Status(u16),
    Failed(String),
}

impl Sender {
    /// A sender that may also reach the private hosts in `allowed`.
    pub fn new(allowed: PrivateHosts) -> Self {
        let allowed = Arc::new(allowed);
        let mut http = HttpConnector::new_with_resolver(GuardedResolver {
            allowed: allowed.clone(),
        });
        http.enforce_http(false);
        http.set_connect_timeout(Some(RECEIVER_TIMEOUT));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_webpki_roots()
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        Sender {
            client: Client::builder(TokioExecutor::new()).build(https),
            allowed,
        }
    }

    async fn post(&self, url: &str, headers: &[(&str, String)], body: Bytes) -> Answer {
        // The stored URL is parsed again so the host is checked in the one
        // spelling the connection uses (an address literal skips resolution).
        let parsed = match url::Url::parse(url) {
            Ok(parsed) => parsed,
            Err(error) => return Answer::Failed(format!("not a URL: {error}")),
        };
        if let Some(host) = parsed.host()
            && let Some(refusal) = refusal(&host, &self.allowed)
        {
            return Answer::Failed(refusal);
        }
        let mut request = hyper::Request::post(parsed.as_str()).header("content-type", "application/json");
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let request = match request.body(Full::new(body)) {
            Ok(request) => request,
            Err(error) => return Answer::Failed(format!("bad request: {error}")),
        };
        let exchange = async {
            let response = self.client.request(request).await?;
            let status = response.status().as_u16();
            // Read at most a little of the answer, so the connection may be
            // reused; a receiver that sends more is not waited for.
            let _ = Limited::new(response.into_body(), MAX_ANSWER_BYTES)
                .collect()
                .await;
            Ok::<u16, hyper_util::client::legacy::Error>(status)
        };
        match tokio::time::timeout(RECEIVER_TIMEOUT, exchange).await {
            Err(_) => Answer::Failed(format!("no answer within {} s", RECEIVER_TIMEOUT.as_secs())),
            Ok(Err(error)) => Answer::Failed(format!("could not reach the endpoint: {}", describe(&error))),
            Ok(Ok(status)) => Answer::Status(status),
        }
    }
}

/// The innermost cause of a client error (where a refused address says why).
fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = error;
    while let Some(source) = cause.source() {
        cause = source;
    }
    cause.to_string()
}

/// Sends one delivery to its endpoint (a job of kind `webhook.deliver`),
/// holding no connection while the receiver answers, then records the
/// attempt: delivered, or pending again after the backoff. A delivery to a
/// disabled endpoint waits without a job; enabling the endpoint queues it.
pub fn deliver<'a>(job: &'a Claimed, context: &'a JobContext) -> HandlerFuture<'a, Recorded> {
    Box::pin(async move {
        let id: i64 = job
            .item()
            .and_then(|item| item.parse().ok())
            .context("the job names no delivery")?;
        let delivery = deliveries::pending(&context.pool, id).await?;
        let Some(delivery) = delivery else {
            let tx = context.pool.begin().await?;
            return Ok(Recorded {
                tx,
                attempt: Attempt::Done,
            });
        };
        let timestamp = context.clock.unix();
        let body = Bytes::from(delivery.payload);
        let (answer, took) = match standardwebhooks::Webhook::new(&delivery.secret)
            .and_then(|hook| hook.sign(&delivery.event_id, timestamp, &body))
        {
            Ok(signature) => {
                let headers = [
                    (standardwebhooks::HEADER_WEBHOOK_ID, delivery.event_id.clone()),
                    (standardwebhooks::HEADER_WEBHOOK_TIMESTAMP, timestamp.to_string()),
                    (standardwebhooks::HEADER_WEBHOOK_SIGNATURE, signature),
                ];
                let started = Instant::now();
                let answer = context.sender.post(&delivery.url, &headers, body).await;
                (answer, started.elapsed())
            }
            Err(error) => (
                Answer::Failed(format!("the endpoint's secret is unusable: {error}")),
                Duration::ZERO,
            ),
        };
        let attempt = Attempted {
            delivery_id: id,
            endpoint_id: delivery.endpoint_id,
            attempts: delivery.attempts.saturating_add(1),
        };
        let mut tx = context.pool.begin().await?;
        let attempt = record(&mut tx, job, context.clock.now(), &attempt, &answer, took).await?;
        Ok(Recorded { tx, attempt })
    })
}

/// The delivery an attempt was made for.
struct Attempted {
    delivery_id: i64,
    endpoint_id: Uuid,
    attempts: i32,
}

/// Records an attempt's outcome ([`deliveries::record_attempt`]) and says
/// how the job went.
async fn record(
    conn: &mut PgConnection,
    job: &Claimed,
    now: DateTime<Utc>,
    delivery: &Attempted,
    answer: &Answer,
    took: Duration,
) -> Result<Attempt> {
    let (status_code, error) = match answer {
        Answer::Status(code) if (200..300).contains(code) => (Some(i32::from(*code)), None),
        Answer::Status(code) => (
            Some(i32::from(*code)),
            Some(format!("the endpoint answered {code}")),
        ),
        Answer::Failed(message) => (None, Some(message.chars().take(1000).collect::<String>())),
    };
    let outcome = deliveries::AttemptOutcome {
        delivery_id: delivery.delivery_id,
        endpoint_id: delivery.endpoint_id,
        attempts: delivery.attempts,
        status_code,
        error: error.as_deref(),
        duration_ms: took.as_millis().min(i32::MAX as u128) as i32,
    };
    if !deliveries::record_attempt(conn, &outcome, now, job.retry_at(now)).await? {
        // Delivered meanwhile by another job (a replay racing this one).
        return Ok(Attempt::Done);
    }
    match error {
        None => Ok(Attempt::Done),
        Some(error) => {
            tracing::warn!(delivery = delivery.delivery_id, attempts = delivery.attempts, %error, "webhook delivery failed");
            Ok(Attempt::Retry(error))
        }
    }
}

pub use app::outbound::endpoints::{add as add_endpoint, new_secret};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_thirty_seconds_to_six_hours_and_never_stops() {
        let waits: Vec<i64> = (1..=12).map(backoff_secs).collect();
        assert_eq!(&waits[..5], &[30, 60, 120, 240, 480]);
        assert!(waits.windows(2).all(|w| w[1] >= w[0]));
        assert_eq!(backoff_secs(100), MAX_BACKOFF_SECS);
        assert_eq!(backoff_secs(i32::MAX), MAX_BACKOFF_SECS);
        assert_eq!(backoff_secs(0), 30);
    }

    #[test]
    fn a_secret_is_one_the_signing_crate_reads() {
        let secret = new_secret();
        assert!(secret.starts_with("whsec_"));
        let hook = standardwebhooks::Webhook::new(&secret).expect("readable");
        let signature = hook.sign("evt_1", 1_700_000_000, b"{}").expect("signs");
        assert!(signature.starts_with("v1,"));
        assert_ne!(new_secret(), secret);
    }
}
