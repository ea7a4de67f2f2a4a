//! Shared set-up for the integration tests.

use app::catalog::source::{LoadedCatalog, load_catalog_file, parse_catalog};
use app::clock::Clock;
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use server::config::Settings;
use server::{AppState, app, sync_catalog_file};
use sqlx::PgPool;
use std::path::{Path, PathBuf};
use tower::ServiceExt;

/// The catalogue file shipped in the repository.
pub fn shipped_catalog_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../catalog/catalog.toml")
}

/// The shipped catalogue, parsed and validated.
pub fn shipped_catalog() -> LoadedCatalog {
    load_catalog_file(&shipped_catalog_path()).expect("the shipped catalogue is valid")
}

/// The marketing content shipped in the repository.
pub fn shipped_content() -> app::marketing::content::SiteContent {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../content/site.toml");
    app::marketing::content_source::load_site_content(&path).expect("the shipped content is valid")
}

/// The shipped catalogue text with one replacement applied.
pub fn edited_catalog(from: &str, to: &str) -> LoadedCatalog {
    let text = std::fs::read_to_string(shipped_catalog_path()).unwrap();
    assert!(text.contains(from), "the catalogue has no {from:?} to replace");
    parse_catalog(&text.replace(from, to)).unwrap_or_else(|e| panic!("edited catalogue invalid: {e:?}"))
}

/// A response, read whole.
pub struct TestResponse {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: String,
}

/// Gatehouse's router over a test database with the shipped catalogue synced.
pub struct TestApp {
    pub router: Router,
    pub state: AppState,
}

impl TestApp {
    pub async fn spawn(pool: PgPool) -> Self {
        sync_catalog_file(&pool, &shipped_catalog())
            .await
            .expect("catalogue syncs");
        Self::without_sync(pool)
    }

    pub fn without_sync(pool: PgPool) -> Self {
        let settings = Settings::from_lookup(|name| match name {
            "GATEHOUSE_SITE_ROOT" => Some("target/site-absent-in-tests".into()),
            _ => None,
        })
        .expect("default settings");
        // A shifted clock: real time that a test can move weeks ahead.
        let state =
            AppState::with_clock(pool, settings, shipped_content(), Clock::shifted()).expect("state builds");
        TestApp {
            router: app(state.clone()),
            state,
        }
    }

    pub async fn get(&self, uri: &str) -> TestResponse {
        self.request(Request::get(uri).body(Body::empty()).unwrap()).await
    }

    pub async fn request(&self, request: Request<Body>) -> TestResponse {
        let what = format!("{} {}", request.method(), request.uri());
        // A request that never answers fails its test, naming itself, instead
        // of holding the whole run until CI's limit.
        let answered = async {
            let response = self
                .router
                .clone()
                .oneshot(request)
                .await
                .expect("router answers");
            let status = response.status();
            let headers = response.headers().clone();
            let bytes = response
                .into_body()
                .collect()
                .await
                .expect("body reads")
                .to_bytes();
            (status, headers, bytes)
        };
        let (status, headers, bytes) = tokio::time::timeout(std::time::Duration::from_secs(120), answered)
            .await
            .unwrap_or_else(|_| panic!("{what} did not answer within 120 s"));
        TestResponse {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }
}

/// The site's origin in tests (the default public URL).
pub const ORIGIN: &str = "http://127.0.0.1:3000";

/// A browser: the app plus a session cookie, posting forms from this site.
pub struct Browser<'a> {
    pub app: &'a TestApp,
    pub cookie: Option<String>,
}

