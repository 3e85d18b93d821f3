//! The commit, run by the worker after the Import click. One run at a time holds the
//! import's commit lease and goes through the rows in file order, a page at a time:
//! each row still `validated` is resolved again against people and trainings as they
//! are now, the page's new completions are written with batched puts, and one small
//! transaction records the page (cursor, count changes, what it did to each row, lease
//! renewal: a row reads moved only once its completion is written); the next
//! page is read and resolved (and the one after it read) while a page is written. Once
//! every page is recorded, the rows left waiting go into one waiting group per person's
//! match key (store::groups), and the groups of people who signed up meanwhile are
//! applied. A run that stops is taken over once its lease runs out; it starts at the
//! first page not recorded and counts the rows it finds already moved.

use super::PipelineError;
use crate::domain::{
    match_person, person_standing, ImportId, ImportStatus, MatchKey, OrgId, Outcome, PersonRef,
    PersonStanding, RowStatus, TrainingId,
};
use crate::store::{
    committed_status, now_ms, now_rfc3339, CommitLease, CommitOutcome, CommitRequest, CommittedRow,
    LeaseAttempt, NewCompletion, RowLayout, RowRecord, RowTransition, Stamp, Store, StoreError,
    TrainingRecord, WaitingRow,
};
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::{BTreeMap, HashMap, HashSet};

/// Rows read, moved and recorded together (at least: whole pages of rows).
pub const COMMIT_PAGE_ROWS: usize = 2000;

/// Time a commit under a deadline keeps in hand: with less than this left it records
/// its page, gives the lease up and hands the rest to a new invocation. A page takes
/// well under a second here and a few seconds at DynamoDB's partition write limit.
pub const CONTINUE_MARGIN: std::time::Duration = std::time::Duration::from_secs(60);

/// How a run ended without an error.
enum Finished {
    AllRows,
    /// Another run took the lease over (this one was too slow); it finishes the job.
    LeaseLost,
    /// The deadline is near; the pages before `cursor` are recorded.
    OutOfTime {
        cursor: u64,
    },
}

/// Commits an import with no time limit (tests, tools).
pub async fn run_commit(store: &Store, org: &OrgId, id: &ImportId) -> Result<(), PipelineError> {
    run_commit_until(store, org, id, None).await
}

/// Commits an import; with a `deadline` (a Lambda invocation's), a run that would not
/// finish in time stops between pages and re-sends its own commit request, so the next
/// invocation goes on from the recorded cursor: an import of any size commits without
/// a timeout, and without using up the invocation's retries.
pub async fn run_commit_until(
    store: &Store,
    org: &OrgId,
    id: &ImportId,
    deadline: Option<std::time::Instant>,
) -> Result<(), PipelineError> {
    let Some(summary) = store.get_import(org, id).await? else {
        return Err(PipelineError::NotFound { what: "import" });
    };
    if summary.status != ImportStatus::Importing {
        tracing::info!(org = %org, import = %id, status = %summary.status, "commit delivery ignored: import is not importing");
        return Ok(());
    }
    let Some(mut lease) = take_lease(store, org, id).await? else {
        return Ok(());
    };
    match commit_pages(store, org, id, &summary, &mut lease, deadline).await {
        Err(e) => {
            // Let a retry start at once instead of waiting for the lease to run out.
            if let Err(release) = store.release_commit_lease(org, id, &lease).await {
                tracing::warn!(org = %org, import = %id, error = %release, "could not give the commit lease up; it runs out by itself");
            }
            Err(e)
        }
        Ok(Finished::LeaseLost) => {
            tracing::warn!(org = %org, import = %id, "commit lease taken over by another run; leaving the rest to it");
            Ok(())
        }
        Ok(Finished::OutOfTime { cursor }) => {
            // The lease first: the new run must find it free, not held by a run that
            // no longer renews it. If the request cannot be sent, this invocation fails
            // and its retry goes on from the cursor instead.
            store.release_commit_lease(org, id, &lease).await?;
            send_commit_request(
                store,
                org,
                id,
                &summary.commit.clone().unwrap_or_default(),
                Some(("continue_from_row", cursor)),
            )
            .await?;
            tracing::info!(org = %org, import = %id, cursor, "commit handed to a new invocation before this one's time runs out");
            Ok(())
        }
        Ok(Finished::AllRows) => {
            let finished = AttributeValue::S(now_rfc3339());
            match store
                .transition_import(
                    org,
                    id,
                    &[ImportStatus::Importing],
                    ImportStatus::Imported,
                    vec![("commit_finished_at", finished)],
                    None,
                )
                .await
            {
                Ok(s) => {
                    tracing::info!(org = %org, import = %id, imported = s.statuses.imported, pending = s.statuses.pending, "import committed")
                }
                Err(StoreError::ConditionFailed) => {
                    tracing::info!(org = %org, import = %id, "import already marked imported")
                }
                Err(e) => return Err(e.into()),
            }
            Ok(())
        }
    }
}

