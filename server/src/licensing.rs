//! `/api/v1/licenses/…` and `/api/v1/licensing/keys`: what a self-hosted
//! install calls with its licence key (never an API key): activate a
//! machine, check in, free a seat; and the public keys its files verify
//! against. Thin adapters over `app::licensing`; throttled per licence key
//! and per client address, answering in the API's error envelope.

use crate::AppState;
use crate::host_api::error::ApiError;
use crate::host_api::extract::catalog;
use crate::host_api::{read_json, rfc3339};
use app::licensing::db::{self as licences, Machine, Outcome};
use app::licensing::domain::{ValidationCode, is_machine_text};
use app::security::throttle::Rate;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use license::LicenseKey;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use utoipa_axum::{router::OpenApiRouter, routes};

/// Requests one licence key may make a minute, as a burst
/// (`GATEHOUSE_LICENSE_CHECKS_PER_MINUTE`, 60 by default), and one client
/// address: five times as many.
fn budgets(state: &AppState) -> (Rate, Rate) {
    let per_key = state.settings.license_checks_per_minute;
    (
        Rate {
            requests: per_key,
            per_seconds: 60,
        },
        Rate {
            requests: per_key.saturating_mul(5),
            per_seconds: 60,
        },
    )
}

/// The routes, to be nested under `/api/v1`, with their OpenAPI paths.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(published_keys))
        .routes(routes!(activate))
        .routes(routes!(deactivate))
        .routes(routes!(validate))
}

/// `GET /licensing/keys`: every signing key's id, status and public half.
#[utoipa::path(
    get,
    path = "/licensing/keys",
    tag = "licenses",
    summary = "The public signing keys licence files verify against",
    responses(
        (status = 200, description = "Every key, with its status", body = crate::api_doc::KeySet),
        (status = 503, description = "This Gatehouse has no signing keys (`licensing_not_configured`)", body = crate::api_doc::ErrorEnvelope),
    )
)]
async fn published_keys(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let keys = signing_keys(&state)?;
    Ok(Json(json!({ "keys": keys.published() })))
}

fn signing_keys(state: &AppState) -> Result<&app::licensing::keys::SigningKeys, ApiError> {
    state.license_keys.as_deref().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "licensing_not_configured",
            "this Gatehouse has no licence signing keys (GATEHOUSE_LICENSE_SIGNING_KEYS)",
        )
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MachineRequest {
    key: Option<String>,
    fingerprint: Option<String>,
    hostname: Option<String>,
    instance_id: Option<String>,
    nonce: Option<String>,
}

/// A request's checked fields.
struct Checked {
    key: LicenseKey,
    fingerprint: String,
}

/// Checks the key (its check symbol catches a typo here) and fingerprint,
/// and counts the request against the key's and the address's budgets.
async fn checked(
    state: &AppState,
    request: &MachineRequest,
    headers: &HeaderMap,
    extensions: &axum::http::Extensions,
) -> Result<Checked, ApiError> {
    let peer = extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0.ip());
    let key = request
        .key
        .as_deref()
        .ok_or_else(|| ApiError::invalid("key", "is required"))?;
    let key = LicenseKey::parse(key).map_err(|error| ApiError::invalid("key", error.to_string()))?;
    let fingerprint = request
        .fingerprint
        .as_deref()
        .filter(|f| is_machine_text(f, 200))
        .ok_or_else(|| {
            ApiError::invalid(
                "fingerprint",
                "give the machine's fingerprint, 1 to 200 printable characters",
            )
        })?;
    let now = state.clock.now();
    let address = app::security::client::client_address(headers, peer, state.settings.trust_forwarded_for);
    let key_bucket = format!("license:key:{}", hex::encode(&Sha256::digest(key.as_str())[..12]));
    let (per_key, per_address) = budgets(state);
    for (bucket, rate) in [
        (format!("license:ip:{address}"), per_address),
        (key_bucket, per_key),
    ] {
        if let Err(app::error::AppError::TooManyRequests { retry_after_secs }) =
            app::security::db::throttle(&state.pool, now, &bucket, rate).await
        {
            let mut error = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "too many licence requests; try again later",
            );
            error.retry_after = Some(retry_after_secs);
            return Err(error);
        }
    }
    Ok(Checked {
        key,
        fingerprint: fingerprint.trim().to_owned(),
    })
}

