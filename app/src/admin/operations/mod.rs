//! The console's operations section. Here: provider events that failed or
//! matched nothing (with the reason, the raw payload and a retry), the email
//! outbox's dead letters (with a resend), system health and the host
//! product's API keys; beside it the job runner ([`work`]) and outbound
//! webhooks ([`webhooks`]), and the section's pages ([`pages`],
//! [`webhooks_pages`]).

// #[server] turns each function's parameters into the fields of a generated
// argument struct; parameters cannot carry doc comments, the functions do.
#![allow(missing_docs)]

pub mod pages;
pub mod webhooks;
pub mod webhooks_pages;
pub mod work;

use crate::error::AppError;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
use {
    super::audited::{Audit, AuditedAction},
    super::sign_in::session,
    crate::billing::domain::ProviderEventStatus,
    crate::context::app_context,
    crate::email::EmailStatus,
    chrono::{DateTime, Utc},
    serde_json::json,
    uuid::Uuid,
};

/// A provider event in the list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRow {
    /// Gatehouse's id for it.
    pub id: String,
    /// `stripe` or `sandbox`.
    pub provider: String,
    /// The provider's event id.
    pub provider_event_id: String,
    /// Its type.
    pub event_type: String,
    /// `failed`, `unmatched`, `rejected`, `pending`, `processed`.
    pub status: String,
    /// Attempts so far.
    pub attempts: i32,
    /// Why it failed, or what it matched nothing of.
    pub reason: Option<String>,
    /// When it arrived.
    pub received_at: String,
}

/// One provider event with its payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventDetail {
    /// The event.
    pub event: EventRow,
    /// The payload as stored (pretty JSON), or the raw body as received.
    pub payload: String,
    /// Whether it can be retried (failed or unmatched).
    pub retryable: bool,
}

/// A queued, sent or dead email.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailRow {
    /// Its id.
    pub id: String,
    /// To whom.
    pub to: String,
    /// Which template.
    pub template: String,
    /// Its subject.
    pub subject: String,
    /// `queued`, `sent`, `dead`.
    pub status: String,
    /// Attempts so far.
    pub attempts: i32,
    /// The last delivery error.
    pub last_error: Option<String>,
    /// When it was written.
    pub created_at: String,
}

/// One line of the health page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthLine {
    /// What.
    pub label: String,
    /// Its state, in words.
    pub value: String,
    /// Whether it needs attention.
    pub attention: bool,
}

/// A time as the operations pages show it, to the second.
#[cfg(feature = "ssr")]
pub(super) fn time(at: DateTime<Utc>) -> String {
    crate::format::second(at)
}

/// Provider events in one status (failed by default), newest first, 100 at most.
#[server(prefix = "/api", endpoint = "admin_events", input = server_fn::codec::GetUrl)]
pub async fn list_events(status: Option<String>) -> Result<Vec<EventRow>, AppError> {
    session::require_admin().await?;
    let context = app_context()?;
    let status = match status.as_deref().filter(|s| !s.is_empty()) {
        None => ProviderEventStatus::Failed,
        Some(word) => ProviderEventStatus::parse(word)
            .ok_or_else(|| AppError::field("status", "that is not an event status"))?,
    };
    let events = crate::billing::inbox_reads::list(&context.pool, status, 100).await?;
    Ok(events.into_iter().map(event_row).collect())
}

/// A stored event as the console's pages show it.
#[cfg(feature = "ssr")]
fn event_row(event: crate::billing::inbox_reads::StoredEvent) -> EventRow {
    EventRow {
        id: event.webhook_event_id.to_string(),
        provider: event.provider,
        provider_event_id: event.provider_event_id,
        event_type: event.event_type,
        status: event.status,
        attempts: event.attempts,
        reason: event.last_error,
        received_at: time(event.received_at),
    }
}

