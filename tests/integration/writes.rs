//! The write counter the `writes` benchmark measures the data model with counts what the
//! store really sends: items per partition, transactional items, and index writes where
//! a row gains, keeps or loses an index key.

use std::collections::HashMap;
use suite::*;
use training_imports::domain::{Email, ImportId, MatchKey, MatchMethod, Outcome, RowStatus};
use training_imports::keys;
use training_imports::store::{RowLayout, RowRecord};

fn row(line: u64, status: RowStatus, outcome: Outcome) -> RowRecord {
    let cells = vec![
        format!("p{line}@example.com"),
        "First Aid".into(),
        "2024-01-01".into(),
    ];
    RowRecord {
        status,
        match_value: Some(format!("p{line}@example.com")),
        training_id: Some("first-aid".into()),
        training_title: Some("First Aid".into()),
        completion_date: Some("2024-01-01".into()),
        ..RowRecord::validated("counted", line, cells, outcome, MatchMethod::Email)
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
    store
        .write_rows(&env.org, &id, RowLayout::Single, &rows)
        .await
        .unwrap();
    let w = counter.take();
    let partition = keys::import_pk(&env.org, &id);
    assert_eq!(w.requests, 2);
    assert_eq!(w.items(), 30);
    assert_eq!(w.busiest(), (partition.clone(), 30));
    assert_eq!(w.transactional, 0);
    let indexes = w.busiest_index_partitions();
    assert_eq!(indexes["ErrorsByImport"], (partition.clone(), 5));
    assert!(!indexes.contains_key("PendingByOrg"), "{indexes:?}");

    // A real import of three people nobody has signed up as: validation writes their
    // page (one item); the commit leaves the page as it is, records it in one
    // transaction of three items (the summary, a count shard and what it did to the
    // rows), then puts a waiting group for each person in their key's partition, in the
    // pending index in the shard of their match key (never the organisation's own
    // partition).
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
    counter.take();
    validate::validate_import(&store, &env.org, &three, today)
        .await
        .unwrap();
    let w = counter.take();
    let page = keys::row_block_pk(&env.org, &three, 0);
    assert_eq!(w.by_partition.get(&page), Some(&1), "{w:?}");
    let stamp = training_imports::store::Stamp::now("sub", None);
    manage::request_commit(&store, &env.org, &three, true, &stamp)
        .await
        .unwrap();
    counter.take();
    commit::run_commit(&store, &env.org, &three).await.unwrap();
    let w = counter.take();
    let shard_of = |email: &str| {
        keys::pending_shard_pk(&env.org, &MatchKey::email(&Email::parse(email).unwrap()))
    };
    let mut expected: HashMap<String, u64> = HashMap::new();
    for email in ["a@example.com", "b@example.com", "c@example.com"] {
        *expected.entry(shard_of(email)).or_default() += 1;
    }
    let pending_writes: HashMap<String, u64> = w
        .by_index_partition
        .iter()
        .filter(|((index, _), _)| index == "PendingByOrg")
        .map(|((_, pk), n)| (pk.clone(), *n))
        .collect();
    assert_eq!(pending_writes, expected);
    // The page is recorded in one transaction: the summary, a count shard and what
    // the commit did to the page's rows; the page of rows itself is not written again.
    assert_eq!(w.transactional, 3);
    assert_eq!(w.by_partition.get(&page), None, "{w:?}");
    let key_pk =
        |email: &str| keys::match_key_pk(&env.org, &MatchKey::email(&Email::parse(email).unwrap()));
    for email in ["a@example.com", "b@example.com", "c@example.com"] {
        assert_eq!(w.by_partition.get(&key_pk(email)), Some(&1), "{w:?}");
    }

    // Deleting two of them: one transaction of the two groups and a count shard; each
    // group stays in the pending index with its row marked deleted.
    let summary = store.get_import(&env.org, &three).await.unwrap().unwrap();
    let layout = RowLayout::of(&summary);
    assert_eq!(
        layout,
        RowLayout::Pages {
            last_line: 4,
            groups: true
        }
    );
    let read = store
        .list_rows(&env.org, &three, layout, None, None, 2, None)
        .await
        .unwrap()
        .rows;
    store
        .delete_pending_rows(&env.org, &three, layout, &read, &stamp)
        .await
        .unwrap();
    let w = counter.take();
    assert_eq!(w.requests, 1);
    assert_eq!(w.transactional, 3);
    assert_eq!(w.items(), 3);
    let index_writes: u64 = w
        .by_index_partition
        .iter()
        .filter(|((index, _), _)| index == "PendingByOrg")
        .map(|(_, n)| n)
        .sum();
    assert_eq!(index_writes, 2);
    // A person's waiting group (in their key's partition) is what the pending index holds.
    let in_index = |email: &str| {
        counter.index_partition(
            "PendingByOrg",
            &key_pk(email),
            &keys::group_sk(&three, None),
        )
    };
    for email in ["a@example.com", "b@example.com", "c@example.com"] {
        assert_eq!(in_index(email), Some(shard_of(email)));
    }
    let rows = store
        .list_rows(&env.org, &three, layout, None, None, 10, None)
        .await
        .unwrap()
        .rows;
    let statuses: Vec<RowStatus> = rows.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses,
        [RowStatus::Deleted, RowStatus::Deleted, RowStatus::Pending]
    );
}

