//! Request guards and response headers: same-origin checks for every
//! state-changing request, and the security headers every response carries.

use app::accounts::users::UserCache;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// The origins a state-changing request may come from.
#[derive(Clone, Debug)]
pub struct AllowedOrigins(Arc<Vec<String>>);

impl AllowedOrigins {
    /// The public URL's origin; on a loopback URL also its `localhost` and
    /// `127.0.0.1` twins, since developers use either.
    pub fn for_public_url(public_url: &str, local: bool) -> Self {
        let origin = origin_of(public_url).unwrap_or_else(|| public_url.to_owned());
        let mut origins = vec![origin.clone()];
        if local && let Some((scheme, rest)) = origin.split_once("://") {
            let port = rest
                .rsplit_once(':')
                .map(|(_, p)| format!(":{p}"))
                .unwrap_or_default();
            for host in ["127.0.0.1", "localhost", "[::1]"] {
                let twin = format!("{scheme}://{host}{port}");
                if !origins.contains(&twin) {
                    origins.push(twin);
                }
            }
        }
        AllowedOrigins(Arc::new(origins))
    }

    fn allows(&self, origin: &str) -> bool {
        self.0.iter().any(|allowed| allowed == origin)
    }
}

/// `scheme://host[:port]` of a URL.
fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    (!authority.is_empty()).then(|| format!("{scheme}://{authority}"))
}

/// Refuses state-changing requests (anything but GET, HEAD, OPTIONS) whose
/// `Origin`, or failing that `Referer`, is not this site. Provider webhooks
/// are signed instead and are exempt.
pub async fn require_same_origin(
    State(allowed): State<AllowedOrigins>,
    request: Request,
    next: Next,
) -> Response {
    let safe = matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    // Provider webhooks and the host-product API authenticate with their own
    // secrets and carry no cookies, so a cross-site request has nothing to ride on.
    let path = request.uri().path();
    if safe || path.starts_with("/webhooks/") || path.starts_with("/api/v1/") {
        return next.run(request).await;
    }
    let headers = request.headers();
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let referer_origin = headers
        .get(header::REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(origin_of);
    let same_origin = match (origin, referer_origin) {
        (Some(origin), _) if origin != "null" => allowed.allows(origin),
        (_, Some(referer)) => allowed.allows(&referer),
        _ => false,
    };
    if same_origin {
        next.run(request).await
    } else {
        tracing::warn!(path = %request.uri().path(), ?origin, "cross-site request refused");
        (
            StatusCode::FORBIDDEN,
            "This request did not come from this site, so it was refused. Reload the page and try again.",
        )
            .into_response()
    }
}

/// The Content-Security-Policy of pages: scripts only from this site or
/// carrying this response's nonce, WebAssembly allowed, nothing framed.
pub fn page_csp(nonce: &str) -> String {
    page_csp_allowing(&format!(" 'nonce-{nonce}'"))
}

/// The Content-Security-Policy of a page shared between visitors (served
/// from the page cache): its inline scripts are allowed by hash, so no nonce
/// is ever repeated.
pub fn page_csp_with_hashes(script_hashes: &[String]) -> String {
    let sources: String = script_hashes.iter().map(|h| format!(" '{h}'")).collect();
    page_csp_allowing(&sources)
}

/// The pages' policy, with `script_sources` allowed beside this site's files.
fn page_csp_allowing(script_sources: &str) -> String {
    format!(
        "default-src 'self'; script-src 'self'{script_sources} 'wasm-unsafe-eval'; style-src 'self'; \
         img-src 'self' data:; font-src 'self'; connect-src 'self'; form-action 'self'; \
         frame-ancestors 'none'; base-uri 'self'; object-src 'none'"
    )
}

/// Responses that are not pages (JSON, files, errors) may run nothing.
const NON_PAGE_CSP: &str = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'";

/// Adds the security headers to every response (a page's own CSP, set while
/// rendering, is kept).
pub async fn security_headers(State(https): State<bool>, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers
        .entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(NON_PAGE_CSP));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("strict-origin-when-cross-origin"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        "permissions-policy",
        HeaderValue::from_static("camera=(), microphone=(), geolocation=(), payment=()"),
    );
    if https {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=63072000; includeSubDomains"),
        );
    }
    response
}

/// Sends a visitor who is not signed in from any portal page (`/app…`) to
/// the sign-in page with a 303, carrying the page to come back to. Runs
/// inside the session layer; a session that cannot be read is left to the
/// page, which shows the error. The sign-in it checked goes into the
/// request's extensions, so the page's server functions do not check it again.
pub async fn require_sign_in_for_portal(
    State((pool, users, clock)): State<(sqlx::PgPool, UserCache, app::clock::Clock)>,
    mut request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    let is_portal_page = path == "/app" || path.starts_with("/app/");
    let is_read = matches!(*request.method(), Method::GET | Method::HEAD);
    if !is_portal_page || !is_read {
        return next.run(request).await;
    }
    let Some(session) = request.extensions().get::<tower_sessions::Session>().cloned() else {
        return next.run(request).await;
    };
    match app::accounts::session::signed_in(&session, &pool, &users, clock.now()).await {
        Ok(None) => sign_in_redirect(request.uri()),
        Ok(Some(user)) => {
            request
                .extensions_mut()
                .insert(app::accounts::session::VerifiedSignIn(user));
            next.run(request).await
        }
        Err(_) => next.run(request).await,
    }
}

/// The console's pages an admin reaches before both factors are given.
const CONSOLE_SIGN_IN_PAGES: [&str; 3] = ["/admin/login", "/admin/enroll", "/admin/verify"];

