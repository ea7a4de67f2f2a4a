//! Hostile input, class by class: every registered server function with
//! oversized bodies and fields, static file names, `next=` values, the
//! endpoints that hash a password hammered, and who may spend the
//! organisation's money. No request here may answer 5xx, echo what it was
//! sent, or close without an answer.

use crate::helpers::{Browser, ORIGIN, PASSWORD, TestApp, TestResponse, form_error, join};
use axum::body::Body;
use axum::http::{Method, Request};
use sqlx::PgPool;
use uuid::Uuid;

/// Sends `body` to a server function as a script would (JSON answer), with
/// the session cookie if any. GET functions get `body` as their query.
async fn send_raw(
    app: &TestApp,
    cookie: Option<&str>,
    method: &Method,
    path: &str,
    body: &str,
    declare_length: bool,
) -> TestResponse {
    let (uri, body) = if method == Method::GET {
        (format!("{path}?{body}"), String::new())
    } else {
        (path.to_owned(), body.to_owned())
    };
    let mut request = Request::builder()
        .method(method.clone())
        .uri(uri)
        .header("origin", ORIGIN)
        .header("accept", "application/json")
        .header("content-type", "application/x-www-form-urlencoded");
    if declare_length {
        request = request.header("content-length", body.len());
    }
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    app.request(request.body(Body::from(body)).unwrap()).await
}

/// An answer that is a short client error and repeats nothing of the input.
fn assert_short_refusal(response: &TestResponse, expected: &[u16], case: &str) {
    let status = response.status.as_u16();
    assert!(
        expected.contains(&status),
        "{case}: {status} {}",
        &response.body[..response.body.len().min(300)]
    );
    assert!(
        response.body.len() < 400,
        "{case}: a {} byte answer",
        response.body.len()
    );
    assert!(!response.body.contains("aaaaaaaa"), "{case}: the input is echoed");
}

