//! The row-status counts of an import, spread over COUNT_SHARDS items beside its summary
//! so that transactions moving different rows do not all conflict on one item; a read
//! adds the shards up into the summary.

use super::imports::{n, s};
use super::imports::{ImportSummary, StatusCounts};
use super::{now_rfc3339, Store, StoreResult};
use crate::domain::{ImportId, OrgId};
use crate::keys;
use aws_sdk_dynamodb::types::{TransactWriteItem, Update};
use std::collections::BTreeMap;

/// Items the row-status counts of one import are spread over.
pub const COUNT_SHARDS: u64 = 16;
const COUNTS_PREFIX: &str = "COUNTS#";

fn counts_sk(shard: u64) -> String {
    format!("{COUNTS_PREFIX}{shard:02}")
}

impl Store {
    /// Adds to one count shard of the import. Counts of row statuses live in
    /// COUNT_SHARDS items beside the summary, so that transactions moving different rows
    /// do not all conflict on one item; a read adds the shards up.
    pub(super) fn counts_update(
        &self,
        org: &OrgId,
        id: &ImportId,
        shard: u64,
        deltas: &BTreeMap<&'static str, i64>,
        committed: i64,
    ) -> TransactWriteItem {
        let mut adds = Vec::new();
        let mut b = Update::builder()
            .table_name(&self.table)
            .key("pk", s(keys::import_pk(org, id)))
            .key("sk", s(counts_sk(shard)))
            .expression_attribute_values(":now", s(now_rfc3339()));
        for (i, (name, delta)) in deltas.iter().enumerate() {
            adds.push(format!("#c{i} :d{i}"));
            b = b
                .expression_attribute_names(format!("#c{i}"), *name)
                .expression_attribute_values(format!(":d{i}"), n(*delta));
        }
        if committed != 0 {
            adds.push("rows_committed :rc".into());
            b = b.expression_attribute_values(":rc", n(committed));
        }
        let update = b
            .update_expression(format!("ADD {} SET updated_at = :now", adds.join(", ")))
            .build()
            .expect("key and expression set");
        TransactWriteItem::builder().update(update).build()
    }

    /// Adds the count shards up into the summary (one strongly consistent Query).
    pub(super) async fn fill_counts(
        &self,
        org: &OrgId,
        id: &ImportId,
        summary: &mut ImportSummary,
    ) -> StoreResult<()> {
        let shards = self
            .query_all(keys::import_pk(org, id), Some(COUNTS_PREFIX))
            .await?;
        let mut total = StatusCounts::default();
        let mut committed = 0i64;
        for item in shards {
            let num = |k: &str| {
                item.get(k)
                    .and_then(|v| v.as_n().ok())
                    .and_then(|v| v.parse::<i64>().ok())
                    .unwrap_or(0)
            };
            total.imported += num("imported");
            total.pending += num("pending");
            total.applied += num("applied");
            total.deleted += num("deleted");
            total.not_imported += num("not_imported");
            committed += num("rows_committed");
            if let Some(at) = item.get("updated_at").and_then(|v| v.as_s().ok()) {
                if *at > summary.updated_at {
                    summary.updated_at = at.clone();
                }
            }
        }
        summary.statuses = total;
        summary.rows_committed = committed.max(0) as u64;
        Ok(())
    }
}
