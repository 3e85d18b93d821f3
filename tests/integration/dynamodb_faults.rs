//! Faults DynamoDB Local cannot produce, injected with the SDK's own test tooling
//! (aws-smithy-mocks): UnprocessedItems, throttling, transaction conflicts. Each is
//! retried with backoff and nothing is lost; a fault that does not clear is an error
//! (the invocation fails and is retried), never a silent partial write.

use aws_sdk_dynamodb::error::ErrorMetadata;
use aws_sdk_dynamodb::operation::batch_write_item::{BatchWriteItemError, BatchWriteItemOutput};
use aws_sdk_dynamodb::operation::transact_write_items::{
    TransactWriteItemsError, TransactWriteItemsOutput,
};
use aws_sdk_dynamodb::types::error::{
    ProvisionedThroughputExceededException, TransactionCanceledException,
};
use aws_sdk_dynamodb::types::{AttributeValue, CancellationReason, PutRequest, WriteRequest};
use aws_sdk_dynamodb::Client;
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use std::collections::HashMap;
use training_imports::domain::{ImportId, MatchMethod, OrgId, Outcome};
use training_imports::store::{RowRecord, Store, StoreError};

const TABLE: &str = "imports";

fn store(ddb: Client) -> Store {
    let s3 = mock_client!(aws_sdk_s3, RuleMode::Sequential, &[] as &[&Rule]);
    Store::new(ddb, s3, TABLE, "bucket")
}

fn ddb(rules: &[&Rule]) -> Client {
    // The SDK's standard retry, as in production (three attempts).
    mock_client!(aws_sdk_dynamodb, RuleMode::Sequential, rules, |c| c
        .retry_config(
            aws_sdk_dynamodb::config::retry::RetryConfig::standard().with_max_attempts(3)
        ))
}

fn rows(n: u64) -> Vec<RowRecord> {
    (0..n)
        .map(|i| RowRecord {
            match_value: Some("a@example.com".into()),
            training_id: Some("t".into()),
            completion_date: Some("2024-01-01".into()),
            ..RowRecord::validated(
                "imp",
                i + 2,
                vec!["a@example.com".into()],
                Outcome::Pending,
                MatchMethod::Email,
            )
        })
        .collect()
}

fn unprocessed(n: usize) -> BatchWriteItemOutput {
    let item = HashMap::from([
        ("pk".to_string(), AttributeValue::S("x".into())),
        ("sk".to_string(), AttributeValue::S("y".into())),
    ]);
    let requests = (0..n)
        .map(|_| {
            WriteRequest::builder()
                .put_request(
                    PutRequest::builder()
                        .set_item(Some(item.clone()))
                        .build()
                        .unwrap(),
                )
                .build()
        })
        .collect();
    BatchWriteItemOutput::builder()
        .unprocessed_items(TABLE, requests)
        .build()
}

fn ids() -> (OrgId, ImportId) {
    (
        OrgId::parse("acme").unwrap(),
        ImportId::parse("imp").unwrap(),
    )
}

#[tokio::test(start_paused = true)]
async fn unprocessed_items_are_resent_until_written() {
    let partial = mock!(Client::batch_write_item)
        .match_requests(|r| r.request_items().is_some_and(|m| m[TABLE].len() == 10))
        .then_output(|| unprocessed(3));
    let rest = mock!(Client::batch_write_item)
        .match_requests(|r| r.request_items().is_some_and(|m| m[TABLE].len() == 3))
        .then_output(|| BatchWriteItemOutput::builder().build());
    let (org, id) = ids();
    store(ddb(&[&partial, &rest]))
        .write_rows(
            &org,
            &id,
            training_imports::store::RowLayout::Single,
            &rows(10),
        )
        .await
        .unwrap();
    assert_eq!(
        (partial.num_calls(), rest.num_calls()),
        (1, 1),
        "the 3 unprocessed items were sent again, alone"
    );
}

