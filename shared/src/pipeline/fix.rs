//! Fixing a row in place: the admin corrects cells through the API; the row is
//! validated again against the directory as it is now, and the row and the summary's
//! counts change together, until the import is committed.

use super::{conflict, invalid, PipelineError};
use crate::csv_input::{header_key, CsvLayout};
use crate::domain::{
    match_person, person_standing, CompletionDate, DateOrder, DirectorySnapshot, ImportId,
    ImportStatus, OrgId, PersonStanding, RowStatus, Training, TrainingId,
};
use crate::store::RowLayout;
use crate::store::{RowRecord, Store, StoreError};
use chrono::NaiveDate;
use std::collections::{BTreeMap, HashSet};

/// Replaces the given cells (by header) of one row and validates it again. A fixed row
/// is not compared with the other rows of the file for repeats.
pub async fn fix_row(
    store: &Store,
    org: &OrgId,
    id: &ImportId,
    row_no: u64,
    changes: &BTreeMap<String, String>,
    today: NaiveDate,
    by: &crate::store::Stamp,
) -> Result<RowRecord, PipelineError> {
    let summary = super::manage::get_import(store, org, id).await?;
    if summary.status != ImportStatus::Validated {
        return Err(conflict("IMPORT_NOT_EDITABLE", format!("the import is '{}': rows can be fixed once it is validated and until it is imported", summary.status)));
    }
    let rows_at = RowLayout::of(&summary);
    let old = store
        .get_row(org, id, rows_at, row_no)
        .await?
        .ok_or(PipelineError::NotFound { what: "row" })?;
    if old.status != RowStatus::Validated {
        return Err(conflict(
            "ROW_NOT_EDITABLE",
            format!(
                "row {row_no} is '{}' and can no longer be changed",
                old.status
            ),
        ));
    }
    if changes.is_empty() {
        return Err(invalid(
            "NOTHING_TO_FIX",
            "give the cells to change, by header: {\"cells\": {\"Email\": \"ana@example.com\"}}",
        ));
    }
    let headers = &summary.headers;
    let mut cells = old.cells.clone();
    cells.resize(headers.len().max(cells.len()), String::new());
    cells.truncate(headers.len());
    for (header, value) in changes {
        let at = headers
            .iter()
            .position(|h| h == header)
            .or_else(|| {
                headers
                    .iter()
                    .position(|h| header_key(h) == header_key(header))
            })
            .ok_or_else(|| {
                invalid(
                    "UNKNOWN_COLUMN",
                    format!(
                        "the file has no column '{}'; its columns are: {}",
                        crate::domain::clip_text(header, 40),
                        headers
                            .iter()
                            .map(|h| crate::domain::clip_text(h, 40))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
            })?;
        if value.len() > 4096 {
            return Err(invalid(
                "CELL_TOO_LONG",
                format!("the value for '{header}' is longer than 4096 characters"),
            ));
        }
        cells[at] = value.clone();
    }
    let mapping = summary.options.columns.clone().unwrap_or_default();
    let layout = CsvLayout::from_headers(headers.clone(), summary.method, &mapping)
        .map_err(|p| conflict("IMPORT_NOT_EDITABLE", p.message))?;
    let order = match summary.date_order.as_deref() {
        Some("dmy") => DateOrder::DayFirst,
        Some("mdy") => DateOrder::MonthFirst,
        _ => DateOrder::Undecided,
    };
    let parsed = layout.input(&cells).parse(
        summary.method,
        summary.options.default_country.as_deref(),
        order,
        today,
    );

    let mut dir = DirectorySnapshot::default();
    for t in store.list_trainings(org).await? {
        if let Ok(tid) = TrainingId::parse(&t.training_id) {
            dir.add_training(Training {
                id: tid,
                title: t.title,
                published: t.published,
            });
        }
    }
    if let Some(key) = &parsed.key {
        let people = store.people_with_key(org, key).await?;
        let training = parsed
            .training_text
            .as_deref()
            .and_then(|t| dir.find_training(t).ok())
            .map(|t| t.id.clone());
        if let (PersonStanding::Ready(pid), Some(tid), Some(date)) = (
            person_standing(summary.method, &match_person(&people)),
            training.clone(),
            parsed.date,
        ) {
            let wanted = HashSet::from([(pid, tid, date.iso())]);
            for (p, t, d) in store.existing_completions(org, &wanted).await? {
                if let Some(date) = CompletionDate::from_iso(&d) {
                    dir.completions.insert((p, t, date));
                }
            }
        } else {
            for (_, row) in store.pending_rows_for_key(org, key).await? {
                if let (Some(t), Some(d)) = (
                    row.training_id
                        .as_deref()
                        .and_then(|t| TrainingId::parse(t).ok()),
                    row.completion_date
                        .as_deref()
                        .and_then(CompletionDate::from_iso),
                ) {
                    dir.pending.insert((key.clone(), t, d));
                }
            }
        }
        dir.people.insert(key.clone(), people);
    }
    let verdict = parsed.decide(summary.method, &dir, &mut HashSet::new());
    let new = RowRecord {
        cells,
        outcome: verdict.outcome,
        issues: verdict.issues,
        warnings: verdict.warnings,
        match_value: verdict.key.as_ref().map(|k| k.value().to_string()),
        person_id: verdict.person_id.map(|p| p.to_string()),
        training_id: verdict.training.as_ref().map(|t| t.id.to_string()),
        training_title: verdict.training.map(|t| t.title),
        completion_date: verdict.date.map(|d| d.iso()),
        fixed_by: Some(by.clone()),
        ..old.clone()
    };
    match store.replace_validated_row(org, id, rows_at, &old, &new).await {
        Ok(()) => Ok(new),
        Err(StoreError::ConditionFailed) => Err(conflict("ROW_CHANGED", format!("row {row_no} changed meanwhile (fixed by someone else, or the import was committed); load it again"))),
        Err(e) => Err(e.into()),
    }
}
