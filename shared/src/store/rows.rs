//! An import's rows: what a row is ([`RowRecord`]), where an import keeps them
//! ([`RowLayout`]: pages, store::pages; or an item per row for imports created before
//! pages, store::row_items), and the calls that do not care which: written at
//! validation, read, listed and filtered with cursors, fixed in place while the import is
//! `validated`.

use super::imports::{decode_cursor, n, s};
use super::items::Stamp;
use super::pages::{PagesOf, ROWS_PER_PAGE};
use super::row_items::row_item;
use super::write::TxOutcome;
use super::{now_rfc3339, Store, StoreError, StoreResult};
use crate::domain::{
    ImportId, ImportStatus, Issue, MatchKey, MatchMethod, OrgId, Outcome, PersonId, RowStatus,
    TrainingId,
};
use crate::keys;
use aws_sdk_dynamodb::types::TransactWriteItem;
use base64::Engine;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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
    /// The partition the row was read from (its key, not its content): a row found
    /// through the pending index is written back where it is, whatever its layout.
    #[serde(rename = "pk", default, skip_serializing)]
    pub partition: Option<String>,
    /// The sort key of the item the row was read from (its own, or its page's).
    #[serde(rename = "sk", default, skip_serializing)]
    pub sort_key: Option<String>,
}

/// Where an import's rows are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RowLayout {
    /// One item per row under the import's own partition (`ORG#<org>#IMPORT#<id>`,
    /// `ROW#<line>`): imports created before pages, read as they were written.
    Single,
    /// Pages of rows in partitions of [`keys::LINES_PER_ROW_PARTITION`] lines
    /// (store::pages); `last_line`: the highest line written so far. The rows the commit
    /// left waiting are in waiting groups (store::groups) when `groups`, else (commits
    /// started before groups) an item per row beside its page.
    Pages { last_line: u64, groups: bool },
}

impl RowLayout {
    pub fn of(summary: &super::ImportSummary) -> RowLayout {
        match summary.row_pages {
            true => RowLayout::Pages {
                last_line: summary.last_line,
                groups: summary.commit.as_ref().is_some_and(|c| c.waiting_groups),
            },
            false => RowLayout::Single,
        }
    }

    /// The key of the item a sign-up or a delete changes for the row on `line` once
    /// it waits: the row itself, or its pending item beside its page.
    pub fn pending_item_key(&self, org: &OrgId, id: &ImportId, line: u64) -> (String, String) {
        match self {
            RowLayout::Single => (keys::import_pk(org, id), keys::row_sk(line)),
            RowLayout::Pages { .. } => (
                keys::row_block_pk(org, id, keys::row_block(line)),
                keys::pending_row_sk(line),
            ),
        }
    }
}

/// The line of a row's sort key (`ROW#000001234`).
fn line_of_sk(sk: &str) -> StoreResult<u64> {
    sk.strip_prefix("ROW#")
        .and_then(|l| l.parse().ok())
        .ok_or_else(|| StoreError::Corrupt(format!("'{sk}' is not a row's key")))
}

impl RowRecord {
    /// A row as the validation first writes it: `validated`, with no issue, nothing
    /// resolved and nobody's stamp yet; callers set what they know with
    /// `RowRecord { field, ..RowRecord::validated(..) }`.
    pub fn validated(
        import_id: &str,
        row: u64,
        cells: Vec<String>,
        outcome: Outcome,
        match_method: MatchMethod,
    ) -> RowRecord {
        RowRecord {
            import_id: import_id.to_string(),
            row,
            cells,
            outcome,
            status: RowStatus::Validated,
            issues: vec![],
            warnings: vec![],
            match_method,
            match_value: None,
            person_id: None,
            training_id: None,
            training_title: None,
            completion_date: None,
            commit_note: None,
            imported_at: None,
            applied_at: None,
            deleted_at: None,
            fixed_by: None,
            imported_by: None,
            deleted_by: None,
            applied_to_account: None,
            partition: None,
            sort_key: None,
        }
    }

    pub fn match_key(&self) -> Option<MatchKey> {
        self.match_value
            .as_deref()
            .map(|v| MatchKey::from_stored(self.match_method, v))
    }
}

/// Rows a filtered listing of pages reads at a time, at most (twice the rows it still
/// wants, at least a page).
const FILTERED_READ_ROWS: usize = 2_000;
/// Rows whose waiting items (or groups) a listing reads at a time (one BatchGetItem).
const OVERLAY_ROWS: usize = 100;

/// Times a fix reads and rewrites its page when fixes of other rows of the page land
/// first.
const PAGE_REWRITE_ATTEMPTS: usize = 5;

/// Rows a filtered listing reads before it answers with a partial page and a cursor.
pub(super) const MAX_EXAMINED_PER_PAGE: usize = 20_000;

pub struct RowPage {
    pub rows: Vec<RowRecord>,
    pub next_cursor: Option<String>,
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

/// The cursor of [`Store::list_rows`] that goes on after this row (whatever the filter):
/// for a caller that hands out fewer rows than it read.
pub fn cursor_after_row(row: u64) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(keys::row_sk(row))
}

