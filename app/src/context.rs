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
            license_keys: self.license_keys.clone(),
        }
    }
}

/// The [`AppContext`] of the current request.
pub fn app_context() -> Result<AppContext, AppError> {
    leptos::prelude::use_context::<AppContext>().ok_or_else(|| {
        tracing::error!("AppContext missing from the Leptos context");
        AppError::Internal
    })
}
