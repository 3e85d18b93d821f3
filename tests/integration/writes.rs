//! The write counter the `writes` benchmark measures the data model with counts what the
//! store really sends: items per partition, transactional items, and index writes where
//! a row gains, keeps or loses an index key.

use suite::*;
use training_imports::domain::{ImportId, MatchMethod, Outcome, RowStatus};
use training_imports::keys;
use training_imports::store::RowRecord;

fn row(line: u64, status: RowStatus, outcome: Outcome) -> RowRecord {
    RowRecord {
        import_id: "counted".into(),
        row: line,
        cells: vec![
            format!("p{line}@example.com"),
            "First Aid".into(),
            "2024-01-01".into(),
        ],
        outcome,
        status,
        issues: vec![],
        warnings: vec![],
        match_method: MatchMethod::Email,
        match_value: Some(format!("p{line}@example.com")),
        person_id: None,
        training_id: Some("first-aid".into()),
        training_title: Some("First Aid".into()),
        completion_date: Some("2024-01-01".into()),
        commit_note: None,
        imported_at: None,
        applied_at: None,
        deleted_at: None,
        fixed_by: None,
        imported_by: None,
        deleted_by: None,
        applied_to_account: None,
    }
}

#[tokio::test]
async fn the_write_counter_counts_items_partitions_transactions_and_index_writes() {
    use training_imports::pipeline::{commit, manage, validate};
    let env = test_env("write-counter").await;
    let (store, counter) = writes::counting(&env.store).await;
    let id = ImportId::parse("counted").unwrap();
    // 30 rows in one partition, two BatchWriteItem requests (25 + 5); the 5 errors go to
    // the errors index.
    let rows: Vec<RowRecord> = (2..32)
        .map(|line| match line {
            12..=16 => row(line, RowStatus::Validated, Outcome::Error),
            _ => row(line, RowStatus::Validated, Outcome::Ready),
        })
        .collect();
    store.write_rows(&env.org, &id, &rows).await.unwrap();
    let w = counter.take();
    let partition = keys::import_pk(&env.org, &id);
    assert_eq!(w.requests, 2);
    assert_eq!(w.items(), 30);
    assert_eq!(w.busiest(), (partition.clone(), 30));
    assert_eq!(w.transactional, 0);
    let indexes = w.busiest_index_partitions();
    assert_eq!(indexes["ErrorsByImport"], (partition.clone(), 5));
    assert!(!indexes.contains_key("PendingByOrg"), "{indexes:?}");

    // A real import of three people nobody has signed up as: the commit puts each row in
    // the pending index (the organisation's one partition), and records its page in one
    // transaction of two items (the summary and a count shard).
    store
        .put_training(
            &env.org,
            &training_imports::store::TrainingRecord {
                training_id: "first-aid".into(),
                title: "First Aid".into(),
                published: true,
                created_at: "2026-01-01T00:00:00Z".into(),
                changed_by: None,
            },
        )
        .await
        .unwrap();
    let created = manage::create_import(
        &store,
        &env.org,
        manage::NewImport {
            method: MatchMethod::Email,
            file_name: "three.csv".into(),
            options: Default::default(),
            csv_text: Some("email,training,date\na@example.com,First Aid,2024-01-01\nb@example.com,First Aid,2024-01-01\nc@example.com,First Aid,2024-01-01\n".into()),
            size: None,
            by: None,
            from_import: None,
        },
    )
    .await
    .unwrap();
    let three = ImportId::parse(&created.summary.import_id).unwrap();
    let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
    validate::validate_import(&store, &env.org, &three, today)
        .await
        .unwrap();
    let stamp = training_imports::store::Stamp::now("sub", None);
    manage::request_commit(&store, &env.org, &three, true, &stamp)
        .await
        .unwrap();
    counter.take();
    commit::run_commit(&store, &env.org, &three).await.unwrap();
    let w = counter.take();
    assert_eq!(
        w.by_index_partition[&("PendingByOrg".to_string(), keys::org_pk(&env.org))],
        3
    );
    assert_eq!(w.transactional, 2);

    // Deleting two of them: one transaction of the two rows and a count shard; each row
    // leaves the pending index (a write to its partition).
    store
        .delete_pending_rows(&env.org, &three, &[2, 3], &stamp)
        .await
        .unwrap();
    let w = counter.take();
    assert_eq!(w.requests, 1);
    assert_eq!(w.transactional, 3);
    assert_eq!(w.items(), 3);
    assert_eq!(
        w.by_index_partition[&("PendingByOrg".to_string(), keys::org_pk(&env.org))],
        2
    );
    let pk = keys::import_pk(&env.org, &three);
    let in_index = |line: u64| counter.index_partition("PendingByOrg", &pk, &keys::row_sk(line));
    assert_eq!(
        (in_index(2), in_index(3)),
        (None, None),
        "deleted rows leave the index"
    );
    assert_eq!(in_index(4), Some(keys::org_pk(&env.org)));
}
