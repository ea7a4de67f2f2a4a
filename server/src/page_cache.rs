//! A bounded cache of rendered marketing pages for anonymous visitors.
//!
//! `/` and `/pricing` are the same for every visitor without a session, and
//! depend only on the catalogue and the build. Rendering the pricing page
//! costs ~150 µs; serving it from here costs what a static file does. The
//! cache is derived data: it is cleared whenever the catalogue's generation
//! moves (a NOTIFY from any process), and a restart starts it empty.
//!
//! A nonce must never be shared between responses, so a cached page carries
//! none: before storing, the render's nonce attributes are removed and its
//! Content-Security-Policy allows the page's inline scripts by their SHA-256
//! hashes instead (the same page, the same scripts, for every visitor). The
//! page is compressed once, when stored, in the encodings browsers ask for.

use crate::static_files::accepts_encoding;
use app::catalog::cache::CatalogCache;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use http_body_util::BodyExt;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// Most pages kept (path × query); past it pages are still served, just
/// not stored.
const MAX_ENTRIES: usize = 16;
/// How long a rendered page is served from the cache (a backstop: the
/// catalogue's NOTIFY clears it on every change).
pub const MAX_AGE: Duration = Duration::from_secs(60);

/// Which URLs may be cached: exact path and query pairs, so that arbitrary
/// query strings cannot fill memory.
fn cacheable(path: &str, query: Option<&str>) -> bool {
    matches!(
        (path, query),
        ("/", None) | ("/pricing", None | Some("cycle=monthly") | Some("cycle=annual"))
    )
}

/// Whether `request` is an anonymous GET of a cacheable marketing page.
pub fn is_cacheable_request(request: &Request) -> bool {
    let uri = request.uri();
    request.method() == Method::GET && cacheable(uri.path(), uri.query()) && is_anonymous(request)
}

/// A stored page: its headers (with the hash-based CSP) and its body in
/// each encoding.
#[derive(Clone)]
struct CachedPage {
    headers: HeaderMap,
    identity: Bytes,
    gzip: Bytes,
    brotli: Bytes,
    stored_at: Instant,
}

#[derive(Default)]
struct Entries {
    generation: u64,
    pages: HashMap<String, CachedPage>,
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

    fn get(&self, key: &str) -> Option<CachedPage> {
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

    fn put(&self, key: String, page: CachedPage, generation: u64) {
        let Ok(mut entries) = self.entries.write() else {
            return;
        };
        if entries.generation != generation {
            entries.pages.clear();
            entries.generation = generation;
        }
        // A page rendered before the latest invalidation must not be stored.
        // A full cache still refreshes the pages it holds.
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

/// The encodings a request accepts, best first: brotli, gzip, none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Brotli,
    Gzip,
    Identity,
}

fn preferred_encoding(headers: &HeaderMap) -> Encoding {
    if accepts_encoding(headers, "br") {
        Encoding::Brotli
    } else if accepts_encoding(headers, "gzip") {
        Encoding::Gzip
    } else {
        Encoding::Identity
    }
}

fn respond(page: CachedPage, encoding: Encoding, hit: bool) -> Response {
    let body = match encoding {
        Encoding::Brotli => page.brotli,
        Encoding::Gzip => page.gzip,
        Encoding::Identity => page.identity,
    };
    let mut response = Body::from(body).into_response();
    *response.headers_mut() = page.headers;
    let headers = response.headers_mut();
    headers.remove(header::CONTENT_LENGTH);
    headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    match encoding {
        Encoding::Brotli => headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("br")),
        Encoding::Gzip => headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip")),
        Encoding::Identity => headers.remove(header::CONTENT_ENCODING),
    };
    headers.insert(
        "x-page-cache",
        HeaderValue::from_static(if hit { "hit" } else { "miss" }),
    );
    response
}

/// The nonce a page's CSP allows (`'nonce-…'`), if any.
fn csp_nonce(csp: &str) -> Option<&str> {
    let start = csp.find("'nonce-")? + "'nonce-".len();
    let len = csp[start..].find('\'')?;
    Some(&csp[start..start + len])
}

/// The text of each inline `<script>` (one without `src`) in `html`, as a
/// browser hashes it for the CSP.
fn inline_scripts(html: &str) -> Vec<&str> {
    let mut scripts = Vec::new();
    let mut rest = html;
    while let Some(open) = rest.find("<script") {
        let after_open = &rest[open..];
        let Some(tag_end) = after_open.find('>') else {
            break;
        };
        let tag = &after_open[..tag_end];
        let content_start = tag_end + 1;
        let Some(close) = after_open[content_start..].find("</script>") else {
            break;
        };
        if !tag.contains(" src=") {
            scripts.push(&after_open[content_start..content_start + close]);
        }
        rest = &after_open[content_start + close..];
    }
    scripts
}

/// Makes a rendered page shareable: its nonce attributes removed and its
/// CSP allowing exactly its inline scripts by hash. `None` when the page has
/// no nonce-based CSP to convert (it is then not cached).
fn without_nonce(html: &str, csp: &str) -> Option<(String, String)> {
    let nonce = csp_nonce(csp)?;
    // Leptos also writes the nonce as the preload links' `crossorigin`
    // value, which browsers read as "anonymous", as they read "".
    let html = html
        .replace(&format!(" nonce=\"{nonce}\""), "")
        .replace(&format!(" crossorigin=\"{nonce}\""), " crossorigin=\"\"");
    if html.contains(nonce) {
        return None;
    }
    let hashes: Vec<String> = inline_scripts(&html)
        .into_iter()
        .map(|script| {
            let digest = Sha256::digest(script.as_bytes());
            format!(
                "sha256-{}",
                base64::engine::general_purpose::STANDARD.encode(digest)
            )
        })
        .collect();
    Some((html, crate::security::page_csp_with_hashes(&hashes)))
}

fn gzip(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes)?;
    encoder.finish()
}

