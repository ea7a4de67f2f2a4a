//! Shared set-up for the integration tests.

use app::catalog::source::{LoadedCatalog, load_catalog_file, parse_catalog};
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
        let state = AppState::new(pool, settings);
        TestApp {
            router: app(state.clone()),
            state,
        }
    }

    pub async fn get(&self, uri: &str) -> TestResponse {
        self.request(Request::get(uri).body(Body::empty()).unwrap()).await
    }

    pub async fn request(&self, request: Request<Body>) -> TestResponse {
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
        TestResponse {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }
}
