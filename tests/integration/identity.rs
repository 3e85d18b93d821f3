//! Who a request acts as: only the JWT authorizer's claims, or, in local development
//! only, the identity the process was started with. Nothing in a request can choose it.

use serde_json::json;
use suite::*;
use training_imports::domain::OrgId;

#[tokio::test]
async fn headers_query_or_body_cannot_choose_an_organisation() {
    let env = test_env("identity").await;
    let api = api_context(&env.store);
    let mut req = api_request("GET", "/imports?org_id=acme&custom:org_id=acme", None, None);
    for (h, v) in [
        ("x-org-id", "acme"),
        ("custom-org-id", "acme"),
        ("authorization", "Bearer forged"),
        ("x-amzn-oidc-data", "forged"),
    ] {
        req.headers_mut().insert(h, v.parse().unwrap());
    }
    let resp = import_api::handle(&api, req).await.unwrap();
    assert_eq!(
        resp.status(),
        401,
        "no claims and no local identity: unauthorised"
    );
}

#[tokio::test]
async fn in_local_development_a_token_still_wins_and_non_admins_are_refused() {
    let env = test_env("identity-local").await;
    let local = import_api::ApiContext {
        store: env.store.clone(),
        identity: import_api::identity::IdentityMode::LocalDevelopment(env.org.clone()),
        sign_in: None,
    };
    // No token: the local identity.
    let (status, _) = call_api(&local, "GET", "/imports", None, None).await;
    assert_eq!(status, 200);
    // A token of a non-admin: refused, even locally.
    let staff = json!({"custom:org_id": env.org.as_str(), "cognito:groups": "[staff]"});
    assert_eq!(
        call_api(&local, "GET", "/imports", None, Some(staff))
            .await
            .0,
        403
    );
    // A token of another organisation: that organisation, not the local one.
    let other = OrgId::parse("elsewhere").unwrap();
    let (status, created) = call_api(
        &local,
        "POST",
        "/trainings",
        Some(json!({"title": "T"})),
        Some(admin_claims(&other)),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let (_, mine) = call_api(&local, "GET", "/trainings", None, None).await;
    assert_eq!(
        mine["trainings"].as_array().unwrap().len(),
        0,
        "the training went to the token's organisation"
    );
}

#[tokio::test]
async fn the_page_learns_where_to_sign_in_without_a_token() {
    let env = test_env("identity-sign-in").await;
    let sign_in = import_api::identity::SignIn {
        client_id: "4abc123client".into(),
        endpoint: "https://cognito-idp.eu-west-1.amazonaws.com/".into(),
    };
    let deployed = import_api::ApiContext {
        store: env.store.clone(),
        identity: import_api::identity::IdentityMode::Jwt,
        sign_in: Some(sign_in),
    };
    let (status, body) = call_api(&deployed, "GET", "/sign-in.json", None, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"sign_in": {"client_id": "4abc123client", "endpoint": "https://cognito-idp.eu-west-1.amazonaws.com/"}})
    );
    // Everything else still needs the token.
    assert_eq!(
        call_api(&deployed, "GET", "/imports", None, None).await.0,
        401
    );
    // The page may call that endpoint and nothing outside AWS, and may not be framed.
    let page = import_api::handle(&deployed, api_request("GET", "/", None, None))
        .await
        .unwrap();
    let policy = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        policy.contains("connect-src 'self' https://*.amazonaws.com"),
        "{policy}"
    );
    assert!(
        policy.contains("frame-ancestors 'none'") && policy.contains("script-src 'self';"),
        "{policy}"
    );
    let local = import_api::ApiContext {
        store: env.store.clone(),
        identity: import_api::identity::IdentityMode::Jwt,
        sign_in: Some(import_api::identity::SignIn {
            client_id: "c".into(),
            endpoint: "http://127.0.0.1:9229/".into(),
        }),
    };
    assert!(
        import_api::page_policy(&local).contains(" http://127.0.0.1:9229"),
        "a local Cognito's origin is allowed"
    );
    // No user pool client configured: the page is told there is nowhere to sign in.
    let (status, body) = call_api(
        &suite::api_context(&env.store),
        "GET",
        "/sign-in.json",
        None,
        None,
    )
    .await;
    assert_eq!((status, body), (200, json!({"sign_in": null})));
}

