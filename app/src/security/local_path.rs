//! Where a redirect may send a user: a path on this site, read the way a
//! browser reads it.
//!
//! A `next=` value comes from a link anyone can craft. Browsers strip tabs
//! and newlines from URLs, trim control characters and spaces, and treat `\`
//! as `/`, so `/\t/evil.test` becomes `//evil.test`, another site. Instead of
//! guessing at those rules, the value is resolved with the WHATWG URL parser
//! (the one browsers implement) against a placeholder origin, and accepted
//! only when it stays on that origin. What comes back is the parser's own
//! serialisation: percent-encoded ASCII, safe in a `Location` header.

use url::{Position, Url};

/// A placeholder origin: only a path that resolves onto it is local.
const PLACEHOLDER_ORIGIN: &str = "http://gatehouse.invalid/";

/// Longest `next=` value followed; a longer one is not a page of ours.
pub const MAX_LOCAL_PATH_LEN: usize = 2048;

/// `raw` as a path on this site (path, query and fragment, normalised and
/// percent-encoded), or `None` when a browser would leave the site, or when
/// it holds anything a browser would silently drop (control characters,
/// backslashes), which no link of ours contains.
pub fn local_path(raw: &str) -> Option<String> {
    let suspicious = raw.len() > MAX_LOCAL_PATH_LEN
        || !raw.starts_with('/')
        || raw
            .chars()
            .any(|c| c.is_control() || c == '\\' || c.is_whitespace());
    if suspicious {
        return None;
    }
    let base = Url::parse(PLACEHOLDER_ORIGIN).ok()?;
    let resolved = base.join(raw).ok()?;
    let same_origin = resolved.scheme() == base.scheme()
        && resolved.host_str() == base.host_str()
        && resolved.port() == base.port()
        && resolved.username().is_empty()
        && resolved.password().is_none();
    let path = &resolved[Position::BeforePath..];
    // Dot segments can leave a path starting `//` (`/.//evil.test`), which a
    // browser reads as another host.
    (same_origin && !path.starts_with("//")).then(|| path.to_owned())
}

#[cfg(test)]
mod tests {
    use super::local_path;

    #[test]
    fn local_paths_come_back_normalised() {
        for (raw, expected) in [
            ("/app", "/app"),
            ("/app/team", "/app/team"),
            ("/invite?token=abc", "/invite?token=abc"),
            ("/app/billing?cycle=annual#top", "/app/billing?cycle=annual#top"),
            ("/app/../login", "/login"),
            ("/app/%2F%2Fevil.test", "/app/%2F%2Fevil.test"),
            ("/%2F/evil.test", "/%2F/evil.test"),
            ("/é", "/%C3%A9"),
            ("/a?q=é", "/a?q=%C3%A9"),
        ] {
            assert_eq!(local_path(raw).as_deref(), Some(expected), "{raw:?}");
        }
    }

    #[test]
    fn anything_a_browser_could_read_as_another_site_is_refused() {
        for raw in [
            "",
            "app",
            "//evil.test",
            "///evil.test",
            "/.//evil.test",
            "/a/..//evil.test",
            "/%2e//evil.test",
            "/\t/evil.test",
            "/\n/evil.test",
            "/\r/evil.test",
            "\t//evil.test",
            " //evil.test",
            "/\\evil.test",
            "\\\\evil.test",
            "/\\/evil.test",
            "https://evil.test",
            "http://gatehouse.invalid/app",
            "javascript:alert(1)",
            "JAVASCRIPT:alert(1)",
            "data:text/html,hi",
            "//user@evil.test",
            "/\u{0}x",
            "/\u{7f}",
            "/\u{1b}[31m",
            "/\u{2028}",
            "/\u{3000}/evil.test",
            "/a\u{00a0}",
        ] {
            assert_eq!(local_path(raw), None, "{raw:?}");
        }
    }

    #[test]
    fn an_overlong_value_is_refused() {
        assert_eq!(local_path(&format!("/{}", "a".repeat(5000))), None);
    }

    #[test]
    fn every_accepted_path_is_printable_ascii_on_this_site() {
        // Every string of up to three characters from a hostile alphabet, after "/".
        let alphabet = [
            "/", "\\", "\t", "\n", "\r", "\0", "\u{7f}", " ", "%", "2", "f", "F", "e", "@", ":", ".", "?",
            "#", "é", "\u{ff0f}",
        ];
        for a in alphabet {
            for b in alphabet {
                for c in alphabet {
                    let raw = format!("/{a}{b}{c}");
                    if let Some(path) = local_path(&raw) {
                        assert!(
                            path.starts_with('/') && !path.starts_with("//"),
                            "{raw:?} -> {path:?}"
                        );
                        assert!(
                            path.bytes().all(|b| (0x21..0x7f).contains(&b)),
                            "{raw:?} -> {path:?}"
                        );
                        let resolved = url::Url::parse("http://gatehouse.invalid/")
                            .and_then(|base| base.join(&path))
                            .expect("an accepted path resolves");
                        assert_eq!(resolved.host_str(), Some("gatehouse.invalid"), "{raw:?}");
                    }
                }
            }
        }
    }
}