impl TestApp {
    pub fn browser(&self) -> Browser<'_> {
        Browser {
            app: self,
            cookie: None,
        }
    }

    /// Settings with overrides, for tests of configuration-dependent behaviour.
    pub fn with_settings(pool: PgPool, overrides: &[(&str, &str)]) -> Self {
        let overrides: Vec<(String, String)> = overrides
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let settings = Settings::from_lookup(|name| {
            overrides
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .or_else(|| (name == "GATEHOUSE_SITE_ROOT").then(|| "target/site-absent-in-tests".into()))
        })
        .expect("settings");
        // A shifted clock: real time that a test can move weeks ahead.
        let state =
            AppState::with_clock(pool, settings, shipped_content(), Clock::shifted()).expect("state builds");
        TestApp {
            router: app(state.clone()),
            state,
        }
    }

    /// Everything due at the clock's now, as the running processes would do
    /// it: the runner's schedules and jobs (provider events among them),
    /// until nothing is left.
    pub async fn run_due_work(&self) {
        let runner = server::runner::Runner::gatehouse("test");
        let context = self.state.job_context();
        for _ in 0..20 {
            if !runner.pass(&context).await.expect("runner pass") {
                return;
            }
        }
        panic!("work kept coming for 20 passes");
    }

    /// Runs the due `email.deliver` jobs once through `mailer`, as a
    /// process with SMTP does; returns how many ran.
    pub async fn deliver_email(&self, mailer: &server::mailer::Mailer) -> usize {
        let runner = server::runner::Runner::gatehouse_kind("mail-test", app::email::outbox::DELIVER_KIND);
        let mut context = self.state.job_context();
        context.mailer = Some(mailer.clone());
        runner.pass_counted(&context).await.expect("runner pass")
    }

    /// Makes the queued jobs of `kind` due now (a retry's wait, skipped).
    pub async fn run_jobs_now(&self, kind: &str) {
        // language=PostgreSQL
        sqlx::query!(
            "update job set run_at = $2 where kind = $1 and state = 'queued'",
            kind,
            self.state.clock.now() as _
        )
        .execute(&self.state.pool)
        .await
        .unwrap();
    }

    /// Unread emails to `to`, newest first, as (template, text body).
    pub async fn emails_to(&self, to: &str) -> Vec<(String, String)> {
        // language=PostgreSQL
        sqlx::query!(
            "select template, text_body from email_outbox where to_address = $1 order by created_at desc",
            to
        )
        .fetch_all(&self.state.pool)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.template, r.text_body))
        .collect()
    }

    /// The link in the newest email of `template` to `to`, as a path.
    pub async fn link_in_email(&self, to: &str, template: &str) -> String {
        let emails = self.emails_to(to).await;
        let (_, body) = emails
            .iter()
            .find(|(t, _)| t == template)
            .unwrap_or_else(|| panic!("no {template} email to {to}: {emails:?}"));
        let start = body.find(ORIGIN).expect("a link") + ORIGIN.len();
        body[start..].split_whitespace().next().unwrap().to_owned()
    }

    /// The id of the one organisation a test signed up.
    pub async fn only_organization(&self) -> uuid::Uuid {
        sqlx::query_scalar("select organization_id from organization")
            .fetch_one(&self.state.pool)
            .await
            .expect("exactly one organisation")
    }

    /// Signs up a new organisation and returns its owner's browser.
    pub async fn signed_up(&self, email: &str, company: &str, plan: &str) -> Browser<'_> {
        let mut browser = self.browser();
        let response = browser
            .submit(
                "/api/signup",
                &[
                    ("email", email),
                    ("password", PASSWORD),
                    ("company", company),
                    ("plan", plan),
                    ("cycle", "monthly"),
                ],
            )
            .await;
        assert_eq!(
            response.headers["location"], "/signup/check-email",
            "signup of {email}"
        );
        browser
    }
}

/// The password every test user has.
pub const PASSWORD: &str = "correct horse battery";

