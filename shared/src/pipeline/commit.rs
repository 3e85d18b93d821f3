//! The commit, run by the worker after the Import click. Each row still `validated` is
//! resolved again against people and trainings as they are now, then moved in a
//! transaction with its count change. Re-running after a crash or a second delivery
//! only touches rows not yet moved.

use super::PipelineError;
use crate::domain::{match_person, ImportId, ImportStatus, MatchKey, MatchMethod, OrgId, Outcome, PersonId, PersonMatch, PersonRef, RowStatus, TrainingId};
use crate::store::{RowRecord, RowTransition, Store, StoreError, TrainingRecord};
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::{HashMap, HashSet};

/// Rows moved in one transaction (two items each at most, plus a count shard).
pub const ROWS_PER_TRANSACTION: usize = 25;
/// Transactions of one commit in flight at once.
pub const COMMIT_CONCURRENCY: usize = 4;

pub async fn run_commit(store: &Store, org: &OrgId, id: &ImportId) -> Result<(), PipelineError> {
    let Some(summary) = store.get_import(org, id).await? else {
        return Err(PipelineError::NotFound { what: "import" });
    };
    if summary.status != ImportStatus::Importing {
        tracing::info!(org = %org, import = %id, status = %summary.status, "commit delivery ignored: import is not importing");
        return Ok(());
    }
    let skip_invalid = summary.commit.as_ref().is_some_and(|c| c.skip_invalid_rows);
    let trainings: HashMap<String, TrainingRecord> =
        store.list_trainings(org).await?.into_iter().map(|t| (t.training_id.clone(), t)).collect();

    // People as looked up before a row is written; safe to reuse across batches because
    // a stale "not signed up" is caught by the fresh look after the write, and nobody
    // un-signs-up.
    let mut people: HashMap<MatchKey, Vec<PersonRef>> = HashMap::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = store.list_rows(org, id, None, Some(RowStatus::Validated), 200, cursor.as_deref()).await?;
        let wanted: HashSet<MatchKey> = page
            .rows
            .iter()
            .filter(|r| matches!(r.outcome, Outcome::Ready | Outcome::Pending))
            .filter_map(RowRecord::match_key)
            .filter(|k| !people.contains_key(k))
            .collect();
        people.extend(store.people_with_keys(org, wanted.into_iter().collect()).await?);
        // Batches run a few at a time; their count updates go to different shards.
        use futures::stream::{self, TryStreamExt};
        let people = &people;
        let trainings = &trainings;
        stream::iter(page.rows.chunks(ROWS_PER_TRANSACTION).map(Ok::<_, PipelineError>))
            .try_for_each_concurrent(COMMIT_CONCURRENCY, |batch| commit_batch(store, org, id, batch, people, trainings, skip_invalid))
            .await?;
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    let finished = AttributeValue::S(crate::store::now_rfc3339());
    match store
        .transition_import(org, id, &[ImportStatus::Importing], ImportStatus::Imported, vec![("commit_finished_at", finished)], None)
        .await
    {
        Ok(s) => tracing::info!(org = %org, import = %id, imported = s.statuses.imported, pending = s.statuses.pending, "import committed"),
        Err(StoreError::ConditionFailed) => tracing::info!(org = %org, import = %id, "import already marked imported"),
        Err(e) => return Err(e.into()),
    }
    Ok(())
}

async fn commit_batch(
    store: &Store,
    org: &OrgId,
    id: &ImportId,
    rows: &[RowRecord],
    people: &HashMap<MatchKey, Vec<PersonRef>>,
    trainings: &HashMap<String, TrainingRecord>,
    skip_invalid: bool,
) -> Result<(), PipelineError> {
    let transitions: Vec<(u64, RowTransition)> = rows.iter().map(|r| (r.row, transition_for(r, people, trainings, skip_invalid))).collect();
    match store.commit_rows(org, id, &transitions).await {
        Ok(()) => {}
        Err(StoreError::ConditionFailed) => {
            // Another run moved some of these rows: move the rest one by one.
            for t in &transitions {
                match store.commit_rows(org, id, std::slice::from_ref(t)).await {
                    Ok(()) | Err(StoreError::ConditionFailed) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Err(e) => return Err(e.into()),
    }
    // Nothing stranded: a person who signed up between our lookup and our write would
    // not have seen these rows as pending. Look again, fresh, now that they are pending.
    let waiting: HashSet<MatchKey> = transitions
        .iter()
        .filter_map(|(_, t)| match t {
            RowTransition::Wait { key, .. } => Some(key.clone()),
            _ => None,
        })
        .collect();
    if waiting.is_empty() {
        return Ok(());
    }
    let now = store.people_with_keys(org, waiting.into_iter().collect()).await?;
    for (record, (_, t)) in rows.iter().zip(&transitions) {
        let RowTransition::Wait { key, .. } = t else { continue };
        if let PersonMatch::SignedUp(pid) = match_person(now.get(key).map(Vec::as_slice).unwrap_or(&[])) {
            match store.apply_pending_row(org, id, record, &pid).await {
                Ok(()) | Err(StoreError::ConditionFailed) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(())
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
                note: Some(if skip_invalid { "skipped at import: the row has errors" } else { "not imported: the row has errors" }.into()),
            }
        }
        Outcome::Skipped => return RowTransition::Skip { note: None },
        Outcome::Ready | Outcome::Pending => {}
    }
    let (Some(key), Some(tid), Some(date)) = (row.match_key(), row.training_id.as_deref(), row.completion_date.as_deref()) else {
        return RowTransition::Skip { note: Some("not imported: the row lost its person, training or date".into()) };
    };
    let training = match trainings.get(tid) {
        Some(t) if t.published => t,
        Some(_) => return RowTransition::Skip { note: Some("not imported: the training was unpublished after validation".into()) },
        None => return RowTransition::Skip { note: Some("not imported: the training was removed after validation".into()) },
    };
    let Ok(training_id) = TrainingId::parse(tid) else {
        return RowTransition::Skip { note: Some("not imported: the training ID is not valid".into()) };
    };
    let found = people.get(&key).map(Vec::as_slice).unwrap_or(&[]);
    match match_person(found) {
        PersonMatch::SignedUp(person) => RowTransition::Import { person, training: training_id, title: training.title.clone(), date: date.to_string() },
        PersonMatch::Roster(person) => RowTransition::Wait { key, person: Some(person) },
        PersonMatch::NotFound if row.match_method == MatchMethod::Hris => {
            RowTransition::Skip { note: Some("not imported: the employee ID is no longer on the roster".into()) }
        }
        PersonMatch::NotFound => RowTransition::Wait { key, person: None::<PersonId> },
        PersonMatch::Ambiguous(n) => RowTransition::Skip { note: Some(format!("not imported: {n} people now match this row")) },
    }
}
