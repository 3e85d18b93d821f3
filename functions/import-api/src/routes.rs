//! The route table and one handler per route.

use crate::error::ApiError;
use crate::identity::Caller;
use crate::ApiContext;
use http::Method;
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;
use training_imports::domain::{
    ImportId, IssueCode, MatchMethod, Outcome, PersonId, RowStatus, TrainingId,
};
use training_imports::pipeline::join_codes;
use training_imports::pipeline::manage::{
    self, NewImport, NewRosterPerson, CSV_CONTENT_TYPE, UPLOAD_URL_TTL,
};
use training_imports::store::ImportOptions;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    OpenApi,
    Page,
    Script,
    Styles,
    SignIn,
    ListImports,
    CreateImport,
    GetImport,
    DeleteImport,
    PreviewImport,
    ListRows,
    Commit,
    DeleteRow,
    DeletePending,
    PersonCompletions,
    AddPerson,
    ListTrainings,
    CreateTraining,
    PublishTraining,
    UnpublishTraining,
    IssueCodes,
    ListJoinCodes,
    CreateJoinCode,
    RevokeJoinCode,
    FixRow,
    ErrorReport,
}

pub struct Route {
    pub method: &'static str,
    pub pattern: &'static str,
    pub op: Op,
    /// Served without a caller (the API description only).
    pub public: bool,
}

macro_rules! r {
    ($m:literal, $p:literal, $op:ident) => {
        Route {
            method: $m,
            pattern: $p,
            op: Op::$op,
            public: false,
        }
    };
}

pub const ROUTES: &[Route] = &[
    Route {
        method: "GET",
        pattern: "/openapi.json",
        op: Op::OpenApi,
        public: true,
    },
    // The admin page: static assets built into the binary; its API calls need a token.
    Route {
        method: "GET",
        pattern: "/",
        op: Op::Page,
        public: true,
    },
    Route {
        method: "GET",
        pattern: "/app.js",
        op: Op::Script,
        public: true,
    },
    Route {
        method: "GET",
        pattern: "/app.css",
        op: Op::Styles,
        public: true,
    },
    Route {
        method: "GET",
        pattern: "/sign-in.json",
        op: Op::SignIn,
        public: true,
    },
    r!("GET", "/imports", ListImports),
    r!("POST", "/imports", CreateImport),
    r!("GET", "/imports/{import_id}", GetImport),
    r!("DELETE", "/imports/{import_id}", DeleteImport),
    r!("GET", "/imports/{import_id}/preview", PreviewImport),
    r!("GET", "/imports/{import_id}/rows", ListRows),
    r!("POST", "/imports/{import_id}/commit", Commit),
    r!("DELETE", "/imports/{import_id}/rows/{row}", DeleteRow),
    r!("PATCH", "/imports/{import_id}/rows/{row}", FixRow),
    r!("GET", "/imports/{import_id}/error-report", ErrorReport),
    r!("DELETE", "/imports/{import_id}/pending-rows", DeletePending),
    r!("GET", "/people/{person_id}/completions", PersonCompletions),
    r!("POST", "/people", AddPerson),
    r!("GET", "/trainings", ListTrainings),
    r!("POST", "/trainings", CreateTraining),
    r!("POST", "/trainings/{training_id}/publish", PublishTraining),
    r!(
        "POST",
        "/trainings/{training_id}/unpublish",
        UnpublishTraining
    ),
    r!("GET", "/issue-codes", IssueCodes),
    r!("GET", "/join-codes", ListJoinCodes),
    r!("POST", "/join-codes", CreateJoinCode),
    r!("DELETE", "/join-codes/{code}", RevokeJoinCode),
];

type Params = HashMap<&'static str, String>;

fn matches(pattern: &'static str, path: &str) -> Option<Params> {
    let p: Vec<&str> = pattern.trim_matches('/').split('/').collect();
    let s: Vec<&str> = path
        .trim_end_matches('/')
        .trim_start_matches('/')
        .split('/')
        .collect();
    if p.len() != s.len() {
        return None;
    }
    let mut params = Params::new();
    for (pp, ss) in p.iter().zip(&s) {
        if let Some(name) = pp.strip_prefix('{').and_then(|x| x.strip_suffix('}')) {
            let decoded = percent_encoding::percent_decode_str(ss)
                .decode_utf8()
                .ok()?
                .into_owned();
            if decoded.is_empty() {
                return None;
            }
            params.insert(name, decoded);
        } else if pp != ss {
            return None;
        }
    }
    Some(params)
}

