//! Every DynamoDB and S3 call of the system, and the conversions between items and the
//! domain. The access patterns and keys are listed in docs/data-model.md.
//!
//! By responsibility:
//! - `imports`: an import's summary and its moves; `counts`: its row-status counts;
//! - `rows`: what a row is and where an import keeps it; `pages`: rows in pages (the
//!   validation's verdicts, fixes in place); `row_items`: imports from before pages;
//! - `commit`: the commit's lease, pages and completions; `outcomes`: what each page
//!   of the commit did to its rows, laid over the pages when read; `groups`: waiting groups
//!   (put by the commit, `groups/apply.rs` for sign-ups, `groups/delete.rs`);
//!   `pending`: finding pending rows through the index, `pending/own_items.rs` for rows
//!   with their own item (commits from before groups);
//! - `directory`, `items`, `accounts`, `mappings`: people, trainings, completions,
//!   accounts, join codes, remembered column mappings; `objects`: S3;
//! - `write`: batched writes and the transaction retried without the members whose
//!   condition failed (`transact_dropping_failed`), shared by all of the above.

mod accounts;
mod commit;
mod counts;
mod directory;
mod groups;
mod imports;
mod items;
mod mappings;
mod objects;
mod outcomes;
mod pages;
mod pending;
mod row_items;
mod rows;
pub mod schema;
mod write;

pub use accounts::{AccountRecord, JoinCodeRecord, JoinIntent};
pub use commit::{
    committed_status, now_ms, CommitLease, CommittedRow, LeaseAttempt, NewCompletion,
};
pub use counts::COUNT_SHARDS;
pub use directory::PersonProfile;
pub use groups::{GroupStatus, WaitingGroup, WaitingRow, GROUP_ROWS};
pub use imports::{
    CommitRequest, Condition, ImportOptions, ImportSummary, OutcomeCounts, StatusCounts,
};
pub use items::{CompletionRecord, Stamp, TrainingRecord};
pub use mappings::RememberedMapping;
pub use objects::{attachment, ObjectInfo, ObjectWriter, PART_BYTES};
pub use outcomes::CommitOutcome;
pub use pages::{PAGE_CELL_BYTES, ROWS_PER_PAGE};
pub use pending::{
    APPLY_CONCURRENCY, APPLY_ITEMS_PER_TRANSACTION, DELETE_CONCURRENCY, DELETE_ROWS_PER_TRANSACTION,
};
pub use rows::{cursor_after_row, RowLayout, RowPage, RowRecord, RowTransition};
pub use write::WRITE_CONCURRENCY;

use aws_sdk_dynamodb::Client as DynamoClient;
use aws_sdk_s3::Client as S3Client;

/// A store error. `ConditionFailed` means a conditional write lost (the item was not
/// in the state the write expected); everything else is a service failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the item is not in the expected state")]
    ConditionFailed,
    #[error("stored item is malformed: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Service(#[from] anyhow::Error),
}

pub type StoreResult<T> = Result<T, StoreError>;

pub(crate) fn service<E>(context: &'static str) -> impl FnOnce(E) -> StoreError
where
    E: std::error::Error + Send + Sync + 'static,
{
    move |e| StoreError::Service(anyhow::Error::new(e).context(context))
}

/// The single table and the bucket, with their clients. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    pub(crate) ddb: DynamoClient,
    pub(crate) s3: S3Client,
    pub(crate) table: String,
    pub(crate) bucket: String,
    crash: Option<std::sync::Arc<CrashPlan>>,
    commit_lease: std::time::Duration,
    progress_every: std::time::Duration,
    report_inline_rows: u64,
}

/// How long a commit run holds its lease without renewing it. Longer than any one
/// page takes; a run that stops is taken over this long after its last page.
pub const COMMIT_LEASE: std::time::Duration = std::time::Duration::from_secs(120);

/// How often at most a validation records its progress in the summary (rows checked and
/// written so far), which also shows it is alive.
pub const VALIDATION_PROGRESS_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// Imports with at most this many error rows get their error report in the API's answer
/// (read from the errors index within the request: 20,000 rows are about 8 MB of reads
/// and 2-3 MB of CSV); imports with more have it written to S3 by the worker.
pub const REPORT_INLINE_ROWS: u64 = 20_000;

/// A crash injected for tests: the store fails every write after the first `after`, as
/// if the process had been killed there. It also counts the writes attempted, so a test
/// can learn how many writes an uninterrupted run makes.
#[derive(Debug)]
pub struct CrashPlan {
    after: Option<u64>,
    writes: std::sync::atomic::AtomicU64,
}

impl CrashPlan {
    pub fn writes(&self) -> u64 {
        self.writes.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Store {
    pub fn new(
        ddb: DynamoClient,
        s3: S3Client,
        table: impl Into<String>,
        bucket: impl Into<String>,
    ) -> Store {
        Store {
            ddb,
            s3,
            table: table.into(),
            bucket: bucket.into(),
            crash: None,
            commit_lease: COMMIT_LEASE,
            progress_every: VALIDATION_PROGRESS_EVERY,
            report_inline_rows: REPORT_INLINE_ROWS,
        }
    }

    /// Testing only: a copy of this store that fails every write after the first
    /// `after` (`None`: never, only count). Production code never calls it.
    pub fn with_crash_plan(&self, after: Option<u64>) -> (Store, std::sync::Arc<CrashPlan>) {
        let plan = std::sync::Arc::new(CrashPlan {
            after,
            writes: Default::default(),
        });
        (
            Store {
                crash: Some(plan.clone()),
                ..self.clone()
            },
            plan,
        )
    }

    /// Testing only: a copy of this store whose commit runs hold their lease this long
    /// (tests that stop a run take it over without waiting two minutes).
    pub fn with_commit_lease(&self, lease: std::time::Duration) -> Store {
        Store {
            commit_lease: lease,
            ..self.clone()
        }
    }

    pub fn commit_lease(&self) -> std::time::Duration {
        self.commit_lease
    }

    /// Testing only: a copy of this store whose validations record their progress this
    /// often (zero: after every chunk).
    pub fn with_progress_every(&self, every: std::time::Duration) -> Store {
        Store {
            progress_every: every,
            ..self.clone()
        }
    }

    pub fn progress_every(&self) -> std::time::Duration {
        self.progress_every
    }

    /// A copy of this store whose error reports go through the worker for imports with
    /// more than `rows` error rows (tests; the API's `REPORT_INLINE_ROWS` setting).
    pub fn with_report_inline_rows(&self, rows: u64) -> Store {
        Store {
            report_inline_rows: rows,
            ..self.clone()
        }
    }

    pub fn report_inline_rows(&self) -> u64 {
        self.report_inline_rows
    }

    /// Called before every write: where an injected crash happens.
    pub(crate) fn write_point(&self, what: &'static str) -> StoreResult<()> {
        if let Some(plan) = &self.crash {
            let n = plan
                .writes
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
                + 1;
            if plan.after.is_some_and(|after| n > after) {
                return Err(StoreError::Service(anyhow::anyhow!(
                    "injected crash before write {n} ({what})"
                )));
            }
        }
        Ok(())
    }

    pub fn table(&self) -> &str {
        &self.table
    }
    pub fn bucket(&self) -> &str {
        &self.bucket
    }
    pub fn dynamodb(&self) -> &DynamoClient {
        &self.ddb
    }
    pub fn s3(&self) -> &S3Client {
        &self.s3
    }
}

/// The current time as stored in items (RFC 3339, UTC, milliseconds).
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
