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
    /// The request is larger than any form of ours (413).
    #[error("the request is too large")]
    TooLarge,
    /// A service Gatehouse depends on (the payment provider) did not answer;
    /// nothing was changed, and trying again later may work (503).
    #[error("{0}")]
    Unavailable(String),
    /// A service Gatehouse depends on answered something unusable; nothing
    /// was changed (502).
    #[error("{0}")]
    BadGateway(String),
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

/// Longest value a failed form is refilled with: any real entry fits, and an
/// error answer stays small whatever was sent.
pub const MAX_REFILL_CHARS: usize = 254;

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
        let refill = value
            .chars()
            .filter(|c| !c.is_control())
            .take(MAX_REFILL_CHARS)
            .collect();
        self.values.push((field.to_owned(), refill));
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

    /// An id a request sends in `field` (surrounding blanks ignored), or a
    /// validation error naming the field.
    #[cfg(feature = "ssr")]
    pub fn parse_id(field: &str, raw: &str) -> Result<uuid::Uuid, AppError> {
        uuid::Uuid::parse_str(raw.trim())
            .map_err(|_| AppError::field(field, "that is not a valid identifier"))
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
            AppError::TooLarge => 413,
            AppError::Unavailable(_) => 503,
            AppError::BadGateway(_) => 502,
            AppError::Internal | AppError::Transport(_) => 500,
        }
    }
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            // Malformed arguments are the caller's mistake, and say so; the
            // parser's words are not repeated, since they may quote the input.
            ServerFnErrorErr::Args(message) | ServerFnErrorErr::MissingArg(message) => {
                not_understood(&message)
            }
            // On the server, a body that cannot be read (too large, not
            // UTF-8) is bad input; in the browser, an unreadable answer is a
            // transport failure.
            ServerFnErrorErr::Deserialization(message) if cfg!(feature = "ssr") => {
                if message.contains("length limit") {
                    AppError::TooLarge
                } else {
                    not_understood(&message)
                }
            }
            ServerFnErrorErr::Request(message)
            | ServerFnErrorErr::Response(message)
            | ServerFnErrorErr::Deserialization(message) => AppError::Transport(message),
            _ => AppError::Internal,
        }
    }
}

/// The answer to arguments that cannot be read. Names the field when the
/// parser's message names one of ours (a short identifier in backticks),
/// never anything else from the message, which may quote what was sent.
fn not_understood(parser_message: &str) -> AppError {
    AppError::Validation {
        field: field_named_in(parser_message).unwrap_or_default().to_owned(),
        message: "the request was not understood: a field is missing or malformed".to_owned(),
    }
}

/// The first backticked identifier in a parser message, if it is short and
/// made only of lowercase letters, digits and underscores (a field name of
/// ours, not submitted text).
fn field_named_in(message: &str) -> Option<&str> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    let name = &message[start..start + len];
    is_plain_field_name(name).then_some(name)
}

/// Whether `name` may be named back in an error: a short identifier of
/// lowercase letters, digits and underscores, as every field of ours is
/// (anything else may be submitted text).
pub fn is_plain_field_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 40
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

#[cfg(feature = "ssr")]
impl From<sqlx::Error> for AppError {
    /// Logs the failure with where it happened: `?` calls this at the
    /// failing call, so `at` names the query's caller (file and line).
    #[track_caller]
    fn from(error: sqlx::Error) -> Self {
        let at = std::panic::Location::caller();
        if let Some(message) = input_refused_by_database(&error) {
            // The last net under input checks: a value no column can hold
            // is the request's fault (422), never a 500.
            tracing::warn!(error = %error, at = %at, "input refused by the database");
            return AppError::Validation {
                field: String::new(),
                message: message.to_owned(),
            };
        }
        tracing::error!(error = %error, at = %at, "database error");
        AppError::Internal
    }
}