#[tokio::test(start_paused = true)]
async fn unprocessed_items_that_never_clear_are_an_error_not_a_silent_loss() {
    let stuck = mock!(Client::batch_write_item)
        .sequence()
        .output(|| unprocessed(1))
        .repeatedly()
        .build();
    let (org, id) = ids();
    let err = store(ddb(&[&stuck]))
        .write_rows(
            &org,
            &id,
            training_imports::store::RowLayout::Single,
            &rows(1),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Service(_)), "{err:?}");
    assert!(
        err.to_string().contains("unprocessed") || format!("{err:?}").contains("unprocessed"),
        "{err:?}"
    );
    assert_eq!(
        stuck.num_calls(),
        10,
        "resent with backoff, ten attempts in all"
    );
}

#[tokio::test(start_paused = true)]
async fn throttled_batch_writes_are_retried_by_the_sdk() {
    let throttled = mock!(Client::batch_write_item)
        .sequence()
        .error(|| {
            BatchWriteItemError::ProvisionedThroughputExceededException(
                ProvisionedThroughputExceededException::builder()
                    .message("slow down")
                    .meta(
                        ErrorMetadata::builder()
                            .code("ProvisionedThroughputExceededException")
                            .build(),
                    )
                    .build(),
            )
        })
        .times(2)
        .output(|| BatchWriteItemOutput::builder().build())
        .build();
    let (org, id) = ids();
    store(ddb(&[&throttled]))
        .write_rows(
            &org,
            &id,
            training_imports::store::RowLayout::Single,
            &rows(5),
        )
        .await
        .unwrap();
    assert_eq!(throttled.num_calls(), 3);
}

fn cancelled(code: &str) -> TransactWriteItemsError {
    TransactWriteItemsError::TransactionCanceledException(
        TransactionCanceledException::builder()
            .message("cancelled")
            .cancellation_reasons(CancellationReason::builder().code(code).build())
            .cancellation_reasons(CancellationReason::builder().code("None").build())
            .build(),
    )
}

#[tokio::test(start_paused = true)]
async fn transaction_conflicts_are_retried_with_backoff() {
    let conflict = mock!(Client::transact_write_items)
        .sequence()
        .error(|| cancelled("TransactionConflict"))
        .times(3)
        .output(|| TransactWriteItemsOutput::builder().build())
        .build();
    let (org, id) = ids();
    store(ddb(&[&conflict]))
        .delete_pending_row(
            &org,
            &id,
            training_imports::store::RowLayout::Single,
            2,
            &training_imports::store::Stamp::now("admin", None),
        )
        .await
        .unwrap();
    assert_eq!(conflict.num_calls(), 4);
}

#[tokio::test(start_paused = true)]
async fn a_conflict_that_never_clears_is_an_error() {
    let conflict = mock!(Client::transact_write_items)
        .sequence()
        .error(|| cancelled("TransactionConflict"))
        .repeatedly()
        .build();
    let (org, id) = ids();
    let err = store(ddb(&[&conflict]))
        .delete_pending_row(
            &org,
            &id,
            training_imports::store::RowLayout::Single,
            2,
            &training_imports::store::Stamp::now("admin", None),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Service(_)), "{err:?}");
    assert_eq!(conflict.num_calls(), 10);
}

