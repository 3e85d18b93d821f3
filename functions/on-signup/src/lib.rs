//! Cognito PostConfirmation trigger: applies the new person's pending rows. Only a
//! sign-up confirmation acts; a forgotten-password confirmation changes nothing. The
//! event is returned unchanged, as Cognito requires.
//!
//! Also the PostAuthentication trigger. Cognito calls PostConfirmation only for people who
//! sign themselves up, never for accounts an admin creates (AdminCreateUser, the way
//! people are invited with their `custom:org_id`): the first sign-in of such an account is
//! its sign-up, run here. At every other sign-in it looks whether rows still wait for the
//! person (a sign-up whose trigger failed or was stopped) and applies them.
//!
//! Cognito waits 5 s and does not retry a function error: a sign-up not applied within
//! [`APPLY_BUDGET`], or against a failing table, is handed to the import worker through
//! S3 and finished there (`pipeline::signup::sign_up_within`).

use aws_lambda_events::event::cognito::{CognitoEventUserPoolsPostAuthentication, CognitoEventUserPoolsPostConfirmation, CognitoEventUserPoolsPostConfirmationTriggerSource};
use serde_json::Value;
use training_imports::domain::OrgId;
use training_imports::pipeline::signup::{catch_up_on_sign_in, sign_up_within, SignUp, SignUpReport, SignUpResult};
use training_imports::pipeline::PipelineError;
use training_imports::store::Store;

/// The user pool attribute holding the person's organisation, set when invited.
pub const ORG_ATTRIBUTE: &str = "custom:org_id";
pub const EMPLOYEE_ID_ATTRIBUTE: &str = "custom:employee_id";

/// How long the trigger applies rows itself before handing the rest to the worker: of
/// Cognito's 5 s, the rest is for a cold start and writing the hand-off.
pub const APPLY_BUDGET: std::time::Duration = std::time::Duration::from_secs(3);

/// The trigger source of a sign-in.
pub const SIGN_IN: &str = "PostAuthentication_Authentication";

/// What the trigger did, for logs and tests.
#[derive(Debug, PartialEq, Eq)]
pub enum Handled {
    Applied(SignUpReport),
    /// Handed to the worker (object `key`), which finishes it.
    HandedOn { key: String, reason: String },
    NotASignUp,
    NoOrganisation,
    /// A sign-in of a signed-up person found no row waiting for them (the usual case).
    NothingWaiting,
    /// A sign-in found rows waiting but could not apply them (logged; the sign-in goes on).
    NotApplied(String),
}

pub async fn process(store: &Store, event: &Value) -> Result<Handled, lambda_runtime::Error> {
    process_within(store, event, APPLY_BUDGET).await
}

/// [`process`] with another budget for applying (tests).
pub async fn process_within(store: &Store, event: &Value, budget: std::time::Duration) -> Result<Handled, lambda_runtime::Error> {
    if event.get("triggerSource").and_then(Value::as_str) == Some(SIGN_IN) {
        return Ok(catch_up(store, event, budget).await);
    }
    let typed: CognitoEventUserPoolsPostConfirmation = serde_json::from_value(event.clone())?;
    let header = &typed.cognito_event_user_pools_header;
    if header.trigger_source != Some(CognitoEventUserPoolsPostConfirmationTriggerSource::ConfirmSignUp) {
        tracing::info!(trigger = ?header.trigger_source, "not a sign-up confirmation; nothing to do");
        return Ok(Handled::NotASignUp);
    }
    let Some((org, signup)) = sign_up_of(&typed.request.user_attributes, header.user_name.as_deref()) else {
        tracing::warn!("sign-up has no valid custom:org_id; no organisation's rows can be applied");
        return Ok(Handled::NoOrganisation);
    };
    // Boxed: the pipeline future is deep enough to overflow the compiler's layout limit.
    let started = std::time::Instant::now();
    match Box::pin(sign_up_within(store, &org, &signup, budget)).await {
        Ok(SignUpResult::Applied(report)) => {
            tracing::info!(org = %org, applied = report.applied, elapsed_ms = started.elapsed().as_millis() as u64, "post-confirmation handled");
            Ok(Handled::Applied(report))
        }
        Ok(SignUpResult::HandedOn { key, reason }) => Ok(Handled::HandedOn { key, reason }),
        Err(PipelineError::Store(e)) => Err(e.into()),
        Err(other) => {
            // Bad data in the user's attributes: never block their sign-up over it.
            tracing::warn!(org = %org, error = %other, "sign-up not applied");
            Ok(Handled::NoOrganisation)
        }
    }
}

/// The organisation and the sign-up the user's attributes describe; None without a
/// valid organisation.
fn sign_up_of(attrs: &std::collections::HashMap<String, String>, user_name: Option<&str>) -> Option<(OrgId, SignUp)> {
    let org = attrs.get(ORG_ATTRIBUTE).and_then(|o| OrgId::parse(o).ok())?;
    let user_sub = attrs.get("sub").cloned().or_else(|| user_name.map(str::to_string)).unwrap_or_default();
    let name = attrs.get("name").cloned().or_else(|| match (attrs.get("given_name"), attrs.get("family_name")) {
        (Some(g), Some(f)) => Some(format!("{g} {f}")),
        _ => None,
    });
    let signup = SignUp {
        user_sub,
        email: attrs.get("email").cloned(),
        phone: attrs.get("phone_number").cloned(),
        name,
        employee_id: attrs.get(EMPLOYEE_ID_ATTRIBUTE).cloned(),
    };
    Some((org, signup))
}

/// A sign-in (PostAuthentication): signs up an invited person at their first sign-in,
/// and applies rows still waiting for this person, which a sign-up that failed, or whose
/// trigger was stopped, left pending. Looks first (the account's keys, one small query per
/// key) and writes nothing for a signed-up person with nothing waiting. Never fails the
/// sign-in: a problem is logged.
async fn catch_up(store: &Store, event: &Value, budget: std::time::Duration) -> Handled {
    let typed: CognitoEventUserPoolsPostAuthentication = match serde_json::from_value(event.clone()) {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(error = %e, "sign-in event not understood; nothing to do");
            return Handled::NotApplied(format!("event not understood: {e}"));
        }
    };
    let Some((org, signup)) = sign_up_of(&typed.request.user_attributes, typed.cognito_event_user_pools_header.user_name.as_deref()) else {
        return Handled::NoOrganisation;
    };
    match Box::pin(catch_up_on_sign_in(store, &org, &signup, budget)).await {
        Ok(None) => Handled::NothingWaiting,
        Ok(Some(SignUpResult::Applied(report))) => {
            tracing::info!(org = %org, applied = report.applied, linked_to_roster = report.linked_to_roster, "signed up at sign-in");
            Handled::Applied(report)
        }
        Ok(Some(SignUpResult::HandedOn { key, reason })) => Handled::HandedOn { key, reason },
        Err(e) => {
            tracing::error!(org = %org, error = %e, "sign-up or rows waiting at sign-in could not be applied; the next sign-in tries again");
            Handled::NotApplied(e.to_string())
        }
    }
}

/// The Lambda handler: process, then hand the event back unchanged.
pub async fn handle(store: &Store, event: Value) -> Result<Value, lambda_runtime::Error> {
    process(store, &event).await?;
    Ok(event)
}
