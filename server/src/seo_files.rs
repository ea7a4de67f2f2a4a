//! Small generated files: the brand stylesheet, robots.txt and the sitemap.

use crate::AppState;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

/// `/brand.css`: the content file's brand colour as the theme variable.
pub async fn brand_css(State(state): State<AppState>) -> impl IntoResponse {
    // The colour was validated as #rrggbb at start-up.
    let css = format!(":root{{--color-brand:{}}}\n", state.site.product.brand_colour);
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        css,
    )
}

/// `/robots.txt`: public pages may be crawled; the portal and API may not.
pub async fn robots_txt(State(state): State<AppState>) -> impl IntoResponse {
    let body = format!(
        "User-agent: *\nAllow: /\nDisallow: /app\nDisallow: /api/\nDisallow: /dev/\nDisallow: /invite\n\
         Disallow: /verify\nDisallow: /reset-password\n\nSitemap: {}/sitemap.xml\n",
        state.settings.public_url
    );
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body)
}

/// The public pages worth indexing.
const INDEXED_PAGES: [(&str, &str); 2] = [("/", "1.0"), ("/pricing", "0.9")];

/// `/sitemap.xml`.
pub async fn sitemap_xml(State(state): State<AppState>) -> impl IntoResponse {
    let urls: String = INDEXED_PAGES
        .iter()
        .map(|(path, priority)| {
            format!(
                "  <url><loc>{}{path}</loc><changefreq>weekly</changefreq><priority>{priority}</priority></url>\n",
                state.settings.public_url
            )
        })
        .collect();
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n{urls}</urlset>\n"
    );
    ([(header::CONTENT_TYPE, "application/xml; charset=utf-8")], body)
}
