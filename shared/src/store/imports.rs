//! Imports: the summary item and the row items, and the conditional writes that move
//! them through their lifecycle. Every count change after the commit happens in the
//! same transaction as the row change it counts; the commit's own moves are counted a
//! page at a time (store::commit), so a summary equals what its rows say.

use super::items::{from_item, keyed, Stamp};
use super::schema::{
    ERRORS_INDEX, ERRORS_INDEX_PK, ERRORS_INDEX_SK, IMPORTS_INDEX, IMPORTS_INDEX_PK,
    IMPORTS_INDEX_SK, PENDING_INDEX, PENDING_INDEX_PK, PENDING_INDEX_SK,
};
use super::write::{Item, TxOutcome};
use super::{now_rfc3339, service, Store, StoreError, StoreResult};
use crate::domain::{
    FileProblem, ImportId, ImportStatus, Issue, MatchKey, MatchMethod, OrgId, Outcome, PersonId,
    RowStatus, TrainingId,
};
use crate::keys;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, TransactWriteItem, Update};
use base64::Engine;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

pub(super) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}
pub(super) fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct ImportOptions {
    /// ISO 3166 alpha-2 country for phone numbers written without a country code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_country: Option<String>,
    /// `auto` (default), `dmy` or `mdy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_format: Option<String>,
    /// Header names for roles when the aliases do not fit: `{"email": "Correo"}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub columns: Option<std::collections::BTreeMap<String, String>>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct OutcomeCounts {
    pub ready: u64,
    pub pending: u64,
    pub error: u64,
    pub skipped: u64,
}

impl OutcomeCounts {
    pub fn add(&mut self, o: Outcome) {
        match o {
            Outcome::Ready => self.ready += 1,
            Outcome::Pending => self.pending += 1,
            Outcome::Error => self.error += 1,
            Outcome::Skipped => self.skipped += 1,
        }
    }
}

/// Rows by lifecycle status after the commit (`validated` rows are not counted).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct StatusCounts {
    pub imported: i64,
    pub pending: i64,
    pub applied: i64,
    pub deleted: i64,
    pub not_imported: i64,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct CommitRequest {
    pub skip_invalid_rows: bool,
    pub requested_at: String,
    /// Who clicked Import.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<Stamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ImportSummary {
    pub import_id: String,
    pub org_id: String,
    pub method: MatchMethod,
    pub status: ImportStatus,
    pub file_name: String,
    /// `upload`, `paste` or `drop`.
    pub source: String,
    pub object_key: String,
    #[serde(default)]
    pub options: ImportOptions,
    pub created_at: String,
    pub updated_at: String,
    /// Who created the import (none for a file dropped into the bucket).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<Stamp>,
    /// Who last deleted all of its pending rows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_deleted_by: Option<Stamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<FileProblem>,
    #[serde(default)]
    pub headers: Vec<String>,
    #[serde(default)]
    pub ignored_columns: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_order: Option<String>,
    /// The text encoding the file was read in (`UTF-8`, `windows-1250`, `macintosh`...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding: Option<String>,
    /// The delimiter picked from the header line: `,`, `;` or `tab`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delimiter: Option<String>,
    /// The import whose file this one validates again (with other options or mapping).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_import: Option<String>,
    #[serde(default)]
    pub rows_total: u64,
    #[serde(default)]
    pub outcomes: OutcomeCounts,
    #[serde(default)]
    pub statuses: StatusCounts,
    #[serde(default)]
    pub issues: BTreeMap<String, u64>,
    /// Data rows in the file, from the validation's first pass (known once `validating`
    /// is under way), and rows checked and written so far (progress while `validating`).
    #[serde(default)]
    pub rows_in_file: u64,
    #[serde(default)]
    pub rows_validated: u64,
    /// Rows the commit has finished with (progress while `importing`).
    #[serde(default)]
    pub rows_committed: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<CommitRequest>,
    /// Times a stopped commit was started again.
    #[serde(default)]
    pub commit_resumes: u64,
}

impl ImportSummary {
    pub fn new(
        org: &OrgId,
        id: &ImportId,
        method: MatchMethod,
        file_name: &str,
        source: &str,
        object_key: &str,
        options: ImportOptions,
    ) -> ImportSummary {
        let now = now_rfc3339();
        ImportSummary {
            import_id: id.to_string(),
            org_id: org.to_string(),
            method,
            status: ImportStatus::Created,
            file_name: file_name.to_string(),
            source: source.to_string(),
            object_key: object_key.to_string(),
            options,
            created_at: now.clone(),
            updated_at: now,
            created_by: None,
            pending_deleted_by: None,
            failure: None,
            headers: vec![],
            ignored_columns: vec![],
            date_order: None,
            encoding: None,
            delimiter: None,
            from_import: None,
            rows_total: 0,
            outcomes: OutcomeCounts::default(),
            statuses: StatusCounts::default(),
            issues: BTreeMap::new(),
            rows_in_file: 0,
            rows_validated: 0,
            rows_committed: 0,
            commit: None,
            commit_resumes: 0,
        }
    }
}

/// One data row of an import as stored.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RowRecord {
    pub import_id: String,
    /// The row's line in the file (the header is line 1); also its id.
    pub row: u64,
    pub cells: Vec<String>,
    pub outcome: Outcome,
    pub status: RowStatus,
    #[serde(default)]
    pub issues: Vec<Issue>,
    /// Shown on the row; they do not change its outcome.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<Issue>,
    pub match_method: MatchMethod,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub match_value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub training_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub training_title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_date: Option<String>,
    /// Why the commit did not import a row it was asked to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit_note: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imported_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<String>,
    /// Who fixed the row in place, imported it (clicked Import), or deleted it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed_by: Option<Stamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imported_by: Option<Stamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_by: Option<Stamp>,
    /// The account (Cognito `sub`) whose sign-up or sign-in applied the row.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied_to_account: Option<String>,
}

impl RowRecord {
    pub fn match_key(&self) -> Option<MatchKey> {
        self.match_value
            .as_deref()
            .map(|v| MatchKey::from_stored(self.match_method, v))
    }
}

