//! The seven invariants of docs (DESIGN: exactly once, nothing stranded, delete against
//! apply, crash-safe, tenant isolation, validation writes no completion, counts equal
//! rows), proved against DynamoDB Local and the local S3 server through the handlers.

use serde_json::{json, Value};
use std::collections::BTreeMap;
use suite::*;
use training_imports::domain::{ImportId, OrgId, RowStatus};
use training_imports::keys;
use training_imports::store::Store;

const CONFIRM: &str = "PostConfirmation_ConfirmSignUp";

fn new_org() -> OrgId {
    OrgId::parse(&format!(
        "org-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..10]
    ))
    .unwrap()
}

async fn call(
    store: &Store,
    org: &OrgId,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    call_api(
        &api_context(store),
        method,
        path,
        body,
        Some(admin_claims(org)),
    )
    .await
}

async fn setup_org(store: &Store, org: &OrgId) {
    for (id, title) in [("forklift", "Forklift Safety"), ("first-aid", "First Aid")] {
        let (status, body) = call(
            store,
            org,
            "POST",
            "/trainings",
            Some(json!({"training_id": id, "title": title, "published": true})),
        )
        .await;
        assert_eq!(status, 201, "{body}");
    }
}

fn attrs(org: &OrgId, email: &str) -> Vec<(String, String)> {
    vec![
        ("custom:org_id".into(), org.to_string()),
        ("email".into(), email.into()),
    ]
}

async fn signup(store: &Store, org: &OrgId, sub: &str, email: &str) -> on_signup::Handled {
    let a = attrs(org, email);
    let refs: Vec<(&str, &str)> = a.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let event = post_confirmation_event(CONFIRM, sub, &refs);
    on_signup::process(&suite::cognito::triggers(store).await, &event)
        .await
        .expect("trigger succeeds")
}