fn refused(code: ValidationCode) -> ApiError {
    let (status, message) = match code {
        ValidationCode::NotFound => (StatusCode::NOT_FOUND, "no licence has this key"),
        ValidationCode::NoMachine => (
            StatusCode::NOT_FOUND,
            "this machine holds no activation of the licence",
        ),
        ValidationCode::Expired => (StatusCode::FORBIDDEN, "the licence has expired"),
        ValidationCode::Suspended => (StatusCode::FORBIDDEN, "the licence is suspended"),
        ValidationCode::Revoked => (StatusCode::FORBIDDEN, "the licence was revoked"),
        ValidationCode::TooManyMachines => (StatusCode::CONFLICT, "every seat of the licence is taken"),
        ValidationCode::Valid => (StatusCode::OK, "valid"),
    };
    ApiError::new(status, code.as_str(), message)
}

/// `POST /licenses/activate` `{key, fingerprint, hostname, instance_id?}`.
#[utoipa::path(
    post,
    path = "/licenses/activate",
    tag = "licenses",
    summary = "Activate a machine (the same machine again keeps its seat)",
    request_body = crate::api_doc::MachineRequest,
    responses(
        (status = 200, description = "Activated, with the machine-bound file", body = crate::api_doc::Activated),
        (status = 400, description = "Not the JSON this route takes (`invalid_json`)", body = crate::api_doc::ErrorEnvelope),
        (status = 422, description = "A bad key (its check symbol), fingerprint, hostname, instance id or nonce (`invalid_field`)", body = crate::api_doc::ErrorEnvelope),
        (status = 403, description = "The licence is `EXPIRED`, `SUSPENDED` or `REVOKED`", body = crate::api_doc::ErrorEnvelope),
        (status = 404, description = "No licence has the key (`NOT_FOUND`)", body = crate::api_doc::ErrorEnvelope),
        (status = 409, description = "Every seat is taken (`TOO_MANY_MACHINES`), listing the machines", body = crate::api_doc::TooManyMachines),
        (status = 429, description = "Over the key's or the address's budget (`rate_limited`, with `Retry-After`)", body = crate::api_doc::ErrorEnvelope),
        (status = 503, description = "This Gatehouse has no signing keys (`licensing_not_configured`)", body = crate::api_doc::ErrorEnvelope),
    )
)]
async fn activate(
    State(state): State<AppState>,
    extensions: axum::http::Extensions,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request: MachineRequest = read_json(&body)?;
    let checked = checked(&state, &request, &headers, &extensions).await?;
    let hostname = request
        .hostname
        .as_deref()
        .filter(|h| is_machine_text(h, 255))
        .ok_or_else(|| {
            ApiError::invalid(
                "hostname",
                "give the machine's hostname, 1 to 255 printable characters",
            )
        })?;
    let keys = signing_keys(&state)?;
    // An operator's instance id is kept only as an HMAC under the licensing secret.
    let instance_hmac = match request.instance_id.as_deref() {
        Some(id) if is_machine_text(id, 200) => Some(keys.instance_hmac(id)),
        Some(_) => return Err(ApiError::invalid("instance_id", "1 to 200 printable characters")),
        None => None,
    };
    let catalog = catalog(&state).await?;
    let machine = Machine {
        fingerprint: &checked.fingerprint,
        hostname: hostname.trim(),
        instance_hmac,
    };
    let outcome = licences::activate(
        &state.pool,
        &catalog,
        keys,
        licences::Named::Key(&checked.key),
        &machine,
        state.clock.now(),
    )
    .await?;
    Ok(match outcome {
        Outcome::Refused(code) => refused(code).into_response(),
        Outcome::TooManyMachines(activations) => (
            StatusCode::CONFLICT,
            Json(json!({
                "error": {
                    "code": ValidationCode::TooManyMachines.as_str(),
                    "message": "every seat of the licence is taken; deactivate a machine to free one",
                },
                "activations": activations,
            })),
        )
            .into_response(),
        Outcome::Valid {
            standing,
            file,
            activation,
        } => Json(json!({
            "code": ValidationCode::Valid.as_str(),
            "past_due": standing.past_due,
            "expires_at": rfc3339(standing.expires_at),
            "activation": activation,
            "license_file": file,
        }))
        .into_response(),
    })
}

