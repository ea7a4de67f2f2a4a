//! The change listener: one Postgres connection per process that hears
//! every process's change notices and drops what they name from this
//! process's caches, which answer only while it listens.

use crate::AppState;
pub use crate::caches::ProcessCaches;
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use std::time::Duration;
use tokio::sync::mpsc;

/// How the listener connects and proves it is still hearing notices.
#[derive(Debug, Clone)]
pub struct ListenerSettings {
    /// How often it notifies itself and expects to hear that back before the
    /// next one; each heartbeat heard ages the caches' entries by one tick.
    pub heartbeat: Duration,
    /// Where it connects, when not where the pool does (a pooler in
    /// transaction mode cannot hold a LISTEN: `GATEHOUSE_LISTEN_DATABASE_URL`).
    pub connect_options: Option<sqlx::postgres::PgConnectOptions>,
}

impl Default for ListenerSettings {
    fn default() -> Self {
        // With MAX_AGE_TICKS of 10, no entry answers for longer than 30 s.
        ListenerSettings {
            heartbeat: Duration::from_secs(3),
            connect_options: None,
        }
    }
}

/// The `application_name` of the connection heartbeats are sent on.
const HEARTBEAT_APPLICATION_NAME: &str = "gatehouse-heartbeat";

/// The channel each process's listener notifies itself on.
const HEARTBEAT_CHANNEL: &str = "gatehouse_heartbeat";

/// The `application_name` of the listener's connection (operators and
/// tests find it in `pg_stat_activity` by it).
pub const LISTENER_APPLICATION_NAME: &str = "gatehouse-change-listener";

/// What the task that owns the connection passes on.
enum Heard {
    Notice { channel: String, payload: String },
    // The connection failed: sqlx would reconnect silently and the notices
    // sent meanwhile would be lost, so this is where the caches stop.
    Lost,
}

/// Keeps this process's caches (catalogue, standings, API keys, sessions,
/// users, billing pages, usage histories) current: listens for every
/// process's change notices and drops what changed. The caches answer only
/// while the process provably hears every notice: a dropped connection
/// (detected, never silently reconnected) or a heartbeat not heard back
/// within [`ListenerSettings::heartbeat`] (a half-open connection) empties
/// them and stops them answering until a new connection listens again.
pub fn spawn_change_listener(pool: PgPool, state: &AppState) {
    spawn_change_listener_with(pool, state, ListenerSettings::default());
}

/// [`spawn_change_listener`] with its own settings (tests shorten the
/// heartbeat; an operator may point it past a pooler).
pub fn spawn_change_listener_with(pool: PgPool, state: &AppState, settings: ListenerSettings) {
    let caches = ProcessCaches::of(state);
    let timing = settings.heartbeat;
    let listen_options = settings
        .connect_options
        .unwrap_or_else(|| (*pool.connect_options()).clone())
        .application_name(LISTENER_APPLICATION_NAME);
    // This process's own heartbeats, told apart from other processes'. They
    // go through a connection of their own, so a busy pool cannot delay
    // them (a false alarm) and they never take a request's connection.
    let me = uuid::Uuid::new_v4().simple().to_string();
    let beats = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(timing.max(Duration::from_millis(100)))
        .connect_lazy_with(
            (*pool.connect_options())
                .clone()
                .application_name(HEARTBEAT_APPLICATION_NAME),
        );
    tokio::spawn(async move {
        // Stops when the pool is closed at shutdown.
        while !pool.is_closed() {
            match listen(&listen_options).await {
                Ok(mut heard) => {
                    caches.set_live(true);
                    hear(&beats, &caches, &mut heard, &me, timing).await;
                }
                Err(error) if pool.is_closed() => tracing::debug!(%error, "change listener stopped"),
                Err(error) => tracing::warn!(%error, "change listener could not listen"),
            }
            caches.set_live(false);
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
}

/// Connects and listens on every channel; the connection is owned by a task
/// that passes on what it hears and ends (closing it) when the receiver is
/// dropped or the connection fails.
async fn listen(options: &sqlx::postgres::PgConnectOptions) -> Result<mpsc::Receiver<Heard>, sqlx::Error> {
    let mut listener = PgListener::connect_with(&sqlx::PgPool::connect_lazy_with(options.clone())).await?;
    listener
        .listen_all(ProcessCaches::CHANNELS.into_iter().chain([HEARTBEAT_CHANNEL]))
        .await?;
    let (send, heard) = mpsc::channel(1024);
    tokio::spawn(async move {
        loop {
            let next = tokio::select! {
                next = listener.try_recv() => next,
                () = send.closed() => return,
            };
            let message = match next {
                Ok(Some(notice)) => Heard::Notice {
                    channel: notice.channel().to_owned(),
                    payload: notice.payload().to_owned(),
                },
                Ok(None) | Err(_) => Heard::Lost,
            };
            let lost = matches!(message, Heard::Lost);
            if send.send(message).await.is_err() || lost {
                return;
            }
        }
    });
    Ok(heard)
}

/// Applies what is heard until the connection is lost or a heartbeat is not
/// heard back in time.
async fn hear(
    beats: &PgPool,
    caches: &ProcessCaches,
    heard: &mut mpsc::Receiver<Heard>,
    me: &str,
    heartbeat: Duration,
) {
    let mut ticks = tokio::time::interval(heartbeat);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut sequence: u64 = 0;
    let mut awaited: Option<String> = None;
    let mut in_flight: Option<tokio::task::JoinHandle<()>> = None;
    loop {
        tokio::select! {
            message = heard.recv() => match message {
                Some(Heard::Notice { channel, payload }) if channel == HEARTBEAT_CHANNEL => {
                    if awaited.as_deref() == Some(payload.as_str()) {
                        awaited = None;
                        caches.tick();
                    }
                }
                Some(Heard::Notice { channel, payload }) => caches.apply(&channel, &payload),
                Some(Heard::Lost) | None => {
                    tracing::warn!("change listener lost its connection; caches dropped until it listens again");
                    return;
                }
            },
            _ = ticks.tick() => {
                if awaited.is_some() {
                    tracing::warn!("change listener did not hear its heartbeat; caches dropped until it listens again");
                    return;
                }
                sequence += 1;
                let beat = format!("{me}:{sequence}");
                awaited = Some(beat.clone());
                // One beat in flight at most: one still being sent is itself
                // a beat not heard, and ends this connection at the next tick.
                if in_flight.as_ref().is_none_or(tokio::task::JoinHandle::is_finished) {
                    let beats = beats.clone();
                    in_flight = Some(tokio::spawn(async move {
                        let _ = app::notice_cache::notify(&beats, HEARTBEAT_CHANNEL, &beat).await;
                    }));
                }
            }
        }
    }
}
