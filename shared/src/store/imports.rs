//! An import's summary: what the import is, how far it got and who did what to it, the
//! conditional moves through its statuses, and the list of an organisation's imports.
//! Its rows are in `rows`, the counts of their statuses in `counts`, the pending rows'
//! apply and delete in `pending`. Every count change after the commit happens in the
//! same transaction as the row change it counts; the commit's own moves are counted a
//! page at a time (store::commit), so a summary equals what its rows say.

use super::items::{from_item, keyed, Stamp};
use super::schema::{IMPORTS_INDEX, IMPORTS_INDEX_PK, IMPORTS_INDEX_SK};
use super::write::Item;
use super::{now_rfc3339, service, Store, StoreError, StoreResult};
use crate::domain::{FileProblem, ImportId, ImportStatus, MatchMethod, OrgId, Outcome};
use crate::keys;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, Update};
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
    /// The commit leaves waiting rows in waiting groups (every commit requested since
    /// groups); false for a commit requested before, which puts an item per row.
    #[serde(default)]
    pub waiting_groups: bool,
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
    /// Whether its rows are stored as pages (every import created since pages); false
    /// for an older import, whose rows are an item each under its own partition.
    #[serde(default)]
    pub row_pages: bool,
    /// The highest line a row was written for (the last partition to read).
    #[serde(default)]
    pub last_line: u64,
    /// The organisation's count of changes to who a key means (sign-ups and people
    /// added, [`Store::count_sign_up`]) read before the first validation run looked
    /// anyone up: while it has not moved, every person the validation found not
    /// signed up still is, and the commit need not look them up again. Kept in the
    /// table only (not part of the API's summary).
    #[serde(default, skip_serializing)]
    pub directory_at_validation: Option<u64>,
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
            row_pages: true,
            last_line: 0,
            directory_at_validation: None,
        }
    }
}

/// An extra condition for [`Store::transition_import`], with its names and values.
pub struct Condition<'a> {
    pub expression: &'a str,
    pub names: Vec<(&'a str, &'a str)>,
    pub values: Vec<(&'a str, AttributeValue)>,
}

pub(super) fn encode_cursor(key: &Item) -> Option<String> {
    let sk = key.get("sk")?.as_s().ok()?;
    Some(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sk))
}

pub(super) fn decode_cursor(cursor: &str) -> Result<String, StoreError> {
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

    /// Notes the organisation's count of sign-ups and people added (`count`, read
    /// before the validation's first lookup) unless a run before noted an earlier one.
    pub async fn note_directory_at_validation(
        &self,
        org: &OrgId,
        id: &ImportId,
        count: u64,
    ) -> StoreResult<()> {
        let (pk, sk) = self.summary_key(org, id);
        self.write_point("note the directory")?;
        self.ddb
            .update_item()
            .table_name(&self.table)
            .key("pk", pk)
            .key("sk", sk)
            .update_expression(
                "SET directory_at_validation = if_not_exists(directory_at_validation, :c)",
            )
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":c", n(count as i64))
            .send()
            .await
            .map_err(service("note the directory"))?;
        Ok(())
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
                ("last_line", n(summary.last_line as i64)),
            ],
            None,
        )
        .await
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
