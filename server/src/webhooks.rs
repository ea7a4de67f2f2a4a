//! `POST /webhooks/stripe`: verifies the signature on the raw body, stores
//! the event in the inbox under its Stripe id, and only then acknowledges.
//! Processing happens afterwards, in a worker, so a slow or failing handler
//! never makes Stripe retry, and a redelivery is stored (and applied) once.

use crate::AppState;
use app::billing::inbox::{self, IncomingEvent};
use app::billing::provider::ProviderName;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use secrecy::ExposeSecret;
use serde::Serialize;
use stripe_webhook::{Webhook, WebhookError};

pub use app::billing::inbox::INBOX_CHANNEL;

/// What the endpoint answers a verified event.
#[derive(Debug, Serialize)]
pub struct Receipt {
    /// Always true: the event is safely stored.
    pub received: bool,
    /// Whether this event id had been received before.
    pub duplicate: bool,
}

fn refuse(status: StatusCode, message: &'static str) -> Response {
    (status, Json(serde_json::json!({ "error": message }))).into_response()
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
    let event = match Webhook::construct_event(payload, signature, secret.expose_secret()) {
        Ok(event) => event,
        Err(error) => {
            tracing::warn!(%error, "webhook refused");
            let message = match error {
                WebhookError::BadSignature | WebhookError::BadKey | WebhookError::BadHeader(_) => {
                    "the signature does not match"
                }
                WebhookError::BadTimestamp(_) => "the signature is older than 300 seconds",
                WebhookError::BadParse(_) => "the body is not a Stripe event",
            };
            return refuse(StatusCode::BAD_REQUEST, message);
        }
    };
    let Ok(json) = serde_json::from_str::<serde_json::Value>(payload) else {
        return refuse(StatusCode::BAD_REQUEST, "the body is not a Stripe event");
    };
    match store_event(
        &state,
        event.id.as_str(),
        event.type_.as_str(),
        event.livemode,
        event.created,
        &json,
    )
    .await
    {
        Ok(new) => (
            StatusCode::OK,
            Json(Receipt {
                received: true,
                duplicate: !new,
            }),
        )
            .into_response(),
        Err(error) => {
            // Not acknowledged: Stripe will deliver it again.
            tracing::error!(%error, event = %event.id.as_str(), "could not store webhook event");
            refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "the event could not be stored; deliver it again",
            )
        }
    }
}

/// Stores a verified Stripe event once; returns whether it was new.
pub async fn store_event(
    state: &AppState,
    provider_event_id: &str,
    event_type: &str,
    livemode: bool,
    created_unix: i64,
    payload: &serde_json::Value,
) -> Result<bool, sqlx::Error> {
    let mut conn = state.pool.acquire().await?;
    inbox::store_event(
        &mut conn,
        &IncomingEvent {
            provider: ProviderName::Stripe,
            provider_event_id,
            event_type,
            livemode,
            created: created_unix as f64,
            payload,
        },
    )
    .await
}
