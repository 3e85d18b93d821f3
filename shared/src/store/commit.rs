//! The commit's writes. One runner at a time holds an import's commit lease; it writes
//! a page's new completions with plain batched puts (no per-row transaction: only the
//! lease holder moves `validated` rows), then records the page in one small transaction
//! that advances the commit cursor, adds the page's count changes, puts what it did to
//! the rows (store::outcomes) and renews the lease. A run that stops before that
//! transaction leaves the page `validated` to the next run. Commits requested before
//! waiting groups write the rows' new statuses into the pages (or row items) after the
//! completions; a run after one that stopped there counts the rows it finds already
//! moved (see [`committed_status`]) so that every row is counted exactly once.

use super::counts::COUNT_SHARDS;
use super::directory::READ_CONCURRENCY;
use super::imports::{n, s};
use super::outcomes::CommitOutcome;
use super::rows::{status_path, RowLayout};
use super::schema::{PENDING_INDEX_PK, PENDING_INDEX_SK};
use super::write::{Item, TxOutcome};
use super::{now_rfc3339, service, RowRecord, Store, StoreError, StoreResult};
use crate::domain::{ImportId, ImportStatus, MatchKey, OrgId, PersonId, RowStatus, TrainingId};
use crate::keys;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, TransactWriteItem};
use futures::stream::{self, StreamExt, TryStreamExt};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

/// The right to move an import's rows, until `until_ms` (ms since the epoch) unless
/// renewed. `cursor`: the first row not yet recorded.
#[derive(Clone, Debug)]
pub struct CommitLease {
    pub token: String,
    pub until_ms: i64,
    pub cursor: u64,
}

/// What [`Store::take_commit_lease`] found.
#[derive(Debug)]
pub enum LeaseAttempt {
    Taken(CommitLease),
    /// Another run holds the lease until this time (ms since the epoch).
    Held {
        until_ms: i64,
    },
    /// The import is not `importing` (finished, or never asked to).
    NotImporting,
}

/// A row after the commit, with its match key when it now waits for its person.
pub struct CommittedRow<'a> {
    pub record: RowRecord,
    pub pending_key: Option<&'a MatchKey>,
}

/// A completion a row brings in.
pub struct NewCompletion<'a> {
    pub person: &'a PersonId,
    pub training: &'a TrainingId,
    pub title: &'a str,
    pub date: &'a str,
    pub row: u64,
}

/// A new completion's item: `source_import` and `source_row` say where it came from.
pub(super) fn completion_item(org: &OrgId, id: &ImportId, c: &NewCompletion, now: &str) -> Item {
    HashMap::from([
        ("pk".to_string(), s(keys::person_pk(org, c.person))),
        ("sk".to_string(), s(keys::completion_sk(c.training, c.date))),
        ("person_id".to_string(), s(c.person.as_str())),
        ("training_id".to_string(), s(c.training.as_str())),
        ("training_title".to_string(), s(c.title)),
        ("completed_on".to_string(), s(c.date)),
        ("source_import".to_string(), s(id.as_str())),
        ("source_row".to_string(), n(c.row as i64)),
        ("recorded_at".to_string(), s(now)),
    ])
}

pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// The status a row found by a later run got from the commit: a row moves from
/// `validated` only by the commit, and from `pending` only to `applied` or `deleted`.
pub fn committed_status(status: RowStatus) -> Option<RowStatus> {
    match status {
        RowStatus::Validated => None,
        RowStatus::Imported => Some(RowStatus::Imported),
        RowStatus::NotImported => Some(RowStatus::NotImported),
        RowStatus::Pending | RowStatus::Applied | RowStatus::Deleted => Some(RowStatus::Pending),
    }
}

