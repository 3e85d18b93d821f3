//! The user pool's triggers: who may sign up, and what a sign-up or sign-in applies.
//!
//! - PreSignUp: a person signing themselves up must bring their organisation's join
//!   code (in the sign-up's client metadata, `join_code`); without a good, unrevoked
//!   code the account is never created. Invitations (AdminCreateUser) pass.
//! - PostConfirmation: after the person confirmed their email or phone with Cognito's
//!   code, puts the account in the join code's organisation (`custom:org_id`, which the
//!   app client cannot write), links it by its verified keys and applies their pending
//!   rows. A forgotten-password confirmation changes nothing.
//! - PostAuthentication: Cognito calls PostConfirmation only for self sign-ups, never
//!   for accounts an admin creates, so the first sign-in of an invited account is its
//!   sign-up, run here. At every other sign-in it looks whether rows still wait under the
//!   keys the person had when they signed up (never the token's: those the user can
//!   change) and applies them.
//!
//! Only what the account proved or an admin vouched for claims rows: `email` only while
//! `email_verified` is true, `phone_number` only while `phone_number_verified` is true,
//! the admin-set `custom:employee_id`, and a `name` only from an invitation.
//!
//! Every trigger but a refused PreSignUp returns its event unchanged, as Cognito
//! requires. Cognito waits 5 s and does not retry a function error: a sign-up not
//! applied within [`APPLY_BUDGET`], or against a failing table, is handed to the import
//! worker through S3 (`pipeline::signup::sign_up_within`); a sign-in returns within
//! [`SIGN_IN_DEADLINE`] whatever DynamoDB does.

use serde_json::Value;
use std::collections::HashMap;
use training_imports::domain::{JoinCode, OrgId};
use training_imports::pipeline::signup::{
    catch_up_on_sign_in, sign_up_within, SignUp, SignUpReport, SignUpResult,
};
use training_imports::pipeline::PipelineError;
use training_imports::store::Store;

/// The user pool attribute holding the person's organisation: set by an admin's
/// invitation, or by PostConfirmation from the join code.
pub const ORG_ATTRIBUTE: &str = "custom:org_id";
pub const EMPLOYEE_ID_ATTRIBUTE: &str = "custom:employee_id";
/// Where a self sign-up carries its join code: the client metadata of `SignUp`.
pub const JOIN_CODE_METADATA: &str = "join_code";

/// How long the trigger applies rows itself before handing the rest to the worker: of
/// Cognito's 5 s, the rest is for a cold start and writing the hand-off.
pub const APPLY_BUDGET: std::time::Duration = std::time::Duration::from_secs(3);
/// A sign-in returns by then, finished or not: Cognito fails a sign-in whose trigger
/// takes 5 s. Rows not applied by then are applied at the next sign-in.
pub const SIGN_IN_DEADLINE: std::time::Duration = std::time::Duration::from_millis(4_000);

pub const SIGN_IN: &str = "PostAuthentication_Authentication";
pub const CONFIRM_SIGN_UP: &str = "PostConfirmation_ConfirmSignUp";
pub const SELF_SIGN_UP: &str = "PreSignUp_SignUp";
pub const INVITATION: &str = "PreSignUp_AdminCreateUser";

/// What the sign-up form says when there is no join code.
pub const NO_JOIN_CODE: &str =
    "A join code is needed to sign up. Ask your organisation's admin for it, or for an invitation.";
/// What the sign-up form says when the code is not (or no longer) good.
pub const BAD_JOIN_CODE: &str = "This join code is not valid: it may be mistyped or revoked. Ask your organisation's admin for the current one.";

/// The triggers' clients, built once per cold start.
#[derive(Clone, Debug)]
pub struct Triggers {
    pub store: Store,
    /// Sets `custom:org_id` on an account that joined with a code.
    pub users: aws_sdk_cognitoidentityprovider::Client,
}

/// What the trigger did, for logs and tests.
#[derive(Debug, PartialEq, Eq)]
pub enum Handled {
    Applied(SignUpReport),
    /// Handed to the worker (object `key`), which finishes it.
    HandedOn {
        key: String,
        reason: String,
    },
    NotASignUp,
    NoOrganisation,
    /// A sign-in of a signed-up person found no row waiting for them (the usual case).
    NothingWaiting,
    /// A sign-in found rows waiting but could not apply them (logged; the sign-in goes on).
    NotApplied(String),
    /// The account would take a person another account signed up as: nothing linked,
    /// nothing applied (logged as an error for an admin to look at).
    NotLinked(String),
    /// A sign-up allowed to go on (PreSignUp).
    Admitted,
}

/// A sign-up PreSignUp refuses; Cognito shows the message ("PreSignUp failed with
/// error ...") and creates no account.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

pub async fn process(triggers: &Triggers, event: &Value) -> Result<Handled, lambda_runtime::Error> {
    process_within(triggers, event, APPLY_BUDGET).await
}