/// `POST /licenses/deactivate` `{key, fingerprint}`: frees the machine's seat.
#[utoipa::path(
    post,
    path = "/licenses/deactivate",
    tag = "licenses",
    summary = "Free the seat a machine holds",
    request_body = crate::api_doc::MachineRequest,
    responses(
        (status = 200, description = "Freed", body = crate::api_doc::Deactivated),
        (status = 400, description = "Not the JSON this route takes (`invalid_json`)", body = crate::api_doc::ErrorEnvelope),
        (status = 422, description = "A bad key (its check symbol), fingerprint, hostname, instance id or nonce (`invalid_field`)", body = crate::api_doc::ErrorEnvelope),
        (status = 404, description = "No licence has the key (`NOT_FOUND`), or the machine holds no seat (`NO_MACHINE`)", body = crate::api_doc::ErrorEnvelope),
        (status = 429, description = "Over the key's or the address's budget (`rate_limited`, with `Retry-After`)", body = crate::api_doc::ErrorEnvelope),
    )
)]
async fn deactivate(
    State(state): State<AppState>,
    extensions: axum::http::Extensions,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request: MachineRequest = read_json(&body)?;
    let checked = checked(&state, &request, &headers, &extensions).await?;
    match licences::deactivate(&state.pool, &checked.key, &checked.fingerprint, state.clock.now()).await? {
        None => Err(refused(ValidationCode::NotFound)),
        Some(false) => Err(refused(ValidationCode::NoMachine)),
        Some(true) => Ok(Json(json!({ "deactivated": true })).into_response()),
    }
}

/// `POST /licenses/validate` `{key, fingerprint, nonce?}`: always 200 with
/// `{valid, code, …}` and a signed answer echoing the nonce; a fresh file
/// when valid.
#[utoipa::path(
    post,
    path = "/licenses/validate",
    tag = "licenses",
    summary = "Check in: where the licence stands for this machine, signed, with a fresh file when valid",
    request_body = crate::api_doc::MachineRequest,
    responses(
        (status = 200, description = "The answer, valid or not (`code` says which)", body = crate::api_doc::Validation),
        (status = 400, description = "Not the JSON this route takes (`invalid_json`)", body = crate::api_doc::ErrorEnvelope),
        (status = 422, description = "A bad key (its check symbol), fingerprint, hostname, instance id or nonce (`invalid_field`)", body = crate::api_doc::ErrorEnvelope),
        (status = 429, description = "Over the key's or the address's budget (`rate_limited`, with `Retry-After`)", body = crate::api_doc::ErrorEnvelope),
        (status = 503, description = "This Gatehouse has no signing keys (`licensing_not_configured`)", body = crate::api_doc::ErrorEnvelope),
    )
)]
async fn validate(
    State(state): State<AppState>,
    extensions: axum::http::Extensions,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request: MachineRequest = read_json(&body)?;
    let nonce = match request.nonce.as_deref() {
        Some(nonce) if !is_machine_text(nonce, 128) => {
            return Err(ApiError::invalid("nonce", "1 to 128 printable characters"));
        }
        nonce => nonce.map(str::to_owned),
    };
    let checked = checked(&state, &request, &headers, &extensions).await?;
    let keys = signing_keys(&state)?;
    let catalog = catalog(&state).await?;
    let now = state.clock.now();
    let outcome = licences::validate(
        &state.pool,
        &catalog,
        keys,
        &checked.key,
        &checked.fingerprint,
        now,
    )
    .await?;
    let (code, past_due, expires_at, file) = match outcome {
        Outcome::Valid { standing, file, .. } => (
            ValidationCode::Valid,
            standing.past_due,
            Some(standing.expires_at),
            Some(file),
        ),
        Outcome::TooManyMachines(_) => (ValidationCode::TooManyMachines, false, None, None),
        Outcome::Refused(code) => (code, false, None, None),
    };
    let answer = json!({
        "valid": code == ValidationCode::Valid,
        "code": code.as_str(),
        "nonce": nonce,
        "fingerprint": checked.fingerprint,
        "past_due": past_due,
        "expires_at": expires_at.map(rfc3339),
        "checked_at": rfc3339(now),
    })
    .to_string();
    let signer = keys.signer();
    let signature = license::issue::sign_answer(&answer, &signer.id, &signer.key);
    Ok(Json(json!({
        "valid": code == ValidationCode::Valid,
        "code": code.as_str(),
        "nonce": nonce,
        "past_due": past_due,
        "expires_at": expires_at.map(rfc3339),
        "license_file": file,
        "signed": { "answer": answer, "key_id": signer.id, "signature": signature },
    }))
    .into_response())
}

