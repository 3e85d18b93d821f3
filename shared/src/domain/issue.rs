//! The vocabulary of problems: row issues (on one row, one column) and file problems
//! (the whole file cannot be read). Codes are stable: clients and docs rely on them.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum IssueCode {
    MissingValue,
    WrongFieldCount,
    InvalidEncoding,
    InvalidEmail,
    InvalidPhone,
    InvalidEmployeeId,
    InvalidDate,
    AmbiguousDate,
    FutureDate,
    DateTooOld,
    UnknownTraining,
    TrainingNotPublished,
    UnknownEmployeeId,
    AmbiguousPerson,
    DuplicateInFile,
    AlreadyCompleted,
    AlreadyPending,
    EmailDomainTypo,
}

impl IssueCode {
    pub const ALL: &'static [IssueCode] = &[
        IssueCode::MissingValue,
        IssueCode::WrongFieldCount,
        IssueCode::InvalidEncoding,
        IssueCode::InvalidEmail,
        IssueCode::InvalidPhone,
        IssueCode::InvalidEmployeeId,
        IssueCode::InvalidDate,
        IssueCode::AmbiguousDate,
        IssueCode::FutureDate,
        IssueCode::DateTooOld,
        IssueCode::UnknownTraining,
        IssueCode::TrainingNotPublished,
        IssueCode::UnknownEmployeeId,
        IssueCode::AmbiguousPerson,
        IssueCode::DuplicateInFile,
        IssueCode::AlreadyCompleted,
        IssueCode::AlreadyPending,
        IssueCode::EmailDomainTypo,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            IssueCode::MissingValue => "MISSING_VALUE",
            IssueCode::WrongFieldCount => "WRONG_FIELD_COUNT",
            IssueCode::InvalidEncoding => "INVALID_ENCODING",
            IssueCode::InvalidEmail => "INVALID_EMAIL",
            IssueCode::InvalidPhone => "INVALID_PHONE",
            IssueCode::InvalidEmployeeId => "INVALID_EMPLOYEE_ID",
            IssueCode::InvalidDate => "INVALID_DATE",
            IssueCode::AmbiguousDate => "AMBIGUOUS_DATE",
            IssueCode::FutureDate => "FUTURE_DATE",
            IssueCode::DateTooOld => "DATE_TOO_OLD",
            IssueCode::UnknownTraining => "UNKNOWN_TRAINING",
            IssueCode::TrainingNotPublished => "TRAINING_NOT_PUBLISHED",
            IssueCode::UnknownEmployeeId => "UNKNOWN_EMPLOYEE_ID",
            IssueCode::AmbiguousPerson => "AMBIGUOUS_PERSON",
            IssueCode::DuplicateInFile => "DUPLICATE_IN_FILE",
            IssueCode::AlreadyCompleted => "ALREADY_COMPLETED",
            IssueCode::AlreadyPending => "ALREADY_PENDING",
            IssueCode::EmailDomainTypo => "EMAIL_DOMAIN_TYPO",
        }
    }

    pub fn parse(s: &str) -> Option<IssueCode> {
        IssueCode::ALL.iter().copied().find(|c| c.as_str() == s)
    }

    /// Skip reasons leave the row `skipped`.
    pub fn is_skip_reason(self) -> bool {
        matches!(
            self,
            IssueCode::DuplicateInFile | IssueCode::AlreadyCompleted | IssueCode::AlreadyPending
        )
    }

    /// Warnings are shown on the row but change nothing: the row keeps its outcome.
    pub fn is_warning(self) -> bool {
        matches!(self, IssueCode::EmailDomainTypo)
    }

    /// The outcome a row with this code gets: `error`, `skipped` or `warning`.
    pub fn kind(self) -> &'static str {
        if self.is_warning() {
            "warning"
        } else if self.is_skip_reason() {
            "skipped"
        } else {
            "error"
        }
    }

    /// What the code means and how to fix it, for the docs and the API.
    pub fn meaning_and_fix(self) -> (&'static str, &'static str) {
        match self {
            IssueCode::MissingValue => ("A required cell is empty.", "Fill in the cell."),
            IssueCode::WrongFieldCount => ("The row has more or fewer cells than the header.", "Check for a stray delimiter or an unclosed quote in the row."),
            IssueCode::InvalidEncoding => ("The row contains bytes that are not UTF-8 text.", "Save the file as 'CSV UTF-8' and upload it again."),
            IssueCode::InvalidEmail => ("The email address is not valid.", "Write it as name@example.com."),
            IssueCode::InvalidPhone => ("The phone number is not a valid number for the import's country.", "Write it in international form (+44 7700 900123) or set the import's default country."),
            IssueCode::InvalidEmployeeId => ("The employee ID is too long or contains control characters.", "Use the ID exactly as the HR system shows it."),
            IssueCode::InvalidDate => ("The completion date cannot be read.", "Write it as YYYY-MM-DD (for example 2024-03-31)."),
            IssueCode::AmbiguousDate => ("The date could be day/month or month/day and the file does not settle which.", "Write it as YYYY-MM-DD, or give the import's date_format (dmy or mdy)."),
            IssueCode::FutureDate => ("The completion date is in the future.", "Use the date the training was actually completed."),
            IssueCode::DateTooOld => ("The completion date is before 1950-01-01.", "Check the year."),
            IssueCode::UnknownTraining => ("No training has this ID or exact title.", "Use the training's ID or its exact title, or create the training first."),
            IssueCode::TrainingNotPublished => ("The training exists but is not published.", "Publish the training, then validate again."),
            IssueCode::UnknownEmployeeId => ("No person on the roster has this employee ID.", "Add the person to the roster (HRIS) or correct the ID."),
            IssueCode::AmbiguousPerson => ("More than one person matches this row.", "Use a more specific matching method (HRIS ID or email)."),
            IssueCode::DuplicateInFile => ("The same person, training and date appear earlier in the file; the first is kept.", "Nothing to do, or remove the repeated row."),
            IssueCode::AlreadyCompleted => ("This completion is already recorded in the platform.", "Nothing to do."),
            IssueCode::AlreadyPending => ("This completion is already pending from an earlier import, waiting for the person's sign-up.", "Nothing to do."),
            IssueCode::EmailDomainTypo => ("Warning: the email's domain looks like a typo of a common one (gmial.com).", "Check the address; the row is kept as it is."),
        }
    }
}

