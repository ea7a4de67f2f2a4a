//! The console's outbound webhook endpoints: add one (its signing secret
//! shown once), disable and enable it, read every delivery and attempt, and
//! replay an event to it. Every change is audited.

// #[server] turns each function's parameters into the fields of a generated
// argument struct; parameters cannot carry doc comments, the functions do.
#![allow(missing_docs)]

use crate::error::AppError;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
use {
    super::super::audited::{Audit, AuditedAction},
    super::time,
    crate::admin::sign_in::session,
    crate::context::app_context,
    crate::outbound::endpoints::{self, EndpointError, Replay},
    serde_json::json,
    uuid::Uuid,
};

/// An endpoint in the list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointRow {
    /// Its id.
    pub id: String,
    /// Where deliveries go.
    pub url: String,
    /// What the operator called it.
    pub description: String,
    /// When it was added.
    pub created_at: String,
    /// `enabled`, `failing since …` or `disabled …`, in words.
    pub state: String,
    /// Whether it is enabled.
    pub enabled: bool,
    /// Whether its deliveries keep failing.
    pub failing: bool,
    /// Deliveries still to make.
    pub pending: i64,
    /// The latest attempt, or “never”.
    pub last_attempt_at: String,
}

/// The endpoints page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointsView {
    /// Every endpoint, newest first.
    pub endpoints: Vec<EndpointRow>,
    /// The signing secret of an endpoint just added, shown this once.
    pub fresh_secret: Option<String>,
}

/// One attempt, as the page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptRow {
    /// When.
    pub at: String,
    /// What the receiver answered, or why there was no answer.
    pub outcome: String,
    /// How long it took.
    pub duration_ms: i32,
}

/// One delivery, as the page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryRow {
    /// The event's id.
    pub event_id: String,
    /// Its type.
    pub event_type: String,
    /// `delivered …` or `pending, next attempt …`.
    pub state: String,
    /// Attempts so far.
    pub attempts: i32,
    /// The last failure.
    pub last_error: Option<String>,
    /// Every attempt, newest first.
    pub tries: Vec<AttemptRow>,
}

/// One endpoint's page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointDetail {
    /// The endpoint.
    pub endpoint: EndpointRow,
    /// Its latest 50 deliveries, newest first.
    pub deliveries: Vec<DeliveryRow>,
}

#[cfg(feature = "ssr")]
fn row(endpoint: endpoints::Endpoint) -> EndpointRow {
    let state = match (endpoint.disabled_at, endpoint.failing_since) {
        (Some(at), _) => format!("disabled {}", time(at)),
        (None, Some(since)) => format!("failing since {}", time(since)),
        (None, None) => "enabled".to_owned(),
    };
    EndpointRow {
        id: endpoint.id.to_string(),
        url: endpoint.url,
        description: endpoint.description,
        created_at: time(endpoint.created_at),
        state,
        enabled: endpoint.disabled_at.is_none(),
        failing: endpoint.failing_since.is_some(),
        pending: endpoint.pending,
        last_attempt_at: endpoint.last_attempt_at.map_or_else(|| "never".to_owned(), time),
    }
}

#[cfg(feature = "ssr")]
fn endpoint_id(raw: &str) -> Result<Uuid, AppError> {
    Uuid::parse_str(raw.trim()).map_err(|_| AppError::NotFound)
}

#[cfg(feature = "ssr")]
fn endpoint_error(error: EndpointError) -> AppError {
    match error {
        EndpointError::BadUrl(message) => AppError::field("url", message),
        EndpointError::BadDescription => AppError::field("description", error.to_string()),
        EndpointError::Database(error) => error.into(),
    }
}

/// The endpoints, and the secret of one just added (taken from the session: shown once).
#[server(prefix = "/api", endpoint = "admin_webhook_endpoints")]
pub async fn get_endpoints() -> Result<EndpointsView, AppError> {
    session::require_admin().await?;
    let context = app_context()?;
    let endpoints = endpoints::list(&context.pool).await?;
    let fresh_secret =
        session::take_fresh_endpoint_secret(&crate::accounts::session::current_session().await?).await?;
    Ok(EndpointsView {
        endpoints: endpoints.into_iter().map(row).collect(),
        fresh_secret,
    })
}