/// Writes the import's commit request (`commits/<org>/<id>.json`); its S3 event starts
/// the worker. `mark` (a name and a number) makes a later write of the same request new
/// content: S3 sends an event for every write, a local relay only for a new ETag.
pub(crate) async fn send_commit_request(
    store: &Store,
    org: &OrgId,
    id: &ImportId,
    request: &CommitRequest,
    mark: Option<(&str, u64)>,
) -> Result<(), StoreError> {
    let mut body = serde_json::to_value(request).unwrap_or_default();
    if let Some((name, value)) = mark {
        body[name] = serde_json::json!(value);
    }
    store
        .put_object(
            &crate::keys::s3::commit_key(org, id),
            "application/json",
            serde_json::to_vec(&body).unwrap_or_default(),
        )
        .await
}

/// Takes the commit lease. When another run holds it, waits: if the holder renews it
/// (alive) or the import leaves `importing`, there is nothing to do (None); if the lease
/// runs out (the holder stopped), this run takes over.
async fn take_lease(
    store: &Store,
    org: &OrgId,
    id: &ImportId,
) -> Result<Option<CommitLease>, PipelineError> {
    let length = store.commit_lease();
    let give_up = std::time::Instant::now() + 2 * length + std::time::Duration::from_secs(5);
    let mut seen: Option<i64> = None;
    loop {
        match store.take_commit_lease(org, id, length).await? {
            LeaseAttempt::Taken(lease) => return Ok(Some(lease)),
            LeaseAttempt::NotImporting => {
                tracing::info!(org = %org, import = %id, "commit delivery ignored: the import finished meanwhile");
                return Ok(None);
            }
            LeaseAttempt::Held { until_ms } => {
                if seen.is_some_and(|s| s != until_ms) || std::time::Instant::now() > give_up {
                    tracing::info!(org = %org, import = %id, "commit delivery ignored: another run is committing this import");
                    return Ok(None);
                }
                seen = Some(until_ms);
                let wait = (until_ms - now_ms()).clamp(50, 1000) as u64;
                tokio::time::sleep(std::time::Duration::from_millis(wait)).await;
            }
        }
    }
}

