//! What the background workers share: the drain loop that wakes on a
//! Postgres NOTIFY (or polls when none comes). Their retry waits follow
//! `app::runner::domain::Backoff`, the one rule of every queue.
//!
//! Workers keep their queues in tables (the email outbox, the provider-event
//! inbox) and claim rows with `FOR UPDATE SKIP LOCKED`, so any number of
//! processes can run the same loop.

use sqlx::PgPool;
use sqlx::postgres::PgListener;
use std::fmt::Display;
use std::future::Future;
use std::time::Duration;

/// How long a worker waits for a NOTIFY before looking again (retries come
/// due without one).
const POLL: Duration = Duration::from_secs(5);

/// Runs `pass` until the pool closes at shutdown: again at once while it
/// reports work done (`Ok(true)`), else after a NOTIFY on `channel` or
/// five seconds. A lost listener falls back to polling rather than spinning.
pub fn spawn_drain_loop<F, Fut, E>(pool: PgPool, channel: &'static str, worker: &'static str, mut pass: F)
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = Result<bool, E>> + Send,
    E: Display + Send,
{
    tokio::spawn(async move {
        let mut listener = match PgListener::connect_with(&pool).await {
            Ok(mut listener) => listener.listen(channel).await.ok().map(|_| listener),
            Err(_) => None,
        };
        while !pool.is_closed() {
            match pass().await {
                Ok(true) => continue,
                Ok(false) => {}
                Err(error) if pool.is_closed() => {
                    tracing::debug!(error = format!("{error:#}"), worker, "stopped at shutdown");
                    break;
                }
                Err(error) => tracing::error!(error = format!("{error:#}"), worker, "pass failed"),
            }
            let woken = match listener.as_mut() {
                Some(listener) => tokio::time::timeout(POLL, listener.recv()).await,
                None => {
                    tokio::time::sleep(POLL).await;
                    continue;
                }
            };
            if let Ok(Err(error)) = woken {
                tracing::warn!(%error, worker, channel, "listener lost; polling every 5 s");
                listener = None;
            }
        }
    });
}
