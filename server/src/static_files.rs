//! The built site's files, served from memory by exact name.
//!
//! At start-up every file `scripts/build-site` wrote is read once: the
//! bundle under `/pkg` (content-hashed, so browsers keep it forever) and the
//! public files at the root (the favicon, the social image). A request names
//! one of them exactly or it is not a file: there is no file-system lookup
//! per request, so no name (overlong, with a NUL, with `..`) can reach the
//! file system, and a miss under `/pkg` is a plain 404 that no cache keeps.

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

/// Bundle files carry content hashes, so browsers may keep them forever.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// Public files keep their names across builds: a day, then revalidate.
const PUBLIC_FILE: &str = "public, max-age=86400";

/// One file and its pre-compressed copies.
#[derive(Debug, Clone)]
struct StaticFile {
    content_type: &'static str,
    cache_control: &'static str,
    identity: Bytes,
    brotli: Option<Bytes>,
    gzip: Option<Bytes>,
}

/// Every file of the built site, by URL path.
#[derive(Debug, Clone, Default)]
pub struct StaticFiles(Arc<HashMap<String, StaticFile>>);

fn content_type(name: &str) -> &'static str {
    match name.rsplit_once('.').map(|(_, ext)| ext) {
        Some("js") => "text/javascript; charset=utf-8",
        Some("wasm") => "application/wasm",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("webmanifest") => "application/manifest+json",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// The regular files directly in `dir` (names only), sorted.
fn file_names(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names.sort();
    names
}

impl StaticFiles {
    /// Reads the built site under `site_root`; an absent site (tests, a
    /// server built without `scripts/build-site`) serves no files.
    pub fn load(site_root: &Path) -> Self {
        let mut files = HashMap::new();
        for (dir, prefix, cache_control) in [
            (site_root.join("pkg"), "/pkg/", IMMUTABLE),
            (site_root.to_path_buf(), "/", PUBLIC_FILE),
        ] {
            let names = file_names(&dir);
            for name in &names {
                let compressed = name.ends_with(".br") || name.ends_with(".gz");
                if compressed || name == "asset-manifest.json" {
                    continue;
                }
                let Ok(identity) = std::fs::read(dir.join(name)) else {
                    continue;
                };
                let sibling = |suffix: &str| {
                    let other = format!("{name}{suffix}");
                    names
                        .contains(&other)
                        .then(|| std::fs::read(dir.join(&other)).ok().map(Bytes::from))
                        .flatten()
                };
                files.insert(
                    format!("{prefix}{name}"),
                    StaticFile {
                        content_type: content_type(name),
                        cache_control,
                        identity: Bytes::from(identity),
                        brotli: sibling(".br"),
                        gzip: sibling(".gz"),
                    },
                );
            }
        }
        tracing::debug!(files = files.len(), "static files loaded");
        StaticFiles(Arc::new(files))
    }

    /// How many files are served.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether no file is served.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The answer for `request` if it is a file request: the file, or a 404
    /// under `/pkg`. `None` hands the request on (a page, or the 404 page).
    pub fn answer(&self, request: &Request) -> Option<Response> {
        let method = request.method();
        if method != Method::GET && method != Method::HEAD {
            return None;
        }
        let path = request.uri().path();
        let Some(file) = self.0.get(path) else {
            return path.starts_with("/pkg/").then(not_found);
        };
        let accepts = |coding: &str| accepts_encoding(request.headers(), coding);
        let (body, encoding) = match (&file.brotli, &file.gzip) {
            (Some(br), _) if accepts("br") => (br.clone(), Some("br")),
            (_, Some(gz)) if accepts("gzip") => (gz.clone(), Some("gzip")),
            _ => (file.identity.clone(), None),
        };
        let length = body.len();
        let body = if method == Method::HEAD {
            Body::empty()
        } else {
            Body::from(body)
        };
        let mut response = Response::new(body);
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(file.content_type));
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static(file.cache_control),
        );
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
        headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
        if let Some(encoding) = encoding {
            headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static(encoding));
        }
        Some(response)
    }
}

