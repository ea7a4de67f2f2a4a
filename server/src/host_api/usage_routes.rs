//! `/api/v1`'s usage routes: the host product reports what it counted (a
//! batch, all applied or none) and reads usage with its history.

use super::*;
use app::flows::usage_reports;

/// `POST /organizations/{id}/usage` with `{"reports": [...]}`.
#[utoipa::path(
    post,
    path = "/organizations/{id}/usage",
    tag = "organizations",
    summary = "Report usage (a batch: all applied, or none)",
    params(("id" = String, Path, description = "Gatehouse's organisation id, or `ext:` and the host product's id")),
    request_body = crate::api_doc::UsageBatch,
    responses(
        (status = 200, description = "Applied", body = crate::api_doc::UsageApplied),
        (status = 400, description = "Not the JSON this route takes (`invalid_json`)", body = crate::api_doc::ErrorEnvelope),
        (status = 403, description = "A read-only key (`read_only_key`)", body = crate::api_doc::ErrorEnvelope),
        (status = 404, description = "No organisation has that id (`organization_not_found`)", body = crate::api_doc::ErrorEnvelope),
        (status = 409, description = "A report id used before with other content (`idempotency_conflict`)", body = crate::api_doc::ErrorEnvelope),
        (status = 422, description = "A report breaks a rule (`invalid_field`, naming it)", body = crate::api_doc::ErrorEnvelope),
        (status = 401, description = "No API key, or not a valid one (`missing_api_key`, `invalid_api_key`)", body = crate::api_doc::ErrorEnvelope),
        (status = 429, description = "Over the key's request budget (`rate_limited`, with `Retry-After`)", body = crate::api_doc::ErrorEnvelope),
    ),
    security(("api_key" = []))
)]
pub(super) async fn post_usage(
    State(state): State<AppState>,
    target: Addressed,
    body: Bytes,
) -> Result<Response, ApiError> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Batch {
        reports: Vec<RawReport>,
    }
    let batch: Batch = read_json(&body)?;
    let catalog = catalog(&state).await?;
    let reports =
        usage::parse_batch(&catalog, batch.reports).map_err(|p| ApiError::invalid(p.field, p.message))?;
    let now = state.clock.now();
    let mut tx = state.pool.begin().await?;
    let before = standing(&mut *tx, &catalog, &target.address, now)
        .await?
        .ok_or_else(ApiError::no_organization)?;
    let outcome = usage_reports::report(&mut tx, &catalog, &state.notices(), &before, &reports, now).await?;
    let (applied, duplicates, values) = applied_or_refused(outcome)?;
    tx.commit().await?;
    // This process answers its own change at once, before the notice arrives.
    state.caches.standings.invalidate(before.header.id);
    let usage: serde_json::Map<String, Value> = usage_reports::allowances_after(&before, &values)
        .into_iter()
        .map(|(metric, a)| {
            (
                metric,
                json!({"used": a.used, "limit": a.limit, "remaining": a.remaining}),
            )
        })
        .collect();
    Ok(Json(json!({"applied": applied, "duplicates": duplicates, "usage": usage})).into_response())
}

/// Reports applied now, reports applied before, each metric's value after.
type AppliedBatch = (usize, usize, Vec<(String, u64)>);

/// An applied batch's counts and values, or why it was refused, naming the
/// report (nothing of a refused batch was applied).
fn applied_or_refused(outcome: BatchOutcome) -> Result<AppliedBatch, ApiError> {
    Err(match outcome {
        BatchOutcome::Applied {
            applied,
            duplicates,
            values,
        } => return Ok((applied, duplicates, values)),
        BatchOutcome::Conflict { index } => ApiError {
            field: Some(format!("reports[{index}].id")),
            ..ApiError::new(
                StatusCode::CONFLICT,
                "idempotency_conflict",
                "this report id was used before with different content; nothing in this batch was applied",
            )
        },
        BatchOutcome::BelowZero { index } => ApiError::invalid(
            format!("reports[{index}].increment"),
            "would take the usage below zero; nothing in this batch was applied",
        ),
        BatchOutcome::TooLarge { index } => ApiError::invalid(
            format!("reports[{index}].increment"),
            format!(
                "would take the usage past {}; nothing in this batch was applied",
                usage::MAX_USAGE_VALUE
            ),
        ),
    })
}

/// `GET /organizations/{id}/usage?days=N`: current values and the
/// snapshot history of the last N days (30 by default, at most 366).
#[utoipa::path(
    get,
    path = "/organizations/{id}/usage",
    tag = "organizations",
    summary = "Usage now and its history",
    params(("id" = String, Path, description = "Gatehouse's organisation id, or `ext:` and the host product's id"),
        ("days" = Option<i64>, Query, description = "History of the last 1 to 366 days (30 by default)")),
    responses(
        (status = 200, description = "Usage and history", body = crate::api_doc::Usage),
        (status = 404, description = "No organisation has that id (`organization_not_found`)", body = crate::api_doc::ErrorEnvelope),
        (status = 422, description = "A bad `days` (`invalid_field`)", body = crate::api_doc::ErrorEnvelope),
        (status = 401, description = "No API key, or not a valid one (`missing_api_key`, `invalid_api_key`)", body = crate::api_doc::ErrorEnvelope),
        (status = 429, description = "Over the key's request budget (`rate_limited`, with `Retry-After`)", body = crate::api_doc::ErrorEnvelope),
    ),
    security(("api_key" = []))
)]
pub(super) async fn get_usage(
    State(state): State<AppState>,
    organization: Organization,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let days = query_number(
        &query,
        "days",
        1..=366,
        30,
        "must be a whole number from 1 to 366",
    )?;
    let (standing, catalog) = (&organization.cached.standing, &*organization.catalog);
    let now = state.clock.now();
    let mut conn = state.pool.acquire().await?;
    let history = usage::snapshot_history(&mut conn, standing.header.id, now - TimeDelta::days(days)).await?;
    let metrics: serde_json::Map<String, Value> = standing
        .allowances(catalog)
        .map(|(metric, allowance)| {
            let points: Vec<Value> = history
                .iter()
                .filter(|(m, _, _)| m == metric)
                .map(|(_, at, value)| json!({"at": rfc3339(*at), "value": value}))
                .collect();
            (
                metric.to_owned(),
                json!({"used": allowance.used, "limit": allowance.limit, "remaining": allowance.remaining, "history": points}),
            )
        })
        .collect();
    Ok(Json(json!({"organization": organization_json(standing), "metrics": metrics})).into_response())
}
