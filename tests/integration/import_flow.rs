//! The whole product flow for each matching method, through the functions' handlers with
//! real event JSON, against DynamoDB Local and the local S3 server.

use serde_json::{json, Value};
use suite::*;
use training_imports::domain::OrgId;
use training_imports::keys;

const CONFIRM: &str = "PostConfirmation_ConfirmSignUp";

struct World {
    env: TestEnv,
    api: import_api::ApiContext,
    claims: Value,
}

async fn world(name: &str) -> World {
    let env = test_env(name).await;
    let api = api_context(&env.store);
    let claims = admin_claims(&env.org);
    let w = World { env, api, claims };
    for (id, title, published) in [
        ("forklift", "Forklift Safety", true),
        ("first-aid", "First Aid", true),
        ("draft", "Draft Course", false),
    ] {
        let (status, body) = w
            .call(
                "POST",
                "/trainings",
                Some(json!({"training_id": id, "title": title, "published": published})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }
    w
}

impl World {
    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        call_api(&self.api, method, path, body, Some(self.claims.clone())).await
    }

    fn org(&self) -> &OrgId {
        &self.env.org
    }

    fn attrs<'a>(&'a self, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
        let mut v = vec![("custom:org_id", self.env.org.as_str())];
        v.extend_from_slice(extra);
        v
    }

    /// Creates an import from pasted CSV and delivers the upload's S3 event.
    async fn import(&self, method: &str, csv: &str, extra: Value) -> String {
        let mut body = json!({"method": method, "file_name": format!("{method}.csv"), "csv": csv});
        for (k, v) in extra.as_object().cloned().unwrap_or_default() {
            body[k] = v;
        }
        let (status, created) = self.call("POST", "/imports", Some(body)).await;
        assert_eq!(status, 201, "{created}");
        assert_eq!(created["import"]["status"], "uploaded");
        let id = created["import"]["import_id"].as_str().unwrap().to_string();
        let key = created["import"]["object_key"]
            .as_str()
            .unwrap()
            .to_string();
        let report = deliver(&self.env.store, &key).await;
        assert_eq!(report.handled, 1);
        id
    }

    async fn summary(&self, id: &str) -> Value {
        let (status, body) = self.call("GET", &format!("/imports/{id}"), None).await;
        assert_eq!(status, 200, "{body}");
        body["import"].clone()
    }

    async fn rows(&self, id: &str, filter: &str) -> Vec<Value> {
        let (status, body) = self
            .call("GET", &format!("/imports/{id}/rows?{filter}"), None)
            .await;
        assert_eq!(status, 200, "{body}");
        body["rows"].as_array().unwrap().clone()
    }

    /// Clicks Import and delivers the commit request's S3 event.
    async fn commit(&self, id: &str, skip_invalid: bool) -> Value {
        let (status, body) = self
            .call(
                "POST",
                &format!("/imports/{id}/commit"),
                Some(json!({"skip_invalid_rows": skip_invalid})),
            )
            .await;
        assert_eq!(status, 202, "{body}");
        let import = training_imports::domain::ImportId::parse(id).unwrap();
        deliver(&self.env.store, &keys::s3::commit_key(self.org(), &import)).await;
        self.summary(id).await
    }

    async fn completions(&self, person: &str) -> Vec<Value> {
        let (status, body) = self
            .call("GET", &format!("/people/{person}/completions"), None)
            .await;
        assert_eq!(status, 200, "{body}");
        body["completions"].as_array().unwrap().clone()
    }
}

/// The first sign-in (PostAuthentication) of a person an admin invited.
async fn invited_sign_in(
    store: &training_imports::store::Store,
    sub: &str,
    attributes: &[(&str, &str)],
) -> on_signup::Handled {
    on_signup::process(
        &suite::cognito::triggers(store).await,
        &post_authentication_event(sub, attributes),
    )
    .await
    .unwrap()
}

fn counts(summary: &Value, group: &str) -> (u64, u64, u64, u64) {
    let g = &summary[group];
    let get = |k: &str| {
        g[k].as_u64()
            .unwrap_or_else(|| g[k].as_i64().unwrap_or(0) as u64)
    };
    match group {
        "outcomes" => (get("ready"), get("pending"), get("error"), get("skipped")),
        _ => (
            get("imported"),
            get("pending"),
            get("applied"),
            get("deleted"),
        ),
    }
}