pub fn route(method: &Method, path: &str) -> Result<(&'static Route, Params), ApiError> {
    let mut path_matched = false;
    for r in ROUTES {
        if let Some(params) = matches(r.pattern, path) {
            path_matched = true;
            if r.method == method.as_str() {
                return Ok((r, params));
            }
        }
    }
    if path_matched {
        Err(ApiError::MethodNotAllowed {
            method: method.to_string(),
        })
    } else {
        Err(ApiError::NotFound { what: "route" })
    }
}

fn json_response(status: u16, value: Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::Text(value.to_string()))
        .expect("static response parts are valid")
}

fn body_json<T: for<'de> Deserialize<'de> + Default>(req: &Request) -> Result<T, ApiError> {
    let bytes: &[u8] = match req.body() {
        Body::Empty => return Ok(T::default()),
        Body::Text(t) => t.as_bytes(),
        Body::Binary(b) => b,
        _ => return Ok(T::default()),
    };
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(bytes).map_err(|e| {
        ApiError::bad(
            "INVALID_JSON",
            format!("the request body is not the JSON this route expects: {e}"),
        )
    })
}

fn query(req: &Request, name: &str) -> Option<String> {
    req.query_string_parameters_ref()
        .and_then(|q| q.first(name))
        .map(str::to_string)
}

fn import_id(params: &Params) -> Result<ImportId, ApiError> {
    // An id that cannot exist is simply not found, like any other missing import.
    ImportId::parse(&params["import_id"]).map_err(|_| ApiError::NotFound { what: "import" })
}

