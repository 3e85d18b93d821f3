//! The row rules: from a row's cells (already mapped to their roles) to its outcome.
//! Two steps so lookups can be batched: [`RowInput::parse`] normalises the cells and
//! names the match key; [`RowInput::decide`] applies the matching rules against a
//! snapshot of the directory fetched for many rows at once.

use super::date::{CompletionDate, DateOrder};
use super::ids::{PersonId, TrainingId};
use super::issue::{Issue, IssueCode};
use super::normalize::{clip, DomainTypos, Email, MatchKey, PersonName, PhoneNumber};
use super::status::{MatchMethod, Outcome};
use chrono::NaiveDate;
use std::collections::{HashMap, HashSet};

/// The cells of one data row that matter, by role. Column names are kept for messages.
#[derive(Clone, Debug, Default)]
pub struct RowInput {
    pub person: Vec<(String, String)>,
    /// The name column is written "Last, First".
    pub last_first: bool,
    pub training: Option<(String, String)>,
    pub date: Option<(String, String)>,
}

/// A row after normalising, before lookups.
#[derive(Clone, Debug)]
pub struct ParsedRow {
    pub key: Option<MatchKey>,
    pub warnings: Vec<Issue>,
    pub training_text: Option<String>,
    pub training_column: Option<String>,
    pub date: Option<CompletionDate>,
    pub issues: Vec<Issue>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PersonRef {
    pub person_id: PersonId,
    pub signed_up: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Training {
    pub id: TrainingId,
    pub title: String,
    pub published: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrainingRef {
    pub id: TrainingId,
    pub title: String,
}

/// What the matching rules say about one key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PersonMatch {
    NotFound,
    Roster(PersonId),
    SignedUp(PersonId),
    Ambiguous(usize),
}

/// Where the person a key matched leaves a row: the one rule that validation (the
/// reference rules and the fast checker), fix in place and the commit all apply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PersonStanding {
    /// One person, signed up: the row is imported (`ready`).
    Ready(PersonId),
    /// Nobody signed up under the key yet: one roster entry, or nobody at all for a key
    /// other than an employee ID. The row waits for the sign-up (`pending`).
    Waits(Option<PersonId>),
    /// No row can be imported for this key: an employee ID nobody on the roster has.
    UnknownEmployeeId,
    /// No row can be imported for this key: several people share it.
    Shared(usize),
}

impl PersonStanding {
    pub fn person(&self) -> Option<&PersonId> {
        match self {
            PersonStanding::Ready(p) | PersonStanding::Waits(Some(p)) => Some(p),
            _ => None,
        }
    }
}

pub fn person_standing(method: MatchMethod, found: &PersonMatch) -> PersonStanding {
    match found {
        PersonMatch::SignedUp(p) => PersonStanding::Ready(p.clone()),
        PersonMatch::Roster(p) => PersonStanding::Waits(Some(p.clone())),
        // An HRIS import names people by the employee ID the roster gives them: one the
        // roster does not have is a mistake, not someone who may sign up later.
        PersonMatch::NotFound if method == MatchMethod::Hris => PersonStanding::UnknownEmployeeId,
        PersonMatch::NotFound => PersonStanding::Waits(None),
        PersonMatch::Ambiguous(n) => PersonStanding::Shared(*n),
    }
}

impl PersonMatch {
    /// The one person matched, signed up or not.
    pub fn person(&self) -> Option<&PersonId> {
        match self {
            PersonMatch::Roster(p) | PersonMatch::SignedUp(p) => Some(p),
            _ => None,
        }
    }
}

pub fn match_person(people: &[PersonRef]) -> PersonMatch {
    match people {
        [] => PersonMatch::NotFound,
        [one] if one.signed_up => PersonMatch::SignedUp(one.person_id.clone()),
        [one] => PersonMatch::Roster(one.person_id.clone()),
        many => PersonMatch::Ambiguous(many.len()),
    }
}

/// The lookups for a batch of rows, fetched once.
#[derive(Debug, Default)]
pub struct DirectorySnapshot {
    pub people: hashbrown::HashMap<MatchKey, Vec<PersonRef>>,
    pub trainings_by_id: HashMap<String, Training>,
    pub trainings_by_title: HashMap<String, Vec<Training>>,
    /// (person, training, date) already completed in the platform.
    pub completions: hashbrown::HashSet<(PersonId, TrainingId, CompletionDate)>,
    /// (key, training, date) already pending from an earlier import.
    pub pending: hashbrown::HashSet<(MatchKey, TrainingId, CompletionDate)>,
    /// "Did you mean" answers, computed once per unknown training text.
    suggestions: std::sync::Mutex<HashMap<String, Option<String>>>,
}

/// A borrowed (person, training, date) that hashes as the owned triple does.
#[derive(Hash)]
struct CompletionLookup<'a>(&'a str, &'a str, CompletionDate);

impl hashbrown::Equivalent<(PersonId, TrainingId, CompletionDate)> for CompletionLookup<'_> {
    fn equivalent(&self, k: &(PersonId, TrainingId, CompletionDate)) -> bool {
        self.0 == k.0.as_str() && self.1 == k.1.as_str() && self.2 == k.2
    }
}

