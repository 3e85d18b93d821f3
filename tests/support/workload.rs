//! The workload the benchmarks and the data-model tests share: a file where each of
//! `rows / 5` people appears about five times over 500 trainings, an organisation where
//! half of those people have signed up, and the writes that validating and committing
//! such a file makes, counted by [`crate::writes`].

use crate::writes::Writes;
use training_imports::domain::*;
use training_imports::pipeline::{commit, manage, validate};
use training_imports::store::{ImportSummary, PersonProfile, Store, TrainingRecord};

pub const TRAININGS: usize = 500;

pub fn person_cell(method: MatchMethod, i: usize) -> String {
    match method {
        MatchMethod::Email => format!("person{i}@example.com"),
        MatchMethod::Hris => format!("E{i:06}"),
        MatchMethod::Name => format!("First{i} Last{i}"),
        MatchMethod::Phone => format!("+44 7911 {:06}", 100_000 + i),
    }
}

pub fn header(method: MatchMethod) -> &'static str {
    match method {
        MatchMethod::Email => "email,training,completion_date\n",
        MatchMethod::Hris => "employee_id,training,completion_date\n",
        MatchMethod::Name => "full_name,training,completion_date\n",
        MatchMethod::Phone => "phone,training,completion_date\n",
    }
}

/// A file of `rows` rows where each of `rows / 5` people appears about five times.
pub fn make_csv(method: MatchMethod, rows: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(rows * 48);
    write_csv(method, rows, &mut out).expect("writing to memory");
    out
}

/// Writes such a file row by row (never held whole).
pub fn write_csv(
    method: MatchMethod,
    rows: usize,
    out: &mut impl std::io::Write,
) -> std::io::Result<()> {
    let people = (rows / 5).max(1);
    out.write_all(header(method).as_bytes())?;
    for r in 0..rows {
        let p = (r * 7919) % people;
        let t = (r * 31) % TRAININGS;
        writeln!(
            out,
            "{},Training {t},2024-{:02}-{:02}",
            person_cell(method, p),
            1 + r % 12,
            1 + r % 28
        )?;
    }
    Ok(())
}

pub fn key_of(method: MatchMethod, cell: &str) -> MatchKey {
    match method {
        MatchMethod::Email => MatchKey::email(&Email::parse(cell).unwrap()),
        MatchMethod::Hris => MatchKey::employee_id(cell).unwrap(),
        MatchMethod::Name => MatchKey::name(&PersonName::parse(cell).unwrap()),
        MatchMethod::Phone => MatchKey::phone(&PhoneNumber::parse(cell, None).unwrap()),
    }
}

pub async fn seed_trainings(store: &Store, org: &OrgId) {
    for t in 0..TRAININGS {
        let rec = TrainingRecord {
            training_id: format!("t{t}"),
            title: format!("Training {t}"),
            published: true,
            created_at: "2026-01-01T00:00:00Z".into(),
            changed_by: None,
        };
        store.put_training(org, &rec).await.unwrap();
    }
}

pub async fn seed(store: &Store, org: &OrgId, people: usize) {
    seed_trainings(store, org).await;
    use futures::stream::{self, StreamExt};
    stream::iter(0..people)
        .for_each_concurrent(8, |i| async move {
            let email = person_cell(MatchMethod::Email, i);
            let signed_up = i % 2 == 0;
            let profile = PersonProfile {
                person_id: format!("p{i}"),
                email: Some(email.clone()),
                signed_up,
                created_at: "2026-01-01T00:00:00Z".into(),
                ..Default::default()
            };
            store
                .put_person(org, &profile, &[key_of(MatchMethod::Email, &email)])
                .await
                .unwrap();
        })
        .await;
}

/// An email import of pasted CSV text.
pub async fn paste_import(store: &Store, org: &OrgId, csv: &str) -> ImportId {
    let new = manage::NewImport {
        method: MatchMethod::Email,
        file_name: "bench.csv".into(),
        options: Default::default(),
        csv_text: Some(csv.to_string()),
        size: None,
        by: None,
        from_import: None,
    };
    ImportId::parse(
        &manage::create_import(store, org, new)
            .await
            .unwrap()
            .summary
            .import_id,
    )
    .unwrap()
}

/// The admin a benchmark or a workload acts as.
pub fn admin() -> training_imports::store::Stamp {
    training_imports::store::Stamp::now("bench-admin", Some("bench@example.com"))
}

/// What validating and committing one import wrote, phase by phase.
pub struct ImportWrites {
    pub import: ImportId,
    pub validation: Writes,
    pub commit: Writes,
    pub summary: ImportSummary,
    /// Data rows in the file (the valid ones and the errors).
    pub data_rows: u64,
}

/// Seeds `rows / 5` people (half signed up) and 500 trainings, then validates and
/// commits a file of `rows` rows plus 1 % rows with an invalid email (errors), through
/// a client that counts every item written.
pub async fn import_and_commit(store: &Store, org: &OrgId, rows: usize) -> ImportWrites {
    seed(store, org, rows / 5).await;
    let mut csv = String::from_utf8(make_csv(MatchMethod::Email, rows)).unwrap();
    let errors = rows / 100;
    for i in 0..errors {
        csv.push_str(&format!(
            "not-an-email-{i},Training {},2024-01-01\n",
            i % TRAININGS
        ));
    }
    let id = paste_import(store, org, &csv).await;
    let (counting, counter) = crate::writes::counting(store).await;
    let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
    counter.take();
    validate::validate_import(&counting, org, &id, today)
        .await
        .unwrap();
    let validation = counter.take();
    manage::request_commit(&counting, org, &id, true, &admin())
        .await
        .unwrap();
    commit::run_commit(&counting, org, &id).await.unwrap();
    let commit = counter.take();
    let summary = store.get_import(org, &id).await.unwrap().unwrap();
    ImportWrites {
        import: id,
        validation,
        commit,
        summary,
        data_rows: (rows + errors) as u64,
    }
}