/// Items the row-status counts of one import are spread over.
pub const COUNT_SHARDS: u64 = 16;
const COUNTS_PREFIX: &str = "COUNTS#";

/// Rows in one delete transaction, beside their count shard (DynamoDB allows 100 items).
pub const DELETE_ROWS_PER_TRANSACTION: usize = 99;
/// Delete transactions of one request in flight at once.
pub const DELETE_CONCURRENCY: usize = 4;

/// Items in one apply transaction (DynamoDB allows 100).
pub const APPLY_ITEMS_PER_TRANSACTION: usize = 96;
/// Apply transactions of one sign-up in flight at once.
pub const APPLY_CONCURRENCY: usize = 4;

/// Splits rows into transactions: each row costs two items (row, completion) and each
/// import one count shard; a transaction may not touch one completion twice (two
/// imports holding the same completion pending), so such a row goes to another.
fn plan_apply_transactions(rows: &[(ImportId, RowRecord)]) -> Vec<Vec<&(ImportId, RowRecord)>> {
    struct Group<'a> {
        rows: Vec<&'a (ImportId, RowRecord)>,
        imports: std::collections::HashSet<&'a str>,
        completions: std::collections::HashSet<(&'a str, &'a str)>,
    }
    // Rows of one import side by side, so that a transaction moves few imports' counts:
    // a pending index read gives them in match-key order, imports interleaved.
    let mut sorted: Vec<&(ImportId, RowRecord)> = rows.iter().collect();
    sorted.sort_by(|(a, ra), (b, rb)| a.as_str().cmp(b.as_str()).then(ra.row.cmp(&rb.row)));
    let mut groups: Vec<Group> = Vec::new();
    for entry in sorted {
        let (import, row) = entry;
        let completion = (
            row.training_id.as_deref().unwrap_or(""),
            row.completion_date.as_deref().unwrap_or(""),
        );
        let fits = |g: &Group| {
            let cost = 2 + usize::from(!g.imports.contains(import.as_str()));
            g.rows.len() * 2 + g.imports.len() + cost <= APPLY_ITEMS_PER_TRANSACTION
                && !g.completions.contains(&completion)
        };
        let at = match groups.iter().position(fits) {
            Some(i) => i,
            None => {
                groups.push(Group {
                    rows: vec![],
                    imports: Default::default(),
                    completions: Default::default(),
                });
                groups.len() - 1
            }
        };
        let g = &mut groups[at];
        g.rows.push(entry);
        g.imports.insert(import.as_str());
        g.completions.insert(completion);
    }
    groups.into_iter().map(|g| g.rows).collect()
}

/// A row as an item. Every write of a whole row goes through here, so that a row is in
/// the errors index exactly while its outcome is `error`.
pub(super) fn row_item(org: &OrgId, id: &ImportId, row: &RowRecord) -> super::write::Item {
    let mut item = keyed(keys::import_pk(org, id), keys::row_sk(row.row), row);
    if row.outcome == Outcome::Error {
        item.insert(ERRORS_INDEX_PK.into(), s(keys::import_pk(org, id)));
        item.insert(ERRORS_INDEX_SK.into(), s(keys::row_sk(row.row)));
    }
    item
}

fn counts_sk(shard: u64) -> String {
    format!("{COUNTS_PREFIX}{shard:02}")
}

/// Rows a filtered listing reads before it answers with a partial page and a cursor.
const MAX_EXAMINED_PER_PAGE: usize = 20_000;

pub struct RowPage {
    pub rows: Vec<RowRecord>,
    pub next_cursor: Option<String>,
}

/// An extra condition for [`Store::transition_import`], with its names and values.
pub struct Condition<'a> {
    pub expression: &'a str,
    pub names: Vec<(&'a str, &'a str)>,
    pub values: Vec<(&'a str, AttributeValue)>,
}

/// What the commit does with one row.
#[derive(Clone, Debug)]
pub enum RowTransition {
    Import {
        person: PersonId,
        training: TrainingId,
        title: String,
        date: String,
    },
    Wait {
        key: MatchKey,
        person: Option<PersonId>,
    },
    Skip {
        note: Option<String>,
    },
}

pub(super) fn status_path(status: RowStatus) -> &'static str {
    match status {
        RowStatus::Imported => "imported",
        RowStatus::Pending => "pending",
        RowStatus::Applied => "applied",
        RowStatus::Deleted => "deleted",
        RowStatus::NotImported | RowStatus::Validated => "not_imported",
    }
}

fn encode_cursor(key: &Item) -> Option<String> {
    let sk = key.get("sk")?.as_s().ok()?;
    Some(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sk))
}

/// The cursor of [`Store::list_rows`] that goes on after this row (whatever the filter):
/// for a caller that hands out fewer rows than it read.
pub fn cursor_after_row(row: u64) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(keys::row_sk(row))
}

fn decode_cursor(cursor: &str) -> Result<String, StoreError> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| StoreError::Corrupt("cursor".into()))?;
    let sk = String::from_utf8(raw).map_err(|_| StoreError::Corrupt("cursor".into()))?;
    if !sk.starts_with("ROW#") && !sk.starts_with("IMPORT#") && !sk.contains('#') {
        return Err(StoreError::Corrupt("cursor".into()));
    }
    Ok(sk)
}

impl Store {
    fn summary_key(&self, org: &OrgId, id: &ImportId) -> (AttributeValue, AttributeValue) {
        (s(keys::import_pk(org, id)), s(keys::SUMMARY_SK))
    }

    pub(super) fn summary_update(
        &self,
        org: &OrgId,
        id: &ImportId,
    ) -> aws_sdk_dynamodb::types::builders::UpdateBuilder {
        let (pk, sk) = self.summary_key(org, id);
        Update::builder()
            .table_name(&self.table)
            .key("pk", pk)
            .key("sk", sk)
    }

    /// An UpdateItem request on the import's summary, keys set.
    pub(super) fn update_summary_item(
        &self,
        org: &OrgId,
        id: &ImportId,
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        let (pk, sk) = self.summary_key(org, id);
        self.ddb
            .update_item()
            .table_name(&self.table)
            .key("pk", pk)
            .key("sk", sk)
    }

