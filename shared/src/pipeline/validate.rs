//! Validation of one CSV object: streamed from S3 through the CSV reader on a blocking
//! thread, checked in chunks against the directory (lookups batched and cached for the
//! invocation), rows written in batches, then the summary.

use super::{commit, PipelineError};
use crate::csv_input::{date_cells, ColumnMapping, CsvLayout, CsvRows, MAX_FILE_BYTES};
use crate::domain::{
    match_person, CheckedRow, CompletionDate, DateOrder, DirectorySnapshot, FileChecker,
    FileProblem, ImportId, ImportStatus, Issue, MatchKey, MatchMethod, OrgId, PersonId,
    PersonMatch, RowVerdict, Training, TrainingId,
};
use crate::keys::s3::{classify, resume_key, ObjectRole};
use crate::store::{
    ImportOptions, ImportSummary, OutcomeCounts, RowLayout, RowRecord, Store, StoreError,
};
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::NaiveDate;
use std::collections::{BTreeMap, HashSet};
use tokio::sync::mpsc;

/// Rows checked and written together.
pub const CHUNK_ROWS: usize = 1000;
/// Most earlier pending rows a validation reads at once (one index Query, paged) instead
/// of asking key by key; it never reads more than the file has rows. 20,000 entries
/// hold about 2 MiB.
pub const PENDING_READ_BUDGET: usize = 20_000;
/// Time a validation under a deadline keeps in hand: with less than this left after a
/// chunk, it saves where it is and hands the rest of the file to a new invocation.
/// A chunk takes about a second at DynamoDB's partition write limit.
pub const HAND_ON_MARGIN: std::time::Duration = std::time::Duration::from_secs(60);

/// Handles one ObjectCreated record: validates an upload or a drop, or runs a commit.
/// `deadline`: when the invocation's time runs out (a validation or a commit hands its
/// rest on before).
pub async fn handle_object(
    store: &Store,
    key: &str,
    etag: Option<&str>,
    size: Option<i64>,
    today: NaiveDate,
    deadline: Option<std::time::Instant>,
) -> Result<(), PipelineError> {
    let role = classify(key).map_err(|m| super::invalid("UNKNOWN_OBJECT_KEY", m))?;
    match role {
        ObjectRole::Upload { org, import } => {
            validate_import_until(store, &org, &import, today, deadline).await
        }
        ObjectRole::Commit { org, import } => {
            commit::run_commit_until(store, &org, &import, deadline).await
        }
        ObjectRole::Resume { org, import } => {
            resume_validation(store, &org, &import, deadline).await
        }
        ObjectRole::Report { org, import } => {
            super::report::write_error_report(store, &org, &import).await
        }
        ObjectRole::SignUp { org, .. } => super::signup::apply_handed_on(store, &org, key)
            .await
            .map(|_| ()),
        ObjectRole::Drop { org, method, name } => {
            let import = drop_import_id(key, etag);
            // The key is the dropping system's writing: cleaned like an uploaded file's name.
            let file_name = super::manage::clean_file_name(&name);
            let mut summary = ImportSummary::new(
                &org,
                &import,
                method,
                &file_name,
                "drop",
                key,
                ImportOptions::default(),
            );
            summary.status = ImportStatus::Uploaded;
            match store.create_import(&summary).await {
                Ok(()) | Err(StoreError::ConditionFailed) => {}
                Err(e) => return Err(e.into()),
            }
            let _ = size;
            validate_import_until(store, &org, &import, today, deadline).await
        }
    }
}

/// A dropped object's import id: the same object delivered twice maps to one import.
///
/// The same bytes as std's `DefaultHasher` was fed (a `str` hashes as its bytes then
/// 0xFF) through the same SipHash-1-3 with zero keys, so ids made before the hash became
/// fixed by a crate are still the same ids.
fn drop_import_id(key: &str, etag: Option<&str>) -> ImportId {
    let hash = crate::domain::stable_hash(&[
        key.as_bytes(),
        etag.unwrap_or("").trim_matches('"').as_bytes(),
    ]);
    ImportId::parse(&format!("drop-{hash:016x}")).expect("hex is a valid id")
}

/// Validates an import's object with no time limit (tests, tools): see [`validate_import_until`].
pub async fn validate_import(
    store: &Store,
    org: &OrgId,
    id: &ImportId,
    today: NaiveDate,
) -> Result<(), PipelineError> {
    validate_import_until(store, org, id, today, None).await
}

