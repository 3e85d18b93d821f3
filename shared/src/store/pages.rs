//! An import's rows as pages: up to [`ROWS_PER_PAGE`] validated rows of the same 1,000
//! lines in one item (packed: JSON, deflated) (`ORG#<org>#IMPORT#<id>#ROWS#<line / 1000>`, `PAGE#<last line>`),
//! so that a validation writes one item per 200 rows instead of one per row. A page is
//! written whole: by the validation (its bounds depend only on the file, so a run again
//! puts the same pages) and by a fix in place (on condition of its `version`). The
//! commit does not write pages: what it did to their rows is kept apart
//! (store::outcomes), and the rows it leaves waiting go into waiting groups
//! (store::groups). Commits requested before groups put pages again with the rows' new
//! statuses, and an item for each waiting row beside its page (`PENDING#<line>`, in the
//! pending index) that sign-ups and deletes change and a listing shows in place of the
//! page's copy.

use super::imports::s;
use super::items::{from_item, keyed};
use super::rows::RowRecord;
use super::schema::{ERRORS_INDEX, ERRORS_INDEX_PK, ERRORS_INDEX_SK};
use super::schema::{PENDING_INDEX_PK, PENDING_INDEX_SK};
use super::write::Item;
use super::{service, Store, StoreError, StoreResult};
use crate::domain::{ImportId, MatchKey, OrgId, Outcome, RowStatus};
use crate::keys;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Rows in one page at most.
pub const ROWS_PER_PAGE: usize = 200;
/// Bytes of original cells in one page at most (a row holds at most 64 KB of them): a
/// DynamoDB item holds 400 KB, and the verdicts take room too.
pub const PAGE_CELL_BYTES: usize = 160 * 1024;

#[derive(Serialize)]
struct PageOut {
    first: u64,
    last: u64,
    version: u64,
}

#[derive(Deserialize)]
struct PageIn {
    #[serde(default)]
    version: u64,
    /// The rows of a page written before pages were compressed.
    #[serde(default)]
    rows: Vec<RowRecord>,
    #[serde(rename = "pk")]
    partition: String,
    #[serde(rename = "sk")]
    sort_key: String,
}

/// The attribute holding a page's rows: JSON, deflated (binary). A page of 200 rows
/// is about a tenth of the size of the same rows as DynamoDB maps (whose attribute
/// names repeat on every row), and DynamoDB charges writes and reads by size.
const PACKED_ROWS: &str = "z";

fn pack(rows: &[RowRecord]) -> Vec<u8> {
    deflate(&serde_json::to_vec(rows).expect("rows always serialise"))
}

/// Bytes deflated (fast), as pages and the commit's outcomes keep their rows.
pub(super) fn deflate(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
    z.write_all(bytes)
        .and_then(|()| z.finish())
        .expect("writing to memory does not fail")
}

fn unpack(bytes: &[u8]) -> StoreResult<Vec<RowRecord>> {
    let corrupt = |e: &dyn std::fmt::Display| StoreError::Corrupt(format!("a page's rows: {e}"));
    let json = flate2::read::DeflateDecoder::new(bytes);
    serde_json::from_reader(std::io::BufReader::new(json)).map_err(|e| corrupt(&e))
}

/// Which pages [`Store::pages_from`] reads.
#[derive(Clone, Copy, Debug)]
pub(super) enum PagesOf {
    /// Every page, read strongly consistent or not.
    All { consistent: bool },
    /// Only pages with an error row, through the errors index.
    WithErrors,
}

/// A page as read: its rows (each knowing the page's keys) and its version.
pub(super) struct Page {
    pub rows: Vec<RowRecord>,
    pub version: u64,
}

