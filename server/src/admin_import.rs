//! `POST /admin/import`: the console's upload of a subscription-history
//! CSV, imported exactly as `server import-history` does (all or nothing),
//! and audited.

use crate::AppState;
use app::admin::audited::{AuditEntry, audit};
use app::admin::import_outcome::{IMPORT_OUTCOME_KEY, ImportOutcome};
use app::analytics::import::read_history;
use app::analytics::import_store::{ImportError, ImportSummary, make_live, store_history_in};
use app::security::client::client_address;
use axum::extract::{ConnectInfo, Multipart, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;
use tower_sessions::Session;

/// The longest refusal kept for the page.
const MESSAGE_LIMIT: usize = 1_500;

/// `303` back to the import page, with what happened kept in the admin's
/// session for the page to show once: the page's address carries no text,
/// so no link can put words in the console's mouth.
async fn back_with(session: &Session, outcome: ImportOutcome) -> Response {
    if let Err(error) = session.insert(IMPORT_OUTCOME_KEY, outcome).await {
        tracing::error!(%error, "the import's outcome could not be kept for its page");
    }
    let mut response = StatusCode::SEE_OTHER.into_response();
    response
        .headers_mut()
        .insert(header::LOCATION, HeaderValue::from_static("/admin/import"));
    response
}

async fn back(session: &Session, refusal: &str) -> Response {
    back_with(
        session,
        ImportOutcome::Refused(refusal.chars().take(MESSAGE_LIMIT).collect()),
    )
    .await
}

/// The handler: a signed-in admin (not impersonating) posts the file as the
/// form field `file`; with `migrate_live` set, the imported subscriptions
/// also become live (the operator's explicit migration: each organisation
/// changed is audited and announced to the host product). The import, its
/// audit entry and any migration commit together or not at all.
pub async fn import_upload(
    State(state): State<AppState>,
    session: Session,
    extensions: axum::http::Extensions,
    headers: HeaderMap,
    mut form: Multipart,
) -> Response {
    let now = state.clock.now();
    if let Ok(Some(_)) = app::accounts::session::impersonation(&session, now).await {
        return (StatusCode::FORBIDDEN, "exit impersonation to use the console").into_response();
    }
    let admin = match app::admin::sign_in::session::signed_in_admin(&session, &state.pool, now).await {
        Ok(Some(admin)) => admin,
        Ok(None) => return (StatusCode::UNAUTHORIZED, "sign in to the admin console first").into_response(),
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    let peer = extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0.ip());
    let client_ip = client_address(&headers, peer, state.settings.trust_forwarded_for);
    let (mut file, mut migrate_live) = (None, false);
    loop {
        match form.next_field().await {
            Ok(Some(field)) if field.name() == Some("file") => match field.bytes().await {
                Ok(bytes) => file = Some(bytes),
                Err(error) => {
                    return back(&session, &format!("the file did not arrive whole: {error}")).await;
                }
            },
            Ok(Some(field)) if field.name() == Some("migrate_live") => migrate_live = true,
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(error) => return back(&session, &format!("the upload could not be read: {error}")).await,
        }
    }
    let Some(bytes) = file.filter(|b| !b.is_empty()) else {
        return back(&session, "choose a CSV file to import").await;
    };
    let rows = match tokio::task::spawn_blocking(move || read_history(&bytes[..], |_| {})).await {
        Ok(Ok(rows)) => rows,
        Ok(Err(rejected)) => return back(&session, &rejected.to_string()).await,
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    let stored = import_and_audit(&state, &rows, migrate_live, &admin, &client_ip).await;
    let (summary, made_live) = match stored {
        Ok(stored) => stored,
        Err(ImportError::Rejected(rejected)) => return back(&session, &rejected.to_string()).await,
        Err(error @ (ImportError::Database(_) | ImportError::Computation(_))) => {
            tracing::error!(%error, "an uploaded import failed");
            return back(&session, "the import failed; nothing was imported").await;
        }
    };
    back_with(
        &session,
        ImportOutcome::Imported {
            rows: summary.rows,
            revisions_added: summary.revisions_added,
            subscriptions_created: summary.subscriptions_created,
            organizations_created: summary.organizations_created,
            organizations_made_live: made_live as u64,
        },
    )
    .await
}

/// Stores the import, its audit entry and, when asked, the migration of its
/// subscriptions to live (one audit entry per organisation changed), in one
/// transaction; returns the import's summary and how many organisations
/// were made live.
async fn import_and_audit(
    state: &AppState,
    rows: &[app::analytics::import::ImportRow],
    migrate_live: bool,
    admin: &app::admin::sign_in::session::AdminScope,
    client_ip: &str,
) -> Result<(ImportSummary, usize), ImportError> {
    let now = state.clock.now();
    let mut tx = state.pool.begin().await?;
    let summary = store_history_in(&mut tx, rows, now).await?;
    let entry = |action, organization_id, after| AuditEntry {
        at: now,
        admin_id: admin.admin_id,
        admin_email: &admin.email,
        action,
        organization_id,
        reason: None,
        before: None,
        after: Some(after),
        client_ip,
    };
    audit(
        &mut *tx,
        &entry(
            "history.import",
            None,
            serde_json::json!({
                "rows": summary.rows,
                "revisions_added": summary.revisions_added,
                "subscriptions_created": summary.subscriptions_created,
                "organizations_created": summary.organizations_created,
                "migrate_live": migrate_live,
            }),
        ),
    )
    .await?;
    let mut made_live = 0;
    if migrate_live {
        for organization in make_live(&mut tx, rows, now).await? {
            audit(
                &mut *tx,
                &entry(
                    "subscription.migrate_live",
                    Some(organization.organization_id),
                    serde_json::json!({
                        "external_id": organization.external_id,
                        "subscriptions": organization.subscriptions,
                    }),
                ),
            )
            .await?;
            made_live += 1;
        }
    }
    tx.commit().await?;
    Ok((summary, made_live))
}
