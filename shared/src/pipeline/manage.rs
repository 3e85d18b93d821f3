//! What the API changes: creating imports, the commit request, pending deletes, and the
//! small directory (trainings and the HRIS roster).

use super::{conflict, invalid, PipelineError};
use crate::csv_input::MAX_FILE_BYTES;
use crate::domain::{
    DateOrder, Email, ImportId, ImportStatus, MatchKey, MatchMethod, OrgId, PersonId, PersonName,
    PhoneNumber, RowStatus, TrainingId,
};
use crate::keys;
use crate::store::{
    now_rfc3339, CommitRequest, Condition, ImportOptions, ImportSummary, PersonProfile, Stamp,
    Store, StoreError, TrainingRecord,
};
use aws_sdk_dynamodb::types::AttributeValue;
use std::time::Duration;

/// How long a presigned upload URL stays valid.
pub const UPLOAD_URL_TTL: Duration = Duration::from_secs(15 * 60);
pub const CSV_CONTENT_TYPE: &str = "text/csv";

pub struct NewImport {
    pub method: MatchMethod,
    pub file_name: String,
    pub options: ImportOptions,
    /// Pasted CSV text; without it the caller gets an upload URL.
    pub csv_text: Option<String>,
    /// The size in bytes of the file to upload (needed for an upload URL).
    pub size: Option<u64>,
    /// Who creates it (none for a file dropped into the bucket).
    pub by: Option<Stamp>,
    /// Validate the file of this import again (with these options): no text, no upload.
    pub from_import: Option<ImportId>,
}

pub struct CreatedImport {
    pub summary: ImportSummary,
    pub upload_url: Option<String>,
}

pub fn check_options(options: &ImportOptions) -> Result<ImportOptions, PipelineError> {
    let mut out = options.clone();
    if let Some(c) = &options.default_country {
        let upper = c.trim().to_ascii_uppercase();
        if crate::domain::phone_region(&upper).is_none() {
            return Err(invalid("INVALID_OPTION", format!("default_country '{c}' is not an ISO 3166 two-letter country code such as US, GB or DE")));
        }
        out.default_country = Some(upper);
    }
    if let Some(columns) = &options.columns {
        crate::csv_input::check_mapping(columns).map_err(|m| invalid("INVALID_OPTION", m))?;
    }
    if let Some(f) = &options.date_format {
        DateOrder::from_option(f).map_err(|m| invalid("INVALID_OPTION", m))?;
        out.date_format = Some(f.trim().to_ascii_lowercase());
    }
    Ok(out)
}

/// The name an import is shown and downloaded under, from what a user or a dropping
/// system wrote: the last path part, no control characters, quotes or backslashes (they
/// would break a `content-disposition` header), at most 200 characters.
pub(crate) fn clean_file_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = base
        .chars()
        .filter(|c| !c.is_control())
        .map(|c| if c == '"' { '_' } else { c })
        .take(200)
        .collect();
    if cleaned.trim().is_empty() {
        "import.csv".into()
    } else {
        cleaned
    }
}