/// Splits rows (in file order) into pages: a page ends after [`ROWS_PER_PAGE`] rows,
/// before a row of the next 1,000 lines, or before its cells would pass
/// [`PAGE_CELL_BYTES`]. Only the file decides the bounds, never the verdicts: the same
/// chunk of a file always gives the same pages.
pub(super) fn paginate(rows: &[RowRecord]) -> Vec<&[RowRecord]> {
    let mut pages = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, row) in rows.iter().enumerate() {
        let size: usize = row.cells.iter().map(String::len).sum();
        let full = i > start
            && (i - start == ROWS_PER_PAGE
                || keys::row_block(row.row) != keys::row_block(rows[start].row)
                || bytes + size > PAGE_CELL_BYTES);
        if full {
            pages.push(&rows[start..i]);
            (start, bytes) = (i, 0);
        }
        bytes += size;
    }
    if start < rows.len() {
        pages.push(&rows[start..]);
    }
    pages
}

/// A page as an item; it is in the errors index while any of its rows is an error.
pub(super) fn page_item(org: &OrgId, id: &ImportId, rows: &[RowRecord], version: u64) -> Item {
    let (first, last) = (rows[0].row, rows[rows.len() - 1].row);
    let pk = keys::row_block_pk(org, id, keys::row_block(last));
    let sk = keys::page_sk(last);
    let mut item = keyed(
        pk.clone(),
        sk.clone(),
        &PageOut {
            first,
            last,
            version,
        },
    );
    item.insert(
        PACKED_ROWS.into(),
        aws_sdk_dynamodb::types::AttributeValue::B(aws_sdk_dynamodb::primitives::Blob::new(pack(
            rows,
        ))),
    );
    if rows.iter().any(|r| r.outcome == Outcome::Error) {
        item.insert(ERRORS_INDEX_PK.into(), s(pk));
        item.insert(ERRORS_INDEX_SK.into(), s(sk));
    }
    item
}

/// The item of a row the commit leaves waiting: the row as committed, beside its page
/// and in the pending index.
pub(super) fn pending_row_item(
    org: &OrgId,
    id: &ImportId,
    row: &RowRecord,
    key: &MatchKey,
) -> Item {
    let mut item = keyed(
        keys::row_block_pk(org, id, keys::row_block(row.row)),
        keys::pending_row_sk(row.row),
        row,
    );
    item.insert(PENDING_INDEX_PK.into(), s(keys::pending_shard_pk(org, key)));
    item.insert(PENDING_INDEX_SK.into(), s(keys::match_key_pk(org, key)));
    item
}

fn page_of(mut item: Item) -> StoreResult<Page> {
    let packed = item.remove(PACKED_ROWS);
    let mut page: PageIn = from_item(item)?;
    if let Some(packed) = packed {
        let bytes = packed
            .as_b()
            .map_err(|_| StoreError::Corrupt("a page's rows are not binary".into()))?;
        page.rows = unpack(bytes.as_ref())?;
    }
    let rows = page
        .rows
        .into_iter()
        .map(|mut r| {
            r.partition = Some(page.partition.clone());
            r.sort_key = Some(page.sort_key.clone());
            r
        })
        .collect();
    Ok(Page {
        rows,
        version: page.version,
    })
}

impl Store {
    /// Writes validated rows (a chunk of the file, in order) as pages.
    pub(super) async fn write_pages(
        &self,
        org: &OrgId,
        id: &ImportId,
        rows: &[RowRecord],
    ) -> StoreResult<()> {
        let items = paginate(rows)
            .into_iter()
            .map(|page| page_item(org, id, page, 0))
            .collect();
        self.put_items(items).await
    }

