//! The deployed API's protection, read from template.yaml: a Cognito JWT authorizer on
//! every route, no route that opts out, and no way to switch on the local development
//! identity. The table in the template matches the one the code creates locally. The
//! sign-up's functions may make every request a real sign-up makes.

fn template() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/template.yaml")).unwrap()
}

#[test]
fn every_route_needs_a_cognito_jwt() {
    let t = template();
    assert!(
        t.contains("DefaultAuthorizer: CognitoJwt"),
        "the HTTP API must default to the JWT authorizer"
    );
    assert!(
        t.contains("issuer: !Sub \"https://cognito-idp.${AWS::Region}.amazonaws.com/${UserPool}\"")
    );
    // Only the static page, its two assets and where it signs in opt out; every API
    // route is the catch-all.
    assert_eq!(
        t.matches("Authorizer: NONE").count(),
        4,
        "only the page's static assets and its sign-in settings may opt out of the authorizer"
    );
    for (i, block) in t.split("Type: HttpApi").skip(1).enumerate() {
        let path = block
            .lines()
            .find_map(|l| l.trim().strip_prefix("Path: "))
            .unwrap();
        let public = block
            .split("Type:")
            .next()
            .unwrap()
            .contains("Authorizer: NONE");
        assert!(
            !public || ["/", "/app.js", "/app.css", "/sign-in.json"].contains(&path),
            "route {i} ({path}) must not opt out of the authorizer"
        );
        if !public {
            assert_eq!(path, "/{proxy+}");
        }
    }
    // The public paths are served by routes marked public in the code, and those serve
    // only built-in static text or the sign-in settings.
    let public: Vec<&str> = import_api::ROUTES
        .iter()
        .filter(|r| r.public)
        .map(|r| r.pattern)
        .collect();
    assert_eq!(
        public,
        vec!["/openapi.json", "/", "/app.js", "/app.css", "/sign-in.json"]
    );
}

#[test]
fn the_local_development_identity_cannot_be_switched_on_in_the_deployed_template() {
    let t = template();
    assert!(
        !t.contains(import_api::identity::DEV_ORG_ENV),
        "template.yaml must never set {}",
        import_api::identity::DEV_ORG_ENV
    );
    // Environment is set globally and, for the API, only its sign-in client: only these names.
    let lines: Vec<&str> = t.lines().collect();
    let mut names = Vec::new();
    for (i, line) in lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.trim() == "Variables:")
    {
        let indent = line.len() - line.trim_start().len();
        for l in lines[i + 1..]
            .iter()
            .take_while(|l| l.trim().is_empty() || l.len() - l.trim_start().len() > indent)
        {
            if !l.trim().is_empty() && !l.trim().starts_with('#') {
                names.push(l.trim().split(':').next().unwrap().to_string());
            }
        }
    }
    names.sort();
    assert_eq!(
        names,
        [
            "BUCKET_NAME",
            "RUST_LOG",
            "TABLE_NAME",
            import_api::identity::CLIENT_ID_ENV
        ],
        "unexpected environment variables"
    );
    assert_eq!(
        t.matches("Variables:").count(),
        2,
        "only the globals and the API's sign-in client"
    );
}

#[test]
fn the_template_declares_the_indexes_the_code_uses() {
    let t = template();
    use training_imports::store::schema::*;
    for name in [
        PENDING_INDEX,
        PENDING_INDEX_PK,
        PENDING_INDEX_SK,
        IMPORTS_INDEX,
        IMPORTS_INDEX_PK,
        IMPORTS_INDEX_SK,
        ERRORS_INDEX,
        ERRORS_INDEX_PK,
        ERRORS_INDEX_SK,
    ] {
        assert!(t.contains(name), "template.yaml lacks {name}");
    }
}

#[test]
fn the_admin_group_the_api_checks_exists_in_the_user_pool() {
    let t = template();
    assert!(t.contains(&format!("GroupName: {}", import_api::identity::ADMIN_GROUP)));
    assert!(
        t.contains("WriteAttributes:")
            && !t
                .split("WriteAttributes:")
                .nth(1)
                .unwrap()
                .lines()
                .next()
                .unwrap()
                .contains("org_id"),
        "users must not be able to write their organisation"
    );
}