/// Sends anyone who is not a fully signed-in platform admin from a console
/// page (`/admin…`) to the console's sign-in with a 303. Customers are
/// turned away alike: a customer session is no admin session. The console's
/// server functions check again themselves.
pub async fn require_admin_for_console(
    State((pool, clock)): State<(sqlx::PgPool, app::clock::Clock)>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    let is_console_page = path == "/admin" || path.starts_with("/admin/");
    let is_read = matches!(*request.method(), Method::GET | Method::HEAD);
    if !is_console_page || !is_read || CONSOLE_SIGN_IN_PAGES.contains(&path) {
        return next.run(request).await;
    }
    let Some(session) = request.extensions().get::<tower_sessions::Session>().cloned() else {
        return next.run(request).await;
    };
    if let Ok(Some(_)) = app::accounts::session::impersonation(&session, clock.now()).await {
        return (
            StatusCode::FORBIDDEN,
            "You are seeing an organisation's portal as its owner: exit impersonation (the banner at the top of /app) to use the console.",
        )
            .into_response();
    }
    match app::admin::sign_in::session::signed_in_admin(&session, &pool, clock.now()).await {
        Ok(None) => see_other("/admin/login"),
        Ok(Some(_)) | Err(_) => next.run(request).await,
    }
}

/// What an impersonating admin may still post: the exit, the sign-out, and
/// hiding the trial banner. Everything else that changes something is refused.
const WRITES_WHILE_IMPERSONATING: [&str; 3] = [
    "/api/admin_stop_impersonating",
    "/api/admin_logout",
    "/api/dismiss_trial_banner",
];

/// While an admin sees the portal as an owner: audits every request to the
/// portal, the console and the server functions (who, which organisation,
/// method and path), and refuses every change but the exit with a 403.
pub async fn audit_impersonated_requests(
    State((pool, clock, trust_forwarded_for)): State<(sqlx::PgPool, app::clock::Clock, bool)>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path().to_owned();
    let watched = ["/app", "/api/", "/admin", "/billing/"]
        .iter()
        .any(|prefix| path.starts_with(prefix));
    let Some(session) = request
        .extensions()
        .get::<tower_sessions::Session>()
        .cloned()
        .filter(|_| watched)
    else {
        return next.run(request).await;
    };
    let now = clock.now();
    let Ok(Some(seen_as)) = app::accounts::session::impersonation(&session, now).await else {
        return next.run(request).await;
    };
    let method = request.method().clone();
    let peer = request
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|info| info.0.ip());
    let client_ip = app::security::client::client_address(request.headers(), peer, trust_forwarded_for);
    let is_write = !matches!(method, Method::GET | Method::HEAD);
    let refused = is_write && !WRITES_WHILE_IMPERSONATING.contains(&path.as_str());
    let entry = app::admin::audited::AuditEntry {
        at: now,
        admin_id: seen_as.admin_id,
        admin_email: &seen_as.admin_email,
        action: if refused {
            "impersonation.refused"
        } else {
            "impersonation.request"
        },
        organization_id: Some(seen_as.organization_id),
        reason: None,
        before: None,
        after: Some(serde_json::json!({ "method": method.as_str(), "path": path })),
        client_ip: &client_ip,
    };
    if let Err(error) = app::admin::audited::audit(&pool, &entry).await {
        // A request that cannot be audited is not served.
        tracing::error!(%error, "could not audit an impersonated request");
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    if refused {
        return (
            StatusCode::FORBIDDEN,
            "Refused while an admin is impersonating this organisation: billing, security and other changes are the owner's own.",
        )
            .into_response();
    }
    next.run(request).await
}

fn see_other(target: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(location) = HeaderValue::from_str(target) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

/// `303 See Other` to `/login?next=<this page>`.
fn sign_in_redirect(uri: &Uri) -> Response {
    let here = uri.path_and_query().map_or("/app", |p| p.as_str());
    see_other(&format!("/login?next={}", app::ui::encode_query_value(here)))
}

/// Responses that say nothing of their caching are private and not stored:
/// signed-in pages, server-function answers, errors. Files, the sitemap,
/// robots and the anonymous marketing pages say their own.
pub async fn default_cache_control(request: Request, next: Next) -> Response {
    let anonymous_page = crate::page_cache::is_cacheable_request(&request);
    let mut response = next.run(request).await;
    if !anonymous_page || response.status() != StatusCode::OK {
        response
            .headers_mut()
            .entry(header::CACHE_CONTROL)
            .or_insert(HeaderValue::from_static("private, no-store"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_sites_accept_both_loopback_names() {
        let allowed = AllowedOrigins::for_public_url("http://127.0.0.1:3000", true);
        assert!(allowed.allows("http://127.0.0.1:3000"));
        assert!(allowed.allows("http://localhost:3000"));
        assert!(!allowed.allows("http://localhost:3001"));
        assert!(!allowed.allows("http://evil.test"));
    }

    #[test]
    fn public_sites_accept_only_their_own_origin() {
        let allowed = AllowedOrigins::for_public_url("https://billing.example.com/", false);
        assert!(allowed.allows("https://billing.example.com"));
        assert!(!allowed.allows("http://billing.example.com"));
        assert!(!allowed.allows("https://billing.example.com.evil.test"));
        assert!(!allowed.allows("http://localhost"));
    }

    #[test]
    fn origins_are_read_from_urls() {
        assert_eq!(
            origin_of("https://a.test:8443/x?y#z").as_deref(),
            Some("https://a.test:8443")
        );
        assert_eq!(origin_of("not a url"), None);
    }
}