/// Validates an import's object. A repeated delivery of a finished import does nothing.
/// A file that would outlive `deadline` is handed on to a new invocation part-way
/// ([`resume_validation`]).
pub async fn validate_import_until(
    store: &Store,
    org: &OrgId,
    id: &ImportId,
    today: NaiveDate,
    deadline: Option<std::time::Instant>,
) -> Result<(), PipelineError> {
    let summary = match store
        .transition_import(
            org,
            id,
            &[
                ImportStatus::Created,
                ImportStatus::Uploaded,
                ImportStatus::Validating,
            ],
            ImportStatus::Validating,
            vec![],
            None,
        )
        .await
    {
        Ok(s) => s,
        Err(StoreError::ConditionFailed) => {
            let current = store.get_import(org, id).await?;
            match current {
                None => {
                    tracing::warn!(org = %org, import = %id, "object has no import record; ignored");
                    return Err(PipelineError::NotFound { what: "import" });
                }
                Some(s) => {
                    tracing::info!(org = %org, import = %id, status = %s.status, "import already past validation; delivery ignored");
                    return Ok(());
                }
            }
        }
        Err(e) => return Err(e.into()),
    };
    // Before any lookup: while this count stays, what the lookups find stays true of
    // everyone not signed up (the commit relies on it, pipeline::commit).
    let directory = store.sign_ups(org).await?;
    store
        .note_directory_at_validation(org, id, directory)
        .await?;
    conclude(
        store,
        org,
        id,
        run_validation(store, org, id, &summary, Start::Fresh { today }, deadline).await,
    )
    .await
}

/// Goes on with a validation that handed on: from the row, counts and rows seen saved
/// in its `resume/` object, exactly as if it had not stopped.
pub async fn resume_validation(
    store: &Store,
    org: &OrgId,
    id: &ImportId,
    deadline: Option<std::time::Instant>,
) -> Result<(), PipelineError> {
    let Some(summary) = store.get_import(org, id).await? else {
        return Err(PipelineError::NotFound { what: "import" });
    };
    if summary.status != ImportStatus::Validating {
        tracing::info!(org = %org, import = %id, status = %summary.status, "import already past validation; resume ignored");
        return Ok(());
    }
    let bytes = store.read_object(&resume_key(org, id)).await?;
    let start = match Checkpoint::decode(&bytes) {
        Ok((checkpoint, seen)) => Start::Resumed { checkpoint, seen },
        Err(why) => {
            tracing::error!(org = %org, import = %id, why = %why, "validation checkpoint unreadable");
            return conclude(store, org, id, Err(Failure::File(cannot_go_on(&why)))).await;
        }
    };
    conclude(
        store,
        org,
        id,
        run_validation(store, org, id, &summary, start, deadline).await,
    )
    .await
}

fn cannot_go_on(why: &str) -> FileProblem {
    FileProblem::new("PROCESSING_STOPPED", format!("validation could not go on from where it stopped ({why}). Upload the file again as a new import."))
}

/// Ends a validation run: a file problem fails the import with its reason.
async fn conclude(
    store: &Store,
    org: &OrgId,
    id: &ImportId,
    run: Result<(), Failure>,
) -> Result<(), PipelineError> {
    match run {
        Ok(()) => Ok(()),
        // The object could not be read to the end: the invocation fails and is retried
        // (after the retries, the stale-import recovery fails the import with a reason).
        Err(Failure::File(problem)) if problem.is_transient() => {
            tracing::warn!(org = %org, import = %id, message = %problem.message, "reading the object failed; the invocation is retried");
            Err(PipelineError::Store(StoreError::Service(anyhow::anyhow!(
                "reading the object failed: {}",
                problem.message
            ))))
        }
        Err(Failure::File(problem)) => {
            tracing::info!(org = %org, import = %id, code = %problem.code, "import failed validation");
            match store.fail_import(org, id, &problem).await {
                // A concurrent delivery of the same object ended it first.
                Ok(_) | Err(StoreError::ConditionFailed) => Ok(()),
                Err(e) => Err(e.into()),
            }
        }
        Err(Failure::Pipeline(e)) => Err(e),
    }
}

enum Failure {
    File(FileProblem),
    Pipeline(PipelineError),
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Failure::Pipeline(e.into())
    }
}

