//! Join codes: an admin creates one for their organisation and hands it out; a person
//! signing themselves up types it (checked by the PreSignUp trigger); an admin revokes
//! it when it has leaked or is no longer wanted. A revoked code is kept, with who
//! revoked it and when.

use super::PipelineError;
use crate::domain::{JoinCode, OrgId};
use crate::store::{JoinCodeRecord, Stamp, Store, StoreError};

/// A join code as the API shows it: typed the way people read it (`7KQ2M-XW9RB`).
#[derive(Clone, Debug, serde::Serialize)]
pub struct JoinCodeView {
    pub code: String,
    pub active: bool,
    pub created: Stamp,
    pub revoked: Option<Stamp>,
}

fn view(record: JoinCodeRecord) -> JoinCodeView {
    let code = JoinCode::parse(&record.code)
        .map(|c| c.to_string())
        .unwrap_or(record.code);
    JoinCodeView {
        code,
        active: record.revoked.is_none(),
        created: record.created,
        revoked: record.revoked,
    }
}

pub async fn create_join_code(
    store: &Store,
    org: &OrgId,
    by: &Stamp,
) -> Result<JoinCodeView, PipelineError> {
    // Written only if no such code exists: two codes meeting among 2^50 fails the request
    // rather than sharing a code between organisations.
    let record = store
        .create_join_code(org, &JoinCode::generate(), by)
        .await?;
    tracing::info!(org = %org, by = %by.sub, "join code created");
    Ok(view(record))
}

pub async fn list_join_codes(
    store: &Store,
    org: &OrgId,
) -> Result<Vec<JoinCodeView>, PipelineError> {
    let mut codes: Vec<JoinCodeView> = store
        .list_join_codes(org)
        .await?
        .into_iter()
        .map(view)
        .collect();
    codes.sort_by(|a, b| b.created.at.cmp(&a.created.at));
    Ok(codes)
}

pub async fn revoke_join_code(
    store: &Store,
    org: &OrgId,
    typed: &str,
    by: &Stamp,
) -> Result<JoinCodeView, PipelineError> {
    let code = JoinCode::parse(typed).map_err(|_| PipelineError::NotFound { what: "join code" })?;
    match store.revoke_join_code(org, &code, by).await {
        Ok(()) => {}
        // Not this organisation's code (or no code at all): the same answer either way.
        Err(StoreError::ConditionFailed) => {
            return Err(PipelineError::NotFound { what: "join code" })
        }
        Err(e) => return Err(e.into()),
    }
    tracing::info!(org = %org, by = %by.sub, "join code revoked");
    let record = store
        .find_join_code(&code)
        .await?
        .ok_or(PipelineError::NotFound { what: "join code" })?;
    Ok(view(record))
}
