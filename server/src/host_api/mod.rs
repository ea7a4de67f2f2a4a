//! `/api/v1`: the host product's API. The SaaS company's backend asks what
//! each organisation may do, reports the usage it sees, and sets its own id
//! on an organisation. Server-side keys only (no cookies, so no CSRF check);
//! every route authenticates, throttles per key (state in Postgres) and
//! reads entitlements through the one guard.

pub mod error;
pub(crate) mod extract;
pub mod keys;
mod usage_routes;

use crate::AppState;
use app::catalog::domain::Limit;
use app::entitlements::cache::Rendered;
use app::entitlements::db::OrganizationAddress;
use app::entitlements::guard::{Standing, explain, standing};
use app::entitlements::usage::{self, BatchOutcome, RawReport};
use app::outbound::events::entitlements_json;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use error::ApiError;
use extract::{Addressed, Organization, Reader, catalog};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::ops::RangeInclusive;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

/// The routes, to be nested under `/api/v1`, with their OpenAPI paths.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_organizations))
        .routes(routes!(get_organization, patch_organization))
        .routes(routes!(get_entitlements))
        .routes(routes!(check_entitlement))
        .routes(routes!(usage_routes::get_usage, usage_routes::post_usage))
}

/// What `/api/v1` answers for a route it does not have.
pub async fn no_such_route() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "route_not_found", "no such API route")
}

/// A time as the API writes it: RFC 3339, to the second, in UTC.
pub(crate) fn rfc3339(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A whole-number query parameter within `range`, `default` when absent.
fn query_number<T>(
    query: &HashMap<String, String>,
    name: &'static str,
    range: RangeInclusive<T>,
    default: T,
    rule: &'static str,
) -> Result<T, ApiError>
where
    T: std::str::FromStr + PartialOrd,
{
    match query.get(name) {
        None => Ok(default),
        Some(raw) => match raw.parse::<T>() {
            Ok(n) if range.contains(&n) => Ok(n),
            _ => Err(ApiError::invalid(name, rule)),
        },
    }
}

/// A request body as `T`, or the envelope's `invalid_json` without the
/// body's values (every `/api/v1` route that takes JSON reads through it).
pub(crate) fn read_json<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|error| {
        // serde's own message may quote the value sent; this never does.
        use serde_json::error::Category;
        let what = match error.classify() {
            Category::Syntax | Category::Eof | Category::Io => "it is not valid JSON",
            Category::Data => "a field is missing, unknown or of the wrong type",
        };
        ApiError::bad_json(format!(
            "the body is not the JSON this route takes: {what} (line {}, column {})",
            error.line(),
            error.column()
        ))
    })
}

const MAX_PAGE: i64 = 100;

/// `GET /organizations`: newest first, paged by `starting_after` (the last
/// id of the previous page), `limit` 1–100 (20 by default).
#[utoipa::path(
    get,
    path = "/organizations",
    tag = "organizations",
    summary = "List organisations, newest first",
    params(
        ("limit" = Option<i64>, Query, description = "1 to 100 (20 by default)"),
        ("starting_after" = Option<String>, Query, description = "The last id of the previous page"),
        ("external_id" = Option<String>, Query, description = "Only the organisation with this external id")
    ),
    responses(
        (status = 200, description = "A page of organisations", body = crate::api_doc::OrganizationList),
        (status = 422, description = "A bad `limit` or `starting_after` (`invalid_field`)", body = crate::api_doc::ErrorEnvelope),
        (status = 401, description = "No API key, or not a valid one (`missing_api_key`, `invalid_api_key`)", body = crate::api_doc::ErrorEnvelope),
        (status = 429, description = "Over the key's request budget (`rate_limited`, with `Retry-After`)", body = crate::api_doc::ErrorEnvelope),
    ),
    security(("api_key" = []))
)]
async fn list_organizations(
    State(state): State<AppState>,
    _: Reader,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let limit = query_number(
        &query,
        "limit",
        1..=MAX_PAGE,
        20,
        "must be a whole number from 1 to 100",
    )?;
    let after = match query.get("starting_after") {
        None => None,
        Some(raw) => Some(
            Uuid::parse_str(raw)
                .map_err(|_| ApiError::invalid("starting_after", "must be an organisation id"))?,
        ),
    };
    let external_id = query.get("external_id").map(String::as_str);
    let rows = app::entitlements::organizations::list(&state.pool, external_id, after, limit + 1).await?;
    let has_more = rows.len() as i64 > limit;
    let data: Vec<Value> = rows
        .into_iter()
        .take(limit as usize)
        .map(|r| {
            json!({
                "id": r.organization_id,
                "name": r.name,
                "external_id": r.external_id,
                "tier": r.tier,
                "status": r.status,
                "created_at": rfc3339(r.created_at),
            })
        })
        .collect();
    Ok(Json(json!({"data": data, "has_more": has_more})).into_response())
}

