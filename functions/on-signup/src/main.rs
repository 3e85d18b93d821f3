use lambda_runtime::{run, service_fn, LambdaEvent};
use serde_json::Value;
use training_imports::{aws, telemetry};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    telemetry::init();
    let store = &aws::store_from_env().await?;
    run(service_fn(move |event: LambdaEvent<Value>| async move { on_signup::handle(store, event.payload).await })).await
}
