//! The row rules applied to a whole file at speed. [`FileChecker`] gives the same
//! verdicts as [`RowInput::parse`] + [`ParsedRow::decide`] (the reference, tested
//! against it row by row), but works on cells borrowed from the reader and parses each
//! distinct person, training and date text of the file once: a row that repeats them
//! costs a few hash lookups and allocates nothing.
//!
//! [`ParsedRow::decide`]: super::ParsedRow::decide

use super::date::{CompletionDate, DateOrder};
use super::issue::{Issue, IssueCode};
use super::normalize::{DomainTypos, MatchKey};
use super::status::{MatchMethod, Outcome};
use super::validate::{
    date_cell, match_person, missing_training, parse_person_cells, person_match_issue,
    person_standing, skip_issue, DirectorySnapshot, PersonMatch, PersonParse, PersonRef,
    PersonStanding, RowVerdict, TrainingRef,
};
use chrono::NaiveDate;
use compact_str::CompactString;
use hashbrown::{HashMap, HashSet};

/// The cells of one row that play a role, borrowed from the reader.
#[derive(Clone, Copy, Debug, Default)]
pub struct RowCells<'a> {
    /// The person cell, or first and last name (`person_count` of them).
    pub person: [&'a str; 2],
    pub person_count: usize,
    pub training: &'a str,
    pub date: &'a str,
}

/// The header names of the cells that play a role, for messages.
#[derive(Clone, Debug, Default)]
pub struct RoleColumns {
    pub person: Vec<String>,
    /// The name column is written "Last, First".
    pub last_first: bool,
    pub training: String,
    pub date: String,
}

/// Distinct person texts kept parsed; past this the caches are emptied between chunks
/// ([`FileChecker::end_chunk`]), so memory stays bounded on any file.
const PERSON_SLOTS: usize = 50_000;
/// Distinct training and date texts kept.
const TEXT_SLOTS: usize = 50_000;
/// Keys looked up and found in nobody's directory entry, kept (8 bytes each, about
/// 4.5 MiB at most) across the emptying of the person caches: a file of 1,000,000 rows
/// and 200,000 people nobody knows yet looks each up once, not once per cache (five
/// times as many BatchGetItem requests, which took most of such a validation's time).
const ABSENT_KEYS: usize = 400_000;

struct PersonSlot {
    key: Option<MatchKey>,
    /// Issues and warnings of the cell; most people have none.
    problems: Option<Box<(Vec<Issue>, Vec<Issue>)>>,
    /// Who the key matches, once known.
    found: Option<PersonMatch>,
}

/// Where a person stands for the rules, once their cell is parsed and their key looked up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Standing {
    /// A usable key not looked up yet.
    Unmatched,
    /// The row is an error whatever its training and date: no key, an issue in the cell,
    /// or a match the method cannot use (several people; an unknown employee ID).
    Invalid,
    /// Known but not signed up, or not known yet (not under HRIS): the row waits.
    Waits,
    SignedUp,
}

/// What [`FileChecker::decide`] reads of a person for every row, 16 bytes, kept apart
/// from the rest of the slot so that deciding a file's rows touches little memory.
#[derive(Clone, Copy, Debug)]
struct PersonHot {
    /// A 64-bit hash of the key, the person's part of a row's identity.
    key_hash: u64,
    standing: Standing,
}

enum TrainingSlot {
    /// An index into the file's trainings.
    Found(u32),
    Missing(Issue),
    Invalid(Issue),
}

/// A row after parsing: where its person, training and date results are kept.
/// Valid until the next [`FileChecker::end_chunk`].
#[derive(Clone, Copy, Debug)]
pub struct CheckedRow {
    person: u32,
    training: u32,
    date: u32,
}

/// The outcome of a row and, for a skipped row, why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    pub outcome: Outcome,
    pub skip: Option<IssueCode>,
}