    /// Whole pages holding rows from line `from` on, in file order, until they hold at
    /// least `rows_wanted` rows or `last_line` is passed; and whether more may follow.
    pub(super) async fn pages_from(
        &self,
        org: &OrgId,
        id: &ImportId,
        last_line: u64,
        from: u64,
        rows_wanted: usize,
        source: PagesOf,
    ) -> StoreResult<(Vec<Page>, bool)> {
        let mut pages = Vec::new();
        let mut rows = 0usize;
        let blocks = keys::row_block(from)..=keys::row_block(last_line);
        let last_block = keys::row_block(last_line);
        for block in blocks {
            let pk = keys::row_block_pk(org, id, block);
            let mut start: Option<Item> = None;
            loop {
                let q = self.ddb.query().table_name(&self.table);
                let q = match source {
                    PagesOf::WithErrors => q
                        .index_name(ERRORS_INDEX)
                        .key_condition_expression("#ei = :pk AND #er BETWEEN :from AND :to")
                        .expression_attribute_names("#ei", ERRORS_INDEX_PK)
                        .expression_attribute_names("#er", ERRORS_INDEX_SK),
                    PagesOf::All { consistent } => q
                        .key_condition_expression("pk = :pk AND sk BETWEEN :from AND :to")
                        .consistent_read(consistent),
                };
                let wanted_pages = (rows_wanted.saturating_sub(rows) / ROWS_PER_PAGE + 1) as i32;
                let out = q
                    .expression_attribute_values(":pk", s(pk.clone()))
                    .expression_attribute_values(":from", s(keys::page_sk(from)))
                    .expression_attribute_values(":to", s("PAGE#~"))
                    .limit(wanted_pages.min(50))
                    .set_exclusive_start_key(start.take())
                    .send()
                    .await
                    .map_err(service("read pages"))?;
                for item in out.items.unwrap_or_default() {
                    let page = page_of(item)?;
                    rows += page.rows.len();
                    pages.push(page);
                }
                let more_here = out.last_evaluated_key.filter(|k| !k.is_empty());
                if rows >= rows_wanted {
                    return Ok((pages, more_here.is_some() || block < last_block));
                }
                match more_here {
                    Some(k) => start = Some(k),
                    None => break,
                }
            }
        }
        Ok((pages, false))
    }

    /// The page holding line `line` (read strongly consistent), if any row has that line.
    pub(super) async fn page_holding(
        &self,
        org: &OrgId,
        id: &ImportId,
        line: u64,
    ) -> StoreResult<Option<Page>> {
        let out = self
            .ddb
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND sk BETWEEN :from AND :to")
            .expression_attribute_values(
                ":pk",
                s(keys::row_block_pk(org, id, keys::row_block(line))),
            )
            .expression_attribute_values(":from", s(keys::page_sk(line)))
            .expression_attribute_values(":to", s("PAGE#~"))
            .consistent_read(true)
            .limit(1)
            .send()
            .await
            .map_err(service("read page"))?;
        let Some(item) = out.items.unwrap_or_default().into_iter().next() else {
            return Ok(None);
        };
        let page = page_of(item)?;
        Ok(page.rows.iter().any(|r| r.row == line).then_some(page))
    }

    /// Shows each row the commit left waiting as its own item has it now (pending,
    /// applied or deleted), in place of the page's copy.
    pub(super) async fn with_pending_items(
        &self,
        org: &OrgId,
        id: &ImportId,
        rows: Vec<RowRecord>,
        consistent: bool,
    ) -> StoreResult<Vec<RowRecord>> {
        let wanted: Vec<Item> = rows
            .iter()
            .filter(|r| r.status == RowStatus::Pending)
            .map(|r| {
                HashMap::from([
                    (
                        "pk".to_string(),
                        s(keys::row_block_pk(org, id, keys::row_block(r.row))),
                    ),
                    ("sk".to_string(), s(keys::pending_row_sk(r.row))),
                ])
            })
            .collect();
        if wanted.is_empty() {
            return Ok(rows);
        }
        let mut found: HashMap<u64, RowRecord> = HashMap::new();
        for keys_wanted in wanted.chunks(100) {
            for item in self.batch_get(keys_wanted.to_vec(), consistent).await? {
                let r: RowRecord = from_item(item)?;
                found.insert(r.row, r);
            }
        }
        Ok(rows
            .into_iter()
            .map(|r| match r.status {
                RowStatus::Pending => found.remove(&r.row).unwrap_or(r),
                _ => r,
            })
            .collect())
    }

