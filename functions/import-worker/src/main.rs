use aws_lambda_events::event::s3::S3Event;
use lambda_runtime::{run, service_fn, LambdaEvent};
use training_imports::{aws, store::Store, telemetry};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    telemetry::init();
    let resources = aws::Resources::from_env()?;
    let config = aws::sdk_config().await;
    let store = Store::new(aws::dynamodb_client(&config), aws::s3_client(&config), resources.table, resources.bucket);
    let store = &store;
    run(service_fn(move |event: LambdaEvent<S3Event>| async move { import_worker::handle(store, event.payload).await })).await
}