/// The row rules with the state of one file: parse caches and the rows seen so far.
pub struct FileChecker {
    method: MatchMethod,
    country: Option<String>,
    order: DateOrder,
    today: NaiveDate,
    columns: RoleColumns,
    /// Distinct texts to their slot; most texts are short enough to be kept inline in
    /// the table, so a lookup compares them without another memory access.
    person_index: HashMap<CompactString, u32>,
    persons: Vec<PersonSlot>,
    /// By person slot: what deciding a row needs.
    hot: Vec<PersonHot>,
    training_index: HashMap<CompactString, u32>,
    training_slots: Vec<TrainingSlot>,
    /// Trainings rows have named, each once, by their position.
    trainings: Vec<TrainingRef>,
    /// By position in `trainings`: a 64-bit hash of the training's id, its part of a
    /// row's identity (the same in every run, so identities outlive the checker).
    training_hashes: Vec<u64>,
    training_ids: HashMap<String, u32>,
    date_index: HashMap<CompactString, u32>,
    dates: Vec<Result<CompletionDate, Issue>>,
    /// Identities of the valid rows so far (person key, training, date).
    seen: HashSet<u64>,
    scratch: String,
    typos: DomainTypos,
    person_limit: usize,
    text_limit: usize,
    /// Person slots below this were handed out by `take_unmatched`.
    handed_out: usize,
    /// Hashes of the keys a lookup found nobody for ([`ABSENT_KEYS`]). A person who
    /// signs up during the validation may still read not signed up on a later row: the
    /// sign-up moves the organisation's count, so the commit looks everyone up again.
    /// A key whose hash meets an absent one's (about one chance in 50 million with
    /// 1,000,000 people known and 400,000 absent) reads not signed up and waits: never anyone else's row (groups
    /// go by the key itself), and applied at that person's next sign-in.
    absent: HashSet<u64>,
}

impl FileChecker {
    pub fn new(
        method: MatchMethod,
        default_country: Option<&str>,
        order: DateOrder,
        today: NaiveDate,
        columns: RoleColumns,
    ) -> FileChecker {
        FileChecker {
            method,
            country: default_country.map(str::to_string),
            order,
            today,
            columns,
            person_index: HashMap::new(),
            persons: Vec::new(),
            hot: Vec::new(),
            training_index: HashMap::new(),
            training_slots: Vec::new(),
            trainings: Vec::new(),
            training_hashes: Vec::new(),
            training_ids: HashMap::new(),
            date_index: HashMap::new(),
            dates: Vec::new(),
            seen: HashSet::new(),
            scratch: String::new(),
            typos: DomainTypos::default(),
            person_limit: PERSON_SLOTS,
            text_limit: TEXT_SLOTS,
            handed_out: 0,
            absent: HashSet::new(),
        }
    }

    /// Sizes the set of rows seen for a file of `rows` rows once, so that it never
    /// holds its old and new tables at once while growing.
    pub fn expect_rows(&mut self, rows: usize) {
        self.seen.reserve(rows.saturating_sub(self.seen.len()));
    }

