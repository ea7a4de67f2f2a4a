//! The analytics page's downloads: each table as CSV and every figure as
//! the export's JSON, for signed-in platform admins only.

use crate::AppState;
use app::analytics::tables;
use app::error::AppError;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use tower_sessions::Session;

/// `GET /admin/analytics/{file}` for `months.csv`, `cohorts.csv`,
/// `splits.csv`, `forecast.csv` and `export.json`, over `?first=&last=`.
pub async fn analytics_download(
    State(state): State<AppState>,
    session: Session,
    Path(file): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let now = state.clock.now();
    if let Ok(Some(_)) = app::accounts::session::impersonation(&session, now).await {
        return (StatusCode::FORBIDDEN, "exit impersonation to use the console").into_response();
    }
    let admin = match app::admin::sign_in::session::signed_in_admin(&session, &state.pool, now).await {
        Ok(Some(admin)) => admin,
        Ok(None) => return (StatusCode::UNAUTHORIZED, "sign in to the admin console").into_response(),
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    let reads =
        app::admin::analytics::reads::analytics_reads(&state.pool, state.replica.as_ref(), admin.admin_id)
            .await;
    let (window, report) = match app::admin::analytics::reads::report_from(
        &reads,
        &state.pool,
        query.get("first").cloned(),
        query.get("last").cloned(),
        now,
    )
    .await
    {
        Ok(found) => found,
        Err(AppError::Internal) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        Err(error) => return (StatusCode::UNPROCESSABLE_ENTITY, error.to_string()).into_response(),
    };
    let span = window.map_or_else(|| "empty".to_owned(), |w| format!("{}-to-{}", w.first, w.last));
    let (body, content_type, name) = match file.as_str() {
        "export.json" => match serde_json::to_string_pretty(&report) {
            Ok(json) => (
                json,
                "application/json",
                format!("gatehouse-analytics-{span}.json"),
            ),
            Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        },
        csv_file => {
            let table = match csv_file {
                "months.csv" => tables::months(&report),
                "cohorts.csv" => tables::cohorts(&report),
                "splits.csv" => tables::splits(&report),
                "forecast.csv" => tables::forecast(&report),
                _ => return (StatusCode::NOT_FOUND, "no such download").into_response(),
            };
            match tables::to_csv(&table) {
                Ok(csv) => {
                    let stem = csv_file.trim_end_matches(".csv");
                    (
                        csv,
                        "text/csv; charset=utf-8",
                        format!("gatehouse-{stem}-{span}.csv"),
                    )
                }
                Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
            }
        }
    };
    (
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
            (header::CACHE_CONTROL, "private, no-store".to_owned()),
        ],
        body,
    )
        .into_response()
}
