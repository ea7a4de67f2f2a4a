//! The OpenAPI document of `/api/v1` against the running routes: the
//! committed file is the generated one, the served one too, and real
//! requests to every route, its success and each documented error, answer
//! exactly as documented: every status listed for the route, every body
//! valid against its schema. A route, status or field the document does
//! not describe fails here.

use crate::helpers::*;
use crate::host_api::{api_key, call, organization_id};
use crate::licensing::{issued, licensing_app};
use serde_json::{Value, json};
use server::host_api::keys::Scope;
use sqlx::PgPool;
use std::collections::BTreeSet;

const COMMITTED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.json");

fn generated() -> Value {
    let (_, document) = server::api_v1();
    serde_json::from_str(&server::api_doc::to_json(&document)).unwrap()
}

/// The document, and the (path, method, status) answers seen so far.
struct Checked {
    document: Value,
    seen: BTreeSet<(String, String, String)>,
}

impl Checked {
    fn new() -> Self {
        Checked {
            document: generated(),
            seen: BTreeSet::new(),
        }
    }

    /// Validates one answer of `method` on the documented `path` and records it.
    fn answer(&mut self, method: &str, path: &str, status: u16, body: &str) {
        let method = method.to_lowercase();
        let operation = &self.document["paths"][path][&method];
        assert!(operation.is_object(), "{method} {path} is not in the document");
        let response = &operation["responses"][status.to_string()];
        assert!(
            response.is_object(),
            "{method} {path} answered {status}, which the document does not list: {body}"
        );
        match response["content"]["application/json"]["schema"].as_object() {
            Some(schema) => {
                let mut root = schema.clone();
                root.insert("components".into(), self.document["components"].clone());
                let validator = jsonschema::draft202012::new(&Value::Object(root)).expect("a valid schema");
                let instance: Value = serde_json::from_str(body)
                    .unwrap_or_else(|_| panic!("{method} {path} {status}: not JSON: {body}"));
                let errors: Vec<String> = validator.iter_errors(&instance).map(|e| e.to_string()).collect();
                assert!(
                    errors.is_empty(),
                    "{method} {path} {status} does not match its schema: {errors:?}\n{instance:#}"
                );
            }
            None => assert!(
                body.is_empty(),
                "{method} {path} {status} has no documented body: {body}"
            ),
        }
        self.seen.insert((path.to_owned(), method, status.to_string()));
    }

    /// Every documented (path, method, status).
    fn documented(&self) -> BTreeSet<(String, String, String)> {
        let mut all = BTreeSet::new();
        for (path, item) in self.document["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                for status in operation["responses"].as_object().unwrap().keys() {
                    all.insert((path.clone(), method.clone(), status.clone()));
                }
            }
        }
        all
    }
}

/// Sends a request to the route documented as `path` (at the concrete `uri`),
/// validates the answer, and returns it.
async fn send(
    checked: &mut Checked,
    app: &TestApp,
    key: Option<&str>,
    method: &str,
    path: &str,
    uri: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let (status, json, response) = call(app, key, method, &format!("/api/v1{uri}"), body).await;
    checked.answer(method, path, status.as_u16(), &response.body);
    (status.as_u16(), json)
}

/// Sends a raw body (for the bad-JSON answers).
async fn send_raw(
    checked: &mut Checked,
    app: &TestApp,
    key: Option<&str>,
    method: &str,
    path: &str,
    uri: &str,
    raw: &str,
) -> u16 {
    let mut request = axum::http::Request::builder()
        .method(method)
        .uri(format!("/api/v1{uri}"))
        .header("content-type", "application/json");
    if let Some(key) = key {
        request = request.header("authorization", format!("Bearer {key}"));
    }
    let response = app
        .request(request.body(axum::body::Body::from(raw.to_owned())).unwrap())
        .await;
    checked.answer(method, path, response.status.as_u16(), &response.body);
    response.status.as_u16()
}

#[test]
fn the_committed_document_is_the_generated_one() {
    let generated = server::api_doc::to_json(&server::api_v1().1);
    if std::env::var_os("GATEHOUSE_WRITE_OPENAPI").is_some() {
        std::fs::write(COMMITTED, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(COMMITTED).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/openapi.json is not the document the code generates; run \
         `GATEHOUSE_WRITE_OPENAPI=1 cargo test -p server --test api openapi` and commit it"
    );
    let document: Value = serde_json::from_str(&generated).unwrap();
    assert!(document["openapi"].as_str().unwrap().starts_with("3.1"));
    let paths: Vec<&String> = document["paths"].as_object().unwrap().keys().collect();
    assert_eq!(
        paths,
        [
            "/licenses/activate",
            "/licenses/deactivate",
            "/licenses/validate",
            "/licensing/keys",
            "/organizations",
            "/organizations/{id}",
            "/organizations/{id}/entitlements",
            "/organizations/{id}/entitlements/check",
            "/organizations/{id}/usage",
        ]
    );
}

#[test]
fn the_check_refuses_answers_the_document_does_not_describe() {
    let organization = r#"{"id":"6f1c1f9e-1111-4222-8333-944455556666","name":"Acme","external_id":null,"tier":"starter","status":"active"}"#;
    let mut checked = Checked::new();
    checked.answer("GET", "/organizations/{id}", 200, organization);
    for (path, status, body) in [
        (
            "/organizations/{id}",
            200,
            r#"{"id":"6f1c1f9e-1111-4222-8333-944455556666","name":"Acme"}"#,
        ),
        (
            "/organizations/{id}",
            200,
            r#"{"id":"6f1c1f9e-1111-4222-8333-944455556666","name":7,"external_id":null,"tier":null,"status":null}"#,
        ),
        ("/organizations/{id}", 418, organization),
        ("/organizations/{id}/nope", 200, organization),
        ("/organizations/{id}", 404, r#"{"code":"organization_not_found"}"#),
    ] {
        let refused = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            Checked::new().answer("GET", path, status, body);
        }));
        assert!(refused.is_err(), "{path} {status} {body}");
    }
}

/// What a case sends as its body.
enum Sent {
    Nothing,
    Json(Value),
    Raw(&'static str),
}

mod answers;