/// The portal's downloads, beside `/app/licenses`: a machine's licence
/// file, a floating licence's file, and the offline exchange's response.
pub fn portal_router() -> Router<AppState> {
    Router::new()
        .route("/app/licenses/{license_id}/file", get(floating_file))
        .route(
            "/app/licenses/{license_id}/activations/{activation_id}/file",
            get(machine_file),
        )
        .route("/app/licenses/offline", post(offline_exchange))
}

/// The signed-in member's organisation, or the answer that ends the request.
async fn member_scope(
    state: &AppState,
    session: &tower_sessions::Session,
    verified: Option<axum::Extension<app::accounts::session::VerifiedSignIn>>,
) -> Result<app::accounts::session::TenantScope, Response> {
    let verified = verified.map(|axum::Extension(app::accounts::session::VerifiedSignIn(user))| user);
    match app::accounts::session::member_of_session(
        session,
        verified,
        &state.pool,
        &state.caches.users,
        state.clock.now(),
    )
    .await
    {
        Ok((_, scope)) => Ok(scope),
        Err(app::error::AppError::Unauthorized) => {
            Err(axum::response::Redirect::to("/login?next=/app/licenses").into_response())
        }
        Err(app::error::AppError::Forbidden) => {
            Err((StatusCode::NOT_FOUND, "no such licence").into_response())
        }
        Err(_) => Err(StatusCode::INTERNAL_SERVER_ERROR.into_response()),
    }
}

