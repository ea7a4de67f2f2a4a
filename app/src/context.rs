//! What the server hands every page render and server function.

use crate::billing::provider::SharedProvider;
use crate::billing::sandbox::Sandbox;
use crate::catalog::cache::CatalogCache;
use crate::clock::Clock;
use crate::error::AppError;
use crate::marketing::content::SiteContent;
use sqlx::PgPool;
use std::sync::Arc;

/// Shared state reachable from server functions through Leptos context.
#[derive(Clone)]
pub struct AppContext {
    /// The database.
    pub pool: PgPool,
    /// A streaming replica for reads that may trail, when one is configured.
    pub replica: Option<crate::read_replica::ReadReplica>,
    /// Cached catalogue, invalidated by NOTIFY.
    pub catalog: CatalogCache,
    /// This process's cached standings, shared with the host API (see
    /// [`crate::entitlements::cache`]).
    pub standings: crate::entitlements::cache::StandingCache,
    /// This process's cached users behind sessions (see
    /// [`crate::accounts::users`]).
    pub users: crate::accounts::users::UserCache,
    /// This process's cached billing-page reads (see
    /// [`crate::billing::page_cache`]).
    pub billing_pages: crate::billing::page_cache::BillingPageCache,
    /// This process's cached usage snapshots (see
    /// [`crate::entitlements::history_cache`]).
    pub snapshot_histories: crate::entitlements::history_cache::SnapshotHistoryCache,
    /// The site's origin as browsers see it, for links in emails.
    pub public_url: String,
    /// Whether `X-Forwarded-For` comes from a trusted proxy.
    pub trust_forwarded_for: bool,
    /// Private hosts the operator lets outbound webhooks reach.
    pub webhook_private_hosts: crate::outbound::address::PrivateHosts,
    /// Whether queued mail is shown at `/dev/mailbox` (local runs without SMTP).
    pub local_mailbox: bool,
    /// The marketing copy.
    pub site: Arc<SiteContent>,
    /// The payment provider: Stripe, or the sandbox when no keys are set.
    pub billing: SharedProvider,
    /// The sandbox, when it is the provider (its test-mode pages need it).
    pub sandbox: Option<Sandbox>,
    /// The licence signing keys and licensing secret (`None`: licensing is
    /// off on this Gatehouse).
    pub license_keys: Option<Arc<crate::licensing::keys::SigningKeys>>,
    /// The current time.
    pub clock: Clock,
    /// When this process started (by the clock), for its uptime.
    pub started_at: chrono::DateTime<chrono::Utc>,
}

impl AppContext {
    /// What trial emails are signed with and link to.
    pub fn trial_notices(&self) -> crate::billing::trials::Notices {
        crate::billing::trials::Notices {
            brand: self.site.product.brand(),
            public_url: self.public_url.clone(),
        }
    }
}

/// The [`AppContext`] of the current request.
pub fn app_context() -> Result<AppContext, AppError> {
    leptos::prelude::use_context::<AppContext>().ok_or_else(|| {
        if render_has_ended() {
            tracing::debug!("no AppContext: the request this render belonged to has ended");
        } else {
            tracing::error!("AppContext missing from the Leptos context");
        }
        AppError::Internal
    })
}

/// Whether the current owner has lost its ancestors: a page's data loads
/// run as tasks of their own under a child of the request's owner, which
/// holds the context; when a client goes away mid-page the request (and
/// that owner) is dropped, the child's link up is weak, and a load still
/// running finds no context. Its answer has no one to go to, so that is no
/// fault. Every request's own owner provides the context, so a live render
/// that lacks it still reports an error.
fn render_has_ended() -> bool {
    leptos::prelude::Owner::current().is_some_and(|owner| owner.parent().is_none())
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
        // A load under a live request that never provided the context: a fault.
        let request = Owner::new();
        let load = request.with(Owner::new);
        assert!(load.with(app_context).is_err());
        assert_eq!(levels(), [tracing::Level::ERROR, tracing::Level::ERROR]);
        // The client went away: the request's owner is dropped, the load runs on.
        drop(request);
        assert!(load.with(app_context).is_err());
        assert_eq!(levels()[2], tracing::Level::DEBUG);
        assert!(logged.0.lock().unwrap()[2].1.contains("has ended"));
    }
}
