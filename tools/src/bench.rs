//! Benchmarks: `cargo run --release --bin bench -- [core|store|all]`. Prints tables.
//!
//! - core: the validation core (decode, parse, normalise, validate, lookups already in
//!   memory) against a bare `csv::ByteRecord` read of the same bytes, in the same run,
//!   per matching method, on files where each person appears about five times.
//! - store: against DynamoDB Local and the local S3 server (scripts/services start):
//!   the BatchWriteItem floor, validating and committing N rows through the pipeline,
//!   and the per-row baseline (one GetItem per lookup, one PutItem per row).

use std::collections::HashSet;
use std::time::Instant;
use training_imports::csv_input::CsvRows;
use training_imports::domain::*;

const TRAININGS: usize = 500;

fn person_cell(method: MatchMethod, i: usize) -> String {
    match method {
        MatchMethod::Email => format!("person{i}@example.com"),
        MatchMethod::Hris => format!("E{i:06}"),
        MatchMethod::Name => format!("First{i} Last{i}"),
        MatchMethod::Phone => format!("+44 7911 {:06}", 100_000 + i),
    }
}

fn header(method: MatchMethod) -> &'static str {
    match method {
        MatchMethod::Email => "email,training,completion_date\n",
        MatchMethod::Hris => "employee_id,training,completion_date\n",
        MatchMethod::Name => "full_name,training,completion_date\n",
        MatchMethod::Phone => "phone,training,completion_date\n",
    }
}

/// A file of `rows` rows where each of `rows / 5` people appears about five times.
pub fn make_csv(method: MatchMethod, rows: usize) -> Vec<u8> {
    let people = (rows / 5).max(1);
    let mut out = String::with_capacity(rows * 48);
    out.push_str(header(method));
    for r in 0..rows {
        let p = (r * 7919) % people;
        let t = (r * 31) % TRAININGS;
        out.push_str(&format!("{},Training {t},2024-{:02}-{:02}\n", person_cell(method, p), 1 + r % 12, 1 + r % 28));
    }
    out.into_bytes()
}

fn key_of(method: MatchMethod, cell: &str) -> MatchKey {
    match method {
        MatchMethod::Email => MatchKey::email(&Email::parse(cell).unwrap()),
        MatchMethod::Hris => MatchKey::employee_id(cell).unwrap(),
        MatchMethod::Name => MatchKey::name(&PersonName::parse(cell).unwrap()),
        MatchMethod::Phone => MatchKey::phone(&PhoneNumber::parse(cell, None).unwrap()),
    }
}

fn directory(method: MatchMethod, people: usize) -> DirectorySnapshot {
    let mut d = DirectorySnapshot::default();
    for t in 0..TRAININGS {
        d.add_training(Training { id: TrainingId::parse(&format!("t{t}")).unwrap(), title: format!("Training {t}"), published: true });
    }
    for i in 0..people {
        let pid = PersonId::parse(&format!("p{i}")).unwrap();
        d.people.insert(key_of(method, &person_cell(method, i)), vec![PersonRef { person_id: pid, signed_up: i % 2 == 0 }]);
    }
    d
}

fn bare_read(bytes: &[u8]) -> usize {
    let mut r = csv::ReaderBuilder::new().from_reader(bytes);
    let mut rec = csv::ByteRecord::new();
    let mut n = 0;
    while r.read_byte_record(&mut rec).unwrap() {
        n += 1;
    }
    n
}

fn core(bytes: &[u8], method: MatchMethod, dir: &DirectorySnapshot) -> (usize, usize) {
    let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
    let mut rows = CsvRows::open(bytes, method).unwrap();
    let mut seen = HashSet::new();
    let mut cache = KeyCache::default();
    let (mut n, mut ok) = (0, 0);
    while let Some(raw) = rows.next_row().unwrap() {
        let v = raw.input.parse_cached(method, Some("GB"), DateOrder::Undecided, today, &mut cache).decide(method, dir, &mut seen);
        n += 1;
        if matches!(v.outcome, Outcome::Ready | Outcome::Pending) {
            ok += 1;
        }
    }
    (n, ok)
}

fn rate(rows: usize, secs: f64) -> f64 {
    rows as f64 / secs
}

fn bench_core(rows: usize) {
    println!("\n## Validation core, {rows} rows in memory, each person about 5 times, 500 trainings\n");
    println!("| method | bare csv read (rows/s) | validation core (rows/s) | core / bare | valid rows |");
    println!("| --- | ---: | ---: | ---: | ---: |");
    for method in [MatchMethod::Email, MatchMethod::Hris, MatchMethod::Name, MatchMethod::Phone] {
        let bytes = make_csv(method, rows);
        let dir = directory(method, rows / 5);
        let best = |f: &dyn Fn() -> f64| (0..3).map(|_| f()).fold(f64::MAX, f64::min);
        let bare = best(&|| {
            let t = Instant::now();
            assert_eq!(bare_read(&bytes), rows);
            t.elapsed().as_secs_f64()
        });
        let mut valid = 0;
        let core_t = best(&|| {
            let t = Instant::now();
            let (n, _) = core(&bytes, method, &dir);
            assert_eq!(n, rows);
            t.elapsed().as_secs_f64()
        });
        let (_, ok) = core(&bytes, method, &dir);
        valid += ok;
        println!(
            "| {method} | {:.0} | {:.0} | {:.1} % | {valid} |",
            rate(rows, bare),
            rate(rows, core_t),
            100.0 * bare / core_t
        );
    }
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).map(|l| l.split_whitespace().nth(1).unwrap_or("0").parse::<f64>().unwrap_or(0.0)))
        .unwrap_or(0.0)
        / 1024.0
}

fn bench_memory(rows: usize) {
    // Streams a file of `rows` rows from disk through the reader and the row rules,
    // chunk by chunk as the worker does, and reports the process's peak RSS.
    let path = std::env::temp_dir().join("training-imports-bench.csv");
    std::fs::write(&path, make_csv(MatchMethod::Email, rows)).unwrap();
    let before = peak_rss_mib();
    let dir = directory(MatchMethod::Email, 1000);
    let file = std::io::BufReader::new(std::fs::File::open(&path).unwrap());
    let mut rs = CsvRows::open(file, MatchMethod::Email).unwrap();
    let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
    let mut seen = HashSet::new();
    let mut cache = KeyCache::default();
    let mut n = 0;
    while let Some(raw) = rs.next_row().unwrap() {
        let _ = raw.input.parse_cached(MatchMethod::Email, None, DateOrder::Undecided, today, &mut cache).decide(MatchMethod::Email, &dir, &mut seen);
        n += 1;
    }
    let _ = std::fs::remove_file(&path);
    println!("\n## Memory: streaming {n} rows ({} MB file) through the reader and rules\n", rows * 45 / 1_000_000);
    println!("| peak RSS before | peak RSS after |\n| ---: | ---: |\n| {before:.1} MiB | {:.1} MiB |", peak_rss_mib());
}

fn main() {
    let what = std::env::args().nth(1).unwrap_or_else(|| "core".into());
    let rows: usize = std::env::args().nth(2).and_then(|r| r.parse().ok()).unwrap_or(200_000);
    println!("# training-imports benchmarks ({} cores, {})", std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0), if cfg!(debug_assertions) { "DEBUG build: use --release" } else { "release build" });
    match what.as_str() {
        "core" => bench_core(rows),
        "memory" => bench_memory(rows),
        "all" => {
            bench_core(rows);
            bench_memory(1_000_000);
        }
        other => eprintln!("unknown benchmark {other}: core | memory | all"),
    }
}