/// A borrowed (key, training, date) that hashes as the owned triple does.
#[derive(Hash)]
struct PendingLookup<'a>(&'a MatchKey, &'a str, CompletionDate);

impl hashbrown::Equivalent<(MatchKey, TrainingId, CompletionDate)> for PendingLookup<'_> {
    fn equivalent(&self, k: &(MatchKey, TrainingId, CompletionDate)) -> bool {
        *self.0 == k.0 && self.1 == k.1.as_str() && self.2 == k.2
    }
}

impl DirectorySnapshot {
    /// Whether the person already has this completion (no copy of the parts is made).
    pub fn has_completion(
        &self,
        person: &PersonId,
        training: &TrainingId,
        date: CompletionDate,
    ) -> bool {
        !self.completions.is_empty()
            && self.completions.contains(&CompletionLookup(
                person.as_str(),
                training.as_str(),
                date,
            ))
    }

    /// Whether an earlier import already holds this completion pending for the key.
    pub fn has_pending(&self, key: &MatchKey, training: &TrainingId, date: CompletionDate) -> bool {
        !self.pending.is_empty()
            && self
                .pending
                .contains(&PendingLookup(key, training.as_str(), date))
    }

    /// A published training by ID or exact title, or the issue to show on the row.
    pub fn usable_training(&self, text: &str, column: Option<&str>) -> Result<&Training, Issue> {
        match self.find_training(text) {
            Ok(t) if t.published => Ok(t),
            Ok(t) => Err(Issue::new(
                IssueCode::TrainingNotPublished,
                column,
                format!(
                    "the training '{}' is not published: publish it first",
                    clip(&t.title)
                ),
            )),
            Err((code, msg)) => Err(Issue::new(code, column, msg)),
        }
    }

    pub fn add_training(&mut self, t: Training) {
        self.trainings_by_title
            .entry(title_key(&t.title))
            .or_default()
            .push(t.clone());
        self.trainings_by_id.insert(t.id.as_str().to_string(), t);
    }

    /// A training by its ID, else by its exact title (ignoring case and extra spaces).
    pub fn find_training(&self, text: &str) -> Result<&Training, (IssueCode, String)> {
        let t = text.trim();
        if let Some(found) = self.trainings_by_id.get(t) {
            return Ok(found);
        }
        match self
            .trainings_by_title
            .get(&title_key(t))
            .map(Vec::as_slice)
        {
            Some([one]) => Ok(one),
            Some(many) if many.len() > 1 => Err((
                IssueCode::UnknownTraining,
                format!(
                    "{} trainings have the title '{}': use the training's ID",
                    many.len(),
                    clip(t)
                ),
            )),
            _ => {
                let hint = self
                    .suggest(t)
                    .map(|s| format!(". Did you mean {s}?"))
                    .unwrap_or_default();
                Err((
                    IssueCode::UnknownTraining,
                    format!("no training has the ID or title '{}'{hint}", clip(t)),
                ))
            }
        }
    }

