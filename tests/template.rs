//! The deployed API's protection, read from template.yaml: a Cognito JWT authorizer on
//! every route, no route that opts out, and no way to switch on the local development
//! identity. The table in the template matches the one the code creates locally.

fn template() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/template.yaml")).unwrap()
}

#[test]
fn every_route_needs_a_cognito_jwt() {
    let t = template();
    assert!(t.contains("DefaultAuthorizer: CognitoJwt"), "the HTTP API must default to the JWT authorizer");
    assert!(t.contains("issuer: !Sub \"https://cognito-idp.${AWS::Region}.amazonaws.com/${UserPool}\""));
    // Only the static page and its two assets opt out; every API route is the catch-all.
    assert_eq!(t.matches("Authorizer: NONE").count(), 3, "only the page's three static assets may opt out of the authorizer");
    for (i, block) in t.split("Type: HttpApi").skip(1).enumerate() {
        let path = block.lines().find_map(|l| l.trim().strip_prefix("Path: ")).unwrap();
        let public = block.split("Type:").next().unwrap().contains("Authorizer: NONE");
        assert!(!public || ["/", "/app.js", "/app.css"].contains(&path), "route {i} ({path}) must not opt out of the authorizer");
        if !public {
            assert_eq!(path, "/{proxy+}");
        }
    }
    // The three public paths are served by routes marked public in the code, and those
    // serve only built-in static text.
    let public: Vec<&str> = import_api::ROUTES.iter().filter(|r| r.public).map(|r| r.pattern).collect();
    assert_eq!(public, vec!["/openapi.json", "/", "/app.js", "/app.css"]);
}

#[test]
fn the_local_development_identity_cannot_be_switched_on_in_the_deployed_template() {
    let t = template();
    assert!(!t.contains(import_api::identity::DEV_ORG_ENV), "template.yaml must never set {}", import_api::identity::DEV_ORG_ENV);
    // Environment is only set globally, and only with these names.
    let env_block = t.split("Variables:").nth(1).unwrap().split("\n\n").next().unwrap();
    for line in env_block.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let name = line.trim().split(':').next().unwrap();
        assert!(["TABLE_NAME", "BUCKET_NAME", "RUST_LOG"].contains(&name), "unexpected environment variable {name}");
    }
    assert_eq!(t.matches("Variables:").count(), 1, "no function sets its own environment");
}

#[test]
fn the_template_declares_the_indexes_the_code_uses() {
    let t = template();
    use training_imports::store::schema::*;
    for name in [PENDING_INDEX, PENDING_INDEX_PK, PENDING_INDEX_SK, IMPORTS_INDEX, IMPORTS_INDEX_PK, IMPORTS_INDEX_SK, ERRORS_INDEX, ERRORS_INDEX_PK, ERRORS_INDEX_SK] {
        assert!(t.contains(name), "template.yaml lacks {name}");
    }
}

#[test]
fn the_admin_group_the_api_checks_exists_in_the_user_pool() {
    let t = template();
    assert!(t.contains(&format!("GroupName: {}", import_api::identity::ADMIN_GROUP)));
    assert!(t.contains("Name: org_id") && t.contains("Mutable: false"), "the organisation attribute must be immutable");
    assert!(t.contains("WriteAttributes:") && !t.split("WriteAttributes:").nth(1).unwrap().lines().next().unwrap().contains("org_id"), "users must not be able to write their organisation");
}

/// The object prefixes (`prefix/*`) a function's policies allow an action on.
fn allowed_in(policies: &str, action: &str) -> Vec<String> {
    policies
        .split("- Effect: Allow")
        .filter(|st| st.contains(&format!("Action: [{action}]")))
        .flat_map(|st| st.lines().filter_map(|l| l.split("}/").nth(1).map(|p| p.trim_end_matches('"').to_string())).collect::<Vec<_>>())
        .collect()
}

/// The worker's part of the template: S3 sends it every prefix it handles, and it may
/// read each of them and write where it hands work on (a commit or a validation near its
/// time limit writes there to invoke itself again) and its error reports.
#[test]
fn the_worker_gets_every_object_it_handles_and_may_write_where_it_hands_on() {
    use training_imports::keys::s3::*;
    let t = template();
    let worker = t.split("ImportWorkerFunction:").nth(1).unwrap().split("ImportApiFunction:").next().unwrap();
    let (head, events) = worker.split_once("\n      Events:\n").unwrap();
    let policies = head.split("Policies:").nth(1).unwrap();
    let allowed = |action: &str| allowed_in(policies, action);
    for prefix in [UPLOADS, COMMITS, DROPS, RESUMES, REPORT_REQUESTS] {
        assert!(events.contains(&format!("Rules: [{{ Name: prefix, Value: {prefix} }}]")), "no S3 event for {prefix}");
        assert!(allowed("s3:GetObject").contains(&format!("{prefix}*")), "the worker cannot read {prefix}");
    }
    // Error reports: written in parts (PutObject, AbortMultipartUpload), and looked at
    // first (HeadObject needs GetObject) in case this version is written already.
    assert!(allowed("s3:GetObject").contains(&"reports/*".to_string()), "the worker cannot look at reports/");
    assert_eq!(allowed("s3:PutObject"), vec![format!("{COMMITS}*"), format!("{RESUMES}*"), "reports/*".to_string()]);
    assert_eq!(allowed("s3:AbortMultipartUpload"), vec!["reports/*".to_string()]);
}

#[test]
fn the_api_may_ask_for_an_error_report_and_hand_it_out() {
    use training_imports::keys::s3::*;
    let t = template();
    let api = t.split("ImportApiFunction:").nth(1).unwrap();
    let policies = api.split("Policies:").nth(1).unwrap().split("\n      Events:\n").next().unwrap();
    let allowed = |action: &str| allowed_in(policies, action);
    assert!(allowed("s3:PutObject").contains(&format!("{REPORT_REQUESTS}*")), "the API cannot ask for a report");
    for prefix in [REPORT_REQUESTS, "reports/"] {
        assert!(allowed("s3:GetObject").contains(&format!("{prefix}*")), "the API cannot look at {prefix}");
    }
}
