//! `POST /webhooks/stripe`: verifies the signature on the raw body, decodes
//! it once, stores the event in the inbox under its Stripe id, and only then
//! acknowledges. Processing happens afterwards, in a worker, so a slow or
//! failing handler never makes Stripe retry, and a redelivery is stored (and
//! applied) once.
//!
//! A signed event that cannot be stored as one (a body async-stripe cannot
//! read, a time out of range, an unusable id) is kept as `rejected` with its
//! reason and acknowledged: Stripe would otherwise redeliver it for days,
//! and operators see it on `/metrics`. Only a failing database is answered
//! with 503, so that Stripe delivers again.

use crate::AppState;
use crate::billing::stripe::billing_event_from_stripe_event;
use app::billing::inbox::{self, IncomingEvent, RejectedEvent};
use app::billing::provider::ProviderName;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use secrecy::ExposeSecret;
use serde::Serialize;
use std::borrow::Cow;
use stripe_webhook::{Webhook, WebhookError};

/// What the endpoint answers a verified event.
#[derive(Debug, Serialize)]
pub struct Receipt {
    /// Always true: the event is safely stored.
    pub received: bool,
    /// Whether this event id had been received before.
    pub duplicate: bool,
    /// Why it was kept as rejected instead of processed, if it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rejected: Option<&'static str>,
}

fn refuse(status: StatusCode, message: &'static str) -> Response {
    (status, Json(serde_json::json!({ "error": message }))).into_response()
}

fn stored(new: bool, rejected: Option<&'static str>) -> Response {
    (
        StatusCode::OK,
        Json(Receipt {
            received: true,
            duplicate: !new,
            rejected,
        }),
    )
        .into_response()
}

fn database_unavailable(error: &sqlx::Error) -> Response {
    // Not acknowledged: Stripe will deliver it again.
    tracing::error!(%error, "could not store webhook event");
    refuse(
        StatusCode::SERVICE_UNAVAILABLE,
        "the event could not be stored; deliver it again",
    )
}

/// The handler.
pub async fn receive_stripe_event(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(secret) = state.settings.stripe_webhook_secret.as_ref() else {
        return refuse(
            StatusCode::NOT_FOUND,
            "Stripe webhooks are not configured on this server",
        );
    };
    let Some(signature) = headers.get("stripe-signature").and_then(|v| v.to_str().ok()) else {
        return refuse(StatusCode::BAD_REQUEST, "missing Stripe-Signature header");
    };
    let Ok(payload) = std::str::from_utf8(&body) else {
        return refuse(StatusCode::BAD_REQUEST, "the body is not UTF-8");
    };
    // The signature's age is judged by the clock, not by the library's own read of the time.
    let event = match Webhook::construct_event_with_timestamp(
        payload,
        signature,
        secret.expose_secret(),
        state.clock.unix(),
    ) {
        Ok(event) => event,
        // async-stripe reads the body only after the signature and its age
        // check out: this one is Stripe's, just not readable.
        Err(WebhookError::BadParse(_)) => {
            return reject(
                &state,
                &body,
                None,
                "the signed body is not a Stripe event this server can read",
            )
            .await;
        }
        Err(error) => {
            tracing::warn!(%error, "webhook refused");
            let message = match error {
                WebhookError::BadTimestamp(_) => "the signature is older than 300 seconds",
                _ => "the signature does not match",
            };
            return refuse(StatusCode::BAD_REQUEST, message);
        }
    };
    let id = event.id.as_str();
    if !inbox::is_storable_event_id(id) {
        return reject(
            &state,
            &body,
            None,
            "the event id is empty, too long or has control characters",
        )
        .await;
    }
    let Some(created) =
        chrono::DateTime::from_timestamp(event.created, 0).filter(|t| inbox::is_storable_time(*t))
    else {
        return reject(
            &state,
            &body,
            Some(id),
            "the event's created time is out of range",
        )
        .await;
    };
    let event_type = event.type_.as_str();
    if event_type.chars().any(char::is_control) || event_type.len() > 255 {
        return reject(
            &state,
            &body,
            Some(id),
            "the event type has control characters or is too long",
        )
        .await;
    }
    let decoded = billing_event_from_stripe_event(&event);
    // Postgres keeps no NUL in text or JSON: such characters become U+FFFD,
    // and the body as received is kept beside the stored copy.
    // The decoded event's strings all come from the body, so only a body
    // that had NULs is walked again.
    let (payload, raw_body, decoded) = match without_nul_characters(payload) {
        Cow::Borrowed(payload) => (Cow::Borrowed(payload), None, decoded),
        Cow::Owned(cleaned) => {
            let decoded = decoded_without_nul(&decoded).unwrap_or(decoded);
            (Cow::Owned(cleaned), Some(&body[..]), decoded)
        }
    };
    let mut conn = match state.pool.acquire().await {
        Ok(conn) => conn,
        Err(error) => return database_unavailable(&error),
    };
    let result = inbox::store_event(
        &mut conn,
        state.clock.now(),
        &IncomingEvent {
            provider: ProviderName::Stripe,
            provider_event_id: id,
            event_type,
            livemode: event.livemode,
            created,
            payload: &payload,
            decoded: &decoded,
            raw_body,
        },
    )
    .await;
    match result {
        Ok(new) => stored(new, None),
        Err(error) => database_unavailable(&error),
    }
}

