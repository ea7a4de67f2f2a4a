//! Form pieces: fields with their errors, and reading back the error a
//! no-JavaScript form post returns in the address (`?__err=`).

use crate::error::AppError;
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use server_fn::error::ServerFnUrlError;

/// The outcome of the last submission of a form, as the page sees it.
#[derive(Debug, Clone, Default)]
pub struct FormFeedback {
    error: Option<AppError>,
}

impl FormFeedback {
    /// Reads `__err` from the address, if the last post failed.
    pub fn from_address() -> Self {
        let query = use_query_map();
        let error = query
            .read_untracked()
            .get("__err")
            .map(|encoded| ServerFnUrlError::<AppError>::decode_err(&encoded));
        FormFeedback { error }
    }

    /// The message for one field, if it was wrong.
    pub fn field_error(&self, field: &str) -> Option<String> {
        match &self.error {
            Some(AppError::InvalidForm { errors, .. }) => errors
                .iter()
                .find(|e| e.field == field)
                .map(|e| e.message.clone()),
            Some(AppError::Validation { field: f, message }) if f == field => Some(message.clone()),
            _ => None,
        }
    }

    /// What the user typed into `field` before the error.
    pub fn value(&self, field: &str) -> Option<String> {
        match &self.error {
            Some(AppError::InvalidForm { values, .. }) => values
                .iter()
                .find(|(name, _)| name == field)
                .map(|(_, v)| v.clone()),
            _ => None,
        }
    }

    /// The message for the whole form.
    pub fn summary(&self) -> Option<String> {
        self.error.as_ref().map(|error| match error {
            AppError::InvalidForm { errors, .. } if errors.len() == 1 => errors[0].message.clone(),
            other => other.to_string(),
        })
    }
}

/// A labelled input with its error message wired for screen readers.
#[component]
pub fn TextField(
    /// The form field name.
    name: &'static str,
    /// The visible label.
    label: &'static str,
    /// `text`, `email`, `password`.
    #[prop(default = "text")]
    input_type: &'static str,
    /// The browser's autofill hint.
    #[prop(default = "off")]
    autocomplete: &'static str,
    /// Shown under the label.
    #[prop(optional)]
    hint: Option<&'static str>,
    /// The last submission's outcome.
    feedback: FormFeedback,
    /// Initial value when the form was not submitted yet.
    #[prop(optional)]
    value: Option<String>,
    /// Focus on load.
    #[prop(optional)]
    autofocus: bool,
) -> impl IntoView {
    let error = feedback.field_error(name);
    let value = if input_type == "password" {
        None
    } else {
        feedback.value(name).or(value)
    };
    let error_id = format!("{name}-error");
    let hint_id = format!("{name}-hint");
    let described_by = [
        error.as_ref().map(|_| error_id.clone()),
        hint.map(|_| hint_id.clone()),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(" ");
    let invalid = error.is_some();
    view! {
        <div class="space-y-1">
            <label for=name class="block text-sm font-medium text-slate-800">
                {label}
            </label>
            {hint.map(|text| view! { <p id=hint_id.clone() class="text-sm text-slate-600">{text}</p> })}
            <input
                id=name
                name=name
                type=input_type
                autocomplete=autocomplete
                value=value
                required=true
                autofocus=autofocus || invalid
                aria-invalid=invalid.then_some("true")
                aria-describedby=(!described_by.is_empty()).then_some(described_by)
                class=if invalid {
                    "block w-full rounded-md border border-red-600 px-3 py-2 text-slate-900"
                } else {
                    "block w-full rounded-md border border-slate-300 px-3 py-2 text-slate-900"
                }
            />
            {error.map(|message| view! { <p id=error_id.clone() class="text-sm text-red-700">{message}</p> })}
        </div>
    }
}

/// The form-level message, announced to screen readers.
#[component]
pub fn FormSummary(
    /// The last submission's outcome.
    feedback: FormFeedback,
) -> impl IntoView {
    feedback.summary().map(|message| {
        view! {
            <div role="alert" class="rounded-md border border-red-200 bg-red-50 p-3 text-sm text-red-800">
                {message}
            </div>
        }
    })
}

/// A notice, such as "we sent you an email".
#[component]
pub fn Notice(
    /// The text.
    message: String,
) -> impl IntoView {
    view! {
        <div role="status" class="rounded-md border border-emerald-200 bg-emerald-50 p-3 text-sm text-emerald-900">
            {message}
        </div>
    }
}
