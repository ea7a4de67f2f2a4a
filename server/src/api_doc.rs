//! The OpenAPI 3.1 document of `/api/v1`, served at `/api/v1/openapi.json`
//! and committed as `docs/openapi.json`. The paths come from the handlers'
//! `#[utoipa::path]` attributes (collected by `utoipa_axum::routes!` as the
//! routes are registered, so a route cannot exist undocumented); the
//! schemas below describe the JSON the handlers write. The integration test
//! `openapi` sends real requests to every route, success and each
//! documented error, and validates every answer against this document, so
//! the two cannot drift.

use axum::body::Bytes;
use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
use serde::Serialize;
use std::collections::BTreeMap;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

/// The document's frame: what the handlers' paths are added to.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Gatehouse API",
        version = "1",
        description = "What a SaaS product asks Gatehouse: each organisation's entitlements and usage \
            (with a server-side API key), and what a self-hosted installation calls with its licence key. \
            Every error answers `{\"error\": {\"code\", \"message\", \"field\"?}}` with a stable `code`."
    ),
    servers((url = "/api/v1", description = "This Gatehouse")),
    modifiers(&ApiKeyAuth),
    tags(
        (name = "organizations", description = "Organisations, their entitlements and usage (API key)"),
        (name = "licenses", description = "Self-hosted licences (licence key)")
    )
)]
pub struct ApiDoc;

/// The host API's bearer key.
struct ApiKeyAuth;

impl Modify for ApiKeyAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut scheme = Http::new(HttpAuthScheme::Bearer);
        scheme.description =
            Some("An API key made in the console (`Authorization: Bearer gh_…`).".to_owned());
        components.add_security_scheme("api_key", SecurityScheme::Http(scheme));
    }
}

/// The document as served: JSON, built once.
pub fn serve(document: &utoipa::openapi::OpenApi) -> axum::routing::MethodRouter<crate::AppState> {
    let body = Bytes::from(to_json(document));
    axum::routing::get(move || {
        let body = body.clone();
        async move {
            (
                [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))],
                body,
            )
                .into_response()
        }
    })
}

/// The document's committed text: pretty JSON with a final newline.
pub fn to_json(document: &utoipa::openapi::OpenApi) -> String {
    let mut text = document.to_pretty_json().unwrap_or_default();
    text.push('\n');
    text
}

/// Every error's envelope.
#[derive(Serialize, ToSchema)]
pub struct ErrorEnvelope {
    /// The error.
    pub error: ErrorBody,
}

/// An error.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    /// A stable code to match on (`invalid_field`, `organization_not_found`, `rate_limited`, …).
    pub code: String,
    /// What is wrong, for a person.
    pub message: String,
    /// The input field at fault, when one is.
    pub field: Option<String>,
}

/// An organisation.
#[derive(Serialize, ToSchema)]
pub struct Organization {
    /// Gatehouse's id.
    pub id: uuid::Uuid,
    /// Its name.
    pub name: String,
    /// The host product's id for it.
    #[schema(required = true)]
    pub external_id: Option<String>,
    /// The tier whose entitlements apply.
    #[schema(required = true)]
    pub tier: Option<String>,
    /// The subscription's status (Stripe's words).
    #[schema(required = true)]
    pub status: Option<String>,
}

/// An organisation in a list.
#[derive(Serialize, ToSchema)]
pub struct OrganizationListItem {
    /// Gatehouse's id.
    pub id: uuid::Uuid,
    /// Its name.
    pub name: String,
    /// The host product's id for it.
    #[schema(required = true)]
    pub external_id: Option<String>,
    /// The subscription's tier.
    #[schema(required = true)]
    pub tier: Option<String>,
    /// The subscription's status.
    #[schema(required = true)]
    pub status: Option<String>,
    /// When it was created (RFC 3339).
    #[schema(format = DateTime)]
    pub created_at: String,
}

/// A page of organisations, newest first.
#[derive(Serialize, ToSchema)]
pub struct OrganizationList {
    /// This page.
    pub data: Vec<OrganizationListItem>,
    /// Whether another page follows (`starting_after` the last id).
    pub has_more: bool,
}

/// `PATCH /organizations/{id}`'s body.
#[derive(Serialize, ToSchema)]
pub struct OrganizationPatch {
    /// The host product's id (1–200 printable characters), or null to clear it.
    #[schema(required = true)]
    pub external_id: Option<String>,
}