async fn commit_pages(
    store: &Store,
    org: &OrgId,
    id: &ImportId,
    summary: &crate::store::ImportSummary,
    lease: &mut CommitLease,
    deadline: Option<std::time::Instant>,
) -> Result<Finished, PipelineError> {
    let length = store.commit_lease();
    // Read before any person is looked up (see SignUpWatch).
    let mut watch = SignUpWatch {
        before_lookups: store.sign_ups(org).await?,
        moved: false,
    };
    let mut reader = PageReader {
        store,
        org,
        waiting_stand: summary.directory_at_validation == Some(watch.before_lookups),
        layout: crate::store::RowLayout::of(summary),
        skip_invalid: summary.commit.as_ref().is_some_and(|c| c.skip_invalid_rows),
        trainings: store
            .list_trainings(org)
            .await?
            .into_iter()
            .map(|t| (t.training_id.clone(), t))
            .collect(),
        people: HashMap::new(),
    };
    // A run that reads every page gathers the rows left waiting as it goes; one that
    // took over part-way reads them back from the pages at the end.
    let mut gathered: Option<Waiting> = (lease.cursor == 0).then(HashMap::new);
    let first = fetch_rows(store, org, reader.layout, id, lease.cursor).await?;
    let mut page = reader.resolve(first).await?;
    // The rows of the page after next, read while the next one is resolved.
    let mut ahead: Option<Fetched> = None;
    loop {
        let Some(last) = page.rows.last().map(|r| r.row) else {
            return put_groups(store, org, id, reader.layout, lease, &watch, gathered).await;
        };
        if let (Some(waiting), RowLayout::Pages { groups: true, .. }) =
            (&mut gathered, reader.layout)
        {
            gather(waiting, &page)?;
        }
        // Writes below must land while the lease is ours: renew it when half used.
        if lease.until_ms - now_ms() < length.as_millis() as i64 / 2 {
            match store.renew_commit_lease(org, id, lease, length).await {
                Err(StoreError::ConditionFailed) => return Ok(Finished::LeaseLost),
                other => other?,
            }
        }
        // The next page is read and resolved while this one is written: only this run
        // changes rows still `validated`.
        let (pages, fetched_ahead) = (&mut reader, ahead.take());
        let next = async {
            if !page.more {
                return Ok((None, None));
            }
            let layout = pages.layout;
            let rows = match fetched_ahead {
                Some(rows) => rows,
                None => fetch_rows(store, org, layout, id, last + 1).await?,
            };
            let after = match (rows.more, rows.rows.last()) {
                (true, Some(r)) => Some(r.row + 1),
                _ => None,
            };
            let (page, after) = tokio::join!(pages.resolve(rows), async move {
                match after {
                    Some(from) => fetch_rows(store, org, layout, id, from).await.map(Some),
                    None => Ok(None),
                }
            });
            Ok::<_, PipelineError>((Some(page?), after?))
        };
        let by = summary.commit.as_ref().and_then(|c| c.by.as_ref());
        let now = now_rfc3339();
        let committed: Vec<CommittedRow> = page
            .moves
            .iter()
            .map(|(i, t)| moved_row(&page.rows[*i], t, &now, by))
            .collect();
        let (written, next) = tokio::join!(
            write_page(store, org, id, &page, &committed, &mut watch),
            next
        );
        written?;
        // With groups, the page's rows are not written again: what the commit did to
        // them is recorded with the page.
        let outcome = match page.layout {
            RowLayout::Pages { groups: true, .. } => CommitOutcome::of(
                page.moves
                    .iter()
                    .zip(&committed)
                    .map(|((i, _), c)| (&page.rows[*i], &c.record)),
                &now,
                by,
            ),
            _ => None,
        };
        let mut statuses: BTreeMap<RowStatus, i64> = BTreeMap::new();
        let mut moved: HashMap<u64, RowStatus> = page
            .moves
            .iter()
            .map(|(i, t)| (page.rows[*i].row, status_of(t)))
            .collect();
        for r in &page.rows {
            if let Some(status) = moved.remove(&r.row).or_else(|| committed_status(r.status)) {
                *statuses.entry(status).or_default() += 1;
            }
        }
        match store
            .record_commit_page(
                org,
                id,
                lease,
                last + 1,
                &statuses,
                page.rows.len() as i64,
                outcome.as_ref(),
                length,
            )
            .await
        {
            Err(StoreError::ConditionFailed) => return Ok(Finished::LeaseLost),
            other => other?,
        }
        let (next, after) = next?;
        ahead = after;
        match next {
            None => {
                return put_groups(store, org, id, reader.layout, lease, &watch, gathered).await
            }
            Some(_)
                if deadline.is_some_and(|d| {
                    d.saturating_duration_since(std::time::Instant::now()) < CONTINUE_MARGIN
                }) =>
            {
                return Ok(Finished::OutOfTime { cursor: last + 1 });
            }
            Some(p) => page = p,
        }
    }
}

