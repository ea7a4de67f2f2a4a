//! Size limits on what a request may carry, enforced before anything parses
//! it: a body over its route's limit is 413, and a server-function form or
//! query with too many fields, or a field too long for any form of ours, is
//! 422. Both answers are short JSON that never repeats what was sent.

use app::error::{AppError, is_plain_field_name};
use app::input::has_forbidden_control;
use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;

/// Largest body a server function accepts: every form of ours is far smaller.
pub const MAX_FORM_BODY: usize = 64 * 1024;
/// Largest provider event body (Stripe's biggest events are a few hundred KB).
pub const MAX_WEBHOOK_BODY: usize = 1024 * 1024;
/// Largest subscription-history upload (2 million rows are about 250 MB).
pub const MAX_IMPORT_BODY: usize = 512 * 1024 * 1024;
/// Largest body of any other route (pages and files take none).
pub const MAX_OTHER_BODY: usize = 16 * 1024;
/// Most fields in one server-function form or query.
pub const MAX_FIELDS: usize = 100;
/// Longest field name (ours are short identifiers, with `[key]` for maps).
pub const MAX_FIELD_NAME: usize = 100;
/// Longest field value, decoded (an email is at most 254, a password 1,000).
pub const MAX_FIELD_VALUE: usize = 4096;

fn body_limit(path: &str) -> usize {
    if path.starts_with("/webhooks/") {
        MAX_WEBHOOK_BODY
    } else if path == "/admin/import" {
        MAX_IMPORT_BODY
    } else if path.starts_with("/api/") {
        MAX_FORM_BODY
    } else {
        MAX_OTHER_BODY
    }
}

/// Why a form's fields were refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldProblem {
    /// More than [`MAX_FIELDS`] fields.
    TooMany,
    /// A field name over [`MAX_FIELD_NAME`].
    NameTooLong,
    /// The named field's value is over [`MAX_FIELD_VALUE`]; the name is
    /// given only when it is a plain identifier (never submitted text).
    ValueTooLong(Option<String>),
    /// A field's name or value holds a NUL or another control character no
    /// field of ours accepts (see [`app::input::has_forbidden_control`]).
    ControlCharacter(Option<String>),
}

impl FieldProblem {
    fn into_app_error(self) -> AppError {
        match self {
            FieldProblem::TooMany => {
                AppError::field("", format!("the form has more than {MAX_FIELDS} fields"))
            }
            FieldProblem::NameTooLong => AppError::field("", "the form has a field with an overlong name"),
            FieldProblem::ValueTooLong(field) => AppError::field(
                field.unwrap_or_default(),
                format!("this is longer than any value we accept ({MAX_FIELD_VALUE} characters)"),
            ),
            FieldProblem::ControlCharacter(field) => AppError::field(
                field.unwrap_or_default(),
                "this holds a control character (such as NUL), which no field accepts",
            ),
        }
    }
}

/// Checks the fields of a URL-encoded form or query string.
pub fn check_fields(encoded: &[u8]) -> Result<(), FieldProblem> {
    for (count, (name, value)) in form_urlencoded::parse(encoded).enumerate() {
        if count >= MAX_FIELDS {
            return Err(FieldProblem::TooMany);
        }
        if name.len() > MAX_FIELD_NAME {
            return Err(FieldProblem::NameTooLong);
        }
        if value.chars().count() > MAX_FIELD_VALUE {
            return Err(FieldProblem::ValueTooLong(
                is_plain_field_name(&name).then(|| name.into_owned()),
            ));
        }
        if has_forbidden_control(&name) || has_forbidden_control(&value) {
            return Err(FieldProblem::ControlCharacter(
                is_plain_field_name(&name).then(|| name.into_owned()),
            ));
        }
    }
    Ok(())
}

/// Whether a path, percent-decoded, holds a control character (any: no
/// path segment of ours is multi-line).
pub fn path_has_control(path: &str) -> bool {
    let decoded: Vec<u8> = percent_decode(path.as_bytes());
    String::from_utf8_lossy(&decoded).chars().any(char::is_control)
}

fn percent_decode(bytes: &[u8]) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        match (
            bytes[at],
            bytes.get(at + 1).copied().and_then(hex),
            bytes.get(at + 2).copied().and_then(hex),
        ) {
            (b'%', Some(high), Some(low)) => {
                out.push(high << 4 | low);
                at += 3;
            }
            (byte, _, _) => {
                out.push(byte);
                at += 1;
            }
        }
    }
    out
}

fn is_console_page(method: &Method, path: &str) -> bool {
    (*method == Method::GET || *method == Method::HEAD) && (path == "/admin" || path.starts_with("/admin/"))
}

