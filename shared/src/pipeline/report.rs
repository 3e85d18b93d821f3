//! The error report: the rows that need fixing, as CSV, with their original cells and a
//! column that says what is wrong. Safe to open in a spreadsheet (cells that would run
//! as formulas are guarded with a leading apostrophe) and accepted again once fixed.

use super::PipelineError;
use crate::csv_input::FORMULA_STARTS;
use crate::domain::{ImportId, OrgId, Outcome};
use crate::store::{RowRecord, Store};
use std::borrow::Cow;

/// The header of the added column. A re-uploaded report ignores it (an extra column).
pub const PROBLEMS_COLUMN: &str = "Import problems";

/// Guards a cell a spreadsheet would run as a formula (CSV injection).
pub fn neutralise(cell: &str) -> Cow<'_, str> {
    if cell.starts_with(FORMULA_STARTS) {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

fn problems(row: &RowRecord) -> String {
    row.issues
        .iter()
        .map(|i| match &i.column {
            Some(c) => format!("{} ({c}): {}", i.code.as_str(), i.message),
            None => format!("{}: {}", i.code.as_str(), i.message),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Writes the report for the given headers and error rows.
pub fn write_report<'a>(headers: &[String], rows: impl IntoIterator<Item = &'a RowRecord>) -> Vec<u8> {
    let keep: Vec<usize> = (0..headers.len()).filter(|&i| headers[i] != PROBLEMS_COLUMN).collect();
    let mut out = csv::WriterBuilder::new().flexible(true).from_writer(Vec::new());
    let mut header: Vec<Cow<'_, str>> = keep.iter().map(|&i| neutralise(&headers[i])).collect();
    header.push(Cow::Borrowed(PROBLEMS_COLUMN));
    // Writing to a Vec cannot fail.
    let _ = out.write_record(header.iter().map(|c| c.as_ref()));
    for row in rows {
        let mut record: Vec<String> = keep.iter().map(|&i| neutralise(row.cells.get(i).map(String::as_str).unwrap_or("")).into_owned()).collect();
        record.push(neutralise(&problems(row)).into_owned());
        let _ = out.write_record(&record);
    }
    out.into_inner().unwrap_or_default()
}

/// The error report of an import: every row whose outcome is `error`, in file order.
pub async fn error_report(store: &Store, org: &OrgId, id: &ImportId) -> Result<Vec<u8>, PipelineError> {
    let summary = super::manage::get_import(store, org, id).await?;
    let mut rows = Vec::new();
    let mut cursor = None;
    loop {
        let page = store.list_rows(org, id, Some(Outcome::Error), None, 500, cursor.as_deref()).await?;
        rows.extend(page.rows);
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    Ok(write_report(&summary.headers, &rows))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Issue, IssueCode, MatchMethod, RowStatus};

    fn row(cells: &[&str], issues: Vec<Issue>) -> RowRecord {
        RowRecord {
            import_id: "i".into(),
            row: 2,
            cells: cells.iter().map(|c| c.to_string()).collect(),
            outcome: Outcome::Error,
            status: RowStatus::Validated,
            issues,
            warnings: vec![],
            match_method: MatchMethod::Email,
            match_value: None,
            person_id: None,
            training_id: None,
            training_title: None,
            completion_date: None,
            commit_note: None,
            imported_at: None,
            applied_at: None,
            deleted_at: None,
        }
    }

    #[test]
    fn cells_that_would_run_as_formulas_are_guarded() {
        assert_eq!(neutralise("=HYPERLINK(\"http://x\")"), "'=HYPERLINK(\"http://x\")");
        assert_eq!(neutralise("+44 7911 123456"), "'+44 7911 123456");
        assert_eq!(neutralise("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(neutralise("ana@example.com"), "ana@example.com");
    }

    #[test]
    fn the_report_has_the_original_cells_and_what_is_wrong() {
        let headers = vec!["Email".to_string(), "Course".to_string(), "Date".to_string()];
        let r = row(&["=cmd|'/c calc'!A1", "Knitting", "2024-01-01"], vec![Issue::new(IssueCode::InvalidEmail, Some("Email"), "not an email")]);
        let text = String::from_utf8(write_report(&headers, [&r])).unwrap();
        assert_eq!(text, "Email,Course,Date,Import problems\n'=cmd|'/c calc'!A1,Knitting,2024-01-01,INVALID_EMAIL (Email): not an email\n");
    }

    #[test]
    fn a_report_of_a_report_does_not_grow_a_second_problems_column() {
        let headers = vec!["Email".to_string(), PROBLEMS_COLUMN.to_string()];
        let r = row(&["x", "old problem"], vec![Issue::new(IssueCode::InvalidEmail, None, "still wrong")]);
        let text = String::from_utf8(write_report(&headers, [&r])).unwrap();
        assert_eq!(text, "Email,Import problems\nx,INVALID_EMAIL: still wrong\n");
    }
}
