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
        ApiError::internal("querying the database", error)
    }
}
