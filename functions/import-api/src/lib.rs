//! The HTTP API (API Gateway HTTP API, payload v2). Thin: it checks who is calling,
//! reads the request, calls one pipeline function and writes JSON. docs/openapi.json
//! describes every route; `tests/api_contract.rs` keeps the two in step.

pub mod compression;
pub mod error;
pub mod identity;
mod routes;

pub use routes::{page_policy, ROUTES};

use error::ApiError;
use identity::{caller, IdentityMode};
use lambda_http::{Body, Request, Response};
use training_imports::store::Store;

/// What every request needs, built once per cold start.
pub struct ApiContext {
    pub store: Store,
    pub identity: IdentityMode,
    /// Where the page signs admins in, if anywhere (`GET /sign-in.json`).
    pub sign_in: Option<identity::SignIn>,
}

pub const OPENAPI_JSON: &str = include_str!("../../../docs/openapi.json");

/// The admin page, built into the binary (no other server in production).
pub mod assets {
    pub const INDEX_HTML: &str = include_str!("../assets/index.html");
    pub const APP_JS: &str = include_str!("../assets/app.js");
    pub const APP_CSS: &str = include_str!("../assets/app.css");
}

pub async fn handle(ctx: &ApiContext, req: Request) -> Result<Response<Body>, lambda_http::Error> {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let gzip = compression::accepts_gzip(&req);
    let response = match routes::route(&method, &path) {
        Err(e) => e.into_response(),
        Ok((route, params)) => {
            // The dispatch future holds every route's state; it goes on the heap so that
            // its size never bears on the caller's stack (debug builds make it large).
            let result = match route.public {
                true => Box::pin(routes::dispatch(ctx, None, route, &params, &req)).await,
                false => match caller(&ctx.identity, &req) {
                    Ok(who) => {
                        Box::pin(routes::dispatch(ctx, Some(who), route, &params, &req)).await
                    }
                    Err(e) => Err(e),
                },
            };
            result.unwrap_or_else(ApiError::into_response)
        }
    };
    tracing::info!(method = %method, path = %path, status = response.status().as_u16(), "request");
    Ok(compression::compress(gzip, response))
}