/// The organisation in an entitlements answer.
#[derive(Serialize, ToSchema)]
pub struct OrganizationRef {
    /// Gatehouse's id.
    pub id: uuid::Uuid,
    /// The host product's id.
    #[schema(required = true)]
    pub external_id: Option<String>,
    /// Its name.
    pub name: String,
}

/// A metric's limit and use.
#[derive(Serialize, ToSchema)]
pub struct Allowance {
    /// The limit (null: unlimited).
    #[schema(required = true)]
    pub limit: Option<u64>,
    /// Used now.
    pub used: u64,
    /// What is left (null: unlimited); 0 when over.
    #[schema(required = true)]
    pub remaining: Option<u64>,
}

/// What an organisation may do now.
#[derive(Serialize, ToSchema)]
pub struct Entitlements {
    /// Who.
    pub organization: OrganizationRef,
    /// The tier whose features and limits apply.
    #[schema(required = true)]
    pub tier: Option<String>,
    /// The subscription's status.
    #[schema(required = true)]
    pub status: Option<String>,
    /// Gated writes are refused.
    pub read_only: bool,
    /// Why (`trial_ended`, `unpaid`, `canceled`, `suspended`, `no_subscription`).
    #[schema(required = true)]
    pub read_only_reason: Option<String>,
    /// A payment is being collected.
    pub past_due: bool,
    /// Every catalogue feature and whether it is on.
    pub features: BTreeMap<String, bool>,
    /// Every catalogue metric's limit and use.
    pub limits: BTreeMap<String, Allowance>,
    /// The add-ons counted in the limits, and how many.
    pub add_ons: BTreeMap<String, u32>,
    /// When the trial ends (RFC 3339).
    #[schema(required = true, format = DateTime)]
    pub trial_ends_at: Option<String>,
    /// When the current period ends (RFC 3339).
    #[schema(required = true, format = DateTime)]
    pub current_period_ends_at: Option<String>,
}

/// The answer to one check.
#[derive(Serialize, ToSchema)]
pub struct CheckAnswer {
    /// Whether the action may happen.
    pub allowed: bool,
    /// Why not (a stable code).
    #[schema(required = true)]
    pub reason: Option<String>,
    /// Why not, for a person.
    #[schema(required = true)]
    pub message: Option<String>,
    /// The cheapest tier that would allow it.
    #[schema(required = true)]
    pub upgrade_to: Option<String>,
    /// The feature asked about.
    pub feature: Option<String>,
    /// The metric asked about.
    pub metric: Option<String>,
    /// The increment asked about.
    pub increment: Option<u64>,
    /// The metric's use now.
    pub used: Option<u64>,
    /// The metric's limit (null: unlimited).
    pub limit: Option<u64>,
}

/// One usage report.
#[derive(Serialize, ToSchema)]
pub struct UsageReport {
    /// Your id for the report: the same id again is a duplicate, not applied twice.
    pub id: String,
    /// The metric's key.
    pub metric: String,
    /// Add this much (may be negative); or
    pub increment: Option<i64>,
    /// set the value to this.
    pub set: Option<i64>,
}

/// `POST /organizations/{id}/usage`'s body (all applied, or none).
#[derive(Serialize, ToSchema)]
pub struct UsageBatch {
    /// 1 to 100 reports.
    pub reports: Vec<UsageReport>,
}

/// What a batch did.
#[derive(Serialize, ToSchema)]
pub struct UsageApplied {
    /// Reports applied.
    pub applied: u64,
    /// Reports seen before (by id), not applied again.
    pub duplicates: u64,
    /// Each reported metric's value now.
    pub usage: BTreeMap<String, Allowance>,
}

/// A metric's snapshot.
#[derive(Serialize, ToSchema)]
pub struct UsagePoint {
    /// When (RFC 3339).
    #[schema(format = DateTime)]
    pub at: String,
    /// The value then.
    pub value: i64,
}

/// A metric's use, limit and history.
#[derive(Serialize, ToSchema)]
pub struct MetricUsage {
    /// Used now.
    pub used: u64,
    /// The limit (null: unlimited).
    #[schema(required = true)]
    pub limit: Option<u64>,
    /// What is left (null: unlimited).
    #[schema(required = true)]
    pub remaining: Option<u64>,
    /// Snapshots, oldest first.
    pub history: Vec<UsagePoint>,
}