/// Whether `headers` accept the content coding `coding`: named in
/// Accept-Encoding with a weight above zero.
pub fn accepts_encoding(headers: &HeaderMap, coding: &str) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|part| {
            let mut pieces = part.split(';');
            let named = pieces
                .next()
                .is_some_and(|n| n.trim().eq_ignore_ascii_case(coding));
            let weight = pieces
                .find_map(|p| p.trim().strip_prefix("q="))
                .map_or(1.0, |q| q.trim().parse::<f32>().unwrap_or(0.0));
            named && weight > 0.0
        })
}

/// A file that is not there: a plain 404 no browser or CDN keeps.
fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        [(header::CACHE_CONTROL, "no-store")],
        "no such file",
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site() -> (std::path::PathBuf, StaticFiles) {
        let root = std::env::temp_dir().join(format!("gatehouse-static-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(root.join("pkg")).unwrap();
        std::fs::write(root.join("pkg/app-1234.js"), "console.log(1)").unwrap();
        std::fs::write(root.join("pkg/app-1234.js.br"), "brotli").unwrap();
        std::fs::write(root.join("pkg/app-1234.js.gz"), "gzip").unwrap();
        std::fs::write(root.join("favicon.svg"), "<svg/>").unwrap();
        std::fs::write(root.join("asset-manifest.json"), "{}").unwrap();
        let files = StaticFiles::load(&root);
        (root, files)
    }

    fn get(files: &StaticFiles, method: Method, path: &str, encoding: Option<&str>) -> Option<Response> {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(encoding) = encoding {
            request = request.header(header::ACCEPT_ENCODING, encoding);
        }
        files.answer(&request.body(Body::empty()).unwrap())
    }

    #[test]
    fn files_are_served_by_exact_name_with_the_best_encoding() {
        let (root, files) = site();
        assert_eq!(
            files.len(),
            2,
            "compressed copies and the manifest are not files of their own"
        );
        let response = get(&files, Method::GET, "/pkg/app-1234.js", Some("gzip, br")).unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()[header::CONTENT_ENCODING], "br");
        assert_eq!(response.headers()[header::CACHE_CONTROL], IMMUTABLE);
        let response = get(&files, Method::GET, "/pkg/app-1234.js", Some("gzip, br;q=0")).unwrap();
        assert_eq!(response.headers()[header::CONTENT_ENCODING], "gzip");
        let response = get(&files, Method::HEAD, "/pkg/app-1234.js", None).unwrap();
        assert!(!response.headers().contains_key(header::CONTENT_ENCODING));
        assert_eq!(response.headers()[header::CONTENT_LENGTH], "14");
        let response = get(&files, Method::GET, "/favicon.svg", None).unwrap();
        assert_eq!(response.headers()[header::CACHE_CONTROL], PUBLIC_FILE);
        std::fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn any_other_name_under_pkg_is_a_404_nobody_caches() {
        let (root, files) = site();
        let long = format!("/pkg/{}", "a".repeat(300));
        for path in [
            "/pkg/missing.js",
            long.as_str(),
            "/pkg/a%00b.js",
            "/pkg/../Cargo.toml",
            "/pkg/%2e%2e/Cargo.toml",
            "/pkg/app-1234.js.br",
            "/pkg/",
            "/pkg/app-1234.JS",
        ] {
            for method in [Method::GET, Method::HEAD] {
                let response = get(&files, method.clone(), path, Some("br")).unwrap();
                assert_eq!(response.status(), StatusCode::NOT_FOUND, "{method} {path}");
                assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store", "{path}");
            }
        }
        std::fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn pages_and_writes_are_handed_on() {
        let (root, files) = site();
        assert!(get(&files, Method::GET, "/pricing", None).is_none());
        assert!(get(&files, Method::GET, "/asset-manifest.json", None).is_none());
        assert!(get(&files, Method::POST, "/pkg/app-1234.js", None).is_none());
        std::fs::remove_dir_all(root).unwrap();
    }
}
