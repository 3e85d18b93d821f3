//! Waiting groups: the rows of one import that wait for one match key, as one item in
//! the key's partition (`ORG#<org>#KEY#<method>#<value>`, `WAIT#<import>`, beside its
//! people item), put by the commit once its pages are written. A group holds each row's
//! training, date and state (pending or deleted); the group itself is `pending`, then
//! `applying` once a sign-up has claimed it for its person, then `applied`. So:
//! - a commit writes one item per group, not one per waiting row;
//! - a sign-up reads its keys' partitions (strongly consistent, no index), claims each
//!   group (a conditional update), writes the completions with BatchWriteItem, and
//!   marks the groups applied with a count shard per import they are in, in
//!   transactions of up to 100 items: its transactional items are its groups plus
//!   their imports;
//! - a delete marks rows of a group deleted on condition that the group and the rows
//!   are still pending, so a delete and an apply end each row once. A claimed group's
//!   rows are no longer pending: a sign-up that stopped after its claim is finished by
//!   the person's next sign-in, which finds the group `applying` for them.
//!
//! Here: what a group is, putting and reading groups, and rows shown as their groups
//! have them; applying them to a person in `apply.rs`, deleting rows in `delete.rs`.
//!
//! A group of more than [`GROUP_ROWS`] rows is split into parts (`WAIT#<import>#<first
//! line>`), each an item of its own; the first part lists where the others begin.

use super::counts::COUNT_SHARDS;
use super::imports::s;
use super::items::{from_item, keyed, Stamp};
use super::rows::RowRecord;
use super::schema::{PENDING_INDEX_PK, PENDING_INDEX_SK};
use super::write::Item;
use super::{service, Store, StoreError, StoreResult};
use crate::domain::{ImportId, MatchKey, MatchMethod, OrgId, Outcome, RowStatus};
use crate::keys;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

/// Rows in one group item at most (about 100 bytes each).
pub const GROUP_ROWS: usize = 1000;
/// Group updates in one transaction, beside their import's count shard.
const GROUPS_PER_TRANSACTION: usize = 99;
/// Transactions of one call in flight at once.
const GROUP_CONCURRENCY: usize = 8;
/// Claims of one sign-up in flight at once (single-item updates).
const CLAIM_CONCURRENCY: usize = 32;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupStatus {
    Pending,
    /// Claimed by a sign-up for `person_id`; its completions may be partly written.
    Applying,
    Applied,
}

impl GroupStatus {
    fn as_str(self) -> &'static str {
        match self {
            GroupStatus::Pending => "pending",
            GroupStatus::Applying => "applying",
            GroupStatus::Applied => "applied",
        }
    }
}

/// One waiting row in a group.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct GroupRow {
    #[serde(rename = "t")]
    pub training_id: String,
    #[serde(rename = "d")]
    pub date: String,
    /// `pending`, or `deleted` by an admin.
    #[serde(rename = "s")]
    pub state: RowStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_by: Option<Stamp>,
}

/// A waiting group (or one part of a large one) as stored.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct WaitingGroup {
    pub import_id: String,
    pub match_method: MatchMethod,
    pub match_value: String,
    pub status: GroupStatus,
    /// On a group's first part: the first line of each later part.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<u64>,
    /// The rows by line.
    pub rows: BTreeMap<String, GroupRow>,
    /// Training titles by training ID, as they were at validation.
    #[serde(default)]
    pub titles: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied_to_account: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied_at: Option<String>,
    #[serde(rename = "pk", default, skip_serializing)]
    pub partition: String,
    #[serde(rename = "sk", default, skip_serializing)]
    pub sort_key: String,
}

/// A row the commit left waiting, as its group keeps it.
#[derive(Clone, Debug)]
pub struct WaitingRow {
    pub line: u64,
    pub training_id: String,
    pub title: String,
    pub date: String,
}

impl WaitingGroup {
    pub fn key(&self) -> MatchKey {
        MatchKey::from_stored(self.match_method, &self.match_value)
    }

    fn import(&self) -> StoreResult<ImportId> {
        ImportId::parse(&self.import_id).map_err(StoreError::Corrupt)
    }

    /// Its rows still pending, by line.
    pub fn pending_rows(&self) -> impl Iterator<Item = (u64, &GroupRow)> {
        self.rows
            .iter()
            .filter(|(_, r)| r.state == RowStatus::Pending)
            .filter_map(|(l, r)| l.parse().ok().map(|l| (l, r)))
    }

    /// Whether a sign-up of `person` has rows to apply here.
    fn waits_for(&self, person: Option<&str>) -> bool {
        match self.status {
            GroupStatus::Pending => self.pending_rows().next().is_some(),
            GroupStatus::Applying => person.is_none_or(|p| self.person_id.as_deref() == Some(p)),
            GroupStatus::Applied => false,
        }
    }

