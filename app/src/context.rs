//! What the server hands every page render and server function: the
//! ground's handles ([`AppContext`]: the database, the clock, the public
//! address, proxy trust, the local mailbox), and each feature's own value
//! (its caches, its provider), gathered in one [`Handover`] that a feature
//! reads with [`provided`] without the ground knowing it.

use crate::clock::Clock;
use crate::error::AppError;
use sqlx::PgPool;
use std::any::{Any, TypeId};
use std::sync::Arc;

/// The ground's handles, reachable from server functions through Leptos
/// context.
#[derive(Clone)]
pub struct AppContext {
    /// The database.
    pub pool: PgPool,
    /// A streaming replica for reads that may trail, when one is configured.
    pub replica: Option<crate::read_replica::ReadReplica>,
    /// The site's origin as browsers see it, for links in emails.
    pub public_url: String,
    /// Whether `X-Forwarded-For` comes from a trusted proxy.
    pub trust_forwarded_for: bool,
    /// Whether queued mail is shown at `/dev/mailbox` (local runs without SMTP).
    pub local_mailbox: bool,
    /// The current time.
    pub clock: Clock,
    /// When this process started (by the clock), for its uptime.
    pub started_at: chrono::DateTime<chrono::Utc>,
}

/// Every value the server hands a request, one of each type: the ground's
/// [`AppContext`] and each feature's own value. Built once per process and
/// provided to each request as one handle, so a request costs one
/// `provide_context` however many features there are.
#[derive(Clone, Default)]
pub struct Handover(Arc<Vec<(TypeId, Arc<dyn Any + Send + Sync>)>>);

impl Handover {
    /// This handover with `value` added (replacing one of the same type).
    pub fn with<T: Clone + Send + Sync + 'static>(self, value: T) -> Self {
        let mut values = Vec::clone(&self.0);
        values.retain(|(type_id, _)| *type_id != TypeId::of::<T>());
        values.push((TypeId::of::<T>(), Arc::new(value)));
        Handover(Arc::new(values))
    }

    /// The value of type `T`, if one was handed over. A handful of values:
    /// a scan is quicker than hashing.
    pub fn get<T: 'static>(&self) -> Option<&T> {
        self.0
            .iter()
            .find(|(type_id, _)| *type_id == TypeId::of::<T>())
            .and_then(|(_, value)| value.downcast_ref::<T>())
    }
}

/// The [`AppContext`] of the current request.
pub fn app_context() -> Result<AppContext, AppError> {
    provided()
}

/// The value of type `T` the server handed the current request: the
/// ground's [`AppContext`], or a feature's own context value.
pub fn provided<T: Clone + Send + Sync + 'static>() -> Result<T, AppError> {
    handed_over::<T>().ok_or_else(|| {
        let name = std::any::type_name::<T>();
        if render_has_ended() {
            tracing::debug!("no {name}: the request this render belonged to has ended");
        } else {
            tracing::error!("{name} missing from the Leptos context");
        }
        AppError::Internal
    })
}

/// The value of type `T` in the current request's [`Handover`], if any
/// (for a caller that treats its absence itself).
pub fn handed_over<T: Clone + 'static>() -> Option<T> {
    with_context_held(|handover: &Handover| handover.get::<T>().cloned()).flatten()
}

/// `use_context`, by way of [`with_context_held`].
pub fn use_context_held<T: Clone + 'static>() -> Option<T> {
    with_context_held(T::clone)
}

/// `with_context`, holding every ancestor of the current owner while it
/// looks. reactive_graph 0.2.16's lookup upgrades each parent's weak link
/// while it holds the child's read lock; when the request's owner is
/// dropped meanwhile (its client went away), that upgrade is the last
/// handle, and dropping it there runs the owner's cleanup, which takes the
/// child's write lock: the worker thread deadlocks on itself, and every
/// reader behind it waits (seen as a server that stops answering under
/// `bench/run`). Holding the chain makes the lookup's handles never the last;
/// ours are dropped after its locks are released.
///
/// The server provides its values once, on the request's own owner (the
/// top of the chain), and nothing provides them again below it; so the
/// top is asked first. Finding it holds two handles at a time, not the
/// chain: no lock is held while a handle is dropped, so a drop that is the
/// last (the request ended meanwhile) runs its cleanup harmlessly here.
/// Anything the top lacks is looked up from the current owner upwards,
/// every ancestor held.
pub fn with_context_held<T: 'static, R>(read: impl FnOnce(&T) -> R) -> Option<R> {
    use leptos::prelude::with_context;
    let owner = leptos::prelude::Owner::current()?;
    let mut top = owner.clone();
    while let Some(parent) = top.parent() {
        top = parent;
    }
    let mut read = Some(read);
    let mut read_once = |value: &T| read.take().map(|read| read(value));
    if let Some(found) = top.with(|| with_context::<T, _>(&mut read_once)) {
        return found;
    }
    drop(top);
    let mut ancestors = Vec::new();
    let mut next = owner.parent();
    while let Some(parent) = next {
        next = parent.parent();
        ancestors.push(parent);
    }
    let found = owner.with(|| with_context::<T, _>(&mut read_once)).flatten();
    drop(ancestors);
    found
}

/// Whether the request the current owner belongs to has ended: a page's
/// data loads run as tasks of their own under owners below the request's,
/// linked up weakly; when a client goes away mid-page the request's owner
/// (which holds what it was given) is dropped, and a load still running
/// finds nothing. Its answer has no one to go to, so that is no fault.
/// leptos_axum gives every request its `Parts` on that same owner: while
/// they are reachable the request is live, and a value missing beside them
/// is a fault; so is a lookup with no owner at all.
fn render_has_ended() -> bool {
    leptos::prelude::Owner::current().is_some()
        && with_context_held::<http::request::Parts, _>(|_| ()).is_none()
}

