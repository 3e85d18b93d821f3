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
//! A group of more than [`GROUP_ROWS`] rows is split into parts (`WAIT#<import>#<first
//! line>`), each an item of its own; the first part lists where the others begin.

use super::commit::{completion_item, NewCompletion};
use super::counts::COUNT_SHARDS;
use super::imports::s;
use super::items::{from_item, keyed, Stamp};
use super::rows::RowRecord;
use super::schema::{PENDING_INDEX_PK, PENDING_INDEX_SK};
use super::write::Item;
use super::{now_rfc3339, service, Store, StoreError, StoreResult};
use crate::domain::{
    ImportId, MatchKey, MatchMethod, OrgId, Outcome, PersonId, RowStatus, TrainingId,
};
use crate::keys;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, TransactWriteItem, Update};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

/// Rows in one group item at most (about 100 bytes each).
pub const GROUP_ROWS: usize = 1000;
/// Rows of one group one delete update marks at most (the expressions stay under 4 KB).
const DELETE_LINES_PER_UPDATE: usize = 25;
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

/// A completion a waiting row brings, and where it comes from.
struct GroupCompletion<'a> {
    import: ImportId,
    training: TrainingId,
    title: &'a str,
    date: &'a str,
    line: u64,
}

impl GroupCompletion<'_> {
    fn of<'a>(&'a self, person: &'a PersonId) -> NewCompletion<'a> {
        NewCompletion {
            person,
            training: &self.training,
            title: self.title,
            date: self.date,
            row: self.line,
        }
    }
}

/// An item's table keys (pk, sk).
type ItemKey = (String, String);

/// Rows of one group item to mark deleted together.
#[derive(Clone, Debug)]
struct DeleteMember {
    key: (String, String),
    import: ImportId,
    lines: Vec<u64>,
}