impl Store {
    /// Takes the commit lease of an importing import when nobody holds it or the
    /// holder's lease ran out.
    pub async fn take_commit_lease(
        &self,
        org: &OrgId,
        id: &ImportId,
        lease: Duration,
    ) -> StoreResult<LeaseAttempt> {
        let token = uuid::Uuid::new_v4().to_string();
        let now = now_ms();
        let until = now + lease.as_millis() as i64;
        self.write_point("commit lease")?;
        let out = self
            .update_summary_item(org, id)
            .update_expression("SET commit_lease = :tok, commit_lease_until = :until")
            .condition_expression("#st = :importing AND (attribute_not_exists(commit_lease_until) OR commit_lease_until < :now)")
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":importing", s(ImportStatus::Importing.as_str()))
            .expression_attribute_values(":tok", s(token.clone()))
            .expression_attribute_values(":until", n(until))
            .expression_attribute_values(":now", n(now))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match out {
            Ok(o) => {
                let attrs = o.attributes.unwrap_or_default();
                let cursor = number(&attrs, "commit_cursor").unwrap_or(0).max(0) as u64;
                Ok(LeaseAttempt::Taken(CommitLease {
                    token,
                    until_ms: until,
                    cursor,
                }))
            }
            Err(e) => match e.into_service_error() {
                UpdateItemError::ConditionalCheckFailedException(_) => {
                    let item = self
                        .get_consistent(keys::import_pk(org, id), keys::SUMMARY_SK.into(), "import")
                        .await?;
                    let item = item.unwrap_or_default();
                    let importing = item
                        .get("status")
                        .and_then(|v| v.as_s().ok())
                        .is_some_and(|st| st == ImportStatus::Importing.as_str());
                    if !importing {
                        return Ok(LeaseAttempt::NotImporting);
                    }
                    Ok(LeaseAttempt::Held {
                        until_ms: number(&item, "commit_lease_until").unwrap_or(0),
                    })
                }
                other => Err(service("take commit lease")(other)),
            },
        }
    }

    /// Extends a held lease; ConditionFailed when another run took it meanwhile.
    pub async fn renew_commit_lease(
        &self,
        org: &OrgId,
        id: &ImportId,
        lease: &mut CommitLease,
        length: Duration,
    ) -> StoreResult<()> {
        let until = now_ms() + length.as_millis() as i64;
        self.write_point("renew commit lease")?;
        if !self
            .update_held_lease(
                org,
                id,
                lease,
                "SET commit_lease_until = :until",
                Some(n(until)),
                "renew commit lease",
            )
            .await?
        {
            return Err(StoreError::ConditionFailed);
        }
        lease.until_ms = until;
        Ok(())
    }

    /// Notes in the summary that a run holding `lease` puts the import's waiting groups;
    /// true when no run did before (so nobody can have changed one yet).
    /// ConditionFailed when this run no longer holds the lease.
    pub async fn start_putting_groups(
        &self,
        org: &OrgId,
        id: &ImportId,
        lease: &CommitLease,
    ) -> StoreResult<bool> {
        self.write_point("start putting groups")?;
        let out = self
            .ddb
            .update_item()
            .table_name(&self.table)
            .key("pk", s(keys::import_pk(org, id)))
            .key("sk", s(keys::SUMMARY_SK))
            .update_expression("SET groups_put_from = if_not_exists(groups_put_from, :now)")
            .condition_expression("commit_lease = :tok")
            .expression_attribute_values(":tok", s(lease.token.clone()))
            .expression_attribute_values(":now", s(now_rfc3339()))
            .return_values(ReturnValue::UpdatedOld)
            .send()
            .await;
        match out {
            Ok(out) => Ok(!out
                .attributes
                .is_some_and(|a| a.contains_key("groups_put_from"))),
            Err(e) => match e.into_service_error() {
                UpdateItemError::ConditionalCheckFailedException(_) => {
                    Err(StoreError::ConditionFailed)
                }
                other => Err(service("start putting groups")(other)),
            },
        }
    }

    /// Puts an import's waiting groups, each key's rows in file order (see
    /// [`Store::put_groups`] for `first_run`).
    pub async fn put_waiting_groups(
        &self,
        org: &OrgId,
        id: &ImportId,
        waiting: &[(MatchKey, Vec<super::WaitingRow>)],
        first_run: bool,
    ) -> StoreResult<()> {
        let items = waiting
            .iter()
            .flat_map(|(key, rows)| super::groups::group_items(org, id, key, rows))
            .collect();
        self.put_groups(items, first_run).await
    }

    /// Gives the lease up (after a failure, so that a retry need not wait for it to run
    /// out). Nothing happens when another run holds it.
    pub async fn release_commit_lease(
        &self,
        org: &OrgId,
        id: &ImportId,
        lease: &CommitLease,
    ) -> StoreResult<()> {
        self.write_point("release commit lease")?;
        self.update_held_lease(
            org,
            id,
            lease,
            "REMOVE commit_lease, commit_lease_until",
            None,
            "release commit lease",
        )
        .await?;
        Ok(())
    }

    /// An update of the summary on condition that `lease` is still the one held; false
    /// when it is not.
    async fn update_held_lease(
        &self,
        org: &OrgId,
        id: &ImportId,
        lease: &CommitLease,
        expression: &str,
        until: Option<AttributeValue>,
        what: &'static str,
    ) -> StoreResult<bool> {
        let out = self
            .update_summary_item(org, id)
            .update_expression(expression)
            .condition_expression("commit_lease = :tok")
            .expression_attribute_values(":tok", s(lease.token.clone()));
        let out = match until {
            Some(v) => out.expression_attribute_values(":until", v),
            None => out,
        };
        match out.send().await {
            Ok(_) => Ok(true),
            Err(e) => match e.into_service_error() {
                UpdateItemError::ConditionalCheckFailedException(_) => Ok(false),
                other => Err(service(what)(other)),
            },
        }
    }

    /// Which of these completions exist, read strongly consistent.
    pub async fn completions_present(
        &self,
        org: &OrgId,
        wanted: &[&NewCompletion<'_>],
    ) -> StoreResult<HashSet<(String, String)>> {
        let keys_wanted: HashSet<(String, String)> = wanted
            .iter()
            .map(|c| {
                (
                    keys::person_pk(org, c.person),
                    keys::completion_sk(c.training, c.date),
                )
            })
            .collect();
        let keys_wanted: Vec<Item> = keys_wanted
            .into_iter()
            .map(|(pk, sk)| HashMap::from([("pk".to_string(), s(pk)), ("sk".to_string(), s(sk))]))
            .collect();
        // BatchGetItem takes 100 keys a request.
        let requests: Vec<Vec<Item>> = keys_wanted.chunks(100).map(<[Item]>::to_vec).collect();
        let pages: Vec<Vec<Item>> = stream::iter(requests)
            .map(|keys| self.batch_get(keys, true))
            .buffer_unordered(READ_CONCURRENCY)
            .try_collect()
            .await?;
        let get = |item: &Item, k: &str| {
            item.get(k)
                .and_then(|v| v.as_s().ok())
                .cloned()
                .unwrap_or_default()
        };
        Ok(pages
            .into_iter()
            .flatten()
            .map(|item| (get(&item, "pk"), get(&item, "sk")))
            .collect())
    }

    /// Writes moved rows and new completions. Only the lease holder calls this, and only
    /// for rows it read as `validated`. Everything goes by BatchWriteItem: the
    /// completions first, then, for commits from before waiting groups, row items
    /// (older imports) or pages with the rows' new statuses, then, with pages, an item
    /// for each row left waiting (a commit that puts groups records its rows' statuses
    /// with the page: [`Store::record_commit_page`]). A row never says it moved before
    /// its completion is written: a run that stops in between leaves it `validated`. A
    /// row its page already says is pending was moved by a run that stopped, perhaps
    /// before its item was put: its item is put on condition it does not exist (a
    /// sign-up or a delete may have changed it since).
    /// `read`: every row of the pages the moved rows are in, as read.
    pub async fn put_committed(
        &self,
        org: &OrgId,
        id: &ImportId,
        layout: RowLayout,
        read: &[RowRecord],
        rows: &[CommittedRow<'_>],
        completions: &[&NewCompletion<'_>],
    ) -> StoreResult<()> {
        let now = now_rfc3339();
        let completions = completions
            .iter()
            .map(|c| completion_item(org, id, c, &now))
            .collect();
        self.put_items(completions).await?;
        let mut items = Vec::with_capacity(rows.len());
        match layout {
            RowLayout::Single => {
                for row in rows {
                    let mut item = super::row_items::row_item(org, id, &row.record);
                    if let Some(key) = row.pending_key {
                        item.insert(PENDING_INDEX_PK.into(), s(keys::pending_shard_pk(org, key)));
                        item.insert(PENDING_INDEX_SK.into(), s(keys::match_key_pk(org, key)));
                    }
                    items.push(item);
                }
            }
            // The rows' new statuses are kept apart (store::outcomes), put when the page
            // is recorded.
            RowLayout::Pages { groups: true, .. } => {}
            RowLayout::Pages { groups: false, .. } => {
                let changed: HashMap<u64, &RowRecord> =
                    rows.iter().map(|r| (r.record.row, &r.record)).collect();
                items.extend(Store::pages_with(org, id, read, &changed)?);
            }
        }
        self.put_items(items).await?;
        if let RowLayout::Pages { groups: false, .. } = layout {
            // A row read as `validated` has no item yet: its item is put only after its
            // page says it moved. So these go by BatchWriteItem.
            let waiting: Vec<Item> = rows
                .iter()
                .filter_map(|r| {
                    r.pending_key
                        .map(|key| super::pages::pending_row_item(org, id, &r.record, key))
                })
                .collect();
            self.put_items(waiting).await?;
            let moved_earlier: Vec<Item> = read
                .iter()
                .filter(|r| r.status == RowStatus::Pending)
                .filter_map(|r| r.match_key().map(|k| (r, k)))
                .map(|(r, k)| super::pages::pending_row_item(org, id, r, &k))
                .collect();
            self.put_new_items(moved_earlier).await?;
        }
        Ok(())
    }

    /// Puts items that must not exist yet, 100 a transaction, 4 transactions at once; an
    /// item that exists already (put by an earlier run) is left as it is.
    pub(super) async fn put_new_items(&self, items: Vec<Item>) -> StoreResult<()> {
        let groups: Vec<Vec<Item>> = items.chunks(100).map(<[Item]>::to_vec).collect();
        stream::iter(groups)
            .map(|group| async move {
                self.transact_dropping_failed(group, "put pending rows", |group| {
                    let items = group
                        .iter()
                        .map(|item| {
                            let put = aws_sdk_dynamodb::types::Put::builder()
                                .table_name(&self.table)
                                .set_item(Some(item.clone()))
                                .condition_expression("attribute_not_exists(pk)")
                                .build()
                                .expect("item and expression set");
                            TransactWriteItem::builder().put(put).build()
                        })
                        .collect();
                    Ok((items, (0..group.len()).map(Some).collect()))
                })
                .await
                .map(|_| ())
            })
            .buffer_unordered(4)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(())
    }

    /// Records a page as done: the cursor moves from `lease.cursor` to `to`, the page's
    /// count changes are added, what it did to its rows is put (`outcome`, for commits
    /// that put waiting groups) and the lease renewed, in one transaction.
    /// ConditionFailed when this run no longer holds the lease.
    #[expect(
        clippy::too_many_arguments,
        reason = "one transaction's parts; a struct would only rename them"
    )]
    pub async fn record_commit_page(
        &self,
        org: &OrgId,
        id: &ImportId,
        lease: &mut CommitLease,
        to: u64,
        statuses: &BTreeMap<RowStatus, i64>,
        rows: i64,
        outcome: Option<&CommitOutcome>,
        length: Duration,
    ) -> StoreResult<()> {
        let until = now_ms() + length.as_millis() as i64;
        let at_cursor = if lease.cursor == 0 {
            "attribute_not_exists(commit_cursor)"
        } else {
            "commit_cursor = :from"
        };
        let mut summary = self
            .summary_update(org, id)
            .update_expression(
                "SET commit_cursor = :to, commit_lease_until = :until, updated_at = :now",
            )
            .condition_expression(format!("commit_lease = :tok AND {at_cursor}"))
            .expression_attribute_values(":tok", s(lease.token.clone()))
            .expression_attribute_values(":to", n(to as i64))
            .expression_attribute_values(":until", n(until))
            .expression_attribute_values(":now", s(now_rfc3339()));
        if lease.cursor != 0 {
            summary = summary.expression_attribute_values(":from", n(lease.cursor as i64));
        }
        let summary = summary.build().expect("key and expression set");
        let mut deltas: BTreeMap<&'static str, i64> = BTreeMap::new();
        for (status, count) in statuses {
            *deltas.entry(status_path(*status)).or_default() += count;
        }
        let mut items = vec![
            TransactWriteItem::builder().update(summary).build(),
            self.counts_update(org, id, lease.cursor % COUNT_SHARDS, &deltas, rows),
        ];
        if let Some(outcome) = outcome {
            let put = aws_sdk_dynamodb::types::Put::builder()
                .table_name(&self.table)
                .set_item(Some(outcome.item(org, id)?))
                .build()
                .expect("item set");
            items.push(TransactWriteItem::builder().put(put).build());
        }
        match self.transact(items).await? {
            TxOutcome::Committed => {
                lease.cursor = to;
                lease.until_ms = until;
                Ok(())
            }
            TxOutcome::ConditionFailed(_) => Err(StoreError::ConditionFailed),
        }
    }
}

fn number(item: &Item, name: &str) -> Option<i64> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
}