fn codes(row: &Value) -> Vec<String> {
    row["issues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["code"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn email_import_end_to_end_with_ready_pending_error_and_skipped_rows() {
    let w = world("email").await;
    sign_up(
        &w.env.store,
        CONFIRM,
        "sub-ana",
        &w.attrs(&[("email", "ana@example.com")]),
    )
    .await;

    let csv = "Email,Course,Date Completed,Notes\n\
               ANA@example.com,Forklift Safety,2024-03-01,first\n\
               bo@example.com,forklift,2024-03-02,\n\
               ana@example.com,Draft Course,2024-03-03,\n\
               not-an-email,First Aid,2024-03-04,\n\
               ana@example.com,Forklift Safety,2024-03-01,repeat\n";
    let id = w.import("email", csv, json!({})).await;

    let s = w.summary(&id).await;
    assert_eq!(s["status"], "validated", "{s}");
    assert_eq!(counts(&s, "outcomes"), (1, 1, 2, 1), "{s}");
    assert_eq!(s["issues"]["TRAINING_NOT_PUBLISHED"], 1);
    assert_eq!(s["issues"]["INVALID_EMAIL"], 1);
    assert_eq!(s["ignored_columns"], json!(["Notes"]));
    let errors = w.rows(&id, "outcome=error").await;
    assert_eq!(
        errors
            .iter()
            .map(|r| r["row"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        vec![4, 5]
    );
    assert_eq!(codes(&errors[1]), vec!["INVALID_EMAIL"]);
    assert_eq!(errors[1]["issues"][0]["column"], "Email");
    let skipped = w.rows(&id, "outcome=skipped").await;
    assert_eq!(codes(&skipped[0]), vec!["DUPLICATE_IN_FILE"]);

    // Validation writes no completion.
    assert!(w.completions("sub-ana").await.is_empty());

    // Import is refused while errors remain, unless invalid rows are skipped.
    let (status, body) = w
        .call("POST", &format!("/imports/{id}/commit"), Some(json!({})))
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["code"], "IMPORT_HAS_ERRORS");
    let s = w.commit(&id, true).await;
    assert_eq!(s["status"], "imported", "{s}");
    assert_eq!(counts(&s, "statuses"), (1, 1, 0, 0), "{s}");
    assert_eq!(s["statuses"]["not_imported"], 3);
    assert_eq!(s["rows_committed"], 5);

    let ana = w.completions("sub-ana").await;
    assert_eq!(ana.len(), 1);
    assert_eq!(ana[0]["training_id"], "forklift");
    assert_eq!(ana[0]["completed_on"], "2024-03-01");

    // Bo signs up: his pending row is applied by itself.
    let handled = sign_up(
        &w.env.store,
        CONFIRM,
        "sub-bo",
        &w.attrs(&[("email", "Bo@Example.com")]),
    )
    .await;
    match handled {
        on_signup::Handled::Applied(r) => assert_eq!(r.applied, 1),
        other => panic!("{other:?}"),
    }
    let s = w.summary(&id).await;
    assert_eq!(counts(&s, "statuses"), (1, 0, 1, 0), "{s}");
    assert_eq!(w.completions("sub-bo").await.len(), 1);

    // An applied row cannot be deleted.
    let applied = w.rows(&id, "status=applied").await;
    let row = applied[0]["row"].as_u64().unwrap();
    let (status, body) = w
        .call("DELETE", &format!("/imports/{id}/rows/{row}"), None)
        .await;
    assert_eq!(status, 409);
    assert_eq!(body["code"], "ROW_ALREADY_APPLIED");
}

#[tokio::test]
async fn hris_import_needs_the_roster_and_applies_at_sign_up() {
    let w = world("hris").await;
    for (eid, name) in [("E100", "Rosa Diaz"), ("E200", "Tom Kent")] {
        let (status, body) = w
            .call(
                "POST",
                "/people",
                Some(json!({"employee_id": eid, "name": name})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }
    // Tom has signed up already; Rosa has not.
    let handled = sign_up(
        &w.env.store,
        CONFIRM,
        "sub-tom",
        &w.attrs(&[("email", "tom@example.com"), ("custom:employee_id", "E200")]),
    )
    .await;
    let tom_id = match handled {
        on_signup::Handled::Applied(r) => {
            assert!(r.linked_to_roster);
            r.person_id
        }
        other => panic!("{other:?}"),
    };

    let csv = "Employee #,Training,Completion Date\nE100,first-aid,2023-11-30\nE200,First Aid,2023-12-01\nE999,First Aid,2023-12-02\n";
    let id = w.import("hris", csv, json!({})).await;
    let s = w.summary(&id).await;
    assert_eq!(counts(&s, "outcomes"), (1, 1, 1, 0), "{s}");
    let errors = w.rows(&id, "outcome=error").await;
    assert_eq!(codes(&errors[0]), vec!["UNKNOWN_EMPLOYEE_ID"]);

    let s = w.commit(&id, true).await;
    assert_eq!(counts(&s, "statuses"), (1, 1, 0, 0), "{s}");
    assert_eq!(w.completions(&tom_id).await.len(), 1);

    let handled = sign_up(
        &w.env.store,
        CONFIRM,
        "sub-rosa",
        &w.attrs(&[("custom:employee_id", "E100")]),
    )
    .await;
    let rosa_id = match handled {
        on_signup::Handled::Applied(r) => {
            assert_eq!(r.applied, 1);
            r.person_id
        }
        other => panic!("{other:?}"),
    };
    assert_eq!(w.completions(&rosa_id).await.len(), 1);
    assert_eq!(counts(&w.summary(&id).await, "statuses"), (1, 0, 1, 0));
}

#[tokio::test]
async fn phone_import_uses_the_default_country_and_e164() {
    let w = world("phone").await;
    sign_up(
        &w.env.store,
        CONFIRM,
        "sub-kim",
        &w.attrs(&[("phone_number", "+14155552671")]),
    )
    .await;
    let csv = "Mobile;Course;Date\n(415) 555-2671;Forklift Safety;31/12/2023\n+44 7911 123456;Forklift Safety;13/01/2024\n12;Forklift Safety;01/02/2024\n";
    let id = w
        .import("phone", csv, json!({"default_country": "us"}))
        .await;
    let s = w.summary(&id).await;
    assert_eq!(s["date_order"], "dmy");
    assert_eq!(counts(&s, "outcomes"), (1, 1, 1, 0), "{s}");
    let ready = w.rows(&id, "outcome=ready").await;
    assert_eq!(ready[0]["match_value"], "+14155552671");
    assert_eq!(ready[0]["completion_date"], "2023-12-31");
    let errors = w.rows(&id, "outcome=error").await;
    assert_eq!(codes(&errors[0]), vec!["INVALID_PHONE"]);

    w.commit(&id, true).await;
    let handled = sign_up(
        &w.env.store,
        CONFIRM,
        "sub-uk",
        &w.attrs(&[("phone_number", "+447911123456")]),
    )
    .await;
    assert!(
        matches!(handled, on_signup::Handled::Applied(ref r) if r.applied == 1),
        "{handled:?}"
    );
    assert_eq!(
        w.completions("sub-uk").await[0]["completed_on"],
        "2024-01-13"
    );
    // A default country must be one the numbering plans know: "UK" is not ISO 3166.
    for bad in ["UK", "XX", "001"] {
        let (status, body) = w
            .call(
                "POST",
                "/imports",
                Some(json!({"method": "phone", "csv": csv, "default_country": bad})),
            )
            .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (400, Some("INVALID_OPTION")),
            "{bad}: {body}"
        );
    }
}

#[tokio::test]
async fn name_import_flags_a_shared_name_and_keeps_unknown_people_pending() {
    let w = world("name").await;
    for _ in 0..2 {
        let (status, _) = w
            .call("POST", "/people", Some(json!({"name": "Sam Lee"})))
            .await;
        assert_eq!(status, 201);
    }
    // Invited with their names (an admin's): the first sign-in is the sign-up.
    invited_sign_in(
        &w.env.store,
        "sub-ana",
        &w.attrs(&[("name", "Ana López"), ("email", "ana@example.com")]),
    )
    .await;
    let csv = "First Name,Last Name,Training,Date\nSam,Lee,Forklift Safety,2024-05-01\nana,LÓPEZ,Forklift Safety,2024-05-01\nNew,Person,Forklift Safety,2024-05-01\n";
    let id = w.import("name", csv, json!({})).await;
    let s = w.summary(&id).await;
    assert_eq!(counts(&s, "outcomes"), (1, 1, 1, 0), "{s}");
    let errors = w.rows(&id, "outcome=error").await;
    assert_eq!(codes(&errors[0]), vec!["AMBIGUOUS_PERSON"]);
    assert!(errors[0]["issues"][0]["message"]
        .as_str()
        .unwrap()
        .starts_with("2 people"));
    w.commit(&id, true).await;
    assert_eq!(w.completions("sub-ana").await.len(), 1);
    let handled = invited_sign_in(
        &w.env.store,
        "sub-new",
        &w.attrs(&[("given_name", "New"), ("family_name", "Person")]),
    )
    .await;
    assert!(
        matches!(handled, on_signup::Handled::Applied(ref r) if r.applied == 1),
        "{handled:?}"
    );
    // A self sign-up's name is its own writing: it claims nothing.
    let w2 = world("name-self").await;
    let id = w2
        .import(
            "name",
            "First Name,Last Name,Training,Date\nNew,Person,Forklift Safety,2024-05-01\n",
            json!({}),
        )
        .await;
    w2.commit(&id, false).await;
    let handled = sign_up(
        &w2.env.store,
        CONFIRM,
        "sub-new",
        &w2.attrs(&[("given_name", "New"), ("family_name", "Person")]),
    )
    .await;
    assert!(
        matches!(handled, on_signup::Handled::Applied(ref r) if r.applied == 0),
        "{handled:?}"
    );
    assert_eq!(
        counts(&w2.summary(&id).await, "statuses").1,
        1,
        "the row still waits"
    );
}

#[tokio::test]
async fn pending_rows_can_be_deleted_one_or_all_and_are_then_never_applied() {
    let w = world("delete").await;
    let csv = "email,training,date\na@example.com,forklift,2024-01-01\nb@example.com,forklift,2024-01-01\nc@example.com,forklift,2024-01-01\n";
    let id = w.import("email", csv, json!({})).await;
    let s = w.commit(&id, false).await;
    assert_eq!(counts(&s, "statuses"), (0, 3, 0, 0));

    let (status, body) = w
        .call("DELETE", &format!("/imports/{id}/rows/2"), None)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["row"]["status"], "deleted");
    // Deleting again is harmless.
    let (status, _) = w
        .call("DELETE", &format!("/imports/{id}/rows/2"), None)
        .await;
    assert_eq!(status, 200);
    let (status, body) = w
        .call("DELETE", &format!("/imports/{id}/rows/99"), None)
        .await;
    assert_eq!((status, body["code"].as_str()), (404, Some("NOT_FOUND")));

    let (status, body) = w
        .call("DELETE", &format!("/imports/{id}/pending-rows"), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["deleted"], 2);
    assert_eq!(counts(&w.summary(&id).await, "statuses"), (0, 0, 0, 3));

    let handled = sign_up(
        &w.env.store,
        CONFIRM,
        "sub-a",
        &w.attrs(&[("email", "a@example.com")]),
    )
    .await;
    assert!(
        matches!(handled, on_signup::Handled::Applied(ref r) if r.applied == 0),
        "{handled:?}"
    );
    assert!(w.completions("sub-a").await.is_empty());
}

#[tokio::test]
async fn forgotten_password_confirmation_applies_nothing_and_repeats_change_nothing() {
    let w = world("trigger").await;
    let id = w
        .import(
            "email",
            "email,training,date\nzed@example.com,forklift,2024-01-01\n",
            json!({}),
        )
        .await;
    w.commit(&id, false).await;
    let handled = sign_up(
        &w.env.store,
        "PostConfirmation_ConfirmForgotPassword",
        "sub-zed",
        &w.attrs(&[("email", "zed@example.com")]),
    )
    .await;
    assert_eq!(handled, on_signup::Handled::NotASignUp);
    assert_eq!(counts(&w.summary(&id).await, "statuses"), (0, 1, 0, 0));

    // The sign_up helper invokes the trigger twice; the second must change nothing.
    sign_up(
        &w.env.store,
        CONFIRM,
        "sub-zed",
        &w.attrs(&[("email", "zed@example.com")]),
    )
    .await;
    assert_eq!(counts(&w.summary(&id).await, "statuses"), (0, 0, 1, 0));
    assert_eq!(w.completions("sub-zed").await.len(), 1);
    // A sign-up without an organisation cannot apply anything.
    let handled = sign_up(
        &w.env.store,
        CONFIRM,
        "sub-x",
        &[("email", "x@example.com")],
    )
    .await;
    assert_eq!(handled, on_signup::Handled::NoOrganisation);
}

#[tokio::test]
async fn a_file_missing_a_required_column_fails_with_a_reason() {
    let w = world("failed").await;
    let id = w
        .import("email", "email,date\na@example.com,2024-01-01\n", json!({}))
        .await;
    let s = w.summary(&id).await;
    assert_eq!(s["status"], "failed");
    assert_eq!(s["failure"]["code"], "MISSING_COLUMN");
    assert!(s["failure"]["message"]
        .as_str()
        .unwrap()
        .contains("training"));
    let (status, body) = w
        .call(
            "POST",
            &format!("/imports/{id}/commit"),
            Some(json!({"skip_invalid_rows": true})),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("IMPORT_FAILED"))
    );
}

#[tokio::test]
async fn presigned_upload_goes_through_the_same_validator() {
    let w = world("presigned").await;
    let file = b"email,training,date\nnew@example.com,forklift,2024-02-02\n";
    let (status, body) = w
        .call(
            "POST",
            "/imports",
            Some(json!({"method": "email", "file_name": "q1.csv"})),
        )
        .await;
    assert_eq!((status, body["code"].as_str()), (400, Some("MISSING_SIZE")));
    let (status, body) = w
        .call(
            "POST",
            "/imports",
            Some(json!({"method": "email", "size": 300_000_000u64})),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("FILE_TOO_LARGE"))
    );
    let (status, created) = w
        .call(
            "POST",
            "/imports",
            Some(json!({"method": "email", "file_name": "q1.csv", "size": file.len()})),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["import"]["status"], "created");
    let url = created["upload"]["url"].as_str().unwrap();
    assert!(url.contains("X-Amz-Expires=900"), "short-lived: {url}");
    // Bound to the type and the size: anything else is refused by S3 itself.
    assert_eq!(http_put(url, "application/octet-stream", file).await, 403);
    let mut bigger = file.to_vec();
    bigger.extend_from_slice(b"more@example.com,forklift,2024-02-02\n");
    assert_eq!(http_put(url, "text/csv", &bigger).await, 403);
    let put = http_put(url, "text/csv", file).await;
    assert_eq!(put, 200, "PUT to the presigned URL");
    let id = created["import"]["import_id"].as_str().unwrap();
    deliver(
        &w.env.store,
        created["import"]["object_key"].as_str().unwrap(),
    )
    .await;
    assert_eq!(counts(&w.summary(id).await, "outcomes"), (0, 1, 0, 0));
}

