//! Structured JSON logs for every function. Level from `RUST_LOG` (default `info`).
//!
//! One JSON object a line, the message at `fields.message`: the template's metric filters
//! (`{ $.fields.message = "..." }`) count the log lines worth an alarm by that path.

use tracing_subscriber::fmt::MakeWriter;

/// The functions' log format, writing to `writer` (stdout in Lambda, a buffer in tests).
pub fn subscriber<W>(writer: W) -> impl tracing::Subscriber + Send + Sync
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .without_time()
        .with_target(false)
        .with_writer(writer)
        .finish()
}

pub fn init() {
    use tracing_subscriber::util::SubscriberInitExt;
    let _ = subscriber(std::io::stdout).try_init();
}