/// An organisation's usage.
#[derive(Serialize, ToSchema)]
pub struct Usage {
    /// Who.
    pub organization: Organization,
    /// Every catalogue metric.
    pub metrics: BTreeMap<String, MetricUsage>,
}

/// A published signing key.
#[derive(Serialize, ToSchema)]
pub struct PublishedKey {
    /// The id licence files name it by.
    pub id: String,
    /// `active` signs new files; `retiring` still verifies its files; `revoked` verifies nothing.
    #[schema(pattern = "^(active|retiring|revoked)$")]
    pub status: String,
    /// `ed25519`.
    pub algorithm: String,
    /// The 32-byte public key, base64.
    pub public_key: String,
}

/// The signing keys' public halves.
#[derive(Serialize, ToSchema)]
pub struct KeySet {
    /// Every key, with its status.
    pub keys: Vec<PublishedKey>,
}

/// What an installation sends.
#[derive(Serialize, ToSchema)]
pub struct MachineRequest {
    /// The licence key, `YYYY-XXXX-XXXX-XXXX` (its check symbol catches a typo here).
    pub key: String,
    /// A stable fingerprint of the machine (1–200 printable characters).
    pub fingerprint: String,
    /// The machine's hostname (activate only; 1–255 printable characters).
    pub hostname: Option<String>,
    /// An operator-supplied instance id for containers (activate only; kept only as an HMAC).
    pub instance_id: Option<String>,
    /// A fresh random value the signed answer echoes (validate only; 1–128 characters).
    pub nonce: Option<String>,
}

/// A machine holding a seat.
#[derive(Serialize, ToSchema)]
pub struct Activation {
    /// The activation's id.
    pub id: uuid::Uuid,
    /// The machine's fingerprint.
    pub fingerprint: String,
    /// Its hostname.
    pub hostname: String,
    /// When it activated (RFC 3339).
    #[schema(format = DateTime)]
    pub activated_at: String,
    /// When it last checked in (RFC 3339).
    #[schema(format = DateTime)]
    pub last_check_in_at: String,
}

/// A successful activation.
#[derive(Serialize, ToSchema)]
pub struct Activated {
    /// `VALID`.
    pub code: String,
    /// A payment is being collected: valid, with a warning.
    pub past_due: bool,
    /// When the file expires, before its grace period (RFC 3339).
    #[schema(format = DateTime)]
    pub expires_at: String,
    /// The machine's seat.
    pub activation: Activation,
    /// The machine-bound signed licence file (armoured text).
    pub license_file: String,
}

/// Every seat is taken: the machines holding them, so one can be freed.
#[derive(Serialize, ToSchema)]
pub struct TooManyMachines {
    /// `TOO_MANY_MACHINES`.
    pub error: ErrorBody,
    /// The machines holding the seats.
    pub activations: Vec<Activation>,
}

/// A freed seat.
#[derive(Serialize, ToSchema)]
pub struct Deactivated {
    /// Always true.
    pub deactivated: bool,
}

/// A signed answer: the answer's exact JSON text, signed.
#[derive(Serialize, ToSchema)]
pub struct SignedAnswer {
    /// The answer's JSON text, exactly as signed.
    pub answer: String,
    /// The signing key's id.
    pub key_id: String,
    /// The Ed25519 signature (base64) over `gatehouse-license-answer:v1\n{key_id}\n{answer}`.
    pub signature: String,
}

/// A check-in's answer (always 200).
#[derive(Serialize, ToSchema)]
pub struct Validation {
    /// Whether the licence is valid for this machine.
    pub valid: bool,
    /// `VALID`, `EXPIRED`, `SUSPENDED`, `REVOKED`, `NOT_FOUND` or `NO_MACHINE`.
    #[schema(pattern = "^(VALID|EXPIRED|SUSPENDED|REVOKED|NOT_FOUND|NO_MACHINE|TOO_MANY_MACHINES)$")]
    pub code: String,
    /// The nonce sent, echoed.
    #[schema(required = true)]
    pub nonce: Option<String>,
    /// A payment is being collected.
    pub past_due: bool,
    /// When the new file expires (RFC 3339), when valid.
    #[schema(required = true, format = DateTime)]
    pub expires_at: Option<String>,
    /// A fresh licence file, when valid.
    #[schema(required = true)]
    pub license_file: Option<String>,
    /// The same answer, signed.
    pub signed: SignedAnswer,
}