/// Creates an import from pasted CSV (the upload event is not delivered).
async fn create(store: &Store, org: &OrgId, csv: &str) -> (ImportId, String) {
    let (status, body) = call(
        store,
        org,
        "POST",
        "/imports",
        Some(json!({"method": "email", "csv": csv})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    (
        ImportId::parse(body["import"]["import_id"].as_str().unwrap()).unwrap(),
        body["import"]["object_key"].as_str().unwrap().to_string(),
    )
}

async fn summary(store: &Store, org: &OrgId, id: &ImportId) -> Value {
    let (status, body) = call(store, org, "GET", &format!("/imports/{id}"), None).await;
    assert_eq!(status, 200, "{body}");
    body["import"].clone()
}

async fn all_rows(store: &Store, org: &OrgId, id: &ImportId) -> Vec<Value> {
    let mut rows = vec![];
    let mut cursor = String::new();
    loop {
        let (status, body) = call(
            store,
            org,
            "GET",
            &format!("/imports/{id}/rows?limit=500{cursor}"),
            None,
        )
        .await;
        assert_eq!(status, 200);
        rows.extend(body["rows"].as_array().unwrap().iter().cloned());
        match body["next_cursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => return rows,
        }
    }
}

/// Invariant 7: the summary's counts equal what its rows say.
async fn assert_counts_match_rows(store: &Store, org: &OrgId, id: &ImportId) -> Value {
    let s = summary(store, org, id).await;
    let rows = all_rows(store, org, id).await;
    let mut outcomes: BTreeMap<String, u64> = BTreeMap::new();
    let mut statuses: BTreeMap<String, i64> = BTreeMap::new();
    for r in &rows {
        *outcomes
            .entry(r["outcome"].as_str().unwrap().into())
            .or_default() += 1;
        let st = r["status"].as_str().unwrap();
        if st != "validated" {
            *statuses.entry(st.into()).or_default() += 1;
        }
    }
    assert_eq!(s["rows_total"].as_u64().unwrap(), rows.len() as u64, "{s}");
    for k in ["ready", "pending", "error", "skipped"] {
        assert_eq!(
            s["outcomes"][k].as_u64().unwrap(),
            outcomes.get(k).copied().unwrap_or(0),
            "outcome {k}: {s}"
        );
    }
    for k in ["imported", "pending", "applied", "deleted", "not_imported"] {
        assert_eq!(
            s["statuses"][k].as_i64().unwrap(),
            statuses.get(k).copied().unwrap_or(0),
            "status {k}: {s}"
        );
    }
    s
}

async fn completions(store: &Store, org: &OrgId, person: &str) -> usize {
    let (status, body) = call(
        store,
        org,
        "GET",
        &format!("/people/{person}/completions"),
        None,
    )
    .await;
    if status == 404 {
        return 0;
    }
    body["completions"].as_array().unwrap().len()
}

/// Clicks Import (the API) and delivers the commit request's S3 event to the worker.
async fn commit(store: &Store, org: &OrgId, id: &ImportId) {
    call(
        store,
        org,
        "POST",
        &format!("/imports/{id}/commit"),
        Some(json!({})),
    )
    .await;
    deliver(store, &keys::s3::commit_key(org, id)).await;
}

/// Clicks Import (the commit request is written; its event is not delivered).
async fn ask_to_commit(store: &Store, org: &OrgId, id: &ImportId) {
    let (status, body) = call(
        store,
        org,
        "POST",
        &format!("/imports/{id}/commit"),
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 202, "{body}");
}

/// A summary's (applied, deleted, pending) counts.
fn ended(s: &Value) -> (&Value, &Value, &Value) {
    (
        &s["statuses"]["applied"],
        &s["statuses"]["deleted"],
        &s["statuses"]["pending"],
    )
}

fn csv_for(emails: &[String]) -> String {
    let mut csv = "email,training,date\n".to_string();
    for e in emails {
        csv.push_str(&format!("{e},forklift,2024-01-01\n"));
    }
    csv
}

fn outcome_counts(s: &Value) -> Value {
    json!([s["outcomes"], s["statuses"], s["rows_total"]])
}

// ---- 1. exactly once under duplicate deliveries -------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn duplicate_and_concurrent_deliveries_change_nothing() {
    let env = test_env("dupes").await;
    let (store, org) = (&env.store, &env.org);
    setup_org(store, org).await;
    signup(store, org, "sub-ready", "ready@example.com").await;
    let csv = "email,training,date\nready@example.com,forklift,2024-01-01\nlater@example.com,forklift,2024-01-01\nbad,forklift,2024-01-01\n";

    // Reference: one delivery of each event.
    let (reference, key) = create(store, org, csv).await;
    deliver(store, &key).await;
    let validated_once = outcome_counts(&summary(store, org, &reference).await);

    // The same upload delivered three times in sequence, then three at once.
    let (seq, key) = create(store, org, csv).await;
    for _ in 0..3 {
        deliver(store, &key).await;
    }
    assert_eq!(
        outcome_counts(&assert_counts_match_rows(store, org, &seq).await),
        validated_once
    );
    let (conc, key) = create(store, org, csv).await;
    tokio::join!(
        deliver(store, &key),
        deliver(store, &key),
        deliver(store, &key)
    );
    assert_eq!(
        outcome_counts(&assert_counts_match_rows(store, org, &conc).await),
        validated_once
    );

    // Import clicked twice, the commit event delivered three times at once.
    for _ in 0..2 {
        let (status, body) = call(
            store,
            org,
            "POST",
            &format!("/imports/{conc}/commit"),
            Some(json!({"skip_invalid_rows": true})),
        )
        .await;
        assert_eq!(status, 202, "{body}");
    }
    let commit_key = keys::s3::commit_key(org, &conc);
    tokio::join!(
        deliver(store, &commit_key),
        deliver(store, &commit_key),
        deliver(store, &commit_key)
    );
    let s = assert_counts_match_rows(store, org, &conc).await;
    assert_eq!(s["statuses"]["imported"], 1, "{s}");
    assert_eq!(s["statuses"]["pending"], 1, "{s}");
    assert_eq!(completions(store, org, "sub-ready").await, 1);

    // The sign-up trigger invoked twice at once for the pending person.
    tokio::join!(
        signup(store, org, "sub-later", "later@example.com"),
        signup(store, org, "sub-later", "later@example.com")
    );
    let s = assert_counts_match_rows(store, org, &conc).await;
    assert_eq!(s["statuses"]["applied"], 1, "{s}");
    assert_eq!(completions(store, org, "sub-later").await, 1);
}

// ---- 4. crash anywhere, then run again -----------------------------------------------------

#[tokio::test]
async fn the_validator_stopped_after_any_write_converges_when_run_again() {
    let env = test_env("crash-validate").await;
    let org = new_org();
    let store = &env.store;
    setup_org(store, &org).await;
    signup(store, &org, "sub-a", "a@example.com").await;
    let emails: Vec<String> = (0..60)
        .map(|i| {
            if i % 3 == 0 {
                "a@example.com".to_string()
            } else {
                format!("p{i}@example.com")
            }
        })
        .collect();
    let csv = csv_for(&emails);

    let (reference, key) = create(store, &org, &csv).await;
    let (counting, plan) = store.with_crash_plan(None);
    deliver(&counting, &key).await;
    let expected = outcome_counts(&summary(store, &org, &reference).await);
    let writes = plan.writes();
    assert!(
        writes >= 4,
        "an uninterrupted validation made {writes} writes"
    );

    for crash_after in 0..writes {
        let (id, key) = create(store, &org, &csv).await;
        let (crashing, _) = store.with_crash_plan(Some(crash_after));
        let event = object_event(store, &key, None).await;
        assert!(
            import_worker::handle(&crashing, event).await.is_err(),
            "crash after {crash_after} writes must fail the invocation"
        );
        deliver(store, &key).await; // Lambda's retry
        let s = assert_counts_match_rows(store, &org, &id).await;
        assert_eq!(
            outcome_counts(&s),
            expected,
            "after a crash at write {crash_after}"
        );
        assert_eq!(s["status"], "validated");
    }
    println!("validator crash points: {writes}");
}

/// A validation's progress never says more rows than are stored: stopped after any of
/// its writes (progress recorded after every chunk here), the summary's `rows_validated`
/// is a whole number of chunks, no more than the rows written; the retried run finishes
/// with it equal to `rows_total`.
#[tokio::test]
async fn validation_progress_never_runs_ahead_of_the_rows_written() {
    use training_imports::pipeline::validate::CHUNK_ROWS;
    let env = test_env("progress").await;
    let store = &env.store.with_progress_every(std::time::Duration::ZERO);
    let org = new_org();
    setup_org(store, &org).await;
    let emails: Vec<String> = (0..2 * CHUNK_ROWS + CHUNK_ROWS / 2)
        .map(|i| format!("p{i}@example.com"))
        .collect();
    let csv = csv_for(&emails);
    let (_, key) = create(store, &org, &csv).await;
    let (counting, plan) = store.with_crash_plan(None);
    deliver(&counting, &key).await;
    let writes = plan.writes();
    let mut part_way = 0;
    for crash_after in (1..writes).step_by((writes / 8).max(1) as usize) {
        let (id, key) = create(store, &org, &csv).await;
        let (crashing, _) = store.with_crash_plan(Some(crash_after));
        let event = object_event(store, &key, None).await;
        assert!(import_worker::handle(&crashing, event).await.is_err());
        let s = summary(store, &org, &id).await;
        let (done, stored) = (
            s["rows_validated"].as_u64().unwrap(),
            all_rows(store, &org, &id).await.len() as u64,
        );
        assert!(
            done <= stored && done % CHUNK_ROWS as u64 == 0,
            "stopped after write {crash_after}: progress {done}, rows stored {stored}"
        );
        part_way += usize::from(done > 0);
        deliver(store, &key).await; // Lambda's retry
        let s = summary(store, &org, &id).await;
        assert_eq!(
            (s["rows_validated"].as_u64(), s["rows_in_file"].as_u64()),
            (s["rows_total"].as_u64(), Some(emails.len() as u64)),
            "{s}"
        );
    }
    assert!(
        part_way > 0,
        "no stop showed progress part-way ({writes} writes)"
    );
}

#[tokio::test]
async fn the_commit_stopped_after_any_write_converges_when_run_again() {
    let env = test_env("crash-commit").await;
    // A stopped run keeps its commit lease until it runs out: short here, so that
    // Lambda's retry (below) takes the commit over after half a second, not two minutes.
    let short_lease = env
        .store
        .with_commit_lease(std::time::Duration::from_millis(500));
    let store = &short_lease;
    // 30 ready rows and 30 pending ones: two transactions of 25 and more.
    let ready: Vec<String> = (0..30).map(|i| format!("r{i}@example.com")).collect();
    let waiting: Vec<String> = (0..30).map(|i| format!("w{i}@example.com")).collect();
    let csv = csv_for(&[ready.clone(), waiting.clone()].concat());

    let mut reference = None;
    let mut crash_after = 0;
    loop {
        let org = new_org();
        setup_org(store, &org).await;
        for (i, e) in ready.iter().enumerate() {
            signup(store, &org, &format!("sub-r{i}"), e).await;
        }
        let (id, key) = create(store, &org, &csv).await;
        deliver(store, &key).await;
        ask_to_commit(store, &org, &id).await;
        let commit_key = keys::s3::commit_key(&org, &id);
        let event = object_event(store, &commit_key, Some("x")).await;
        let plan_after = reference.as_ref().map(|_| crash_after);
        let (crashing, plan) = store.with_crash_plan(plan_after);
        let first = import_worker::handle(&crashing, event).await;
        if reference.is_none() {
            assert!(first.is_ok());
            let s = assert_counts_match_rows(store, &org, &id).await;
            reference = Some((outcome_counts(&s), plan.writes()));
            continue;
        }
        let (expected, writes) = reference.clone().unwrap();
        assert!(
            first.is_err(),
            "crash after {crash_after} of {writes} writes must fail the invocation"
        );
        // Stopped: a row reads imported only once its completion is written.
        let after = format!("after a crash at write {crash_after}");
        assert_no_row_imported_without_its_completion(store, &org, &id, &ready, &after).await;
        deliver(store, &commit_key).await; // Lambda's retry
        let s = assert_counts_match_rows(store, &org, &id).await;
        assert_eq!(
            outcome_counts(&s),
            expected,
            "after a crash at write {crash_after}"
        );
        assert_eq!(s["status"], "imported");
        for i in 0..30 {
            assert_eq!(
                completions(store, &org, &format!("sub-r{i}")).await,
                1,
                "person {i} after a crash at write {crash_after}"
            );
        }
        // Every waiting row is where a sign-up looks for it.
        for w in &waiting {
            let key = training_imports::domain::MatchKey::email(
                &training_imports::domain::Email::parse(w).unwrap(),
            );
            assert_eq!(
                store.pending_rows_for_key(&org, &key).await.unwrap().len(),
                1,
                "{w} after a crash at write {crash_after}"
            );
            let (rows, groups) = store.waiting_for_key(&org, &key).await.unwrap();
            let in_groups: usize = groups.iter().map(|g| g.pending_rows().count()).sum();
            assert_eq!(
                (rows.len(), groups.len(), in_groups),
                (0, 1, 1),
                "{w} after a crash at write {crash_after}"
            );
        }
        crash_after += 1;
        if crash_after >= writes {
            println!("commit crash points: {writes}");
            break;
        }
    }
}

/// Every row of the import that reads imported has its completion (`ready[i]` is the
/// email of the person signed up as `sub-r<i>`).
async fn assert_no_row_imported_without_its_completion(
    store: &Store,
    org: &OrgId,
    id: &ImportId,
    ready: &[String],
    when: &str,
) {
    for r in all_rows(store, org, id).await {
        if r["status"] == "imported" {
            let email = r["cells"][0].as_str().unwrap();
            let i = ready.iter().position(|e| e == email).unwrap();
            assert_eq!(
                completions(store, org, &format!("sub-r{i}")).await,
                1,
                "{when}: {email} reads imported without its completion"
            );
        }
    }
}

/// The commit looks people up again only if the organisation's directory moved since
/// the validation's lookups began: with nobody signed up or added since, the rows the
/// validation found waiting still wait and nobody is read; after a sign-up the commit
/// imports that person's row, and after a person is added under a waiting key the row
/// waits for them.
#[tokio::test]
async fn the_commit_looks_people_up_again_only_when_someone_signed_up_or_was_added() {
    let env = test_env("commit-lookups").await;
    let emails: Vec<String> = (0..3).map(|i| format!("c{i}@example.com")).collect();
    for change in ["nobody", "a sign-up", "a person added"] {
        let store = &env.store;
        let org = new_org();
        setup_org(store, &org).await;
        let (id, key) = create(store, &org, &csv_for(&emails)).await;
        deliver(store, &key).await;
        let mut added = None;
        match change {
            "a sign-up" => {
                signup(store, &org, "sub-c0", &emails[0]).await;
            }
            "a person added" => {
                let (status, body) = call(
                    store,
                    &org,
                    "POST",
                    "/people",
                    Some(json!({"email": emails[1]})),
                )
                .await;
                assert_eq!(status, 201, "{body}");
                added = body["person"]["person_id"].as_str().map(str::to_string);
            }
            _ => {}
        }
        let (counting, counter) = writes::counting(store).await;
        call(
            store,
            &org,
            "POST",
            &format!("/imports/{id}/commit"),
            Some(json!({})),
        )
        .await;
        counter.take();
        training_imports::pipeline::commit::run_commit(&counting, &org, &id)
            .await
            .unwrap();
        let read = counter.take().people_read;
        let s = assert_counts_match_rows(store, &org, &id).await;
        let rows = all_rows(store, &org, &id).await;
        match change {
            "nobody" => {
                assert_eq!(read, 0, "{change}");
                assert_eq!(s["statuses"]["pending"], 3, "{s}");
            }
            "a sign-up" => {
                assert_eq!(read, 3, "{change}");
                assert_eq!(
                    (&s["statuses"]["imported"], &s["statuses"]["pending"]),
                    (&json!(1), &json!(2)),
                    "{s}"
                );
            }
            _ => {
                assert_eq!(read, 3, "{change}");
                assert_eq!(s["statuses"]["pending"], 3, "{s}");
                assert!(added.is_some());
                assert_eq!(
                    rows[1]["person_id"].as_str(),
                    added.as_deref(),
                    "{}",
                    rows[1]
                );
            }
        }
    }
}

/// A commit that stops while the completions of a page are being written (some
/// requests landed, the rest never sent) shows no row imported whose completion is
/// missing, and the run after it writes every completion: for a commit that puts
/// waiting groups, one requested before groups, and one of an import stored before
/// pages. The page brings more completions than the commit sends at once, so the stop
/// comes after whole requests have landed.
#[tokio::test]
async fn a_commit_stopped_while_writing_a_page_shows_no_row_imported_without_its_completion() {
    for stored in [Stored::Now, Stored::BeforeGroups, Stored::BeforePages] {
        commit_stopped_while_writing_a_page(stored).await;
    }
}

/// How an import's rows are stored: as now, or as an older release left them.
#[derive(Clone, Copy, Debug)]
enum Stored {
    Now,
    /// Its commit was requested before waiting groups.
    BeforeGroups,
    /// It was created before pages of rows.
    BeforePages,
}

async fn commit_stopped_while_writing_a_page(stored: Stored) {
    use aws_sdk_dynamodb::types::AttributeValue::{Bool, S};
    use training_imports::store::WRITE_CONCURRENCY;
    let env = test_env("commit-mid-page").await;
    let short_lease = env
        .store
        .with_commit_lease(std::time::Duration::from_millis(500));
    let store = &short_lease;
    let org = new_org();
    setup_org(store, &org).await;
    let ready: Vec<String> = (0..25 * (WRITE_CONCURRENCY + 2))
        .map(|i| format!("r{i}@example.com"))
        .collect();
    for (i, e) in ready.iter().enumerate() {
        signup(store, &org, &format!("sub-r{i}"), e).await;
    }
    let (id, key) = create(store, &org, &csv_for(&ready)).await;
    if let Stored::BeforePages = stored {
        as_stored_before_rows_were_spread(store, &org, &id).await;
    }
    deliver(store, &key).await;
    ask_to_commit(store, &org, &id).await;
    if let Stored::BeforeGroups = stored {
        store
            .dynamodb()
            .update_item()
            .table_name(store.table())
            .key("pk", S(keys::import_pk(&org, &id)))
            .key("sk", S(keys::SUMMARY_SK.into()))
            .update_expression("SET #c.waiting_groups = :no")
            .expression_attribute_names("#c", "commit")
            .expression_attribute_values(":no", Bool(false))
            .send()
            .await
            .unwrap();
    }
    let commit_key = keys::s3::commit_key(&org, &id);
    let event = object_event(store, &commit_key, Some("x")).await;
    // The commit takes its lease, then sends its page's batched puts WRITE_CONCURRENCY
    // at once: the request after those is refused once one of them has landed.
    let (crashing, _) = store.with_crash_plan(Some(1 + WRITE_CONCURRENCY as u64));
    assert!(import_worker::handle(&crashing, event).await.is_err());
    let stored_as = format!("{stored:?}");
    assert_no_row_imported_without_its_completion(store, &org, &id, &ready, &stored_as).await;
    deliver(store, &commit_key).await; // Lambda's retry
    let s = assert_counts_match_rows(store, &org, &id).await;
    assert_eq!(
        s["statuses"]["imported"],
        json!(ready.len()),
        "{stored:?}: {s}"
    );
    for i in 0..ready.len() {
        assert_eq!(
            completions(store, &org, &format!("sub-r{i}")).await,
            1,
            "{stored:?}: person {i}"
        );
    }
}

/// A commit run under a Lambda deadline that it would not make stops between pages,
/// gives its lease up and sends its own commit request again (a new object version);
/// the invocation that starts goes on from the recorded cursor. Every row moves once.
#[tokio::test]
async fn a_commit_near_its_deadline_hands_the_rest_to_a_new_invocation() {
    use training_imports::pipeline::commit::COMMIT_PAGE_ROWS;
    use training_imports::store::{LeaseAttempt, ROWS_PER_PAGE};
    let env = test_env("commit-deadline").await;
    let store = &env.store;
    let org = new_org();
    setup_org(store, &org).await;
    // Three pages: a few people signed up (ready rows), the rest pending.
    let people: Vec<String> = (0..2 * COMMIT_PAGE_ROWS + 100)
        .map(|i| format!("p{i}@example.com"))
        .collect();
    for (i, e) in people.iter().take(5).enumerate() {
        signup(store, &org, &format!("sub-{i}"), e).await;
    }
    let (id, key) = create(store, &org, &csv_for(&people)).await;
    deliver(store, &key).await;
    ask_to_commit(store, &org, &id).await;
    let commit_key = keys::s3::commit_key(&org, &id);
    let object = |store: &Store| {
        let (store, commit_key) = (store.clone(), commit_key.clone());
        async move {
            let got = store
                .s3()
                .get_object()
                .bucket(store.bucket())
                .key(&commit_key)
                .send()
                .await
                .unwrap();
            let etag = got.e_tag.clone().unwrap_or_default();
            let body: Value =
                serde_json::from_slice(&got.body.collect().await.unwrap().into_bytes()).unwrap();
            (etag, body)
        }
    };
    let (first_etag, _) = object(store).await;
    let event = object_event(store, &commit_key, Some(&first_etag)).await;

    // A deadline already closer than the margin: one page, then hand on.
    import_worker::handle_until(store, event, Some(std::time::Instant::now()))
        .await
        .unwrap();
    let s = assert_counts_match_rows(store, &org, &id).await;
    assert_eq!(s["status"], "importing", "{s}");
    let moved: i64 = ["imported", "pending"]
        .iter()
        .map(|k| s["statuses"][*k].as_i64().unwrap())
        .sum();
    // One commit page: the whole pages of rows holding its first COMMIT_PAGE_ROWS rows.
    assert!(
        (COMMIT_PAGE_ROWS as i64..(COMMIT_PAGE_ROWS + ROWS_PER_PAGE) as i64).contains(&moved),
        "one page moved: {s}"
    );
    assert!((moved as usize) < people.len());
    let cursor = 2 + moved as u64; // rows are numbered by line, the first on line 2
    let (etag, body) = object(store).await;
    assert_ne!(
        etag, first_etag,
        "a new version of the request, so S3 sends a new event"
    );
    assert_eq!(body["continue_from_row"], json!(cursor), "{body}");
    // The lease is free for the next invocation, at the recorded cursor.
    match store
        .take_commit_lease(&org, &id, store.commit_lease())
        .await
        .unwrap()
    {
        LeaseAttempt::Taken(lease) => {
            assert_eq!(lease.cursor, cursor);
            store.release_commit_lease(&org, &id, &lease).await.unwrap();
        }
        other => panic!("the lease must have been given up: {other:?}"),
    }

    // The new version's event: the next invocation finishes the rest.
    deliver(store, &commit_key).await;
    let s = assert_counts_match_rows(store, &org, &id).await;
    assert_eq!(s["status"], "imported", "{s}");
    assert_eq!(
        (
            s["statuses"]["imported"].as_i64(),
            s["statuses"]["pending"].as_i64()
        ),
        (Some(5), Some(people.len() as i64 - 5)),
        "{s}"
    );
    for i in 0..5 {
        assert_eq!(completions(store, &org, &format!("sub-{i}")).await, 1);
    }
}

/// Delivers an object's event to the worker as an invocation with `deadline`.
async fn deliver_until(store: &Store, key: &str, deadline: std::time::Instant) -> String {
    let head = store
        .s3()
        .head_object()
        .bucket(store.bucket())
        .key(key)
        .send()
        .await
        .unwrap();
    let etag = head.e_tag.clone().unwrap_or_default();
    let event = s3_event(store.bucket(), key, head.content_length.unwrap_or(0), &etag);
    import_worker::handle_until(store, event, Some(deadline))
        .await
        .unwrap();
    etag
}

/// A file too long for one invocation: the validation saves where it stopped (row,
/// counts, rows seen) under resume/, and the invocations that follow finish it with
/// exactly the rows and summary one long run gives, repeats across the stops included.
#[tokio::test]
async fn a_validation_near_its_deadline_hands_the_rest_to_new_invocations() {
    use training_imports::pipeline::validate::CHUNK_ROWS;
    let env = test_env("validate-deadline").await;
    let store = &env.store;
    let org = new_org();
    setup_org(store, &org).await;
    for i in 0..3 {
        signup(
            store,
            &org,
            &format!("sub-{i}"),
            &format!("p{i}@example.com"),
        )
        .await;
    }
    // Two and a half chunks: ready, pending, error and repeated rows, with repeats of
    // rows from the first chunk in the second and third.
    let mut csv = "email,training,date\n".to_string();
    for r in 0..(2 * CHUNK_ROWS + CHUNK_ROWS / 2) {
        let line = match r % 10 {
            7 => format!("p{}@example.com,first-aid,2024-02-0{}\n", r % 5, 1 + r % 7),
            8 => "not-an-email,forklift,2024-01-01\n".to_string(),
            9 => format!("p{}@example.com,forklift,2024-01-01\n", (r / 10) % 40),
            _ => format!("p{r}@example.com,forklift,2024-01-0{}\n", 1 + r % 9),
        };
        csv.push_str(&line);
    }
    let (reference, key) = create(store, &org, &csv).await;
    deliver(store, &key).await;
    let (id, key) = create(store, &org, &csv).await;

    // A deadline already closer than the margin: one chunk per invocation.
    let resume = keys::s3::resume_key(&org, &id);
    deliver_until(store, &key, std::time::Instant::now()).await;
    let s = summary(store, &org, &id).await;
    assert_eq!(
        (
            s["status"].as_str(),
            s["rows_validated"].as_u64(),
            s["rows_in_file"].as_u64()
        ),
        (
            Some("validating"),
            Some(CHUNK_ROWS as u64),
            Some(csv.lines().count() as u64 - 1)
        ),
        "progress: {s}"
    );
    let mut invocations = 1;
    let mut etags = vec![];
    while summary(store, &org, &id).await["status"] == "validating" {
        assert!(invocations < 10, "the validation does not finish");
        etags.push(deliver_until(store, &resume, std::time::Instant::now()).await);
        invocations += 1;
    }
    assert_eq!(invocations, 3, "one chunk per invocation");
    assert_ne!(
        etags[0], etags[1],
        "each hand-on writes a new version, so S3 sends a new event"
    );

    let (want, got) = (
        assert_counts_match_rows(store, &org, &reference).await,
        assert_counts_match_rows(store, &org, &id).await,
    );
    assert_eq!(got["status"], "validated", "{got}");
    assert_eq!(
        (&got["rows_validated"], &got["rows_in_file"]),
        (&got["rows_total"], &got["rows_total"])
    );
    assert!(
        want["issues"]["DUPLICATE_IN_FILE"].as_u64().unwrap() > 100,
        "the file has repeats across chunks: {want}"
    );
    for k in ["rows_total", "outcomes", "issues", "date_order", "headers"] {
        assert_eq!(got[k], want[k], "{k}");
    }
    let strip = |rows: Vec<Value>| -> Vec<Value> {
        rows.into_iter()
            .map(|mut r| {
                r.as_object_mut().unwrap().remove("import_id");
                r
            })
            .collect()
    };
    let (want_rows, got_rows) = (
        strip(all_rows(store, &org, &reference).await),
        strip(all_rows(store, &org, &id).await),
    );
    assert_eq!(got_rows.len(), want_rows.len());
    for (g, w) in got_rows.iter().zip(&want_rows) {
        assert_eq!(g, w);
    }

    // A late copy of the last hand-on's event changes nothing.
    deliver(store, &resume).await;
    assert_eq!(
        outcome_counts(&summary(store, &org, &id).await),
        outcome_counts(&got)
    );
}

/// One run at a time moves an import's rows: a delivery that finds the commit lease held
/// by a live run (it renews the lease) changes nothing; once the lease runs out without
/// renewal (the holder stopped), a delivery takes the commit over and finishes it.
#[tokio::test]
async fn a_commit_delivery_waits_for_the_lease_and_takes_over_only_a_stopped_run() {
    use training_imports::store::LeaseAttempt;
    let env = test_env("lease").await;
    let store = &env
        .store
        .with_commit_lease(std::time::Duration::from_secs(5));
    let org = new_org();
    setup_org(store, &org).await;
    signup(store, &org, "sub-a", "a@example.com").await;
    let (id, key) = create(
        store,
        &org,
        &csv_for(&["a@example.com".into(), "b@example.com".into()]),
    )
    .await;
    deliver(store, &key).await;
    ask_to_commit(store, &org, &id).await;
    let commit_key = keys::s3::commit_key(&org, &id);

    // Another run holds the lease and is alive: it renews the lease until the delivery
    // has given up.
    let LeaseAttempt::Taken(mut other) = store
        .take_commit_lease(&org, &id, store.commit_lease())
        .await
        .unwrap()
    else {
        panic!("the lease of a fresh commit is free");
    };
    let delivered = std::sync::atomic::AtomicBool::new(false);
    let renew = async {
        while !delivered.load(std::sync::atomic::Ordering::SeqCst) {
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            store
                .renew_commit_lease(&org, &id, &mut other, store.commit_lease())
                .await
                .unwrap();
        }
    };
    let delivery = async {
        deliver(store, &commit_key).await;
        delivered.store(true, std::sync::atomic::Ordering::SeqCst);
    };
    tokio::join!(delivery, renew);
    let s = assert_counts_match_rows(store, &org, &id).await;
    assert_eq!(s["status"], "importing", "{s}");
    assert_eq!(
        s["rows_committed"], 0,
        "a delivery moved rows while another run held the lease: {s}"
    );
    assert!(all_rows(store, &org, &id)
        .await
        .iter()
        .all(|r| r["status"] == "validated"));
    assert_eq!(completions(store, &org, "sub-a").await, 0);

    // The holder stops without giving the lease up: the next delivery waits it out and
    // finishes the commit.
    let started = std::time::Instant::now();
    deliver(store, &commit_key).await;
    let s = assert_counts_match_rows(store, &org, &id).await;
    assert_eq!(s["status"], "imported", "{s}");
    assert_eq!(
        (
            s["statuses"]["imported"].as_i64(),
            s["statuses"]["pending"].as_i64()
        ),
        (Some(1), Some(1)),
        "{s}"
    );
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(1),
        "took over a lease that had not run out"
    );
    assert_eq!(completions(store, &org, "sub-a").await, 1);
}

