use lambda_runtime::{run, service_fn, LambdaEvent};
use serde_json::Value;
use training_imports::{aws, telemetry};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    telemetry::init();
    let config = aws::sdk_config().await;
    let triggers = &on_signup::Triggers {
        store: aws::store_from_env().await?,
        users: aws_sdk_cognitoidentityprovider::Client::new(&config),
    };
    run(service_fn(move |event: LambdaEvent<Value>| async move {
        on_signup::handle(triggers, event.payload).await
    }))
    .await
}
