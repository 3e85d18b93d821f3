//! Applying waiting groups to a person who signed up: claim, completions, then the
//! groups marked applied with their imports' counts (see the parent module).

use super::{count_shard, GroupStatus, WaitingGroup};
use super::{CLAIM_CONCURRENCY, GROUPS_PER_TRANSACTION, GROUP_CONCURRENCY};
use crate::domain::{ImportId, OrgId, PersonId, TrainingId};
use crate::keys;
use crate::store::commit::{completion_item, NewCompletion};
use crate::store::imports::s;
use crate::store::items::from_item;
use crate::store::schema::{PENDING_INDEX_PK, PENDING_INDEX_SK};
use crate::store::write::Item;
use crate::store::{now_rfc3339, service, Store, StoreError, StoreResult};
use aws_sdk_dynamodb::types::{ReturnValue, TransactWriteItem, Update};
use std::collections::{BTreeMap, HashSet};

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

impl Store {
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
}
