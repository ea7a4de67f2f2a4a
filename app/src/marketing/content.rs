//! The marketing copy an operator edits without code (`content/site.toml`),
//! validated like the catalogue: a mistake names its entry.

use serde::{Deserialize, Serialize};

/// The whole site's copy, validated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteContent {
    /// Name, tagline, description, brand colour.
    pub product: Product,
    /// The landing page's opening.
    pub hero: Hero,
    /// One section per kind of buyer; exactly four.
    pub personas: Vec<Persona>,
    /// Measured outcomes, such as "32 % less unplanned downtime".
    pub benefits: Vec<Benefit>,
    /// Customer quotes.
    pub testimonials: Vec<Testimonial>,
    /// Customer names shown as a row of wordmarks.
    pub logos: Vec<String>,
    /// Feature highlights.
    pub highlights: Vec<Highlight>,
    /// Questions and answers, at least ten.
    pub faqs: Vec<Faq>,
    /// Footer links.
    pub footer_links: Vec<FooterLink>,
}

/// The product being sold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Product {
    /// Display name.
    pub name: String,
    /// One line.
    pub tagline: String,
    /// A sentence or two for search results and link previews (≤ 160 characters).
    pub description: String,
    /// `#rrggbb`; white text on it must meet WCAG AA (4.5 : 1).
    pub brand_colour: String,
}

impl Product {
    /// The name and colour every email is drawn in.
    pub fn brand(&self) -> crate::email::templates::Brand {
        crate::email::templates::Brand::new(self.name.clone(), &self.brand_colour)
    }
}

/// The landing page's first screen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hero {
    /// The headline.
    pub headline: String,
    /// The line under it.
    pub subheadline: String,
    /// The call to action's label.
    pub call_to_action: String,
}

/// A kind of buyer and what the product does for them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Persona {
    /// Who, such as "Plant managers".
    pub audience: String,
    /// The promise, as a heading.
    pub headline: String,
    /// How it works, in a sentence or two.
    pub body: String,
}

/// A quantified outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Benefit {
    /// The figure, such as "32 %".
    pub figure: String,
    /// What it measures.
    pub label: String,
}

/// A customer quote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Testimonial {
    /// The quote.
    pub quote: String,
    /// Who said it.
    pub name: String,
    /// Their role.
    pub role: String,
    /// Their company.
    pub company: String,
}

/// A feature worth a tile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Highlight {
    /// The question, as the page asks it.
    pub title: String,
    /// One or two sentences.
    pub body: String,
}

/// A question and its answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Faq {
    /// The question.
    pub question: String,
    /// The answer.
    pub answer: String,
}

/// A footer link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FooterLink {
    /// The text.
    pub label: String,
    /// A site path (`/pricing`) or an `https://` URL.
    pub href: String,
}

/// A content entry that is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{entry}: {problem}")]
pub struct ContentError {
    /// Where, such as `faqs[3].answer`.
    pub entry: String,
    /// What is wrong.
    pub problem: String,
}

fn error(entry: impl Into<String>, problem: impl Into<String>) -> ContentError {
    ContentError {
        entry: entry.into(),
        problem: problem.into(),
    }
}

fn text(entry: &str, value: &str, max: usize) -> Result<(), ContentError> {
    let length = value.trim().chars().count();
    if length == 0 {
        Err(error(entry, "must not be empty"))
    } else if length > max {
        Err(error(
            entry,
            format!("must be at most {max} characters (has {length})"),
        ))
    } else {
        Ok(())
    }
}

fn count(entry: &str, actual: usize, min: usize, max: usize) -> Result<(), ContentError> {
    if actual < min || actual > max {
        let wanted = if min == max {
            format!("exactly {min}")
        } else {
            format!("between {min} and {max}")
        };
        Err(error(entry, format!("needs {wanted} entries (has {actual})")))
    } else {
        Ok(())
    }
}

/// Parses `#rrggbb`.
pub fn parse_hex_colour(raw: &str) -> Option<(u8, u8, u8)> {
    let hex = raw.strip_prefix('#')?;
    if hex.len() != 6 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let channel = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).ok();
    Some((channel(0)?, channel(2)?, channel(4)?))
}