    /// The identities of the valid rows so far: with [`FileChecker::restore_seen`], a
    /// file's check can stop and go on in another process, still finding every repeat.
    pub fn seen_rows(&self) -> impl Iterator<Item = u64> + '_ {
        self.seen.iter().copied()
    }

    /// Takes up the rows seen by an earlier check of the same file ([`FileChecker::seen_rows`]).
    pub fn restore_seen(&mut self, rows: impl IntoIterator<Item = u64>) {
        self.seen.extend(rows);
    }

    /// Smaller caches (tests use this to empty them often).
    pub fn with_cache_limit(mut self, distinct_texts: usize) -> FileChecker {
        self.person_limit = distinct_texts;
        self.text_limit = distinct_texts;
        self
    }

    /// Normalises a row's cells. Trainings are found in `dir` here; people are matched
    /// in [`FileChecker::decide`] (or given with [`FileChecker::set_people`]).
    pub fn parse(&mut self, cells: &RowCells, dir: &DirectorySnapshot) -> CheckedRow {
        CheckedRow {
            person: self.person_slot(cells),
            training: self.training_slot(cells.training, dir),
            date: self.date_slot(cells.date),
        }
    }

    fn person_slot(&mut self, cells: &RowCells) -> u32 {
        let text = if cells.person_count == 2 {
            self.scratch.clear();
            self.scratch.push_str(cells.person[0]);
            self.scratch.push('\u{1f}');
            self.scratch.push_str(cells.person[1]);
            self.scratch.as_str()
        } else {
            cells.person[0]
        };
        if let Some(&slot) = self.person_index.get(text) {
            return slot;
        }
        let text = CompactString::from(text);
        let columns = &self.columns.person;
        let n = cells.person_count.min(2).min(columns.len());
        let pairs = [
            (columns.first().map_or("", String::as_str), cells.person[0]),
            (columns.get(1).map_or("", String::as_str), cells.person[1]),
        ];
        let PersonParse {
            key,
            issues,
            warnings,
        } = parse_person_cells(
            &pairs[..n],
            self.columns.last_first,
            self.method,
            self.country.as_deref(),
            &mut self.typos,
        );
        let key_hash = key.as_ref().map_or(0, |k| {
            stable_hash(&[k.method().as_str().as_bytes(), k.value().as_bytes()])
        });
        let standing = if key.is_none() || !issues.is_empty() {
            Standing::Invalid
        } else {
            Standing::Unmatched
        };
        let problems =
            (!issues.is_empty() || !warnings.is_empty()).then(|| Box::new((issues, warnings)));
        let slot = self.persons.len() as u32;
        self.persons.push(PersonSlot {
            key,
            problems,
            found: None,
        });
        self.hot.push(PersonHot { key_hash, standing });
        self.person_index.insert(text, slot);
        slot
    }

    fn training_slot(&mut self, text: &str, dir: &DirectorySnapshot) -> u32 {
        if let Some(&slot) = self.training_index.get(text) {
            return slot;
        }
        let column = &self.columns.training;
        let result = if text.trim().is_empty() {
            TrainingSlot::Missing(missing_training(column))
        } else {
            match dir.usable_training(text.trim(), Some(column)) {
                Ok(t) => {
                    let next = self.trainings.len() as u32;
                    let at = *self
                        .training_ids
                        .entry(t.id.as_str().to_string())
                        .or_insert(next);
                    if at == next {
                        self.trainings.push(TrainingRef {
                            id: t.id.clone(),
                            title: t.title.clone(),
                        });
                        self.training_hashes
                            .push(stable_hash(&[t.id.as_str().as_bytes()]));
                    }
                    TrainingSlot::Found(at)
                }
                Err(issue) => TrainingSlot::Invalid(issue),
            }
        };
        let slot = self.training_slots.len() as u32;
        self.training_slots.push(result);
        self.training_index.insert(CompactString::from(text), slot);
        slot
    }

    fn date_slot(&mut self, text: &str) -> u32 {
        if let Some(&slot) = self.date_index.get(text) {
            return slot;
        }
        let slot = self.dates.len() as u32;
        self.dates
            .push(date_cell(text, &self.columns.date, self.order, self.today));
        self.date_index.insert(CompactString::from(text), slot);
        slot
    }

    /// The people parsed since the last call and not matched yet, with their keys: to
    /// look up and give back with [`FileChecker::set_people`].
    /// A key already found absent in this file is not handed out: its slot reads not
    /// found at once.
    pub fn take_unmatched(&mut self) -> Vec<(u32, MatchKey)> {
        let from = self.handed_out.min(self.persons.len());
        self.handed_out = self.persons.len();
        let mut wanted = Vec::new();
        for slot in from..self.persons.len() {
            let p = &self.persons[slot];
            let Some(key) = p.key.as_ref().filter(|_| p.found.is_none()) else {
                continue;
            };
            if self.absent.contains(&self.hot[slot].key_hash) {
                self.set_people(slot as u32, &[]);
            } else {
                wanted.push((slot as u32, key.clone()));
            }
        }
        wanted
    }

    /// Who a person slot's key matches, from a lookup ([`FileChecker::take_unmatched`]).
    pub fn set_people(&mut self, slot: u32, people: &[PersonRef]) {
        if let Some(p) = self.persons.get_mut(slot as usize) {
            if people.is_empty() && p.key.is_some() {
                self.absent.insert(self.hot[slot as usize].key_hash);
            }
            self.hot[slot as usize].standing = standing(
                self.method,
                p.found.insert(match_person(people)),
                &self.hot[slot as usize],
            );
        }
    }

    /// Where the person of a slot stands, looking their key up in `dir` the first time.
    fn standing(&mut self, slot: u32, dir: &DirectorySnapshot) -> Standing {
        let hot = self.hot[slot as usize];
        if hot.standing != Standing::Unmatched {
            return hot.standing;
        }
        let p = &mut self.persons[slot as usize];
        let Some(key) = p.key.as_ref() else {
            return Standing::Invalid;
        };
        let found = p.found.insert(match_person(
            dir.people.get(key).map(Vec::as_slice).unwrap_or(&[]),
        ));
        let now = standing(self.method, found, &hot);
        self.hot[slot as usize].standing = now;
        now
    }

    /// The person a row matched, if signed up, with the training and date: what would
    /// make the row a repeat of a completion already recorded.
    pub fn completion_of(
        &self,
        row: &CheckedRow,
    ) -> Option<(&super::PersonId, &super::TrainingId, CompletionDate)> {
        let Some(PersonMatch::SignedUp(pid)) = &self.persons[row.person as usize].found else {
            return None;
        };
        let TrainingSlot::Found(t) = self.training_slots[row.training as usize] else {
            return None;
        };
        let date = *self.dates[row.date as usize].as_ref().ok()?;
        Some((pid, &self.trainings[t as usize].id, date))
    }

    /// Applies the matching rules to a parsed row.
    pub fn decide(&mut self, row: &CheckedRow, dir: &DirectorySnapshot) -> Decision {
        const ERROR: Decision = Decision {
            outcome: Outcome::Error,
            skip: None,
        };
        let signed_up = match self.standing(row.person, dir) {
            Standing::Invalid | Standing::Unmatched => return ERROR,
            Standing::Waits => false,
            Standing::SignedUp => true,
        };
        let TrainingSlot::Found(t) = self.training_slots[row.training as usize] else {
            return ERROR;
        };
        let Ok(&date) = self.dates[row.date as usize].as_ref() else {
            return ERROR;
        };
        let training = &self.trainings[t as usize].id;
        // The rest of the person's slot is read only when an earlier completion or
        // pending row could make this row a repeat.
        let person = || &self.persons[row.person as usize];
        let identity = row_fingerprint(
            self.hot[row.person as usize].key_hash,
            self.training_hashes[t as usize],
            date,
        );
        let skip = if !self.seen.insert(identity) {
            Some(IssueCode::DuplicateInFile)
        } else if !dir.completions.is_empty()
            && person()
                .found
                .as_ref()
                .and_then(PersonMatch::person)
                .is_some_and(|pid| dir.has_completion(pid, training, date))
        {
            Some(IssueCode::AlreadyCompleted)
        } else if !signed_up
            && !dir.pending.is_empty()
            && person()
                .key
                .as_ref()
                .is_some_and(|key| dir.has_pending(key, training, date))
        {
            Some(IssueCode::AlreadyPending)
        } else {
            None
        };
        match skip {
            Some(code) => Decision {
                outcome: Outcome::Skipped,
                skip: Some(code),
            },
            None if signed_up => Decision {
                outcome: Outcome::Ready,
                skip: None,
            },
            None => Decision {
                outcome: Outcome::Pending,
                skip: None,
            },
        }
    }

    /// The full verdict of a decided row: every issue and warning with its message.
    pub fn verdict(&self, row: &CheckedRow, decision: Decision) -> RowVerdict {
        let person = &self.persons[row.person as usize];
        let (mut issues, warnings) = person.problems.as_deref().cloned().unwrap_or_default();
        let training = &self.training_slots[row.training as usize];
        if let TrainingSlot::Missing(issue) = training {
            issues.push(issue.clone());
        }
        let date = &self.dates[row.date as usize];
        if let Err(issue) = date {
            issues.push(issue.clone());
        }
        if let TrainingSlot::Invalid(issue) = training {
            issues.push(issue.clone());
        }
        if let (Some(key), Some(found)) = (&person.key, &person.found) {
            issues.extend(person_match_issue(
                self.method,
                key,
                &person_standing(self.method, found),
            ));
        }
        issues.extend(decision.skip.map(skip_issue));
        RowVerdict {
            outcome: decision.outcome,
            issues,
            warnings,
            key: person.key.clone(),
            person_id: person.found.as_ref().and_then(PersonMatch::person).cloned(),
            training: match training {
                TrainingSlot::Found(t) => Some(self.trainings[*t as usize].clone()),
                _ => None,
            },
            date: date.as_ref().ok().copied(),
        }
    }

    /// Call between chunks of rows: empties the parse caches once they are large (the
    /// rows seen so far are kept). Rows parsed before must not be used after.
    pub fn end_chunk(&mut self) {
        if self.absent.len() > ABSENT_KEYS {
            self.absent = HashSet::new();
        }
        if self.persons.len() > self.person_limit {
            self.persons.clear();
            self.hot.clear();
            self.person_index = HashMap::new();
            self.handed_out = 0;
        }
        if self.training_slots.len() > self.text_limit {
            self.training_slots.clear();
            self.training_index = HashMap::new();
        }
        if self.dates.len() > self.text_limit {
            self.dates.clear();
            self.date_index = HashMap::new();
        }
    }
}