pub async fn create_import(
    store: &Store,
    org: &OrgId,
    new: NewImport,
) -> Result<CreatedImport, PipelineError> {
    let options = check_options(&new.options)?;
    if let Some(from) = &new.from_import {
        return validate_again(store, org, from, new.method, options, new.by).await;
    }
    let id = ImportId::generate();
    let key = keys::s3::upload_key(org, &id);
    let source = if new.csv_text.is_some() {
        "paste"
    } else {
        "upload"
    };
    let mut summary = ImportSummary::new(
        org,
        &id,
        new.method,
        &clean_file_name(&new.file_name),
        source,
        &key,
        options,
    );
    summary.created_by = new.by.clone();
    if let Some(text) = &new.csv_text {
        if text.trim().is_empty() {
            return Err(invalid(
                "EMPTY_CSV",
                "the pasted CSV is empty: paste the header row and at least one data row",
            ));
        }
        if text.len() as u64 > MAX_FILE_BYTES {
            return Err(invalid(
                "FILE_TOO_LARGE",
                "the pasted CSV is too large: upload it as a file instead",
            ));
        }
    }
    if new.csv_text.is_none() {
        match new.size {
            None => return Err(invalid(
                "MISSING_SIZE",
                "give the file's size in bytes (size) to get an upload URL, or paste the CSV (csv)",
            )),
            Some(0) => {
                return Err(invalid(
                    "EMPTY_CSV",
                    "the file is empty: it needs a header row and at least one data row",
                ))
            }
            Some(n) if n > MAX_FILE_BYTES => {
                return Err(invalid(
                    "FILE_TOO_LARGE",
                    format!(
                        "the file is {} MB; the limit is {} MB. Split it into smaller files.",
                        n / 1_048_576,
                        MAX_FILE_BYTES / 1_048_576
                    ),
                ))
            }
            Some(_) => {}
        }
    }
    store.create_import(&summary).await?;
    let Some(text) = new.csv_text else {
        let url = store
            .presign_upload(
                &key,
                CSV_CONTENT_TYPE,
                new.size.unwrap_or_default(),
                UPLOAD_URL_TTL,
            )
            .await?;
        return Ok(CreatedImport {
            summary,
            upload_url: Some(url),
        });
    };
    // Status first, then the object: the object's event finds the import `uploaded`.
    let summary = store
        .transition_import(
            org,
            &id,
            &[ImportStatus::Created],
            ImportStatus::Uploaded,
            vec![],
            None,
        )
        .await?;
    store
        .put_object(&key, CSV_CONTENT_TYPE, text.into_bytes())
        .await?;
    Ok(CreatedImport {
        summary,
        upload_url: None,
    })
}

/// A new import of an earlier import's file, validated with other options (a column
/// mapping, the date order, the country): the object is copied inside the bucket under
/// the new import's key, whose event starts the validation as an upload's does. The
/// earlier import stays as it was.
async fn validate_again(
    store: &Store,
    org: &OrgId,
    from: &ImportId,
    method: MatchMethod,
    options: ImportOptions,
    by: Option<Stamp>,
) -> Result<CreatedImport, PipelineError> {
    let source = get_import(store, org, from).await?;
    if source.status == ImportStatus::Created {
        return Err(conflict(
            "IMPORT_NOT_UPLOADED",
            "that import's file was never uploaded: upload the file as a new import",
        ));
    }
    let id = ImportId::generate();
    let key = keys::s3::upload_key(org, &id);
    let mut summary = ImportSummary::new(
        org,
        &id,
        method,
        &source.file_name,
        &source.source,
        &key,
        options,
    );
    summary.created_by = by;
    summary.from_import = Some(from.to_string());
    store.create_import(&summary).await?;
    // Status first, then the object: the object's event finds the import `uploaded`.
    let summary = store
        .transition_import(
            org,
            &id,
            &[ImportStatus::Created],
            ImportStatus::Uploaded,
            vec![],
            None,
        )
        .await?;
    store.copy_object(&source.object_key, &key).await?;
    Ok(CreatedImport {
        summary,
        upload_url: None,
    })
}

/// What an admin looks at to map a file's columns: the header row, the first rows, how
/// the file was read, and the mapping the organisation gave last for these headers.
pub struct ImportPreview {
    pub preview: crate::csv_input::Preview,
    pub remembered: Option<crate::store::RememberedMapping>,
}

/// Bytes of the file read for a preview: enough for the header and a few rows of any
/// file an admin would look at.
pub const PREVIEW_BYTES: u64 = 64 * 1024;
/// Data rows in a preview.
pub const PREVIEW_ROWS: usize = 3;