/// A new organisation where zoe@example.com has two pending rows in each of three
/// imports; with her sign-up's PostConfirmation event.
async fn zoe_pending_in_three_imports(store: &Store, org: &OrgId) -> (Vec<ImportId>, Value) {
    setup_org(store, org).await;
    let mut imports = vec![];
    for date in ["2024-01-01", "2024-01-02", "2024-01-03"] {
        let (id, key) = create(store, org, &format!("email,training,date\nzoe@example.com,forklift,{date}\nzoe@example.com,first-aid,{date}\n")).await;
        deliver(store, &key).await;
        call(
            store,
            org,
            "POST",
            &format!("/imports/{id}/commit"),
            Some(json!({})),
        )
        .await;
        deliver(store, &keys::s3::commit_key(org, &id)).await;
        imports.push(id);
    }
    let a = attrs(org, "zoe@example.com");
    let refs: Vec<(&str, &str)> = a.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    (imports, post_confirmation_event(CONFIRM, "sub-zoe", &refs))
}

/// Every one of Zoe's 6 rows (2 in each import) applied, none left pending, the counts
/// equal to the rows, and her 6 completions written.
async fn assert_zoe_applied(store: &Store, org: &OrgId, imports: &[ImportId]) {
    for id in imports {
        let s = assert_counts_match_rows(store, org, id).await;
        assert_eq!(
            (
                s["statuses"]["applied"].as_i64(),
                s["statuses"]["pending"].as_i64()
            ),
            (Some(2), Some(0)),
            "{s}"
        );
    }
    assert_eq!(completions(store, org, "sub-zoe").await, 6);
}

