//! Cognito PostConfirmation trigger: applies the new person's pending rows. Only a
//! sign-up confirmation acts; a forgotten-password confirmation changes nothing. The
//! event is returned unchanged, as Cognito requires.
//!
//! Cognito waits 5 s and does not retry a function error: a sign-up not applied within
//! [`APPLY_BUDGET`], or against a failing table, is handed to the import worker through
//! S3 and finished there (`pipeline::signup::sign_up_within`).

use aws_lambda_events::event::cognito::{CognitoEventUserPoolsPostConfirmation, CognitoEventUserPoolsPostConfirmationTriggerSource};
use serde_json::Value;
use training_imports::domain::OrgId;
use training_imports::pipeline::signup::{sign_up_within, SignUp, SignUpReport, SignUpResult};
use training_imports::pipeline::PipelineError;
use training_imports::store::Store;

/// The user pool attribute holding the person's organisation, set when invited.
pub const ORG_ATTRIBUTE: &str = "custom:org_id";
pub const EMPLOYEE_ID_ATTRIBUTE: &str = "custom:employee_id";

/// How long the trigger applies rows itself before handing the rest to the worker: of
/// Cognito's 5 s, the rest is for a cold start and writing the hand-off.
pub const APPLY_BUDGET: std::time::Duration = std::time::Duration::from_secs(3);

/// What the trigger did, for logs and tests.
#[derive(Debug, PartialEq, Eq)]
pub enum Handled {
    Applied(SignUpReport),
    /// Handed to the worker (object `key`), which finishes it.
    HandedOn { key: String, reason: String },
    NotASignUp,
    NoOrganisation,
}

pub async fn process(store: &Store, event: &Value) -> Result<Handled, lambda_runtime::Error> {
    process_within(store, event, APPLY_BUDGET).await
}

/// [`process`] with another budget for applying (tests).
pub async fn process_within(store: &Store, event: &Value, budget: std::time::Duration) -> Result<Handled, lambda_runtime::Error> {
    let typed: CognitoEventUserPoolsPostConfirmation = serde_json::from_value(event.clone())?;
    let header = &typed.cognito_event_user_pools_header;
    if header.trigger_source != Some(CognitoEventUserPoolsPostConfirmationTriggerSource::ConfirmSignUp) {
        tracing::info!(trigger = ?header.trigger_source, "not a sign-up confirmation; nothing to do");
        return Ok(Handled::NotASignUp);
    }
    let attrs = &typed.request.user_attributes;
    let Some(org) = attrs.get(ORG_ATTRIBUTE).and_then(|o| OrgId::parse(o).ok()) else {
        tracing::warn!("sign-up has no valid custom:org_id; no organisation's rows can be applied");
        return Ok(Handled::NoOrganisation);
    };
    let user_sub = attrs.get("sub").cloned().or_else(|| header.user_name.clone()).unwrap_or_default();
    let name = attrs.get("name").cloned().or_else(|| {
        match (attrs.get("given_name"), attrs.get("family_name")) {
            (Some(g), Some(f)) => Some(format!("{g} {f}")),
            _ => None,
        }
    });
    let signup = SignUp {
        user_sub,
        email: attrs.get("email").cloned(),
        phone: attrs.get("phone_number").cloned(),
        name,
        employee_id: attrs.get(EMPLOYEE_ID_ATTRIBUTE).cloned(),
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

/// The Lambda handler: process, then hand the event back unchanged.
pub async fn handle(store: &Store, event: Value) -> Result<Value, lambda_runtime::Error> {
    process(store, &event).await?;
    Ok(event)
}