/// One provider event with its raw payload.
#[server(prefix = "/api", endpoint = "admin_event", input = server_fn::codec::GetUrl)]
pub async fn get_event(id: String) -> Result<EventDetail, AppError> {
    session::require_admin().await?;
    let context = app_context()?;
    let id = Uuid::parse_str(id.trim()).map_err(|_| AppError::NotFound)?;
    let (event, payload) = crate::billing::inbox_reads::with_payload(&context.pool, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let retryable = [ProviderEventStatus::Failed, ProviderEventStatus::Unmatched]
        .iter()
        .any(|status| status.as_str() == event.status);
    Ok(EventDetail {
        retryable,
        payload,
        event: event_row(event),
    })
}

/// Puts a failed or unmatched event back in the queue, due now.
#[server(prefix = "/api", endpoint = "admin_retry_event")]
pub async fn retry_event(id: String) -> Result<(), AppError> {
    let mut action = AuditedAction::begin().await?;
    let id = Uuid::parse_str(id.trim()).map_err(|_| AppError::NotFound)?;
    let before = crate::billing::inbox_reads::requeue(action.tx.get().await?, id, action.now)
        .await?
        .ok_or_else(|| AppError::Conflict("only a failed or unmatched event can be retried".to_owned()))?;
    crate::billing::inbox::queue_apply(action.tx.get().await?, id, action.now).await?;
    let audit = Audit::of("provider_event.retry")
        .before(json!({ "event": id.to_string(), "status": before }))
        .after(json!({ "status": ProviderEventStatus::Pending.as_str() }));
    action
        .commit(audit, &format!("/admin/events/{id}?retried=1"))
        .await
}

/// One template rendered with sample data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailPreview {
    /// The template's name.
    pub template: String,
    /// Its subject line.
    pub subject: String,
    /// The HTML part.
    pub html: String,
    /// The plain-text part.
    pub text: String,
}

/// Every email template, rendered with sample data in the site's brand.
#[server(prefix = "/api", endpoint = "admin_email_previews", input = server_fn::codec::GetUrl)]
pub async fn email_previews() -> Result<Vec<EmailPreview>, AppError> {
    session::require_admin().await?;
    let context = app_context()?;
    Ok(
        crate::email::templates::samples(&crate::email::templates::brand()?, &context.public_url)
            .into_iter()
            .map(|message| EmailPreview {
                template: message.template.to_owned(),
                subject: message.subject,
                html: message.html,
                text: message.text,
            })
            .collect(),
    )
}

/// Emails in one status (dead by default), newest first, 100 at most.
#[server(prefix = "/api", endpoint = "admin_emails", input = server_fn::codec::GetUrl)]
pub async fn list_emails(status: Option<String>) -> Result<Vec<EmailRow>, AppError> {
    session::require_admin().await?;
    let context = app_context()?;
    let status = match status.as_deref().filter(|s| !s.is_empty()) {
        None => EmailStatus::Dead,
        Some(word) => EmailStatus::parse(word)
            .ok_or_else(|| AppError::field("status", "that is not an email status"))?,
    };
    let emails = crate::email::outbox_reads::list(&context.pool, status, 100).await?;
    Ok(emails.into_iter().map(email_row).collect())
}

#[cfg(feature = "ssr")]
fn email_row(e: crate::email::outbox_reads::StoredEmail) -> EmailRow {
    EmailRow {
        id: e.email_outbox_id.to_string(),
        to: e.to_address,
        template: e.template,
        subject: e.subject,
        status: e.status,
        attempts: e.attempts,
        last_error: e.last_error,
        created_at: time(e.created_at),
    }
}

