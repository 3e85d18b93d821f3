//! Pending rows: finding them (the pending index, by match key or a whole
//! organisation's; the index is spread over [`keys::PENDING_SHARDS`] partitions by match
//! key, and rows committed before that are still found in the organisation's one
//! legacy partition `ORG#<org>`), applying them to a person who signed up (each row on condition it is
//! still pending, with its completion and its import's count, in transactions), and
//! deleting them (the same condition, so a delete and an apply end each row once).

use super::counts::COUNT_SHARDS;
use super::groups::WaitingGroup;
use super::imports::{n, s};
use super::items::{from_item, Stamp};
use super::rows::{RowLayout, RowRecord};
use super::schema::{PENDING_INDEX, PENDING_INDEX_PK, PENDING_INDEX_SK};
use super::write::TxOutcome;
use super::{now_rfc3339, service, Store, StoreError, StoreResult};
use crate::domain::{ImportId, MatchKey, MatchMethod, OrgId, PersonId, RowStatus, TrainingId};
use crate::keys;
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use std::collections::BTreeMap;

/// Rows in one delete transaction, beside their count shard (DynamoDB allows 100 items).
pub const DELETE_ROWS_PER_TRANSACTION: usize = 99;
/// Delete transactions of one request in flight at once.
pub const DELETE_CONCURRENCY: usize = 4;