/// Places members into transactions of at most [`GROUPS_PER_TRANSACTION`], an item at
/// most once in each (DynamoDB refuses a transaction touching one item twice).
fn plan_transactions<T>(members: Vec<T>, item_of: impl Fn(&T) -> (String, String)) -> Vec<Vec<T>> {
    let mut plans: Vec<(HashSet<ItemKey>, Vec<T>)> = Vec::new();
    for m in members {
        let key = item_of(&m);
        let at = plans
            .iter()
            .position(|(keys, ms)| ms.len() < GROUPS_PER_TRANSACTION && !keys.contains(&key));
        let at = at.unwrap_or_else(|| {
            plans.push((HashSet::new(), Vec::new()));
            plans.len() - 1
        });
        plans[at].0.insert(key);
        plans[at].1.push(m);
    }
    plans.into_iter().map(|(_, ms)| ms).collect()
}

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

    /// Applies groups to a person who signed up: claims each one still pending (or
    /// claimed for this person by a run that stopped), writes the completions of its
    /// pending rows by BatchWriteItem, then marks the groups applied with a count shard
    /// for each import they are in, in transactions of up to 100 items.
    /// `completions_may_exist`: whether the person can have completions already (false
    /// at their first sign-up: only signed-up people get completions); if so, which
    /// exist is read while the groups are claimed, and one that exists keeps its first
    /// source. Returns (rows applied, rows no longer pending: the group was applied by
    /// another run, or claimed for someone else, or the row deleted before the claim).
    pub async fn apply_groups(
        &self,
        org: &OrgId,
        person: &PersonId,
        account: Option<&str>,
        groups: Vec<WaitingGroup>,
        completions_may_exist: bool,
    ) -> StoreResult<(usize, usize)> {
        use futures::stream::{self, StreamExt, TryStreamExt};
        let groups: Vec<WaitingGroup> = groups
            .into_iter()
            .filter(|g| g.waits_for(Some(person.as_str())))
            .collect();
        // Which completions exist already is read for the groups as read, while they
        // are claimed: a row deleted meanwhile only makes it read one too many.
        let claims = stream::iter(groups.iter())
            .map(|g| async move {
                let waiting = g.pending_rows().count();
                Ok::<_, StoreError>((waiting, self.claim(person, account, g).await?))
            })
            .buffer_unordered(CLAIM_CONCURRENCY)
            .try_collect::<Vec<(usize, Option<WaitingGroup>)>>();
        let present = async {
            match completions_may_exist {
                true => self.group_completions_present(org, person, &groups).await,
                false => Ok(HashSet::new()),
            }
        };
        let (claims, present) = futures::future::try_join(claims, present).await?;
        // Rows pending when read and not when claimed (deleted meanwhile), or in a group
        // no longer pending, are no longer pending.
        let mut gone: usize = claims
            .iter()
            .map(|(n, c)| match c {
                None => *n,
                Some(g) => n.saturating_sub(g.pending_rows().count()),
            })
            .sum();
        let mut claimed: Vec<WaitingGroup> = claims.into_iter().filter_map(|(_, c)| c).collect();
        self.put_group_completions(org, person, &claimed, &present)
            .await?;
        // Transactions of at most 100 items: the groups, and a count shard for each import
        // they are in.
        claimed.sort_by(|a, b| a.import_id.cmp(&b.import_id));
        let mut transactions: Vec<Vec<WaitingGroup>> = Vec::new();
        let mut items = 0;
        for g in claimed {
            let new_import = transactions
                .last()
                .and_then(|t| t.last())
                .is_none_or(|last| last.import_id != g.import_id);
            let cost = 1 + usize::from(new_import);
            match transactions.last_mut() {
                Some(t) if items + cost <= GROUPS_PER_TRANSACTION + 1 => {
                    items += cost;
                    t.push(g);
                }
                _ => {
                    items = 2;
                    transactions.push(vec![g]);
                }
            }
        }
        let done: Vec<(usize, usize)> = stream::iter(transactions)
            .map(|groups| self.finish_groups(org, person, groups))
            .buffer_unordered(GROUP_CONCURRENCY)
            .try_collect()
            .await?;
        let mut applied = 0;
        for (a, g) in done {
            applied += a;
            gone += g;
        }
        Ok((applied, gone))
    }

    /// Claims a group for `person`; None when it is no longer pending (applied, or
    /// claimed for someone else).
    async fn claim(
        &self,
        person: &PersonId,
        account: Option<&str>,
        g: &WaitingGroup,
    ) -> StoreResult<Option<WaitingGroup>> {
        use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
        let mut req = self
            .ddb
            .update_item()
            .table_name(&self.table)
            .key("pk", s(g.partition.clone()))
            .key("sk", s(g.sort_key.clone()))
            .condition_expression("#st = :pending OR (#st = :applying AND person_id = :p)")
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":pending", s(GroupStatus::Pending.as_str()))
            .expression_attribute_values(":applying", s(GroupStatus::Applying.as_str()))
            .expression_attribute_values(":p", s(person.as_str()))
            .expression_attribute_values(":now", s(now_rfc3339()))
            .return_values(ReturnValue::AllNew);
        req = match account {
            Some(sub) => req
                .update_expression("SET #st = :applying, person_id = :p, claimed_at = :now, applied_to_account = :a")
                .expression_attribute_values(":a", s(sub)),
            None => req.update_expression("SET #st = :applying, person_id = :p, claimed_at = :now"),
        };
        self.write_point("claim a waiting group")?;
        match req.send().await {
            Ok(out) => Ok(Some(from_item(out.attributes.unwrap_or_default())?)),
            Err(e) => match e.into_service_error() {
                UpdateItemError::ConditionalCheckFailedException(_) => Ok(None),
                other => Err(service("claim a waiting group")(other)),
            },
        }
    }

    /// The completions of groups' pending rows, one per (training, date).
    fn group_completions(groups: &[WaitingGroup]) -> StoreResult<Vec<GroupCompletion<'_>>> {
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        for g in groups {
            let import = g.import()?;
            for (line, r) in g.pending_rows() {
                if !seen.insert((r.training_id.as_str(), r.date.as_str())) {
                    continue; // a batch may not hold a key twice
                }
                let training = TrainingId::parse(&r.training_id).map_err(StoreError::Corrupt)?;
                let title = g.titles.get(&r.training_id).map_or("", String::as_str);
                out.push(GroupCompletion {
                    import: import.clone(),
                    training,
                    title,
                    date: r.date.as_str(),
                    line,
                });
            }
        }
        Ok(out)
    }

    /// Which completions of the groups' pending rows exist already (pk, sk).
    async fn group_completions_present(
        &self,
        org: &OrgId,
        person: &PersonId,
        groups: &[WaitingGroup],
    ) -> StoreResult<HashSet<(String, String)>> {
        let owned = Self::group_completions(groups)?;
        let wanted: Vec<NewCompletion> = owned.iter().map(|c| c.of(person)).collect();
        if wanted.is_empty() {
            return Ok(HashSet::new());
        }
        let refs: Vec<&NewCompletion> = wanted.iter().collect();
        self.completions_present(org, &refs).await
    }

    /// Writes the completions of claimed groups' pending rows that are not `present`.
    async fn put_group_completions(
        &self,
        org: &OrgId,
        person: &PersonId,
        claimed: &[WaitingGroup],
        present: &HashSet<(String, String)>,
    ) -> StoreResult<()> {
        let now = now_rfc3339();
        let owned = Self::group_completions(claimed)?;
        let items: Vec<Item> = owned
            .iter()
            .filter(|c| {
                !present.contains(&(
                    keys::person_pk(org, person),
                    keys::completion_sk(&c.training, c.date),
                ))
            })
            .map(|c| completion_item(org, &c.import, &c.of(person), &now))
            .collect();
        self.put_items(items).await
    }

    /// Marks claimed groups applied, with a count shard for each import they are in, in
    /// one transaction; a group another run marked first is left out. Returns (rows
    /// applied, rows left out).
    async fn finish_groups(
        &self,
        org: &OrgId,
        person: &PersonId,
        groups: Vec<WaitingGroup>,
    ) -> StoreResult<(usize, usize)> {
        let now = now_rfc3339();
        let (done, left) = self
            .transact_dropping_failed(groups, "finish applying groups", |groups| {
                let mut items = Vec::with_capacity(groups.len() + 1);
                let mut owners = Vec::with_capacity(groups.len() + 1);
                // Per import: its count shard and the rows applied.
                let mut counts: BTreeMap<&str, (u64, i64)> = BTreeMap::new();
                for (i, g) in groups.iter().enumerate() {
                    let update = Update::builder()
                        .table_name(&self.table)
                        .set_key(Some(g.item_key()))
                        .condition_expression("#st = :applying AND person_id = :p")
                        .update_expression(
                            "SET #st = :applied, applied_at = :now REMOVE #ipk, #isk",
                        )
                        .expression_attribute_names("#st", "status")
                        .expression_attribute_names("#ipk", PENDING_INDEX_PK)
                        .expression_attribute_names("#isk", PENDING_INDEX_SK)
                        .expression_attribute_values(":applying", s(GroupStatus::Applying.as_str()))
                        .expression_attribute_values(":applied", s(GroupStatus::Applied.as_str()))
                        .expression_attribute_values(":p", s(person.as_str()))
                        .expression_attribute_values(":now", s(now.clone()))
                        .build()
                        .expect("key and expression set");
                    items.push(TransactWriteItem::builder().update(update).build());
                    owners.push(Some(i));
                    let shard = count_shard(&(g.partition.clone(), g.sort_key.clone()));
                    counts.entry(g.import_id.as_str()).or_insert((shard, 0)).1 +=
                        g.pending_rows().count() as i64;
                }
                for (import, (shard, n)) in counts {
                    if n > 0 {
                        let import = ImportId::parse(import).map_err(StoreError::Corrupt)?;
                        let deltas = BTreeMap::from([("applied", n), ("pending", -n)]);
                        items.push(self.counts_update(org, &import, shard, &deltas, 0));
                        owners.push(None);
                    }
                }
                Ok((items, owners))
            })
            .await?;
        let rows = |gs: &[WaitingGroup]| gs.iter().map(|g| g.pending_rows().count()).sum();
        Ok((rows(&done), rows(&left)))
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

    /// Deletes waiting rows (key and line) of one import: each group's rows together
    /// (up to 25 an update, on condition that the group and each row are still
    /// pending), up to 99 updates a transaction with a count shard. When a condition
    /// fails, the rows of that update are tried again one by one. Returns (deleted, no
    /// longer pending).
    pub(crate) async fn delete_group_rows(
        &self,
        org: &OrgId,
        id: &ImportId,
        rows: &[(MatchKey, u64)],
        by: &Stamp,
    ) -> StoreResult<(usize, usize)> {
        use futures::stream::{self, StreamExt, TryStreamExt};
        let holding = self.groups_holding(org, id, rows, true).await?;
        let mut gone = rows
            .iter()
            .filter(|(_, l)| !holding.contains_key(l))
            .count();
        let mut by_item: BTreeMap<(String, String), Vec<u64>> = BTreeMap::new();
        for (_, line) in rows {
            if let Some(g) = holding.get(line) {
                by_item
                    .entry((g.partition.clone(), g.sort_key.clone()))
                    .or_default()
                    .push(*line);
            }
        }
        let mut members = Vec::new();
        for (key, lines) in by_item {
            for chunk in lines.chunks(DELETE_LINES_PER_UPDATE) {
                members.push(DeleteMember {
                    key: key.clone(),
                    import: id.clone(),
                    lines: chunk.to_vec(),
                });
            }
        }
        let by = serde_dynamo::to_attribute_value::<_, AttributeValue>(by)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let mut deleted = 0;
        // A first round with rows together, then the rows of any update that failed
        // one by one: only those are truly no longer pending.
        for round in 0..2 {
            let plans = plan_transactions(members, |m| m.key.clone());
            let done: Vec<(Vec<DeleteMember>, Vec<DeleteMember>)> = stream::iter(plans)
                .map(|plan| self.delete_transaction(org, plan, &by))
                .buffer_unordered(super::pending::DELETE_CONCURRENCY)
                .try_collect()
                .await?;
            members = Vec::new();
            for (ok, left) in done {
                deleted += ok.iter().map(|m| m.lines.len()).sum::<usize>();
                for m in left {
                    if round == 0 && m.lines.len() > 1 {
                        members.extend(m.lines.iter().map(|&l| DeleteMember {
                            key: m.key.clone(),
                            import: m.import.clone(),
                            lines: vec![l],
                        }));
                    } else {
                        gone += m.lines.len();
                    }
                }
            }
            if members.is_empty() {
                break;
            }
        }
        Ok((deleted, gone))
    }

    async fn delete_transaction(
        &self,
        org: &OrgId,
        plan: Vec<DeleteMember>,
        by: &AttributeValue,
    ) -> StoreResult<(Vec<DeleteMember>, Vec<DeleteMember>)> {
        let Some(first) = plan.first() else {
            return Ok((vec![], vec![]));
        };
        let (import, shard) = (first.import.clone(), count_shard(&first.key));
        let now = now_rfc3339();
        self.transact_dropping_failed(plan, "delete waiting rows", |plan| {
            let mut items = Vec::with_capacity(plan.len() + 1);
            let mut owners = Vec::with_capacity(plan.len() + 1);
            for (i, m) in plan.iter().enumerate() {
                let mut conditions = vec!["#st = :pending".to_string()];
                let mut sets = Vec::new();
                let mut b = Update::builder()
                    .table_name(&self.table)
                    .key("pk", s(m.key.0.clone()))
                    .key("sk", s(m.key.1.clone()))
                    .expression_attribute_names("#st", "status")
                    .expression_attribute_names("#r", "rows")
                    .expression_attribute_names("#s", "s")
                    .expression_attribute_names("#at", "deleted_at")
                    .expression_attribute_names("#by", "deleted_by")
                    .expression_attribute_values(":pending", s(RowStatus::Pending.as_str()))
                    .expression_attribute_values(":deleted", s(RowStatus::Deleted.as_str()))
                    .expression_attribute_values(":now", s(now.clone()))
                    .expression_attribute_values(":by", by.clone());
                for (j, line) in m.lines.iter().enumerate() {
                    conditions.push(format!("#r.#l{j}.#s = :pending"));
                    sets.push(format!(
                        "#r.#l{j}.#s = :deleted, #r.#l{j}.#at = :now, #r.#l{j}.#by = :by"
                    ));
                    b = b.expression_attribute_names(format!("#l{j}"), line.to_string());
                }
                let update = b
                    .condition_expression(conditions.join(" AND "))
                    .update_expression(format!("SET {}", sets.join(", ")))
                    .build()
                    .expect("key and expression set");
                items.push(TransactWriteItem::builder().update(update).build());
                owners.push(Some(i));
            }
            let n: i64 = plan.iter().map(|m| m.lines.len() as i64).sum();
            let deltas = BTreeMap::from([("deleted", n), ("pending", -n)]);
            items.push(self.counts_update(org, &import, shard, &deltas, 0));
            owners.push(None);
            Ok((items, owners))
        })
        .await
    }
}

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

    #[test]
    fn a_transaction_never_holds_one_item_twice() {
        let members: Vec<(String, String)> = (0..300)
            .map(|i| (format!("k{}", i % 120), "s".to_string()))
            .collect();
        let plans = plan_transactions(members, Clone::clone);
        assert_eq!(plans.iter().map(Vec::len).sum::<usize>(), 300);
        for p in &plans {
            let distinct: HashSet<_> = p.iter().collect();
            assert_eq!(distinct.len(), p.len());
            assert!(p.len() <= GROUPS_PER_TRANSACTION);
        }
    }
}
