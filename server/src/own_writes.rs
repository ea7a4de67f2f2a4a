//! A write this process answers drops what it may have changed from this
//! process's caches before the answer leaves (the session's organisation's
//! standing, billing reads and usage history, and the session's user), so the page a form post
//! redirects to shows the post even if the change notice (which every other
//! process waits for) has not arrived yet.

use app::accounts::session::{session_organization, session_user};
use app::accounts::users::UserCache;
use app::billing::page_cache::BillingPageCache;
use app::entitlements::cache::StandingCache;
use app::entitlements::history_cache::SnapshotHistoryCache;
use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;

/// The caches a write through this process may have made stale.
#[derive(Clone)]
pub struct OwnWriteCaches {
    standings: StandingCache,
    users: UserCache,
    billing_pages: BillingPageCache,
    snapshot_histories: SnapshotHistoryCache,
}

impl OwnWriteCaches {
    /// The caches of `state`.
    pub fn of(state: &crate::AppState) -> Self {
        OwnWriteCaches {
            standings: state.standings.clone(),
            users: state.users.clone(),
            billing_pages: state.billing_pages.clone(),
            snapshot_histories: state.snapshot_histories.clone(),
        }
    }
}

/// Runs after the session layer: every request that is not a read and
/// carries a session drops the standing of the organisation the session
/// acted in, and its user, before the request and after it (a request may
/// switch organisation or sign in as someone else).
pub async fn forget_own_writes(
    State(caches): State<OwnWriteCaches>,
    request: Request,
    next: Next,
) -> Response {
    if matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(request).await;
    }
    let Some(session) = request.extensions().get::<tower_sessions::Session>().cloned() else {
        return next.run(request).await;
    };
    let before = (session_organization(&session).await, session_user(&session).await);
    let response = next.run(request).await;
    let after = (session_organization(&session).await, session_user(&session).await);
    for organization in [before.0, after.0].into_iter().flatten() {
        caches.standings.invalidate(organization);
        caches.billing_pages.invalidate(organization);
        caches.snapshot_histories.invalidate(organization);
    }
    for user in [before.1, after.1].into_iter().flatten() {
        caches.users.forget(user);
    }
    response
}