#[tokio::test]
async fn the_sign_up_stopped_after_any_write_converges_when_run_again() {
    let env = test_env("crash-signup").await;
    let store = &env.store;
    let mut crash_after = 0;
    let mut writes = None;
    loop {
        let org = new_org();
        let (imports, event) = zoe_pending_in_three_imports(store, &org).await;
        let (crashing, plan) = store.with_crash_plan(writes.map(|_| crash_after));
        let first =
            on_signup::handle(&suite::cognito::triggers(&crashing).await, event.clone()).await;
        match writes {
            None => {
                assert!(first.is_ok());
                writes = Some(plan.writes());
            }
            Some(w) => {
                assert!(
                    first.is_err(),
                    "crash after {crash_after} of {w} writes must fail"
                );
                on_signup::handle(&suite::cognito::triggers(store).await, event)
                    .await
                    .unwrap(); // Cognito's retry
            }
        }
        for id in &imports {
            let s = assert_counts_match_rows(store, &org, id).await;
            assert_eq!(
                s["statuses"]["applied"], 2,
                "after a crash at write {crash_after}: {s}"
            );
        }
        assert_eq!(completions(store, &org, "sub-zoe").await, 6);
        if writes.is_some_and(|w| {
            crash_after += 1;
            crash_after >= w
        }) {
            println!("sign-up crash points: {}", writes.unwrap());
            break;
        }
    }
}

// ---- 2. nothing stranded: sign-ups during the commit ------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn people_who_sign_up_while_the_commit_runs_end_with_their_rows_applied() {
    let env = test_env("stranded").await;
    let store = &env.store;
    for round in 0..5 {
        let org = new_org();
        setup_org(store, &org).await;
        let emails: Vec<String> = (0..60).map(|i| format!("p{i}@example.com")).collect();
        let (id, key) = create(store, &org, &csv_for(&emails)).await;
        deliver(store, &key).await;
        call(
            store,
            &org,
            "POST",
            &format!("/imports/{id}/commit"),
            Some(json!({})),
        )
        .await;
        let commit_key = keys::s3::commit_key(&org, &id);
        let commit = deliver(store, &commit_key);
        // Three streams of sign-ups overlap the commit's batches.
        let stream = |part: usize| {
            let (org, emails) = (&org, &emails);
            async move {
                for (i, e) in emails.iter().enumerate().filter(|(i, _)| i % 3 == part) {
                    signup(store, org, &format!("sub-{i}"), e).await;
                }
            }
        };
        tokio::join!(commit, stream(0), stream(1), stream(2));
        let rows = all_rows(store, &org, &id).await;
        let stranded: Vec<_> = rows
            .iter()
            .filter(|r| r["status"] == RowStatus::Pending.as_str())
            .collect();
        assert!(
            stranded.is_empty(),
            "round {round}: {} rows stranded pending: {stranded:?}",
            stranded.len()
        );
        for i in 0..emails.len() {
            assert_eq!(
                completions(store, &org, &format!("sub-{i}")).await,
                1,
                "round {round}, person {i}"
            );
        }
        assert_counts_match_rows(store, &org, &id).await;
    }
}

