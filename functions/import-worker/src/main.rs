use aws_lambda_events::event::s3::S3Event;
use lambda_runtime::{run, service_fn, LambdaEvent};
use training_imports::{aws, telemetry};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    telemetry::init();
    let store = &aws::store_from_env().await?;
    run(service_fn(move |event: LambdaEvent<S3Event>| async move {
        let deadline = import_worker::deadline_from_epoch_ms(event.context.deadline);
        import_worker::handle_until(store, event.payload, deadline).await
    }))
    .await
}