    /// Creates the summary; ConditionFailed when an import with this id exists.
    pub async fn create_import(&self, summary: &ImportSummary) -> StoreResult<()> {
        let org = OrgId::parse(&summary.org_id).map_err(StoreError::Corrupt)?;
        let id = ImportId::parse(&summary.import_id).map_err(StoreError::Corrupt)?;
        let mut item = keyed(keys::import_pk(&org, &id), keys::SUMMARY_SK.into(), summary);
        item.insert(IMPORTS_INDEX_PK.into(), s(keys::imports_index_pk(&org)));
        item.insert(
            IMPORTS_INDEX_SK.into(),
            s(format!("{}#{}", summary.created_at, summary.import_id)),
        );
        self.write_point("create import")?;
        let out = self
            .ddb
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match out {
            Ok(_) => Ok(()),
            Err(e) => match e.into_service_error() {
                aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(_) => Err(StoreError::ConditionFailed),
                other => Err(service("create import")(other)),
            },
        }
    }

    /// Deletes an import's summary if its file never arrived (status `created`: no rows,
    /// no counts). `ConditionFailed` otherwise.
    pub async fn delete_import_if_created(&self, org: &OrgId, id: &ImportId) -> StoreResult<()> {
        self.write_point("delete import")?;
        let out = self
            .ddb
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(keys::import_pk(org, id)))
            .key("sk", s(keys::SUMMARY_SK))
            .condition_expression("#status = :created")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":created", s(ImportStatus::Created.as_str()))
            .send()
            .await;
        match out {
            Ok(_) => Ok(()),
            Err(e) => match e.into_service_error() {
                aws_sdk_dynamodb::operation::delete_item::DeleteItemError::ConditionalCheckFailedException(_) => Err(StoreError::ConditionFailed),
                other => Err(service("delete import")(other)),
            },
        }
    }

    pub async fn get_import(
        &self,
        org: &OrgId,
        id: &ImportId,
    ) -> StoreResult<Option<ImportSummary>> {
        let (pk, sk) = self.summary_key(org, id);
        let out = self
            .ddb
            .get_item()
            .table_name(&self.table)
            .key("pk", pk)
            .key("sk", sk)
            .consistent_read(true)
            .send()
            .await
            .map_err(service("get import"))?;
        let Some(item) = out.item else {
            return Ok(None);
        };
        let mut summary: ImportSummary = from_item(item)?;
        self.fill_counts(org, id, &mut summary).await?;
        Ok(Some(summary))
    }

    /// An organisation's imports, newest first.
    pub async fn list_imports(
        &self,
        org: &OrgId,
        limit: i32,
        cursor: Option<&str>,
    ) -> StoreResult<(Vec<ImportSummary>, Option<String>)> {
        let start = match cursor {
            Some(c) => {
                let created_key = decode_cursor(c)?;
                let import_id = created_key
                    .rsplit('#')
                    .next()
                    .unwrap_or_default()
                    .to_string();
                let id = ImportId::parse(&import_id).map_err(StoreError::Corrupt)?;
                Some(HashMap::from([
                    ("pk".to_string(), s(keys::import_pk(org, &id))),
                    ("sk".to_string(), s(keys::SUMMARY_SK)),
                    (IMPORTS_INDEX_PK.to_string(), s(keys::imports_index_pk(org))),
                    (IMPORTS_INDEX_SK.to_string(), s(created_key)),
                ]))
            }
            None => None,
        };
        let out = self
            .ddb
            .query()
            .table_name(&self.table)
            .index_name(IMPORTS_INDEX)
            .key_condition_expression("#p = :p")
            .expression_attribute_names("#p", IMPORTS_INDEX_PK)
            .expression_attribute_values(":p", s(keys::imports_index_pk(org)))
            .scan_index_forward(false)
            .limit(limit)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(service("list imports"))?;
        let next = out.last_evaluated_key.as_ref().and_then(|k| {
            let ck = k.get(IMPORTS_INDEX_SK)?.as_s().ok()?;
            Some(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(ck))
        });
        let mut items = out
            .items
            .unwrap_or_default()
            .into_iter()
            .map(from_item::<ImportSummary>)
            .collect::<StoreResult<Vec<_>>>()?;
        use futures::stream::{self, TryStreamExt};
        stream::iter(items.iter_mut().map(Ok::<_, StoreError>))
            .try_for_each_concurrent(8, |summary| async move {
                let id = ImportId::parse(&summary.import_id).map_err(StoreError::Corrupt)?;
                self.fill_counts(org, &id, summary).await
            })
            .await?;
        Ok((items, next))
    }

    /// Moves an import from one of `from` to `to`, setting the given extra attributes.
    /// Returns the new summary; ConditionFailed when the import is in another status.
    pub async fn transition_import(
        &self,
        org: &OrgId,
        id: &ImportId,
        from: &[ImportStatus],
        to: ImportStatus,
        extra: Vec<(&str, AttributeValue)>,
        extra_condition: Option<Condition<'_>>,
    ) -> StoreResult<ImportSummary> {
        let (pk, sk) = self.summary_key(org, id);
        let mut sets = vec!["#status = :to".to_string(), "updated_at = :now".to_string()];
        let mut req = self
            .ddb
            .update_item()
            .table_name(&self.table)
            .key("pk", pk)
            .key("sk", sk)
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":to", s(to.as_str()))
            .expression_attribute_values(":now", s(now_rfc3339()));
        for (i, (name, value)) in extra.into_iter().enumerate() {
            sets.push(format!("#x{i} = :x{i}"));
            req = req
                .expression_attribute_names(format!("#x{i}"), name)
                .expression_attribute_values(format!(":x{i}"), value);
        }
        let mut froms = Vec::new();
        for (i, f) in from.iter().enumerate() {
            froms.push(format!("#status = :f{i}"));
            req = req.expression_attribute_values(format!(":f{i}"), s(f.as_str()));
        }
        let mut condition = format!("attribute_exists(pk) AND ({})", froms.join(" OR "));
        if let Some(extra) = extra_condition {
            condition = format!("{condition} AND ({})", extra.expression);
            for (k, v) in extra.names {
                req = req.expression_attribute_names(k, v);
            }
            for (k, v) in extra.values {
                req = req.expression_attribute_values(k, v);
            }
        }
        self.write_point("import status")?;
        let out = req
            .update_expression(format!("SET {}", sets.join(", ")))
            .condition_expression(condition)
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match out {
            Ok(o) => {
                let mut summary: ImportSummary = from_item(o.attributes.unwrap_or_default())?;
                self.fill_counts(org, id, &mut summary).await?;
                Ok(summary)
            }
            Err(e) => match e.into_service_error() {
                UpdateItemError::ConditionalCheckFailedException(_) => {
                    Err(StoreError::ConditionFailed)
                }
                other => Err(service("transition import")(other)),
            },
        }
    }

    /// Records a file-level failure (from any status before `imported`).
    pub async fn fail_import(
        &self,
        org: &OrgId,
        id: &ImportId,
        problem: &FileProblem,
    ) -> StoreResult<ImportSummary> {
        let failure = serde_dynamo::to_attribute_value(problem)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.transition_import(
            org,
            id,
            &[
                ImportStatus::Created,
                ImportStatus::Uploaded,
                ImportStatus::Validating,
                ImportStatus::Importing,
            ],
            ImportStatus::Failed,
            vec![("failure", failure)],
            None,
        )
        .await
    }

    /// Records how far a validation is (and that it is alive: `updated_at`). Nothing
    /// happens when the import is no longer `validating`.
    pub async fn record_validation_progress(
        &self,
        org: &OrgId,
        id: &ImportId,
        rows_validated: u64,
        rows_in_file: u64,
        extra: Vec<(&str, AttributeValue)>,
    ) -> StoreResult<bool> {
        let mut set = vec![
            ("rows_validated", n(rows_validated as i64)),
            ("rows_in_file", n(rows_in_file as i64)),
        ];
        set.extend(extra);
        match self
            .transition_import(
                org,
                id,
                &[ImportStatus::Validating],
                ImportStatus::Validating,
                set,
                None,
            )
            .await
        {
            Ok(_) => Ok(true),
            Err(StoreError::ConditionFailed) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Ends validation: the counts and what was learnt about the file.
    pub async fn finish_validation(
        &self,
        org: &OrgId,
        id: &ImportId,
        summary: &ImportSummary,
    ) -> StoreResult<ImportSummary> {
        let av = |v: &dyn erased::Ser| v.to_av();
        self.transition_import(
            org,
            id,
            &[ImportStatus::Validating],
            ImportStatus::Validated,
            vec![
                ("rows_total", n(summary.rows_total as i64)),
                ("rows_in_file", n(summary.rows_total as i64)),
                ("rows_validated", n(summary.rows_total as i64)),
                ("outcomes", av(&summary.outcomes)),
                ("issues", av(&summary.issues)),
                ("headers", av(&summary.headers)),
                ("ignored_columns", av(&summary.ignored_columns)),
                ("date_order", av(&summary.date_order)),
                ("encoding", av(&summary.encoding)),
                ("delimiter", av(&summary.delimiter)),
            ],
            None,
        )
        .await
    }

    // ---- rows --------------------------------------------------------------------------

    pub async fn write_rows(
        &self,
        org: &OrgId,
        id: &ImportId,
        rows: &[RowRecord],
    ) -> StoreResult<()> {
        let items = rows.iter().map(|r| row_item(org, id, r)).collect();
        self.put_items(items).await
    }

    pub async fn get_row(
        &self,
        org: &OrgId,
        id: &ImportId,
        row: u64,
    ) -> StoreResult<Option<RowRecord>> {
        let out = self
            .ddb
            .get_item()
            .table_name(&self.table)
            .key("pk", s(keys::import_pk(org, id)))
            .key("sk", s(keys::row_sk(row)))
            .consistent_read(true)
            .send()
            .await
            .map_err(service("get row"))?;
        out.item.map(from_item::<RowRecord>).transpose()
    }

    /// A page of an import's rows in file order, optionally only one outcome or status.
    pub async fn list_rows(
        &self,
        org: &OrgId,
        id: &ImportId,
        outcome: Option<Outcome>,
        status: Option<RowStatus>,
        limit: usize,
        cursor: Option<&str>,
    ) -> StoreResult<RowPage> {
        let mut rows = Vec::new();
        let mut examined = 0usize;
        // Error rows alone come from their sparse index: it holds nothing else, so a
        // page of them costs the same in an import of a million rows as in one of ten.
        let by_errors = outcome == Some(Outcome::Error) && status.is_none();
        let pk = keys::import_pk(org, id);
        let mut start = match cursor {
            Some(c) => {
                let sk = decode_cursor(c)?;
                let mut key = HashMap::from([
                    ("pk".to_string(), s(pk.clone())),
                    ("sk".to_string(), s(sk.clone())),
                ]);
                if by_errors {
                    key.insert(ERRORS_INDEX_PK.to_string(), s(pk.clone()));
                    key.insert(ERRORS_INDEX_SK.to_string(), s(sk));
                }
                Some(key)
            }
            None => None,
        };
        loop {
            let q = self.ddb.query().table_name(&self.table);
            let mut q = if by_errors {
                q.index_name(ERRORS_INDEX)
                    .key_condition_expression("#ei = :pk")
                    .expression_attribute_names("#ei", ERRORS_INDEX_PK)
                    .expression_attribute_values(":pk", s(pk.clone()))
            } else {
                q.key_condition_expression("pk = :pk AND begins_with(sk, :row)")
                    .expression_attribute_values(":pk", s(pk.clone()))
                    .expression_attribute_values(":row", s("ROW#"))
            }
            .limit((limit - rows.len()).max(1) as i32)
            .set_exclusive_start_key(start.take());
            let mut filters = vec![];
            if let Some(o) = outcome {
                filters.push("outcome = :o");
                q = q.expression_attribute_values(":o", s(o.as_str()));
            }
            if let Some(st) = status {
                filters.push("#st = :st");
                q = q
                    .expression_attribute_names("#st", "status")
                    .expression_attribute_values(":st", s(st.as_str()));
            }
            if !filters.is_empty() {
                q = q.filter_expression(filters.join(" AND "));
            }
            let page = q.send().await.map_err(service("list rows"))?;
            examined += page.scanned_count.max(0) as usize;
            for item in page.items.unwrap_or_default() {
                rows.push(from_item::<RowRecord>(item)?);
            }
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => {
                    // A rare filter over a large import must not run past the API's time
                    // limit: answer with what was found so far and a cursor to go on.
                    if rows.len() >= limit || examined >= MAX_EXAMINED_PER_PAGE {
                        return Ok(RowPage {
                            rows,
                            next_cursor: encode_cursor(&k),
                        });
                    }
                    start = Some(k);
                }
                _ => {
                    return Ok(RowPage {
                        rows,
                        next_cursor: None,
                    })
                }
            }
        }
    }

    /// Pending rows for many keys, with bounded concurrency.
    pub async fn pending_rows_for_keys(
        &self,
        org: &OrgId,
        keys_wanted: Vec<MatchKey>,
    ) -> StoreResult<Vec<(MatchKey, RowRecord)>> {
        use futures::stream::{self, StreamExt, TryStreamExt};
        let found: Vec<Vec<(MatchKey, RowRecord)>> = stream::iter(keys_wanted)
            .map(|k| async move {
                let rows = self.pending_rows_for_key(org, &k).await?;
                Ok::<_, StoreError>(rows.into_iter().map(|(_, r)| (k.clone(), r)).collect())
            })
            .buffer_unordered(16)
            .try_collect()
            .await?;
        Ok(found.into_iter().flatten().collect())
    }

    /// A Query of the pending-row index within the organisation, with `sk_condition` on
    /// the match key (`#k`, value `:k` = `sk`).
    fn pending_index_query(
        &self,
        org: &OrgId,
        sk_condition: &str,
        sk: &str,
    ) -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder {
        self.ddb
            .query()
            .table_name(&self.table)
            .index_name(PENDING_INDEX)
            .key_condition_expression(format!("#o = :o AND {sk_condition}"))
            .expression_attribute_names("#o", PENDING_INDEX_PK)
            .expression_attribute_names("#k", PENDING_INDEX_SK)
            .expression_attribute_values(":o", s(keys::org_pk(org)))
            .expression_attribute_values(":k", s(sk))
    }

    /// Every row of the organisation pending under a key of `method`, as (key, training,
    /// date), if there are at most `budget` of them: one paged Query of the index instead
    /// of one per key. None when there are more (the caller then asks key by key).
    pub async fn pending_of_org(
        &self,
        org: &OrgId,
        method: MatchMethod,
        budget: usize,
    ) -> StoreResult<Option<Vec<(MatchKey, String, String)>>> {
        let prefix = keys::match_key_prefix(org, method);
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .pending_index_query(org, "begins_with(#k, :k)", &prefix)
                .projection_expression("match_value, training_id, completion_date")
                .limit(i32::try_from(budget + 1 - out.len()).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(service("query pending rows of the organisation"))?;
            for item in page.items.unwrap_or_default() {
                let get = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned();
                match (
                    get("match_value"),
                    get("training_id"),
                    get("completion_date"),
                ) {
                    (Some(v), Some(t), Some(d)) => {
                        out.push((MatchKey::from_stored(method, &v), t, d))
                    }
                    _ => {
                        return Err(StoreError::Corrupt(
                            "a pending row lacks its key, training or date".into(),
                        ))
                    }
                }
            }
            if out.len() > budget {
                return Ok(None);
            }
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(Some(out)),
            }
        }
    }

    /// Whether any row of the organisation waits under this key (one Query of the pending
    /// index, at most one item read).
    pub async fn has_pending_rows(&self, org: &OrgId, key: &MatchKey) -> StoreResult<bool> {
        let out = self
            .pending_index_query(org, "#k = :k", &keys::match_key_pk(org, key))
            .limit(1)
            .select(aws_sdk_dynamodb::types::Select::Count)
            .send()
            .await
            .map_err(service("query pending rows"))?;
        Ok(out.count > 0)
    }

    /// Pending rows of every import of the organisation waiting for this key.
    pub async fn pending_rows_for_key(
        &self,
        org: &OrgId,
        key: &MatchKey,
    ) -> StoreResult<Vec<(ImportId, RowRecord)>> {
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .pending_index_query(org, "#k = :k", &keys::match_key_pk(org, key))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(service("query pending rows"))?;
            for item in page.items.unwrap_or_default() {
                let row: RowRecord = from_item(item)?;
                let import = ImportId::parse(&row.import_id).map_err(StoreError::Corrupt)?;
                out.push((import, row));
            }
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(out),
            }
        }
    }

    // ---- transactional row changes -------------------------------------------------------

    #[expect(
        clippy::too_many_arguments,
        reason = "the completion's key and its source, each needed"
    )]
    fn completion_upsert(
        &self,
        org: &OrgId,
        person: &PersonId,
        training: &TrainingId,
        title: &str,
        date: &str,
        import: &ImportId,
        row: u64,
    ) -> TransactWriteItem {
        let now = now_rfc3339();
        let update = Update::builder()
            .table_name(&self.table)
            .key("pk", s(keys::person_pk(org, person)))
            .key("sk", s(keys::completion_sk(training, date)))
            // The first source wins; a repeat (retry, second import) changes nothing.
            .update_expression(
                "SET person_id = if_not_exists(person_id, :p), training_id = if_not_exists(training_id, :t), \
                 training_title = if_not_exists(training_title, :title), completed_on = if_not_exists(completed_on, :d), \
                 source_import = if_not_exists(source_import, :i), source_row = if_not_exists(source_row, :r), \
                 recorded_at = if_not_exists(recorded_at, :now)",
            )
            .expression_attribute_values(":p", s(person.as_str()))
            .expression_attribute_values(":t", s(training.as_str()))
            .expression_attribute_values(":title", s(title))
            .expression_attribute_values(":d", s(date))
            .expression_attribute_values(":i", s(import.as_str()))
            .expression_attribute_values(":r", n(row as i64))
            .expression_attribute_values(":now", s(now))
            .build()
            .expect("key and expression set");
        TransactWriteItem::builder().update(update).build()
    }

    /// Adds to one count shard of the import. Counts of row statuses live in
    /// COUNT_SHARDS items beside the summary, so that transactions moving different rows
    /// do not all conflict on one item; a read adds the shards up.
    pub(super) fn counts_update(
        &self,
        org: &OrgId,
        id: &ImportId,
        shard: u64,
        deltas: &BTreeMap<&'static str, i64>,
        committed: i64,
    ) -> TransactWriteItem {
        let mut adds = Vec::new();
        let mut b = Update::builder()
            .table_name(&self.table)
            .key("pk", s(keys::import_pk(org, id)))
            .key("sk", s(counts_sk(shard)))
            .expression_attribute_values(":now", s(now_rfc3339()));
        for (i, (name, delta)) in deltas.iter().enumerate() {
            adds.push(format!("#c{i} :d{i}"));
            b = b
                .expression_attribute_names(format!("#c{i}"), *name)
                .expression_attribute_values(format!(":d{i}"), n(*delta));
        }
        if committed != 0 {
            adds.push("rows_committed :rc".into());
            b = b.expression_attribute_values(":rc", n(committed));
        }
        let update = b
            .update_expression(format!("ADD {} SET updated_at = :now", adds.join(", ")))
            .build()
            .expect("key and expression set");
        TransactWriteItem::builder().update(update).build()
    }

    /// Adds the count shards up into the summary (one strongly consistent Query).
    async fn fill_counts(
        &self,
        org: &OrgId,
        id: &ImportId,
        summary: &mut ImportSummary,
    ) -> StoreResult<()> {
        let shards = self
            .query_all(keys::import_pk(org, id), Some(COUNTS_PREFIX))
            .await?;
        let mut total = StatusCounts::default();
        let mut committed = 0i64;
        for item in shards {
            let num = |k: &str| {
                item.get(k)
                    .and_then(|v| v.as_n().ok())
                    .and_then(|v| v.parse::<i64>().ok())
                    .unwrap_or(0)
            };
            total.imported += num("imported");
            total.pending += num("pending");
            total.applied += num("applied");
            total.deleted += num("deleted");
            total.not_imported += num("not_imported");
            committed += num("rows_committed");
            if let Some(at) = item.get("updated_at").and_then(|v| v.as_s().ok()) {
                if *at > summary.updated_at {
                    summary.updated_at = at.clone();
                }
            }
        }
        summary.statuses = total;
        summary.rows_committed = committed.max(0) as u64;
        Ok(())
    }

    /// Applies one pending row to a person who signed up: the row becomes `applied` and
    /// the completion is recorded, or nothing happens (ConditionFailed) when the row is
    /// no longer pending (deleted, or applied by a concurrent run).
    pub async fn apply_pending_row(
        &self,
        org: &OrgId,
        id: &ImportId,
        row: &RowRecord,
        person: &PersonId,
    ) -> StoreResult<()> {
        let (update, completion) = self.apply_items(org, id, row, person, None)?;
        let deltas = BTreeMap::from([("applied", 1), ("pending", -1)]);
        let items = vec![
            update,
            completion,
            self.counts_update(org, id, row.row % COUNT_SHARDS, &deltas, 0),
        ];
        match self.transact(items).await? {
            TxOutcome::Committed => Ok(()),
            TxOutcome::ConditionFailed(_) => Err(StoreError::ConditionFailed),
        }
    }

    /// Applies many pending rows to a person who signed up, up to
    /// [`APPLY_ITEMS_PER_TRANSACTION`] items a transaction: each row (condition: still
    /// pending) with its completion, and one count shard per import. A row no longer
    /// pending (deleted, or applied by a concurrent run) is left out and the rest of
    /// its transaction retried. Returns (applied, no longer pending).
    /// `account`: the account that signed up, recorded on each row.
    pub async fn apply_pending_rows(
        &self,
        org: &OrgId,
        person: &PersonId,
        account: &str,
        rows: &[(ImportId, RowRecord)],
    ) -> StoreResult<(usize, usize)> {
        use futures::stream::{self, StreamExt, TryStreamExt};
        let groups = plan_apply_transactions(rows);
        let done: Vec<(usize, usize)> = stream::iter(groups)
            .map(|group| self.apply_group(org, person, account, group))
            .buffer_unordered(APPLY_CONCURRENCY)
            .try_collect()
            .await?;
        Ok(done
            .into_iter()
            .fold((0, 0), |(a, n), (da, dn)| (a + da, n + dn)))
    }

    async fn apply_group(
        &self,
        org: &OrgId,
        person: &PersonId,
        account: &str,
        group: Vec<&(ImportId, RowRecord)>,
    ) -> StoreResult<(usize, usize)> {
        let (applied, gone) = self
            .transact_dropping_failed(group, "apply transaction", |group| {
                let mut items = Vec::with_capacity(group.len() * 2 + 4);
                // Which row each item belongs to: only row updates carry a condition.
                let mut owners: Vec<Option<usize>> = Vec::with_capacity(items.capacity());
                let mut per_import: BTreeMap<&str, (u64, i64)> = BTreeMap::new();
                for (i, (import, row)) in group.iter().enumerate() {
                    let (update, completion) =
                        self.apply_items(org, import, row, person, Some(account))?;
                    items.push(update);
                    owners.push(Some(i));
                    items.push(completion);
                    owners.push(None);
                    per_import
                        .entry(import.as_str())
                        .or_insert((row.row % COUNT_SHARDS, 0))
                        .1 += 1;
                }
                for (import, (shard, applied)) in &per_import {
                    let import = ImportId::parse(import).map_err(StoreError::Corrupt)?;
                    let deltas = BTreeMap::from([("applied", *applied), ("pending", -*applied)]);
                    items.push(self.counts_update(org, &import, *shard, &deltas, 0));
                    owners.push(None);
                }
                Ok((items, owners))
            })
            .await?;
        for (import, row) in &gone {
            tracing::info!(org = %org, import = %import, row = row.row, "row no longer pending (deleted or already applied); nothing to do");
        }
        Ok((applied.len(), gone.len()))
    }

    /// The row update (condition: still pending) and the completion of applying a row.
    fn apply_items(
        &self,
        org: &OrgId,
        id: &ImportId,
        row: &RowRecord,
        person: &PersonId,
        account: Option<&str>,
    ) -> StoreResult<(TransactWriteItem, TransactWriteItem)> {
        let (Some(training), Some(date)) = (&row.training_id, &row.completion_date) else {
            return Err(StoreError::Corrupt(format!(
                "pending row {} has no training or date",
                row.row
            )));
        };
        let training = TrainingId::parse(training).map_err(StoreError::Corrupt)?;
        let title = row.training_title.clone().unwrap_or_default();
        let mut update = Update::builder()
            .table_name(&self.table)
            .key("pk", s(keys::import_pk(org, id)))
            .key("sk", s(keys::row_sk(row.row)))
            .condition_expression("#st = :pending");
        update = match account {
            Some(sub) => update
                .update_expression("SET #st = :applied, person_id = :p, applied_at = :now, applied_to_account = :account REMOVE #pk, #sk")
                .expression_attribute_values(":account", s(sub)),
            None => update.update_expression("SET #st = :applied, person_id = :p, applied_at = :now REMOVE #pk, #sk"),
        };
        let update = update
            .expression_attribute_names("#st", "status")
            .expression_attribute_names("#pk", PENDING_INDEX_PK)
            .expression_attribute_names("#sk", PENDING_INDEX_SK)
            .expression_attribute_values(":pending", s(RowStatus::Pending.as_str()))
            .expression_attribute_values(":applied", s(RowStatus::Applied.as_str()))
            .expression_attribute_values(":p", s(person.as_str()))
            .expression_attribute_values(":now", s(now_rfc3339()))
            .build()
            .expect("key and expression set");
        Ok((
            TransactWriteItem::builder().update(update).build(),
            self.completion_upsert(org, person, &training, &title, date, id, row.row),
        ))
    }

    /// Replaces a row still `validated` after a fix, moving the summary's outcome and
    /// issue counts in the same transaction. ConditionFailed when the row changed
    /// meanwhile or the import is no longer `validated`.
    pub async fn replace_validated_row(
        &self,
        org: &OrgId,
        id: &ImportId,
        old: &RowRecord,
        new: &RowRecord,
    ) -> StoreResult<()> {
        let put = aws_sdk_dynamodb::types::Put::builder()
            .table_name(&self.table)
            .set_item(Some(row_item(org, id, new)))
            .condition_expression("#st = :validated AND outcome = :old")
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":validated", s(RowStatus::Validated.as_str()))
            .expression_attribute_values(":old", s(old.outcome.as_str()))
            .build()
            .expect("item and expression set");
        let mut deltas: BTreeMap<String, i64> = BTreeMap::new();
        for i in old.issues.iter().chain(&old.warnings) {
            *deltas.entry(i.code.as_str().to_string()).or_default() -= 1;
        }
        for i in new.issues.iter().chain(&new.warnings) {
            *deltas.entry(i.code.as_str().to_string()).or_default() += 1;
        }
        deltas.retain(|_, d| *d != 0);
        let mut sets = vec!["updated_at = :now".to_string()];
        let mut b = self
            .summary_update(org, id)
            .condition_expression("#status = :validated")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":validated", s(ImportStatus::Validated.as_str()))
            .expression_attribute_values(":now", s(now_rfc3339()));
        if old.outcome != new.outcome {
            sets.push("outcomes.#o_old = outcomes.#o_old - :one, outcomes.#o_new = outcomes.#o_new + :one".into());
            b = b
                .expression_attribute_names("#o_old", old.outcome.as_str())
                .expression_attribute_names("#o_new", new.outcome.as_str())
                .expression_attribute_values(":one", n(1));
        }
        if !deltas.is_empty() {
            b = b.expression_attribute_values(":zero", n(0));
        }
        for (i, (code, delta)) in deltas.iter().enumerate() {
            sets.push(format!(
                "issues.#i{i} = if_not_exists(issues.#i{i}, :zero) + :i{i}"
            ));
            b = b
                .expression_attribute_names(format!("#i{i}"), code)
                .expression_attribute_values(format!(":i{i}"), n(*delta));
        }
        let update = b
            .update_expression(format!("SET {}", sets.join(", ")))
            .build()
            .expect("key and expression set");
        let items = vec![
            TransactWriteItem::builder().put(put).build(),
            TransactWriteItem::builder().update(update).build(),
        ];
        match self.transact(items).await? {
            TxOutcome::Committed => Ok(()),
            TxOutcome::ConditionFailed(_) => Err(StoreError::ConditionFailed),
        }
    }

    /// Records who made a change to the import as a whole (`attribute`, a Stamp).
    pub async fn stamp_import(
        &self,
        org: &OrgId,
        id: &ImportId,
        attribute: &str,
        by: &Stamp,
    ) -> StoreResult<()> {
        let by = serde_dynamo::to_attribute_value::<_, AttributeValue>(by)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.write_point("stamp import")?;
        self.update_summary_item(org, id)
            .update_expression("SET #a = :by")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#a", attribute)
            .expression_attribute_values(":by", by)
            .send()
            .await
            .map_err(service("stamp import"))?;
        Ok(())
    }

    /// Deletes one pending row; ConditionFailed when the row is not pending.
    pub async fn delete_pending_row(
        &self,
        org: &OrgId,
        id: &ImportId,
        row: u64,
        by: &Stamp,
    ) -> StoreResult<()> {
        match self
            .delete_group(org, id, row % COUNT_SHARDS, vec![row], by)
            .await?
        {
            (1, _) => Ok(()),
            _ => Err(StoreError::ConditionFailed),
        }
    }

    /// Deletes many pending rows of one import: up to [`DELETE_ROWS_PER_TRANSACTION`] rows
    /// a transaction (each on condition that it is still pending) with one count shard,
    /// [`DELETE_CONCURRENCY`] transactions at once. A row no longer pending (applied by a
    /// sign-up, or deleted meanwhile) is left out and the rest of its transaction retried.
    /// Returns (deleted, no longer pending).
    pub async fn delete_pending_rows(
        &self,
        org: &OrgId,
        id: &ImportId,
        rows: &[u64],
        by: &Stamp,
    ) -> StoreResult<(usize, usize)> {
        use futures::stream::{self, StreamExt, TryStreamExt};
        let groups: Vec<(u64, Vec<u64>)> = rows
            .chunks(DELETE_ROWS_PER_TRANSACTION)
            .enumerate()
            .map(|(i, g)| (i as u64 % COUNT_SHARDS, g.to_vec()))
            .collect();
        let done: Vec<(usize, usize)> = stream::iter(groups)
            // Transactions in flight together add to different count shards.
            .map(|(shard, group)| self.delete_group(org, id, shard, group, by))
            .buffer_unordered(DELETE_CONCURRENCY)
            .try_collect()
            .await?;
        Ok(done
            .into_iter()
            .fold((0, 0), |(d, g), (dd, dg)| (d + dd, g + dg)))
    }

    async fn delete_group(
        &self,
        org: &OrgId,
        id: &ImportId,
        shard: u64,
        group: Vec<u64>,
        by: &Stamp,
    ) -> StoreResult<(usize, usize)> {
        let by = serde_dynamo::to_attribute_value::<_, AttributeValue>(by)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let (deleted, gone) = self
            .transact_dropping_failed(group, "delete transaction", |group| {
                let n = group.len() as i64;
                let mut items: Vec<TransactWriteItem> = group
                    .iter()
                    .map(|&row| self.delete_item(org, id, row, &by))
                    .collect();
                let mut owners: Vec<Option<usize>> = (0..group.len()).map(Some).collect();
                items.push(self.counts_update(
                    org,
                    id,
                    shard,
                    &BTreeMap::from([("deleted", n), ("pending", -n)]),
                    0,
                ));
                owners.push(None);
                Ok((items, owners))
            })
            .await?;
        Ok((deleted.len(), gone.len()))
    }

    /// The row update of deleting a pending row (condition: still pending).
    fn delete_item(
        &self,
        org: &OrgId,
        id: &ImportId,
        row: u64,
        by: &AttributeValue,
    ) -> TransactWriteItem {
        let update = Update::builder()
            .table_name(&self.table)
            .key("pk", s(keys::import_pk(org, id)))
            .key("sk", s(keys::row_sk(row)))
            .condition_expression("#st = :pending")
            .update_expression(
                "SET #st = :deleted, deleted_at = :now, deleted_by = :by REMOVE #pk, #sk",
            )
            .expression_attribute_values(":by", by.clone())
            .expression_attribute_names("#st", "status")
            .expression_attribute_names("#pk", PENDING_INDEX_PK)
            .expression_attribute_names("#sk", PENDING_INDEX_SK)
            .expression_attribute_values(":pending", s(RowStatus::Pending.as_str()))
            .expression_attribute_values(":deleted", s(RowStatus::Deleted.as_str()))
            .expression_attribute_values(":now", s(now_rfc3339()))
            .build()
            .expect("key and expression set");
        TransactWriteItem::builder().update(update).build()
    }
}