/// Cognito waits 5 s and does not retry a function error. A sign-up the trigger cannot
/// finish in its budget is handed to the worker through S3, which applies every row once
/// (twice delivered: still once).
#[tokio::test]
async fn a_sign_up_not_finished_in_the_triggers_time_is_finished_by_the_worker() {
    let env = test_env("signup-budget").await;
    let (store, org) = (&env.store, &env.org);
    let (imports, event) = zoe_pending_in_three_imports(store, org).await;
    let handled = on_signup::process_within(
        &suite::cognito::triggers(store).await,
        &event,
        std::time::Duration::ZERO,
    )
    .await
    .expect("the hand-off is written");
    let on_signup::Handled::HandedOn { key, reason } = handled else {
        panic!("not handed on: {handled:?}")
    };
    assert!(
        key.starts_with(&format!("signups/{org}/")) && key.ends_with(".json"),
        "{key}"
    );
    assert!(reason.contains("not finished within 0 ms"), "{reason}");
    assert_eq!(
        completions(store, org, "sub-zoe").await,
        0,
        "nothing applied within no time"
    );
    for _ in 0..2 {
        let report = deliver(store, &key).await;
        assert_eq!((report.handled, report.ignored), (1, 0), "{report:?}");
        assert_zoe_applied(store, org, &imports).await;
    }
}

/// A table that keeps failing (throttled past the SDK's retries) does not leave the
/// person's rows pending for ever: the trigger hands the sign-up on and lets the user in.
#[tokio::test]
async fn a_sign_up_against_a_failing_table_is_handed_to_the_worker() {
    use aws_sdk_dynamodb::error::ErrorMetadata;
    use aws_sdk_dynamodb::operation::batch_get_item::BatchGetItemError;
    use aws_sdk_dynamodb::operation::get_item::GetItemError;
    use aws_sdk_dynamodb::types::error::ProvisionedThroughputExceededException;
    use aws_smithy_mocks::{mock, mock_client, RuleMode};
    let env = test_env("signup-failing").await;
    let (store, org) = (&env.store, &env.org);
    let (imports, event) = zoe_pending_in_three_imports(store, org).await;
    // The sign-up's first reads (the account's record, and the roster by its keys, at
    // once) are throttled past the SDK's retries.
    fn slow_down() -> ProvisionedThroughputExceededException {
        let meta = ErrorMetadata::builder()
            .code("ProvisionedThroughputExceededException")
            .build();
        ProvisionedThroughputExceededException::builder()
            .message("slow down")
            .meta(meta)
            .build()
    }
    let throttled = mock!(aws_sdk_dynamodb::Client::get_item)
        .sequence()
        .error(|| GetItemError::ProvisionedThroughputExceededException(slow_down()))
        .repeatedly()
        .build();
    let throttled_batch = mock!(aws_sdk_dynamodb::Client::batch_get_item)
        .sequence()
        .error(|| BatchGetItemError::ProvisionedThroughputExceededException(slow_down()))
        .repeatedly()
        .build();
    let ddb = mock_client!(
        aws_sdk_dynamodb,
        RuleMode::MatchAny,
        &[&throttled, &throttled_batch],
        |c| c.retry_config(
            aws_sdk_dynamodb::config::retry::RetryConfig::standard()
                .with_max_attempts(2)
                .with_initial_backoff(std::time::Duration::from_millis(1))
        )
    );
    let failing = Store::new(ddb, store.s3().clone(), store.table(), store.bucket());
    let handled = on_signup::process(&suite::cognito::triggers(&failing).await, &event)
        .await
        .expect("the hand-off is written");
    let on_signup::Handled::HandedOn { key, reason } = handled else {
        panic!("not handed on: {handled:?}")
    };
    assert!(reason.contains("the table failed"), "{reason}");
    assert_eq!(throttled.num_calls(), 2, "the SDK retried before giving up");
    assert_eq!(completions(store, org, "sub-zoe").await, 0);
    deliver(store, &key).await;
    assert_zoe_applied(store, org, &imports).await;
}

/// A sign-up whose trigger failed outright (here: every write refused, the hand-off
/// too; in AWS, for instance, a permission the trigger lacked) leaves the person's rows
/// pending. Their next sign-in applies them; a sign-in with nothing waiting writes
/// nothing.
#[tokio::test]
async fn rows_left_pending_by_a_failed_sign_up_are_applied_at_the_next_sign_in() {
    let env = test_env("signin-catch-up").await;
    let (store, org) = (&env.store, &env.org);
    let (imports, event) = zoe_pending_in_three_imports(store, org).await;
    let (refusing, _) = store.with_crash_plan(Some(0));
    assert!(
        on_signup::process(&suite::cognito::triggers(&refusing).await, &event)
            .await
            .is_err(),
        "the sign-up's trigger fails"
    );
    assert_eq!(completions(store, org, "sub-zoe").await, 0);

    let a = attrs(org, "zoe@example.com");
    let refs: Vec<(&str, &str)> = a.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let sign_in = post_authentication_event("sub-zoe", &refs);
    let handled = on_signup::process(&suite::cognito::triggers(store).await, &sign_in)
        .await
        .unwrap();
    assert!(
        matches!(handled, on_signup::Handled::Applied(ref r) if r.applied == 6),
        "{handled:?}"
    );
    assert_eq!(
        on_signup::handle(&suite::cognito::triggers(store).await, sign_in.clone())
            .await
            .unwrap(),
        sign_in,
        "the sign-in event comes back unchanged"
    );
    assert_zoe_applied(store, org, &imports).await;

    // Nothing waits now: the next sign-in only looks (a write would be refused here).
    assert_eq!(
        on_signup::process(&suite::cognito::triggers(&refusing).await, &sign_in)
            .await
            .unwrap(),
        on_signup::Handled::NothingWaiting
    );
    // Someone signed up with nothing waiting, ever.
    let kai = [
        ("custom:org_id", org.as_str()),
        ("email", "kai@example.com"),
    ];
    assert!(matches!(
        on_signup::process(
            &suite::cognito::triggers(store).await,
            &post_confirmation_event(CONFIRM, "sub-kai", &kai)
        )
        .await
        .unwrap(),
        on_signup::Handled::Applied(_)
    ));
    let other = post_authentication_event("sub-kai", &kai);
    assert_eq!(
        on_signup::process(&suite::cognito::triggers(&refusing).await, &other)
            .await
            .unwrap(),
        on_signup::Handled::NothingWaiting
    );
}

