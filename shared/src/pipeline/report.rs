//! The error report: the rows that need fixing, as CSV, with their original cells and a
//! column that says what is wrong. Safe to open in a spreadsheet (cells that would run
//! as formulas are guarded with a leading apostrophe) and accepted again once fixed.

use super::PipelineError;
use crate::csv_input::FORMULA_STARTS;
use crate::domain::{ImportId, ImportStatus, OrgId, Outcome};
use crate::keys::s3::{report_key, report_request_key};
use crate::store::{ImportSummary, RowRecord, Store, StoreError};
use std::borrow::Cow;
use std::collections::HashMap;
use std::time::Duration;

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

/// The report's CSV, written a piece at a time: the header, then rows as they are read.
pub struct ReportCsv {
    /// The file's columns kept (a re-uploaded report's own problems column is not).
    keep: Vec<usize>,
}

impl ReportCsv {
    /// The writer and the header line.
    pub fn new(headers: &[String]) -> (ReportCsv, Vec<u8>) {
        let keep: Vec<usize> = (0..headers.len())
            .filter(|&i| headers[i] != PROBLEMS_COLUMN)
            .collect();
        let mut header: Vec<Cow<'_, str>> = keep.iter().map(|&i| neutralise(&headers[i])).collect();
        header.push(Cow::Borrowed(PROBLEMS_COLUMN));
        let mut out = Self::writer();
        // Writing to a Vec cannot fail.
        let _ = out.write_record(header.iter().map(|c| c.as_ref()));
        (ReportCsv { keep }, out.into_inner().unwrap_or_default())
    }

    fn writer() -> csv::Writer<Vec<u8>> {
        csv::WriterBuilder::new()
            .flexible(true)
            .from_writer(Vec::new())
    }

    /// The lines of these rows.
    pub fn rows<'a>(&self, rows: impl IntoIterator<Item = &'a RowRecord>) -> Vec<u8> {
        let mut out = Self::writer();
        for row in rows {
            let mut record: Vec<String> = self
                .keep
                .iter()
                .map(|&i| {
                    neutralise(row.cells.get(i).map(String::as_str).unwrap_or("")).into_owned()
                })
                .collect();
            record.push(neutralise(&problems(row)).into_owned());
            let _ = out.write_record(&record);
        }
        out.into_inner().unwrap_or_default()
    }
}

/// Writes the report for the given headers and error rows.
pub fn write_report<'a>(
    headers: &[String],
    rows: impl IntoIterator<Item = &'a RowRecord>,
) -> Vec<u8> {
    let (csv, mut out) = ReportCsv::new(headers);
    out.extend(csv.rows(rows));
    out
}

/// A byte order mark, so that Excel opens the UTF-8 text as UTF-8.
pub const BOM: &[u8] = b"\xEF\xBB\xBF";
/// Rows read a page: the error rows of 1000 rows are a few hundred KB.
const REPORT_PAGE_ROWS: usize = 1000;

/// The error report of an import: every row whose outcome is `error`, in file order.
pub async fn error_report(
    store: &Store,
    org: &OrgId,
    id: &ImportId,
) -> Result<Vec<u8>, PipelineError> {
    let summary = super::manage::get_import(store, org, id).await?;
    let (csv, mut out) = ReportCsv::new(&summary.headers);
    let mut cursor = None;
    loop {
        let page = store
            .list_rows(
                org,
                id,
                crate::store::RowLayout::of(&summary),
                Some(Outcome::Error),
                None,
                REPORT_PAGE_ROWS,
                cursor.as_deref(),
            )
            .await?;
        out.extend(csv.rows(&page.rows));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => return Ok(out),
        }
    }
}

/// The user metadata on a report the worker wrote: the `updated_at` of the summary it
/// was written from. A fix changes `updated_at`, so an older report is not handed out.
pub const REPORT_VERSION: &str = "errors-of";
/// A request still without its report after this long is sent again (the worker's run
/// was lost: Lambda retries a failed S3 event twice, then drops it).
pub const REPORT_REQUEST_RETRY: Duration = Duration::from_secs(300);

/// What the API can answer for an error report.
#[derive(Debug, PartialEq, Eq)]
pub enum ReportAnswer {
    /// A small import's report, read within the request (no byte order mark).
    Inline(Vec<u8>),
    /// A large import's report, written by the worker for the import as it is now.
    Ready { key: String },
    /// A large import's report is being written; ask again in a few seconds.
    Preparing,
}

