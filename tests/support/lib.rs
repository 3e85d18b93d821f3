//! The test harness: clients for the real local services (DynamoDB Local and the
//! SeaweedFS S3 server, started by scripts/services), a fresh table per test, and
//! real Lambda event JSON (fixtures from aws_lambda_events) filled in per test.
//!
//! A test fails, never skips, when a service is not running.

pub mod cognito;
pub mod workload;
pub mod writes;

use aws_credential_types::Credentials;
use aws_lambda_events::event::s3::S3Event;
use serde_json::{json, Value};
use std::sync::OnceLock;
use training_imports::domain::OrgId;
use training_imports::store::Store;

pub const ACCESS_KEY: &str = "local";
pub const SECRET_KEY: &str = "local-secret-key";
pub const TEST_BUCKET: &str = "training-imports-test";

fn endpoint(var: &str, default: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| default.to_string())
}

pub fn dynamodb_endpoint() -> String {
    endpoint("TEST_DYNAMODB_ENDPOINT", "http://127.0.0.1:8000")
}
pub fn s3_endpoint() -> String {
    endpoint("TEST_S3_ENDPOINT", "http://127.0.0.1:8333")
}

pub async fn sdk_config(endpoint_url: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(Credentials::new(
            ACCESS_KEY, SECRET_KEY, None, None, "local",
        ))
        .endpoint_url(endpoint_url)
        .http_client(training_imports::aws::http_client())
        .load()
        .await
}

/// Clients for the local services, with their own table named after the test.
pub async fn store_for(table: &str, bucket: &str) -> Store {
    let ddb = aws_sdk_dynamodb::Client::new(&sdk_config(&dynamodb_endpoint()).await);
    let s3_conf = aws_sdk_s3::config::Builder::from(&sdk_config(&s3_endpoint()).await)
        .force_path_style(true)
        .build();
    let s3 = aws_sdk_s3::Client::from_conf(s3_conf);
    let store = Store::new(ddb, s3, table, bucket);
    if let Err(e) = store.create_table_if_missing().await {
        panic!(
            "DynamoDB Local is not reachable at {} ({e:?}). Start it with scripts/services start.",
            dynamodb_endpoint()
        );
    }
    if let Err(e) = store.create_bucket_if_missing().await {
        panic!("the local S3 server is not reachable at {} ({e:?}). Start it with scripts/services start.", s3_endpoint());
    }
    store
}

/// One test's world: a fresh table and a fresh organisation.
pub struct TestEnv {
    pub store: Store,
    pub org: OrgId,
}

pub async fn test_env(name: &str) -> TestEnv {
    let suffix = &uuid::Uuid::new_v4().simple().to_string()[..8];
    let store = store_for(&format!("t-{name}-{suffix}"), TEST_BUCKET).await;
    TestEnv {
        store,
        org: OrgId::parse(&format!("org-{suffix}")).unwrap(),
    }
}

fn fixture(name: &str) -> Value {
    static DIR: OnceLock<std::path::PathBuf> = OnceLock::new();
    let dir =
        DIR.get_or_init(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures"));
    let text =
        std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("fixture {name}: {e}"));
    serde_json::from_str(&text).unwrap()
}

/// The S3 ObjectCreated event AWS sends, for one object (key URL-encoded as S3 does).
pub fn s3_event_json(bucket: &str, key: &str, size: i64, etag: &str) -> Value {
    let mut event = fixture("s3-object-created.json");
    let encoded: String = key
        .split('/')
        .map(percent_encode)
        .collect::<Vec<_>>()
        .join("/");
    let s3 = &mut event["Records"][0]["s3"];
    s3["bucket"]["name"] = json!(bucket);
    s3["bucket"]["arn"] = json!(format!("arn:aws:s3:::{bucket}"));
    s3["object"]["key"] = json!(encoded);
    s3["object"]["size"] = json!(size);
    s3["object"]["eTag"] = json!(etag);
    event
}

fn percent_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

pub fn s3_event(bucket: &str, key: &str, size: i64, etag: &str) -> S3Event {
    serde_json::from_value(s3_event_json(bucket, key, size, etag)).unwrap()
}

/// Puts an object in the local S3 and delivers its event to the worker, as AWS would.
pub async fn put_and_deliver(store: &Store, key: &str, body: &[u8]) -> import_worker::WorkerReport {
    store
        .put_object(key, "text/csv", body.to_vec())
        .await
        .unwrap();
    deliver(store, key).await
}

/// Delivers the ObjectCreated event of an existing object to the worker.
pub async fn deliver(store: &Store, key: &str) -> import_worker::WorkerReport {
    let event = object_event(store, key, None).await;
    import_worker::handle(store, event).await.unwrap()
}

