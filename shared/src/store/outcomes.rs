//! What the commit did to the rows of each of its pages, for imports whose commit puts
//! waiting groups: one small item per page of the commit, in the import's partition
//! (`ORG#<org>#IMPORT#<id>`, `OUTCOME#<last line>`), put in the very transaction that
//! records the page (cursor, counts, lease). The pages of rows are not written again:
//! a row reads `validated` in its page, and readers lay its outcome over it. So a row
//! reads imported, pending or not imported only once its page is recorded, which is
//! after its completion is written; a run that stops before that leaves the whole page
//! `validated` for the next run.

use super::imports::s;
use super::items::{from_item, keyed, Stamp};
use super::rows::RowRecord;
use super::write::Item;
use super::{service, Store, StoreError, StoreResult};
use crate::domain::{ImportId, OrgId, RowStatus};
use crate::keys;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// The rows one page of the commit moved: each row's new status, its person where the
/// commit resolved another one than the validation, and why a row was not imported.
#[derive(Clone, Debug, PartialEq)]
pub struct CommitOutcome {
    /// The first and last line the page of the commit moved.
    first: u64,
    last: u64,
    /// When the page was written and who clicked Import (the rows' `imported_at`,
    /// `imported_by`).
    at: String,
    by: Option<Stamp>,
    moved: Vec<Moved>,
}

#[derive(Clone, Debug, PartialEq)]
struct Moved {
    line: u64,
    status: RowStatus,
    person: Option<String>,
    note: Option<String>,
}

/// The item's attributes besides its keys and packed rows.
#[derive(Serialize, Deserialize)]
struct OutcomeAttrs {
    first: u64,
    last: u64,
    at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    by: Option<Stamp>,
}

/// The moved rows, as JSON deflated into one binary attribute. `moves` has a token per
/// row in file order: the gap from the line before (left out when 1; the first row's
/// from `first`, left out when 0) and a letter for the status (`i` imported, `p`
/// pending, `n` not imported): 2,000 rows of a file without gaps take about 2,000
/// letters, which deflate to a few dozen bytes.
#[derive(Serialize, Deserialize)]
struct Packed {
    moves: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    persons: BTreeMap<u64, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    notes: BTreeMap<u64, String>,
}

const PACKED: &str = "z";

fn letter(status: RowStatus) -> Option<char> {
    match status {
        RowStatus::Imported => Some('i'),
        RowStatus::Pending => Some('p'),
        RowStatus::NotImported => Some('n'),
        RowStatus::Validated | RowStatus::Applied | RowStatus::Deleted => None,
    }
}

fn status_of_letter(c: char) -> Option<RowStatus> {
    match c {
        'i' => Some(RowStatus::Imported),
        'p' => Some(RowStatus::Pending),
        'n' => Some(RowStatus::NotImported),
        _ => None,
    }
}