fn limit(req: &Request) -> Result<usize, ApiError> {
    match query(req, "limit") {
        None => Ok(50),
        Some(l) => match l.parse::<usize>() {
            Ok(n) if (1..=500).contains(&n) => Ok(n),
            _ => Err(ApiError::bad(
                "INVALID_LIMIT",
                "limit must be a whole number from 1 to 500",
            )),
        },
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct CreateImportBody {
    method: Option<String>,
    file_name: Option<String>,
    #[serde(default)]
    default_country: Option<String>,
    #[serde(default)]
    date_format: Option<String>,
    #[serde(default)]
    columns: Option<std::collections::BTreeMap<String, String>>,
    /// Pasted CSV text. Without it the answer carries an upload URL.
    #[serde(default)]
    csv: Option<String>,
    /// Size in bytes of the file to upload; the upload URL accepts exactly that many.
    #[serde(default)]
    size: Option<u64>,
    /// Validate this earlier import's file again, with the options given here.
    #[serde(default)]
    from_import: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct CommitBody {
    #[serde(default)]
    skip_invalid_rows: bool,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FixBody {
    #[serde(default)]
    cells: std::collections::BTreeMap<String, String>,
}

/// Error reports bigger than this are handed out through S3 (Lambda answers are capped at 6 MB).
const INLINE_REPORT_BYTES: usize = 4 * 1024 * 1024;
/// What a 202 for an error report being written asks the client to wait.
const REPORT_RETRY_AFTER_SECONDS: u32 = 3;

/// Rows of one answer stop here (as JSON, before compression): a row may hold up to
/// 64 KB of cells, and 500 of them would pass Lambda's 6 MB answer limit (a 502 in AWS).
const ROWS_ANSWER_BYTES: usize = 4 * 1024 * 1024;

/// Counts the bytes written to it.
struct ByteCount(usize);

impl std::io::Write for ByteCount {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A page of rows cut to [`ROWS_ANSWER_BYTES`] of JSON, with the cursor to go on from;
/// the first row is always kept.
fn within_answer_limit(
    mut rows: Vec<training_imports::store::RowRecord>,
    next_cursor: Option<String>,
) -> (Vec<training_imports::store::RowRecord>, Option<String>) {
    let mut bytes = ByteCount(0);
    for (i, row) in rows.iter().enumerate() {
        // Writing to a counter cannot fail; a row that would not serialize fails the
        // whole answer later anyway.
        let _ = serde_json::to_writer(&mut bytes, row);
        if i > 0 && bytes.0 + i > ROWS_ANSWER_BYTES {
            let cursor = training_imports::store::cursor_after_row(rows[i - 1].row);
            rows.truncate(i);
            return (rows, Some(cursor));
        }
    }
    (rows, next_cursor)
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct TrainingBody {
    title: Option<String>,
    #[serde(default)]
    training_id: Option<String>,
    #[serde(default)]
    published: bool,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct PersonBody {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    phone: Option<String>,
    #[serde(default)]
    employee_id: Option<String>,
    #[serde(default)]
    default_country: Option<String>,
}

fn create_import_body(req: &Request) -> Result<CreateImportBody, ApiError> {
    let content_type = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if content_type.starts_with("text/csv") || content_type.starts_with("text/plain") {
        // Raw CSV in the body, options in the query string (handy with curl --data-binary).
        let text = match req.body() {
            Body::Text(t) => t.clone(),
            Body::Binary(b) => String::from_utf8(b.clone()).map_err(|_| {
                ApiError::bad(
                    "INVALID_ENCODING",
                    "the CSV body is not UTF-8 text; save the file as 'CSV UTF-8'",
                )
            })?,
            _ => String::new(),
        };
        return Ok(CreateImportBody {
            method: query(req, "method"),
            file_name: query(req, "file_name"),
            default_country: query(req, "default_country"),
            date_format: query(req, "date_format"),
            columns: None,
            size: None,
            csv: Some(text),
            from_import: None,
        });
    }
    body_json(req)
}

/// The page's Content-Security-Policy: its own script and styles only, never framed, and
/// requests only to the API, Cognito (sign-in) and S3 (uploads to presigned URLs): AWS's
/// endpoints, or the local ones the functions are pointed at.
pub fn page_policy(ctx: &ApiContext) -> String {
    let mut connect = vec!["'self'".to_string(), "https://*.amazonaws.com".to_string()];
    let local_s3 = std::env::var("AWS_ENDPOINT_URL_S3")
        .ok()
        .or_else(|| std::env::var("AWS_ENDPOINT_URL").ok());
    for endpoint in ctx
        .sign_in
        .as_ref()
        .map(|s| s.endpoint.clone())
        .into_iter()
        .chain(local_s3)
    {
        if let Some(origin) = origin_of(&endpoint).filter(|o| !connect.contains(o)) {
            connect.push(origin);
        }
    }
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src {}; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
        connect.join(" ")
    )
}

/// `scheme://host[:port]` of a URL, if it has one.
fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let host = rest
        .split(['/', '?', '#'])
        .next()
        .filter(|h| !h.is_empty())?;
    Some(format!("{scheme}://{host}"))
}

/// `GET /sign-in.json`: where the page signs in (public values only).
fn sign_in_settings(ctx: &ApiContext) -> Response<Body> {
    Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .header("cache-control", "no-cache")
        .body(Body::Text(json!({ "sign_in": ctx.sign_in }).to_string()))
        .expect("static response parts are valid")
}

pub async fn dispatch(
    ctx: &ApiContext,
    who: Option<Caller>,
    route: &Route,
    params: &Params,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let store = &ctx.store;
    let asset = match route.op {
        Op::OpenApi => Some(("application/json", crate::OPENAPI_JSON)),
        Op::Page => Some(("text/html; charset=utf-8", crate::assets::INDEX_HTML)),
        Op::Script => Some(("text/javascript; charset=utf-8", crate::assets::APP_JS)),
        Op::Styles => Some(("text/css; charset=utf-8", crate::assets::APP_CSS)),
        _ => None,
    };
    if let Some((content_type, text)) = asset {
        // Revalidated on every load (no-cache) by its ETag: a browser that has this
        // version gets a 304 with no body instead of the whole page or script again.
        let etag = format!(
            "\"{:016x}\"",
            training_imports::domain::stable_hash(&[text.as_bytes()])
        );
        let unchanged = req
            .headers()
            .get("if-none-match")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.split(',')
                    .any(|tag| tag.trim().trim_start_matches("W/") == etag)
            });
        let mut resp = Response::builder()
            .status(if unchanged { 304 } else { 200 })
            .header("content-type", content_type)
            .header("cache-control", "no-cache")
            .header("etag", etag.as_str())
            .header("x-content-type-options", "nosniff");
        if route.op == Op::Page {
            resp = resp
                .header("content-security-policy", page_policy(ctx))
                .header("referrer-policy", "no-referrer");
        }
        let body = if unchanged {
            Body::Empty
        } else {
            Body::Text(text.to_string())
        };
        return Ok(resp.body(body).expect("static response parts are valid"));
    }
    if route.op == Op::SignIn {
        return Ok(sign_in_settings(ctx));
    }
    let who = who.ok_or(ApiError::Unauthorized)?;
    let org = who.org.clone();
    match route.op {
        Op::OpenApi | Op::Page | Op::Script | Op::Styles | Op::SignIn => {
            unreachable!("answered above")
        }
        Op::IssueCodes => {
            let codes: Vec<Value> = IssueCode::ALL
                .iter()
                .map(|c| {
                    let (meaning, fix) = c.meaning_and_fix();
                    json!({"code": c.as_str(), "outcome": c.kind(), "meaning": meaning, "fix": fix})
                })
                .collect();
            Ok(json_response(200, json!({ "issue_codes": codes })))
        }
        Op::ListImports => {
            let cursor = query(req, "cursor");
            let (imports, next) = store
                .list_imports(&org, limit(req)? as i32, cursor.as_deref())
                .await
                .map_err(|e| match e {
                    training_imports::store::StoreError::Corrupt(_) => {
                        ApiError::bad("INVALID_CURSOR", "the cursor is not one this API gave out")
                    }
                    other => other.into(),
                })?;
            let mut current = Vec::with_capacity(imports.len());
            for summary in imports {
                current.push(manage::recover_if_stopped(store, summary).await?);
            }
            Ok(json_response(
                200,
                json!({ "imports": current, "next_cursor": next }),
            ))
        }
        Op::CreateImport => {
            let body = create_import_body(req)?;
            let from_import = body
                .from_import
                .as_deref()
                .map(|f| {
                    ImportId::parse(f).map_err(|_| {
                        ApiError::bad(
                            "INVALID_ID",
                            "from_import is not an import id this API gave out",
                        )
                    })
                })
                .transpose()?;
            if from_import.is_some() && (body.csv.is_some() || body.size.is_some()) {
                return Err(ApiError::bad(
                    "INVALID_JSON",
                    "from_import validates an earlier import's file again: give no csv and no size with it",
                ));
            }
            let method_text = body.method.ok_or_else(|| {
                ApiError::bad(
                    "MISSING_METHOD",
                    "give the matching method: one of email, phone, name, hris",
                )
            })?;
            let method: MatchMethod = method_text
                .parse()
                .map_err(|m: String| ApiError::bad("INVALID_METHOD", format!("method {m}")))?;
            let created = manage::create_import(
                store,
                &org,
                NewImport {
                    method,
                    file_name: body.file_name.unwrap_or_else(|| "import.csv".into()),
                    options: ImportOptions {
                        default_country: body.default_country,
                        date_format: body.date_format,
                        columns: body.columns,
                    },
                    csv_text: body.csv,
                    size: body.size,
                    by: Some(who.stamp()),
                    from_import,
                },
            )
            .await?;
            let mut out = json!({ "import": created.summary });
            if let Some(url) = created.upload_url {
                out["upload"] = json!({
                    "url": url,
                    "method": "PUT",
                    "headers": { "content-type": CSV_CONTENT_TYPE, "content-length": body.size.unwrap_or_default().to_string() },
                    "expires_in_seconds": UPLOAD_URL_TTL.as_secs(),
                });
            }
            Ok(json_response(201, out))
        }
        Op::GetImport => {
            let summary = manage::get_import(store, &org, &import_id(params)?).await?;
            Ok(json_response(200, json!({ "import": summary })))
        }
        Op::DeleteImport => {
            let id = import_id(params)?;
            manage::delete_unuploaded_import(store, &org, &id).await?;
            Ok(json_response(
                200,
                json!({ "import_id": id.to_string(), "deleted": true }),
            ))
        }
        Op::PreviewImport => {
            let shown = manage::preview_import(store, &org, &import_id(params)?).await?;
            Ok(json_response(
                200,
                json!({
                    "detected_columns": training_imports::csv_input::detected_columns(&shown.preview.headers),
                    "preview": shown.preview,
                    "remembered_columns": shown.remembered.map(|m| m.columns),
                    "roles": training_imports::csv_input::Role::ALL
                        .iter()
                        .map(|r| r.canonical())
                        .collect::<Vec<_>>(),
                }),
            ))
        }
        Op::ListRows => {
            let id = import_id(params)?;
            let layout = training_imports::store::RowLayout::of(
                &manage::get_import(store, &org, &id).await?,
            );
            let outcome = query(req, "outcome")
                .map(|o| {
                    o.parse::<Outcome>()
                        .map_err(|m| ApiError::bad("INVALID_FILTER", format!("outcome {m}")))
                })
                .transpose()?;
            let status = query(req, "status")
                .map(|s| {
                    s.parse::<RowStatus>()
                        .map_err(|m| ApiError::bad("INVALID_FILTER", format!("status {m}")))
                })
                .transpose()?;
            let cursor = query(req, "cursor");
            let page = store
                .list_rows(
                    &org,
                    &id,
                    layout,
                    outcome,
                    status,
                    limit(req)?,
                    cursor.as_deref(),
                )
                .await
                .map_err(|e| match e {
                    training_imports::store::StoreError::Corrupt(_) => {
                        ApiError::bad("INVALID_CURSOR", "the cursor is not one this API gave out")
                    }
                    other => other.into(),
                })?;
            let (rows, next_cursor) = within_answer_limit(page.rows, page.next_cursor);
            Ok(json_response(
                200,
                json!({ "rows": rows, "next_cursor": next_cursor }),
            ))
        }
        Op::Commit => {
            let body: CommitBody = body_json(req)?;
            let summary = manage::request_commit(
                store,
                &org,
                &import_id(params)?,
                body.skip_invalid_rows,
                &who.stamp(),
            )
            .await?;
            Ok(json_response(202, json!({ "import": summary })))
        }
        Op::DeleteRow => {
            let id = import_id(params)?;
            let row: u64 = params["row"]
                .parse()
                .map_err(|_| ApiError::NotFound { what: "row" })?;
            let record = manage::delete_pending_row(store, &org, &id, row, &who.stamp()).await?;
            Ok(json_response(200, json!({ "row": record })))
        }
        Op::FixRow => {
            let id = import_id(params)?;
            let row: u64 = params["row"]
                .parse()
                .map_err(|_| ApiError::NotFound { what: "row" })?;
            let body: FixBody = body_json(req)?;
            let today = chrono::Utc::now().date_naive();
            let record = training_imports::pipeline::fix::fix_row(
                store,
                &org,
                &id,
                row,
                &body.cells,
                today,
                &who.stamp(),
            )
            .await?;
            let summary = manage::get_import(store, &org, &id).await?;
            Ok(json_response(
                200,
                json!({ "row": record, "import": summary }),
            ))
        }
        Op::ErrorReport => {
            use training_imports::pipeline::report::{error_report_or_request, ReportAnswer, BOM};
            let id = import_id(params)?;
            let (summary, answer) = error_report_or_request(store, &org, &id).await?;
            let base = summary
                .file_name
                .trim_end_matches(".csv")
                .replace(['"', '\\', '\r', '\n'], "_");
            let file_name = format!("{base}-errors.csv");
            // The page asks for JSON: it cannot follow a redirect to S3 with fetch (the
            // bucket takes no cross-origin GET), so it gets the link and opens it.
            let wants_link = req
                .headers()
                .get("accept")
                .and_then(|a| a.to_str().ok())
                .is_some_and(|a| a.contains("application/json"));
            let key = match answer {
                ReportAnswer::Preparing => {
                    let body = json!({
                        "status": "preparing",
                        "message": format!("The error report ({} rows with errors) is being written; ask again in a few seconds.", summary.outcomes.error),
                        "retry_after_seconds": REPORT_RETRY_AFTER_SECONDS,
                    });
                    let mut resp = json_response(202, body);
                    resp.headers_mut().insert(
                        "retry-after",
                        http::HeaderValue::from(REPORT_RETRY_AFTER_SECONDS),
                    );
                    return Ok(resp);
                }
                ReportAnswer::Ready { key } => key,
                ReportAnswer::Inline(csv) => {
                    let mut body = BOM.to_vec();
                    body.extend(csv);
                    if body.len() > INLINE_REPORT_BYTES {
                        let key = training_imports::keys::s3::report_key(&org, &id);
                        store
                            .put_object(&key, "text/csv; charset=utf-8", body)
                            .await?;
                        key
                    } else {
                        return Ok(Response::builder()
                            .status(200)
                            .header("content-type", "text/csv; charset=utf-8")
                            .header(
                                "content-disposition",
                                training_imports::store::attachment(&file_name),
                            )
                            .body(Body::Binary(body))
                            .expect("valid response"));
                    }
                }
            };
            let url = store
                .presign_download(&key, &file_name, std::time::Duration::from_secs(300))
                .await?;
            if wants_link {
                return Ok(json_response(
                    200,
                    json!({ "status": "ready", "url": url, "file_name": file_name }),
                ));
            }
            Ok(Response::builder()
                .status(303)
                .header("location", url)
                .body(Body::Empty)
                .expect("valid response"))
        }
        Op::DeletePending => {
            let cursor = query(req, "cursor");
            let result = manage::delete_all_pending(
                store,
                &org,
                &import_id(params)?,
                cursor.as_deref(),
                manage::BULK_DELETE_BUDGET,
                &who.stamp(),
            )
            .await?;
            Ok(json_response(200, json!(result)))
        }
        Op::PersonCompletions => {
            let person = PersonId::parse(&params["person_id"])
                .map_err(|_| ApiError::NotFound { what: "person" })?;
            let profile = store
                .get_person(&org, &person)
                .await?
                .ok_or(ApiError::NotFound { what: "person" })?;
            let completions = store.list_completions(&org, &person).await?;
            Ok(json_response(
                200,
                json!({ "person": profile, "completions": completions }),
            ))
        }
        Op::AddPerson => {
            let body: PersonBody = body_json(req)?;
            let profile = manage::add_roster_person(
                store,
                &org,
                NewRosterPerson {
                    name: body.name,
                    email: body.email,
                    phone: body.phone,
                    employee_id: body.employee_id,
                    default_country: body.default_country,
                },
                &who.stamp(),
            )
            .await?;
            Ok(json_response(201, json!({ "person": profile })))
        }
        Op::ListJoinCodes => Ok(json_response(
            200,
            json!({ "join_codes": join_codes::list_join_codes(store, &org).await? }),
        )),
        Op::CreateJoinCode => Ok(json_response(
            201,
            json!({ "join_code": join_codes::create_join_code(store, &org, &who.stamp()).await? }),
        )),
        Op::RevokeJoinCode => Ok(json_response(
            200,
            json!({ "join_code": join_codes::revoke_join_code(store, &org, &params["code"], &who.stamp()).await? }),
        )),
        Op::ListTrainings => Ok(json_response(
            200,
            json!({ "trainings": store.list_trainings(&org).await? }),
        )),
        Op::CreateTraining => {
            let body: TrainingBody = body_json(req)?;
            let title = body
                .title
                .ok_or_else(|| ApiError::bad("MISSING_TITLE", "give the training's title"))?;
            let t = manage::create_training(
                store,
                &org,
                &title,
                body.published,
                body.training_id.as_deref(),
                &who.stamp(),
            )
            .await?;
            Ok(json_response(201, json!({ "training": t })))
        }
        Op::PublishTraining | Op::UnpublishTraining => {
            let id = TrainingId::parse(&params["training_id"])
                .map_err(|_| ApiError::NotFound { what: "training" })?;
            let t = manage::publish_training(
                store,
                &org,
                &id,
                route.op == Op::PublishTraining,
                &who.stamp(),
            )
            .await?;
            Ok(json_response(200, json!({ "training": t })))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_origin_is_scheme_and_host_only() {
        assert_eq!(
            origin_of("https://cognito-idp.eu-west-1.amazonaws.com/").as_deref(),
            Some("https://cognito-idp.eu-west-1.amazonaws.com")
        );
        assert_eq!(
            origin_of("http://127.0.0.1:9229").as_deref(),
            Some("http://127.0.0.1:9229")
        );
        assert_eq!(
            origin_of("http://127.0.0.1:8333/bucket?x=1").as_deref(),
            Some("http://127.0.0.1:8333")
        );
        assert_eq!(origin_of("not a url"), None);
        assert_eq!(origin_of("https:///path"), None);
    }

    #[test]
    fn routes_match_with_parameters_and_405_for_wrong_method() {
        let (r, p) = route(&Method::DELETE, "/imports/abc/rows/12").unwrap();
        assert_eq!(r.op, Op::DeleteRow);
        assert_eq!(p["row"], "12");
        assert!(matches!(
            route(&Method::PUT, "/imports"),
            Err(ApiError::MethodNotAllowed { .. })
        ));
        assert!(matches!(
            route(&Method::GET, "/nope"),
            Err(ApiError::NotFound { .. })
        ));
    }
}