/// One oversized request, and the statuses a POST and a GET function answer it with.
struct Oversized {
    name: &'static str,
    body: String,
    declare_length: bool,
    post: &'static [u16],
    get: &'static [u16],
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn every_server_function_refuses_oversized_bodies_and_fields_briefly(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let owner = app.signed_up("ada@acme.test", "Acme", "starter").await;
    let signed_in = owner.cookie.clone();
    let long = |n: usize| "a".repeat(n);
    let case = |name: &'static str, body: String, declare_length: bool, post: &'static [u16]| Oversized {
        name,
        body,
        declare_length,
        post,
        get: &[422],
    };
    let cases = [
        case(
            "70 KB body, declared",
            format!("email={}", long(70_000)),
            true,
            &[413],
        ),
        case(
            "70 KB body, streamed",
            format!("email={}", long(70_000)),
            false,
            &[413],
        ),
        case("60 KB field", format!("email={}", long(60_000)), true, &[422]),
        case(
            "5 KB nested field",
            format!("email[a][b]={}", long(5_000)),
            true,
            &[422],
        ),
        case("5 KB field name", format!("{}=1", long(5_000)), true, &[422]),
        case(
            "150 fields",
            (0..150).map(|n| format!("f{n}=1")).collect::<Vec<_>>().join("&"),
            true,
            &[422],
        ),
        case(
            "5 KB add-on key",
            format!(
                "tier=starter&cycle=monthly&request_id=x&add_ons[{}]=1",
                long(5_000)
            ),
            true,
            &[422],
        ),
    ];
    for (path, method) in crate::helpers::server_functions() {
        for cookie in [None, signed_in.as_deref()] {
            for case in &cases {
                // The http crate (and hyper before it) refuses URIs over 64 KB.
                if method == Method::GET && case.body.len() > 64_000 {
                    continue;
                }
                let expected = if method == Method::GET {
                    case.get
                } else {
                    case.post
                };
                let response = send_raw(&app, cookie, &method, path, &case.body, case.declare_length).await;
                let who = if cookie.is_some() { "owner" } else { "anonymous" };
                assert_short_refusal(
                    &response,
                    expected,
                    &format!("{method} {path} as {who}: {}", case.name),
                );
            }
        }
    }
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn add_on_keys_and_values_are_never_repeated_back(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let mut owner = app.signed_up("ada@acme.test", "Acme", "starter").await;
    let hostile_key = format!("<script>{}</script>", "k".repeat(200));
    let response = owner
        .call(
            "/api/start_checkout",
            &[
                ("tier", "starter"),
                ("cycle", "monthly"),
                ("request_id", &Uuid::new_v4().to_string()),
                (&format!("add_ons[{hostile_key}]"), "1"),
            ],
        )
        .await;
    assert_eq!(response.status, 422, "{}", response.body);
    assert!(
        !response.body.contains("kkkk") && !response.body.contains("<script>"),
        "{}",
        response.body
    );
}

/// A site with one bundle file (and its brotli copy) and one public file.
fn built_site() -> std::path::PathBuf {
    let root = std::env::temp_dir().join(format!("gatehouse-site-{}", Uuid::new_v4()));
    std::fs::create_dir_all(root.join("pkg")).unwrap();
    std::fs::write(root.join("pkg/gatehouse-0123.js"), "export default 1;").unwrap();
    std::fs::write(root.join("pkg/gatehouse-0123.js.br"), "br").unwrap();
    std::fs::write(root.join("favicon.svg"), "<svg/>").unwrap();
    root
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn static_file_names_are_served_exactly_or_not_found_and_never_cached_as_errors(pool: PgPool) {
    let root = built_site();
    let app = TestApp::with_settings(pool, &[("GATEHOUSE_SITE_ROOT", root.to_str().unwrap())]);
    crate::helpers::sync_shipped_catalog(&app.state.pool).await;
    let long = "a".repeat(300);
    let hostile = [
        format!("/pkg/{long}"),
        format!("/pkg/{long}.js"),
        format!("/{long}"),
        "/pkg/a%00b.js".into(),
        "/pkg/%00".into(),
        "/%00".into(),
        "/pkg/../Cargo.toml".into(),
        "/pkg/..%2f..%2fCargo.toml".into(),
        "/pkg/%2e%2e/%2e%2e/Cargo.toml".into(),
        "/..%2f..%2fetc/passwd".into(),
        "/pkg//etc/passwd".into(),
        "/pkg/gatehouse-0123.js%00".into(),
        "/pkg/gatehouse-0123.js/".into(),
        "/pkg/gatehouse-0123.js.br".into(),
        "/pkg/".into(),
        "/pkg".into(),
        "/asset-manifest.json".into(),
        "/pkg/%ff%fe".into(),
        "/pkg/%C0%AE%C0%AE/x".into(),
    ];
    for path in &hostile {
        for method in [Method::GET, Method::HEAD] {
            let request = Request::builder()
                .method(method.clone())
                .uri(path.as_str())
                .header("accept-encoding", "br, gzip")
                .body(Body::empty())
                .unwrap();
            let response = app.request(request).await;
            // A NUL in the path is refused as input (422) before any lookup.
            let expected = if path.contains("%00") { 422 } else { 404 };
            assert_eq!(response.status, expected, "{method} {path}");
            let cache = response.headers["cache-control"].to_str().unwrap();
            assert!(
                cache.contains("no-store") && !cache.contains("immutable"),
                "{method} {path}: {cache}"
            );
        }
    }
    let file = app
        .request(
            Request::get("/pkg/gatehouse-0123.js")
                .header("accept-encoding", "gzip, br")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(file.status, 200);
    assert_eq!(file.headers["content-encoding"], "br");
    assert_eq!(
        file.headers["cache-control"],
        "public, max-age=31536000, immutable"
    );
    let head = app
        .request(Request::head("/favicon.svg").body(Body::empty()).unwrap())
        .await;
    assert_eq!((head.status.as_u16(), head.body.as_str()), (200, ""));
    assert_eq!(head.headers["content-length"], "6");
    std::fs::remove_dir_all(root).unwrap();
}

/// Posts a form from this site as a browser would, from client address `ip`
/// (the app trusts `X-Forwarded-For`).
pub async fn post_from(
    browser: &mut Browser<'_>,
    ip: &str,
    path: &str,
    fields: &[(&str, &str)],
) -> TestResponse {
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields.iter())
        .finish();
    let mut request = Request::post(path)
        .header("origin", ORIGIN)
        .header("referer", format!("{ORIGIN}/login"))
        .header("accept", "text/html")
        .header("x-forwarded-for", ip)
        .header("content-type", "application/x-www-form-urlencoded");
    if let Some(cookie) = &browser.cookie {
        request = request.header("cookie", cookie.as_str());
    }
    let response = browser.app.request(request.body(Body::from(body)).unwrap()).await;
    browser.remember_cookie(&response);
    response
}

async fn proxied_app(pool: PgPool) -> TestApp {
    let app = TestApp::with_settings(pool, &[("GATEHOUSE_TRUST_FORWARDED_FOR", "true")]);
    crate::helpers::sync_shipped_catalog(&app.state.pool).await;
    app
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn sign_in_follows_next_only_to_a_path_a_browser_keeps_on_this_site(pool: PgPool) {
    let app = proxied_app(pool).await;
    app.signed_up("ada@acme.test", "Acme", "starter").await;
    let cases: &[(&str, &str)] = &[
        ("/app/team", "/app/team"),
        ("/invite?token=abc", "/invite?token=abc"),
        ("/app/billing?cycle=annual", "/app/billing?cycle=annual"),
        ("/é", "/%C3%A9"),
        ("/\t/evil.test", "/app"),
        ("/\n/evil.test", "/app"),
        ("/\r/x", "/app"),
        ("/\u{7f}", "/app"),
        ("/\u{0}x", "/app"),
        ("\t//evil.test", "/app"),
        ("//evil.test", "/app"),
        ("/\\evil.test", "/app"),
        ("\\\\evil.test", "/app"),
        ("/.//evil.test", "/app"),
        ("/%2F%2Fevil.test", "/%2F%2Fevil.test"),
        ("https://evil.test", "/app"),
        ("javascript:alert(1)", "/app"),
        ("//user:pass@evil.test", "/app"),
        ("/\u{3000}/evil.test", "/app"),
        ("", "/app"),
    ];
    for (n, (next, expected)) in cases.iter().enumerate() {
        let mut browser = app.browser();
        // A client address each, so the sign-in throttle is not what answers.
        let ip = format!("10.0.{n}.1");
        let response = post_from(
            &mut browser,
            &ip,
            "/api/login",
            &[("email", "ada@acme.test"), ("password", PASSWORD), ("next", next)],
        )
        .await;
        if app::input::has_forbidden_control(next) {
            // A NUL or DEL no form of ours sends is refused, naming the field.
            assert_eq!(response.status, 422, "{next:?}: {}", response.body);
            assert!(response.body.contains("\"next\""), "{next:?}: {}", response.body);
            continue;
        }
        assert_eq!(response.status, 302, "{next:?}: {}", response.body);
        assert_eq!(response.headers["location"], *expected, "{next:?}");
    }
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn every_endpoint_that_hashes_a_password_is_throttled_per_client_address(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let mut owner = app.signed_up("ada@acme.test", "Acme", "starter").await;
    let new_password = "a brand new passphrase";
    // Each endpoint with the form of its n-th attempt.
    type Attempt = Box<dyn Fn(usize) -> Vec<(String, String)>>;
    let endpoints: [(&str, Attempt); 5] = [
        (
            "/api/signup",
            Box::new(|n| {
                vec![
                    ("email".into(), format!("new{n}@elsewhere.test")),
                    ("password".into(), PASSWORD.into()),
                    ("company".into(), format!("Company {n}")),
                ]
            }),
        ),
        (
            "/api/login",
            Box::new(|_| {
                vec![
                    ("email".into(), "ada@acme.test".into()),
                    ("password".into(), "wrong guess".into()),
                ]
            }),
        ),
        (
            "/api/reset_password",
            Box::new(|n| {
                vec![
                    ("token".into(), format!("bogus-{n}")),
                    ("password".into(), new_password.into()),
                ]
            }),
        ),
        (
            "/api/accept_invitation",
            Box::new(|n| {
                vec![
                    ("token".into(), format!("bogus-{n}")),
                    ("password".into(), new_password.into()),
                ]
            }),
        ),
        (
            "/api/change_password",
            Box::new(|_| {
                vec![
                    ("current_password".into(), "not it at all".into()),
                    ("new_password".into(), new_password.into()),
                ]
            }),
        ),
    ];
    for (path, fields) in &endpoints {
        let mut statuses = Vec::new();
        for n in 0..30 {
            let fields = fields(n);
            let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let response = owner.call(path, &pairs).await;
            assert!(response.status.as_u16() < 500, "{path} #{n}: {}", response.body);
            if response.status == 429 {
                assert!(response.headers.contains_key("retry-after"), "{path}");
            }
            statuses.push(response.status.as_u16());
        }
        assert!(statuses.contains(&429), "{path} is throttled: {statuses:?}");
    }
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn a_stranger_cannot_lock_the_owner_out_and_the_reset_link_clears_a_campaign(pool: PgPool) {
    let app = proxied_app(pool).await;
    app.signed_up("ada@acme.test", "Acme", "starter").await;
    let wrong = [("email", "ada@acme.test"), ("password", "wrong guess")];
    let right = [("email", "ada@acme.test"), ("password", PASSWORD)];
    // A stranger's guesses from one address: that address is throttled…
    let mut stranger = app.browser();
    let throttled = |response: &TestResponse| {
        matches!(form_error(response), app::error::AppError::TooManyRequests { .. })
    };
    let mut refusals = 0;
    for _ in 0..8 {
        let response = post_from(&mut stranger, "203.0.113.9", "/api/login", &wrong).await;
        refusals += usize::from(throttled(&response));
    }
    assert_eq!(refusals, 3, "the sixth guess and later wait");
    // …and the owner, elsewhere, still signs in.
    let mut owner = app.browser();
    let signed_in = post_from(&mut owner, "198.51.100.7", "/api/login", &right).await;
    assert_eq!(signed_in.headers["location"], "/app");

    // A campaign from many addresses exhausts the account's failure budget:
    // then even the right password waits…
    for n in 0..60 {
        post_from(&mut app.browser(), &format!("192.0.2.{n}"), "/api/login", &wrong).await;
    }
    let refused = post_from(&mut app.browser(), "198.51.100.8", "/api/login", &right).await;
    assert!(throttled(&refused), "{:?}", form_error(&refused));
    // …until the owner proves themselves with the emailed link.
    let mut reset = app.browser();
    post_from(
        &mut reset,
        "198.51.100.8",
        "/api/forgot_password",
        &[("email", "ada@acme.test")],
    )
    .await;
    let link = app.link_in_email("ada@acme.test", "reset_password").await;
    let token = link.split("token=").nth(1).unwrap();
    let done = post_from(
        &mut reset,
        "198.51.100.8",
        "/api/reset_password",
        &[("token", token), ("password", "a brand new passphrase")],
    )
    .await;
    assert_eq!(done.headers["location"], "/app?password_reset=1");
    let again = post_from(
        &mut app.browser(),
        "198.51.100.9",
        "/api/login",
        &[("email", "ada@acme.test"), ("password", "a brand new passphrase")],
    )
    .await;
    assert_eq!(again.headers["location"], "/app");
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn only_owners_and_admins_may_pay_and_junk_session_ids_are_not_found(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let mut owner = app.signed_up("ada@acme.test", "Acme", "starter").await;
    let mut member = join(&app, &mut owner, "mo@acme.test", "member").await;
    let session_id = crate::helpers::start_sandbox_checkout(&mut owner, "starter").await;

    let paid = member
        .call(
            "/api/sandbox_pay",
            &[
                ("session_id", &session_id),
                ("card_number", "4242 4242 4242 4242"),
            ],
        )
        .await;
    assert_eq!(paid.status, 403, "{}", paid.body);
    let page = member
        .fetch(&format!("/api/sandbox_checkout?session_id={session_id}"))
        .await;
    assert_eq!(page.status, 403);

    for junk in ["%00", "cs%00x", "cs_'--", "..%2F..", &"a".repeat(300)] {
        let result = owner
            .fetch(&format!("/api/checkout_result?session_id={junk}"))
            .await;
        // A control character is refused as input (422); other junk is not found.
        let expected = if junk.contains("%00") { 422 } else { 404 };
        assert_eq!(result.status, expected, "checkout_result {junk}: {}", result.body);
        let page = owner
            .fetch(&format!("/api/sandbox_checkout?session_id={junk}"))
            .await;
        assert_eq!(page.status, expected, "sandbox_checkout {junk}");
    }
    let nul = owner
        .call(
            "/api/sandbox_pay",
            &[("session_id", "cs\0x"), ("card_number", "4242 4242 4242 4242")],
        )
        .await;
    assert_eq!(nul.status, 422, "{}", nul.body);
    // The owner still pays.
    let paid = owner
        .call(
            "/api/sandbox_pay",
            &[
                ("session_id", &session_id),
                ("card_number", "4242 4242 4242 4242"),
            ],
        )
        .await;
    assert!(paid.status.is_success(), "{}", paid.body);
}

mod private_pages;