fn brotli(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut writer = brotli::CompressorWriter::new(Vec::new(), 4096, 11, 22);
    writer.write_all(bytes)?;
    writer.flush()?;
    Ok(writer.into_inner())
}

/// Middleware: answers cacheable anonymous GETs from the cache, storing
/// successful renders on the way out. Sits inside the compression layer,
/// which leaves the already-encoded answers alone.
pub async fn serve_cached_pages(State(cache): State<PageCache>, request: Request, next: Next) -> Response {
    if !is_cacheable_request(&request) {
        return next.run(request).await;
    }
    let encoding = preferred_encoding(request.headers());
    let key = request.uri().to_string();
    if let Some(page) = cache.get(&key) {
        return respond(page, encoding, true);
    }

    let generation = cache.catalog.generation();
    let response = next.run(request).await;
    if response.status() != StatusCode::OK
        || response.headers().contains_key(header::SET_COOKIE)
        || response.headers().contains_key(header::CONTENT_ENCODING)
    {
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
    let csp = parts
        .headers
        .get(header::CONTENT_SECURITY_POLICY)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let shareable = std::str::from_utf8(&body)
        .ok()
        .and_then(|html| without_nonce(html, csp));
    let Some((html, csp)) = shareable else {
        return Response::from_parts(parts, Body::from(body));
    };
    let (Ok(gzipped), Ok(brotlied), Ok(csp)) = (
        gzip(html.as_bytes()),
        brotli(html.as_bytes()),
        HeaderValue::from_str(&csp),
    ) else {
        return Response::from_parts(parts, Body::from(body));
    };
    let mut headers = parts.headers;
    headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    let page = CachedPage {
        headers,
        identity: Bytes::from(html),
        gzip: Bytes::from(gzipped),
        brotli: Bytes::from(brotlied),
        stored_at: Instant::now(),
    };
    cache.put(key, page.clone(), generation);
    respond(page, encoding, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(age: Duration) -> CachedPage {
        CachedPage {
            headers: HeaderMap::new(),
            identity: Bytes::from_static(b"page"),
            gzip: Bytes::new(),
            brotli: Bytes::new(),
            stored_at: Instant::now().checked_sub(age).unwrap(),
        }
    }

    #[test]
    fn pages_expire_after_the_maximum_age() {
        let cache = PageCache::new(CatalogCache::default());
        let generation = cache.catalog.generation();
        cache.put("/".to_owned(), page(Duration::ZERO), generation);
        assert!(cache.get("/").is_some());
        cache.put("/".to_owned(), page(MAX_AGE + Duration::from_secs(1)), generation);
        assert!(cache.get("/").is_none(), "an old render is not served");
    }

    #[test]
    fn a_catalogue_change_empties_the_cache() {
        let cache = PageCache::new(CatalogCache::default());
        cache.put(
            "/pricing".to_owned(),
            page(Duration::ZERO),
            cache.catalog.generation(),
        );
        cache.catalog.invalidate();
        assert!(cache.get("/pricing").is_none());
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

    #[test]
    fn a_shared_page_carries_no_nonce_and_allows_its_scripts_by_hash() {
        let csp = crate::security::page_csp("abc123");
        let html = r#"<html><head><link rel="modulepreload" href="/pkg/x.js" crossorigin="abc123"><script type="module" nonce="abc123">import("/pkg/x.js")</script><script src="/pkg/y.js" nonce="abc123"></script><script type="application/ld+json">{"a":1}</script></head></html>"#;
        let (shared, csp) = without_nonce(html, &csp).expect("convertible");
        assert!(
            !shared.contains("abc123") && !csp.contains("nonce"),
            "{shared} {csp}"
        );
        let expected =
            base64::engine::general_purpose::STANDARD.encode(Sha256::digest(br#"import("/pkg/x.js")"#));
        assert!(csp.contains(&format!("'sha256-{expected}'")), "{csp}");
        assert_eq!(
            inline_scripts(&shared).len(),
            2,
            "the module script and the data block"
        );
    }

    #[test]
    fn a_page_without_a_nonce_csp_is_not_shared() {
        assert!(without_nonce("<html></html>", "default-src 'self'").is_none());
    }

    #[test]
    fn the_best_accepted_encoding_is_chosen() {
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::ACCEPT_ENCODING, HeaderValue::from_str(value).unwrap());
            preferred_encoding(&headers)
        };
        assert_eq!(with("gzip, deflate, br"), Encoding::Brotli);
        assert_eq!(with("gzip"), Encoding::Gzip);
        assert_eq!(with("br;q=0, gzip"), Encoding::Gzip);
        assert_eq!(with("br;q=0.5"), Encoding::Brotli);
        assert_eq!(with("identity"), Encoding::Identity);
        assert_eq!(preferred_encoding(&HeaderMap::new()), Encoding::Identity);
    }
}
