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
    assert!(!t.contains("Authorizer: NONE"), "no route may opt out of the authorizer");
    assert_eq!(t.matches("Type: HttpApi").count(), 1, "one catch-all route, covered by the default authorizer");
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
    for name in [PENDING_INDEX, PENDING_INDEX_PK, IMPORTS_INDEX, IMPORTS_INDEX_PK, IMPORTS_INDEX_SK] {
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
