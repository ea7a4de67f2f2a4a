//! The API's errors: JSON with a stable `code`, a `message` and, for bad
//! input, the `field` at fault. Nothing a client can send answers 500.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// An API error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The stable code a client can match on.
    pub code: &'static str,
    /// What is wrong, for a person.
    pub message: String,
    /// The input field at fault, if one is.
    pub field: Option<String>,
    /// Seconds to wait, for 429.
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// An error with no field.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            field: None,
            retry_after: None,
        }
    }

    /// 422 for a field that breaks a rule.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError {
            field: Some(field.into()),
            ..ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", message)
        }
    }

    /// 400 for a body that is not the JSON asked for.
    pub fn bad_json(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_json", message)
    }

    /// 404 for an organisation that is not there.
    pub fn no_organization() -> Self {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "organization_not_found",
            "no organisation has that id",
        )
    }

    /// 500 for our own failure, logged with what it was doing.
    #[track_caller]
    pub fn internal(doing: &'static str, error: impl std::fmt::Display) -> Self {
        let at = std::panic::Location::caller();
        tracing::error!(%error, doing, %at, "API request failed");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "something went wrong on our side; please try again",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({"error": {"code": self.code, "message": self.message}});
        if let Some(field) = &self.field {
            body["error"]["field"] = json!(field);
        }
        let mut response = (self.status, Json(body)).into_response();
        if let Some(seconds) = self.retry_after
            && let Ok(value) = HeaderValue::from_str(&seconds.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}

impl From<sqlx::Error> for ApiError {
    #[track_caller]
    fn from(error: sqlx::Error) -> Self {
        match app::error::input_refused_by_database(&error) {
            Some(message) => {
                tracing::warn!(%error, "input refused by the database");
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input", message)
            }
            None => ApiError::internal("querying the database", error),
        }
    }
}

/// The stable code for an error status the API's own handlers did not
/// answer (a refusal by a layer in front of them).
fn code_for(status: StatusCode) -> (&'static str, &'static str) {
    match status {
        StatusCode::BAD_REQUEST => ("bad_request", "the request could not be read"),
        StatusCode::UNAUTHORIZED => (
            "missing_api_key",
            "send your API key as Authorization: Bearer <key>",
        ),
        StatusCode::FORBIDDEN => ("forbidden", "this request is not allowed"),
        StatusCode::NOT_FOUND => ("route_not_found", "no such API route"),
        StatusCode::METHOD_NOT_ALLOWED => ("method_not_allowed", "this route does not take that method"),
        StatusCode::PAYLOAD_TOO_LARGE => ("too_large", "the request body is too large"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ("unsupported_media_type", "send the body as application/json"),
        StatusCode::UNPROCESSABLE_ENTITY => {
            ("invalid_input", "the request holds a value that is not accepted")
        }
        StatusCode::TOO_MANY_REQUESTS => ("rate_limited", "too many requests; try again later"),
        status if status.is_client_error() => ("bad_request", "the request was refused"),
        _ => ("internal", "something went wrong on our side; please try again"),
    }
}

/// Whether a body is already the API's error envelope.
fn is_envelope(body: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|value| value.get("error")?.get("code")?.as_str().map(|_| ()))
        .is_some()
}

/// Every error answer under `/api/v1` is the API's envelope, whoever made
/// it (a size limit, an unknown method, a query that did not parse): one a
/// layer made in another shape is replaced by the envelope for its status,
/// which never repeats what the client sent.
pub async fn envelope_every_error(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let path = request.uri().path();
    if !(path == "/api/v1" || path.starts_with("/api/v1/")) {
        return next.run(request).await;
    }
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let (parts, body) = response.into_parts();
    let bytes = http_body_util::BodyExt::collect(http_body_util::Limited::new(body, 64 * 1024))
        .await
        .map(|collected| collected.to_bytes())
        .unwrap_or_default();
    if is_envelope(&bytes) {
        return Response::from_parts(parts, axum::body::Body::from(bytes));
    }
    let (code, message) = code_for(status);
    let mut error = ApiError::new(status, code, message);
    error.retry_after = parts
        .headers
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let mut answer = error.into_response();
    for name in [header::ALLOW, header::CACHE_CONTROL] {
        if let Some(value) = parts.headers.get(&name) {
            answer.headers_mut().insert(name, value.clone());
        }
    }
    answer
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_status_has_a_code_and_a_message_of_its_own() {
        for status in 400..600u16 {
            let Ok(status) = StatusCode::from_u16(status) else {
                continue;
            };
            let (code, message) = code_for(status);
            assert!(!code.is_empty() && !message.is_empty(), "{status}");
        }
        assert!(is_envelope(br#"{"error":{"code":"x","message":"y"}}"#));
        for other in [
            &br#"{"Validation":{"field":"","message":"x"}}"#[..],
            b"",
            b"Method Not Allowed",
        ] {
            assert!(!is_envelope(other));
        }
    }
}