#[tokio::test]
async fn a_dropped_file_creates_its_import_once_even_when_delivered_twice() {
    let w = world("drop").await;
    let key = format!("drop/{}/email/nightly export.csv", w.org());
    let body = b"email,training,date\nx@example.com,forklift,2024-02-02\n";
    put_and_deliver(&w.env.store, &key, body).await;
    deliver(&w.env.store, &key).await;
    let (status, list) = w.call("GET", "/imports", None).await;
    assert_eq!(status, 200);
    let imports = list["imports"].as_array().unwrap();
    assert_eq!(imports.len(), 1, "{list}");
    assert_eq!(imports[0]["source"], "drop");
    assert_eq!(imports[0]["file_name"], "nightly export.csv");
    assert_eq!(imports[0]["status"], "validated");
    assert_eq!(imports[0]["rows_total"], 1);
}

#[tokio::test]
async fn another_organisation_sees_nothing() {
    let w = world("tenant").await;
    let id = w
        .import(
            "email",
            "email,training,date\na@example.com,forklift,2024-01-01\n",
            json!({}),
        )
        .await;
    let other = admin_claims(&OrgId::parse("someone-else").unwrap());
    for (method, path) in [
        ("GET", format!("/imports/{id}")),
        ("GET", format!("/imports/{id}/rows")),
        ("POST", format!("/imports/{id}/commit")),
        ("DELETE", format!("/imports/{id}/rows/2")),
        ("DELETE", format!("/imports/{id}/pending-rows")),
    ] {
        let (status, body) = call_api(&w.api, method, &path, None, Some(other.clone())).await;
        assert_eq!(status, 404, "{method} {path}: {body}");
    }
    // Not an admin: 403. No token: 401.
    let staff = json!({"custom:org_id": w.org().as_str(), "cognito:groups": "[staff]"});
    assert_eq!(
        call_api(&w.api, "GET", "/imports", None, Some(staff))
            .await
            .0,
        403
    );
    assert_eq!(call_api(&w.api, "GET", "/imports", None, None).await.0, 401);
}