/// One problem on one row.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Issue {
    pub code: IssueCode,
    /// The CSV header of the cell at fault, when there is one.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub column: Option<String>,
    pub message: String,
}

impl Issue {
    pub fn new(code: IssueCode, column: Option<&str>, message: impl Into<String>) -> Self {
        Issue {
            code,
            column: column.map(str::to_string),
            message: message.into(),
        }
    }
}

/// A problem with the whole file: the import ends `failed` with this code and message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{code}: {message}")]
pub struct FileProblem {
    pub code: String,
    pub message: String,
}

impl FileProblem {
    /// Reading the object failed part-way (the connection dropped): the transport's
    /// problem, not the file's. Such a read is tried again rather than failing the import.
    pub const READ_FAILED: &'static str = "READ_FAILED";

    pub fn new(code: &str, message: impl Into<String>) -> Self {
        FileProblem {
            code: code.to_string(),
            message: message.into(),
        }
    }

    /// Whether trying again can succeed (the file itself may be fine).
    pub fn is_transient(&self) -> bool {
        self.code == Self::READ_FAILED
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips_and_has_docs() {
        for code in IssueCode::ALL {
            assert_eq!(IssueCode::parse(code.as_str()), Some(*code));
            let json = serde_json::to_string(code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            let (meaning, fix) = code.meaning_and_fix();
            assert!(!meaning.is_empty() && !fix.is_empty());
        }
    }
}