/// Cognito calls PostConfirmation only for people who sign themselves up, never for an
/// account an admin creates (AdminCreateUser: how people are invited with their
/// organisation). Their first sign-in is their sign-up: linked to the roster, signed up
/// (so new imports find them ready), their waiting rows applied; later sign-ins only look.
#[tokio::test]
async fn an_invited_person_is_signed_up_at_their_first_sign_in() {
    let env = test_env("signin-invited").await;
    let (store, org) = (&env.store, &env.org);
    let (imports, _) = zoe_pending_in_three_imports(store, org).await;
    let (status, body) = call(
        store,
        org,
        "POST",
        "/people",
        Some(json!({"employee_id": "E77", "email": "ivy@example.com", "name": "Ivy Chen"})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let ivy_on_roster = body["person"]["person_id"].as_str().unwrap().to_string();
    let (refusing, _) = store.with_crash_plan(Some(0));

    // Ivy: on the roster, nothing waiting. Her first sign-in links and signs her up.
    let ivy = post_authentication_event(
        "sub-ivy",
        &[
            ("custom:org_id", org.as_str()),
            ("email", "ivy@example.com"),
        ],
    );
    let handled = on_signup::process(&suite::cognito::triggers(store).await, &ivy)
        .await
        .unwrap();
    assert!(
        matches!(handled, on_signup::Handled::Applied(ref r) if r.linked_to_roster && r.person_id == ivy_on_roster && r.applied == 0),
        "{handled:?}"
    );
    assert_eq!(
        on_signup::process(&suite::cognito::triggers(&refusing).await, &ivy)
            .await
            .unwrap(),
        on_signup::Handled::NothingWaiting,
        "a later sign-in only looks"
    );
    // A new import finds her signed up: her row is ready, not waiting for a sign-up.
    let (id, key) = create(
        store,
        org,
        "email,training,date\nivy@example.com,forklift,2024-02-02\n",
    )
    .await;
    deliver(store, &key).await;
    let s = summary(store, org, &id).await;
    assert_eq!(
        (
            s["outcomes"]["ready"].as_u64(),
            s["outcomes"]["pending"].as_u64()
        ),
        (Some(1), Some(0)),
        "{s}"
    );

    // Zoe: rows waiting in three imports, no confirmation ever (invited). Her first
    // sign-in applies them all.
    let zoe = post_authentication_event(
        "sub-zoe",
        &attrs(org, "zoe@example.com")
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect::<Vec<_>>(),
    );
    let handled = on_signup::process(&suite::cognito::triggers(store).await, &zoe)
        .await
        .unwrap();
    assert!(
        matches!(handled, on_signup::Handled::Applied(ref r) if r.applied == 6),
        "{handled:?}"
    );
    assert_zoe_applied(store, org, &imports).await;
    assert_eq!(
        on_signup::process(&suite::cognito::triggers(&refusing).await, &zoe)
            .await
            .unwrap(),
        on_signup::Handled::NothingWaiting
    );
}

/// Rows waiting under a name that several people share are left pending at sign-up (an
/// error for the admin to fix). A sign-in must not run the sign-up for them every time.
#[tokio::test]
async fn a_sign_in_leaves_rows_waiting_under_a_shared_name_alone() {
    let env = test_env("signin-shared-name").await;
    let (store, org) = (&env.store, &env.org);
    setup_org(store, org).await;
    let (status, body) = call(
        store,
        org,
        "POST",
        "/imports",
        Some(
            json!({"method": "name", "csv": "name,training,date\nAna Diaz,forklift,2024-01-01\n"}),
        ),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let id = ImportId::parse(body["import"]["import_id"].as_str().unwrap()).unwrap();
    deliver(store, body["import"]["object_key"].as_str().unwrap()).await;
    commit(store, org, &id).await;
    assert_eq!(summary(store, org, &id).await["statuses"]["pending"], 1);
    // Two people of that name join the roster after the import.
    for eid in ["E1", "E2"] {
        let (status, body) = call(
            store,
            org,
            "POST",
            "/people",
            Some(json!({"employee_id": eid, "name": "Ana Diaz"})),
        )
        .await;
        assert_eq!(status, 201, "{body}");
    }
    let (refusing, _) = store.with_crash_plan(Some(0));
    // Ana was invited with her name: her first sign-in is her sign-up.
    let ana = [
        ("custom:org_id", org.as_str()),
        ("name", "Ana Diaz"),
        ("email", "ana@example.com"),
    ];
    let signed_up = on_signup::process(
        &suite::cognito::triggers(store).await,
        &post_authentication_event("sub-ana", &ana),
    )
    .await
    .unwrap();
    assert!(
        matches!(signed_up, on_signup::Handled::Applied(ref r) if r.applied == 0 && r.ambiguous == 1),
        "{signed_up:?}"
    );
    let sign_in = post_authentication_event("sub-ana", &ana);
    assert_eq!(
        on_signup::process(&suite::cognito::triggers(&refusing).await, &sign_in)
            .await
            .unwrap(),
        on_signup::Handled::NothingWaiting,
        "no sign-up run (it would write)"
    );
    assert_eq!(summary(store, org, &id).await["statuses"]["pending"], 1);
}

// ---- 3. delete against apply ----------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_pending_row_ends_deleted_or_applied_never_both_never_neither() {
    let env = test_env("races").await;
    let (store, org) = (&env.store, &env.org);
    setup_org(store, org).await;
    const RACES: usize = 100;
    let emails: Vec<String> = (0..RACES).map(|i| format!("race{i}@example.com")).collect();
    let (id, key) = create(store, org, &csv_for(&emails)).await;
    deliver(store, &key).await;
    commit(store, org, &id).await;

    let (mut deleted, mut applied) = (0, 0);
    for (i, email) in emails.iter().enumerate() {
        let row = i + 2;
        let (path, sub) = (format!("/imports/{id}/rows/{row}"), format!("sub-{i}"));
        // Stagger the delete so that both orders happen: some deletes land first, some
        // sign-ups do.
        let delete = async {
            tokio::time::sleep(std::time::Duration::from_millis((i % 5) as u64 * 8)).await;
            call(store, org, "DELETE", &path, None).await
        };
        let sign = signup(store, org, &sub, email);
        let ((status, body), handled) = tokio::join!(delete, sign);
        let report = match handled {
            on_signup::Handled::Applied(r) => r,
            other => panic!("{other:?}"),
        };
        let done = completions(store, org, &format!("sub-{i}")).await;
        match status {
            200 => {
                deleted += 1;
                assert_eq!(body["row"]["status"], "deleted");
                assert_eq!(
                    (report.applied, done),
                    (0, 0),
                    "race {i}: deleted, so nothing may be applied"
                );
            }
            409 => {
                applied += 1;
                assert_eq!(body["code"], "ROW_ALREADY_APPLIED", "race {i}: {body}");
                assert_eq!(
                    (report.applied, done),
                    (1, 1),
                    "race {i}: applied exactly once"
                );
            }
            other => panic!("race {i}: delete answered {other}: {body}"),
        }
    }
    let s = assert_counts_match_rows(store, org, &id).await;
    assert_eq!(s["statuses"]["pending"], 0);
    assert_eq!(
        s["statuses"]["deleted"].as_i64().unwrap() + s["statuses"]["applied"].as_i64().unwrap(),
        RACES as i64
    );
    println!("delete/apply races: {RACES} ({deleted} deleted first, {applied} applied first)");
}

/// A sign-up applies its waiting groups: a row deleted after the groups were read is
/// not applied and counted as no longer pending, the rest of its group is applied; the
/// same completion pending in two imports is recorded once.
#[tokio::test]
async fn rows_applied_together_leave_out_a_row_deleted_meanwhile() {
    let env = test_env("apply-group").await;
    let (store, org) = (&env.store, &env.org);
    setup_org(store, org).await;
    let a_csv = "email,training,date\nlate@example.com,forklift,2024-01-01\nlate@example.com,forklift,2024-01-02\nlate@example.com,first-aid,2024-01-01\n";
    let b_csv = "email,training,date\nlate@example.com,forklift,2024-01-01\nlate@example.com,first-aid,2024-02-02\n";
    let (a, a_key) = create(store, org, a_csv).await;
    let (b, b_key) = create(store, org, b_csv).await;
    // Both validated before either is committed, so both hold forklift 2024-01-01.
    deliver(store, &a_key).await;
    deliver(store, &b_key).await;
    for id in [&a, &b] {
        call(
            store,
            org,
            "POST",
            &format!("/imports/{id}/commit"),
            Some(json!({})),
        )
        .await;
        deliver(store, &keys::s3::commit_key(org, id)).await;
    }
    let key = training_imports::domain::MatchKey::email(
        &training_imports::domain::Email::parse("late@example.com").unwrap(),
    );
    let (rows, waiting) = store.waiting_for_key(org, &key).await.unwrap();
    assert!(rows.is_empty(), "every row waits in a group");
    let count: usize = waiting.iter().map(|g| g.pending_rows().count()).sum();
    assert_eq!((waiting.len(), count), (2, 5));
    let (status, body) = call(store, org, "DELETE", &format!("/imports/{a}/rows/3"), None).await;
    assert_eq!(status, 200, "{body}");

    let person = training_imports::domain::PersonId::parse("sub-late").unwrap();
    let (applied, gone) = store
        .apply_groups(org, &person, Some("sub-zoe"), waiting.clone(), true)
        .await
        .unwrap();
    assert_eq!((applied, gone), (4, 1));
    assert_eq!(
        store.list_completions(org, &person).await.unwrap().len(),
        3,
        "forklift 01-01 once, first-aid 01-01, first-aid 02-02"
    );
    let sa = assert_counts_match_rows(store, org, &a).await;
    assert_eq!(
        (
            sa["statuses"]["applied"].as_i64(),
            sa["statuses"]["deleted"].as_i64(),
            sa["statuses"]["pending"].as_i64()
        ),
        (Some(2), Some(1), Some(0))
    );
    let sb = assert_counts_match_rows(store, org, &b).await;
    assert_eq!(
        (
            sb["statuses"]["applied"].as_i64(),
            sb["statuses"]["pending"].as_i64()
        ),
        (Some(2), Some(0))
    );
    // Run again (a retried trigger): nothing is pending any more, nothing changes.
    assert_eq!(
        store
            .apply_groups(org, &person, Some("sub-zoe"), waiting, true)
            .await
            .unwrap(),
        (0, 5)
    );
    assert_eq!(store.list_completions(org, &person).await.unwrap().len(), 3);
}

/// Deleting all pending rows goes in batched transactions: a row applied after the
/// pending rows were read fails its condition, is left out and counted as no longer
/// pending, and the rest of its transaction is deleted. A large import is deleted over
/// several requests, each answering with a cursor when its time is up.
#[tokio::test]
async fn all_pending_rows_are_deleted_in_batches_leaving_out_a_row_applied_meanwhile() {
    use training_imports::pipeline::manage::{delete_all_pending, BULK_DELETE_PAGE};
    let env = test_env("bulk-delete").await;
    let (store, org) = (&env.store, &env.org);
    setup_org(store, org).await;
    let emails: Vec<String> = (0..2 * BULK_DELETE_PAGE + 150)
        .map(|i| format!("later{i}@example.com"))
        .collect();
    let (id, key) = create(store, org, &csv_for(&emails)).await;
    deliver(store, &key).await;
    commit(store, org, &id).await;
    assert_eq!(
        summary(store, org, &id).await["statuses"]["pending"],
        emails.len()
    );

    // Read as pending, then applied by a sign-up before the delete reaches it.
    let layout =
        training_imports::store::RowLayout::of(&store.get_import(org, &id).await.unwrap().unwrap());
    let first = store
        .list_rows(org, &id, layout, None, None, 150, None)
        .await
        .unwrap()
        .rows;
    signup(store, org, "sub-7", &emails[7]).await;
    assert_eq!(
        store
            .delete_pending_rows(
                org,
                &id,
                layout,
                &first,
                &training_imports::store::Stamp::now("admin-sub", None)
            )
            .await
            .unwrap(),
        (149, 1)
    );
    assert_counts_match_rows(store, org, &id).await;

    // The rest with no time to spare: one page per request, a cursor to go on.
    let (status, body) = call(
        store,
        org,
        "DELETE",
        &format!("/imports/{id}/pending-rows?cursor=bm90LWEtY3Vyc29y"),
        None,
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("INVALID_CURSOR")),
        "{body}"
    );
    let (mut requests, mut deleted, mut cursor) = (0, 0, None::<String>);
    loop {
        let done = delete_all_pending(
            store,
            org,
            &id,
            cursor.as_deref(),
            std::time::Duration::ZERO,
            &training_imports::store::Stamp::now("admin-sub", None),
        )
        .await
        .unwrap();
        requests += 1;
        deleted += done.deleted;
        assert_eq!(done.no_longer_pending, 0);
        match done.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(deleted, emails.len() - 150);
    // 1,000 rows left pending: two pages of BULK_DELETE_PAGE, the second ending at the
    // import's last row (so no third request that finds nothing).
    assert_eq!(requests, 2, "{BULK_DELETE_PAGE} pending rows a page");
    let s = assert_counts_match_rows(store, org, &id).await;
    assert_eq!(
        (
            s["statuses"]["pending"].as_i64(),
            s["statuses"]["applied"].as_i64(),
            s["statuses"]["deleted"].as_i64()
        ),
        (Some(0), Some(1), Some(emails.len() as i64 - 1))
    );
    assert_eq!(completions(store, org, "sub-7").await, 1);
    // Again: nothing is pending, nothing changes.
    let (status, body) = call(
        store,
        org,
        "DELETE",
        &format!("/imports/{id}/pending-rows"),
        None,
    )
    .await;
    assert_eq!(
        (status, body["deleted"].as_u64(), body.get("next_cursor")),
        (200, Some(0), None),
        "{body}"
    );
}

// ---- 5. tenant isolation ----------------------------------------------------------------------

#[tokio::test]
async fn a_sign_up_in_one_organisation_never_applies_another_organisations_rows() {
    let env = test_env("tenants").await;
    let store = &env.store;
    let (a, b) = (new_org(), new_org());
    setup_org(store, &a).await;
    setup_org(store, &b).await;
    let (id_b, key) = create(
        store,
        &b,
        "email,training,date\nsame@example.com,forklift,2024-01-01\n",
    )
    .await;
    deliver(store, &key).await;
    call(
        store,
        &b,
        "POST",
        &format!("/imports/{id_b}/commit"),
        Some(json!({})),
    )
    .await;
    deliver(store, &keys::s3::commit_key(&b, &id_b)).await;

    signup(store, &a, "sub-same-a", "same@example.com").await;
    let s = summary(store, &b, &id_b).await;
    assert_eq!(
        s["statuses"]["pending"], 1,
        "organisation A's sign-up touched B: {s}"
    );

    // An object under A's prefix naming B's import creates nothing for either.
    let forged = format!("uploads/{a}/{id_b}/source.csv");
    let report = put_and_deliver(
        store,
        &forged,
        b"email,training,date\nx@example.com,forklift,2024-01-01\n",
    )
    .await;
    assert_eq!(report.ignored, 1);
    let (status, _) = call(store, &a, "GET", &format!("/imports/{id_b}"), None).await;
    assert_eq!(status, 404);
    assert_eq!(summary(store, &b, &id_b).await["rows_total"], 1);

    // Every route of the API answers 404 to the other organisation.
    for (method, path) in [
        ("GET", format!("/imports/{id_b}")),
        ("GET", format!("/imports/{id_b}/rows")),
        ("GET", format!("/imports/{id_b}/error-report")),
        ("PATCH", format!("/imports/{id_b}/rows/2")),
        ("POST", format!("/imports/{id_b}/commit")),
        ("DELETE", format!("/imports/{id_b}/rows/2")),
        ("DELETE", format!("/imports/{id_b}/pending-rows")),
        ("POST", "/trainings/forklift/publish".to_string()),
    ] {
        let body = if method == "PATCH" {
            Some(json!({"cells": {"email": "y@example.com"}}))
        } else {
            None
        };
        let other = new_org();
        let (status, answer) = call(store, &other, method, &path, body).await;
        assert_eq!(status, 404, "{method} {path}: {answer}");
    }
    assert_eq!(summary(store, &b, &id_b).await["statuses"]["pending"], 1);
}

// ---- crash recovery of imports left behind ---------------------------------------------------

#[tokio::test]
async fn an_import_left_validating_fails_with_a_reason_and_a_stopped_commit_resumes() {
    let env = test_env("stale").await;
    let (store, org) = (&env.store, &env.org);
    setup_org(store, org).await;
    let (stuck, _) = create(
        store,
        org,
        "email,training,date\na@example.com,forklift,2024-01-01\n",
    )
    .await;
    // The worker started and died for good: validating, last touched 20 minutes ago.
    store
        .transition_import(
            org,
            &stuck,
            &[training_imports::domain::ImportStatus::Uploaded],
            training_imports::domain::ImportStatus::Validating,
            vec![],
            None,
        )
        .await
        .unwrap();
    age(store, org, &stuck).await;
    let s = summary(store, org, &stuck).await;
    assert_eq!(s["status"], "failed");
    assert_eq!(s["failure"]["code"], "PROCESSING_STOPPED");

    let (id, key) = create(
        store,
        org,
        "email,training,date\nb@example.com,forklift,2024-01-01\n",
    )
    .await;
    deliver(store, &key).await;
    call(
        store,
        org,
        "POST",
        &format!("/imports/{id}/commit"),
        Some(json!({})),
    )
    .await;
    let first = commit_etag(store, org, &id).await;
    // The commit's event was lost: importing, untouched for 20 minutes.
    age(store, org, &id).await;
    let s = summary(store, org, &id).await;
    assert_eq!(
        (s["status"].as_str(), s["commit_resumes"].as_u64()),
        (Some("importing"), Some(1)),
        "{s}"
    );
    // Written again as new content, so that even a relay that watches ETags sends it.
    assert_ne!(commit_etag(store, org, &id).await, first);
    deliver(store, &keys::s3::commit_key(org, &id)).await; // the new commit request's event
    let s = assert_counts_match_rows(store, org, &id).await;
    assert_eq!(s["status"], "imported");
}

async fn commit_etag(store: &Store, org: &OrgId, id: &ImportId) -> Option<String> {
    store
        .s3()
        .head_object()
        .bucket(store.bucket())
        .key(keys::s3::commit_key(org, id))
        .send()
        .await
        .unwrap()
        .e_tag
}

async fn age(store: &Store, org: &OrgId, id: &ImportId) {
    let old = (chrono::Utc::now() - chrono::Duration::minutes(20)).to_rfc3339();
    store
        .dynamodb()
        .update_item()
        .table_name(store.table())
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(keys::import_pk(org, id)),
        )
        .key(
            "sk",
            aws_sdk_dynamodb::types::AttributeValue::S(keys::SUMMARY_SK.into()),
        )
        .update_expression("SET updated_at = :old")
        .expression_attribute_values(":old", aws_sdk_dynamodb::types::AttributeValue::S(old))
        .send()
        .await
        .unwrap();
}

/// Cognito fails a sign-in whose trigger takes 5 s. Against a table that accepts the
/// connection and never answers (no SDK timeout fires), the sign-in trigger still hands
/// the event back by its deadline; the rows wait for the next sign-in.
#[tokio::test(start_paused = true)]
async fn a_sign_in_returns_by_its_deadline_whatever_dynamodb_does() {
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = silent.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((conn, _)) = silent.accept().await {
            held.push(conn); // read nothing, answer nothing
        }
    });
    let ddb = aws_sdk_dynamodb::Client::new(&sdk_config(&format!("http://{address}")).await);
    let s3 = aws_sdk_s3::Client::new(&sdk_config(&s3_endpoint()).await);
    let store = Store::new(ddb, s3, "never-answers", TEST_BUCKET);
    let org = new_org();
    let sign_in = post_authentication_event(
        "sub-zoe",
        &[
            ("custom:org_id", org.as_str()),
            ("email", "zoe@example.com"),
        ],
    );

    let started = tokio::time::Instant::now();
    let handled = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        on_signup::process(&suite::cognito::offline_triggers(&store), &sign_in),
    )
    .await
    .expect("the sign-in trigger returned")
    .unwrap();
    assert!(
        matches!(handled, on_signup::Handled::NotApplied(ref why) if why.contains("not finished")),
        "{handled:?}"
    );
    assert!(
        started.elapsed() <= on_signup::SIGN_IN_DEADLINE + std::time::Duration::from_millis(50),
        "{:?}",
        started.elapsed()
    );
    assert!(on_signup::SIGN_IN_DEADLINE < std::time::Duration::from_secs(5));
}