fn form_body(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", urlencode(k), urlencode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn urlencode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl Browser<'_> {
    /// Keeps every cookie the site sets (the session, a known device, a
    /// secret's pad), as a browser would: one `Cookie` header of them all.
    pub fn remember_cookie(&mut self, response: &TestResponse) {
        let mut jar: Vec<(String, String)> = self
            .cookie
            .as_deref()
            .unwrap_or_default()
            .split(';')
            .filter_map(|pair| pair.trim().split_once('='))
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
            .collect();
        for value in response.headers.get_all("set-cookie") {
            let value = value.to_str().unwrap();
            let Some((name, cookie_value)) = value.split(';').next().and_then(|pair| pair.split_once('='))
            else {
                continue;
            };
            jar.retain(|(kept, _)| kept != name);
            let expired = value.split(';').any(|attribute| attribute.trim() == "Max-Age=0");
            if !expired {
                jar.push((name.to_owned(), cookie_value.to_owned()));
            }
        }
        // The session first, as tests that read it expect.
        jar.sort_by_key(|(name, _)| name != "gatehouse_session");
        self.cookie = (!jar.is_empty()).then(|| {
            jar.iter()
                .map(|(name, value)| format!("{name}={value}"))
                .collect::<Vec<_>>()
                .join("; ")
        });
    }

    async fn send(&mut self, request: axum::http::request::Builder, body: Body) -> TestResponse {
        let request = match &self.cookie {
            Some(cookie) => request.header("cookie", cookie),
            None => request,
        };
        let response = self.app.request(request.body(body).unwrap()).await;
        self.remember_cookie(&response);
        response
    }

    /// Loads a page.
    pub async fn get(&mut self, uri: &str) -> TestResponse {
        self.send(Request::get(uri).header("accept", "text/html"), Body::empty())
            .await
    }

    /// Reads a GET server function as a script does (JSON answer).
    pub async fn fetch(&mut self, uri: &str) -> TestResponse {
        self.send(
            Request::get(uri).header("accept", "application/json"),
            Body::empty(),
        )
        .await
    }

    /// Posts a form as a browser without JavaScript does (from a page of
    /// this site, accepting HTML).
    pub async fn submit(&mut self, path: &str, fields: &[(&str, &str)]) -> TestResponse {
        self.submit_from("/form-page", path, fields).await
    }

    /// Posts a form from the page at `page`, where errors come back to.
    pub async fn submit_from(&mut self, page: &str, path: &str, fields: &[(&str, &str)]) -> TestResponse {
        let request = Request::post(path)
            .header("origin", ORIGIN)
            .header("referer", format!("{ORIGIN}{page}"))
            .header("accept", "text/html")
            .header("content-type", "application/x-www-form-urlencoded");
        self.send(request, Body::from(form_body(fields))).await
    }

    /// Calls a server function as a script does (JSON answer, real status).
    pub async fn call(&mut self, path: &str, fields: &[(&str, &str)]) -> TestResponse {
        let request = Request::post(path)
            .header("origin", ORIGIN)
            .header("accept", "application/json")
            .header("content-type", "application/x-www-form-urlencoded");
        self.send(request, Body::from(form_body(fields))).await
    }

    /// Signs in with the test password.
    pub async fn sign_in(&mut self, email: &str) -> TestResponse {
        self.submit("/api/login", &[("email", email), ("password", PASSWORD)])
            .await
    }
}

/// Decodes the error a form post sent back in its redirect (`?__err=`).
pub fn form_error(response: &TestResponse) -> app::error::AppError {
    let location = response.headers["location"].to_str().unwrap();
    let encoded = location
        .split(['?', '&'])
        .find_map(|pair| pair.strip_prefix("__err="))
        .unwrap_or_else(|| panic!("no error in {location}"));
    let decoded = decode_query(encoded);
    server_fn::error::ServerFnUrlError::<app::error::AppError>::decode_err(&decoded)
}

fn decode_query(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                out.push(u8::from_str_radix(&value[i + 1..i + 3], 16).unwrap());
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap()
}

/// The Stripe webhook signing secret test apps are configured with.
pub const WEBHOOK_SECRET: &str = "whsec_test_gatehouse";