/// WCAG 2 contrast ratio of a colour against white, times 100 and rounded
/// down, from the sRGB relative-luminance formula.
pub fn contrast_with_white_x100((r, g, b): (u8, u8, u8)) -> u32 {
    fn linear(channel: u8) -> f64 {
        let c = f64::from(channel) / 255.0;
        if c <= 0.04045 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    }
    let luminance = 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b);
    ((1.05 / (luminance + 0.05)) * 100.0).floor() as u32
}

impl SiteContent {
    /// Checks every rule, naming the first entry that breaks one.
    pub fn validate(self) -> Result<SiteContent, ContentError> {
        let p = &self.product;
        text("product.name", &p.name, 40)?;
        text("product.tagline", &p.tagline, 120)?;
        text("product.description", &p.description, 160)?;
        let colour = parse_hex_colour(&p.brand_colour).ok_or_else(|| {
            error(
                "product.brand_colour",
                format!("\"{}\" is not a colour such as \"#4338ca\"", p.brand_colour),
            )
        })?;
        let contrast = contrast_with_white_x100(colour);
        if contrast < 450 {
            return Err(error(
                "product.brand_colour",
                format!(
                    "white text on {} has a contrast of {}.{:02} : 1; WCAG AA needs 4.5 : 1, so choose a darker colour",
                    p.brand_colour,
                    contrast / 100,
                    contrast % 100
                ),
            ));
        }
        text("hero.headline", &self.hero.headline, 90)?;
        text("hero.subheadline", &self.hero.subheadline, 240)?;
        text("hero.call_to_action", &self.hero.call_to_action, 40)?;
        count("personas", self.personas.len(), 4, 4)?;
        for (i, persona) in self.personas.iter().enumerate() {
            text(&format!("personas[{i}].audience"), &persona.audience, 40)?;
            text(&format!("personas[{i}].headline"), &persona.headline, 90)?;
            text(&format!("personas[{i}].body"), &persona.body, 400)?;
        }
        count("benefits", self.benefits.len(), 3, 6)?;
        for (i, benefit) in self.benefits.iter().enumerate() {
            text(&format!("benefits[{i}].figure"), &benefit.figure, 12)?;
            text(&format!("benefits[{i}].label"), &benefit.label, 80)?;
        }
        count("testimonials", self.testimonials.len(), 2, 6)?;
        for (i, t) in self.testimonials.iter().enumerate() {
            text(&format!("testimonials[{i}].quote"), &t.quote, 400)?;
            text(&format!("testimonials[{i}].name"), &t.name, 60)?;
            text(&format!("testimonials[{i}].role"), &t.role, 60)?;
            text(&format!("testimonials[{i}].company"), &t.company, 60)?;
        }
        count("logos", self.logos.len(), 3, 10)?;
        for (i, logo) in self.logos.iter().enumerate() {
            text(&format!("logos[{i}]"), logo, 40)?;
        }
        count("highlights", self.highlights.len(), 3, 9)?;
        for (i, h) in self.highlights.iter().enumerate() {
            text(&format!("highlights[{i}].title"), &h.title, 60)?;
            text(&format!("highlights[{i}].body"), &h.body, 300)?;
        }
        count("faqs", self.faqs.len(), 10, 30)?;
        for (i, faq) in self.faqs.iter().enumerate() {
            text(&format!("faqs[{i}].question"), &faq.question, 160)?;
            text(&format!("faqs[{i}].answer"), &faq.answer, 800)?;
        }
        for (i, link) in self.footer_links.iter().enumerate() {
            text(&format!("footer_links[{i}].label"), &link.label, 40)?;
            let href = &link.href;
            let local = href.starts_with('/') && !href.starts_with("//");
            if !local && !href.starts_with("https://") && !href.starts_with("mailto:") {
                return Err(error(
                    format!("footer_links[{i}].href"),
                    format!(
                        "\"{href}\" must be a site path such as /pricing, an https:// URL or a mailto: link"
                    ),
                ));
            }
        }
        Ok(self)
    }
}