/// Sends an email again, with a reason: a dead one is queued again (its
/// attempts reset), a sent one is copied into a new queued email. From an
/// organisation's page (`organization_id`), the audit entry names it and the
/// admin goes back there.
#[server(prefix = "/api", endpoint = "admin_resend_email")]
pub async fn resend_email(
    id: String,
    reason: String,
    organization_id: Option<String>,
) -> Result<(), AppError> {
    let mut action = AuditedAction::begin().await?;
    let id = Uuid::parse_str(id.trim()).map_err(|_| AppError::NotFound)?;
    let reason = crate::admin::audited::checked_reason(&reason)?;
    let organization_id = match organization_id
        .as_deref()
        .map(str::trim)
        .filter(|o| !o.is_empty())
    {
        Some(raw) => Some(Uuid::parse_str(raw).map_err(|_| AppError::NotFound)?),
        None => None,
    };
    use crate::email::outbox_reads::{ResendError, resend};
    let resent = match resend(action.tx.get().await?, id, action.now).await {
        Ok(resent) => resent,
        Err(ResendError::NotFound) => return Err(AppError::NotFound),
        Err(error @ ResendError::StillQueued) => return Err(AppError::Conflict(error.to_string())),
        Err(ResendError::Database(error)) => return Err(error.into()),
    };
    crate::email::outbox::queue_delivery(action.tx.get().await?, resent.sent_as, action.now).await?;
    let mut audit = Audit::of("email.resend")
        .because(reason)
        .before(json!({ "email": id.to_string(), "to": resent.to_address, "status": resent.status_before }))
        .after(json!({ "email": resent.sent_as.to_string(), "status": EmailStatus::Queued.as_str() }));
    let back = match organization_id {
        Some(org) => {
            audit = audit.on(org);
            format!("/admin/organizations/{org}?done=email")
        }
        None => "/admin/emails?resent=1".to_owned(),
    };
    action.commit(audit, &back).await
}

/// The database, the queues and the process, each with whether it needs attention.
#[server(prefix = "/api", endpoint = "admin_health", input = server_fn::codec::GetUrl)]
pub async fn get_health() -> Result<Vec<HealthLine>, AppError> {
    session::require_admin().await?;
    let context = app_context()?;
    let pool = &context.pool;
    let readings = HealthReadings {
        database_version: database_version(pool).await?,
        events: crate::billing::inbox::depths(pool).await?,
        emails: crate::email::outbox::depths(pool).await?,
        outbound: crate::outbound::deliveries::backlog(pool).await?,
        started_at: context.started_at,
    };
    Ok(health_lines(&readings, context.clock.now()))
}

/// What the health page reads.
#[cfg(feature = "ssr")]
struct HealthReadings {
    database_version: String,
    events: crate::billing::inbox::Depths,
    emails: crate::email::outbox::Depths,
    outbound: crate::outbound::deliveries::Backlog,
    started_at: DateTime<Utc>,
}

/// The health page's lines, each with whether it needs attention.
#[cfg(feature = "ssr")]
fn health_lines(r: &HealthReadings, now: DateTime<Utc>) -> Vec<HealthLine> {
    let waiting = |oldest: Option<DateTime<Utc>>| match oldest {
        Some(at) if at < now => format!(", the oldest due {} min ago", (now - at).num_minutes()),
        _ => String::new(),
    };
    let line = |label: &str, value: String, attention: bool| HealthLine {
        label: label.to_owned(),
        value,
        attention,
    };
    let (events, emails, outbound) = (&r.events, &r.emails, &r.outbound);
    let uptime = now - r.started_at;
    vec![
        line(
            "Database",
            format!("PostgreSQL {}, answering", r.database_version),
            false,
        ),
        line(
            "Provider events",
            format!(
                "{} waiting{}; {} failed, unmatched or rejected",
                events.pending,
                waiting(events.oldest_due),
                events.stuck()
            ),
            events.stuck() > 0,
        ),
        line(
            "Email outbox",
            format!(
                "{} queued{}; {} dead",
                emails.queued,
                waiting(emails.oldest_due),
                emails.dead
            ),
            emails.dead > 0,
        ),
        line(
            "Outbound webhooks",
            format!(
                "{} deliveries waiting; {} endpoints failing",
                outbound.pending, outbound.endpoints_failing
            ),
            outbound.endpoints_failing > 0,
        ),
        line(
            "Gatehouse",
            format!(
                "version {}, up {} h {} min",
                env!("CARGO_PKG_VERSION"),
                uptime.num_hours(),
                uptime.num_minutes() % 60
            ),
            false,
        ),
    ]
}