/// How a validation run starts: at the top of the file, or where an earlier invocation
/// handed on.
enum Start {
    Fresh {
        today: NaiveDate,
    },
    Resumed {
        checkpoint: Checkpoint,
        seen: Vec<u64>,
    },
}

/// Where a validation that ran short of time stopped: what the next invocation needs to
/// go on exactly as if it had not stopped. Stored as `resume/<org>/<import>.bin`: the
/// magic bytes, the length of the JSON of this struct (u32, little-endian), the JSON,
/// then the identities of the valid rows so far (u64 each, little-endian).
#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Checkpoint {
    /// The version of the uploaded object being read (its ETag).
    etag: Option<String>,
    order: DateOrder,
    /// The day the validation started, so that "in the future" means one thing for all
    /// of the file.
    today: String,
    /// Data rows in the file, from the first pass.
    rows_in_file: u64,
    /// Data rows done and written, and what they came to.
    rows_done: u64,
    outcomes: OutcomeCounts,
    issues: BTreeMap<String, u64>,
    /// Times this validation has handed on.
    hand_ons: u64,
}

impl Checkpoint {
    const MAGIC: &'static [u8; 4] = b"TIV1";

    fn encode(&self, seen: impl Iterator<Item = u64>) -> Vec<u8> {
        let json = serde_json::to_vec(self).expect("a checkpoint is plain data");
        let mut out = Vec::with_capacity(8 + json.len() + 8 * seen.size_hint().0);
        out.extend_from_slice(Self::MAGIC);
        out.extend_from_slice(&(json.len() as u32).to_le_bytes());
        out.extend_from_slice(&json);
        for identity in seen {
            out.extend_from_slice(&identity.to_le_bytes());
        }
        out
    }

    fn decode(bytes: &[u8]) -> Result<(Checkpoint, Vec<u64>), String> {
        let rest = bytes
            .strip_prefix(Self::MAGIC)
            .ok_or("not a validation checkpoint")?;
        let (len, rest) = rest.split_first_chunk::<4>().ok_or("cut short")?;
        let len = u32::from_le_bytes(*len) as usize;
        if rest.len() < len || !(rest.len() - len).is_multiple_of(8) {
            return Err(format!(
                "cut short: {} bytes after a {len}-byte header",
                rest.len()
            ));
        }
        let (json, seen) = rest.split_at(len);
        let checkpoint: Checkpoint = serde_json::from_slice(json).map_err(|e| e.to_string())?;
        let seen = seen
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().expect("chunks of 8")))
            .collect();
        Ok((checkpoint, seen))
    }
}

async fn join_write(
    handle: tokio::task::JoinHandle<Result<(), StoreError>>,
) -> Result<(), Failure> {
    handle
        .await
        .map_err(|e| {
            Failure::Pipeline(PipelineError::Store(StoreError::Service(anyhow::anyhow!(
                "row writer task: {e}"
            ))))
        })?
        .map_err(Failure::from)
}

