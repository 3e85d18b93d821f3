//! Property tests of the CSV reader and the row rules: whatever the bytes, no panic,
//! every row accounted for, and no row bigger than the cap (bounded memory).

use chrono::NaiveDate;
use proptest::prelude::*;
use std::collections::HashSet;
use training_imports::csv_input::{date_cells, CsvRows, MAX_RECORD_BYTES};
use training_imports::domain::*;

fn directory() -> DirectorySnapshot {
    let mut d = DirectorySnapshot::default();
    d.add_training(Training {
        id: TrainingId::parse("t1").unwrap(),
        title: "Forklift".into(),
        published: true,
    });
    d.people.insert(
        MatchKey::email(&Email::parse("a@example.com").unwrap()),
        vec![PersonRef {
            person_id: PersonId::parse("p1").unwrap(),
            signed_up: true,
        }],
    );
    d
}

/// Runs the whole validation core over some bytes, as the worker would.
fn validate(bytes: &[u8], method: MatchMethod) -> Result<usize, FileProblem> {
    let mut dates = vec![];
    let counted = date_cells(bytes, method, &Default::default(), |d| {
        dates.push(d.to_string())
    })?;
    let order = DateOrder::detect(dates.iter().map(String::as_str));
    let mut rows = CsvRows::open(bytes, method)?;
    let dir = directory();
    let mut seen = HashSet::new();
    let today = NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
    let mut n = 0;
    while let Some(raw) = rows.next_row()? {
        let size: usize = raw.cells.iter().map(String::len).sum();
        assert!(
            size as u64 <= MAX_RECORD_BYTES * 4,
            "a row of {size} bytes got through"
        );
        let verdict = raw
            .input
            .parse(method, Some("US"), order, today)
            .decide(method, &dir, &mut seen);
        if verdict.outcome == Outcome::Error {
            assert!(
                !verdict.issues.is_empty() || raw.problem.is_some(),
                "an error row without a reason"
            );
        }
        for i in &verdict.issues {
            assert!(!i.message.is_empty() && i.message.chars().count() < 400);
        }
        n += 1;
    }
    assert_eq!(
        n as u64, counted,
        "the scan and the read disagree on the number of rows"
    );
    // The fast path gives the very same verdicts, with its caches kept and with them
    // emptied often (then the rows seen are all kept in one set, not by person).
    for limit in [None, Some(2)] {
        same_verdicts_as_the_reference(bytes, method, order, limit, &dir)?;
    }
    Ok(n)
}

/// Checks [`FileChecker`] row by row against the reference rules.
fn same_verdicts_as_the_reference(
    bytes: &[u8],
    method: MatchMethod,
    order: DateOrder,
    cache_limit: Option<usize>,
    dir: &DirectorySnapshot,
) -> Result<(), FileProblem> {
    let today = NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
    let mut reference = CsvRows::open(bytes, method)?;
    let mut fast = CsvRows::open(bytes, method)?;
    let mut checker =
        FileChecker::new(method, Some("US"), order, today, fast.layout.role_columns());
    if let Some(limit) = cache_limit {
        checker = checker.with_cache_limit(limit);
    }
    let mut seen = HashSet::new();
    while let Some(record) = fast.next_record()? {
        let got = match record.roles() {
            Some(cells) => {
                let row = checker.parse(&cells, dir);
                let decision = checker.decide(&row, dir);
                checker.verdict(&row, decision)
            }
            None => RowVerdict::unreadable(
                record
                    .problem
                    .clone()
                    .expect("a row without cells has a problem"),
            ),
        };
        let line = record.line;
        checker.end_chunk();
        let raw = reference
            .next_row()?
            .expect("both readers see the same rows");
        let want = match raw.problem {
            Some(p) => RowVerdict::unreadable(p),
            None => raw
                .input
                .parse(method, Some("US"), order, today)
                .decide(method, dir, &mut seen),
        };
        assert_eq!(
            (line, format!("{got:?}")),
            (raw.line, format!("{want:?}")),
            "cache limit {cache_limit:?}"
        );
    }
    Ok(())
}

fn method() -> impl Strategy<Value = MatchMethod> {
    prop_oneof![
        Just(MatchMethod::Email),
        Just(MatchMethod::Phone),
        Just(MatchMethod::Name),
        Just(MatchMethod::Hris)
    ]
}

/// Cells built from the characters that make CSV and our rules hard.
fn cell() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            Just(",".to_string()),
            Just(";".to_string()),
            Just("\t".to_string()),
            Just("\"".to_string()),
            Just("\n".to_string()),
            Just("\r".to_string()),
            Just("@".to_string()),
            Just("/".to_string()),
            Just("=".to_string()),
            Just("+".to_string()),
            Just("'".to_string()),
            Just("\u{feff}".to_string()),
            "[a-zA-Z0-9 .-]{0,6}",
            "\\PC{0,3}",
        ],
        0..8,
    )
    .prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048), m in method()) {
        let _ = validate(&bytes, m);
    }

    #[test]
    fn arbitrary_bytes_after_a_valid_header_never_panic(tail in prop::collection::vec(any::<u8>(), 0..4096), m in method()) {
        let mut bytes = b"email,phone,employee id,name,training,date\n".to_vec();
        bytes.extend(tail);
        let _ = validate(&bytes, m);
    }

    #[test]
    fn hostile_cells_are_read_and_judged_without_panic(rows in prop::collection::vec(prop::collection::vec(cell(), 0..8), 1..30), m in method()) {
        let mut text = String::from("email,phone,employee id,name,training,date\n");
        for row in rows {
            text.push_str(&row.join(","));
            text.push('\n');
        }
        let _ = validate(text.as_bytes(), m);
    }

    /// Few people, written several ways each (case, spaces), many rows each: repeats of
    /// one person under different texts, and people with more distinct rows (up to 9) than
    /// a slot keeps (6).
    #[test]
    fn repeats_are_found_however_a_person_is_written_and_however_often(rows in prop::collection::vec((0..3usize, 0..4usize, 0..2usize, 0..9usize), 1..80)) {
        let texts = ["a@example.com", "A@Example.com", " a@example.com ", "b@example.com"];
        let mut text = String::from("email,training,date\n");
        for (person, variant, training, date) in rows {
            let email = if person == 2 { texts[3] } else { texts[variant % 3] };
            let email = if person == 1 { email.replace('a', "c") } else { email.to_string() };
            text.push_str(&format!("{email},{},2024-01-0{}\n", ["Forklift", "t1"][training], date + 1));
        }
        let dir = directory();
        for limit in [None, Some(2), Some(0)] {
            same_verdicts_as_the_reference(text.as_bytes(), MatchMethod::Email, DateOrder::Undecided, limit, &dir).unwrap();
        }
    }

    #[test]
    fn well_formed_rows_are_all_accounted_for(rows in prop::collection::vec(("[a-z]{1,8}@[a-z]{1,8}\\.com", "(Forklift|t1|Other)", "20(1[0-9]|2[0-4])-0[1-9]-1[0-9]"), 1..50)) {
        let mut text = String::from("email,training,date\n");
        for (e, t, d) in &rows {
            text.push_str(&format!("{e},{t},{d}\n"));
        }
        prop_assert_eq!(validate(text.as_bytes(), MatchMethod::Email).unwrap(), rows.len());
    }
}
