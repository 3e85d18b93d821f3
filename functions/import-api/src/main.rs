use import_api::{
    identity::{IdentityMode, SignIn},
    ApiContext,
};
use lambda_http::{run, service_fn, Request};
use training_imports::{aws, telemetry};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    telemetry::init();
    let identity = IdentityMode::from_env()?;
    let store = aws::store_from_env().await?;
    let sign_in = SignIn::from_env()?;
    let ctx = &ApiContext {
        store,
        identity,
        sign_in,
    };
    run(service_fn(move |req: Request| async move {
        import_api::handle(ctx, req).await
    }))
    .await
}
