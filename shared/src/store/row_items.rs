//! The rows of imports created before pages ([`RowLayout::Single`]): an item per row
//! under the import's own partition (`ORG#<org>#IMPORT#<id>`, `ROW#<line>`), read,
//! listed, committed and fixed as they were written. New imports never write these;
//! this file can go once no such import is kept.

use super::imports::{decode_cursor, encode_cursor, s};
use super::items::{from_item, keyed};
use super::rows::{RowPage, RowRecord, MAX_EXAMINED_PER_PAGE};
use super::schema::{ERRORS_INDEX, ERRORS_INDEX_PK, ERRORS_INDEX_SK};
use super::{service, Store, StoreResult};
use crate::domain::{ImportId, OrgId, Outcome, RowStatus};
use crate::keys;
use std::collections::HashMap;

/// A row as an item. Every write of a whole row goes through here, so that a row is in
/// the errors index exactly while its outcome is `error`.
pub(super) fn row_item(org: &OrgId, id: &ImportId, row: &RowRecord) -> super::write::Item {
    let pk = keys::import_pk(org, id);
    let mut item = keyed(pk.clone(), keys::row_sk(row.row), row);
    if row.outcome == Outcome::Error {
        item.insert(ERRORS_INDEX_PK.into(), s(pk));
        item.insert(ERRORS_INDEX_SK.into(), s(keys::row_sk(row.row)));
    }
    item
}

impl Store {
    pub(super) async fn get_row_item(
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

    /// [`Store::list_rows`] from row items (imports of the [`RowLayout::Single`] layout).
    pub(super) async fn list_row_items(
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

    /// Up to `limit` rows from line `from` on, read strongly consistent; and whether
    /// more follow. The commit's reader.
    pub(super) async fn row_items_from(
        &self,
        org: &OrgId,
        id: &ImportId,
        from: u64,
        limit: usize,
    ) -> StoreResult<(Vec<RowRecord>, bool)> {
        let mut rows = Vec::with_capacity(limit);
        let mut start: Option<super::write::Item> = None;
        loop {
            let page = self
                .ddb
                .query()
                .table_name(&self.table)
                .consistent_read(true)
                .key_condition_expression("pk = :pk AND sk BETWEEN :from AND :last")
                .expression_attribute_values(":pk", s(keys::import_pk(org, id)))
                .expression_attribute_values(":from", s(keys::row_sk(from)))
                .expression_attribute_values(":last", s("ROW#~"))
                .limit((limit - rows.len()) as i32)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(service("read rows"))?;
            for item in page.items.unwrap_or_default() {
                rows.push(from_item::<RowRecord>(item)?);
            }
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => {
                    if rows.len() >= limit {
                        return Ok((rows, true));
                    }
                    start = Some(k);
                }
                _ => return Ok((rows, false)),
            }
        }
    }
}