#[tokio::test]
async fn a_row_already_pending_from_an_earlier_import_is_skipped() {
    let w = world("again").await;
    let csv = "email,training,date\nlater@example.com,forklift,2024-01-01\nlater@example.com,forklift,2024-02-01\nother@example.com,forklift,2024-01-01\n";
    let first = w.import("email", csv, json!({})).await;
    w.commit(&first, false).await;
    // A file with fewer rows than the organisation has pending asks key by key.
    let one = w
        .import(
            "email",
            "email,training,date\nlater@example.com,forklift,2024-02-01\n",
            json!({}),
        )
        .await;
    let s = w.summary(&one).await;
    assert_eq!(counts(&s, "outcomes"), (0, 0, 0, 1), "{s}");
    assert_eq!(codes(&w.rows(&one, "").await[0]), vec!["ALREADY_PENDING"]);
    // A larger file reads the organisation's pending rows at once.
    let bigger = format!("{csv}new@example.com,forklift,2024-01-01\n");
    let all = w.import("email", &bigger, json!({})).await;
    let s = w.summary(&all).await;
    assert_eq!(counts(&s, "outcomes"), (0, 1, 0, 3), "{s}");
    let rows = w.rows(&all, "").await;
    let pending = vec!["ALREADY_PENDING".to_string()];
    assert_eq!(
        rows.iter().map(codes).collect::<Vec<_>>(),
        vec![pending.clone(), pending.clone(), pending, vec![]]
    );
    // Rows pending under another method are not the same rows.
    let by_name = w
        .import(
            "name",
            "first_name,last_name,training,date\nLater,Person,forklift,2024-01-01\n",
            json!({}),
        )
        .await;
    assert_eq!(counts(&w.summary(&by_name).await, "outcomes"), (0, 1, 0, 0));
}

#[tokio::test]
async fn a_column_mapping_reads_headers_no_alias_covers() {
    let w = world("mapping").await;
    let csv = "Correo,Curso,Fecha\nnuevo@example.com,forklift,2024-01-01\n";
    let id = w.import("email", csv, json!({"columns": {"email": "Correo", "training": "Curso", "completion_date": "Fecha"}})).await;
    assert_eq!(counts(&w.summary(&id).await, "outcomes"), (0, 1, 0, 0));
    let (status, body) = w
        .call(
            "POST",
            "/imports",
            Some(json!({"method": "email", "csv": csv, "columns": {"correo": "Correo"}})),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("INVALID_OPTION")),
        "{body}"
    );
}