// ---- who a sign-up and a sign-in may credit ------------------------------------------------
// Made as a member would make them: through the local Cognito's API with her own token,
// the real triggers running. The pools leave email and phone changes immediate (no
// verification before update), so that the trigger alone must hold.

struct Org {
    env: TestEnv,
    api: import_api::ApiContext,
}

impl Org {
    async fn new(name: &str) -> Org {
        let env = test_env(name).await;
        let api = api_context(&env.store);
        let org = Org { env, api };
        let (status, body) = org.call("POST", "/trainings", Some(json!({"training_id": "forklift", "title": "Forklift Safety", "published": true}))).await;
        assert_eq!(status, 201, "{body}");
        org
    }

    async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        call_api(
            &self.api,
            method,
            path,
            body,
            Some(admin_claims(&self.env.org)),
        )
        .await
    }

    async fn roster(&self, person: serde_json::Value) -> String {
        let (status, body) = self.call("POST", "/people", Some(person)).await;
        assert_eq!(status, 201, "{body}");
        body["person"]["person_id"].as_str().unwrap().to_string()
    }

    /// An import whose rows wait for people not signed up yet, validated and committed.
    async fn pending_import(&self, method: &str, csv: &str) -> String {
        let (status, created) = self
            .call(
                "POST",
                "/imports",
                Some(json!({"method": method, "csv": csv})),
            )
            .await;
        assert_eq!(status, 201, "{created}");
        let id = created["import"]["import_id"].as_str().unwrap().to_string();
        deliver(
            &self.env.store,
            created["import"]["object_key"].as_str().unwrap(),
        )
        .await;
        let (status, body) = self
            .call("POST", &format!("/imports/{id}/commit"), Some(json!({})))
            .await;
        assert_eq!(status, 202, "{body}");
        deliver(
            &self.env.store,
            &training_imports::keys::s3::commit_key(
                &self.env.org,
                &training_imports::domain::ImportId::parse(&id).unwrap(),
            ),
        )
        .await;
        assert_eq!(
            self.statuses(&id).await,
            (1, 0),
            "the row waits for its person"
        );
        id
    }

    /// (pending, applied) rows of an import.
    async fn statuses(&self, id: &str) -> (i64, i64) {
        let (status, body) = self.call("GET", &format!("/imports/{id}"), None).await;
        assert_eq!(status, 200, "{body}");
        let s = &body["import"]["statuses"];
        (
            s["pending"].as_i64().unwrap(),
            s["applied"].as_i64().unwrap(),
        )
    }

    async fn completions(&self, person: &str) -> usize {
        let (status, body) = self
            .call("GET", &format!("/people/{person}/completions"), None)
            .await;
        if status == 404 {
            return 0;
        }
        body["completions"].as_array().unwrap().len()
    }

    fn org(&self) -> &str {
        self.env.org.as_str()
    }
}

#[tokio::test]
async fn a_member_who_takes_a_colleagues_phone_number_is_credited_nothing() {
    let org = Org::new("trust-phone").await;
    let mallory = org
        .roster(json!({"name": "Mallory Stone", "email": "mallory@example.com"}))
        .await;
    let zoes = org
        .pending_import(
            "phone",
            "phone,training,date\n+1 415 555 2671,forklift,2024-03-01\n",
        )
        .await;
    let pool = suite::cognito::user_pool(&org.env.store, false).await;
    pool.invite(
        "mallory@example.com",
        &[
            ("custom:org_id", org.org()),
            ("email", "mallory@example.com"),
            ("email_verified", "true"),
        ],
    )
    .await;
    let token = pool.first_sign_in("mallory@example.com").await;

    pool.update_own_attributes(&token, &[("phone_number", "+14155552671")])
        .await;
    pool.sign_in("mallory@example.com").await;

    assert_eq!(
        org.statuses(&zoes).await,
        (1, 0),
        "Zoe's row still waits for Zoe"
    );
    assert_eq!(org.completions(&mallory).await, 0);
}