pub async fn preview_import(
    store: &Store,
    org: &OrgId,
    id: &ImportId,
) -> Result<ImportPreview, PipelineError> {
    let summary = get_import(store, org, id).await?;
    if summary.status == ImportStatus::Created {
        return Err(conflict(
            "IMPORT_NOT_UPLOADED",
            "the file of this import was never uploaded, so there is nothing to show",
        ));
    }
    let head = store
        .read_object_start(&summary.object_key, PREVIEW_BYTES)
        .await?;
    let preview = crate::csv_input::preview(&head[..], PREVIEW_ROWS).map_err(|p| {
        PipelineError::Conflict {
            code: "FILE_NOT_READABLE",
            message: format!("the file cannot be shown: {}", p.message),
        }
    })?;
    let remembered = store.remembered_mapping(org, &preview.headers).await?;
    Ok(ImportPreview {
        preview,
        remembered,
    })
}

/// Deletes an import whose file never arrived (an upload cancelled or failed): it has no
/// rows. Any other import stays (its rows are a record of what was imported).
pub async fn delete_unuploaded_import(
    store: &Store,
    org: &OrgId,
    id: &ImportId,
) -> Result<(), PipelineError> {
    get_import(store, org, id).await?;
    match store.delete_import_if_created(org, id).await {
        Ok(()) => Ok(()),
        Err(StoreError::ConditionFailed) => Err(conflict(
            "IMPORT_UPLOADED",
            "only an import whose file never arrived can be deleted; this one has its file",
        )),
        Err(e) => Err(e.into()),
    }
}

/// How long an import may sit in `validating` or `importing` without progress before it
/// is treated as stopped. Lambda runs a function for 15 minutes at most.
pub const STALE_AFTER: chrono::Duration = chrono::Duration::minutes(16);
/// How many times a stopped commit is started again before the import is failed.
pub const MAX_COMMIT_RESUMES: u64 = 3;

pub async fn get_import(
    store: &Store,
    org: &OrgId,
    id: &ImportId,
) -> Result<ImportSummary, PipelineError> {
    let summary = store
        .get_import(org, id)
        .await?
        .ok_or(PipelineError::NotFound { what: "import" })?;
    recover_if_stopped(store, summary).await
}

fn is_stale(summary: &ImportSummary) -> bool {
    chrono::DateTime::parse_from_rfc3339(&summary.updated_at)
        .map(|t| chrono::Utc::now().signed_duration_since(t) > STALE_AFTER)
        .unwrap_or(false)
}

/// Nothing stays in `validating` or `importing` forever: a validation that stopped (the
/// worker crashed or timed out and its retries ran out) ends `failed` with a reason; a
/// commit that stopped is started again, since its rows are half moved, up to
/// MAX_COMMIT_RESUMES times.
pub async fn recover_if_stopped(
    store: &Store,
    summary: ImportSummary,
) -> Result<ImportSummary, PipelineError> {
    if !is_stale(&summary) {
        return Ok(summary);
    }
    let org = OrgId::parse(&summary.org_id).map_err(StoreError::Corrupt)?;
    let id = ImportId::parse(&summary.import_id).map_err(StoreError::Corrupt)?;
    let result = match summary.status {
        ImportStatus::Validating => {
            let problem = crate::domain::FileProblem::new(
                "PROCESSING_STOPPED",
                "validation stopped before it finished (the worker crashed or ran out of time). Upload the file again as a new import; if it happens again, split the file.",
            );
            tracing::warn!(org = %org, import = %id, "validation stopped; import marked failed");
            store.fail_import(&org, &id, &problem).await
        }
        ImportStatus::Importing if summary.commit_resumes < MAX_COMMIT_RESUMES => {
            tracing::warn!(org = %org, import = %id, resumes = summary.commit_resumes, "commit stopped; starting it again");
            let resumed = store
                .transition_import(
                    &org,
                    &id,
                    &[ImportStatus::Importing],
                    ImportStatus::Importing,
                    vec![(
                        "commit_resumes",
                        AttributeValue::N((summary.commit_resumes + 1).to_string()),
                    )],
                    None,
                )
                .await;
            if resumed.is_ok() {
                let request = summary.commit.clone().unwrap_or_default();
                super::commit::send_commit_request(
                    store,
                    &org,
                    &id,
                    &request,
                    Some(("resume", summary.commit_resumes + 1)),
                )
                .await?;
            }
            resumed
        }
        ImportStatus::Importing => {
            let problem = crate::domain::FileProblem::new(
                "PROCESSING_STOPPED",
                "the import stopped several times before it finished; the rows already imported are kept. Contact support with this import's id.",
            );
            store.fail_import(&org, &id, &problem).await
        }
        _ => return Ok(summary),
    };
    match result {
        Ok(s) => Ok(s),
        // Someone else moved it meanwhile: show what is there now.
        Err(StoreError::ConditionFailed) => store
            .get_import(&org, &id)
            .await?
            .ok_or(PipelineError::NotFound { what: "import" }),
        Err(e) => Err(e.into()),
    }
}