/// Rows to import in [`a_large_import_writes_pages_spreads_its_writes_and_lists_back_every_row`]:
/// enough to span three partitions of rows, and more pending rows than one partition
/// of the pending index could take before it was sharded.
const SPREAD_ROWS: usize = 2_500;

#[tokio::test]
async fn a_large_import_writes_pages_spreads_its_writes_and_lists_back_every_row() {
    // On AWS a partition takes about 1,000 writes a second. An import's rows are spread
    // over partitions of 1,000 lines and the pending index over 256 shards by match key,
    // so neither phase of an import sends more than 1,000 writes to one partition key
    // of the table or of an index (the writes bench shows the same at 100,000 rows).
    let env = test_env("no-hot-key").await;
    let measured = workload::import_and_commit(&env.store, &env.org, SPREAD_ROWS).await;
    let s = &measured.summary;
    assert!(s.statuses.imported >= 1_200, "{:?}", s.statuses);
    assert!(s.statuses.pending >= 1_200, "{:?}", s.statuses);
    assert_eq!(s.outcomes.error, 25);
    for (phase, w) in [
        ("validate", &measured.validation),
        ("commit", &measured.commit),
    ] {
        let (pk, n) = w.busiest();
        assert!(n <= 1_000, "{phase}: {n} writes to table partition {pk}");
        for (index, (pk, n)) in w.busiest_index_partitions() {
            assert!(n <= 1_000, "{phase}: {n} writes to {index} partition {pk}");
        }
    }
    // Validation writes pages of rows, not rows: at most 0.01 items per data row, the
    // summary's moves and progress included.
    let per_row = measured.validation.items() as f64 / measured.data_rows as f64;
    assert!(
        per_row <= 0.01,
        "validation wrote {} items for {} rows",
        measured.validation.items(),
        measured.data_rows
    );
    // The commit: a completion per imported row, a waiting group per person still to
    // sign up (each has several rows here, spread through the file), and its pages
    // again and its records, at most 0.01 a row.
    let statuses = &s.statuses;
    let layout = RowLayout::of(s);
    let mut waiting_people = std::collections::HashSet::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = env
            .store
            .list_rows(
                &env.org,
                &measured.import,
                layout,
                None,
                Some(RowStatus::Pending),
                1000,
                cursor.as_deref(),
            )
            .await
            .unwrap();
        waiting_people.extend(page.rows.into_iter().filter_map(|r| r.match_value));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    let groups = waiting_people.len() as i64;
    assert!(
        groups * 3 <= statuses.pending,
        "{groups} people for {} pending rows",
        statuses.pending
    );
    let over = measured.commit.items() as f64 - (statuses.imported + groups) as f64;
    assert!(
        over <= 0.01 * measured.data_rows as f64,
        "the commit wrote {} items for {} imported rows and {groups} waiting groups ({} pending rows)",
        measured.commit.items(),
        statuses.imported,
        statuses.pending
    );
    // The rows are in the partitions of their lines.
    let row_partitions: Vec<(&String, &u64)> = measured
        .validation
        .by_partition
        .iter()
        .filter(|(pk, _)| pk.contains("#ROWS#"))
        .collect();
    assert_eq!(row_partitions.len(), 3, "{row_partitions:?}");
    let pending_shards = measured
        .commit
        .by_index_partition
        .keys()
        .filter(|(index, _)| index == "PendingByOrg")
        .count();
    assert!(
        pending_shards > 100,
        "{pending_shards} pending-index partitions"
    );

    // Listed back across pages and partitions a few hundred at a time: every row once,
    // in file order; the filters find what the counts say.
    let (store, org, import) = (&env.store, &env.org, &measured.import);
    let list = |outcome: Option<Outcome>, status: Option<RowStatus>| async move {
        let (mut rows, mut cursor) = (Vec::new(), None::<String>);
        loop {
            let page = store
                .list_rows(org, import, layout, outcome, status, 333, cursor.as_deref())
                .await
                .unwrap();
            rows.extend(page.rows);
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => return rows,
            }
        }
    };
    let all = list(None, None).await;
    assert_eq!(all.len() as u64, measured.data_rows);
    assert!(all.windows(2).all(|w| w[0].row < w[1].row));
    let errors = list(Some(Outcome::Error), None).await;
    assert_eq!(errors.len(), 25);
    assert!(errors.iter().all(|r| r.outcome == Outcome::Error));
    let pending = list(None, Some(RowStatus::Pending)).await;
    assert_eq!(pending.len() as i64, s.statuses.pending);
    // A deleted row shows as deleted (as its group has it, not its page's copy).
    let gone = pending[pending.len() / 2].row;
    store
        .delete_pending_row(
            org,
            import,
            layout,
            gone,
            &training_imports::store::Stamp::now("admin", None),
        )
        .await
        .unwrap();
    let deleted = list(None, Some(RowStatus::Deleted)).await;
    assert_eq!(deleted.iter().map(|r| r.row).collect::<Vec<_>>(), [gone]);
    assert_eq!(
        list(None, Some(RowStatus::Pending)).await.len(),
        pending.len() - 1
    );
    let row = store
        .get_row(org, import, layout, gone)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.status, RowStatus::Deleted);
}