#[tokio::test(start_paused = true)]
async fn a_failed_condition_is_not_retried_and_is_reported_as_such() {
    let lost =
        mock!(Client::transact_write_items).then_error(|| cancelled("ConditionalCheckFailed"));
    let (org, id) = ids();
    let err = store(ddb(&[&lost]))
        .delete_pending_row(
            &org,
            &id,
            training_imports::store::RowLayout::Single,
            2,
            &training_imports::store::Stamp::now("admin", None),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::ConditionFailed), "{err:?}");
    assert_eq!(lost.num_calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn people_lookups_are_one_batch_get_per_hundred_keys_and_unprocessed_keys_are_resent() {
    use aws_sdk_dynamodb::operation::batch_get_item::BatchGetItemOutput;
    use aws_sdk_dynamodb::types::KeysAndAttributes;
    use training_imports::domain::{Email, MatchKey};
    let org = OrgId::parse("acme").unwrap();
    let key = |i: usize| MatchKey::email(&Email::parse(&format!("p{i}@example.com")).unwrap());
    let pk = |i: usize| format!("ORG#acme#KEY#email#p{i}@example.com");
    let people_item = move |i: usize| {
        HashMap::from([
            ("pk".to_string(), AttributeValue::S(pk(i))),
            ("sk".to_string(), AttributeValue::S("PEOPLE".into())),
            (format!("person:id{i}"), AttributeValue::Bool(true)),
        ])
    };
    // First request: 100 distinct keys (the repeats are dropped); key 0 comes back
    // unprocessed and is asked for again, alone.
    let first = mock!(Client::batch_get_item)
        .match_requests(|r| {
            r.request_items().is_some_and(|m| {
                m[TABLE].keys().len() == 100 && m[TABLE].consistent_read() == Some(true)
            })
        })
        .then_output(move || {
            let unprocessed = KeysAndAttributes::builder()
                .keys(HashMap::from([
                    ("pk".to_string(), AttributeValue::S(pk(0))),
                    ("sk".to_string(), AttributeValue::S("PEOPLE".into())),
                ]))
                .build()
                .unwrap();
            BatchGetItemOutput::builder()
                .responses(TABLE, (1..100).map(people_item).collect())
                .unprocessed_keys(TABLE, unprocessed)
                .build()
        });
    let again = mock!(Client::batch_get_item)
        .match_requests(|r| {
            r.request_items()
                .is_some_and(|m| m[TABLE].keys().len() == 1)
        })
        .then_output(move || {
            BatchGetItemOutput::builder()
                .responses(TABLE, vec![people_item(0)])
                .build()
        });
    let wanted: Vec<MatchKey> = (0..100).chain(0..50).map(key).collect();
    let found = store(ddb(&[&first, &again]))
        .people_with_keys(&org, wanted)
        .await
        .unwrap();
    assert_eq!((first.num_calls(), again.num_calls()), (1, 1));
    assert_eq!(found.len(), 100);
    assert_eq!(
        found[&key(0)][0].person_id.as_str(),
        "id0",
        "the unprocessed key's person is not lost"
    );
    assert!(found.values().all(|p| p.len() == 1 && p[0].signed_up));
}

#[tokio::test(start_paused = true)]
async fn the_commit_checks_existing_completions_a_hundred_keys_a_request_strongly_consistent() {
    use aws_sdk_dynamodb::operation::batch_get_item::BatchGetItemOutput;
    use training_imports::domain::{PersonId, TrainingId};
    use training_imports::store::NewCompletion;
    let org = OrgId::parse("acme").unwrap();
    let people: Vec<PersonId> = (0..150)
        .map(|i| PersonId::parse(&format!("p{i}")).unwrap())
        .collect();
    let training = TrainingId::parse("forklift").unwrap();
    let wanted: Vec<NewCompletion> = people
        .iter()
        .enumerate()
        .map(|(i, p)| NewCompletion {
            person: p,
            training: &training,
            title: "Forklift",
            date: "2024-01-01",
            row: i as u64 + 2,
        })
        .collect();
    // Person 7 already has this completion. A request over 100 keys, or not strongly
    // consistent, matches no rule (DynamoDB would refuse the first).
    let get = || {
        mock!(Client::batch_get_item)
            .match_requests(|r| {
                r.request_items().is_some_and(|m| {
                    m[TABLE].keys().len() <= 100 && m[TABLE].consistent_read() == Some(true)
                })
            })
            .then_compute_output(|r| {
                let p7 = |k: &HashMap<String, AttributeValue>| {
                    k["pk"].as_s().is_ok_and(|pk| pk == "ORG#acme#PERSON#p7")
                };
                let asked = r
                    .request_items()
                    .map(|m| m[TABLE].keys().to_vec())
                    .unwrap_or_default();
                BatchGetItemOutput::builder()
                    .responses(TABLE, asked.into_iter().filter(p7).collect())
                    .build()
            })
    };
    let (first, second) = (get(), get());
    let refs: Vec<&NewCompletion> = wanted.iter().collect();
    let present = store(ddb(&[&first, &second]))
        .completions_present(&org, &refs)
        .await
        .unwrap();
    assert_eq!(
        (first.num_calls(), second.num_calls()),
        (1, 1),
        "150 keys take two requests"
    );
    assert_eq!(
        present.into_iter().collect::<Vec<_>>(),
        vec![(
            "ORG#acme#PERSON#p7".to_string(),
            "COMPLETION#forklift#2024-01-01".to_string()
        )]
    );
}

#[tokio::test(start_paused = true)]
async fn the_organisations_pending_rows_are_read_page_by_page_and_given_up_past_the_budget() {
    use aws_sdk_dynamodb::operation::query::QueryOutput;
    let org = OrgId::parse("acme").unwrap();
    let item = |email: &str| {
        HashMap::from([
            ("match_value".to_string(), AttributeValue::S(email.into())),
            (
                "training_id".to_string(),
                AttributeValue::S("forklift".into()),
            ),
            (
                "completion_date".to_string(),
                AttributeValue::S("2024-01-01".into()),
            ),
        ])
    };
    let last_key = HashMap::from([(
        "pk".to_string(),
        AttributeValue::S("ORG#acme#IMPORT#x".into()),
    )]);
    // Only the organisation's rows under the method, at most budget + 1 a request: its
    // 256 shards first (empty here), then the partition rows committed before the index
    // was sharded are in.
    let asks_for = |budget: i32, partition: fn(&str) -> bool| {
        move |r: &aws_sdk_dynamodb::operation::query::QueryInput| {
            r.index_name() == Some("PendingByOrg")
                && r.key_condition_expression() == Some("#o = :o AND begins_with(#k, :k)")
                && r.expression_attribute_values().is_some_and(|v| {
                    v[":o"].as_s().is_ok_and(|o| partition(o))
                        && v[":k"].as_s().is_ok_and(|k| k == "ORG#acme#KEY#email#")
                })
                && r.limit().is_some_and(|l| l <= budget + 1)
        }
    };
    let legacy: fn(&str) -> bool = |o| o == "ORG#acme";
    let shard: fn(&str) -> bool = |o| {
        o.strip_prefix("ORG#acme#PENDING#")
            .is_some_and(|n| n.len() == 3 && n.parse::<u64>().is_ok_and(|n| n < 256))
    };
    let pages = |budget: i32| {
        let shards = mock!(Client::query)
            .match_requests(move |r| asks_for(budget, shard)(r))
            .sequence()
            .output(|| QueryOutput::builder().build())
            .times(256)
            .build();
        let lk = last_key.clone();
        let first = mock!(Client::query)
            .match_requests(move |r| {
                asks_for(budget, legacy)(r) && r.exclusive_start_key().is_none()
            })
            .then_output(move || {
                QueryOutput::builder()
                    .items(item("a@example.com"))
                    .items(item("b@example.com"))
                    .set_last_evaluated_key(Some(lk.clone()))
                    .build()
            });
        let lk = last_key.clone();
        let second = mock!(Client::query)
            .match_requests(move |r| {
                asks_for(budget, legacy)(r) && r.exclusive_start_key() == Some(&lk)
            })
            .then_output(move || QueryOutput::builder().items(item("c@example.com")).build());
        (shards, first, second)
    };

    let (shards, first, second) = pages(5);
    let read = store(ddb(&[&shards, &first, &second]))
        .pending_of_org(&org, MatchMethod::Email, 5)
        .await
        .unwrap();
    let values: Vec<String> = read
        .expect("3 rows fit a budget of 5")
        .into_iter()
        .map(|(k, t, d)| format!("{} {t} {d}", k.value()))
        .collect();
    assert_eq!(
        values,
        [
            "a@example.com forklift 2024-01-01",
            "b@example.com forklift 2024-01-01",
            "c@example.com forklift 2024-01-01"
        ]
    );
    assert_eq!(
        (shards.num_calls(), first.num_calls(), second.num_calls()),
        (256, 1, 1)
    );

    // Over the budget: the caller is told to ask key by key.
    let (shards, first, second) = pages(2);
    assert_eq!(
        store(ddb(&[&shards, &first, &second]))
            .pending_of_org(&org, MatchMethod::Email, 2)
            .await
            .unwrap(),
        None
    );
}
