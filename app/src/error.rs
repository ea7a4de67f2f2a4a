//! The one error type that crosses the wire from server functions to pages.

use serde::{Deserialize, Serialize};
use server_fn::codec::JsonEncoding;
use server_fn::error::{FromServerFnError, ServerFnErrorErr};

/// An error a user can be shown. Internal details never cross the wire: they
/// are logged on the server and the user sees [`AppError::Internal`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum AppError {
    /// Input that breaks a rule, tied to the form field it came from.
    #[error("{message}")]
    Validation {
        /// The form field's name, or empty when the whole request is at fault.
        field: String,
        /// What is wrong, for the user.
        message: String,
    },
    /// Several fields of a submitted form are wrong. Carries the non-secret
    /// values back so a page without JavaScript can refill the form.
    #[error("please correct the highlighted fields")]
    InvalidForm {
        /// One message per wrong field.
        errors: Vec<FieldError>,
        /// What was submitted, passwords and tokens excluded.
        values: Vec<(String, String)>,
    },
    /// Not signed in.
    #[error("please sign in to continue")]
    Unauthorized,
    /// Signed in but not allowed.
    #[error("you do not have permission to do that")]
    Forbidden,
    /// No such thing (or not yours to see).
    #[error("not found")]
    NotFound,
    /// The request conflicts with stored state.
    #[error("{0}")]
    Conflict(String),
    /// Throttled; try again after this many seconds.
    #[error("too many attempts; try again in {retry_after_secs} seconds")]
    TooManyRequests {
        /// Seconds until the next attempt is allowed.
        retry_after_secs: u64,
    },
    /// A failure on our side, already logged.
    #[error("something went wrong on our side; please try again")]
    Internal,
    /// The request did not reach the server or its answer did not come back.
    #[error("could not reach Gatehouse: {0}")]
    Transport(String),
}

/// One wrong form field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    /// The field's name in the form.
    pub field: String,
    /// What is wrong, for the user.
    pub message: String,
}

/// Collects the problems of a submitted form, so all are reported at once.
#[derive(Debug, Default)]
pub struct FormCheck {
    errors: Vec<FieldError>,
    values: Vec<(String, String)>,
}

impl FormCheck {
    /// An empty check.
    pub fn new() -> Self {
        Self::default()
    }

    /// Remembers a submitted value to refill the form with (never a secret).
    pub fn keep(&mut self, field: &str, value: &str) -> &mut Self {
        self.values
            .push((field.to_owned(), value.chars().take(500).collect()));
        self
    }

    /// Records `result`'s error against `field`, returning its value if fine.
    pub fn check<T, E: std::fmt::Display>(&mut self, field: &str, result: Result<T, E>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(error) => {
                self.fail(field, error.to_string());
                None
            }
        }
    }

    /// Records a problem with `field`.
    pub fn fail(&mut self, field: &str, message: impl Into<String>) {
        self.errors.push(FieldError {
            field: field.to_owned(),
            message: message.into(),
        });
    }

    /// `Ok` when nothing failed; else the form error.
    pub fn finish(self) -> Result<(), AppError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(self.into_error())
        }
    }

    /// The form error with whatever was recorded.
    pub fn into_error(self) -> AppError {
        AppError::InvalidForm {
            errors: self.errors,
            values: self.values,
        }
    }
}

impl AppError {
    /// A validation error on one field.
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        AppError::Validation {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The HTTP status this error answers with.
    pub fn status_code(&self) -> u16 {
        match self {
            AppError::Validation { .. } | AppError::InvalidForm { .. } => 422,
            AppError::Unauthorized => 401,
            AppError::Forbidden => 403,
            AppError::NotFound => 404,
            AppError::Conflict(_) => 409,
            AppError::TooManyRequests { .. } => 429,
            AppError::Internal | AppError::Transport(_) => 500,
        }
    }
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            // Malformed arguments are the caller's mistake, and say so.
            ServerFnErrorErr::Args(message) | ServerFnErrorErr::MissingArg(message) => AppError::Validation {
                field: String::new(),
                message: format!("the request was not understood: {message}"),
            },
            // On the server, a body that cannot be read (too large, not
            // UTF-8) is bad input; in the browser, an unreadable answer is a
            // transport failure.
            ServerFnErrorErr::Deserialization(message) if cfg!(feature = "ssr") => AppError::Validation {
                field: String::new(),
                message: if message.contains("length limit") {
                    "the request is too large".to_owned()
                } else {
                    format!("the request was not understood: {message}")
                },
            },
            ServerFnErrorErr::Request(message)
            | ServerFnErrorErr::Response(message)
            | ServerFnErrorErr::Deserialization(message) => AppError::Transport(message),
            _ => AppError::Internal,
        }
    }
}

#[cfg(feature = "ssr")]
impl From<sqlx::Error> for AppError {
    fn from(error: sqlx::Error) -> Self {
        tracing::error!(error = %error, "database error");
        AppError::Internal
    }
}

#[cfg(feature = "ssr")]
impl From<anyhow::Error> for AppError {
    fn from(error: anyhow::Error) -> Self {
        tracing::error!(error = format!("{error:#}"), "internal error");
        AppError::Internal
    }
}

#[cfg(feature = "ssr")]
impl From<crate::catalog::db::LoadCatalogError> for AppError {
    fn from(error: crate::catalog::db::LoadCatalogError) -> Self {
        tracing::error!(error = %error, "catalogue unavailable");
        AppError::Internal
    }
}