/// The Import click. Clicking again while the commit runs, or after, answers with the
/// current summary and starts nothing new.
pub async fn request_commit(
    store: &Store,
    org: &OrgId,
    id: &ImportId,
    skip_invalid_rows: bool,
    by: &Stamp,
) -> Result<ImportSummary, PipelineError> {
    let request = CommitRequest {
        skip_invalid_rows,
        requested_at: now_rfc3339(),
        by: Some(by.clone()),
        finished_at: None,
        waiting_groups: true,
    };
    let commit_av = serde_dynamo::to_attribute_value(&request)
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let result = store
        .transition_import(
            org,
            id,
            &[ImportStatus::Validated],
            ImportStatus::Importing,
            vec![("commit", commit_av)],
            Some(Condition {
                expression: "outcomes.#err = :zero OR :skip = :yes",
                names: vec![("#err", "error")],
                values: vec![
                    (":zero", AttributeValue::N("0".into())),
                    (":skip", AttributeValue::Bool(skip_invalid_rows)),
                    (":yes", AttributeValue::Bool(true)),
                ],
            }),
        )
        .await;
    let summary = match result {
        Ok(s) => s,
        Err(StoreError::ConditionFailed) => {
            let current = get_import(store, org, id).await?;
            return match current.status {
                ImportStatus::Importing | ImportStatus::Imported => Ok(current),
                ImportStatus::Validated => Err(conflict(
                    "IMPORT_HAS_ERRORS",
                    format!(
                        "{} rows have errors. Fix them and upload the corrected file as a new import, or import with skip_invalid_rows=true to leave them out.",
                        current.outcomes.error
                    ),
                )),
                ImportStatus::Failed => Err(conflict("IMPORT_FAILED", "this import failed validation and cannot be imported; upload a corrected file as a new import")),
                other => Err(conflict("IMPORT_NOT_VALIDATED", format!("the import is '{other}': wait until validation has finished"))),
            };
        }
        Err(e) => return Err(e.into()),
    };
    super::commit::send_commit_request(store, org, id, &request, None).await?;
    Ok(summary)
}

/// Reads of a row a delete was refused for while it still reads pending (100 ms apart).
const BUSY_ROW_READS: usize = 30;