enum Chunk {
    /// The columns, and the encoding and delimiter the file was read with.
    Header(CsvLayout, &'static str, u8),
    Rows(Vec<ReadRow>),
}

/// A row as read, owned: its line, its cells as written, and any structural problem.
struct ReadRow {
    line: u64,
    cells: Vec<String>,
    problem: Option<Issue>,
}

type Reader = tokio::task::JoinHandle<Result<(), FileProblem>>;

/// Streams an object through the CSV reader on a blocking thread, in chunks, passing
/// over its first `skip` data rows (done by an earlier invocation).
async fn stream_rows(
    store: &Store,
    key: &str,
    etag: Option<&str>,
    method: MatchMethod,
    mapping: ColumnMapping,
    skip: u64,
) -> Result<(mpsc::Receiver<Chunk>, Reader), Failure> {
    let object = store.open_object(key, etag).await?;
    let reader = tokio_util::io::SyncIoBridge::new(Box::pin(object.body.into_async_read()));
    let (tx, rx) = mpsc::channel::<Chunk>(2);
    let handle = tokio::task::spawn_blocking(move || {
        let mut rows = CsvRows::open_with(reader, method, &mapping)?;
        if tx
            .blocking_send(Chunk::Header(
                rows.layout.clone(),
                rows.encoding,
                rows.delimiter,
            ))
            .is_err()
        {
            return Ok(());
        }
        for _ in 0..skip {
            if rows.next_record()?.is_none() {
                break;
            }
        }
        let mut chunk = Vec::with_capacity(CHUNK_ROWS);
        while let Some(record) = rows.next_record()? {
            chunk.push(ReadRow {
                line: record.line,
                cells: record.cells(),
                problem: record.problem,
            });
            if chunk.len() == CHUNK_ROWS
                && tx
                    .blocking_send(Chunk::Rows(std::mem::take(&mut chunk)))
                    .is_err()
            {
                return Ok(());
            }
        }
        if !chunk.is_empty() {
            let _ = tx.blocking_send(Chunk::Rows(chunk));
        }
        Ok(())
    });
    Ok((rx, handle))
}

/// Saves where a validation stopped and hands the rest of the file to a new invocation:
/// writing the checkpoint under `resume/` sends the worker an event. The summary's
/// progress is recorded first, so the import is not taken for stopped (STALE_AFTER)
/// while the next invocation runs.
async fn hand_on(
    store: &Store,
    org: &OrgId,
    id: &ImportId,
    checkpoint: &Checkpoint,
    seen: Vec<u64>,
    last_line: u64,
) -> Result<(), Failure> {
    let hand_ons = vec![
        (
            "validation_hand_ons",
            AttributeValue::N(checkpoint.hand_ons.to_string()),
        ),
        ("last_line", AttributeValue::N(last_line.to_string())),
    ];
    if !store
        .record_validation_progress(
            org,
            id,
            checkpoint.rows_done,
            checkpoint.rows_in_file,
            hand_ons,
        )
        .await?
    {
        tracing::info!(org = %org, import = %id, "validation finished by another delivery; nothing to hand on");
        return Ok(());
    }
    store
        .put_object(
            &resume_key(org, id),
            "application/octet-stream",
            checkpoint.encode(seen.into_iter()),
        )
        .await?;
    tracing::info!(org = %org, import = %id, rows_done = checkpoint.rows_done, rows_in_file = checkpoint.rows_in_file, hand_ons = checkpoint.hand_ons, "validation running out of time; the rest is handed to a new invocation");
    Ok(())
}

fn too_big(size: i64) -> FileProblem {
    FileProblem::new(
        "FILE_TOO_LARGE",
        format!(
            "the file is {} MB; the limit is {} MB. Split it into smaller files.",
            size / 1_048_576,
            MAX_FILE_BYTES / 1_048_576
        ),
    )
}

/// What the first pass learnt about the object.
struct Scan {
    order: DateOrder,
    /// The second pass reads the very same object.
    etag: Option<String>,
    /// Data rows in the file.
    rows: u64,
}

/// The first pass over the object: every file-level problem is found here, before any
/// row is written, and the day/month order is decided.
async fn scan_file(store: &Store, summary: &ImportSummary) -> Result<Scan, Failure> {
    let given = match &summary.options.date_format {
        Some(fmt) => DateOrder::from_option(fmt)
            .map_err(|m| Failure::File(FileProblem::new("INVALID_OPTION", m)))?,
        None => None,
    };
    let object = store.open_object(&summary.object_key, None).await?;
    if object.size.is_some_and(|s| s as u64 > MAX_FILE_BYTES) {
        return Err(Failure::File(too_big(object.size.unwrap_or(0))));
    }
    let etag = object.etag.clone();
    let reader = tokio_util::io::SyncIoBridge::new(Box::pin(object.body.into_async_read()));
    let method = summary.method;
    let mapping = summary.options.columns.clone().unwrap_or_default();
    tokio::task::spawn_blocking(move || {
        let mut dates: Vec<String> = Vec::new();
        let mut settle = (false, false);
        let rows = date_cells(reader, method, &mapping, |d| {
            // Only dates that settle the order matter; keep one of each kind.
            match DateOrder::detect([d]) {
                DateOrder::DayFirst if !settle.0 => {
                    settle.0 = true;
                    dates.push(d.to_string())
                }
                DateOrder::MonthFirst if !settle.1 => {
                    settle.1 = true;
                    dates.push(d.to_string())
                }
                _ => {}
            }
        })?;
        Ok((
            given.unwrap_or_else(|| DateOrder::detect(dates.iter().map(String::as_str))),
            rows,
        ))
    })
    .await
    .map_err(|e| {
        Failure::Pipeline(PipelineError::Store(StoreError::Service(anyhow::anyhow!(
            "file scan task: {e}"
        ))))
    })?
    .map(|(order, rows)| Scan { order, etag, rows })
    .map_err(Failure::File)
}

async fn load_trainings(
    store: &Store,
    org: &OrgId,
    dir: &mut DirectorySnapshot,
) -> Result<(), StoreError> {
    for t in store.list_trainings(org).await? {
        if let Ok(id) = TrainingId::parse(&t.training_id) {
            dir.add_training(Training {
                id,
                title: t.title,
                published: t.published,
            });
        }
    }
    Ok(())
}

/// A chunk of rows being written while the next is read.
type RowsWrite = tokio::task::JoinHandle<Result<(), StoreError>>;

async fn run_validation(
    store: &Store,
    org: &OrgId,
    id: &ImportId,
    summary: &ImportSummary,
    start: Start,
    deadline: Option<std::time::Instant>,
) -> Result<(), Failure> {
    let method = summary.method;
    let country = summary.options.default_country.clone();
    let mut result = summary.clone();
    result.outcomes = Default::default();
    result.issues = BTreeMap::new();
    result.rows_total = 0;
    let (Scan { order, etag, rows }, today, mut seen, hand_ons) = match start {
        Start::Fresh { today } => (scan_file(store, summary).await?, today, Vec::new(), 0),
        Start::Resumed {
            checkpoint: c,
            seen,
        } => {
            let today = c
                .today
                .parse::<NaiveDate>()
                .map_err(|e| Failure::File(cannot_go_on(&e.to_string())))?;
            (result.rows_total, result.outcomes, result.issues) =
                (c.rows_done, c.outcomes, c.issues);
            (
                Scan {
                    order: c.order,
                    etag: c.etag,
                    rows: c.rows_in_file,
                },
                today,
                seen,
                c.hand_ons,
            )
        }
    };
    let mut dir = DirectorySnapshot::default();
    load_trainings(store, org, &mut dir).await?;
    // Rows of earlier imports pending under this method: read at once when there are
    // few (one paged Query), else asked for key by key as the file's keys come.
    let pending_read = store
        .pending_of_org(org, method, (rows as usize).clamp(1, PENDING_READ_BUDGET))
        .await?;
    let pending_known = pending_read.is_some();
    for (key, training, date) in pending_read.unwrap_or_default() {
        if let (Ok(t), Some(d)) = (
            TrainingId::parse(&training),
            CompletionDate::from_iso(&date),
        ) {
            dir.pending.insert((key, t, d));
        }
    }
    // From here on the summary says how far the validation is.
    if !store
        .record_validation_progress(org, id, result.rows_total, rows, vec![])
        .await?
    {
        tracing::info!(org = %org, import = %id, "validation finished by another delivery; this one stops");
        return Ok(());
    }
    result.date_order = Some(
        match order {
            DateOrder::DayFirst => "dmy",
            DateOrder::MonthFirst => "mdy",
            DateOrder::Undecided => "undecided",
        }
        .to_string(),
    );

    let mut file: Option<(CsvLayout, FileChecker)> = None;
    // The write in flight, and the rows written and the last line once it is done.
    let mut in_flight: Option<(RowsWrite, u64, u64)> = None;
    let mut last_progress = std::time::Instant::now();
    let mapping = summary.options.columns.clone().unwrap_or_default();
    let (mut rx, reader) = stream_rows(
        store,
        &summary.object_key,
        etag.as_deref(),
        method,
        mapping,
        result.rows_total,
    )
    .await?;
    while let Some(chunk) = rx.recv().await {
        let read_rows = match chunk {
            Chunk::Header(layout, encoding, delimiter) => {
                result.headers = layout.headers.clone();
                result.ignored_columns = layout.ignored_columns.clone();
                result.encoding = Some(encoding.to_string());
                result.delimiter = Some(crate::csv_input::delimiter_name(delimiter).to_string());
                let mut checker = FileChecker::new(
                    method,
                    country.as_deref(),
                    order,
                    today,
                    layout.role_columns(),
                );
                checker.expect_rows(rows as usize);
                checker.restore_seen(std::mem::take(&mut seen));
                file = Some((layout, checker));
                continue;
            }
            Chunk::Rows(rows) => rows,
        };
        let Some((layout, checker)) = file.as_mut() else {
            continue;
        };
        let checked: Vec<Option<CheckedRow>> = read_rows
            .iter()
            .map(|r| {
                r.problem.is_none().then(|| {
                    checker.parse(
                        &layout.roles(|i| r.cells.get(i).map_or("", String::as_str)),
                        &dir,
                    )
                })
            })
            .collect();
        // People for every key of the chunk not matched yet, and rows of earlier imports
        // already pending under those keys, fetched together.
        let unmatched = checker.take_unmatched();
        let wanted: Vec<MatchKey> = unmatched
            .iter()
            .map(|(_, k)| k.clone())
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let people = store.people_with_keys(org, wanted.clone()).await?;
        for (slot, key) in &unmatched {
            checker.set_people(*slot, people.get(key).map(Vec::as_slice).unwrap_or(&[]));
        }
        // Earlier pending rows matter only for rows that could become pending: a key of
        // someone signed up, of several people, or an unknown employee ID never does.
        // None are asked for when the organisation's were all read before the first row.
        let could_wait = |k: &MatchKey| {
            !pending_known
                && match match_person(people.get(k).map(Vec::as_slice).unwrap_or(&[])) {
                    PersonMatch::Roster(_) => true,
                    PersonMatch::NotFound => method != MatchMethod::Hris,
                    PersonMatch::SignedUp(_) | PersonMatch::Ambiguous(_) => false,
                }
        };
        // Completions that would make a ready row a repeat, fetched at the same time.
        let candidates: HashSet<(PersonId, TrainingId, String)> = checked
            .iter()
            .flatten()
            .filter_map(|r| checker.completion_of(r))
            .map(|(p, t, d)| (p.clone(), t.clone(), d.iso()))
            .collect();
        let (waiting, completed) = tokio::join!(
            store.pending_rows_for_keys(org, wanted.into_iter().filter(could_wait).collect()),
            store.existing_completions(org, &candidates)
        );
        for (key, row) in waiting? {
            if let (Some(t), Some(d)) = (
                row.training_id
                    .as_deref()
                    .and_then(|t| TrainingId::parse(t).ok()),
                row.completion_date
                    .as_deref()
                    .and_then(CompletionDate::from_iso),
            ) {
                dir.pending.insert((key, t, d));
            }
        }
        for (p, t, d) in completed? {
            if let Some(date) = CompletionDate::from_iso(&d) {
                dir.completions.insert((p, t, date));
            }
        }

        let mut records = Vec::with_capacity(read_rows.len());
        for (raw, row) in read_rows.into_iter().zip(checked) {
            let verdict = match (row, raw.problem) {
                (Some(row), _) => {
                    let decision = checker.decide(&row, &dir);
                    checker.verdict(&row, decision)
                }
                (None, problem) => RowVerdict::unreadable(
                    problem.expect("a row is parsed unless it has a problem"),
                ),
            };
            result.rows_total += 1;
            result.outcomes.add(verdict.outcome);
            for issue in verdict.issues.iter().chain(&verdict.warnings) {
                *result
                    .issues
                    .entry(issue.code.as_str().to_string())
                    .or_default() += 1;
            }
            result.last_line = result.last_line.max(raw.line);
            records.push(RowRecord {
                issues: verdict.issues,
                warnings: verdict.warnings,
                match_value: verdict.key.as_ref().map(|k| k.value().to_string()),
                person_id: verdict.person_id.map(|p| p.to_string()),
                training_id: verdict.training.as_ref().map(|t| t.id.to_string()),
                training_title: verdict.training.map(|t| t.title),
                completion_date: verdict.date.map(|d| d.iso()),
                ..RowRecord::validated(id.as_str(), raw.line, raw.cells, verdict.outcome, method)
            });
        }
        checker.end_chunk();
        // Written while the next chunk is read and looked up; one write in flight.
        if let Some((previous, written, last_line)) = in_flight.take() {
            join_write(previous).await?;
            if last_progress.elapsed() >= store.progress_every() {
                let last_line = vec![("last_line", AttributeValue::N(last_line.to_string()))];
                store
                    .record_validation_progress(org, id, written, rows, last_line)
                    .await?;
                last_progress = std::time::Instant::now();
            }
        }
        let (writer, write_org, write_id) = (store.clone(), org.clone(), id.clone());
        let layout = RowLayout::of(&result);
        in_flight = Some((
            tokio::spawn(async move {
                writer
                    .write_rows(&write_org, &write_id, layout, &records)
                    .await
            }),
            result.rows_total,
            result.last_line,
        ));
        if result.rows_total < rows
            && deadline.is_some_and(|d| {
                d.saturating_duration_since(std::time::Instant::now()) < HAND_ON_MARGIN
            })
        {
            drop(rx);
            if let Some((previous, _, _)) = in_flight.take() {
                join_write(previous).await?;
            }
            // The reader stops at its next chunk; what it would have found is the next
            // invocation's to find.
            let _ = reader.await;
            let checkpoint = Checkpoint {
                etag,
                order,
                today: today.to_string(),
                rows_in_file: rows,
                rows_done: result.rows_total,
                outcomes: result.outcomes.clone(),
                issues: result.issues.clone(),
                hand_ons: hand_ons + 1,
            };
            let seen = file
                .as_ref()
                .map(|(_, c)| c.seen_rows().collect::<Vec<_>>())
                .unwrap_or_default();
            return hand_on(store, org, id, &checkpoint, seen, result.last_line).await;
        }
    }
    if let Some((previous, _, _)) = in_flight.take() {
        join_write(previous).await?;
    }
    reader
        .await
        .map_err(|e| {
            Failure::Pipeline(PipelineError::Store(StoreError::Service(anyhow::anyhow!(
                "reader task: {e}"
            ))))
        })?
        .map_err(Failure::File)?;
    if result.rows_total == 0 {
        return Err(Failure::File(FileProblem::new(
            "NO_DATA_ROWS",
            "the file has a header row but no data rows. Add one row per completion.",
        )));
    }
    // The mapping an admin gave is offered for the next file with the same headers.
    if let (Some(columns), Some(by)) = (&summary.options.columns, &summary.created_by) {
        if !columns.is_empty() && !result.headers.is_empty() {
            store
                .remember_mapping(org, &result.headers, columns, by)
                .await?;
        }
    }
    match store.finish_validation(org, id, &result).await {
        Ok(_) => {}
        Err(StoreError::ConditionFailed) => {
            // A concurrent delivery of the same object finished first, with the same rows.
            tracing::info!(org = %org, import = %id, "validation already finished by another delivery");
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    }
    tracing::info!(org = %org, import = %id, rows = result.rows_total, ready = result.outcomes.ready, pending = result.outcomes.pending, errors = result.outcomes.error, skipped = result.outcomes.skipped, "import validated");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checkpoint() -> Checkpoint {
        Checkpoint {
            etag: Some("\"abc\"".into()),
            order: DateOrder::DayFirst,
            today: "2026-11-26".into(),
            rows_in_file: 2500,
            rows_done: 1000,
            outcomes: OutcomeCounts {
                ready: 1,
                pending: 2,
                error: 3,
                skipped: 994,
            },
            issues: BTreeMap::from([("DUPLICATE_IN_FILE".to_string(), 994)]),
            hand_ons: 1,
        }
    }

    /// The ids of dropped files and the row identities of checkpoints are fixed values:
    /// a deploy (a new Rust release) between two deliveries of one dropped object, or
    /// between two invocations of one validation, must not change them. The drop id is
    /// the one std's DefaultHasher gave before the hash came from a crate.
    #[test]
    fn drop_ids_and_row_key_hashes_are_fixed_values() {
        assert_eq!(
            drop_import_id("drop/acme/email/HR export.csv", Some("\"abc\"")).to_string(),
            "drop-9aae236af49d2b2b"
        );
        assert_eq!(
            crate::domain::stable_hash(&[b"email", b"ana@example.com"]),
            0x3e31_ee7d_305d_3623
        );
    }

    #[test]
    fn a_checkpoint_reads_back_as_written_and_a_damaged_one_is_refused() {
        let seen = [0u64, 1, u64::MAX, 0x0123_4567_89ab_cdef];
        let bytes = checkpoint().encode(seen.into_iter());
        assert_eq!(
            Checkpoint::decode(&bytes).unwrap(),
            (checkpoint(), seen.to_vec())
        );
        assert!(Checkpoint::decode(&bytes[..bytes.len() - 3])
            .unwrap_err()
            .contains("cut short"));
        assert!(Checkpoint::decode(&bytes[..10])
            .unwrap_err()
            .contains("cut short"));
        assert!(Checkpoint::decode(b"PK\x03\x04").is_err());
        let mut bad_json = bytes.clone();
        bad_json[8] = b'[';
        assert!(Checkpoint::decode(&bad_json).is_err());
    }
}
