//! A bounded cache of rendered marketing pages for anonymous visitors.
//!
//! `/` and `/pricing` are the same for every visitor without a session, and
//! depend only on the catalogue and the build. Rendering the pricing page
//! costs ~150 µs; serving it from here costs what a static file does. The
//! cache is derived data: it is cleared whenever the catalogue's generation
//! moves (a NOTIFY from any process), and a restart starts it empty.
//!
//! A cached page carries the CSP nonce of the render that produced it, so
//! entries live at most [`MAX_AGE`]: visitors share a nonce for a minute at
//! most, and it keeps rotating.

use app::catalog::cache::CatalogCache;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// Most variants kept (page × query × encoding); past it pages are still
/// served, just not stored.
const MAX_ENTRIES: usize = 64;
/// How long a rendered page is served from the cache.
pub const MAX_AGE: Duration = Duration::from_secs(60);
/// Accept-Encoding values longer than this are not cached (they are not browsers').
const MAX_ACCEPT_ENCODING_LEN: usize = 100;

/// Which URLs may be cached: exact path and query pairs, so that arbitrary
/// query strings cannot fill memory.
fn cacheable(path: &str, query: Option<&str>) -> bool {
    matches!(
        (path, query),
        ("/", None) | ("/pricing", None | Some("cycle=monthly") | Some("cycle=annual"))
    )
}

#[derive(Clone)]
struct CachedPage {
    headers: HeaderMap,
    body: Bytes,
    stored_at: Instant,
}

#[derive(Default)]
struct Entries {
    generation: u64,
    pages: HashMap<(String, String), CachedPage>,
}

/// The shared cache handle.
#[derive(Clone)]
pub struct PageCache {
    catalog: CatalogCache,
    entries: Arc<RwLock<Entries>>,
}

impl PageCache {
    /// A cache that follows `catalog`'s generation.
    pub fn new(catalog: CatalogCache) -> Self {
        PageCache {
            catalog,
            entries: Arc::default(),
        }
    }

    fn get(&self, key: &(String, String)) -> Option<CachedPage> {
        let entries = self.entries.read().ok()?;
        if entries.generation != self.catalog.generation() {
            return None;
        }
        entries
            .pages
            .get(key)
            .filter(|page| page.stored_at.elapsed() < MAX_AGE)
            .cloned()
    }

    fn put(&self, key: (String, String), page: CachedPage, generation: u64) {
        let Ok(mut entries) = self.entries.write() else {
            return;
        };
        if entries.generation != generation {
            entries.pages.clear();
            entries.generation = generation;
        }
        // A page rendered before the latest invalidation must not be stored.
        // A full cache still refreshes the variants it holds.
        let room = entries.pages.contains_key(&key) || entries.pages.len() < MAX_ENTRIES;
        if generation == self.catalog.generation() && room {
            entries.pages.insert(key, page);
        }
    }
}

/// Visitors with any cookie may have a session, and see personalised pages.
fn is_anonymous(request: &Request) -> bool {
    !request.headers().contains_key(header::COOKIE) && !request.headers().contains_key(header::AUTHORIZATION)
}

/// Middleware: answers cacheable anonymous GETs from the cache, storing
/// successful renders on the way out.
pub async fn serve_cached_pages(State(cache): State<PageCache>, request: Request, next: Next) -> Response {
    let uri = request.uri();
    if request.method() != Method::GET || !cacheable(uri.path(), uri.query()) || !is_anonymous(&request) {
        return next.run(request).await;
    }
    let accept_encoding = request
        .headers()
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    if accept_encoding.len() > MAX_ACCEPT_ENCODING_LEN {
        return next.run(request).await;
    }
    let key = (uri.to_string(), accept_encoding);
    if let Some(page) = cache.get(&key) {
        let mut response = Body::from(page.body).into_response();
        *response.headers_mut() = page.headers;
        response
            .headers_mut()
            .insert("x-page-cache", HeaderValue::from_static("hit"));
        return response;
    }

    let generation = cache.catalog.generation();
    let response = next.run(request).await;
    if response.status() != StatusCode::OK || response.headers().contains_key(header::SET_COOKIE) {
        return response;
    }
    let (parts, body) = response.into_parts();
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(error) => {
            tracing::warn!(%error, "page body failed while caching");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    cache.put(
        key,
        CachedPage {
            headers: parts.headers.clone(),
            body: body.clone(),
            stored_at: Instant::now(),
        },
        generation,
    );
    Response::from_parts(parts, Body::from(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(age: Duration) -> CachedPage {
        CachedPage {
            headers: HeaderMap::new(),
            body: Bytes::from_static(b"page"),
            stored_at: Instant::now().checked_sub(age).unwrap(),
        }
    }

    #[test]
    fn pages_expire_after_the_maximum_age() {
        let cache = PageCache::new(CatalogCache::default());
        let generation = cache.catalog.generation();
        let key = ("/".to_owned(), String::new());
        cache.put(key.clone(), page(Duration::ZERO), generation);
        assert!(cache.get(&key).is_some());
        cache.put(key.clone(), page(MAX_AGE + Duration::from_secs(1)), generation);
        assert!(cache.get(&key).is_none(), "an old render is not served");
    }

    #[test]
    fn a_catalogue_change_empties_the_cache() {
        let cache = PageCache::new(CatalogCache::default());
        let key = ("/pricing".to_owned(), "br".to_owned());
        cache.put(key.clone(), page(Duration::ZERO), cache.catalog.generation());
        cache.catalog.invalidate();
        assert!(cache.get(&key).is_none());
    }

    #[test]
    fn only_known_marketing_urls_are_cacheable() {
        assert!(cacheable("/", None));
        assert!(cacheable("/pricing", None));
        assert!(cacheable("/pricing", Some("cycle=annual")));
        assert!(!cacheable("/pricing", Some("cycle=annual&x=1")));
        assert!(!cacheable("/pricing", Some("utm_source=ad")));
        assert!(!cacheable("/healthz", None));
        assert!(!cacheable("/app", None));
    }
}