/// Deletes one pending row. An applied row answers ROW_ALREADY_APPLIED.
pub async fn delete_pending_row(
    store: &Store,
    org: &OrgId,
    id: &ImportId,
    row: u64,
    by: &Stamp,
) -> Result<crate::store::RowRecord, PipelineError> {
    let layout = crate::store::RowLayout::of(&get_import(store, org, id).await?);
    let refused = match store.delete_pending_row(org, id, layout, row, by).await {
        Ok(()) => false,
        Err(StoreError::ConditionFailed) => true,
        Err(e) => return Err(e.into()),
    };
    let mut record = store
        .get_row(org, id, layout, row)
        .await?
        .ok_or(PipelineError::NotFound { what: "row" })?;
    // Refused yet still pending: a sign-up is applying the row's group (it ends within
    // moments), or the commit has not put its group yet. Wait for it a little.
    for _ in 0..BUSY_ROW_READS {
        if !(refused && record.status == RowStatus::Pending) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        record = store
            .get_row(org, id, layout, row)
            .await?
            .ok_or(PipelineError::NotFound { what: "row" })?;
    }
    match record.status {
        RowStatus::Pending if refused => Err(conflict(
            "ROW_BUSY",
            format!("row {row} cannot be deleted at this moment: it is being applied to a person who signed up, or the import's commit is still finishing. Try again in a few seconds."),
        )),
        RowStatus::Deleted => Ok(record),
        RowStatus::Applied => Err(conflict(
            "ROW_ALREADY_APPLIED",
            format!(
                "row {row} was applied when the person signed up{}; applied completions cannot be deleted through imports",
                record.applied_at.as_deref().map(|a| format!(" ({a})")).unwrap_or_default()
            ),
        )),
        RowStatus::Imported => Err(conflict("ROW_NOT_PENDING", format!("row {row} was imported; only pending rows can be deleted"))),
        other => Err(conflict("ROW_NOT_PENDING", format!("row {row} is '{other}'; only pending rows can be deleted"))),
    }
}