fn organization_json(standing: &Standing) -> Value {
    json!({
        "id": standing.header.id,
        "name": standing.header.name,
        "external_id": standing.header.external_id,
        "tier": standing.entitlements.tier,
        "status": standing.entitlements.status.map(|s| s.as_str()),
    })
}

/// `GET /organizations/{id}`.
#[utoipa::path(
    get,
    path = "/organizations/{id}",
    tag = "organizations",
    summary = "One organisation",
    params(("id" = String, Path, description = "Gatehouse's organisation id, or `ext:` and the host product's id")),
    responses(
        (status = 200, description = "The organisation", body = crate::api_doc::Organization),
        (status = 404, description = "No organisation has that id (`organization_not_found`)", body = crate::api_doc::ErrorEnvelope),
        (status = 401, description = "No API key, or not a valid one (`missing_api_key`, `invalid_api_key`)", body = crate::api_doc::ErrorEnvelope),
        (status = 429, description = "Over the key's request budget (`rate_limited`, with `Retry-After`)", body = crate::api_doc::ErrorEnvelope),
    ),
    security(("api_key" = []))
)]
async fn get_organization(organization: Organization) -> Json<Value> {
    Json(organization_json(&organization.cached.standing))
}

/// `PATCH /organizations/{id}` with `{"external_id": "..." | null}`.
#[utoipa::path(
    patch,
    path = "/organizations/{id}",
    tag = "organizations",
    summary = "Set or clear the host product's id for an organisation",
    params(("id" = String, Path, description = "Gatehouse's organisation id, or `ext:` and the host product's id")),
    request_body = crate::api_doc::OrganizationPatch,
    responses(
        (status = 200, description = "The organisation, changed", body = crate::api_doc::Organization),
        (status = 400, description = "Not the JSON this route takes (`invalid_json`)", body = crate::api_doc::ErrorEnvelope),
        (status = 403, description = "A read-only key (`read_only_key`)", body = crate::api_doc::ErrorEnvelope),
        (status = 404, description = "No organisation has that id (`organization_not_found`)", body = crate::api_doc::ErrorEnvelope),
        (status = 409, description = "Another organisation has that external id (`external_id_taken`)", body = crate::api_doc::ErrorEnvelope),
        (status = 422, description = "A bad `external_id` (`invalid_field`)", body = crate::api_doc::ErrorEnvelope),
        (status = 401, description = "No API key, or not a valid one (`missing_api_key`, `invalid_api_key`)", body = crate::api_doc::ErrorEnvelope),
        (status = 429, description = "Over the key's request budget (`rate_limited`, with `Retry-After`)", body = crate::api_doc::ErrorEnvelope),
    ),
    security(("api_key" = []))
)]
async fn patch_organization(
    State(state): State<AppState>,
    target: Addressed,
    body: Bytes,
) -> Result<Response, ApiError> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Patch {
        #[serde(default, with = "double_option")]
        external_id: Option<Option<String>>,
    }
    let patch: Patch = read_json(&body)?;
    let Some(external_id) = patch.external_id else {
        return Err(ApiError::invalid(
            "external_id",
            "send the external_id to set (or null to clear it)",
        ));
    };
    if let Some(value) = &external_id
        && (value.is_empty() || value.chars().count() > 200 || value.chars().any(char::is_control))
    {
        return Err(ApiError::invalid(
            "external_id",
            "must be 1 to 200 printable characters",
        ));
    }
    let catalog = catalog(&state).await?;
    let now = state.clock.now();
    let current = standing(&state.pool, &catalog, &target.address, now)
        .await?
        .ok_or_else(ApiError::no_organization)?;
    use app::entitlements::organizations::{ExternalIdError, set_external_id};
    match set_external_id(&state.pool, current.header.id, external_id.as_deref()).await {
        Ok(()) => {}
        Err(ExternalIdError::Taken) => {
            return Err(ApiError {
                field: Some("external_id".into()),
                ..ApiError::new(
                    StatusCode::CONFLICT,
                    "external_id_taken",
                    "another organisation already has that external_id",
                )
            });
        }
        Err(ExternalIdError::Database(error)) => return Err(error.into()),
    }
    // This process answers its own change at once, before the notice arrives.
    state.caches.standings.invalidate(current.header.id);
    let changed = standing(
        &state.pool,
        &catalog,
        &OrganizationAddress::Id(current.header.id),
        now,
    )
    .await?
    .ok_or_else(ApiError::no_organization)?;
    Ok(Json(organization_json(&changed)).into_response())
}