    fn item_key(&self) -> Item {
        HashMap::from([
            ("pk".to_string(), s(self.partition.clone())),
            ("sk".to_string(), s(self.sort_key.clone())),
        ])
    }

    /// The sort key of the part holding `line` (read on a group's first part).
    fn part_holding(&self, id: &ImportId, line: u64) -> String {
        match self.parts.iter().rev().find(|&&first| first <= line) {
            Some(first) => keys::group_sk(id, Some(*first)),
            None => keys::group_sk(id, None),
        }
    }

    /// A row read from its page (which says pending) as the group has it now.
    fn shown(&self, mut row: RowRecord) -> RowRecord {
        let Some(r) = self.rows.get(&row.row.to_string()) else {
            return row;
        };
        if r.state == RowStatus::Deleted {
            row.status = RowStatus::Deleted;
            row.deleted_at = r.deleted_at.clone();
            row.deleted_by = r.deleted_by.clone();
        } else if self.status == GroupStatus::Applied {
            row.status = RowStatus::Applied;
            row.person_id = self.person_id.clone().or(row.person_id);
            row.applied_at = self.applied_at.clone();
            row.applied_to_account = self.applied_to_account.clone();
        }
        row
    }

    /// Its rows still pending as rows (key, training and date; no cells).
    pub fn as_rows(&self) -> Vec<RowRecord> {
        self.pending_rows()
            .map(|(line, r)| RowRecord {
                status: RowStatus::Pending,
                match_value: Some(self.match_value.clone()),
                training_id: Some(r.training_id.clone()),
                training_title: self.titles.get(&r.training_id).cloned(),
                completion_date: Some(r.date.clone()),
                partition: Some(self.partition.clone()),
                sort_key: Some(self.sort_key.clone()),
                ..RowRecord::validated(
                    &self.import_id,
                    line,
                    vec![],
                    Outcome::Pending,
                    self.match_method,
                )
            })
            .collect()
    }
}

/// The items of an import's group for `key`: its rows (in file order) in parts of
/// [`GROUP_ROWS`], each in the pending index.
pub(super) fn group_items(
    org: &OrgId,
    id: &ImportId,
    key: &MatchKey,
    rows: &[WaitingRow],
) -> Vec<Item> {
    let chunks: Vec<&[WaitingRow]> = rows.chunks(GROUP_ROWS).collect();
    let parts: Vec<u64> = chunks.iter().skip(1).map(|c| c[0].line).collect();
    chunks
        .iter()
        .enumerate()
        .map(|(i, chunk)| {
            let group = WaitingGroup {
                import_id: id.to_string(),
                match_method: key.method(),
                match_value: key.value().to_string(),
                status: GroupStatus::Pending,
                parts: if i == 0 { parts.clone() } else { vec![] },
                rows: chunk
                    .iter()
                    .map(|r| {
                        let row = GroupRow {
                            training_id: r.training_id.clone(),
                            date: r.date.clone(),
                            state: RowStatus::Pending,
                            deleted_at: None,
                            deleted_by: None,
                        };
                        (r.line.to_string(), row)
                    })
                    .collect(),
                titles: chunk
                    .iter()
                    .map(|r| (r.training_id.clone(), r.title.clone()))
                    .collect(),
                person_id: None,
                applied_to_account: None,
                applied_at: None,
                partition: String::new(),
                sort_key: String::new(),
            };
            let first = (i > 0).then(|| chunk[0].line);
            let mut item = keyed(
                keys::match_key_pk(org, key),
                keys::group_sk(id, first),
                &group,
            );
            item.insert(PENDING_INDEX_PK.into(), s(keys::pending_shard_pk(org, key)));
            item.insert(PENDING_INDEX_SK.into(), s(keys::match_key_pk(org, key)));
            item
        })
        .collect()
}

/// An item's table keys (pk, sk).
type ItemKey = (String, String);

/// The count shard a change to a group item adds to: spread by the item's key, so
/// transactions in flight together mostly add to different shards.
fn count_shard((pk, sk): &(String, String)) -> u64 {
    let sum = pk.bytes().chain(sk.bytes()).map(u64::from).sum::<u64>();
    sum % COUNT_SHARDS
}

impl Store {
    /// Puts an import's groups: with BatchWriteItem when no run put any before (nobody
    /// can have changed them), else each on condition it does not exist yet (a sign-up
    /// or a delete may have changed one an earlier run put).
    pub(crate) async fn put_groups(&self, items: Vec<Item>, first_run: bool) -> StoreResult<()> {
        match first_run {
            true => self.put_items(items).await,
            false => self.put_new_items(items).await,
        }
    }

