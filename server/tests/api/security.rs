//! Cross-site request refusal and the security headers.

use crate::helpers::{ORIGIN, TestApp};
use axum::body::Body;
use axum::http::Request;
use sqlx::PgPool;

fn login_post(origin: Option<&str>, referer: Option<&str>) -> Request<Body> {
    let mut request = Request::post("/api/login")
        .header("accept", "application/json")
        .header("content-type", "application/x-www-form-urlencoded");
    if let Some(origin) = origin {
        request = request.header("origin", origin);
    }
    if let Some(referer) = referer {
        request = request.header("referer", referer);
    }
    request
        .body(Body::from("email=a%40b.test&password=whatever+long+enough"))
        .unwrap()
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn state_changing_requests_from_other_sites_are_refused(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let cases = [
        (None, None, 403, "no origin at all"),
        (Some("https://evil.test"), None, 403, "foreign origin"),
        (Some("null"), None, 403, "opaque origin"),
        (None, Some("https://evil.test/page"), 403, "foreign referer"),
        (
            Some("http://127.0.0.1:3000.evil.test"),
            None,
            403,
            "look-alike origin",
        ),
        (Some(ORIGIN), None, 422, "same origin reaches the server function"),
        (
            None,
            Some("http://127.0.0.1:3000/login"),
            422,
            "same-site referer without origin",
        ),
        (
            Some("http://localhost:3000"),
            None,
            422,
            "the loopback twin in local mode",
        ),
    ];
    for (origin, referer, status, case) in cases {
        let response = app.request(login_post(origin, referer)).await;
        assert_eq!(response.status, status, "{case}: {}", response.body);
    }
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn every_server_function_is_guarded_the_same_way(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let owner = app.signed_up("ada@acme.test", "Acme", "starter").await;
    // Every registered function that changes something, anonymous and signed
    // in: from another site, or from nowhere at all, it is refused.
    let writes: Vec<&str> = crate::helpers::server_functions()
        .into_iter()
        .filter(|(_, method)| method == axum::http::Method::POST)
        .map(|(path, _)| path)
        .collect();
    assert!(writes.len() >= 20, "{writes:?}");
    for path in writes {
        for cookie in [None, owner.cookie.as_deref()] {
            for origin in [Some("https://evil.test"), Some("null"), None] {
                let mut request =
                    Request::post(path).header("content-type", "application/x-www-form-urlencoded");
                if let Some(origin) = origin {
                    request = request.header("origin", origin);
                }
                if let Some(cookie) = cookie {
                    request = request.header("cookie", cookie);
                }
                let response = app.request(request.body(Body::empty()).unwrap()).await;
                assert_eq!(
                    response.status,
                    403,
                    "{path} from {origin:?}, signed in: {}",
                    cookie.is_some()
                );
            }
        }
    }
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn pages_carry_a_csp_whose_nonce_matches_their_scripts(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    // Pages rendered per request (the shared, cached `/` and `/pricing` allow
    // their scripts by hash instead: see hostile.rs).
    for path in ["/pricing?utm_source=ad", "/signup", "/login", "/no-such-page"] {
        let page = app.get(path).await;
        let csp = page.headers["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        let nonce = csp
            .split("'nonce-")
            .nth(1)
            .and_then(|rest| rest.split('\'').next())
            .unwrap_or_else(|| panic!("{path}: {csp}"));
        let scripts = page.body.matches("<script").count();
        assert!(scripts > 0, "{path}");
        assert_eq!(
            page.body.matches(&format!("nonce=\"{nonce}\"")).count(),
            scripts,
            "{path}: every script carries the nonce"
        );
        assert!(
            csp.contains("frame-ancestors 'none'") && csp.contains("object-src 'none'"),
            "{path}"
        );
        assert!(
            !csp.contains("'unsafe-inline'") && !csp.contains("'unsafe-eval'"),
            "{path}"
        );
        assert!(
            !page.body.contains("style=\""),
            "{path}: no inline styles for style-src 'self'"
        );
    }
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn every_response_carries_the_security_headers(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    for path in [
        "/pricing",
        "/healthz",
        "/api/pricing",
        "/no-such-page",
        "/favicon.svg",
    ] {
        let response = app.get(path).await;
        assert_eq!(response.headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(
            response.headers["referrer-policy"], "strict-origin-when-cross-origin",
            "{path}"
        );
        assert_eq!(response.headers["x-frame-options"], "DENY", "{path}");
        assert!(response.headers.contains_key("content-security-policy"), "{path}");
        assert!(
            !response.headers.contains_key("strict-transport-security"),
            "{path}: no HSTS over plain http"
        );
    }
    assert_eq!(
        app.get("/healthz").await.headers["content-security-policy"],
        "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"
    );
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn malformed_requests_get_client_errors_never_a_500(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let huge = "a".repeat(3_000_000);
    let cases: Vec<(&str, &str, Vec<u8>, u16)> = vec![
        (
            "/api/login",
            "application/x-www-form-urlencoded",
            b"\xff\xfe%%%".to_vec(),
            422,
        ),
        (
            "/api/login",
            "application/x-www-form-urlencoded",
            huge.into_bytes(),
            413,
        ),
        ("/api/login", "application/json", br#"{"x":1}"#.to_vec(), 422),
        (
            "/api/signup",
            "application/x-www-form-urlencoded",
            b"email=a%40b.test".to_vec(),
            422,
        ),
        (
            "/api/verify_email",
            "application/x-www-form-urlencoded",
            b"token=%00%01".to_vec(),
            422,
        ),
        (
            "/api/no_such_function",
            "application/x-www-form-urlencoded",
            b"x=1".to_vec(),
            404,
        ),
    ];
    for (path, content_type, body, status) in cases {
        let request = Request::post(path)
            .header("origin", ORIGIN)
            .header("accept", "application/json")
            .header("content-type", content_type)
            .body(Body::from(body))
            .unwrap();
        let response = app.request(request).await;
        assert_eq!(
            response.status, status,
            "{path} ({content_type}): {}",
            response.body
        );
    }
    for page in [
        "/pricing?cycle=%FF",
        "/signup?__err=not-base64!!",
        "/invite?token=%FF%FE",
        "/login?next=%FF",
    ] {
        assert_eq!(app.get(page).await.status, 200, "{page}");
    }
}