    /// The closest training title or ID to a text that matched none, if close enough.
    /// None for a text over [`SUGGEST_MAX_CHARS`]: the distance costs its length times
    /// each title's, and a cell may hold 64 KB.
    fn suggest(&self, text: &str) -> Option<String> {
        if text.chars().count() > SUGGEST_MAX_CHARS {
            return None;
        }
        let key = title_key(text);
        let mut cache = self.suggestions.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(found) = cache.get(&key) {
            return found.clone();
        }
        let best = self
            .trainings_by_id
            .values()
            .flat_map(|t| {
                [
                    (
                        strsim::normalized_damerau_levenshtein(&key, &title_key(&t.title)),
                        t,
                    ),
                    (
                        strsim::normalized_damerau_levenshtein(&key, &t.id.as_str().to_lowercase()),
                        t,
                    ),
                ]
            })
            .filter(|(score, _)| *score >= 0.75)
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, t)| format!("'{}' (ID {})", t.title, t.id));
        if cache.len() < 10_000 {
            cache.insert(key, best.clone());
        }
        best
    }
}

/// Longest training text a "did you mean" is looked for (titles are at most 200).
pub const SUGGEST_MAX_CHARS: usize = 200;

pub(crate) fn title_key(title: &str) -> String {
    title
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// The verdict on one row.
#[derive(Clone, Debug)]
pub struct RowVerdict {
    pub outcome: Outcome,
    pub issues: Vec<Issue>,
    /// Shown on the row; they do not change its outcome.
    pub warnings: Vec<Issue>,
    pub key: Option<MatchKey>,
    pub person_id: Option<PersonId>,
    pub training: Option<TrainingRef>,
    pub date: Option<CompletionDate>,
}

impl RowVerdict {
    /// A row that could not be read as cells (wrong field count, bytes that are not text).
    pub fn unreadable(problem: Issue) -> RowVerdict {
        RowVerdict {
            outcome: Outcome::Error,
            issues: vec![problem],
            warnings: vec![],
            key: None,
            person_id: None,
            training: None,
            date: None,
        }
    }
}

#[derive(Clone)]
pub(crate) struct PersonParse {
    pub key: Option<MatchKey>,
    pub issues: Vec<Issue>,
    pub warnings: Vec<Issue>,
}

pub(crate) fn missing_training(column: &str) -> Issue {
    Issue::new(
        IssueCode::MissingValue,
        Some(column),
        "the training is empty: give its ID or exact title",
    )
}

/// A completion date cell read, or the issue to show on the row.
pub(crate) fn date_cell(
    value: &str,
    column: &str,
    order: DateOrder,
    today: NaiveDate,
) -> Result<CompletionDate, Issue> {
    if value.trim().is_empty() {
        return Err(Issue::new(
            IssueCode::MissingValue,
            Some(column),
            "the completion date is empty: write it as YYYY-MM-DD",
        ));
    }
    CompletionDate::parse(value, order, today)
        .map_err(|(code, msg)| Issue::new(code, Some(column), msg))
}

impl RowInput {
    /// Normalises the cells of one row. This is the reference: [`super::FileChecker`]
    /// gives the same verdicts for whole files, faster.
    pub fn parse(
        &self,
        method: MatchMethod,
        default_country: Option<&str>,
        order: DateOrder,
        today: NaiveDate,
    ) -> ParsedRow {
        let PersonParse {
            key,
            mut issues,
            warnings,
        } = self.parse_person_fully(method, default_country, &mut DomainTypos::default());
        let training_text = match &self.training {
            Some((_, v)) if !v.trim().is_empty() => Some(v.trim().to_string()),
            Some((col, _)) => {
                issues.push(missing_training(col));
                None
            }
            None => None,
        };
        let date = self.date.as_ref().and_then(|(col, v)| {
            date_cell(v, col, order, today)
                .map_err(|i| issues.push(i))
                .ok()
        });
        let training_column = self.training.as_ref().map(|(col, _)| col.clone());
        ParsedRow {
            key,
            warnings,
            training_text,
            training_column,
            date,
            issues,
        }
    }

    pub(crate) fn parse_person_fully(
        &self,
        method: MatchMethod,
        default_country: Option<&str>,
        typos: &mut DomainTypos,
    ) -> PersonParse {
        let cells: Vec<(&str, &str)> = self
            .person
            .iter()
            .map(|(c, v)| (c.as_str(), v.as_str()))
            .collect();
        parse_person_cells(&cells, self.last_first, method, default_country, typos)
    }
}

/// The person cells of a row, as (column, value): their match key, or the issues that
/// stop it, and any warnings.
pub(crate) fn parse_person_cells(
    cells: &[(&str, &str)],
    last_first: bool,
    method: MatchMethod,
    default_country: Option<&str>,
    typos: &mut DomainTypos,
) -> PersonParse {
    let mut issues = Vec::new();
    let mut warnings = Vec::new();
    let key = parse_person(cells, last_first, method, default_country, &mut issues);
    if let (MatchMethod::Email, Some(k), Some((col, _))) = (method, &key, cells.first()) {
        if let Some(meant) = typos.of(k.value()) {
            warnings.push(Issue::new(
                IssueCode::EmailDomainTypo,
                Some(col),
                format!(
                    "'{}' may be a typo of {meant}: check the address",
                    clip(k.value())
                ),
            ));
        }
    }
    PersonParse {
        key,
        issues,
        warnings,
    }
}

fn parse_person(
    cells: &[(&str, &str)],
    last_first: bool,
    method: MatchMethod,
    default_country: Option<&str>,
    issues: &mut Vec<Issue>,
) -> Option<MatchKey> {
    let missing = |col: &str, what: &str| {
        Issue::new(
            IssueCode::MissingValue,
            Some(col),
            format!("the {what} is empty"),
        )
    };
    match method {
        MatchMethod::Email | MatchMethod::Phone | MatchMethod::Hris => {
            let &(col, value) = cells.first()?;
            if value.trim().is_empty() {
                let what = match method {
                    MatchMethod::Email => "email address",
                    MatchMethod::Phone => "phone number",
                    _ => "employee ID",
                };
                issues.push(missing(col, what));
                return None;
            }
            let parsed = match method {
                MatchMethod::Email => Email::parse(value)
                    .map(|e| MatchKey::email(&e))
                    .map_err(|m| (IssueCode::InvalidEmail, m)),
                MatchMethod::Phone => PhoneNumber::parse(value, default_country)
                    .map(|p| MatchKey::phone(&p))
                    .map_err(|m| (IssueCode::InvalidPhone, m)),
                _ => MatchKey::employee_id(value).map_err(|m| (IssueCode::InvalidEmployeeId, m)),
            };
            parsed
                .map_err(|(code, msg)| issues.push(Issue::new(code, Some(col), msg)))
                .ok()
        }
        MatchMethod::Name => {
            let name = match *cells {
                [(col, full)] => {
                    if full.trim().is_empty() {
                        issues.push(missing(col, "name"));
                        return None;
                    }
                    let parsed = if last_first {
                        PersonName::from_last_first(full)
                    } else {
                        PersonName::parse(full)
                    };
                    parsed.map_err(|m| (col, m))
                }
                [(fcol, first), (lcol, last)] => {
                    let mut empty = false;
                    for (col, v, what) in [(fcol, first, "first name"), (lcol, last, "last name")] {
                        if v.trim().is_empty() {
                            issues.push(missing(col, what));
                            empty = true;
                        }
                    }
                    if empty {
                        return None;
                    }
                    PersonName::from_parts(first, last).map_err(|m| (fcol, m))
                }
                _ => return None,
            };
            name.map(|n| MatchKey::name(&n))
                .map_err(|(col, m)| issues.push(Issue::new(IssueCode::MissingValue, Some(col), m)))
                .ok()
        }
    }
}

impl ParsedRow {
    /// Applies the matching rules. `seen` holds the (key, training, date) of earlier
    /// non-error rows of the same file: a repeat is skipped, the first is kept.
    pub fn decide(
        self,
        method: MatchMethod,
        dir: &DirectorySnapshot,
        seen: &mut HashSet<u64>,
    ) -> RowVerdict {
        let mut issues = self.issues;
        let tcol = self.training_column.as_deref();
        let training =
            self.training_text
                .as_deref()
                .and_then(|text| match dir.usable_training(text, tcol) {
                    Ok(t) => Some(TrainingRef {
                        id: t.id.clone(),
                        title: t.title.clone(),
                    }),
                    Err(issue) => {
                        issues.push(issue);
                        None
                    }
                });
        let mut person_id = None;
        let mut signed_up = false;
        if let Some(key) = &self.key {
            let people = dir.people.get(key).map(Vec::as_slice).unwrap_or(&[]);
            let standing = person_standing(method, &match_person(people));
            issues.extend(person_match_issue(method, key, &standing));
            person_id = standing.person().cloned();
            signed_up = matches!(standing, PersonStanding::Ready(_));
        }
        // Column-level issues sort first so the message an admin reads first is the cell.
        let fixed_issue_order = |a: &Issue, b: &Issue| b.column.is_some().cmp(&a.column.is_some());
        issues.sort_by(fixed_issue_order);

        let mut verdict = RowVerdict {
            outcome: Outcome::Error,
            issues,
            warnings: self.warnings,
            key: self.key,
            person_id,
            training,
            date: self.date,
        };
        if !verdict.issues.is_empty() {
            return verdict;
        }
        let (Some(key), Some(t), Some(date)) = (&verdict.key, &verdict.training, verdict.date)
        else {
            return verdict;
        };
        let skip = if !seen.insert(row_identity(key, &t.id, date)) {
            Some(IssueCode::DuplicateInFile)
        } else if verdict
            .person_id
            .as_ref()
            .is_some_and(|pid| dir.has_completion(pid, &t.id, date))
        {
            Some(IssueCode::AlreadyCompleted)
        } else if !signed_up && dir.has_pending(key, &t.id, date) {
            Some(IssueCode::AlreadyPending)
        } else {
            None
        };
        if let Some(code) = skip {
            verdict.outcome = Outcome::Skipped;
            verdict.issues.push(skip_issue(code));
            return verdict;
        }
        verdict.outcome = if signed_up {
            Outcome::Ready
        } else {
            Outcome::Pending
        };
        verdict
    }
}

/// The issue a person match raises: an HRIS ID no one has, or a key several people share.
pub(crate) fn person_match_issue(
    method: MatchMethod,
    key: &MatchKey,
    standing: &PersonStanding,
) -> Option<Issue> {
    match standing {
        PersonStanding::UnknownEmployeeId => Some(Issue::new(
            IssueCode::UnknownEmployeeId,
            None,
            format!(
                "no one on the roster has employee ID '{}': add them to the roster first",
                clip(key.value())
            ),
        )),
        PersonStanding::Shared(n) => Some(Issue::new(
            IssueCode::AmbiguousPerson,
            None,
            format!(
                "{n} people share this {}: match by HRIS ID or email instead",
                method_noun(method)
            ),
        )),
        _ => None,
    }
}

/// Why a valid row is skipped, as shown on the row.
pub(crate) fn skip_issue(code: IssueCode) -> Issue {
    let message = match code {
        IssueCode::DuplicateInFile => {
            "the same person, training and date appear earlier in the file; the first row is kept"
        }
        IssueCode::AlreadyCompleted => "this completion is already recorded",
        _ => "this completion is already pending from an earlier import",
    };
    Issue::new(code, None, message)
}

fn method_noun(method: MatchMethod) -> &'static str {
    match method {
        MatchMethod::Email => "email address",
        MatchMethod::Phone => "phone number",
        MatchMethod::Name => "name",
        MatchMethod::Hris => "employee ID",
    }
}

