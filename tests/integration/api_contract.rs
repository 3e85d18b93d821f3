//! docs/openapi.json is the API's contract: every route it lists is served and every
//! served route is listed; real responses carry the documented status codes and match
//! the documented schemas (required fields and types, recursively).

use serde_json::{json, Value};
use suite::*;

fn doc() -> Value {
    serde_json::from_str(import_api::OPENAPI_JSON).expect("docs/openapi.json is JSON")
}

#[test]
fn every_route_is_documented_and_every_documented_route_is_served() {
    let doc = doc();
    let paths = doc["paths"].as_object().unwrap();
    let mut documented = vec![];
    for (path, ops) in paths {
        for method in ops.as_object().unwrap().keys() {
            documented.push((method.to_uppercase(), path.clone()));
        }
    }
    let served: Vec<(String, String)> = import_api::ROUTES
        .iter()
        .map(|r| (r.method.to_string(), r.pattern.to_string()))
        .collect();
    for op in &served {
        assert!(documented.contains(op), "served but not documented: {op:?}");
    }
    for op in &documented {
        assert!(served.contains(op), "documented but not served: {op:?}");
    }
}

fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let name = r.rsplit('/').next().unwrap();
            &doc["components"]["schemas"][name]
        }
        None => schema,
    }
}

/// Checks `value` against a schema: type, required properties, enums, items.
fn check(doc: &Value, schema: &Value, value: &Value, at: &str) {
    let schema = resolve(doc, schema);
    if value.is_null() {
        assert!(
            schema["nullable"] == json!(true),
            "{at}: null where the schema does not allow it"
        );
        return;
    }
    if let Some(allowed) = schema["enum"].as_array() {
        assert!(
            allowed.contains(value),
            "{at}: {value} is not one of {allowed:?}"
        );
    }
    match schema["type"].as_str() {
        Some("object") => {
            let obj = value
                .as_object()
                .unwrap_or_else(|| panic!("{at}: expected an object, got {value}"));
            for req in schema["required"].as_array().into_iter().flatten() {
                assert!(
                    obj.contains_key(req.as_str().unwrap()),
                    "{at}: required property {req} missing in {value}"
                );
            }
            for (k, v) in obj {
                if let Some(prop) = schema["properties"].get(k) {
                    check(doc, prop, v, &format!("{at}.{k}"));
                } else if let Some(extra) =
                    schema.get("additionalProperties").filter(|a| a.is_object())
                {
                    check(doc, extra, v, &format!("{at}.{k}"));
                }
            }
        }
        Some("array") => {
            for (i, item) in value
                .as_array()
                .unwrap_or_else(|| panic!("{at}: expected an array"))
                .iter()
                .enumerate()
            {
                check(doc, &schema["items"], item, &format!("{at}[{i}]"));
            }
        }
        Some("string") => assert!(value.is_string(), "{at}: expected a string, got {value}"),
        Some("integer") => assert!(
            value.is_i64() || value.is_u64(),
            "{at}: expected an integer, got {value}"
        ),
        Some("boolean") => assert!(value.is_boolean(), "{at}: expected a boolean, got {value}"),
        _ => {}
    }
}

/// Calls the API and checks the answer against the documented operation.
async fn call_checked(
    api: &import_api::ApiContext,
    claims: &Value,
    method: &str,
    pattern: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let (status, value) = call_api(api, method, path, body, Some(claims.clone())).await;
    let doc = doc();
    let op = &doc["paths"][pattern][method.to_lowercase()];
    assert!(op.is_object(), "{method} {pattern} is not documented");
    let response = &op["responses"][status.to_string()];
    assert!(
        response.is_object(),
        "{method} {path} answered {status}, which is not documented: {value}"
    );
    match response["content"].as_object() {
        Some(content) => check(
            &doc,
            &content.values().next().unwrap()["schema"],
            &value,
            &format!("{method} {path} {status}"),
        ),
        None => assert!(
            value.is_null(),
            "{method} {path} {status} is documented without a body, and has one: {value}"
        ),
    }
    (status, value)
}