/// `303` to the same console page without its query, naming the refusal.
fn back_to_console_page(path: &str, field: Option<&str>) -> Response {
    let mut target = format!("{path}?refused=control_character");
    if let Some(field) = field {
        target.push_str("&field=");
        target.push_str(field);
    }
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(location) = HeaderValue::from_str(&target) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn refuse(status: StatusCode, error: AppError) -> Response {
    let mut response = (status, axum::Json(error)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn too_large() -> Response {
    refuse(StatusCode::PAYLOAD_TOO_LARGE, AppError::TooLarge)
}

/// The middleware.
pub async fn limit_request_sizes(request: Request, next: Next) -> Response {
    let limit = body_limit(request.uri().path());
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return too_large();
    }
    let is_server_function = request.uri().path().starts_with("/api/");
    if path_has_control(request.uri().path()) {
        return refuse(
            StatusCode::UNPROCESSABLE_ENTITY,
            AppError::field("", "the address holds a control character (such as NUL)"),
        );
    }
    // Every query, a page's as well as a server function's, reaches code
    // that may hand it to the database.
    if let Some(query) = request.uri().query()
        && let Err(problem) = check_fields(query.as_bytes())
    {
        // A console page's filter or search comes back to the page with the
        // console's notice (a fixed code; the field only if it is ours).
        if let (FieldProblem::ControlCharacter(field), true) =
            (&problem, is_console_page(request.method(), request.uri().path()))
        {
            return back_to_console_page(request.uri().path(), field.as_deref());
        }
        return refuse(StatusCode::UNPROCESSABLE_ENTITY, problem.into_app_error());
    }
    let (parts, body) = request.into_parts();
    if !is_server_function || parts.method == Method::GET || parts.method == Method::HEAD {
        // Whoever reads the body meets the limit (axum answers 413).
        let limited = Body::new(http_body_util::Limited::new(body, limit));
        return next.run(Request::from_parts(parts, limited)).await;
    }
    // Server-function bodies are small: read whole, checked, handed on.
    let bytes: Bytes = match http_body_util::Limited::new(body, limit).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(error) if error.downcast_ref::<http_body_util::LengthLimitError>().is_some() => {
            return too_large();
        }
        Err(_) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                AppError::field("", "the request body could not be read"),
            );
        }
    };
    let is_form = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|v| v.starts_with("application/x-www-form-urlencoded"));
    if is_form && let Err(problem) = check_fields(&bytes) {
        return refuse(StatusCode::UNPROCESSABLE_ENTITY, problem.into_app_error());
    }
    next.run(Request::from_parts(parts, Body::from(bytes))).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_forms_pass() {
        assert_eq!(
            check_fields(b"email=a%40b.test&password=secret&next=%2Fapp"),
            Ok(())
        );
        assert_eq!(check_fields(b"add_ons%5Bextra_user%5D=2&tier=starter"), Ok(()));
        assert_eq!(check_fields(b""), Ok(()));
    }

    #[test]
    fn an_overlong_value_is_named_only_when_its_name_is_ours() {
        let long = "x".repeat(MAX_FIELD_VALUE + 1);
        assert_eq!(
            check_fields(format!("email={long}").as_bytes()),
            Err(FieldProblem::ValueTooLong(Some("email".into())))
        );
        assert_eq!(
            check_fields(format!("email%5Ba%5D%5Bb%5D={long}").as_bytes()),
            Err(FieldProblem::ValueTooLong(None))
        );
        assert_eq!(
            check_fields(format!("%3Cscript%3E={long}").as_bytes()),
            Err(FieldProblem::ValueTooLong(None))
        );
    }

    #[test]
    fn values_are_measured_decoded() {
        // 4096 encoded 'é' are 4096 characters: allowed; one more is not.
        let at_limit = "%C3%A9".repeat(MAX_FIELD_VALUE);
        assert_eq!(check_fields(format!("company={at_limit}").as_bytes()), Ok(()));
        assert!(check_fields(format!("company={at_limit}%C3%A9").as_bytes()).is_err());
    }

    #[test]
    fn too_many_fields_or_long_names_are_refused() {
        let many: Vec<String> = (0..=MAX_FIELDS).map(|n| format!("f{n}=1")).collect();
        assert_eq!(
            check_fields(many.join("&").as_bytes()),
            Err(FieldProblem::TooMany)
        );
        let name = "n".repeat(MAX_FIELD_NAME + 1);
        assert_eq!(
            check_fields(format!("{name}=1").as_bytes()),
            Err(FieldProblem::NameTooLong)
        );
    }

    #[test]
    fn control_characters_are_refused_in_names_values_and_paths() {
        for encoded in [
            "q=%00",
            "external_id=%00",
            "tier=starter%00",
            "admin=a%07b",
            "action=%1B%5B31m",
            "q%00=1",
            "before=%7F",
            "to=%C2%85",
        ] {
            assert!(
                matches!(
                    check_fields(encoded.as_bytes()),
                    Err(FieldProblem::ControlCharacter(_))
                ),
                "{encoded}"
            );
        }
        assert_eq!(check_fields(b"reason=line%0Aone%0D%0Atab%09"), Ok(()));
        for path in [
            "/api/v1/organizations/ext:%00",
            "/admin/organizations/%00",
            "/a%0ab",
            "/%7f",
        ] {
            assert!(path_has_control(path), "{path}");
        }
        for path in [
            "/api/v1/organizations/ext:acme",
            "/pricing",
            "/%E2%82%AC",
            "/100%25",
            "/bad%zz",
        ] {
            assert!(!path_has_control(path), "{path}");
        }
    }

    #[test]
    fn refusals_are_short_and_never_quote_the_input() {
        for problem in [
            FieldProblem::ControlCharacter(Some("q".into())),
            FieldProblem::TooMany,
            FieldProblem::NameTooLong,
            FieldProblem::ValueTooLong(None),
            FieldProblem::ValueTooLong(Some("email".into())),
        ] {
            let json = serde_json::to_string(&problem.into_app_error()).unwrap();
            assert!(json.len() < 160, "{json}");
        }
    }
}
