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

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn the_document_is_served(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let response = app.get("/api/v1/openapi.json").await;
    assert_eq!(response.status, 200);
    assert_eq!(response.headers["content-type"], "application/json");
    let served: Value = serde_json::from_str(&response.body).unwrap();
    assert_eq!(served, generated());
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn every_answer_of_every_route_is_the_documented_one(pool: PgPool) {
    let mut checked = Checked::new();
    let c = &mut checked;
    let app = licensing_app(&pool).await;
    app.signed_up("ada@acme.test", "Acme", "enterprise").await;
    app.signed_up("bob@other.test", "Other", "starter").await;
    let acme = organization_id(&pool, "Acme").await;
    let read = api_key(&app, Scope::Read).await;
    let write = api_key(&app, Scope::Write).await;
    let (w, r) = (Some(write.as_str()), Some(read.as_str()));
    let org = format!("/organizations/{acme}");
    let nobody = "/organizations/00000000-0000-0000-0000-000000000000";

    // The host product's routes.
    let p = "/organizations";
    assert_eq!(
        send(c, &app, r, "GET", p, "/organizations?limit=1", None).await.0,
        200
    );
    assert_eq!(send(c, &app, None, "GET", p, "/organizations", None).await.0, 401);
    assert_eq!(
        send(c, &app, Some("gh_nope"), "GET", p, "/organizations", None)
            .await
            .0,
        401
    );
    assert_eq!(
        send(c, &app, r, "GET", p, "/organizations?limit=0", None).await.0,
        422
    );
    assert_eq!(
        send(c, &app, r, "GET", p, "/organizations?starting_after=x", None)
            .await
            .0,
        422
    );

    let p = "/organizations/{id}";
    assert_eq!(send(c, &app, r, "GET", p, &org, None).await.0, 200);
    assert_eq!(send(c, &app, r, "GET", p, nobody, None).await.0, 404);
    assert_eq!(send(c, &app, None, "GET", p, &org, None).await.0, 401);
    assert_eq!(
        send(c, &app, r, "GET", p, "/organizations/ext:unknown", None)
            .await
            .0,
        404
    );
    assert_eq!(
        send(
            c,
            &app,
            w,
            "PATCH",
            p,
            &org,
            Some(json!({"external_id": "acme-1"}))
        )
        .await
        .0,
        200
    );
    assert_eq!(
        send(c, &app, w, "PATCH", p, &org, Some(json!({"external_id": null})))
            .await
            .0,
        200
    );
    assert_eq!(
        send(c, &app, r, "PATCH", p, &org, Some(json!({"external_id": "x"})))
            .await
            .0,
        403
    );
    assert_eq!(
        send(c, &app, w, "PATCH", p, nobody, Some(json!({"external_id": "x"})))
            .await
            .0,
        404
    );
    assert_eq!(
        send(c, &app, w, "PATCH", p, &org, Some(json!({"external_id": ""})))
            .await
            .0,
        422
    );
    assert_eq!(send(c, &app, w, "PATCH", p, &org, Some(json!({}))).await.0, 422);
    assert_eq!(send_raw(c, &app, w, "PATCH", p, &org, "{not json").await, 400);
    send(c, &app, w, "PATCH", p, "/organizations/ext:unknown", None).await;
    let other = organization_id(&pool, "Other").await;
    send(
        c,
        &app,
        w,
        "PATCH",
        p,
        &format!("/organizations/{other}"),
        Some(json!({"external_id": "taken"})),
    )
    .await;
    assert_eq!(
        send(
            c,
            &app,
            w,
            "PATCH",
            p,
            &org,
            Some(json!({"external_id": "taken"}))
        )
        .await
        .0,
        409
    );
    assert_eq!(
        send(c, &app, None, "PATCH", p, &org, Some(json!({"external_id": "x"})))
            .await
            .0,
        401
    );

    let p = "/organizations/{id}/entitlements";
    let (status, _, first) = call(&app, r, "GET", &format!("/api/v1{org}/entitlements"), None).await;
    c.answer("GET", p, status.as_u16(), &first.body);
    let etag = first.headers["etag"].to_str().unwrap().to_owned();
    let unchanged = app
        .request(
            axum::http::Request::get(format!("/api/v1{org}/entitlements"))
                .header("authorization", format!("Bearer {read}"))
                .header("if-none-match", etag)
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await;
    c.answer("GET", p, unchanged.status.as_u16(), &unchanged.body);
    assert_eq!(unchanged.status, 304);
    assert_eq!(
        send(c, &app, r, "GET", p, &format!("{nobody}/entitlements"), None)
            .await
            .0,
        404
    );
    assert_eq!(
        send(c, &app, None, "GET", p, &format!("{org}/entitlements"), None)
            .await
            .0,
        401
    );

    let p = "/organizations/{id}/entitlements/check";
    for query in [
        "feature=self_hosted_licence",
        "metric=users&increment=1",
        "metric=users&increment=1000",
    ] {
        assert_eq!(
            send(
                c,
                &app,
                r,
                "GET",
                p,
                &format!("{org}/entitlements/check?{query}"),
                None
            )
            .await
            .0,
            200
        );
    }
    for query in ["", "feature=nope", "metric=nope", "metric=users&increment=-1"] {
        assert_eq!(
            send(
                c,
                &app,
                r,
                "GET",
                p,
                &format!("{org}/entitlements/check?{query}"),
                None
            )
            .await
            .0,
            422
        );
    }
    assert_eq!(
        send(
            c,
            &app,
            r,
            "GET",
            p,
            &format!("{nobody}/entitlements/check?feature=x"),
            None
        )
        .await
        .0,
        404
    );
    assert_eq!(
        send(
            c,
            &app,
            None,
            "GET",
            p,
            &format!("{org}/entitlements/check?feature=x"),
            None
        )
        .await
        .0,
        401
    );

    let p = "/organizations/{id}/usage";
    let batch = |id: &str, increment: i64| json!({"reports": [{"id": id, "metric": "workspaces", "increment": increment}]});
    assert_eq!(
        send(
            c,
            &app,
            w,
            "POST",
            p,
            &format!("{org}/usage"),
            Some(batch("r-1", 2))
        )
        .await
        .0,
        200
    );
    assert_eq!(
        send(
            c,
            &app,
            w,
            "POST",
            p,
            &format!("{org}/usage"),
            Some(batch("r-1", 2))
        )
        .await
        .0,
        200
    );
    assert_eq!(
        send(
            c,
            &app,
            w,
            "POST",
            p,
            &format!("{org}/usage"),
            Some(batch("r-1", 3))
        )
        .await
        .0,
        409
    );
    assert_eq!(
        send(
            c,
            &app,
            w,
            "POST",
            p,
            &format!("{org}/usage"),
            Some(batch("r-2", -9))
        )
        .await
        .0,
        422
    );
    assert_eq!(
        send(
            c,
            &app,
            r,
            "POST",
            p,
            &format!("{org}/usage"),
            Some(batch("r-3", 1))
        )
        .await
        .0,
        403
    );
    assert_eq!(
        send(
            c,
            &app,
            w,
            "POST",
            p,
            &format!("{nobody}/usage"),
            Some(batch("r-4", 1))
        )
        .await
        .0,
        404
    );
    assert_eq!(
        send_raw(c, &app, w, "POST", p, &format!("{org}/usage"), "[]").await,
        400
    );
    assert_eq!(
        send(
            c,
            &app,
            None,
            "POST",
            p,
            &format!("{org}/usage"),
            Some(batch("r-5", 1))
        )
        .await
        .0,
        401
    );
    assert_eq!(
        send(c, &app, r, "GET", p, &format!("{org}/usage?days=7"), None)
            .await
            .0,
        200
    );
    assert_eq!(
        send(c, &app, r, "GET", p, &format!("{org}/usage?days=0"), None)
            .await
            .0,
        422
    );
    assert_eq!(
        send(c, &app, r, "GET", p, &format!("{nobody}/usage"), None)
            .await
            .0,
        404
    );
    assert_eq!(
        send(c, &app, None, "GET", p, &format!("{org}/usage"), None)
            .await
            .0,
        401
    );

    // The licence routes.
    let (_, key) = issued(&app, acme, 1).await;
    assert_eq!(
        send(c, &app, None, "GET", "/licensing/keys", "/licensing/keys", None)
            .await
            .0,
        200
    );
    let p = "/licenses/activate";
    let machine = |fingerprint: &str| json!({"key": key, "fingerprint": fingerprint, "hostname": "h"});
    assert_eq!(
        send(c, &app, None, "POST", p, p, Some(machine("m-1"))).await.0,
        200
    );
    assert_eq!(
        send(c, &app, None, "POST", p, p, Some(machine("m-2"))).await.0,
        409
    );
    let typo = format!("{}X", &key[..key.len() - 1]);
    assert_eq!(
        send(
            c,
            &app,
            None,
            "POST",
            p,
            p,
            Some(json!({"key": typo, "fingerprint": "m", "hostname": "h"}))
        )
        .await
        .0,
        422
    );
    assert_eq!(send_raw(c, &app, None, "POST", p, p, "nope").await, 400);
    let (_, unknown_key) = {
        let keys = app.state.license_keys.as_deref().unwrap();
        (
            (),
            keys.license_key(uuid::Uuid::new_v4(), 2026).unwrap().to_string(),
        )
    };
    assert_eq!(
        send(
            c,
            &app,
            None,
            "POST",
            p,
            p,
            Some(json!({"key": unknown_key, "fingerprint": "m", "hostname": "h"}))
        )
        .await
        .0,
        404
    );

    let p = "/licenses/validate";
    let (status, body) = send(
        c,
        &app,
        None,
        "POST",
        p,
        p,
        Some(json!({"key": key, "fingerprint": "m-1", "nonce": "n"})),
    )
    .await;
    assert_eq!((status, body["code"].as_str()), (200, Some("VALID")));
    let (status, body) = send(
        c,
        &app,
        None,
        "POST",
        p,
        p,
        Some(json!({"key": key, "fingerprint": "m-9"})),
    )
    .await;
    assert_eq!((status, body["code"].as_str()), (200, Some("NO_MACHINE")));
    assert_eq!(
        send(
            c,
            &app,
            None,
            "POST",
            p,
            p,
            Some(json!({"key": "2026-0000", "fingerprint": "m"}))
        )
        .await
        .0,
        422
    );
    assert_eq!(send_raw(c, &app, None, "POST", p, p, "{").await, 400);

    let p = "/licenses/deactivate";
    assert_eq!(
        send(
            c,
            &app,
            None,
            "POST",
            p,
            p,
            Some(json!({"key": key, "fingerprint": "m-9"}))
        )
        .await
        .0,
        404
    );
    assert_eq!(
        send(
            c,
            &app,
            None,
            "POST",
            p,
            p,
            Some(json!({"key": key, "fingerprint": "m-1"}))
        )
        .await
        .0,
        200
    );
    assert_eq!(
        send(
            c,
            &app,
            None,
            "POST",
            p,
            p,
            Some(json!({"key": key, "fingerprint": ""}))
        )
        .await
        .0,
        422
    );
    assert_eq!(send_raw(c, &app, None, "POST", p, p, "[1]").await, 400);

    // Revoked and suspended licences refuse activation at once.
    sqlx::query("update license set suspended_at = now()")
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(
        send(
            c,
            &app,
            None,
            "POST",
            "/licenses/activate",
            "/licenses/activate",
            Some(machine("m-3"))
        )
        .await
        .0,
        403
    );
    sqlx::query("update license set suspended_at = null")
        .execute(&pool)
        .await
        .unwrap();

    // Budgets run out: the licence key's (60 a minute) and an API key's.
    let mut limited = false;
    for _ in 0..70 {
        let (status, _) = send(
            c,
            &app,
            None,
            "POST",
            p,
            p,
            Some(json!({"key": key, "fingerprint": "m-1"})),
        )
        .await;
        limited |= status == 429;
        if limited {
            break;
        }
    }
    assert!(limited, "the licence key's budget ran out");
    for path in ["/licenses/activate", "/licenses/validate"] {
        let mut limited = false;
        for _ in 0..70 {
            limited |= send(c, &app, None, "POST", path, path, Some(machine("m-1")))
                .await
                .0
                == 429;
            if limited {
                break;
            }
        }
        assert!(limited, "{path}");
    }
    let throttled = TestApp::with_settings(pool.clone(), &[("GATEHOUSE_API_REQUESTS_PER_MINUTE", "1")]);
    let throttled_key = api_key(&throttled, Scope::Write).await;
    let t = Some(throttled_key.as_str());
    for (method, path, uri, body) in [
        ("GET", "/organizations", "/organizations".to_owned(), None),
        ("GET", "/organizations/{id}", org.clone(), None),
        (
            "PATCH",
            "/organizations/{id}",
            org.clone(),
            Some(json!({"external_id": "z"})),
        ),
        (
            "GET",
            "/organizations/{id}/entitlements",
            format!("{org}/entitlements"),
            None,
        ),
        (
            "GET",
            "/organizations/{id}/entitlements/check",
            format!("{org}/entitlements/check?feature=x"),
            None,
        ),
        ("GET", "/organizations/{id}/usage", format!("{org}/usage"), None),
        (
            "POST",
            "/organizations/{id}/usage",
            format!("{org}/usage"),
            Some(batch("r-9", 1)),
        ),
    ] {
        let mut limited = false;
        for _ in 0..3 {
            limited |= send(c, &throttled, t, method, path, &uri, body.clone()).await.0 == 429;
        }
        assert!(limited, "{method} {path}");
    }

    // Without signing keys, the licence routes say so.
    let unconfigured = TestApp::without_sync(pool.clone());
    for (method, path) in [
        ("GET", "/licensing/keys"),
        ("POST", "/licenses/activate"),
        ("POST", "/licenses/deactivate"),
        ("POST", "/licenses/validate"),
    ] {
        // A key whose budget is not spent.
        let body =
            (method == "POST").then(|| json!({"key": unknown_key, "fingerprint": "m-1", "hostname": "h"}));
        let (status, _) = send(c, &unconfigured, None, method, path, path, body).await;
        if path == "/licenses/deactivate" {
            // Freeing a seat needs no signature: it answers without keys.
            assert!([200, 404].contains(&status), "{status}");
        } else {
            assert_eq!(status, 503, "{path}");
        }
    }

    // Every documented answer was met at least once.
    let unmet: Vec<_> = checked.documented().difference(&checked.seen).cloned().collect();
    assert!(unmet.is_empty(), "documented but never answered: {unmet:?}");
}
