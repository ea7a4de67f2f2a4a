//! `/api/v1/licenses/…` and `/api/v1/licensing/keys`: what a self-hosted
//! install calls with its licence key (never an API key): activate a
//! machine, check in, free a seat; and the public keys its files verify
//! against. Thin adapters over `app::licensing`; throttled per licence key
//! and per client address, answering in the API's error envelope.

use crate::AppState;
use crate::host_api::error::ApiError;
use crate::host_api::read_json;
use app::licensing::db::{self as licences, Machine, Outcome};
use app::licensing::domain::{ValidationCode, is_machine_text};
use app::security::throttle::Rate;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use chrono::SecondsFormat;
use license::LicenseKey;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::net::SocketAddr;

/// Check-ins one licence key may make: 60 a minute, as a burst.
const PER_KEY: Rate = Rate {
    requests: 60,
    per_seconds: 60,
};
/// Requests one client address may make: 300 a minute.
const PER_ADDRESS: Rate = Rate {
    requests: 300,
    per_seconds: 60,
};

/// The routes, to be nested under `/api/v1`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/licensing/keys", get(published_keys))
        .route("/licenses/activate", post(activate))
        .route("/licenses/deactivate", post(deactivate))
        .route("/licenses/validate", post(validate))
}

/// `GET /licensing/keys`: every signing key's id, status and public half.
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
    for (bucket, rate) in [
        (format!("license:ip:{address}"), PER_ADDRESS),
        (key_bucket, PER_KEY),
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

async fn catalog(state: &AppState) -> Result<std::sync::Arc<app::catalog::domain::Catalog>, ApiError> {
    state
        .catalog
        .get(&state.pool)
        .await
        .map_err(|e| ApiError::internal("loading the catalogue", e))
}

fn rfc3339(time: chrono::DateTime<chrono::Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// `POST /licenses/activate` `{key, fingerprint, hostname, instance_id?}`.
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
    // An operator's instance id is kept only as an HMAC under the signer's key.
    let instance_hmac = match request.instance_id.as_deref() {
        Some(id) if is_machine_text(id, 200) => Some(instance_hmac(keys, id)),
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
        &checked.key,
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

fn instance_hmac(keys: &app::licensing::keys::SigningKeys, instance_id: &str) -> Vec<u8> {
    use hmac::Mac;
    // Keyed by a key derived from the signer's secret, never the secret itself.
    let key = Sha256::digest([&b"gatehouse-instance-id:"[..], &keys.signer().key.to_bytes()].concat());
    let mut mac = hmac::Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes a key of any length");
    mac.update(instance_id.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// `POST /licenses/deactivate` `{key, fingerprint}`: frees the machine's seat.
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