/// A 64-bit identity of (person key, training, date), for duplicate detection in files
/// too large to keep every key in memory.
fn row_identity(key: &MatchKey, training: &TrainingId, date: CompletionDate) -> u64 {
    super::checker::stable_hash(&[
        key.method().as_str().as_bytes(),
        key.value().as_bytes(),
        training.as_str().as_bytes(),
        &date.day_number().to_le_bytes(),
    ])
}

#[cfg(test)]
mod tests {
    /// The rule every path applies (validation, fix in place, the commit): where each
    /// kind of match leaves a row, by matching method.
    #[test]
    fn one_rule_says_where_a_matched_person_leaves_a_row() {
        let p = PersonId::parse("p-1").unwrap();
        for method in MatchMethod::ALL.iter().copied() {
            assert_eq!(
                person_standing(method, &PersonMatch::SignedUp(p.clone())),
                PersonStanding::Ready(p.clone())
            );
            assert_eq!(
                person_standing(method, &PersonMatch::Roster(p.clone())),
                PersonStanding::Waits(Some(p.clone()))
            );
            assert_eq!(
                person_standing(method, &PersonMatch::Ambiguous(2)),
                PersonStanding::Shared(2)
            );
            let nobody = person_standing(method, &PersonMatch::NotFound);
            if method == MatchMethod::Hris {
                assert_eq!(nobody, PersonStanding::UnknownEmployeeId);
            } else {
                assert_eq!(nobody, PersonStanding::Waits(None));
            }
        }
    }

    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 25).unwrap()
    }

    fn dir() -> DirectorySnapshot {
        let mut d = DirectorySnapshot::default();
        d.add_training(Training {
            id: TrainingId::parse("forklift").unwrap(),
            title: "Forklift Safety".into(),
            published: true,
        });
        d.add_training(Training {
            id: TrainingId::parse("draft").unwrap(),
            title: "Draft Course".into(),
            published: false,
        });
        let ana = PersonRef {
            person_id: PersonId::parse("p-ana").unwrap(),
            signed_up: true,
        };
        let bo = PersonRef {
            person_id: PersonId::parse("p-bo").unwrap(),
            signed_up: false,
        };
        d.people.insert(
            MatchKey::email(&Email::parse("ana@example.com").unwrap()),
            vec![ana.clone()],
        );
        d.people
            .insert(MatchKey::employee_id("E1").unwrap(), vec![bo.clone()]);
        d.people.insert(
            MatchKey::name(&PersonName::parse("Sam Lee").unwrap()),
            vec![ana, bo],
        );
        d
    }

    fn row(method: MatchMethod, person: &[(&str, &str)], training: &str, date: &str) -> RowVerdict {
        let input = RowInput {
            person: person
                .iter()
                .map(|(c, v)| (c.to_string(), v.to_string()))
                .collect(),
            training: Some(("training".into(), training.into())),
            date: Some(("completion_date".into(), date.into())),
            ..Default::default()
        };
        input
            .parse(method, Some("US"), DateOrder::Undecided, today())
            .decide(method, &dir(), &mut HashSet::new())
    }

    #[test]
    fn signed_up_person_and_published_training_is_ready() {
        let v = row(
            MatchMethod::Email,
            &[("email", "ANA@example.com")],
            "Forklift Safety",
            "2024-01-02",
        );
        assert_eq!(v.outcome, Outcome::Ready);
        assert_eq!(v.person_id.unwrap().as_str(), "p-ana");
    }

    #[test]
    fn unknown_email_is_pending_not_an_error() {
        let v = row(
            MatchMethod::Email,
            &[("email", "new@example.com")],
            "forklift",
            "2024-01-02",
        );
        assert_eq!(v.outcome, Outcome::Pending);
        assert!(v.person_id.is_none());
    }

    #[test]
    fn roster_person_not_signed_up_is_pending() {
        let v = row(
            MatchMethod::Hris,
            &[("employee_id", "E1")],
            "forklift",
            "2024-01-02",
        );
        assert_eq!(v.outcome, Outcome::Pending);
        assert_eq!(v.person_id.unwrap().as_str(), "p-bo");
    }

    #[test]
    fn unknown_hris_id_is_an_error_not_pending() {
        let v = row(
            MatchMethod::Hris,
            &[("employee_id", "E404")],
            "forklift",
            "2024-01-02",
        );
        assert_eq!(v.outcome, Outcome::Error);
        assert_eq!(v.issues[0].code, IssueCode::UnknownEmployeeId);
    }

    #[test]
    fn a_name_shared_by_two_people_is_an_error_that_says_how_many() {
        let v = row(
            MatchMethod::Name,
            &[("first_name", "sam"), ("last_name", " LEE ")],
            "forklift",
            "2024-01-02",
        );
        assert_eq!(v.outcome, Outcome::Error);
        assert_eq!(v.issues[0].code, IssueCode::AmbiguousPerson);
        assert!(v.issues[0].message.starts_with("2 people"));
    }

    #[test]
    fn unpublished_or_unknown_training_is_an_error() {
        assert_eq!(
            row(
                MatchMethod::Email,
                &[("email", "ana@example.com")],
                "Draft Course",
                "2024-01-02"
            )
            .issues[0]
                .code,
            IssueCode::TrainingNotPublished
        );
        assert_eq!(
            row(
                MatchMethod::Email,
                &[("email", "ana@example.com")],
                "Knitting",
                "2024-01-02"
            )
            .issues[0]
                .code,
            IssueCode::UnknownTraining
        );
    }

    #[test]
    fn every_problem_of_a_row_is_reported_with_its_column() {
        let v = row(MatchMethod::Phone, &[("phone", "12")], "", "2030-01-01");
        assert_eq!(v.outcome, Outcome::Error);
        let codes: Vec<_> = v
            .issues
            .iter()
            .map(|i| (i.code, i.column.clone().unwrap_or_default()))
            .collect();
        assert!(
            codes.contains(&(IssueCode::InvalidPhone, "phone".into())),
            "{codes:?}"
        );
        assert!(
            codes.contains(&(IssueCode::MissingValue, "training".into())),
            "{codes:?}"
        );
        assert!(
            codes.contains(&(IssueCode::FutureDate, "completion_date".into())),
            "{codes:?}"
        );
    }

    #[test]
    fn second_identical_row_is_skipped_and_the_first_kept() {
        let d = dir();
        let mut seen = HashSet::new();
        let input = RowInput {
            person: vec![("email".into(), "ana@example.com".into())],
            training: Some(("training".into(), "forklift".into())),
            date: Some(("date".into(), "2024-01-02".into())),
            ..Default::default()
        };
        let first = input
            .parse(MatchMethod::Email, None, DateOrder::Undecided, today())
            .decide(MatchMethod::Email, &d, &mut seen);
        let second = input
            .parse(MatchMethod::Email, None, DateOrder::Undecided, today())
            .decide(MatchMethod::Email, &d, &mut seen);
        assert_eq!(first.outcome, Outcome::Ready);
        assert_eq!(second.outcome, Outcome::Skipped);
        assert_eq!(second.issues[0].code, IssueCode::DuplicateInFile);
    }

    #[test]
    fn a_near_miss_training_gets_a_suggestion() {
        let v = row(
            MatchMethod::Email,
            &[("email", "ana@example.com")],
            "Forklift Safty",
            "2024-01-02",
        );
        assert_eq!(v.issues[0].code, IssueCode::UnknownTraining);
        assert!(
            v.issues[0]
                .message
                .contains("Did you mean 'Forklift Safety' (ID forklift)?"),
            "{}",
            v.issues[0].message
        );
        let v = row(
            MatchMethod::Email,
            &[("email", "ana@example.com")],
            "Knitting",
            "2024-01-02",
        );
        assert!(!v.issues[0].message.contains("Did you mean"));
    }

    #[test]
    fn no_suggestion_is_looked_for_past_200_characters() {
        let mut d = dir();
        let long = "Safety ".repeat(28); // 196 characters
        d.add_training(Training {
            id: TrainingId::parse("long").unwrap(),
            title: long.trim().to_string(),
            published: true,
        });
        let near = |extra: &str| {
            let input = RowInput {
                person: vec![("email".into(), "ana@example.com".into())],
                training: Some(("training".into(), format!("{}{extra}", long.trim()))),
                date: Some(("completion_date".into(), "2024-01-02".into())),
                ..Default::default()
            };
            input
                .parse(MatchMethod::Email, None, DateOrder::Undecided, today())
                .decide(MatchMethod::Email, &d, &mut HashSet::new())
        };
        assert!(
            near("x").issues[0].message.contains("Did you mean"),
            "{}",
            near("x").issues[0].message
        );
        let far = near(&"x".repeat(SUGGEST_MAX_CHARS));
        assert_eq!(far.issues[0].code, IssueCode::UnknownTraining);
        assert!(
            !far.issues[0].message.contains("Did you mean"),
            "{}",
            far.issues[0].message
        );
    }

    #[test]
    fn a_likely_email_typo_is_a_warning_that_keeps_the_outcome() {
        let v = row(
            MatchMethod::Email,
            &[("email", "new@gmial.com")],
            "forklift",
            "2024-01-02",
        );
        assert_eq!(v.outcome, Outcome::Pending);
        assert_eq!(v.warnings[0].code, IssueCode::EmailDomainTypo);
    }

    #[test]
    fn a_completion_pending_from_an_earlier_import_is_skipped() {
        let mut d = dir();
        let key = MatchKey::email(&Email::parse("new@example.com").unwrap());
        d.pending.insert((
            key,
            TrainingId::parse("forklift").unwrap(),
            CompletionDate::from_iso("2024-01-02").unwrap(),
        ));
        let input = RowInput {
            person: vec![("email".into(), "new@example.com".into())],
            training: Some(("training".into(), "forklift".into())),
            date: Some(("date".into(), "2024-01-02".into())),
            ..Default::default()
        };
        let v = input
            .parse(MatchMethod::Email, None, DateOrder::Undecided, today())
            .decide(MatchMethod::Email, &d, &mut HashSet::new());
        assert_eq!(v.outcome, Outcome::Skipped);
        assert_eq!(v.issues[0].code, IssueCode::AlreadyPending);
    }

    #[test]
    fn an_existing_completion_is_skipped() {
        let mut d = dir();
        d.completions.insert((
            PersonId::parse("p-ana").unwrap(),
            TrainingId::parse("forklift").unwrap(),
            CompletionDate::from_iso("2024-01-02").unwrap(),
        ));
        let input = RowInput {
            person: vec![("email".into(), "ana@example.com".into())],
            training: Some(("training".into(), "forklift".into())),
            date: Some(("date".into(), "2024-01-02".into())),
            ..Default::default()
        };
        let v = input
            .parse(MatchMethod::Email, None, DateOrder::Undecided, today())
            .decide(MatchMethod::Email, &d, &mut HashSet::new());
        assert_eq!(v.outcome, Outcome::Skipped);
        assert_eq!(v.issues[0].code, IssueCode::AlreadyCompleted);
    }
}
