//! A write this process answers drops its organisation's cached standing
//! before the answer leaves, so the page a form post redirects to shows the
//! post even if the change notice (which every other process waits for) has
//! not arrived yet.

use app::accounts::session::session_organization;
use app::entitlements::cache::StandingCache;
use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;

/// Runs after the session layer: every request that is not a read and
/// carries a session drops the standing of the organisation the session
/// acted in before the request and after it (a request may switch it).
pub async fn forget_own_writes(
    State(standings): State<StandingCache>,
    request: Request,
    next: Next,
) -> Response {
    if matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(request).await;
    }
    let Some(session) = request.extensions().get::<tower_sessions::Session>().cloned() else {
        return next.run(request).await;
    };
    let before = session_organization(&session).await;
    let response = next.run(request).await;
    let after = session_organization(&session).await;
    for organization in [before, after].into_iter().flatten() {
        standings.invalidate(organization);
    }
    response
}