/// A sign-up writes its completions by BatchWriteItem; what goes into transactions is
/// each waiting group it marks applied and one count shard per import those are in,
/// never a row or a completion. Here a person waits in three imports, one of which has
/// more rows for them than one group item holds.
#[tokio::test]
async fn a_sign_up_puts_only_its_groups_and_their_imports_in_transactions() {
    use training_imports::pipeline::signup::{apply_sign_up, SignUp};
    let env = test_env("signup-writes").await;
    let (store, org) = (&env.store, &env.org);
    workload::seed_trainings(store, org).await;
    let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
    let big = training_imports::store::GROUP_ROWS + 10;
    let mut imports = Vec::new();
    for (i, rows) in [3usize, 4, big].into_iter().enumerate() {
        let mut csv = String::from("email,training,date\n");
        for r in 0..rows {
            // A distinct (training, date) for every row of every import.
            let date = chrono::NaiveDate::from_ymd_opt(2000 + i as i32, 1, 1).unwrap()
                + chrono::Days::new(r as u64);
            csv.push_str(&format!("late@example.com,Training {},{date}\n", r % 7));
            csv.push_str(&format!("other{r}@example.com,Training 1,{date}\n"));
        }
        let id = workload::paste_import(store, org, &csv).await;
        training_imports::pipeline::validate::validate_import(store, org, &id, today)
            .await
            .unwrap();
        training_imports::pipeline::manage::request_commit(
            store,
            org,
            &id,
            false,
            &workload::admin(),
        )
        .await
        .unwrap();
        training_imports::pipeline::commit::run_commit(store, org, &id)
            .await
            .unwrap();
        imports.push(id);
    }
    let key = MatchKey::email(&Email::parse("late@example.com").unwrap());
    let (rows, groups) = store.waiting_for_key(org, &key).await.unwrap();
    assert!(rows.is_empty());
    assert_eq!(groups.len(), 4, "3 imports, the largest in two parts");
    let waiting = 3 + 4 + big;

    let (counting, counter) = suite::writes::counting(store).await;
    counter.take();
    let signup = SignUp {
        user_sub: "sub-late".into(),
        user_name: "late".into(),
        email: Some("late@example.com".into()),
        ..Default::default()
    };
    let report = apply_sign_up(&counting, org, &signup).await.unwrap();
    let w = counter.take();
    assert_eq!((report.applied, report.no_longer_pending), (waiting, 0));
    assert_eq!(
        w.transactional,
        (groups.len() + imports.len()) as u64,
        "{w:?}"
    );
    let person = training_imports::domain::PersonId::parse(&report.person_id).unwrap();
    assert_eq!(
        store.list_completions(org, &person).await.unwrap().len(),
        waiting
    );
    let person_pk = keys::person_pk(org, &person);
    assert_eq!(
        w.by_partition.get(&person_pk).copied().unwrap_or(0),
        waiting as u64 + 1,
        "each completion once, and the profile"
    );
    for (id, rows) in imports.iter().zip([3, 4, big]) {
        let s = store.get_import(org, id).await.unwrap().unwrap();
        let counts = (s.statuses.applied, s.statuses.pending);
        assert_eq!(counts, (rows as i64, rows as i64), "{:?}", s.statuses);
    }
}