// ---- imports stored before rows were spread over partitions ----------------------------

/// Makes a new import look like one created before pages: its summary had no
/// `row_pages`, so its rows are written as an item each under the import's own
/// partition.
async fn as_stored_before_rows_were_spread(store: &Store, org: &OrgId, id: &ImportId) {
    use aws_sdk_dynamodb::types::AttributeValue::S;
    store
        .dynamodb()
        .update_item()
        .table_name(store.table())
        .key("pk", S(keys::import_pk(org, id)))
        .key("sk", S(keys::SUMMARY_SK.into()))
        .update_expression("REMOVE row_pages")
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn imports_stored_before_pages_are_still_listed_committed_applied_and_deleted() {
    use aws_sdk_dynamodb::types::AttributeValue::S;
    use training_imports::store::schema::PENDING_INDEX_PK;
    let env = test_env("legacy-layout").await;
    let (store, org) = (&env.store, &env.org);
    setup_org(store, org).await;
    let emails: Vec<String> = (0..3).map(|i| format!("old{i}@example.com")).collect();
    let (id, key) = create(store, org, &csv_for(&emails)).await;
    as_stored_before_rows_were_spread(store, org, &id).await;
    deliver(store, &key).await;
    let row_item = |line: u64| {
        store
            .dynamodb()
            .get_item()
            .table_name(store.table())
            .key("pk", S(keys::import_pk(org, &id)))
            .key("sk", S(keys::row_sk(line)))
            .send()
    };
    assert!(
        row_item(2).await.unwrap().item.is_some(),
        "the rows are under the import's own partition"
    );
    commit(store, org, &id).await;
    // The commit of that release put every pending row in the organisation's one
    // partition of the pending index.
    for line in 2..5 {
        store
            .dynamodb()
            .update_item()
            .table_name(store.table())
            .key("pk", S(keys::import_pk(org, &id)))
            .key("sk", S(keys::row_sk(line)))
            .update_expression("SET #o = :org")
            .condition_expression("attribute_exists(#o)")
            .expression_attribute_names("#o", PENDING_INDEX_PK)
            .expression_attribute_values(":org", S(keys::org_pk(org)))
            .send()
            .await
            .unwrap();
    }
    let s = assert_counts_match_rows(store, org, &id).await;
    assert_eq!(s["statuses"]["pending"], 3, "{s}");

    a_later_file_a_delete_and_a_sign_up_reach_them(store, org, &id, &emails[0], "sub-old0").await;
    let s = assert_counts_match_rows(store, org, &id).await;
    assert_eq!(ended(&s), (&json!(1), &json!(1), &json!(1)), "{s}");
}

/// Of an import whose rows 2 to 4 wait for three people (the first `email`), stored the
/// way an older release left them: a later file with the first row finds it pending
/// already, a delete of row 3 deletes it, and the first person's sign-up (`sub`)
/// applies their row.
async fn a_later_file_a_delete_and_a_sign_up_reach_them(
    store: &Store,
    org: &OrgId,
    id: &ImportId,
    email: &str,
    sub: &str,
) {
    let (again, again_key) = create(store, org, &csv_for(&[email.to_string()])).await;
    deliver(store, &again_key).await;
    let s = summary(store, org, &again).await;
    assert_eq!(s["issues"]["ALREADY_PENDING"], 1, "{s}");

    let (status, body) = call(store, org, "DELETE", &format!("/imports/{id}/rows/3"), None).await;
    assert_eq!(
        (status, &body["row"]["status"]),
        (200, &json!("deleted")),
        "{body}"
    );
    match signup(store, org, sub, email).await {
        on_signup::Handled::Applied(report) => assert_eq!(report.applied, 1, "{report:?}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(completions(store, org, sub).await, 1);
}

/// A commit requested before waiting groups (its request does not say
/// `waiting_groups`) put an item per waiting row beside its page; those rows are still
/// listed, found pending by a later file, deleted and applied, whatever groups exist.
#[tokio::test]
async fn rows_committed_before_groups_are_still_listed_applied_and_deleted() {
    use aws_sdk_dynamodb::types::AttributeValue::{Bool, S};
    let env = test_env("per-row-waiting").await;
    let (store, org) = (&env.store, &env.org);
    setup_org(store, org).await;
    let emails: Vec<String> = (0..3).map(|i| format!("row{i}@example.com")).collect();
    let (id, key) = create(store, org, &csv_for(&emails)).await;
    deliver(store, &key).await;
    call(
        store,
        org,
        "POST",
        &format!("/imports/{id}/commit"),
        Some(json!({})),
    )
    .await;
    store
        .dynamodb()
        .update_item()
        .table_name(store.table())
        .key("pk", S(keys::import_pk(org, &id)))
        .key("sk", S(keys::SUMMARY_SK.into()))
        .update_expression("SET #c.waiting_groups = :no")
        .expression_attribute_names("#c", "commit")
        .expression_attribute_values(":no", Bool(false))
        .send()
        .await
        .unwrap();
    deliver(store, &keys::s3::commit_key(org, &id)).await;
    let own_item = |line: u64| {
        store
            .dynamodb()
            .get_item()
            .table_name(store.table())
            .key("pk", S(keys::row_block_pk(org, &id, keys::row_block(line))))
            .key("sk", S(keys::pending_row_sk(line)))
            .send()
    };
    for line in 2..5 {
        assert!(own_item(line).await.unwrap().item.is_some(), "row {line}");
    }
    let waiting_key = training_imports::domain::MatchKey::email(
        &training_imports::domain::Email::parse(&emails[0]).unwrap(),
    );
    let (rows, groups) = store.waiting_for_key(org, &waiting_key).await.unwrap();
    assert_eq!((rows.len(), groups.len()), (1, 0));

    a_later_file_a_delete_and_a_sign_up_reach_them(store, org, &id, &emails[0], "sub-row0").await;
    let layout =
        training_imports::store::RowLayout::of(&store.get_import(org, &id).await.unwrap().unwrap());
    let row = store.get_row(org, &id, layout, 2).await.unwrap().unwrap();
    assert_eq!(row.status, RowStatus::Applied);
    let s = assert_counts_match_rows(store, org, &id).await;
    assert_eq!(ended(&s), (&json!(1), &json!(1), &json!(1)), "{s}");
}

/// A sign-up that stops right after it claimed a person's waiting group leaves the group
/// `applying`: a delete of its row waits a moment, then answers ROW_BUSY and deletes
/// nothing; the person's next sign-in finishes the apply, after which the delete answers
/// ROW_ALREADY_APPLIED. Each row ends applied once, the counts equal the rows.
#[tokio::test]
async fn a_row_whose_group_a_stopped_sign_up_claimed_is_busy_until_the_next_sign_in() {
    use training_imports::pipeline::signup::{apply_sign_up, catch_up_on_sign_in, SignUp};
    use training_imports::store::GroupStatus;
    let env = test_env("busy-row").await;
    let (store, org) = (&env.store, &env.org);
    setup_org(store, org).await;
    let email = "busy@example.com";
    let (id, key) = create(store, org, &csv_for(&[email.to_string()])).await;
    deliver(store, &key).await;
    commit(store, org, &id).await;
    let match_key = training_imports::domain::MatchKey::email(
        &training_imports::domain::Email::parse(email).unwrap(),
    );
    let signup = SignUp {
        user_sub: "sub-busy".into(),
        user_name: "busy".into(),
        email: Some(email.into()),
        ..Default::default()
    };
    // Stopped after 1, 2, ... writes until a run stops with the group claimed.
    let mut after = 0;
    loop {
        let (crashing, _) = store.with_crash_plan(Some(after));
        assert!(apply_sign_up(&crashing, org, &signup).await.is_err());
        let (_, groups) = store.waiting_for_key(org, &match_key).await.unwrap();
        assert_eq!(groups.len(), 1);
        match groups[0].status {
            GroupStatus::Pending => after += 1,
            GroupStatus::Applying => break,
            GroupStatus::Applied => panic!("applied before any write failed ({after})"),
        }
        assert!(after < 20, "the sign-up never claimed its group");
    }
    let started = std::time::Instant::now();
    let (status, body) = call(store, org, "DELETE", &format!("/imports/{id}/rows/2"), None).await;
    assert_eq!((status, &body["code"]), (409, &json!("ROW_BUSY")), "{body}");
    assert!(started.elapsed() >= std::time::Duration::from_secs(2));
    assert_eq!(completions(store, org, "sub-busy").await, 0);
    let s = assert_counts_match_rows(store, org, &id).await;
    assert_eq!(s["statuses"]["pending"], 1, "{s}");

    let budget = std::time::Duration::from_secs(3);
    let done = catch_up_on_sign_in(store, org, &signup, budget)
        .await
        .unwrap();
    assert!(done.is_some(), "the sign-in finds the claimed group");
    assert_eq!(completions(store, org, "sub-busy").await, 1);
    let (status, body) = call(store, org, "DELETE", &format!("/imports/{id}/rows/2"), None).await;
    assert_eq!(
        (status, &body["code"]),
        (409, &json!("ROW_ALREADY_APPLIED")),
        "{body}"
    );
    let s = assert_counts_match_rows(store, org, &id).await;
    assert_eq!(
        (&s["statuses"]["applied"], &s["statuses"]["pending"]),
        (&json!(1), &json!(0)),
        "{s}"
    );
}