/// Waiting groups put between lease renewals.
const GROUP_ITEMS_PER_STEP: usize = 10_000;

/// The rows left waiting, by match key, in file order.
type Waiting = HashMap<MatchKey, Vec<WaitingRow>>;

/// Adds a page's waiting rows: those it moves to pending, and those an earlier run
/// moved (the page says pending).
fn gather(waiting: &mut Waiting, page: &Page) -> Result<(), PipelineError> {
    let moved: HashSet<usize> = page
        .moves
        .iter()
        .filter(|(_, t)| matches!(t, RowTransition::Wait { .. }))
        .map(|(i, _)| *i)
        .collect();
    for (i, r) in page.rows.iter().enumerate() {
        if moved.contains(&i) || r.status == RowStatus::Pending {
            add_waiting(waiting, r)?;
        }
    }
    Ok(())
}

fn add_waiting(waiting: &mut Waiting, r: &RowRecord) -> Result<(), PipelineError> {
    let (Some(key), Some(training_id), Some(date)) =
        (r.match_key(), &r.training_id, &r.completion_date)
    else {
        return Err(StoreError::Corrupt(format!(
            "waiting row {} has no key, training or date",
            r.row
        ))
        .into());
    };
    waiting.entry(key).or_default().push(WaitingRow {
        line: r.row,
        training_id: training_id.clone(),
        title: r.training_title.clone().unwrap_or_default(),
        date: date.clone(),
    });
    Ok(())
}

/// Every row the pages say is pending, read back (strongly consistent).
async fn read_waiting(
    store: &Store,
    org: &OrgId,
    id: &ImportId,
    layout: RowLayout,
) -> Result<Waiting, PipelineError> {
    let mut waiting = HashMap::new();
    let mut from = 0;
    loop {
        let (rows, more) = store
            .rows_from(org, id, layout, from, 5 * COMMIT_PAGE_ROWS)
            .await?;
        let Some(last) = rows.last().map(|r| r.row) else {
            return Ok(waiting);
        };
        for r in rows.iter().filter(|r| r.status == RowStatus::Pending) {
            add_waiting(&mut waiting, r)?;
        }
        if !more {
            return Ok(waiting);
        }
        from = last + 1;
    }
}

/// Once every page is committed: puts one waiting group per match key of the rows the
/// pages say are pending (store::groups; `gathered` by a run that read every page, else
/// read back), then applies the groups of people who signed up meanwhile. A run that
/// did not look every person up itself (it took over from a stopped run) or that saw
/// someone sign up since it began looks the groups' people up again; otherwise none
/// can be stranded (see SignUpWatch).
async fn put_groups(
    store: &Store,
    org: &OrgId,
    id: &ImportId,
    layout: RowLayout,
    lease: &mut CommitLease,
    watch: &SignUpWatch,
    gathered: Option<Waiting>,
) -> Result<Finished, PipelineError> {
    if !matches!(layout, RowLayout::Pages { groups: true, .. }) {
        return Ok(Finished::AllRows);
    }
    let first_run = match store.start_putting_groups(org, id, lease).await {
        Err(StoreError::ConditionFailed) => return Ok(Finished::LeaseLost),
        other => other?,
    };
    let from_start = gathered.is_some();
    let by_key = match gathered {
        Some(waiting) => waiting,
        None => read_waiting(store, org, id, layout).await?,
    };
    let mut waiting: Vec<(MatchKey, Vec<WaitingRow>)> = by_key.into_iter().collect();
    waiting.sort_by(|a, b| a.0.value().cmp(b.0.value()));
    let length = store.commit_lease();
    for step in waiting.chunks(GROUP_ITEMS_PER_STEP) {
        if lease.until_ms - now_ms() < length.as_millis() as i64 / 2 {
            match store.renew_commit_lease(org, id, lease, length).await {
                Err(StoreError::ConditionFailed) => return Ok(Finished::LeaseLost),
                other => other?,
            }
        }
        store.put_waiting_groups(org, id, step, first_run).await?;
    }
    if waiting.is_empty()
        || (from_start && store.sign_ups(org).await? == watch.before_lookups && !watch.moved)
    {
        return Ok(Finished::AllRows);
    }
    let keys: Vec<MatchKey> = waiting.iter().map(|(k, _)| k.clone()).collect();
    let now_people = store.people_with_keys(org, keys.clone()).await?;
    for key in keys {
        let found = match_person(now_people.get(&key).map(Vec::as_slice).unwrap_or(&[]));
        if let PersonStanding::Ready(pid) = person_standing(key.method(), &found) {
            let groups: Vec<_> = store
                .groups_for_key(org, &key)
                .await?
                .into_iter()
                .filter(|g| g.import_id == id.as_str())
                .collect();
            store.apply_groups(org, &pid, None, groups, true).await?;
        }
    }
    Ok(Finished::AllRows)
}

