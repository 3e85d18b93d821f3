//! Batched and transactional writes with retries: UnprocessedItems are resent and
//! transaction conflicts retried with exponential backoff and jitter.

use super::{service, Store, StoreError, StoreResult};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, TransactWriteItem, WriteRequest};
use futures::stream::{self, TryStreamExt};
use std::collections::HashMap;
use std::time::Duration;

pub(crate) type Item = HashMap<String, AttributeValue>;

/// How many BatchWriteItem calls run at once.
pub const WRITE_CONCURRENCY: usize = 8;
const MAX_ATTEMPTS: u32 = 10;

pub(crate) async fn backoff(attempt: u32) {
    let base = 25u64 << attempt.min(8);
    let jitter = uuid::Uuid::new_v4().as_u128() as u64 % (base + 1);
    tokio::time::sleep(Duration::from_millis(base / 2 + jitter / 2)).await;
}

/// How a transaction ended when it did not commit.
#[derive(Debug)]
pub(crate) enum TxOutcome {
    Committed,
    /// A condition failed on these items (by position); nothing was written.
    ConditionFailed(Vec<usize>),
}

impl Store {
    /// Writes items with BatchWriteItem, 25 a request, a few requests at a time,
    /// resending UnprocessedItems with backoff until none are left.
    pub(crate) async fn put_items(&self, items: Vec<Item>) -> StoreResult<()> {
        // Moved into requests of 25, not copied: a commit puts thousands at once.
        let mut items = items.into_iter();
        let chunks = std::iter::from_fn(|| {
            let chunk: Vec<Item> = items.by_ref().take(25).collect();
            (!chunk.is_empty()).then_some(chunk)
        });
        stream::iter(chunks.into_iter().map(Ok::<_, StoreError>))
            .try_for_each_concurrent(WRITE_CONCURRENCY, |chunk| self.put_batch(chunk))
            .await
    }

    async fn put_batch(&self, chunk: Vec<Item>) -> StoreResult<()> {
        let mut pending: Vec<WriteRequest> = chunk
            .into_iter()
            .map(|item| {
                WriteRequest::builder()
                    .put_request(
                        PutRequest::builder()
                            .set_item(Some(item))
                            .build()
                            .expect("item is set"),
                    )
                    .build()
            })
            .collect();
        self.write_point("batch write")?;
        for attempt in 0..MAX_ATTEMPTS {
            let out = self
                .ddb
                .batch_write_item()
                .request_items(&self.table, pending)
                .send()
                .await
                .map_err(service("batch write"))?;
            pending = out
                .unprocessed_items
                .and_then(|mut m| m.remove(&self.table))
                .unwrap_or_default();
            if pending.is_empty() {
                return Ok(());
            }
            tracing::warn!(
                unprocessed = pending.len(),
                attempt,
                "batch write left items unprocessed; resending"
            );
            backoff(attempt).await;
        }
        Err(StoreError::Service(anyhow::anyhow!(
            "batch write still had {} unprocessed items after {MAX_ATTEMPTS} attempts",
            pending.len()
        )))
    }

    /// Writes a group of members (rows to apply, rows to delete...) in one transaction,
    /// and when some members' conditions fail (a row no longer pending: a sign-up or a
    /// delete got there first), the same transaction again without those members, until
    /// it commits or no member is left. `build` makes the transaction of the members it is
    /// given: the items, and for each item the member it belongs to (`None` for an item
    /// shared by all, such as a count, which must carry no condition). Returns the
    /// members written and the members left out, in their order.
    pub(crate) async fn transact_dropping_failed<T, F>(
        &self,
        mut group: Vec<T>,
        what: &'static str,
        mut build: F,
    ) -> StoreResult<(Vec<T>, Vec<T>)>
    where
        F: FnMut(&[T]) -> StoreResult<(Vec<TransactWriteItem>, Vec<Option<usize>>)>,
    {
        let mut left_out = Vec::new();
        while !group.is_empty() {
            let (items, owners) = build(&group)?;
            debug_assert_eq!(items.len(), owners.len());
            match self.transact(items).await? {
                TxOutcome::Committed => return Ok((group, left_out)),
                TxOutcome::ConditionFailed(failed) => {
                    let drop: std::collections::HashSet<usize> = failed
                        .iter()
                        .filter_map(|&i| owners.get(i).copied().flatten())
                        .collect();
                    if drop.is_empty() {
                        return Err(StoreError::Service(anyhow::anyhow!(
                            "{what}: a condition failed on an item that carries none"
                        )));
                    }
                    let mut kept = Vec::with_capacity(group.len() - drop.len());
                    for (i, member) in group.into_iter().enumerate() {
                        if drop.contains(&i) {
                            left_out.push(member);
                        } else {
                            kept.push(member);
                        }
                    }
                    group = kept;
                }
            }
        }
        Ok((group, left_out))
    }

    /// Runs a transaction, retrying conflicts with other transactions. A failed
    /// condition is not retried: the caller decides what it means.
    pub(crate) async fn transact(&self, items: Vec<TransactWriteItem>) -> StoreResult<TxOutcome> {
        self.write_point("transaction")?;
        for attempt in 0..MAX_ATTEMPTS {
            let result = self
                .ddb
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .send()
                .await;
            let err = match result {
                Ok(_) => return Ok(TxOutcome::Committed),
                Err(e) => e,
            };
            match err.into_service_error() {
                TransactWriteItemsError::TransactionCanceledException(cancel) => {
                    let codes: Vec<String> = cancel
                        .cancellation_reasons()
                        .iter()
                        .map(|r| r.code().unwrap_or("None").to_string())
                        .collect();
                    let failed: Vec<usize> = codes
                        .iter()
                        .enumerate()
                        .filter(|(_, c)| *c == "ConditionalCheckFailed")
                        .map(|(i, _)| i)
                        .collect();
                    if !failed.is_empty() {
                        return Ok(TxOutcome::ConditionFailed(failed));
                    }
                    tracing::warn!(?codes, attempt, "transaction cancelled; retrying");
                }
                TransactWriteItemsError::ProvisionedThroughputExceededException(_)
                | TransactWriteItemsError::ThrottlingException(_)
                | TransactWriteItemsError::TransactionInProgressException(_) => {
                    tracing::warn!(attempt, "transaction conflict or throttling; retrying");
                }
                other => {
                    return Err(StoreError::Service(
                        anyhow::Error::new(other).context("transact write"),
                    ))
                }
            }
            backoff(attempt).await;
        }
        Err(StoreError::Service(anyhow::anyhow!(
            "transaction still conflicting after {MAX_ATTEMPTS} attempts"
        )))
    }
}
