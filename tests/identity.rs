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
    for (h, v) in [("x-org-id", "acme"), ("custom-org-id", "acme"), ("authorization", "Bearer forged"), ("x-amzn-oidc-data", "forged")] {
        req.headers_mut().insert(h, v.parse().unwrap());
    }
    let resp = import_api::handle(&api, req).await.unwrap();
    assert_eq!(resp.status(), 401, "no claims and no local identity: unauthorised");
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
    assert_eq!(call_api(&local, "GET", "/imports", None, Some(staff)).await.0, 403);
    // A token of another organisation: that organisation, not the local one.
    let other = OrgId::parse("elsewhere").unwrap();
    let (status, created) = call_api(&local, "POST", "/trainings", Some(json!({"title": "T"})), Some(admin_claims(&other))).await;
    assert_eq!(status, 201, "{created}");
    let (_, mine) = call_api(&local, "GET", "/trainings", None, None).await;
    assert_eq!(mine["trainings"].as_array().unwrap().len(), 0, "the training went to the token's organisation");
}

#[tokio::test]
async fn the_page_learns_where_to_sign_in_without_a_token() {
    let env = test_env("identity-sign-in").await;
    let sign_in = import_api::identity::SignIn { client_id: "4abc123client".into(), endpoint: "https://cognito-idp.eu-west-1.amazonaws.com/".into() };
    let deployed = import_api::ApiContext { store: env.store.clone(), identity: import_api::identity::IdentityMode::Jwt, sign_in: Some(sign_in) };
    let (status, body) = call_api(&deployed, "GET", "/sign-in.json", None, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"sign_in": {"client_id": "4abc123client", "endpoint": "https://cognito-idp.eu-west-1.amazonaws.com/"}}));
    // Everything else still needs the token.
    assert_eq!(call_api(&deployed, "GET", "/imports", None, None).await.0, 401);
    // The page may call that endpoint and nothing outside AWS, and may not be framed.
    let page = import_api::handle(&deployed, api_request("GET", "/", None, None)).await.unwrap();
    let policy = page.headers()["content-security-policy"].to_str().unwrap().to_string();
    assert!(policy.contains("connect-src 'self' https://*.amazonaws.com"), "{policy}");
    assert!(policy.contains("frame-ancestors 'none'") && policy.contains("script-src 'self';"), "{policy}");
    let local = import_api::ApiContext {
        store: env.store.clone(),
        identity: import_api::identity::IdentityMode::Jwt,
        sign_in: Some(import_api::identity::SignIn { client_id: "c".into(), endpoint: "http://127.0.0.1:9229/".into() }),
    };
    assert!(import_api::page_policy(&local).contains(" http://127.0.0.1:9229"), "a local Cognito's origin is allowed");
    // No user pool client configured: the page is told there is nowhere to sign in.
    let (status, body) = call_api(&suite::api_context(&env.store), "GET", "/sign-in.json", None, None).await;
    assert_eq!((status, body), (200, json!({"sign_in": null})));
}
