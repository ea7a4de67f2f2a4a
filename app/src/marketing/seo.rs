//! Search and sharing metadata: title, description, canonical URL,
//! OpenGraph and Twitter cards, and JSON-LD.

use super::use_site;
use leptos::prelude::*;
use leptos_meta::{Link, Meta, Title};

/// The metadata of a public page.
#[component]
pub fn PageMeta(
    /// The page title (the product name is appended).
    title: String,
    /// One or two sentences for results and previews.
    description: String,
    /// The page's path, such as `/pricing`.
    path: &'static str,
) -> impl IntoView {
    let site = use_site();
    let product = site.content.product.name.clone();
    let url = format!("{}{path}", site.public_url);
    let image = format!("{}/og-image.png", site.public_url);
    let full_title = if title.is_empty() {
        product.clone()
    } else {
        format!("{title} — {product}")
    };
    view! {
        <Title text=full_title.clone() />
        <Meta name="description" content=description.clone() />
        <Link rel="canonical" href=url.clone() />
        <Meta property="og:type" content="website" />
        <Meta property="og:site_name" content=product />
        <Meta property="og:title" content=full_title.clone() />
        <Meta property="og:description" content=description.clone() />
        <Meta property="og:url" content=url />
        <Meta property="og:image" content=image.clone() />
        <Meta property="og:image:width" content="1200" />
        <Meta property="og:image:height" content="630" />
        <Meta name="twitter:card" content="summary_large_image" />
        <Meta name="twitter:title" content=full_title />
        <Meta name="twitter:description" content=description />
        <Meta name="twitter:image" content=image />
    }
}

/// Serialises JSON-LD so it cannot close its `<script>` element early.
pub fn json_ld_text(value: &serde_json::Value) -> String {
    value
        .to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

/// A JSON-LD block. It is data, not code, but carries the page's nonce so
/// that every script element on the page does.
#[component]
pub fn JsonLd(
    /// The structured data.
    data: serde_json::Value,
) -> impl IntoView {
    let nonce = leptos::nonce::use_nonce();
    view! { <script type="application/ld+json" nonce=nonce inner_html=json_ld_text(&data)></script> }
}

#[cfg(test)]
mod tests {
    use super::json_ld_text;

    #[test]
    fn json_ld_cannot_break_out_of_its_script_element() {
        let value = serde_json::json!({ "name": "</script><script>alert(1)</script>", "and": "a&b" });
        let text = json_ld_text(&value);
        assert!(!text.contains("</script>") && !text.contains('<') && !text.contains('&'));
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, value, "still the same JSON");
    }
}