impl CommitOutcome {
    /// The outcome of rows moved by one page of the commit: each pair is a row as read
    /// (`validated`) and as the commit leaves it, in file order. None when nothing moved.
    pub fn of<'a>(
        moved: impl IntoIterator<Item = (&'a RowRecord, &'a RowRecord)>,
        at: &str,
        by: Option<&Stamp>,
    ) -> Option<CommitOutcome> {
        let moved: Vec<Moved> = moved
            .into_iter()
            .map(|(read, now)| Moved {
                line: now.row,
                status: now.status,
                person: now
                    .person_id
                    .clone()
                    .filter(|_| now.person_id != read.person_id),
                note: now.commit_note.clone(),
            })
            .collect();
        Some(CommitOutcome {
            first: moved.first()?.line,
            last: moved.last()?.line,
            at: at.to_string(),
            by: by.cloned(),
            moved,
        })
    }

    pub(super) fn item(&self, org: &OrgId, id: &ImportId) -> StoreResult<Item> {
        let mut moves = String::with_capacity(self.moved.len() + 16);
        let (mut persons, mut notes) = (BTreeMap::new(), BTreeMap::new());
        let mut before = None;
        for m in &self.moved {
            let gap = match before {
                None => m.line.checked_sub(self.first),
                Some(b) => m.line.checked_sub(b).filter(|g| *g > 0),
            };
            let (Some(gap), Some(letter)) = (gap, letter(m.status)) else {
                return Err(StoreError::Corrupt(format!(
                    "the commit's outcome of line {} ({}) is out of order or not a commit's",
                    m.line, m.status
                )));
            };
            if gap != u64::from(before.is_some()) {
                moves.push_str(&gap.to_string());
            }
            moves.push(letter);
            before = Some(m.line);
            if let Some(p) = &m.person {
                persons.insert(m.line, p.clone());
            }
            if let Some(n) = &m.note {
                notes.insert(m.line, n.clone());
            }
        }
        let attrs = OutcomeAttrs {
            first: self.first,
            last: self.last,
            at: self.at.clone(),
            by: self.by.clone(),
        };
        let mut item = keyed(
            keys::import_pk(org, id),
            keys::outcome_sk(self.last),
            &attrs,
        );
        let packed = Packed {
            moves,
            persons,
            notes,
        };
        item.insert(
            PACKED.into(),
            aws_sdk_dynamodb::types::AttributeValue::B(aws_sdk_dynamodb::primitives::Blob::new(
                super::pages::deflate(&serde_json::to_vec(&packed).expect("always serialises")),
            )),
        );
        Ok(item)
    }

    fn from_item(mut item: Item) -> StoreResult<CommitOutcome> {
        let corrupt = |e: &dyn std::fmt::Display| {
            StoreError::Corrupt(format!("a commit outcome's rows: {e}"))
        };
        let packed = item.remove(PACKED).ok_or_else(|| corrupt(&"no rows"))?;
        let bytes = packed.as_b().map_err(|_| corrupt(&"not binary"))?;
        let packed: Packed = serde_json::from_reader(std::io::BufReader::new(
            flate2::read::DeflateDecoder::new(bytes.as_ref()),
        ))
        .map_err(|e| corrupt(&e))?;
        let attrs: OutcomeAttrs = from_item(item)?;
        let mut moved = Vec::with_capacity(packed.moves.len());
        let (mut digits, mut line) = (String::new(), None::<u64>);
        for c in packed.moves.chars() {
            if c.is_ascii_digit() {
                digits.push(c);
                continue;
            }
            let status = status_of_letter(c).ok_or_else(|| corrupt(&format!("'{c}'")))?;
            let gap = match digits.is_empty() {
                true => u64::from(line.is_some()),
                false => digits.parse().map_err(|e| corrupt(&e))?,
            };
            digits.clear();
            let at = line
                .unwrap_or(attrs.first)
                .checked_add(gap)
                .ok_or_else(|| corrupt(&"a line past the largest"))?;
            line = Some(at);
            moved.push(Moved {
                line: at,
                status,
                person: packed.persons.get(&at).cloned(),
                note: packed.notes.get(&at).cloned(),
            });
        }
        Ok(CommitOutcome {
            first: attrs.first,
            last: attrs.last,
            at: attrs.at,
            by: attrs.by,
            moved,
        })
    }

    /// Lays the outcome over a row still `validated` in its page.
    fn lay_over(&self, m: &Moved, row: &mut RowRecord) {
        row.status = m.status;
        if let Some(p) = &m.person {
            row.person_id = Some(p.clone());
        }
        match m.status {
            RowStatus::Imported => {
                row.imported_at = Some(self.at.clone());
                row.imported_by = self.by.clone();
            }
            RowStatus::NotImported => row.commit_note = m.note.clone(),
            _ => {}
        }
    }
}

impl Store {
    /// Rows read from pages with what the commit did to them: each row still
    /// `validated` in its page that a recorded page of the commit moved reads as moved.
    pub(super) async fn with_outcomes(
        &self,
        org: &OrgId,
        id: &ImportId,
        mut rows: Vec<RowRecord>,
        consistent: bool,
    ) -> StoreResult<Vec<RowRecord>> {
        let mut lines = rows
            .iter()
            .filter(|r| r.status == RowStatus::Validated)
            .map(|r| r.row);
        let Some(from) = lines.next() else {
            return Ok(rows);
        };
        let to = lines.next_back().unwrap_or(from);
        let outcomes = self
            .outcomes_covering(org, id, from, to, consistent)
            .await?;
        if outcomes.is_empty() {
            return Ok(rows);
        }
        let by_line: HashMap<u64, (&CommitOutcome, &Moved)> = outcomes
            .iter()
            .flat_map(|o| o.moved.iter().map(move |m| (m.line, (o, m))))
            .collect();
        for row in rows.iter_mut().filter(|r| r.status == RowStatus::Validated) {
            if let Some((o, m)) = by_line.get(&row.row) {
                o.lay_over(m, row);
            }
        }
        Ok(rows)
    }

