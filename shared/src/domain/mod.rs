//! The pure domain: values that can only hold checked data, the matching rules and the
//! outcome of each row. Nothing here performs I/O or knows about AWS.

mod checker;
mod date;
mod ids;
mod issue;
mod join_code;
mod normalize;
mod status;
mod validate;

pub use checker::{stable_hash, CheckedRow, Decision, FileChecker, RoleColumns, RowCells};
pub use date::{CompletionDate, DateOrder};
pub use ids::{ImportId, OrgId, PersonId, TrainingId};
pub use issue::{FileProblem, Issue, IssueCode};
pub use join_code::JoinCode;
pub use normalize::{clip_text, region as phone_region, Email, MatchKey, PersonName, PhoneNumber};
pub use status::{ImportStatus, MatchMethod, Outcome, RowStatus};
pub use validate::{
    match_person, person_standing, DirectorySnapshot, ParsedRow, PersonMatch, PersonRef,
    PersonStanding, RowInput, RowVerdict, Training, TrainingRef,
};