#[tokio::test]
async fn a_member_who_takes_a_colleagues_name_is_credited_nothing() {
    let org = Org::new("trust-name").await;
    let zoes = org
        .pending_import("name", "name,training,date\nZoe Park,forklift,2024-03-01\n")
        .await;
    let pool = suite::cognito::user_pool(&org.env.store, false).await;
    // Invited without a name, as an admin inviting by email often does.
    let sub = pool
        .invite(
            "mallory@example.com",
            &[
                ("custom:org_id", org.org()),
                ("email", "mallory@example.com"),
                ("email_verified", "true"),
            ],
        )
        .await;
    let token = pool.first_sign_in("mallory@example.com").await;

    pool.update_own_attributes(&token, &[("name", "Zoe Park")])
        .await;
    pool.sign_in("mallory@example.com").await;

    assert_eq!(
        org.statuses(&zoes).await,
        (1, 0),
        "Zoe's row still waits for Zoe"
    );
    assert_eq!(org.completions(&sub).await, 0);
}

#[tokio::test]
async fn an_email_changed_without_verification_links_to_nobody() {
    let org = Org::new("trust-email").await;
    let zoe = org
        .roster(json!({"name": "Zoe Park", "email": "zoe@example.com"}))
        .await;
    let zoes = org
        .pending_import(
            "email",
            "email,training,date\nzoe@example.com,forklift,2024-03-01\n",
        )
        .await;
    let pool = suite::cognito::user_pool(&org.env.store, false).await;
    let mallory = pool
        .invite(
            "mallory@example.com",
            &[
                ("custom:org_id", org.org()),
                ("email", "mallory@example.com"),
                ("email_verified", "true"),
                ("phone_number", "+447911123456"),
                ("phone_number_verified", "true"),
            ],
        )
        .await;
    let token = pool.first_sign_in("mallory@example.com").await;

    pool.update_own_attributes(&token, &[("email", "zoe@example.com")])
        .await;
    assert_eq!(
        pool.attributes_of(&mallory)
            .await
            .get("email_verified")
            .map(String::as_str),
        Some("false"),
        "Cognito holds the email unverified"
    );
    pool.sign_in(&mallory).await;

    assert_eq!(
        org.statuses(&zoes).await,
        (1, 0),
        "Zoe's row still waits for Zoe"
    );
    let zoe_profile = org
        .env
        .store
        .get_person(
            &org.env.org,
            &training_imports::domain::PersonId::parse(&zoe).unwrap(),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        zoe_profile.user_sub, None,
        "Zoe's roster entry is linked to no account"
    );
    assert_eq!(org.completions(&mallory).await, 0);
}

