//! The import worker: S3 ObjectCreated events for uploads (`uploads/`), direct drops
//! (`drop/`) and commit requests (`commits/`). Each record is handed to the pipeline.

use aws_lambda_events::event::s3::S3Event;
use training_imports::pipeline::{validate::handle_object, PipelineError};
use training_imports::store::Store;

/// S3 writes object keys in events URL-encoded, with '+' for spaces.
pub fn decode_key(raw: &str) -> String {
    let spaced = raw.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8_lossy()
        .into_owned()
}

#[derive(Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct WorkerReport {
    pub handled: usize,
    pub ignored: usize,
}

/// Handles every record with no time limit (tests, tools): see [`handle_until`].
pub async fn handle(store: &Store, event: S3Event) -> Result<WorkerReport, lambda_runtime::Error> {
    handle_until(store, event, None).await
}

/// The invocation's deadline (milliseconds since the epoch, from the Lambda context) as
/// an instant of this process's clock; None when it is not in the future (cargo-lambda's
/// emulator sends a fixed 600000, i.e. 1970: no deadline to keep there).
pub fn deadline_from_epoch_ms(deadline_ms: u64) -> Option<std::time::Instant> {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    (deadline_ms > now_ms)
        .then(|| std::time::Instant::now() + std::time::Duration::from_millis(deadline_ms - now_ms))
}

/// Handles every record. A record for an unknown key or import is logged and ignored
/// (retrying cannot help); a service failure fails the invocation so Lambda retries it.
/// A commit that would outlive `deadline` hands the rest of its rows to a new invocation.
pub async fn handle_until(
    store: &Store,
    event: S3Event,
    deadline: Option<std::time::Instant>,
) -> Result<WorkerReport, lambda_runtime::Error> {
    let today = chrono::Utc::now().date_naive();
    let mut report = WorkerReport::default();
    for record in event.records {
        let Some(raw_key) = record.s3.object.key.as_deref() else {
            report.ignored += 1;
            continue;
        };
        if record
            .s3
            .bucket
            .name
            .as_deref()
            .is_some_and(|b| b != store.bucket())
        {
            tracing::warn!(bucket = ?record.s3.bucket.name, "event for another bucket ignored");
            report.ignored += 1;
            continue;
        }
        let key = decode_key(raw_key);
        let result = handle_object(
            store,
            &key,
            record.s3.object.e_tag.as_deref(),
            record.s3.object.size,
            today,
            deadline,
        )
        .await;
        match result {
            Ok(()) => report.handled += 1,
            Err(PipelineError::NotFound { what }) => {
                tracing::warn!(key = %key, what, "object ignored: its import does not exist");
                report.ignored += 1;
            }
            Err(PipelineError::Invalid { code, message })
            | Err(PipelineError::Conflict { code, message }) => {
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
    fn the_lambda_deadline_becomes_an_instant_and_a_past_one_none() {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        let at = deadline_from_epoch_ms(now_ms + 5_000).expect("a deadline 5 s ahead");
        let left = at.saturating_duration_since(std::time::Instant::now());
        assert!(
            left > std::time::Duration::from_secs(4) && left <= std::time::Duration::from_secs(5),
            "{left:?}"
        );
        assert_eq!(deadline_from_epoch_ms(600_000), None);
        assert_eq!(deadline_from_epoch_ms(now_ms.saturating_sub(1)), None);
    }

    #[test]
    fn keys_from_events_are_url_decoded() {
        assert_eq!(
            decode_key("drop/acme/email/Q1+report%282%29.csv"),
            "drop/acme/email/Q1 report(2).csv"
        );
    }
}