/// What to tell a user when the database refused a value they sent (SQL
/// state class 22, "data exception": a NUL character, a number or a date out
/// of range, text that is not a number), or `None` for any other failure.
#[cfg(feature = "ssr")]
pub fn input_refused_by_database(error: &sqlx::Error) -> Option<&'static str> {
    let code = error.as_database_error()?.code()?;
    match code.as_ref() {
        "22021" | "22P05" => {
            Some("the request contains a character that cannot be stored (a NUL or control character)")
        }
        "22003" => Some("a number in the request is out of range"),
        "22008" | "22007" => Some("a date in the request is out of range"),
        code if code.starts_with("22") => Some("a value in the request cannot be stored"),
        _ => None,
    }
}

#[cfg(feature = "ssr")]
impl From<anyhow::Error> for AppError {
    #[track_caller]
    fn from(error: anyhow::Error) -> Self {
        let at = std::panic::Location::caller();
        tracing::error!(error = format!("{error:#}"), at = %at, "internal error");
        AppError::Internal
    }
}

/// Names what a failing step was doing, for the log: an internal error is
/// logged with the step's own words (and where it failed), while the caller
/// is told only [`AppError::Internal`].
#[cfg(feature = "ssr")]
pub trait Doing<T> {
    /// Maps the error to [`AppError::Internal`], logging `what` was being done.
    fn doing(self, what: &'static str) -> Result<T, AppError>;
}

#[cfg(feature = "ssr")]
impl<T, E: std::fmt::Display> Doing<T> for Result<T, E> {
    #[track_caller]
    fn doing(self, what: &'static str) -> Result<T, AppError> {
        let at = std::panic::Location::caller();
        self.map_err(|error| {
            tracing::error!(%error, at = %at, "failed while {what}");
            AppError::Internal
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "ssr")]
    #[test]
    fn a_failed_step_is_internal_to_the_caller_whatever_its_error_said() {
        let secret = Err::<(), _>("relation \"app_user\" does not exist").doing("reading the user");
        assert_eq!(secret, Err(AppError::Internal));
        assert_eq!(Ok::<u8, String>(7).doing("reading a number"), Ok(7));
    }

    #[test]
    fn argument_errors_never_repeat_what_was_sent() {
        let hostile = "x".repeat(70_000);
        for error in [
            ServerFnErrorErr::Args(format!("invalid type: string \"{hostile}\", expected u32")),
            ServerFnErrorErr::MissingArg(hostile.clone()),
            ServerFnErrorErr::Deserialization(format!("unknown field `{hostile}`")),
            ServerFnErrorErr::Args(format!("unknown field `<script>{hostile}`")),
        ] {
            let answer = AppError::from_server_fn_error(error);
            let json = serde_json::to_string(&answer).unwrap();
            assert!(json.len() < 200, "{} bytes", json.len());
            assert!(!json.contains("xxxx"), "{json}");
            assert_eq!(answer.status_code(), 422);
        }
    }

    #[test]
    fn argument_errors_name_our_own_fields() {
        let answer =
            AppError::from_server_fn_error(ServerFnErrorErr::MissingArg("missing field `email`".into()));
        assert!(matches!(answer, AppError::Validation { field, .. } if field == "email"));
    }

    #[test]
    fn an_overlong_body_is_413() {
        let answer =
            AppError::from_server_fn_error(ServerFnErrorErr::Deserialization("length limit exceeded".into()));
        assert_eq!(answer.status_code(), 413);
    }

    #[test]
    fn refill_values_are_short_and_printable() {
        let mut form = FormCheck::new();
        form.keep("email", &format!("a\u{0}\r\n{}", "b".repeat(10_000)));
        let AppError::InvalidForm { values, .. } = form.into_error() else {
            panic!()
        };
        assert_eq!(values[0].1.chars().count(), MAX_REFILL_CHARS);
        assert!(values[0].1.chars().all(|c| !c.is_control()));
    }
}