/// Serialising helper values to attribute values in one call.
mod erased {
    use aws_sdk_dynamodb::types::AttributeValue;
    pub trait Ser {
        fn to_av(&self) -> AttributeValue;
    }
    impl<T: serde::Serialize> Ser for T {
        fn to_av(&self) -> AttributeValue {
            serde_dynamo::to_attribute_value(self).expect("plain data serialises")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(import: &str, line: u64, training: &str, date: &str) -> (ImportId, RowRecord) {
        let record = RowRecord {
            import_id: import.into(),
            row: line,
            cells: vec![],
            outcome: Outcome::Pending,
            status: RowStatus::Pending,
            issues: vec![],
            warnings: vec![],
            match_method: MatchMethod::Email,
            match_value: Some("a@example.com".into()),
            person_id: None,
            training_id: Some(training.into()),
            training_title: None,
            completion_date: Some(date.into()),
            commit_note: None,
            imported_at: None,
            applied_at: None,
            deleted_at: None,
            fixed_by: None,
            imported_by: None,
            deleted_by: None,
            applied_to_account: None,
        };
        (ImportId::parse(import).unwrap(), record)
    }

    #[test]
    fn apply_transactions_stay_under_the_item_limit_and_never_touch_one_completion_twice() {
        let mut rows: Vec<_> = (0..200)
            .map(|i| {
                row(
                    &format!("imp{}", i % 20),
                    2 + i as u64,
                    &format!("t{i}"),
                    "2024-01-01",
                )
            })
            .collect();
        rows.push(row("other", 2, "t0", "2024-01-01"));
        let groups = plan_apply_transactions(&rows);
        assert_eq!(
            groups.iter().map(Vec::len).sum::<usize>(),
            rows.len(),
            "every row planned once"
        );
        assert!(
            groups.len() <= 6,
            "200 rows fit in a few transactions, got {}",
            groups.len()
        );
        for g in &groups {
            let imports: std::collections::HashSet<_> = g.iter().map(|(i, _)| i.as_str()).collect();
            assert!(
                g.len() * 2 + imports.len() <= APPLY_ITEMS_PER_TRANSACTION,
                "{} rows over {} imports",
                g.len(),
                imports.len()
            );
            let completions: std::collections::HashSet<_> = g
                .iter()
                .map(|(_, r)| (r.training_id.clone(), r.completion_date.clone()))
                .collect();
            assert_eq!(
                completions.len(),
                g.len(),
                "a completion twice in one transaction"
            );
        }
    }

    #[test]
    fn apply_transactions_keep_an_imports_rows_together() {
        // The pending index gives a person's rows with imports interleaved; each import
        // a transaction touches costs a count-shard item, so 20 imports over 5
        // transactions should cost about 20 such items, not 5 times 20.
        let rows: Vec<_> = (0..200)
            .map(|i| {
                row(
                    &format!("imp{:02}", i % 20),
                    2 + i as u64,
                    &format!("t{i}"),
                    "2024-01-01",
                )
            })
            .collect();
        let groups = plan_apply_transactions(&rows);
        let count_items: usize = groups
            .iter()
            .map(|g| {
                g.iter()
                    .map(|(i, _)| i.as_str())
                    .collect::<std::collections::HashSet<_>>()
                    .len()
            })
            .sum();
        assert!(
            count_items < 20 + groups.len(),
            "{count_items} count-shard items over {} transactions",
            groups.len()
        );
    }
}