/// An API key as the console lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKeyRow {
    /// Its name.
    pub name: String,
    /// Its visible prefix.
    pub prefix: String,
    /// `read` or `write`.
    pub scope: String,
    /// When it was made.
    pub created_at: String,
    /// When it was last used.
    pub last_used_at: Option<String>,
    /// When it was revoked.
    pub revoked_at: Option<String>,
}

/// The API keys page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKeysView {
    /// Every key, newest first.
    pub keys: Vec<ApiKeyRow>,
    /// A key just made, shown this once.
    pub fresh_key: Option<String>,
}

/// The keys, and a key just made (taken from the session: shown once).
#[server(prefix = "/api", endpoint = "admin_api_keys")]
pub async fn get_api_keys() -> Result<ApiKeysView, AppError> {
    session::require_admin().await?;
    let context = app_context()?;
    let keys = crate::api_keys::list(&context.pool).await?;
    let fresh_key = session::take_fresh_api_key(&crate::accounts::session::current_session().await?).await?;
    Ok(ApiKeysView {
        keys: keys
            .into_iter()
            .map(|k| ApiKeyRow {
                name: k.name,
                prefix: k.prefix,
                scope: k.scope,
                created_at: time(k.created_at),
                last_used_at: k.last_used_at.map(time),
                revoked_at: k.revoked_at.map(time),
            })
            .collect(),
        fresh_key,
    })
}

/// Makes an API key for the host product; it is shown once.
#[server(prefix = "/api", endpoint = "admin_create_api_key")]
pub async fn create_api_key(name: String, scope: String) -> Result<(), AppError> {
    let mut action = AuditedAction::begin().await?;
    let scope = crate::api_keys::Scope::parse(scope.trim())
        .ok_or_else(|| AppError::field("scope", "a key reads, or reads and writes"))?;
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(AppError::field("name", "name the key in 1–100 characters"));
    }
    let made = crate::api_keys::create(&mut **action.tx.get().await?, name, scope, &action.context.clock)
        .await
        .map_err(|error| {
            tracing::error!(%error, "could not make an API key");
            AppError::Internal
        })?;
    let audit = Audit::of("api_key.create")
        .after(json!({ "name": name, "prefix": made.prefix, "scope": scope.as_str() }));
    action.commit(audit, "/admin/api-keys").await?;
    session::keep_fresh_api_key(&crate::accounts::session::current_session().await?, made.key).await?;
    Ok(())
}

/// Revokes a live API key by its prefix.
#[server(prefix = "/api", endpoint = "admin_revoke_api_key")]
pub async fn revoke_api_key(prefix: String, confirm: Option<String>) -> Result<(), AppError> {
    let mut action = AuditedAction::begin().await?;
    crate::ui::danger::confirmed(confirm.as_deref())?;
    let prefix = prefix.trim();
    let revoked = crate::api_keys::revoke(&mut **action.tx.get().await?, prefix, &action.context.clock)
        .await
        .map_err(|error| {
            tracing::error!(%error, "could not revoke an API key");
            AppError::Internal
        })?;
    if !revoked {
        return Err(AppError::Conflict("no live key has that prefix".to_owned()));
    }
    let audit = Audit::of("api_key.revoke").before(json!({ "prefix": prefix }));
    action.commit(audit, "/admin/api-keys?revoked=1").await
}

#[cfg(feature = "ssr")]
/// The database server's version, as the health page shows it.
pub async fn database_version(pool: &sqlx::PgPool) -> Result<String, sqlx::Error> {
    // language=PostgreSQL
    sqlx::query_scalar!(r#"select current_setting('server_version') as "version!""#)
        .fetch_one(pool)
        .await
}