/// `GET /organizations/{id}/entitlements`.
#[utoipa::path(
    get,
    path = "/organizations/{id}/entitlements",
    tag = "organizations",
    summary = "What an organisation may do now (with an ETag)",
    params(("id" = String, Path, description = "Gatehouse's organisation id, or `ext:` and the host product's id"),
        ("If-None-Match" = Option<String>, Header, description = "The ETag of an answer you hold")),
    responses(
        (status = 200, description = "Its entitlements", body = crate::api_doc::Entitlements, headers(("ETag" = String, description = "Send it back as If-None-Match"))),
        (status = 304, description = "Unchanged since the ETag sent"),
        (status = 404, description = "No organisation has that id (`organization_not_found`)", body = crate::api_doc::ErrorEnvelope),
        (status = 401, description = "No API key, or not a valid one (`missing_api_key`, `invalid_api_key`)", body = crate::api_doc::ErrorEnvelope),
        (status = 429, description = "Over the key's request budget (`rate_limited`, with `Retry-After`)", body = crate::api_doc::ErrorEnvelope),
    ),
    security(("api_key" = []))
)]
async fn get_entitlements(headers: HeaderMap, organization: Organization) -> Result<Response, ApiError> {
    let Organization { catalog, cached, .. } = organization;
    let rendered = cached.rendered(|standing| {
        let body = Bytes::from(entitlements_json(&catalog, standing).to_string());
        let etag = format!("\"{}\"", &hex::encode(Sha256::digest(&body))[..32]);
        Rendered { body, etag }
    });
    let etag_header =
        HeaderValue::from_str(&rendered.etag).map_err(|e| ApiError::internal("making an ETag", e))?;
    let unchanged = headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|tag| tag.trim().trim_start_matches("W/"))
        .any(|tag| tag == rendered.etag || tag == "*");
    if unchanged {
        return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, etag_header)]).into_response());
    }
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("application/json")),
            (header::ETAG, etag_header),
        ],
        rendered.body.clone(),
    )
        .into_response())
}

/// `GET /organizations/{id}/entitlements/check?feature=KEY` or
/// `?metric=KEY&increment=N` (N ≥ 0, 1 by default).
#[utoipa::path(
    get,
    path = "/organizations/{id}/entitlements/check",
    tag = "organizations",
    summary = "May the organisation use a feature, or grow a metric?",
    params(("id" = String, Path, description = "Gatehouse's organisation id, or `ext:` and the host product's id"),
        ("feature" = Option<String>, Query, description = "A feature's key; or"),
        ("metric" = Option<String>, Query, description = "a metric's key,"),
        ("increment" = Option<u64>, Query, description = "and by how much (1 by default)")),
    responses(
        (status = 200, description = "The answer (allowed or not)", body = crate::api_doc::CheckAnswer),
        (status = 404, description = "No organisation has that id (`organization_not_found`)", body = crate::api_doc::ErrorEnvelope),
        (status = 422, description = "No feature or metric, an unknown one, or a bad increment (`invalid_field`)", body = crate::api_doc::ErrorEnvelope),
        (status = 401, description = "No API key, or not a valid one (`missing_api_key`, `invalid_api_key`)", body = crate::api_doc::ErrorEnvelope),
        (status = 429, description = "Over the key's request budget (`rate_limited`, with `Retry-After`)", body = crate::api_doc::ErrorEnvelope),
    ),
    security(("api_key" = []))
)]
async fn check_entitlement(
    organization: Organization,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let (standing, catalog) = (&organization.cached.standing, &*organization.catalog);
    let (outcome, subject) = match (query.get("feature"), query.get("metric")) {
        (Some(feature), None) => {
            let outcome = standing
                .check_feature(catalog, feature)
                .ok_or_else(|| ApiError::invalid("feature", "is not a feature of the catalogue"))?;
            (outcome, json!({"feature": feature}))
        }
        (None, Some(metric)) => {
            let increment = query_number(
                &query,
                "increment",
                0..=u64::MAX,
                1,
                "must be a whole number of 0 or more",
            )?;
            let outcome = standing
                .check_room(catalog, metric, increment)
                .ok_or_else(|| ApiError::invalid("metric", "is not a metric of the catalogue"))?;
            let limit = standing.entitlements.limit(metric).and_then(Limit::as_option);
            (
                outcome,
                json!({"metric": metric, "increment": increment, "used": standing.used(metric), "limit": limit}),
            )
        }
        _ => {
            return Err(ApiError::invalid(
                "feature",
                "give either feature, or metric (with an optional increment)",
            ));
        }
    };
    let mut body = json!({"allowed": outcome.is_ok(), "reason": null, "message": null, "upgrade_to": null});
    if let Err(refusal) = &outcome {
        body["reason"] = json!(refusal.code());
        body["message"] = json!(explain(catalog, refusal));
        body["upgrade_to"] = json!(refusal.upgrade_to());
    }
    if let (Some(body), Some(subject)) = (body.as_object_mut(), subject.as_object()) {
        body.extend(subject.clone());
    }
    Ok(Json(body).into_response())
}

/// Tells a missing field from an explicit `null`.
mod double_option {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
    where
        D: Deserializer<'de>,
        T: Deserialize<'de>,
    {
        Option::<T>::deserialize(deserializer).map(Some)
    }
}