/// Where a person with a usable key stands once their key's match is known.
fn standing(method: MatchMethod, found: &PersonMatch, hot: &PersonHot) -> Standing {
    if hot.standing == Standing::Invalid {
        return Standing::Invalid;
    }
    match person_standing(method, found) {
        PersonStanding::Ready(_) => Standing::SignedUp,
        PersonStanding::Waits(_) => Standing::Waits,
        PersonStanding::UnknownEmployeeId | PersonStanding::Shared(_) => Standing::Invalid,
    }
}

/// SipHash-1-3 with zero keys over the parts given (each followed by 0xFF, so that
/// ("ab", "c") and ("a", "bc") differ). The `siphasher` crate fixes the output: a row's
/// identity means the same in every process and every build, so a validation's
/// checkpoint still finds repeats when a deploy lands between two of its invocations.
pub fn stable_hash(parts: &[&[u8]]) -> u64 {
    use std::hash::Hasher;
    let mut h = siphasher::sip::SipHasher13::new_with_keys(0, 0);
    for part in parts {
        h.write(part);
        h.write_u8(0xFF);
    }
    h.finish()
}

/// A row's identity from the hashes of its key and training, and its date. For one
/// key and training, distinct dates always give distinct identities (the mix is a
/// bijection); anything else collides with odds of 2^-64.
fn row_fingerprint(key_hash: u64, training_hash: u64, date: CompletionDate) -> u64 {
    fmix64(key_hash ^ fmix64(training_hash ^ u64::from(date.day_number() as u32)))
}

