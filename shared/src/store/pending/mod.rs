//! Pending rows: finding them through the pending index, by match key or a whole
//! organisation's. The index is spread over [`keys::PENDING_SHARDS`] partitions by match
//! key; rows committed before that are still found in the organisation's one legacy
//! partition `ORG#<org>`. Waiting groups carry the index keys too while they wait;
//! rows with their own item (commits from before groups) are applied and deleted in
//! [`own_items`].

mod own_items;

pub use own_items::{
    APPLY_CONCURRENCY, APPLY_ITEMS_PER_TRANSACTION, DELETE_CONCURRENCY, DELETE_ROWS_PER_TRANSACTION,
};

use super::groups::WaitingGroup;
use super::imports::s;
use super::items::from_item;
use super::rows::RowRecord;
use super::schema::{PENDING_INDEX, PENDING_INDEX_PK, PENDING_INDEX_SK};
use super::{service, Store, StoreError, StoreResult};
use crate::domain::{ImportId, MatchKey, MatchMethod, OrgId};
use crate::keys;

/// Partitions of the pending index a validation reads at once.
const PENDING_READ_CONCURRENCY: usize = 16;

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
}