    /// Puts pages again with some of their rows replaced (`changed`, by line): the
    /// commit's moves. `rows` are the pages' rows as read, every row of each page.
    pub(super) fn pages_with(
        org: &OrgId,
        id: &ImportId,
        rows: &[RowRecord],
        changed: &HashMap<u64, &RowRecord>,
    ) -> StoreResult<Vec<Item>> {
        let mut items = Vec::new();
        let mut start = 0;
        while start < rows.len() {
            let sk = &rows[start].sort_key;
            let end = start
                + rows[start..]
                    .iter()
                    .take_while(|r| &r.sort_key == sk)
                    .count();
            let page = &rows[start..end];
            if page.iter().any(|r| changed.contains_key(&r.row)) {
                let last = page[page.len() - 1].row;
                if sk.as_deref() != Some(keys::page_sk(last).as_str()) {
                    return Err(StoreError::Corrupt(format!(
                        "rows up to line {last} are not a whole page"
                    )));
                }
                let new: Vec<RowRecord> = page
                    .iter()
                    .map(|r| changed.get(&r.row).map_or(r, |c| *c).clone())
                    .collect();
                items.push(page_item(org, id, &new, 0));
            }
            start = end;
        }
        Ok(items)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::MatchMethod;

    fn row(line: u64, cell_bytes: usize) -> RowRecord {
        RowRecord::validated(
            "i",
            line,
            vec!["x".repeat(cell_bytes)],
            Outcome::Ready,
            MatchMethod::Email,
        )
    }

    #[test]
    fn a_page_is_read_back_packed_or_as_written_before_pages_were_packed() {
        let org = OrgId::parse("acme").unwrap();
        let id = ImportId::parse("imp1").unwrap();
        let rows: Vec<RowRecord> = (2..202).map(|l| row(l, 40)).collect();
        let packed = page_item(&org, &id, &rows, 3);
        let size = |item: &Item| format!("{item:?}").len();
        #[derive(Serialize)]
        struct Unpacked<'a> {
            first: u64,
            last: u64,
            version: u64,
            rows: &'a [RowRecord],
        }
        let unpacked = keyed(
            keys::row_block_pk(&org, &id, 0),
            keys::page_sk(201),
            &Unpacked {
                first: 2,
                last: 201,
                version: 3,
                rows: &rows,
            },
        );
        assert!(
            size(&packed) * 4 < size(&unpacked),
            "{} against {}",
            size(&packed),
            size(&unpacked)
        );
        for item in [packed, unpacked] {
            let page = page_of(item).unwrap();
            assert_eq!(page.version, 3);
            assert_eq!(page.rows.len(), rows.len());
            for (a, b) in page.rows.iter().zip(&rows) {
                assert_eq!((a.row, &a.cells, a.outcome), (b.row, &b.cells, b.outcome));
                assert_eq!(a.sort_key.as_deref(), Some(keys::page_sk(201).as_str()));
            }
        }
    }

    #[test]
    fn pages_end_at_their_row_count_at_a_thousand_lines_and_at_their_size() {
        let rows: Vec<RowRecord> = (2..1002).map(|l| row(l, 10)).collect();
        let lines: Vec<(u64, u64)> = paginate(&rows)
            .iter()
            .map(|p| (p[0].row, p[p.len() - 1].row))
            .collect();
        assert_eq!(
            lines,
            [
                (2, 201),
                (202, 401),
                (402, 601),
                (602, 801),
                (802, 999),
                (1000, 1001)
            ]
        );
        // Rows of 60 KB: two to a page.
        let big: Vec<RowRecord> = (2..7).map(|l| row(l, 60 * 1024)).collect();
        let sizes: Vec<usize> = paginate(&big).iter().map(|p| p.len()).collect();
        assert_eq!(sizes, [2, 2, 1]);
        // A row larger than a page alone is still a page of its own.
        let huge = [row(2, 200 * 1024), row(3, 1)];
        let sizes: Vec<usize> = paginate(&huge).iter().map(|p| p.len()).collect();
        assert_eq!(sizes, [1, 1]);
    }
}