impl From<&SiteContent> for crate::ui::SiteChrome {
    /// The frame every page draws, from the content file.
    fn from(content: &SiteContent) -> Self {
        crate::ui::SiteChrome {
            product_name: content.product.name.clone(),
            tagline: content.product.tagline.clone(),
            footer_links: content
                .footer_links
                .iter()
                .map(|link| crate::ui::ChromeLink {
                    label: link.label.clone(),
                    href: link.href.clone(),
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid() -> SiteContent {
        let persona = Persona {
            audience: "Plant managers".into(),
            headline: "See every line".into(),
            body: "Live.".into(),
        };
        let faq = Faq {
            question: "Q?".into(),
            answer: "A.".into(),
        };
        SiteContent {
            product: Product {
                name: "Forgeline".into(),
                tagline: "Ops".into(),
                description: "Manufacturing operations.".into(),
                brand_colour: "#4338ca".into(),
            },
            hero: Hero {
                headline: "H".into(),
                subheadline: "S".into(),
                call_to_action: "Start".into(),
            },
            personas: vec![persona; 4],
            benefits: vec![
                Benefit {
                    figure: "32 %".into(),
                    label: "less downtime".into()
                };
                3
            ],
            testimonials: vec![
                Testimonial {
                    quote: "Q".into(),
                    name: "N".into(),
                    role: "R".into(),
                    company: "C".into()
                };
                2
            ],
            logos: vec!["Acme".into(); 4],
            highlights: vec![
                Highlight {
                    title: "T".into(),
                    body: "B".into()
                };
                3
            ],
            faqs: vec![faq; 10],
            footer_links: vec![FooterLink {
                label: "Pricing".into(),
                href: "/pricing".into(),
            }],
        }
    }

    #[test]
    fn the_default_shape_is_valid() {
        assert!(valid().validate().is_ok());
    }

    #[test]
    fn brand_colours_must_be_readable_under_white_text() {
        assert_eq!(parse_hex_colour("#4338ca"), Some((0x43, 0x38, 0xca)));
        assert_eq!(parse_hex_colour("4338ca"), None);
        assert_eq!(parse_hex_colour("#43g8ca"), None);
        // Reference values from the WCAG formula.
        assert_eq!(contrast_with_white_x100((0, 0, 0)), 2100);
        assert_eq!(contrast_with_white_x100((255, 255, 255)), 100);
        assert!(contrast_with_white_x100((0x43, 0x38, 0xca)) > 700);
        let mut pale = valid();
        pale.product.brand_colour = "#facc15".into();
        let message = pale.validate().unwrap_err().to_string();
        assert!(
            message.starts_with("product.brand_colour: white text on #facc15 has a contrast of 1."),
            "{message}"
        );
    }

    #[test]
    fn each_broken_entry_is_named() {
        type Edit = fn(&mut SiteContent);
        let cases: Vec<(Edit, &str)> = vec![
            (|c| c.product.name.clear(), "product.name: must not be empty"),
            (
                |c| c.product.description = "x".repeat(161),
                "product.description: must be at most 160 characters (has 161)",
            ),
            (
                |c| c.product.brand_colour = "blue".into(),
                "product.brand_colour: \"blue\" is not a colour",
            ),
            (
                |c| {
                    c.personas.pop();
                },
                "personas: needs exactly 4 entries (has 3)",
            ),
            (
                |c| {
                    c.faqs.pop();
                },
                "faqs: needs between 10 and 30 entries (has 9)",
            ),
            (
                |c| c.faqs[3].answer = " ".into(),
                "faqs[3].answer: must not be empty",
            ),
            (
                |c| c.testimonials[1].company.clear(),
                "testimonials[1].company: must not be empty",
            ),
            (
                |c| c.footer_links[0].href = "javascript:alert(1)".into(),
                "footer_links[0].href: \"javascript:alert(1)\" must be",
            ),
            (
                |c| c.footer_links[0].href = "//evil.test".into(),
                "footer_links[0].href",
            ),
        ];
        for (edit, expected) in cases {
            let mut content = valid();
            edit(&mut content);
            let message = content.validate().unwrap_err().to_string();
            assert!(
                message.starts_with(expected),
                "expected {expected:?}, got {message:?}"
            );
        }
    }
}