/// A page of rows with what the commit does to those still `validated` (by index).
struct Page {
    layout: RowLayout,
    rows: Vec<RowRecord>,
    more: bool,
    moves: Vec<(usize, RowTransition)>,
    /// Completions of this page that exist already (pk, sk): their first source stays.
    present: HashSet<(String, String)>,
}

/// Reads pages and resolves their rows against trainings and people as they are now.
struct PageReader<'a> {
    store: &'a Store,
    org: &'a OrgId,
    /// Nobody signed up and nobody was added since the validation's lookups began: a
    /// row it found waiting still waits for the same person, and is not looked up.
    waiting_stand: bool,
    layout: RowLayout,
    skip_invalid: bool,
    trainings: HashMap<String, TrainingRecord>,
    /// People as looked up before a row is written; safe to reuse across pages because
    /// a stale "not signed up" is caught by the fresh look after the write, and nobody
    /// un-signs-up.
    people: HashMap<MatchKey, Vec<PersonRef>>,
}

/// Rows read for a page, not resolved yet.
struct Fetched {
    rows: Vec<RowRecord>,
    more: bool,
}

/// Reads the rows of a page from line `from` (whole pages, strongly consistent).
async fn fetch_rows(
    store: &Store,
    org: &OrgId,
    layout: RowLayout,
    id: &ImportId,
    from: u64,
) -> Result<Fetched, PipelineError> {
    let (rows, more) = store
        .rows_from(org, id, layout, from, COMMIT_PAGE_ROWS)
        .await?;
    Ok(Fetched { rows, more })
}

impl PageReader<'_> {
    /// Resolves fetched rows against trainings and people as they are now.
    async fn resolve(&mut self, fetched: Fetched) -> Result<Page, PipelineError> {
        let (store, org) = (self.store, self.org);
        let Fetched { rows, more } = fetched;
        let todo = || {
            rows.iter()
                .enumerate()
                .filter(|(_, r)| r.status == RowStatus::Validated)
        };
        if self.waiting_stand {
            for (_, r) in todo().filter(|(_, r)| r.outcome == Outcome::Pending) {
                if let Some(key) = r.match_key() {
                    self.people.entry(key).or_insert_with(|| as_validated(r));
                }
            }
        }
        let wanted: HashSet<MatchKey> = todo()
            .filter(|(_, r)| matches!(r.outcome, Outcome::Ready | Outcome::Pending))
            .filter_map(|(_, r)| r.match_key())
            .filter(|k| !self.people.contains_key(k))
            .collect();
        self.people.extend(
            store
                .people_with_keys(org, wanted.into_iter().collect())
                .await?,
        );
        let moves: Vec<(usize, RowTransition)> = todo()
            .map(|(i, r)| {
                (
                    i,
                    transition_for(r, &self.people, &self.trainings, self.skip_invalid),
                )
            })
            .collect();
        let completions: Vec<NewCompletion> = moves
            .iter()
            .filter_map(|(i, t)| completion_of(rows[*i].row, t))
            .collect();
        let wanted: Vec<&NewCompletion> = completions.iter().collect();
        let present = if wanted.is_empty() {
            HashSet::new()
        } else {
            store.completions_present(org, &wanted).await?
        };
        Ok(Page {
            layout: self.layout,
            rows,
            more,
            moves,
            present,
        })
    }
}

