//! `POST /admin/import`: the console's upload of a subscription-history
//! CSV, imported exactly as `server import-history` does (all or nothing),
//! and audited.

use crate::AppState;
use app::analytics::import::read_history;
use app::analytics::import_store::{ImportError, store_history};
use axum::extract::{Multipart, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tower_sessions::Session;

/// The longest message carried back to the page in its address.
const MESSAGE_LIMIT: usize = 1_500;

/// `303` back to the import page with a message for it.
fn back(key: &str, message: &str) -> Response {
    let message: String = message.chars().take(MESSAGE_LIMIT).collect();
    let target = format!("/admin/import?{key}={}", app::ui::encode_query_value(&message));
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(location) = HeaderValue::from_str(&target) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

/// The handler: a signed-in admin (not impersonating) posts the file as the
/// form field `file`.
pub async fn import_upload(State(state): State<AppState>, session: Session, mut form: Multipart) -> Response {
    let now = state.clock.now();
    if let Ok(Some(_)) = app::accounts::session::impersonation(&session, now).await {
        return (StatusCode::FORBIDDEN, "exit impersonation to use the console").into_response();
    }
    let admin = match app::admin::session::signed_in_admin(&session, &state.pool, now).await {
        Ok(Some(admin)) => admin,
        Ok(None) => return back("error", "sign in to the admin console first"),
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    let mut file = None;
    loop {
        match form.next_field().await {
            Ok(Some(field)) if field.name() == Some("file") => match field.bytes().await {
                Ok(bytes) => file = Some(bytes),
                Err(error) => return back("error", &format!("the file did not arrive whole: {error}")),
            },
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(error) => return back("error", &format!("the upload could not be read: {error}")),
        }
    }
    let Some(bytes) = file.filter(|b| !b.is_empty()) else {
        return back("error", "choose a CSV file to import");
    };
    let rows = match tokio::task::spawn_blocking(move || read_history(&bytes[..], |_| {})).await {
        Ok(Ok(rows)) => rows,
        Ok(Err(rejected)) => return back("error", &rejected.to_string()),
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    let summary = match store_history(&state.pool, &rows, now).await {
        Ok(summary) => summary,
        Err(ImportError::Rejected(rejected)) => return back("error", &rejected.to_string()),
        Err(error @ (ImportError::Database(_) | ImportError::Computation(_))) => {
            tracing::error!(%error, "an uploaded import failed");
            return back("error", "the import failed; nothing was imported");
        }
    };
    let entry = app::admin::db::AuditEntry {
        at: now,
        admin_id: admin.admin_id,
        admin_email: &admin.email,
        action: "history.import",
        organization_id: None,
        reason: None,
        before: None,
        after: Some(serde_json::json!({
            "rows": summary.rows,
            "revisions_added": summary.revisions_added,
            "subscriptions_created": summary.subscriptions_created,
            "organizations_created": summary.organizations_created,
        })),
        client_ip: "",
    };
    if let Err(error) = app::admin::db::audit(&state.pool, &entry).await {
        tracing::error!(%error, "an import was stored but not audited");
    }
    back(
        "done",
        &format!(
            "Imported {} rows: {} new revisions, {} subscriptions and {} organisations created.",
            summary.rows,
            summary.revisions_added,
            summary.subscriptions_created,
            summary.organizations_created
        ),
    )
}