/// [`process`] with another budget for applying (tests).
pub async fn process_within(
    triggers: &Triggers,
    event: &Value,
    budget: std::time::Duration,
) -> Result<Handled, lambda_runtime::Error> {
    let source = event
        .get("triggerSource")
        .and_then(Value::as_str)
        .unwrap_or_default();
    match source {
        SIGN_IN => Ok(
            match tokio::time::timeout(
                SIGN_IN_DEADLINE,
                Box::pin(catch_up(triggers, event, budget)),
            )
            .await
            {
                Ok(handled) => handled,
                Err(_) => {
                    tracing::error!("sign-in trigger stopped at its deadline; rows still waiting are applied at the next sign-in");
                    Handled::NotApplied(format!(
                        "not finished within {} ms",
                        SIGN_IN_DEADLINE.as_millis()
                    ))
                }
            },
        ),
        CONFIRM_SIGN_UP => Box::pin(confirm_sign_up(triggers, event, budget)).await,
        s if s.starts_with("PreSignUp_") => {
            Ok(Box::pin(pre_sign_up(&triggers.store, event)).await?)
        }
        other => {
            tracing::info!(trigger = other, "not a sign-up confirmation; nothing to do");
            Ok(Handled::NotASignUp)
        }
    }
}

fn attributes(event: &Value) -> HashMap<String, String> {
    event
        .pointer("/request/userAttributes")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

fn user_name(event: &Value) -> String {
    event
        .get("userName")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// The sign-up the account's attributes allow: only the keys it proved or an admin set.
fn sign_up_of(attrs: &HashMap<String, String>, user_name: &str, name_vouched_for: bool) -> SignUp {
    let verified = |flag: &str| attrs.get(flag).is_some_and(|v| v == "true");
    let name = attrs.get("name").cloned().or_else(|| {
        match (attrs.get("given_name"), attrs.get("family_name")) {
            (Some(g), Some(f)) => Some(format!("{g} {f}")),
            _ => None,
        }
    });
    SignUp {
        user_sub: attrs
            .get("sub")
            .cloned()
            .unwrap_or_else(|| user_name.to_string()),
        user_name: user_name.to_string(),
        email: attrs
            .get("email")
            .filter(|_| verified("email_verified"))
            .cloned(),
        phone: attrs
            .get("phone_number")
            .filter(|_| verified("phone_number_verified"))
            .cloned(),
        name: name.filter(|_| name_vouched_for),
        employee_id: attrs.get(EMPLOYEE_ID_ATTRIBUTE).cloned(),
    }
}

fn org_attribute(attrs: &HashMap<String, String>) -> Option<OrgId> {
    attrs.get(ORG_ATTRIBUTE).and_then(|o| OrgId::parse(o).ok())
}

/// PreSignUp: an invitation passes; a self sign-up passes only with a good join code and
/// no attribute but its email or phone (an admin sets the rest).
async fn pre_sign_up(store: &Store, event: &Value) -> Result<Handled, lambda_runtime::Error> {
    let source = event
        .get("triggerSource")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if source == INVITATION {
        return Ok(Handled::Admitted);
    }
    if source != SELF_SIGN_UP {
        return Err(Refused(format!(
            "Signing up through {source} is not offered. {NO_JOIN_CODE}"
        ))
        .into());
    }
    // What an admin sets: an organisation, an employee ID, a name. The deployed app client
    // cannot write them (WriteAttributes); refused here too, whatever the client allows.
    let admins_own = |k: &str| {
        k.starts_with("custom:")
            || matches!(k, "name" | "given_name" | "family_name" | "middle_name")
    };
    if let Some(extra) = attributes(event).keys().find(|k| admins_own(k)) {
        return Err(Refused(format!("'{extra}' cannot be given when signing up: only an email address or a phone number. Your organisation's admin sets the rest.")).into());
    }
    let typed = ["/request/clientMetadata", "/request/validationData"]
        .iter()
        .find_map(|at| {
            event
                .pointer(&format!("{at}/{JOIN_CODE_METADATA}"))
                .and_then(Value::as_str)
                .filter(|c| !c.trim().is_empty())
        });
    let Some(typed) = typed else {
        tracing::info!("sign-up refused: no join code");
        return Err(Refused(NO_JOIN_CODE.into()).into());
    };
    let found = match JoinCode::parse(typed) {
        Ok(code) => store
            .find_join_code(&code)
            .await?
            .map(|record| (code, record)),
        Err(_) => None,
    };
    let Some((code, record)) = found.filter(|(_, r)| r.revoked.is_none()) else {
        tracing::info!("sign-up refused: a wrong or revoked join code");
        return Err(Refused(BAD_JOIN_CODE.into()).into());
    };
    let org = OrgId::parse(&record.org_id)
        .map_err(|e| anyhow::anyhow!("a join code names a bad organisation: {e}"))?;
    store
        .put_join_intent(&user_name(event), &org, &code)
        .await?;
    tracing::info!(org = %org, "self sign-up admitted by its join code");
    Ok(Handled::Admitted)
}

/// The organisation of an account: the invitation's attribute, or the join code the
/// account signed up with, which is then written to the account (an admin call; the
/// app client cannot write `custom:org_id`).
async fn organisation_of(
    triggers: &Triggers,
    event: &Value,
    attrs: &HashMap<String, String>,
) -> Result<Option<OrgId>, lambda_runtime::Error> {
    if let Some(org) = org_attribute(attrs) {
        return Ok(Some(org));
    }
    let user_name = user_name(event);
    let Some(intent) = triggers.store.join_intent(&user_name).await? else {
        return Ok(None);
    };
    let org = OrgId::parse(&intent.org_id)
        .map_err(|e| anyhow::anyhow!("a join intent names a bad organisation: {e}"))?;
    let pool = event
        .get("userPoolId")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let org_attribute = aws_sdk_cognitoidentityprovider::types::AttributeType::builder()
        .name(ORG_ATTRIBUTE)
        .value(org.as_str())
        .build()?;
    triggers
        .users
        .admin_update_user_attributes()
        .user_pool_id(pool)
        .username(&user_name)
        .user_attributes(org_attribute)
        .send()
        .await?;
    tracing::info!(org = %org, "account put in the organisation of its join code");
    Ok(Some(org))
}

async fn confirm_sign_up(
    triggers: &Triggers,
    event: &Value,
    budget: std::time::Duration,
) -> Result<Handled, lambda_runtime::Error> {
    let attrs = attributes(event);
    let Some(org) = organisation_of(triggers, event, &attrs).await? else {
        tracing::warn!(
            "sign-up has no organisation (no custom:org_id, no join code); no rows can be applied"
        );
        return Ok(Handled::NoOrganisation);
    };
    // A self sign-up's name is its own writing: it claims nothing.
    let signup = sign_up_of(&attrs, &user_name(event), false);
    let started = std::time::Instant::now();
    // Boxed: the pipeline future is deep enough to overflow the compiler's layout limit.
    match Box::pin(sign_up_within(&triggers.store, &org, &signup, budget)).await {
        Ok(SignUpResult::Applied(report)) => {
            tracing::info!(org = %org, applied = report.applied, elapsed_ms = started.elapsed().as_millis() as u64, "post-confirmation handled");
            Ok(Handled::Applied(report))
        }
        Ok(SignUpResult::HandedOn { key, reason }) => Ok(Handled::HandedOn { key, reason }),
        Err(PipelineError::Store(e)) => Err(e.into()),
        Err(PipelineError::Conflict { message, .. }) => {
            tracing::error!(org = %org, error = %message, "sign-up not linked: the person signed up with another account");
            Ok(Handled::NotLinked(message))
        }
        Err(other) => {
            // Bad data in the user's attributes: never block their sign-up over it.
            tracing::warn!(org = %org, error = %other, "sign-up not applied");
            Ok(Handled::NoOrganisation)
        }
    }
}

/// A sign-in (PostAuthentication): signs up an invited person at their first sign-in,
/// finishes a sign-up that stopped, and applies rows still waiting under the keys the
/// person had when they signed up. Never fails the sign-in: a problem is logged.
async fn catch_up(triggers: &Triggers, event: &Value, budget: std::time::Duration) -> Handled {
    let attrs = attributes(event);
    let org = match organisation_of(triggers, event, &attrs).await {
        Ok(Some(org)) => org,
        Ok(None) => return Handled::NoOrganisation,
        Err(e) => {
            tracing::error!(error = %e, "the account's organisation could not be set at sign-in; the next sign-in tries again");
            return Handled::NotApplied(e.to_string());
        }
    };
    // An invitation's name was written by an admin (the app client cannot write names);
    // the pipeline drops it again for an account that signed itself up.
    let signup = sign_up_of(&attrs, &user_name(event), true);
    match Box::pin(catch_up_on_sign_in(&triggers.store, &org, &signup, budget)).await {
        Ok(None) => Handled::NothingWaiting,
        Ok(Some(SignUpResult::Applied(report))) => {
            tracing::info!(org = %org, applied = report.applied, linked_to_roster = report.linked_to_roster, "signed up at sign-in");
            Handled::Applied(report)
        }
        Ok(Some(SignUpResult::HandedOn { key, reason })) => Handled::HandedOn { key, reason },
        Err(PipelineError::Conflict { message, .. }) => {
            tracing::error!(org = %org, error = %message, "sign-up not linked: the person signed up with another account");
            Handled::NotLinked(message)
        }
        Err(e) => {
            tracing::error!(org = %org, error = %e, "sign-up or rows waiting at sign-in could not be applied; the next sign-in tries again");
            Handled::NotApplied(e.to_string())
        }
    }
}

/// The Lambda handler: process, then hand the event back unchanged (a refused sign-up
/// fails, which is how PreSignUp says no).
pub async fn handle(triggers: &Triggers, event: Value) -> Result<Value, lambda_runtime::Error> {
    Box::pin(process(triggers, &event)).await?;
    Ok(event)
}