#[tokio::test]
async fn rows_are_fixed_in_place_and_the_error_report_round_trips() {
    let w = world("fix").await;
    let csv = "Email,Course,Date\nnot-an-email,Forklift Safety,2024-01-01\n=HYPERLINK(\"x\"),Forklift Safty,2024-01-02\nok@example.com,First Aid,2024-01-03\n";
    let id = w.import("email", csv, json!({})).await;
    let s = w.summary(&id).await;
    assert_eq!(counts(&s, "outcomes"), (0, 1, 2, 0), "{s}");

    // The report: error rows, original cells, what is wrong, formulas guarded.
    let (status, report) = w
        .call("GET", &format!("/imports/{id}/error-report"), None)
        .await;
    assert_eq!(status, 200);
    let report = report
        .as_str()
        .unwrap()
        .trim_start_matches('\u{feff}')
        .to_string();
    let lines: Vec<&str> = report.lines().collect();
    assert_eq!(lines[0], "Email,Course,Date,Import problems");
    assert!(
        lines[1].starts_with("not-an-email,Forklift Safety,2024-01-01,INVALID_EMAIL (Email):"),
        "{report}"
    );
    assert!(
        lines[2].starts_with("\"'=HYPERLINK(\"\"x\"\")\",Forklift Safty,"),
        "{report}"
    );
    assert!(
        lines[2].contains("Did you mean 'Forklift Safety'"),
        "{report}"
    );
    assert_eq!(lines.len(), 3);

    // Fix the first error in place: the row and the counts change together.
    let (status, fixed) = w
        .call(
            "PATCH",
            &format!("/imports/{id}/rows/2"),
            Some(json!({"cells": {"Email": "fixed@example.com"}})),
        )
        .await;
    assert_eq!(status, 200, "{fixed}");
    assert_eq!(fixed["row"]["outcome"], "pending");
    assert_eq!(counts(&fixed["import"], "outcomes"), (0, 2, 1, 0));
    assert_eq!(
        fixed["import"]["issues"]["INVALID_EMAIL"], 1,
        "row 3 still has one"
    );

    // The report, fixed in a spreadsheet and uploaded again, is accepted.
    let fixed_report = report
        .replace("\"'=HYPERLINK(\"\"x\"\")\"", "report@example.com")
        .replace("not-an-email,", "second@example.com,")
        .replace("Forklift Safty,", "Forklift Safety,");
    let again = w.import("email", &fixed_report, json!({})).await;
    let s = w.summary(&again).await;
    assert_eq!(counts(&s, "outcomes"), (0, 2, 0, 0), "{s}\n{fixed_report}");
    assert_eq!(s["ignored_columns"], json!(["Import problems"]));

    // After the import is committed, rows can no longer be fixed.
    w.commit(&id, true).await;
    let (status, body) = w
        .call(
            "PATCH",
            &format!("/imports/{id}/rows/3"),
            Some(json!({"cells": {"Course": "First Aid"}})),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("IMPORT_NOT_EDITABLE"))
    );
}

#[tokio::test]
async fn a_large_imports_error_report_is_written_by_the_worker_and_kept_until_the_import_changes() {
    let w = world("big-report").await;
    let mut csv = String::from("Email,Course,Date\n");
    for i in 0..40 {
        // Every fourth row names a training that does not exist.
        let course = if i % 4 == 0 {
            "Knitting"
        } else {
            "Forklift Safety"
        };
        csv.push_str(&format!(
            "person{i}@example.com,{course},2024-01-{:02}\n",
            1 + i % 28
        ));
    }
    let id = w.import("email", &csv, json!({})).await;
    let import = training_imports::domain::ImportId::parse(&id).unwrap();
    // This import counts as large: more error rows than the API reads within a request.
    let store = w.env.store.with_report_inline_rows(5);
    let api = api_context(&store);
    let get = |accept: Option<&'static str>| {
        let mut req = api_request(
            "GET",
            &format!("/imports/{id}/error-report"),
            None,
            Some(w.claims.clone()),
        );
        if let Some(a) = accept {
            req.headers_mut().insert("accept", a.parse().unwrap());
        }
        import_api::handle(&api, req)
    };
    let json_of = |resp: &lambda_http::Response<lambda_http::Body>| -> Value {
        match resp.body() {
            lambda_http::Body::Text(t) => serde_json::from_str(t).unwrap(),
            other => panic!("JSON expected, got {other:?}"),
        }
    };
    let request_key = keys::s3::report_request_key(w.org(), &import);

    // First ask: 202, and a request for the worker.
    let resp = get(Some("application/json")).await.unwrap();
    assert_eq!(resp.status(), 202, "{:?}", resp.body());
    assert_eq!(resp.headers()["retry-after"], "3");
    assert_eq!(json_of(&resp)["status"], "preparing");
    let (meta, asked_at) = store
        .object_metadata(&request_key)
        .await
        .unwrap()
        .expect("a report request");
    // Asking again while it is written sends no second request.
    assert_eq!(get(None).await.unwrap().status(), 202);
    assert_eq!(
        store.object_metadata(&request_key).await.unwrap().unwrap(),
        (meta, asked_at)
    );

    // The worker writes it; then the page gets a link and other clients a redirect.
    assert_eq!(deliver(&store, &request_key).await.handled, 1);
    let resp = get(Some("application/json")).await.unwrap();
    assert_eq!(resp.status(), 200);
    let link = json_of(&resp);
    assert_eq!(
        (link["status"].as_str(), link["file_name"].as_str()),
        (Some("ready"), Some("email-errors.csv"))
    );
    let (status, body) = http_get(link["url"].as_str().unwrap()).await;
    assert_eq!(status, 200);
    let mut expected = training_imports::pipeline::report::BOM.to_vec();
    expected.extend(
        training_imports::pipeline::report::error_report(&store, w.org(), &import)
            .await
            .unwrap(),
    );
    assert_eq!(
        String::from_utf8_lossy(&body),
        String::from_utf8_lossy(&expected)
    );
    let text = String::from_utf8(body[3..].to_vec()).unwrap();
    assert_eq!(
        text.lines().count(),
        1 + 10,
        "the header and the 10 error rows:\n{text}"
    );
    assert!(
        text.lines()
            .skip(1)
            .all(|l| l.contains(",Knitting,") && l.contains("UNKNOWN_TRAINING")),
        "{text}"
    );
    let resp = get(None).await.unwrap();
    assert_eq!(resp.status(), 303);
    assert!(resp.headers()["location"]
        .to_str()
        .unwrap()
        .contains("errors.csv"));
    // A repeated event leaves the written report alone.
    assert_eq!(deliver(&store, &request_key).await.handled, 1);
    assert_eq!(get(Some("application/json")).await.unwrap().status(), 200);

    // A fix changes the import: the old report is not handed out, a new one is written.
    let (status, fixed) = w
        .call(
            "PATCH",
            &format!("/imports/{id}/rows/2"),
            Some(json!({"cells": {"Course": "First Aid"}})),
        )
        .await;
    assert_eq!(status, 200, "{fixed}");
    assert_eq!(get(Some("application/json")).await.unwrap().status(), 202);
    deliver(&store, &request_key).await;
    let resp = get(Some("application/json")).await.unwrap();
    let (_, body) = http_get(json_of(&resp)["url"].as_str().unwrap()).await;
    let text = String::from_utf8(body[3..].to_vec()).unwrap();
    assert_eq!(text.lines().count(), 1 + 9, "row 2 is fixed:\n{text}");
    assert!(!text.contains("person0@example.com"), "{text}");

    // A file not yet checked has no report to give.
    let (status, created) = w
        .call(
            "POST",
            "/imports",
            Some(json!({"method": "email", "csv": "Email,Course,Date\nx,Knitting,2024-01-01\n"})),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let (status, body) = w
        .call(
            "GET",
            &format!(
                "/imports/{}/error-report",
                created["import"]["import_id"].as_str().unwrap()
            ),
            None,
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("IMPORT_NOT_VALIDATED")),
        "{body}"
    );
}

