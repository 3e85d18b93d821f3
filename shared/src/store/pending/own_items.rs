//! Pending rows with their own item (commits from before waiting groups): applied to a
//! person who signed up (each row on condition it is still pending, with its completion
//! and its import's count, in transactions), and deleted (the same condition, so a
//! delete and an apply end each row once).

use crate::domain::{ImportId, MatchKey, OrgId, PersonId, RowStatus, TrainingId};
use crate::keys;
use crate::store::counts::COUNT_SHARDS;
use crate::store::imports::{n, s};
use crate::store::items::Stamp;
use crate::store::rows::{RowLayout, RowRecord};
use crate::store::schema::{PENDING_INDEX_PK, PENDING_INDEX_SK};
use crate::store::write::TxOutcome;
use crate::store::{now_rfc3339, Store, StoreError, StoreResult};
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use std::collections::BTreeMap;

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

/// The item a sign-up changes for a waiting row, from where the row was read: the row
/// item itself (older imports) or the pending item found in the index, or for a row read
/// from its page, the pending item beside it.
fn pending_item_key(row: &RowRecord) -> StoreResult<(String, String)> {
    match (&row.partition, &row.sort_key) {
        (Some(pk), Some(sk)) if sk.starts_with("PAGE#") => {
            Ok((pk.clone(), keys::pending_row_sk(row.row)))
        }
        (Some(pk), Some(sk)) => Ok((pk.clone(), sk.clone())),
        _ => Err(StoreError::Corrupt(format!(
            "pending row {} was not read from the table",
            row.row
        ))),
    }
}
impl Store {
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
        let (pk, sk) = pending_item_key(row)?;
        if sk.starts_with(keys::GROUP_PREFIX) {
            return Err(StoreError::Corrupt(format!(
                "row {} waits in a group: apply its group (Store::apply_groups)",
                row.row
            )));
        }
        let mut update = Update::builder()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
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

    /// Deletes one pending row; ConditionFailed when the row is not pending.
    pub async fn delete_pending_row(
        &self,
        org: &OrgId,
        id: &ImportId,
        layout: RowLayout,
        row: u64,
        by: &Stamp,
    ) -> StoreResult<()> {
        let done = match layout {
            RowLayout::Pages { groups: true, .. } => {
                let found = self
                    .page_holding(org, id, row)
                    .await?
                    .and_then(|p| p.rows.into_iter().find(|r| r.row == row));
                let key = self
                    .as_committed(org, id, true, found.into_iter().collect(), true)
                    .await?
                    .pop()
                    .filter(|r| r.status == RowStatus::Pending)
                    .and_then(|r| r.match_key());
                match key {
                    Some(key) => self.delete_group_rows(org, id, &[(key, row)], by).await?,
                    None => (0, 1),
                }
            }
            _ => {
                self.delete_group(org, id, layout, row % COUNT_SHARDS, vec![row], by)
                    .await?
            }
        };
        match done {
            (1, _) => Ok(()),
            _ => Err(StoreError::ConditionFailed),
        }
    }

    /// Deletes many pending rows of one import (as read: their lines and keys): in
    /// their waiting groups (store::groups), or each its own item: up to [`DELETE_ROWS_PER_TRANSACTION`] rows
    /// a transaction (each on condition that it is still pending) with one count shard,
    /// [`DELETE_CONCURRENCY`] transactions at once. A row no longer pending (applied by a
    /// sign-up, or deleted meanwhile) is left out and the rest of its transaction retried.
    /// Returns (deleted, no longer pending).
    pub async fn delete_pending_rows(
        &self,
        org: &OrgId,
        id: &ImportId,
        layout: RowLayout,
        rows: &[RowRecord],
        by: &Stamp,
    ) -> StoreResult<(usize, usize)> {
        use futures::stream::{self, StreamExt, TryStreamExt};
        if let RowLayout::Pages { groups: true, .. } = layout {
            let keyed: Vec<(MatchKey, u64)> = rows
                .iter()
                .filter_map(|r| r.match_key().map(|k| (k, r.row)))
                .collect();
            let (deleted, gone) = self.delete_group_rows(org, id, &keyed, by).await?;
            return Ok((deleted, gone + rows.len() - keyed.len()));
        }
        let rows: Vec<u64> = rows.iter().map(|r| r.row).collect();
        let groups: Vec<(u64, Vec<u64>)> = rows
            .chunks(DELETE_ROWS_PER_TRANSACTION)
            .enumerate()
            .map(|(i, g)| (i as u64 % COUNT_SHARDS, g.to_vec()))
            .collect();
        let done: Vec<(usize, usize)> = stream::iter(groups)
            // Transactions in flight together add to different count shards.
            .map(|(shard, group)| self.delete_group(org, id, layout, shard, group, by))
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
        layout: RowLayout,
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
                    .map(|&row| self.delete_item(layout.pending_item_key(org, id, row), &by))
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
    fn delete_item(&self, (pk, sk): (String, String), by: &AttributeValue) -> TransactWriteItem {
        let update = Update::builder()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{MatchMethod, Outcome};

    fn row(import: &str, line: u64, training: &str, date: &str) -> (ImportId, RowRecord) {
        let record = RowRecord {
            status: RowStatus::Pending,
            match_value: Some("a@example.com".into()),
            training_id: Some(training.into()),
            completion_date: Some(date.into()),
            ..RowRecord::validated(import, line, vec![], Outcome::Pending, MatchMethod::Email)
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