#[derive(Debug, Default, serde::Serialize)]
pub struct BulkDelete {
    pub deleted: usize,
    /// Rows applied by a sign-up while the delete ran.
    pub no_longer_pending: usize,
    /// Set when the time ran out first: call again with it to go on (rows before it are
    /// done). Absent when every pending row was dealt with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// Pending rows a bulk delete reads at a time.
pub const BULK_DELETE_PAGE: usize = 500;
/// How long one bulk delete request works before it answers with a cursor to go on
/// from: API Gateway gives a request 29 s.
pub const BULK_DELETE_BUDGET: std::time::Duration = std::time::Duration::from_secs(20);

/// Deletes an import's pending rows from `cursor` on, in batched transactions, until
/// they are all done or `budget` is used up (then `next_cursor` says where to go on).
pub async fn delete_all_pending(
    store: &Store,
    org: &OrgId,
    id: &ImportId,
    cursor: Option<&str>,
    budget: std::time::Duration,
    by: &Stamp,
) -> Result<BulkDelete, PipelineError> {
    let started = std::time::Instant::now();
    let summary = get_import(store, org, id).await?;
    // Rows wait for a sign-up only once the commit has made them pending: an import not
    // committed has none, and its rows are not read to find that out.
    if !matches!(
        summary.status,
        ImportStatus::Importing | ImportStatus::Imported
    ) {
        return Ok(BulkDelete::default());
    }
    store
        .stamp_import(org, id, "pending_deleted_by", by)
        .await?;
    let mut out = BulkDelete::default();
    let mut cursor = cursor.map(str::to_string);
    loop {
        let page = match store
            .list_rows(
                org,
                id,
                crate::store::RowLayout::of(&summary),
                None,
                Some(RowStatus::Pending),
                BULK_DELETE_PAGE,
                cursor.as_deref(),
            )
            .await
        {
            Ok(p) => p,
            Err(StoreError::Corrupt(_)) => {
                return Err(invalid(
                    "INVALID_CURSOR",
                    "the cursor is not one this API gave out",
                ))
            }
            Err(e) => return Err(e.into()),
        };
        let (deleted, gone) = store
            .delete_pending_rows(
                org,
                id,
                crate::store::RowLayout::of(&summary),
                &page.rows,
                by,
            )
            .await?;
        out.deleted += deleted;
        out.no_longer_pending += gone;
        match page.next_cursor {
            Some(c) if started.elapsed() >= budget => {
                out.next_cursor = Some(c);
                return Ok(out);
            }
            Some(c) => cursor = Some(c),
            None => return Ok(out),
        }
    }
}

// ---- directory ------------------------------------------------------------------------

pub async fn create_training(
    store: &Store,
    org: &OrgId,
    title: &str,
    published: bool,
    id: Option<&str>,
    by: &Stamp,
) -> Result<TrainingRecord, PipelineError> {
    let title = title.split_whitespace().collect::<Vec<_>>().join(" ");
    if title.is_empty() || title.chars().count() > 200 {
        return Err(invalid(
            "INVALID_TITLE",
            "the title must have 1 to 200 characters",
        ));
    }
    let training_id = match id {
        Some(raw) => TrainingId::parse(raw).map_err(|m| invalid("INVALID_ID", m))?,
        None => TrainingId::generate(),
    };
    if store.get_training(org, &training_id).await?.is_some() {
        return Err(conflict(
            "TRAINING_EXISTS",
            format!("a training with ID '{training_id}' exists already"),
        ));
    }
    let record = TrainingRecord {
        training_id: training_id.to_string(),
        title,
        published,
        created_at: now_rfc3339(),
        changed_by: Some(by.clone()),
    };
    store.put_training(org, &record).await?;
    Ok(record)
}

pub async fn publish_training(
    store: &Store,
    org: &OrgId,
    id: &TrainingId,
    published: bool,
    by: &Stamp,
) -> Result<TrainingRecord, PipelineError> {
    match store.set_training_published(org, id, published, by).await {
        Ok(t) => Ok(t),
        Err(StoreError::ConditionFailed) => Err(PipelineError::NotFound { what: "training" }),
        Err(e) => Err(e.into()),
    }
}

pub struct NewRosterPerson {
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub employee_id: Option<String>,
    pub default_country: Option<String>,
}

/// Adds a person known before sign-up (from the HR system) to the roster.
pub async fn add_roster_person(
    store: &Store,
    org: &OrgId,
    new: NewRosterPerson,
    by: &Stamp,
) -> Result<PersonProfile, PipelineError> {
    let mut keys = Vec::new();
    let mut profile = PersonProfile {
        person_id: PersonId::generate().to_string(),
        created_at: now_rfc3339(),
        added_by: Some(by.clone()),
        ..Default::default()
    };
    if let Some(e) = new.employee_id.as_deref().filter(|s| !s.trim().is_empty()) {
        let key = MatchKey::employee_id(e).map_err(|m| invalid("INVALID_EMPLOYEE_ID", m))?;
        if !store.people_with_key(org, &key).await?.is_empty() {
            return Err(conflict(
                "EMPLOYEE_ID_TAKEN",
                format!("employee ID '{}' is already on the roster", key.value()),
            ));
        }
        profile.employee_id = Some(key.value().to_string());
        keys.push(key);
    }
    if let Some(e) = new.email.as_deref().filter(|s| !s.trim().is_empty()) {
        let email = Email::parse(e).map_err(|m| invalid("INVALID_EMAIL", m))?;
        profile.email = Some(email.as_str().to_string());
        keys.push(MatchKey::email(&email));
    }
    if let Some(p) = new.phone.as_deref().filter(|s| !s.trim().is_empty()) {
        let phone = PhoneNumber::parse(p, new.default_country.as_deref())
            .map_err(|m| invalid("INVALID_PHONE", m))?;
        profile.phone = Some(phone.as_str().to_string());
        keys.push(MatchKey::phone(&phone));
    }
    if let Some(n) = new.name.as_deref().filter(|s| !s.trim().is_empty()) {
        let name = PersonName::parse(n).map_err(|m| invalid("INVALID_NAME", m))?;
        profile.name = Some(n.split_whitespace().collect::<Vec<_>>().join(" "));
        keys.push(MatchKey::name(&name));
    }
    if keys.is_empty() {
        return Err(invalid(
            "PERSON_NEEDS_A_KEY",
            "give at least one of employee_id, email, phone or name",
        ));
    }
    store.put_person(org, &profile, &keys).await?;
    Ok(profile)
}