/// Keeps a signed event that cannot be stored as one, and acknowledges it.
async fn reject(state: &AppState, body: &[u8], id: Option<&str>, reason: &'static str) -> Response {
    tracing::warn!(reason, "signed Stripe event kept as rejected");
    // The id and type as the body states them, when they can be read.
    let fields = serde_json::from_slice::<serde_json::Value>(body).ok();
    let id = id
        .map(str::to_owned)
        .or_else(|| fields.as_ref().and_then(|f| f["id"].as_str()).map(str::to_owned));
    let event_type = fields
        .as_ref()
        .and_then(|f| f["type"].as_str())
        .map(str::to_owned);
    let mut conn = match state.pool.acquire().await {
        Ok(conn) => conn,
        Err(error) => return database_unavailable(&error),
    };
    let result = inbox::store_rejected(
        &mut conn,
        state.clock.now(),
        &RejectedEvent {
            provider: ProviderName::Stripe,
            raw_body: body,
            provider_event_id: id.as_deref(),
            event_type: event_type.as_deref(),
            reason,
        },
    )
    .await;
    match result {
        Ok(new) => stored(new, Some(reason)),
        Err(error) => database_unavailable(&error),
    }
}

/// The JSON text with every `\u0000` escape replaced by U+FFFD (the body
/// itself when it has none). Escapes are found by parsing, so an escaped
/// backslash followed by `u0000` is left alone.
pub fn without_nul_characters(json: &str) -> Cow<'_, str> {
    if !json.contains("\\u0000") {
        return Cow::Borrowed(json);
    }
    match serde_json::from_str::<serde_json::Value>(json) {
        Ok(mut value) => {
            if replace_nul(&mut value) {
                Cow::Owned(value.to_string())
            } else {
                Cow::Borrowed(json)
            }
        }
        Err(_) => Cow::Borrowed(json),
    }
}

/// Replaces NUL characters in every string and key; returns whether any was.
fn replace_nul(value: &mut serde_json::Value) -> bool {
    use serde_json::Value;
    match value {
        Value::String(text) if text.contains('\0') => {
            *text = text.replace('\0', "\u{fffd}");
            true
        }
        Value::Array(items) => replace_in_all(items.iter_mut()),
        Value::Object(map) => {
            let keys_with_nul = map.keys().any(|k| k.contains('\0'));
            if keys_with_nul {
                let entries: Vec<(String, Value)> = std::mem::take(map).into_iter().collect();
                for (key, mut item) in entries {
                    replace_nul(&mut item);
                    map.insert(key.replace('\0', "\u{fffd}"), item);
                }
                true
            } else {
                replace_in_all(map.values_mut())
            }
        }
        _ => false,
    }
}

/// [`replace_nul`] on every value (none skipped); whether any had one.
fn replace_in_all<'a>(values: impl Iterator<Item = &'a mut serde_json::Value>) -> bool {
    let mut replaced = false;
    for value in values {
        replaced |= replace_nul(value);
    }
    replaced
}

/// The decoded event with NUL characters replaced, when it had any.
fn decoded_without_nul(
    decoded: &app::billing::domain::BillingEvent,
) -> Option<app::billing::domain::BillingEvent> {
    let mut value = serde_json::to_value(decoded).ok()?;
    if !replace_nul(&mut value) {
        return None;
    }
    serde_json::from_value(value).ok()
}

#[cfg(test)]
mod tests {
    use super::without_nul_characters;

    #[test]
    fn nul_escapes_are_replaced_and_nothing_else_changes() {
        for (raw, expected) in [
            (r#"{"a":"x\u0000y"}"#, r#"{"a":"x\ufffdy"}"#),
            (r#"{"a\u0000":1}"#, r#"{"a\ufffd":1}"#),
            (r#"{"a":["\u0000"]}"#, r#"{"a":["\ufffd"]}"#),
        ] {
            let cleaned = without_nul_characters(raw);
            let value: serde_json::Value = serde_json::from_str(&cleaned).unwrap();
            let expected: serde_json::Value = serde_json::from_str(expected).unwrap();
            assert_eq!(value, expected, "{raw}");
        }
        // An escaped backslash before "u0000" is text, not a NUL.
        let literal = r#"{"a":"\\u0000"}"#;
        assert_eq!(without_nul_characters(literal), literal);
        assert_eq!(without_nul_characters(r#"{"a":1}"#), r#"{"a":1}"#);
    }
}