impl Store {
    /// Writes validated rows (a chunk of the file, in order).
    pub async fn write_rows(
        &self,
        org: &OrgId,
        id: &ImportId,
        layout: RowLayout,
        rows: &[RowRecord],
    ) -> StoreResult<()> {
        match layout {
            RowLayout::Single => {
                let items = rows.iter().map(|r| row_item(org, id, r)).collect();
                self.put_items(items).await
            }
            RowLayout::Pages { .. } => self.write_pages(org, id, rows).await,
        }
    }

    /// One row as it is now, read strongly consistent.
    pub async fn get_row(
        &self,
        org: &OrgId,
        id: &ImportId,
        layout: RowLayout,
        row: u64,
    ) -> StoreResult<Option<RowRecord>> {
        if let RowLayout::Pages { groups, .. } = layout {
            let Some(page) = self.page_holding(org, id, row).await? else {
                return Ok(None);
            };
            let found: Vec<RowRecord> = page.rows.into_iter().filter(|r| r.row == row).collect();
            let found = self.as_committed(org, id, groups, found, true).await?;
            return Ok(self.as_now(org, id, groups, found, true).await?.pop());
        }
        self.get_row_item(org, id, row).await
    }

    /// A page of an import's rows in file order, optionally only one outcome or status.
    #[expect(
        clippy::too_many_arguments,
        reason = "the import, its layout, the filters and the page"
    )]
    pub async fn list_rows(
        &self,
        org: &OrgId,
        id: &ImportId,
        layout: RowLayout,
        outcome: Option<Outcome>,
        status: Option<RowStatus>,
        limit: usize,
        cursor: Option<&str>,
    ) -> StoreResult<RowPage> {
        match layout {
            RowLayout::Single => {
                self.list_row_items(org, id, outcome, status, limit, cursor)
                    .await
            }
            RowLayout::Pages { last_line, groups } => {
                let pages = (last_line, groups);
                self.list_pages(org, id, pages, outcome, status, limit, cursor)
                    .await
            }
        }
    }

    /// [`Store::list_rows`] from pages: read whole, each row the commit left waiting
    /// shown as its own item has it, then filtered. A request stops once it has
    /// `limit` rows or has examined [`MAX_EXAMINED_PER_PAGE`], with a cursor at the
    /// last row it read.
    #[expect(
        clippy::too_many_arguments,
        reason = "the import, its last line, the filters and the page"
    )]
    async fn list_pages(
        &self,
        org: &OrgId,
        id: &ImportId,
        (last_line, groups): (u64, bool),
        outcome: Option<Outcome>,
        status: Option<RowStatus>,
        limit: usize,
        cursor: Option<&str>,
    ) -> StoreResult<RowPage> {
        let after = cursor.map(decode_cursor).transpose()?;
        let after = after.as_deref().map(line_of_sk).transpose()?;
        let mut from = after.map_or(0, |l| l.saturating_add(1));
        let source = match outcome {
            Some(Outcome::Error) => PagesOf::WithErrors,
            _ => PagesOf::All { consistent: false },
        };
        let (mut rows, mut examined) = (Vec::new(), 0usize);
        loop {
            // Unfiltered, the rows still wanted; filtered, a few pages at a time, so that
            // a rare filter does not read a page a request.
            let wanted = match (outcome, status) {
                (None, None) => limit - rows.len(),
                _ => ((limit - rows.len()) * 2).clamp(ROWS_PER_PAGE, FILTERED_READ_ROWS),
            }
            .min(MAX_EXAMINED_PER_PAGE - examined);
            let (pages, more) = self
                .pages_from(org, id, last_line, from, wanted, source)
                .await?;
            let read: Vec<RowRecord> = pages
                .into_iter()
                .flat_map(|p| p.rows)
                .filter(|r| r.row >= from)
                .collect();
            let read = self.as_committed(org, id, groups, read, false).await?;
            let Some(last_read) = read.last().map(|r| r.row) else {
                return Ok(RowPage {
                    rows,
                    next_cursor: None,
                });
            };
            // The waiting rows' own items are read for as many rows as the page needs.
            let mut read = read.into_iter().peekable();
            while read.peek().is_some() {
                let chunk: Vec<RowRecord> = read.by_ref().take(OVERLAY_ROWS).collect();
                for r in self.as_now(org, id, groups, chunk, false).await? {
                    examined += 1;
                    let line = r.row;
                    if outcome.is_none_or(|o| r.outcome == o)
                        && status.is_none_or(|st| r.status == st)
                    {
                        rows.push(r);
                    }
                    if rows.len() >= limit {
                        let last = line < last_read || more;
                        return Ok(RowPage {
                            rows,
                            next_cursor: last.then(|| cursor_after_row(line)),
                        });
                    }
                }
            }
            if !more {
                return Ok(RowPage {
                    rows,
                    next_cursor: None,
                });
            }
            if examined >= MAX_EXAMINED_PER_PAGE {
                return Ok(RowPage {
                    rows,
                    next_cursor: Some(cursor_after_row(last_read)),
                });
            }
            from = last_read + 1;
        }
    }

    /// Rows read from pages with what the commit did to them: a commit that puts
    /// waiting groups leaves its pages as validated and keeps each page's outcome
    /// apart (store::outcomes).
    pub(super) async fn as_committed(
        &self,
        org: &OrgId,
        id: &ImportId,
        groups: bool,
        rows: Vec<RowRecord>,
        consistent: bool,
    ) -> StoreResult<Vec<RowRecord>> {
        match groups {
            true => self.with_outcomes(org, id, rows, consistent).await,
            false => Ok(rows),
        }
    }

    /// Rows read from pages as they are now: each row the commit left waiting as its
    /// group, or its own item, has it (pending, applied or deleted).
    async fn as_now(
        &self,
        org: &OrgId,
        id: &ImportId,
        groups: bool,
        rows: Vec<RowRecord>,
        consistent: bool,
    ) -> StoreResult<Vec<RowRecord>> {
        match groups {
            true => self.with_groups(org, id, rows, consistent).await,
            false => self.with_pending_items(org, id, rows, consistent).await,
        }
    }

    /// At least `limit` rows from line `from` on (whole pages), in file order, read
    /// strongly consistent; and whether more may follow. The commit's reader.
    pub async fn rows_from(
        &self,
        org: &OrgId,
        id: &ImportId,
        layout: RowLayout,
        from: u64,
        limit: usize,
    ) -> StoreResult<(Vec<RowRecord>, bool)> {
        if let RowLayout::Pages { last_line, groups } = layout {
            let (pages, more) = self
                .pages_from(
                    org,
                    id,
                    last_line,
                    from,
                    limit,
                    PagesOf::All { consistent: true },
                )
                .await?;
            let rows: Vec<RowRecord> = pages.into_iter().flat_map(|p| p.rows).collect();
            if rows.first().is_some_and(|r| r.row < from) {
                return Err(StoreError::Corrupt(format!(
                    "the commit's cursor {from} is inside a page"
                )));
            }
            return Ok((self.as_committed(org, id, groups, rows, true).await?, more));
        }
        self.row_items_from(org, id, from, limit).await
    }

    /// Replaces a row still `validated` after a fix, moving the summary's outcome and
    /// issue counts in the same transaction. ConditionFailed when the row changed
    /// meanwhile or the import is no longer `validated`. With pages, a fix of another
    /// row of the same page landing first only makes this one read the page again.
    pub async fn replace_validated_row(
        &self,
        org: &OrgId,
        id: &ImportId,
        layout: RowLayout,
        old: &RowRecord,
        new: &RowRecord,
    ) -> StoreResult<()> {
        for _ in 0..PAGE_REWRITE_ATTEMPTS {
            match self.replace_once(org, id, layout, old, new).await? {
                TxOutcome::Committed => return Ok(()),
                TxOutcome::ConditionFailed(failed)
                    if matches!(layout, RowLayout::Pages { .. }) && failed == [0] =>
                {
                    continue
                }
                TxOutcome::ConditionFailed(_) => return Err(StoreError::ConditionFailed),
            }
        }
        Err(StoreError::ConditionFailed)
    }

    async fn replace_once(
        &self,
        org: &OrgId,
        id: &ImportId,
        layout: RowLayout,
        old: &RowRecord,
        new: &RowRecord,
    ) -> StoreResult<TxOutcome> {
        let put = match layout {
            RowLayout::Single => aws_sdk_dynamodb::types::Put::builder()
                .table_name(&self.table)
                .set_item(Some(row_item(org, id, new)))
                .condition_expression("#st = :validated AND outcome = :old")
                .expression_attribute_names("#st", "status")
                .expression_attribute_values(":validated", s(RowStatus::Validated.as_str()))
                .expression_attribute_values(":old", s(old.outcome.as_str())),
            RowLayout::Pages { .. } => {
                // The page as it is, with this row replaced, on condition that nobody
                // rewrote the page meanwhile.
                let page = self
                    .page_holding(org, id, old.row)
                    .await?
                    .ok_or(StoreError::ConditionFailed)?;
                if !page.rows.iter().any(|r| {
                    r.row == old.row && r.outcome == old.outcome && r.status == RowStatus::Validated
                }) {
                    return Err(StoreError::ConditionFailed);
                }
                let rows: Vec<RowRecord> = page
                    .rows
                    .iter()
                    .map(|r| {
                        if r.row == new.row {
                            new.clone()
                        } else {
                            r.clone()
                        }
                    })
                    .collect();
                aws_sdk_dynamodb::types::Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(super::pages::page_item(
                        org,
                        id,
                        &rows,
                        page.version + 1,
                    )))
                    .condition_expression("version = :v")
                    .expression_attribute_values(":v", n(page.version as i64))
            }
        }
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
        self.transact(items).await
    }
}
