//! The one way server functions redirect. leptos_axum's `redirect` panics on
//! a target that is not a valid header value; this checks first, so no
//! input (a crafted `next=`, a provider's URL) can turn a redirect into a
//! dropped connection.

/// Redirects the current server-function call to `target`, or to `/` when
/// `target` could not be a `Location` header (logged: none of ours is).
pub fn redirect(target: &str) {
    if http::HeaderValue::from_str(target).is_ok() {
        leptos_axum::redirect(target);
    } else {
        tracing::warn!(
            target_len = target.len(),
            "refused a redirect target that is not a header value"
        );
        leptos_axum::redirect("/");
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn header_values_refuse_what_would_make_leptos_panic() {
        for bad in ["/\r/x", "/\n", "/\u{0}x", "/\u{7f}"] {
            assert!(http::HeaderValue::from_str(bad).is_err(), "{bad:?}");
        }
    }
}