/// The error report of an import, or where it is, or that it is on its way. An import
/// with more than [`Store::report_inline_rows`] error rows has too many to read and
/// write out within an API request (API Gateway stops at 29 s; a million error rows are
/// ~400 MB of reads and ~100 MB of CSV), so its report is written to S3 by the worker
/// ([`write_error_report`]) on request, and kept while the import does not change.
pub async fn error_report_or_request(
    store: &Store,
    org: &OrgId,
    id: &ImportId,
) -> Result<(ImportSummary, ReportAnswer), PipelineError> {
    let summary = super::manage::get_import(store, org, id).await?;
    if matches!(
        summary.status,
        ImportStatus::Created | ImportStatus::Uploaded | ImportStatus::Validating
    ) {
        return Err(super::conflict(
            "IMPORT_NOT_VALIDATED",
            format!(
                "the import is '{}': its error report can be had once the file is checked",
                summary.status
            ),
        ));
    }
    if summary.outcomes.error <= store.report_inline_rows() {
        let csv = error_report(store, org, id).await?;
        return Ok((summary, ReportAnswer::Inline(csv)));
    }
    let key = report_key(org, id);
    let version = summary.updated_at.clone();
    if store
        .object_metadata(&key)
        .await?
        .is_some_and(|(meta, _)| meta.get(REPORT_VERSION) == Some(&version))
    {
        return Ok((summary, ReportAnswer::Ready { key }));
    }
    let request = report_request_key(org, id);
    let asked = store
        .object_metadata(&request)
        .await?
        .is_some_and(|(meta, written)| {
            meta.get(REPORT_VERSION) == Some(&version)
                && written
                    .is_none_or(|w| w.elapsed().map_or(true, |age| age < REPORT_REQUEST_RETRY))
        });
    if !asked {
        let body = serde_json::json!({ "import_id": id.as_str(), REPORT_VERSION: version })
            .to_string()
            .into_bytes();
        let metadata = HashMap::from([
            (REPORT_VERSION.to_string(), version),
            ("requested-at".to_string(), crate::store::now_rfc3339()),
        ]);
        store
            .put_object_with_metadata(&request, "application/json", body, metadata)
            .await?;
    }
    Ok((summary, ReportAnswer::Preparing))
}

/// The worker's part: writes the import's error report to S3 in parts (memory stays at
/// one part), tagged with the summary's `updated_at` read before the rows. A report
/// already written for that version is left as it is (a repeated event).
pub async fn write_error_report(
    store: &Store,
    org: &OrgId,
    id: &ImportId,
) -> Result<(), PipelineError> {
    let summary = super::manage::get_import(store, org, id).await?;
    let key = report_key(org, id);
    let version = summary.updated_at.clone();
    if store
        .object_metadata(&key)
        .await?
        .is_some_and(|(meta, _)| meta.get(REPORT_VERSION) == Some(&version))
    {
        return Ok(());
    }
    let started = std::time::Instant::now();
    let mut writer = store
        .object_writer(
            &key,
            "text/csv; charset=utf-8",
            HashMap::from([(REPORT_VERSION.to_string(), version)]),
        )
        .await?;
    let written = async {
        let (csv, header) = ReportCsv::new(&summary.headers);
        writer.write(BOM).await?;
        writer.write(&header).await?;
        let (mut cursor, mut rows) = (None, 0usize);
        loop {
            let page = store
                .list_rows(
                    org,
                    id,
                    crate::store::RowLayout::of(&summary),
                    Some(Outcome::Error),
                    None,
                    REPORT_PAGE_ROWS,
                    cursor.as_deref(),
                )
                .await?;
            rows += page.rows.len();
            writer.write(&csv.rows(&page.rows)).await?;
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => return Ok::<usize, StoreError>(rows),
            }
        }
    }
    .await;
    match written {
        Ok(rows) => {
            writer.finish().await?;
            tracing::info!(org = %org, import = %id, rows, elapsed_ms = started.elapsed().as_millis() as u64, "error report written");
            Ok(())
        }
        Err(e) => {
            writer.abort().await;
            Err(e.into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Issue, IssueCode, MatchMethod};

    fn row(cells: &[&str], issues: Vec<Issue>) -> RowRecord {
        RowRecord {
            issues,
            ..RowRecord::validated(
                "i",
                2,
                cells.iter().map(|c| c.to_string()).collect(),
                Outcome::Error,
                MatchMethod::Email,
            )
        }
    }

    #[test]
    fn cells_that_would_run_as_formulas_are_guarded() {
        assert_eq!(
            neutralise("=HYPERLINK(\"http://x\")"),
            "'=HYPERLINK(\"http://x\")"
        );
        assert_eq!(neutralise("+44 7911 123456"), "'+44 7911 123456");
        assert_eq!(neutralise("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(neutralise("ana@example.com"), "ana@example.com");
    }

    #[test]
    fn the_report_has_the_original_cells_and_what_is_wrong() {
        let headers = vec![
            "Email".to_string(),
            "Course".to_string(),
            "Date".to_string(),
        ];
        let r = row(
            &["=cmd|'/c calc'!A1", "Knitting", "2024-01-01"],
            vec![Issue::new(
                IssueCode::InvalidEmail,
                Some("Email"),
                "not an email",
            )],
        );
        let text = String::from_utf8(write_report(&headers, [&r])).unwrap();
        assert_eq!(text, "Email,Course,Date,Import problems\n'=cmd|'/c calc'!A1,Knitting,2024-01-01,INVALID_EMAIL (Email): not an email\n");
    }

    #[test]
    fn a_report_of_a_report_does_not_grow_a_second_problems_column() {
        let headers = vec!["Email".to_string(), PROBLEMS_COLUMN.to_string()];
        let r = row(
            &["x", "old problem"],
            vec![Issue::new(IssueCode::InvalidEmail, None, "still wrong")],
        );
        let text = String::from_utf8(write_report(&headers, [&r])).unwrap();
        assert_eq!(
            text,
            "Email,Import problems\nx,INVALID_EMAIL: still wrong\n"
        );
    }
}
