use import_api::{identity::IdentityMode, ApiContext};
use lambda_http::{run, service_fn, Request};
use training_imports::{aws, store::Store, telemetry};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    telemetry::init();
    let resources = aws::Resources::from_env()?;
    let identity = IdentityMode::from_env()?;
    let config = aws::sdk_config().await;
    let store = Store::new(aws::dynamodb_client(&config), aws::s3_client(&config), resources.table, resources.bucket);
    let ctx = &ApiContext { store, identity };
    run(service_fn(move |req: Request| async move { import_api::handle(ctx, req).await })).await
}
