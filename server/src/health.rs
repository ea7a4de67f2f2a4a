//! Health endpoints for load balancers and orchestrators.

use crate::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use std::time::Duration;

/// The body of `GET /healthz`.
#[derive(Debug, Serialize)]
pub struct Health {
    /// `ok` or `unhealthy`.
    pub status: &'static str,
    /// `ok` or `unreachable`.
    pub database: &'static str,
}

/// `GET /healthz`: 200 when the database answers within two seconds, else 503.
pub async fn healthz(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    // language=PostgreSQL
    let probe = sqlx::query_scalar!(r#"select 1 as "one!""#).fetch_one(&state.pool);
    match tokio::time::timeout(Duration::from_secs(2), probe).await {
        Ok(Ok(_)) => (
            StatusCode::OK,
            Json(Health {
                status: "ok",
                database: "ok",
            }),
        ),
        Ok(Err(error)) => {
            tracing::warn!(%error, "health check: database error");
            unhealthy()
        }
        Err(_) => {
            tracing::warn!("health check: database timed out");
            unhealthy()
        }
    }
}

fn unhealthy() -> (StatusCode, Json<Health>) {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(Health {
            status: "unhealthy",
            database: "unreachable",
        }),
    )
}

/// `GET /livez`: the process answers; touches nothing else. Also the bare
/// baseline route of the benchmarks.
pub async fn livez() -> &'static str {
    "ok"
}