    /// Every waiting group (and part) in one key's partition, read strongly consistent.
    pub async fn groups_for_key(
        &self,
        org: &OrgId,
        key: &MatchKey,
    ) -> StoreResult<Vec<WaitingGroup>> {
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .ddb
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :w)")
                .expression_attribute_values(":pk", s(keys::match_key_pk(org, key)))
                .expression_attribute_values(":w", s(keys::GROUP_PREFIX))
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(service("query waiting groups"))?;
            for item in page.items.unwrap_or_default() {
                out.push(from_item(item)?);
            }
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(out),
            }
        }
    }

    /// The group items holding these rows (key and line) of an import: the first parts
    /// by BatchGetItem, then the later parts some rows are in.
    async fn groups_holding(
        &self,
        org: &OrgId,
        id: &ImportId,
        rows: &[(MatchKey, u64)],
        consistent: bool,
    ) -> StoreResult<HashMap<u64, Arc<WaitingGroup>>> {
        let key_item = |pk: String, sk: String| {
            HashMap::from([("pk".to_string(), s(pk)), ("sk".to_string(), s(sk))])
        };
        let mut firsts: HashMap<String, Arc<WaitingGroup>> = HashMap::new();
        let wanted: HashSet<String> = rows
            .iter()
            .map(|(k, _)| keys::match_key_pk(org, k))
            .collect();
        let wanted: Vec<Item> = wanted
            .into_iter()
            .map(|pk| key_item(pk, keys::group_sk(id, None)))
            .collect();
        for chunk in wanted.chunks(100) {
            for item in self.batch_get(chunk.to_vec(), consistent).await? {
                let g: WaitingGroup = from_item(item)?;
                firsts.insert(g.partition.clone(), Arc::new(g));
            }
        }
        let mut out = HashMap::new();
        let mut later: HashMap<(String, String), Vec<u64>> = HashMap::new();
        for (key, line) in rows {
            let Some(first) = firsts.get(&keys::match_key_pk(org, key)) else {
                continue; // not put yet: the commit is still writing its pages
            };
            let sk = first.part_holding(id, *line);
            if sk == first.sort_key {
                out.insert(*line, first.clone());
            } else {
                later
                    .entry((first.partition.clone(), sk))
                    .or_default()
                    .push(*line);
            }
        }
        let later_keys: Vec<Item> = later
            .keys()
            .map(|(pk, sk)| key_item(pk.clone(), sk.clone()))
            .collect();
        for chunk in later_keys.chunks(100) {
            for item in self.batch_get(chunk.to_vec(), consistent).await? {
                let g: WaitingGroup = from_item(item)?;
                let lines = later
                    .get(&(g.partition.clone(), g.sort_key.clone()))
                    .cloned();
                let g = Arc::new(g);
                for line in lines.unwrap_or_default() {
                    out.insert(line, g.clone());
                }
            }
        }
        Ok(out)
    }

    /// Shows each row the commit left waiting as its group has it now (pending,
    /// applied or deleted), in place of its page's copy.
    pub(super) async fn with_groups(
        &self,
        org: &OrgId,
        id: &ImportId,
        rows: Vec<RowRecord>,
        consistent: bool,
    ) -> StoreResult<Vec<RowRecord>> {
        let waiting: Vec<(MatchKey, u64)> = rows
            .iter()
            .filter(|r| r.status == RowStatus::Pending)
            .filter_map(|r| r.match_key().map(|k| (k, r.row)))
            .collect();
        if waiting.is_empty() {
            return Ok(rows);
        }
        let holding = self.groups_holding(org, id, &waiting, consistent).await?;
        Ok(rows
            .into_iter()
            .map(|r| match (r.status, holding.get(&r.row)) {
                (RowStatus::Pending, Some(g)) => g.shown(r),
                _ => r,
            })
            .collect())
    }
}

mod apply;
mod delete;

#[cfg(test)]
mod tests {
    use super::*;

    fn waiting(lines: std::ops::Range<u64>) -> Vec<WaitingRow> {
        lines
            .map(|line| WaitingRow {
                line,
                training_id: format!("t{}", line % 3),
                title: "Title".into(),
                date: "2024-01-01".into(),
            })
            .collect()
    }

    #[test]
    fn a_large_group_is_split_into_parts_its_first_part_lists() {
        let org = OrgId::parse("acme").unwrap();
        let id = ImportId::parse("imp1").unwrap();
        let key = MatchKey::from_stored(MatchMethod::Email, "a@example.com");
        let items = group_items(&org, &id, &key, &waiting(2..2502));
        assert_eq!(items.len(), 3);
        let groups: Vec<WaitingGroup> = items.into_iter().map(|i| from_item(i).unwrap()).collect();
        assert_eq!(groups[0].parts, [1002, 2002]);
        assert_eq!(groups[0].sort_key, keys::group_sk(&id, None));
        assert_eq!(groups[1].sort_key, keys::group_sk(&id, Some(1002)));
        assert_eq!(groups[0].part_holding(&id, 1001), groups[0].sort_key);
        assert_eq!(groups[0].part_holding(&id, 1002), groups[1].sort_key);
        assert_eq!(groups[0].part_holding(&id, 2501), groups[2].sort_key);
        assert_eq!(groups[2].rows.len(), 500);
        assert_eq!(groups[0].titles.len(), 3);
    }
}