/// The ObjectCreated event of an object in the bucket (its size as S3 has it; its
/// ETag, or `etag`).
pub async fn object_event(store: &Store, key: &str, etag: Option<&str>) -> S3Event {
    let head = store
        .s3()
        .head_object()
        .bucket(store.bucket())
        .key(key)
        .send()
        .await
        .unwrap();
    s3_event(
        store.bucket(),
        key,
        head.content_length.unwrap_or(0),
        etag.or(head.e_tag.as_deref()).unwrap_or(""),
    )
}

/// The PostConfirmation event Cognito sends when a user confirms their sign-up.
pub fn post_confirmation_event(
    trigger_source: &str,
    sub: &str,
    attributes: &[(&str, &str)],
) -> Value {
    let mut event = cognito_event("cognito-post-confirmation.json", sub, attributes);
    event["triggerSource"] = json!(trigger_source);
    event
}

/// The PostAuthentication event Cognito sends after a user signs in.
pub fn post_authentication_event(sub: &str, attributes: &[(&str, &str)]) -> Value {
    cognito_event("cognito-post-authentication.json", sub, attributes)
}

/// A Cognito trigger event from its fixture, for the user `sub` with these attributes.
/// An email or phone number comes verified, as Cognito has it after the person confirmed
/// it with their code, unless the test gives `email_verified` / `phone_number_verified`
/// itself.
fn cognito_event(fixture_name: &str, sub: &str, attributes: &[(&str, &str)]) -> Value {
    let mut event = fixture(fixture_name);
    event["userName"] = json!(sub);
    event["userPoolId"] = json!("us-east-1_localpool");
    let mut attrs = serde_json::Map::new();
    attrs.insert("sub".into(), json!(sub));
    for (k, v) in attributes {
        attrs.insert((*k).into(), json!(v));
    }
    for (key, flag) in [
        ("email", "email_verified"),
        ("phone_number", "phone_number_verified"),
    ] {
        if attrs.contains_key(key) && !attrs.contains_key(flag) {
            attrs.insert(flag.into(), json!("true"));
        }
    }
    event["request"]["userAttributes"] = Value::Object(attrs);
    event
}

/// An API Gateway HTTP API (payload v2) request with a JWT authorizer's claims.
pub fn api_request(
    method: &str,
    path_and_query: &str,
    body: Option<&str>,
    claims: Option<Value>,
) -> lambda_http::Request {
    lambda_http::request::from_str(&request_json(method, path_and_query, body, claims))
        .expect("valid API Gateway v2 event")
}

fn request_json(
    method: &str,
    path_and_query: &str,
    body: Option<&str>,
    claims: Option<Value>,
) -> String {
    let mut event = fixture("apigw-v2-request-jwt.json");
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    event["rawPath"] = json!(path);
    event["rawQueryString"] = json!(query);
    let params: serde_json::Map<String, Value> = url_pairs(query)
        .into_iter()
        .map(|(k, v)| (k, json!(v)))
        .collect();
    event["queryStringParameters"] = Value::Object(params);
    event["pathParameters"] = json!({});
    event["cookies"] = json!([]);
    event["headers"] = json!({ "content-type": "application/json" });
    event["routeKey"] = json!("$default");
    event["requestContext"]["http"]["method"] = json!(method);
    event["requestContext"]["http"]["path"] = json!(path);
    match claims {
        Some(c) => event["requestContext"]["authorizer"]["jwt"]["claims"] = c,
        None => event["requestContext"]["authorizer"] = Value::Null,
    }
    event["body"] = body.map(|b| json!(b)).unwrap_or(Value::Null);
    event["isBase64Encoded"] = json!(false);
    event.to_string()
}

/// The same, with a body API Gateway passes base64-encoded (bytes that are not text).
pub fn binary_request(
    method: &str,
    path: &str,
    body: &[u8],
    claims: Option<Value>,
) -> lambda_http::Request {
    use base64::Engine;
    let mut event: Value = serde_json::from_str(&request_json(method, path, None, claims)).unwrap();
    event["body"] = json!(base64::engine::general_purpose::STANDARD.encode(body));
    event["isBase64Encoded"] = json!(true);
    lambda_http::request::from_str(&event.to_string()).expect("valid API Gateway v2 event")
}

fn url_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (k.to_string(), v.replace('+', " "))
        })
        .collect()
}

/// The email in [`admin_claims`].
pub const ADMIN_EMAIL: &str = "ana@acme.example";

