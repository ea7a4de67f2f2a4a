//! Delivers the outbound webhook outbox: each pending delivery is POSTed to
//! its endpoint, signed per the Standard Webhooks specification
//! (`webhook-id`, `webhook-timestamp`, `webhook-signature`, via the
//! `standardwebhooks` crate), and every attempt is recorded. A 2xx answer
//! delivers it; anything else (5xx, a timeout, a refused connection) is
//! retried with backoff for as long as it takes. An endpoint that keeps
//! failing is marked failing, never dropped, and clears on its next success.

use crate::jobs;
use anyhow::Result;
use app::clock::Clock;
use app::outbound::events::OUTBOUND_CHANNEL;
use chrono::TimeDelta;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use sqlx::PgPool;
use std::time::{Duration, Instant};

/// How long a receiver has to answer.
pub const RECEIVER_TIMEOUT: Duration = Duration::from_secs(10);
/// Consecutive failed attempts after which an endpoint is marked failing.
pub const FAILING_AFTER: i32 = 5;
/// The longest wait between two attempts.
pub const MAX_BACKOFF_SECS: i64 = 6 * 3600;

/// Seconds to wait after the `attempts`-th failure: 30 s doubling, at most
/// six hours. The delivery is never given up.
pub fn backoff_secs(attempts: i32) -> i64 {
    let doublings = attempts.clamp(1, 20) - 1;
    (30i64 << doublings).min(MAX_BACKOFF_SECS)
}

/// The HTTP client deliveries go through (HTTP and HTTPS).
#[derive(Clone)]
pub struct Sender {
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl Default for Sender {
    fn default() -> Self {
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_webpki_roots()
            .https_or_http()
            .enable_http1()
            .build();
        Sender {
            client: Client::builder(TokioExecutor::new()).build(https),
        }
    }
}

/// What one attempt came to.
#[derive(Debug)]
enum Answer {
    Status(u16),
    Failed(String),
}

impl Sender {
    async fn post(&self, url: &str, headers: &[(&str, String)], body: Bytes) -> Answer {
        let mut request = hyper::Request::post(url).header("content-type", "application/json");
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let request = match request.body(Full::new(body)) {
            Ok(request) => request,
            Err(error) => return Answer::Failed(format!("bad request: {error}")),
        };
        match tokio::time::timeout(RECEIVER_TIMEOUT, self.client.request(request)).await {
            Err(_) => Answer::Failed(format!("no answer within {} s", RECEIVER_TIMEOUT.as_secs())),
            Ok(Err(error)) => Answer::Failed(format!("could not reach the endpoint: {error}")),
            Ok(Ok(response)) => {
                let status = response.status().as_u16();
                // Read (and drop) the body so the connection can be reused.
                let _ = tokio::time::timeout(RECEIVER_TIMEOUT, response.into_body().collect()).await;
                Answer::Status(status)
            }
        }
    }
}

/// Attempts every delivery due at the clock's now; returns how many.
pub async fn deliver_due(pool: &PgPool, sender: &Sender, clock: &Clock) -> Result<usize> {
    let now = clock.now();
    let mut tx = pool.begin().await?;
    // language=PostgreSQL
    let due = sqlx::query!(
        r#"
        select d.delivery_id, d.attempts, d.endpoint_id, e.event_id, e.payload::text as "payload!",
               w.url, w.secret
        from outbound_delivery d
        join outbound_event e using (event_id)
        join webhook_endpoint w using (endpoint_id)
        where d.state = 'pending' and d.next_attempt_at <= $1 and w.disabled_at is null
        order by d.next_attempt_at, d.delivery_id
        limit 20
        for update of d skip locked
        "#,
        now as _
    )
    .fetch_all(&mut *tx)
    .await?;
    for delivery in &due {
        let attempts = delivery.attempts + 1;
        let timestamp = clock.unix();
        let body = Bytes::from(delivery.payload.clone());
        let answer = match standardwebhooks::Webhook::new(&delivery.secret)
            .and_then(|hook| hook.sign(&delivery.event_id, timestamp, &body))
        {
            Ok(signature) => {
                let headers = [
                    (standardwebhooks::HEADER_WEBHOOK_ID, delivery.event_id.clone()),
                    (standardwebhooks::HEADER_WEBHOOK_TIMESTAMP, timestamp.to_string()),
                    (standardwebhooks::HEADER_WEBHOOK_SIGNATURE, signature),
                ];
                let started = Instant::now();
                let answer = sender.post(&delivery.url, &headers, body).await;
                (answer, started.elapsed())
            }
            Err(error) => (
                Answer::Failed(format!("the endpoint's secret is unusable: {error}")),
                Duration::ZERO,
            ),
        };
        let (answer, took) = answer;
        let (status_code, error) = match &answer {
            Answer::Status(code) if (200..300).contains(code) => (Some(i32::from(*code)), None),
            Answer::Status(code) => (
                Some(i32::from(*code)),
                Some(format!("the endpoint answered {code}")),
            ),
            Answer::Failed(message) => (None, Some(message.clone())),
        };
        // language=PostgreSQL
        sqlx::query!(
            r#"
            insert into outbound_attempt (delivery_id, attempted_at, status_code, error, duration_ms)
            values ($1, $2, $3, $4, $5)
            "#,
            delivery.delivery_id,
            now as _,
            status_code,
            error,
            took.as_millis().min(i32::MAX as u128) as i32
        )
        .execute(&mut *tx)
        .await?;
        match error {
            None => {
                // language=PostgreSQL
                sqlx::query!(
                    r#"
                    update outbound_delivery set state = 'delivered', attempts = $2, delivered_at = $3, last_error = null
                    where delivery_id = $1
                    "#,
                    delivery.delivery_id,
                    attempts,
                    now as _
                )
                .execute(&mut *tx)
                .await?;
                // language=PostgreSQL
                sqlx::query!(
                    "update webhook_endpoint set failing_since = null where endpoint_id = $1 and failing_since is not null",
                    delivery.endpoint_id
                )
                .execute(&mut *tx)
                .await?;
            }
            Some(error) => {
                tracing::warn!(delivery = delivery.delivery_id, attempts, %error, "webhook delivery failed");
                // language=PostgreSQL
                sqlx::query!(
                    r#"
                    update outbound_delivery set attempts = $2, last_error = $3, next_attempt_at = $4
                    where delivery_id = $1
                    "#,
                    delivery.delivery_id,
                    attempts,
                    error.chars().take(1000).collect::<String>(),
                    (now + TimeDelta::seconds(backoff_secs(attempts))) as _
                )
                .execute(&mut *tx)
                .await?;
                if attempts >= FAILING_AFTER {
                    // language=PostgreSQL
                    sqlx::query!(
                        "update webhook_endpoint set failing_since = $2 where endpoint_id = $1 and failing_since is null",
                        delivery.endpoint_id,
                        now as _
                    )
                    .execute(&mut *tx)
                    .await?;
                }
            }
        }
    }
    tx.commit().await?;
    Ok(due.len())
}

/// Runs delivery forever: on every NOTIFY from a recording transaction and
/// every few seconds for retries that come due.
pub fn spawn_delivery_worker(pool: PgPool, clock: Clock) {
    let sender = Sender::default();
    let drain_pool = pool.clone();
    jobs::spawn_drain_loop(pool, OUTBOUND_CHANNEL, "webhook delivery", move || {
        let (pool, sender, clock) = (drain_pool.clone(), sender.clone(), clock.clone());
        async move {
            deliver_due(&pool, &sender, &clock)
                .await
                .map(|attempted| attempted > 0)
        }
    });
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