#[test]
fn users_may_write_only_an_email_or_phone_and_only_once_proven() {
    let t = template();
    let writes = t
        .split("WriteAttributes:")
        .nth(1)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .trim();
    assert_eq!(
        writes, "[email, phone_number]",
        "a name, the organisation or the employee ID written by a user could claim rows"
    );
    let verify = t
        .split("AttributesRequireVerificationBeforeUpdate:")
        .nth(1)
        .expect("email and phone changes wait for their code")
        .lines()
        .next()
        .unwrap()
        .trim();
    assert_eq!(verify, "[email, phone_number]");
    // Cognito only accepts that setting for attributes it verifies itself.
    assert!(t.contains("AutoVerifiedAttributes: [email, phone_number]"));
    // No sign-up without a join code: PreSignUp is the trigger function.
    assert!(t.contains("PreSignUp: !GetAtt OnSignupFunction.Arn"));
    assert!(
        t.contains("cognito-idp:AdminUpdateUserAttributes"),
        "PostConfirmation puts a self sign-up in its organisation"
    );
}

/// The object prefixes (`prefix/*`) a function's policies allow an action on.
fn allowed_in(policies: &str, action: &str) -> Vec<String> {
    policies
        .split("- Effect: Allow")
        .filter(|st| st.contains(&format!("Action: [{action}]")))
        .flat_map(|st| {
            st.lines()
                .filter_map(|l| {
                    l.split("}/")
                        .nth(1)
                        .map(|p| p.trim_end_matches('"').to_string())
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The worker's part of the template: S3 sends it every prefix it handles, and it may
/// read each of them and write where it hands work on (a commit or a validation near its
/// time limit writes there to invoke itself again) and its error reports.
#[test]
fn the_worker_gets_every_object_it_handles_and_may_write_where_it_hands_on() {
    use training_imports::keys::s3::*;
    let t = template();
    let worker = t
        .split("ImportWorkerFunction:")
        .nth(1)
        .unwrap()
        .split("ImportApiFunction:")
        .next()
        .unwrap();
    let (head, events) = worker.split_once("\n      Events:\n").unwrap();
    let policies = head.split("Policies:").nth(1).unwrap();
    let allowed = |action: &str| allowed_in(policies, action);
    for prefix in [UPLOADS, COMMITS, DROPS, RESUMES, REPORT_REQUESTS, SIGNUPS] {
        assert!(
            events.contains(&format!("Rules: [{{ Name: prefix, Value: {prefix} }}]")),
            "no S3 event for {prefix}"
        );
        assert!(
            allowed("s3:GetObject").contains(&format!("{prefix}*")),
            "the worker cannot read {prefix}"
        );
    }
    // Error reports: written in parts (PutObject, AbortMultipartUpload), and looked at
    // first (HeadObject needs GetObject) in case this version is written already.
    assert!(
        allowed("s3:GetObject").contains(&"reports/*".to_string()),
        "the worker cannot look at reports/"
    );
    assert_eq!(
        allowed("s3:PutObject"),
        vec![
            format!("{COMMITS}*"),
            format!("{RESUMES}*"),
            "reports/*".to_string()
        ]
    );
    assert_eq!(
        allowed("s3:AbortMultipartUpload"),
        vec!["reports/*".to_string()]
    );
}

#[test]
fn the_api_may_ask_for_an_error_report_and_hand_it_out() {
    use training_imports::keys::s3::*;
    let t = template();
    let api = t.split("ImportApiFunction:").nth(1).unwrap();
    let policies = api
        .split("Policies:")
        .nth(1)
        .unwrap()
        .split("\n      Events:\n")
        .next()
        .unwrap();
    let allowed = |action: &str| allowed_in(policies, action);
    assert!(
        allowed("s3:PutObject").contains(&format!("{REPORT_REQUESTS}*")),
        "the API cannot ask for a report"
    );
    for prefix in [REPORT_REQUESTS, "reports/"] {
        assert!(
            allowed("s3:GetObject").contains(&format!("{prefix}*")),
            "the API cannot look at {prefix}"
        );
    }
}

/// The DynamoDB actions a request needs in IAM: a transaction needs the action of each of
/// its items.
fn actions_of(target: &str, body: &[u8]) -> Vec<String> {
    if target != "TransactWriteItems" {
        return vec![target.to_string()];
    }
    let body: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let items = body["TransactItems"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let kinds = items.iter().flat_map(|i| {
        i.as_object()
            .map(|o| o.keys().cloned().collect::<Vec<_>>())
            .unwrap_or_default()
    });
    kinds
        .map(|k| {
            if k == "ConditionCheck" {
                "ConditionCheckItem".to_string()
            } else {
                format!("{k}Item")
            }
        })
        .collect()
}

/// Records the IAM actions of every DynamoDB request a client sends.
#[derive(Debug, Clone, Default)]
struct ActionRecorder(std::sync::Arc<std::sync::Mutex<std::collections::BTreeSet<String>>>);

impl aws_sdk_dynamodb::config::Intercept for ActionRecorder {
    fn name(&self) -> &'static str {
        "ActionRecorder"
    }

    fn read_before_transmit(
        &self,
        context: &aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef<'_>,
        _components: &aws_sdk_dynamodb::config::RuntimeComponents,
        _cfg: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        let (target, body) = suite::operation_of(context.request());
        let actions = actions_of(&target, body);
        self.0
            .lock()
            .unwrap()
            .extend(actions.into_iter().map(|a| format!("dynamodb:{a}")));
        Ok(())
    }
}

/// The same table and bucket as `store`, through a DynamoDB client that records actions.
async fn recording(
    store: &training_imports::store::Store,
) -> (training_imports::store::Store, ActionRecorder) {
    let recorder = ActionRecorder::default();
    (suite::intercepted(store, recorder.clone()).await, recorder)
}

/// The DynamoDB actions a function's part of the template allows.
fn dynamodb_allowed(t: &str, function: &str, next: &str) -> std::collections::BTreeSet<String> {
    let part = t
        .split(&format!("\n  {function}:"))
        .nth(1)
        .unwrap()
        .split(&format!("\n  {next}:"))
        .next()
        .unwrap();
    part.lines()
        .filter_map(|l| {
            l.trim()
                .strip_prefix("- ")
                .filter(|a| a.starts_with("dynamodb:"))
                .map(str::to_string)
        })
        .collect()
}

/// A sign-up linked to a roster entry with pending rows, run through the trigger and
/// then handed on and run by the worker, with clients that record every DynamoDB
/// action: each one must be allowed to that function in the template (a missing one is
/// AccessDenied in AWS, which DynamoDB Local never says).
#[tokio::test]
async fn the_sign_up_trigger_and_the_worker_may_make_every_request_a_sign_up_makes() {
    use serde_json::json;
    let env = suite::test_env("signup-iam").await;
    let (store, org) = (&env.store, &env.org);
    let ctx = suite::api_context(store);
    let call = |method: &'static str, path: String, body: Option<serde_json::Value>| {
        let ctx = &ctx;
        async move { suite::call_api(ctx, method, &path, body, Some(suite::admin_claims(org))).await }
    };
    assert_eq!(
        call(
            "POST",
            "/trainings".into(),
            Some(json!({"training_id": "forklift", "title": "Forklift", "published": true}))
        )
        .await
        .0,
        201
    );
    assert_eq!(
        call(
            "POST",
            "/people".into(),
            Some(json!({"employee_id": "E1", "name": "Zoe Park", "email": "zoe@example.com"}))
        )
        .await
        .0,
        201
    );
    for (person, date) in [
        ("zoe", "2024-01-01"),
        ("zoe", "2024-01-02"),
        ("kim", "2024-02-01"),
    ] {
        let (status, body) = call("POST", "/imports".into(), Some(json!({"method": "email", "csv": format!("email,training,date\n{person}@example.com,forklift,{date}\n")}))).await;
        assert_eq!(status, 201, "{body}");
        let id = training_imports::domain::ImportId::parse(
            body["import"]["import_id"].as_str().unwrap(),
        )
        .unwrap();
        suite::deliver(store, body["import"]["object_key"].as_str().unwrap()).await;
        assert_eq!(
            call("POST", format!("/imports/{id}/commit"), Some(json!({})))
                .await
                .0,
            202
        );
        suite::deliver(store, &training_imports::keys::s3::commit_key(org, &id)).await;
    }
    let attrs = [
        ("custom:org_id", org.as_str()),
        ("email", "zoe@example.com"),
        ("custom:employee_id", "E1"),
        ("name", "Zoe Park"),
    ];
    let t = template();

    // The trigger, applying in time.
    let (trigger_store, trigger) = recording(store).await;
    let event = suite::post_confirmation_event("PostConfirmation_ConfirmSignUp", "sub-zoe", &attrs);
    let handled = on_signup::process(&suite::cognito::triggers(&trigger_store).await, &event)
        .await
        .unwrap();
    assert!(
        matches!(handled, on_signup::Handled::Applied(ref r) if r.applied == 2 && r.linked_to_roster),
        "{handled:?}"
    );
    // A sign-in: it looks for rows still waiting.
    let sign_in = suite::post_authentication_event("sub-zoe", &attrs);
    assert_eq!(
        on_signup::process(&suite::cognito::triggers(&trigger_store).await, &sign_in)
            .await
            .unwrap(),
        on_signup::Handled::NothingWaiting
    );
    let used = trigger.0.lock().unwrap().clone();
    assert!(
        used.contains("dynamodb:UpdateItem") && used.contains("dynamodb:BatchGetItem"),
        "the recorder saw {used:?}"
    );
    let allowed = dynamodb_allowed(&t, "OnSignupFunction", "OnSignupPermission");
    let missing: Vec<_> = used.difference(&allowed).collect();
    assert!(
        missing.is_empty(),
        "the sign-up trigger makes {missing:?}, which template.yaml does not allow it"
    );
    let trigger_part = t
        .split("\n  OnSignupFunction:")
        .nth(1)
        .unwrap()
        .split("\n  OnSignupPermission:")
        .next()
        .unwrap();
    assert_eq!(
        allowed_in(trigger_part, "s3:PutObject"),
        vec![format!("{}*", training_imports::keys::s3::SIGNUPS)],
        "the trigger hands sign-ups on under signups/ only"
    );

    // The worker, finishing another person's sign-up handed on.
    let (worker_store, worker) = recording(store).await;
    let kim = suite::post_confirmation_event(
        "PostConfirmation_ConfirmSignUp",
        "sub-kim",
        &[
            ("custom:org_id", org.as_str()),
            ("email", "kim@example.com"),
        ],
    );
    let on_signup::Handled::HandedOn { key, .. } = on_signup::process_within(
        &suite::cognito::triggers(store).await,
        &kim,
        std::time::Duration::ZERO,
    )
    .await
    .unwrap() else {
        panic!("not handed on")
    };
    suite::deliver(&worker_store, &key).await;
    assert_eq!(suite::deliver(store, &key).await.handled, 1);
    let used = worker.0.lock().unwrap().clone();
    assert!(
        used.contains("dynamodb:UpdateItem"),
        "the recorder saw {used:?}"
    );
    let allowed = dynamodb_allowed(&t, "ImportWorkerFunction", "ImportApiFunction");
    let missing: Vec<_> = used.difference(&allowed).collect();
    assert!(
        missing.is_empty(),
        "the worker, finishing a sign-up, makes {missing:?}, which template.yaml does not allow it"
    );
}

/// An import's whole life through the API and the worker, each with a client that
/// records every DynamoDB action: every one must be allowed to that function.
#[tokio::test]
async fn the_api_and_the_worker_may_make_every_request_an_import_makes() {
    use serde_json::json;
    let env = suite::test_env("import-iam").await;
    let (store, org) = (&env.store, &env.org);
    let (api_store, api) = recording(store).await;
    let (worker_store, worker) = recording(store).await;
    // Error reports written by the worker too, not only inline.
    let contexts = [
        suite::api_context(&api_store),
        suite::api_context(&api_store.with_report_inline_rows(0)),
    ];
    let call = |method: &'static str, path: String, body: Option<serde_json::Value>| {
        let ctx = &contexts[0];
        async move { suite::call_api(ctx, method, &path, body, Some(suite::admin_claims(org))).await }
    };
    assert_eq!(
        call(
            "POST",
            "/trainings".into(),
            Some(json!({"training_id": "forklift", "title": "Forklift", "published": true}))
        )
        .await
        .0,
        201
    );
    assert_eq!(
        call(
            "POST",
            "/trainings".into(),
            Some(json!({"title": "Old course"}))
        )
        .await
        .0,
        201
    );
    assert_eq!(
        call(
            "POST",
            "/people".into(),
            Some(json!({"employee_id": "E1", "email": "ana@example.com"}))
        )
        .await
        .0,
        201
    );
    let ana = suite::post_confirmation_event(
        "PostConfirmation_ConfirmSignUp",
        "sub-ana",
        &[
            ("custom:org_id", org.as_str()),
            ("email", "ana@example.com"),
        ],
    );
    on_signup::process(&suite::cognito::triggers(store).await, &ana)
        .await
        .unwrap();

    let csv = "email,training,date\nana@example.com,forklift,2024-01-01\nbo@example.com,forklift,2024-01-02\ncy@example.com,forklift,2024-01-03\nnot-an-email,forklift,2024-01-04\nbo@example.com,forklift,2024-01-02\n";
    let (status, body) = call(
        "POST",
        "/imports".into(),
        Some(json!({"method": "email", "csv": csv})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let id = body["import"]["import_id"].as_str().unwrap().to_string();
    assert_eq!(
        suite::deliver(
            &worker_store,
            body["import"]["object_key"].as_str().unwrap()
        )
        .await
        .handled,
        1
    );
    for path in [
        "/imports".to_string(),
        format!("/imports/{id}"),
        format!("/imports/{id}/rows?outcome=error"),
        format!("/imports/{id}/rows?status=validated"),
        "/trainings".into(),
        "/issue-codes".into(),
    ] {
        let (status, body) = call("GET", path.clone(), None).await;
        assert_eq!(status, 200, "{path}: {body}");
    }
    assert_eq!(
        call("GET", format!("/imports/{id}/error-report"), None)
            .await
            .0,
        200
    );
    let (status, _) = suite::call_api(
        &contexts[1],
        "GET",
        &format!("/imports/{id}/error-report"),
        None,
        Some(suite::admin_claims(org)),
    )
    .await;
    assert_eq!(status, 202, "the report is asked of the worker");
    let import = training_imports::domain::ImportId::parse(&id).unwrap();
    suite::deliver(
        &worker_store,
        &training_imports::keys::s3::report_request_key(org, &import),
    )
    .await;
    let (status, body) = call(
        "PATCH",
        format!("/imports/{id}/rows/5"),
        Some(json!({"cells": {"email": "dee@example.com"}})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        call(
            "POST",
            format!("/imports/{id}/commit"),
            Some(json!({"skip_invalid_rows": true}))
        )
        .await
        .0,
        202
    );
    suite::deliver(
        &worker_store,
        &training_imports::keys::s3::commit_key(org, &import),
    )
    .await;
    let (status, body) = call("GET", format!("/imports/{id}"), None).await;
    assert_eq!(
        (status, body["import"]["status"].as_str()),
        (200, Some("imported")),
        "{body}"
    );
    assert_eq!(
        call("DELETE", format!("/imports/{id}/rows/3"), None)
            .await
            .0,
        200
    );
    let (status, body) = call("DELETE", format!("/imports/{id}/pending-rows"), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        call("POST", "/trainings/forklift/unpublish".into(), None)
            .await
            .0,
        200
    );
    let person = on_signup::process(&suite::cognito::triggers(store).await, &ana)
        .await
        .unwrap();
    let on_signup::Handled::Applied(person) = person else {
        panic!("{person:?}")
    };
    assert_eq!(
        call(
            "GET",
            format!("/people/{}/completions", person.person_id),
            None
        )
        .await
        .0,
        200
    );

    // The same file validated again with a column mapping (the worker remembers it), its
    // preview, and an import whose file never arrived, deleted.
    let mapping = json!({"email": "email", "training": "training", "completion_date": "date"});
    let (status, again) = call(
        "POST",
        "/imports".into(),
        Some(json!({"method": "email", "from_import": id, "columns": mapping})),
    )
    .await;
    assert_eq!(status, 201, "{again}");
    suite::deliver(
        &worker_store,
        again["import"]["object_key"].as_str().unwrap(),
    )
    .await;
    let again_id = again["import"]["import_id"].as_str().unwrap().to_string();
    let (status, shown) = call("GET", format!("/imports/{again_id}/preview"), None).await;
    assert_eq!(status, 200, "{shown}");
    assert_eq!(shown["remembered_columns"], mapping);
    let (status, waiting) = call(
        "POST",
        "/imports".into(),
        Some(json!({"method": "email", "size": 10})),
    )
    .await;
    assert_eq!(status, 201, "{waiting}");
    let waiting_id = waiting["import"]["import_id"].as_str().unwrap().to_string();
    assert_eq!(
        call("DELETE", format!("/imports/{waiting_id}"), None)
            .await
            .0,
        200
    );

    let t = template();
    for (who, recorder, function, next) in [
        ("the API", &api, "ImportApiFunction", "OnSignupFunction"),
        (
            "the worker",
            &worker,
            "ImportWorkerFunction",
            "ImportApiFunction",
        ),
    ] {
        let used = recorder.0.lock().unwrap().clone();
        assert!(
            used.contains("dynamodb:UpdateItem") && used.contains("dynamodb:Query"),
            "the recorder saw {used:?}"
        );
        let allowed = dynamodb_allowed(&t, function, next);
        let missing: Vec<_> = used.difference(&allowed).collect();
        assert!(
            missing.is_empty(),
            "{who} makes {missing:?}, which template.yaml does not allow it (it used {used:?})"
        );
    }
}

/// Cognito calls the trigger function at sign-up confirmation and at every sign-in.
#[test]
fn the_user_pool_calls_the_trigger_at_sign_up_and_at_sign_in() {
    let t = template();
    let pool = t
        .split("\n  UserPool:")
        .nth(1)
        .unwrap()
        .split("\n  UserPoolClient:")
        .next()
        .unwrap();
    for trigger in ["PostConfirmation", "PostAuthentication"] {
        assert!(
            pool.contains(&format!("{trigger}: !GetAtt OnSignupFunction.Arn")),
            "the user pool does not call the trigger at {trigger}"
        );
    }
    let local: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tools/cognito-local.json"
        ))
        .unwrap(),
    )
    .unwrap();
    assert_eq!(
        (
            local["TriggerFunctions"]["PostConfirmation"].as_str(),
            local["TriggerFunctions"]["PostAuthentication"].as_str()
        ),
        (Some("on-signup"), Some("on-signup")),
        "the local Cognito calls it the same way"
    );
}

/// The deployed page signs admins in with the pool's client from the browser: the API
/// must be told the client, and the client must allow the flows the page uses.
#[test]
fn the_page_can_sign_admins_in_with_the_pools_client() {
    let t = template();
    let api = t
        .split("ImportApiFunction:")
        .nth(1)
        .unwrap()
        .split("\n  OnSignupFunction:")
        .next()
        .unwrap();
    assert!(
        api.contains(&format!(
            "{}: !Ref UserPoolClient",
            import_api::identity::CLIENT_ID_ENV
        )),
        "the API function must be given the user pool client"
    );
    let client = t
        .split("\n  UserPoolClient:")
        .nth(1)
        .unwrap()
        .split("\n  AdminsGroup:")
        .next()
        .unwrap();
    for flow in ["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"] {
        assert!(client.contains(flow), "the page's client must allow {flow}");
    }
    assert!(
        client.contains("GenerateSecret: false"),
        "a browser cannot keep a client secret"
    );
    assert!(client.contains("PreventUserExistenceErrors: ENABLED"));
    // The local stack gives the API its local Cognito's client the same way.
    let local =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/local-stack"))
            .unwrap();
    assert!(
        local.contains("export USER_POOL_CLIENT_ID="),
        "scripts/local-stack must give the API the local client"
    );
}

/// A flood of dropped files or requests cannot take everything: the worker's concurrency
/// is capped, some is kept for the user pool's triggers, and the API is throttled.
#[test]
fn the_blast_radius_is_bounded() {
    let t = template();
    let function = |name: &str| {
        t.split(&format!("\n  {name}:\n"))
            .nth(1)
            .unwrap()
            .split("\n\n")
            .next()
            .unwrap()
            .to_string()
    };
    assert!(function("ImportWorkerFunction")
        .contains("ReservedConcurrentExecutions: !Ref WorkerConcurrency"));
    assert!(function("OnSignupFunction")
        .contains("ReservedConcurrentExecutions: !Ref SignUpConcurrency"));
    let api = t
        .split("\n  ImportsHttpApi:\n")
        .nth(1)
        .unwrap()
        .split("\n\n")
        .next()
        .unwrap();
    assert!(
        api.contains("ThrottlingRateLimit: !Ref ApiRateLimit")
            && api.contains("ThrottlingBurstLimit: !Ref ApiBurstLimit"),
        "{api}"
    );
}

/// Objects under the control prefixes start work (a commit, a resumed validation, a
/// sign-up's rows, an error report, an upload's validation): only the functions' own
/// roles may write them, whatever IAM policy another principal of the account has.
#[test]
fn only_the_functions_write_the_control_prefixes() {
    use training_imports::keys::s3::*;
    let t = template();
    let statement = t
        .split("Sid: OnlyTheFunctionsWriteControlPrefixes")
        .nth(1)
        .expect("the bucket policy guards the control prefixes")
        .split("\n\n")
        .next()
        .unwrap()
        .to_string();
    assert!(
        statement.contains("Effect: Deny")
            && statement.contains("Principal: \"*\"")
            && statement.contains("s3:PutObject"),
        "{statement}"
    );
    for prefix in [COMMITS, RESUMES, SIGNUPS, REPORT_REQUESTS, UPLOADS] {
        assert!(
            statement.contains(&format!("${{UploadsBucket.Arn}}/{prefix}*")),
            "{prefix} is not guarded: {statement}"
        );
    }
    assert!(
        !statement.contains(DROPS),
        "drop/ is where outside systems write"
    );
    for role in [
        "ImportWorkerFunctionRole",
        "ImportApiFunctionRole",
        "OnSignupFunctionRole",
    ] {
        assert!(
            statement.contains(&format!("!GetAtt {role}.Arn")),
            "{role} may not write: {statement}"
        );
    }
    assert!(statement.contains("ArnNotEquals") && statement.contains("aws:PrincipalArn"));
}

/// One resource of the template: from its name to the next resource.
fn resource(t: &str, name: &str) -> String {
    let rest = t
        .split(&format!("\n  {name}:\n"))
        .nth(1)
        .unwrap_or_else(|| panic!("template.yaml has no resource {name}"));
    rest.lines()
        .take_while(|l| l.is_empty() || l.starts_with("   ") || l.starts_with("  #"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The log lines docs/operating.md calls worth an alarm: (filter value, function, metric).
fn alarm_lines() -> Vec<(String, String, String)> {
    let doc =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/operating.md")).unwrap();
    let section = doc
        .split("\n## Alarms\n")
        .nth(1)
        .expect("docs/operating.md has an Alarms section");
    section
        .lines()
        .take_while(|l| !l.starts_with("## "))
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            let cells: Vec<String> = l
                .split('|')
                .map(|c| c.trim().trim_matches('`').to_string())
                .collect();
            (cells[1].clone(), cells[2].clone(), cells[3].clone())
        })
        .collect()
}

/// Every string literal of the functions' and the library's sources.
fn source_texts() -> String {
    let mut out = String::new();
    let mut dirs = vec![std::path::PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/shared/src"
    ))];
    for f in ["import-worker", "import-api", "on-signup"] {
        dirs.push(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("functions")
                .join(f)
                .join("src"),
        );
    }
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push_str(&std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    out
}

/// A log line as the functions write it (their own subscriber, into a buffer).
fn logged(message: &str) -> serde_json::Value {
    #[derive(Clone, Default)]
    struct Buffer(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
    impl std::io::Write for Buffer {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = training_imports::telemetry::subscriber(move || writer.clone());
    tracing::subscriber::with_default(subscriber, || {
        tracing::error!(org = "acme", "{message}");
    });
    let bytes = buffer.0.lock().unwrap().clone();
    serde_json::from_slice(&bytes).expect("one JSON object a line")
}

/// Each log line worth an alarm is written by the code, lands in its function's log
/// group (JSON, kept `LogRetentionDays`), is counted by a metric filter that matches the
/// line as the functions' log format writes it, and raises an alarm sent to the topic.
#[test]
fn every_log_line_worth_an_alarm_has_a_metric_filter_and_an_alarm() {
    let t = template();
    for (function, group) in [
        ("ImportWorkerFunction", "ImportWorkerLogs"),
        ("ImportApiFunction", "ImportApiLogs"),
        ("OnSignupFunction", "OnSignupLogs"),
    ] {
        let f = resource(&t, function);
        assert!(
            f.contains("LogFormat: JSON") && f.contains(&format!("LogGroup: !Ref {group}")),
            "{function} must log JSON to {group}: {f}"
        );
        assert!(resource(&t, group).contains("RetentionInDays: !Ref LogRetentionDays"));
    }
    let lines = alarm_lines();
    assert!(
        lines.len() >= 6,
        "docs/operating.md lists too few: {lines:?}"
    );
    let sources = source_texts();
    for (pattern, function, metric) in &lines {
        let group = match function.as_str() {
            "import-worker" => "ImportWorkerLogs",
            "on-signup" => "OnSignupLogs",
            other => panic!("docs/operating.md names an unknown function {other}"),
        };
        let filter = resource(&t, &format!("{metric}Metric"));
        assert!(
            filter.contains(&format!(
                "FilterPattern: '{{ $.fields.message = \"{pattern}\" }}'"
            )) && filter.contains(&format!("LogGroupName: !Ref {group}"))
                && filter.contains(&format!("MetricName: {metric}")),
            "no metric filter for {pattern:?} on {group}: {filter}"
        );
        let alarm = resource(&t, &format!("{metric}Alarm"));
        assert!(
            alarm.contains(&format!("MetricName: {metric}"))
                && alarm.contains("AlarmActions: !If [HasAlarmTopic, [!Ref AlarmTopicArn]"),
            "no alarm on {metric}: {alarm}"
        );
        // The message as the code writes it, and as the log format puts it.
        let prefix = pattern.trim_end_matches('*');
        let start = sources
            .find(&format!("\"{prefix}"))
            .unwrap_or_else(|| panic!("no code writes the log line {pattern:?}"));
        let message = sources[start + 1..].split('"').next().unwrap();
        let line = logged(message);
        let value = line["fields"]["message"]
            .as_str()
            .unwrap_or_else(|| panic!("no $.fields.message in {line}"));
        let matches = if pattern.ends_with('*') {
            value.starts_with(prefix)
        } else {
            value == pattern
        };
        assert!(matches, "the filter {pattern:?} misses the line {line}");
    }
    let queue = resource(&t, "WorkerFailuresAlarm");
    assert!(
        queue.contains("Value: !GetAtt ImportWorkerFailures.QueueName")
            && queue.contains("ApproximateNumberOfMessagesVisible")
            && queue.contains("AlarmActions: !If [HasAlarmTopic, [!Ref AlarmTopicArn]"),
        "{queue}"
    );
}

/// The functions are built for the architecture they are deployed on, and by default
/// that is the one the test command builds (`sam build` for x86_64 here).
#[test]
fn the_architecture_is_a_parameter_whose_default_is_built_here() {
    let t = template();
    let parameter = resource(&t, "Architecture");
    assert!(parameter.contains("Default: x86_64"), "{parameter}");
    assert!(t.contains("Architectures: [!Ref Architecture]"));
    let test =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/test")).unwrap();
    assert!(
        test.contains("sam build") && test.contains("sam validate --lint"),
        "the test command must build and validate the template"
    );
}