    /// The commit's outcomes covering lines `from..=to`, in file order.
    async fn outcomes_covering(
        &self,
        org: &OrgId,
        id: &ImportId,
        from: u64,
        to: u64,
        consistent: bool,
    ) -> StoreResult<Vec<CommitOutcome>> {
        let mut found: Vec<CommitOutcome> = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            // A page of the commit holds at least 2,000 rows, all but the last.
            let wanted = ((to - from) / 2000 + 2).min(100) as i32;
            let out = self
                .ddb
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND sk BETWEEN :from AND :to")
                .expression_attribute_values(":pk", s(keys::import_pk(org, id)))
                .expression_attribute_values(":from", s(keys::outcome_sk(from)))
                .expression_attribute_values(":to", s(format!("{}~", keys::OUTCOME_PREFIX)))
                .consistent_read(consistent)
                .limit(wanted)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(service("read the commit's outcomes"))?;
            for item in out.items.unwrap_or_default() {
                let outcome = CommitOutcome::from_item(item)?;
                if outcome.first > to {
                    return Ok(found);
                }
                let done = outcome.last >= to;
                found.push(outcome);
                if done {
                    return Ok(found);
                }
            }
            match out.last_evaluated_key.filter(|k| !k.is_empty()) {
                Some(k) => start = Some(k),
                None => return Ok(found),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{MatchMethod, Outcome};

    fn row(line: u64, status: RowStatus, person: Option<&str>) -> RowRecord {
        RowRecord {
            person_id: person.map(str::to_string),
            status,
            ..RowRecord::validated("imp1", line, vec![], Outcome::Ready, MatchMethod::Email)
        }
    }

    #[test]
    fn an_outcome_reads_back_as_written_with_gaps_persons_and_notes() {
        let read: Vec<RowRecord> = [5, 6, 7, 9, 20, 21]
            .into_iter()
            .map(|l| row(l, RowStatus::Validated, Some("p-old")))
            .collect();
        let mut now = read.clone();
        now[0].status = RowStatus::Imported;
        now[1].status = RowStatus::Pending;
        now[2].status = RowStatus::Imported;
        now[2].person_id = Some("p-new".into());
        now[3].status = RowStatus::NotImported;
        now[3].commit_note = Some("not imported: the row has errors".into());
        now[4].status = RowStatus::Pending;
        now[5].status = RowStatus::Imported;
        let by = Stamp::now("admin", Some("a@example.com"));
        let outcome =
            CommitOutcome::of(read.iter().zip(&now), "2026-12-03T00:00:00Z", Some(&by)).unwrap();
        let (org, id) = (
            OrgId::parse("acme").unwrap(),
            ImportId::parse("imp1").unwrap(),
        );
        let item = outcome.item(&org, &id).unwrap();
        assert_eq!(item["sk"].as_s().unwrap(), "OUTCOME#000000021");
        let back = CommitOutcome::from_item(item).unwrap();
        assert_eq!(back, outcome);
        let mut laid = read.clone();
        for (m, r) in back.moved.iter().zip(laid.iter_mut()) {
            back.lay_over(m, r);
        }
        assert_eq!(laid[2].person_id.as_deref(), Some("p-new"));
        assert_eq!(laid[0].person_id.as_deref(), Some("p-old"));
        assert_eq!(laid[0].imported_by.as_ref(), Some(&by));
        assert_eq!(laid[3].commit_note, now[3].commit_note);
        let statuses: Vec<RowStatus> = laid.iter().map(|r| r.status).collect();
        assert_eq!(statuses, now.iter().map(|r| r.status).collect::<Vec<_>>());
    }

    #[test]
    fn rows_out_of_order_or_not_moved_by_a_commit_are_refused() {
        let (org, id) = (
            OrgId::parse("acme").unwrap(),
            ImportId::parse("imp1").unwrap(),
        );
        let read = [
            row(8, RowStatus::Validated, None),
            row(7, RowStatus::Validated, None),
        ];
        let now = [
            row(8, RowStatus::Imported, None),
            row(7, RowStatus::Imported, None),
        ];
        let o = CommitOutcome::of(read.iter().zip(&now), "t", None).unwrap();
        assert!(o.item(&org, &id).is_err());
        let now = [row(7, RowStatus::Applied, None)];
        let o = CommitOutcome::of(read[1..].iter().zip(&now), "t", None).unwrap();
        assert!(o.item(&org, &id).is_err());
    }

    /// The largest outcome a page of the commit can write (every row with a person the
    /// validation did not resolve, and every not-imported row with a note) stays far
    /// under DynamoDB's 400 KB item limit.
    #[test]
    fn the_largest_outcome_fits_in_an_item() {
        let (org, id) = (
            OrgId::parse("acme").unwrap(),
            ImportId::parse("imp1").unwrap(),
        );
        let rows = 2 * crate::store::ROWS_PER_PAGE + 2200;
        let read: Vec<RowRecord> = (2..2 + rows as u64)
            .map(|l| row(l * 3, RowStatus::Validated, None))
            .collect();
        let now: Vec<RowRecord> = read
            .iter()
            .map(|r| {
                let mut r = r.clone();
                if r.row % 2 == 0 {
                    r.status = RowStatus::Imported;
                    r.person_id = Some(uuid::Uuid::new_v4().to_string());
                } else {
                    r.status = RowStatus::NotImported;
                    r.commit_note =
                        Some("not imported: the row lost its person, training or date".into());
                }
                r
            })
            .collect();
        let o = CommitOutcome::of(read.iter().zip(&now), "2026-12-03T00:00:00Z", None).unwrap();
        let item = o.item(&org, &id).unwrap();
        let bytes = item[PACKED].as_b().unwrap().as_ref().len();
        assert!(bytes < 100 * 1024, "{bytes} bytes");
        assert_eq!(CommitOutcome::from_item(item).unwrap(), o);
    }
}
