//! Every HTTP error is a JSON problem body (RFC 9457) with a stable `code`.

use lambda_http::{Body, Response};
use serde_json::json;
use training_imports::pipeline::PipelineError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    #[error("sign in first")]
    Unauthorized,
    #[error("only admins can use training imports")]
    Forbidden,
    #[error("{what} was not found")]
    NotFound { what: &'static str },
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    #[error("{method} is not allowed here")]
    MethodNotAllowed { method: String },
    #[error("something went wrong on our side")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    pub fn bad(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::BadRequest {
            code,
            message: message.into(),
        }
    }

    pub fn status_code(&self) -> u16 {
        match self {
            ApiError::BadRequest { .. } => 400,
            ApiError::Unauthorized => 401,
            ApiError::Forbidden => 403,
            ApiError::NotFound { .. } => 404,
            ApiError::MethodNotAllowed { .. } => 405,
            ApiError::Conflict { .. } => 409,
            ApiError::Internal(_) => 500,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest { code, .. } | ApiError::Conflict { code, .. } => code,
            ApiError::Unauthorized => "UNAUTHORIZED",
            ApiError::Forbidden => "FORBIDDEN",
            ApiError::NotFound { .. } => "NOT_FOUND",
            ApiError::MethodNotAllowed { .. } => "METHOD_NOT_ALLOWED",
            ApiError::Internal(_) => "INTERNAL",
        }
    }

    pub fn into_response(self) -> Response<Body> {
        if let ApiError::Internal(cause) = &self {
            tracing::error!(error = ?cause, "request failed");
        }
        let status = self.status_code();
        let body = json!({
            "type": "about:blank",
            "title": http::StatusCode::from_u16(status).map(|s| s.canonical_reason().unwrap_or("")).unwrap_or(""),
            "status": status,
            "code": self.code(),
            "detail": self.to_string(),
        });
        Response::builder()
            .status(status)
            .header("content-type", "application/problem+json")
            .body(Body::Text(body.to_string()))
            .expect("static response parts are valid")
    }
}

impl From<PipelineError> for ApiError {
    fn from(e: PipelineError) -> Self {
        match e {
            PipelineError::NotFound { what } => ApiError::NotFound { what },
            PipelineError::Conflict { code, message } => ApiError::Conflict { code, message },
            PipelineError::Invalid { code, message } => ApiError::BadRequest { code, message },
            PipelineError::Store(s) => ApiError::Internal(anyhow::Error::new(s)),
        }
    }
}

impl From<training_imports::store::StoreError> for ApiError {
    fn from(e: training_imports::store::StoreError) -> Self {
        ApiError::Internal(anyhow::Error::new(e))
    }
}