/// Adds an endpoint; its signing secret is shown once.
#[server(prefix = "/api", endpoint = "admin_add_webhook_endpoint")]
pub async fn add_endpoint(url: String, description: String) -> Result<(), AppError> {
    let mut action = AuditedAction::begin().await?;
    let private_hosts = crate::outbound::address::private_hosts()?;
    let clock = &action.context.clock;
    let (id, secret) = endpoints::add(
        &mut **action.tx.get().await?,
        &url,
        &description,
        clock,
        &private_hosts,
    )
    .await
    .map_err(endpoint_error)?;
    let audit = Audit::of("webhook_endpoint.add")
        .after(json!({ "endpoint_id": id, "url": url.trim(), "description": description.trim() }));
    action.commit(audit, "/admin/webhooks").await?;
    session::keep_fresh_endpoint_secret(&crate::accounts::session::current_session().await?, secret).await?;
    Ok(())
}

/// Disables (`enabled` = `false`) or enables an endpoint.
#[server(prefix = "/api", endpoint = "admin_set_webhook_endpoint")]
pub async fn set_endpoint(id: String, enabled: String, confirm: Option<String>) -> Result<(), AppError> {
    let mut action = AuditedAction::begin().await?;
    let id = endpoint_id(&id)?;
    let enabled = crate::input::parse_flag(&enabled)
        .ok_or_else(|| AppError::field("enabled", "enable or disable the endpoint"))?;
    // Disabling holds every event back; enabling only resumes.
    if !enabled {
        crate::ui::danger::confirmed(confirm.as_deref())?;
    }
    let before = endpoints::set_enabled(action.tx.get().await?, id, enabled, action.now)
        .await?
        .ok_or(AppError::NotFound)?;
    let word = if enabled { "enabled" } else { "disabled" };
    if before == enabled {
        return Err(AppError::Conflict(format!("the endpoint is already {word}")));
    }
    let audit = Audit::of(if enabled {
        "webhook_endpoint.enable"
    } else {
        "webhook_endpoint.disable"
    })
    .before(json!({ "endpoint_id": id, "enabled": before }))
    .after(json!({ "endpoint_id": id, "enabled": enabled }));
    action.commit(audit, &format!("/admin/webhooks/{id}")).await
}

/// One endpoint with its latest deliveries and their attempts.
#[server(prefix = "/api", endpoint = "admin_webhook_endpoint", input = server_fn::codec::GetUrl)]
pub async fn get_endpoint(id: String) -> Result<EndpointDetail, AppError> {
    session::require_admin().await?;
    let context = app_context()?;
    let id = endpoint_id(&id)?;
    let endpoint = endpoints::find(&context.pool, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let deliveries = endpoints::deliveries(&context.pool, id, 50).await?;
    Ok(EndpointDetail {
        endpoint: row(endpoint),
        deliveries: deliveries.into_iter().map(delivery_row).collect(),
    })
}

/// A delivery as the endpoint's page lists it, with its attempts.
#[cfg(feature = "ssr")]
fn delivery_row(d: endpoints::Delivery) -> DeliveryRow {
    DeliveryRow {
        state: match d.delivered_at {
            Some(at) if d.state == crate::outbound::DeliveryState::Delivered.as_str() => {
                format!("delivered {}", time(at))
            }
            _ => format!("pending, next attempt {}", time(d.next_attempt_at)),
        },
        event_id: d.event_id,
        event_type: d.event_type,
        attempts: d.attempts,
        last_error: d.last_error,
        tries: d
            .tries
            .into_iter()
            .map(|a| AttemptRow {
                at: time(a.at),
                outcome: match (a.status_code, a.error) {
                    (Some(code), None) => format!("HTTP {code}"),
                    (Some(code), Some(error)) => format!("HTTP {code}: {error}"),
                    (None, Some(error)) => error,
                    (None, None) => "no answer".to_owned(),
                },
                duration_ms: a.duration_ms,
            })
            .collect(),
    }
}

/// Sends an event to the endpoint again, now, under its same id.
#[server(prefix = "/api", endpoint = "admin_replay_webhook_event")]
pub async fn replay_event(id: String, event_id: String) -> Result<(), AppError> {
    let mut action = AuditedAction::begin().await?;
    let id = endpoint_id(&id)?;
    let event_id = event_id.trim();
    if event_id.is_empty() || event_id.len() > 200 {
        return Err(AppError::field("event_id", "give the id of an event"));
    }
    match endpoints::replay(action.tx.get().await?, id, event_id, action.now).await? {
        Replay::Queued => {}
        Replay::NoEndpoint => return Err(AppError::NotFound),
        Replay::NoEvent => return Err(AppError::field("event_id", "no event has that id")),
    }
    let audit = Audit::of("webhook_event.replay").after(json!({ "endpoint_id": id, "event_id": event_id }));
    action
        .commit(audit, &format!("/admin/webhooks/{id}?replayed=1"))
        .await
}