#[tokio::test]
async fn responses_match_the_documented_schemas() {
    let env = test_env("contract").await;
    let api = api_context(&env.store);
    let c = admin_claims(&env.org);
    let (s, _) = call_checked(
        &api,
        &c,
        "POST",
        "/trainings",
        "/trainings",
        Some(json!({"training_id": "forklift", "title": "Forklift", "published": false})),
    )
    .await;
    assert_eq!(s, 201);
    call_checked(
        &api,
        &c,
        "POST",
        "/trainings/{training_id}/publish",
        "/trainings/forklift/publish",
        None,
    )
    .await;
    call_checked(&api, &c, "GET", "/trainings", "/trainings", None).await;
    let (s, _) = call_checked(
        &api,
        &c,
        "POST",
        "/trainings/{training_id}/unpublish",
        "/trainings/missing/unpublish",
        None,
    )
    .await;
    assert_eq!(s, 404);
    call_checked(
        &api,
        &c,
        "POST",
        "/trainings/{training_id}/publish",
        "/trainings/forklift/publish",
        None,
    )
    .await;
    let (s, person) = call_checked(
        &api,
        &c,
        "POST",
        "/people",
        "/people",
        Some(json!({"email": "a@example.com", "name": "A B"})),
    )
    .await;
    assert_eq!(s, 201);
    let (s, _) = call_checked(
        &api,
        &c,
        "POST",
        "/imports",
        "/imports",
        Some(json!({"method": "email", "size": 100})),
    )
    .await;
    assert_eq!(s, 201);
    let (s, bad) = call_checked(
        &api,
        &c,
        "POST",
        "/imports",
        "/imports",
        Some(json!({"method": "fax"})),
    )
    .await;
    assert_eq!((s, bad["code"].as_str()), (400, Some("INVALID_METHOD")));
    let (_, created) = call_checked(&api, &c, "POST", "/imports", "/imports", Some(json!({"method": "email", "csv": "email,training,date\na@example.com,forklift,2024-01-01\nb@example.com,forklift,2024-01-01\n"}))).await;
    let id = created["import"]["import_id"].as_str().unwrap().to_string();
    deliver(
        &env.store,
        created["import"]["object_key"].as_str().unwrap(),
    )
    .await;
    call_checked(&api, &c, "GET", "/imports", "/imports?limit=1", None).await;
    call_checked(
        &api,
        &c,
        "GET",
        "/imports/{import_id}",
        &format!("/imports/{id}"),
        None,
    )
    .await;
    call_checked(
        &api,
        &c,
        "GET",
        "/imports/{import_id}/rows",
        &format!("/imports/{id}/rows?limit=1"),
        None,
    )
    .await;
    let (s, _) = call_checked(
        &api,
        &c,
        "GET",
        "/imports/{import_id}/rows",
        &format!("/imports/{id}/rows?outcome=nope"),
        None,
    )
    .await;
    assert_eq!(s, 400);
    let (s, _) = call_checked(
        &api,
        &c,
        "PATCH",
        "/imports/{import_id}/rows/{row}",
        &format!("/imports/{id}/rows/3"),
        Some(json!({"cells": {"email": "c@example.com"}})),
    )
    .await;
    assert_eq!(s, 200);
    let (s, _) = call_checked(
        &api,
        &c,
        "PATCH",
        "/imports/{import_id}/rows/{row}",
        &format!("/imports/{id}/rows/3"),
        Some(json!({"cells": {"nope": "x"}})),
    )
    .await;
    assert_eq!(s, 400);
    let (s, report) = call_checked(
        &api,
        &c,
        "GET",
        "/imports/{import_id}/error-report",
        &format!("/imports/{id}/error-report"),
        None,
    )
    .await;
    assert_eq!(s, 200);
    assert!(report.as_str().unwrap().contains("Import problems"));
    // An import with an error row, counted as large: its report is written by the worker.
    let (_, with_error) = call_checked(&api, &c, "POST", "/imports", "/imports", Some(json!({"method": "email", "csv": "email,training,date\nnot-an-email,forklift,2024-01-01\n"}))).await;
    let bad = with_error["import"]["import_id"]
        .as_str()
        .unwrap()
        .to_string();
    deliver(
        &env.store,
        with_error["import"]["object_key"].as_str().unwrap(),
    )
    .await;
    let large = api_context(&env.store.with_report_inline_rows(0));
    let (s, preparing) = call_checked(
        &large,
        &c,
        "GET",
        "/imports/{import_id}/error-report",
        &format!("/imports/{bad}/error-report"),
        None,
    )
    .await;
    assert_eq!((s, preparing["status"].as_str()), (202, Some("preparing")));
    let import = training_imports::domain::ImportId::parse(&bad).unwrap();
    deliver(
        &env.store,
        &training_imports::keys::s3::report_request_key(&env.org, &import),
    )
    .await;
    let (s, _) = call_checked(
        &large,
        &c,
        "GET",
        "/imports/{import_id}/error-report",
        &format!("/imports/{bad}/error-report"),
        None,
    )
    .await;
    assert_eq!(s, 303);
    let (s, _) = call_checked(
        &api,
        &c,
        "POST",
        "/imports/{import_id}/commit",
        &format!("/imports/{id}/commit"),
        Some(json!({})),
    )
    .await;
    assert_eq!(s, 202);
    deliver(&env.store, &format!("commits/{}/{id}.json", env.org)).await;
    let (s, _) = call_checked(
        &api,
        &c,
        "DELETE",
        "/imports/{import_id}/rows/{row}",
        &format!("/imports/{id}/rows/2"),
        None,
    )
    .await;
    assert_eq!(s, 200);
    call_checked(
        &api,
        &c,
        "DELETE",
        "/imports/{import_id}/pending-rows",
        &format!("/imports/{id}/pending-rows"),
        None,
    )
    .await;
    let pid = person["person"]["person_id"].as_str().unwrap();
    call_checked(
        &api,
        &c,
        "GET",
        "/people/{person_id}/completions",
        &format!("/people/{pid}/completions"),
        None,
    )
    .await;
    call_checked(&api, &c, "GET", "/issue-codes", "/issue-codes", None).await;
    let (s, _) = call_checked(
        &api,
        &c,
        "GET",
        "/imports/{import_id}",
        "/imports/does-not-exist",
        None,
    )
    .await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn a_body_that_is_not_text_is_a_400_not_a_500() {
    // API Gateway hands bodies that are not UTF-8 text over base64-encoded.
    let env = test_env("binary-body").await;
    let api = api_context(&env.store);
    for path in ["/people", "/imports", "/trainings"] {
        let req = binary_request(
            "POST",
            path,
            &[0xff, 0xfe, 0x21, 0x03],
            Some(admin_claims(&env.org)),
        );
        let resp = import_api::handle(&api, req).await.unwrap();
        assert_eq!(resp.status(), 400, "{path}");
    }
}

#[tokio::test]
async fn a_client_that_takes_gzip_gets_the_same_answer_gzipped() {
    use std::io::Read;
    let env = test_env("gzip").await;
    let api = api_context(&env.store);
    let c = admin_claims(&env.org);
    for n in 0..12 {
        let csv = format!("email,training,date\nperson{n}@example.com,forklift,2024-01-01\n");
        let (s, _) = call_api(
            &api,
            "POST",
            "/imports",
            Some(json!({"method": "email", "csv": csv, "file_name": format!("roster {n}.csv")})),
            Some(c.clone()),
        )
        .await;
        assert_eq!(s, 201);
    }
    let plain = import_api::handle(&api, api_request("GET", "/imports", None, Some(c.clone())))
        .await
        .unwrap();
    let lambda_http::Body::Text(plain_text) = plain.body() else {
        panic!("JSON goes as text")
    };
    assert!(
        plain_text.len() > import_api::compression::COMPRESS_FROM_BYTES,
        "{} bytes is too few to compress",
        plain_text.len()
    );
    assert!(!plain.headers().contains_key("content-encoding"));
    assert_eq!(plain.headers()["vary"], "accept-encoding");

    let mut req = api_request("GET", "/imports", None, Some(c.clone()));
    req.headers_mut()
        .insert("accept-encoding", "gzip, deflate, br".parse().unwrap());
    let gz = import_api::handle(&api, req).await.unwrap();
    assert_eq!(gz.status(), 200);
    assert_eq!(gz.headers()["content-encoding"], "gzip");
    assert_eq!(gz.headers()["content-type"], "application/json");
    // Bytes: lambda_http hands them to API Gateway base64-encoded, which sends them on as they are.
    let lambda_http::Body::Binary(bytes) = gz.body() else {
        panic!("gzip goes as bytes")
    };
    assert!(
        bytes.len() * 4 < plain_text.len(),
        "{} gzipped bytes from {}",
        bytes.len(),
        plain_text.len()
    );
    let mut text = String::new();
    flate2::read::GzDecoder::new(&bytes[..])
        .read_to_string(&mut text)
        .unwrap();
    let (a, b): (Value, Value) = (
        serde_json::from_str(&text).unwrap(),
        serde_json::from_str(plain_text).unwrap(),
    );
    assert_eq!(a, b);
    assert_eq!(a["imports"].as_array().unwrap().len(), 12);
}