#[tokio::test]
async fn a_person_who_signed_up_is_never_taken_by_a_second_account() {
    let org = Org::new("trust-second").await;
    let zoe = org
        .roster(json!({"name": "Zoe Park", "employee_id": "E7", "phone": "+14155552671"}))
        .await;
    let pool = suite::cognito::user_pool(&org.env.store, false).await;
    let zoes_account = pool
        .invite(
            "zoe@example.com",
            &[
                ("custom:org_id", org.org()),
                ("email", "zoe@example.com"),
                ("email_verified", "true"),
                ("custom:employee_id", "E7"),
            ],
        )
        .await;
    pool.first_sign_in("zoe@example.com").await;
    // Zoe's old phone number, given to someone else by the carrier, who signs up with it
    // (a proven number: the code went to it).
    let code = org.join_code().await;
    let newcomer = pool
        .self_sign_up(
            "new@example.com",
            &[("phone_number", "+14155552671")],
            Some(&code),
        )
        .await
        .expect("the code admits the sign-up");
    pool.confirm_sign_up("new@example.com").await;
    assert_eq!(
        pool.attributes_of(&newcomer)
            .await
            .get("phone_number_verified")
            .map(String::as_str),
        Some("true")
    );
    pool.sign_in("new@example.com").await;

    let profile = org
        .env
        .store
        .get_person(
            &org.env.org,
            &training_imports::domain::PersonId::parse(&zoe).unwrap(),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        profile.user_sub.as_deref(),
        Some(zoes_account.as_str()),
        "Zoe stays with her own account"
    );
    let newcomers = org
        .env
        .store
        .get_account(
            &org.env.org,
            &training_imports::domain::PersonId::parse(&newcomer).unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(
        newcomers, None,
        "the newcomer's account is linked to nobody"
    );
    // Rows for E7 imported now are Zoe's, not the newcomer's.
    let (status, created) = org.call("POST", "/imports", Some(json!({"method": "hris", "csv": "employee_id,training,date\nE7,forklift,2024-03-01\n"}))).await;
    assert_eq!(status, 201, "{created}");
    deliver(
        &org.env.store,
        created["import"]["object_key"].as_str().unwrap(),
    )
    .await;
    let id = created["import"]["import_id"].as_str().unwrap();
    org.call("POST", &format!("/imports/{id}/commit"), Some(json!({})))
        .await;
    deliver(
        &org.env.store,
        &training_imports::keys::s3::commit_key(
            &org.env.org,
            &training_imports::domain::ImportId::parse(id).unwrap(),
        ),
    )
    .await;
    assert_eq!(org.completions(&zoe).await, 1);
    assert_eq!(org.completions(&newcomer).await, 0);
}

// ---- self sign-up with a join code ------------------------------------------------------------

impl Org {
    async fn join_code(&self) -> String {
        let (status, body) = self.call("POST", "/join-codes", None).await;
        assert_eq!(status, 201, "{body}");
        body["join_code"]["code"].as_str().unwrap().to_string()
    }
}

#[tokio::test]
async fn a_person_with_the_join_code_signs_up_into_the_organisation_and_gets_their_rows() {
    let org = Org::new("join-good").await;
    let rows = org
        .pending_import(
            "email",
            "email,training,date\nsam@example.com,forklift,2024-03-01\n",
        )
        .await;
    let code = org.join_code().await;
    let pool = suite::cognito::user_pool(&org.env.store, true).await;

    // Typed as people type it: lower case, no dash.
    let sam = pool
        .self_sign_up(
            "sam@example.com",
            &[],
            Some(&code.replace('-', "").to_lowercase()),
        )
        .await
        .expect("the code admits the sign-up");
    assert_eq!(
        org.statuses(&rows).await,
        (1, 0),
        "nothing is applied before the email is confirmed"
    );
    pool.confirm_sign_up("sam@example.com").await;

    let attrs = pool.attributes_of(&sam).await;
    assert_eq!(
        attrs.get("custom:org_id").map(String::as_str),
        Some(org.org()),
        "PostConfirmation put the account in the code's organisation"
    );
    assert_eq!(org.statuses(&rows).await, (0, 1), "Sam's row is applied");
    assert_eq!(org.completions(&sam).await, 1);
    assert!(!pool.sign_in("sam@example.com").await.is_empty());
}

#[tokio::test]
async fn a_wrong_or_revoked_join_code_or_none_creates_no_account() {
    let org = Org::new("join-bad").await;
    let code = org.join_code().await;
    let pool = suite::cognito::user_pool(&org.env.store, true).await;

    let none = pool
        .self_sign_up("stranger@example.com", &[], None)
        .await
        .unwrap_err();
    assert!(none.contains(on_signup::NO_JOIN_CODE), "{none}");
    let wrong = pool
        .self_sign_up("stranger@example.com", &[], Some("7KQ2M-XW9RB"))
        .await
        .unwrap_err();
    assert!(wrong.contains(on_signup::BAD_JOIN_CODE), "{wrong}");
    let garbled = pool
        .self_sign_up("stranger@example.com", &[], Some("not a code"))
        .await
        .unwrap_err();
    assert!(garbled.contains(on_signup::BAD_JOIN_CODE), "{garbled}");
    // A code cannot carry an organisation or an employee ID of the user's choosing.
    let forged = pool
        .self_sign_up(
            "stranger@example.com",
            &[("custom:org_id", "elsewhere")],
            Some(&code),
        )
        .await
        .unwrap_err();
    assert!(forged.contains("custom:org_id"), "{forged}");

    let (status, revoked) = org
        .call("DELETE", &format!("/join-codes/{code}"), None)
        .await;
    assert_eq!(status, 200, "{revoked}");
    assert_eq!(revoked["join_code"]["active"], false);
    let late = pool
        .self_sign_up("late@example.com", &[], Some(&code))
        .await
        .unwrap_err();
    assert!(late.contains(on_signup::BAD_JOIN_CODE), "{late}");

    let users = pool
        .users
        .list_users()
        .user_pool_id(&pool.pool_id)
        .send()
        .await
        .unwrap();
    assert_eq!(
        users.users.unwrap_or_default().len(),
        0,
        "no account was made"
    );
    // Another organisation cannot revoke or see this one's code.
    let other = Org::new("join-other").await;
    assert_eq!(
        other
            .call("DELETE", &format!("/join-codes/{code}"), None)
            .await
            .0,
        404
    );
    assert_eq!(
        other.call("GET", "/join-codes", None).await.1["join_codes"],
        json!([])
    );
}

#[tokio::test]
async fn a_self_sign_up_claims_nothing_by_an_email_it_did_not_prove() {
    let org = Org::new("join-unverified").await;
    let zoe = org
        .roster(json!({"name": "Zoe Park", "email": "zoe@example.com"}))
        .await;
    let rows = org
        .pending_import(
            "email",
            "email,training,date\nzoe@example.com,forklift,2024-03-01\n",
        )
        .await;
    let code = org.join_code().await;
    let pool = suite::cognito::user_pool(&org.env.store, false).await;

    // Mallory signs up giving Zoe's email and her own phone, where the code goes: she
    // proves the phone, never the email.
    let mallory = pool
        .self_sign_up(
            "mallory@evil.example",
            &[
                ("email", "zoe@example.com"),
                ("phone_number", "+447911123456"),
            ],
            Some(&code),
        )
        .await
        .unwrap();
    pool.confirm_sign_up(&mallory).await;
    let attrs = pool.attributes_of(&mallory).await;
    assert_eq!(
        (
            attrs["email"].as_str(),
            attrs.get("email_verified").map(String::as_str),
            attrs["phone_number_verified"].as_str()
        ),
        ("zoe@example.com", None, "true")
    );
    pool.sign_in(&mallory).await;

    assert_eq!(
        org.statuses(&rows).await,
        (1, 0),
        "Zoe's row still waits for Zoe"
    );
    let zoe_profile = org
        .env
        .store
        .get_person(
            &org.env.org,
            &training_imports::domain::PersonId::parse(&zoe).unwrap(),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(zoe_profile.user_sub, None);
    assert_eq!(org.completions(&mallory).await, 0);
}

/// An admin's invitation (AdminCreateUser) calls PreSignUp too, in AWS: it passes without
/// a join code, and whatever attributes the admin set. (cognito-local does not call
/// PreSignUp for AdminCreateUser, so the event is the one Cognito sends.)
#[tokio::test]
async fn an_invitation_needs_no_join_code() {
    let env = test_env("invitation-presignup").await;
    let triggers = suite::cognito::triggers(&env.store).await;
    let mut event = post_confirmation_event(
        "PreSignUp_AdminCreateUser",
        "sub-new",
        &[
            ("custom:org_id", env.org.as_str()),
            ("email", "new@example.com"),
            ("name", "New Person"),
        ],
    );
    event["response"] =
        json!({"autoConfirmUser": false, "autoVerifyEmail": false, "autoVerifyPhone": false});
    assert_eq!(
        on_signup::process(&triggers, &event).await.unwrap(),
        on_signup::Handled::Admitted
    );
    assert_eq!(
        on_signup::handle(&triggers, event.clone()).await.unwrap(),
        event,
        "returned unchanged"
    );
    // The same attributes on a self sign-up are refused.
    event["triggerSource"] = json!("PreSignUp_SignUp");
    let refused = on_signup::process(&triggers, &event)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        refused.contains("custom:org_id") || refused.contains("name"),
        "{refused}"
    );
    event["triggerSource"] = json!("PreSignUp_ExternalProvider");
    assert!(
        on_signup::process(&triggers, &event).await.is_err(),
        "no sign-up through another identity provider"
    );
}