/// Items in one apply transaction (DynamoDB allows 100).
pub const APPLY_ITEMS_PER_TRANSACTION: usize = 96;
/// Partitions of the pending index a validation reads at once.
const PENDING_READ_CONCURRENCY: usize = 16;

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

    /// A Query of one partition of the pending-row index, with `sk_condition` on the
    /// match key (`#k`, value `:k` = `sk`).
    fn pending_index_query(
        &self,
        partition: String,
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
            .expression_attribute_values(":o", s(partition))
            .expression_attribute_values(":k", s(sk))
    }

    /// The index partitions a key's pending rows can be in: its shard, and the
    /// organisation's legacy partition (rows committed before the index was sharded).
    fn pending_partitions_of(org: &OrgId, key: &MatchKey) -> [String; 2] {
        [keys::pending_shard_pk(org, key), keys::org_pk(org)]
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
        let partitions: Vec<String> = (0..keys::PENDING_SHARDS)
            .map(|shard| keys::pending_shard(org, shard))
            .chain([keys::org_pk(org)])
            .collect();
        let mut out = Vec::new();
        // A few partitions at once; the budget is checked between them.
        for batch in partitions.chunks(PENDING_READ_CONCURRENCY) {
            let left = budget + 1 - out.len();
            let found = futures::future::try_join_all(
                batch
                    .iter()
                    .map(|p| self.pending_of_partition(p.clone(), &prefix, left)),
            )
            .await?;
            for item in found.into_iter().flatten() {
                if item.contains_key("rows") {
                    let group: WaitingGroup = from_item(item)?;
                    let key = group.key();
                    for (_, r) in group.pending_rows() {
                        out.push((key.clone(), r.training_id.clone(), r.date.clone()));
                    }
                    continue;
                }
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
        }
        Ok(Some(out))
    }

    /// Up to `limit` pending rows of one index partition whose key begins with `prefix`
    /// (key, training and date only).
    async fn pending_of_partition(
        &self,
        partition: String,
        prefix: &str,
        limit: usize,
    ) -> StoreResult<Vec<super::write::Item>> {
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .pending_index_query(partition.clone(), "begins_with(#k, :k)", prefix)
                .projection_expression(
                    "match_value, match_method, import_id, training_id, completion_date, #r, #gs",
                )
                .expression_attribute_names("#r", "rows")
                .expression_attribute_names("#gs", "status")
                .limit(i32::try_from(limit - out.len()).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(service("query pending rows of the organisation"))?;
            out.extend(page.items.unwrap_or_default());
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() && out.len() < limit => start = Some(k),
                _ => return Ok(out),
            }
        }
    }

    /// Whether any row of the organisation waits under this key: one Query of each of
    /// the key's index partitions, at once, each reading at most one item.
    pub async fn has_pending_rows(&self, org: &OrgId, key: &MatchKey) -> StoreResult<bool> {
        let sk = keys::match_key_pk(org, key);
        let counts = Self::pending_partitions_of(org, key).map(|partition| {
            self.pending_index_query(partition, "#k = :k", &sk)
                .limit(1)
                .select(aws_sdk_dynamodb::types::Select::Count)
                .send()
        });
        let counts = futures::future::try_join_all(counts)
            .await
            .map_err(service("query pending rows"))?;
        Ok(counts.iter().any(|out| out.count > 0))
    }

    /// Pending rows of every import of the organisation waiting for this key, through
    /// the pending index: rows of waiting groups (no cells) and rows with their own
    /// item (commits from before groups).
    pub async fn pending_rows_for_key(
        &self,
        org: &OrgId,
        key: &MatchKey,
    ) -> StoreResult<Vec<(ImportId, RowRecord)>> {
        let (mut rows, groups) = self.pending_index_for_key(org, key, true).await?;
        for g in groups {
            let import = ImportId::parse(&g.import_id).map_err(StoreError::Corrupt)?;
            rows.extend(g.as_rows().into_iter().map(|r| (import.clone(), r)));
        }
        Ok(rows)
    }

    /// What waits for a key, for a sign-up: the rows with their own item (from the
    /// pending index) and the waiting groups (read from the key's partition, strongly
    /// consistent).
    pub async fn waiting_for_key(
        &self,
        org: &OrgId,
        key: &MatchKey,
    ) -> StoreResult<(Vec<(ImportId, RowRecord)>, Vec<WaitingGroup>)> {
        let (rows, groups) = futures::future::try_join(
            self.pending_index_for_key(org, key, false),
            self.groups_for_key(org, key),
        )
        .await?;
        Ok((rows.0, groups))
    }

    /// The pending index's entries for a key: rows with their own item, and groups
    /// (left out by the query when `with_groups` is false: the caller reads them from
    /// the key's own partition). The key's index partitions are queried at once.
    async fn pending_index_for_key(
        &self,
        org: &OrgId,
        key: &MatchKey,
        with_groups: bool,
    ) -> StoreResult<(Vec<(ImportId, RowRecord)>, Vec<WaitingGroup>)> {
        let sk = keys::match_key_pk(org, key);
        let partitions = Self::pending_partitions_of(org, key);
        let read = partitions.into_iter().map(|partition| {
            let sk = &sk;
            async move {
                let (mut rows, mut groups) = (Vec::new(), Vec::new());
                let mut start = None;
                loop {
                    let mut query = self
                        .pending_index_query(partition.clone(), "#k = :k", sk)
                        .set_exclusive_start_key(start.take());
                    if !with_groups {
                        query = query
                            .filter_expression("attribute_not_exists(#rows)")
                            .expression_attribute_names("#rows", "rows");
                    }
                    let page = query.send().await.map_err(service("query pending rows"))?;
                    for item in page.items.unwrap_or_default() {
                        if item.contains_key("rows") {
                            groups.push(from_item(item)?);
                            continue;
                        }
                        let row: RowRecord = from_item(item)?;
                        let import =
                            ImportId::parse(&row.import_id).map_err(StoreError::Corrupt)?;
                        rows.push((import, row));
                    }
                    match page.last_evaluated_key {
                        Some(k) if !k.is_empty() => start = Some(k),
                        _ => return Ok::<_, StoreError>((rows, groups)),
                    }
                }
            }
        });
        let mut out = (Vec::new(), Vec::new());
        for (rows, groups) in futures::future::try_join_all(read).await? {
            out.0.extend(rows);
            out.1.extend(groups);
        }
        Ok(out)
    }

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
                let key = self
                    .page_holding(org, id, row)
                    .await?
                    .and_then(|p| p.rows.into_iter().find(|r| r.row == row))
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
    use crate::domain::Outcome;

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
