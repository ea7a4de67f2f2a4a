//! A write this process answers drops what it may have changed from this
//! process's caches before the answer leaves, so the page a form post
//! redirects to shows the post (and a revocation made here is refused here)
//! even if the change notice, which every other process waits for, has not
//! arrived yet.

use crate::change_listener::ProcessCaches;
use app::accounts::session::{session_organization, session_user};
use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;

/// Whether a request is the console's: its actions reach any organisation,
/// user, key or session, so this process drops everything it holds.
fn is_console(request: &Request) -> bool {
    let path = request.uri().path();
    path.starts_with("/api/admin_") || path.starts_with("/admin/") || path == "/admin"
}

/// Runs after the session layer: every request that is not a read drops
/// what it may have changed from this process's caches before its answer
/// leaves. A console request drops everything; one with a portal session
/// drops the standing of the organisation the session acted in (before and
/// after: a request may switch organisation or sign in as someone else),
/// and every cached user (a member removed or a role changed is another
/// user's record).
pub async fn forget_own_writes(
    State(caches): State<std::sync::Arc<ProcessCaches>>,
    request: Request,
    next: Next,
) -> Response {
    if matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(request).await;
    }
    if is_console(&request) {
        let response = next.run(request).await;
        caches.forget_all();
        return response;
    }
    let Some(session) = request.extensions().get::<tower_sessions::Session>().cloned() else {
        return next.run(request).await;
    };
    let before = session_organization(&session).await;
    let response = next.run(request).await;
    let after = session_organization(&session).await;
    for organization in [before, after].into_iter().flatten() {
        caches.forget_organization(organization);
    }
    if session_user(&session).await.is_some() {
        caches.forget_users();
    }
    response
}