/// Who a row the validation found waiting waits for, as the validation found them: the
/// person on the roster not signed up yet, or nobody.
fn as_validated(row: &RowRecord) -> Vec<PersonRef> {
    row.person_id
        .as_deref()
        .and_then(|p| crate::domain::PersonId::parse(p).ok())
        .map(|person_id| PersonRef {
            person_id,
            signed_up: false,
        })
        .into_iter()
        .collect()
}

fn completion_of(row: u64, t: &RowTransition) -> Option<NewCompletion<'_>> {
    match t {
        RowTransition::Import {
            person,
            training,
            title,
            date,
        } => Some(NewCompletion {
            person,
            training,
            title,
            date,
            row,
        }),
        _ => None,
    }
}

/// Whether anyone signed up since this run began looking people up. A sign-up marks
/// the person signed up, then counts itself, then looks for their pending rows. If our
/// lookup missed the first step and the sign-up's search missed our row (written after
/// it), the count moved between our first lookup and the end of our write; if it did
/// not move, no row of the page can be stranded and the fresh look is skipped.
struct SignUpWatch {
    before_lookups: u64,
    /// Once moved, every later page is looked at again (its people may be cached from
    /// before the sign-up).
    moved: bool,
}

/// Writes a page's moved rows and the completions they bring, then applies the rows
/// whose person signed up since the lookup.
async fn write_page(
    store: &Store,
    org: &OrgId,
    id: &ImportId,
    page: &Page,
    rows: &[CommittedRow<'_>],
    watch: &mut SignUpWatch,
) -> Result<(), PipelineError> {
    let completions: Vec<NewCompletion> = page
        .moves
        .iter()
        .filter_map(|(i, t)| completion_of(page.rows[*i].row, t))
        .collect();
    let new: Vec<&NewCompletion> = completions
        .iter()
        .filter(|c| {
            !page.present.contains(&(
                crate::keys::person_pk(org, c.person),
                crate::keys::completion_sk(c.training, c.date),
            ))
        })
        .collect();
    store
        .put_committed(org, id, page.layout, &page.rows, rows, &new)
        .await?;
    if let RowLayout::Pages { groups: true, .. } = page.layout {
        return Ok(()); // waiting rows go into groups once every page is written
    }

    // Nothing stranded: a person who signed up between our lookup and our write would
    // not have seen these rows as pending. Look again, fresh, now that they are pending.
    // Rows an earlier run moved (their page says pending) had their item put only now
    // perhaps: they are looked at again whoever signed up when.
    let mut waiting: Vec<(usize, MatchKey)> = page
        .moves
        .iter()
        .filter_map(|(i, t)| match t {
            RowTransition::Wait { key, .. } => Some((*i, key.clone())),
            _ => None,
        })
        .collect();
    let moved_earlier: Vec<(usize, MatchKey)> = page
        .rows
        .iter()
        .enumerate()
        .filter(|(_, r)| r.status == RowStatus::Pending)
        .filter_map(|(i, r)| r.match_key().map(|k| (i, k)))
        .collect();
    if waiting.is_empty() && moved_earlier.is_empty() {
        return Ok(());
    }
    if !watch.moved && moved_earlier.is_empty() {
        watch.moved = store.sign_ups(org).await? != watch.before_lookups;
        if !watch.moved {
            return Ok(());
        }
        tracing::info!(org = %org, import = %id, "someone signed up during the commit: pending rows are looked at again after each write");
    }
    waiting.extend(moved_earlier);
    let keys: HashSet<MatchKey> = waiting.iter().map(|(_, k)| k.clone()).collect();
    let now_people = store
        .people_with_keys(org, keys.into_iter().collect())
        .await?;
    for (i, key) in &waiting {
        let found = match_person(now_people.get(key).map(Vec::as_slice).unwrap_or(&[]));
        if let PersonStanding::Ready(pid) = person_standing(page.rows[*i].match_method, &found) {
            match store.apply_pending_row(org, id, &page.rows[*i], &pid).await {
                Ok(()) | Err(StoreError::ConditionFailed) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(())
}

fn status_of(t: &RowTransition) -> RowStatus {
    match t {
        RowTransition::Import { .. } => RowStatus::Imported,
        RowTransition::Wait { .. } => RowStatus::Pending,
        RowTransition::Skip { .. } => RowStatus::NotImported,
    }
}

/// The row as the commit leaves it.
fn moved_row<'a>(
    row: &RowRecord,
    t: &'a RowTransition,
    now: &str,
    by: Option<&Stamp>,
) -> CommittedRow<'a> {
    let mut record = row.clone();
    record.status = status_of(t);
    let mut pending_key = None;
    match t {
        RowTransition::Import { person, .. } => {
            record.person_id = Some(person.as_str().to_string());
            record.imported_at = Some(now.to_string());
            record.imported_by = by.cloned();
        }
        RowTransition::Wait { key, person } => {
            if let Some(p) = person {
                record.person_id = Some(p.as_str().to_string());
            }
            pending_key = Some(key);
        }
        RowTransition::Skip { note } => record.commit_note = note.clone(),
    }
    CommittedRow {
        record,
        pending_key,
    }
}

fn transition_for(
    row: &RowRecord,
    people: &HashMap<MatchKey, Vec<PersonRef>>,
    trainings: &HashMap<String, TrainingRecord>,
    skip_invalid: bool,
) -> RowTransition {
    match row.outcome {
        Outcome::Error => {
            return RowTransition::Skip {
                note: Some(
                    if skip_invalid {
                        "skipped at import: the row has errors"
                    } else {
                        "not imported: the row has errors"
                    }
                    .into(),
                ),
            }
        }
        Outcome::Skipped => return RowTransition::Skip { note: None },
        Outcome::Ready | Outcome::Pending => {}
    }
    let (Some(key), Some(tid), Some(date)) = (
        row.match_key(),
        row.training_id.as_deref(),
        row.completion_date.as_deref(),
    ) else {
        return RowTransition::Skip {
            note: Some("not imported: the row lost its person, training or date".into()),
        };
    };
    let training = match trainings.get(tid) {
        Some(t) if t.published => t,
        Some(_) => {
            return RowTransition::Skip {
                note: Some("not imported: the training was unpublished after validation".into()),
            }
        }
        None => {
            return RowTransition::Skip {
                note: Some("not imported: the training was removed after validation".into()),
            }
        }
    };
    let Ok(training_id) = TrainingId::parse(tid) else {
        return RowTransition::Skip {
            note: Some("not imported: the training ID is not valid".into()),
        };
    };
    let found = people.get(&key).map(Vec::as_slice).unwrap_or(&[]);
    match person_standing(row.match_method, &match_person(found)) {
        PersonStanding::Ready(person) => RowTransition::Import {
            person,
            training: training_id,
            title: training.title.clone(),
            date: date.to_string(),
        },
        PersonStanding::Waits(person) => RowTransition::Wait { key, person },
        PersonStanding::UnknownEmployeeId => RowTransition::Skip {
            note: Some("not imported: the employee ID is no longer on the roster".into()),
        },
        PersonStanding::Shared(n) => RowTransition::Skip {
            note: Some(format!("not imported: {n} people now match this row")),
        },
    }
}