/// One of our Stripe-shaped fixtures (each is proved by async-stripe's own
/// types in the tests that use it).
pub fn stripe_fixture(name: &str) -> serde_json::Value {
    let path = format!("{}/tests/fixtures/stripe/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A Stripe-shaped event, as Stripe's API renders it.
pub fn stripe_event(id: &str, event_type: &str, created: i64, object: serde_json::Value) -> String {
    serde_json::json!({
        "id": id,
        "object": "event",
        "api_version": "2025-09-30.clover",
        "created": created,
        "data": { "object": object },
        "livemode": false,
        "pending_webhooks": 1,
        "request": { "id": null, "idempotency_key": null },
        "type": event_type,
    })
    .to_string()
}

/// Posts `payload` to the Stripe webhook endpoint with this signature header, if any.
pub async fn deliver_webhook(app: &TestApp, payload: &str, signature: Option<String>) -> TestResponse {
    let mut request = Request::post("/webhooks/stripe").header("content-type", "application/json");
    if let Some(signature) = signature {
        request = request.header("stripe-signature", signature);
    }
    app.request(request.body(Body::from(payload.to_owned())).unwrap())
        .await
}

/// Delivers `payload` signed now with the endpoint's secret, as Stripe does.
pub async fn deliver_signed(app: &TestApp, payload: &str) -> TestResponse {
    let signature = stripe_webhook::Webhook::generate_test_header(payload, WEBHOOK_SECRET, None);
    deliver_webhook(app, payload, Some(signature)).await
}

/// An app on Stripe, whose API is the mock at `api_base`, with the shipped
/// catalogue synced and webhooks configured.
pub async fn stripe_app(pool: PgPool, api_base: &str) -> TestApp {
    sync_catalog_file(&pool, &shipped_catalog())
        .await
        .expect("catalogue syncs");
    TestApp::with_settings(
        pool,
        &[
            ("GATEHOUSE_STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET),
            ("GATEHOUSE_STRIPE_SECRET_KEY", "sk_test_gatehouse"),
            ("GATEHOUSE_STRIPE_API_BASE", api_base),
        ],
    )
}

/// Links the organisation named `name` to the Stripe customer `customer`,
/// as a checkout would have; returns the organisation's id.
pub async fn link_stripe_customer(pool: &PgPool, name: &str, customer: &str) -> uuid::Uuid {
    // language=PostgreSQL
    let organization_id =
        sqlx::query_scalar!("select organization_id from organization where name = $1", name)
            .fetch_one(pool)
            .await
            .unwrap();
    app::billing::db::link_customer(
        pool,
        organization_id,
        app::billing::provider::ProviderName::Stripe,
        customer,
        "billing@customer.test",
    )
    .await
    .unwrap();
    organization_id
}

/// Invites `email` (as `role`) from the owner's browser and accepts as a new
/// user with the test password; returns the new member's browser.
pub async fn join<'a>(app: &'a TestApp, owner: &mut Browser<'_>, email: &str, role: &str) -> Browser<'a> {
    let response = owner
        .submit("/api/invite_member", &[("email", email), ("role", role)])
        .await;
    assert_eq!(
        response.headers["location"],
        "/app/team?invited=1",
        "invite {email}: {:?}",
        response.headers.get("location")
    );
    let link = app.link_in_email(email, "invitation").await;
    let token = link.split("token=").nth(1).unwrap().to_owned();
    let mut browser = app.browser();
    assert!(browser.get(&link).await.body.contains("Choose a password for"));
    let accepted = browser
        .submit(
            "/api/accept_invitation",
            &[("token", &token), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(accepted.headers["location"], "/app?joined=1");
    browser
}

/// Syncs the shipped catalogue into `pool` (for apps built with custom settings).
pub async fn sync_shipped_catalog(pool: &PgPool) {
    sync_catalog_file(pool, &shipped_catalog())
        .await
        .expect("catalogue syncs");
}

/// Every server function the app registers, so a test over them covers a
/// new one the day it is written.
pub fn server_functions() -> Vec<(&'static str, axum::http::Method)> {
    let mut functions: Vec<(&'static str, axum::http::Method)> = server_fn::axum::server_fn_paths().collect();
    functions.sort_by_key(|(path, method)| (*path, method.to_string()));
    functions.dedup();
    assert!(
        functions.len() >= 30,
        "the registry lists them all: {functions:?}"
    );
    functions
}

/// Starts a sandbox checkout of `tier` (monthly) from the owner's browser;
/// returns the checkout session's id.
pub async fn start_sandbox_checkout(owner: &mut Browser<'_>, tier: &str) -> String {
    let request_id = uuid::Uuid::new_v4().to_string();
    let checkout = owner
        .submit(
            "/api/start_checkout",
            &[("tier", tier), ("cycle", "monthly"), ("request_id", &request_id)],
        )
        .await;
    let location = checkout.headers["location"].to_str().unwrap();
    assert!(location.contains("/billing/sandbox/checkout/"), "{location}");
    location.rsplit('/').next().unwrap().to_owned()
}
