//! Who is calling. Deployed, API Gateway's JWT authorizer has checked the Cognito token
//! and passes its claims; the organisation is the `custom:org_id` claim and the caller
//! must be in the admins group. Locally there is no authorizer: the process may be
//! started with `LOCAL_DEV_ORG_ID`, which template.yaml never sets. A request can never
//! choose its identity: no header or body field is read for it.

use crate::error::ApiError;
use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};
use training_imports::domain::OrgId;

pub const ORG_CLAIM: &str = "custom:org_id";
pub const GROUPS_CLAIM: &str = "cognito:groups";
pub const ADMIN_GROUP: &str = "admins";
pub const DEV_ORG_ENV: &str = "LOCAL_DEV_ORG_ID";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    pub org: OrgId,
    /// Who, for the record of what they change: the token's `sub` and email.
    pub sub: String,
    pub email: Option<String>,
}

/// Who local development acts as (no token).
pub const LOCAL_DEVELOPER: &str = "local-developer";

impl Caller {
    /// This caller, now: what a change records.
    pub fn stamp(&self) -> training_imports::store::Stamp {
        training_imports::store::Stamp::now(&self.sub, self.email.as_deref())
    }
}

/// How callers are identified, fixed at start-up.
#[derive(Clone, Debug)]
pub enum IdentityMode {
    /// Only JWT claims from the authorizer count.
    Jwt,
    /// Local development: requests without claims act as an admin of this organisation.
    LocalDevelopment(OrgId),
}

impl IdentityMode {
    pub fn from_env() -> anyhow::Result<IdentityMode> {
        match std::env::var(DEV_ORG_ENV) {
            Ok(org) if !org.is_empty() => {
                let org = OrgId::parse(&org).map_err(|m| anyhow::anyhow!("{DEV_ORG_ENV}: {m}"))?;
                tracing::warn!(org = %org, "local development identity is on: requests without a token act as an admin of this organisation");
                Ok(IdentityMode::LocalDevelopment(org))
            }
            _ => Ok(IdentityMode::Jwt),
        }
    }
}

pub const CLIENT_ID_ENV: &str = "USER_POOL_CLIENT_ID";
pub const COGNITO_ENDPOINT_ENV: &str = "COGNITO_ENDPOINT";

/// Where the admin's page signs its users in: the user pool's app client, called from the
/// browser (Cognito's `InitiateAuth` with `USER_PASSWORD_AUTH`, over TLS). The page asks
/// for it at `GET /sign-in.json`; both values are public.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct SignIn {
    pub client_id: String,
    /// Cognito's endpoint for the region (`COGNITO_ENDPOINT` overrides it, for a local Cognito).
    pub endpoint: String,
}

impl SignIn {
    /// From `USER_POOL_CLIENT_ID` (template.yaml sets it); none when it is not set.
    pub fn from_env() -> anyhow::Result<Option<SignIn>> {
        let Some(client_id) = std::env::var(CLIENT_ID_ENV)
            .ok()
            .filter(|c| !c.trim().is_empty())
        else {
            return Ok(None);
        };
        let endpoint = match std::env::var(COGNITO_ENDPOINT_ENV) {
            Ok(e) if !e.trim().is_empty() => e,
            _ => {
                let region = std::env::var("AWS_REGION").map_err(|_| anyhow::anyhow!("{CLIENT_ID_ENV} is set but AWS_REGION is not: the page cannot know Cognito's endpoint"))?;
                format!("https://cognito-idp.{region}.amazonaws.com/")
            }
        };
        Ok(Some(SignIn {
            client_id: client_id.trim().to_string(),
            endpoint,
        }))
    }
}

fn groups_contain_admin(raw: &str) -> bool {
    // The claim arrives as "[admins other]" or "admins,other" depending on the path.
    raw.trim_matches(|c| c == '[' || c == ']')
        .split([' ', ','])
        .any(|g| g.trim_matches('"') == ADMIN_GROUP)
}

pub fn caller(mode: &IdentityMode, req: &Request) -> Result<Caller, ApiError> {
    let claims = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx
            .authorizer
            .as_ref()
            .and_then(|a| a.jwt.as_ref())
            .map(|j| &j.claims),
        _ => None,
    };
    match (claims, mode) {
        (Some(claims), _) if !claims.is_empty() => {
            let org = claims
                .get(ORG_CLAIM)
                .and_then(|o| OrgId::parse(o).ok())
                .ok_or(ApiError::Forbidden)?;
            if !claims
                .get(GROUPS_CLAIM)
                .is_some_and(|g| groups_contain_admin(g))
            {
                return Err(ApiError::Forbidden);
            }
            let sub = claims.get("sub").cloned().unwrap_or_default();
            Ok(Caller {
                org,
                sub,
                email: claims.get("email").cloned(),
            })
        }
        (_, IdentityMode::LocalDevelopment(org)) => Ok(Caller {
            org: org.clone(),
            sub: LOCAL_DEVELOPER.into(),
            email: None,
        }),
        _ => Err(ApiError::Unauthorized),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_group_is_found_in_either_claim_format() {
        assert!(groups_contain_admin("[admins]"));
        assert!(groups_contain_admin("[staff admins]"));
        assert!(groups_contain_admin("staff,admins"));
        assert!(!groups_contain_admin("[administrators]"));
        assert!(!groups_contain_admin(""));
    }
}
