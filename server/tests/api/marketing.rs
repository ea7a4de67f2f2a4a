//! The landing and pricing pages' content, metadata and generated files.

use crate::helpers::{TestApp, shipped_content};
use sqlx::PgPool;

fn json_ld(body: &str) -> serde_json::Value {
    let start = body
        .find("<script type=\"application/ld+json\"")
        .expect("a JSON-LD block");
    let open_end = body[start..].find('>').unwrap() + start + 1;
    let close = body[open_end..].find("</script>").unwrap() + open_end;
    serde_json::from_str(&body[open_end..close]).expect("valid JSON-LD")
}

fn meta(body: &str, attribute: &str, name: &str) -> Option<String> {
    let needle = format!("{attribute}=\"{name}\" content=\"");
    let start = body.find(&needle)? + needle.len();
    Some(body[start..start + body[start..].find('"')?].to_owned())
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn the_landing_page_renders_every_section_of_the_content_file(pool: PgPool) {
    let page = TestApp::spawn(pool).await.get("/").await;
    let content = shipped_content();

    assert_eq!(page.status, 200);
    assert!(page.body.contains(&content.hero.headline));
    assert!(
        page.body.contains("data-cta=\"hero\" href=\"/signup\"")
            || page.body.contains("href=\"/signup\" data-cta=\"hero\"")
    );
    for persona in &content.personas {
        assert!(page.body.contains(&persona.headline), "{}", persona.audience);
    }
    for benefit in &content.benefits {
        assert!(page.body.contains(&benefit.figure), "{}", benefit.label);
    }
    for testimonial in &content.testimonials {
        assert!(page.body.contains(&testimonial.name) && page.body.contains(&testimonial.company));
    }
    for logo in &content.logos {
        assert!(page.body.contains(&format!("<li>{logo}</li>")), "{logo}");
    }
    for highlight in &content.highlights {
        assert!(page.body.contains(&highlight.title));
    }
    assert_eq!(page.body.matches("<details").count(), 10, "ten FAQs");
    for price in ["$49", "$199", "$999"] {
        assert!(page.body.contains(price), "teaser reads the catalogue: {price}");
    }
    for link in &content.footer_links {
        assert!(
            page.body.contains(&format!("href=\"{}\"", link.href)),
            "{}",
            link.label
        );
    }
    let organization = json_ld(&page.body);
    assert_eq!(organization["@type"], "Organization");
    assert_eq!(organization["name"], "Forgeline");
    assert_eq!(organization["url"], "http://127.0.0.1:3000");
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn pages_have_their_own_title_description_canonical_and_social_cards(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let mut titles = Vec::new();
    for (path, canonical) in [
        ("/", "http://127.0.0.1:3000/"),
        ("/pricing", "http://127.0.0.1:3000/pricing"),
    ] {
        let page = app.get(path).await;
        let title = page
            .body
            .split("<title>")
            .nth(1)
            .and_then(|t| t.split("</title>").next())
            .unwrap()
            .to_owned();
        assert!(title.contains("Forgeline"), "{path}: {title}");
        titles.push(title);
        let description = meta(&page.body, "name", "description").expect("description");
        assert!(
            (50..=160).contains(&description.chars().count()),
            "{path}: {description}"
        );
        assert!(
            page.body
                .contains(&format!("<link href=\"{canonical}\" rel=\"canonical\">")),
            "{path}"
        );
        assert_eq!(meta(&page.body, "property", "og:url").as_deref(), Some(canonical));
        assert_eq!(
            meta(&page.body, "property", "og:image").as_deref(),
            Some("http://127.0.0.1:3000/og-image.png")
        );
        assert_eq!(
            meta(&page.body, "name", "twitter:card").as_deref(),
            Some("summary_large_image")
        );
        assert!(meta(&page.body, "property", "og:title").is_some());
    }
    assert_ne!(titles[0], titles[1]);
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn the_pricing_page_describes_the_product_and_its_offers_as_json_ld(pool: PgPool) {
    let page = TestApp::spawn(pool).await.get("/pricing").await;
    let product = json_ld(&page.body);
    assert_eq!(product["@type"], "Product");
    let offers = product["offers"].as_array().unwrap();
    assert_eq!(offers.len(), 6, "three tiers × two cycles");
    let starter_annual = offers.iter().find(|o| o["name"] == "Starter (annual)").unwrap();
    assert_eq!(starter_annual["price"], "529.00");
    assert_eq!(starter_annual["priceCurrency"], "USD");
    assert_eq!(
        starter_annual["url"],
        "http://127.0.0.1:3000/signup?plan=starter&cycle=annual"
    );
    assert_eq!(
        page.body.matches("<details").count(),
        10,
        "the FAQ is on the pricing page too"
    );
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn robots_sitemap_and_brand_stylesheet_are_generated(pool: PgPool) {
    let app = TestApp::spawn(pool).await;

    let robots = app.get("/robots.txt").await;
    assert_eq!(robots.status, 200);
    assert!(robots.body.contains("Disallow: /app\n") && robots.body.contains("Disallow: /api/\n"));
    assert!(robots.body.contains("Sitemap: http://127.0.0.1:3000/sitemap.xml"));

    let sitemap = app.get("/sitemap.xml").await;
    assert_eq!(sitemap.headers["content-type"], "application/xml; charset=utf-8");
    assert!(sitemap.body.contains("<loc>http://127.0.0.1:3000/</loc>"));
    assert!(sitemap.body.contains("<loc>http://127.0.0.1:3000/pricing</loc>"));
    assert!(!sitemap.body.contains("/app"));

    let brand = app.get("/brand.css").await;
    assert_eq!(brand.body, ":root{--color-brand:#4338ca}\n");
    assert_eq!(brand.headers["content-type"], "text/css; charset=utf-8");
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn account_pages_are_kept_out_of_search_results(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    for path in ["/signup", "/login", "/forgot-password", "/no-such-page"] {
        let page = app.get(path).await;
        assert!(
            page.body.contains("<meta name=\"robots\" content=\"noindex\""),
            "{path}"
        );
    }
    assert!(!app.get("/").await.body.contains("noindex"));
}