/// The error rows of the pages in the errors index of an import, read from the index
/// itself (the first partition of rows, which holds every row of these small files):
/// a page is in it while one of its rows is an error.
async fn in_errors_index(w: &World, id: &str) -> Vec<String> {
    use training_imports::store::schema::{ERRORS_INDEX, ERRORS_INDEX_PK};
    let import = training_imports::domain::ImportId::parse(id).unwrap();
    let out = w
        .env
        .store
        .dynamodb()
        .query()
        .table_name(w.env.store.table())
        .index_name(ERRORS_INDEX)
        .key_condition_expression("#p = :p")
        .expression_attribute_names("#p", ERRORS_INDEX_PK)
        .expression_attribute_values(
            ":p",
            aws_sdk_dynamodb::types::AttributeValue::S(keys::row_block_pk(w.org(), &import, 0)),
        )
        .send()
        .await
        .unwrap();
    // A page's rows are packed: JSON, deflated.
    out.items()
        .iter()
        .flat_map(|page| {
            let packed = page["z"].as_b().unwrap().as_ref();
            let rows: Vec<Value> =
                serde_json::from_reader(flate2::read::DeflateDecoder::new(packed)).unwrap();
            rows
        })
        .filter(|row| row["outcome"] == "error")
        .map(|row| row["row"].to_string())
        .collect()
}