fn attachment(name: &str, text: String) -> Response {
    (
        [
            (
                axum::http::header::CONTENT_TYPE,
                "text/plain; charset=utf-8".to_owned(),
            ),
            (
                axum::http::header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
            (axum::http::header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        text,
    )
        .into_response()
}

async fn file_download(
    state: &AppState,
    scope: &app::accounts::session::TenantScope,
    license_id: &str,
    activation_id: Option<&str>,
) -> Response {
    let not_found = || (StatusCode::NOT_FOUND, "no such licence").into_response();
    let (Ok(license_id), Some(keys)) = (uuid::Uuid::parse_str(license_id), state.license_keys.as_deref())
    else {
        return not_found();
    };
    let fingerprint = match activation_id.map(uuid::Uuid::parse_str) {
        None => None,
        Some(Err(_)) => return not_found(),
        Some(Ok(activation_id)) => {
            match app::licensing::manage::activation_fingerprint(
                &state.pool,
                scope.organization_id(),
                license_id,
                activation_id,
            )
            .await
            {
                Ok(Some(fingerprint)) => Some(fingerprint),
                Ok(None) => return not_found(),
                Err(error) => return ApiError::internal("finding a machine", error).into_response(),
            }
        }
    };
    let catalog = match catalog(state).await {
        Ok(catalog) => catalog,
        Err(error) => return error.into_response(),
    };
    match licences::file_for(
        &state.pool,
        &catalog,
        keys,
        scope.organization_id(),
        license_id,
        fingerprint.as_deref(),
        state.clock.now(),
    )
    .await
    {
        Ok(Ok(file)) => attachment("license.txt", file),
        Ok(Err(ValidationCode::NotFound)) => not_found(),
        Ok(Err(code)) => (
            StatusCode::CONFLICT,
            format!("no file can be issued: the licence is {}", code.as_str()),
        )
            .into_response(),
        Err(error) => ApiError::internal("signing a licence file", error).into_response(),
    }
}

/// `GET /app/licenses/{id}/file`: a floating licence's file.
async fn floating_file(
    State(state): State<AppState>,
    session: tower_sessions::Session,
    verified: Option<axum::Extension<app::accounts::session::VerifiedSignIn>>,
    axum::extract::Path(license_id): axum::extract::Path<String>,
) -> Response {
    match member_scope(&state, &session, verified).await {
        Ok(scope) => file_download(&state, &scope, &license_id, None).await,
        Err(response) => response,
    }
}

/// `GET /app/licenses/{id}/activations/{activation}/file`: the file bound
/// to one of the organisation's machines.
async fn machine_file(
    State(state): State<AppState>,
    session: tower_sessions::Session,
    verified: Option<axum::Extension<app::accounts::session::VerifiedSignIn>>,
    axum::extract::Path((license_id, activation_id)): axum::extract::Path<(String, String)>,
) -> Response {
    match member_scope(&state, &session, verified).await {
        Ok(scope) => file_download(&state, &scope, &license_id, Some(&activation_id)).await,
        Err(response) => response,
    }
}

/// `POST /app/licenses/offline` (form field `request`): answers an
/// air-gapped install's request file with a response file, as an online
/// activation and check-in would (owners and admins). A request that cannot
/// be answered comes back to the page with the reason.
async fn offline_exchange(
    State(state): State<AppState>,
    session: tower_sessions::Session,
    verified: Option<axum::Extension<app::accounts::session::VerifiedSignIn>>,
    axum::extract::Form(form): axum::extract::Form<std::collections::HashMap<String, String>>,
) -> Response {
    let scope = match member_scope(&state, &session, verified).await {
        Ok(scope) => scope,
        Err(response) => return response,
    };
    let back = |reason: &str| {
        axum::response::Redirect::to(&format!("/app/licenses?offline={reason}")).into_response()
    };
    if !scope.role().manages_billing() {
        return (StatusCode::FORBIDDEN, "only owners and admins renew licences").into_response();
    }
    let Some(keys) = state.license_keys.as_deref() else {
        return back("unknown");
    };
    let text = form.get("request").map(String::as_str).unwrap_or_default();
    let Ok(request) = license::offline::Request::parse(text) else {
        return back("unreadable");
    };
    let Ok(license_id) = uuid::Uuid::parse_str(&request.license_id) else {
        return back("unknown");
    };
    if !is_machine_text(&request.fingerprint, 200) || !is_machine_text(&request.hostname, 255) {
        return back("unreadable");
    }
    let catalog = match catalog(&state).await {
        Ok(catalog) => catalog,
        Err(error) => return error.into_response(),
    };
    let now = state.clock.now();
    let machine = Machine {
        fingerprint: &request.fingerprint,
        hostname: &request.hostname,
        instance_hmac: None,
    };
    let outcome = match app::licensing::manage::offline_exchange(
        &state.pool,
        &catalog,
        keys,
        scope.organization_id(),
        license_id,
        &machine,
        now,
    )
    .await
    {
        Ok(outcome) => outcome,
        Err(error) => return ApiError::internal("answering an offline request", error).into_response(),
    };
    let (standing, file) = match outcome {
        Outcome::Valid { standing, file, .. } => (standing, file),
        Outcome::TooManyMachines(_) => return back("full"),
        Outcome::Refused(ValidationCode::NotFound) => return back("unknown"),
        Outcome::Refused(_) => return back("invalid"),
    };
    let answer = json!({
        "valid": true,
        "code": ValidationCode::Valid.as_str(),
        "license_id": request.license_id,
        "nonce": request.nonce,
        "fingerprint": request.fingerprint,
        "past_due": standing.past_due,
        "expires_at": rfc3339(standing.expires_at),
        "checked_at": rfc3339(now),
        "license_file": file,
    })
    .to_string();
    let signer = keys.signer();
    let signature = license::issue::sign_answer(&answer, &signer.id, &signer.key);
    attachment(
        "license-response.txt",
        license::offline::response_text(&answer, &signer.id, &signature),
    )
}
