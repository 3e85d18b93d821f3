//! The pipelines: what the functions do, built from the store and the pure domain.
//! - [`validate`]: an uploaded or dropped CSV object -> rows and summary.
//! - [`commit`]: the Import click, carried out by the worker.
//! - [`signup`]: a confirmed sign-up -> that person's pending rows applied.
//! - [`join_codes`]: the codes people sign themselves up with.
//! - [`manage`]: what the API does besides reading (create, commit request, deletes,
//!   the directory).

pub mod commit;
pub mod fix;
pub mod join_codes;
pub mod manage;
pub mod report;
pub mod signup;
pub mod validate;

use crate::store::StoreError;

/// What went wrong, in terms a caller can act on. `code` values are stable.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("{what} was not found")]
    NotFound { what: &'static str },
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    #[error("{message}")]
    Invalid { code: &'static str, message: String },
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for PipelineError {
    fn from(e: StoreError) -> Self {
        PipelineError::Store(e)
    }
}

pub(crate) fn invalid(code: &'static str, message: impl Into<String>) -> PipelineError {
    PipelineError::Invalid {
        code,
        message: message.into(),
    }
}

pub(crate) fn conflict(code: &'static str, message: impl Into<String>) -> PipelineError {
    PipelineError::Conflict {
        code,
        message: message.into(),
    }
}