#[tokio::test]
async fn the_errors_index_holds_exactly_the_error_rows_through_validation_fixes_and_import() {
    let w = world("errors-index").await;
    let csv = "Email,Course,Date\nbad-2,Forklift Safety,2024-01-01\nok3@example.com,Forklift Safety,2024-01-01\nbad-4,Forklift Safety,2024-01-01\nok5@example.com,First Aid,2024-01-01\nbad-6,Forklift Safety,2024-01-01\n";
    let id = w.import("email", csv, json!({})).await;
    assert_eq!(in_errors_index(&w, &id).await, ["2", "4", "6"]);
    // The Errors filter reads the index, a page at a time.
    let (mut listed, mut cursor) = (vec![], None::<String>);
    loop {
        let path = format!("/imports/{id}/rows?outcome=error&limit=1")
            + &cursor
                .as_ref()
                .map(|c| format!("&cursor={c}"))
                .unwrap_or_default();
        let (status, page) = w.call("GET", &path, None).await;
        assert_eq!(status, 200, "{page}");
        listed.extend(
            page["rows"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["row"].as_u64().unwrap()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(listed, [2, 4, 6]);

    // Fixed: no longer an error. Changed but still wrong: still one.
    let (status, body) = w
        .call(
            "PATCH",
            &format!("/imports/{id}/rows/4"),
            Some(json!({"cells": {"Email": "fixed4@example.com"}})),
        )
        .await;
    assert_eq!(
        (status, body["row"]["outcome"].as_str()),
        (200, Some("pending")),
        "{body}"
    );
    let (status, body) = w
        .call(
            "PATCH",
            &format!("/imports/{id}/rows/2"),
            Some(json!({"cells": {"Email": "still-bad"}})),
        )
        .await;
    assert_eq!(
        (status, body["row"]["outcome"].as_str()),
        (200, Some("error")),
        "{body}"
    );
    assert_eq!(in_errors_index(&w, &id).await, ["2", "6"]);
    assert_eq!(w.rows(&id, "outcome=error").await.len(), 2);

    // Imported without them: the rows are not imported, and still the import's errors.
    w.commit(&id, true).await;
    assert_eq!(in_errors_index(&w, &id).await, ["2", "6"]);
    let (status, report) = w
        .call("GET", &format!("/imports/{id}/error-report"), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(report.as_str().unwrap().lines().count(), 3, "{report}");
}

/// Every change an admin makes records who (the token's `sub` and email) and when, on the
/// import and on the row; a sign-up records which account applied each row.
#[tokio::test]
async fn every_change_records_who_made_it_and_when() {
    let w = world("audit").await;
    let by = |v: &Value, what: &str| {
        assert_eq!(v["sub"], "admin-sub", "{what}: {v}");
        assert_eq!(v["email"], ADMIN_EMAIL, "{what}: {v}");
        assert!(
            chrono::DateTime::parse_from_rfc3339(v["at"].as_str().unwrap_or_default()).is_ok(),
            "{what}: {v}"
        );
    };
    let (_, t) = w
        .call(
            "POST",
            "/trainings",
            Some(json!({"training_id": "audit", "title": "Audit", "published": false})),
        )
        .await;
    by(&t["training"]["changed_by"], "create training");
    let (_, t) = w.call("POST", "/trainings/audit/publish", None).await;
    by(&t["training"]["changed_by"], "publish");
    let (_, p) = w
        .call(
            "POST",
            "/people",
            Some(json!({"name": "Rosa Diaz", "employee_id": "E900"})),
        )
        .await;
    by(&p["person"]["added_by"], "add a person");
    let (_, j) = w.call("POST", "/join-codes", None).await;
    by(&j["join_code"]["created"], "create a join code");
    let (_, j) = w
        .call(
            "DELETE",
            &format!("/join-codes/{}", j["join_code"]["code"].as_str().unwrap()),
            None,
        )
        .await;
    by(&j["join_code"]["revoked"], "revoke a join code");

    sign_up(
        &w.env.store,
        CONFIRM,
        "sub-ready",
        &w.attrs(&[("email", "ready@example.com")]),
    )
    .await;
    let csv = "email,training,date\nready@example.com,audit,2024-01-01\nlater@example.com,audit,2024-01-01\nlate2@example.com,audit,2024-01-01\nlate3@example.com,audit,2024-01-01\nbad-email,audit,2024-01-01\n";
    let id = w.import("email", csv, json!({})).await;
    by(&w.summary(&id).await["created_by"], "create an import");
    let (status, fixed) = w
        .call(
            "PATCH",
            &format!("/imports/{id}/rows/6"),
            Some(json!({"cells": {"email": "late4@example.com"}})),
        )
        .await;
    assert_eq!(status, 200, "{fixed}");
    by(&fixed["row"]["fixed_by"], "fix a row");
    let s = w.commit(&id, false).await;
    by(&s["commit"]["by"], "import");
    let imported = w.rows(&id, "status=imported").await;
    by(&imported[0]["imported_by"], "an imported row");
    let (_, one) = w
        .call("DELETE", &format!("/imports/{id}/rows/3"), None)
        .await;
    by(&one["row"]["deleted_by"], "delete one pending row");
    let (status, _) = w
        .call("DELETE", &format!("/imports/{id}/pending-rows"), None)
        .await;
    assert_eq!(status, 200);
    by(
        &w.summary(&id).await["pending_deleted_by"],
        "delete all pending rows",
    );
    for row in w.rows(&id, "status=deleted").await {
        by(&row["deleted_by"], "a row deleted with all pending");
    }

    let id = w
        .import(
            "email",
            "email,training,date\nlater@example.com,audit,2024-02-01\n",
            json!({}),
        )
        .await;
    w.commit(&id, false).await;
    sign_up(
        &w.env.store,
        CONFIRM,
        "sub-later",
        &w.attrs(&[("email", "later@example.com")]),
    )
    .await;
    let applied = w.rows(&id, "status=applied").await;
    assert_eq!(
        applied[0]["applied_to_account"], "sub-later",
        "{}",
        applied[0]
    );
}

/// A file whose headers no alias knows: it fails with MISSING_COLUMN, its preview shows
/// the header row and first values, a new validation of the same file with the admin's
/// mapping reads every row, and the next file with those headers (in another order and
/// case) is offered that mapping. The first import stays as it was.
#[tokio::test]
async fn a_file_with_unknown_headers_is_mapped_validated_again_and_its_mapping_remembered() {
    let w = world("mapping").await;
    let csv = "Correo;Curso;Fecha;Notas\nana@example.com;Forklift Safety;2024-03-01;x\nbo@example.com;First Aid;2024-03-02;y\n";
    let first = w.import("email", csv, json!({})).await;
    let failed = w.summary(&first).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    assert_eq!(failed["failure"]["code"], "MISSING_COLUMN");

    let (status, shown) = w
        .call("GET", &format!("/imports/{first}/preview"), None)
        .await;
    assert_eq!(status, 200, "{shown}");
    assert_eq!(
        shown["preview"]["headers"],
        json!(["Correo", "Curso", "Fecha", "Notas"])
    );
    assert_eq!(
        shown["preview"]["samples"],
        json!([
            ["ana@example.com", "Forklift Safety", "2024-03-01", "x"],
            ["bo@example.com", "First Aid", "2024-03-02", "y"]
        ])
    );
    assert_eq!(shown["preview"]["delimiter"], ";");
    assert_eq!(shown["preview"]["encoding"], "UTF-8");
    assert_eq!(shown["remembered_columns"], Value::Null);
    assert_eq!(shown["detected_columns"], json!({}));
    assert!(shown["roles"]
        .as_array()
        .unwrap()
        .contains(&json!("completion_date")));

    // Validated again with the admin's mapping: the same file, copied under a new import.
    let mapping = json!({"email": "Correo", "training": "Curso", "completion_date": "Fecha"});
    let (status, created) = w
        .call(
            "POST",
            "/imports",
            Some(json!({"method": "email", "from_import": first, "columns": mapping})),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["import"]["status"], "uploaded");
    assert_eq!(created["import"]["from_import"], json!(first));
    assert_eq!(created["import"]["file_name"], "email.csv");
    let second = created["import"]["import_id"].as_str().unwrap().to_string();
    let key = created["import"]["object_key"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(key.contains(&second), "{key}");
    assert_eq!(deliver(&w.env.store, &key).await.handled, 1);
    let validated = w.summary(&second).await;
    assert_eq!(validated["status"], "validated", "{validated}");
    assert_eq!(validated["rows_total"], 2);
    assert_eq!(validated["outcomes"]["error"], 0, "{validated}");
    assert_eq!(validated["ignored_columns"], json!(["Notas"]));
    assert_eq!(validated["encoding"], "UTF-8");
    assert_eq!(validated["delimiter"], ";");
    assert_eq!(w.summary(&first).await["status"], "failed");
    // Another organisation can neither look at the file nor validate it again.
    let other = admin_claims(&OrgId::parse("someone-else").unwrap());
    for (method, path, body) in [
        ("GET", format!("/imports/{first}/preview"), None),
        (
            "POST",
            "/imports".to_string(),
            Some(json!({"method": "email", "from_import": first, "columns": mapping})),
        ),
    ] {
        let (status, body) = call_api(&w.api, method, &path, body, Some(other.clone())).await;
        assert_eq!(status, 404, "{method} {path}: {body}");
    }

    // The next file with the same headers, in another order and case, is offered it.
    let later = w
        .import(
            "email",
            "FECHA,correo,CURSO,notas\n2024-04-01,zoe@example.com,First Aid,z\n",
            json!({}),
        )
        .await;
    let (status, shown) = w
        .call("GET", &format!("/imports/{later}/preview"), None)
        .await;
    assert_eq!(status, 200, "{shown}");
    assert_eq!(shown["remembered_columns"], mapping);
    assert_eq!(shown["preview"]["delimiter"], ",");

    // Wrong uses say what is wrong.
    let (status, body) = w
        .call(
            "POST",
            "/imports",
            Some(json!({"method": "email", "from_import": first, "csv": "a,b\n1,2\n"})),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("INVALID_JSON")),
        "{body}"
    );
    let (status, body) = w
        .call(
            "POST",
            "/imports",
            Some(json!({"method": "email", "from_import": "no-such-import"})),
        )
        .await;
    assert_eq!(status, 404, "{body}");
}

/// An upload cancelled or failed leaves an import whose file never arrived: it can be
/// deleted (and nothing else can), and it has nothing to preview or validate again.
#[tokio::test]
async fn an_import_whose_file_never_arrived_can_be_deleted_and_no_other() {
    let w = world("not-uploaded").await;
    let (status, created) = w
        .call(
            "POST",
            "/imports",
            Some(json!({"method": "email", "file_name": "big.csv", "size": 1234})),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let waiting = created["import"]["import_id"].as_str().unwrap().to_string();
    let (status, body) = w
        .call("GET", &format!("/imports/{waiting}/preview"), None)
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("IMPORT_NOT_UPLOADED")),
        "{body}"
    );
    let (status, body) = w
        .call(
            "POST",
            "/imports",
            Some(json!({"method": "email", "from_import": waiting})),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("IMPORT_NOT_UPLOADED")),
        "{body}"
    );

    let uploaded = w
        .import(
            "email",
            "email,training,date\nana@example.com,First Aid,2024-03-01\n",
            json!({}),
        )
        .await;
    let (status, body) = w
        .call("DELETE", &format!("/imports/{uploaded}"), None)
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("IMPORT_UPLOADED")),
        "{body}"
    );
    assert_eq!(w.summary(&uploaded).await["status"], "validated");

    // Another organisation cannot delete it.
    let other = admin_claims(&OrgId::parse("someone-else").unwrap());
    let (status, _) = call_api(
        &w.api,
        "DELETE",
        &format!("/imports/{waiting}"),
        None,
        Some(other),
    )
    .await;
    assert_eq!(status, 404);

    let (status, body) = w.call("DELETE", &format!("/imports/{waiting}"), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"import_id": waiting, "deleted": true}));
    let (status, _) = w.call("GET", &format!("/imports/{waiting}"), None).await;
    assert_eq!(status, 404);
    let (_, list) = w.call("GET", "/imports", None).await;
    let ids: Vec<&str> = list["imports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["import_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![uploaded.as_str()]);
}

