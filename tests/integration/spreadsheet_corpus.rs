//! The spreadsheet corpus (tests/corpus): files as Excel, Sheets, Numbers, old LMSs and
//! HR systems write them, each with the outcome expected for every row. Every file goes
//! through the validation core (CSV reader, date order detection, row rules) against the
//! directory below; the expectations are in the .expect files beside them
//! (tests/corpus/make_corpus.py writes both).

use chrono::NaiveDate;
use std::collections::{BTreeMap, HashSet};
use training_imports::csv_input::{date_cells, CsvRows};
use training_imports::domain::*;

fn directory() -> DirectorySnapshot {
    let mut d = DirectorySnapshot::default();
    for (id, title, published) in [
        ("forklift", "Forklift Safety", true),
        ("first-aid", "First Aid", true),
        ("fire-drill", "Fire Drill", false),
        ("cpr-1", "CPR Level 1", true),
    ] {
        d.add_training(Training {
            id: TrainingId::parse(id).unwrap(),
            title: title.into(),
            published,
        });
    }
    let person = |id: &str, signed_up| PersonRef {
        person_id: PersonId::parse(id).unwrap(),
        signed_up,
    };
    let email = |e: &str| MatchKey::email(&Email::parse(e).unwrap());
    let phone = |p: &str| MatchKey::phone(&PhoneNumber::parse(p, None).unwrap());
    let name = |n: &str| MatchKey::name(&PersonName::parse(n).unwrap());
    d.people
        .insert(email("ana@example.com"), vec![person("p-ana", true)]);
    d.people
        .insert(email("bo@example.com"), vec![person("p-bo", false)]);
    d.people
        .insert(phone("+14155552671"), vec![person("p-kim", true)]);
    d.people
        .insert(phone("+447911123456"), vec![person("p-uk", false)]);
    d.people
        .insert(name("Ana Lopez"), vec![person("p-ana", true)]);
    d.people
        .insert(name("José Muñoz"), vec![person("p-jose", false)]);
    // Signed up, so that a name read in the wrong encoding (pending) differs from the
    // right one (ready).
    for (n, id) in [
        ("François Dupré", "p-francois"),
        ("Paweł Żółkiewski", "p-pawel"),
        ("Agnieszka Wójcik-Śliwa", "p-agnieszka"),
        ("Дмитрий Иванов", "p-dmitry"),
        ("Ольга Сергеевна Кузнецова", "p-olga"),
        ("Zoë Ångström", "p-zoe"),
        ("Renée Müller", "p-renee"),
    ] {
        d.people.insert(name(n), vec![person(id, true)]);
    }
    d.people.insert(
        name("Sam Lee"),
        vec![person("p-sam1", false), person("p-sam2", true)],
    );
    d.people.insert(
        MatchKey::employee_id("E100").unwrap(),
        vec![person("p-e100", false)],
    );
    d.people.insert(
        MatchKey::employee_id("E200").unwrap(),
        vec![person("p-e200", true)],
    );
    d.pending.insert((
        email("bo@example.com"),
        TrainingId::parse("first-aid").unwrap(),
        CompletionDate::from_iso("2023-06-01").unwrap(),
    ));
    d.completions.insert((
        PersonId::parse("p-ana").unwrap(),
        TrainingId::parse("forklift").unwrap(),
        CompletionDate::from_iso("2024-01-15").unwrap(),
    ));
    d
}

struct Expected {
    options: BTreeMap<String, String>,
    rows: Vec<String>,
    dates: Vec<(u64, String)>,
}

fn expected(text: &str) -> Expected {
    let mut lines = text.lines();
    let head = lines.next().unwrap().trim_start_matches('#').trim();
    let options = head
        .split_whitespace()
        .map(|kv| {
            kv.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .unwrap()
        })
        .collect();
    let (mut rows, mut dates) = (vec![], vec![]);
    for line in lines.filter(|l| !l.trim().is_empty()) {
        match line.strip_prefix("date ") {
            Some(d) => {
                let (l, iso) = d.split_once(' ').unwrap();
                dates.push((l.parse().unwrap(), iso.to_string()));
            }
            None => rows.push(normalise(line)),
        }
    }
    Expected {
        options,
        rows,
        dates,
    }
}

/// "<line> <outcome> <codes sorted>" so that the order of codes does not matter.
fn normalise(line: &str) -> String {
    let mut parts: Vec<&str> = line.split_whitespace().collect();
    if parts.len() > 2 {
        parts[2..].sort();
    }
    parts.join(" ")
}

