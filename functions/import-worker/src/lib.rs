//! The import worker: S3 ObjectCreated events for uploads (`uploads/`), direct drops
//! (`drop/`) and commit requests (`commits/`). Each record is handed to the pipeline.

use aws_lambda_events::event::s3::S3Event;
use training_imports::pipeline::{validate::handle_object, PipelineError};
use training_imports::store::Store;

/// S3 writes object keys in events URL-encoded, with '+' for spaces.
pub fn decode_key(raw: &str) -> String {
    let spaced = raw.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced).decode_utf8_lossy().into_owned()
}

#[derive(Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct WorkerReport {
    pub handled: usize,
    pub ignored: usize,
}

/// Handles every record. A record for an unknown key or import is logged and ignored
/// (retrying cannot help); a service failure fails the invocation so Lambda retries it.
pub async fn handle(store: &Store, event: S3Event) -> Result<WorkerReport, lambda_runtime::Error> {
    let today = chrono::Utc::now().date_naive();
    let mut report = WorkerReport::default();
    for record in event.records {
        let Some(raw_key) = record.s3.object.key.as_deref() else {
            report.ignored += 1;
            continue;
        };
        if record.s3.bucket.name.as_deref().is_some_and(|b| b != store.bucket()) {
            tracing::warn!(bucket = ?record.s3.bucket.name, "event for another bucket ignored");
            report.ignored += 1;
            continue;
        }
        let key = decode_key(raw_key);
        let result = handle_object(store, &key, record.s3.object.e_tag.as_deref(), record.s3.object.size, today).await;
        match result {
            Ok(()) => report.handled += 1,
            Err(PipelineError::NotFound { what }) => {
                tracing::warn!(key = %key, what, "object ignored: its import does not exist");
                report.ignored += 1;
            }
            Err(PipelineError::Invalid { code, message }) | Err(PipelineError::Conflict { code, message }) => {
                tracing::warn!(key = %key, code, message = %message, "object ignored");
                report.ignored += 1;
            }
            Err(PipelineError::Store(e)) => {
                tracing::error!(key = %key, error = ?e, "object could not be processed; the invocation fails so that it is retried");
                return Err(e.into());
            }
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_from_events_are_url_decoded() {
        assert_eq!(decode_key("drop/acme/email/Q1+report%282%29.csv"), "drop/acme/email/Q1 report(2).csv");
    }
}
