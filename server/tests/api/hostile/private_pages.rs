//! What no stranger may see or keep: private answers are never stored, every portal page sends a visitor to sign in, and a cached marketing page shares no nonce.

use super::*;

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn signed_in_pages_and_server_function_answers_are_private_and_not_stored(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let mut owner = app.signed_up("ada@acme.test", "Acme", "starter").await;
    for page in ["/app", "/app/team", "/app/billing", "/app/account"] {
        let response = owner.get(page).await;
        assert_eq!(response.status, 200, "{page}");
        assert_eq!(response.headers["cache-control"], "private, no-store", "{page}");
    }
    let api = owner.fetch("/api/billing").await;
    assert_eq!(api.headers["cache-control"], "private, no-store");
    let refused = app.get("/api/billing").await;
    assert_eq!(refused.headers["cache-control"], "private, no-store");
    let anonymous_page = app.get("/pricing").await;
    assert!(
        !anonymous_page.headers.contains_key("cache-control"),
        "the marketing pages may be kept"
    );
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn visitors_who_are_not_signed_in_are_sent_to_sign_in_from_every_portal_page(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    for page in [
        "/app",
        "/app/team",
        "/app/account",
        "/app/billing",
        "/app/billing/card",
        "/app/billing/change?tier=starter&cycle=annual",
        "/app/billing/success?session_id=cs_1",
        "/app/billing/invoices/00000000-0000-0000-0000-000000000000",
    ] {
        for accept in ["text/html", "*/*"] {
            let response = app
                .request(
                    Request::get(page)
                        .header("accept", accept)
                        .body(Body::empty())
                        .unwrap(),
                )
                .await;
            assert_eq!(response.status, 303, "{page} ({accept})");
            let location = response.headers["location"].to_str().unwrap();
            let next = location.strip_prefix("/login?next=").expect("to sign-in");
            let decoded: String = form_urlencoded::parse(format!("n={next}").as_bytes())
                .next()
                .unwrap()
                .1
                .into_owned();
            assert_eq!(decoded, page, "comes back to the page");
        }
    }
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn a_cached_marketing_page_shares_no_nonce_and_allows_its_scripts_by_hash(pool: PgPool) {
    use base64::Engine;
    use sha2::Digest;
    let app = TestApp::spawn(pool).await;
    let first = app.get("/").await;
    let second = app.get("/").await;
    assert_eq!(first.status, 200, "{:?}", first.headers);
    assert_eq!(first.headers["x-page-cache"], "miss");
    assert_eq!(second.headers["x-page-cache"], "hit");
    for response in [&first, &second] {
        let csp = response.headers["content-security-policy"].to_str().unwrap();
        assert!(!csp.contains("nonce"), "{csp}");
        assert!(
            !response.body.contains("nonce="),
            "no nonce attribute in a shared page"
        );
        let links = response.body.matches("crossorigin=\"\"").count();
        assert!(links >= 2, "the preload links stay anonymous CORS requests");
        // Every inline script is allowed by its hash.
        let mut rest = response.body.as_str();
        let mut scripts = 0;
        while let Some(open) = rest.find("<script") {
            let tag_end = open + rest[open..].find('>').unwrap();
            let close = tag_end + rest[tag_end..].find("</script>").unwrap();
            let tag = &rest[open..tag_end];
            if !tag.contains(" src=") && !tag.contains("application/ld+json") {
                let hash = base64::engine::general_purpose::STANDARD
                    .encode(sha2::Sha256::digest(&rest[tag_end + 1..close]));
                assert!(
                    csp.contains(&format!("'sha256-{hash}'")),
                    "{tag} not allowed by {csp}"
                );
                scripts += 1;
            }
            rest = &rest[close..];
        }
        assert!(scripts >= 1, "the page has its hydration script");
    }
    // Signed-in pages are rendered per request, each with its own nonce.
    let mut owner = app.signed_up("ada@acme.test", "Acme", "starter").await;
    let nonce = |response: &TestResponse| {
        let csp = response.headers["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        let start = csp.find("'nonce-").expect("a nonce") + 7;
        csp[start..start + csp[start..].find('\'').unwrap()].to_owned()
    };
    let (a, b) = (owner.get("/app").await, owner.get("/app").await);
    assert_ne!(nonce(&a), nonce(&b));
}