/// What the validator says of one file: one line per row, or the file problem.
fn validate(bytes: &[u8], options: &BTreeMap<String, String>) -> (Vec<String>, Vec<(u64, String)>) {
    let method: MatchMethod = options["method"].parse().unwrap();
    let country = options.get("default_country").map(String::as_str);
    let today = NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
    let order = match options
        .get("date_format")
        .map(|f| DateOrder::from_option(f).unwrap())
    {
        Some(Some(order)) => order,
        _ => {
            let mut cells = vec![];
            if let Err(p) = date_cells(bytes, method, &Default::default(), |d| {
                cells.push(d.to_string())
            }) {
                return (vec![format!("file {}", p.code)], vec![]);
            }
            DateOrder::detect(cells.iter().map(String::as_str))
        }
    };
    let mut rows = match CsvRows::open(bytes, method) {
        Ok(r) => r,
        Err(p) => return (vec![format!("file {}", p.code)], vec![]),
    };
    let dir = directory();
    let mut seen = HashSet::new();
    let (mut out, mut dates) = (vec![], vec![]);
    loop {
        let raw = match rows.next_row() {
            Ok(Some(r)) => r,
            Ok(None) => break,
            Err(p) => return (vec![format!("file {}", p.code)], vec![]),
        };
        let (outcome, codes, date) = match &raw.problem {
            Some(issue) => (Outcome::Error, vec![issue.code], None),
            None => {
                let v = raw
                    .input
                    .parse(method, country, order, today)
                    .decide(method, &dir, &mut seen);
                (
                    v.outcome,
                    v.issues.iter().chain(&v.warnings).map(|i| i.code).collect(),
                    v.date,
                )
            }
        };
        let codes: Vec<&str> = codes.iter().map(|c| c.as_str()).collect();
        out.push(normalise(&format!(
            "{} {} {}",
            raw.line,
            outcome,
            codes.join(" ")
        )));
        if let Some(d) = date {
            dates.push((raw.line, d.iso()));
        }
    }
    if out.is_empty() {
        out.push("file NO_DATA_ROWS".into());
    }
    assert_eq!(
        fast_path(bytes, method, country, order, today),
        reference_path(bytes, method, country, order, today),
        "the fast path and the reference differ"
    );
    (out, dates)
}

/// Every row's full verdict (issues, messages, person, training, date) by the reference
/// rules, one row at a time.
fn reference_path(
    bytes: &[u8],
    method: MatchMethod,
    country: Option<&str>,
    order: DateOrder,
    today: NaiveDate,
) -> Vec<String> {
    let (dir, mut seen, mut out) = (directory(), HashSet::new(), vec![]);
    let mut rows = CsvRows::open(bytes, method).unwrap();
    while let Some(raw) = rows.next_row().unwrap() {
        let v = match raw.problem {
            Some(p) => RowVerdict::unreadable(p),
            None => raw
                .input
                .parse(method, country, order, today)
                .decide(method, &dir, &mut seen),
        };
        out.push(format!("{} {v:?}", raw.line));
    }
    out
}

/// The same by the file checker the worker uses, in chunks of 3 rows with its caches
/// emptied after every chunk.
fn fast_path(
    bytes: &[u8],
    method: MatchMethod,
    country: Option<&str>,
    order: DateOrder,
    today: NaiveDate,
) -> Vec<String> {
    let (dir, mut out) = (directory(), vec![]);
    let mut rows = CsvRows::open(bytes, method).unwrap();
    let mut checker = FileChecker::new(method, country, order, today, rows.layout.role_columns())
        .with_cache_limit(0);
    let mut chunk = vec![];
    let flush = |checker: &mut FileChecker,
                 chunk: &mut Vec<(u64, Result<CheckedRow, Issue>)>,
                 out: &mut Vec<String>| {
        for (line, row) in chunk.drain(..) {
            let v = match row {
                Ok(row) => {
                    let decision = checker.decide(&row, &dir);
                    checker.verdict(&row, decision)
                }
                Err(p) => RowVerdict::unreadable(p),
            };
            out.push(format!("{line} {v:?}"));
        }
        checker.end_chunk();
    };
    while let Some(record) = rows.next_record().unwrap() {
        let row = match record.roles() {
            Some(cells) => Ok(checker.parse(&cells, &dir)),
            None => Err(record.problem.clone().unwrap()),
        };
        chunk.push((record.line, row));
        if chunk.len() == 3 {
            flush(&mut checker, &mut chunk, &mut out);
        }
    }
    flush(&mut checker, &mut chunk, &mut out);
    out
}

#[test]
fn every_file_of_the_corpus_gets_the_expected_outcome_on_every_row() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "csv"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 40,
        "the corpus has only {} files",
        files.len()
    );
    let mut failures = vec![];
    for file in &files {
        let expect = expected(&std::fs::read_to_string(file.with_extension("expect")).unwrap());
        let (got, dates) = validate(&std::fs::read(file).unwrap(), &expect.options);
        let name = file.file_name().unwrap().to_string_lossy();
        if got != expect.rows {
            failures.push(format!(
                "{name}:\n  expected {:?}\n  got      {:?}",
                expect.rows, got
            ));
        }
        if let Some(wanted) = expect.options.get("encoding") {
            let bytes = std::fs::read(file).unwrap();
            let method: MatchMethod = expect.options["method"].parse().unwrap();
            let read_as = CsvRows::open(&bytes[..], method)
                .map(|r| r.encoding)
                .unwrap_or("(not opened)");
            if read_as != wanted {
                failures.push(format!("{name}: read as {read_as}, not {wanted}"));
            }
        }
        for (line, iso) in &expect.dates {
            if !dates.contains(&(*line, iso.clone())) {
                failures.push(format!(
                    "{name}: line {line} should read as {iso}; read {dates:?}"
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} files differ:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}
