//! Cookies a server function reads from its request or sets on its answer,
//! beside the session's: always HttpOnly and SameSite=Strict, Secure when
//! the site is served over TLS.

/// The value of the request's cookie `name`, if it sent one.
pub fn request_cookie(name: &str) -> Option<String> {
    crate::context::with_context_held(|parts: &http::request::Parts| {
        parts
            .headers
            .get_all(http::header::COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(found, _)| *found == name)
            .map(|(_, value)| value.to_owned())
    })
    .flatten()
}

/// Sets cookie `name` on the answer for `path`, for `max_age` seconds (0
/// clears it).
pub fn set_cookie(name: &str, value: &str, path: &str, max_age: i64) {
    let secure = crate::context::app_context()
        .map(|context| context.public_url.starts_with("https://"))
        .unwrap_or(false);
    let secure = if secure { "; Secure" } else { "" };
    if let Some(response) = crate::context::use_context_held::<leptos_axum::ResponseOptions>()
        && let Ok(value) = http::HeaderValue::from_str(&format!(
            "{name}={value}; Path={path}; Max-Age={max_age}; SameSite=Strict; HttpOnly{secure}"
        ))
    {
        response.append_header(http::header::SET_COOKIE, value);
    }
}
