//! A catalogue of malformed and hostile files, each through the real worker against the
//! local services: every one gets a clear answer (a file problem with a code and a
//! message, or errors on its rows) and a file that fails leaves no rows behind.

use serde_json::{json, Value};
use suite::*;
use training_imports::domain::ImportId;

enum Expect {
    /// The import fails with this code, and no row is stored.
    File(&'static str),
    /// The import is validated; these (line, code) pairs are among its row issues.
    Rows(Vec<(u64, &'static str)>),
}

fn rep(s: &str, n: usize) -> String {
    s.repeat(n)
}

fn catalogue() -> Vec<(&'static str, Vec<u8>, Expect)> {
    let h = "email,training,date\n";
    let mut cases: Vec<(&'static str, Vec<u8>, Expect)> = vec![
        (
            "random binary",
            (0..4096u32)
                .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
                .collect(),
            Expect::File("NOT_A_CSV"),
        ),
        (
            "gzip",
            [&[0x1f, 0x8b, 0x08, 0x00][..], &[0u8; 64]].concat(),
            Expect::File("NOT_A_CSV"),
        ),
        (
            "pdf",
            b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n".to_vec(),
            Expect::File("NOT_A_CSV"),
        ),
        (
            "xlsx",
            [&b"PK\x03\x04"[..], &[0u8; 64]].concat(),
            Expect::File("NOT_A_CSV"),
        ),
        ("empty", vec![], Expect::File("EMPTY_FILE")),
        (
            "only a byte order mark",
            b"\xef\xbb\xbf".to_vec(),
            Expect::File("EMPTY_FILE"),
        ),
        (
            "only blank lines",
            b"\r\n\n\n   \n".to_vec(),
            Expect::File("EMPTY_FILE"),
        ),
        (
            "header only",
            h.as_bytes().to_vec(),
            Expect::File("NO_DATA_ROWS"),
        ),
        (
            "header of delimiters",
            b",,,\na,b,c,d\n".to_vec(),
            Expect::File("MISSING_COLUMN"),
        ),
        (
            "json",
            br#"{"email": "a@example.com", "training": "forklift"}"#.to_vec(),
            Expect::File("MISSING_COLUMN"),
        ),
        (
            "html page",
            b"<!doctype html><html><body><table><tr><td>email</td></tr></table></body></html>\n"
                .to_vec(),
            Expect::File("MISSING_COLUMN"),
        ),
        (
            "a 100 MB line",
            {
                let mut v = format!("{h}a@example.com,\"").into_bytes();
                v.resize(100 * 1024 * 1024, b'x');
                v
            },
            Expect::File("ROW_TOO_LONG"),
        ),
        (
            "a 100 KB header",
            format!("{}{h}", rep("x", 100 * 1024)).into_bytes(),
            Expect::File("ROW_TOO_LONG"),
        ),
        (
            "10,000 columns",
            {
                let cols: Vec<String> = (0..10_000).map(|i| format!("c{i}")).collect();
                format!(
                    "email,training,date,{}\na@example.com,forklift,2024-01-01\n",
                    cols.join(",")
                )
                .into_bytes()
            },
            Expect::File("TOO_MANY_COLUMNS"),
        ),
        (
            "more than a million rows",
            {
                let mut v = h.as_bytes().to_vec();
                for _ in 0..1_000_001 {
                    v.extend_from_slice(b"a@example.com,forklift,2024-01-01\n");
                }
                v
            },
            Expect::File("TOO_MANY_ROWS"),
        ),
        (
            "NUL bytes in the header",
            b"email\0,training,date\n".to_vec(),
            Expect::File("NOT_A_CSV"),
        ),
        (
            "NUL bytes near the start",
            b"email,training,date\na\0b@example.com,forklift,2024-01-01\n".to_vec(),
            Expect::File("NOT_A_CSV"),
        ),
        (
            "unknown column mapping target",
            b"email,training\n".to_vec(),
            Expect::File("MISSING_COLUMN"),
        ),
    ];
    let rows = |name: &'static str, body: String, expect: Vec<(u64, &'static str)>| {
        (
            name,
            format!("{h}{body}").into_bytes(),
            Expect::Rows(expect),
        )
    };
    cases.extend([
        rows(
            "formula in the email",
            "=cmd|' /C calc'!A0,forklift,2024-01-01\n".into(),
            vec![(2, "INVALID_EMAIL")],
        ),
        rows(
            "formula in the training",
            "a@example.com,=HYPERLINK(\"http://evil\"),2024-01-01\n".into(),
            vec![(2, "UNKNOWN_TRAINING")],
        ),
        rows(
            "formula in the date",
            "a@example.com,forklift,@SUM(1+1)\n".into(),
            vec![(2, "INVALID_DATE")],
        ),
        rows(
            "script tag",
            "<script>alert(1)</script>,forklift,2024-01-01\n".into(),
            vec![(2, "INVALID_EMAIL")],
        ),
        rows(
            "10 KB email",
            format!("{}@example.com,forklift,2024-01-01\n", rep("a", 10_000)),
            vec![(2, "INVALID_EMAIL")],
        ),
        rows(
            "10 KB training",
            format!("a@example.com,{},2024-01-01\n", rep("t", 10_000)),
            vec![(2, "UNKNOWN_TRAINING")],
        ),
        rows(
            "a data row of 10,000 cells",
            format!("a@example.com,forklift,2024-01-01{}\n", rep(",x", 10_000)),
            vec![(2, "WRONG_FIELD_COUNT")],
        ),
        rows(
            "huge Excel serial",
            "a@example.com,forklift,99999\n".into(),
            vec![(2, "FUTURE_DATE")],
        ),
        rows(
            "eight digit date",
            "a@example.com,forklift,99999999\n".into(),
            vec![(2, "INVALID_DATE")],
        ),
        rows(
            "right-to-left override",
            "a@example.com,\u{202e}tfilkrof,2024-01-01\n".into(),
            vec![(2, "UNKNOWN_TRAINING")],
        ),
        rows(
            "unclosed quote at the end",
            "a@example.com,forklift,\"2024-01-01\n".into(),
            vec![],
        ),
        rows(
            "stray quotes inside a field",
            "a\"b@example.com,forklift,2024-01-01\n".into(),
            vec![(2, "INVALID_EMAIL")],
        ),
        rows(
            "control characters",
            "a@example.com\u{7},forklift\u{1b}[31m,2024-01-01\n".into(),
            vec![(2, "INVALID_EMAIL")],
        ),
    ]);
    // Invalid UTF-8 after the part the encoding is detected from.
    let mut mid = h.as_bytes().to_vec();
    for i in 0..3000 {
        mid.extend_from_slice(format!("p{i}@example.com,forklift,2024-01-01\n").as_bytes());
    }
    mid.extend_from_slice(b"bad\xff\xfe@example.com,forklift,2024-01-01\n");
    let mut nul = mid.clone();
    cases.push((
        "invalid UTF-8 mid-file",
        mid,
        Expect::Rows(vec![(3002, "INVALID_ENCODING")]),
    ));
    nul.extend_from_slice(b"nul\0@example.com,forklift,2024-01-01\n");
    cases.push((
        "NUL bytes mid-file",
        nul,
        Expect::Rows(vec![(3003, "INVALID_EMAIL")]),
    ));
    cases
}

#[tokio::test]
async fn every_hostile_file_gets_a_clear_answer_and_a_failed_one_leaves_no_rows() {
    let env = test_env("hostile").await;
    let api = api_context(&env.store);
    let claims = admin_claims(&env.org);
    let (status, _) = call_api(
        &api,
        "POST",
        "/trainings",
        Some(json!({"training_id": "forklift", "title": "Forklift", "published": true})),
        Some(claims.clone()),
    )
    .await;
    assert_eq!(status, 201);
    let cases = catalogue();
    assert!(
        cases.len() >= 30,
        "the catalogue has {} inputs",
        cases.len()
    );
    for (name, bytes, expect) in &cases {
        // Objects are written straight to S3 here (as a drop would be), so the size the
        // URL is signed for does not matter; an empty file is refused at creation.
        let mut body = json!({"method": "email", "file_name": format!("{name}.csv"), "size": bytes.len().max(1)});
        if *name == "unknown column mapping target" {
            body["columns"] = json!({"completion_date": "When"});
        }
        let (status, created) =
            call_api(&api, "POST", "/imports", Some(body), Some(claims.clone())).await;
        assert_eq!(status, 201, "{name}: {created}");
        let id = ImportId::parse(created["import"]["import_id"].as_str().unwrap()).unwrap();
        let key = created["import"]["object_key"].as_str().unwrap();
        put_and_deliver(&env.store, key, bytes).await;
        let (_, s) = call_api(
            &api,
            "GET",
            &format!("/imports/{id}"),
            None,
            Some(claims.clone()),
        )
        .await;
        let s = &s["import"];
        let (_, rows) = call_api(
            &api,
            "GET",
            &format!("/imports/{id}/rows?limit=500"),
            None,
            Some(claims.clone()),
        )
        .await;
        let rows = rows["rows"].as_array().cloned().unwrap_or_default();
        match expect {
            Expect::File(code) => {
                assert_eq!(s["status"], "failed", "{name}: {s}");
                assert_eq!(s["failure"]["code"], *code, "{name}: {s}");
                let message = s["failure"]["message"].as_str().unwrap();
                assert!(
                    message.len() > 20 && message.len() < 600,
                    "{name}: unhelpful message {message:?}"
                );
                assert!(
                    rows.is_empty(),
                    "{name}: a failed import left {} rows",
                    rows.len()
                );
            }
            Expect::Rows(expected) => {
                assert_eq!(s["status"], "validated", "{name}: {s}");
                for (line, code) in expected {
                    let row = find_row(&env, &api, &claims, &id, *line).await;
                    let codes: Vec<&str> = row["issues"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|i| i["code"].as_str().unwrap())
                        .collect();
                    assert!(
                        codes.contains(code),
                        "{name}: line {line} has {codes:?}, expected {code}"
                    );
                    for issue in row["issues"].as_array().unwrap() {
                        assert!(
                            issue["message"].as_str().unwrap().chars().count() < 400,
                            "{name}: message too long"
                        );
                    }
                }
            }
        }
    }
    println!("hostile inputs: {}", cases.len());
}

async fn find_row(
    _env: &TestEnv,
    api: &import_api::ApiContext,
    claims: &Value,
    id: &ImportId,
    line: u64,
) -> Value {
    let mut cursor = String::new();
    loop {
        let (_, page) = call_api(
            api,
            "GET",
            &format!("/imports/{id}/rows?limit=500{cursor}"),
            None,
            Some(claims.clone()),
        )
        .await;
        if let Some(row) = page["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["row"] == line)
        {
            return row.clone();
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => panic!("row {line} not found"),
        }
    }
}

#[tokio::test]
async fn odd_object_keys_create_nothing() {
    let env = test_env("odd-keys").await;
    let org = env.org.as_str();
    for key in [
        format!("drop/{org}/fax/x.csv"),
        "drop/../../etc/passwd".to_string(),
        format!("drop/{org}/email/"),
        "uploads/org#1/abc/source.csv".to_string(),
        format!("uploads/{org}/not-an-import/source.csv"),
        format!("commits/{org}/missing.json"),
        "elsewhere/file.csv".to_string(),
        format!("drop/{org}"),
    ] {
        // The event alone, as S3 would send it: some of these keys the local server refuses.
        let report =
            import_worker::handle(&env.store, s3_event(env.store.bucket(), &key, 40, "etag"))
                .await
                .unwrap();
        assert_eq!((report.handled, report.ignored), (0, 1), "{key}");
    }
    let (status, list) = call_api(
        &api_context(&env.store),
        "GET",
        "/imports",
        None,
        Some(admin_claims(&env.org)),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(list["imports"].as_array().unwrap().len(), 0, "{list}");
}

/// Rows may hold up to 64 KB of cells each: 500 of them would pass Lambda's 6 MB answer
/// limit (a 502 in AWS, never seen locally). A page of rows stops at 4 MiB of JSON and
/// says where to go on; paging gives every row exactly once.
#[tokio::test]
async fn a_page_of_wide_rows_stays_under_lambdas_answer_limit() {
    let env = test_env("wide-rows").await;
    let api = api_context(&env.store);
    let claims = admin_claims(&env.org);
    let (status, _) = call_api(
        &api,
        "POST",
        "/trainings",
        Some(json!({"training_id": "forklift", "title": "Forklift", "published": true})),
        Some(claims.clone()),
    )
    .await;
    assert_eq!(status, 201);
    // 300 rows with a 30 KB note each (quotes, which JSON escapes): about 9 MB of CSV and
    // 11 MB of rows as JSON.
    let note = "\"\"x".repeat(10_000);
    let mut csv = String::from("email,training,date,note\n");
    for i in 0..300 {
        csv.push_str(&format!(
            "p{i}@example.com,forklift,2024-01-01,\"{note}\"\n"
        ));
    }
    let (status, created) = call_api(
        &api,
        "POST",
        "/imports",
        Some(json!({"method": "email", "file_name": "wide.csv", "size": csv.len()})),
        Some(claims.clone()),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let id = created["import"]["import_id"].as_str().unwrap().to_string();
    put_and_deliver(
        &env.store,
        created["import"]["object_key"].as_str().unwrap(),
        csv.as_bytes(),
    )
    .await;
    let mut rows = vec![];
    let mut cursor = String::new();
    let mut pages = 0;
    loop {
        let (status, page) = call_api(
            &api,
            "GET",
            &format!("/imports/{id}/rows?limit=500{cursor}"),
            None,
            Some(claims.clone()),
        )
        .await;
        assert_eq!(status, 200, "{page}");
        let bytes = serde_json::to_vec(&page).unwrap().len();
        assert!(
            bytes <= 4 * 1024 * 1024 + 64 * 1024,
            "a page of {bytes} bytes"
        );
        pages += 1;
        rows.extend(
            page["rows"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["row"].as_u64().unwrap()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => break,
        }
    }
    assert!(pages >= 3, "11 MB of rows in {pages} pages");
    assert_eq!(
        rows,
        (2..302).collect::<Vec<u64>>(),
        "every row once, in file order"
    );
}

/// A dropping system names its file in the object key: a quote or a control character in
/// it must not reach the error report's `content-disposition` (an invalid header is a
/// failed answer, and a quote could end the file name early).
#[tokio::test]
async fn a_dropped_file_named_with_quotes_and_controls_still_downloads_its_error_report() {
    let env = test_env("drop-name").await;
    let key = format!("drop/{}/email/nightly \"export\"\u{7}\t.csv", env.org);
    let report = put_and_deliver(
        &env.store,
        &key,
        b"email,training,date\nnot-an-email,forklift,2024-01-01\n",
    )
    .await;
    assert_eq!(report.handled, 1, "{report:?}");
    let api = api_context(&env.store);
    let (_, list) = call_api(&api, "GET", "/imports", None, Some(admin_claims(&env.org))).await;
    let import = &list["imports"][0];
    let name = import["file_name"].as_str().unwrap();
    assert!(
        !name.contains('"') && !name.chars().any(char::is_control),
        "{name}"
    );
    let path = format!(
        "/imports/{}/error-report",
        import["import_id"].as_str().unwrap()
    );
    let resp = import_api::handle(
        &api,
        api_request("GET", &path, None, Some(admin_claims(&env.org))),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), 200);
    let disposition = resp.headers()["content-disposition"].to_str().unwrap();
    assert!(
        disposition.starts_with("attachment; filename=\"nightly _export_")
            && disposition.matches('"').count() == 2,
        "{disposition}"
    );
}