/// The page and its script are revalidated on every load by their ETag: a browser that
/// has the current version gets a 304 with no body; any other version gets it all.
#[tokio::test]
async fn the_page_and_its_script_answer_304_to_the_version_the_browser_has() {
    let w = world("etag").await;
    for path in ["/", "/app.js", "/app.css"] {
        let full = import_api::handle(&w.api, api_request("GET", path, None, None))
            .await
            .unwrap();
        assert_eq!(full.status(), 200);
        let etag = full.headers()["etag"].to_str().unwrap().to_string();
        assert!(etag.starts_with('"') && etag.len() == 18, "{etag}");
        let mut again = api_request("GET", path, None, None);
        again
            .headers_mut()
            .insert("if-none-match", etag.parse().unwrap());
        let cached = import_api::handle(&w.api, again).await.unwrap();
        assert_eq!(cached.status(), 304, "{path}");
        assert!(matches!(cached.body(), lambda_http::Body::Empty), "{path}");
        assert_eq!(cached.headers()["etag"].to_str().unwrap(), etag);
        let mut stale = api_request("GET", path, None, None);
        stale
            .headers_mut()
            .insert("if-none-match", "\"0000000000000000\"".parse().unwrap());
        let fresh = import_api::handle(&w.api, stale).await.unwrap();
        assert_eq!(fresh.status(), 200, "{path}");
    }
}

/// Two admins fixing two rows of one page at once: both fixes land (the page is read
/// again by whichever comes second), and the counts move by both.
#[tokio::test]
async fn two_fixes_of_rows_in_one_page_at_once_both_land() {
    let w = world("fixes-at-once").await;
    let csv = "Email,Course,Date\nbad-2,Forklift Safety,2024-01-01\nbad-3,Forklift Safety,2024-01-01\nbad-4,Forklift Safety,2024-01-01\n";
    let id = w.import("email", csv, json!({})).await;
    for round in 0..5 {
        let (w, id) = (&w, &id);
        let fix = |row: u64| async move {
            w.call(
                "PATCH",
                &format!("/imports/{id}/rows/{row}"),
                Some(json!({"cells": {"Email": format!("fixed{row}-{round}@example.com")}})),
            )
            .await
        };
        let ((a, body_a), (b, body_b)) = tokio::join!(fix(2), fix(3));
        assert_eq!((a, b), (200, 200), "round {round}: {body_a} {body_b}");
    }
    let rows = w.rows(&id, "").await;
    let emails: Vec<&str> = rows
        .iter()
        .map(|r| r["cells"][0].as_str().unwrap())
        .collect();
    assert_eq!(
        emails,
        ["fixed2-4@example.com", "fixed3-4@example.com", "bad-4"]
    );
    let (_, s) = w.call("GET", &format!("/imports/{id}"), None).await;
    assert_eq!(s["import"]["outcomes"]["error"], 1, "{s}");
    assert_eq!(s["import"]["outcomes"]["pending"], 2, "{s}");
}

/// A cursor is the admin's to write: one that names no row is refused, one past the
/// last row (the largest line there is) ends the listing; neither crashes the request.
#[tokio::test]
async fn a_cursor_written_by_hand_is_refused_or_ends_the_listing() {
    use base64::Engine;
    let w = world("hand-cursor").await;
    let csv = "Email,Course,Date\nbad-2,Forklift Safety,2024-01-01\nok3@example.com,Forklift Safety,2024-01-01\n";
    let id = w.import("email", csv, json!({})).await;
    let encode = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    for filter in ["", "&outcome=error", "&status=validated"] {
        let last = encode(&format!("ROW#{}", u64::MAX));
        let (status, body) = w
            .call(
                "GET",
                &format!("/imports/{id}/rows?cursor={last}{filter}"),
                None,
            )
            .await;
        assert_eq!(status, 200, "{filter}: {body}");
        assert_eq!(body["rows"], json!([]), "{filter}: {body}");
        assert!(body["next_cursor"].is_null(), "{filter}: {body}");
        for bad in [
            encode("ROW#abc"),
            encode("PAGE#2"),
            "not-base64*".to_string(),
        ] {
            let (status, body) = w
                .call(
                    "GET",
                    &format!("/imports/{id}/rows?cursor={bad}{filter}"),
                    None,
                )
                .await;
            assert_eq!(
                (status, body["code"].as_str()),
                (400, Some("INVALID_CURSOR")),
                "{bad}{filter}: {body}"
            );
        }
    }
}