/// Claims of an admin of `org`, as the Cognito JWT authorizer passes them.
pub fn admin_claims(org: &OrgId) -> Value {
    json!({ "sub": "admin-sub", "email": ADMIN_EMAIL, "custom:org_id": org.as_str(), "cognito:groups": "[admins]" })
}

/// Calls the API handler and returns (status, JSON body).
pub async fn call_api(
    ctx: &import_api::ApiContext,
    method: &str,
    path: &str,
    body: Option<Value>,
    claims: Option<Value>,
) -> (u16, Value) {
    let text = body.map(|b| b.to_string());
    let req = api_request(method, path, text.as_deref(), claims);
    let resp = import_api::handle(ctx, req)
        .await
        .expect("the handler never fails the invocation");
    let status = resp.status().as_u16();
    let body = match resp.body() {
        lambda_http::Body::Text(t) => serde_json::from_str(t).unwrap_or(Value::String(t.clone())),
        lambda_http::Body::Binary(b) => serde_json::from_slice(b)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(b).into_owned())),
        _ => Value::Null,
    };
    (status, body)
}

/// A plain HTTP/1.1 PUT (what a browser does with a presigned URL), on loopback only.
pub async fn http_put(url: &str, content_type: &str, body: &[u8]) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.strip_prefix("http://").expect("local URLs are http");
    let (host, path) = rest
        .split_once('/')
        .map(|(h, p)| (h, format!("/{p}")))
        .unwrap_or((rest, "/".into()));
    assert!(
        host.starts_with("127.0.0.1") || host.starts_with("localhost"),
        "test PUTs go to loopback only: {host}"
    );
    let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
    let head = format!("PUT {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let text = String::from_utf8_lossy(&response);
    text.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// A plain HTTP/1.1 GET (what a browser does with a presigned download URL), on
/// loopback only: (status, body).
pub async fn http_get(url: &str) -> (u16, Vec<u8>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.strip_prefix("http://").expect("local URLs are http");
    let (host, path) = rest
        .split_once('/')
        .map(|(h, p)| (h, format!("/{p}")))
        .unwrap_or((rest, "/".into()));
    assert!(
        host.starts_with("127.0.0.1") || host.starts_with("localhost"),
        "test GETs go to loopback only: {host}"
    );
    let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP answer");
    let head = String::from_utf8_lossy(&response[..split]).to_string();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut body = response[split + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = unchunk(&body);
    }
    (status, body)
}

fn unchunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(end) = data.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(
            String::from_utf8_lossy(&data[..end])
                .split(';')
                .next()
                .unwrap()
                .trim(),
            16,
        )
        .unwrap_or(0);
        if size == 0 {
            break;
        }
        out.extend_from_slice(&data[end + 2..end + 2 + size]);
        data = &data[end + 2 + size + 2..];
    }
    out
}

/// The API context tests use: JWT identity only, like the deployed API.
pub fn api_context(store: &Store) -> import_api::ApiContext {
    import_api::ApiContext {
        store: store.clone(),
        identity: import_api::identity::IdentityMode::Jwt,
        sign_in: None,
    }
}

/// Runs the PostConfirmation handler with a real event and checks it came back unchanged.
pub async fn sign_up(
    store: &Store,
    trigger_source: &str,
    sub: &str,
    attributes: &[(&str, &str)],
) -> on_signup::Handled {
    let event = post_confirmation_event(trigger_source, sub, attributes);
    let triggers = cognito::triggers(store).await;
    let handled = on_signup::process(&triggers, &event).await.unwrap();
    let returned = on_signup::handle(&triggers, event.clone()).await.unwrap();
    assert_eq!(
        returned, event,
        "the trigger must return the event unchanged"
    );
    handled
}

/// The same table and bucket as `store`, through a DynamoDB client with `interceptor`
/// (one that records what the client asks for).
pub async fn intercepted(
    store: &Store,
    interceptor: impl aws_sdk_dynamodb::config::Intercept + 'static,
) -> Store {
    let conf = aws_sdk_dynamodb::config::Builder::from(&sdk_config(&dynamodb_endpoint()).await)
        .interceptor(interceptor)
        .build();
    let ddb = aws_sdk_dynamodb::Client::from_conf(conf);
    Store::new(ddb, store.s3().clone(), store.table(), store.bucket())
}

/// A DynamoDB request's operation (`PutItem`, `TransactWriteItems`...) and its JSON body.
pub fn operation_of(request: &aws_smithy_runtime_api::http::Request) -> (String, &[u8]) {
    let target = request
        .headers()
        .get("x-amz-target")
        .and_then(|t| t.rsplit('.').next())
        .unwrap_or("?")
        .to_string();
    (target, request.body().bytes().unwrap_or_default())
}