/// MurmurHash3's 64-bit finaliser: a bijection that spreads every input bit.
fn fmix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^ (k >> 33)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::csv_input::CsvRows;
    use crate::domain::{PersonId, PersonRef};

    /// Chunks of rows through the checker as the validation sends them, with its caches
    /// emptied after every chunk; the keys each chunk hands out to look up.
    fn keys_asked(chunks: &[&[&str]]) -> Vec<Vec<String>> {
        let mut csv = String::from("email,training,date\n");
        for (i, email) in chunks.iter().flat_map(|c| c.iter()).enumerate() {
            csv.push_str(&format!("{email},Forklift Safety,2024-01-{:02}\n", i + 1));
        }
        let mut rows = CsvRows::open(csv.as_bytes(), MatchMethod::Email).unwrap();
        let today = NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
        let mut checker = FileChecker::new(
            MatchMethod::Email,
            None,
            DateOrder::Undecided,
            today,
            rows.layout.role_columns(),
        )
        .with_cache_limit(0);
        let mut dir = DirectorySnapshot::default();
        dir.add_training(crate::domain::Training {
            id: crate::domain::TrainingId::parse("forklift").unwrap(),
            title: "Forklift Safety".into(),
            published: true,
        });
        let mut asked = vec![];
        for chunk in chunks {
            let mut checked = vec![];
            for _ in chunk.iter() {
                let record = rows.next_record().unwrap().unwrap();
                checked.push(checker.parse(&record.roles().unwrap(), &dir));
            }
            let unmatched = checker.take_unmatched();
            asked.push(
                unmatched
                    .iter()
                    .map(|(_, k)| k.value().to_string())
                    .collect(),
            );
            for (slot, key) in unmatched {
                let known = PersonRef {
                    person_id: PersonId::parse("p-ana").unwrap(),
                    signed_up: false,
                };
                let people = match key.value() {
                    "ana@example.com" => vec![known],
                    _ => vec![],
                };
                checker.set_people(slot, &people);
            }
            for row in &checked {
                let decision = checker.decide(row, &dir);
                assert_eq!(
                    checker.verdict(row, decision).outcome,
                    Outcome::Pending,
                    "nobody here has signed up"
                );
            }
            checker.end_chunk();
        }
        asked
    }

    #[test]
    fn a_key_nobody_has_is_looked_up_once_a_file_whatever_the_caches_forget() {
        let asked = keys_asked(&[
            &["ana@example.com", "bo@example.com", "cy@example.com"],
            &["bo@example.com", "ana@example.com", "di@example.com"],
            &["cy@example.com", "di@example.com"],
        ]);
        assert_eq!(
            asked,
            [
                vec!["ana@example.com", "bo@example.com", "cy@example.com"],
                // Someone found is asked for again (their standing may change).
                vec!["ana@example.com", "di@example.com"],
                vec![],
            ]
        );
    }
}