#[cfg(test)]
mod tests {
    use super::*;
    use leptos::prelude::Owner;
    use std::sync::{Arc, Mutex};
    use tracing_subscriber::layer::{Context, SubscriberExt};

    /// The level and message of every event logged on this thread.
    #[derive(Clone, Default)]
    struct Logged(Arc<Mutex<Vec<(tracing::Level, String)>>>);

    impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Logged {
        fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
            struct Message(String);
            impl tracing::field::Visit for Message {
                fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                    if field.name() == "message" {
                        self.0 = format!("{value:?}");
                    }
                }
            }
            let mut message = Message(String::new());
            event.record(&mut message);
            self.0
                .lock()
                .unwrap()
                .push((*event.metadata().level(), message.0));
        }
    }

    #[test]
    fn a_load_whose_request_ended_is_no_error_but_a_live_render_without_the_context_is() {
        let logged = Logged::default();
        let _default = tracing::subscriber::set_default(tracing_subscriber::registry().with(logged.clone()));
        let levels = || {
            logged
                .0
                .lock()
                .unwrap()
                .iter()
                .map(|(level, _)| *level)
                .collect::<Vec<_>>()
        };

        // Outside any render.
        assert!(app_context().is_err());
        assert_eq!(levels(), [tracing::Level::ERROR]);
        // A load any depth under its request (a page's suspense, a route,
        // a resource …), every owner between them still held by its task.
        for depth in 1..=6 {
            let request = Owner::new();
            request.with(|| leptos::prelude::provide_context(http::Request::new(()).into_parts().0));
            let mut chain = vec![request.with(Owner::new)];
            for _ in 1..depth {
                let below = chain.last().unwrap().with(Owner::new);
                chain.push(below);
            }
            let load = chain.last().unwrap().clone();
            // The request is live and never provided the context: a fault.
            let logged_before = levels().len();
            assert!(load.with(app_context).is_err());
            assert_eq!(
                levels()[logged_before..],
                [tracing::Level::ERROR],
                "depth {depth}"
            );
            // The client went away: the request's owner is dropped, the
            // owners below it run on.
            drop(request);
            assert!(load.with(app_context).is_err());
            assert_eq!(
                levels()[logged_before + 1..],
                [tracing::Level::DEBUG],
                "depth {depth}"
            );
            assert!(logged.0.lock().unwrap().last().unwrap().1.contains("has ended"));
        }
    }

    #[test]
    fn a_value_is_found_on_the_request_or_on_any_owner_between() {
        let request = Owner::new();
        request.with(|| leptos::prelude::provide_context(7_u32));
        let middle = request.with(Owner::new);
        middle.with(|| leptos::prelude::provide_context("middle"));
        let load = middle.with(Owner::new);
        assert_eq!(load.with(use_context_held::<u32>), Some(7));
        assert_eq!(load.with(use_context_held::<&str>), Some("middle"));
        assert_eq!(load.with(|| with_context_held::<u32, _>(|n| n + 1)), Some(8));
        assert_eq!(load.with(use_context_held::<u64>), None);
        assert_eq!(request.with(use_context_held::<u32>), Some(7));
    }

    #[test]
    fn a_handover_holds_one_value_of_each_type_and_is_read_from_any_owner_below() {
        let handover = Handover::default()
            .with(7_u32)
            .with(String::from("first"))
            .with(String::from("second"));
        assert_eq!(handover.get::<u32>(), Some(&7));
        assert_eq!(handover.get::<String>().map(String::as_str), Some("second"));
        assert_eq!(handover.get::<u64>(), None);

        let request = Owner::new();
        request.with(|| leptos::prelude::provide_context(handover));
        let middle = request.with(Owner::new);
        let load = middle.with(Owner::new);
        assert_eq!(load.with(provided::<u32>).ok(), Some(7));
        assert_eq!(load.with(handed_over::<String>).as_deref(), Some("second"));
        assert!(load.with(provided::<u64>).is_err());
        assert_eq!(Owner::new().with(handed_over::<u32>), None);
    }

    /// Many requests, each ended while a load under it looks a value up:
    /// no lookup may deadlock (see [`use_context_held`]).
    fn lookups_racing_the_end_of_their_request(lookup: fn() -> Option<u32>) -> bool {
        let (done, finished) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for _ in 0..5_000 {
                let request = Owner::new();
                request.with(|| leptos::prelude::provide_context(7_u32));
                let load = request.with(Owner::new);
                let start = Arc::new(std::sync::Barrier::new(2));
                let looker = {
                    let start = start.clone();
                    std::thread::spawn(move || {
                        start.wait();
                        for _ in 0..20 {
                            load.with(lookup);
                        }
                    })
                };
                start.wait();
                drop(request);
                looker.join().unwrap();
            }
            let _ = done.send(());
        });
        finished.recv_timeout(std::time::Duration::from_secs(30)).is_ok()
    }

    #[test]
    fn a_lookup_racing_the_end_of_its_request_never_deadlocks() {
        assert!(lookups_racing_the_end_of_their_request(use_context_held::<u32>));
    }

    /// What the test above guards against, shown on reactive_graph's own
    /// lookup (it deadlocks within the 30 s; run it by hand when upgrading
    /// Leptos: once it fails, the workaround can go).
    #[test]
    #[ignore = "shows the reactive_graph 0.2.16 deadlock; takes its 30-s timeout and leaves a thread stuck"]
    fn reactive_graphs_own_lookup_deadlocks_there() {
        assert!(!lookups_racing_the_end_of_their_request(
            leptos::prelude::use_context::<u32>
        ));
    }
}
