//! Deleting rows of waiting groups: each row marked `deleted` on condition that its
//! group and the row are still pending (see the parent module).

use super::{count_shard, ItemKey, GROUPS_PER_TRANSACTION};
use crate::domain::{ImportId, MatchKey, OrgId, RowStatus};
use crate::store::imports::s;
use crate::store::items::Stamp;
use crate::store::{now_rfc3339, Store, StoreError, StoreResult};
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use std::collections::{BTreeMap, HashSet};

/// Rows of one group one delete update marks at most (the expressions stay under 4 KB).
const DELETE_LINES_PER_UPDATE: usize = 25;

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

impl Store {
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
                .buffer_unordered(crate::store::pending::DELETE_CONCURRENCY)
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
